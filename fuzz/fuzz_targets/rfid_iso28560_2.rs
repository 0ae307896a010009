//! ISO 28560-2 object decoding (precursors, EBV lengths, compaction schemes) and the model
//! detector must never panic; what decodes must re-encode to data that decodes the same.
#![no_main]

use kiosk_rfid::tagdata::{self, compaction, iso28560_2};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tagdata::detect(0x06, data);
    let _ = tagdata::is_complete(0x06, data);
    let _ = iso28560_2::encoded_len(data);
    let _ = compaction::isil_expand(data);
    for c in 0..8 {
        let _ = compaction::expand(compaction::Compaction::from_code(c), data);
    }
    if let Ok(d) = iso28560_2::decode(data)
        && let Ok(again) = iso28560_2::encode(&d)
    {
        let back = iso28560_2::decode(&again).expect("re-encoded data decodes");
        assert_eq!(back.primary_item_id, d.primary_item_id);
        assert_eq!(back.owner_institution, d.owner_institution);
        assert_eq!(back.set_info, d.set_info);
        assert_eq!(back.type_of_usage, d.type_of_usage);
    }
});
