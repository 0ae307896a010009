//! Record/checkpoint bodies, wire JSON and canonical JSON from arbitrary bytes: typed errors,
//! never a panic; whatever decodes re-encodes to the same bytes.
#![no_main]

use kiosk_queue::{CheckpointBody, RecordBody, SignedRecord, WireRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = RecordBody::decode(data) {
        assert_eq!(body.encode(), data);
    }
    if let Ok(cp) = CheckpointBody::decode(data) {
        assert_eq!(cp.encode(), data);
    }
    let mut prefixed = b"KIOSK-RECORD-V1\0".to_vec();
    prefixed.extend_from_slice(data);
    if let Ok(body) = RecordBody::decode(&prefixed) {
        assert_eq!(body.encode(), prefixed);
    }
    if let Ok(canonical) = kiosk_queue::canonical::check_canonical(data) {
        assert_eq!(kiosk_queue::canonicalize(&canonical).unwrap(), data);
    }
    if let Ok(w) = serde_json::from_slice::<WireRecord>(data) {
        let _ = SignedRecord::from_wire(&w);
    }
});
