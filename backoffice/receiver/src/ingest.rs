//! The receiver's decision for each uploaded record (PROTOCOL.md §8, queue notes §4.4), kept
//! apart from HTTP so it can be tested with bytes and a store.
//!
//! Order of checks per record: decode → already consumed? (same hash: duplicate; other hash:
//! fork) → signature, hash, sequence and chain through `kiosk_queue::ChainVerifier` → business
//! rules. Only records that verify move the high-water mark; business refusals consume their
//! seq (so one bad record never wedges the terminal) while forged or broken ones do not.

use std::collections::HashMap;

use kiosk_queue::keys::PublicKey;
use kiosk_queue::record::{Hash, KIND_KEY_ROTATION, SignedCheckpoint, SignedRecord};
use kiosk_queue::verify::{
    ChainHead, ChainVerifier, VerifyError, check_checkpoint_head, compare_with_stored,
    verify_checkpoint,
};

use crate::store::{
    Alert, Commit, RecordStore, StoreError, StoredRecord, StoredStatus, TerminalKey, TerminalState,
};
use kiosk_queue::protocol::{RecordResult, RecordStatus, UploadRequest, UploadResponse};

/// Business rules of this back office.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Record kinds this back office handles (prefix match); empty = all kinds.
    pub accept_kinds: Vec<String>,
}

impl Policy {
    fn refuses(&self, kind: &str) -> Option<String> {
        if kind == KIND_KEY_ROTATION
            || self.accept_kinds.is_empty()
            || self
                .accept_kinds
                .iter()
                .any(|p| kind.starts_with(p.as_str()))
        {
            None
        } else {
            Some(format!("kind {kind} is not handled by this back office"))
        }
    }
}

