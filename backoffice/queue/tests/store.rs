//! The durable queue: group commit, states, limits, disk full, read-only, permissions,
//! rotation across reopen.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kiosk_queue::{
    KindLimit, LimitKind, OfflineLimits, Queue, QueueConfig, QueueError, UploadRequest,
    verify_chain,
};
use serde_json::json;

fn config(dir: &Path) -> QueueConfig {
    let mut c = QueueConfig::new(dir.join("state/queue.db"));
    c.terminal = Some("T-TEST".into());
    c.checkpoint_every = 10;
    c
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_start_creates_owner_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let q = Queue::open(cfg.clone()).unwrap();
    q.enqueue("loan", &json!({"item": "1"})).unwrap();
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&cfg.db_path), 0o600);
    assert_eq!(mode(&dir.path().join("state/queue.db-wal")), 0o600);
    assert_eq!(mode(&cfg.key_path()), 0o600);
    assert_eq!(mode(cfg.key_path().parent().unwrap()), 0o700);
    let key = q.public_key().unwrap();
    assert_eq!(q.genesis_key().unwrap(), key);
    assert_eq!(
        std::fs::read_to_string(cfg.key_path())
            .unwrap()
            .trim()
            .len(),
        64
    );
}

#[test]
fn enqueue_chain_and_states() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(config(dir.path())).unwrap();
    for i in 0..25 {
        let r = q.enqueue("loan", &json!({"item": i, "b": "x"})).unwrap();
        assert_eq!(r.seq, i + 1);
    }
    let report = q.verify_local().unwrap();
    assert_eq!(report.records, 25);
    let cp = q.latest_checkpoint().unwrap().unwrap();
    assert_eq!(cp.decode_body().unwrap().count, 20);

    let batch = q.pending_batch(10, 1 << 20).unwrap();
    assert_eq!(batch.records.len(), 10);
    let req = UploadRequest::from_batch(&batch).unwrap();
    assert_eq!(req.idempotency_key(), "T-TEST-1-10");
    assert_eq!(req.checkpoint.as_ref().unwrap().count, 20);
    // Byte cap: always at least one record.
    assert_eq!(q.pending_batch(10, 1).unwrap().records.len(), 1);

    assert_eq!(q.mark_acknowledged(&[1, 2, 3]).unwrap(), 3);
    assert_eq!(q.mark_acknowledged(&[3]).unwrap(), 0);
    q.quarantine(4, "unknown_item").unwrap();
    assert!(matches!(
        q.quarantine(99, "x"),
        Err(QueueError::NoSuchRecord(99))
    ));
    let s = q.stats().unwrap();
    assert_eq!((s.pending, s.acknowledged, s.quarantined), (21, 3, 1));
    assert_eq!(s.head_seq, 25);
    assert!(s.oldest_pending_age_secs.unwrap() < 60);
    assert_eq!(q.quarantined().unwrap()[0].reason, "unknown_item");
    assert_eq!(
        q.pending_batch(1, 1 << 20).unwrap().records[0]
            .decode_body()
            .unwrap()
            .seq,
        5
    );
    assert_eq!(q.retry_quarantined().unwrap(), 1);
    assert_eq!(
        q.pending_batch(1, 1 << 20).unwrap().records[0]
            .decode_body()
            .unwrap()
            .seq,
        4
    );

    let cp = q.checkpoint_now().unwrap().decode_body().unwrap();
    assert_eq!(cp.count, 25);
    q.verify_local().unwrap();
}

