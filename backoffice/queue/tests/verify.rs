//! Verification: PROTOCOL.md test vectors, tamper cases with their exact reasons, rotation,
//! checkpoints, and never-panicking decoders.

use kiosk_queue::record::{GENESIS_PREV, KIND_KEY_ROTATION, sha256};
use kiosk_queue::{
    ChainVerifier, RecordBody, SignedCheckpoint, SignedRecord, TerminalKey, VerifyError,
    WireCheckpoint, WireRecord, canonicalize_str, check_checkpoint_head, compare_with_stored,
    vectors, verify_chain, verify_checkpoint, verify_record,
};
use proptest::prelude::*;

fn workspace_file(rel: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn vectors_match_protocol_md() {
    let page = workspace_file("backoffice/PROTOCOL.md");
    for line in vectors::markdown().lines() {
        assert!(
            page.contains(line),
            "PROTOCOL.md §10 is stale; missing line {line:?} (regenerate with the example)"
        );
    }
    assert_eq!(
        workspace_file("fixtures/queue/vectors.jsonl"),
        vectors::jsonl(),
        "fixtures/queue/vectors.jsonl is stale"
    );
}

#[test]
fn vectors_verify_from_their_json() {
    let text = workspace_file("fixtures/queue/vectors.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    let records: Vec<SignedRecord> = lines[..2]
        .iter()
        .map(|l| SignedRecord::from_wire(&serde_json::from_str::<WireRecord>(l).unwrap()).unwrap())
        .collect();
    let key = vectors::key().public();
    assert_eq!(
        key.to_hex(),
        "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    );
    let report = verify_chain(&key, &records).unwrap();
    assert_eq!(report.head.as_ref().unwrap().seq, 2);
    let cp: WireCheckpoint = serde_json::from_str(lines[2]).unwrap();
    let cp = SignedCheckpoint::from_wire(&cp).unwrap();
    let body = verify_checkpoint(&[key], "T-0001", Some(1), &cp).unwrap();
    check_checkpoint_head(&body, &records[1].hash).unwrap();
    assert_eq!(
        check_checkpoint_head(&body, &records[0].hash),
        Err(VerifyError::Fork { seq: 2 })
    );
    assert_eq!(
        verify_checkpoint(&[key], "T-0001", Some(3), &cp),
        Err(VerifyError::Rollback {
            previous: 3,
            found: 2
        })
    );
}

/// Builds a chain of `n` records signed by `key` (with an optional rotation at `rotate_at`).
fn chain(key: &TerminalKey, n: u64, rotate_to: Option<(u64, &TerminalKey)>) -> Vec<SignedRecord> {
    let mut prev = GENESIS_PREV;
    let mut signer = key;
    let mut out = Vec::new();
    for seq in 1..=n {
        let (kind, payload) = match rotate_to {
            Some((at, new)) if at == seq => (
                KIND_KEY_ROTATION.to_string(),
                format!(r#"{{"new_key":"{}"}}"#, new.public().to_hex()).into_bytes(),
            ),
            _ => (
                "loan".to_string(),
                canonicalize_str(&format!(r#"{{"item":"{seq}","n":{seq}}}"#)).unwrap(),
            ),
        };
        let body = RecordBody {
            terminal: "T-9".into(),
            seq,
            wall_ms: 1_700_000_000_000 + seq as i64,
            boot_id: [7; 16],
            mono_ns: seq * 1000,
            signer: signer.public(),
            prev_hash: prev,
            kind: kind.clone(),
            payload,
        }
        .encode();
        let hash = sha256(&body);
        out.push(SignedRecord {
            sig: signer.sign(&body),
            body,
            hash,
        });
        prev = hash;
        if kind == KIND_KEY_ROTATION {
            signer = rotate_to.unwrap().1;
        }
    }
    out
}

fn reason(key: &TerminalKey, records: &[SignedRecord]) -> (usize, VerifyError) {
    let e = verify_chain(&key.public(), records).expect_err("tampered chain must fail");
    (e.index, e.reason)
}

#[test]
fn intact_chain_verifies() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let r = verify_chain(&k.public(), &chain(&k, 5, None)).unwrap();
    assert_eq!(r.records, 5);
    assert_eq!(r.head.unwrap().seq, 5);
}

#[test]
fn changed_byte_is_bad_signature() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let mut c = chain(&k, 4, None);
    let last = c[2].body.len() - 2;
    c[2].body[last] ^= 0x01; // inside the payload: still canonical JSON ("3" → "2")
    c[2].hash = sha256(&c[2].body);
    assert_eq!(reason(&k, &c), (2, VerifyError::BadSignature { seq: 3 }));
}

#[test]
fn changed_payload_structure_is_malformed() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let mut c = chain(&k, 2, None);
    let last = c[1].body.len() - 1;
    c[1].body[last] = b' '; // no longer canonical JSON
    let (i, e) = reason(&k, &c);
    assert_eq!((i, e.reason()), (1, "malformed"));
}

#[test]
fn changed_stored_hash_is_hash_mismatch() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let mut c = chain(&k, 3, None);
    c[1].hash[0] ^= 0xff;
    let (i, e) = reason(&k, &c);
    assert_eq!((i, e.reason()), (1, "hash_mismatch"));
}

#[test]
fn dropped_record_is_sequence_gap() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let mut c = chain(&k, 5, None);
    c.remove(2);
    assert_eq!(
        reason(&k, &c),
        (
            2,
            VerifyError::SequenceGap {
                expected: 3,
                found: 4
            }
        )
    );
}

#[test]
fn truncated_log_detected_by_checkpoint() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let c = chain(&k, 5, None);
    // The receiver saw a checkpoint at 5; a restored terminal now claims 3.
    let cp_at = |n: usize| {
        let body = kiosk_queue::CheckpointBody {
            terminal: "T-9".into(),
            count: n as u64,
            head_hash: c[n - 1].hash,
            wall_ms: 0,
            signer: k.public(),
        }
        .encode();
        SignedCheckpoint {
            sig: k.sign(&body),
            body,
        }
    };
    assert!(verify_checkpoint(&[k.public()], "T-9", None, &cp_at(5)).is_ok());
    assert_eq!(
        verify_checkpoint(&[k.public()], "T-9", Some(5), &cp_at(3)),
        Err(VerifyError::Rollback {
            previous: 5,
            found: 3
        })
    );
    let other = TerminalKey::from_seed(&[2; 32]);
    assert_eq!(
        verify_checkpoint(&[other.public()], "T-9", None, &cp_at(5))
            .unwrap_err()
            .reason(),
        "unknown_key"
    );
    let mut bad = cp_at(4);
    bad.sig[5] ^= 1;
    assert_eq!(
        verify_checkpoint(&[k.public()], "T-9", None, &bad),
        Err(VerifyError::BadSignature { seq: 4 })
    );
}

