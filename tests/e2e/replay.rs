//! Offline replay end to end (issue 5): books borrowed through the real flow while the pysip2
//! toy library is down go to the signed queue; when a library is back, `kiosk_flows::replay`
//! (and `kioskctl library replay`) sends them with their original dates, keeps the refusals for
//! staff, sends nothing twice, and survives a crash between the ILS's answer and its own row.

use std::time::Duration;

use kiosk_devices::rfid::{HfReader, RfidOptions};
use kiosk_flows::replay::{KIND_CHECKIN, KIND_CHECKOUT, ReplayStore, Replayer, Status, Stop};
use kiosk_flows::run::{OfflineStore, Peers, QueueOffline, Sip2Library};
use kiosk_flows::stack::LineStatus;
use kiosk_flows::{
    BorrowFlow, OfflineKind, OfflineLedger, OfflineMode, OfflinePolicy, StackSettings,
};
use kiosk_queue::{Queue, QueueConfig};
use kiosk_rfid::tagdata::SetInfo;
use kiosk_rfid::{ReaderKind, Uid};
use kiosk_sim::SerialSim;
use kiosk_sim::rfid::{RfidPad, RfidPadSim, library_tag};
use kiosk_sip2::{Client, TcpConnector, Timestamp};
use kiosk_tests::sip2_peer::Sip2Peer;
use kiosk_tests::{kioskctl, temp_dir};
use kiosk_transport::TransportSpec;

fn client(peer: &Sip2Peer) -> Client<TcpConnector> {
    Client::connect(TcpConnector::new(peer.addr()), crate::sip2::settings())
        .unwrap_or_else(|e| panic!("connect: {e}\npeer log:\n{}", peer.log()))
}

fn pad_reader(pad: &RfidPad) -> (SerialSim, HfReader) {
    let kind = ReaderKind::Feig;
    let sim = SerialSim::start(RfidPadSim::new(kind, pad.clone()), None).unwrap();
    let spec = TransportSpec::Serial {
        path: sim.path().display().to_string(),
        baud: kind.protocol().serial().baud,
    };
    let opts = RfidOptions {
        timeout: Duration::from_millis(300),
        ..RfidOptions::default()
    };
    (sim, HfReader::open(&spec, kind, opts).unwrap())
}

fn book(n: u8, item: &str) -> kiosk_sim::rfid::SimTag {
    let uid = Uid([0xE0, 0x04, 0x01, 0x50, 0x00, 0x00, 0x02, n]);
    let one = SetInfo { part: 1, total: 1 };
    library_tag(uid, n.into(), item, Some("CN-TEST"), one, 1, 0x07)
}

/// The toy library's due date for a loan taken at `at` (loan_days 28, 23:59): its date part.
fn due_day(at: &str) -> String {
    Timestamp::parse(at).unwrap().plus_days(28).to_sip2()[..8].to_string()
}

/// Items the toy library has out to `patron` (63 with the charged-items summary).
fn charged(c: &mut Client<TcpConnector>, patron: &str) -> Vec<String> {
    let mut items = c
        .patron_information(patron, None, Some(2))
        .expect("patron information")
        .charged_items;
    items.sort();
    items
}

fn payload_at(queue: &Queue, seq: u64) -> String {
    let rec = &queue.export(seq).unwrap()[0];
    let body = rec.decode_body().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body.payload).unwrap();
    v["at"].as_str().unwrap().to_string()
}

