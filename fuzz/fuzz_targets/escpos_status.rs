//! Real-time status bytes, ASB messages and the reply scanner on arbitrary bytes: never panic,
//! and whatever parses re-encodes to a message that parses to the same status.
#![no_main]

use kiosk_escpos::{AsbStatus, PrinterStatus, next_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let four = [data[0], data[1], data[2], data[3]];
        if let Ok(s) = PrinterStatus::from_real_time(four) {
            assert_eq!(PrinterStatus::from_real_time(s.to_real_time()).unwrap(), s);
        }
        if let Ok(a) = AsbStatus::parse(four) {
            assert_eq!(AsbStatus::parse(a.to_bytes()).unwrap(), a);
        }
    }
    let mut rest = data;
    while !rest.is_empty() {
        match next_reply(rest) {
            Ok(Some((_, used))) => rest = &rest[used..],
            Ok(None) => break,
            Err(_) => rest = &rest[1..],
        }
    }
});
