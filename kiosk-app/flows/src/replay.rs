//! Replays the transactions taken offline to the library system once it is back (issue 5,
//! `library.md` §1.9 Alma/OCLC and §4 "Offline design anchors").
//!
//! The offline records are the signed queue's records of kinds `library.checkout` and
//! `library.checkin` ([`crate::run::QueueOffline`]: payload `item`, `patron`, `at` — the SIP2
//! 18-character time the patron was served — and `due`, the due date the kiosk promised). A
//! [`Replayer`] reads them in seq order and sends each to the ILS: a checkout with
//! `no block = Y`, the original transaction date and the promised due date as `nb due date`
//! (the ILS skips its blocks and keeps the kiosk's due date, as Alma documents); a checkin with
//! `no block = Y` and the original return date.
//!
//! Progress lives in its own small SQLite file beside the queue ([`ReplayStore::beside`],
//! `replay.db`, owner-only, WAL, synchronous=FULL): one row per queue seq, `done` or `failed`
//! with the ILS's screen message and the time, written in its own transaction **after** the ILS
//! answered. The queue itself is never written (its records are signed facts and are uploaded
//! independently). A new round resumes after the highest settled seq.
//!
//! * A refusal by the ILS (item unknown, patron unknown…) is stored as `failed` with its reason
//!   and the round moves on: never dropped, never retried by itself. Staff see it in
//!   [`ReplayStore::failures`] (maintenance menu, `kioskctl library failures`) and either
//!   [`ReplayStore::retry`] it (sent again, in seq order, on the next round) or
//!   [`ReplayStore::dismiss`] it with a note (for example "keyed in at the desk").
//! * An unreachable ILS (SIP2 error kinds offline or timeout), and failures that are not about
//!   the record (login refused, checksum, protocol, configuration), stop the round without
//!   marking anything; the next round starts again at the same record.
//! * One record at a time, in seq order, so the transactions of one item reach the ILS in the
//!   order they happened (a loan and the later return of the same book). A retry of a failed
//!   record is refused once a later record of the same item was replayed, since sending it
//!   would undo that later state.
//!
//! **Crash safety.** The row is written after the answer, so a process that dies between the
//! ILS accepting and the row's commit sends the same record again on the next round (the SIP2
//! client's own resend after a dropped link is the same case). That is acceptable because the
//! resend is the *same* transaction with the *same* original date and the ILS already holds
//! its result: a checkout of an item already out to the same patron is either answered as a
//! renewal (Koha: "Item already checked out to you: renewing item"; the pysip2 toy library of
//! the tests renews from the transaction date sent, so the due date does not change; an ILS
//! that renews from today may move the due date later) or refused as already out to this
//! patron, which leaves the loan as it is; a checkin of an item that is already in is answered
//! OK ("item was not checked out") or refused without changing anything. Either way the loan
//! is neither lost nor doubled. The other order (row first, then the ILS) could lose a
//! transaction, which is worse. `tests/e2e/replay.rs` stops a round between the toy library's
//! answer and the row and checks the library afterwards.
//!
//! Only one round runs at a time per progress file (an exclusive lock on `replay.db.lock`), so
//! the app and `kioskctl library replay` never send the same record side by side.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use kiosk_queue::{Queue, SignedRecord};
use kiosk_sip2::message::flag;
use kiosk_sip2::{CircOptions, Client, Connect, ErrorKind, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use crate::OfflineKind;

/// Queue record kind of an offline loan.
pub const KIND_CHECKOUT: &str = "library.checkout";
/// Queue record kind of an offline return.
pub const KIND_CHECKIN: &str = "library.checkin";

/// Why the replay itself could not run (not an ILS answer).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The progress database could not be opened, read or written.
    #[error("replay progress {path}: {message}")]
    Store { path: String, message: String },
    /// The signed queue could not be read.
    #[error("signed queue: {0}")]
    Queue(String),
    /// A staff action that does not apply (unknown seq, not failed, empty note…).
    #[error("{0}")]
    Invalid(String),
    /// Another round is running on the same progress file.
    #[error("another replay is running on {0}")]
    Busy(String),
}

/// How a replayed record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The ILS accepted it.
    Done,
    /// The ILS refused it (or the record is unreadable); kept for staff.
    Failed,
    /// Staff asked for it to be sent again on the next round.
    Retry,
    /// Staff settled it by hand, with a note.
    Dismissed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Retry => "retry",
            Status::Dismissed => "dismissed",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "done" => Status::Done,
            "retry" => Status::Retry,
            "dismissed" => Status::Dismissed,
            _ => Status::Failed,
        }
    }
}