/// Request-level failures (the whole upload is answered with an HTTP error).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("terminal {0} is not enrolled")]
    UnknownTerminal(String),
    #[error("terminal {terminal} is blocked: {why}")]
    Blocked { terminal: String, why: String },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Business reason for a kind this back office does not handle (the seq is consumed and the
/// terminal quarantines the record, PROTOCOL.md §8.9).
pub const REASON_REFUSED: &str = "unsupported_kind";

fn key_in_force(t: &TerminalState) -> Result<PublicKey, IngestError> {
    let k = t
        .keys
        .iter()
        .filter(|k| k.valid_to.is_none())
        .max_by_key(|k| k.valid_from)
        .ok_or_else(|| IngestError::Blocked {
            terminal: t.terminal.clone(),
            why: "no key in force".into(),
        })?;
    PublicKey::from_bytes(&k.public_key)
        .map_err(|e| IngestError::BadRequest(format!("stored key {}: {e}", k.key_id)))
}

fn rejected(seq: u64, e: &VerifyError) -> RecordResult {
    tracing::info!(seq, reason = e.reason(), detail = %e, "record rejected");
    RecordResult {
        seq,
        status: RecordStatus::Rejected,
        reason: Some(e.reason().to_string()),
    }
}

fn ok(seq: u64, status: RecordStatus) -> RecordResult {
    RecordResult {
        seq,
        status,
        reason: None,
    }
}

/// Verifies and stores one upload; returns only after the store committed.
pub fn ingest(
    store: &mut dyn RecordStore,
    policy: &Policy,
    request_id: &str,
    req: &UploadRequest,
) -> Result<UploadResponse, IngestError> {
    let state = store
        .terminal(&req.terminal)?
        .ok_or_else(|| IngestError::UnknownTerminal(req.terminal.clone()))?;
    if let Some(why) = &state.blocked {
        return Err(IngestError::Blocked {
            terminal: state.terminal.clone(),
            why: why.clone(),
        });
    }
    let key = key_in_force(&state)?;
    let mut verifier = if state.hwm == 0 {
        ChainVerifier::new(key)
    } else {
        ChainVerifier::resume(
            key,
            ChainHead {
                terminal: state.terminal.clone(),
                seq: state.hwm,
                hash: state.head_hash,
            },
        )
    };
    let now = crate::sqlite::now_ms();
    let mut commit = Commit {
        terminal: state.terminal.clone(),
        expected_hwm: state.hwm,
        new_hwm: state.hwm,
        new_head: state.head_hash,
        ..Commit::default()
    };
    // Hashes of seqs consumed by this batch, for duplicates inside one request.
    let mut batch_hashes: HashMap<u64, Hash> = HashMap::new();
    let mut acks = Vec::with_capacity(req.records.len());
    let decoded: Vec<Result<SignedRecord, VerifyError>> = req
        .records
        .iter()
        .map(|w| SignedRecord::from_wire(w).map_err(VerifyError::from))
        .collect();
    // After a gap or reorder the rest of the request gets the same answer (PROTOCOL.md §8.7).
    let mut sticky: Option<VerifyError> = None;
    for (index, (wire, rec)) in req.records.iter().zip(&decoded).enumerate() {
        if let Some(e) = &sticky {
            acks.push(rejected(wire.seq, e));
            continue;
        }
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                acks.push(rejected(wire.seq, e));
                continue;
            }
        };
        let seq = wire.seq;
        if wire.terminal != state.terminal {
            acks.push(rejected(
                seq,
                &VerifyError::WrongTerminal {
                    expected: state.terminal.clone(),
                    found: wire.terminal.clone(),
                },
            ));
            continue;
        }
        if seq <= commit.new_hwm {
            let stored = match batch_hashes.get(&seq) {
                Some(h) => Some(*h),
                None => store.stored_hash(&state.terminal, seq)?,
            };
            let outcome = match stored {
                Some(h) => compare_with_stored(&h, rec),
                None => Err(VerifyError::Fork { seq }),
            };
            match outcome {
                Ok(()) => acks.push(ok(seq, RecordStatus::Duplicate)),
                Err(e) => {
                    if matches!(e, VerifyError::Fork { .. }) {
                        commit.alerts.push(Alert {
                            seq,
                            kind: e.reason().into(),
                            detail: e.to_string(),
                        });
                        commit.block = Some(e.to_string());
                    }
                    acks.push(rejected(seq, &e));
                }
            }
            continue;
        }
        match verifier.push(rec) {
            Ok(v) => {
                let refusal = policy.refuses(&v.body.kind);
                if v.body.kind == KIND_KEY_ROTATION {
                    let old = key_in_force_id(&state, &commit);
                    commit.retired_keys.push((old, seq));
                    commit.new_keys.push(TerminalKey {
                        key_id: v.next_key.to_hex(),
                        public_key: *v.next_key.as_bytes(),
                        valid_from: seq + 1,
                        valid_to: None,
                    });
                }
                commit.records.push(StoredRecord {
                    terminal: state.terminal.clone(),
                    seq,
                    hash: v.hash,
                    bytes: encode_stored(rec),
                    status: if refusal.is_some() {
                        StoredStatus::Refused
                    } else {
                        StoredStatus::Accepted
                    },
                    reason: refusal.clone(),
                    received_at_ms: now,
                    request_id: request_id.to_string(),
                });
                batch_hashes.insert(seq, v.hash);
                commit.new_hwm = seq;
                commit.new_head = v.hash;
                acks.push(match refusal {
                    None => ok(seq, RecordStatus::Accepted),
                    Some(why) => {
                        tracing::info!(seq, %why, "record refused by business rules");
                        RecordResult {
                            seq,
                            status: RecordStatus::Rejected,
                            reason: Some(REASON_REFUSED.into()),
                        }
                    }
                });
            }
            Err(VerifyError::SequenceGap { expected, found }) => {
                let later = decoded[index + 1..].iter().any(|r| {
                    r.as_ref()
                        .is_ok_and(|r| r.decode_body().is_ok_and(|b| b.seq == expected))
                });
                let e = if later {
                    VerifyError::Reordered { expected, found }
                } else {
                    VerifyError::SequenceGap { expected, found }
                };
                acks.push(rejected(seq, &e));
                sticky = Some(e);
            }
            Err(e) => {
                commit.alerts.push(Alert {
                    seq,
                    kind: e.reason().into(),
                    detail: e.to_string(),
                });
                acks.push(rejected(seq, &e));
            }
        }
    }
    if let Some(wcp) = &req.checkpoint {
        check_checkpoint(store, &state, &mut commit, &batch_hashes, wcp)?;
    }
    if !commit.is_empty() || commit.new_hwm != commit.expected_hwm {
        store.commit(&commit)?;
    }
    Ok(UploadResponse {
        results: acks,
        high_water: Some(commit.new_hwm),
    })
}

