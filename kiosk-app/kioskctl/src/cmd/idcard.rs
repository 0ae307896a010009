//! `kioskctl idcard read|bench` and `kioskctl simulate idcard`: the resident ID-card reader
//! (GA/T 467 SAM, reference notes §1).
//!
//! `read` waits for a card (polling every 300 ms, as the SAM wants) and prints card type, name,
//! sex, nation, birth date, address, number, issuer, validity with an expired flag, and the
//! photo and fingerprint sizes. Name, number and address are masked unless `--reveal`.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use kiosk_devices::idcard::{
    CardKind, CardPoller, IdCard, IdCardError, IdCardReader, SamOptions, SamReader, china_today,
};
use kiosk_devices::{DeviceFault, ErrorKind, HasKind};
use kiosk_sim::idcard::IdCardScenario;
use kiosk_sim::{IdCardSim, SerialSim};
use kiosk_transport::TransportSpec;
use serde::Serialize;
use zeroize::Zeroize;

use crate::cli::{CliError, emit, mask_id, mask_name, parse_transport};
use crate::cmd::simulate::{SimulateArgs, wait_for_stop};

#[derive(Args)]
pub struct IdCardArgs {
    #[command(subcommand)]
    pub action: IdCardAction,
}

#[derive(Subcommand)]
pub enum IdCardAction {
    /// Wait for a card on the reader and show what it holds.
    Read(ReadArgs),
    /// Time full card reads (find + select + read 30 01) and compare with the wire time.
    Bench(BenchArgs),
}

#[derive(Args)]
pub struct ReadArgs {
    /// The reader's transport, e.g. serial:/dev/ttyUSB0@115200.
    #[arg(long)]
    pub port: String,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Show name, number and address unmasked.
    #[arg(long)]
    pub reveal: bool,
    /// Also read the fingerprint templates (command 30 10).
    #[arg(long)]
    pub fingerprint: bool,
    /// How long to wait for a card, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Args)]
pub struct BenchArgs {
    /// A reader with a card on it; without, an in-process simulator paced at --baud is used.
    #[arg(long)]
    pub port: Option<String>,
    /// Timed reads.
    #[arg(long, default_value_t = 20)]
    pub rounds: u32,
    /// Baud rate of the simulator's pacing and of the port.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: IdCardArgs) -> Result<(), CliError> {
    match args.action {
        IdCardAction::Read(a) => read(a),
        IdCardAction::Bench(a) => bench(a),
    }
}

/// One line saying what went wrong and what to check.
fn failure(e: &IdCardError) -> CliError {
    let hint = match e.kind() {
        ErrorKind::MediaRejected => {
            "; remove the card and place it again; if it keeps failing the card is damaged or not a supported card"
        }
        ErrorKind::HardwareError => "; the SAM module reports a fault, power-cycle the reader",
        ErrorKind::Config => "; the SAM is not authorised, contact the reader's supplier",
        ErrorKind::NoMedia => "; place the card flat on the reader",
        _ => return DeviceFault::from_error(e).into(),
    };
    CliError::failed(format!("{e} ({}){hint}", e.kind()))
}

fn open(spec: &TransportSpec) -> Result<SamReader, CliError> {
    if *spec == TransportSpec::Sim {
        return Err(CliError::usage(
            "the ID-card reader needs a port; for a simulator run `kioskctl simulate idcard --link PATH` and pass --port serial:PATH@115200",
        ));
    }
    SamReader::open(spec, SamOptions::default()).map_err(|e| failure(&e))
}

/// What `read` prints. Zeroized when dropped.
#[derive(Serialize)]
struct CardReport {
    card_type: &'static str,
    card_title: &'static str,
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    english_name: String,
    sex: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nation: Option<&'static str>,
    #[serde(skip_serializing_if = "String::is_empty")]
    nationality: String,
    birth: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    address: String,
    id_number: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    issuer: String,
    valid_from: String,
    valid_until: String,
    expired: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    permit_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    issue_count: Option<u8>,
    photo_bytes: usize,
    fingerprint_bytes: usize,
    masked: bool,
}

impl Drop for CardReport {
    fn drop(&mut self) {
        self.name.zeroize();
        self.english_name.zeroize();
        self.birth.zeroize();
        self.address.zeroize();
        self.id_number.zeroize();
        self.permit_number.zeroize();
    }
}

/// Keeps the first three characters of an address (the province) unless revealed.
fn mask_address(address: &str, reveal: bool) -> String {
    if reveal || address.is_empty() {
        return address.to_string();
    }
    let head: String = address.chars().take(3).collect();
    format!("{head}****")
}

impl CardReport {
    fn new(card: &IdCard, reveal: bool) -> Self {
        CardReport {
            card_type: card.kind.as_str(),
            card_title: card.kind.title(),
            name: mask_name(&card.name, reveal),
            english_name: mask_name(&card.english_name, reveal),
            sex: card.sex.label(),
            nation: card.nation_name(),
            nationality: card.nationality.clone(),
            birth: card.birth.to_string(),
            address: mask_address(&card.address, reveal),
            id_number: mask_id(&card.number, reveal),
            issuer: card.issuer.clone(),
            valid_from: card.valid_from.to_string(),
            valid_until: card.valid_until.to_string(),
            expired: card.is_expired(china_today()),
            permit_number: mask_id(&card.permit_number, reveal),
            issue_count: card.issue_count,
            photo_bytes: card.photo.len(),
            fingerprint_bytes: card.fingerprint.len(),
            masked: !reveal,
        }
    }

