//! `kioskctl`: the technician's command line (works over SSH, no display).
//!
//! Every subcommand takes `--json` for machine-readable output and exits non-zero with one line
//! saying what went wrong and what to check. Personal data is masked unless `--reveal` is given.

#![allow(dead_code)] // shared helpers are used by the subcommand modules as they land

mod cli;
mod cmd;

use clap::Parser;

use crate::cli::CliError;

#[derive(Parser)]
#[command(
    name = "kioskctl",
    version,
    about = "Technician's tool for the self-service kiosk runtime"
)]
struct Cli {
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KIOSK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = cmd::run(cli.command) {
        report(&e);
        std::process::exit(e.exit_code());
    }
}

fn report(e: &CliError) {
    eprintln!("kioskctl: {e}");
}
