//! Fingerprint module end to end: the Synochip driver in `kiosk-devices` against the
//! protocol-true simulator on a real pseudo-terminal, the supervisor through an unplug, and
//! `kioskctl fingerprint` / `kioskctl simulate fingerprint`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_devices::fingerprint::{
    FingerprintError, FingerprintOptions, FingerprintReader, SynochipReader, Waiting,
};
use kiosk_devices::{
    Availability, Device, DeviceClass, DeviceEvent, ErrorKind, HasKind, Supervised, Supervisor,
};
use kiosk_sim::{FingerprintScenario, FingerprintSim, FingerprintSimHandle, SerialSim};
use kiosk_tests::{binary, fixture, kioskctl, temp_dir};
use kiosk_transport::TransportSpec;

use crate::tamper::{Damage, Tamper, timed};

fn scenario(name: &str) -> FingerprintScenario {
    let text = std::fs::read_to_string(fixture(&format!("scenarios/fingerprint-{name}.json")))
        .expect("scenario file");
    FingerprintScenario::from_json(&text).expect("valid scenario")
}

struct Rig {
    sim: SerialSim,
    handle: FingerprintSimHandle,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn start(name: &str) -> Rig {
        let dir = temp_dir();
        let sim = FingerprintSim::new(&scenario(name)).unwrap();
        let handle = sim.handle();
        let sim = SerialSim::start(sim, Some(&dir.path().join("ttyFP"))).unwrap();
        Rig {
            sim,
            handle,
            _dir: dir,
        }
    }

    fn port(&self) -> String {
        format!("serial:{}@57600", self.sim.path().display())
    }

    fn spec(&self) -> TransportSpec {
        self.port().parse().unwrap()
    }

    fn open(&self, opts: FingerprintOptions) -> Result<SynochipReader, FingerprintError> {
        SynochipReader::open(&self.spec(), opts)
    }
}

fn quick() -> FingerprintOptions {
    FingerprintOptions {
        finger_timeout: Duration::from_millis(400),
        poll_interval: Duration::from_millis(20),
        ..Default::default()
    }
}

#[test]
fn info_reads_system_parameters_and_count() {
    let rig = Rig::start("library");
    let mut r = rig.open(quick()).unwrap();
    let p = r.system_parameters();
    assert_eq!((p.capacity, p.security_level, p.baud()), (163, 3, 57600));
    assert_eq!(p.packet_size.bytes(), 128);
    assert_eq!(r.template_count().unwrap(), 2);
    let info = r.info();
    assert_eq!(info.class, DeviceClass::FingerprintReader);
    assert!(info.transport.contains("ttyFP"));
    r.probe().unwrap();
}

#[test]
fn enrol_then_search_hits_the_new_slot() {
    let rig = Rig::start("enrol");
    let mut r = rig.open(quick()).unwrap();
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let p2 = Arc::clone(&prompts);
    r.set_prompt(Box::new(move |w| p2.lock().unwrap().push(w)));
    assert_eq!(r.enroll(5).unwrap(), 5);
    assert_eq!(rig.handle.slots(), [5]);
    assert_eq!(r.template_count().unwrap(), 1);
    let hit = r.search().unwrap().expect("alice is enrolled");
    assert_eq!(hit.page, 5);
    assert!(prompts.lock().unwrap().contains(&Waiting::FingerOff));
    // The stored template uploads across several data packets and stays redacted.
    let t = r.template(5).unwrap();
    assert_eq!(t.len(), 512);
    assert_eq!(format!("{t:?}"), "Template(<512 bytes redacted>)");
}

#[test]
fn small_packets_and_a_large_library() {
    let rig = Rig::start("small-packets");
    let mut r = rig.open(quick()).unwrap();
    assert_eq!(r.system_parameters().capacity, 1000);
    assert_eq!(r.search().unwrap().map(|h| h.page), Some(999));
    assert_eq!(r.template(999).unwrap().len(), 512);
    let e = r.enroll(1000).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
}

#[test]
fn search_miss_is_none_not_an_error() {
    let rig = Rig::start("miss");
    let mut r = rig.open(quick()).unwrap();
    assert_eq!(r.search().unwrap(), None);
}

#[test]
fn no_finger_times_out_as_no_media_and_the_module_stays_usable() {
    let rig = Rig::start("no-finger");
    let mut r = rig.open(quick()).unwrap();
    let t0 = Instant::now();
    let e = r.search().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoMedia, "{e}");
    assert!(matches!(e, FingerprintError::NoFinger(_)));
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(r.template_count().unwrap(), 1);
    rig.handle.place("alice");
    assert_eq!(r.search().unwrap().map(|h| h.page), Some(1));
}

