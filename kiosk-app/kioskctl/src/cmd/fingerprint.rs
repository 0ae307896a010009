//! `kioskctl fingerprint info|enroll|search|delete --port SPEC`: talks to an R30x/AS608/R503
//! fingerprint module (Synochip protocol, reference notes §2), and `kioskctl simulate
//! fingerprint`: the protocol-true simulator. Template bytes are never printed.

use std::time::Duration;

use clap::{Args, Subcommand};
use kiosk_devices::fingerprint::{
    DEFAULT_BAUD, FingerprintError, FingerprintOptions, FingerprintReader, SynochipReader, Waiting,
};
use kiosk_devices::{Device, DeviceFault, ErrorKind, HasKind};
use kiosk_sim::{FingerprintScenario, FingerprintSim, SerialSim};
use kiosk_transport::TransportSpec;
use serde::Serialize;

use crate::cli::{CliError, emit, parse_transport};
use crate::cmd::simulate::{SimulateArgs, wait_for_stop};

#[derive(Args)]
pub struct FingerprintArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Show the module's system parameters and how many templates it holds.
    Info(Common),
    /// Enrol a finger (place, lift, place again) into library slot N.
    Enroll {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        slot: u16,
    },
    /// Identify a finger against the whole library (1:N).
    Search(Common),
    /// Delete the template in slot N.
    Delete {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        slot: u16,
    },
}

#[derive(Args)]
struct Common {
    /// The module's transport, e.g. serial:/dev/ttyUSB0@57600 (`serial:PATH` means 57600 baud).
    #[arg(long)]
    port: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// The module's handshake password, 8 hexadecimal digits (default 00000000).
    #[arg(long)]
    password: Option<String>,
    /// The module address, 8 hexadecimal digits (default FFFFFFFF).
    #[arg(long)]
    address: Option<String>,
    /// Seconds to wait for a finger to be placed or lifted.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
}

fn hex32(what: &str, s: &str) -> Result<u32, CliError> {
    let digits = s.trim_start_matches("0x");
    if digits.len() != 8 {
        return Err(CliError::usage(format!(
            "--{what} must be 8 hexadecimal digits, e.g. 00000000"
        )));
    }
    u32::from_str_radix(digits, 16)
        .map_err(|_| CliError::usage(format!("--{what} must be 8 hexadecimal digits")))
}

/// `serial:PATH` without a baud rate means the modules' factory 57600.
fn spec(port: &str) -> Result<TransportSpec, CliError> {
    if let Some(path) = port.strip_prefix("serial:")
        && !path.contains('@')
    {
        return parse_transport(&format!("{port}@{DEFAULT_BAUD}"));
    }
    parse_transport(port)
}

fn fail(e: &FingerprintError, timeout: f64) -> CliError {
    let hint = match e.kind() {
        ErrorKind::Config => match e {
            FingerprintError::SlotOutOfRange { .. } => {
                "; choose a slot below the capacity shown by `kioskctl fingerprint info`".to_string()
            }
            _ => "; check --password and --address (8 hex digits each; factory values 00000000 and FFFFFFFF)".to_string(),
        },
        ErrorKind::NoMedia => format!(
            "; place a finger flat on the sensor within {timeout} s (or raise --timeout)"
        ),
        ErrorKind::MediaRejected => {
            "; clean the sensor and the finger, press flat and try again".to_string()
        }
        ErrorKind::Protocol => "; check the baud rate (modules ship at 57600) and that a Synochip R30x/AS608 module is on this port".to_string(),
        ErrorKind::HardwareError => "; the module reports a fault, power-cycle it".to_string(),
        _ => return CliError::from(DeviceFault::from_error(e)),
    };
    CliError::failed(format!("{e} ({}){hint}", e.kind()))
}