#[test]
fn concurrent_callers_share_commits_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(config(dir.path())).unwrap();
    let mut seqs: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..16)
            .map(|t| {
                let q = &q;
                s.spawn(move || {
                    (0..20)
                        .map(|i| q.enqueue("loan", &json!({"t": t, "i": i})).unwrap().seq)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    seqs.sort();
    assert_eq!(seqs, (1..=320).collect::<Vec<_>>());
    let records = q.export(1).unwrap();
    verify_chain(&q.genesis_key().unwrap(), &records).unwrap();
}

#[test]
fn two_handles_on_one_file_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let a = Queue::open(config(dir.path())).unwrap();
    let b = Queue::open(config(dir.path())).unwrap();
    for i in 0..10 {
        a.enqueue("loan", &json!({"i": i})).unwrap();
        b.enqueue("loan", &json!({"i": i})).unwrap();
    }
    assert_eq!(a.verify_local().unwrap().records, 20);
}

#[test]
fn payload_and_kind_rules() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(config(dir.path())).unwrap();
    assert!(matches!(
        q.enqueue("loan", &json!({"amount": 1.5})),
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        q.enqueue("Loan", &json!({})),
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        q.enqueue("kiosk.key_rotation", &json!({})),
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        q.enqueue_json("loan", "{nope"),
        Err(QueueError::Invalid(_))
    ));
    // Nothing was stored by the refusals.
    assert_eq!(q.stats().unwrap().head_seq, 0);
}

#[test]
fn offline_limits_refuse_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    let mut limits = OfflineLimits::default();
    limits.kinds.insert(
        "payment".into(),
        KindLimit {
            max_count: Some(3),
            max_total_value: Some(1000),
            max_record_value: Some(600),
            max_age_secs: None,
        },
    );
    limits.kinds.insert(
        "loan".into(),
        KindLimit {
            max_age_secs: Some(0),
            ..KindLimit::default()
        },
    );
    cfg.limits = limits;
    let q = Queue::open(cfg).unwrap();
    let refused = |r: Result<_, QueueError>| match r {
        Err(QueueError::OfflineLimit { limit, .. }) => limit,
        other => panic!("expected an offline limit, got {other:?}"),
    };
    assert_eq!(
        refused(q.enqueue("payment", &json!({"amount": 700}))),
        LimitKind::RecordValue
    );
    q.enqueue("payment", &json!({"amount": 500})).unwrap();
    q.enqueue("payment", &json!({"amount": 400})).unwrap();
    assert_eq!(
        refused(q.enqueue("payment", &json!({"amount": 200}))),
        LimitKind::TotalValue
    );
    q.enqueue("payment", &json!({"amount": 100})).unwrap();
    assert_eq!(
        refused(q.enqueue("payment", &json!({"amount": 0}))),
        LimitKind::Count
    );
    // Acknowledged records no longer count.
    q.mark_acknowledged(&[1, 2, 3]).unwrap();
    q.enqueue("payment", &json!({"amount": 600})).unwrap();
    // Age: a pending loan older than 0 s blocks new loans.
    q.enqueue("loan", &json!({})).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(refused(q.enqueue("loan", &json!({}))), LimitKind::Age);
    // Other kinds are unaffected; the chain has no holes from refusals.
    q.enqueue("return", &json!({})).unwrap();
    assert_eq!(q.verify_local().unwrap().records, 6);
}

#[test]
fn disk_full_refuses_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(config(dir.path())).unwrap();
    let mut acked = Vec::new();
    for i in 0..5 {
        acked.push(q.enqueue("loan", &json!({"i": i})).unwrap().seq);
    }
    let pages = q.page_count().unwrap();
    q.set_max_page_count(pages + 2).unwrap();
    let big = "x".repeat(3000);
    let mut err = None;
    for i in 0..50 {
        match q.enqueue("loan", &json!({"i": i, "pad": big})) {
            Ok(r) => acked.push(r.seq),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("the small page cap must fill up");
    assert_eq!(err, QueueError::DiskFull);
    assert!(err.to_string().contains("NOT stored"));
    // Everything acknowledged is still there and verifies.
    let records = q.export(1).unwrap();
    let seqs: Vec<u64> = records
        .iter()
        .map(|r| r.decode_body().unwrap().seq)
        .collect();
    assert_eq!(seqs, acked);
    q.verify_local().unwrap();
    // Space returns: enqueue resumes right after the last acknowledged seq.
    q.set_max_page_count(1 << 30).unwrap();
    let r = q.enqueue("loan", &json!({"pad": big})).unwrap();
    assert_eq!(r.seq, *acked.last().unwrap() + 1);
    q.verify_local().unwrap();
}

#[test]
fn read_only_database_refuses_writes_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    {
        let q = Queue::open(cfg.clone()).unwrap();
        q.enqueue("loan", &json!({"i": 1})).unwrap();
    }
    let mut ro = cfg.clone();
    ro.read_only = true;
    let q = Queue::open(ro).unwrap();
    assert_eq!(q.stats().unwrap().head_seq, 1);
    let e = q.enqueue("loan", &json!({"i": 2})).unwrap_err();
    assert!(matches!(e, QueueError::ReadOnly(_)), "{e:?}");
    assert!(matches!(
        q.mark_acknowledged(&[1]),
        Err(QueueError::ReadOnly(_))
    ));
    drop(q);
    let q = Queue::open(cfg).unwrap();
    assert_eq!(q.enqueue("loan", &json!({"i": 2})).unwrap().seq, 2);
}

