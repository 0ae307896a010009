//! Code scanners end to end: the serial scanner simulator on a real pseudo-terminal against
//! `SerialScanner` under the supervisor, and real QR images through OpenCV (`kioskctl scanner
//! decode`, camera image sequences).

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use kiosk_devices::{
    Availability, CameraScanner, CodeScanner, CodeSource, DeviceClass, DeviceEvent, DeviceFault,
    ErrorKind, HasKind, SerialScanner, Supervisor,
};
use kiosk_scanner::{CameraSpec, LineConfig, Symbology, Terminator};
use kiosk_sim::SerialSim;
use kiosk_sim::scanner::{ScannerSim, write_qr_sequence};
use kiosk_tests::{fixture, kioskctl, temp_dir};
use kiosk_transport::TransportSpec;

use crate::tamper::timed;

fn config() -> LineConfig {
    LineConfig {
        terminator: Terminator::CrLf,
        ..LineConfig::default()
    }
}

fn wait_for(events: &Receiver<DeviceEvent>, what: &str, pred: impl Fn(&DeviceEvent) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(e) = events.recv_timeout(Duration::from_millis(100))
            && pred(&e)
        {
            return;
        }
    }
    panic!("no {what} event within 3 s");
}

#[test]
fn serial_codes_garbage_unplug_and_replug() {
    let dir = temp_dir();
    let link = dir.path().join("ttySCAN");
    let (device, feed) = ScannerSim::new(config());
    let sim = SerialSim::start(device, Some(&link)).unwrap();
    let spec = TransportSpec::Serial {
        path: link.display().to_string(),
        baud: 9600,
    };

    let mut sup = Supervisor::new();
    sup.probe_interval = Duration::from_millis(100);
    sup.reopen_interval = Duration::from_millis(100);
    let events = sup.subscribe();
    let open_spec = spec.clone();
    let scanner = sup.add::<SerialScanner>(
        "scanner",
        DeviceClass::CodeScanner,
        &spec.to_string(),
        Box::new(move || {
            SerialScanner::open(&open_spec, config())
                .map(Box::new)
                .map_err(DeviceFault::from)
        }),
    );
    sup.start();
    assert!(scanner.is_open());

    // Codes arrive, with their symbology from the AIM identifier, in order.
    feed.scan("9787111213826", Some("]E0"));
    feed.scan("借书证 0042", Some("]Q1"));
    let t = Duration::from_secs(2);
    let first = scanner.with(|s| s.next_code(t)).unwrap().unwrap();
    assert_eq!(first.text, "9787111213826");
    assert_eq!(first.symbology, Symbology::EanUpc);
    assert_eq!(first.source, CodeSource::Serial);
    let second = scanner.with(|s| s.next_code(t)).unwrap().unwrap();
    assert_eq!(second.text, "借书证 0042");
    assert_eq!(second.symbology, Symbology::QrCode);

    // Noise is a typed protocol error; the next code still comes through.
    feed.garbage(b"\xff\xfe\x00\x81");
    let err = scanner.try_with(|s| s.next_code(t)).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    feed.scan("LIB0000042", None);
    let third = scanner.with(|s| s.next_code(t)).unwrap().unwrap();
    assert_eq!(third.text, "LIB0000042");
    assert_eq!(
        scanner
            .with(|s| s.next_code(Duration::from_millis(50)))
            .unwrap(),
        None
    );

    // Unplug: the supervisor's probe notices, reports Lost, health says NoDevice.
    sim.control().unplug();
    wait_for(&events, "Lost", |e| matches!(e, DeviceEvent::Lost { .. }));
    assert_eq!(scanner.health().availability, Availability::NoDevice);
    assert!(scanner.with(|s| s.next_code(t)).is_err());

    // Replug: reopened within 2 s, and codes flow again.
    let replugged = Instant::now();
    sim.control().replug();
    wait_for(&events, "reopen", |e| {
        matches!(e, DeviceEvent::Opened { reopen: true, .. })
    });
    assert!(replugged.elapsed() < Duration::from_secs(2));
    assert_eq!(scanner.health().availability, Availability::Online);
    feed.scan("AFTER-REPLUG", None);
    let again = scanner.with(|s| s.next_code(t)).unwrap().unwrap();
    assert_eq!(again.text, "AFTER-REPLUG");
    let h = scanner.health();
    assert_eq!((h.counters.unplugs, h.counters.reopens), (1, 1));
}

