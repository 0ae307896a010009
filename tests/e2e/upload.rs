//! Signed offline queue → uploader → reference receiver, all over loopback (queue notes §5.6,
//! §5.7, §5.11). The receiver is the real `kiosk-backoffice` binary; every test that involves
//! it runs twice, on a SQLite database (`on_sqlite::…`) and on a throwaway PostgreSQL cluster
//! (`on_postgres::…`, see `kiosk_tests::postgres`). The terminal side is a real
//! `kiosk_queue::Queue`; faults come from a small HTTP proxy.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiosk_backoffice::{StoredStatus, open as open_store};
use kiosk_queue::protocol::{IDEMPOTENCY_HEADER, UploadRequest, UploadResponse};
use kiosk_queue::record::{SignedRecord, WireRecord};
use kiosk_queue::{Queue, QueueConfig};
use kiosk_tests::postgres::Postgres;
use kiosk_tests::{binary, kioskctl, temp_dir};
use kiosk_uploader::{Config, Uploader};

/// Where the receiver under test keeps its records.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Store {
    Sqlite,
    Postgres,
}

/// Runs each named test against the receiver on SQLite and on PostgreSQL.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $name() { super::$name(super::Store::Sqlite) } )*
        }
        mod on_postgres {
            $( #[test] fn $name() { super::$name(super::Store::Postgres) } )*
        }
    };
}

on_both_stores!(
    enqueue_sync_until_empty_stores_each_record_once_in_order,
    faults_on_the_way_never_lose_or_double_a_record,
    background_task_uploads_new_records_and_stops_on_shutdown,
    a_refused_record_is_quarantined_and_the_rest_flow_on,
    a_4xx_for_a_whole_batch_is_narrowed_to_the_one_record,
    tampered_records_are_refused_with_the_precise_reason,
    a_rolled_back_terminal_database_is_detected_by_its_checkpoint,
);

/// A running `kiosk-backoffice serve`, killed on drop.
pub(crate) struct Receiver {
    child: Child,
    addr: SocketAddr,
    db_url: String,
    /// Keeps the shared PostgreSQL cluster up while this receiver uses it.
    _pg: Option<Arc<Postgres>>,
}