/// One offline transaction read from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineTransaction {
    pub seq: u64,
    pub kind: OfflineKind,
    pub item: String,
    /// Patron identifier (SIP2 AA); `None` for a return.
    pub patron: Option<String>,
    /// When it happened, as recorded (SIP2 18-character date).
    pub at: String,
    /// The due date promised for a loan, as recorded.
    pub due: Option<String>,
}

fn kind_name(kind: OfflineKind) -> &'static str {
    match kind {
        OfflineKind::Checkout => KIND_CHECKOUT,
        OfflineKind::Checkin => KIND_CHECKIN,
    }
}

impl OfflineTransaction {
    /// The offline transaction in `record`: `None` for other kinds; `Err((seq, kind, why))` for
    /// an offline record whose payload cannot be read.
    pub fn from_record(
        record: &SignedRecord,
    ) -> Option<Result<OfflineTransaction, (u64, String, String)>> {
        let body = record.decode_body().ok()?;
        let kind = match body.kind.as_str() {
            KIND_CHECKOUT => OfflineKind::Checkout,
            KIND_CHECKIN => OfflineKind::Checkin,
            _ => return None,
        };
        let bad = |why: &str| Some(Err((body.seq, body.kind.clone(), why.to_string())));
        let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body.payload) else {
            return bad("the payload is not JSON");
        };
        let text = |k: &str| payload.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let Some(item) = text("item").filter(|i| !i.trim().is_empty()) else {
            return bad("the record names no item");
        };
        let Some(at) = text("at") else {
            return bad("the record has no time (at)");
        };
        Some(Ok(OfflineTransaction {
            seq: body.seq,
            kind,
            item,
            patron: text("patron"),
            at,
            due: text("due"),
        }))
    }
}

/// One row of the progress store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub seq: u64,
    /// `library.checkout` / `library.checkin`.
    pub kind: String,
    pub item: String,
    pub patron: Option<String>,
    pub at: String,
    pub due: Option<String>,
    pub status: Status,
    /// The ILS's screen message (or why the record could not be sent).
    pub message: String,
    /// When the row was last written, ms since 1970 (terminal wall clock).
    pub settled_ms: i64,
    /// How many times the ILS answered this record.
    pub attempts: u32,
    pub staff_note: Option<String>,
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The replay's progress: `replay.db` beside the queue.
pub struct ReplayStore {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS replayed (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    item TEXT NOT NULL,
    patron TEXT,
    at TEXT NOT NULL,
    due TEXT,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed', 'retry', 'dismissed')),
    message TEXT NOT NULL,
    settled_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    staff_note TEXT
)";

const COLUMNS: &str =
    "seq, kind, item, patron, at, due, status, message, settled_ms, attempts, staff_note";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Settled> {
    Ok(Settled {
        seq: r.get::<_, i64>(0)? as u64,
        kind: r.get(1)?,
        item: r.get(2)?,
        patron: r.get(3)?,
        at: r.get(4)?,
        due: r.get(5)?,
        status: Status::parse(&r.get::<_, String>(6)?),
        message: r.get(7)?,
        settled_ms: r.get(8)?,
        attempts: r.get::<_, i64>(9)? as u32,
        staff_note: r.get(10)?,
    })
}

impl ReplayStore {
    /// `replay.db` in the folder of the queue database `queue_db`.
    pub fn beside(queue_db: &Path) -> PathBuf {
        queue_db
            .parent()
            .unwrap_or(Path::new("."))
            .join("replay.db")
    }

