//! `kioskctl keys`: the terminal's signing key, for enrolment and rotation (PROTOCOL.md §6).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kiosk_queue::{Queue, TerminalKey};
use serde::Serialize;

use crate::cli::{CliError, emit};

#[derive(Args)]
pub struct KeysArgs {
    /// Queue database (default /var/lib/kiosk/queue.db).
    #[arg(long, global = true, default_value = kiosk_queue::DEFAULT_DB_PATH)]
    pub db: PathBuf,
    /// Private key file: `show` reads only this file; otherwise the key beside --db.
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// Terminal id when the queue is created (default: host name).
    #[arg(long, global = true)]
    pub terminal: Option<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Print the public key to enrol (64 hex digits).
    Show {
        /// Create the queue and the key if this is the first start.
        #[arg(long)]
        create: bool,
    },
    /// Replace the signing key by a new one, announced in a record signed by the old key.
    Rotate,
}

#[derive(Serialize)]
struct KeyInfo {
    terminal: Option<String>,
    public_key: String,
    genesis_key: Option<String>,
}

pub fn run(args: KeysArgs) -> Result<(), CliError> {
    let json = args.json;
    match args.command {
        KeysCommand::Show { create } => {
            let db_given = args.db.as_os_str() != kiosk_queue::DEFAULT_DB_PATH;
            let info = match (&args.key, db_given) {
                (Some(path), false) => {
                    let key = TerminalKey::load(path)
                        .map_err(|e| CliError::failed(format!("{}: {e}", path.display())))?;
                    KeyInfo {
                        terminal: None,
                        public_key: key.public().to_hex(),
                        genesis_key: None,
                    }
                }
                _ => {
                    let cfg = super::outbox::config(
                        args.db.clone(),
                        args.key.clone(),
                        args.terminal.clone(),
                        None,
                        create,
                    )?;
                    let q = Queue::open(cfg).map_err(CliError::failed)?;
                    KeyInfo {
                        terminal: Some(q.terminal().to_string()),
                        public_key: q.public_key().map_err(CliError::failed)?.to_hex(),
                        genesis_key: Some(q.genesis_key().map_err(CliError::failed)?.to_hex()),
                    }
                }
            };
            emit(json, &info, || {
                let mut s = String::new();
                if let Some(t) = &info.terminal {
                    s.push_str(&format!("terminal     {t}\n"));
                }
                s.push_str(&format!("public key   {}\n", info.public_key));
                if let Some(g) = info.genesis_key.as_ref().filter(|g| **g != info.public_key) {
                    s.push_str(&format!("genesis key  {g} (enrolled; rotated since)\n"));
                }
                s
            })
        }
        KeysCommand::Rotate => {
            let cfg = super::outbox::config(args.db, args.key, args.terminal, None, false)?;
            let q = Queue::open(cfg).map_err(CliError::failed)?;
            let (receipt, key) = q.rotate_key().map_err(CliError::failed)?;
            emit(
                json,
                &serde_json::json!({"seq": receipt.seq, "public_key": key.to_hex()}),
                || format!("rotated at seq {}: new public key {key}\n", receipt.seq),
            )
        }
    }
}
