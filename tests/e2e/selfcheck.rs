//! The book self-checkout end to end (issue 5): a stack of RFID-tagged books on the simulated
//! pad (real FEIG / RR3036 frames over a pty), the patron signed in with card number + PIN over
//! SIP2 to the real pysip2 server running the toy library, borrow and return through
//! `kiosk-flows`, and every tag's AFI checked on the pad afterwards. Offline, the loans go to the
//! real signed queue within the library's limits.

use std::time::Duration;

use kiosk_devices::rfid::{HfReader, RfidOptions};
use kiosk_flows::run::{
    Library, OfflineStore, Patron, Peers, QueueOffline, SignInError, Sip2Library,
};
use kiosk_flows::signin::{
    Credential, CredentialError, PatronToken, SeenTokens, SignInSettings, resolve,
};
use kiosk_flows::stack::LineStatus;
use kiosk_flows::{
    BorrowFlow, OfflineLedger, OfflineMode, OfflinePolicy, RefusalReason, ReturnFlow, StackSettings,
};
use kiosk_rfid::tagdata::SetInfo;
use kiosk_rfid::{ReaderKind, Uid};
use kiosk_sim::SerialSim;
use kiosk_sim::rfid::{RfidPad, RfidPadSim, SimTag, library_tag};
use kiosk_sip2::{Client, TcpConnector};
use kiosk_tests::sip2_peer::Sip2Peer;
use kiosk_tests::temp_dir;
use kiosk_transport::TransportSpec;

const IN: u8 = 0x07;
const OUT: u8 = 0xC2;

fn uid(n: u8) -> Uid {
    Uid([0xE0, 0x04, 0x01, 0x50, 0x00, 0x00, 0x01, n])
}

/// A book of the toy library (fixtures/sip2/library.json) as its tag holds it.
fn book(n: u8, item: &str, set: Option<(u8, u8)>) -> SimTag {
    let (part, total) = set.unwrap_or((1, 1));
    let set = SetInfo { part, total };
    library_tag(uid(n), n.into(), item, Some("CN-TEST"), set, 1, IN)
}

/// Ten tags: eight lendable books (B008 is a two-part set), B003 already out to another
/// patron, B004 on hold for another patron.
fn stack() -> RfidPad {
    RfidPad::new(vec![
        book(1, "B001", None),
        book(2, "B002", None),
        book(3, "B003", None),
        book(4, "B004", None),
        book(5, "B006", None),
        book(6, "B007", None),
        book(7, "B008", Some((1, 2))),
        book(8, "B008", Some((2, 2))),
        book(9, "B009", None),
        book(10, "B010", None),
    ])
}

fn library(peer: &Sip2Peer) -> Sip2Library<TcpConnector> {
    let client = Client::connect(TcpConnector::new(peer.addr()), crate::sip2::settings())
        .unwrap_or_else(|e| panic!("connect: {e}\npeer log:\n{}", peer.log()));
    Sip2Library::new(client)
}

fn pad_reader(kind: ReaderKind, pad: &RfidPad) -> (SerialSim, HfReader) {
    let sim = SerialSim::start(RfidPadSim::new(kind, pad.clone()), None).unwrap();
    let spec = TransportSpec::Serial {
        path: sim.path().display().to_string(),
        baud: kind.protocol().serial().baud,
    };
    let opts = RfidOptions {
        timeout: Duration::from_millis(300),
        ..RfidOptions::default()
    };
    let reader = HfReader::open(&spec, kind, opts).unwrap();
    (sim, reader)
}

fn afi(pad: &RfidPad, n: u8) -> u8 {
    pad.tag(uid(n)).expect("tag on the pad").afi
}

/// An offline store that must never be used (the library system is up).
struct NoOffline;
impl OfflineStore for NoOffline {
    fn record(
        &mut self,
        _: kiosk_flows::OfflineKind,
        _: Option<&Patron>,
        item: &str,
        _: Option<&str>,
    ) -> Result<(), String> {
        panic!("{item} recorded offline while the library system is up")
    }
}