    /// Opens (and creates, owner-only) the progress database.
    pub fn open(path: &Path) -> Result<ReplayStore, ReplayError> {
        let err = |e: &dyn std::fmt::Display| ReplayError::Store {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        // Owner-only before SQLite creates it; -wal and -shm take the same mode.
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| err(&e))?;
        let conn = Connection::open(path).map_err(|e| err(&e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| err(&e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(err(&format!(
                "cannot switch to WAL (journal_mode is {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| err(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| err(&e))?;
        conn.execute_batch(SCHEMA).map_err(|e| err(&e))?;
        Ok(ReplayStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the exclusive round lock (`<progress>.lock`), held until the file is dropped.
    pub fn lock_round(&self) -> Result<std::fs::File, ReplayError> {
        let mut name = self.path.clone().into_os_string();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| self.err(format!("{}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(ReplayError::Busy(self.path.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(self.err(format!("{}: {e}", path.display())))
            }
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> ReplayError {
        ReplayError::Store {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// The highest settled seq (0 when nothing was replayed yet); a round starts after it.
    pub fn resume_after(&self) -> Result<u64, ReplayError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM replayed", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|s| s as u64)
            .map_err(|e| self.err(e))
    }

    /// Seqs staff asked to send again.
    pub fn retries(&self) -> Result<Vec<u64>, ReplayError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq FROM replayed WHERE status = 'retry' ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .map_err(|e| self.err(e))?;
        rows.map(|r| r.map(|s| s as u64).map_err(|e| self.err(e)))
            .collect()
    }

    /// Writes the outcome of one record in its own committed transaction.
    pub fn settle(
        &mut self,
        t: &OfflineTransaction,
        status: Status,
        message: &str,
    ) -> Result<(), ReplayError> {
        self.settle_raw(
            t.seq,
            kind_name(t.kind),
            &t.item,
            t.patron.as_deref(),
            &t.at,
            t.due.as_deref(),
            status,
            message,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn settle_raw(
        &mut self,
        seq: u64,
        kind: &str,
        item: &str,
        patron: Option<&str>,
        at: &str,
        due: Option<&str>,
        status: Status,
        message: &str,
    ) -> Result<(), ReplayError> {
        let tx = self.conn.transaction().map_err(|e| ReplayError::Store {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        tx.execute(
            "INSERT INTO replayed (seq, kind, item, patron, at, due, status, message, settled_ms,
                                   attempts, staff_note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, NULL)
             ON CONFLICT (seq) DO UPDATE SET status = excluded.status,
                 message = excluded.message, settled_ms = excluded.settled_ms,
                 attempts = replayed.attempts + 1",
            params![
                seq as i64,
                kind,
                item,
                patron,
                at,
                due,
                status.as_str(),
                message,
                wall_ms()
            ],
        )
        .and_then(|_| tx.commit())
        .map_err(|e| ReplayError::Store {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// The row of `seq`, if it was replayed.
    pub fn get(&self, seq: u64) -> Result<Option<Settled>, ReplayError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM replayed WHERE seq = ?1"),
                [seq as i64],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every row, in seq order.
    pub fn all(&self) -> Result<Vec<Settled>, ReplayError> {
        self.select("1")
    }

    /// What staff must look at: refused records and those waiting for a retry, in seq order.
    pub fn failures(&self) -> Result<Vec<Settled>, ReplayError> {
        self.select("status IN ('failed', 'retry')")
    }

    fn select(&self, filter: &str) -> Result<Vec<Settled>, ReplayError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM replayed WHERE {filter} ORDER BY seq"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], row).map_err(|e| self.err(e))?;
        rows.map(|r| r.map_err(|e| self.err(e))).collect()
    }

    fn failed(&self, seq: u64) -> Result<Settled, ReplayError> {
        let s = self.get(seq).and_then(|s| {
            s.ok_or_else(|| ReplayError::Invalid(format!("seq {seq} was not replayed")))
        })?;
        if !matches!(s.status, Status::Failed | Status::Retry) {
            return Err(ReplayError::Invalid(format!(
                "seq {seq} is {}, not failed",
                s.status.as_str()
            )));
        }
        Ok(s)
    }

    /// Sends a failed record again on the next round. Refused when a later record of the same
    /// item was already replayed (sending the old one would undo it).
    pub fn retry(&mut self, seq: u64) -> Result<(), ReplayError> {
        let s = self.failed(seq)?;
        let later: Option<i64> = self
            .conn
            .query_row(
                "SELECT MIN(seq) FROM replayed WHERE item = ?1 AND seq > ?2 AND status = 'done'",
                params![s.item, seq as i64],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if let Some(later) = later {
            return Err(ReplayError::Invalid(format!(
                "seq {seq} cannot be retried: seq {later} of the same item {} was replayed after \
                 it; dismiss it and settle it at the desk",
                s.item
            )));
        }
        self.set(seq, "status = 'retry'", None)
    }

    /// Settles a failed record by hand; `staff_note` says what was done.
    pub fn dismiss(&mut self, seq: u64, staff_note: &str) -> Result<(), ReplayError> {
        if staff_note.trim().is_empty() {
            return Err(ReplayError::Invalid(
                "a staff note is needed to dismiss a failed record".into(),
            ));
        }
        self.failed(seq)?;
        self.set(
            seq,
            "status = 'dismissed', staff_note = ?2",
            Some(staff_note.trim()),
        )
    }

    fn set(&mut self, seq: u64, assignments: &str, note: Option<&str>) -> Result<(), ReplayError> {
        let sql = format!("UPDATE replayed SET {assignments}, settled_ms = ?3 WHERE seq = ?1");
        let tx = self.conn.transaction().map_err(|e| ReplayError::Store {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        let n = match note {
            Some(n) => tx.execute(&sql, params![seq as i64, n, wall_ms()]),
            None => tx.execute(&sql.replace("?3", "?2"), params![seq as i64, wall_ms()]),
        };
        n.and_then(|_| tx.commit()).map_err(|e| ReplayError::Store {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// Why a round ended before every pending record was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The ILS is unreachable or failed in a way that is not about the record; nothing was
    /// marked for the record it stopped at.
    Ils {
        seq: u64,
        kind: ErrorKind,
        message: String,
    },
    /// The round's record limit was reached.
    Limit,
    /// Test hook: the ILS answered `seq`, the row was not written (a crash at that point).
    Crashed { seq: u64 },
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Seqs the ILS accepted.
    pub done: Vec<u64>,
    /// Seqs kept as failed, for staff.
    pub failed: Vec<u64>,
    /// `None`: every pending record was sent.
    pub stopped: Option<Stop>,
}

impl Round {
    pub fn sent(&self) -> usize {
        self.done.len() + self.failed.len()
    }
}

/// Sends the queue's offline transactions to the ILS, once each, in seq order.
pub struct Replayer<'q> {
    queue: &'q Queue,
    store: ReplayStore,
    limit: Option<usize>,
    crash_before_settling: Option<u64>,
}

enum Answer {
    Done(String),
    Failed(String),
    Stop(ErrorKind, String),
}

fn screens(s: &[String], fallback: &str) -> String {
    if s.is_empty() {
        fallback.to_string()
    } else {
        s.join(" / ")
    }
}

impl<'q> Replayer<'q> {
    pub fn new(queue: &'q Queue, store: ReplayStore) -> Self {
        Replayer {
            queue,
            store,
            limit: None,
            crash_before_settling: None,
        }
    }

    /// At most `n` records per round (the rest wait for the next round).
    pub fn with_limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Test hook: the round sends `seq`, gets the ILS's answer, and stops as if the process
    /// died before writing its row.
    pub fn crash_before_settling(&mut self, seq: u64) {
        self.crash_before_settling = Some(seq);
    }

    pub fn store(&self) -> &ReplayStore {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut ReplayStore {
        &mut self.store
    }

    pub fn into_store(self) -> ReplayStore {
        self.store
    }

    /// The records the next round sends, in order: retries and everything after the last
    /// settled seq. Unreadable records come as `Err((seq, kind, why))`.
    #[allow(clippy::type_complexity)]
    pub fn pending(
        &self,
    ) -> Result<Vec<Result<OfflineTransaction, (u64, String, String)>>, ReplayError> {
        let after = self.store.resume_after()?;
        let retries = self.store.retries()?;
        let from = retries.first().copied().unwrap_or(after + 1).min(after + 1);
        let records = self
            .queue
            .export(from.max(1))
            .map_err(|e| ReplayError::Queue(e.to_string()))?;
        Ok(records
            .iter()
            .filter_map(OfflineTransaction::from_record)
            .filter(|t| {
                let seq = match t {
                    Ok(t) => t.seq,
                    Err((seq, _, _)) => *seq,
                };
                seq > after || retries.contains(&seq)
            })
            .collect())
    }

    /// One round: sends every pending record until done, the limit, or the ILS stops answering.
    pub fn round<C: Connect>(&mut self, client: &mut Client<C>) -> Result<Round, ReplayError> {
        let _lock = self.store.lock_round()?;
        let mut round = Round::default();
        for t in self.pending()? {
            if self.limit.is_some_and(|n| round.sent() >= n) {
                round.stopped = Some(Stop::Limit);
                break;
            }
            let t = match t {
                Ok(t) => t,
                Err((seq, kind, why)) => {
                    self.store.settle_raw(
                        seq,
                        &kind,
                        "",
                        None,
                        "",
                        None,
                        Status::Failed,
                        &format!("unreadable offline record: {why}"),
                    )?;
                    round.failed.push(seq);
                    continue;
                }
            };
            let answer = send(client, &t);
            if self.crash_before_settling == Some(t.seq) && !matches!(answer, Answer::Stop(..)) {
                round.stopped = Some(Stop::Crashed { seq: t.seq });
                return Ok(round);
            }
            match answer {
                Answer::Done(m) => {
                    self.store.settle(&t, Status::Done, &m)?;
                    round.done.push(t.seq);
                }
                Answer::Failed(m) => {
                    self.store.settle(&t, Status::Failed, &m)?;
                    round.failed.push(t.seq);
                }
                Answer::Stop(kind, message) => {
                    round.stopped = Some(Stop::Ils {
                        seq: t.seq,
                        kind,
                        message,
                    });
                    break;
                }
            }
        }
        Ok(round)
    }
}

fn send<C: Connect>(client: &mut Client<C>, t: &OfflineTransaction) -> Answer {
    let Some(at) = Timestamp::parse(&t.at) else {
        return Answer::Failed(format!("the record's time {:?} is not a SIP2 date", t.at));
    };
    let result = match t.kind {
        OfflineKind::Checkout => {
            let Some(patron) = t.patron.as_deref().filter(|p| !p.trim().is_empty()) else {
                return Answer::Failed("the offline loan names no patron".into());
            };
            let nb_due_date = match t.due.as_deref() {
                None => None,
                Some(d) => match Timestamp::parse(d) {
                    Some(d) => Some(d),
                    None => {
                        return Answer::Failed(format!(
                            "the promised due date {d:?} is unreadable"
                        ));
                    }
                },
            };
            let options = CircOptions {
                no_block: true,
                transaction_date: Some(at),
                nb_due_date,
                ..CircOptions::default()
            };
            client
                .checkout(patron, &t.item, &options)
                .map(|r| (flag(&r.ok), r.screen_message))
        }
        OfflineKind::Checkin => client
            .checkin(&t.item, true, Some(at))
            .map(|r| (flag(&r.ok), r.screen_message)),
    };
    match result {
        Ok((true, m)) => Answer::Done(screens(&m, "accepted")),
        Ok((false, m)) => Answer::Failed(screens(&m, "refused by the library system (no message)")),
        // The record itself cannot be put on the wire (an item id the charset cannot carry).
        Err(e) if e.kind() == ErrorKind::Encoding => Answer::Failed(e.to_string()),
        Err(e) => Answer::Stop(e.kind(), e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn tx(seq: u64, kind: OfflineKind, item: &str) -> OfflineTransaction {
        OfflineTransaction {
            seq,
            kind,
            item: item.into(),
            patron: Some("P001".into()),
            at: "20260110   Z093000".into(),
            due: Some("2026-02-07".into()),
        }
    }

    #[test]
    fn resumes_after_the_last_settled_seq_and_keeps_failures() {
        let dir = tmp();
        let path = dir.path().join("replay.db");
        {
            let mut s = ReplayStore::open(&path).unwrap();
            assert_eq!(s.resume_after().unwrap(), 0);
            s.settle(&tx(2, OfflineKind::Checkout, "B001"), Status::Done, "ok")
                .unwrap();
            s.settle(
                &tx(3, OfflineKind::Checkout, "NOPE"),
                Status::Failed,
                "Item not found",
            )
            .unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Reopened (a restart): resumes after 3, the failure is still listed.
        let mut s = ReplayStore::open(&path).unwrap();
        assert_eq!(s.resume_after().unwrap(), 3);
        let f = s.failures().unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].seq, f[0].message.as_str()), (3, "Item not found"));
        assert_eq!(f[0].status, Status::Failed);
        assert_eq!(f[0].attempts, 1);
        // A retry queues it; a second answer counts as a second attempt.
        s.retry(3).unwrap();
        assert_eq!(s.retries().unwrap(), [3]);
        assert_eq!(s.failures().unwrap()[0].status, Status::Retry);
        s.settle(
            &tx(3, OfflineKind::Checkout, "NOPE"),
            Status::Failed,
            "Item not found",
        )
        .unwrap();
        let again = s.get(3).unwrap().unwrap();
        assert_eq!((again.status, again.attempts), (Status::Failed, 2));
        assert!(s.retries().unwrap().is_empty());
        // Done rows cannot be retried or dismissed.
        assert!(matches!(s.retry(2), Err(ReplayError::Invalid(_))));
        assert!(matches!(s.retry(9), Err(ReplayError::Invalid(_))));
    }

    #[test]
    fn dismiss_needs_a_note_and_takes_it_off_the_failures() {
        let dir = tmp();
        let mut s = ReplayStore::open(&dir.path().join("replay.db")).unwrap();
        s.settle(
            &tx(5, OfflineKind::Checkin, "B009"),
            Status::Failed,
            "Item not found",
        )
        .unwrap();
        assert!(matches!(s.dismiss(5, "  "), Err(ReplayError::Invalid(_))));
        s.dismiss(5, "keyed in at the desk").unwrap();
        assert!(s.failures().unwrap().is_empty());
        let row = s.get(5).unwrap().unwrap();
        assert_eq!(row.status, Status::Dismissed);
        assert_eq!(row.staff_note.as_deref(), Some("keyed in at the desk"));
        assert!(matches!(
            s.dismiss(5, "again"),
            Err(ReplayError::Invalid(_))
        ));
        // Still settled: a new round does not send it again.
        assert_eq!(s.resume_after().unwrap(), 5);
    }

    #[test]
    fn a_retry_that_would_undo_a_later_replay_of_the_same_item_is_refused() {
        let dir = tmp();
        let mut s = ReplayStore::open(&dir.path().join("replay.db")).unwrap();
        s.settle(
            &tx(1, OfflineKind::Checkout, "B001"),
            Status::Failed,
            "Patron blocked",
        )
        .unwrap();
        s.settle(
            &tx(2, OfflineKind::Checkin, "B001"),
            Status::Done,
            "Checked in",
        )
        .unwrap();
        let e = s.retry(1).unwrap_err().to_string();
        assert!(e.contains("seq 2"), "{e}");
    }

    #[test]
    fn pending_lists_offline_records_after_the_last_settled_one_and_retries_in_seq_order() {
        let dir = tmp();
        let queue =
            Queue::open(kiosk_queue::QueueConfig::new(dir.path().join("queue.db"))).unwrap();
        let loan = |item: &str| {
            serde_json::json!({"item": item, "patron": "P001", "at": "20260110   Z093000",
                               "due": "2026-02-07"})
        };
        queue.enqueue(KIND_CHECKOUT, &loan("B001")).unwrap(); // 1
        queue
            .enqueue("gov.application", &serde_json::json!({"x": 1}))
            .unwrap(); // 2: not ours
        queue.enqueue(KIND_CHECKOUT, &loan("B002")).unwrap(); // 3
        queue
            .enqueue(
                KIND_CHECKIN,
                &serde_json::json!({"item": "B005", "patron": null, "at": "20260110   Z093100",
                                    "due": null}),
            )
            .unwrap(); // 4
        queue
            .enqueue(KIND_CHECKIN, &serde_json::json!({"patron": null}))
            .unwrap(); // 5: unreadable
        let store = ReplayStore::open(&ReplayStore::beside(&dir.path().join("queue.db"))).unwrap();
        assert_eq!(store.path(), dir.path().join("replay.db"));
        let mut r = Replayer::new(&queue, store);
        let seqs = |r: &Replayer<'_>| -> Vec<u64> {
            r.pending()
                .unwrap()
                .iter()
                .map(|t| match t {
                    Ok(t) => t.seq,
                    Err((seq, _, _)) => *seq,
                })
                .collect()
        };
        assert_eq!(seqs(&r), [1, 3, 4, 5]);
        let first = r.pending().unwrap()[0].clone().unwrap();
        assert_eq!(first.patron.as_deref(), Some("P001"));
        assert_eq!(first.due.as_deref(), Some("2026-02-07"));
        r.store_mut()
            .settle(&first, Status::Failed, "Patron blocked")
            .unwrap();
        let third = r.pending().unwrap()[0].clone().unwrap();
        assert_eq!(third.seq, 3);
        r.store_mut().settle(&third, Status::Done, "ok").unwrap();
        assert_eq!(seqs(&r), [4, 5]);
        r.store_mut().retry(1).unwrap();
        assert_eq!(seqs(&r), [1, 4, 5], "the retry first, in seq order");
    }

    #[test]
    fn one_round_at_a_time_per_progress_file() {
        let dir = tmp();
        let a = ReplayStore::open(&dir.path().join("replay.db")).unwrap();
        let b = ReplayStore::open(&dir.path().join("replay.db")).unwrap();
        let held = a.lock_round().unwrap();
        assert!(matches!(b.lock_round(), Err(ReplayError::Busy(_))));
        drop(held);
        let _again = b.lock_round().unwrap();
    }
}
