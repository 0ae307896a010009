//! The built-in demo SIP2 server (`kiosk_sip2::DemoServer`, ARCHITECTURE.md "Terminal
//! profiles") against two clients: the kiosk's own `kiosk_sip2::Client`, and PyPI pysip2
//! 0.1.0's codec (`tests/sip2-peer/demo_client.py`), so the built-in server cannot hide a bug
//! of the kiosk's client (the client is also tested against pysip2's server in `sip2.rs`).
//! Plus `kioskctl sip2-serve`, driven by `kioskctl sip2`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use kiosk_sip2::{CircOptions, Client, DemoLibrary, DemoServer, ErrorKind, TcpConnector};
use kiosk_tests::sip2_peer::python;
use kiosk_tests::{binary, kioskctl, workspace_root};

use crate::sip2::settings;

fn start() -> DemoServer {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    DemoServer::start(any, DemoLibrary::builtin()).expect("demo server starts")
}

#[test]
fn kiosk_client_login_patron_checkout_checkin_renew() {
    let server = start();
    let addr = server.addr().to_string();
    let mut c = Client::connect(TcpConnector::new(&addr), settings()).expect("login + status");
    let acs = c.acs_status().unwrap().clone();
    assert_eq!(acs.online_status, "Y");
    assert_eq!(
        acs.library_name.as_deref(),
        Some("社区图书馆 Community Library")
    );
    // The server's 98 says 030 (3 s) and 3 retries, like the toy library.
    assert_eq!(c.session().timeout(), Duration::from_secs(3));
    assert_eq!(c.session().retries(), 3);

    let p = c.patron_information("P001", Some("1234"), Some(2)).unwrap();
    assert_eq!(p.personal_name.as_deref(), Some("张三"));
    assert_eq!(p.valid_patron_password.as_deref(), Some("Y"));
    assert_eq!(p.charged_items, vec!["B005"]);
    let wrong = c.patron_status("P001", Some("9999")).unwrap();
    assert_eq!(wrong.valid_patron_password.as_deref(), Some("N"));
    let blocked = c.patron_status("P002", Some("0000")).unwrap();
    assert_eq!(&blocked.patron_status[..1], "Y");

    let out = c.checkout("P001", "B001", &CircOptions::default()).unwrap();
    assert_eq!(out.ok, "1");
    assert_eq!(out.title_identifier.as_deref(), Some("三体"));
    assert_eq!(
        server.library().item("B001").unwrap().out_to.as_deref(),
        Some("P001")
    );
    let refused = c.checkout("P003", "B001", &CircOptions::default()).unwrap();
    assert_eq!(refused.ok, "0");
    assert_eq!(
        c.settings().translate(&refused.screen_message[0]),
        Some("sip2.item-already-out")
    );

    let renewed = c.renew("P001", "B001", &CircOptions::default()).unwrap();
    assert_eq!(
        (renewed.ok.as_str(), renewed.renewal_ok.as_str()),
        ("1", "Y")
    );
    let too_soon = c.renew("P001", "B005", &CircOptions::default()).unwrap();
    assert_eq!(too_soon.ok, "0");
    assert_eq!(
        c.settings().translate(&too_soon.screen_message[0]),
        Some("sip2.renew-too-soon")
    );

    let back = c.checkin("B001", false, None).unwrap();
    assert_eq!(
        (back.ok.as_str(), back.sort_bin.as_deref()),
        ("1", Some("A1"))
    );
    assert_eq!(server.library().item("B001").unwrap().out_to, None);
    let hold = c.checkin("B004", false, None).unwrap();
    assert_eq!(hold.sort_bin.as_deref(), Some("HOLD"));

    let item = c.item_information("B001").unwrap();
    assert_eq!(item.circulation_status, "03");
    let all = c.renew_all("P001", Some("1234")).unwrap();
    assert_eq!(all.unrenewed_items, vec!["B005"]);
    assert_eq!(c.end_session("P001", None).unwrap().end_session, "Y");
    let n = c.counters();
    assert_eq!((n.sc_resends, n.acs_resends, n.reconnects), (0, 0, 0));
    c.close();

    // A second connection sees the same library (state is shared, in memory).
    let mut c2 = Client::connect(TcpConnector::new(&addr), settings()).unwrap();
    let again = c2
        .checkout("P003", "B001", &CircOptions::default())
        .unwrap();
    assert_eq!(again.ok, "1");
    c2.close();
}

#[test]
fn wrong_login_is_refused_and_a_stopped_server_is_offline() {
    let server = start();
    let addr = server.addr().to_string();
    let mut bad = settings();
    bad.login_password = "wrong".into();
    let e = Client::connect(TcpConnector::new(&addr), bad)
        .err()
        .expect("refused");
    assert_eq!(e.kind(), ErrorKind::LoginRefused);
    drop(server);
    let e = Client::connect(TcpConnector::new(&addr), settings())
        .err()
        .expect("nothing listens any more");
    assert_eq!(e.kind(), ErrorKind::Offline);
}

#[test]
fn pysip2_codec_as_the_client() {
    let python = python();
    assert!(
        python.exists(),
        "{} not found: run `bash packaging/setup-debian.sh --test` or set KIOSK_SIP2_PYTHON",
        python.display()
    );
    let server = start();
    let addr = server.addr();
    let out = Command::new(&python)
        .arg(workspace_root().join("tests/sip2-peer/demo_client.py"))
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .output()
        .expect("running demo_client.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().last() == Some("OK"),
        "pysip2 client against the demo server:\n{stdout}\n{stderr}"
    );
    // What the Python client did is in the server's library.
    let lib = server.library();
    assert_eq!(lib.item("B002").unwrap().out_to, None);
    assert_eq!(lib.item("B004").unwrap().hold_for.as_deref(), Some("P003"));
}

#[test]
fn kioskctl_sip2_serve() {
    let mut child = Command::new(binary("kioskctl"))
        .args(["sip2-serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kioskctl sip2-serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let Some(addr) = first.strip_prefix("LISTENING ").map(str::to_string) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("kioskctl sip2-serve printed {first:?}");
    };
    let ils = [
        "sip2",
        "--ils",
        addr.as_str(),
        "--user",
        "kiosk",
        "--password",
        "secret",
        "--location",
        "LOBBY-1",
        "--institution",
        "CN-TEST",
        "--json",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = ils.iter().chain(extra).copied().collect();
        kioskctl(&args)
    };
    let status = run(&["status"]);
    let checkout = run(&["checkout", "P001", "B006"]);
    let checkin = run(&["checkin", "B006"]);
    let _ = child.kill();
    let _ = child.wait();
    for (what, o) in [
        ("status", &status),
        ("checkout", &checkout),
        ("checkin", &checkin),
    ] {
        assert!(
            o.status.success(),
            "kioskctl sip2 {what}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["online"], true);
    let out: serde_json::Value = serde_json::from_slice(&checkout.stdout).unwrap();
    assert_eq!(out[0]["title"], "围城");

    let bad = kioskctl(&["sip2-serve", "--listen", "not-an-address"]);
    assert_eq!(bad.status.code(), Some(2));
}
