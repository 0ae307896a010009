//! `kioskctl rfid …`: list and secure library item tags on an ISO 15693 pad (FEIG ISO-Host or
//! RR3036), benchmark a pad, and `kioskctl simulate rfid` (a simulated pad).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use kiosk_devices::{DeviceFault, HfReader, RfidOptions, RfidReader};
use kiosk_rfid::{AfiConfig, ItemTag, ReaderKind, SecurityState, Uid};
use kiosk_sim::SerialSim;
use kiosk_sim::rfid::{RfidPad, RfidPadSim, RfidScenario, demo_book};
use kiosk_transport::{Link, LinkError, TransportSpec};
use serde::Serialize;

use crate::cli::{CliError, emit, parse_transport};
use crate::cmd::simulate::{SimulateArgs, wait_for_stop};

#[derive(Args)]
pub struct RfidArgs {
    #[command(subcommand)]
    command: RfidCommand,
}

#[derive(Subcommand)]
enum RfidCommand {
    /// List the tags on the pad with their library data.
    Inventory(InventoryArgs),
    /// Secure (in: checked in, gate alarms) or unsecure (out: on loan) one tag, then read it back.
    Secure(SecureArgs),
    /// Time a full inventory of a simulated pad at the protocol's baud rate.
    Bench(BenchArgs),
}

#[derive(Args)]
struct PadArgs {
    /// Transport of the pad, e.g. serial:/dev/ttyUSB0@38400.
    #[arg(long)]
    port: String,
    /// Reader protocol: feig or rr3036.
    #[arg(long)]
    reader: ReaderKind,
    /// Reply timeout per exchange, in milliseconds.
    #[arg(long, default_value_t = 500)]
    timeout_ms: u64,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct InventoryArgs {
    #[command(flatten)]
    pad: PadArgs,
}

#[derive(Args)]
struct SecureArgs {
    #[command(flatten)]
    pad: PadArgs,
    /// UID of the tag, 16 hex digits (as `rfid inventory` shows it).
    #[arg(long)]
    uid: Uid,
    /// in = secured (in stock), out = unsecured (on loan).
    #[arg(long)]
    state: String,
    /// AFI of items in stock (hex).
    #[arg(long, default_value = "07")]
    afi_in: String,
    /// AFI of items on loan (hex).
    #[arg(long, default_value = "C2")]
    afi_out: String,
    /// Do not touch the EAS bit.
    #[arg(long)]
    no_eas: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Reader protocol: feig or rr3036.
    #[arg(long)]
    reader: ReaderKind,
    /// Tags on the simulated pad.
    #[arg(long, default_value_t = 10)]
    tags: u32,
    /// Timed inventories (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long)]
    json: bool,
}

pub fn run(args: RfidArgs) -> Result<(), CliError> {
    match args.command {
        RfidCommand::Inventory(a) => inventory(a),
        RfidCommand::Secure(a) => secure(a),
        RfidCommand::Bench(a) => bench(a),
    }
}

fn hex_afi(s: &str, what: &str) -> Result<u8, CliError> {
    u8::from_str_radix(s.trim_start_matches("0x"), 16)
        .map_err(|_| CliError::usage(format!("{what} '{s}' is not a hex byte, e.g. 07 or C2")))
}

fn open(pad: &PadArgs, opts: RfidOptions) -> Result<HfReader, CliError> {
    let spec = parse_transport(&pad.port)?;
    HfReader::open(&spec, pad.reader, opts).map_err(|e| CliError::from(DeviceFault::from_error(&e)))
}

#[derive(Serialize)]
struct SetView {
    part: u8,
    total: u8,
}

#[derive(Serialize)]
struct TagView {
    uid: String,
    afi: String,
    security: Option<String>,
    dsfid: String,
    eas: Option<bool>,
    data_model: String,
    primary_item_id: Option<String>,
    owner_institution: Option<String>,
    set_info: Option<SetView>,
    type_of_usage: Option<String>,
    data_error: Option<String>,
}

impl TagView {
    fn new(t: &ItemTag, afi: &AfiConfig) -> Self {
        let d = t.data.as_ref();
        TagView {
            uid: t.uid.to_string(),
            afi: format!("{:02X}", t.afi),
            security: t.security(afi).map(|s| s.to_string()),
            dsfid: format!("{:02X}", t.dsfid),
            eas: t.eas,
            data_model: t.data_model.to_string(),
            primary_item_id: d.map(|d| d.primary_item_id.clone()),
            owner_institution: d.and_then(|d| d.owner_institution.clone()),
            set_info: d.and_then(|d| d.set_info).map(|s| SetView {
                part: s.part,
                total: s.total,
            }),
            type_of_usage: d.and_then(|d| d.type_of_usage).map(|u| u.to_string()),
            data_error: t.data_error.as_ref().map(|e| e.to_string()),
        }
    }

