//! Fingerprint ReadSysPara reply parsing must never panic, and what parses re-encodes to the
//! same bytes.
#![no_main]

use kiosk_fingerprint::SystemParameters;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = SystemParameters::parse(data) {
        assert_eq!(p.to_bytes().as_slice(), data);
        let _ = p.baud();
        let _ = p.packet_size.bytes();
    }
});
