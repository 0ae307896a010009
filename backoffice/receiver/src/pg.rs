//! PostgreSQL store, for a back office that outgrows one file (queue notes §4.5). Same schema
//! and the same one-transaction rule as the SQLite store; `synchronous_commit` stays on.

use postgres::{Client, NoTls};

use crate::sqlite::now_ms;
use crate::store::{
    Alert, Commit, RecordStore, StoreError, StoredRecord, TerminalKey, TerminalState, hash_from,
    status_from,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS terminals (
    terminal        TEXT PRIMARY KEY,
    hwm             BIGINT NOT NULL DEFAULT 0,
    head_hash       BYTEA NOT NULL,
    checkpoint_seq  BIGINT,
    checkpoint_hash BYTEA,
    blocked         TEXT,
    enrolled_at_ms  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS terminal_keys (
    terminal   TEXT NOT NULL REFERENCES terminals(terminal),
    key_id     TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_to   BIGINT,
    PRIMARY KEY (terminal, key_id)
);
CREATE TABLE IF NOT EXISTS records (
    terminal       TEXT NOT NULL REFERENCES terminals(terminal),
    seq            BIGINT NOT NULL,
    hash           BYTEA NOT NULL,
    bytes          BYTEA NOT NULL,
    status         TEXT NOT NULL,
    reason         TEXT,
    received_at_ms BIGINT NOT NULL,
    request_id     TEXT NOT NULL,
    UNIQUE (terminal, seq)
);
CREATE TABLE IF NOT EXISTS alerts (
    id       BIGSERIAL PRIMARY KEY,
    terminal TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL,
    at_ms    BIGINT NOT NULL
);
";

/// PostgreSQL-backed [`RecordStore`].
pub struct PgStore {
    client: Client,
}

fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq} out of range")))
}

impl PgStore {
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute("SET synchronous_commit = on")?;
        client.batch_execute(SCHEMA)?;
        Ok(PgStore { client })
    }
}

