//! `kioskctl sync`: upload the signed offline queue to a back office now (queue notes §4).
//!
//! `kioskctl sync --db PATH --to URL [--until-empty] [--json]` (also spelled `kioskctl outbox
//! sync`) sends one batch, or with `--until-empty` drains the queue, retrying transient failures
//! with backoff.
//! `kioskctl sync bench --records N` measures the drain of an N-record backlog to a reference
//! receiver (`kiosk-backoffice`) over loopback, with this process's peak memory (VmHWM).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use kiosk_queue::{Queue, QueueConfig};
use kiosk_uploader::{Config, Step, Uploader};
use serde::Serialize;

use crate::cli::{CliError, emit};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub bench: Option<SyncCommand>,
    /// The queue database.
    #[arg(long)]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub upload: UploadOptions,
    #[arg(long)]
    pub json: bool,
}

/// How to upload, shared by `kioskctl sync` and `kioskctl outbox sync`.
#[derive(Args)]
pub struct UploadOptions {
    /// Receiver base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub to: Option<String>,
    /// Keep sending until nothing is pending.
    #[arg(long)]
    pub until_empty: bool,
    /// Most records per upload.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Most bytes per upload.
    #[arg(long, default_value_t = 512 * 1024)]
    pub batch_bytes: usize,
    /// Give up after this many consecutive failed attempts.
    #[arg(long, default_value_t = 8)]
    pub max_failures: u32,
    /// Timeout of one upload request, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
}

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Drain rate and peak memory for a large backlog, against a local reference receiver.
    Bench(BenchArgs),
    /// (internal) fill a queue with N records for the benchmark.
    #[command(hide = true)]
    BenchFill {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        records: u64,
    },
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Directory for the queue and the receiver database (default: a fresh temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct SyncReport {
    terminal: String,
    accepted: u64,
    duplicates: u64,
    quarantined: u64,
    batches: u64,
    retries: u64,
    pending: u64,
    oldest_pending_age_secs: Option<u64>,
    receiver_high_water: Option<u64>,
    last_error: Option<String>,
}

fn open_queue(db: &Path, key: Option<PathBuf>, create: bool) -> Result<Arc<Queue>, CliError> {
    let mut cfg = QueueConfig::new(db);
    cfg.key_path = key;
    cfg.create = create;
    Queue::open(cfg)
        .map(Arc::new)
        .map_err(|e| CliError::failed(format!("cannot open queue {}: {e}", db.display())))
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the runtime: {e}")))
}

pub fn run(args: SyncArgs) -> Result<(), CliError> {
    match args.bench {
        Some(SyncCommand::Bench(b)) => return bench(b),
        Some(SyncCommand::BenchFill { db, records }) => return bench_fill(&db, records),
        None => {}
    }
    let db = args
        .db
        .ok_or_else(|| CliError::usage("--db PATH is required"))?;
    upload(&db, None, args.upload, args.json)
}

/// Uploads the queue at `db` now: one batch, or with `--until-empty` until nothing is pending
/// (`kioskctl sync` and `kioskctl outbox sync`).
pub fn upload(
    db: &Path,
    key: Option<PathBuf>,
    args: UploadOptions,
    json: bool,
) -> Result<(), CliError> {
    let to = args
        .to
        .ok_or_else(|| CliError::usage("--to URL is required"))?;
    if !(to.starts_with("http://") || to.starts_with("https://")) {
        return Err(CliError::usage(format!(
            "--to {to}: give an http:// or https:// URL"
        )));
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(CliError::usage(
            "--timeout must be a positive number of seconds",
        ));
    }
    let queue = open_queue(db, key, false)?;
    let terminal = queue.terminal().to_string();
    let mut cfg = Config::new(to);
    cfg.max_batch_records = args.batch.max(1);
    cfg.max_batch_bytes = args.batch_bytes.max(1024);
    cfg.request_timeout = Duration::from_secs_f64(args.timeout);
    cfg.backoff_cap = Duration::from_secs(10);
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let mut up = Uploader::new(queue, cfg).map_err(|e| CliError::failed(e.to_string()))?;
        let result = if args.until_empty {
            up.drain(Some(args.max_failures)).await.map(|_| ())
        } else {
            up.step().await.map(|_: Step| ())
        };
        let _ = up.refresh_backlog().await;
        let status = up.status().borrow().clone();
        Ok::<_, CliError>((result, status))
    })?;
    let (result, s) = outcome;
    let report = SyncReport {
        terminal,
        accepted: s.accepted,
        duplicates: s.duplicates,
        quarantined: s.quarantined,
        batches: s.batches,
        retries: s.retries,
        pending: s.backlog.pending,
        oldest_pending_age_secs: s.oldest_age_secs,
        receiver_high_water: s.receiver_hwm,
        last_error: s.last_error.clone(),
    };
    emit(json, &report, || {
        format!(
            "terminal {}: {} accepted, {} duplicate, {} quarantined in {} batches ({} retries); {} pending{}\n",
            report.terminal,
            report.accepted,
            report.duplicates,
            report.quarantined,
            report.batches,
            report.retries,
            report.pending,
            report
                .oldest_pending_age_secs
                .map(|a| format!(", oldest {a} s old"))
                .unwrap_or_default()
        )
    })?;
    result.map_err(|e| CliError::failed(format!("sync stopped: {e}")))
}

