//! The SIP2 client against a real SIP2 server: PyPI pysip2 0.1.0 running the toy library of
//! `tests/sip2-peer/toy_ils.py` (catalogue `fixtures/sip2/library.json`) on 127.0.0.1.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kiosk_sip2::message::{PatronStatus, Terminator};
use kiosk_sip2::transport::TcpConnection;
use kiosk_sip2::{
    Charset, CircOptions, Client, Connect, Connection, ErrorKind, Settings, TcpConnector, Timestamp,
};
use kiosk_tests::kioskctl;
use kiosk_tests::sip2_peer::Sip2Peer;

pub(crate) fn settings() -> Settings {
    Settings {
        institution_id: "CN-TEST".into(),
        login_user: "kiosk".into(),
        login_password: "secret".into(),
        location: Some("LOBBY-1".into()),
        timeout_ms: 3_000,
        min_timeout_ms: 300,
        ..Settings::default()
    }
}

fn connect(peer: &Sip2Peer, settings: Settings) -> Client<TcpConnector> {
    Client::connect(TcpConnector::new(peer.addr()), settings)
        .unwrap_or_else(|e| panic!("connect: {e}\npeer log:\n{}", peer.log()))
}

fn first_screen_id(settings: &Settings, screens: &[String]) -> Option<String> {
    screens
        .iter()
        .find_map(|s| settings.translate(s))
        .map(str::to_string)
}

#[test]
fn login_status_and_a_chinese_patron() {
    let peer = Sip2Peer::start(&[]);
    let mut c = connect(&peer, settings());
    let acs = c.acs_status().unwrap().clone();
    assert_eq!(acs.online_status, "Y");
    assert_eq!(
        acs.library_name.as_deref(),
        Some("社区图书馆 Community Library")
    );
    let supported =
        kiosk_sip2::message::supported_messages(acs.supported_messages.as_deref().unwrap());
    for id in ["11", "09", "29", "63", "17", "35"] {
        assert!(supported.contains(&id), "{id} in {supported:?}");
    }
    // pysip2 says timeout 030 (3 s) and 3 retries.
    assert_eq!(c.session().timeout(), Duration::from_secs(3));
    assert_eq!(c.session().retries(), 3);

    let p = c.patron_information("P001", Some("1234"), Some(2)).unwrap();
    assert_eq!(p.personal_name.as_deref(), Some("张三"));
    assert_eq!(p.valid_patron.as_deref(), Some("Y"));
    assert_eq!(p.valid_patron_password.as_deref(), Some("Y"));
    assert_eq!(p.charged_items, vec!["B005"]);
    let wrong_pin = c.patron_status("P001", Some("9999")).unwrap();
    assert_eq!(wrong_pin.valid_patron_password.as_deref(), Some("N"));

    let out = c.checkout("P001", "B001", &CircOptions::default()).unwrap();
    assert_eq!(out.ok, "1");
    assert_eq!(out.title_identifier.as_deref(), Some("三体"));
    let back = c.checkin("B001", false, None).unwrap();
    assert_eq!(back.ok, "1");
    let end = c.end_session("P001", None).unwrap();
    assert_eq!(end.end_session, "Y");
    // Keep-alive is not due right after traffic.
    assert!(!c.keepalive().unwrap());
    let n = c.counters();
    assert_eq!(
        (n.sc_resends, n.acs_resends, n.reconnects, n.logins),
        (0, 0, 0, 1)
    );
}

#[test]
fn gb18030_library() {
    let peer = Sip2Peer::start(&["--encoding", "gb18030"]);
    let mut c = connect(
        &peer,
        Settings {
            charset: Charset::Gb18030,
            ..settings()
        },
    );
    assert_eq!(
        c.acs_status().unwrap().library_name.as_deref(),
        Some("社区图书馆 Community Library")
    );
    let p = c.patron_status("P003", Some("5678")).unwrap();
    assert_eq!(p.personal_name.as_deref(), Some("李四"));
    assert_eq!(p.fee_amount.as_deref(), Some("3.50"));
    let out = c.checkout("P003", "B006", &CircOptions::default()).unwrap();
    assert_eq!(out.title_identifier.as_deref(), Some("围城"));
}

#[test]
fn cp850_library() {
    // The spec's default character set (and pysip2's): accents pass, Chinese cannot be sent.
    let peer = Sip2Peer::start(&["--encoding", "cp850", "--library-name", "Bibliothèque"]);
    let mut c = connect(
        &peer,
        Settings {
            charset: Charset::Cp850,
            ..settings()
        },
    );
    assert_eq!(
        c.acs_status().unwrap().library_name.as_deref(),
        Some("Bibliothèque")
    );
    let info = c.item_information("B010").unwrap();
    assert_eq!(
        info.title_identifier.as_deref(),
        Some("Cien años de soledad")
    );
    let e = c.item_information("书").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Encoding, "{e}");
    // The session is still usable after a refused encoding.
    assert_eq!(c.item_information("B009").unwrap().circulation_status, "03");
}