fn run_until_settled<T: kiosk_flows::run::Ask>(
    flow: &mut kiosk_flows::StackFlow<T>,
    patron: Option<&Patron>,
    pad: &mut dyn kiosk_devices::RfidReader,
    library: &mut dyn Library,
    offline: &mut dyn OfflineStore,
    ledger: &mut OfflineLedger,
) {
    let mut peers = Peers {
        pad,
        library,
        offline,
        ledger,
    };
    for _ in 0..5 {
        kiosk_flows::run::round(flow, patron, &mut peers).expect("pad round");
        if flow.is_settled() {
            return;
        }
    }
    panic!("flow not settled: {:?}", flow.lines().collect::<Vec<_>>());
}

fn refused(status: &LineStatus<impl std::fmt::Debug>) -> Option<RefusalReason> {
    match status {
        LineStatus::Refused(r) => Some(r.reason),
        _ => None,
    }
}

#[test]
fn a_ten_book_stack_is_borrowed_and_returned_with_the_gate_state_read_back_both_protocols() {
    for kind in [ReaderKind::Feig, ReaderKind::Rr3036] {
        // A fresh library each time: the return below changes its state.
        let peer = Sip2Peer::start(&[]);
        let pad = stack();
        let (_sim, mut reader) = pad_reader(kind, &pad);
        let mut lib = library(&peer);

        // Card number + PIN: a wrong PIN is refused, the right one signs in.
        assert_eq!(
            lib.sign_in("P001", Some("9999")),
            Err(SignInError::WrongPin)
        );
        assert_eq!(
            lib.sign_in("P002", Some("0000"))
                .map(|_| ())
                .unwrap_err()
                .message_id(),
            RefusalReason::PatronBlocked.message_id(),
            "blocked patron"
        );
        let patron = lib.sign_in(" P001 ", Some("1234")).expect("P001 signs in");
        assert_eq!(patron.name.as_deref(), Some("张三"));

        let mut ledger = OfflineLedger::default();
        let mut flow = BorrowFlow::new(Some(patron.id.clone()), StackSettings::default());
        run_until_settled(
            &mut flow,
            Some(&patron),
            &mut reader,
            &mut lib,
            &mut NoOffline,
            &mut ledger,
        );
        let lines: Vec<_> = flow.lines().collect();
        assert_eq!(lines.len(), 9, "{kind}: nine items (one set of two tags)");
        for line in &lines {
            match line.item_id.as_str() {
                "B003" => assert_eq!(
                    refused(&line.status),
                    Some(RefusalReason::AlreadyOnLoan),
                    "{line:?}"
                ),
                "B004" => assert_eq!(
                    refused(&line.status),
                    Some(RefusalReason::OnHoldForAnother),
                    "{line:?}"
                ),
                _ => assert!(
                    matches!(&line.status, LineStatus::Done(l) if l.due.is_some()),
                    "{kind}: {line:?}"
                ),
            }
        }
        assert_eq!(flow.line("B001").unwrap().title.as_deref(), Some("三体"));
        // Every tag's AFI, read from the simulated tags themselves.
        for n in 1..=10u8 {
            let want = if n == 3 || n == 4 { IN } else { OUT };
            assert_eq!(afi(&pad, n), want, "{kind}: tag {n}");
        }

        // The same stack comes back: everything checked in and secured again.
        let mut back = ReturnFlow::new(None, StackSettings::default());
        run_until_settled(
            &mut back,
            None,
            &mut reader,
            &mut lib,
            &mut NoOffline,
            &mut ledger,
        );
        for n in 1..=10u8 {
            assert_eq!(afi(&pad, n), IN, "{kind}: tag {n} secured after the return");
        }
        let b004 = back.line("B004").unwrap();
        assert!(
            matches!(&b004.status, LineStatus::Done(c) if c.on_hold || c.alert),
            "the held book says so on return: {b004:?}"
        );
    }
}