#[test]
fn swapped_pair_is_reordered() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let mut c = chain(&k, 5, None);
    c.swap(2, 3);
    assert_eq!(
        reason(&k, &c),
        (
            2,
            VerifyError::Reordered {
                expected: 3,
                found: 4
            }
        )
    );
}

#[test]
fn replayed_old_record_is_replay() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let mut c = chain(&k, 4, None);
    c.push(c[1].clone());
    assert_eq!(
        reason(&k, &c),
        (
            4,
            VerifyError::Replay {
                seq: 2,
                expected: 5
            }
        )
    );
    // The receiver's view: same hash already stored → duplicate; different → fork.
    assert_eq!(compare_with_stored(&c[1].hash, &c[4]), Ok(()));
    assert_eq!(
        compare_with_stored(&c[0].hash, &c[4]),
        Err(VerifyError::Fork { seq: 2 })
    );
}

#[test]
fn other_key_is_unknown_key() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let mallory = TerminalKey::from_seed(&[9; 32]);
    let mut c = chain(&k, 3, None);
    let forged = chain(&mallory, 3, None);
    // Mallory's record 3 even links to the real record 2's hash? It cannot: different bodies.
    c[2] = forged[2].clone();
    let (i, e) = reason(&k, &c);
    assert_eq!((i, e.reason()), (2, "unknown_key"));
    // Same signer field but the signature made by another key → bad_signature.
    let mut c = chain(&k, 3, None);
    c[2].sig = mallory.sign(&c[2].body);
    assert_eq!(reason(&k, &c), (2, VerifyError::BadSignature { seq: 3 }));
}

