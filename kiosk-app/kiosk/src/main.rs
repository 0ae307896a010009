//! `kiosk --profile NAME|PATH [--demo] [--windowed]`: the fullscreen kiosk UI.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use kiosk::cli::{self, Args};
use kiosk::maintenance::{
    self, BackOfficeStatus, DeviceStatus, EXIT_LEAVE_KIOSK, EXIT_RESTART, Job, MaintenanceBackend,
    QueueStatus, RecentError, TestOutcome,
};
use kiosk::maintenance_ui::MaintenanceUi;
use kiosk::ui::App;
use kiosk::{Kiosk, Playlist};
use slint::ComponentHandle;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(line) => {
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}

/// The menu's backend in the binary: "restart" and "leave kiosk mode" quit the event loop with
/// their exit status (systemd restarts the first; the unit's RestartPreventExitStatus keeps the
/// second stopped).
struct Quitting {
    inner: Box<dyn MaintenanceBackend>,
    exit: Rc<Cell<u8>>,
}

impl MaintenanceBackend for Quitting {
    fn devices(&self) -> Vec<DeviceStatus> {
        self.inner.devices()
    }
    fn queue(&self) -> Option<QueueStatus> {
        self.inner.queue()
    }
    fn back_office(&self) -> BackOfficeStatus {
        self.inner.back_office()
    }
    fn recent_errors(&self) -> Vec<RecentError> {
        self.inner.recent_errors()
    }
    fn test(&self, device: &str) -> Option<Job<TestOutcome>> {
        self.inner.test(device)
    }
    fn retry_quarantined(&self) -> Job<Result<u64, String>> {
        self.inner.retry_quarantined()
    }
    fn has_replay(&self) -> bool {
        self.inner.has_replay()
    }
    fn replay_failures(&self) -> Result<Vec<maintenance::ReplayFailure>, String> {
        self.inner.replay_failures()
    }
    fn retry_replay(&self, seq: u64) -> Job<Result<(), String>> {
        self.inner.retry_replay(seq)
    }
    fn dismiss_replay(
        &self,
        seq: u64,
        reason: maintenance::DismissReason,
    ) -> Job<Result<(), String>> {
        self.inner.dismiss_replay(seq, reason)
    }
    fn restart(&self) {
        self.inner.restart();
        self.exit.set(EXIT_RESTART);
        let _ = slint::quit_event_loop();
    }
    fn leave_kiosk(&self) {
        self.inner.leave_kiosk();
        self.exit.set(EXIT_LEAVE_KIOSK);
        let _ = slint::quit_event_loop();
    }
}

/// Starts forwarding `queue` to the profile's records back office; in demo mode (or with
/// `records_url = "embedded"`) first starts the embedded receiver and points the profile at it,
/// so the maintenance menu probes it. Problems are logged: the queue keeps everything meanwhile.
fn forward_records(
    profile: &mut kiosk_devices::profile::Profile,
    queue: Option<&(std::sync::Arc<kiosk_queue::Queue>, std::path::PathBuf)>,
    demo: bool,
) -> (
    Option<kiosk::records::EmbeddedReceiver>,
    Option<kiosk::records::Forwarder>,
) {
    use kiosk::records::{EMBEDDED, EmbeddedReceiver, Forwarder};
    let Some((queue, path)) = queue else {
        return (None, None);
    };
    let url = profile.backoffice.records_url.clone();
    let receiver = if demo || url.as_deref() == Some(EMBEDDED) {
        let db = path.with_file_name("backoffice.db");
        match EmbeddedReceiver::start(&db, queue) {
            Ok(r) => {
                profile.backoffice.records_url = Some(r.records_url());
                Some(r)
            }
            Err(e) => {
                tracing::error!(target: "kiosk::records", "{e}");
                profile.backoffice.records_url = None;
                None
            }
        }
    } else {
        None
    };
    let forwarder = match profile.backoffice.records_url.as_deref() {
        Some(url) if url != EMBEDDED => Forwarder::start(queue.clone(), url)
            .map_err(|e| tracing::error!(target: "kiosk::records", "{e}"))
            .ok(),
        _ => {
            tracing::warn!(target: "kiosk::records", "no records back office: the queue only grows");
            None
        }
    };
    (receiver, forwarder)
}

