//! RFID pad end to end: `HfReader` (FEIG ISO-Host and RR3036) against the pad simulator over a
//! real pseudo-terminal, the supervisor through an unplug, and `kioskctl rfid`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use kiosk_devices::{
    Availability, DeviceClass, DeviceEvent, ErrorKind, HasKind, HfReader, RfidOptions, RfidReader,
    Supervised, Supervisor,
};
use kiosk_rfid::{DataModel, ReaderKind, SecurityState};
use kiosk_sim::SerialSim;
use kiosk_sim::rfid::{RfidPad, RfidPadSim, SimTag, demo_book};
use kiosk_tests::{binary, fixture, kioskctl, temp_dir};
use kiosk_transport::TransportSpec;

use crate::tamper::{Damage, Tamper, timed};

const KINDS: [ReaderKind; 2] = [ReaderKind::Feig, ReaderKind::Rr3036];

fn opts() -> RfidOptions {
    RfidOptions {
        timeout: Duration::from_millis(300),
        ..RfidOptions::default()
    }
}

fn spec(kind: ReaderKind, path: &Path) -> TransportSpec {
    TransportSpec::Serial {
        path: path.display().to_string(),
        baud: kind.protocol().serial().baud,
    }
}

fn books(n: u32) -> RfidPad {
    RfidPad::new((1..=n).map(|i| demo_book(i, 0x07)).collect())
}

fn start(kind: ReaderKind, pad: &RfidPad) -> (SerialSim, HfReader) {
    let sim = SerialSim::start(RfidPadSim::new(kind, pad.clone()), None).unwrap();
    let reader = HfReader::open(&spec(kind, sim.path()), kind, opts()).unwrap();
    (sim, reader)
}

#[test]
fn inventory_of_three_and_of_ten_tags_both_protocols() {
    for kind in KINDS {
        for n in [3, 10] {
            let pad = books(n);
            let (_sim, mut reader) = start(kind, &pad);
            let tags = reader.inventory().unwrap();
            assert_eq!(tags.len(), n as usize, "{kind}");
            let mut ids: Vec<_> = tags
                .iter()
                .map(|t| t.primary_item_id().unwrap().to_string())
                .collect();
            ids.sort();
            let want: Vec<_> = (1..=n).map(|i| (30_000_000 + i).to_string()).collect();
            assert_eq!(ids, want, "{kind}");
            assert!(tags.iter().any(|t| t.data_model == DataModel::Iso28560_2));
            assert!(tags.iter().any(|t| t.data_model == DataModel::Iso28560_3));
            assert!(
                tags.iter()
                    .all(|t| t.owner_institution() == Some("DK-710100"))
            );
            assert!(
                tags.iter()
                    .any(|t| t.data.as_ref().unwrap().set_info.unwrap().total == 2)
            );
        }
    }
}

#[test]
fn secure_out_and_in_with_read_back_both_protocols() {
    for kind in KINDS {
        let pad = books(3);
        let (_sim, mut reader) = start(kind, &pad);
        let uid = pad.tags()[1].uid;
        let tag = reader.set_security(uid, SecurityState::Unsecured).unwrap();
        assert_eq!(tag.afi, 0xC2, "{kind}");
        assert_eq!(tag.eas, Some(false));
        assert_eq!(pad.tag(uid).unwrap().afi, 0xC2);
        assert!(!pad.tag(uid).unwrap().eas);
        let tag = reader.set_security(uid, SecurityState::Secured).unwrap();
        assert_eq!(tag.afi, 0x07);
        assert!(pad.tag(uid).unwrap().eas);
        assert_eq!(tag.primary_item_id(), Some("30000002"));
    }
}

#[test]
fn write_tag_data_then_read_it_both_protocols() {
    for kind in KINDS {
        let uid = "E004015000000063".parse().unwrap();
        let pad = RfidPad::new(vec![SimTag::blank(uid)]);
        let (_sim, mut reader) = start(kind, &pad);
        assert_eq!(reader.read_tag(uid).unwrap().data_model, DataModel::Blank);
        for model in [DataModel::Iso28560_3, DataModel::Iso28560_2] {
            let data = demo_book(7, 0x07);
            let want = kiosk_rfid::tagdata::decode(
                kiosk_rfid::tagdata::detect(data.dsfid, &data.memory),
                &data.memory,
            )
            .unwrap();
            reader.write_tag_data(uid, model, &want).unwrap();
            let got = reader.read_tag(uid).unwrap();
            assert_eq!(got.data_model, model, "{kind}");
            assert_eq!(got.data.unwrap(), want);
        }
    }
}

