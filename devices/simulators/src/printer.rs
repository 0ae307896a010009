//! An ESC/POS receipt printer simulator (devices.md §3). It tokenizes what it receives with the
//! driver's own [`StreamParser`] and plays it with [`ReceiptReader`], keeping every printed
//! receipt (decoded text lines, QR payloads, images, cut) for tests and for `kioskctl simulate
//! printer`; it answers `DLE EOT 1..4` at once and sends automatic status back after `GS a n`.
//!
//! It runs on a pseudo-terminal (through [`SerialSim`]) and on a TCP listener (port 9100 style)
//! at the same time, with one shared state: a status change made through either is seen by both.
//!
//! ## Scenario files (`fixtures/scenarios/printer-*.json`)
//!
//! ```json
//! {
//!   "description": "paper runs low, then out after the first receipt",
//!   "chinese_at_power_on": true,
//!   "initial": { "paper": "near-end" },
//!   "events": [
//!     { "after_receipts": 1, "set": { "paper": "out" } },
//!     { "after_ms": 5000, "set": { "paper": "ok" } },
//!     { "after_ms": 8000, "unplug_for_ms": 1500 }
//!   ]
//! }
//! ```
//!
//! `initial` and `set` take any of `paper` (`ok`, `near-end`, `out`), `cover_open`, `online`,
//! `cutter_error`, `feed_button`, `drawer_pin_high`, `garbage_replies` (status requests are
//! answered with `FF`, which no valid reply can be). An event fires `after_ms` after start or
//! after the `after_receipts`-th receipt was cut; `unplug_for_ms` pulls the pty "cable" and
//! drops every TCP connection (new ones are refused) for that long. Unknown fields are errors.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kiosk_escpos::{
    AsbStatus, Command, PaperLevel, PrintedReceipt, PrinterStatus, ReceiptReader, StatusRequest,
    StreamParser,
};
use serde::Deserialize;

use crate::runner::{SerialDevice, SerialSim, SimControl};

/// What the simulated printer's sensors say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimPrinterState {
    pub paper: PaperLevel,
    pub cover_open: bool,
    pub online: bool,
    pub cutter_error: bool,
    pub feed_button: bool,
    pub drawer_pin_high: bool,
    /// Answer status requests with a byte that is no valid reply.
    pub garbage_replies: bool,
}

impl Default for SimPrinterState {
    fn default() -> Self {
        SimPrinterState {
            paper: PaperLevel::Ok,
            cover_open: false,
            online: true,
            cutter_error: false,
            feed_button: false,
            drawer_pin_high: false,
            garbage_replies: false,
        }
    }
}

impl SimPrinterState {
    /// The status bits a real printer in this state reports: an open cover, an empty roll or
    /// a cutter error also take it offline.
    pub fn status(&self) -> PrinterStatus {
        let out = self.paper == PaperLevel::Out;
        PrinterStatus {
            online: self.online && !self.cover_open && !out && !self.cutter_error,
            drawer_pin_high: self.drawer_pin_high,
            waiting_recovery: false,
            feed_button: self.feed_button,
            cover_open: self.cover_open,
            feeding_by_button: false,
            stopped_paper_end: out,
            error: self.cutter_error,
            mechanical_error: false,
            cutter_error: self.cutter_error,
            unrecoverable_error: false,
            auto_recoverable_error: false,
            paper: self.paper,
        }
    }

    fn printable(&self) -> bool {
        let s = self.status();
        s.online && !s.has_error()
    }
}

/// A change to the sensor state; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatePatch {
    pub paper: Option<PaperLevel>,
    pub cover_open: Option<bool>,
    pub online: Option<bool>,
    pub cutter_error: Option<bool>,
    pub feed_button: Option<bool>,
    pub drawer_pin_high: Option<bool>,
    pub garbage_replies: Option<bool>,
}