#[test]
fn a_book_lifted_before_its_write_is_secured_when_put_back() {
    let peer = Sip2Peer::start(&[]);
    let pad = RfidPad::new(vec![book(1, "B001", None), book(2, "B002", None)]);
    let (_sim, mut reader) = pad_reader(ReaderKind::Feig, &pad);
    let mut lib = library(&peer);
    let patron = lib.sign_in("P001", Some("1234")).unwrap();
    let mut flow = BorrowFlow::new(Some(patron.id.clone()), StackSettings::default());
    let mut ledger = OfflineLedger::default();
    // The inventory sees both books; B002 is lifted before the library system answers.
    let tags = kiosk_devices::RfidReader::inventory(&mut reader).unwrap();
    let mut actions: std::collections::VecDeque<_> = flow.pad(&tags).into();
    let lifted = pad.remove(uid(2)).unwrap();
    while let Some(a) = actions.pop_front() {
        let next = match a {
            kiosk_flows::Action::CheckOut { item } => {
                let outcome = lib.check_out(&patron, &item);
                flow.answered(&item, outcome, &mut ledger)
            }
            kiosk_flows::Action::Secure { uid, state } => {
                let write = match kiosk_devices::RfidReader::set_security(&mut reader, uid, state) {
                    Ok(t) => kiosk_flows::TagWrite::ReadBack { afi: t.afi },
                    Err(_) => kiosk_flows::TagWrite::Gone,
                };
                flow.tag_written(uid, write)
            }
            other => panic!("{other:?}"),
        };
        actions.extend(next);
    }
    assert!(matches!(
        flow.line("B002").unwrap().status,
        LineStatus::PutBack(_)
    ));
    assert!(
        !flow.is_settled(),
        "the patron is asked to put the book back"
    );
    pad.add(lifted);
    run_until_settled(
        &mut flow,
        Some(&patron),
        &mut reader,
        &mut lib,
        &mut NoOffline,
        &mut ledger,
    );
    assert_eq!(afi(&pad, 1), OUT);
    assert_eq!(afi(&pad, 2), OUT);
    assert!(matches!(
        flow.line("B002").unwrap().status,
        LineStatus::Done(_)
    ));
}

#[test]
fn offline_loans_go_to_the_signed_queue_within_the_limits() {
    let mut peer = Sip2Peer::start(&[]);
    let pad = RfidPad::new(vec![
        book(1, "B001", None),
        book(2, "B002", None),
        book(3, "B006", None),
    ]);
    let (_sim, mut reader) = pad_reader(ReaderKind::Rr3036, &pad);
    let mut lib = library(&peer);
    let patron = lib.sign_in("P001", Some("1234")).unwrap();
    // The library system goes away after the sign-in.
    peer.kill();

    let dir = temp_dir();
    let queue = kiosk_queue::Queue::open(kiosk_queue::QueueConfig::new(dir.path().join("q.db")))
        .expect("queue");
    let settings = StackSettings {
        offline: OfflinePolicy {
            mode: OfflineMode::ReturnAndBorrow,
            max_loans_per_patron: 2,
            max_loans_per_terminal: 20,
            due_date: "2026-12-16".into(),
        },
        ..StackSettings::default()
    };
    let mut flow = BorrowFlow::new(Some(patron.id.clone()), settings);
    let mut ledger = OfflineLedger::default();
    run_until_settled(
        &mut flow,
        Some(&patron),
        &mut reader,
        &mut lib,
        &mut QueueOffline { queue: &queue },
        &mut ledger,
    );
    let done: Vec<_> = flow
        .lines()
        .filter(|l| matches!(l.status, LineStatus::Done(_)))
        .map(|l| l.item_id.clone())
        .collect();
    assert_eq!(
        done,
        ["B001", "B002"],
        "two loans offline, the per-patron limit"
    );
    assert_eq!(
        refused(&flow.line("B006").unwrap().status),
        Some(RefusalReason::OfflineLimit)
    );
    assert!(flow.lines().filter(|l| l.offline).count() == 2);
    assert_eq!((afi(&pad, 1), afi(&pad, 2), afi(&pad, 3)), (OUT, OUT, IN));
    // The two loans are signed records in the queue, with the promised due date.
    let stats = queue.stats().expect("stats");
    assert_eq!(stats.pending, 2, "{stats:?}");
}

/// A patron card on the pad: ISO 28560 type of usage 8, the card number as primary id.
fn patron_card(n: u8, card: &str) -> SimTag {
    let single = SetInfo { part: 1, total: 1 };
    library_tag(uid(n), n.into(), card, Some("CN-TEST"), single, 8, IN)
}