#[test]
fn corrupt_file_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    std::fs::create_dir_all(cfg.db_path.parent().unwrap()).unwrap();
    std::fs::write(&cfg.db_path, vec![0x42u8; 8192]).unwrap();
    let e = Queue::open(cfg).err().expect("garbage is not a queue");
    assert!(matches!(e, QueueError::Corrupt(_)), "{e:?}");
}

#[test]
fn terminal_mismatch_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    drop(Queue::open(cfg.clone()).unwrap());
    let mut other = cfg;
    other.terminal = Some("T-OTHER".into());
    assert!(matches!(
        Queue::open(other),
        Err(QueueError::TerminalMismatch { .. })
    ));
}

#[test]
fn key_rotation_survives_reopen_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let genesis;
    let new_key;
    {
        let q = Queue::open(cfg.clone()).unwrap();
        genesis = q.public_key().unwrap();
        q.enqueue("loan", &json!({"i": 1})).unwrap();
        let (receipt, k) = q.rotate_key().unwrap();
        new_key = k;
        assert_eq!(receipt.seq, 2);
        assert_eq!(q.public_key().unwrap(), new_key);
        q.enqueue("loan", &json!({"i": 3})).unwrap();
    }
    assert_eq!(mode(&cfg.key_path()), 0o600);
    let q = Queue::open(cfg).unwrap();
    q.enqueue("loan", &json!({"i": 4})).unwrap();
    let records = q.export(1).unwrap();
    assert_eq!(records[3].decode_body().unwrap().signer, new_key);
    let report = verify_chain(&genesis, &records).unwrap();
    assert_eq!(
        (report.records, report.rotations, report.key),
        (4, 1, new_key)
    );
    q.checkpoint_now().unwrap();
    q.verify_local().unwrap();
}

#[test]
fn sqlite_is_new_enough() {
    assert!(rusqlite_version() >= 3_051_003);
}

fn rusqlite_version() -> i32 {
    // The store checks the same at open; this documents the bundled version in test output.
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(config(dir.path())).unwrap();
    let v = q.stats().unwrap().sqlite_version;
    let parts: Vec<i32> = v.split('.').map(|p| p.parse().unwrap()).collect();
    parts[0] * 1_000_000 + parts[1] * 1000 + parts[2]
}

#[test]
fn batches_are_bounded_by_count_and_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(config(dir.path())).unwrap();
    for i in 0..10 {
        q.enqueue("loan", &json!({"i": i, "pad": "x".repeat(500)}))
            .unwrap();
    }
    let one = {
        let r = &q.pending_batch(1, 1 << 20).unwrap().records[0];
        r.body.len() + r.sig.len()
    };
    // Room for three and a half records: three go, in seq order from the oldest.
    let batch = q.pending_batch(100, one * 7 / 2).unwrap();
    let seqs: Vec<u64> = batch
        .records
        .iter()
        .map(|r| r.decode_body().unwrap().seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert!(
        batch
            .records
            .iter()
            .map(|r| r.body.len() + 64)
            .sum::<usize>()
            <= one * 7 / 2
    );
    // The count bound wins when it is the tighter one.
    assert_eq!(q.pending_batch(2, 1 << 20).unwrap().records.len(), 2);
}