impl StatePatch {
    pub fn apply(&self, s: &mut SimPrinterState) {
        if let Some(v) = self.paper {
            s.paper = v;
        }
        macro_rules! flag {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { s.$f = v; } )* };
        }
        flag!(
            cover_open,
            online,
            cutter_error,
            feed_button,
            drawer_pin_high,
            garbage_replies
        );
    }
}

/// One scenario event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEvent {
    pub after_ms: Option<u64>,
    pub after_receipts: Option<usize>,
    pub set: Option<StatePatch>,
    pub unplug_for_ms: Option<u64>,
}

/// A printer scenario (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterScenario {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub chinese_at_power_on: bool,
    #[serde(default)]
    pub initial: SimPrinterState,
    #[serde(default)]
    pub events: Vec<ScenarioEvent>,
}

impl PrinterScenario {
    pub fn from_json(json: &str) -> Result<Self, String> {
        let s: PrinterScenario = serde_json::from_str(json).map_err(|e| e.to_string())?;
        for (i, e) in s.events.iter().enumerate() {
            if e.after_ms.is_some() == e.after_receipts.is_some() {
                return Err(format!(
                    "event {}: needs exactly one of after_ms, after_receipts",
                    i + 1
                ));
            }
            if e.after_receipts.is_some() && e.unplug_for_ms.is_some() {
                return Err(format!(
                    "event {}: unplug_for_ms only works with after_ms",
                    i + 1
                ));
            }
        }
        Ok(s)
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Where to run the simulator.
#[derive(Debug, Clone, Default)]
pub struct PrinterSimOptions {
    /// Run on a pseudo-terminal, with a symlink here (needed to unplug and replug).
    pub pty_link: Option<PathBuf>,
    /// Run on a pseudo-terminal even without a symlink.
    pub pty: bool,
    /// Also listen on this TCP address, e.g. `127.0.0.1:9100` or `127.0.0.1:0`.
    pub tcp: Option<String>,
    pub scenario: PrinterScenario,
}

struct Inner {
    state: SimPrinterState,
    receipts: Vec<PrintedReceipt>,
    errors: Vec<String>,
    dropped_while_not_ready: usize,
    subscribers: Vec<Sender<PrintedReceipt>>,
    receipt_events: Vec<StatePatch>,
    receipt_event_at: Vec<usize>,
    unplugged: bool,
    /// How long status replies on the pty take (see [`PrinterSim::set_reply_delay`]).
    reply_delay: Duration,
}

struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
    chinese_at_power_on: bool,
    connections: Mutex<Vec<TcpStream>>,
}

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.inner.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn finish_receipt(&self, r: PrintedReceipt) {
        let mut g = lock(self);
        g.receipts.push(r.clone());
        g.subscribers.retain(|s| s.send(r.clone()).is_ok());
        let n = g.receipts.len();
        let due: Vec<StatePatch> = g
            .receipt_event_at
            .iter()
            .zip(&g.receipt_events)
            .filter(|(at, _)| **at == n)
            .map(|(_, p)| p.clone())
            .collect();
        for p in due {
            p.apply(&mut g.state);
        }
        drop(g);
        self.changed.notify_all();
    }
}

/// One byte stream into the printer (the pty, or one TCP connection): its own parser, printer
/// modes and ASB setting.
struct PrinterStream {
    shared: Arc<Shared>,
    parser: StreamParser,
    reader: ReceiptReader,
    asb_mask: u8,
    last_asb: Option<[u8; 4]>,
}

impl PrinterStream {
    fn new(shared: Arc<Shared>) -> Self {
        let chinese = shared.chinese_at_power_on;
        PrinterStream {
            shared,
            parser: StreamParser::new(),
            reader: ReceiptReader::new(chinese),
            asb_mask: 0,
            last_asb: None,
        }
    }