/// Borrows what is on `pad` for the patron `credential` resolves to; returns the patron's name.
fn sign_in_and_borrow(
    peer: &Sip2Peer,
    credential: &Credential,
    settings: &SignInSettings,
    seen: &mut SeenTokens,
    pad: &RfidPad,
) -> Option<String> {
    let (_sim, mut reader) = pad_reader(ReaderKind::Feig, pad);
    let mut lib = library(peer);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let who = resolve(credential, settings, seen, now).expect("credential resolves");
    let patron = lib
        .sign_in(&who.patron_id, who.pin.as_deref())
        .unwrap_or_else(|e| panic!("{credential:?}: {e:?}"));
    let mut flow = BorrowFlow::new(Some(patron.id.clone()), StackSettings::default());
    let mut ledger = OfflineLedger::default();
    run_until_settled(
        &mut flow,
        Some(&patron),
        &mut reader,
        &mut lib,
        &mut NoOffline,
        &mut ledger,
    );
    for line in flow.lines() {
        assert!(
            matches!(line.status, LineStatus::Done(_)),
            "{credential:?}: {line:?}"
        );
    }
    for tag in pad.tags() {
        let is_card = tag.afi == IN && flow.lines().all(|l| l.uids().all(|u| u != tag.uid));
        assert!(
            tag.afi == OUT || is_card,
            "{credential:?}: tag {} AFI {:02X}",
            tag.uid,
            tag.afi
        );
    }
    patron.name.clone()
}

#[test]
fn each_of_the_four_sign_in_ways_borrows_against_pysip2() {
    let peer = Sip2Peer::start(&[]);
    let issuer = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let settings = SignInSettings {
        token_key: Some(issuer.verifying_key()),
        ..SignInSettings::default()
    };
    let mut seen = SeenTokens::default();

    // 1. Resident ID card, read through the SAM simulator; the ID number is the reader number.
    let scenario = kiosk_sim::idcard::IdCardScenario::load(&kiosk_tests::fixture(
        "scenarios/idcard-demo.json",
    ))
    .unwrap();
    let sam = SerialSim::start(kiosk_sim::IdCardSim::new(&scenario).unwrap(), None).unwrap();
    let spec = TransportSpec::Serial {
        path: sam.path().display().to_string(),
        baud: 115_200,
    };
    let mut sam_reader =
        kiosk_devices::SamReader::open(&spec, kiosk_devices::SamOptions::default()).unwrap();
    let card = kiosk_devices::IdCardReader::read_card(&mut sam_reader, false)
        .unwrap()
        .expect("a card on the reader");
    let id_card = Credential::IdCard {
        id_number: card.number.clone(),
    };
    drop(card); // zeroized: only the number went on
    let pad = RfidPad::new(vec![book(1, "B001", None), book(2, "B002", None)]);
    let name = sign_in_and_borrow(&peer, &id_card, &settings, &mut seen, &pad);
    assert_eq!(name.as_deref(), Some("张三"));

    // 2. Reader card: an RFID patron card lying on the pad with the books.
    let pad = RfidPad::new(vec![
        patron_card(20, "P003"),
        book(5, "B006", None),
        book(6, "B007", None),
    ]);
    let (_sim, mut reader) = pad_reader(ReaderKind::Feig, &pad);
    let tags = kiosk_devices::RfidReader::inventory(&mut reader).unwrap();
    drop((_sim, reader));
    let (_, stray) = kiosk_flows::group_items(&tags);
    let reader_card = Credential::from_pad(&stray).expect("the patron card is seen");
    let name = sign_in_and_borrow(&peer, &reader_card, &settings, &mut seen, &pad);
    assert_eq!(name.as_deref(), Some("李四"));
    assert_eq!(afi(&pad, 20), IN, "the patron card is not an item");

    // 3. Card number + PIN on the keypad.
    let typed = Credential::CardAndPin {
        card: "P001".into(),
        pin: "1234".into(),
    };
    let pad = RfidPad::new(vec![book(9, "B009", None), book(10, "B010", None)]);
    assert_eq!(
        sign_in_and_borrow(&peer, &typed, &settings, &mut seen, &pad).as_deref(),
        Some("张三")
    );

    // 4. A QR code on a phone, seen by the camera (OpenCV on an image sequence): a signed,
    // expiring token from the library's app.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = PatronToken::issue(&issuer, "P001", now + 120, b"phone-nonce-0001");
    let dir = temp_dir();
    let cam_spec =
        kiosk_sim::scanner::write_qr_sequence(dir.path(), &[None, Some(&token)]).unwrap();
    let mut cam =
        kiosk_devices::CameraScanner::open(&cam_spec.parse().unwrap(), Duration::from_secs(2))
            .unwrap();
    let code = kiosk_devices::CodeScanner::next_code(&mut cam, Duration::from_secs(5))
        .unwrap()
        .expect("the phone's code");
    let phone = Credential::PhoneQr { text: code.text };
    let pad = RfidPad::new(vec![
        book(7, "B008", Some((1, 2))),
        book(8, "B008", Some((2, 2))),
    ]);
    assert_eq!(
        sign_in_and_borrow(&peer, &phone, &settings, &mut seen, &pad).as_deref(),
        Some("张三")
    );
    // The same code shown again is refused.
    assert_eq!(
        resolve(&phone, &settings, &mut seen, now),
        Err(CredentialError::Replayed)
    );
}