#[test]
fn login_failure() {
    let peer = Sip2Peer::start(&[]);
    let bad = Settings {
        login_password: "wrong".into(),
        ..settings()
    };
    let e = Client::connect(TcpConnector::new(peer.addr()), bad)
        .err()
        .expect("login must fail");
    assert_eq!(e.kind(), ErrorKind::LoginRefused, "{e}");
    assert!(e.to_string().contains("--password"), "{e}");
}

/// A connector whose connections corrupt one write (counted over all connections): the
/// checksum then fails on the server's side.
struct CorruptNth {
    inner: TcpConnector,
    countdown: Arc<AtomicUsize>,
}

struct CorruptConn {
    inner: TcpConnection,
    countdown: Arc<AtomicUsize>,
}

impl Connection for CorruptConn {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.countdown.fetch_sub(1, Ordering::SeqCst) == 1 {
            let mut damaged = bytes.to_vec();
            // The item barcode's last digit: B006 → B007 on the wire, checksum still for B006.
            let i = damaged.windows(2).position(|w| w == b"AB").unwrap() + 5;
            damaged[i] += 1;
            return self.inner.write_all(&damaged);
        }
        self.inner.write_all(bytes)
    }
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.inner.read(buf, timeout)
    }
}

impl Connect for CorruptNth {
    type Conn = CorruptConn;
    fn connect(&mut self) -> io::Result<CorruptConn> {
        Ok(CorruptConn {
            inner: self.inner.connect()?,
            countdown: self.countdown.clone(),
        })
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[test]
fn checksum_error_and_resend() {
    // Our request damaged on the way: pysip2 answers 96, the client resends the good bytes.
    let peer = Sip2Peer::start(&[]);
    let connector = CorruptNth {
        inner: TcpConnector::new(peer.addr()),
        // Write 1 is the login, 2 the status, 3 the checkout.
        countdown: Arc::new(AtomicUsize::new(3)),
    };
    let mut c = Client::connect(connector, settings()).unwrap();
    let out = c.checkout("P001", "B006", &CircOptions::default()).unwrap();
    assert_eq!(out.ok, "1");
    assert_eq!(out.item_identifier.as_deref(), Some("B006"));
    assert_eq!(c.counters().sc_resends, 1);

    // The answer damaged on the way: the client sends 97, pysip2 replays its last answer.
    let peer = Sip2Peer::start(&["--corrupt-once", "12"]);
    let mut c = connect(&peer, settings());
    let out = c.checkout("P001", "B007", &CircOptions::default()).unwrap();
    assert_eq!(out.ok, "1");
    assert_eq!(out.title_identifier.as_deref(), Some("Le Petit Prince"));
    assert_eq!(c.counters().acs_resends, 1);
}

#[test]
fn dropped_connection_mid_stack() {
    let mut peer = Sip2Peer::start(&["--drop-on", "B007"]);
    let mut c = connect(&peer, settings());
    for item in ["B006", "B007", "B008"] {
        let out = c
            .checkout("P001", item, &CircOptions::default())
            .unwrap_or_else(|e| panic!("{item}: {e}\n{}", peer.log()));
        assert_eq!(out.ok, "1", "{item}");
    }
    let n = c.counters();
    assert_eq!(n.reconnects, 1);
    assert_eq!(n.logins, 2);
    assert!(peer.log().contains("test drop on item B007"));

    // The ILS goes away entirely: Offline, in one line naming the address.
    peer.kill();
    let e = c.item_information("B006").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Offline, "{e}");
    assert!(e.to_string().contains(&peer.addr()), "{e}");
}

#[test]
fn keepalive_and_reconnect_after_an_idle_drop() {
    // pysip2 closes links idle for 1 s (Koha's client_timeout, shortened).
    let peer = Sip2Peer::start(&["--idle-timeout", "1"]);
    let mut c = connect(
        &peer,
        Settings {
            keepalive_secs: 0,
            ..settings()
        },
    );
    // Due at once with a zero interval: a 99 goes out and is answered.
    assert!(c.keepalive().unwrap());
    std::thread::sleep(Duration::from_millis(1600));
    // The server has closed the idle link: the client reconnects, logs in and answers anyway.
    let info = c.item_information("B001").unwrap();
    assert_eq!(info.title_identifier.as_deref(), Some("三体"));
    assert_eq!(c.counters().reconnects, 1);
    assert_eq!(c.counters().logins, 2);
}

#[test]
fn retry_after_a_timeout_is_answered_once() {
    // The ACS says 0.5 s timeout; its first answer about B009 takes 1.3 s. The kiosk resends the
    // same bytes (same sequence number and checksum), pysip2 answers the duplicates with a
    // replay, and the late replays are ignored by their sequence number.
    let peer = Sip2Peer::start(&["--timeout-period", "005", "--delay-once", "B009", "1.3"]);
    let mut c = connect(&peer, settings());
    assert_eq!(c.session().timeout(), Duration::from_millis(500));
    let out = c.checkout("P003", "B009", &CircOptions::default()).unwrap();
    assert_eq!(out.ok, "1");
    assert_eq!(out.screen_message, vec!["Checked out"]);
    assert!(c.counters().timeouts >= 1, "{:?}", c.counters());
    let info = c.item_information("B009").unwrap();
    assert_eq!(info.circulation_status, "04");
    assert!(c.counters().stale_responses >= 1, "{:?}", c.counters());
}

#[test]
fn cr_and_crlf() {
    // The ILS answers CR LF (Koha's default): read by the real client from the real server.
    let peer = Sip2Peer::start(&["--crlf"]);
    let mut c = connect(&peer, settings());
    for _ in 0..3 {
        c.status().unwrap();
    }
    let p = c.patron_status("P001", None).unwrap();
    assert_eq!(p.personal_name.as_deref(), Some("张三"));

    // The kiosk sends CR LF to a server that tolerates it.
    let crlf = Settings {
        terminator: Terminator::CrLf,
        ..settings()
    };
    let peer = Sip2Peer::start(&["--accept-crlf", "--crlf"]);
    let mut c = connect(&peer, crlf.clone());
    assert_eq!(
        c.item_information("B001")
            .unwrap()
            .title_identifier
            .as_deref(),
        Some("三体")
    );

    // Plain pysip2 expects CR: after the login the LF of each CR LF is left in front of the
    // next message. With checksums that message fails its checksum (the LF is summed), pysip2
    // answers 96 to every resend and the client gives up with a Checksum error; without
    // checksums pysip2 drops it as an unknown command and the client times out (library.md §7).
    let peer = Sip2Peer::start(&[]);
    let e = Client::connect(TcpConnector::new(peer.addr()), crlf.clone())
        .err()
        .expect("CR LF to a CR-only server must fail");
    assert_eq!(e.kind(), ErrorKind::Checksum, "{e}");
    assert!(e.to_string().contains("terminator"), "{e}");
    let e = Client::connect(
        TcpConnector::new(peer.addr()),
        Settings {
            error_detection: false,
            timeout_ms: 300,
            retries: 1,
            ..crlf
        },
    )
    .err()
    .expect("CR LF to a CR-only server must fail");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("terminator"), "{e}");
}

