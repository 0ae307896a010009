//! `kioskctl simulate DEVICE --link PATH [--scenario FILE]`: runs a protocol-true simulator and
//! keeps a symlink to its pseudo-terminal at PATH until stopped (Ctrl-C or SIGTERM).

use std::path::PathBuf;

use clap::Args;

use crate::cli::CliError;

#[derive(Args)]
pub struct SimulateArgs {
    /// Which device to simulate: idcard, fingerprint, rfid, printer, scanner.
    pub device: String,
    /// Where to put the symlink to the simulator's pseudo-terminal.
    #[arg(long)]
    pub link: PathBuf,
    /// A scenario file (JSON) describing what happens, see `fixtures/scenarios/`.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Also listen on this TCP address (printer only), e.g. 127.0.0.1:9100.
    #[arg(long)]
    pub tcp: Option<String>,
    /// Pace replies like a UART at this baud rate.
    #[arg(long)]
    pub baud: Option<u32>,
}

pub fn run(args: SimulateArgs) -> Result<(), CliError> {
    // One arm per simulator; each device module offers `simulate(&SimulateArgs)`.
    match args.device.as_str() {
        "idcard" => crate::cmd::idcard::simulate(&args),
        "fingerprint" => crate::cmd::fingerprint::simulate(&args),
        "printer" => crate::cmd::printer::simulate(&args),
        "rfid" | "rfid-feig" | "rfid-rr3036" => crate::cmd::rfid::simulate(&args),
        "scanner" => crate::cmd::scanner::simulate(&args),
        other => Err(CliError::usage(format!(
            "unknown device '{other}' to simulate: expected idcard, fingerprint, rfid, printer or scanner"
        ))),
    }
}

/// Blocks until SIGINT or SIGTERM, so the caller can drop its simulator and remove the link.
pub fn wait_for_stop() -> Result<(), CliError> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()
        .map_err(|e| CliError::failed(format!("cannot block signals: {e}")))?;
    set.wait()
        .map_err(|e| CliError::failed(format!("cannot wait for a signal: {e}")))?;
    Ok(())
}
