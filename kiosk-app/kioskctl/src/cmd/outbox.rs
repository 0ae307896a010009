//! `kioskctl outbox`: inspect and drive the signed offline queue (backoffice/PROTOCOL.md).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use kiosk_queue::{
    ChainVerifier, OfflineLimits, PublicKey, Queue, QueueConfig, SignedCheckpoint, SignedRecord,
    VerifyError, WireCheckpoint, WireRecord,
};
use serde::Serialize;

use crate::cli::{CliError, emit};

#[derive(Args)]
pub struct OutboxArgs {
    /// Queue database (default /var/lib/kiosk/queue.db).
    #[arg(long, global = true, default_value = kiosk_queue::DEFAULT_DB_PATH)]
    pub db: PathBuf,
    /// Private key file (default: keys/terminal.key beside the database).
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// Terminal id when the queue is created (default: host name).
    #[arg(long, global = true)]
    pub terminal: Option<String>,
    /// Offline limits (TOML: value_field, [kinds.KIND] max_count/max_total_value/max_record_value/max_age_secs).
    #[arg(long, global = true)]
    pub limits: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: OutboxCommand,
}

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// Backlog, oldest pending age, acknowledged/quarantined counts, head of the chain.
    Stats,
    /// Write every record (signed bytes included) as JSON lines, then the latest checkpoint.
    Export {
        /// JSON lines (the only format; PROTOCOL.md §7.1).
        #[arg(long)]
        jsonl: bool,
        /// First seq to export.
        #[arg(long, default_value_t = 1)]
        from: u64,
    },
    /// Verify the local chain and checkpoints, or an exported file against a public key.
    Verify {
        /// An export (`outbox export --jsonl`) to verify instead of the local database.
        #[arg(long)]
        jsonl: Option<PathBuf>,
        /// Enrolled public key (64 hex digits) for --jsonl.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// List records the back office refused.
    Quarantined,
    /// Put every quarantined record back to pending.
    RetryQuarantined,
    /// Append a record; prints its seq only after it is durable.
    Enqueue {
        #[arg(long)]
        kind: String,
        /// Payload JSON (integers only, no floats).
        #[arg(long)]
        payload: String,
        /// Append this many records (the same payload), printing each seq as it commits.
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Concurrent callers sharing the count (exercises group commit).
        #[arg(long, default_value_t = 1)]
        threads: u64,
    },
    /// Sign a checkpoint at the current head.
    Checkpoint,
    /// Upload to a back office now: `outbox sync --to URL [--until-empty]` (same as `kioskctl sync`).
    Sync(super::sync::UploadOptions),
    /// Acknowledged enqueues per second at synchronous=FULL, 1 and 16 callers, beside plain
    /// SQLite inserts (one transaction each) on the same disk.
    Bench {
        /// Directory on the disk to measure (fresh files are created there).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Records per configuration.
        #[arg(long, default_value_t = 2000)]
        records: usize,
    },
}

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::failed(e)
}

pub(crate) fn config(
    db: PathBuf,
    key: Option<PathBuf>,
    terminal: Option<String>,
    limits: Option<PathBuf>,
    create: bool,
) -> Result<QueueConfig, CliError> {
    let mut cfg = QueueConfig::new(db);
    cfg.key_path = key;
    cfg.terminal = terminal;
    cfg.create = create;
    if let Some(path) = limits {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
        cfg.limits = toml::from_str::<OfflineLimits>(&text)
            .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    }
    Ok(cfg)
}