    fn line(&self) -> String {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        format!(
            "{}  AFI {} ({})  {}  item {}  owner {}  set {}  usage {}{}\n",
            self.uid,
            self.afi,
            opt(&self.security),
            self.data_model,
            opt(&self.primary_item_id),
            opt(&self.owner_institution),
            self.set_info
                .as_ref()
                .map(|s| format!("{} of {}", s.part, s.total))
                .unwrap_or_else(|| "-".into()),
            opt(&self.type_of_usage),
            self.data_error
                .as_ref()
                .map(|e| format!("  (data: {e})"))
                .unwrap_or_default(),
        )
    }
}

fn options(pad: &PadArgs) -> RfidOptions {
    RfidOptions {
        timeout: Duration::from_millis(pad.timeout_ms),
        ..RfidOptions::default()
    }
}

fn inventory(a: InventoryArgs) -> Result<(), CliError> {
    let opts = options(&a.pad);
    let mut reader = open(&a.pad, opts)?;
    let tags = reader
        .inventory()
        .map_err(|e| CliError::from(DeviceFault::from_error(&e)))?;
    let views: Vec<TagView> = tags.iter().map(|t| TagView::new(t, &opts.afi)).collect();
    emit(a.pad.json, &views, || {
        let mut s = format!("{} tag(s) on the pad\n", views.len());
        for v in &views {
            s.push_str(&v.line());
        }
        s
    })
}

fn secure(a: SecureArgs) -> Result<(), CliError> {
    let state = match a.state.as_str() {
        "in" | "secured" => SecurityState::Secured,
        "out" | "unsecured" => SecurityState::Unsecured,
        other => {
            return Err(CliError::usage(format!(
                "--state '{other}': expected in (secured) or out (on loan)"
            )));
        }
    };
    let afi = AfiConfig {
        in_stock: hex_afi(&a.afi_in, "--afi-in")?,
        on_loan: hex_afi(&a.afi_out, "--afi-out")?,
    };
    if afi.in_stock == afi.on_loan {
        return Err(CliError::usage("--afi-in and --afi-out must differ"));
    }
    let opts = RfidOptions {
        afi,
        use_eas: !a.no_eas,
        ..options(&a.pad)
    };
    let mut reader = open(&a.pad, opts)?;
    let tag = reader
        .set_security(a.uid, state)
        .map_err(|e| CliError::from(DeviceFault::from_error(&e)))?;
    let view = TagView::new(&tag, &afi);
    emit(a.pad.json, &view, || {
        format!("{state}, read back: {}", view.line())
    })
}

/// Counts the bytes crossing a link, for the wire-time bound of the benchmark.
struct CountingLink {
    inner: Box<dyn Link>,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
}

impl Link for CountingLink {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.inner.write_all(bytes)
    }

    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        let n = self.inner.read_some(buf, timeout)?;
        self.received.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[derive(Serialize)]
struct BenchReport {
    reader: String,
    tags: u32,
    baud: u32,
    bits_per_byte: u32,
    runs: usize,
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    bytes_per_inventory: u64,
    reply_bytes_per_inventory: u64,
    /// Both directions at the protocol's real framing (a real half-duplex UART).
    wire_bound_ms: f64,
    /// Replies only at 10 bits/byte: what the simulator paces (host writes to a pty are instant).
    sim_bound_ms: f64,
    ratio: f64,
}

fn bench(a: BenchArgs) -> Result<(), CliError> {
    let protocol = a.reader.protocol();
    let serial = protocol.serial();
    let pad = RfidPad::new((1..=a.tags).map(|n| demo_book(n, 0x07)).collect());
    let sim = SerialSim::start(RfidPadSim::new(a.reader, pad), None)
        .map_err(|e| CliError::failed(format!("cannot start the simulator: {e}")))?;
    sim.control().set_baud(Some(serial.baud));
    let spec = TransportSpec::Serial {
        path: sim.path().display().to_string(),
        baud: serial.baud,
    };
    let inner = kiosk_transport::open(&spec).map_err(|e| CliError::from(DeviceFault::from(e)))?;
    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let link = CountingLink {
        inner,
        sent: Arc::clone(&sent),
        received: Arc::clone(&received),
    };
    let mut reader = HfReader::connect(Box::new(link), protocol, RfidOptions::default())
        .map_err(|e| CliError::from(DeviceFault::from_error(&e)))?;
    let mut times = Vec::with_capacity(a.runs);
    let (mut per_run, mut replies) = (0, 0);
    for _ in 0..a.runs.max(1) {
        sent.store(0, Ordering::Relaxed);
        received.store(0, Ordering::Relaxed);
        let t0 = Instant::now();
        let tags = reader
            .inventory()
            .map_err(|e| CliError::from(DeviceFault::from_error(&e)))?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        replies = received.load(Ordering::Relaxed);
        per_run = sent.load(Ordering::Relaxed) + replies;
        if tags.len() != a.tags as usize || tags.iter().any(|t| t.data.is_none()) {
            return Err(CliError::failed(format!(
                "inventory saw {} of {} tags",
                tags.len(),
                a.tags
            )));
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let bound = per_run as f64 * serial.bits_per_byte() as f64 * 1000.0 / serial.baud as f64;
    let report = BenchReport {
        reader: a.reader.to_string(),
        tags: a.tags,
        baud: serial.baud,
        bits_per_byte: serial.bits_per_byte(),
        runs: times.len(),
        median_ms: median,
        min_ms: times[0],
        max_ms: times[times.len() - 1],
        bytes_per_inventory: per_run,
        reply_bytes_per_inventory: replies,
        wire_bound_ms: bound,
        sim_bound_ms: replies as f64 * 10.0 * 1000.0 / serial.baud as f64,
        ratio: median / bound,
    };
    emit(a.json, &report, || {
        format!(
            "{} tags over {} at {} baud: median {:.1} ms (min {:.1}, max {:.1}) for {} bytes ({} in replies); wire-time bound {:.1} ms ({} bits/byte, both directions), simulator pacing bound {:.1} ms (replies, 10 bits/byte); median/wire {:.2}\n",
            report.tags,
            report.reader,
            report.baud,
            report.median_ms,
            report.min_ms,
            report.max_ms,
            report.bytes_per_inventory,
            report.reply_bytes_per_inventory,
            report.wire_bound_ms,
            report.bits_per_byte,
            report.sim_bound_ms,
            report.ratio
        )
    })
}

/// `kioskctl simulate rfid|rfid-feig|rfid-rr3036 --link PATH [--scenario FILE] [--baud N]`.
/// The protocol comes from the device name, else from the scenario, else FEIG.
pub fn simulate(args: &SimulateArgs) -> Result<(), CliError> {
    let scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("cannot read scenario {}: {e}", path.display()))
            })?;
            RfidScenario::from_json(&text)
                .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?
        }
        None => RfidScenario::from_json(r#"{"description":"three books","stack":3}"#)
            .map_err(CliError::failed)?,
    };
    let kind = match args.device.strip_prefix("rfid-") {
        Some(k) => k.parse::<ReaderKind>().map_err(CliError::usage)?,
        None => scenario.reader_kind().map_err(CliError::usage)?,
    };
    let sim = scenario.build(kind).map_err(CliError::usage)?;
    let tags = sim.pad().tags().len();
    let running = SerialSim::start(sim, Some(&args.link)).map_err(|e| {
        CliError::failed(format!(
            "cannot start the simulator at {}: {e}; check that the directory exists and is writable",
            args.link.display()
        ))
    })?;
    running.control().set_baud(args.baud);
    eprintln!(
        "RFID pad simulator ({kind}, {tags} tags) on {}{}{}",
        running.path().display(),
        if scenario.description.is_empty() {
            ""
        } else {
            ": "
        },
        scenario.description
    );
    wait_for_stop()?;
    drop(running);
    Ok(())
}