    fn text(&self) -> String {
        let mut s = format!("{} ({})\n", self.card_title, self.card_type);
        let mut line = |k: &str, v: &str| {
            if !v.is_empty() {
                s.push_str(&format!("  {k:<14} {v}\n"));
            }
        };
        line("name", &self.name);
        line("English name", &self.english_name);
        line("sex", self.sex);
        line("nation", self.nation.unwrap_or(""));
        line("nationality", &self.nationality);
        line("birth", &self.birth);
        line("address", &self.address);
        line("number", &self.id_number);
        line("issuer", &self.issuer);
        line("permit number", &self.permit_number);
        let validity = format!(
            "{} – {}{}",
            self.valid_from,
            self.valid_until,
            if self.expired { "  EXPIRED" } else { "" }
        );
        line("valid", &validity);
        line("photo", &format!("{} bytes (WLT)", self.photo_bytes));
        line("fingerprint", &format!("{} bytes", self.fingerprint_bytes));
        s
    }
}

fn read(args: ReadArgs) -> Result<(), CliError> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(CliError::usage(
            "--timeout must be a positive number of seconds",
        ));
    }
    let spec = parse_transport(&args.port)?;
    let mut reader = open(&spec)?;
    let timeout = Duration::from_secs_f64(args.timeout);
    let card = CardPoller::default()
        .wait_for_card(&mut reader, args.fingerprint, timeout)
        .map_err(|e| failure(&e))?
        .ok_or_else(|| {
            CliError::failed(format!(
                "no card on the reader at {} within {} s; place the card flat on the reader (remove and re-place a card that was just read)",
                args.port, args.timeout
            ))
        })?;
    let report = CardReport::new(&card, args.reveal);
    drop(card);
    emit(args.json, &report, || report.text())
}

#[derive(Serialize)]
struct BenchReport {
    transport: String,
    rounds: u32,
    baud: u32,
    bytes_per_read: usize,
    wire_time_ms: f64,
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    median_over_wire: f64,
}