#[test]
fn spliced_history_is_chain_break() {
    // A cloned terminal (same key) writes its own seq 3; spliced after the original 1–2.
    let k = TerminalKey::from_seed(&[1; 32]);
    let original = chain(&k, 3, None);
    let mut clone_body = original[2].decode_body().unwrap();
    clone_body.prev_hash = [0x55; 32];
    let body = clone_body.encode();
    let forged = SignedRecord {
        sig: k.sign(&body),
        hash: sha256(&body),
        body,
    };
    let c = vec![original[0].clone(), original[1].clone(), forged];
    let (i, e) = reason(&k, &c);
    assert_eq!((i, e.reason()), (2, "chain_break"));
}

#[test]
fn rotation_hands_over_to_new_key() {
    let old = TerminalKey::from_seed(&[1; 32]);
    let new = TerminalKey::from_seed(&[2; 32]);
    let c = chain(&old, 6, Some((3, &new)));
    let r = verify_chain(&old.public(), &c).unwrap();
    assert_eq!(r.key, new.public());
    assert_eq!(r.rotations, 1);
    // After the rotation the old key is no longer accepted.
    let stale = chain(&old, 6, None);
    let mut mixed = c.clone();
    mixed.truncate(3);
    let mut v = ChainVerifier::new(old.public());
    for rec in &mixed {
        v.push(rec).unwrap();
    }
    let mut body = stale[3].decode_body().unwrap();
    body.prev_hash = mixed[2].hash;
    let bytes = body.encode();
    let rec = SignedRecord {
        sig: old.sign(&bytes),
        hash: sha256(&bytes),
        body: bytes,
    };
    assert_eq!(v.push(&rec).unwrap_err().reason(), "unknown_key");
}

#[test]
fn first_record_must_be_seq_one() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let c = chain(&k, 3, None);
    assert_eq!(
        verify_record(&k.public(), None, &c[1])
            .unwrap_err()
            .reason(),
        "sequence_gap"
    );
}

#[test]
fn wire_form_round_trips_and_detects_disagreement() {
    let k = TerminalKey::from_seed(&[1; 32]);
    let c = chain(&k, 1, None);
    let w = c[0].to_wire().unwrap();
    assert_eq!(SignedRecord::from_wire(&w).unwrap(), c[0]);
    let mut lie = w.clone();
    lie.seq = 7;
    assert!(SignedRecord::from_wire(&lie).is_err());
    let mut lie = w;
    lie.payload = serde_json::json!({"item": "other"});
    assert!(SignedRecord::from_wire(&lie).is_err());
}

proptest! {
    #[test]
    fn body_round_trips(seq in 1u64.., wall in any::<i64>(), mono in any::<u64>(), n in any::<i64>(), term in "[A-Za-z0-9._:-]{1,64}", kind in "[a-z][a-z0-9._-]{0,63}") {
        let k = TerminalKey::from_seed(&[3; 32]);
        let body = RecordBody {
            terminal: term,
            seq,
            wall_ms: wall,
            boot_id: [1; 16],
            mono_ns: mono,
            signer: k.public(),
            prev_hash: if seq == 1 { GENESIS_PREV } else { [2; 32] },
            kind,
            payload: canonicalize_str(&format!(r#"{{"n":{n}}}"#)).unwrap(),
        };
        prop_assert_eq!(RecordBody::decode(&body.encode()).unwrap(), body);
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = RecordBody::decode(&bytes);
        let _ = kiosk_queue::CheckpointBody::decode(&bytes);
        let mut with_prefix = b"KIOSK-RECORD-V1\0".to_vec();
        with_prefix.extend_from_slice(&bytes);
        let _ = RecordBody::decode(&with_prefix);
    }

    #[test]
    fn any_bit_flip_is_detected(pos in 0usize..150, bit in 0u8..8) {
        let k = TerminalKey::from_seed(&[1; 32]);
        let mut c = chain(&k, 2, None);
        let p = pos % c[1].body.len();
        c[1].body[p] ^= 1 << bit;
        prop_assert!(verify_chain(&k.public(), &c).is_err());
    }
}