/// The profile's offline queue, for the maintenance menu; `None` (logged) when it is not there.
/// Opens (with `create`, creates) the signed queue at `path`; `None` (logged) when it cannot.
fn open_queue_at(
    path: &std::path::Path,
    key: std::path::PathBuf,
    terminal: &str,
    create: bool,
) -> Option<std::sync::Arc<kiosk_queue::Queue>> {
    let mut cfg = kiosk_queue::QueueConfig::new(path);
    cfg.key_path = Some(key);
    cfg.terminal = Some(terminal.to_string());
    cfg.create = create;
    match kiosk_queue::Queue::open(cfg) {
        Ok(q) => Some(std::sync::Arc::new(q)),
        Err(e) => {
            tracing::warn!(target: "kiosk::maintenance", path = %path.display(), "offline queue not opened: {e}");
            None
        }
    }
}

/// The demo's offline queue: `$XDG_STATE_HOME/kiosk-demo/TERMINAL/queue.db` (or under
/// `~/.local/state`), created with owner-only permissions, so a demo never touches
/// `/var/lib/kiosk`.
fn demo_queue(
    profile: &kiosk_devices::profile::Profile,
) -> Option<(std::sync::Arc<kiosk_queue::Queue>, std::path::PathBuf)> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/state"))
        })?;
    let dir = base.join("kiosk-demo").join(&profile.terminal_id);
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
    {
        tracing::warn!(target: "kiosk::maintenance", dir = %dir.display(), "demo queue folder: {e}");
        return None;
    }
    let path = dir.join("queue.db");
    let queue = open_queue_at(&path, dir.join("terminal.key"), &profile.terminal_id, true)?;
    Some((queue, path))
}

