//! PostgreSQL store, for a back office that outgrows one file (queue notes §4.5). Same schema
//! and the same one-transaction rule as the SQLite store; `synchronous_commit` stays on.

use std::collections::HashMap;

use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, NoTls, Statement};

use crate::sql::{Backend, Conn, SqlStore, Value};
use crate::store::StoreError;

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

/// PostgreSQL-backed [`RecordStore`](crate::store::RecordStore).
pub type PgStore = SqlStore<PgBackend>;

/// The one PostgreSQL connection of a [`PgStore`], with its prepared statements.
pub struct PgBackend {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl PgStore {
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute("SET synchronous_commit = on")?;
        client.batch_execute(SCHEMA)?;
        Ok(SqlStore::new(PgBackend {
            client,
            statements: HashMap::new(),
        }))
    }
}

/// The client or an open transaction, with the statement cache.
struct PgConn<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<&'static str, Statement>,
}

static NULL_INT: Option<i64> = None;
static NULL_TEXT: Option<String> = None;
static NULL_BYTES: Option<Vec<u8>> = None;

impl<C: GenericClient> PgConn<'_, C> {
    /// The statement for `sql` (`?N` placeholders rewritten to `$N`), prepared once.
    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&sql.replace('?', "$"))?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Binds `params`; a NULL takes the type the server inferred for its placeholder.
    fn bind<'p>(
        stmt: &Statement,
        params: &'p [Value],
    ) -> Result<Vec<&'p (dyn ToSql + Sync)>, StoreError> {
        params
            .iter()
            .zip(stmt.params())
            .map(|(v, ty)| {
                Ok(match v {
                    Value::Int(i) => i as &(dyn ToSql + Sync),
                    Value::Text(s) => s,
                    Value::Bytes(b) => b,
                    Value::Null if *ty == Type::INT8 => &NULL_INT,
                    Value::Null if *ty == Type::BYTEA => &NULL_BYTES,
                    Value::Null if *ty == Type::TEXT => &NULL_TEXT,
                    Value::Null => {
                        return Err(StoreError::Corrupt(format!("NULL bound as {ty}")));
                    }
                })
            })
            .collect()
    }
}

impl<C: GenericClient> Conn for PgConn<'_, C> {
    fn execute(&mut self, sql: &'static str, params: &[Value]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql)?;
        let bound = Self::bind(&stmt, params)?;
        Ok(self.client.execute(&stmt, &bound)?)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let stmt = self.statement(sql)?;
        let bound = Self::bind(&stmt, params)?;
        self.client
            .query(&stmt, &bound)?
            .iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, col)| {
                        let ty = col.type_();
                        Ok(if *ty == Type::INT8 {
                            row.try_get::<_, Option<i64>>(i)?.into()
                        } else if *ty == Type::BYTEA {
                            row.try_get::<_, Option<Vec<u8>>>(i)?
                                .map_or(Value::Null, Value::Bytes)
                        } else if *ty == Type::TEXT {
                            row.try_get::<_, Option<String>>(i)?
                                .map_or(Value::Null, Value::Text)
                        } else {
                            return Err(StoreError::Corrupt(format!(
                                "column {} has type {ty}",
                                col.name()
                            )));
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

impl Backend for PgBackend {
    const SELECT_ALERTS: &'static str =
        "SELECT seq, kind, detail FROM alerts WHERE terminal = ?1 ORDER BY id";

    fn with_conn<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut PgConn {
            client: &mut self.client,
            statements: &mut self.statements,
        })
    }

    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = self.client.transaction()?;
        let out = f(&mut PgConn {
            client: &mut tx,
            statements: &mut self.statements,
        })?;
        tx.commit()?;
        Ok(out)
    }
}
