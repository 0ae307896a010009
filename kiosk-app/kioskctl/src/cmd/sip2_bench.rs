//! `kioskctl sip2 … bench-checkout`: a whole stack borrowed end to end, as the self-check does
//! it (BENCHMARKS.md): sign-in (SIP2 63), one inventory of a simulated FEIG pad paced at its
//! real 38400 baud, per book a SIP2 11 checkout and the AFI write read back, until the flow is
//! settled. Reports the total and how much of it is SIP2 round trips, pad I/O and the rest (the
//! flow's own work: grouping tags, decisions, bookkeeping). Each run starts from the same state:
//! the books are checked in again (untimed) after the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kiosk_devices::rfid::{HfReader, RfidError, RfidOptions, RfidReader};
use kiosk_devices::{Device, DeviceFault, DeviceInfo};
use kiosk_flows::borrow::Loan;
use kiosk_flows::giveback::Checkin;
use kiosk_flows::run::{Library, OfflineStore, Patron, Peers, Sip2Library};
use kiosk_flows::stack::LineStatus;
use kiosk_flows::{BorrowFlow, IlsOutcome, OfflineKind, OfflineLedger, StackSettings};
use kiosk_rfid::tagdata::{LibraryData, SetInfo};
use kiosk_rfid::{AfiConfig, DataModel, ItemTag, ReaderKind, SecurityState, Uid};
use kiosk_sim::SerialSim;
use kiosk_sim::rfid::{RfidPad, RfidPadSim, SimTag, library_tag};
use kiosk_sip2::{Client, Settings, TcpConnector};
use kiosk_transport::TransportSpec;
use serde::Serialize;

use crate::cli::CliError;

/// Time spent in one kind of I/O, in nanoseconds.
type Spent = Arc<AtomicU64>;

/// Adds the time spent inside to a counter.
fn timed<T>(spent: &Spent, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    spent.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    out
}

fn spent(s: &Spent) -> Duration {
    Duration::from_nanos(s.load(Ordering::Relaxed))
}

struct TimedLibrary<'a> {
    inner: &'a mut Sip2Library<TcpConnector>,
    spent: Spent,
    calls: u32,
}

impl Library for TimedLibrary<'_> {
    fn check_out(&mut self, patron: &Patron, item: &str) -> IlsOutcome<Loan> {
        self.calls += 1;
        let inner = &mut *self.inner;
        timed(&self.spent, || inner.check_out(patron, item))
    }
    fn check_in(&mut self, item: &str) -> IlsOutcome<Checkin> {
        self.calls += 1;
        let inner = &mut *self.inner;
        timed(&self.spent, || inner.check_in(item))
    }
}

struct TimedPad<'a> {
    inner: &'a mut HfReader,
    spent: Spent,
}

impl Device for TimedPad<'_> {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }
    fn probe(&mut self) -> Result<(), DeviceFault> {
        self.inner.probe()
    }
}

impl RfidReader for TimedPad<'_> {
    fn inventory(&mut self) -> Result<Vec<ItemTag>, RfidError> {
        let inner = &mut *self.inner;
        timed(&self.spent, || inner.inventory())
    }
    fn read_tag(&mut self, uid: Uid) -> Result<ItemTag, RfidError> {
        let inner = &mut *self.inner;
        timed(&self.spent, || inner.read_tag(uid))
    }
    fn write_tag_data(
        &mut self,
        uid: Uid,
        model: DataModel,
        data: &LibraryData,
    ) -> Result<(), RfidError> {
        let inner = &mut *self.inner;
        timed(&self.spent, || inner.write_tag_data(uid, model, data))
    }
    fn set_security(&mut self, uid: Uid, state: SecurityState) -> Result<ItemTag, RfidError> {
        let inner = &mut *self.inner;
        timed(&self.spent, || inner.set_security(uid, state))
    }
    fn afi_config(&self) -> AfiConfig {
        self.inner.afi_config()
    }
}

struct NoOffline;

impl OfflineStore for NoOffline {
    fn record(
        &mut self,
        _: OfflineKind,
        _: Option<&Patron>,
        item: &str,
        _: Option<&str>,
    ) -> Result<(), String> {
        Err(format!(
            "{item}: the library system went offline during the bench"
        ))
    }
}

#[derive(Serialize)]
struct Run {
    total_ms: f64,
    sip2_ms: f64,
    pad_ms: f64,
    other_ms: f64,
    sip2_calls: u32,
}

#[derive(Serialize)]
struct Report {
    books: usize,
    runs: usize,
    reader: &'static str,
    baud: u32,
    median_total_ms: f64,
    median_sip2_ms: f64,
    median_pad_ms: f64,
    median_other_ms: f64,
    all: Vec<Run>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    }
}

