//! `kioskctl library …`: the offline transactions of the book self-checkout (issue 5).
//!
//! * `replay` sends the signed queue's offline loans and returns to the ILS over SIP2, once each,
//!   in seq order, with their original dates (`kiosk_flows::replay`). Refusals are kept as
//!   failures for staff and the command still exits 0 (nothing is lost; `failures` lists them);
//!   an unreachable ILS ends the round with exit 1 and one line, to try again later.
//! * `failures` lists what the ILS refused, `retry SEQ` sends one again on the next replay,
//!   `dismiss SEQ --note TEXT` settles one by hand.
//!
//! Progress is kept in `replay.db` beside the queue (`--progress` to put it elsewhere). Patron
//! identifiers are masked unless `--reveal`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kiosk_flows::replay::{ReplayStore, Replayer, Settled, Stop};
use kiosk_queue::Queue;
use kiosk_sip2::{Client, TcpConnector};
use serde_json::json;

use super::sip2::IlsArgs;
use crate::cli::{CliError, emit, mask_id};

#[derive(Args)]
pub struct LibraryArgs {
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show patron identifiers unmasked.
    #[arg(long, global = true)]
    pub reveal: bool,
    #[command(subcommand)]
    pub action: LibraryAction,
}

#[derive(Args)]
pub struct Store {
    /// The signed queue database.
    #[arg(long)]
    pub db: PathBuf,
    /// The replay progress database (default: replay.db beside --db).
    #[arg(long)]
    pub progress: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum LibraryAction {
    /// Send the offline loans and returns to the ILS with their original dates.
    Replay {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        ils: IlsArgs,
        /// Send at most this many records now.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Offline transactions the ILS refused (kept for staff).
    Failures {
        #[command(flatten)]
        store: Store,
    },
    /// Send a failed transaction again on the next replay.
    Retry {
        seq: u64,
        #[command(flatten)]
        store: Store,
    },
    /// Settle a failed transaction by hand.
    Dismiss {
        seq: u64,
        #[command(flatten)]
        store: Store,
        /// What staff did (e.g. "keyed in at the desk").
        #[arg(long)]
        note: String,
    },
}

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::failed(format!("library: {e}"))
}

fn progress(store: &Store) -> Result<ReplayStore, CliError> {
    if !store.db.exists() {
        return Err(CliError::usage(format!(
            "library: {} does not exist; check --db",
            store.db.display()
        )));
    }
    let path = store
        .progress
        .clone()
        .unwrap_or_else(|| ReplayStore::beside(&store.db));
    ReplayStore::open(&path).map_err(fail)
}

fn open_queue(store: &Store) -> Result<Queue, CliError> {
    let mut cfg = super::outbox::config(store.db.clone(), None, None, None, false)?;
    cfg.read_only = true;
    Queue::open(cfg).map_err(fail)
}

fn row_json(s: &Settled, reveal: bool) -> serde_json::Value {
    json!({
        "seq": s.seq,
        "kind": s.kind,
        "item": s.item,
        "patron": s.patron.as_deref().map(|p| mask_id(p, reveal)),
        "at": s.at,
        "due": s.due,
        "status": s.status.as_str(),
        "message": s.message,
        "settled_ms": s.settled_ms,
        "attempts": s.attempts,
        "staff_note": s.staff_note,
    })
}

fn row_text(s: &Settled, reveal: bool) -> String {
    format!(
        "{:>6}  {:<16}  {:<14}  {:<12}  {}  {:<7}  {}\n",
        s.seq,
        s.kind,
        s.item,
        s.patron
            .as_deref()
            .map(|p| mask_id(p, reveal))
            .unwrap_or_else(|| "-".into()),
        s.at,
        s.status.as_str(),
        s.message
    )
}

pub fn run(a: LibraryArgs) -> Result<(), CliError> {
    let (json, reveal) = (a.json, a.reveal);
    match a.action {
        LibraryAction::Replay { store, ils, limit } => {
            let settings = super::sip2::settings(&ils)?;
            let progress = progress(&store)?;
            let queue = open_queue(&store)?;
            let mut replayer = Replayer::new(&queue, progress);
            if let Some(n) = limit {
                replayer = replayer.with_limit(n);
            }
            let waiting = replayer.pending().map_err(fail)?.len();
            let mut client = if waiting == 0 {
                None
            } else {
                Some(
                    Client::connect(TcpConnector::new(&ils.ils), settings)
                        .map_err(|e| super::sip2::sip_error(&ils.ils, e))?,
                )
            };
            let round = match client.as_mut() {
                Some(c) => replayer.round(c).map_err(fail)?,
                None => Default::default(),
            };
            if let Some(c) = client.as_mut() {
                c.close();
            }
            let left = replayer.pending().map_err(fail)?.len();
            if let Some(Stop::Ils { seq, kind, message }) = &round.stopped {
                return Err(CliError::failed(format!(
                    "library replay: stopped at seq {seq}, the ILS at {} did not answer ({kind}): \
                     {message}; {} sent, {left} waiting for the next replay",
                    ils.ils,
                    round.sent()
                )));
            }
            let failed: Vec<_> = round
                .failed
                .iter()
                .filter_map(|s| replayer.store().get(*s).ok().flatten())
                .collect();
            let value = json!({
                "done": round.done,
                "failed": failed.iter().map(|s| row_json(s, reveal)).collect::<Vec<_>>(),
                "waiting": left,
                "progress": replayer.store().path().display().to_string(),
            });
            emit(json, &value, || {
                let mut t = format!(
                    "{} replayed, {} refused (kept for staff), {left} waiting\n",
                    round.done.len(),
                    failed.len()
                );
                for s in &failed {
                    t.push_str(&row_text(s, reveal));
                }
                t
            })
        }
        LibraryAction::Failures { store } => {
            let p = progress(&store)?;
            let rows = p.failures().map_err(fail)?;
            let value: Vec<_> = rows.iter().map(|s| row_json(s, reveal)).collect();
            emit(json, &value, || {
                if rows.is_empty() {
                    return "no failed offline transactions\n".into();
                }
                rows.iter().map(|s| row_text(s, reveal)).collect()
            })
        }
        LibraryAction::Retry { seq, store } => {
            let mut p = progress(&store)?;
            p.retry(seq).map_err(fail)?;
            emit(json, &json!({"seq": seq, "status": "retry"}), || {
                format!("seq {seq} is sent again on the next replay\n")
            })
        }
        LibraryAction::Dismiss { seq, store, note } => {
            let mut p = progress(&store)?;
            p.dismiss(seq, &note).map_err(fail)?;
            emit(
                json,
                &json!({"seq": seq, "status": "dismissed", "staff_note": note.trim()}),
                || format!("seq {seq} dismissed\n"),
            )
        }
    }
}
