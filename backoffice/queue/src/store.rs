//! The durable queue: one SQLite database (WAL, synchronous=FULL) owned by one writer thread
//! that group-commits concurrent enqueues (PROTOCOL.md §9).

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::canonical;
use crate::error::QueueError;
use crate::keys::{self, PublicKey, TerminalKey};
use crate::limits::{LimitKind, OfflineLimits};
use crate::record::{
    self, CheckpointBody, GENESIS_PREV, Hash, KIND_KEY_ROTATION, RecordBody, SignedCheckpoint,
    SignedRecord,
};
use crate::verify::{self, ChainReport};

/// Default database path on a kiosk.
pub const DEFAULT_DB_PATH: &str = "/var/lib/kiosk/queue.db";
/// Lowest SQLite accepted: 3.51.3 fixed the WAL-reset corruption bug.
pub const MIN_SQLITE_VERSION: i32 = 3_051_003;
/// Most enqueues committed in one transaction.
const MAX_GROUP: usize = 512;

const STATE_PENDING: i64 = 0;
const STATE_ACKED: i64 = 1;
const STATE_QUARANTINED: i64 = 2;

/// How to open a queue.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub db_path: PathBuf,
    /// Private key file; default `<db dir>/keys/terminal.key`.
    pub key_path: Option<PathBuf>,
    /// Terminal id for a new queue (default: the host name); checked against an existing one.
    pub terminal: Option<String>,
    /// Write a checkpoint whenever the head crosses a multiple of this (0 = only on demand).
    pub checkpoint_every: u64,
    pub limits: OfflineLimits,
    /// Create the database (and the key) if missing.
    pub create: bool,
    /// Open read-only (inspection; every write fails with [`QueueError::ReadOnly`]).
    pub read_only: bool,
    pub busy_timeout: Duration,
    /// `PRAGMA max_page_count` for this connection (emulates a small disk in tests).
    pub max_page_count: Option<u64>,
}

impl QueueConfig {
    pub fn new(db_path: impl Into<PathBuf>) -> QueueConfig {
        QueueConfig {
            db_path: db_path.into(),
            key_path: None,
            terminal: None,
            checkpoint_every: 100,
            limits: OfflineLimits::default(),
            create: true,
            read_only: false,
            busy_timeout: Duration::from_secs(10),
            max_page_count: None,
        }
    }

    /// The private key file this configuration uses.
    pub fn key_path(&self) -> PathBuf {
        self.key_path.clone().unwrap_or_else(|| {
            self.db_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("keys")
                .join("terminal.key")
        })
    }
}

/// Proof that a record is durable: returned only after its transaction committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub hash: Hash,
}

/// Records to upload next, with the latest checkpoint (PROTOCOL.md §7).
#[derive(Debug, Clone)]
pub struct Batch {
    pub terminal: String,
    pub records: Vec<SignedRecord>,
    pub checkpoint: Option<SignedCheckpoint>,
}

/// A record the back office refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    pub seq: u64,
    pub kind: String,
    pub wall_ms: i64,
    pub reason: String,
}

/// Health figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub terminal: String,
    pub signer: String,
    pub genesis_key: String,
    pub head_seq: u64,
    pub head_hash: String,
    pub pending: u64,
    pub acknowledged: u64,
    pub quarantined: u64,
    pub oldest_pending_wall_ms: Option<i64>,
    pub oldest_pending_age_secs: Option<u64>,
    pub last_checkpoint: Option<u64>,
    pub sqlite_version: String,
}

type Reply<T> = SyncSender<Result<T, QueueError>>;

enum Job {
    Enqueue {
        kind: String,
        payload: Vec<u8>,
        value: u64,
        reply: Reply<Receipt>,
    },
    Run(Box<dyn FnOnce(&mut Writer) + Send>),
}

/// Handle to an open queue. Cheap to share between threads (`&Queue` is enough).
pub struct Queue {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    limits: Arc<OfflineLimits>,
    terminal: String,
}