fn book(n: usize, item: &str) -> SimTag {
    let uid = Uid([0xE0, 0x04, 0x01, 0x50, 0x00, 0x02, (n >> 8) as u8, n as u8]);
    let single = SetInfo { total: 1, part: 1 };
    library_tag(uid, n as u32, item, None, single, 1, 0x07)
}

/// Runs the bench; `settings` and `ils` as for every `kioskctl sip2` command.
pub fn run(
    settings: &Settings,
    ils: &str,
    patron: &str,
    pin: Option<&str>,
    items: &[String],
    runs: usize,
    json: bool,
) -> Result<(), CliError> {
    let kind = ReaderKind::Feig;
    let baud = kind.protocol().serial().baud;
    let sip_err =
        |e: kiosk_sip2::Error| CliError::failed(format!("sip2 {ils}: {e} ({})", e.kind()));
    let mut lib = Sip2Library::new(
        Client::connect(TcpConnector::new(ils), settings.clone()).map_err(sip_err)?,
    );
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        let pad = RfidPad::new(items.iter().enumerate().map(|(n, i)| book(n, i)).collect());
        let sim = SerialSim::start(RfidPadSim::new(kind, pad), None)
            .map_err(|e| CliError::failed(format!("cannot start the pad simulator: {e}")))?;
        sim.control().set_baud(Some(baud));
        let spec = TransportSpec::Serial {
            path: sim.path().display().to_string(),
            baud,
        };
        let mut reader = HfReader::open(&spec, kind, RfidOptions::default())
            .map_err(|e| CliError::failed(format!("pad: {e}")))?;

        let sip2 = Spent::default();
        let pad_io = Spent::default();
        let t0 = Instant::now();
        let signed_in = timed(&sip2, || lib.sign_in(patron, pin));
        let patron = signed_in
            .map_err(|e| CliError::failed(format!("sign-in of the bench patron refused: {e:?}")))?;
        let mut flow = BorrowFlow::new(Some(patron.id.clone()), StackSettings::default());
        let mut ledger = OfflineLedger::default();
        let mut timed_lib = TimedLibrary {
            inner: &mut lib,
            spent: sip2.clone(),
            calls: 1,
        };
        let mut timed_pad = TimedPad {
            inner: &mut reader,
            spent: pad_io.clone(),
        };
        for _ in 0..5 {
            let mut peers = Peers {
                pad: &mut timed_pad,
                library: &mut timed_lib,
                offline: &mut NoOffline,
                ledger: &mut ledger,
            };
            kiosk_flows::run::round(&mut flow, Some(&patron), &mut peers)
                .map_err(|e| CliError::failed(format!("pad: {e}")))?;
            if flow.is_settled() {
                break;
            }
        }
        let total = t0.elapsed();
        let calls = timed_lib.calls;
        let done = flow
            .lines()
            .filter(|l| matches!(l.status, LineStatus::Done(_)))
            .count();
        if done != items.len() {
            let why: Vec<String> = flow
                .lines()
                .filter(|l| !matches!(l.status, LineStatus::Done(_)))
                .map(|l| format!("{}: {:?}", l.item_id, l.status))
                .collect();
            return Err(CliError::failed(format!(
                "only {done} of {} books borrowed: {}; use books the patron may borrow",
                items.len(),
                why.join("; ")
            )));
        }
        all.push(Run {
            total_ms: ms(total),
            sip2_ms: ms(spent(&sip2)),
            pad_ms: ms(spent(&pad_io)),
            other_ms: ms(total.saturating_sub(spent(&sip2) + spent(&pad_io))),
            sip2_calls: calls,
        });
        // Back to the same state for the next run (untimed).
        for item in items {
            let _ = lib.check_in(item);
        }
    }
    let report = Report {
        books: items.len(),
        runs: all.len(),
        reader: "feig",
        baud,
        median_total_ms: median(all.iter().map(|r| r.total_ms).collect()),
        median_sip2_ms: median(all.iter().map(|r| r.sip2_ms).collect()),
        median_pad_ms: median(all.iter().map(|r| r.pad_ms).collect()),
        median_other_ms: median(all.iter().map(|r| r.other_ms).collect()),
        all,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CliError::failed(e.to_string()))?
        );
    } else {
        println!(
            "{} books, {} runs (FEIG pad at {} baud): median {:.1} ms total = SIP2 {:.1} ms + pad I/O {:.1} ms + other {:.2} ms",
            report.books,
            report.runs,
            report.baud,
            report.median_total_ms,
            report.median_sip2_ms,
            report.median_pad_ms,
            report.median_other_ms
        );
    }
    Ok(())
}
