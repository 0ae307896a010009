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
