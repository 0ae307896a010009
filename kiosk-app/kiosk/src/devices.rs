//! The terminal's devices, opened through the [`Supervisor`] from the profile (devices.md §5):
//! the RFID pad, the ID-card reader and the receipt printer, each reopened by the supervisor
//! after an unplug. A device whose transport is `sim:` (every device in demo mode) gets its
//! simulator started in this process on a pseudo-terminal, speaking the device's real protocol,
//! and the maintenance menu drives the simulators ([`DemoControls`]): place or take the ID
//! card, put the demo stack on the pad or clear it, run out of paper.
//!
//! The speaker of the spoken mode (espeak-ng, [`speech_options`]) is a supervised device too, so
//! a missing engine or sound device shows in the menu like an unplugged reader and its test
//! says a sentence. Devices the app does not use yet (camera) stay "not opened" in the menu.

use std::sync::Arc;
use std::time::Duration;

use kiosk_devices::idcard::{SamOptions, SamReader};
use kiosk_devices::printer::EscPosPrinter;
use kiosk_devices::profile::{DeviceEntry, Profile};
use kiosk_devices::rfid::{HfReader, RfidOptions};
use kiosk_devices::speaker::{EspeakOptions, EspeakSpeaker, Speaker};
use kiosk_devices::supervisor::{Supervised, Supervisor};
use kiosk_devices::{
    CodeScanner, DeviceClass, IdCardReader, ReceiptPrinter, RfidReader, SerialScanner,
};
use kiosk_rfid::ReaderKind;
use kiosk_sim::SerialSim;
use kiosk_sim::idcard::{IdCardScenario, IdCardSim, IdCardSimHandle, ScenarioCard};
use kiosk_sim::printer::{PrinterSim, PrinterSimOptions, StatePatch};
use kiosk_sim::rfid::{RfidPad, RfidPadSim, SimTag};
use kiosk_sim::scanner::{ScannerFeed, ScannerSim};
use kiosk_transport::TransportSpec;

/// The profile's devices as the app uses them.
pub struct Devices {
    pub supervisor: Arc<Supervisor>,
    pub rfid: Option<Supervised<dyn RfidReader>>,
    pub idcard: Option<Supervised<dyn IdCardReader>>,
    pub printer: Option<Supervised<dyn ReceiptPrinter>>,
    pub scanner: Option<Supervised<dyn CodeScanner>>,
    pub fingerprint: Option<Supervised<dyn kiosk_devices::FingerprintReader>>,
    /// The spoken mode's voice.
    pub speaker: Supervised<dyn Speaker>,
    /// The simulators behind `sim:` devices (kept running while the app runs).
    pub demo: Option<DemoControls>,
}

/// Why a device of the profile could not be set up (the device is then left out and the
/// menu shows it as not opened).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("device {name}: transport {transport:?}: {reason}")]
    Transport {
        name: String,
        transport: String,
        reason: String,
    },
    #[error("device {name}: its simulator did not start: {reason}")]
    Simulator { name: String, reason: String },
}

/// The running simulators of a demo and what the maintenance menu can do with them.
pub struct DemoControls {
    pad: Option<RfidPad>,
    idcard: Option<IdCardSimHandle>,
    printer: Option<PrinterSim>,
    scanner: Option<ScannerFeed>,
    fingerprint: Option<kiosk_sim::fingerprint::FingerprintSimHandle>,
    /// The books `put-books` lays on the pad.
    stack: Vec<SimTag>,
    _serial: Vec<SerialSim>,
}

/// One action of the menu's "simulators" section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimAction {
    /// Machine name (`place-card`…), passed back to [`DemoControls::run`].
    pub id: &'static str,
    /// English label, translated in `ui/maintenance.slint`.
    pub label: &'static str,
}

/// Every simulator action, in menu order.
pub const SIM_ACTIONS: [SimAction; 9] = [
    SimAction {
        id: "place-card",
        label: "Place the demo ID card",
    },
    SimAction {
        id: "remove-card",
        label: "Take the ID card away",
    },
    SimAction {
        id: "put-books",
        label: "Put the demo books on the pad",
    },
    SimAction {
        id: "clear-pad",
        label: "Clear the pad",
    },
    SimAction {
        id: "show-phone-code",
        label: "Show the demo phone code to the scanner",
    },
    SimAction {
        id: "place-finger",
        label: "Place a finger on the fingerprint reader",
    },
    SimAction {
        id: "lift-finger",
        label: "Lift the finger",
    },
    SimAction {
        id: "paper-out",
        label: "Printer out of paper",
    },
    SimAction {
        id: "paper-in",
        label: "Printer paper loaded",
    },
];

