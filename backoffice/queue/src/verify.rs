//! Verification of records, chains and checkpoints (PROTOCOL.md §4, §5, §8). Sans-IO: the
//! terminal's own `outbox verify`, outside verifiers and the reference receiver share it.

use serde::Deserialize;

use crate::keys::PublicKey;
use crate::record::{
    CheckpointBody, FormatError, GENESIS_PREV, Hash, KIND_KEY_ROTATION, RecordBody,
    SignedCheckpoint, SignedRecord, sha256,
};

/// Why a record, chain or checkpoint was refused. [`VerifyError::reason`] gives the stable
/// code used in upload responses (PROTOCOL.md §8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed: {0}")]
    Malformed(#[from] FormatError),
    #[error("record belongs to terminal {found}, expected {expected}")]
    WrongTerminal { expected: String, found: String },
    #[error("seq {seq}: signed by unknown key {found} (key in force: {expected})")]
    UnknownKey {
        seq: u64,
        expected: String,
        found: String,
    },
    #[error("seq {seq}: signature does not verify")]
    BadSignature { seq: u64 },
    #[error("seq {seq}: stated hash {stated} but the signed bytes hash to {computed}")]
    HashMismatch {
        seq: u64,
        stated: String,
        computed: String,
    },
    #[error("seq {seq}: old sequence number replayed (expected {expected})")]
    Replay { seq: u64, expected: u64 },
    #[error("seq {found} arrived before seq {expected} (records reordered)")]
    Reordered { expected: u64, found: u64 },
    #[error("sequence gap: expected seq {expected}, got {found}")]
    SequenceGap { expected: u64, found: u64 },
    #[error("seq {seq}: chain break, prev_hash {found} but seq {} hashes to {expected}", seq - 1)]
    ChainBreak {
        seq: u64,
        expected: String,
        found: String,
    },
    #[error(
        "seq {seq}: differs from the record already stored under that seq (fork or cloned terminal)"
    )]
    Fork { seq: u64 },
    #[error("checkpoint count {found} is below an earlier checkpoint's {previous} (rollback)")]
    Rollback { previous: u64, found: u64 },
}

impl VerifyError {
    /// Stable snake_case code (PROTOCOL.md §8).
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed",
            VerifyError::WrongTerminal { .. } => "wrong_terminal",
            VerifyError::UnknownKey { .. } => "unknown_key",
            VerifyError::BadSignature { .. } => "bad_signature",
            VerifyError::HashMismatch { .. } => "hash_mismatch",
            VerifyError::Replay { .. } => "replay",
            VerifyError::Reordered { .. } => "reordered",
            VerifyError::SequenceGap { .. } => "sequence_gap",
            VerifyError::ChainBreak { .. } => "chain_break",
            VerifyError::Fork { .. } => "fork",
            VerifyError::Rollback { .. } => "rollback",
        }
    }
}

/// The last verified record of a chain: what the next record must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub terminal: String,
    pub seq: u64,
    pub hash: Hash,
}

/// A record that passed [`verify_record`].
#[derive(Debug, Clone)]
pub struct Verified {
    pub body: RecordBody,
    pub hash: Hash,
    /// The key in force for the next record (the new key after a rotation record).
    pub next_key: PublicKey,
}

