//! The library system and the RFID pad, on a worker thread of their own: the borrow screens
//! never wait for a SIP2 round trip or a tag write on the UI thread (ARCHITECTURE "The
//! session"). The UI sends [`Job`]s; the worker answers with [`Done`]s on a channel the UI
//! drains from its timer ([`LibraryWorker::try_done`]).
//!
//! The worker connects to the SIP2 server when it first needs it and again after a failed
//! connect; while the library system cannot be reached, the flows get `IlsOutcome::Offline`
//! and the profile's offline policy decides (records go to the signed queue when one is open).

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use kiosk_devices::RfidReader;
use kiosk_devices::supervisor::Supervised;
use kiosk_flows::account::{Account, RenewAll};
use kiosk_flows::run::{
    Library, OfflineStore, Patron, Peers, QueueOffline, SignInError, Sip2Library,
};
use kiosk_flows::signin::PatronLookup;
use kiosk_flows::{BorrowFlow, Checkin, IlsOutcome, Loan, OfflineKind, OfflineLedger, ReturnFlow};
use kiosk_sip2::{Client, Settings, TcpConnector};

/// Where the library system is and how to talk to it.
#[derive(Clone)]
pub struct Sip2Config {
    /// `HOST:PORT`.
    pub addr: String,
    pub settings: Settings,
}

/// Work for the worker.
pub enum Job {
    /// SIP2 63: is this a patron, with this PIN?
    SignIn(PatronLookup),
    /// One round of the borrow flow: inventory the pad, ask the library, secure the tags.
    Borrow { flow: BorrowFlow, patron: Patron },
    /// One round of the return flow (no patron): check in, secure the tags again.
    Return { flow: ReturnFlow },
    /// The patron's loans, holds and fines.
    Account { patron: Patron },
    /// Renew one loan.
    Renew { patron: Patron, item: String },
    /// Renew every loan.
    RenewAll { patron: Patron },
}

/// What the worker finished.
pub enum Done {
    SignedIn(Result<Patron, SignInError>),
    /// The flow after the round; `error` says why the round stopped early (the pad is gone).
    Borrow {
        flow: BorrowFlow,
        error: Option<String>,
    },
    /// Like `Borrow`, for a return.
    Return {
        flow: ReturnFlow,
        error: Option<String>,
    },
    Account(IlsOutcome<Account>),
    Renewed {
        item: String,
        outcome: IlsOutcome<Loan>,
    },
    RenewedAll(IlsOutcome<RenewAll>),
}

/// The handle a UI keeps. Each handle gets the answers to its own jobs only: a second screen
/// takes its own handle with [`LibraryWorker::client`], so two screens polling one worker
/// never take each other's answers.
pub struct LibraryWorker {
    jobs: Sender<(Job, Sender<Done>)>,
    reply: Sender<Done>,
    done: Receiver<Done>,
}

/// Wait this long after a failed connect before trying again.
const RECONNECT_AFTER: Duration = Duration::from_secs(5);

struct Worker {
    sip2: Option<Sip2Config>,
    library: Option<Sip2Library<TcpConnector>>,
    last_failed_connect: Option<Instant>,
    pad: Option<Supervised<dyn RfidReader>>,
    queue: Option<Arc<kiosk_queue::Queue>>,
    ledger: OfflineLedger,
    /// Where the replay of offline transactions keeps its progress (beside the queue).
    replay_store: Option<std::path::PathBuf>,
    replay: Arc<std::sync::Mutex<ReplayReport>>,
    last_replay: Option<Instant>,
}

/// What the last replay of offline transactions did, for the maintenance menu.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Offline transactions the library system accepted since the app started.
    pub replayed: u64,
    /// Transactions it refused, kept for staff (`kioskctl library failures`).
    pub failed_for_staff: u64,
    /// Why the last round stopped early, or could not run.
    pub last_problem: Option<String>,
}

/// A connected worker replays pending offline transactions at most this often.
const REPLAY_EVERY: Duration = Duration::from_secs(30);

/// The library system as the flows see it: the SIP2 client when connected, "offline"
/// otherwise.
struct Connected<'a>(Option<&'a mut Sip2Library<TcpConnector>>);