    fn on_bytes(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.parser.push(bytes);
        let mut reply = Vec::new();
        while let Some(next) = self.parser.next_command() {
            let cmd = match next {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!("printer simulator: {e}");
                    let mut g = lock(&self.shared);
                    if g.errors.len() < 1000 {
                        g.errors.push(e.to_string());
                    }
                    continue;
                }
            };
            match cmd {
                Command::StatusRequest(n) => {
                    let g = lock(&self.shared);
                    let byte = if g.state.garbage_replies {
                        0xFF
                    } else {
                        StatusRequest::from_n(n)
                            .map(|r| g.state.status().real_time_byte(r))
                            .unwrap_or(0xFF)
                    };
                    reply.push(byte);
                }
                Command::AutoStatusBack(mask) => {
                    self.asb_mask = mask & kiosk_escpos::asb::ALL;
                    self.last_asb = None;
                    reply.extend(self.asb_if_changed());
                }
                Command::TransmitStatus(n) => {
                    // GS r 1: 00 paper present, 0F out (cnblogs note in devices.md §3.3).
                    let g = lock(&self.shared);
                    reply.push(match (n, g.state.paper) {
                        (1, PaperLevel::Out) => 0x0F,
                        (1, PaperLevel::NearEnd) => 0x03,
                        _ => 0x00,
                    });
                }
                cmd => {
                    let printable = lock(&self.shared).state.printable();
                    if !printable && !matches!(cmd, Command::Init) {
                        lock(&self.shared).dropped_while_not_ready += 1;
                        continue;
                    }
                    if let Some(r) = self.reader.apply(&cmd) {
                        self.shared.finish_receipt(r);
                    }
                }
            }
        }
        reply
    }

    fn asb_if_changed(&mut self) -> Vec<u8> {
        if self.asb_mask == 0 {
            return Vec::new();
        }
        let bytes = AsbStatus(lock(&self.shared).state.status()).to_bytes();
        if self.last_asb == Some(bytes) {
            return Vec::new();
        }
        self.last_asb = Some(bytes);
        bytes.to_vec()
    }
}

/// The pty side, driven by [`SerialSim`].
struct PtyPrinter {
    stream: PrinterStream,
    /// Status replies held back for the reply delay, and when they are due.
    held: Option<(Instant, Vec<u8>)>,
}

/// A held-back reply this late is for a client that has gone (unplug, timeout): dropped.
const STALE_AFTER: Duration = Duration::from_millis(300);

impl SerialDevice for PtyPrinter {
    fn on_input(&mut self, input: &mut Vec<u8>) -> Vec<u8> {
        let bytes = std::mem::take(input);
        let mut reply = self.stream.on_bytes(&bytes);
        let delay = lock(&self.stream.shared).reply_delay;
        if (delay.is_zero() && self.held.is_none()) || reply.is_empty() {
            return reply;
        }
        let (_, held) = self
            .held
            .get_or_insert_with(|| (Instant::now() + delay, Vec::new()));
        held.append(&mut reply);
        Vec::new()
    }

    fn on_idle(&mut self) -> Vec<u8> {
        match self.held.take() {
            Some((due, reply)) if Instant::now() >= due => {
                if due.elapsed() <= STALE_AFTER {
                    return reply;
                }
            }
            other => {
                self.held = other;
                return Vec::new();
            }
        }
        self.stream.asb_if_changed()
    }
}