impl Receiver {
    /// `None` (the test is skipped, with a message) when the store is PostgreSQL and it is not
    /// installed outside CI; under CI that panics instead (`kiosk_tests::postgres`).
    pub(crate) fn start(store: Store, dir: &Path, extra: &[&str]) -> Option<Receiver> {
        let (db_url, pg) = match store {
            Store::Sqlite => (
                format!("sqlite:{}", dir.join("receiver.db").display()),
                None,
            ),
            Store::Postgres => {
                let pg = Postgres::shared()?;
                (pg.create_db("receiver"), Some(pg))
            }
        };
        let mut child = Command::new(binary("kiosk-backoffice"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db", &db_url])
            .args(extra)
            .env("KIOSK_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start kiosk-backoffice");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Some(Receiver {
            child,
            addr,
            db_url,
            _pg: pg,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn db_url(&self) -> &str {
        &self.db_url
    }

    pub(crate) fn enroll(&self, queue: &Queue) {
        let out = Command::new(binary("kiosk-backoffice"))
            .args([
                "enroll",
                "--db",
                self.db_url(),
                "--terminal",
                queue.terminal(),
            ])
            .args(["--public-key", &queue.genesis_key().unwrap().to_hex()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "enroll: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// (seq, hash, status) of every stored record of `terminal`.
    pub(crate) fn stored(&self, terminal: &str) -> Vec<(u64, [u8; 32], StoredStatus)> {
        let mut s = open_store(self.db_url()).unwrap();
        s.records(terminal)
            .unwrap()
            .into_iter()
            .map(|r| (r.seq, r.hash, r.status))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn queue_in(dir: &Path, terminal: &str) -> Arc<Queue> {
    let mut cfg = QueueConfig::new(dir.join(format!("{terminal}.db")));
    cfg.terminal = Some(terminal.to_string());
    cfg.key_path = Some(dir.join(format!("{terminal}.key")));
    Arc::new(Queue::open(cfg).expect("open queue"))
}

fn fill(q: &Queue, kind: &str, from: u64, to: u64) {
    for i in from..=to {
        q.enqueue(
            kind,
            &serde_json::json!({ "item": format!("39000{i:08}"), "n": i }),
        )
        .unwrap();
    }
}

fn config(url: String) -> Config {
    let mut c = Config::new(url);
    c.max_batch_records = 7;
    c.request_timeout = Duration::from_millis(1500);
    c.backoff_base = Duration::from_millis(20);
    c.backoff_cap = Duration::from_millis(200);
    c.idle_poll = Duration::from_millis(50);
    c
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The receiver holds exactly seqs 1..=n of the queue, each with the queue's own hash.
pub(crate) fn assert_held_exactly_once(rx: &Receiver, q: &Queue, n: u64) {
    let local = q.export(1).unwrap();
    let stored = rx.stored(q.terminal());
    assert_eq!(stored.len() as u64, n, "stored count");
    for (i, (seq, hash, _)) in stored.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1, "in order, no gaps, no doubles");
        assert_eq!(*hash, local[i].hash, "seq {seq} is the terminal's record");
    }
}

fn enqueue_sync_until_empty_stores_each_record_once_in_order(store: Store) {
    let dir = temp_dir();
    let Some(rx) = Receiver::start(store, dir.path(), &[]) else {
        return;
    };
    let q = queue_in(dir.path(), "T-E2E-1");
    rx.enroll(&q);
    fill(&q, "library.checkout", 1, 30);
    // A key rotation in the middle: the receiver must follow it.
    q.rotate_key().unwrap();
    fill(&q, "library.return", 32, 45);
    let total = q.stats().unwrap().head_seq;
    assert_eq!(total, 45);
    drop(q);

    let db = dir.path().join("T-E2E-1.db");
    let out = kioskctl(&[
        "sync",
        "--db",
        db.to_str().unwrap(),
        "--to",
        &rx.url(),
        "--until-empty",
        "--batch",
        "10",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["accepted"], 45);
    assert_eq!(report["pending"], 0);
    assert_eq!(report["receiver_high_water"], 45);

    // A second run finds nothing to send.
    let out = kioskctl(&[
        "sync",
        "--db",
        db.to_str().unwrap(),
        "--to",
        &rx.url(),
        "--json",
    ]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["batches"], 0);

    let q = queue_in(dir.path(), "T-E2E-1");
    assert_held_exactly_once(&rx, &q, 45);
    assert_eq!(q.stats().unwrap().acknowledged, 45);
}

#[test]
fn sync_cli_reports_bad_arguments_and_an_unreachable_receiver() {
    let dir = temp_dir();
    let q = queue_in(dir.path(), "T-E2E-CLI");
    fill(&q, "library.checkout", 1, 2);
    drop(q);
    let db = dir.path().join("T-E2E-CLI.db");
    let out = kioskctl(&["sync", "--db", db.to_str().unwrap(), "--to", "ftp://x"]);
    assert_eq!(out.status.code(), Some(2));
    // Nothing listens on this port: the drain gives up after the failure budget, nothing is
    // marked sent.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = kioskctl(&[
        "sync",
        "--db",
        db.to_str().unwrap(),
        "--to",
        &format!("http://{closed}"),
        "--until-empty",
        "--max-failures",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pending"], 2);
    assert_eq!(report["accepted"], 0);
}

/// The technician's view through `kioskctl`: backlog size and oldest age, `outbox sync`, a
/// refused record in quarantine and back to pending, the key for enrolment, and both benches
/// in miniature (so the commands BENCHMARKS.md names keep working).
#[test]
fn outbox_cli_shows_backlog_quarantine_retry_and_benches() {
    let dir = temp_dir();
    let Some(rx) = Receiver::start(Store::Sqlite, dir.path(), &["--accept-kinds", "library."])
    else {
        return;
    };
    let q = queue_in(dir.path(), "T-E2E-OUTBOX");
    rx.enroll(&q);
    fill(&q, "library.checkout", 1, 3);
    fill(&q, "vending.sale", 4, 4);
    drop(q);
    let db = dir.path().join("T-E2E-OUTBOX.db");
    let key = dir.path().join("T-E2E-OUTBOX.key");
    let (db, key) = (db.to_str().unwrap(), key.to_str().unwrap());
    let json = |args: &[&str]| -> serde_json::Value {
        let out = kioskctl(args);
        assert!(
            out.status.success(),
            "kioskctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let stats = || json(&["outbox", "stats", "--db", db, "--key", key, "--json"]);

    let s = stats();
    assert_eq!(
        (s["pending"].as_u64(), s["head_seq"].as_u64()),
        (Some(4), Some(4))
    );
    assert!(s["oldest_pending_age_secs"].as_u64().unwrap() < 600, "{s}");

    let url = rx.url();
    let sync = ["outbox", "sync", "--db", db, "--key", key, "--to", &url];
    let report = json(&[&sync[..], &["--until-empty", "--json"]].concat());
    assert_eq!(report["accepted"], 3, "{report}");
    assert_eq!(report["quarantined"], 1, "{report}");
    assert_eq!(report["pending"], 0, "{report}");

    let list = json(&["outbox", "quarantined", "--db", db, "--key", key, "--json"]);
    assert_eq!(list[0]["seq"], 4, "{list}");
    assert!(
        list[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unsupported_kind")
    );
    let s = stats();
    assert_eq!(
        (
            s["pending"].as_u64(),
            s["acknowledged"].as_u64(),
            s["quarantined"].as_u64()
        ),
        (Some(0), Some(3), Some(1))
    );
    assert!(s["oldest_pending_age_secs"].is_null(), "{s}");

    let retried = json(&[
        "outbox",
        "retry-quarantined",
        "--db",
        db,
        "--key",
        key,
        "--json",
    ]);
    assert_eq!(retried["retried"], 1);
    let s = stats();
    assert_eq!(
        (s["pending"].as_u64(), s["quarantined"].as_u64()),
        (Some(1), Some(0))
    );
    assert!(s["oldest_pending_age_secs"].is_u64(), "{s}");

    let k = json(&["keys", "show", "--db", db, "--key", key, "--json"]);
    assert_eq!(k["terminal"], "T-E2E-OUTBOX");
    assert_eq!(k["public_key"].as_str().unwrap().len(), 64);
    assert_eq!(k["public_key"], k["genesis_key"]);

    let bench_dir = dir.path().join("bench");
    std::fs::create_dir(&bench_dir).unwrap();
    let bench_dir = bench_dir.to_str().unwrap();
    let enqueue = json(&[
        "outbox",
        "bench",
        "--dir",
        bench_dir,
        "--records",
        "32",
        "--json",
    ]);
    let rows = enqueue["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{enqueue}");
    assert!(rows.iter().all(|r| r["per_second"].as_f64().unwrap() > 0.0));
    let drain = json(&[
        "sync",
        "bench",
        "--records",
        "300",
        "--batch",
        "50",
        "--dir",
        bench_dir,
        "--json",
    ]);
    assert_eq!(drain["receiver_high_water"], 300, "{drain}");
    assert!(drain["records_per_sec"].as_f64().unwrap() > 0.0);
    assert!(drain["uploader_vm_hwm_kib"].as_u64().unwrap() > 0);
    assert!(drain["receiver_vm_hwm_kib"].as_u64().unwrap() > 0);
}

// ---------------------------------------------------------------------------------------
// Fault-injecting HTTP proxy

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Forward and relay the answer.
    Pass,
    /// Answer 500 without forwarding.
    Error500,
    /// Answer 503 with `Retry-After: 1` without forwarding.
    Unavailable,
    /// Read the request and never answer (the client times out).
    Hang,
    /// Close the connection with the request body unread (the kernel sends RST).
    Reset,
    /// Forward, let the receiver commit, then drop the answer.
    DropAnswer,
    /// Answer 422 if the request carries this seq, else forward.
    Refuse422(u64),
}

struct Proxy {
    addr: SocketAddr,
    script: Arc<Mutex<Vec<Fault>>>,
    forwarded: Arc<AtomicUsize>,
    seen: Arc<AtomicUsize>,
}

impl Proxy {
    /// Faults are applied to successive requests in order; then `after` applies.
    fn start(upstream: SocketAddr, script: Vec<Fault>, after: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut s = script;
        s.reverse();
        let script = Arc::new(Mutex::new(s));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(0));
        let (sc, fw, se) = (script.clone(), forwarded.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (sc, fw, se) = (sc.clone(), fw.clone(), se.clone());
                std::thread::spawn(move || serve_conn(conn, upstream, &sc, after, &fw, &se));
            }
        });
        Proxy {
            addr,
            script,
            forwarded,
            seen,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn remaining(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

/// Reads one HTTP/1.1 message head; `None` at a clean end of stream.
fn read_head(r: &mut BufReader<TcpStream>) -> Option<(String, usize)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    Some((head, len))
}

fn answer(conn: &mut TcpStream, status: &str, extra: &str) {
    let body = r#"{"error":"injected","detail":"fault proxy"}"#;
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    );
}

fn forward(upstream: SocketAddr, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).ok()?;
    up.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let head = head.trim_end_matches("\r\n");
    write!(up, "{head}\r\nconnection: close\r\n\r\n").ok()?;
    up.write_all(body).ok()?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).ok()?;
    Some(resp)
}

fn serve_conn(
    conn: TcpStream,
    upstream: SocketAddr,
    script: &Mutex<Vec<Fault>>,
    after: Fault,
    forwarded: &AtomicUsize,
    seen: &AtomicUsize,
) {
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some((head, len)) = read_head(&mut r) {
        seen.fetch_add(1, Ordering::SeqCst);
        let fault = script.lock().unwrap().pop().unwrap_or(after);
        if fault == Fault::Reset {
            // Unread body in the receive buffer: close() sends RST.
            drop(r);
            drop(out);
            return;
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let fault = match fault {
            Fault::Refuse422(seq) => {
                let req: UploadRequest = serde_json::from_slice(&body).unwrap();
                if req.records.iter().any(|w| w.seq == seq) {
                    answer(&mut out, "422 Unprocessable Entity", "");
                    continue;
                }
                Fault::Pass
            }
            f => f,
        };
        match fault {
            Fault::Error500 => answer(&mut out, "500 Internal Server Error", ""),
            Fault::Unavailable => answer(&mut out, "503 Service Unavailable", "retry-after: 1\r\n"),
            Fault::Hang => {
                std::thread::sleep(Duration::from_millis(2500));
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Fault::DropAnswer => {
                forward(upstream, &head, &body);
                forwarded.fetch_add(1, Ordering::SeqCst);
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            _ => {
                let Some(resp) = forward(upstream, &head, &body) else {
                    return;
                };
                forwarded.fetch_add(1, Ordering::SeqCst);
                // The upstream answer ends with the connection (we asked for close); relay it
                // and close too, the client opens a new connection for the next request.
                let _ = out.write_all(&resp);
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

fn faults_on_the_way_never_lose_or_double_a_record(store: Store) {
    let dir = temp_dir();
    let Some(rx) = Receiver::start(store, dir.path(), &[]) else {
        return;
    };
    let q = queue_in(dir.path(), "T-E2E-FAULT");
    rx.enroll(&q);
    fill(&q, "library.checkout", 1, 40);
    use Fault::*;
    let script = vec![
        Error500,
        Pass,
        Hang,
        DropAnswer,
        Reset,
        Pass,
        DropAnswer,
        Unavailable,
        DropAnswer,
        Pass,
        Error500,
        DropAnswer,
    ];
    let proxy = Proxy::start(rx.addr, script, Pass);
    let status = rt().block_on(async {
        let mut up = Uploader::new(q.clone(), config(proxy.url())).unwrap();
        up.drain(Some(20)).await
    });
    let status = status.expect("drain despite faults");
    assert_eq!(proxy.remaining(), 0, "every fault was exercised");
    assert!(status.retries >= 7, "retries: {}", status.retries);
    // Each record was marked sent exactly once, although some answers were lost after the
    // receiver committed (those came back as duplicates or as the replayed batch answer).
    assert_eq!(status.accepted + status.duplicates, 40);
    assert_eq!(status.backlog.pending, 0);
    assert_held_exactly_once(&rx, &q, 40);
    assert!(proxy.forwarded.load(Ordering::SeqCst) < proxy.seen.load(Ordering::SeqCst));
}

fn background_task_uploads_new_records_and_stops_on_shutdown(store: Store) {
    let dir = temp_dir();
    let Some(rx) = Receiver::start(store, dir.path(), &[]) else {
        return;
    };
    let q = queue_in(dir.path(), "T-E2E-RUN");
    rx.enroll(&q);
    let rt = rt();
    let up = Uploader::new(q.clone(), config(rx.url())).unwrap();
    let status = up.status();
    let wake = up.waker();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(up.run(async {
        let _ = stop_rx.await;
    }));
    for round in 0..3u64 {
        fill(&q, "library.checkout", round * 5 + 1, round * 5 + 5);
        wake.notify_one();
    }
    let mut status = status;
    let done = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if status.borrow().accepted >= 15 {
                    return;
                }
                status.changed().await.unwrap();
            }
        })
        .await
    });
    assert!(done.is_ok(), "background upload did not finish");
    stop_tx.send(()).unwrap();
    let final_status = rt.block_on(task).unwrap();
    assert_eq!(final_status.backlog.pending, 0);
    assert_held_exactly_once(&rx, &q, 15);
}

fn a_refused_record_is_quarantined_and_the_rest_flow_on(store: Store) {
    let dir = temp_dir();
    let Some(rx) = Receiver::start(store, dir.path(), &["--accept-kinds", "library."]) else {
        return;
    };
    let q = queue_in(dir.path(), "T-E2E-POISON");
    rx.enroll(&q);
    fill(&q, "library.checkout", 1, 4);
    fill(&q, "vending.sale", 5, 5); // this back office does not handle vending
    fill(&q, "library.return", 6, 12);
    let status = rt()
        .block_on(async {
            let mut up = Uploader::new(q.clone(), config(rx.url())).unwrap();
            up.drain(Some(3)).await
        })
        .unwrap();
    assert_eq!(status.accepted, 11);
    assert_eq!(status.quarantined, 1);
    let quarantined = q.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].seq, 5);
    assert!(quarantined[0].reason.contains("unsupported_kind"));
    // The receiver kept the refused record (audit) and moved past it.
    let stored = rx.stored(q.terminal());
    assert_eq!(stored.len(), 12);
    assert_eq!(stored[4].2, StoredStatus::Refused);
    assert_eq!(q.stats().unwrap().pending, 0);
}

fn a_4xx_for_a_whole_batch_is_narrowed_to_the_one_record(store: Store) {
    let dir = temp_dir();
    let Some(rx) = Receiver::start(store, dir.path(), &[]) else {
        return;
    };
    let q = queue_in(dir.path(), "T-E2E-422");
    rx.enroll(&q);
    fill(&q, "library.checkout", 1, 6);
    let proxy = Proxy::start(rx.addr, vec![], Fault::Refuse422(3));
    let result = rt().block_on(async {
        let mut up = Uploader::new(q.clone(), config(proxy.url())).unwrap();
        up.drain(Some(2)).await
    });
    // 1 and 2 arrive, 3 alone is quarantined, 4.. wait for it (the receiver's chain needs 3):
    // the uploader reports that instead of skipping.
    assert!(result.is_err());
    let quarantined = q.quarantined().unwrap();
    assert_eq!(
        quarantined.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![3]
    );
    assert!(quarantined[0].reason.contains("422"));
    assert_eq!(rx.stored(q.terminal()).len(), 2);
    assert_eq!(q.stats().unwrap().pending, 3);
}

// ---------------------------------------------------------------------------------------
// Tampering, straight at the receiver

fn post(url: &str, req: &UploadRequest) -> (u16, Option<UploadResponse>) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let key = format!(
        "{}-{}",
        req.idempotency_key(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    // Run alone, this test has no Uploader to install the TLS provider reqwest needs.
    kiosk_uploader::install_crypto_provider();
    rt().block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{url}/v1/records"))
            .header(IDEMPOTENCY_HEADER, key)
            .json(req)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).ok())
    })
}

fn wire(recs: &[SignedRecord]) -> Vec<WireRecord> {
    recs.iter().map(|r| r.to_wire().unwrap()).collect()
}

fn request(terminal: &str, records: Vec<WireRecord>) -> UploadRequest {
    UploadRequest {
        terminal: terminal.to_string(),
        records,
        checkpoint: None,
    }
}

fn reasons(resp: &UploadResponse) -> Vec<(u64, String)> {
    resp.results
        .iter()
        .map(|r| {
            (
                r.seq,
                r.reason
                    .clone()
                    .unwrap_or_else(|| format!("{:?}", r.status).to_lowercase()),
            )
        })
        .collect()
}

fn tampered_records_are_refused_with_the_precise_reason(store: Store) {
    let dir = temp_dir();
    let Some(rx) = Receiver::start(store, dir.path(), &[]) else {
        return;
    };
    let q = queue_in(dir.path(), "T-E2E-TAMPER");
    rx.enroll(&q);
    fill(&q, "library.checkout", 1, 6);
    let recs = q.export(1).unwrap();
    let t = q.terminal().to_string();

    // Reordered pair: 2 before 1 → reordered, and the rest of the request with it.
    let (code, resp) = post(
        &rx.url(),
        &request(&t, wire(&[recs[1].clone(), recs[0].clone()])),
    );
    assert_eq!(code, 200);
    assert_eq!(
        reasons(&resp.unwrap()),
        vec![(2, "reordered".into()), (1, "reordered".into())]
    );
    assert!(rx.stored(&t).is_empty());

    // In order: accepted.
    let (_, resp) = post(&rx.url(), &request(&t, wire(&recs[..2])));
    assert_eq!(
        reasons(&resp.unwrap()),
        vec![(1, "accepted".into()), (2, "accepted".into())]
    );

    // Dropped record: 3 missing → gap.
    let (_, resp) = post(&rx.url(), &request(&t, wire(&recs[3..4])));
    assert_eq!(reasons(&resp.unwrap()), vec![(4, "sequence_gap".into())]);

    // Changed byte: one byte of the signed body (inside wall_ms) flipped.
    let mut changed = recs[2].clone();
    let at = 16 + 2 + t.len() + 8 + 7;
    changed.body[at] ^= 0x01;
    let (_, resp) = post(&rx.url(), &request(&t, wire(&[changed])));
    assert_eq!(reasons(&resp.unwrap()), vec![(3, "bad_signature".into())]);

    // Stated hash that is not the body's.
    let mut rehashed = recs[2].clone();
    rehashed.hash[0] ^= 0xff;
    let (_, resp) = post(&rx.url(), &request(&t, wire(&[rehashed])));
    assert_eq!(reasons(&resp.unwrap()), vec![(3, "hash_mismatch".into())]);

    // JSON members that disagree with the signed bytes.
    let mut lying = wire(&recs[2..3]);
    lying[0].payload = serde_json::json!({"item": "forged"});
    let (_, resp) = post(&rx.url(), &request(&t, lying));
    assert_eq!(reasons(&resp.unwrap()), vec![(3, "malformed".into())]);

    // Signed by another key: a second terminal database under the same id.
    let other_dir = temp_dir();
    let impostor = queue_in(other_dir.path(), "T-E2E-TAMPER");
    fill(&impostor, "library.checkout", 1, 3);
    let forged = impostor.export(3).unwrap();
    let (_, resp) = post(&rx.url(), &request(&t, wire(&forged)));
    assert_eq!(reasons(&resp.unwrap()), vec![(3, "unknown_key".into())]);

    // Nothing above moved the receiver.
    assert_eq!(rx.stored(&t).len(), 2);

    // The real 3..6, then a replay of an old record: acknowledged as duplicate, no effect.
    let (_, resp) = post(&rx.url(), &request(&t, wire(&recs[2..])));
    assert!(resp.unwrap().results.iter().all(|r| r.seq >= 3));
    let (_, resp) = post(&rx.url(), &request(&t, wire(&recs[1..2])));
    assert_eq!(reasons(&resp.unwrap()), vec![(2, "duplicate".into())]);
    assert_held_exactly_once(&rx, &q, 6);

    // A different record under a stored seq (cloned terminal or edited DB): fork, and the
    // terminal is blocked for staff.
    let fork = impostor.export(2).unwrap();
    let (_, resp) = post(&rx.url(), &request(&t, wire(&fork[..1])));
    assert_eq!(reasons(&resp.unwrap()), vec![(2, "fork".into())]);
    let (code, _) = post(&rx.url(), &request(&t, wire(&recs[5..6])));
    assert_eq!(code, 403);
    assert_held_exactly_once(&rx, &q, 6);
}

fn a_rolled_back_terminal_database_is_detected_by_its_checkpoint(store: Store) {
    let dir = temp_dir();
    let Some(rx) = Receiver::start(store, dir.path(), &[]) else {
        return;
    };
    let q = queue_in(dir.path(), "T-E2E-ROLLBACK");
    rx.enroll(&q);
    fill(&q, "library.checkout", 1, 3);
    let old_cp = q.checkpoint_now().unwrap();
    fill(&q, "library.checkout", 4, 6);
    let new_cp = q.checkpoint_now().unwrap();
    let recs = q.export(1).unwrap();
    let t = q.terminal().to_string();
    let mut req = request(&t, wire(&recs));
    req.checkpoint = Some(new_cp.to_wire().unwrap());
    let (code, _) = post(&rx.url(), &req);
    assert_eq!(code, 200);
    // The same terminal later shows an older checkpoint: its database went back in time.
    let mut req = request(&t, wire(&recs[..3]));
    req.checkpoint = Some(old_cp.to_wire().unwrap());
    let (code, resp) = post(&rx.url(), &req);
    assert_eq!(code, 200);
    assert!(
        resp.unwrap()
            .results
            .iter()
            .all(|r| r.status == kiosk_queue::protocol::RecordStatus::Duplicate)
    );
    let (code, _) = post(&rx.url(), &request(&t, wire(&recs[5..])));
    assert_eq!(code, 403, "terminal blocked after rollback evidence");
    let mut s = open_store(rx.db_url()).unwrap();
    let alerts = s.alerts(&t).unwrap();
    assert!(alerts.iter().any(|a| a.kind == "rollback"), "{alerts:?}");
}
