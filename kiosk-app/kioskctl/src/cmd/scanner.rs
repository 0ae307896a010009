//! `kioskctl scanner …`: read codes from a serial scanner or a camera, decode QR codes in an
//! image file, and (`kioskctl simulate scanner`) run a simulated serial scanner.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
#[cfg(feature = "camera")]
use kiosk_devices::CameraScanner;
use kiosk_devices::{CodeScanner, DeviceFault, ScannedCode, SerialScanner};
#[cfg(feature = "camera")]
use kiosk_scanner::CameraSpec;
use kiosk_scanner::{AimMode, LineConfig, Terminator, TextEncoding};
use kiosk_sim::SerialSim;
use kiosk_sim::scanner::{ScannerScenario, ScannerSim, run_unplugs};
use serde::Serialize;

use crate::cli::{CliError, emit, parse_transport};
use crate::cmd::simulate::{SimulateArgs, wait_for_stop};

#[derive(Args)]
pub struct ScannerArgs {
    #[command(subcommand)]
    pub command: ScannerCommand,
}

#[derive(Subcommand)]
pub enum ScannerCommand {
    /// Wait for codes from a line-based serial scanner.
    Read(ReadArgs),
    /// Decode the QR codes in an image file (PNG, JPEG, …) with OpenCV.
    Decode(DecodeArgs),
    /// Wait for QR codes in front of a camera (camera:0, camera:/dev/video0, camera:PATH).
    Camera(CameraArgs),
}

#[derive(Args)]
pub struct ReadArgs {
    /// Transport, e.g. serial:/dev/ttyACM0@9600.
    #[arg(long)]
    pub port: String,
    /// Seconds to wait for all codes.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// How many codes to read.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Line terminator the scanner is programmed with: cr, lf, crlf, tab.
    #[arg(long, default_value = "cr")]
    pub terminator: String,
    /// Payload encoding: utf-8, gb18030, auto.
    #[arg(long, default_value = "auto")]
    pub encoding: String,
    /// Prefix the scanner puts before each code.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Suffix the scanner puts after each code.
    #[arg(long, default_value = "")]
    pub suffix: String,
    /// Keep a leading AIM identifier (]Q1 …) as part of the text instead of parsing it.
    #[arg(long)]
    pub no_aim: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DecodeArgs {
    /// The image file.
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct CameraArgs {
    /// The camera: camera:0, camera:/dev/video0, camera:/path/frame_%03d.png, camera:FILE.png.
    #[arg(long)]
    pub device: String,
    /// Seconds to wait for all codes.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// How many different codes to read.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Milliseconds a code must be out of view before it counts again.
    #[arg(long, default_value_t = 1500)]
    pub hold_off_ms: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ScannerArgs) -> Result<(), CliError> {
    match args.command {
        ScannerCommand::Read(a) => read(a),
        ScannerCommand::Decode(a) => decode(a),
        ScannerCommand::Camera(a) => camera(a),
    }
}

#[derive(Serialize)]
struct Codes<'a> {
    device: &'a str,
    codes: &'a [ScannedCode],
}

fn seconds(s: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(s).map_err(|_| CliError::usage(format!("bad --timeout {s}")))
}

fn print_codes(json: bool, device: &str, codes: &[ScannedCode]) -> Result<(), CliError> {
    emit(json, &Codes { device, codes }, || {
        codes
            .iter()
            .map(|c| format!("{}\t{}\n", c.symbology, c.text))
            .collect()
    })
}

/// Collects `count` codes within `timeout`; a failure (bad line, unplug) ends the command.
fn collect(
    scanner: &mut dyn CodeScanner,
    count: usize,
    timeout: Duration,
    what: &str,
) -> Result<Vec<ScannedCode>, CliError> {
    let deadline = Instant::now() + timeout;
    let mut codes = Vec::new();
    while codes.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match scanner.next_code(left) {
            Ok(Some(c)) => codes.push(c),
            Ok(None) => {
                return Err(CliError::failed(format!(
                    "{} of {count} code(s) from {what} within {:.1} s; hold the code in front of the scanner",
                    codes.len(),
                    timeout.as_secs_f64()
                )));
            }
            Err(e) => return Err(DeviceFault::from_error(&e).into()),
        }
    }
    Ok(codes)
}