/// A running printer simulator. Stops when dropped.
pub struct PrinterSim {
    shared: Arc<Shared>,
    serial: Option<SerialSim>,
    tcp_addr: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl PrinterSim {
    /// Starts the simulator on a pty and/or a TCP listener.
    pub fn start(opts: PrinterSimOptions) -> io::Result<PrinterSim> {
        let sc = &opts.scenario;
        let (receipt_event_at, receipt_events) = sc
            .events
            .iter()
            .filter_map(|e| Some((e.after_receipts?, e.set.clone()?)))
            .unzip();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                state: sc.initial,
                receipts: Vec::new(),
                errors: Vec::new(),
                dropped_while_not_ready: 0,
                subscribers: Vec::new(),
                receipt_events,
                receipt_event_at,
                unplugged: false,
                reply_delay: Duration::ZERO,
            }),
            changed: Condvar::new(),
            chinese_at_power_on: sc.chinese_at_power_on,
            connections: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut sim = PrinterSim {
            shared: Arc::clone(&shared),
            serial: None,
            tcp_addr: None,
            stop: Arc::clone(&stop),
            threads: Vec::new(),
        };
        if opts.pty || opts.pty_link.is_some() {
            let dev = PtyPrinter {
                stream: PrinterStream::new(Arc::clone(&shared)),
                held: None,
            };
            sim.serial = Some(SerialSim::start(dev, opts.pty_link.as_deref())?);
        }
        if let Some(addr) = &opts.tcp {
            let listener = TcpListener::bind(addr)?;
            listener.set_nonblocking(true)?;
            sim.tcp_addr = Some(listener.local_addr()?);
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            sim.threads.push(
                std::thread::Builder::new()
                    .name("printer-sim-tcp".into())
                    .spawn(move || accept_loop(listener, shared, stop))?,
            );
        }
        let timed: Vec<ScenarioEvent> = sc
            .events
            .iter()
            .filter(|e| e.after_ms.is_some())
            .cloned()
            .collect();
        if !timed.is_empty() {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            let control = sim.serial.as_ref().map(|s| s.control());
            sim.threads.push(
                std::thread::Builder::new()
                    .name("printer-sim-scenario".into())
                    .spawn(move || run_timed(timed, shared, control, stop))?,
            );
        }
        Ok(sim)
    }

    /// The path of the pty (its symlink if there is one).
    pub fn pty_path(&self) -> Option<&Path> {
        self.serial.as_ref().map(|s| s.path())
    }

    /// The TCP address actually bound (useful with port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The pty's unplug/replug control.
    pub fn control(&self) -> Option<SimControl> {
        self.serial.as_ref().map(|s| s.control())
    }

    /// The sensor state now.
    pub fn state(&self) -> SimPrinterState {
        lock(&self.shared).state
    }

    /// Changes the sensor state (paper, cover…).
    pub fn set_state(&self, patch: &StatePatch) {
        patch.apply(&mut lock(&self.shared).state);
        self.shared.changed.notify_all();
    }

    /// Makes status replies on the pty take `delay` (a busy printer finishing a line), so a
    /// test can pull the cable while the driver waits for one. A reply still held when the
    /// client has gone (more than 300 ms past due, e.g. after an unplug) is dropped.
    pub fn set_reply_delay(&self, delay: Duration) {
        lock(&self.shared).reply_delay = delay;
    }

    /// Receipts cut so far.
    pub fn receipts(&self) -> Vec<PrintedReceipt> {
        lock(&self.shared).receipts.clone()
    }

    /// Waits until at least `n` receipts were cut, or `timeout`; returns all of them.
    pub fn wait_for_receipts(&self, n: usize, timeout: Duration) -> Vec<PrintedReceipt> {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.shared);
        while g.receipts.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = self
                .shared
                .changed
                .wait_timeout(g, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        g.receipts.clone()
    }

    /// Receives each receipt as it is cut.
    pub fn subscribe(&self) -> Receiver<PrintedReceipt> {
        let (tx, rx) = mpsc::channel();
        lock(&self.shared).subscribers.push(tx);
        rx
    }

    /// Tokenizer errors seen (unknown or malformed commands), oldest first.
    pub fn parse_errors(&self) -> Vec<String> {
        lock(&self.shared).errors.clone()
    }

    /// Print commands dropped because the printer was not ready (paper out, cover open…).
    pub fn dropped_while_not_ready(&self) -> usize {
        lock(&self.shared).dropped_while_not_ready
    }

    /// Pulls the cable: the pty goes away and every TCP connection is closed; new TCP
    /// connections are refused until [`PrinterSim::replug`].
    pub fn unplug(&self) {
        unplug(&self.shared, self.control().as_ref());
    }

    /// Plugs it back in.
    pub fn replug(&self) {
        replug(&self.shared, self.control().as_ref());
    }
}