impl DemoControls {
    /// The actions the running simulators offer.
    pub fn actions(&self) -> Vec<SimAction> {
        SIM_ACTIONS
            .iter()
            .copied()
            .filter(|a| match a.id {
                "place-card" | "remove-card" => self.idcard.is_some(),
                "put-books" | "clear-pad" => self.pad.is_some(),
                "show-phone-code" => self.scanner.is_some(),
                "place-finger" | "lift-finger" => self.fingerprint.is_some(),
                _ => self.printer.is_some(),
            })
            .collect()
    }

    /// Runs action `id`; the result is a technician's line (no personal data).
    pub fn run(&self, id: &str) -> Result<String, String> {
        let missing = || format!("{id}: that simulator is not running");
        match id {
            "place-card" => {
                let card = ScenarioCard::zhang_san()
                    .to_card()
                    .map_err(|e| e.to_string())?;
                self.idcard.as_ref().ok_or_else(missing)?.place(card);
                Ok("demo ID card placed on the reader".into())
            }
            "remove-card" => {
                self.idcard.as_ref().ok_or_else(missing)?.remove();
                Ok("ID card taken away".into())
            }
            "put-books" => {
                let pad = self.pad.as_ref().ok_or_else(missing)?;
                for tag in &self.stack {
                    pad.remove(tag.uid);
                    pad.add(tag.clone());
                }
                Ok(format!("{} books on the pad", self.stack.len()))
            }
            "clear-pad" => {
                let pad = self.pad.as_ref().ok_or_else(missing)?;
                let n = pad.tags().len();
                for tag in pad.tags() {
                    pad.remove(tag.uid);
                }
                Ok(format!("{n} tags taken off the pad"))
            }
            "show-phone-code" => {
                let scanner = self.scanner.as_ref().ok_or_else(missing)?;
                scanner.scan(&demo_phone_code(), Some("]Q1"));
                Ok("demo phone code shown to the scanner".into())
            }
            "place-finger" => {
                self.fingerprint
                    .as_ref()
                    .ok_or_else(missing)?
                    .place("demo-right-index");
                Ok("a finger lies on the sensor".into())
            }
            "lift-finger" => {
                self.fingerprint.as_ref().ok_or_else(missing)?.lift();
                Ok("the sensor is empty".into())
            }
            "paper-out" | "paper-in" => {
                let printer = self.printer.as_ref().ok_or_else(missing)?;
                let paper = if id == "paper-out" {
                    kiosk_escpos::PaperLevel::Out
                } else {
                    kiosk_escpos::PaperLevel::Ok
                };
                printer.set_state(&StatePatch {
                    paper: Some(paper),
                    ..StatePatch::default()
                });
                Ok(format!("printer paper: {paper:?}"))
            }
            _ => Err(format!("{id}: no such simulator action")),
        }
    }

    /// The simulated pad (tests look at the tags' AFI).
    pub fn pad(&self) -> Option<&RfidPad> {
        self.pad.as_ref()
    }

    /// The simulated printer (tests read what it printed).
    pub fn printer(&self) -> Option<&PrinterSim> {
        self.printer.as_ref()
    }
}

fn spec_of(name: &str, entry: &DeviceEntry) -> Result<TransportSpec, SetupError> {
    entry.spec().map_err(|e| SetupError::Transport {
        name: name.into(),
        transport: entry.transport.clone(),
        reason: e.to_string(),
    })
}

fn is_sim(entry: &DeviceEntry) -> bool {
    entry.transport.trim() == "sim:"
}

fn sim_failed(name: &str, e: impl std::fmt::Display) -> SetupError {
    SetupError::Simulator {
        name: name.into(),
        reason: e.to_string(),
    }
}