pub fn run(args: OutboxArgs) -> Result<(), CliError> {
    let json = args.json;
    let creates = matches!(args.command, OutboxCommand::Enqueue { .. });
    let open = |create: bool| -> Result<Queue, CliError> {
        let cfg = config(
            args.db.clone(),
            args.key.clone(),
            args.terminal.clone(),
            args.limits.clone(),
            create,
        )?;
        Queue::open(cfg).map_err(fail)
    };
    match args.command {
        OutboxCommand::Stats => {
            let s = open(false)?.stats().map_err(fail)?;
            emit(json, &s, || {
                format!(
                    "terminal      {}\nhead          seq {} {}\npending       {}\noldest        {}\nacknowledged  {}\nquarantined   {}\ncheckpoint    {}\nsigner        {}\nsqlite        {}\n",
                    s.terminal,
                    s.head_seq,
                    s.head_hash,
                    s.pending,
                    s.oldest_pending_age_secs
                        .map_or("-".to_string(), |a| format!("{a} s ago")),
                    s.acknowledged,
                    s.quarantined,
                    s.last_checkpoint.map_or("-".to_string(), |c| c.to_string()),
                    s.signer,
                    s.sqlite_version
                )
            })
        }
        OutboxCommand::Export { jsonl: _, from } => {
            let q = open(false)?;
            let records = q.export(from).map_err(fail)?;
            let cp = q.latest_checkpoint().map_err(fail)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            for r in &records {
                let w = r.to_wire().map_err(fail)?;
                serde_json::to_writer(&mut out, &w).map_err(fail)?;
                out.write_all(b"\n").map_err(fail)?;
            }
            if let Some(cp) = cp {
                serde_json::to_writer(&mut out, &cp.to_wire().map_err(fail)?).map_err(fail)?;
                out.write_all(b"\n").map_err(fail)?;
            }
            out.flush().map_err(fail)
        }
        OutboxCommand::Verify { jsonl, public_key } => match jsonl {
            Some(path) => {
                let key =
                    public_key.ok_or_else(|| CliError::usage("--jsonl needs --public-key HEX"))?;
                let key = PublicKey::from_hex(&key).map_err(CliError::usage)?;
                verify_file(&path, key, json)
            }
            None => {
                let q = open(false)?;
                let r = q.verify_local().map_err(fail)?;
                let head = r.head.as_ref();
                let out = VerifyOutput {
                    ok: true,
                    records: r.records,
                    head_seq: head.map_or(0, |h| h.seq),
                    head_hash: head.map(|h| hex_string(&h.hash)),
                    key: r.key.to_hex(),
                    rotations: r.rotations,
                    checkpoints: None,
                };
                emit(json, &out, || out.text())
            }
        },
        OutboxCommand::Quarantined => {
            let list = open(false)?.quarantined().map_err(fail)?;
            emit(json, &list, || {
                list.iter()
                    .map(|q| format!("{}\t{}\t{}\n", q.seq, q.kind, q.reason))
                    .collect()
            })
        }
        OutboxCommand::RetryQuarantined => {
            let n = open(false)?.retry_quarantined().map_err(fail)?;
            emit(json, &serde_json::json!({ "retried": n }), || {
                format!("{n} record(s) back to pending\n")
            })
        }
        OutboxCommand::Enqueue {
            kind,
            payload,
            count,
            threads,
        } => {
            let value: serde_json::Value = serde_json::from_str(&payload)
                .map_err(|e| CliError::usage(format!("--payload is not JSON: {e}")))?;
            kiosk_queue::canonicalize(&value).map_err(CliError::usage)?;
            let q = open(creates)?;
            let threads = threads.clamp(1, 64);
            std::thread::scope(|s| -> Result<(), CliError> {
                let hs: Vec<_> = (0..threads)
                    .map(|t| {
                        let (q, kind, value) = (&q, &kind, &value);
                        let n = count / threads + u64::from(t < count % threads);
                        s.spawn(move || -> Result<(), CliError> {
                            for _ in 0..n {
                                let r = q.enqueue(kind, value).map_err(fail)?;
                                // Printed only after the commit returned.
                                if json {
                                    println!(
                                        "{{\"seq\":{},\"hash\":\"{}\"}}",
                                        r.seq,
                                        hex_string(&r.hash)
                                    );
                                } else {
                                    println!("{}", r.seq);
                                }
                            }
                            Ok(())
                        })
                    })
                    .collect();
                for h in hs {
                    h.join()
                        .map_err(|_| CliError::failed("an enqueue thread panicked"))??;
                }
                Ok(())
            })
        }
        OutboxCommand::Checkpoint => {
            let cp = open(false)?.checkpoint_now().map_err(fail)?;
            let w = cp.to_wire().map_err(fail)?;
            emit(json, &w, || {
                format!("checkpoint {} {}\n", w.count, w.head_hash)
            })
        }
        OutboxCommand::Bench { dir, records } => bench(&dir, records, json),
        OutboxCommand::Sync(upload) => {
            super::sync::upload(&args.db, args.key.clone(), upload, json)
        }
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct VerifyOutput {
    ok: bool,
    records: usize,
    head_seq: u64,
    head_hash: Option<String>,
    key: String,
    rotations: usize,
    checkpoints: Option<usize>,
}

impl VerifyOutput {
    fn text(&self) -> String {
        format!(
            "ok: {} record(s), head seq {} {}, key in force {}, {} rotation(s){}\n",
            self.records,
            self.head_seq,
            self.head_hash.as_deref().unwrap_or("-"),
            self.key,
            self.rotations,
            self.checkpoints
                .map_or(String::new(), |c| format!(", {c} checkpoint(s) consistent"))
        )
    }
}

#[derive(Serialize)]
struct VerifyFailure {
    ok: bool,
    line: usize,
    seq: Option<u64>,
    reason: &'static str,
    message: String,
}

/// Verifies an export from seq 1 exactly as a back office would (PROTOCOL.md §8).
fn verify_file(path: &PathBuf, key: PublicKey, json: bool) -> Result<(), CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    let mut records: Vec<(usize, SignedRecord)> = Vec::new();
    let mut checkpoints: Vec<(usize, SignedCheckpoint)> = Vec::new();
    let refuse = |line: usize, seq: Option<u64>, e: VerifyError| -> CliError {
        let f = VerifyFailure {
            ok: false,
            line,
            seq,
            reason: e.reason(),
            message: e.to_string(),
        };
        if json {
            println!("{}", serde_json::to_string(&f).unwrap_or_default());
        }
        CliError::failed(format!("line {line}: {} ({})", f.message, f.reason))
    };
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(fail)?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| refuse(n, None, malformed(e.to_string())))?;
        if v.get("count").is_some() {
            let w: WireCheckpoint =
                serde_json::from_value(v).map_err(|e| refuse(n, None, malformed(e.to_string())))?;
            let cp = SignedCheckpoint::from_wire(&w).map_err(|e| refuse(n, None, e.into()))?;
            checkpoints.push((n, cp));
        } else {
            let w: WireRecord =
                serde_json::from_value(v).map_err(|e| refuse(n, None, malformed(e.to_string())))?;
            let seq = w.seq;
            let r = SignedRecord::from_wire(&w).map_err(|e| refuse(n, Some(seq), e.into()))?;
            records.push((n, r));
        }
    }
    let list: Vec<SignedRecord> = records.iter().map(|(_, r)| r.clone()).collect();
    let report = kiosk_queue::verify_chain_from(ChainVerifier::new(key), &list).map_err(|e| {
        let (line, rec) = &records[e.index];
        refuse(*line, rec.decode_body().ok().map(|b| b.seq), e.reason)
    })?;
    // Keys of this terminal: the enrolled one and every rotation target.
    let mut keys = vec![key];
    for r in &list {
        if let Ok(b) = r.decode_body()
            && b.kind == kiosk_queue::record::KIND_KEY_ROTATION
            && let Ok(k) = kiosk_queue::verify::rotation_target(&b)
        {
            keys.push(k);
        }
    }
    let terminal = report
        .head
        .as_ref()
        .map(|h| h.terminal.clone())
        .unwrap_or_default();
    let mut previous = None;
    for (line, cp) in &checkpoints {
        let body = kiosk_queue::verify_checkpoint(&keys, &terminal, previous, cp)
            .map_err(|e| refuse(*line, None, e))?;
        if let Some(rec) = list.get(body.count as usize - 1) {
            kiosk_queue::check_checkpoint_head(&body, &rec.hash)
                .map_err(|e| refuse(*line, Some(body.count), e))?;
        }
        previous = Some(body.count);
    }
    let head = report.head.as_ref();
    let out = VerifyOutput {
        ok: true,
        records: report.records,
        head_seq: head.map_or(0, |h| h.seq),
        head_hash: head.map(|h| hex_string(&h.hash)),
        key: report.key.to_hex(),
        rotations: report.rotations,
        checkpoints: Some(checkpoints.len()),
    };
    emit(json, &out, || out.text())
}

