//! ID-card reader end to end: `SamReader` against the SAM simulator through a real
//! pseudo-terminal, the card poller's timing rules, the supervisor across an unplug, and
//! `kioskctl idcard read` against `kioskctl simulate idcard` running as a child process.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use kiosk_devices::idcard::{
    CardKind, CardPoller, IdCardError, IdCardReader, SamOptions, SamReader, Validity,
    check_not_expired, china_today,
};
use kiosk_devices::{
    Availability, DeviceClass, DeviceEvent, ErrorKind, HasKind, Supervised, Supervisor,
};
use kiosk_sim::idcard::{IdCardScenario, ScenarioCard, SimFault};
use kiosk_sim::{IdCardSim, IdCardSimHandle, SerialSim};
use kiosk_tests::{binary, fixture, kioskctl, temp_dir};
use kiosk_transport::TransportSpec;

use crate::tamper::{Damage, Tamper, timed};

struct Rig {
    sim: SerialSim,
    handle: IdCardSimHandle,
    spec: TransportSpec,
    _dir: tempfile::TempDir,
}

fn scenario(name: &str) -> IdCardScenario {
    IdCardScenario::load(&fixture(&format!("scenarios/{name}"))).expect("scenario loads")
}

fn rig(scenario: &IdCardScenario) -> Rig {
    let dir = temp_dir();
    let link = dir.path().join("ttyIDCARD");
    let dev = IdCardSim::new(scenario).unwrap();
    let handle = dev.handle();
    let sim = SerialSim::start(dev, Some(&link)).unwrap();
    let spec = TransportSpec::Serial {
        path: link.to_str().unwrap().to_string(),
        baud: 115_200,
    };
    Rig {
        sim,
        handle,
        spec,
        _dir: dir,
    }
}

fn open(rig: &Rig) -> SamReader {
    SamReader::open(&rig.spec, SamOptions::default()).expect("SAM opens")
}

#[test]
fn reads_resident_card_and_fingerprint() {
    let r = rig(&scenario("idcard-demo.json"));
    let mut reader = open(&r);
    use kiosk_devices::Device;
    assert_eq!(
        reader.info().firmware.as_deref(),
        Some("05.01-20240101-000000001-000000042")
    );
    let card = reader.read_card(false).unwrap().expect("a card");
    assert_eq!(card.kind, CardKind::Resident);
    assert_eq!(card.name, "张三");
    assert_eq!(card.number, "110101199001010015");
    assert_eq!(card.nation_name(), Some("汉"));
    assert_eq!(card.photo.len(), 1024);
    assert!(card.fingerprint.is_empty());
    assert!(!format!("{card:?}").contains("张三"));
    // A real SAM does not find the card again until it is re-placed.
    assert!(!reader.find_card().unwrap());

    let r = rig(&scenario("idcard-fingerprint.json"));
    let mut reader = open(&r);
    let card = reader.read_card(true).unwrap().expect("a card");
    assert_eq!(card.name, "李四");
    assert_eq!(card.number, "11010519491231002X");
    assert_eq!(card.valid_until, Validity::LongTerm);
    assert_eq!(card.fingerprint.len(), 1024);
    assert!(!card.is_expired(china_today()));
}

#[test]
fn reads_each_permit_layout() {
    for (file, kind) in [
        ("idcard-permit.json", CardKind::HkMoTwPermit),
        ("idcard-foreign-2017.json", CardKind::ForeignPermanent2017),
        ("idcard-foreign-2023.json", CardKind::ForeignPermanent2023),
    ] {
        let r = rig(&scenario(file));
        let card = open(&r).read_card(false).unwrap().expect(file);
        assert_eq!(card.kind, kind, "{file}");
        match kind {
            CardKind::HkMoTwPermit => {
                assert_eq!(card.permit_number, "H12345678");
                assert!(card.number.starts_with("810000"));
            }
            CardKind::ForeignPermanent2017 => {
                assert_eq!(card.english_name, "SAMPLE, JOHN");
                assert_eq!(card.nationality, "USA");
            }
            _ => {
                assert_eq!(
                    card.english_name,
                    "EXAMPLE-LONGNAME, ANNA MARIA THERESA KATHARINA"
                );
                assert_eq!(card.nationality, "DEU");
            }
        }
    }
}