#[test]
fn poor_image_is_media_rejected() {
    let rig = Rig::start("poor-image");
    let mut r = rig.open(quick()).unwrap();
    let e = r.enroll(1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MediaRejected, "{e}");
    assert_eq!(rig.handle.template_count(), 0);
}

#[test]
fn wrong_password_is_a_config_error() {
    let rig = Rig::start("password");
    let e = rig.open(quick()).err().expect("default password refused");
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("password"), "{e}");
    let mut r = rig
        .open(FingerprintOptions {
            password: 0x1234_5678,
            ..quick()
        })
        .unwrap();
    assert_eq!(r.search().unwrap().map(|h| h.page), Some(1));
}

#[test]
fn garbage_reply_is_a_protocol_error_then_recovers() {
    let rig = Rig::start("library");
    let mut r = rig.open(quick()).unwrap();
    rig.handle.set_garbage(true);
    let e = r.template_count().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    rig.handle.set_garbage(false);
    assert_eq!(r.template_count().unwrap(), 2);

    let bad = Rig::start("garbage");
    let e = bad.open(quick()).err().expect("garbage on open");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
}

fn wait_for(
    events: &std::sync::mpsc::Receiver<DeviceEvent>,
    within: Duration,
    mut want: impl FnMut(&DeviceEvent) -> bool,
) -> DeviceEvent {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) if want(&e) => return e,
            Ok(_) => continue,
            Err(e) => panic!("no expected event within {within:?}: {e}"),
        }
    }
}

