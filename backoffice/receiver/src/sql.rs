//! The storage logic the SQLite and PostgreSQL stores share: every statement, the order of the
//! writes of one commit (compare-and-set on the high-water mark first), and the mapping between
//! rows and the store's types. A store only supplies a [`Backend`]: how to run a statement, and
//! how to run a closure in one durable transaction.
//!
//! Statements are written with `?N` placeholders (SQLite's spelling); the PostgreSQL backend
//! rewrites them to `$N`. Values travel as the four kinds both databases share ([`Value`]).

use crate::store::{
    Alert, Commit, RecordStore, StoreError, StoredRecord, StoredStatus, TerminalKey, TerminalState,
    hash_from,
};

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Runs statements on a connection, or inside a transaction.
pub trait Conn {
    /// Rows changed.
    fn execute(&mut self, sql: &'static str, params: &[Value]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &'static str, params: &[Value])
    -> Result<Vec<Vec<Value>>, StoreError>;
}

/// One database connection of a store.
pub trait Backend: Send {
    /// `SELECT seq, kind, detail FROM alerts WHERE terminal = ?1 ORDER BY <insertion order>`.
    const SELECT_ALERTS: &'static str;

    /// Runs `f` on the connection, outside a transaction.
    fn with_conn<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;

    /// Runs `f` in one transaction: committed (durably) when it returns `Ok`, rolled back
    /// otherwise.
    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
}

const ENROLL_TERMINAL: &str =
    "INSERT INTO terminals (terminal, hwm, head_hash, enrolled_at_ms) VALUES (?1, 0, ?2, ?3)
     ON CONFLICT (terminal) DO NOTHING";
const UPSERT_KEY: &str =
    "INSERT INTO terminal_keys (terminal, key_id, public_key, valid_from, valid_to)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (terminal, key_id) DO UPDATE SET public_key = excluded.public_key,
         valid_from = excluded.valid_from, valid_to = excluded.valid_to";
const SELECT_TERMINAL: &str = "SELECT hwm, head_hash, checkpoint_seq, checkpoint_hash, blocked
     FROM terminals WHERE terminal = ?1";
const SELECT_KEYS: &str = "SELECT key_id, public_key, valid_from, valid_to FROM terminal_keys
     WHERE terminal = ?1 ORDER BY valid_from";
const SELECT_HASH: &str = "SELECT hash FROM records WHERE terminal = ?1 AND seq = ?2";
const MOVE_HWM: &str =
    "UPDATE terminals SET hwm = ?1, head_hash = ?2 WHERE terminal = ?3 AND hwm = ?4";
const INSERT_RECORD: &str =
    "INSERT INTO records (terminal, seq, hash, bytes, status, reason, received_at_ms, request_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const RETIRE_KEY: &str =
    "UPDATE terminal_keys SET valid_to = ?1 WHERE terminal = ?2 AND key_id = ?3";
const INSERT_KEY: &str =
    "INSERT INTO terminal_keys (terminal, key_id, public_key, valid_from, valid_to)
     VALUES (?1, ?2, ?3, ?4, ?5)";
const SET_CHECKPOINT: &str =
    "UPDATE terminals SET checkpoint_seq = ?1, checkpoint_hash = ?2 WHERE terminal = ?3";
const INSERT_ALERT: &str =
    "INSERT INTO alerts (terminal, seq, kind, detail, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)";
const BLOCK: &str = "UPDATE terminals SET blocked = ?1 WHERE terminal = ?2";
const SELECT_RECORDS: &str = "SELECT seq, hash, bytes, status, reason, received_at_ms, request_id
     FROM records WHERE terminal = ?1 ORDER BY seq";

fn seq_value(seq: u64) -> Result<Value, StoreError> {
    i64::try_from(seq)
        .map(Value::Int)
        .map_err(|_| StoreError::Corrupt(format!("seq {seq} out of range")))
}

fn opt_seq_value(seq: Option<u64>) -> Result<Value, StoreError> {
    seq.map_or(Ok(Value::Null), seq_value)
}

/// Reads the columns of one row in order.
struct Cells(std::vec::IntoIter<Value>);

impl Cells {
    fn next(&mut self) -> Result<Value, StoreError> {
        self.0
            .next()
            .ok_or_else(|| StoreError::Corrupt("row has too few columns".into()))
    }

    fn int(&mut self) -> Result<i64, StoreError> {
        self.opt_int()?
            .ok_or_else(|| StoreError::Corrupt("NULL where an integer belongs".into()))
    }

    fn opt_int(&mut self) -> Result<Option<i64>, StoreError> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Int(i) => Ok(Some(i)),
            other => Err(StoreError::Corrupt(format!("{other:?} is not an integer"))),
        }
    }

    fn text(&mut self) -> Result<String, StoreError> {
        self.opt_text()?
            .ok_or_else(|| StoreError::Corrupt("NULL where text belongs".into()))
    }

    fn opt_text(&mut self) -> Result<Option<String>, StoreError> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            other => Err(StoreError::Corrupt(format!("{other:?} is not text"))),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, StoreError> {
        self.opt_bytes()?
            .ok_or_else(|| StoreError::Corrupt("NULL where bytes belong".into()))
    }

    fn opt_bytes(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Bytes(b) => Ok(Some(b)),
            other => Err(StoreError::Corrupt(format!("{other:?} is not bytes"))),
        }
    }
}

fn rows(rows: Vec<Vec<Value>>) -> impl Iterator<Item = Cells> {
    rows.into_iter().map(|r| Cells(r.into_iter()))
}

/// A [`RecordStore`] over any [`Backend`]: all of the store's logic, written once.
pub struct SqlStore<B> {
    backend: B,
}

