//! FeigIsoHost frames: reply and request decoding (host and simulator side) must never panic, and a
//! decoded request must encode back to a frame that decodes the same.
#![no_main]

use kiosk_rfid::{Command, FeigIsoHost, FrameCheck, ReaderProtocol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = FeigIsoHost::default();
    if let FrameCheck::Complete(n) = p.reply_frame(data) {
        assert!(n <= data.len());
    }
    if let FrameCheck::Complete(n) = p.request_frame(data) {
        assert!(n <= data.len());
        if let Ok(cmd) = p.decode_request(&data[..n]) {
            let again = p.encode(&cmd);
            assert_eq!(p.decode_request(&again).ok(), Some(cmd));
        }
    }
    let uid = kiosk_rfid::Uid([0xE0, 4, 1, 0, 0x12, 0x34, 0x56, 0x78]);
    for cmd in [
        Command::ReaderInfo,
        Command::Inventory { more: false },
        Command::SystemInfo { uid },
        Command::ReadBlocks {
            uid,
            first: 0,
            count: 8,
        },
        Command::WriteAfi { uid, afi: 7 },
        Command::Eas { uid, set: true },
    ] {
        let _ = p.decode(&cmd, data);
    }
});
