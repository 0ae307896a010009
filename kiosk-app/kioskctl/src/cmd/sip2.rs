//! `kioskctl sip2 …`: talk to the library system (ILS) over SIP2 like the book self-checkout
//! does (kiosk-sip2, library.md §1): status, patron, checkout, checkin, renew, item, end.
//!
//! Every refusal by the ILS is shown with its screen message and the message id the kiosk
//! translates it to; the command then exits 1 with one line naming the items. Patron names,
//! addresses and e-mail are masked unless `--reveal`.

use clap::{Args, Subcommand};
use kiosk_sip2::message::{PatronStatus, Terminator, count, flag, supported_messages};
use kiosk_sip2::{Charset, CircOptions, Client, ErrorKind, Settings, TcpConnector, Timestamp};
use serde::Serialize;

use crate::cli::{CliError, emit, mask_name};

/// How to reach and log in to the ILS's SIP2 service (shared by `kioskctl sip2` and
/// `kioskctl library`).
#[derive(Args)]
pub struct IlsArgs {
    /// The ILS's SIP2 service, HOST:PORT (often port 6001).
    #[arg(long)]
    pub ils: String,
    /// SIP2 login user (CN).
    #[arg(long)]
    pub user: String,
    /// SIP2 login password (CO).
    #[arg(long)]
    pub password: String,
    /// Location code (CP on login, AP on checkin).
    #[arg(long)]
    pub location: Option<String>,
    /// Character set of the SIP2 account: utf-8, gb18030, cp850, latin-1, ascii.
    #[arg(long, default_value = "utf-8")]
    pub charset: String,
    /// Institution id (AO).
    #[arg(long, default_value = "")]
    pub institution: String,
    /// Terminal password (AC).
    #[arg(long)]
    pub terminal_password: Option<String>,
    /// Terminator to send: cr or crlf.
    #[arg(long, default_value = "cr")]
    pub terminator: String,
    /// Send no sequence numbers and checksums (error detection off on the ILS account).
    #[arg(long)]
    pub no_checksum: bool,
    /// Seconds to wait for an answer before the ACS status is known.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Args)]
pub struct Sip2Args {
    #[command(flatten)]
    pub conn: IlsArgs,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show patron names, addresses and e-mail unmasked.
    #[arg(long, global = true)]
    pub reveal: bool,
    #[command(subcommand)]
    pub action: Sip2Action,
}

#[derive(Subcommand)]
pub enum Sip2Action {
    /// Log in and show the ACS status (99/98).
    Status,
    /// Patron information (63/64).
    Patron {
        id: String,
        #[arg(long)]
        pin: Option<String>,
    },
    /// Check items out to a patron (11/12).
    Checkout {
        patron: String,
        #[arg(required = true)]
        items: Vec<String>,
        #[arg(long)]
        pin: Option<String>,
        /// Replay an offline checkout: the original date (YYYYMMDDHHMMSS, UTC), sent with
        /// no block = Y.
        #[arg(long)]
        offline_date: Option<String>,
    },
    /// Check items in (09/10).
    Checkin {
        #[arg(required = true)]
        items: Vec<String>,
    },
    /// Renew a patron's items (29/30).
    Renew {
        patron: String,
        #[arg(required = true)]
        items: Vec<String>,
        #[arg(long)]
        pin: Option<String>,
    },
    /// Item information (17/18).
    Item { item: String },
    /// End the patron's session (35/36).
    End {
        patron: String,
        #[arg(long)]
        pin: Option<String>,
    },
    /// Benchmark: borrow these books end to end from a simulated RFID pad (BENCHMARKS.md).
    BenchCheckout {
        patron: String,
        #[arg(required = true)]
        items: Vec<String>,
        #[arg(long)]
        pin: Option<String>,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

pub(crate) fn settings(a: &IlsArgs) -> Result<Settings, CliError> {
    let charset: Charset = a.charset.parse().map_err(CliError::usage)?;
    let terminator: Terminator = a.terminator.parse().map_err(CliError::usage)?;
    if !(a.timeout > 0.0 && a.timeout < 3600.0) {
        return Err(CliError::usage(
            "--timeout must be between 0 and 3600 seconds",
        ));
    }
    Ok(Settings {
        charset,
        terminator,
        error_detection: !a.no_checksum,
        institution_id: a.institution.clone(),
        location: a.location.clone(),
        login_user: a.user.clone(),
        login_password: a.password.clone(),
        terminal_password: a.terminal_password.clone(),
        timeout_ms: (a.timeout * 1000.0) as u64,
        ..Settings::default()
    })
}

pub(crate) fn sip_error(ils: &str, e: kiosk_sip2::Error) -> CliError {
    let kind = e.kind();
    let msg = format!("sip2 {ils}: {e} ({kind})");
    if kind == ErrorKind::Config {
        CliError::usage(msg)
    } else {
        CliError::failed(msg)
    }
}

fn circulation_status(code: &str) -> &'static str {
    match code {
        "01" => "other",
        "02" => "on order",
        "03" => "available",
        "04" => "charged",
        "05" => "charged, no recall before earliest date",
        "06" => "in process",
        "07" => "recalled",
        "08" => "waiting on hold shelf",
        "09" => "waiting to be reshelved",
        "10" => "in transit",
        "11" => "claimed returned",
        "12" => "lost",
        "13" => "missing",
        _ => "unknown",
    }
}

#[derive(Serialize)]
struct Screen {
    text: String,
    message_id: Option<String>,
}

fn screens(s: &Settings, texts: &[String]) -> Vec<Screen> {
    texts
        .iter()
        .map(|t| Screen {
            text: t.clone(),
            message_id: s.translate(t).map(str::to_string),
        })
        .collect()
}

fn screen_text(screens: &[Screen]) -> String {
    screens
        .iter()
        .map(|s| match &s.message_id {
            Some(id) => format!("{} [{id}]", s.text),
            None => s.text.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Serialize)]
struct StatusOut {
    online: bool,
    checkin_ok: bool,
    checkout_ok: bool,
    renewal_ok: bool,
    offline_ok: bool,
    library_name: Option<String>,
    institution_id: Option<String>,
    terminal_location: Option<String>,
    protocol_version: String,
    date_time_sync: String,
    timeout_ms: u128,
    retries: u32,
    supported: Vec<&'static str>,
    screen: Vec<Screen>,
}

#[derive(Serialize)]
struct PatronOut {
    id: String,
    name: String,
    valid: bool,
    pin_valid: Option<bool>,
    status_flags: Vec<&'static str>,
    blocked: bool,
    holds: Option<u32>,
    overdue: Option<u32>,
    charged: Option<u32>,
    fines: Option<u32>,
    fee_amount: Option<String>,
    currency: Option<String>,
    charged_items: Vec<String>,
    email: Option<String>,
    screen: Vec<Screen>,
}

#[derive(Serialize)]
struct CircOut {
    item: String,
    ok: bool,
    title: Option<String>,
    due: Option<String>,
    renewal: bool,
    screen: Vec<Screen>,
}

#[derive(Serialize)]
struct CheckinOut {
    item: String,
    ok: bool,
    title: Option<String>,
    alert: bool,
    sort_bin: Option<String>,
    hold_patron: Option<String>,
    screen: Vec<Screen>,
}

#[derive(Serialize)]
struct ItemOut {
    item: String,
    title: Option<String>,
    circulation_status: String,
    circulation: &'static str,
    due: Option<String>,
    hold_queue_length: Option<String>,
    media_type: Option<String>,
    location: Option<String>,
    screen: Vec<Screen>,
}

#[derive(Serialize)]
struct EndOut {
    patron: String,
    ended: bool,
    screen: Vec<Screen>,
}

/// Fails with one line when any item was refused.
fn refusals<'a>(
    what: &str,
    results: impl Iterator<Item = (&'a str, bool, &'a [Screen])>,
) -> Result<(), CliError> {
    let mut total = 0;
    let mut refused = Vec::new();
    for (item, ok, screen) in results {
        total += 1;
        if !ok {
            refused.push(format!("{item}: {}", screen_text(screen)));
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(CliError::failed(format!(
        "{what} refused by the ILS for {} of {total} items: {}",
        refused.len(),
        refused.join(" | ")
    )))
}

pub fn run(a: Sip2Args) -> Result<(), CliError> {
    let s = settings(&a.conn)?;
    let ils = a.conn.ils.clone();
    if let Sip2Action::BenchCheckout {
        patron,
        items,
        pin,
        runs,
    } = &a.action
    {
        return super::sip2_bench::run(&s, &ils, patron, pin.as_deref(), items, *runs, a.json);
    }
    let err = |e| sip_error(&ils, e);
    let mut c = Client::connect(TcpConnector::new(&a.conn.ils), s.clone()).map_err(err)?;
    match a.action {
        Sip2Action::Status => {
            let r = c.status().map_err(err)?;
            let out = StatusOut {
                online: flag(&r.online_status),
                checkin_ok: flag(&r.checkin_ok),
                checkout_ok: flag(&r.checkout_ok),
                renewal_ok: flag(&r.acs_renewal_policy),
                offline_ok: flag(&r.offline_ok),
                library_name: r.library_name.clone(),
                institution_id: r.institution_id.clone(),
                terminal_location: r.terminal_location.clone(),
                protocol_version: r.protocol_version.clone(),
                date_time_sync: r.date_time_sync.clone(),
                timeout_ms: c.session().timeout().as_millis(),
                retries: c.session().retries(),
                supported: supported_messages(r.supported_messages.as_deref().unwrap_or("")),
                screen: screens(&s, &r.screen_message),
            };
            emit(a.json, &out, || {
                format!(
                    "ILS {}: {} (online {}, checkout {}, checkin {}, renew {}, offline {})\n\
                     protocol {}, clock {}, timeout {} ms, {} retries\nsupported: {}\n",
                    ils,
                    out.library_name.as_deref().unwrap_or("(no name)"),
                    out.online,
                    out.checkout_ok,
                    out.checkin_ok,
                    out.renewal_ok,
                    out.offline_ok,
                    out.protocol_version,
                    out.date_time_sync,
                    out.timeout_ms,
                    out.retries,
                    out.supported.join(" ")
                )
            })?;
            if !out.online {
                return Err(CliError::failed(format!(
                    "sip2 {ils}: the ILS reports itself offline; check the ILS"
                )));
            }
        }
        Sip2Action::Patron { id, pin } => {
            let r = c
                .patron_information(&id, pin.as_deref(), Some(2))
                .map_err(err)?;
            let status = PatronStatus::parse(&r.patron_status);
            let out = PatronOut {
                id: id.clone(),
                name: mask_name(r.personal_name.as_deref().unwrap_or(""), a.reveal),
                valid: r.valid_patron.as_deref().is_some_and(flag),
                pin_valid: pin
                    .as_ref()
                    .map(|_| r.valid_patron_password.as_deref().is_some_and(flag)),
                status_flags: status.set(),
                blocked: s.blocks_checkout(&status),
                holds: count(&r.hold_items_count),
                overdue: count(&r.overdue_items_count),
                charged: count(&r.charged_items_count),
                fines: count(&r.fine_items_count),
                fee_amount: r.fee_amount.clone(),
                currency: r.currency_type.clone(),
                charged_items: r.charged_items.clone(),
                email: r.email_address.as_deref().map(|e| mask_name(e, a.reveal)),
                screen: screens(&s, &r.screen_message),
            };
            emit(a.json, &out, || {
                format!(
                    "patron {}: {} valid {}{} blocked {}\nflags: {}\ncharged {:?} holds {:?} \
                     overdue {:?} fee {} {}\nitems: {}\n{}",
                    out.id,
                    out.name,
                    out.valid,
                    out.pin_valid
                        .map(|p| format!(" pin {p}"))
                        .unwrap_or_default(),
                    out.blocked,
                    if out.status_flags.is_empty() {
                        "none".to_string()
                    } else {
                        out.status_flags.join(", ")
                    },
                    out.charged,
                    out.holds,
                    out.overdue,
                    out.fee_amount.as_deref().unwrap_or("-"),
                    out.currency.as_deref().unwrap_or(""),
                    out.charged_items.join(" "),
                    if out.screen.is_empty() {
                        String::new()
                    } else {
                        format!("screen: {}\n", screen_text(&out.screen))
                    }
                )
            })?;
            if !out.valid {
                return Err(CliError::failed(format!(
                    "sip2 {ils}: patron {id} is not valid at the ILS; check the card number"
                )));
            }
        }
        Sip2Action::Checkout {
            patron,
            items,
            pin,
            offline_date,
        } => {
            let transaction_date = match offline_date.as_deref() {
                None => None,
                Some(d) => Some(Timestamp::parse(d).ok_or_else(|| {
                    CliError::usage(format!(
                        "--offline-date {d:?} is not YYYYMMDDHHMMSS or YYYY-MM-DD"
                    ))
                })?),
            };
            let options = CircOptions {
                pin,
                no_block: transaction_date.is_some(),
                transaction_date,
                ..CircOptions::default()
            };
            let mut out = Vec::new();
            for item in &items {
                let r = c.checkout(&patron, item, &options).map_err(err)?;
                out.push(CircOut {
                    item: item.clone(),
                    ok: flag(&r.ok),
                    title: r.title_identifier.clone(),
                    due: r.due_date.clone(),
                    renewal: flag(&r.renewal_ok),
                    screen: screens(&s, &r.screen_message),
                });
            }
            print_circ(a.json, &out)?;
            refusals(
                "checkout",
                out.iter()
                    .map(|o| (o.item.as_str(), o.ok, o.screen.as_slice())),
            )?;
        }
        Sip2Action::Renew { patron, items, pin } => {
            let options = CircOptions {
                pin,
                ..CircOptions::default()
            };
            let mut out = Vec::new();
            for item in &items {
                let r = c.renew(&patron, item, &options).map_err(err)?;
                out.push(CircOut {
                    item: item.clone(),
                    ok: flag(&r.ok),
                    title: r.title_identifier.clone(),
                    due: r.due_date.clone(),
                    renewal: flag(&r.renewal_ok),
                    screen: screens(&s, &r.screen_message),
                });
            }
            print_circ(a.json, &out)?;
            refusals(
                "renewal",
                out.iter()
                    .map(|o| (o.item.as_str(), o.ok, o.screen.as_slice())),
            )?;
        }
        Sip2Action::Checkin { items } => {
            let mut out = Vec::new();
            for item in &items {
                let r = c.checkin(item, false, None).map_err(err)?;
                out.push(CheckinOut {
                    item: item.clone(),
                    ok: flag(&r.ok),
                    title: r.title_identifier.clone(),
                    alert: flag(&r.alert),
                    sort_bin: r.sort_bin.clone(),
                    hold_patron: r.patron_identifier.clone(),
                    screen: screens(&s, &r.screen_message),
                });
            }
            emit(a.json, &out, || {
                out.iter()
                    .map(|o| {
                        format!(
                            "{}  {}  {}{}  {}\n",
                            o.item,
                            if o.ok { "ok" } else { "REFUSED" },
                            o.title.as_deref().unwrap_or(""),
                            if o.alert { "  ALERT" } else { "" },
                            screen_text(&o.screen)
                        )
                    })
                    .collect()
            })?;
            refusals(
                "checkin",
                out.iter()
                    .map(|o| (o.item.as_str(), o.ok, o.screen.as_slice())),
            )?;
        }
        Sip2Action::Item { item } => {
            let r = c.item_information(&item).map_err(err)?;
            let out = ItemOut {
                item: item.clone(),
                title: r.title_identifier.clone(),
                circulation: circulation_status(&r.circulation_status),
                circulation_status: r.circulation_status.clone(),
                due: r.due_date.clone(),
                hold_queue_length: r.hold_queue_length.clone(),
                media_type: r.media_type.clone(),
                location: r.permanent_location.clone(),
                screen: screens(&s, &r.screen_message),
            };
            emit(a.json, &out, || {
                format!(
                    "item {}: {}\nstatus {} ({}), due {}, holds {}, location {}\n",
                    out.item,
                    out.title.as_deref().unwrap_or("(no title)"),
                    out.circulation_status,
                    out.circulation,
                    out.due.as_deref().unwrap_or("-"),
                    out.hold_queue_length.as_deref().unwrap_or("-"),
                    out.location.as_deref().unwrap_or("-"),
                )
            })?;
        }
        Sip2Action::End { patron, pin } => {
            let r = c.end_session(&patron, pin.as_deref()).map_err(err)?;
            let out = EndOut {
                patron: patron.clone(),
                ended: flag(&r.end_session),
                screen: screens(&s, &r.screen_message),
            };
            emit(a.json, &out, || {
                format!("session of {} ended: {}\n", out.patron, out.ended)
            })?;
            if !out.ended {
                return Err(CliError::failed(format!(
                    "sip2 {ils}: the ILS did not end the session of {patron}: {}",
                    screen_text(&out.screen)
                )));
            }
        }
        // Handled before connecting (it opens its own session).
        Sip2Action::BenchCheckout { .. } => {}
    }
    c.close();
    Ok(())
}

fn print_circ(json: bool, out: &[CircOut]) -> Result<(), CliError> {
    emit(json, &out, || {
        out.iter()
            .map(|o| {
                format!(
                    "{}  {}  {}  {}  {}\n",
                    o.item,
                    if o.ok { "ok" } else { "REFUSED" },
                    o.title.as_deref().unwrap_or(""),
                    o.due
                        .as_deref()
                        .map(|d| format!("due {d}"))
                        .unwrap_or_default(),
                    screen_text(&o.screen)
                )
            })
            .collect()
    })
}

/// `kioskctl sip2-serve`: the built-in demo SIP2 server (kiosk_sip2::DemoServer) for
/// technicians and demos. Login: the catalogue's `login` (built-in: kiosk / secret, location
/// LOBBY-1, institution CN-TEST).
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT (port 0: any free port, printed on the first line).
    #[arg(long, default_value = "127.0.0.1:6001")]
    pub listen: String,
    /// Catalogue in the fixtures/sip2/library.json format; the built-in demo one by default.
    #[arg(long)]
    pub library: Option<std::path::PathBuf>,
    /// Character set the server speaks: utf-8, gb18030, cp850, latin-1, ascii.
    #[arg(long, default_value = "utf-8")]
    pub charset: String,
}

pub fn serve(a: ServeArgs) -> Result<(), CliError> {
    use kiosk_sip2::{Codec, DemoLibrary, DemoServer};
    let addr: std::net::SocketAddr = a
        .listen
        .parse()
        .map_err(|e| CliError::usage(format!("--listen {}: {e} (use HOST:PORT)", a.listen)))?;
    let charset: Charset = a.charset.parse().map_err(CliError::usage)?;
    let library = match &a.library {
        Some(path) => DemoLibrary::load(path).map_err(CliError::usage)?,
        None => DemoLibrary::builtin(),
    };
    let login = library.login.clone();
    let (patrons, items) = (library.patrons.len(), library.items.len());
    let server = DemoServer::start_with(addr, library, Codec::new(charset, Terminator::Cr))
        .map_err(|e| CliError::failed(format!("cannot listen on {addr}: {e}")))?;
    println!("LISTENING {}", server.addr());
    println!(
        "demo SIP2 server: {patrons} patrons, {items} items, login {} / {}{}, {charset}; Ctrl-C stops it",
        login.user,
        login.password,
        login
            .location
            .map(|l| format!(", location {l}"))
            .unwrap_or_default()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