impl Queue {
    /// Opens (and on first start creates, owner-only) the database and the terminal key.
    pub fn open(cfg: QueueConfig) -> Result<Queue, QueueError> {
        let writer = Writer::open(cfg)?;
        let terminal = writer.terminal.clone();
        let limits = Arc::new(writer.cfg.limits.clone());
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kiosk-queue-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| QueueError::Io(format!("cannot start the writer thread: {e}")))?;
        Ok(Queue {
            jobs: Some(tx),
            thread: Some(thread),
            limits,
            terminal,
        })
    }

    pub fn terminal(&self) -> &str {
        &self.terminal
    }

    /// Appends a signed record and returns once it is durable (committed with
    /// synchronous=FULL). Concurrent callers share one commit.
    pub fn enqueue(&self, kind: &str, payload: &serde_json::Value) -> Result<Receipt, QueueError> {
        record::check_kind(kind).map_err(|e| QueueError::Invalid(e.to_string()))?;
        if kind.starts_with("kiosk.") {
            return Err(QueueError::Invalid(format!(
                "kind {kind:?}: the kiosk. prefix is reserved for the queue's own records"
            )));
        }
        let bytes =
            canonical::canonicalize(payload).map_err(|e| QueueError::Invalid(e.to_string()))?;
        if bytes.len() > record::MAX_PAYLOAD_LEN {
            return Err(QueueError::Invalid(format!(
                "payload is {} bytes, more than {}",
                bytes.len(),
                record::MAX_PAYLOAD_LEN
            )));
        }
        let value = self.limits.value_of(payload).map_err(QueueError::Invalid)?;
        if let Some(max) = self.limits.kinds.get(kind).and_then(|l| l.max_record_value)
            && value > max
        {
            return Err(QueueError::OfflineLimit {
                kind: kind.to_string(),
                limit: LimitKind::RecordValue,
                current: value,
                max,
            });
        }
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Job::Enqueue {
            kind: kind.to_string(),
            payload: bytes,
            value,
            reply,
        })?;
        rx.recv().map_err(|_| QueueError::Closed)?
    }

    /// Parses `json` and enqueues it.
    pub fn enqueue_json(&self, kind: &str, json: &str) -> Result<Receipt, QueueError> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| QueueError::Invalid(format!("payload is not JSON: {e}")))?;
        self.enqueue(kind, &value)
    }

    /// The oldest pending records, in seq order: at most `max_count`, and at most `max_bytes`
    /// of signed bytes plus signatures (at least one record if any is pending).
    pub fn pending_batch(&self, max_count: usize, max_bytes: usize) -> Result<Batch, QueueError> {
        self.call(move |w| w.pending_batch(max_count, max_bytes))
    }

    /// Marks records acknowledged by the back office (accepted or duplicate); returns how
    /// many changed. Call only after the back office's response arrived.
    pub fn mark_acknowledged(&self, seqs: &[u64]) -> Result<usize, QueueError> {
        let seqs = seqs.to_vec();
        self.call(move |w| w.mark_acknowledged(&seqs))
    }

    /// Moves a pending record the back office refused (4xx) to quarantine.
    pub fn quarantine(&self, seq: u64, reason: &str) -> Result<(), QueueError> {
        let reason = reason.to_string();
        self.call(move |w| w.quarantine(seq, &reason))
    }

    pub fn quarantined(&self) -> Result<Vec<Quarantined>, QueueError> {
        self.call(|w| w.quarantined())
    }

    /// Puts every quarantined record back in the pending state; returns how many.
    pub fn retry_quarantined(&self) -> Result<usize, QueueError> {
        self.call(|w| w.retry_quarantined())
    }

    pub fn stats(&self) -> Result<Stats, QueueError> {
        self.call(|w| w.stats())
    }

    /// Every record from `from_seq` on, in seq order.
    pub fn export(&self, from_seq: u64) -> Result<Vec<SignedRecord>, QueueError> {
        self.call(move |w| w.export(from_seq))
    }

    /// Signs a checkpoint at the current head now.
    pub fn checkpoint_now(&self) -> Result<SignedCheckpoint, QueueError> {
        self.call(|w| w.checkpoint_now())
    }

    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, QueueError> {
        self.call(|w| latest_checkpoint(&w.conn))
    }

    /// Replaces the signing key: a `kiosk.key_rotation` record signed by the old key names the
    /// new one; the old private key file is then replaced.
    pub fn rotate_key(&self) -> Result<(Receipt, PublicKey), QueueError> {
        self.call(|w| w.rotate_key())
    }

    /// The public key that signs the next record.
    pub fn public_key(&self) -> Result<PublicKey, QueueError> {
        self.call(|w| w.key().map(|k| k.public()))
    }

    /// The first key of this terminal (the one to enrol).
    pub fn genesis_key(&self) -> Result<PublicKey, QueueError> {
        self.call(|w| w.meta_key("genesis_key"))
    }

    /// Verifies the whole local log from seq 1 and the latest checkpoint against it.
    pub fn verify_local(&self) -> Result<ChainReport, QueueError> {
        self.call(|w| w.verify_local())
    }

    /// Sets `PRAGMA max_page_count` and returns the value in force.
    pub fn set_max_page_count(&self, pages: u64) -> Result<u64, QueueError> {
        self.call(move |w| {
            Ok(w.conn
                .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                    r.get::<_, i64>(0)
                })? as u64)
        })
    }

    /// `PRAGMA page_count`.
    pub fn page_count(&self) -> Result<u64, QueueError> {
        self.call(|w| {
            Ok(w.conn
                .query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    fn send(&self, job: Job) -> Result<(), QueueError> {
        self.jobs
            .as_ref()
            .ok_or(QueueError::Closed)?
            .send(job)
            .map_err(|_| QueueError::Closed)
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Job::Run(Box::new(move |w: &mut Writer| {
            let r = w.guarded(f);
            let _ = reply.send(r);
        })))?;
        rx.recv().map_err(|_| QueueError::Closed)?
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer thread's state: the one connection and the key.
pub(crate) struct Writer {
    conn: Connection,
    cfg: QueueConfig,
    terminal: String,
    key: Option<TerminalKey>,
    boot_id: [u8; 16],
    /// Set after an I/O or corruption error: reopen before the next job.
    broken: bool,
}

impl Writer {
    fn open(cfg: QueueConfig) -> Result<Writer, QueueError> {
        let found = rusqlite::version_number();
        if found < MIN_SQLITE_VERSION {
            return Err(QueueError::SqliteTooOld {
                found: rusqlite::version().to_string(),
            });
        }
        if !cfg.read_only && cfg.create {
            prepare_db_file(&cfg.db_path)?;
        } else if !cfg.db_path.exists() {
            return Err(QueueError::file(&cfg.db_path, "no queue database here"));
        }
        let conn = open_connection(&cfg)?;
        let mut w = Writer {
            conn,
            terminal: String::new(),
            key: None,
            boot_id: boot_id(),
            broken: false,
            cfg,
        };
        w.init_meta()?;
        Ok(w)
    }

    fn run(mut self, rx: Receiver<Job>) {
        while let Ok(job) = rx.recv() {
            match job {
                Job::Run(f) => f(&mut self),
                Job::Enqueue {
                    kind,
                    payload,
                    value,
                    reply,
                } => {
                    let mut group = vec![(kind, payload, value, reply)];
                    let mut deferred = None;
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(Job::Enqueue {
                                kind,
                                payload,
                                value,
                                reply,
                            }) => group.push((kind, payload, value, reply)),
                            Ok(run @ Job::Run(_)) => {
                                deferred = Some(run);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_group(group);
                    if let Some(Job::Run(f)) = deferred {
                        f(&mut self);
                    }
                }
            }
        }
    }

    /// Runs `f`, reopening a connection first if the last operation broke it.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Writer) -> Result<T, QueueError>,
    ) -> Result<T, QueueError> {
        if self.broken {
            self.conn = open_connection(&self.cfg)?;
            self.broken = false;
        }
        let r = f(self);
        if let Err(QueueError::Io(_) | QueueError::Corrupt(_)) = &r {
            self.broken = true;
        }
        r
    }

    #[allow(clippy::type_complexity)]
    fn commit_group(&mut self, group: Vec<(String, Vec<u8>, u64, Reply<Receipt>)>) {
        let mut replies = Vec::with_capacity(group.len());
        let mut items = Vec::with_capacity(group.len());
        for (kind, payload, value, reply) in group {
            replies.push(reply);
            items.push((kind, payload, value));
        }
        match self.guarded(|w| w.insert_group(&items)) {
            Ok(results) => {
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// One transaction for the whole group; per-item limit refusals don't abort the others.
    fn insert_group(
        &mut self,
        items: &[(String, Vec<u8>, u64)],
    ) -> Result<Vec<Result<Receipt, QueueError>>, QueueError> {
        self.sync_key()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A rotation by another process shows up here: reload before signing.
        let signer = meta(&tx, "signer")?;
        let key_is_current = self
            .key
            .as_ref()
            .is_some_and(|k| Some(k.public().to_hex()) == signer);
        if !key_is_current {
            drop(tx);
            self.key = None;
            self.sync_key()?;
            return self.insert_group(items);
        }
        let key = self.key.as_ref().ok_or(QueueError::Closed)?;
        let (mut seq, mut prev) = head(&tx)?;
        let start_seq = seq;
        let now = wall_ms();
        let mut results = Vec::with_capacity(items.len());
        for (kind, payload, value) in items {
            if let Err(e) = check_limits(&tx, &self.cfg.limits, kind, *value, now) {
                results.push(Err(e));
                continue;
            }
            seq += 1;
            let body = RecordBody {
                terminal: self.terminal.clone(),
                seq,
                wall_ms: now,
                boot_id: self.boot_id,
                mono_ns: mono_ns(),
                signer: key.public(),
                prev_hash: prev,
                kind: kind.clone(),
                payload: payload.clone(),
            };
            let (hash, rec) = sign_record(key, &body);
            insert_record(&tx, seq, &rec, kind, *value, now)?;
            prev = hash;
            results.push(Ok(Receipt { seq, hash }));
        }
        let every = self.cfg.checkpoint_every;
        if every > 0 && seq / every > start_seq / every {
            write_checkpoint(&tx, key, &self.terminal, seq, prev, now)?;
        }
        tx.commit()?;
        Ok(results)
    }

    fn init_meta(&mut self) -> Result<(), QueueError> {
        let existing = meta(&self.conn, "terminal")?;
        match existing {
            Some(t) => {
                if let Some(req) = &self.cfg.terminal
                    && *req != t
                {
                    return Err(QueueError::TerminalMismatch {
                        stored: t,
                        requested: req.clone(),
                    });
                }
                self.terminal = t;
            }
            None => {
                if self.cfg.read_only || !self.cfg.create {
                    return Err(QueueError::Corrupt("database has no queue metadata".into()));
                }
                let terminal = self
                    .cfg
                    .terminal
                    .clone()
                    .unwrap_or_else(default_terminal_id);
                record::check_terminal_id(&terminal)
                    .map_err(|e| QueueError::Invalid(e.to_string()))?;
                let key_path = self.cfg.key_path();
                let key = if key_path.exists() {
                    TerminalKey::load(&key_path).map_err(|e| QueueError::file(&key_path, e))?
                } else {
                    let k = TerminalKey::generate().map_err(|e| QueueError::Key(e.to_string()))?;
                    match k.save_new(&key_path) {
                        Ok(()) => k,
                        // Another process created it first: use theirs.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            TerminalKey::load(&key_path)
                                .map_err(|e| QueueError::file(&key_path, e))?
                        }
                        Err(e) => return Err(QueueError::file(&key_path, e)),
                    }
                };
                let pk = key.public().to_hex();
                let tx = self
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?;
                for (k, v) in [
                    ("terminal", terminal.as_str()),
                    ("genesis_key", &pk),
                    ("signer", &pk),
                    ("format", "1"),
                ] {
                    tx.execute(
                        "INSERT INTO meta (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO NOTHING",
                        params![k, v],
                    )?;
                }
                tx.commit()?;
                self.terminal = meta(&self.conn, "terminal")?.unwrap_or(terminal);
                tracing::info!(terminal = %self.terminal, public_key = %pk, "queue created");
            }
        }
        Ok(())
    }

    fn meta_key(&self, name: &str) -> Result<PublicKey, QueueError> {
        let hex = meta(&self.conn, name)?
            .ok_or_else(|| QueueError::Corrupt(format!("meta {name} missing")))?;
        PublicKey::from_hex(&hex).map_err(|e| QueueError::Corrupt(format!("meta {name}: {e}")))
    }

    /// Loads the private key matching the `signer` in the database, finishing an interrupted
    /// rotation (`<key>.next` already committed) if needed.
    fn sync_key(&mut self) -> Result<(), QueueError> {
        if self.key.is_some() {
            return Ok(());
        }
        let want = self.meta_key("signer")?;
        let path = self.cfg.key_path();
        let next = keys::next_key_path(&path);
        let load = |p: &Path| TerminalKey::load(p).map_err(|e| QueueError::file(p, e));
        if path.exists() {
            let k = load(&path)?;
            if k.public() == want {
                self.key = Some(k);
                return Ok(());
            }
        }
        if next.exists() {
            let k = load(&next)?;
            if k.public() == want {
                std::fs::rename(&next, &path).map_err(|e| QueueError::file(&path, e))?;
                keys::sync_dir(&path).map_err(|e| QueueError::file(&path, e))?;
                self.key = Some(k);
                return Ok(());
            }
        }
        Err(QueueError::Key(format!(
            "{} does not hold the private key for signer {want}",
            path.display()
        )))
    }

    fn key(&mut self) -> Result<&TerminalKey, QueueError> {
        self.sync_key()?;
        self.key.as_ref().ok_or(QueueError::Closed)
    }

    fn pending_batch(&mut self, max_count: usize, max_bytes: usize) -> Result<Batch, QueueError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, sig, hash FROM records WHERE state = ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![STATE_PENDING, max_count as i64], row_record)?;
        let mut records = Vec::new();
        let mut bytes = 0usize;
        for r in rows {
            let rec = r??;
            let size = rec.body.len() + 64;
            if !records.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            records.push(rec);
        }
        drop(stmt);
        Ok(Batch {
            terminal: self.terminal.clone(),
            records,
            checkpoint: latest_checkpoint(&self.conn)?,
        })
    }

    fn mark_acknowledged(&mut self, seqs: &[u64]) -> Result<usize, QueueError> {
        let now = wall_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE records SET state = ?1, state_ms = ?2, reason = NULL \
                 WHERE seq = ?3 AND state != ?1",
            )?;
            for &seq in seqs {
                n += stmt.execute(params![STATE_ACKED, now, seq as i64])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    fn quarantine(&mut self, seq: u64, reason: &str) -> Result<(), QueueError> {
        let n = self.conn.execute(
            "UPDATE records SET state = ?1, state_ms = ?2, reason = ?3 WHERE seq = ?4 AND state = ?5",
            params![STATE_QUARANTINED, wall_ms(), reason, seq as i64, STATE_PENDING],
        )?;
        if n == 0 {
            let exists: bool = self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM records WHERE seq = ?1)",
                [seq as i64],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(QueueError::NoSuchRecord(seq));
            }
        }
        Ok(())
    }

    fn quarantined(&mut self) -> Result<Vec<Quarantined>, QueueError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, kind, wall_ms, COALESCE(reason, '') FROM records WHERE state = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([STATE_QUARANTINED], |r| {
            Ok(Quarantined {
                seq: r.get::<_, i64>(0)? as u64,
                kind: r.get(1)?,
                wall_ms: r.get(2)?,
                reason: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn retry_quarantined(&mut self) -> Result<usize, QueueError> {
        Ok(self.conn.execute(
            "UPDATE records SET state = ?1, state_ms = ?2, reason = NULL WHERE state = ?3",
            params![STATE_PENDING, wall_ms(), STATE_QUARANTINED],
        )?)
    }

    fn stats(&mut self) -> Result<Stats, QueueError> {
        let count = |state: i64| -> Result<u64, QueueError> {
            Ok(self.conn.query_row(
                "SELECT COUNT(*) FROM records WHERE state = ?1",
                [state],
                |r| r.get::<_, i64>(0),
            )? as u64)
        };
        let pending = count(STATE_PENDING)?;
        let acknowledged = count(STATE_ACKED)?;
        let quarantined = count(STATE_QUARANTINED)?;
        let oldest: Option<i64> = self.conn.query_row(
            "SELECT MIN(wall_ms) FROM records WHERE state = ?1",
            [STATE_PENDING],
            |r| r.get(0),
        )?;
        let (head_seq, head_hash) = head(&self.conn)?;
        let last_checkpoint: Option<i64> =
            self.conn
                .query_row("SELECT MAX(count) FROM checkpoints", [], |r| r.get(0))?;
        Ok(Stats {
            terminal: self.terminal.clone(),
            signer: self.meta_key("signer")?.to_hex(),
            genesis_key: self.meta_key("genesis_key")?.to_hex(),
            head_seq,
            head_hash: hex::encode(head_hash),
            pending,
            acknowledged,
            quarantined,
            oldest_pending_wall_ms: oldest,
            oldest_pending_age_secs: oldest.map(|t| ((wall_ms() - t).max(0) / 1000) as u64),
            last_checkpoint: last_checkpoint.map(|c| c as u64),
            sqlite_version: rusqlite::version().to_string(),
        })
    }

    fn export(&mut self, from_seq: u64) -> Result<Vec<SignedRecord>, QueueError> {
        let mut stmt = self
            .conn
            .prepare("SELECT body, sig, hash FROM records WHERE seq >= ?1 ORDER BY seq")?;
        let rows = stmt.query_map([from_seq as i64], row_record)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    fn checkpoint_now(&mut self) -> Result<SignedCheckpoint, QueueError> {
        self.sync_key()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (seq, hash) = head(&tx)?;
        if seq == 0 {
            return Err(QueueError::Invalid(
                "nothing to checkpoint: the log is empty".into(),
            ));
        }
        let key = self.key.as_ref().ok_or(QueueError::Closed)?;
        write_checkpoint(&tx, key, &self.terminal, seq, hash, wall_ms())?;
        let cp = latest_checkpoint(&tx)?.ok_or(QueueError::Closed)?;
        tx.commit()?;
        Ok(cp)
    }

    fn rotate_key(&mut self) -> Result<(Receipt, PublicKey), QueueError> {
        self.sync_key()?;
        let path = self.cfg.key_path();
        let next_path = keys::next_key_path(&path);
        if next_path.exists() {
            std::fs::remove_file(&next_path).map_err(|e| QueueError::file(&next_path, e))?;
        }
        let new_key = TerminalKey::generate().map_err(|e| QueueError::Key(e.to_string()))?;
        new_key
            .save_new(&next_path)
            .map_err(|e| QueueError::file(&next_path, e))?;
        let new_pub = new_key.public();
        let payload = canonical::canonicalize(&serde_json::json!({ "new_key": new_pub.to_hex() }))
            .map_err(|e| QueueError::Invalid(e.to_string()))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let old = self.key.as_ref().ok_or(QueueError::Closed)?;
        if meta(&tx, "signer")? != Some(old.public().to_hex()) {
            return Err(QueueError::Key(
                "the key was rotated by another process; retry".into(),
            ));
        }
        let (seq, prev) = head(&tx)?;
        let now = wall_ms();
        let body = RecordBody {
            terminal: self.terminal.clone(),
            seq: seq + 1,
            wall_ms: now,
            boot_id: self.boot_id,
            mono_ns: mono_ns(),
            signer: old.public(),
            prev_hash: prev,
            kind: KIND_KEY_ROTATION.to_string(),
            payload,
        };
        let (hash, rec) = sign_record(old, &body);
        insert_record(&tx, seq + 1, &rec, KIND_KEY_ROTATION, 0, now)?;
        tx.execute(
            "UPDATE meta SET v = ?1 WHERE k = 'signer'",
            [new_pub.to_hex()],
        )?;
        tx.commit()?;
        // Committed: the new key is now the signer. Replace the old key file.
        std::fs::rename(&next_path, &path).map_err(|e| QueueError::file(&path, e))?;
        keys::sync_dir(&path).map_err(|e| QueueError::file(&path, e))?;
        self.key = Some(new_key);
        Ok((Receipt { seq: seq + 1, hash }, new_pub))
    }

    fn verify_local(&mut self) -> Result<ChainReport, QueueError> {
        let genesis = self.meta_key("genesis_key")?;
        let records = self.export(1)?;
        let report = verify::verify_chain(&genesis, &records)
            .map_err(|e| QueueError::Corrupt(format!("local chain does not verify: {e}")))?;
        let mut stmt = self
            .conn
            .prepare("SELECT body, sig FROM checkpoints ORDER BY count")?;
        let cps = stmt.query_map([], |r| {
            Ok(SignedCheckpoint {
                body: r.get(0)?,
                sig: blob64(r.get(1)?)?,
            })
        })?;
        let mut keys_seen = vec![genesis];
        for r in &records {
            if let Ok(b) = r.decode_body()
                && b.kind == KIND_KEY_ROTATION
                && let Ok(k) = verify::rotation_target(&b)
            {
                keys_seen.push(k);
            }
        }
        let mut previous = None;
        for cp in cps {
            let cp = cp?;
            let body = verify::verify_checkpoint(&keys_seen, &self.terminal, previous, &cp)
                .map_err(|e| QueueError::Corrupt(format!("checkpoint: {e}")))?;
            let rec = records.get(body.count as usize - 1).ok_or_else(|| {
                QueueError::Corrupt(format!("checkpoint {} beyond the log", body.count))
            })?;
            verify::check_checkpoint_head(&body, &rec.hash)
                .map_err(|e| QueueError::Corrupt(format!("checkpoint: {e}")))?;
            previous = Some(body.count);
        }
        Ok(report)
    }
}

fn prepare_db_file(path: &Path) -> Result<(), QueueError> {
    if let Some(dir) = path.parent() {
        keys::ensure_private_dir(dir).map_err(|e| QueueError::file(dir, e))?;
    }
    // Create owner-only before SQLite touches it; -wal and -shm inherit these permissions.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| QueueError::file(path, e))?;
    Ok(())
}

fn open_connection(cfg: &QueueConfig) -> Result<Connection, QueueError> {
    let flags = if cfg.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn =
        Connection::open_with_flags(&cfg.db_path, flags).map_err(|e| {
            match QueueError::from(e) {
                QueueError::File { message, .. } => QueueError::file(&cfg.db_path, message),
                other => other,
            }
        })?;
    conn.busy_timeout(cfg.busy_timeout)?;
    if !cfg.read_only {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(QueueError::Sqlite {
                code: -1,
                message: format!("cannot switch to WAL (journal_mode is {mode})"),
            });
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    if sync != 2 {
        return Err(QueueError::Sqlite {
            code: -1,
            message: format!("synchronous is {sync}, FULL (2) required"),
        });
    }
    conn.pragma_update(None, "journal_size_limit", 16 * 1024 * 1024)?;
    if let Some(pages) = cfg.max_page_count {
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
            r.get::<_, i64>(0)
        })?;
    }
    if !cfg.read_only {
        conn.execute_batch(SCHEMA)?;
    }
    Ok(conn)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS records (
    seq      INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL,
    value    INTEGER NOT NULL,
    wall_ms  INTEGER NOT NULL,
    body     BLOB NOT NULL,
    sig      BLOB NOT NULL,
    hash     BLOB NOT NULL,
    state    INTEGER NOT NULL DEFAULT 0,
    reason   TEXT,
    state_ms INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS records_by_state ON records (state, kind, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    count INTEGER PRIMARY KEY,
    body  BLOB NOT NULL,
    sig   BLOB NOT NULL
) STRICT;
";

fn meta(conn: &Connection, k: &str) -> Result<Option<String>, QueueError> {
    Ok(conn
        .query_row("SELECT v FROM meta WHERE k = ?1", [k], |r| r.get(0))
        .optional()?)
}

fn head(conn: &Connection) -> Result<(u64, Hash), QueueError> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        None => Ok((0, GENESIS_PREV)),
        Some((seq, hash)) => Ok((
            seq as u64,
            hash.try_into().map_err(|_| {
                QueueError::Corrupt(format!("seq {seq}: stored hash is not 32 bytes"))
            })?,
        )),
    }
}

fn blob64(v: Vec<u8>) -> rusqlite::Result<[u8; 64]> {
    let n = v.len();
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            n,
            rusqlite::types::Type::Blob,
            "signature is not 64 bytes".into(),
        )
    })
}

fn row_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<SignedRecord, QueueError>> {
    let body: Vec<u8> = r.get(0)?;
    let sig = blob64(r.get(1)?)?;
    let hash: Vec<u8> = r.get(2)?;
    Ok(match hash.try_into() {
        Ok(hash) => Ok(SignedRecord { body, sig, hash }),
        Err(_) => Err(QueueError::Corrupt("stored hash is not 32 bytes".into())),
    })
}

fn sign_record(key: &TerminalKey, body: &RecordBody) -> (Hash, SignedRecord) {
    let bytes = body.encode();
    let hash = record::sha256(&bytes);
    let sig = key.sign(&bytes);
    (
        hash,
        SignedRecord {
            body: bytes,
            sig,
            hash,
        },
    )
}

fn insert_record(
    conn: &Connection,
    seq: u64,
    rec: &SignedRecord,
    kind: &str,
    value: u64,
    now: i64,
) -> Result<(), QueueError> {
    conn.prepare_cached(
        "INSERT INTO records (seq, kind, value, wall_ms, body, sig, hash, state) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
    )?
    .execute(params![
        seq as i64,
        kind,
        value as i64,
        now,
        rec.body,
        &rec.sig[..],
        &rec.hash[..]
    ])?;
    Ok(())
}

fn write_checkpoint(
    conn: &Connection,
    key: &TerminalKey,
    terminal: &str,
    count: u64,
    head_hash: Hash,
    now: i64,
) -> Result<(), QueueError> {
    let body = CheckpointBody {
        terminal: terminal.to_string(),
        count,
        head_hash,
        wall_ms: now,
        signer: key.public(),
    }
    .encode();
    let sig = key.sign(&body);
    conn.execute(
        "INSERT OR REPLACE INTO checkpoints (count, body, sig) VALUES (?1, ?2, ?3)",
        params![count as i64, body, &sig[..]],
    )?;
    Ok(())
}

fn latest_checkpoint(conn: &Connection) -> Result<Option<SignedCheckpoint>, QueueError> {
    Ok(conn
        .query_row(
            "SELECT body, sig FROM checkpoints ORDER BY count DESC LIMIT 1",
            [],
            |r| {
                Ok(SignedCheckpoint {
                    body: r.get(0)?,
                    sig: blob64(r.get(1)?)?,
                })
            },
        )
        .optional()?)
}

fn check_limits(
    conn: &Connection,
    limits: &OfflineLimits,
    kind: &str,
    value: u64,
    now: i64,
) -> Result<(), QueueError> {
    let Some(l) = limits.kinds.get(kind) else {
        return Ok(());
    };
    let (count, total, oldest): (i64, i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(value), 0), MIN(wall_ms) FROM records \
             WHERE state = ?1 AND kind = ?2",
        )?
        .query_row(params![STATE_PENDING, kind], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let refuse = |limit, current, max| QueueError::OfflineLimit {
        kind: kind.to_string(),
        limit,
        current,
        max,
    };
    if let Some(max) = l.max_count
        && count as u64 + 1 > max
    {
        return Err(refuse(LimitKind::Count, count as u64 + 1, max));
    }
    if let Some(max) = l.max_total_value
        && (total as u64).saturating_add(value) > max
    {
        return Err(refuse(LimitKind::TotalValue, total as u64 + value, max));
    }
    if let Some(max) = l.max_record_value
        && value > max
    {
        return Err(refuse(LimitKind::RecordValue, value, max));
    }
    if let (Some(max), Some(oldest)) = (l.max_age_secs, oldest) {
        let age = ((now - oldest).max(0) / 1000) as u64;
        if age > max {
            return Err(refuse(LimitKind::Age, age, max));
        }
    }
    Ok(())
}

/// Milliseconds since the Unix epoch (negative if the clock is before 1970).
pub fn wall_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// `CLOCK_BOOTTIME` in nanoseconds.
pub fn mono_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME) {
        Ok(ts) => (ts.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec() as u64),
        Err(_) => 0,
    }
}

/// The kernel's boot id as 16 bytes, zeros if unavailable.
pub fn boot_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        let digits: String = s.trim().chars().filter(|c| *c != '-').collect();
        let _ = hex::decode_to_slice(digits, &mut id);
    }
    id
}

/// The host name reduced to the characters a terminal id allows.
pub fn default_terminal_id() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let id: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        .take(record::MAX_NAME_LEN)
        .collect();
    if id.is_empty() {
        "kiosk".to_string()
    } else {
        id
    }
}