impl Library for Connected<'_> {
    fn check_out(&mut self, patron: &Patron, item: &str) -> IlsOutcome<Loan> {
        match self.0.as_mut() {
            Some(lib) => lib.check_out(patron, item),
            None => IlsOutcome::Offline,
        }
    }
    fn check_in(&mut self, item: &str) -> IlsOutcome<Checkin> {
        match self.0.as_mut() {
            Some(lib) => lib.check_in(item),
            None => IlsOutcome::Offline,
        }
    }
}

/// No offline queue on this terminal: nothing can be recorded.
struct NoQueue;

impl OfflineStore for NoQueue {
    fn record(
        &mut self,
        _: OfflineKind,
        _: Option<&Patron>,
        _: &str,
        _: Option<&str>,
    ) -> Result<(), String> {
        Err("this terminal has no offline queue".into())
    }
}

impl Worker {
    fn library(&mut self) -> Option<&mut Sip2Library<TcpConnector>> {
        if self.library.is_none() {
            let config = self.sip2.as_ref()?;
            if self
                .last_failed_connect
                .is_some_and(|at| at.elapsed() < RECONNECT_AFTER)
            {
                return None;
            }
            match Client::connect(
                TcpConnector::new(config.addr.clone()),
                config.settings.clone(),
            ) {
                Ok(client) => {
                    tracing::info!(target: "kiosk::library", addr = %config.addr, "library system connected");
                    self.library = Some(Sip2Library::new(client));
                    self.last_failed_connect = None;
                }
                Err(e) => {
                    tracing::warn!(target: "kiosk::library", addr = %config.addr, "library system not reached: {e}");
                    self.last_failed_connect = Some(Instant::now());
                }
            }
        }
        self.replay_pending();
        self.library.as_mut()
    }

    /// Sends the queue's offline transactions to the library system with their original
    /// dates (kiosk_flows::replay), once connected; when every pending one was sent, the
    /// offline loan counts start again from zero.
    fn replay_pending(&mut self) {
        let (Some(queue), Some(path), Some(lib)) = (
            self.queue.as_ref(),
            self.replay_store.as_ref(),
            self.library.as_mut(),
        ) else {
            return;
        };
        if self
            .last_replay
            .is_some_and(|at| at.elapsed() < REPLAY_EVERY)
        {
            return;
        }
        self.last_replay = Some(Instant::now());
        let result = kiosk_flows::replay::ReplayStore::open(path).and_then(|store| {
            kiosk_flows::replay::Replayer::new(queue, store).round(&mut lib.client)
        });
        let mut report = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(round) => {
                report.replayed += round.done.len() as u64;
                report.failed_for_staff += round.failed.len() as u64;
                if round.sent() > 0 {
                    tracing::info!(target: "kiosk::library", replayed = round.done.len(), kept_for_staff = round.failed.len(), "offline transactions replayed");
                }
                match round.stopped {
                    None => {
                        report.last_problem = None;
                        self.ledger.clear();
                    }
                    Some(stop) => report.last_problem = Some(format!("{stop:?}")),
                }
            }
            Err(e) => {
                tracing::warn!(target: "kiosk::library", "replay: {e}");
                report.last_problem = Some(e.to_string());
            }
        }
    }

    fn run(&mut self, job: Job) -> Done {
        match job {
            Job::SignIn(lookup) => {
                let result = match self.library() {
                    Some(lib) => lib.sign_in(&lookup.patron_id, lookup.pin.as_deref()),
                    None => Err(SignInError::Offline),
                };
                if matches!(result, Err(SignInError::Offline)) {
                    // Connect afresh next time.
                    self.library = None;
                }
                Done::SignedIn(result)
            }
            Job::Borrow { mut flow, patron } => {
                let error = self.round(&mut flow, Some(&patron));
                Done::Borrow { flow, error }
            }
            Job::Return { mut flow } => {
                let error = self.round(&mut flow, None);
                Done::Return { flow, error }
            }
            Job::Account { patron } => Done::Account(self.ask(|lib| lib.account(&patron))),
            Job::Renew { patron, item } => {
                let outcome = self.ask(|lib| lib.renew(&patron, &item));
                Done::Renewed { item, outcome }
            }
            Job::RenewAll { patron } => Done::RenewedAll(self.ask(|lib| lib.renew_all(&patron))),
        }
    }

    /// Asks the library system, or says it is offline (and connects afresh next time).
    fn ask<T>(
        &mut self,
        f: impl FnOnce(&mut Sip2Library<TcpConnector>) -> IlsOutcome<T>,
    ) -> IlsOutcome<T> {
        let outcome = match self.library() {
            Some(lib) => f(lib),
            None => IlsOutcome::Offline,
        };
        if matches!(outcome, IlsOutcome::Offline) {
            self.library = None;
        }
        outcome
    }

    /// One pad round of a stack flow; the error says why it stopped early.
    fn round<T: kiosk_flows::run::Ask>(
        &mut self,
        flow: &mut kiosk_flows::StackFlow<T>,
        patron: Option<&Patron>,
    ) -> Option<String> {
        let Some(pad) = self.pad.clone() else {
            return Some("this terminal has no RFID pad".into());
        };
        let _ = self.library();
        let Worker {
            library,
            queue,
            ledger,
            ..
        } = self;
        let mut lib = Connected(library.as_mut());
        let mut queued;
        let mut none = NoQueue;
        let offline: &mut dyn OfflineStore = match queue.as_deref() {
            Some(queue) => {
                queued = QueueOffline { queue };
                &mut queued
            }
            None => &mut none,
        };
        let result = pad.with(|reader| {
            let mut peers = Peers {
                pad: reader,
                library: &mut lib,
                offline,
                ledger,
            };
            kiosk_flows::run::round(flow, patron, &mut peers)
        });
        result.err().map(|fault| fault.to_string())
    }
}

