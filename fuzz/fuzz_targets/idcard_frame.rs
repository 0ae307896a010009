//! SAM frame decoder and reply parsing (kiosk-idcard frame/command) on arbitrary bytes:
//! never panics, a decoded frame re-encodes to the bytes it was decoded from, and a stream is
//! always consumed (no decoder state where it makes no progress).
#![no_main]

use kiosk_idcard::command::{BaseMessage, Response, decode_sam_id};
use kiosk_idcard::frame::{self, FrameError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while !rest.is_empty() {
        match frame::decode(rest) {
            None => break,
            Some(Ok((f, used))) => {
                assert!(used > 0 && used <= rest.len());
                assert_eq!(f.encode(), &rest[..used]);
                if let Ok(r) = Response::from_frame(&f) {
                    let _ = BaseMessage::parse(&r.data, false);
                    let _ = BaseMessage::parse(&r.data, true);
                    let _ = decode_sam_id(&r.data);
                    assert_eq!(r.encode(), f.encode());
                }
                rest = &rest[used..];
            }
            Some(Err(FrameError::Garbage { skipped })) => {
                assert!(skipped > 0 && skipped <= rest.len());
                rest = &rest[skipped..];
            }
            Some(Err(_)) => {
                let skip = frame::resync(rest);
                assert!(skip > 0 && skip <= rest.len());
                rest = &rest[skip..];
            }
        }
    }
    let _ = frame::decode_exact(data);
});