#[test]
fn blocked_patron() {
    let peer = Sip2Peer::start(&[]);
    let s = settings();
    let mut c = connect(&peer, s.clone());
    let p = c.patron_status("P002", Some("0000")).unwrap();
    let status = PatronStatus::parse(&p.patron_status);
    assert!(status.set().contains(&"charge privileges denied"));
    assert!(s.blocks_checkout(&status));
    assert_eq!(
        first_screen_id(&s, &p.screen_message).as_deref(),
        Some("sip2.patron-blocked")
    );
    let out = c.checkout("P002", "B009", &CircOptions::default()).unwrap();
    assert_eq!(out.ok, "0");
    assert_eq!(
        first_screen_id(&s, &out.screen_message).as_deref(),
        Some("sip2.patron-blocked")
    );
}

#[test]
fn item_already_out_and_hold_on_item() {
    let peer = Sip2Peer::start(&[]);
    let s = settings();
    let mut c = connect(&peer, s.clone());
    let out = c.checkout("P001", "B003", &CircOptions::default()).unwrap();
    assert_eq!(out.ok, "0");
    assert_eq!(
        first_screen_id(&s, &out.screen_message).as_deref(),
        Some("sip2.item-already-out")
    );

    let held = c.checkout("P001", "B004", &CircOptions::default()).unwrap();
    assert_eq!(held.ok, "0");
    assert_eq!(
        first_screen_id(&s, &held.screen_message).as_deref(),
        Some("sip2.item-on-hold")
    );
    let info = c.item_information("B004").unwrap();
    assert_eq!(info.circulation_status, "08"); // waiting on hold shelf
    assert_eq!(info.hold_queue_length.as_deref(), Some("1"));
    assert_eq!(info.title_identifier.as_deref(), Some("红楼梦"));
    // Checked in at the kiosk, the hold is flagged for the staff.
    let back = c.checkin("B004", false, None).unwrap();
    assert_eq!(back.alert, "Y");
    assert_eq!(back.patron_identifier.as_deref(), Some("P003"));
}