fn connect(c: &Common) -> Result<SynochipReader, CliError> {
    let spec = spec(&c.port)?;
    if !(c.timeout.is_finite() && c.timeout > 0.0) {
        return Err(CliError::usage(
            "--timeout must be a positive number of seconds",
        ));
    }
    let mut opts = FingerprintOptions {
        finger_timeout: Duration::from_secs_f64(c.timeout),
        ..Default::default()
    };
    if let Some(p) = &c.password {
        opts.password = hex32("password", p)?;
    }
    if let Some(a) = &c.address {
        opts.address = hex32("address", a)?;
    }
    let mut reader = SynochipReader::open(&spec, opts).map_err(|e| fail(&e, c.timeout))?;
    if !c.json {
        reader.set_prompt(Box::new(|w| {
            eprintln!(
                "{}",
                match w {
                    Waiting::FingerOn => "place your finger on the sensor…",
                    Waiting::FingerOff => "lift your finger…",
                }
            )
        }));
    }
    Ok(reader)
}

#[derive(Serialize)]
struct Info {
    transport: String,
    model: String,
    system_id: u16,
    capacity: u16,
    security_level: u16,
    packet_size: usize,
    baud: u32,
    address: String,
    templates: u16,
}

#[derive(Serialize)]
struct Enrolled {
    slot: u16,
    templates: u16,
}

#[derive(Serialize)]
struct SearchResult {
    matched: bool,
    slot: Option<u16>,
    score: Option<u16>,
}

pub fn run(args: FingerprintArgs) -> Result<(), CliError> {
    match args.action {
        Action::Info(c) => {
            let mut r = connect(&c)?;
            let p = r.system_parameters();
            let templates = r.template_count().map_err(|e| fail(&e, c.timeout))?;
            let info = r.info();
            let out = Info {
                transport: info.transport,
                model: info.model,
                system_id: p.system_id,
                capacity: p.capacity,
                security_level: p.security_level,
                packet_size: p.packet_size.bytes(),
                baud: p.baud(),
                address: format!("{:08X}", p.address),
                templates,
            };
            emit(c.json, &out, || {
                format!(
                    "{}\n  transport       {}\n  system id       {:04X}\n  capacity        {}\n  templates       {}\n  security level  {}\n  packet size     {} bytes\n  baud            {}\n  address         {}\n",
                    out.model,
                    out.transport,
                    out.system_id,
                    out.capacity,
                    out.templates,
                    out.security_level,
                    out.packet_size,
                    out.baud,
                    out.address
                )
            })
        }
        Action::Enroll { common: c, slot } => {
            let mut r = connect(&c)?;
            let slot = r.enroll(slot).map_err(|e| fail(&e, c.timeout))?;
            let templates = r.template_count().map_err(|e| fail(&e, c.timeout))?;
            let out = Enrolled { slot, templates };
            emit(c.json, &out, || {
                format!("enrolled into slot {slot} ({templates} templates stored)\n")
            })
        }
        Action::Search(c) => {
            let mut r = connect(&c)?;
            let hit = r.search().map_err(|e| fail(&e, c.timeout))?;
            let out = SearchResult {
                matched: hit.is_some(),
                slot: hit.map(|h| h.page),
                score: hit.map(|h| h.score),
            };
            emit(c.json, &out, || match hit {
                Some(h) => format!("match: slot {} (score {})\n", h.page, h.score),
                None => "no match in the library\n".to_string(),
            })
        }
        Action::Delete { common: c, slot } => {
            let mut r = connect(&c)?;
            r.delete(slot).map_err(|e| fail(&e, c.timeout))?;
            let templates = r.template_count().map_err(|e| fail(&e, c.timeout))?;
            emit(c.json, &Enrolled { slot, templates }, || {
                format!("deleted slot {slot} ({templates} templates stored)\n")
            })
        }
    }
}

/// `kioskctl simulate fingerprint --link PATH [--scenario FILE] [--baud N]`.
pub fn simulate(args: &SimulateArgs) -> Result<(), CliError> {
    let scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("cannot read scenario {}: {e}", path.display()))
            })?;
            FingerprintScenario::from_json(&text)
                .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?
        }
        None => FingerprintScenario::default(),
    };
    let sim = FingerprintSim::new(&scenario).map_err(CliError::usage)?;
    let running = SerialSim::start(sim, Some(&args.link)).map_err(|e| {
        CliError::failed(format!(
            "cannot start the simulator at {}: {e}; check that the directory exists and is writable",
            args.link.display()
        ))
    })?;
    running.control().set_baud(args.baud);
    eprintln!(
        "fingerprint module simulator on {} ({} templates capacity){}{}",
        running.path().display(),
        scenario.capacity,
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
