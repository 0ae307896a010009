//! Fingerprint (Synochip) packet decoding: single packets, the incremental decoder with
//! resynchronisation, command/ack interpretation and multi-packet uploads must never panic.
#![no_main]

use kiosk_fingerprint::{
    Ack, Command, DEFAULT_ADDRESS, MAX_TEMPLATE, Packet, PacketDecoder, decode_ack, decode_upload,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((p, used))) = Packet::decode(data) {
        assert!(used <= data.len());
        assert_eq!(p.encode(), data[..used]);
        let _ = Command::from_packet(&p);
        let _ = Ack::from_packet(&p, DEFAULT_ADDRESS);
    }
    let _ = decode_ack(data, DEFAULT_ADDRESS);
    let _ = decode_upload(data, DEFAULT_ADDRESS, MAX_TEMPLATE);
    let mut d = PacketDecoder::new();
    for chunk in data.chunks(7) {
        d.push(chunk);
        loop {
            let before = d.pending();
            match d.next_packet() {
                Ok(Some(p)) => {
                    let _ = Command::from_packet(&p);
                }
                Ok(None) => break,
                Err(_) => assert!(d.pending() < before, "decoder made no progress"),
            }
        }
    }
});