fn sip2_args(addr: &str) -> Vec<String> {
    [
        "--ils",
        addr,
        "--user",
        "kiosk",
        "--password",
        "secret",
        "--institution",
        "CN-TEST",
        "--location",
        "LOBBY-1",
        "--timeout",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn ctl(args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kioskctl(&args)
}

#[test]
fn offline_loans_and_returns_reach_pysip2_with_their_original_dates_once() {
    let mut down = Sip2Peer::start(&[]);
    let pad = RfidPad::new(vec![book(1, "B001"), book(2, "B002")]);
    let (_sim, mut reader) = pad_reader(&pad);
    let mut lib = Sip2Library::new(client(&down));
    let patron = lib.sign_in("P001", Some("1234")).expect("sign in");
    // The library system goes away after the sign-in.
    down.kill();

    let dir = temp_dir();
    let db = dir.path().join("queue.db");
    let queue = Queue::open(QueueConfig::new(&db)).expect("queue");
    let settings = StackSettings {
        offline: OfflinePolicy {
            mode: OfflineMode::ReturnAndBorrow,
            max_loans_per_patron: 3,
            max_loans_per_terminal: 20,
            due_date: "2026-12-16".into(),
        },
        ..StackSettings::default()
    };
    let mut flow = BorrowFlow::new(Some(patron.id.clone()), settings);
    let mut ledger = OfflineLedger::default();
    let mut offline = QueueOffline { queue: &queue };
    {
        let mut peers = Peers {
            pad: &mut reader,
            library: &mut lib,
            offline: &mut offline,
            ledger: &mut ledger,
        };
        for _ in 0..5 {
            kiosk_flows::run::round(&mut flow, Some(&patron), &mut peers).expect("pad round");
            if flow.is_settled() {
                break;
            }
        }
    }
    let offline_lines: Vec<_> = flow
        .lines()
        .filter(|l| l.offline && matches!(l.status, LineStatus::Done(_)))
        .map(|l| l.item_id.clone())
        .collect();
    assert_eq!(offline_lines, ["B001", "B002"], "both borrowed offline");
    // An offline return of B005 (out to P001 in the fixture), a loan of an item the library
    // does not know, a loan and the later return of the same book (order per item), and a
    // loan taken days ago (its original date must reach the library).
    offline
        .record(OfflineKind::Checkin, None, "B005", None)
        .unwrap(); // 3
    offline
        .record(
            OfflineKind::Checkout,
            Some(&patron),
            "B999",
            Some("2026-12-16"),
        )
        .unwrap(); // 4
    offline
        .record(
            OfflineKind::Checkout,
            Some(&patron),
            "B007",
            Some("2026-12-16"),
        )
        .unwrap(); // 5
    offline
        .record(OfflineKind::Checkin, None, "B007", None)
        .unwrap(); // 6
    let old_at = "20260110   Z093000";
    queue
        .enqueue(
            KIND_CHECKOUT,
            &serde_json::json!({"item": "B006", "patron": "P001", "at": old_at,
                                "due": "2026-02-07"}),
        )
        .unwrap(); // 7
    assert_eq!(queue.stats().unwrap().head_seq, 7);

    // Still offline: the round stops at the first record, nothing is marked.
    let out = ctl(&[
        ["library", "replay", "--db", db.to_str().unwrap()]
            .map(String::from)
            .to_vec(),
        sip2_args(&down.addr()),
    ]
    .concat());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let progress = ReplayStore::beside(&db);
    assert_eq!(
        ReplayStore::open(&progress)
            .unwrap()
            .resume_after()
            .unwrap(),
        0
    );

    // A library is back (the toy library starts again from its fixture).
    let peer = Sip2Peer::start(&[]);
    let mut c = client(&peer);
    let mut replayer = Replayer::new(&queue, ReplayStore::open(&progress).unwrap());
    let round = replayer.round(&mut c).expect("round");
    assert_eq!(round.stopped, None, "{round:?}\n{}", peer.log());
    assert_eq!(round.done, [1, 2, 3, 5, 6, 7], "{round:?}");
    assert_eq!(round.failed, [4]);

    // The library has the books out to the patron, dated from the offline transactions.
    assert_eq!(charged(&mut c, "P001"), ["B001", "B002", "B006"]);
    for (item, seq) in [("B001", 1), ("B002", 2)] {
        let info = c.item_information(item).unwrap();
        assert_eq!(info.circulation_status, "04", "{item} charged");
        let due = info.due_date.unwrap_or_default();
        assert!(
            due.starts_with(&due_day(&payload_at(&queue, seq))),
            "{item}: {due}"
        );
    }
    let b006 = c.item_information("B006").unwrap();
    assert_eq!(
        b006.due_date.as_deref(),
        Some("20260207    235900"),
        "due from the original date {old_at}, not from today"
    );
    // Returned offline: in again, the loan-then-return of B007 kept its order.
    for item in ["B005", "B007"] {
        assert_eq!(c.item_information(item).unwrap().circulation_status, "03");
    }

    // The unknown item is kept for staff with the library's reason.
    let failures = replayer.store().failures().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].seq, 4);
    assert_eq!(failures[0].item, "B999");
    assert_eq!(failures[0].status, Status::Failed);
    assert_eq!(failures[0].message, "Item not found");
    assert_eq!(replayer.store().get(3).unwrap().unwrap().kind, KIND_CHECKIN);

    // A second round sends nothing.
    let again = replayer.round(&mut c).expect("second round");
    assert_eq!((again.sent(), again.stopped), (0, None));
    drop(replayer);

    // kioskctl sees the same: nothing left to send, the failure listed (patron masked).
    let out = ctl(&[
        ["library", "replay", "--json", "--db", db.to_str().unwrap()]
            .map(String::from)
            .to_vec(),
        sip2_args(&peer.addr()),
    ]
    .concat());
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["done"], serde_json::json!([]));
    assert_eq!(v["waiting"], 0);
    let out = kioskctl(&[
        "library",
        "failures",
        "--json",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().expect("a list");
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(rows[0]["seq"], 4);
    assert_eq!(rows[0]["item"], "B999");
    assert_eq!(rows[0]["kind"], KIND_CHECKOUT);
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(rows[0]["message"], "Item not found");
    assert_eq!(rows[0]["patron"], "****", "masked");

    // Staff settle it by hand; the list is empty then; a done record cannot be dismissed.
    let out = kioskctl(&[
        "library",
        "dismiss",
        "4",
        "--db",
        db.to_str().unwrap(),
        "--note",
        "wrong label, keyed in at the desk",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = kioskctl(&[
        "library",
        "failures",
        "--json",
        "--db",
        db.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!([]));
    let out = kioskctl(&["library", "retry", "1", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
}

#[test]
fn a_crash_between_the_answer_and_the_row_neither_loses_nor_doubles_a_loan() {
    let peer = Sip2Peer::start(&[]);
    let dir = temp_dir();
    let db = dir.path().join("queue.db");
    let queue = Queue::open(QueueConfig::new(&db)).expect("queue");
    let loan = |item: &str, at: &str| serde_json::json!({"item": item, "patron": "P001", "at": at, "due": "2026-02-14"});
    queue
        .enqueue(KIND_CHECKOUT, &loan("B001", "20260110   Z093000"))
        .unwrap(); // 1
    queue
        .enqueue(KIND_CHECKOUT, &loan("B002", "20260111   Z100000"))
        .unwrap(); // 2
    queue
        .enqueue(
            KIND_CHECKIN,
            &serde_json::json!({"item": "B005", "patron": null, "at": "20260112   Z110000",
                                "due": null}),
        )
        .unwrap(); // 3
    queue
        .enqueue(KIND_CHECKOUT, &loan("B006", "20260113   Z120000"))
        .unwrap(); // 4
    let progress = ReplayStore::beside(&db);
    let mut c = client(&peer);

    // A round limited to one record.
    let mut r = Replayer::new(&queue, ReplayStore::open(&progress).unwrap()).with_limit(1);
    let round = r.round(&mut c).unwrap();
    assert_eq!(
        (round.done.as_slice(), round.stopped),
        (&[1][..], Some(Stop::Limit))
    );
    drop(r);

    // The ILS accepts seq 2, then the process "dies" before the row is written.
    let mut r = Replayer::new(&queue, ReplayStore::open(&progress).unwrap());
    r.crash_before_settling(2);
    let round = r.round(&mut c).unwrap();
    assert_eq!(round.stopped, Some(Stop::Crashed { seq: 2 }));
    assert!(round.done.is_empty());
    drop(r);
    assert_eq!(charged(&mut c, "P001"), ["B001", "B002", "B005"]);
    let due_before = c.item_information("B002").unwrap().due_date;
    assert_eq!(due_before.as_deref(), Some("20260208    235900"));

    // Restart: seq 2 is sent again (the duplicate), then the rest.
    let mut r = Replayer::new(&queue, ReplayStore::open(&progress).unwrap());
    let round = r.round(&mut c).unwrap();
    assert_eq!(
        (round.done.as_slice(), round.stopped),
        (&[2, 3, 4][..], None)
    );
    // Harmless at pysip2: the same loan, the same due date from the same original date.
    let dup = r.store().get(2).unwrap().unwrap();
    assert_eq!((dup.status, dup.attempts), (Status::Done, 1));
    assert_eq!(c.item_information("B002").unwrap().due_date, due_before);
    assert_eq!(charged(&mut c, "P001"), ["B001", "B002", "B006"]);
    let rows = r.store().all().unwrap();
    assert_eq!(
        rows.iter().map(|s| (s.seq, s.status)).collect::<Vec<_>>(),
        [
            (1, Status::Done),
            (2, Status::Done),
            (3, Status::Done),
            (4, Status::Done)
        ]
    );
    assert_eq!(r.round(&mut c).unwrap().sent(), 0, "nothing left");
}