impl Verified {
    pub fn head(&self) -> ChainHead {
        ChainHead {
            terminal: self.body.terminal.clone(),
            seq: self.body.seq,
            hash: self.hash,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationPayload {
    new_key: String,
}

/// Checks one record against the key in force and the previous record (`None` = this must be
/// seq 1). Checks run in the order of PROTOCOL.md §8 and the first failure is returned.
pub fn verify_record(
    key: &PublicKey,
    prev: Option<&ChainHead>,
    record: &SignedRecord,
) -> Result<Verified, VerifyError> {
    let body = record.decode_body()?;
    if let Some(p) = prev
        && p.terminal != body.terminal
    {
        return Err(VerifyError::WrongTerminal {
            expected: p.terminal.clone(),
            found: body.terminal,
        });
    }
    if body.signer != *key {
        return Err(VerifyError::UnknownKey {
            seq: body.seq,
            expected: key.to_hex(),
            found: body.signer.to_hex(),
        });
    }
    if !key.verify(&record.body, &record.sig) {
        return Err(VerifyError::BadSignature { seq: body.seq });
    }
    let hash = sha256(&record.body);
    if hash != record.hash {
        return Err(VerifyError::HashMismatch {
            seq: body.seq,
            stated: hex::encode(record.hash),
            computed: hex::encode(hash),
        });
    }
    let expected = prev.map_or(1, |p| p.seq + 1);
    if body.seq < expected {
        return Err(VerifyError::Replay {
            seq: body.seq,
            expected,
        });
    }
    if body.seq > expected {
        return Err(VerifyError::SequenceGap {
            expected,
            found: body.seq,
        });
    }
    let want_prev = prev.map_or(GENESIS_PREV, |p| p.hash);
    if body.prev_hash != want_prev {
        return Err(VerifyError::ChainBreak {
            seq: body.seq,
            expected: hex::encode(want_prev),
            found: hex::encode(body.prev_hash),
        });
    }
    let next_key = if body.kind == KIND_KEY_ROTATION {
        rotation_target(&body)?
    } else {
        *key
    };
    Ok(Verified {
        body,
        hash,
        next_key,
    })
}

/// The new key named by a `kiosk.key_rotation` record (PROTOCOL.md §6).
pub fn rotation_target(body: &RecordBody) -> Result<PublicKey, VerifyError> {
    let bad = |why: String| {
        VerifyError::Malformed(FormatError::Field {
            field: "payload",
            why,
        })
    };
    let p: RotationPayload =
        serde_json::from_slice(&body.payload).map_err(|e| bad(format!("key rotation: {e}")))?;
    PublicKey::from_hex(&p.new_key).map_err(|e| bad(format!("key rotation new_key: {e}")))
}

/// A receiver's rule for a seq it has already stored: same hash → duplicate (acknowledge
/// again), different hash → [`VerifyError::Fork`].
pub fn compare_with_stored(stored_hash: &Hash, record: &SignedRecord) -> Result<(), VerifyError> {
    let body = record.decode_body()?;
    if sha256(&record.body) == *stored_hash {
        Ok(())
    } else {
        Err(VerifyError::Fork { seq: body.seq })
    }
}

/// Streaming verifier: the key in force and the head, advanced by each accepted record.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    key: PublicKey,
    head: Option<ChainHead>,
}

impl ChainVerifier {
    /// Starts at the genesis of a terminal whose first record is signed by `enrolled_key`.
    pub fn new(enrolled_key: PublicKey) -> ChainVerifier {
        ChainVerifier {
            key: enrolled_key,
            head: None,
        }
    }

    /// Continues after a stored head, with the key in force after it.
    pub fn resume(key: PublicKey, head: ChainHead) -> ChainVerifier {
        ChainVerifier {
            key,
            head: Some(head),
        }
    }

    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    pub fn head(&self) -> Option<&ChainHead> {
        self.head.as_ref()
    }

    /// Verifies `record` as the next one; advances only on success.
    pub fn push(&mut self, record: &SignedRecord) -> Result<Verified, VerifyError> {
        let v = verify_record(&self.key, self.head.as_ref(), record)?;
        self.key = v.next_key;
        self.head = Some(v.head());
        Ok(v)
    }
}

/// Where in a list a chain failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record #{index} (in list order): {reason}")]
pub struct ChainError {
    pub index: usize,
    pub reason: VerifyError,
}

/// Summary of a verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub records: usize,
    pub head: Option<ChainHead>,
    /// Key in force after the last record.
    pub key: PublicKey,
    pub rotations: usize,
}

/// Verifies a whole log from seq 1, starting with the enrolled key.
pub fn verify_chain(
    enrolled_key: &PublicKey,
    records: &[SignedRecord],
) -> Result<ChainReport, ChainError> {
    verify_chain_from(ChainVerifier::new(*enrolled_key), records)
}

/// Verifies `records` in list order from the verifier's state. A gap whose missing seq turns
/// up later in the list is reported as [`VerifyError::Reordered`].
pub fn verify_chain_from(
    mut verifier: ChainVerifier,
    records: &[SignedRecord],
) -> Result<ChainReport, ChainError> {
    let mut rotations = 0;
    for (index, rec) in records.iter().enumerate() {
        match verifier.push(rec) {
            Ok(v) => {
                if v.body.kind == KIND_KEY_ROTATION {
                    rotations += 1;
                }
            }
            Err(VerifyError::SequenceGap { expected, found }) => {
                let later = records[index + 1..]
                    .iter()
                    .any(|r| r.decode_body().is_ok_and(|b| b.seq == expected));
                let reason = if later {
                    VerifyError::Reordered { expected, found }
                } else {
                    VerifyError::SequenceGap { expected, found }
                };
                return Err(ChainError { index, reason });
            }
            Err(reason) => return Err(ChainError { index, reason }),
        }
    }
    Ok(ChainReport {
        records: records.len(),
        head: verifier.head.clone(),
        key: verifier.key,
        rotations,
    })
}

/// Checks a checkpoint's signature, terminal and signer (one of `keys`, the keys the receiver
/// knows for this terminal), and that it does not go back behind `previous_count`, the count
/// of the latest checkpoint already accepted. The caller then compares `head_hash` with its
/// stored hash of record `count` ([`check_checkpoint_head`]).
pub fn verify_checkpoint(
    keys: &[PublicKey],
    terminal: &str,
    previous_count: Option<u64>,
    cp: &SignedCheckpoint,
) -> Result<CheckpointBody, VerifyError> {
    let body = cp.decode_body()?;
    if body.terminal != terminal {
        return Err(VerifyError::WrongTerminal {
            expected: terminal.to_string(),
            found: body.terminal,
        });
    }
    if !keys.contains(&body.signer) {
        return Err(VerifyError::UnknownKey {
            seq: body.count,
            expected: keys
                .iter()
                .map(PublicKey::to_hex)
                .collect::<Vec<_>>()
                .join(","),
            found: body.signer.to_hex(),
        });
    }
    if !body.signer.verify(&cp.body, &cp.sig) {
        return Err(VerifyError::BadSignature { seq: body.count });
    }
    if let Some(previous) = previous_count
        && body.count < previous
    {
        return Err(VerifyError::Rollback {
            previous,
            found: body.count,
        });
    }
    Ok(body)
}

/// A checkpoint naming `count` must match the hash stored for record `count`.
pub fn check_checkpoint_head(cp: &CheckpointBody, stored_hash: &Hash) -> Result<(), VerifyError> {
    if cp.head_hash == *stored_hash {
        Ok(())
    } else {
        Err(VerifyError::Fork { seq: cp.count })
    }
}