impl Devices {
    /// Opens the profile's `rfid`, `idcard` and `printer` devices through a started
    /// supervisor; `demo_stack` is what the menu's "put books" lays on a simulated pad.
    /// A device that cannot be set up is left out and reported in the returned list.
    pub fn open(profile: &Profile, demo_stack: Vec<SimTag>) -> (Devices, Vec<SetupError>) {
        let mut supervisor = Supervisor::new();
        let mut problems = Vec::new();
        let mut demo = DemoControls {
            pad: None,
            idcard: None,
            printer: None,
            scanner: None,
            fingerprint: None,
            stack: demo_stack,
            _serial: Vec::new(),
        };

        // The device's transport: its simulator started on a pty for `sim:`, else the
        // profile's transport string. A failure is reported and the device left out.
        let mut transport = |name: &str,
                             entry: &DeviceEntry,
                             sim: &mut dyn FnMut() -> Result<TransportSpec, String>|
         -> Option<TransportSpec> {
            let spec = if is_sim(entry) {
                sim().map_err(|e| sim_failed(name, e))
            } else {
                spec_of(name, entry)
            };
            spec.map_err(|e| problems.push(e)).ok()
        };
        let pty = |sim: &SerialSim, baud: u32| TransportSpec::Serial {
            path: sim.path().display().to_string(),
            baud,
        };

        let rfid = profile.devices.get("rfid").and_then(|entry| {
            let kind: ReaderKind = entry
                .protocol
                .as_deref()
                .unwrap_or("feig")
                .parse()
                .unwrap_or(ReaderKind::Feig);
            let spec = transport("rfid", entry, &mut || {
                let pad = RfidPad::new(Vec::new());
                let sim = SerialSim::start(RfidPadSim::new(kind, pad.clone()), None)
                    .map_err(|e| e.to_string())?;
                let spec = pty(&sim, kind.protocol().serial().baud);
                demo.pad = Some(pad);
                demo._serial.push(sim);
                Ok(spec)
            })?;
            let opts = RfidOptions {
                afi: afi_config(profile),
                ..RfidOptions::default()
            };
            Some(supervisor.add(
                "rfid",
                DeviceClass::RfidReader,
                &entry.transport,
                HfReader::opener(spec, kind, opts),
            ))
        });

        let idcard = profile.devices.get("idcard").and_then(|entry| {
            let spec = transport("idcard", entry, &mut || {
                let scenario = IdCardScenario {
                    card: None,
                    ..IdCardScenario::demo()
                };
                let sim = IdCardSim::new(&scenario).map_err(|e| e.to_string())?;
                let handle = sim.handle();
                let sim = SerialSim::start(sim, None).map_err(|e| e.to_string())?;
                let spec = pty(&sim, 115_200);
                demo.idcard = Some(handle);
                demo._serial.push(sim);
                Ok(spec)
            })?;
            Some(supervisor.add(
                "idcard",
                DeviceClass::IdCardReader,
                &entry.transport,
                SamReader::opener(spec, SamOptions::default()),
            ))
        });

        let printer = profile.devices.get("printer").and_then(|entry| {
            let spec = transport("printer", entry, &mut || {
                let sim = PrinterSim::start(PrinterSimOptions {
                    pty: true,
                    ..PrinterSimOptions::default()
                })
                .map_err(|e| e.to_string())?;
                let path = sim
                    .pty_path()
                    .map(|p| p.display().to_string())
                    .ok_or("no pseudo-terminal")?;
                demo.printer = Some(sim);
                Ok(TransportSpec::Serial {
                    path,
                    baud: 115_200,
                })
            })?;
            let opener: kiosk_devices::supervisor::Opener<dyn ReceiptPrinter> =
                Box::new(move || {
                    EscPosPrinter::open(&spec)
                        .map(|p| Box::new(p) as Box<dyn ReceiptPrinter>)
                        .map_err(|e| kiosk_devices::health::DeviceFault::from_error(&e))
                });
            Some(supervisor.add(
                "printer",
                DeviceClass::ReceiptPrinter,
                &entry.transport,
                opener,
            ))
        });

        let scanner = profile.devices.get("scanner").and_then(|entry| {
            let config = kiosk_scanner::LineConfig::default();
            let spec = transport("scanner", entry, &mut || {
                let (sim, feed) = ScannerSim::new(config.clone());
                let sim = SerialSim::start(sim, None).map_err(|e| e.to_string())?;
                let spec = pty(&sim, 9600);
                demo.scanner = Some(feed);
                demo._serial.push(sim);
                Ok(spec)
            })?;
            let opener: kiosk_devices::supervisor::Opener<dyn CodeScanner> = Box::new(move || {
                SerialScanner::open(&spec, config.clone())
                    .map(|s| Box::new(s) as Box<dyn CodeScanner>)
                    .map_err(|e| kiosk_devices::health::DeviceFault::from_error(&e))
            });
            Some(supervisor.add(
                "scanner",
                DeviceClass::CodeScanner,
                &entry.transport,
                opener,
            ))
        });

        let fingerprint = profile.devices.get("fingerprint").and_then(|entry| {
            let spec = transport("fingerprint", entry, &mut || {
                let sim = kiosk_sim::fingerprint::FingerprintSim::new(
                    &kiosk_sim::fingerprint::FingerprintScenario::default(),
                )
                .map_err(|e| e.to_string())?;
                let handle = sim.handle();
                let sim = SerialSim::start(sim, None).map_err(|e| e.to_string())?;
                let spec = pty(&sim, 57_600);
                demo.fingerprint = Some(handle);
                demo._serial.push(sim);
                Ok(spec)
            })?;
            Some(supervisor.add(
                "fingerprint",
                DeviceClass::FingerprintReader,
                &entry.transport,
                kiosk_devices::SynochipReader::opener(
                    spec,
                    kiosk_devices::FingerprintOptions::default(),
                ),
            ))
        });

        let speech = speech_options();
        let speaker = supervisor.add(
            "speaker",
            DeviceClass::Speaker,
            &speech.output.transport(),
            Box::new(move || {
                EspeakSpeaker::open(speech.clone())
                    .map(|s| Box::new(s) as Box<dyn Speaker>)
                    .map_err(kiosk_devices::health::DeviceFault::from)
            }),
        );

        supervisor.reopen_interval = Duration::from_secs(1);
        supervisor.probe_interval = Duration::from_secs(2);
        supervisor.start();
        for p in &problems {
            tracing::warn!(target: "kiosk::devices", "{p}");
        }
        let has_sims = demo.pad.is_some()
            || demo.idcard.is_some()
            || demo.printer.is_some()
            || demo.scanner.is_some()
            || demo.fingerprint.is_some();
        (
            Devices {
                supervisor: Arc::new(supervisor),
                rfid,
                idcard,
                printer,
                scanner,
                fingerprint,
                speaker,
                demo: has_sims.then_some(demo),
            },
            problems,
        )
    }
}

