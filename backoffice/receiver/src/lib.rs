//! Reference back-office receiver for the kiosk's signed offline queue (PROTOCOL.md §7–§8).
//!
//! It verifies every uploaded record (strict ed25519 signature, hash, sequence, hash chain,
//! key rotation, checkpoints) with `kiosk_queue::verify`, stores each accepted record once under
//! `UNIQUE (terminal, seq)` with the terminal's high-water mark moved in the same transaction,
//! and acknowledges per record only after the commit. A replay is acknowledged as `duplicate`
//! without a second effect; a gap is refused so the terminal resends in order; a different
//! record under a stored seq is a fork and blocks the terminal for staff.

pub mod ingest;
pub mod pg;
pub mod server;
pub mod sql;
pub mod sqlite;
pub mod store;

pub use ingest::{IngestError, Policy, decode_stored, ingest};
pub use server::{Limits, bind, router, serve};
pub use store::{RecordStore, StoreError, StoredRecord, StoredStatus, TerminalKey, open};
