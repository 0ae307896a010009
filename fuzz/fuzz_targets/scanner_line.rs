//! The serial scanner line decoder: any bytes, any chunking, any settings → lines or typed
//! errors, never a panic, and the pending buffer stays bounded.
#![no_main]

use kiosk_scanner::{AimMode, LineConfig, LineDecoder, Terminator, TextEncoding};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&settings, rest)) = data.split_first() else {
        return;
    };
    let Some((&max, rest)) = rest.split_first() else {
        return;
    };
    let config = LineConfig {
        terminator: [
            Terminator::Cr,
            Terminator::Lf,
            Terminator::CrLf,
            Terminator::Tab,
        ][usize::from(settings & 3)],
        aim: [
            AimMode::Off,
            AimMode::Optional,
            AimMode::Required,
            AimMode::Optional,
        ][usize::from((settings >> 2) & 3)],
        encoding: [
            TextEncoding::Utf8,
            TextEncoding::Gb18030,
            TextEncoding::Auto,
            TextEncoding::Auto,
        ][usize::from((settings >> 4) & 3)],
        prefix: if settings & 0x40 != 0 {
            b"\x02".to_vec()
        } else {
            Vec::new()
        },
        suffix: if settings & 0x80 != 0 {
            b"#".to_vec()
        } else {
            Vec::new()
        },
        max_len: usize::from(max) + 1,
    };
    let max_len = config.max_len;
    let mut decoder = LineDecoder::new(config);
    // Feed in chunks whose sizes come from the data itself.
    let mut rest = rest;
    while !rest.is_empty() {
        let n = (usize::from(rest[0]) % 64 + 1).min(rest.len());
        let gap = rest[0] & 0x80 != 0;
        decoder.feed(&rest[..n]);
        rest = &rest[n..];
        while let Some(line) = decoder.next_line() {
            if let Ok(line) = line {
                assert!(!line.text.is_empty());
            }
        }
        assert!(decoder.pending() <= max_len + 4);
        // The scanner went quiet mid-line: the partial line is dropped (and maybe reported).
        if gap {
            let _ = decoder.expire();
            assert_eq!(decoder.pending(), 0);
        }
    }
});