impl RecordStore for PgStore {
    fn enroll(&mut self, terminal: &str, key: &TerminalKey) -> Result<(), StoreError> {
        let mut tx = self.client.transaction()?;
        tx.execute(
            "INSERT INTO terminals (terminal, hwm, head_hash, enrolled_at_ms) VALUES ($1, 0, $2, $3)
             ON CONFLICT (terminal) DO NOTHING",
            &[&terminal, &&[0u8; 32][..], &now_ms()],
        )?;
        tx.execute(
            "INSERT INTO terminal_keys (terminal, key_id, public_key, valid_from, valid_to)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (terminal, key_id) DO UPDATE SET public_key = excluded.public_key,
                 valid_from = excluded.valid_from, valid_to = excluded.valid_to",
            &[
                &terminal,
                &key.key_id,
                &&key.public_key[..],
                &seq_i64(key.valid_from)?,
                &key.valid_to.map(seq_i64).transpose()?,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn terminal(&mut self, terminal: &str) -> Result<Option<TerminalState>, StoreError> {
        let Some(row) = self.client.query_opt(
            "SELECT hwm, head_hash, checkpoint_seq, checkpoint_hash, blocked
             FROM terminals WHERE terminal = $1",
            &[&terminal],
        )?
        else {
            return Ok(None);
        };
        let hwm: i64 = row.get(0);
        let head: Vec<u8> = row.get(1);
        let cp_seq: Option<i64> = row.get(2);
        let cp_hash: Option<Vec<u8>> = row.get(3);
        let blocked: Option<String> = row.get(4);
        let keys = self
            .client
            .query(
                "SELECT key_id, public_key, valid_from, valid_to FROM terminal_keys
                 WHERE terminal = $1 ORDER BY valid_from",
                &[&terminal],
            )?
            .into_iter()
            .map(|r| {
                let pk: Vec<u8> = r.get(1);
                Ok(TerminalKey {
                    key_id: r.get(0),
                    public_key: hash_from(&pk)?,
                    valid_from: r.get::<_, i64>(2) as u64,
                    valid_to: r.get::<_, Option<i64>>(3).map(|t| t as u64),
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
        let row = self.client.query_opt(
            "SELECT hash FROM records WHERE terminal = $1 AND seq = $2",
            &[&terminal, &seq_i64(seq)?],
        )?;
        row.map(|r| hash_from(&r.get::<_, Vec<u8>>(0))).transpose()
    }

    fn commit(&mut self, c: &Commit) -> Result<(), StoreError> {
        let mut tx = self.client.transaction()?;
        let moved = tx.execute(
            "UPDATE terminals SET hwm = $1, head_hash = $2 WHERE terminal = $3 AND hwm = $4",
            &[
                &seq_i64(c.new_hwm)?,
                &&c.new_head[..],
                &c.terminal,
                &seq_i64(c.expected_hwm)?,
            ],
        )?;
        if moved != 1 {
            return Err(StoreError::Conflict(c.terminal.clone()));
        }
        let ins = tx.prepare(
            "INSERT INTO records (terminal, seq, hash, bytes, status, reason, received_at_ms, request_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )?;
        for r in &c.records {
            tx.execute(
                &ins,
                &[
                    &r.terminal,
                    &seq_i64(r.seq)?,
                    &&r.hash[..],
                    &r.bytes,
                    &r.status.as_str(),
                    &r.reason,
                    &r.received_at_ms,
                    &r.request_id,
                ],
            )?;
        }
        for (key_id, last) in &c.retired_keys {
            tx.execute(
                "UPDATE terminal_keys SET valid_to = $1 WHERE terminal = $2 AND key_id = $3",
                &[&seq_i64(*last)?, &c.terminal, key_id],
            )?;
        }
        for k in &c.new_keys {
            tx.execute(
                "INSERT INTO terminal_keys (terminal, key_id, public_key, valid_from, valid_to)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &c.terminal,
                    &k.key_id,
                    &&k.public_key[..],
                    &seq_i64(k.valid_from)?,
                    &k.valid_to.map(seq_i64).transpose()?,
                ],
            )?;
        }
        if let Some((seq, hash)) = c.checkpoint {
            tx.execute(
                "UPDATE terminals SET checkpoint_seq = $1, checkpoint_hash = $2 WHERE terminal = $3",
                &[&seq_i64(seq)?, &&hash[..], &c.terminal],
            )?;
        }
        for a in &c.alerts {
            tx.execute(
                "INSERT INTO alerts (terminal, seq, kind, detail, at_ms) VALUES ($1, $2, $3, $4, $5)",
                &[&c.terminal, &seq_i64(a.seq)?, &a.kind, &a.detail, &now_ms()],
            )?;
        }
        if let Some(why) = &c.block {
            tx.execute(
                "UPDATE terminals SET blocked = $1 WHERE terminal = $2",
                &[why, &c.terminal],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn records(&mut self, terminal: &str) -> Result<Vec<StoredRecord>, StoreError> {
        self.client
            .query(
                "SELECT seq, hash, bytes, status, reason, received_at_ms, request_id
                 FROM records WHERE terminal = $1 ORDER BY seq",
                &[&terminal],
            )?
            .into_iter()
            .map(|r| {
                Ok(StoredRecord {
                    terminal: terminal.to_string(),
                    seq: r.get::<_, i64>(0) as u64,
                    hash: hash_from(&r.get::<_, Vec<u8>>(1))?,
                    bytes: r.get(2),
                    status: status_from(&r.get::<_, String>(3))?,
                    reason: r.get(4),
                    received_at_ms: r.get(5),
                    request_id: r.get(6),
                })
            })
            .collect()
    }

    fn alerts(&mut self, terminal: &str) -> Result<Vec<Alert>, StoreError> {
        Ok(self
            .client
            .query(
                "SELECT seq, kind, detail FROM alerts WHERE terminal = $1 ORDER BY id",
                &[&terminal],
            )?
            .into_iter()
            .map(|r| Alert {
                seq: r.get::<_, i64>(0) as u64,
                kind: r.get(1),
                detail: r.get(2),
            })
            .collect())
    }
}