#[test]
fn renew_too_soon_and_renew_all() {
    let peer = Sip2Peer::start(&[]);
    let s = settings();
    let mut c = connect(&peer, s.clone());
    let r = c.renew("P001", "B005", &CircOptions::default()).unwrap();
    assert_eq!(r.ok, "0");
    assert_eq!(
        first_screen_id(&s, &r.screen_message).as_deref(),
        Some("sip2.renew-too-soon")
    );
    c.checkout("P001", "B002", &CircOptions::default()).unwrap();
    let all = c.renew_all("P001", None).unwrap();
    assert_eq!(all.renewed_items, vec!["B002"]);
    assert_eq!(all.unrenewed_items, vec!["B005"]);
}

#[test]
fn offline_replay_checkout_with_original_date_and_no_block() {
    // What the offline queue's replay sends: the blocked patron's checkout made while the ILS
    // was down, with the original transaction date and no block = Y. The ILS must take it and
    // date the loan from the original date.
    let peer = Sip2Peer::start(&[]);
    let mut c = connect(&peer, settings());
    let when = Timestamp::from_ymd_hms(2026, 1, 1, 10, 0, 0).unwrap();
    let options = CircOptions {
        no_block: true,
        transaction_date: Some(when),
        ..CircOptions::default()
    };
    let out = c.checkout("P002", "B008", &options).unwrap();
    assert_eq!(out.ok, "1", "{:?}", out.screen_message);
    assert_eq!(out.due_date.as_deref(), Some("20260129    235900"));
    assert_eq!(out.screen_message, vec!["Offline transaction accepted"]);
    // Without no block the same patron is refused.
    let online = c.checkout("P002", "B009", &CircOptions::default()).unwrap();
    assert_eq!(online.ok, "0");
}

fn ctl(peer: &Sip2Peer, args: &[&str]) -> std::process::Output {
    let addr = peer.addr();
    let mut all = vec![
        "sip2",
        "--ils",
        &addr,
        "--user",
        "kiosk",
        "--password",
        "secret",
        "--location",
        "LOBBY-1",
        "--institution",
        "CN-TEST",
    ];
    all.extend_from_slice(args);
    kioskctl(&all)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn kioskctl_sip2() {
    let peer = Sip2Peer::start(&[]);
    let out = ctl(&peer, &["--json", "status"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["online"], true);
    assert!(v["supported"].as_array().unwrap().iter().any(|x| x == "11"));

    // Names masked unless --reveal.
    let out = ctl(&peer, &["patron", "P001", "--pin", "1234"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("张*") && !t.contains("张三"), "{t}");
    let out = ctl(&peer, &["--reveal", "--json", "patron", "P001"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "张三");
    assert_eq!(v["charged_items"][0], "B005");

    let out = ctl(&peer, &["--json", "checkout", "P001", "B001", "B002"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["ok"], true);
    assert_eq!(v[0]["title"], "三体");
    assert_eq!(v[1]["ok"], true);

    let out = ctl(&peer, &["item", "B001"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("三体"));
    let out = ctl(&peer, &["checkin", "B001", "B002"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ctl(&peer, &["end", "P001"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // An offline checkout replayed: original date, no block, accepted for the blocked patron.
    let out = ctl(
        &peer,
        &[
            "--json",
            "checkout",
            "P002",
            "B010",
            "--offline-date",
            "20260101100000",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["due"], "20260129    235900");

    // A refusal: non-zero, one line naming the item and the message id.
    let out = ctl(&peer, &["checkout", "P001", "B003"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("B003") && err.contains("sip2.item-already-out"),
        "{err}"
    );
    let out = ctl(&peer, &["renew", "P001", "B005"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("sip2.renew-too-soon"));

    // Wrong password, nothing listening: one line each, saying what to check.
    let addr = peer.addr();
    let out = kioskctl(&[
        "sip2",
        "--ils",
        &addr,
        "--user",
        "kiosk",
        "--password",
        "nope",
        "status",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--password"), "{err}");
    let out = kioskctl(&[
        "sip2",
        "--ils",
        "127.0.0.1:1",
        "--user",
        "u",
        "--password",
        "p",
        "status",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    let out = kioskctl(&[
        "sip2",
        "--ils",
        &addr,
        "--user",
        "kiosk",
        "--password",
        "secret",
        "--charset",
        "klingon",
        "status",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