/// Peak resident set size of this process, in KiB (`VmHWM` in /proc/self/status).
fn vm_hwm_kib(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn bench_fill(db: &Path, records: u64) -> Result<(), CliError> {
    let queue = open_queue(db, None, true)?;
    // Concurrent callers share one commit (group commit), so a few threads fill quickly.
    let threads = 32u64;
    std::thread::scope(|s| {
        for t in 0..threads {
            let q = &queue;
            s.spawn(move || {
                let mut i = t;
                while i < records {
                    let payload = serde_json::json!({
                        "item": format!("3900{i:010}"),
                        "patron": "P0000001",
                        "action": "checkout",
                    });
                    if let Err(e) = q.enqueue("library.checkout", &payload) {
                        eprintln!("enqueue failed: {e}");
                        return;
                    }
                    i += threads;
                }
            });
        }
    });
    let key = queue
        .genesis_key()
        .map_err(|e| CliError::failed(e.to_string()))?;
    println!("{} {}", queue.terminal(), key.to_hex());
    Ok(())
}

#[derive(Serialize)]
struct BenchReport {
    records: u64,
    batch: usize,
    fill_secs: f64,
    /// Acknowledged enqueues per second while filling (32 callers, group commit).
    fill_records_per_sec: f64,
    drain_secs: f64,
    records_per_sec: f64,
    uploader_vm_hwm_kib: Option<u64>,
    receiver_vm_hwm_kib: Option<u64>,
    receiver_high_water: Option<u64>,
}

fn bench(b: BenchArgs) -> Result<(), CliError> {
    let tmp;
    let dir = match b.dir {
        Some(d) => d,
        None => {
            tmp = std::env::temp_dir().join(format!("kiosk-sync-bench-{}", std::process::id()));
            tmp
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| CliError::failed(e.to_string()))?;
    let me = std::env::current_exe().map_err(|e| CliError::failed(e.to_string()))?;
    let backoffice = me.with_file_name("kiosk-backoffice");
    if !backoffice.exists() {
        return Err(CliError::failed(format!(
            "{} not found; build it (cargo build --release -p kiosk-backoffice)",
            backoffice.display()
        )));
    }
    let queue_db = dir.join("queue.db");
    let recv_db = format!("sqlite:{}", dir.join("receiver.db").display());
    let t0 = Instant::now();
    let fill = Command::new(&me)
        .args([
            "sync",
            "bench-fill",
            "--records",
            &b.records.to_string(),
            "--db",
        ])
        .arg(&queue_db)
        .output()
        .map_err(|e| CliError::failed(e.to_string()))?;
    if !fill.status.success() {
        return Err(CliError::failed(format!(
            "filling the queue failed: {}",
            String::from_utf8_lossy(&fill.stderr)
        )));
    }
    let fill_secs = t0.elapsed().as_secs_f64();
    let out = String::from_utf8_lossy(&fill.stdout);
    let mut words = out.split_whitespace();
    let (terminal, key) = (
        words.next().unwrap_or_default().to_string(),
        words.next().unwrap_or_default().to_string(),
    );
    let enrol = Command::new(&backoffice)
        .args([
            "enroll",
            "--db",
            &recv_db,
            "--terminal",
            &terminal,
            "--public-key",
            &key,
        ])
        .output()
        .map_err(|e| CliError::failed(e.to_string()))?;
    if !enrol.status.success() {
        return Err(CliError::failed(format!(
            "enrolment failed: {}",
            String::from_utf8_lossy(&enrol.stderr)
        )));
    }
    let mut server = Command::new(&backoffice)
        .args(["serve", "--listen", "127.0.0.1:0", "--db", &recv_db])
        .args(["--max-records", &b.batch.max(1).to_string()])
        .env("KIOSK_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| CliError::failed(e.to_string()))?;
    let addr = {
        use std::io::BufRead;
        let stdout = server
            .stdout
            .take()
            .ok_or_else(|| CliError::failed("no stdout"))?;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| CliError::failed(e.to_string()))?;
        line.trim().trim_start_matches("listening on ").to_string()
    };
    let result = (|| {
        let queue = open_queue(&queue_db, None, false)?;
        let mut cfg = Config::new(format!("http://{addr}"));
        cfg.max_batch_records = b.batch.max(1);
        cfg.max_batch_bytes = 4 * 1024 * 1024;
        let rt = runtime()?;
        let t1 = Instant::now();
        let status = rt
            .block_on(async {
                let mut up = Uploader::new(queue, cfg)?;
                up.drain(Some(5)).await
            })
            .map_err(|e| CliError::failed(format!("drain failed: {e}")))?;
        let drain_secs = t1.elapsed().as_secs_f64();
        if status.receiver_hwm != Some(b.records) || status.backlog.pending != 0 {
            return Err(CliError::failed(format!(
                "drain incomplete: receiver holds {:?} of {}, {} pending",
                status.receiver_hwm, b.records, status.backlog.pending
            )));
        }
        Ok::<_, CliError>(BenchReport {
            records: b.records,
            batch: b.batch,
            fill_secs,
            fill_records_per_sec: b.records as f64 / fill_secs,
            drain_secs,
            records_per_sec: (status.accepted + status.duplicates) as f64 / drain_secs,
            uploader_vm_hwm_kib: vm_hwm_kib(None),
            receiver_vm_hwm_kib: vm_hwm_kib(Some(server.id())),
            receiver_high_water: status.receiver_hwm,
        })
    })();
    let _ = server.kill();
    let _ = server.wait();
    let report = result?;
    emit(b.json, &report, || {
        format!(
            "drained {} records in {:.2} s ({:.0} records/s, batch {}; filled at {:.0} records/s); peak RSS uploader {} KiB, receiver {} KiB\n",
            report.records,
            report.drain_secs,
            report.records_per_sec,
            report.batch,
            report.fill_records_per_sec,
            report.uploader_vm_hwm_kib.unwrap_or(0),
            report.receiver_vm_hwm_kib.unwrap_or(0)
        )
    })
}