fn key_in_force_id(state: &TerminalState, commit: &Commit) -> String {
    if let Some(k) = commit.new_keys.last() {
        return k.key_id.clone();
    }
    state
        .keys
        .iter()
        .filter(|k| k.valid_to.is_none())
        .max_by_key(|k| k.valid_from)
        .map(|k| k.key_id.clone())
        .unwrap_or_default()
}

/// Stored form of a record: signed body then the 64-byte signature (raw bytes kept for audit).
pub fn encode_stored(rec: &SignedRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(rec.body.len() + 64);
    out.extend_from_slice(&rec.body);
    out.extend_from_slice(&rec.sig);
    out
}

/// Splits [`encode_stored`] bytes back into a record.
pub fn decode_stored(bytes: &[u8]) -> Option<SignedRecord> {
    let split = bytes.len().checked_sub(64)?;
    let (body, sig) = bytes.split_at(split);
    Some(SignedRecord {
        body: body.to_vec(),
        sig: sig.try_into().ok()?,
        hash: kiosk_queue::record::sha256(body),
    })
}

/// Verifies the uploaded checkpoint against the known keys, the last checkpoint (rollback) and
/// the stored chain (truncation, fork, clone). A checkpoint ahead of what is stored is only
/// signature-checked; it is verified in full once its records arrive.
fn check_checkpoint(
    store: &mut dyn RecordStore,
    state: &TerminalState,
    commit: &mut Commit,
    batch_hashes: &HashMap<u64, Hash>,
    wcp: &kiosk_queue::record::WireCheckpoint,
) -> Result<(), IngestError> {
    let mut keys: Vec<PublicKey> = state
        .keys
        .iter()
        .filter_map(|k| PublicKey::from_bytes(&k.public_key).ok())
        .collect();
    keys.extend(
        commit
            .new_keys
            .iter()
            .filter_map(|k| PublicKey::from_bytes(&k.public_key).ok()),
    );
    let result = SignedCheckpoint::from_wire(wcp)
        .map_err(VerifyError::from)
        .and_then(|cp| {
            verify_checkpoint(
                &keys,
                &state.terminal,
                state.checkpoint.map(|(c, _)| c),
                &cp,
            )
        });
    let body = match result {
        Ok(b) => b,
        Err(e) => {
            alert(commit, wcp.count, &e);
            if matches!(e, VerifyError::Rollback { .. }) {
                commit.block = Some(e.to_string());
            }
            return Ok(());
        }
    };
    if body.count > commit.new_hwm {
        // Ahead of what is stored: only its signature was checked; the next upload that
        // carries it after its records verifies the head.
        return Ok(());
    }
    let stored = match batch_hashes.get(&body.count) {
        Some(h) => Some(*h),
        None => store.stored_hash(&state.terminal, body.count)?,
    };
    let Some(stored) = stored else {
        let e = VerifyError::Fork { seq: body.count };
        alert(commit, body.count, &e);
        return Ok(());
    };
    if let Err(e) = check_checkpoint_head(&body, &stored) {
        alert(commit, body.count, &e);
        commit.block = Some(e.to_string());
        return Ok(());
    }
    if state.checkpoint.is_none_or(|(c, _)| body.count > c) {
        commit.checkpoint = Some((body.count, body.head_hash));
    }
    Ok(())
}

fn alert(commit: &mut Commit, seq: u64, e: &VerifyError) {
    commit.alerts.push(Alert {
        seq,
        kind: e.reason().into(),
        detail: e.to_string(),
    });
}