#[test]
fn unplug_mid_search_is_reported_and_the_module_is_reopened() {
    let rig = Rig::start("no-finger");
    let mut sup = Supervisor::new();
    sup.reopen_interval = Duration::from_millis(100);
    sup.probe_interval = Duration::from_millis(200);
    let events = sup.subscribe();
    let opts = FingerprintOptions {
        finger_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let dev: Supervised<dyn FingerprintReader> = sup.add(
        "fingerprint",
        DeviceClass::FingerprintReader,
        &rig.port(),
        SynochipReader::opener(rig.spec(), opts),
    );
    sup.start();
    wait_for(&events, Duration::from_secs(2), |e| {
        matches!(e, DeviceEvent::Opened { reopen: false, .. })
    });

    // A search waits for a finger; the cable is pulled meanwhile.
    let d2 = dev.clone();
    let search = std::thread::spawn(move || d2.with(|r| r.search()));
    std::thread::sleep(Duration::from_millis(300));
    let control = rig.sim.control();
    control.unplug();
    let fault = search.join().unwrap().unwrap_err();
    assert_eq!(fault.kind, ErrorKind::Disconnected, "{fault}");
    wait_for(&events, Duration::from_secs(2), |e| {
        matches!(e, DeviceEvent::Lost { .. })
    });
    let h = dev.health();
    assert_eq!(h.availability, Availability::NoDevice);
    assert!(h.last_fault.is_some());
    let err = dev.with(|r| r.template_count()).unwrap_err();
    assert!(err.kind.needs_reopen(), "{err}");

    let replugged = Instant::now();
    control.replug();
    wait_for(&events, Duration::from_secs(2), |e| {
        matches!(e, DeviceEvent::Opened { reopen: true, .. })
    });
    assert!(replugged.elapsed() < Duration::from_secs(2));
    assert_eq!(dev.health().availability, Availability::Online);
    rig.handle.place("alice");
    let hit = dev.with(|r| r.search()).unwrap();
    assert_eq!(hit.map(|h| h.page), Some(1));
    let h = dev.health();
    assert_eq!((h.counters.unplugs, h.counters.reopens), (1, 1));
}

fn stdout(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "kioskctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

#[test]
fn kioskctl_info_enroll_search_against_the_simulator() {
    let rig = Rig::start("enrol");
    let port = rig.port();
    let info = stdout(&kioskctl(&[
        "fingerprint",
        "info",
        "--port",
        &port,
        "--json",
    ]));
    assert_eq!(info["capacity"], 163);
    assert_eq!(info["templates"], 0);
    let enrolled = stdout(&kioskctl(&[
        "fingerprint",
        "enroll",
        "--slot",
        "3",
        "--port",
        &port,
        "--json",
        "--timeout",
        "2",
    ]));
    assert_eq!(enrolled["slot"], 3);
    let found = stdout(&kioskctl(&[
        "fingerprint",
        "search",
        "--port",
        &port,
        "--json",
    ]));
    assert_eq!(found["matched"], true);
    assert_eq!(found["slot"], 3);
    // Text output never shows template bytes, only the slot.
    let text = kioskctl(&["fingerprint", "search", "--port", &port]);
    assert!(text.status.success());
    assert_eq!(
        String::from_utf8_lossy(&text.stdout),
        "match: slot 3 (score 100)\n"
    );

    rig.handle.lift();
    let miss = kioskctl(&["fingerprint", "search", "--port", &port, "--timeout", "0.3"]);
    assert_eq!(miss.status.code(), Some(1));
    let err = String::from_utf8_lossy(&miss.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("kioskctl: ") && last.contains("place a finger"),
        "{err}"
    );
}

#[test]
fn kioskctl_failures_are_one_line_with_what_to_check() {
    let rig = Rig::start("password");
    let port = rig.port();
    let out = kioskctl(&["fingerprint", "info", "--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--password"), "{err}");
    let ok = stdout(&kioskctl(&[
        "fingerprint",
        "info",
        "--port",
        &port,
        "--password",
        "12345678",
        "--json",
    ]));
    assert_eq!(ok["templates"], 1);

    let bad = kioskctl(&["fingerprint", "info", "--port", &port, "--password", "xyz"]);
    assert_eq!(bad.status.code(), Some(2));

    let gone = kioskctl(&[
        "fingerprint",
        "info",
        "--port",
        "serial:/dev/does-not-exist",
    ]);
    assert_eq!(gone.status.code(), Some(1));
    let err = String::from_utf8_lossy(&gone.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("check"), "{err}");
}

#[test]
fn kioskctl_simulate_fingerprint_serves_a_scenario() {
    let dir = temp_dir();
    let link = dir.path().join("ttySIMFP");
    let scenario = fixture("scenarios/fingerprint-library.json");
    let mut child = Command::new(binary("kioskctl"))
        .args(["simulate", "fingerprint", "--link"])
        .arg(&link)
        .arg("--scenario")
        .arg(&scenario)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !Path::new(&link).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let port = format!("serial:{}", link.display());
    let found = stdout(&kioskctl(&[
        "fingerprint",
        "search",
        "--port",
        &port,
        "--json",
    ]));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(found["slot"], 1);
    assert!(status.success(), "simulator exit: {status}");
}

#[test]
fn truncated_and_oversized_packets_are_typed_errors_within_the_timeout() {
    let dir = temp_dir();
    let (dev, damage) = Tamper::new(FingerprintSim::new(&scenario("library")).unwrap());
    let sim = SerialSim::start(dev, Some(&dir.path().join("ttyFP"))).unwrap();
    let spec: TransportSpec = format!("serial:{}@57600", sim.path().display())
        .parse()
        .unwrap();
    let opts = FingerprintOptions {
        reply_timeout: Duration::from_millis(300),
        ..quick()
    };
    let mut r = SynochipReader::open(&spec, opts).unwrap();
    assert_eq!(r.template_count().unwrap(), 2);
    let limit = Duration::from_millis(1200);

    // Half an acknowledgement, then nothing: a timeout at the reply timeout.
    damage.set(Damage::Truncate);
    let (res, took) = timed(limit, || r.template_count());
    let e = res.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(took >= Duration::from_millis(250), "{took:?}");

    // A packet header announcing a 65533-byte payload (the module's maximum is 256):
    // refused when the length is read, not after waiting for the bytes.
    damage.set(Damage::Replace(vec![
        0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0xFF, 0xFF, 0x00,
    ]));
    let (res, took) = timed(limit, || r.template_count());
    let e = res.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(took < Duration::from_millis(250), "{took:?}");

    // A length too short to hold the checksum.
    damage.set(Damage::Replace(vec![
        0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x01, 0x00,
    ]));
    let (res, _) = timed(limit, || r.template_count());
    assert_eq!(res.unwrap_err().kind(), ErrorKind::Protocol);

    damage.set(Damage::None);
    assert_eq!(r.template_count().unwrap(), 2);
}

#[test]
fn a_reply_arriving_after_its_timeout_is_not_taken_for_the_next_one() {
    let dir = temp_dir();
    let (dev, damage) = Tamper::new(FingerprintSim::new(&scenario("library")).unwrap());
    let sim = SerialSim::start(dev, Some(&dir.path().join("ttyFP"))).unwrap();
    let spec: TransportSpec = format!("serial:{}@57600", sim.path().display())
        .parse()
        .unwrap();
    let opts = FingerprintOptions {
        reply_timeout: Duration::from_millis(300),
        ..quick()
    };
    let mut r = SynochipReader::open(&spec, opts).unwrap();
    let params = r.system_parameters();

    // The template count's acknowledgement comes 500 ms late: the driver has given up.
    damage.set(Damage::Late(Duration::from_millis(500)));
    let e = r.template_count().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    damage.set(Damage::None);
    std::thread::sleep(Duration::from_millis(400)); // the stale acknowledgement is queued now
    // Acknowledgements do not name their command, so a stale one would pass for the answer to
    // the next request: it must be dropped.
    assert_eq!(r.read_system_parameters().unwrap(), params);
    assert_eq!(r.template_count().unwrap(), 2);
}