fn bench(args: BenchArgs) -> Result<(), CliError> {
    if args.rounds == 0 || args.baud == 0 {
        return Err(CliError::usage("--rounds and --baud must be positive"));
    }
    // Keep the simulator (if any) alive for the whole run.
    let mut _sim = None;
    let port = match &args.port {
        Some(p) => p.clone(),
        None => {
            let scenario = IdCardScenario {
                consume_on_read: false,
                ..IdCardScenario::demo()
            };
            let dev = IdCardSim::new(&scenario).map_err(CliError::failed)?;
            let sim = SerialSim::start(dev, None)
                .map_err(|e| CliError::failed(format!("cannot start the simulator: {e}")))?;
            sim.control().set_baud(Some(args.baud));
            let p = format!("serial:{}@{}", sim.path().display(), args.baud);
            _sim = Some(sim);
            p
        }
    };
    let spec = parse_transport(&port)?;
    let mut reader = open(&spec)?;
    // Requests: three 10-byte commands. Replies: find 15, select 19, read 1295 bytes.
    let bytes_per_read = 3 * 10 + 15 + 19 + 1295;
    let wire_ms = bytes_per_read as f64 * 10.0 / f64::from(args.baud) * 1000.0;
    let mut times = Vec::with_capacity(args.rounds as usize);
    for round in 0..args.rounds + 2 {
        let start = Instant::now();
        let card = reader.read_card(false).map_err(|e| failure(&e))?;
        let elapsed = start.elapsed();
        if card.is_none() {
            return Err(CliError::failed(format!(
                "no card on the reader at {port}; the bench needs a card that stays in the field"
            )));
        }
        // The first two reads warm up the port and the simulator.
        if round >= 2 {
            times.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let report = BenchReport {
        transport: port,
        rounds: args.rounds,
        baud: args.baud,
        bytes_per_read,
        wire_time_ms: wire_ms,
        median_ms: median,
        min_ms: times[0],
        max_ms: times[times.len() - 1],
        median_over_wire: median / wire_ms,
    };
    emit(args.json, &report, || {
        format!(
            "full ID-card read (find + select + read 30 01, {} bytes) over {}\n  median {:.1} ms (min {:.1}, max {:.1}) over {} rounds\n  wire-time lower bound at {} baud: {:.1} ms, median is {:.2}x\n",
            report.bytes_per_read,
            report.transport,
            report.median_ms,
            report.min_ms,
            report.max_ms,
            report.rounds,
            report.baud,
            report.wire_time_ms,
            report.median_over_wire
        )
    })
}

/// `kioskctl simulate idcard --link PATH [--scenario FILE] [--baud N]`.
pub fn simulate(args: &SimulateArgs) -> Result<(), CliError> {
    // Block the stop signals before the simulator thread starts, so it inherits the mask and
    // the signal reaches `wait_for_stop` (which then removes the link) instead of killing us.
    {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block()
            .map_err(|e| CliError::failed(format!("cannot block signals: {e}")))?;
    }
    let scenario = match &args.scenario {
        Some(path) => IdCardScenario::load(path).map_err(|e| {
            CliError::usage(format!(
                "{e}; see the format in devices/simulators/src/idcard.rs and fixtures/scenarios/idcard-*.json"
            ))
        })?,
        None => IdCardScenario::demo(),
    };
    let dev = IdCardSim::new(&scenario).map_err(CliError::usage)?;
    let running = SerialSim::start(dev, Some(&args.link)).map_err(|e| {
        CliError::failed(format!(
            "cannot start the simulator at {}: {e}; check that the directory exists and is writable",
            args.link.display()
        ))
    })?;
    running.control().set_baud(args.baud);
    let card = scenario
        .card
        .as_ref()
        .map(|c| {
            if c.kind.is_empty() {
                CardKind::Resident.as_str().to_string()
            } else {
                c.kind.clone()
            }
        })
        .unwrap_or_else(|| "no card".into());
    eprintln!(
        "ID-card reader (GA/T 467 SAM) simulator on {} ({card} in the field, {} timeline events)",
        running.path().display(),
        scenario.timeline.len()
    );
    wait_for_stop()?;
    drop(running);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_mask() {
        assert_eq!(mask_address("北京市东城区测试路1号", false), "北京市****");
        assert_eq!(
            mask_address("北京市东城区测试路1号", true),
            "北京市东城区测试路1号"
        );
        assert_eq!(mask_address("", false), "");
    }
}
