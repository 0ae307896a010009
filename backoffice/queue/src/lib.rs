//! Signed offline queue toward the back offices.
//!
//! Every transaction the kiosk acknowledges to a person is first a record here: canonical
//! JSON payload, per-terminal sequence number, hash chain, ed25519 signature, committed to
//! SQLite (WAL, synchronous=FULL) before the caller hears "done". The exact bytes, the chain,
//! checkpoints, key rotation and the upload exchange are specified in `backoffice/PROTOCOL.md`;
//! [`verify_record`] / [`verify_chain`] are the reference implementation of its checks.
//!
//! Design decisions:
//! - one writer thread owns the connection and group-commits concurrent enqueues, so
//!   throughput grows with load while each caller still waits for its own commit;
//! - the record body is a fixed binary layout (not re-serialised JSON), so a verifier in any
//!   language checks the signature over bytes it received, never over its own re-encoding;
//! - acknowledgement state (pending/acknowledged/quarantined) lives beside the record and
//!   changes only after the back office answered.

pub mod bench;
pub mod canonical;
pub mod error;
pub mod keys;
pub mod limits;
pub mod protocol;
pub mod record;
pub mod store;
pub mod vectors;
pub mod verify;

pub use canonical::{CanonicalError, canonicalize, canonicalize_str};
pub use error::QueueError;
pub use keys::{KeyError, PublicKey, TerminalKey};
pub use limits::{KindLimit, LimitKind, OfflineLimits};
pub use protocol::{
    EnrolRequest, EnrolResponse, RecordResult, RecordStatus, UploadRequest, UploadResponse,
};
pub use record::{
    CheckpointBody, FormatError, Hash, RecordBody, SignedCheckpoint, SignedRecord, WireCheckpoint,
    WireRecord,
};
pub use store::{Batch, DEFAULT_DB_PATH, Quarantined, Queue, QueueConfig, Receipt, Stats};
pub use verify::{
    ChainError, ChainHead, ChainReport, ChainVerifier, Verified, VerifyError,
    check_checkpoint_head, compare_with_stored, verify_chain, verify_chain_from, verify_checkpoint,
    verify_record,
};
