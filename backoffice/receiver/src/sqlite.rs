//! Embedded SQLite store (default). WAL + `synchronous=FULL`, so a commit that returned is on
//! disk before the receiver acknowledges (queue notes §2.1, §4.3).

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{
    Alert, Commit, RecordStore, StoreError, StoredRecord, TerminalKey, TerminalState, hash_from,
    status_from,
};

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

/// SQLite-backed [`RecordStore`].
pub struct SqliteStore {
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
        Ok(SqliteStore { conn })
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq} out of range")))
}

impl RecordStore for SqliteStore {
    fn enroll(&mut self, terminal: &str, key: &TerminalKey) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO terminals (terminal, hwm, head_hash, enrolled_at_ms) VALUES (?1, 0, ?2, ?3)
             ON CONFLICT (terminal) DO NOTHING",
            params![terminal, &[0u8; 32][..], now_ms()],
        )?;
        tx.execute(
            "INSERT INTO terminal_keys (terminal, key_id, public_key, valid_from, valid_to)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (terminal, key_id) DO UPDATE SET public_key = excluded.public_key,
                 valid_from = excluded.valid_from, valid_to = excluded.valid_to",
            params![
                terminal,
                key.key_id,
                &key.public_key[..],
                seq_i64(key.valid_from)?,
                key.valid_to.map(seq_i64).transpose()?
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn terminal(&mut self, terminal: &str) -> Result<Option<TerminalState>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT hwm, head_hash, checkpoint_seq, checkpoint_hash, blocked
                 FROM terminals WHERE terminal = ?1",
                [terminal],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<Vec<u8>>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((hwm, head, cp_seq, cp_hash, blocked)) = row else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT key_id, public_key, valid_from, valid_to FROM terminal_keys
             WHERE terminal = ?1 ORDER BY valid_from",
        )?;
        let keys = stmt
            .query_map([terminal], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|(key_id, pk, from, to)| {
                Ok(TerminalKey {
                    key_id,
                    public_key: hash_from(&pk)?,
                    valid_from: from as u64,
                    valid_to: to.map(|t| t as u64),
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
    }

    fn stored_hash(&mut self, terminal: &str, seq: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT hash FROM records WHERE terminal = ?1 AND seq = ?2")?;
        let h: Option<Vec<u8>> = stmt
            .query_row(params![terminal, seq_i64(seq)?], |r| r.get(0))
            .optional()?;
        h.map(|h| hash_from(&h)).transpose()
    }

    fn commit(&mut self, c: &Commit) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let moved = tx.execute(
            "UPDATE terminals SET hwm = ?1, head_hash = ?2 WHERE terminal = ?3 AND hwm = ?4",
            params![
                seq_i64(c.new_hwm)?,
                &c.new_head[..],
                c.terminal,
                seq_i64(c.expected_hwm)?
            ],
        )?;
        if moved != 1 {
            return Err(StoreError::Conflict(c.terminal.clone()));
        }
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO records (terminal, seq, hash, bytes, status, reason, received_at_ms, request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for r in &c.records {
                ins.execute(params![
                    r.terminal,
                    seq_i64(r.seq)?,
                    &r.hash[..],
                    r.bytes,
                    r.status.as_str(),
                    r.reason,
                    r.received_at_ms,
                    r.request_id
                ])?;
            }
            for (key_id, last) in &c.retired_keys {
                tx.execute(
                    "UPDATE terminal_keys SET valid_to = ?1 WHERE terminal = ?2 AND key_id = ?3",
                    params![seq_i64(*last)?, c.terminal, key_id],
                )?;
            }
            for k in &c.new_keys {
                tx.execute(
                    "INSERT INTO terminal_keys (terminal, key_id, public_key, valid_from, valid_to)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        c.terminal,
                        k.key_id,
                        &k.public_key[..],
                        seq_i64(k.valid_from)?,
                        k.valid_to.map(seq_i64).transpose()?
                    ],
                )?;
            }
            if let Some((seq, hash)) = c.checkpoint {
                tx.execute(
                    "UPDATE terminals SET checkpoint_seq = ?1, checkpoint_hash = ?2 WHERE terminal = ?3",
                    params![seq_i64(seq)?, &hash[..], c.terminal],
                )?;
            }
            for a in &c.alerts {
                tx.execute(
                    "INSERT INTO alerts (terminal, seq, kind, detail, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![c.terminal, seq_i64(a.seq)?, a.kind, a.detail, now_ms()],
                )?;
            }
            if let Some(why) = &c.block {
                tx.execute(
                    "UPDATE terminals SET blocked = ?1 WHERE terminal = ?2",
                    params![why, c.terminal],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn records(&mut self, terminal: &str) -> Result<Vec<StoredRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, hash, bytes, status, reason, received_at_ms, request_id
             FROM records WHERE terminal = ?1 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([terminal], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(seq, hash, bytes, status, reason, at, req)| {
                Ok(StoredRecord {
                    terminal: terminal.to_string(),
                    seq: seq as u64,
                    hash: hash_from(&hash)?,
                    bytes,
                    status: status_from(&status)?,
                    reason,
                    received_at_ms: at,
                    request_id: req,
                })
            })
            .collect()
    }

    fn alerts(&mut self, terminal: &str) -> Result<Vec<Alert>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, kind, detail FROM alerts WHERE terminal = ?1 ORDER BY rowid",
        )?;
        let rows = stmt
            .query_map([terminal], |r| {
                Ok(Alert {
                    seq: r.get::<_, i64>(0)? as u64,
                    kind: r.get(1)?,
                    detail: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredStatus;

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
