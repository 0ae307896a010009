//! SIP2 framing and message decoding (kiosk-sip2) from arbitrary bytes: the first byte picks the
//! character set, the rest is a byte stream. Typed errors, never a panic; whatever decodes to a
//! typed message re-encodes and decodes to the same message.
#![no_main]

use kiosk_sip2::message::{Codec, Message, Terminator, Trailer};
use kiosk_sip2::{Charset, Framer, Session, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, stream)) = data.split_first() else {
        return;
    };
    let charset = match first % 5 {
        0 => Charset::Utf8,
        1 => Charset::Gb18030,
        2 => Charset::Cp850,
        3 => Charset::Latin1,
        _ => Charset::Ascii,
    };
    let codec = Codec::new(charset, Terminator::Cr);
    let mut framer = Framer::new(1024);
    framer.push(stream);
    while let Some(frame) = framer.next_frame() {
        let Ok(frame) = frame else { continue };
        if let Ok(d) = codec.decode(&frame)
            && let Ok(m) = Message::from_raw(&d.message)
            && let Ok(raw) = m.to_raw()
            && let Ok(bytes) = codec.encode(&raw, Trailer::Checksum { sequence: 3 })
        {
            let again = codec.decode(&bytes).expect("own encoding decodes");
            assert_eq!(Message::from_raw(&again.message).expect("typed"), m);
        }
    }
    // The session fed the same bytes as answers: errors, never a panic.
    let mut s = Session::new(Settings {
        charset,
        ..Settings::default()
    });
    let now = std::time::Instant::now();
    if s.connected(now).is_ok() {
        for chunk in stream.chunks(7) {
            if s.receive(chunk, now).is_err() {
                break;
            }
        }
    }
});
