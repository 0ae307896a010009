//! `kiosk-backoffice`: the reference receiver. `serve` runs the HTTP service; `enroll` registers
//! a terminal's public key (done online by an operator before the terminal may upload).

use clap::{Parser, Subcommand};
use kiosk_backoffice::{Limits, Policy, TerminalKey, open};
use kiosk_queue::keys::PublicKey;

#[derive(Parser)]
#[command(
    name = "kiosk-backoffice",
    version,
    about = "Reference receiver for signed kiosk records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (POST /v1/records).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks one; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// `sqlite:PATH` (default kind) or `postgres://USER@HOST/DB`.
        #[arg(long)]
        db: String,
        /// Record kinds this back office handles (prefixes, comma separated); others are
        /// refused and their seq consumed. Default: all.
        #[arg(long, value_delimiter = ',')]
        accept_kinds: Vec<String>,
        /// Most records in one upload.
        #[arg(long, default_value_t = 1000)]
        max_records: usize,
    },
    /// Register a terminal and its ed25519 public key (64 hex digits).
    Enroll {
        #[arg(long)]
        db: String,
        #[arg(long)]
        terminal: String,
        #[arg(long)]
        public_key: String,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KIOSK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse().command) {
        eprintln!("kiosk-backoffice: {e}");
        std::process::exit(1);
    }
}

fn run(cmd: Command) -> Result<(), String> {
    match cmd {
        Command::Enroll {
            db,
            terminal,
            public_key,
        } => {
            kiosk_queue::record::check_terminal_id(&terminal).map_err(|e| e.to_string())?;
            let pk = PublicKey::from_hex(&public_key).map_err(|e| format!("--public-key: {e}"))?;
            let mut store = open(&db).map_err(|e| e.to_string())?;
            if let Some(t) = store.terminal(&terminal).map_err(|e| e.to_string())?
                && t.hwm > 0
            {
                return Err(format!(
                    "terminal {terminal} already uploaded {} records; a new key comes by a rotation record",
                    t.hwm
                ));
            }
            store
                .enroll(&terminal, &TerminalKey::first(&pk))
                .map_err(|e| e.to_string())?;
            println!("enrolled {terminal} key {}", pk.to_hex());
            Ok(())
        }
        Command::Serve {
            listen,
            db,
            accept_kinds,
            max_records,
        } => {
            let store = open(&db).map_err(|e| e.to_string())?;
            let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let (listener, addr) = kiosk_backoffice::bind(&listen)
                    .await
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                println!("listening on {addr}");
                let app = kiosk_backoffice::router(
                    store,
                    Policy { accept_kinds },
                    Limits {
                        max_records,
                        ..Limits::default()
                    },
                );
                kiosk_backoffice::serve(listener, app, shutdown_signal())
                    .await
                    .map_err(|e| e.to_string())
            })
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