fn run(args: &Args) -> Result<u8, String> {
    let mut profile = cli::load_profile(args).map_err(|e| format!("kiosk: {e}"))?;
    let now = Instant::now();
    let playlist = match &args.announcements {
        Some(path) => Playlist::load(path, now).map_err(|e| format!("kiosk: {e}"))?,
        None if args.demo => Playlist::demo(now),
        None => Playlist::new(Vec::new(), now),
    };
    if let Some(reason) = cli::missing_display(|k| std::env::var(k).ok()) {
        // Built with the `linuxkms` feature, a kiosk without a display server draws on DRM/KMS.
        if !cfg!(feature = "linuxkms") {
            return Err(cli::no_display_message(&reason));
        }
        slint::BackendSelector::new()
            .backend_name("linuxkms".into())
            .select()
            .map_err(|e| format!("kiosk: no display server ({reason}) and DRM/KMS failed: {e}"))?;
    }

    let app = App::new().map_err(|e| cli::no_display_message(&e.to_string()))?;
    let kiosk = Kiosk::attach(&app, &profile, playlist, Rc::new(Instant::now))
        .map_err(|e| format!("kiosk: {e}"))?;
    let _tick = kiosk.start_timer();

    // The profile's devices through the supervisor; `sim:` devices (all of them in demo
    // mode) run their simulators in this process on pseudo-terminals.
    let (mut devices, problems) =
        kiosk::devices::Devices::open(&profile, kiosk::devices::demo_stack());
    for p in &problems {
        tracing::warn!(target: "kiosk::devices", "{p}");
    }
    kiosk::narrator::attach_speaker(&kiosk, devices.speaker.clone(), profile.voice);
    // Demo mode keeps its offline queue in a private folder of the user's state directory.
    let queue = if args.demo {
        demo_queue(&profile)
    } else {
        open_queue_at(
            &profile.queue.path,
            profile.queue.key.clone(),
            &profile.terminal_id,
            false,
        )
        .map(|q| (q, profile.queue.path.clone()))
    };
    let replay = std::sync::Arc::new(std::sync::Mutex::new(
        kiosk::library::ReplayReport::default(),
    ));

    // The queue forwards to the records back office: the profile's, or in demo mode the
    // reference receiver embedded on a loopback port (its store beside the demo queue).
    let (_receiver, _forwarder) = forward_records(&mut profile, queue.as_ref(), args.demo);

    // The library system: the profile's SIP2 server, or in demo mode the built-in demo server
    // on a loopback port (kept running while the app runs).
    let library = kiosk::library::library_config(&profile, args.demo)
        .map_err(|e| format!("kiosk: library system: {e}"))?;
    let (sip2, _demo_ils) = match library {
        Some((config, server)) => (Some(config), server),
        None => (None, None),
    };
    let borrow = {
        let verifier: kiosk::borrow_ui::Verifier =
            Box::new(|_| Err(kiosk_flows::run::SignInError::Offline));
        kiosk::borrow_ui::BorrowUi::attach(&app, &kiosk, verifier)
    };
    // Returning and the account page; each screen gets its own handle on the one worker.
    let giveback = kiosk::giveback_ui::ReturnUi::attach(&app, &kiosk);
    giveback.set_stack_settings(kiosk::library::stack_settings(&profile));
    let account = kiosk::account_ui::AccountUi::attach(&app, &kiosk, &borrow);
    if profile.kind == kiosk_devices::TerminalKind::LibrarySelfcheck {
        let worker = match &queue {
            Some((q, path)) => kiosk::library::LibraryWorker::start_replaying(
                sip2,
                devices.rfid.clone(),
                q.clone(),
                kiosk_flows::replay::ReplayStore::beside(path),
                replay.clone(),
            ),
            None => kiosk::library::LibraryWorker::start(sip2, devices.rfid.clone(), None),
        }
        .map_err(|e| format!("kiosk: cannot start the library worker: {e}"))?;
        giveback.use_worker(Rc::new(worker.client()));
        account.use_worker(Rc::new(worker.client()));
        borrow.use_worker(Rc::new(worker));
    }
    // Receipts as the library setting says: paper while the printer can print, else (and on
    // the patron's choice) the QR code on screen.
    let _paper_watch = devices.printer.clone().and_then(|printer| {
        kiosk::receipts::PaperWatch::start(printer)
            .map_err(|e| tracing::error!(target: "kiosk::receipt", "cannot watch the printer: {e}"))
            .ok()
    });
    borrow.set_receipts(
        kiosk::receipts::ReceiptOptions::for_terminal(
            &profile,
            devices.printer.clone(),
            _paper_watch.as_ref(),
        )
        .map_err(|e| format!("kiosk: {e}"))?,
    );
    let _borrow_poll = {
        let timer = slint::Timer::default();
        let borrow = borrow.clone();
        timer.start(
            slint::TimerMode::Repeated,
            Duration::from_millis(250),
            move || {
                borrow.poll();
                giveback.poll();
                account.poll();
            },
        );
        timer
    };
    if args.demo {
        borrow.set_sign_in(kiosk::devices::demo_sign_in());
    }
    kiosk.on_session_end(devices.reset_after_session());
    borrow.set_stack_settings(kiosk::library::stack_settings(&profile));
    let _codes = devices
        .scanner
        .clone()
        .map(|scanner| kiosk::devices::watch_codes(scanner, &kiosk, &borrow));
    // A card on the ID-card reader starts a session, and on the sign-in page signs in.
    let _cards = devices
        .idcard
        .clone()
        .map(|reader| kiosk::devices::watch_cards(reader, &kiosk, &borrow));

    // Demo mode: the documented demo PIN unless the profile sets one.
    let settings = match (&profile.maintenance, args.demo) {
        (Some(s), _) => Some(s.clone()),
        (None, true) => Some(maintenance::demo_settings()),
        (None, false) => None,
    };
    let inner: Box<dyn MaintenanceBackend> = {
        let mut backend = maintenance::SupervisorBackend::new(devices.supervisor.clone(), &profile)
            .probing_back_office(Duration::from_secs(30));
        for (name, test) in devices.tests() {
            backend = backend.with_test(name, test);
        }
        if let Some(demo) = devices.demo.take() {
            let actions = demo.actions().iter().map(|a| a.id).collect();
            let demo = std::sync::Arc::new(std::sync::Mutex::new(demo));
            backend = backend.with_simulators(
                actions,
                std::sync::Arc::new(move |id: &str| {
                    demo.lock().unwrap_or_else(|p| p.into_inner()).run(id)
                }),
            );
        }
        let mut backend = backend.with_replay_report(replay.clone());
        if let Some((_, path)) = &queue {
            backend = backend.with_replay_store(kiosk_flows::replay::ReplayStore::beside(path));
        }
        match queue {
            Some((queue, _)) => Box::new(backend.with_queue(queue)),
            None => Box::new(backend),
        }
    };
    let exit = Rc::new(Cell::new(0));
    let backend = Rc::new(Quitting {
        inner,
        exit: exit.clone(),
    });
    let menu = MaintenanceUi::attach(
        &app,
        &kiosk,
        &profile,
        settings.as_ref(),
        backend,
        Rc::new(Instant::now),
    )
    .map_err(|e| format!("kiosk: maintenance: {e}"))?;
    let _menu_tick = menu.start_timer();
    let _quit = args.quit_after.map(|secs| {
        let timer = slint::Timer::default();
        timer.start(
            slint::TimerMode::SingleShot,
            Duration::from_secs(secs),
            || {
                let _ = slint::quit_event_loop();
            },
        );
        timer
    });
    app.window().set_fullscreen(!args.windowed);
    tracing::info!(
        profile = profile.kind.as_str(),
        terminal = %profile.terminal_id,
        demo = args.demo,
        "kiosk started"
    );
    app.run()
        .map_err(|e| cli::no_display_message(&e.to_string()))?;
    Ok(exit.get())
}
