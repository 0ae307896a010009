//! Embedded SQLite store (default). WAL + `synchronous=FULL`, so a commit that returned is on
//! disk before the receiver acknowledges (queue notes §2.1, §4.3).

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, params_from_iter};

use crate::sql::{Backend, Conn, SqlStore, Value};
use crate::store::StoreError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS terminals (
    terminal        TEXT PRIMARY KEY,
    hwm             INTEGER NOT NULL DEFAULT 0,
    head_hash       BLOB NOT NULL,
    checkpoint_seq  INTEGER,
    checkpoint_hash BLOB,
    blocked         TEXT,
    enrolled_at_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS terminal_keys (
    terminal   TEXT NOT NULL REFERENCES terminals(terminal),
    key_id     TEXT NOT NULL,
    public_key BLOB NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,
    PRIMARY KEY (terminal, key_id)
);
CREATE TABLE IF NOT EXISTS records (
    terminal       TEXT NOT NULL REFERENCES terminals(terminal),
    seq            INTEGER NOT NULL,
    hash           BLOB NOT NULL,
    bytes          BLOB NOT NULL,
    status         TEXT NOT NULL,
    reason         TEXT,
    received_at_ms INTEGER NOT NULL,
    request_id     TEXT NOT NULL,
    UNIQUE (terminal, seq)
);
CREATE TABLE IF NOT EXISTS alerts (
    terminal TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL,
    at_ms    INTEGER NOT NULL
);
";

/// SQLite-backed [`RecordStore`](crate::store::RecordStore).
pub type SqliteStore = SqlStore<SqliteBackend>;

/// The one SQLite connection of a [`SqliteStore`].
pub struct SqliteBackend {
    conn: Connection,
}

impl SqliteStore {
    pub fn open(path: &str) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") && path != ":memory:" {
            return Err(StoreError::Corrupt(format!(
                "journal_mode is {mode}, not wal"
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqlStore::new(SqliteBackend { conn }))
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

/// A connection, or an open transaction (which derefs to its connection).
struct SqliteConn<'a>(&'a Connection);

impl Conn for SqliteConn<'_> {
    fn execute(&mut self, sql: &'static str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        Ok(stmt.execute(params_from_iter(params))? as u64)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let n = stmt.column_count();
        let rows = stmt.query_map(params_from_iter(params), |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(v) => Value::Int(v),
                        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                        ValueRef::Real(_) => {
                            return Err(rusqlite::Error::InvalidColumnType(
                                i,
                                "real".into(),
                                rusqlite::types::Type::Real,
                            ));
                        }
                    })
                })
                .collect::<rusqlite::Result<Vec<Value>>>()
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

impl Backend for SqliteBackend {
    const SELECT_ALERTS: &'static str =
        "SELECT seq, kind, detail FROM alerts WHERE terminal = ?1 ORDER BY rowid";

    fn with_conn<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut SqliteConn(&self.conn))
    }

    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.conn.transaction()?;
        let out = f(&mut SqliteConn(&tx))?;
        tx.commit()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Commit, RecordStore, StoredRecord, StoredStatus, TerminalKey};

    fn rec(seq: u64) -> StoredRecord {
        StoredRecord {
            terminal: "T1".into(),
            seq,
            hash: [seq as u8; 32],
            bytes: vec![seq as u8],
            status: StoredStatus::Accepted,
            reason: None,
            received_at_ms: 1,
            request_id: "r".into(),
        }
    }

    #[test]
    fn hwm_moves_with_the_insert_and_seq_is_unique() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path().join("r.db").to_str().unwrap()).unwrap();
        let key = TerminalKey {
            key_id: "k1".into(),
            public_key: [9; 32],
            valid_from: 1,
            valid_to: None,
        };
        s.enroll("T1", &key).unwrap();
        let c = Commit {
            terminal: "T1".into(),
            expected_hwm: 0,
            new_hwm: 2,
            new_head: [2; 32],
            records: vec![rec(1), rec(2)],
            ..Commit::default()
        };
        s.commit(&c).unwrap();
        // Same commit again: the compare-and-set on the hwm refuses it, nothing doubles.
        assert!(matches!(s.commit(&c), Err(StoreError::Conflict(_))));
        // A forged hwm that skips the check still hits UNIQUE (terminal, seq), and rolls back.
        let c2 = Commit {
            expected_hwm: 2,
            new_hwm: 3,
            records: vec![rec(2)],
            ..c.clone()
        };
        assert!(matches!(s.commit(&c2), Err(StoreError::Sqlite(_))));
        let t = s.terminal("T1").unwrap().unwrap();
        assert_eq!(t.hwm, 2);
        assert_eq!(t.head_hash, [2; 32]);
        assert_eq!(s.records("T1").unwrap().len(), 2);
        assert_eq!(s.stored_hash("T1", 2).unwrap(), Some([2; 32]));
        assert_eq!(s.stored_hash("T1", 3).unwrap(), None);
        assert_eq!(t.keys, vec![key]);
    }
}