#[test]
fn expired_corrupt_unreadable_and_missing_cards() {
    let r = rig(&scenario("idcard-expired.json"));
    let card = open(&r).read_card(false).unwrap().expect("a card");
    assert!(card.is_expired(china_today()));
    let e = check_not_expired(&card, china_today()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MediaRejected);
    assert!(e.to_string().contains("2020-01-01"), "{e}");

    let r = rig(&scenario("idcard-corrupt-number.json"));
    let e = open(&r).read_card(false).unwrap_err();
    assert!(matches!(e, IdCardError::Card(_)), "{e}");
    assert_eq!(e.kind(), ErrorKind::MediaRejected);
    assert!(
        !e.to_string().contains("110101"),
        "no personal data in errors: {e}"
    );

    let r = rig(&scenario("idcard-unreadable.json"));
    let e = open(&r).read_card(false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MediaRejected, "{e}");

    let r = rig(&scenario("idcard-empty.json"));
    let mut reader = open(&r);
    assert!(reader.read_card(false).unwrap().is_none());
    assert!(!reader.find_card().unwrap());
}

#[test]
fn garbage_and_bad_checksum_replies_are_protocol_errors() {
    let r = rig(&IdCardScenario::demo());
    let mut reader = open(&r);
    for fault in [SimFault::Garbage, SimFault::BadChecksum] {
        r.handle.set_fault(fault);
        let start = Instant::now();
        let e = reader.read_card(false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{fault:?}: {e}");
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "{fault:?} must not wait for the timeout"
        );
    }
    // The reader recovers once the device behaves again.
    r.handle.set_fault(SimFault::None);
    assert!(reader.read_card(false).unwrap().is_some());

    // A reader that answers only noise cannot be opened, with a Protocol error.
    let r = rig(&scenario("idcard-garbage.json"));
    let e = SamReader::open(&r.spec, SamOptions::default())
        .err()
        .expect("garbage");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
}

#[test]
fn poller_paces_and_waits_for_removal() {
    let r = rig(&IdCardScenario {
        consume_on_read: false, // an integrated reader that keeps finding the card
        ..IdCardScenario::demo()
    });
    let mut reader = open(&r);
    let mut poller = CardPoller::new(Duration::from_millis(50));
    let start = Instant::now();
    assert!(poller.poll(&mut reader, false).unwrap().is_some());
    assert!(poller.poll(&mut reader, false).unwrap().is_none());
    assert!(poller.poll(&mut reader, false).unwrap().is_none());
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "three polls must span two 300 ms intervals"
    );
    assert_eq!(
        r.handle.reads(),
        1,
        "the card stays, so it is not read again"
    );
    r.handle.remove();
    assert!(poller.poll(&mut reader, false).unwrap().is_none());
    assert!(!poller.waiting_for_removal());
    r.handle.place(ScenarioCard::zhang_san().to_card().unwrap());
    let card = poller
        .wait_for_card(&mut reader, false, Duration::from_secs(2))
        .unwrap();
    assert!(card.is_some());
    assert_eq!(r.handle.reads(), 2);
}

fn next_event(events: &Receiver<DeviceEvent>, want: impl Fn(&DeviceEvent) -> bool) -> DeviceEvent {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) if want(&e) => return e,
            Ok(_) => continue,
            Err(e) => panic!("expected event did not come: {e}"),
        }
    }
}

