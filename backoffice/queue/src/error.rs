//! Errors of the queue store, each with a message a technician can act on.

use rusqlite::ErrorCode;

use crate::limits::LimitKind;

/// What went wrong in the queue. Nothing acknowledged is lost in any of these cases: an
/// enqueue that returns an error was not committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error(
        "disk full: the record was NOT stored; free space on the queue's filesystem, then retry"
    )]
    DiskFull,
    #[error("queue database is read-only: the record was NOT stored ({0})")]
    ReadOnly(String),
    #[error("queue database is busy (locked by another process for too long); retry")]
    Busy,
    #[error(
        "queue database is corrupt or not a queue ({0}); keep the file for analysis and restore from the back office"
    )]
    Corrupt(String),
    #[error(
        "I/O error on the queue database ({0}); the connection is reopened before the next operation"
    )]
    Io(String),
    #[error("sqlite error {code}: {message}")]
    Sqlite { code: i32, message: String },
    #[error("SQLite {found} is too old; at least 3.51.3 is required (WAL-reset corruption fix)")]
    SqliteTooOld { found: String },
    #[error(
        "offline limit reached for {kind}: {limit} {current} would exceed {max}; the record was NOT stored"
    )]
    OfflineLimit {
        kind: String,
        limit: LimitKind,
        current: u64,
        max: u64,
    },
    #[error("invalid record: {0}")]
    Invalid(String),
    #[error("terminal key: {0}")]
    Key(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("the queue belongs to terminal {stored}, not {requested}")]
    TerminalMismatch { stored: String, requested: String },
    #[error("no record with seq {0}")]
    NoSuchRecord(u64),
    #[error("the queue writer has stopped")]
    Closed,
}

impl QueueError {
    /// Worth retrying the same operation later without changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            QueueError::DiskFull | QueueError::Busy | QueueError::Io(_)
        )
    }

    pub(crate) fn file(path: &std::path::Path, e: impl std::fmt::Display) -> QueueError {
        QueueError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, msg) => {
                let message = msg.clone().unwrap_or_else(|| f.to_string());
                match f.code {
                    ErrorCode::DiskFull => QueueError::DiskFull,
                    ErrorCode::ReadOnly => QueueError::ReadOnly(message),
                    ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => QueueError::Busy,
                    ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                        QueueError::Corrupt(message)
                    }
                    ErrorCode::SystemIoFailure => QueueError::Io(message),
                    ErrorCode::CannotOpen => QueueError::File {
                        path: "queue database".into(),
                        message,
                    },
                    _ => QueueError::Sqlite {
                        code: f.extended_code,
                        message,
                    },
                }
            }
            other => QueueError::Sqlite {
                code: -1,
                message: other.to_string(),
            },
        }
    }
}