#[test]
fn kioskctl_scanner_read_from_simulator() {
    let dir = temp_dir();
    let link = dir.path().join("ttySCAN");
    let (device, feed) = ScannerSim::new(LineConfig::default());
    let _sim = SerialSim::start(device, Some(&link)).unwrap();
    let port = format!("serial:{}@9600", link.display());
    // The scanner sends the code a moment after kioskctl has opened the port (kioskctl drops
    // what was queued before it opened), so build kioskctl first.
    kiosk_tests::binary("kioskctl");
    let later = feed.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        later.scan("9787111213826", Some("]E0"));
    });
    let out = kioskctl(&[
        "scanner",
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
    assert_eq!(v["codes"][0]["text"], "9787111213826");
    assert_eq!(v["codes"][0]["symbology"], "ean-upc");
    // Nothing scanned: one line, non-zero exit.
    let out = kioskctl(&["scanner", "read", "--port", &port, "--timeout", "0.3"]);
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

#[test]
fn kioskctl_decodes_the_fixture_png() {
    let png = fixture("scanner/patron-qr.png");
    let out = kioskctl(&["scanner", "decode", png.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["codes"][0]["text"],
        "https://lib.example/patron/0042?n=张三"
    );
    assert_eq!(v["codes"][0]["symbology"], "qr-code");
    assert_eq!(v["codes"][0]["source"], "camera");

    let out = kioskctl(&["scanner", "decode", "/nonexistent/x.png"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-found"), "{err}");
}

#[test]
fn camera_sequence_reports_a_held_phone_once() {
    let dir = temp_dir();
    let spec = write_qr_sequence(
        dir.path(),
        &[
            Some("PAY:20240501:0001"),
            Some("PAY:20240501:0001"),
            Some("PAY:20240501:0001"),
            None,
            Some("健康码 0042"),
            Some("健康码 0042"),
        ],
    )
    .unwrap();
    let spec: CameraSpec = spec.parse().unwrap();
    let mut cam = CameraScanner::open(&spec, Duration::from_secs(2)).unwrap();
    let t = Duration::from_secs(5);
    let a = cam.next_code(t).unwrap().unwrap();
    assert_eq!(
        (a.text.as_str(), a.source),
        ("PAY:20240501:0001", CodeSource::Camera)
    );
    assert_eq!(cam.next_code(t).unwrap().unwrap().text, "健康码 0042");
    assert_eq!(cam.next_code(t).unwrap(), None);
    assert_eq!(cam.frames(), 6);

    let err = CameraScanner::open(&"camera:97".parse().unwrap(), Duration::ZERO).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let out = kioskctl(&[
        "scanner",
        "camera",
        "--device",
        &spec.to_string(),
        "--count",
        "2",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["codes"].as_array().unwrap().len(), 2);
}

/// Regenerates `fixtures/scanner/patron-qr.png`: `KIOSK_REGEN_FIXTURES=1 cargo test -p
/// kiosk-tests --test e2e scanner::regenerate`.
#[test]
fn regenerate_fixture_png() {
    if std::env::var_os("KIOSK_REGEN_FIXTURES").is_none() {
        return;
    }
    kiosk_sim::scanner::write_qr_image(
        "https://lib.example/patron/0042?n=张三",
        &fixture("scanner/patron-qr.png"),
        3,
    )
    .unwrap();
}

/// A serial scanner on a pty behind a symlink, under a supervisor that probes and reopens
/// every 100 ms.
fn supervised_scanner(
    link: &std::path::Path,
) -> (
    SerialSim,
    kiosk_sim::scanner::ScannerFeed,
    Supervisor,
    Receiver<DeviceEvent>,
    kiosk_devices::Supervised<SerialScanner>,
) {
    let (device, feed) = ScannerSim::new(config());
    let sim = SerialSim::start(device, Some(link)).unwrap();
    let spec = TransportSpec::Serial {
        path: link.display().to_string(),
        baud: 9600,
    };
    let mut sup = Supervisor::new();
    sup.probe_interval = Duration::from_millis(100);
    sup.reopen_interval = Duration::from_millis(100);
    let events = sup.subscribe();
    let open_spec = spec.clone();
    let scanner = sup.add::<SerialScanner>(
        "scanner",
        DeviceClass::CodeScanner,
        &spec.to_string(),
        Box::new(move || {
            SerialScanner::open(&open_spec, config())
                .map(Box::new)
                .map_err(DeviceFault::from)
        }),
    );
    sup.start();
    assert!(scanner.is_open());
    (sim, feed, sup, events, scanner)
}

#[test]
fn unplug_while_waiting_for_a_code_fails_at_once_and_the_scanner_comes_back() {
    let dir = temp_dir();
    let (sim, feed, _sup, events, scanner) = supervised_scanner(&dir.path().join("ttySCAN"));

    // The kiosk waits up to 5 s for a code; the cable is pulled 300 ms into the wait.
    let worker = {
        let scanner = scanner.clone();
        std::thread::spawn(move || scanner.try_with(|s| s.next_code(Duration::from_secs(5))))
    };
    std::thread::sleep(Duration::from_millis(300));
    let pulled = Instant::now();
    sim.control().unplug();
    let kind = match worker.join().unwrap() {
        Ok(Ok(code)) => panic!("no code can come during an unplug: {code:?}"),
        Ok(Err(e)) => e.kind(),
        Err(fault) => fault.kind,
    };
    assert_eq!(kind, ErrorKind::Disconnected);
    assert!(
        pulled.elapsed() < Duration::from_secs(1),
        "the wait ends with the unplug, not at its timeout"
    );
    wait_for(&events, "Lost", |e| matches!(e, DeviceEvent::Lost { .. }));
    let h = scanner.health();
    assert_eq!(h.availability, Availability::NoDevice);
    assert_eq!(h.counters.unplugs, 1);
    let fault = h
        .last_fault
        .expect("the fault is kept in the health report");
    assert!(fault.message.contains("serial:"), "names the port: {fault}");
    let err = scanner
        .with(|s| s.next_code(Duration::from_millis(100)))
        .unwrap_err();
    assert!(
        err.kind.needs_reopen(),
        "clear error while unplugged: {err}"
    );

    let replugged = Instant::now();
    sim.control().replug();
    wait_for(&events, "reopen", |e| {
        matches!(e, DeviceEvent::Opened { reopen: true, .. })
    });
    assert!(replugged.elapsed() < Duration::from_secs(2));
    feed.scan("9787111213826", Some("]E0"));
    let code = scanner
        .with(|s| s.next_code(Duration::from_secs(2)))
        .unwrap()
        .unwrap();
    assert_eq!(code.text, "9787111213826");
    let h = scanner.health();
    assert_eq!(h.availability, Availability::Online);
    assert_eq!((h.counters.unplugs, h.counters.reopens), (1, 1));
}

#[test]
fn truncated_and_overlong_lines_are_typed_errors_and_never_glued_to_the_next_code() {
    let dir = temp_dir();
    let (_sim, feed, _sup, _events, scanner) = supervised_scanner(&dir.path().join("ttySCAN"));
    let t = Duration::from_secs(3);
    let limit = kiosk_devices::scanner::LINE_GAP + Duration::from_millis(500);

    // Half an EAN-13, then the scanner goes quiet: cut off after the line gap, as a typed
    // error, well before the caller's timeout.
    feed.partial(b"]E0978711");
    let (r, took) = timed(limit, || scanner.try_with(|s| s.next_code(t)).unwrap());
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("without its terminator"), "{err}");
    assert!(took >= kiosk_devices::scanner::LINE_GAP - Duration::from_millis(100));
    // The next code comes through whole, not behind the cut-off half.
    feed.scan("LIB0000042", None);
    let code = scanner.with(|s| s.next_code(t)).unwrap().unwrap();
    assert_eq!(code.text, "LIB0000042");

    // A "line" far over the length limit (a scanner set to the wrong terminator, or noise):
    // reported once, the rest dropped up to its terminator, then decoding resumes.
    feed.garbage(&[b'7'; 5000]);
    let (r, _) = timed(limit, || scanner.try_with(|s| s.next_code(t)).unwrap());
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("longer than"), "{err}");
    feed.scan("借书证 0042", Some("]Q1"));
    let code = scanner.with(|s| s.next_code(t)).unwrap().unwrap();
    assert_eq!(code.text, "借书证 0042");
}