#[test]
fn unplug_mid_read_is_reported_and_reader_comes_back() {
    let r = rig(&IdCardScenario::demo());
    let mut sup = Supervisor::new();
    sup.reopen_interval = Duration::from_millis(100);
    sup.probe_interval = Duration::from_millis(200);
    let events = sup.subscribe();
    let reader: Supervised<dyn IdCardReader> = sup.add(
        "idcard",
        DeviceClass::IdCardReader,
        "serial",
        SamReader::opener(r.spec.clone(), SamOptions::default()),
    );
    sup.start();
    assert!(reader.is_open());
    let first = reader.with(|d| d.read_card(false)).unwrap();
    assert_eq!(first.map(|c| c.name.clone()).as_deref(), Some("张三"));

    // Let the SAM take a second to answer the next read, as a real one authenticating the
    // card does, and pull the cable in the middle of it.
    let control = r.sim.control();
    r.handle.set_read_delay(Duration::from_millis(1000));
    r.handle.place(ScenarioCard::zhang_san().to_card().unwrap());
    let worker = {
        let reader = reader.clone();
        std::thread::spawn(move || reader.try_with(|d| d.read_card(false)))
    };
    std::thread::sleep(Duration::from_millis(400));
    control.unplug();
    let outcome = worker.join().unwrap();
    let kind = match outcome {
        Ok(Ok(_)) => panic!("a read during an unplug cannot succeed"),
        Ok(Err(e)) => e.kind(),
        Err(fault) => fault.kind,
    };
    assert_eq!(kind, ErrorKind::Disconnected);
    let lost = next_event(&events, |e| matches!(e, DeviceEvent::Lost { .. }));
    let DeviceEvent::Lost { fault, .. } = lost else {
        unreachable!()
    };
    assert!(
        fault.message.contains("serial:"),
        "the message names the port: {}",
        fault.message
    );
    let h = reader.health();
    assert_eq!(h.availability, Availability::NoDevice);
    assert_eq!(h.counters.unplugs, 1);
    // While unplugged, an operation fails at once with a clear fault.
    let err = reader.with(|d| d.read_card(false)).unwrap_err();
    assert!(err.kind.needs_reopen(), "{err}");

    r.handle.set_read_delay(Duration::ZERO);
    // Stay unplugged until the held-back reply is stale, as it would be lost with the cable.
    std::thread::sleep(Duration::from_millis(1000));
    let replugged = Instant::now();
    control.replug();
    next_event(&events, |e| {
        matches!(e, DeviceEvent::Opened { reopen: true, .. })
    });
    assert!(replugged.elapsed() < Duration::from_secs(2));
    r.handle.place(ScenarioCard::zhang_san().to_card().unwrap());
    let card = reader.with(|d| d.read_card(false)).unwrap();
    assert!(card.is_some());
    assert_eq!(reader.health().availability, Availability::Online);
    assert_eq!(reader.health().counters.reopens, 1);
}

struct SimProcess {
    child: Child,
}