#[test]
fn tag_errors_are_typed_both_protocols() {
    for kind in KINDS {
        let pad = books(2);
        let mut failing = demo_book(9, 0x07);
        failing.fail_writes = true;
        pad.add(failing.clone());
        let (_sim, mut reader) = start(kind, &pad);
        let e = reader
            .set_security(failing.uid, SecurityState::Unsecured)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MediaRejected, "{kind}: {e}");
        let gone = pad.tags()[0].uid;
        pad.remove(gone);
        let e = reader
            .set_security(gone, SecurityState::Unsecured)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoMedia, "{kind}: {e}");
        let e = reader.read_tag(gone).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoMedia, "{kind}: {e}");
    }
}

#[test]
fn garbage_replies_give_a_protocol_error_then_recover_both_protocols() {
    for kind in KINDS {
        let pad = books(3);
        let (_sim, mut reader) = start(kind, &pad);
        pad.set_garbage(true);
        let t0 = Instant::now();
        let e = reader.inventory().unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Protocol | ErrorKind::Timeout),
            "{kind}: {e}"
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
        pad.set_garbage(false);
        assert_eq!(reader.inventory().unwrap().len(), 3, "{kind}");
    }
}

fn wait_for(events: &Receiver<DeviceEvent>, within: Duration, want: impl Fn(&DeviceEvent) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) if want(&e) => return,
            Ok(_) => continue,
            Err(e) => panic!("event did not come within {within:?}: {e}"),
        }
    }
}

#[test]
fn unplug_mid_inventory_is_reported_and_the_pad_comes_back_both_protocols() {
    for kind in KINDS {
        let dir = temp_dir();
        let link = dir.path().join("ttyRFID");
        let pad = books(10);
        let sim = SerialSim::start(RfidPadSim::new(kind, pad.clone()), Some(&link)).unwrap();
        let mut sup = Supervisor::new();
        sup.probe_interval = Duration::from_millis(100);
        sup.reopen_interval = Duration::from_millis(100);
        let events = sup.subscribe();
        let s = spec(kind, &link);
        let dev: Supervised<dyn RfidReader> = sup.add(
            "rfid",
            DeviceClass::RfidReader,
            &s.to_string(),
            HfReader::opener(s.clone(), kind, opts()),
        );
        sup.start();
        assert!(dev.is_open(), "{kind}");
        assert_eq!(dev.with(|r| r.inventory()).unwrap().len(), 10);

        // Pace the pad so the inventory is still running when the cable is pulled.
        sim.control().set_baud(Some(kind.protocol().serial().baud));
        let worker = {
            let dev = dev.clone();
            std::thread::spawn(move || dev.with(|r| r.inventory()))
        };
        std::thread::sleep(Duration::from_millis(60));
        sim.control().unplug();
        let err = worker.join().unwrap().unwrap_err();
        assert!(
            matches!(
                err.kind,
                ErrorKind::Disconnected | ErrorKind::Timeout | ErrorKind::NotFound
            ),
            "{kind}: {err:?}"
        );
        assert!(!err.message.is_empty());
        wait_for(&events, Duration::from_secs(2), |e| {
            matches!(e, DeviceEvent::Lost { .. })
        });
        assert_eq!(dev.health().availability, Availability::NoDevice);

        sim.control().set_baud(None);
        let t0 = Instant::now();
        sim.control().replug();
        wait_for(&events, Duration::from_secs(2), |e| {
            matches!(e, DeviceEvent::Opened { reopen: true, .. })
        });
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(dev.health().availability, Availability::Online);
        assert_eq!(dev.with(|r| r.inventory()).unwrap().len(), 10, "{kind}");
        assert_eq!(dev.health().counters.reopens, 1);
    }
}