fn malformed(why: String) -> VerifyError {
    VerifyError::Malformed(kiosk_queue::FormatError::Field { field: "line", why })
}

#[derive(Serialize)]
struct BenchOutput {
    rows: Vec<kiosk_queue::bench::BenchRow>,
}

fn bench(dir: &std::path::Path, records: usize, json: bool) -> Result<(), CliError> {
    let work = dir.join(format!("kiosk-queue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("{}: {e}", work.display())))?;
    let mut rows = Vec::new();
    let mut run = || -> Result<(), CliError> {
        for callers in [1usize, 16] {
            let per = (records / callers).max(1);
            rows.push(kiosk_queue::bench::plain_inserts(&work, callers, per).map_err(fail)?);
            rows.push(kiosk_queue::bench::queue_enqueues(&work, callers, per).map_err(fail)?);
        }
        Ok(())
    };
    let r = run();
    let _ = std::fs::remove_dir_all(&work);
    r?;
    let out = BenchOutput { rows };
    emit(json, &out, || {
        let mut s = String::from(
            "configuration                        callers  records  seconds  per second\n",
        );
        for r in &out.rows {
            s.push_str(&format!(
                "{:<36} {:>7} {:>8} {:>8.2} {:>11.0}\n",
                r.what, r.callers, r.records, r.seconds, r.per_second
            ));
        }
        s
    })
}