/// The spoken mode's espeak-ng settings: the sound card, or with `KIOSK_SPEECH_WAV_DIR=DIR` a
/// WAV file per utterance in DIR (machines without a sound device, tests).
pub fn speech_options() -> EspeakOptions {
    match std::env::var_os("KIOSK_SPEECH_WAV_DIR") {
        Some(dir) => EspeakOptions::wav(std::path::PathBuf::from(dir)),
        None => EspeakOptions::default(),
    }
}

/// The profile's AFI values (hex, `[library] afi_in/afi_out`), the driver's defaults when a
/// value does not parse.
fn afi_config(profile: &Profile) -> kiosk_rfid::AfiConfig {
    let mut afi = kiosk_rfid::AfiConfig::default();
    if let Some(lib) = &profile.library {
        if let Ok(v) = u8::from_str_radix(lib.afi_in.trim(), 16) {
            afi.in_stock = v;
        }
        if let Ok(v) = u8::from_str_radix(lib.afi_out.trim(), 16) {
            afi.on_loan = v;
        }
    }
    afi
}

/// The stack the demo's "put books" lays on the pad: books of the built-in demo library
/// (fixtures/sip2/library.json) with their titles on the tags, both ISO 28560 data models, a
/// two-part set, one book out to another patron (B003) and one on hold for another (B004).
pub fn demo_stack() -> Vec<SimTag> {
    use kiosk_rfid::tagdata::{DataElement, LibraryData, SetInfo, TypeOfUsage};
    use kiosk_rfid::{DataModel, Uid};
    let books: [(&str, &str, (u8, u8)); 10] = [
        ("B001", "三体", (1, 1)),
        ("B002", "活着", (1, 1)),
        ("B003", "Dune", (1, 1)),
        ("B004", "红楼梦", (1, 1)),
        ("B006", "围城", (1, 1)),
        ("B007", "Le Petit Prince", (1, 1)),
        ("B008", "平凡的世界", (1, 2)),
        ("B008", "平凡的世界", (2, 2)),
        ("B009", "Brave New World", (1, 1)),
        ("B010", "Cien años de soledad", (1, 1)),
    ];
    books
        .iter()
        .zip(1u8..)
        .map(|(&(item, title, (part, total)), n)| {
            let uid = Uid([0xE0, 0x04, 0x01, 0x50, 0x00, 0x00, 0x0D, n]);
            let data = LibraryData {
                primary_item_id: item.into(),
                owner_institution: Some(kiosk_sip2::demo::DEMO_INSTITUTION.into()),
                set_info: Some(SetInfo { part, total }),
                type_of_usage: Some(TypeOfUsage { main: 1, sub: 0 }),
                other: vec![DataElement::title(title)],
            };
            let model = if n % 2 == 0 {
                DataModel::Iso28560_2
            } else {
                DataModel::Iso28560_3
            };
            SimTag::item(uid, model, &data, 0x07).unwrap_or_else(|_| SimTag::blank(uid))
        })
        .collect()
}