impl LibraryWorker {
    /// Starts the worker thread. Without `sip2` every sign-in says the library system cannot
    /// be reached.
    pub fn start(
        sip2: Option<Sip2Config>,
        pad: Option<Supervised<dyn RfidReader>>,
        queue: Option<Arc<kiosk_queue::Queue>>,
    ) -> std::io::Result<LibraryWorker> {
        let worker = Worker {
            sip2,
            library: None,
            last_failed_connect: None,
            pad,
            queue,
            ledger: OfflineLedger::default(),
            replay_store: None,
            replay: Default::default(),
            last_replay: None,
        };
        Self::spawn(worker)
    }

    /// Like [`LibraryWorker::start`], and replays the queue's offline transactions to the
    /// library system whenever it is connected, keeping progress in `replay_store`
    /// (`ReplayStore::beside(queue.db)`); `report` says how it went.
    pub fn start_replaying(
        sip2: Option<Sip2Config>,
        pad: Option<Supervised<dyn RfidReader>>,
        queue: Arc<kiosk_queue::Queue>,
        replay_store: std::path::PathBuf,
        report: Arc<std::sync::Mutex<ReplayReport>>,
    ) -> std::io::Result<LibraryWorker> {
        let worker = Worker {
            sip2,
            library: None,
            last_failed_connect: None,
            pad,
            queue: Some(queue),
            ledger: OfflineLedger::default(),
            replay_store: Some(replay_store),
            replay: report,
            last_replay: None,
        };
        Self::spawn(worker)
    }