impl<B: Backend> SqlStore<B> {
    pub(crate) fn new(backend: B) -> Self {
        SqlStore { backend }
    }
}

fn insert_key(
    c: &mut dyn Conn,
    sql: &'static str,
    terminal: &str,
    key: &TerminalKey,
) -> Result<(), StoreError> {
    c.execute(
        sql,
        &[
            terminal.into(),
            key.key_id.as_str().into(),
            key.public_key[..].into(),
            seq_value(key.valid_from)?,
            opt_seq_value(key.valid_to)?,
        ],
    )?;
    Ok(())
}

impl<B: Backend> RecordStore for SqlStore<B> {
    fn enroll(&mut self, terminal: &str, key: &TerminalKey) -> Result<(), StoreError> {
        self.backend.transaction(|c| {
            c.execute(
                ENROLL_TERMINAL,
                &[
                    terminal.into(),
                    [0u8; 32][..].into(),
                    crate::sqlite::now_ms().into(),
                ],
            )?;
            insert_key(c, UPSERT_KEY, terminal, key)
        })
    }

    fn terminal(&mut self, terminal: &str) -> Result<Option<TerminalState>, StoreError> {
        self.backend.with_conn(|c| {
            let Some(mut row) = rows(c.query(SELECT_TERMINAL, &[terminal.into()])?).next() else {
                return Ok(None);
            };
            let hwm = row.int()?;
            let head = row.bytes()?;
            let cp_seq = row.opt_int()?;
            let cp_hash = row.opt_bytes()?;
            let blocked = row.opt_text()?;
            let keys = rows(c.query(SELECT_KEYS, &[terminal.into()])?)
                .map(|mut r| {
                    Ok(TerminalKey {
                        key_id: r.text()?,
                        public_key: hash_from(&r.bytes()?)?,
                        valid_from: r.int()? as u64,
                        valid_to: r.opt_int()?.map(|t| t as u64),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let checkpoint = match (cp_seq, cp_hash) {
                (Some(s), Some(h)) => Some((s as u64, hash_from(&h)?)),
                _ => None,
            };
            Ok(Some(TerminalState {
                terminal: terminal.to_string(),
                hwm: hwm as u64,
                head_hash: hash_from(&head)?,
                keys,
                checkpoint,
                blocked,
            }))
        })
    }

    fn stored_hash(&mut self, terminal: &str, seq: u64) -> Result<Option<[u8; 32]>, StoreError> {
        self.backend.with_conn(|c| {
            rows(c.query(SELECT_HASH, &[terminal.into(), seq_value(seq)?])?)
                .next()
                .map(|mut r| hash_from(&r.bytes()?))
                .transpose()
        })
    }

    fn commit(&mut self, commit: &Commit) -> Result<(), StoreError> {
        self.backend.transaction(|c| {
            let t = || Value::from(commit.terminal.as_str());
            let moved = c.execute(
                MOVE_HWM,
                &[
                    seq_value(commit.new_hwm)?,
                    commit.new_head[..].into(),
                    t(),
                    seq_value(commit.expected_hwm)?,
                ],
            )?;
            if moved != 1 {
                return Err(StoreError::Conflict(commit.terminal.clone()));
            }
            for r in &commit.records {
                c.execute(
                    INSERT_RECORD,
                    &[
                        r.terminal.as_str().into(),
                        seq_value(r.seq)?,
                        r.hash[..].into(),
                        r.bytes[..].into(),
                        r.status.as_str().into(),
                        r.reason.as_deref().into(),
                        r.received_at_ms.into(),
                        r.request_id.as_str().into(),
                    ],
                )?;
            }
            for (key_id, last) in &commit.retired_keys {
                c.execute(
                    RETIRE_KEY,
                    &[seq_value(*last)?, t(), key_id.as_str().into()],
                )?;
            }
            for k in &commit.new_keys {
                insert_key(c, INSERT_KEY, &commit.terminal, k)?;
            }
            if let Some((seq, hash)) = commit.checkpoint {
                c.execute(SET_CHECKPOINT, &[seq_value(seq)?, hash[..].into(), t()])?;
            }
            for a in &commit.alerts {
                c.execute(
                    INSERT_ALERT,
                    &[
                        t(),
                        seq_value(a.seq)?,
                        a.kind.as_str().into(),
                        a.detail.as_str().into(),
                        crate::sqlite::now_ms().into(),
                    ],
                )?;
            }
            if let Some(why) = &commit.block {
                c.execute(BLOCK, &[why.as_str().into(), t()])?;
            }
            Ok(())
        })
    }

    fn records(&mut self, terminal: &str) -> Result<Vec<StoredRecord>, StoreError> {
        self.backend.with_conn(|c| {
            rows(c.query(SELECT_RECORDS, &[terminal.into()])?)
                .map(|mut r| {
                    Ok(StoredRecord {
                        terminal: terminal.to_string(),
                        seq: r.int()? as u64,
                        hash: hash_from(&r.bytes()?)?,
                        bytes: r.bytes()?,
                        status: StoredStatus::parse(&r.text()?)?,
                        reason: r.opt_text()?,
                        received_at_ms: r.int()?,
                        request_id: r.text()?,
                    })
                })
                .collect()
        })
    }

    fn alerts(&mut self, terminal: &str) -> Result<Vec<Alert>, StoreError> {
        self.backend.with_conn(|c| {
            rows(c.query(B::SELECT_ALERTS, &[terminal.into()])?)
                .map(|mut r| {
                    Ok(Alert {
                        seq: r.int()? as u64,
                        kind: r.text()?,
                        detail: r.text()?,
                    })
                })
                .collect()
        })
    }
}
