//! ISO 28560-3 basic block decoding and the model detector must never panic; a block that
//! decodes re-encodes to a block that decodes the same.
#![no_main]

use kiosk_rfid::tagdata::{self, iso28560_3};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tagdata::detect(0x00, data);
    let _ = tagdata::is_complete(0x00, data);
    if let Ok(d) = iso28560_3::decode(data)
        && let Ok(again) = iso28560_3::encode(&d)
    {
        assert_eq!(iso28560_3::decode(&again).ok(), Some(d));
    }
});