    fn spawn(mut worker: Worker) -> std::io::Result<LibraryWorker> {
        let (jobs, job_rx) = mpsc::channel::<(Job, Sender<Done>)>();
        let (reply, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("library".into())
            .spawn(move || {
                // Offline transactions left from before a restart go out first.
                if worker.replay_store.is_some() {
                    let _ = worker.library();
                }
                loop {
                    match job_rx.recv_timeout(REPLAY_EVERY) {
                        Ok((job, reply)) => {
                            // A client gone meanwhile does not stop the others.
                            let _ = reply.send(worker.run(job));
                        }
                        // Quiet: connect (if need be) so offline transactions replay even
                        // when nobody uses the terminal.
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if worker.replay_store.is_some() {
                                let _ = worker.library();
                            }
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            })?;
        Ok(LibraryWorker { jobs, reply, done })
    }

    /// Another handle on the same worker (one library connection, one pad) with a reply
    /// channel of its own: it gets the answers to its own jobs only.
    pub fn client(&self) -> LibraryWorker {
        let (reply, done) = mpsc::channel();
        LibraryWorker {
            jobs: self.jobs.clone(),
            reply,
            done,
        }
    }

    /// Queues `job`; false when the worker has stopped.
    pub fn send(&self, job: Job) -> bool {
        self.jobs.send((job, self.reply.clone())).is_ok()
    }

    /// The next finished job, if any (never waits).
    pub fn try_done(&self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    /// Waits up to `timeout` for the next finished job (tests).
    pub fn wait_done(&self, timeout: Duration) -> Option<Done> {
        self.done.recv_timeout(timeout).ok()
    }
}

/// The profile's library system (`[library] sip2 = "HOST:PORT"`), or in demo mode (or with
/// `sip2 = "embedded"`) the built-in demo SIP2 server started on a loopback port, returned so
/// the caller keeps it running. `None`: the profile names no library system.
pub fn library_config(
    profile: &kiosk_devices::Profile,
    demo: bool,
) -> Result<Option<(Sip2Config, Option<kiosk_sip2::server::DemoServer>)>, String> {
    let Some(lib) = &profile.library else {
        return Ok(None);
    };
    let charset = lib
        .charset
        .parse()
        .map_err(|e| format!("[library] charset {:?}: {e}", lib.charset))?;
    let mut settings = Settings {
        charset,
        institution_id: lib.institution.clone(),
        location: (!lib.location.is_empty()).then(|| lib.location.clone()),
        ..Settings::default()
    };
    let embedded = demo || lib.sip2.as_deref() == Some("embedded");
    if embedded {
        let server = kiosk_sip2::server::DemoServer::start(
            "127.0.0.1:0".parse().expect("a loopback address"),
            kiosk_sip2::demo::DemoLibrary::builtin(),
        )
        .map_err(|e| format!("the built-in demo SIP2 server did not start: {e}"))?;
        settings.institution_id = kiosk_sip2::demo::DEMO_INSTITUTION.into();
        settings.location = Some(kiosk_sip2::demo::DEMO_LOCATION.into());
        settings.login_user = kiosk_sip2::demo::DEMO_USER.into();
        settings.login_password = kiosk_sip2::demo::DEMO_PASSWORD.into();
        settings.charset = kiosk_sip2::Charset::Utf8;
        settings.timeout_ms = 3_000;
        tracing::info!(target: "kiosk::library", addr = %server.addr(), "built-in demo SIP2 server");
        let config = Sip2Config {
            addr: server.addr().to_string(),
            settings,
        };
        return Ok(Some((config, Some(server))));
    }
    match &lib.sip2 {
        Some(addr) => Ok(Some((
            Sip2Config {
                addr: addr.clone(),
                settings,
            },
            None,
        ))),
        None => Ok(None),
    }
}

/// The borrow and return settings of the profile's `[library]` section: AFI values and the
/// offline policy, with the fixed due date of an offline loan counted from today (China
/// Standard Time).
pub fn stack_settings(profile: &kiosk_devices::Profile) -> kiosk_flows::StackSettings {
    let mut settings = kiosk_flows::StackSettings::default();
    let Some(lib) = &profile.library else {
        return settings;
    };
    if let Ok(v) = u8::from_str_radix(lib.afi_in.trim(), 16) {
        settings.afi.in_stock = v;
    }
    if let Ok(v) = u8::from_str_radix(lib.afi_out.trim(), 16) {
        settings.afi.on_loan = v;
    }
    settings.offline = kiosk_flows::OfflinePolicy {
        mode: match lib.offline.as_str() {
            "none" => kiosk_flows::OfflineMode::None,
            "return-and-borrow" => kiosk_flows::OfflineMode::ReturnAndBorrow,
            _ => kiosk_flows::OfflineMode::ReturnOnly,
        },
        max_loans_per_patron: lib.offline_loans_per_patron,
        max_loans_per_terminal: lib.offline_loans_per_terminal,
        due_date: crate::receipts::china_time_in_days(i64::from(lib.offline_loan_days))[..10]
            .to_string(),
    };
    settings
}
