//! Acknowledged enqueues per second at synchronous=FULL, beside plain SQLite inserts (one
//! transaction per insert, WAL, FULL) on the same disk (`kioskctl outbox bench`).

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::Serialize;

use crate::error::QueueError;
use crate::store::{Queue, QueueConfig};

/// One measured configuration.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub what: String,
    pub callers: usize,
    pub records: usize,
    pub seconds: f64,
    pub per_second: f64,
}

fn payload(i: usize) -> serde_json::Value {
    serde_json::json!({
        "item": format!("3001200{i:07}"),
        "patron": "P-000123",
        "amount": 250,
        "note": "x".repeat(200),
    })
}

/// Runs `records_per_caller` enqueues from each of `callers` threads on a fresh queue in `dir`.
pub fn queue_enqueues(
    dir: &Path,
    callers: usize,
    records_per_caller: usize,
) -> Result<BenchRow, QueueError> {
    let db = dir.join(format!("bench-queue-{callers}.db"));
    let mut cfg = QueueConfig::new(&db);
    cfg.terminal = Some("BENCH-1".into());
    cfg.key_path = Some(dir.join(format!("bench-{callers}.key")));
    let q = Queue::open(cfg)?;
    let elapsed = timed_callers(callers, |c| {
        for i in 0..records_per_caller {
            q.enqueue("loan", &payload(c * records_per_caller + i))?;
        }
        Ok(())
    })?;
    Ok(row(
        "signed queue (group commit)",
        callers,
        callers * records_per_caller,
        elapsed,
    ))
}

/// Plain SQLite: each caller thread has its own connection and commits one row per
/// transaction (WAL, synchronous=FULL), waiting on the write lock like any app would.
pub fn plain_inserts(
    dir: &Path,
    callers: usize,
    records_per_caller: usize,
) -> Result<BenchRow, QueueError> {
    let db = dir.join(format!("bench-plain-{callers}.db"));
    let open = || -> Result<Connection, QueueError> {
        let c = Connection::open(&db)?;
        c.busy_timeout(Duration::from_secs(60))?;
        c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
        c.pragma_update(None, "synchronous", "FULL")?;
        Ok(c)
    };
    open()?.execute_batch(
        "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
    )?;
    let elapsed = timed_callers(callers, |c| {
        let conn = open()?;
        let mut stmt = conn.prepare("INSERT INTO t (body) VALUES (?1)")?;
        for i in 0..records_per_caller {
            let body = serde_json::to_vec(&payload(c * records_per_caller + i))
                .map_err(|e| QueueError::Invalid(e.to_string()))?;
            stmt.execute([body])?;
        }
        Ok(())
    })?;
    Ok(row(
        "plain SQLite insert, 1 txn each",
        callers,
        callers * records_per_caller,
        elapsed,
    ))
}

/// Runs `caller(0..callers)` on as many threads at once; the time until the last one finished.
fn timed_callers(
    callers: usize,
    caller: impl Fn(usize) -> Result<(), QueueError> + Sync,
) -> Result<Duration, QueueError> {
    let start = Instant::now();
    std::thread::scope(|s| -> Result<(), QueueError> {
        let caller = &caller;
        let handles: Vec<_> = (0..callers).map(|c| s.spawn(move || caller(c))).collect();
        for h in handles {
            h.join().map_err(|_| QueueError::Closed)??;
        }
        Ok(())
    })?;
    Ok(start.elapsed())
}

fn row(what: &str, callers: usize, records: usize, d: Duration) -> BenchRow {
    let seconds = d.as_secs_f64();
    BenchRow {
        what: what.to_string(),
        callers,
        records,
        seconds,
        per_second: records as f64 / seconds.max(1e-9),
    }
}