impl SimProcess {
    fn start(link: &Path, scenario_file: &str) -> SimProcess {
        let child = Command::new(binary("kioskctl"))
            .args(["simulate", "idcard", "--link"])
            .arg(link)
            .arg("--scenario")
            .arg(fixture(&format!("scenarios/{scenario_file}")))
            .stderr(Stdio::null())
            .spawn()
            .expect("kioskctl simulate idcard");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !link.exists() {
            assert!(Instant::now() < deadline, "simulator link did not appear");
            std::thread::sleep(Duration::from_millis(20));
        }
        SimProcess { child }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        // SIGTERM lets it remove its link; this is our own child, by pid.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[test]
fn kioskctl_reads_a_card_from_the_simulator_process() {
    let dir = temp_dir();
    let link = dir.path().join("ttyIDCARD");
    let sim = SimProcess::start(&link, "idcard-demo.json");
    let port = format!("serial:{}@115200", link.display());
    let out = kioskctl(&[
        "idcard",
        "read",
        "--port",
        &port,
        "--json",
        "--timeout",
        "5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["card_type"], "resident");
    assert_eq!(v["name"], "张*");
    assert_eq!(v["id_number"], "110*************15");
    assert_eq!(v["address"], "北京市****");
    assert_eq!(v["nation"], "汉");
    assert_eq!(v["sex"], "男");
    assert_eq!(v["birth"], "1990-01-01");
    assert_eq!(v["valid_until"], "2030-01-01");
    assert_eq!(v["photo_bytes"], 1024);
    assert_eq!(v["fingerprint_bytes"], 0);

    // The SAM will not find that card again until it is re-placed: a clear "no card" failure.
    let out = kioskctl(&["idcard", "read", "--port", &port, "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no card"), "{err}");
    drop(sim);

    let link = dir.path().join("ttyIDCARD2");
    let _sim = SimProcess::start(&link, "idcard-fingerprint.json");
    let port = format!("serial:{}@115200", link.display());
    let out = kioskctl(&[
        "idcard",
        "read",
        "--port",
        &port,
        "--json",
        "--reveal",
        "--fingerprint",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "李四");
    assert_eq!(v["id_number"], "11010519491231002X");
    assert_eq!(v["valid_until"], "长期");
    assert_eq!(v["expired"], false);
    assert_eq!(v["fingerprint_bytes"], 1024);
}

#[test]
fn kioskctl_idcard_failures_are_one_line() {
    let out = kioskctl(&[
        "idcard",
        "read",
        "--port",
        "serial:/dev/no-such-idcard-reader@115200",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("check"), "{err}");

    let dir = temp_dir();
    let link = dir.path().join("ttyIDCARD");
    let _sim = SimProcess::start(&link, "idcard-garbage.json");
    let port = format!("serial:{}@115200", link.display());
    let out = kioskctl(&["idcard", "read", "--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("protocol"), "{err}");

    let out = kioskctl(&[
        "simulate",
        "idcard",
        "--link",
        "/tmp/x",
        "--scenario",
        "/no/such.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn truncated_and_oversized_replies_are_typed_errors_within_the_timeout() {
    let dir = temp_dir();
    let link = dir.path().join("ttyIDCARD");
    let (dev, damage) = Tamper::new(IdCardSim::new(&IdCardScenario::demo()).unwrap());
    let _sim = SerialSim::start(dev, Some(&link)).unwrap();
    let spec = TransportSpec::Serial {
        path: link.to_str().unwrap().to_string(),
        baud: 115_200,
    };
    let opts = SamOptions {
        reply_timeout: Duration::from_millis(300),
        read_timeout: Duration::from_millis(600),
        ..SamOptions::default()
    };
    let mut reader = SamReader::open(&spec, opts).unwrap();
    let limit = Duration::from_millis(1200);

    // Half a reply, then nothing: a timeout that says how much came, at the reply timeout.
    damage.set(Damage::Truncate);
    let (r, took) = timed(limit, || reader.read_card(false));
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("bytes received"), "{e}");
    assert!(took >= Duration::from_millis(250), "{took:?}");

    // A length field of 65535 (more than any SAM frame): refused as soon as it is read.
    damage.set(Damage::Replace(vec![
        0xAA, 0xAA, 0xAA, 0x96, 0x69, 0xFF, 0xFF, 0x00, 0x00, 0x90,
    ]));
    let (r, took) = timed(limit, || reader.read_card(false));
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(took < Duration::from_millis(250), "{took:?}");

    // A length too short to hold the status words.
    damage.set(Damage::Replace(vec![
        0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x01, 0x00,
    ]));
    let (r, _) = timed(limit, || reader.read_card(false));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Protocol);

    // The SAM answers properly again, and the card is read.
    damage.set(Damage::None);
    let card = reader.read_card(false).unwrap().expect("card still there");
    assert_eq!(card.name, "张三");
}

#[test]
fn a_reply_arriving_after_its_timeout_is_not_taken_for_the_next_one() {
    let dir = temp_dir();
    let link = dir.path().join("ttyIDCARD");
    let (dev, damage) = Tamper::new(IdCardSim::new(&IdCardScenario::demo()).unwrap());
    let _sim = SerialSim::start(dev, Some(&link)).unwrap();
    let spec = TransportSpec::Serial {
        path: link.to_str().unwrap().to_string(),
        baud: 115_200,
    };
    let opts = SamOptions {
        reply_timeout: Duration::from_millis(300),
        ..SamOptions::default()
    };
    let mut reader = SamReader::open(&spec, opts).unwrap();

    // The SAM answers "find card" 500 ms late: the driver has given up by then.
    damage.set(Damage::Late(Duration::from_millis(500)));
    let e = reader.find_card().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    damage.set(Damage::None);
    std::thread::sleep(Duration::from_millis(400)); // the stale reply is queued now
    // A stale reply must not pass for the answer to the next command (find, select, read).
    let card = reader
        .read_card(false)
        .unwrap()
        .expect("card on the reader");
    assert_eq!(card.name, "张三");
}
