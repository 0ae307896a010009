//! Where the receiver keeps terminals, their keys and their records (queue notes §4.4 items 7–8).
//!
//! The store is a small trait so the same ingest logic runs on embedded SQLite (the default,
//! `sqlite:PATH`) and on PostgreSQL (`postgres://…`). Every implementation must:
//! - hold `UNIQUE (terminal, seq)` on records, so a second insert of a seq can never succeed;
//! - move the per-terminal high-water mark in the SAME transaction as the inserts, with a
//!   compare-and-set on the old value, so two receivers racing on one terminal cannot both win;
//! - return from [`RecordStore::commit`] only after the transaction is durable.

use thiserror::Error;

/// Errors of the storage layer. They are the receiver's fault, never the terminal's: the upload
/// gets a 503 and is retried.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("terminal {0} changed under us (another writer); retry")]
    Conflict(String),
    #[error("bad database URL {0:?}: use sqlite:PATH or postgres://…")]
    BadUrl(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
}

/// One verifying key of a terminal and the seq range it may sign (rotation, queue notes §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalKey {
    pub key_id: String,
    pub public_key: [u8; 32],
    /// First seq this key may sign.
    pub valid_from: u64,
    /// Last seq this key may sign, once a rotation record retired it.
    pub valid_to: Option<u64>,
}

impl TerminalKey {
    /// A terminal's first key, valid from seq 1 (enrolment; later keys come by rotation records).
    pub fn first(key: &kiosk_queue::PublicKey) -> TerminalKey {
        TerminalKey {
            key_id: key.to_hex(),
            public_key: *key.as_bytes(),
            valid_from: 1,
            valid_to: None,
        }
    }
}

/// What the receiver knows about one enrolled terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalState {
    pub terminal: String,
    /// Highest seq consumed (accepted or refused for business reasons); 0 before the first.
    pub hwm: u64,
    /// Chain hash of the record at `hwm` (all zero before the first record).
    pub head_hash: [u8; 32],
    pub keys: Vec<TerminalKey>,
    /// Latest verified checkpoint: (seq, chain hash at that seq).
    pub checkpoint: Option<(u64, [u8; 32])>,
    /// Set when a fork or rollback was seen; uploads are refused until staff clear it.
    pub blocked: Option<String>,
}

/// Outcome stored with each consumed seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredStatus {
    Accepted,
    /// Authentic and in order, refused by business rules: the seq is consumed (Replicache rule).
    Refused,
}

impl StoredStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredStatus::Accepted => "accepted",
            StoredStatus::Refused => "refused",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "accepted" => Ok(StoredStatus::Accepted),
            "refused" => Ok(StoredStatus::Refused),
            other => Err(StoreError::Corrupt(format!("record status {other:?}"))),
        }
    }
}

/// A record as the receiver keeps it: raw signed bytes forever, for audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub terminal: String,
    pub seq: u64,
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
    pub status: StoredStatus,
    pub reason: Option<String>,
    /// Receiver clock, milliseconds since the epoch.
    pub received_at_ms: i64,
    pub request_id: String,
}

/// Everything one upload changes, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    pub terminal: String,
    /// The high-water mark the ingest started from (compare-and-set).
    pub expected_hwm: u64,
    pub new_hwm: u64,
    pub new_head: [u8; 32],
    pub records: Vec<StoredRecord>,
    /// Keys introduced by rotation records in this batch.
    pub new_keys: Vec<TerminalKey>,
    /// Keys retired by rotation records: (key_id, last seq).
    pub retired_keys: Vec<(String, u64)>,
    pub checkpoint: Option<(u64, [u8; 32])>,
    /// Alerts raised (fork, rollback, forged record), stored for staff.
    pub alerts: Vec<Alert>,
    /// Block the terminal (fork/rollback evidence).
    pub block: Option<String>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.new_keys.is_empty()
            && self.retired_keys.is_empty()
            && self.checkpoint.is_none()
            && self.alerts.is_empty()
            && self.block.is_none()
    }
}

/// A security-relevant event for staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub seq: u64,
    pub kind: String,
    pub detail: String,
}

/// Storage behind the receiver.
pub trait RecordStore: Send {
    /// Registers a terminal with its first key (valid from seq 1), or adds a key to a known one.
    fn enroll(&mut self, terminal: &str, key: &TerminalKey) -> Result<(), StoreError>;
    /// The terminal's state, `None` if it was never enrolled.
    fn terminal(&mut self, terminal: &str) -> Result<Option<TerminalState>, StoreError>;
    /// Chain hash stored for an already consumed seq.
    fn stored_hash(&mut self, terminal: &str, seq: u64) -> Result<Option<[u8; 32]>, StoreError>;
    /// Applies `commit` atomically and durably; fails with `Conflict` if the hwm moved meanwhile.
    fn commit(&mut self, commit: &Commit) -> Result<(), StoreError>;
    /// Records of a terminal in seq order (audit, tests).
    fn records(&mut self, terminal: &str) -> Result<Vec<StoredRecord>, StoreError>;
    /// Alerts of a terminal, oldest first.
    fn alerts(&mut self, terminal: &str) -> Result<Vec<Alert>, StoreError>;
}

/// Opens the store a URL names: `sqlite:PATH` (or a bare path) or `postgres://…`.
pub fn open(url: &str) -> Result<Box<dyn RecordStore>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(crate::pg::PgStore::connect(url)?))
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(StoreError::BadUrl(url.to_string()));
        }
        Ok(Box::new(crate::sqlite::SqliteStore::open(path)?))
    } else if url.contains("://") || url.is_empty() {
        Err(StoreError::BadUrl(url.to_string()))
    } else {
        Ok(Box::new(crate::sqlite::SqliteStore::open(url)?))
    }
}

pub(crate) fn hash_from(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("hash of {} bytes", bytes.len())))
}