#[test]
fn kioskctl_inventory_and_secure_json_both_protocols() {
    for kind in KINDS {
        let pad = books(3);
        let sim = SerialSim::start(RfidPadSim::new(kind, pad.clone()), None).unwrap();
        let port = spec(kind, sim.path()).to_string();
        let out = kioskctl(&[
            "rfid",
            "inventory",
            "--port",
            &port,
            "--reader",
            kind.as_str(),
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let tags = v.as_array().unwrap();
        assert_eq!(tags.len(), 3);
        for t in tags {
            for field in [
                "uid",
                "afi",
                "data_model",
                "primary_item_id",
                "owner_institution",
            ] {
                assert!(!t[field].is_null(), "{field} missing in {t}");
            }
            assert!(t["set_info"]["total"].is_u64());
            assert!(t["type_of_usage"].is_string());
        }
        let uid = tags[0]["uid"].as_str().unwrap();
        let out = kioskctl(&[
            "rfid",
            "secure",
            "--port",
            &port,
            "--reader",
            kind.as_str(),
            "--uid",
            uid,
            "--state",
            "out",
            "--afi-out",
            "DA",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["afi"], "DA");
        assert_eq!(v["security"], "unsecured");
        assert_eq!(pad.tag(uid.parse().unwrap()).unwrap().afi, 0xDA);
    }
}

#[test]
fn kioskctl_fails_with_one_line_on_garbage() {
    let pad = books(3);
    pad.set_garbage(true);
    let sim = SerialSim::start(RfidPadSim::new(ReaderKind::Rr3036, pad), None).unwrap();
    let port = spec(ReaderKind::Rr3036, sim.path()).to_string();
    let out = kioskctl(&["rfid", "inventory", "--port", &port, "--reader", "rr3036"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("protocol") || err.contains("timeout"), "{err}");
}

#[test]
fn kioskctl_simulate_rfid_from_a_scenario() {
    let dir = temp_dir();
    let link = dir.path().join("ttyPAD");
    let scenario = fixture("scenarios/rfid-three-books.json");
    let mut child = Command::new(binary("kioskctl"))
        .args(["simulate", "rfid-rr3036", "--link"])
        .arg(&link)
        .arg("--scenario")
        .arg(&scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !link.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let port = format!("serial:{}@19200", link.display());
    let out = kioskctl(&[
        "rfid",
        "inventory",
        "--port",
        &port,
        "--reader",
        "rr3036",
        "--json",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags = v.as_array().unwrap();
    assert_eq!(tags.len(), 3);
    assert!(
        tags.iter()
            .any(|t| t["afi"] == "C2" && t["security"] == "unsecured")
    );
    assert!(tags.iter().any(|t| t["owner_institution"] == "US-InU-Mu"));
}

#[test]
fn truncated_and_malformed_length_frames_are_typed_errors_both_protocols() {
    for kind in KINDS {
        let pad = books(3);
        let (dev, damage) = Tamper::new(RfidPadSim::new(kind, pad.clone()));
        let sim = SerialSim::start(dev, None).unwrap();
        let mut reader = HfReader::open(&spec(kind, sim.path()), kind, opts()).unwrap();
        let limit = Duration::from_millis(1000);

        // Half a frame, then nothing: a timeout at the reply timeout (300 ms here).
        damage.set(Damage::Truncate);
        let (r, took) = timed(limit, || reader.inventory());
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{kind}: {e}");
        assert!(took >= Duration::from_millis(250), "{kind}: {took:?}");

        // The longest frame a length byte can announce, all noise: read to its end (the
        // protocol's frame limit bounds it), then rejected by its CRC.
        damage.set(Damage::Replace(vec![0xFF; 300]));
        let (r, _) = timed(limit, || reader.inventory());
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Protocol, "{kind}");

        // A length byte too small for any frame.
        damage.set(Damage::Replace(vec![0x01, 0x00, 0x00]));
        let (r, took) = timed(limit, || reader.inventory());
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Protocol, "{kind}");
        assert!(took < Duration::from_millis(250), "{kind}: {took:?}");

        damage.set(Damage::None);
        assert_eq!(reader.inventory().unwrap().len(), 3, "{kind}");
    }
}