impl Devices {
    /// What a session's end does to the devices (ARCHITECTURE "The session"): the SAM is
    /// reset and the scanner forgets codes held in view, on a thread so the screen returns to
    /// attract at once. A device without that capability is left as it is.
    pub fn reset_after_session(&self) -> impl Fn() + 'static {
        let (idcard, scanner) = (self.idcard.clone(), self.scanner.clone());
        move || {
            let (idcard, scanner) = (idcard.clone(), scanner.clone());
            let spawned = std::thread::Builder::new()
                .name("device-reset".into())
                .spawn(move || {
                    use kiosk_devices::health::ErrorKind;
                    let ignore = |r: Result<(), kiosk_devices::health::DeviceFault>, what| {
                        if let Err(f) = r
                            && f.kind != ErrorKind::Unsupported
                        {
                            tracing::warn!(target: "kiosk::devices", kind = f.kind.as_str(), "{what} after the session: {}", f.message);
                        }
                    };
                    if let Some(r) = idcard.filter(|d| d.is_open()) {
                        ignore(r.with(|d| d.reset()), "ID-card reader reset");
                    }
                    if let Some(s) = scanner.filter(|d| d.is_open()) {
                        ignore(s.with(|d| d.forget_held_codes()), "scanner reset");
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(target: "kiosk::devices", "cannot reset the devices: {e}");
            }
        }
    }

    /// The menu's test of each opened device: an inventory of the pad, a card read, a printer
    /// status. Results never name a person or a card.
    pub fn tests(&self) -> Vec<(&'static str, crate::maintenance::DeviceTest)> {
        use crate::maintenance::TestOutcome;
        fn outcome(r: Result<String, kiosk_devices::health::DeviceFault>) -> TestOutcome {
            match r {
                Ok(detail) => TestOutcome {
                    ok: true,
                    kind: None,
                    detail,
                },
                Err(fault) => TestOutcome {
                    ok: false,
                    kind: Some(fault.kind.as_str().into()),
                    detail: fault.message,
                },
            }
        }
        let mut tests: Vec<(&'static str, crate::maintenance::DeviceTest)> = Vec::new();
        let speaker = self.speaker.clone();
        tests.push((
            "speaker",
            Arc::new(move || {
                outcome(speaker.with(|s| {
                    s.speak(kiosk_devices::speaker::Utterance::interrupt(
                        "语音测试，声音正常。",
                        "zh-CN",
                    ))
                    .map(|()| "test sentence handed to the speech engine".to_string())
                }))
            }),
        ));
        if let Some(rfid) = self.rfid.clone() {
            tests.push((
                "rfid",
                Arc::new(move || {
                    outcome(
                        rfid.with(|r| r.inventory())
                            .map(|tags| format!("{} tags in the field", tags.len())),
                    )
                }),
            ));
        }
        if let Some(idcard) = self.idcard.clone() {
            tests.push((
                "idcard",
                Arc::new(move || {
                    outcome(idcard.with(|r| {
                        // The card's text is dropped at once: the test only says it read.
                        r.read_card(false).map(|card| match card {
                            Some(_) => "card read OK".to_string(),
                            None => "reader answers; no card on it".to_string(),
                        })
                    }))
                }),
            ));
        }
        if let Some(fingerprint) = self.fingerprint.clone() {
            tests.push((
                "fingerprint",
                Arc::new(move || {
                    // The image stays in the module's buffer; nothing of it leaves the reader.
                    outcome(
                        fingerprint
                            .with(|r| r.capture())
                            .map(|()| "finger image captured".to_string()),
                    )
                }),
            ));
        }
        if let Some(printer) = self.printer.clone() {
            tests.push((
                "printer",
                Arc::new(move || {
                    outcome(printer.with(|p| p.status()).map(|s| {
                        format!(
                            "online {}, cover {}, paper {:?}",
                            s.online,
                            if s.cover_open { "open" } else { "closed" },
                            s.paper
                        )
                    }))
                }),
            ));
        }
        tests
    }
}

/// A device read on a thread of its own; each reading reaches the UI thread (a 200 ms timer)
/// in a buffer wiped after use. Reading stops when this is dropped.
pub struct DeviceWatch {
    _timer: slint::Timer,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for DeviceWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs `read` on the thread `name` while `device` is open (a fault waits `pause` and tries
/// again; the supervisor reopens a lost device) and hands what it read to `on_read`.
fn watch<D: ?Sized + kiosk_devices::Device + 'static>(
    device: Supervised<D>,
    name: &str,
    pause: Duration,
    mut read: impl FnMut(
        &Supervised<D>,
    ) -> Result<
        Option<zeroize::Zeroizing<String>>,
        kiosk_devices::health::DeviceFault,
    > + Send
    + 'static,
    on_read: impl Fn(&str) + 'static,
) -> DeviceWatch {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (tx, rx) = std::sync::mpsc::channel::<zeroize::Zeroizing<String>>();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = name.to_string();
    let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
        while !s.load(Ordering::Relaxed) {
            if !device.is_open() {
                std::thread::sleep(pause);
                continue;
            }
            match read(&device) {
                Ok(Some(text)) => {
                    if tx.send(text).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(fault) => {
                    tracing::debug!(target: "kiosk::devices", thread, kind = fault.kind.as_str(), "device read");
                    std::thread::sleep(pause);
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(target: "kiosk::devices", "cannot start the {name} thread: {e}");
    }
    let timer = slint::Timer::default();
    timer.start(
        slint::TimerMode::Repeated,
        Duration::from_millis(200),
        move || {
            while let Ok(text) = rx.try_recv() {
                on_read(&text);
            }
        },
    );
    DeviceWatch {
        _timer: timer,
        stop,
    }
}

/// A card placed on the reader starts a session (attract screen) and, on a library terminal,
/// signs the patron in with the card's ID number (`IdCardRule` of the sign-in settings),
/// polled with the GA/T 467 timing of `CardPoller`. Only the ID number crosses to the UI
/// thread; the rest of the card is dropped on the polling thread.
pub fn watch_cards(
    reader: Supervised<dyn IdCardReader>,
    kiosk: &crate::Kiosk,
    borrow: &crate::borrow_ui::BorrowUi,
) -> DeviceWatch {
    let mut poller = kiosk_devices::CardPoller::new(Duration::from_millis(500));
    let (kiosk, borrow) = (kiosk.clone(), borrow.clone());
    watch(
        reader,
        "idcard-poll",
        Duration::from_millis(500),
        move |reader| {
            reader
                .with(|r| poller.poll(r, false))
                .map(|card| card.map(|card| zeroize::Zeroizing::new(card.number.clone())))
        },
        move |number| card_placed(&kiosk, &borrow, number),
    )
}

/// What a card or code from a device does: start a session, and on a library terminal sign in
/// with it on the borrow sign-in page (opened for it). `now` is Unix seconds.
fn signed_in_by_device(
    kiosk: &crate::Kiosk,
    borrow: &crate::borrow_ui::BorrowUi,
    trigger: crate::session::Trigger,
    credential: kiosk_flows::signin::Credential,
    now: i64,
) {
    use crate::session::Input;
    tracing::info!(target: "kiosk::devices", ?trigger, "sign-in from a device");
    if !kiosk.with_session(|s| s.is_active()) {
        kiosk.input(Input::Start(trigger));
    }
    if !borrow.has_worker() {
        return;
    }
    if borrow.screen() == crate::ui::BorrowScreen::Closed {
        borrow.open();
    }
    borrow.sign_in(&credential, now);
}

/// What a card on the reader does (see [`watch_cards`]).
pub fn card_placed(kiosk: &crate::Kiosk, borrow: &crate::borrow_ui::BorrowUi, id_number: &str) {
    let credential = kiosk_flows::signin::Credential::IdCard {
        id_number: id_number.to_string(),
    };
    signed_in_by_device(kiosk, borrow, crate::session::Trigger::Card, credential, 0);
}

/// The seed of the demo's phone-code issuer key. Demo only: a real library configures its
/// own issuer's public key.
const DEMO_TOKEN_SEED: [u8; 32] = *b"kiosk demo phone code issuer key";

/// The demo's sign-in settings: ID cards by number, phone codes signed by the demo issuer.
pub fn demo_sign_in() -> kiosk_flows::signin::SignInSettings {
    kiosk_flows::signin::SignInSettings {
        token_key: Some(ed25519_dalek::SigningKey::from_bytes(&DEMO_TOKEN_SEED).verifying_key()),
        ..Default::default()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A phone code (KPT1 token) of the demo library's patron P003 (李四), valid ten minutes,
/// with a fresh nonce, as the library's app would show it.
pub fn demo_phone_code() -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&DEMO_TOKEN_SEED);
    let nonce: [u8; 16] = {
        let mut n = [0u8; 16];
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        n.copy_from_slice(&t.to_le_bytes());
        n
    };
    kiosk_flows::signin::PatronToken::issue(&key, "P003", unix_now() + 600, &nonce)
}

/// A code shown to the scanner starts a session and, on a library terminal, signs in with
/// it (a phone code) on the borrow sign-in page.
pub fn watch_codes(
    scanner: Supervised<dyn CodeScanner>,
    kiosk: &crate::Kiosk,
    borrow: &crate::borrow_ui::BorrowUi,
) -> DeviceWatch {
    let (kiosk, borrow) = (kiosk.clone(), borrow.clone());
    watch(
        scanner,
        "scanner-read",
        Duration::from_millis(300),
        |scanner| {
            scanner
                .with(|r| r.next_code(Duration::from_millis(300)))
                .map(|code| code.map(|c| zeroize::Zeroizing::new(c.text)))
        },
        move |text| code_scanned(&kiosk, &borrow, text),
    )
}

/// What a scanned code does (see [`watch_codes`]).
pub fn code_scanned(kiosk: &crate::Kiosk, borrow: &crate::borrow_ui::BorrowUi, text: &str) {
    let credential = kiosk_flows::signin::Credential::PhoneQr {
        text: text.to_string(),
    };
    signed_in_by_device(
        kiosk,
        borrow,
        crate::session::Trigger::Scan,
        credential,
        unix_now(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_profile(name: &str) -> Profile {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/profiles");
        Profile::find(name, &[dir]).unwrap().simulated()
    }

    /// The government terminal's simulated devices open through the supervisor, each has its
    /// menu test, and the menu's simulator actions change what the tests see.
    #[test]
    fn gov_terminal_devices_open_and_the_menu_drives_their_simulators() {
        let (devices, problems) = Devices::open(&demo_profile("gov-terminal"), Vec::new());
        assert!(problems.is_empty(), "{problems:?}");
        let names: Vec<_> = devices
            .supervisor
            .health()
            .into_iter()
            .map(|h| h.name)
            .collect();
        assert_eq!(
            names,
            ["idcard", "printer", "scanner", "fingerprint", "speaker"]
        );
        let demo = devices.demo.as_ref().unwrap();
        let ids: Vec<_> = demo.actions().iter().map(|a| a.id).collect();
        assert!(ids.contains(&"place-card") && ids.contains(&"place-finger"));
        assert!(!ids.contains(&"put-books"), "no pad on this terminal");
        let tests: std::collections::BTreeMap<_, _> = devices.tests().into_iter().collect();

        let card = &tests["idcard"];
        assert_eq!(card().detail, "reader answers; no card on it");
        demo.run("place-card").unwrap();
        let read = card();
        assert!(read.ok && read.detail == "card read OK", "{read:?}");

        let finger = &tests["fingerprint"];
        assert!(!finger().ok, "no finger on the sensor");
        demo.run("place-finger").unwrap();
        assert!(finger().ok);

        let printer = &tests["printer"];
        assert!(printer().detail.contains("paper Ok"));
        demo.run("paper-out").unwrap();
        assert!(printer().detail.contains("paper Out"));
        assert!(demo.run("put-books").is_err());

        // The spoken mode's espeak-ng, supervised like the rest (WAV files: no sound card here).
        let speaker = devices.supervisor.health().pop().unwrap();
        assert_eq!(speaker.class, DeviceClass::Speaker);
        assert_eq!(
            speaker.last_fault, None,
            "espeak-ng (packaging/setup-debian.sh)"
        );
        let said = tests["speaker"]();
        assert!(said.ok, "{said:?}");
    }
}