fn unplug(shared: &Shared, control: Option<&SimControl>) {
    lock(shared).unplugged = true;
    for c in shared
        .connections
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
    {
        let _ = c.shutdown(Shutdown::Both);
    }
    if let Some(c) = control {
        c.unplug();
    }
}

fn replug(shared: &Shared, control: Option<&SimControl>) {
    if let Some(c) = control {
        c.replug();
    }
    lock(shared).unplugged = false;
}

impl Drop for PrinterSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for c in self
            .shared
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = c.shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run_timed(
    mut events: Vec<ScenarioEvent>,
    shared: Arc<Shared>,
    control: Option<SimControl>,
    stop: Arc<AtomicBool>,
) {
    events.sort_by_key(|e| e.after_ms);
    let start = Instant::now();
    for e in events {
        let at = start + Duration::from_millis(e.after_ms.unwrap_or(0));
        while Instant::now() < at {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10).min(at - Instant::now()));
        }
        if let Some(p) = &e.set {
            p.apply(&mut lock(&shared).state);
            shared.changed.notify_all();
        }
        if let Some(ms) = e.unplug_for_ms {
            unplug(&shared, control.as_ref());
            let back = Instant::now() + Duration::from_millis(ms);
            while Instant::now() < back {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            replug(&shared, control.as_ref());
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if lock(&shared).unplugged {
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                if let Ok(clone) = stream.try_clone() {
                    shared
                        .connections
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(clone);
                }
                let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
                if let Ok(t) = std::thread::Builder::new()
                    .name("printer-sim-conn".into())
                    .spawn(move || serve(stream, shared, stop))
                {
                    conns.push(t);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => {
                tracing::warn!("printer simulator accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        conns.retain(|t| !t.is_finished());
    }
    for t in conns {
        let _ = t.join();
    }
}

fn serve(mut stream: TcpStream, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let mut printer = PrinterStream::new(shared);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let reply = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => printer.on_bytes(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                printer.asb_if_changed()
            }
            Err(_) => return,
        };
        if !reply.is_empty() && stream.write_all(&reply).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_fixtures_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("printer-") && name.ends_with(".json") {
                PrinterScenario::load(&p).unwrap();
                n += 1;
            }
        }
        assert!(n >= 5, "expected printer scenarios in {}", dir.display());
        assert!(PrinterScenario::from_json(r#"{"initial":{"papr":"out"}}"#).is_err());
        assert!(PrinterScenario::from_json(r#"{"events":[{"set":{}}]}"#).is_err());
    }

    #[test]
    fn answers_status_and_keeps_receipts() {
        let sim = PrinterSim::start(PrinterSimOptions {
            tcp: Some("127.0.0.1:0".into()),
            ..Default::default()
        })
        .unwrap();
        let mut s = TcpStream::connect(sim.tcp_addr().unwrap()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(&[0x10, 0x04, 0x01, 0x10, 0x04, 0x04]).unwrap();
        let mut r = [0u8; 2];
        s.read_exact(&mut r).unwrap();
        assert_eq!(r, [0x12, 0x12]);
        sim.set_state(&StatePatch {
            paper: Some(PaperLevel::NearEnd),
            ..Default::default()
        });
        s.write_all(&[0x10, 0x04, 0x04]).unwrap();
        s.read_exact(&mut r[..1]).unwrap();
        assert_eq!(r[0], 0x1E);
        let receipt = kiosk_escpos::Receipt::builder()
            .line("您好")
            .cut(kiosk_escpos::Cut::Full, 1)
            .build();
        s.write_all(&receipt.to_bytes()).unwrap();
        let got = sim.wait_for_receipts(1, Duration::from_secs(2));
        assert_eq!(got[0].text_lines(), ["您好"]);
    }
}