fn read(a: ReadArgs) -> Result<(), CliError> {
    let spec = parse_transport(&a.port)?;
    let config = LineConfig {
        terminator: a
            .terminator
            .parse::<Terminator>()
            .map_err(CliError::usage)?,
        encoding: a
            .encoding
            .parse::<TextEncoding>()
            .map_err(CliError::usage)?,
        prefix: a.prefix.into_bytes(),
        suffix: a.suffix.into_bytes(),
        aim: if a.no_aim {
            AimMode::Off
        } else {
            AimMode::Optional
        },
        ..LineConfig::default()
    };
    let mut scanner =
        SerialScanner::open(&spec, config).map_err(|e| CliError::from(DeviceFault::from(e)))?;
    let codes = collect(&mut scanner, a.count, seconds(a.timeout)?, &a.port)?;
    print_codes(a.json, &a.port, &codes)
}

#[cfg(not(feature = "camera"))]
fn decode(_: DecodeArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "this kioskctl was built without the camera feature (OpenCV)",
    ))
}

#[cfg(not(feature = "camera"))]
fn camera(_: CameraArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "this kioskctl was built without the camera feature (OpenCV)",
    ))
}

#[cfg(feature = "camera")]
fn decode(a: DecodeArgs) -> Result<(), CliError> {
    let found = kiosk_scanner::camera::decode_file(&a.file)
        .map_err(|e| CliError::from(DeviceFault::from(kiosk_devices::ScannerError::from(e))))?;
    if found.is_empty() {
        return Err(CliError::failed(format!(
            "no QR code found in {}; is the code sharp, whole and surrounded by a light margin?",
            a.file.display()
        )));
    }
    let codes: Vec<ScannedCode> = found
        .into_iter()
        .map(|c| ScannedCode {
            text: c.text,
            symbology: c.symbology,
            source: kiosk_devices::CodeSource::Camera,
        })
        .collect();
    print_codes(a.json, &a.file.display().to_string(), &codes)
}

#[cfg(feature = "camera")]
fn camera(a: CameraArgs) -> Result<(), CliError> {
    let spec: CameraSpec = a.device.parse().map_err(CliError::usage)?;
    let mut scanner = CameraScanner::open(&spec, Duration::from_millis(a.hold_off_ms))
        .map_err(|e| CliError::from(DeviceFault::from(e)))?;
    let codes = collect(&mut scanner, a.count, seconds(a.timeout)?, &a.device)?;
    print_codes(a.json, &a.device, &codes)
}

/// `kioskctl simulate scanner --link PATH [--scenario FILE] [--baud N]`.
pub fn simulate(args: &SimulateArgs) -> Result<(), CliError> {
    let scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("cannot read scenario {}: {e}", path.display()))
            })?;
            serde_json::from_str::<ScannerScenario>(&text).map_err(|e| {
                CliError::usage(format!("bad scanner scenario {}: {e}", path.display()))
            })?
        }
        None => ScannerScenario::demo(),
    };
    let (device, _feed) = ScannerSim::from_scenario(&scenario).map_err(CliError::usage)?;
    let sim = SerialSim::start(device, Some(&args.link))
        .map_err(|e| CliError::failed(format!("cannot start the simulator: {e}")))?;
    sim.control().set_baud(args.baud);
    let control = sim.control();
    let unplugs = scenario.clone();
    std::thread::spawn(move || run_unplugs(&unplugs, &control));
    let baud = args.baud.unwrap_or(9600);
    println!(
        "scanner simulator on serial:{}@{baud} ({} steps{}); Ctrl-C to stop",
        args.link.display(),
        scenario.steps.len(),
        if scenario.repeat { ", repeating" } else { "" }
    );
    wait_for_stop()
}
