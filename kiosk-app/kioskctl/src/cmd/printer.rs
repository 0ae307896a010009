//! Receipt printer commands (devices.md §3):
//! `kioskctl printer status --to SPEC [--json]`, `kioskctl print receipt --to SPEC FILE.json`,
//! and the `printer` arm of `kioskctl simulate`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use kiosk_devices::{ErrorKind, EscPosPrinter, HasKind, PrinterError, ReceiptPrinter};
use kiosk_escpos::{PaperLevel, PrinterStatus, ReceiptSpec};
use kiosk_sim::{PrinterScenario, PrinterSim, PrinterSimOptions};
use serde::Serialize;

use crate::cli::{CliError, emit, parse_transport};
use crate::cmd::simulate::{SimulateArgs, wait_for_stop};

#[derive(Args)]
pub struct PrinterArgs {
    #[command(subcommand)]
    pub command: PrinterCommand,
}

#[derive(Subcommand)]
pub enum PrinterCommand {
    /// Ask the printer for its real-time status (DLE EOT 1-4).
    Status {
        /// Transport, e.g. serial:/dev/ttyUSB0@9600, tcp:192.168.1.50:9100, usb:auto, file:/dev/usb/lp0.
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct PrintArgs {
    #[command(subcommand)]
    pub command: PrintCommand,
}

#[derive(Subcommand)]
pub enum PrintCommand {
    /// Print a receipt described in JSON (format: kiosk-escpos crate docs,
    /// example: fixtures/escpos/receipt-example.json).
    Receipt {
        /// The receipt description.
        file: PathBuf,
        /// Transport of the printer.
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct StatusReport {
    transport: String,
    ready: bool,
    summary: String,
    status: PrinterStatus,
}

fn open(to: &str) -> Result<EscPosPrinter, CliError> {
    let spec = parse_transport(to)?;
    EscPosPrinter::open(&spec).map_err(fail)
}

/// One line per failure, with what to do about it.
fn fail(e: PrinterError) -> CliError {
    let hint = match e.kind() {
        ErrorKind::PaperOut => "; load a new roll",
        ErrorKind::CoverOpen => "; close the printer cover",
        ErrorKind::HardwareError => "; check the printer's panel lights, clear jams, power-cycle",
        ErrorKind::Protocol => "; check the baud rate and that this is an ESC/POS printer",
        ErrorKind::Unsupported => "; this transport cannot read the printer's status back",
        _ => {
            return CliError::from(kiosk_devices::DeviceFault::from_error(&e));
        }
    };
    CliError::failed(format!("{e} ({}){hint}", e.kind()))
}

pub fn run_printer(args: PrinterArgs) -> Result<(), CliError> {
    match args.command {
        PrinterCommand::Status { to, json } => {
            let mut p = open(&to)?;
            let status = p.status().map_err(fail)?;
            let report = StatusReport {
                transport: transport_of(&p),
                ready: kiosk_devices::printer::check_printable(&status, "").is_ok(),
                summary: status.summary(),
                status,
            };
            emit(json, &report, || {
                format!(
                    "{}: {}{}\n",
                    report.transport,
                    report.summary,
                    if report.ready { "" } else { " (not ready)" }
                )
            })
        }
    }
}

fn transport_of(p: &EscPosPrinter) -> String {
    kiosk_devices::Device::info(p).transport
}

#[derive(Serialize)]
struct PrintReport {
    transport: String,
    printed: bool,
    bytes: usize,
    paper: Option<PaperLevel>,
}

pub fn run_print(args: PrintArgs) -> Result<(), CliError> {
    match args.command {
        PrintCommand::Receipt { file, to, json } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
            let spec = ReceiptSpec::from_json(&text)
                .map_err(|e| CliError::usage(format!("{}: {e}", file.display())))?;
            let base = file.parent().unwrap_or(Path::new("."));
            let receipt = spec
                .build(base)
                .map_err(|e| CliError::usage(format!("{}: {e}", file.display())))?;
            let mut p = open(&to)?;
            p.print(&receipt).map_err(|e| match e.kind() {
                ErrorKind::PaperOut | ErrorKind::CoverOpen | ErrorKind::HardwareError => {
                    let f = fail(e);
                    CliError::failed(format!("not printing: {}", f.message))
                }
                _ => fail(e),
            })?;
            let paper = p.status().ok().map(|s| s.paper);
            let report = PrintReport {
                transport: transport_of(&p),
                printed: true,
                bytes: receipt.to_bytes().len(),
                paper,
            };
            emit(json, &report, || {
                let warn = if paper == Some(PaperLevel::NearEnd) {
                    " (paper near end: replace the roll soon)"
                } else {
                    ""
                };
                format!(
                    "printed {} ({} bytes) on {}{warn}\n",
                    file.display(),
                    report.bytes,
                    report.transport
                )
            })
        }
    }
}

/// `kioskctl simulate printer --link PATH [--tcp ADDR] [--scenario FILE]`: prints each
/// received receipt's text to stdout as it is cut.
pub fn simulate(args: &SimulateArgs) -> Result<(), CliError> {
    // Block the stop signals before any simulator thread starts, so they inherit the mask and
    // the signal reaches `wait_for_stop` instead of killing the process with the link left.
    {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block()
            .map_err(|e| CliError::failed(format!("cannot block signals: {e}")))?;
    }
    let scenario = match &args.scenario {
        Some(path) => PrinterScenario::load(path).map_err(CliError::usage)?,
        None => PrinterScenario::default(),
    };
    let description = scenario.description.clone();
    let sim = PrinterSim::start(PrinterSimOptions {
        pty_link: Some(args.link.clone()),
        pty: true,
        tcp: args.tcp.clone(),
        scenario,
    })
    .map_err(|e| {
        CliError::failed(format!(
            "cannot start the printer simulator at {}{}: {e}; check that the directory is writable and the port free",
            args.link.display(),
            args.tcp.as_deref().map(|t| format!(" / {t}")).unwrap_or_default()
        ))
    })?;
    if let Some(c) = sim.control() {
        c.set_baud(args.baud);
    }
    let receipts = sim.subscribe();
    eprintln!(
        "receipt printer simulator on {}{}{}{}",
        args.link.display(),
        sim.tcp_addr()
            .map(|a| format!(" and tcp:{a}"))
            .unwrap_or_default(),
        if description.is_empty() { "" } else { ": " },
        description
    );
    std::thread::Builder::new()
        .name("print-receipts".into())
        .spawn(move || {
            let mut n = 0;
            while let Ok(r) = receipts.recv() {
                n += 1;
                println!("=== receipt {n} ===");
                print!("{r}");
                for q in r.qr_payloads() {
                    println!("qr: {q}");
                }
            }
        })
        .map_err(|e| CliError::failed(format!("cannot start a thread: {e}")))?;
    wait_for_stop()?;
    drop(sim);
    std::thread::sleep(Duration::from_millis(10));
    Ok(())
}