#[test]
fn account_shows_loans_holds_and_fines_and_renewals_say_why_not() {
    let peer = Sip2Peer::start(&[]);
    let mut lib = library(&peer);
    // P003 has B003 on loan, a hold on B004 and 3.50 in fines (fixtures/sip2/library.json).
    let p3 = lib.sign_in("P003", Some("5678")).unwrap();
    let kiosk_flows::IlsOutcome::Ok(account) = lib.account(&p3) else {
        panic!("account of P003");
    };
    assert_eq!(account.loans.len(), 1, "{account:?}");
    assert_eq!(account.loans[0].item_id, "B003");
    assert_eq!(account.loans[0].title.as_deref(), Some("Dune"));
    assert!(account.loans[0].due.is_some());
    assert_eq!(account.holds.len(), 1, "{account:?}");
    assert_eq!(account.holds[0].item_id, "B004");
    assert_eq!(account.holds[0].title.as_deref(), Some("红楼梦"));
    assert_eq!(account.fines.as_deref(), Some("3.50"));
    assert_eq!(account.currency.as_deref(), Some("CNY"));

    // P001 has B005, which may not be renewed yet; a new loan renews.
    let p1 = lib.sign_in("P001", Some("1234")).unwrap();
    match lib.renew(&p1, "B005") {
        kiosk_flows::IlsOutcome::Refused(r) => {
            assert_eq!(r.reason, RefusalReason::RenewalRefused, "{r:?}")
        }
        other => panic!("B005 renewed: {other:?}"),
    }
    assert!(matches!(
        lib.check_out(&p1, "B001"),
        kiosk_flows::IlsOutcome::Ok(_)
    ));
    match lib.renew(&p1, "B001") {
        kiosk_flows::IlsOutcome::Ok(loan) => assert!(loan.due.is_some()),
        other => panic!("B001 not renewed: {other:?}"),
    }
    let kiosk_flows::IlsOutcome::Ok(all) = lib.renew_all(&p1) else {
        panic!("renew all");
    };
    assert_eq!(all.renewed, ["B001"]);
    assert_eq!(all.not_renewed, ["B005"]);
    let kiosk_flows::IlsOutcome::Ok(account) = lib.account(&p1) else {
        panic!("account of P001");
    };
    let mut ids: Vec<_> = account.loans.iter().map(|l| l.item_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["B001", "B005"]);
}

#[test]
fn kioskctl_bench_checkout_borrows_a_ten_book_stack() {
    let fixture = kiosk_tests::fixture("sip2/bench-library.json");
    let peer = Sip2Peer::start(&["--fixture", fixture.to_str().unwrap()]);
    let items: Vec<String> = (1..=10).map(|n| format!("S{n:03}")).collect();
    let mut args = vec![
        "sip2",
        "--ils",
        &peer.addr(),
        "--user",
        "kiosk",
        "--password",
        "secret",
        "--location",
        "LOBBY-1",
        "--institution",
        "CN-TEST",
        "--json",
        "bench-checkout",
        "P100",
        "--pin",
        "1234",
        "--runs",
        "2",
    ]
    .into_iter()
    .map(str::to_string)
    .collect::<Vec<_>>();
    args.extend(items);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = kiosk_tests::kioskctl(&args);
    assert!(
        out.status.success(),
        "{}\npeer log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        peer.log()
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["books"], 10);
    assert_eq!(report["runs"], 2);
    assert_eq!(
        report["all"][0]["sip2_calls"], 11,
        "sign-in + ten checkouts: {report}"
    );
    assert!(report["median_total_ms"].as_f64().unwrap() > 0.0);
}
