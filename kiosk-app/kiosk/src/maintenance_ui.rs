//! Connects the [`Maintenance`](crate::maintenance::Maintenance) state machine and a
//! [`MaintenanceBackend`] to the UI's exported `Maintenance` global, and the menu to the
//! customer session: opening the menu ends the session in progress (wiped) and holds the
//! session's idle clock until the menu closes.
//!
//! The PIN's PBKDF2 check, device tests, the quarantine retry and the staff actions on refused
//! offline transactions (retry, dismiss) run on worker threads (the pad shows "Checking the
//! PIN…" and ignores keys meanwhile); their results come back over a channel, and the worker
//! wakes the UI with `upgrade_in_event_loop` (the tick drains the channel too, which is what the
//! window-less tests rely on).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Instant;

use kiosk_devices::profile::{MaintenanceSettings, Profile};
use slint::{ComponentHandle, ModelRc, VecModel};

use crate::adapter::{Clock, Kiosk};
use crate::maintenance::{
    DismissReason, Event, Maintenance, MaintenanceBackend, PinMessage, ReplayFailure, Screen,
    TestOutcome, test_action,
};
use crate::session::Input;
use crate::ui::{
    App, MaintDevice, MaintError, MaintReplay, Maintenance as UiMaintenance, MaintenanceScreen,
};

/// Most recent errors shown in the menu.
const ERRORS_SHOWN: usize = 4;

enum Done {
    /// The answer of [`crate::maintenance::PinCheck`] number `.0`.
    Pin(u64, bool),
    Test(String, TestOutcome),
    Retry(Result<u64, String>),
    /// A staff action on a refused offline transaction finished.
    Replay(ReplayAction, Result<(), String>),
}

/// A staff action on a refused offline transaction: which row (as listed when it was taken).
#[derive(Clone)]
struct ReplayAction {
    dismiss: Option<DismissReason>,
    row: MaintReplay,
}

impl ReplayAction {
    fn name(&self) -> &'static str {
        if self.dismiss.is_some() {
            "dismiss"
        } else {
            "retry"
        }
    }
}

#[derive(Clone)]
enum TestState {
    Running,
    Finished(TestOutcome),
}

struct Controller {
    machine: Maintenance,
    backend: Rc<dyn MaintenanceBackend>,
    tests: BTreeMap<String, TestState>,
    retry: Option<Result<u64, String>>,
    retry_running: bool,
    confirm: String,
    devices: Rc<VecModel<MaintDevice>>,
    errors: Rc<VecModel<MaintError>>,
    replays: Rc<VecModel<MaintReplay>>,
    /// The running (`None`) or last finished staff action on a refused offline transaction.
    replay_action: Option<(ReplayAction, Option<Result<(), String>>)>,
    /// The seq whose dismissal asks for a reason.
    dismissing: Option<String>,
}

impl Controller {
    fn replay_running(&self) -> bool {
        matches!(self.replay_action, Some((_, None)))
    }

    /// The listed row of `seq`.
    fn replay_row(&self, seq: &str) -> Option<MaintReplay> {
        use slint::Model;
        self.replays.iter().find(|r| r.seq == seq)
    }
}

fn replay_row(f: ReplayFailure) -> MaintReplay {
    MaintReplay {
        seq: f.seq.to_string().into(),
        kind: f.kind.into(),
        item: f.item.into(),
        patron: f.patron.unwrap_or_default().into(),
        reason: f.reason.into(),
        at: f.at.into(),
        status: f.status.as_str().into(),
    }
}

/// Updates `model` row by row, so rows that did not change keep their elements.
fn update_rows<T: Clone + PartialEq + 'static>(model: &VecModel<T>, rows: Vec<T>) {
    use slint::Model;
    if model.row_count() != rows.len() {
        model.set_vec(rows);
        return;
    }
    for (i, row) in rows.into_iter().enumerate() {
        if model.row_data(i).as_ref() != Some(&row) {
            model.set_row_data(i, row);
        }
    }
}

/// The maintenance menu of a running kiosk. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MaintenanceUi {
    app: slint::Weak<App>,
    kiosk: Kiosk,
    inner: Rc<RefCell<Controller>>,
    clock: Clock,
    tx: Sender<Done>,
    rx: Rc<Receiver<Done>>,
}

impl MaintenanceUi {
    /// Wires the `Maintenance` global of `app`. `settings` is the profile's `[maintenance]`
    /// section (the demo's when none is configured in demo mode; `None` disables the menu).
    pub fn attach(
        app: &App,
        kiosk: &Kiosk,
        profile: &Profile,
        settings: Option<&MaintenanceSettings>,
        backend: Rc<dyn MaintenanceBackend>,
        clock: Clock,
    ) -> Result<MaintenanceUi, String> {
        if settings.is_none() {
            tracing::warn!(
                target: "kiosk::maintenance",
                "the profile has no [maintenance] section: the maintenance menu is disabled"
            );
        }
        let machine = Maintenance::new(settings, clock())?;
        let (tx, rx) = mpsc::channel();
        let ui = MaintenanceUi {
            app: app.as_weak(),
            kiosk: kiosk.clone(),
            inner: Rc::new(RefCell::new(Controller {
                machine,
                backend,
                tests: BTreeMap::new(),
                retry: None,
                retry_running: false,
                confirm: String::new(),
                devices: Rc::new(VecModel::default()),
                errors: Rc::new(VecModel::default()),
                replays: Rc::new(VecModel::default()),
                replay_action: None,
                dismissing: None,
            })),
            clock,
            tx,
            rx: Rc::new(rx),
        };

        let g = app.global::<UiMaintenance>();
        g.set_profile_kind(profile.kind.as_str().into());
        g.set_terminal_id(profile.terminal_id.as_str().into());
        g.set_version(env!("CARGO_PKG_VERSION").into());
        {
            let c = ui.inner.borrow();
            g.set_devices(ModelRc::from(c.devices.clone()));
            g.set_errors(ModelRc::from(c.errors.clone()));
            g.set_replays(ModelRc::from(c.replays.clone()));
        }

        let m = ui.clone();
        g.on_corner_tapped(move || m.step(|c, now| c.machine.corner_tap(now)));
        let m = ui.clone();
        g.on_key(move |digit| {
            let d = digit.chars().next().unwrap_or(' ');
            m.step(|c, now| c.machine.digit(d, now));
        });
        let m = ui.clone();
        g.on_backspace(move || m.step(|c, now| c.machine.backspace(now)));
        let m = ui.clone();
        g.on_submit(move || m.step(|c, now| c.machine.submit(now)));
        let m = ui.clone();
        g.on_close(move || {
            {
                let mut c = m.inner.borrow_mut();
                c.confirm.clear();
                c.dismissing = None;
            }
            m.step(|c, now| c.machine.close(now));
        });
        let m = ui.clone();
        g.on_activity(move || {
            m.step(|c, now| {
                c.machine.activity(now);
                Event::Unchanged
            })
        });
        let m = ui.clone();
        g.on_run_test(move |name| m.run_test(&name));
        let m = ui.clone();
        g.on_retry_quarantined(move || m.retry_quarantined());
        let m = ui.clone();
        g.on_ask_confirm(move |what| {
            m.inner.borrow_mut().confirm = what.to_string();
            m.step(|c, now| {
                c.machine.activity(now);
                Event::Unchanged
            });
        });
        let m = ui.clone();
        g.on_confirmed(move || m.confirmed());
        let m = ui.clone();
        g.on_retry_replay(move |seq| m.replay_action(&seq, None));
        let m = ui.clone();
        g.on_ask_dismiss(move |seq| {
            m.step(|c, now| {
                c.machine.activity(now);
                c.dismissing =
                    (!seq.is_empty() && c.replay_row(&seq).is_some()).then(|| seq.to_string());
                Event::Unchanged
            })
        });
        let m = ui.clone();
        g.on_dismiss_replay(move |seq, reason| match DismissReason::parse(&reason) {
            Some(reason) => m.replay_action(&seq, Some(reason)),
            None => {
                tracing::error!(target: "kiosk::maintenance", "unknown dismiss reason {reason:?}")
            }
        });
        let m = ui.clone();
        g.on_poll_results(move || m.tick());

        ui.sync();
        Ok(ui)
    }

    /// Which screen shows (tests).
    pub fn screen(&self) -> Screen {
        self.inner.borrow().machine.screen()
    }

    /// Whether a submitted PIN is still being checked (tests).
    pub fn checking_pin(&self) -> bool {
        self.inner.borrow().machine.checking()
    }

    /// Ticks until the submitted PIN's check answered, at most 10 s (tests; the app gets the
    /// answer through the event loop).
    pub fn wait_pin_check(&self) {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while self.checking_pin() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
            self.drain();
        }
    }

    /// Closes an abandoned pad or menu, collects finished tests, refreshes the menu's data.
    /// Call every [`crate::adapter::TICK`].
    pub fn tick(&self) {
        self.drain();
        self.step(|c, now| c.machine.tick(now));
    }

    /// Starts the repeating timer that calls [`MaintenanceUi::tick`]; keep it alive.
    pub fn start_timer(&self) -> slint::Timer {
        let timer = slint::Timer::default();
        let m = self.clone();
        timer.start(
            slint::TimerMode::Repeated,
            crate::adapter::TICK,
            move || m.tick(),
        );
        timer
    }

    /// Applies one state-machine input and follows up on what it did.
    fn step(&self, f: impl FnOnce(&mut Controller, Instant) -> Event) {
        let now = (self.clock)();
        let event = f(&mut self.inner.borrow_mut(), now);
        match event {
            Event::Checking => self.check_pin(),
            Event::MenuOpened => {
                // Whatever the customer was doing ends here, wiped, before any staff screen.
                self.kiosk.input(Input::MaintenanceOpened);
                self.kiosk.hold(true);
                let mut c = self.inner.borrow_mut();
                c.tests.clear();
                c.retry = None;
                c.replay_action = None;
                c.dismissing = None;
            }
            Event::Closed => {
                {
                    let mut c = self.inner.borrow_mut();
                    c.confirm.clear();
                    c.dismissing = None;
                }
                self.kiosk.hold(false);
                if self.kiosk.with_session(|s| !s.is_active()) {
                    self.kiosk.input(Input::MaintenanceClosed);
                }
            }
            _ => {}
        }
        self.sync();
    }

    /// Hashes the submitted PIN on a worker thread; the answer comes back through `drain`.
    fn check_pin(&self) {
        let Some(check) = self.inner.borrow_mut().machine.take_check() else {
            return;
        };
        let tx = self.tx.clone();
        let app = self.app.clone();
        let spawned = std::thread::Builder::new()
            .name("maintenance-pin".into())
            .spawn(move || {
                let matched = check.run();
                let _ = tx.send(Done::Pin(check.id, matched));
                let _ = app.upgrade_in_event_loop(|app| {
                    app.global::<UiMaintenance>().invoke_poll_results();
                });
            });
        if let Err(e) = spawned {
            // The check went with the closure: close the pad (the next try starts afresh).
            tracing::error!(target: "kiosk::maintenance", "cannot start the PIN check thread: {e}");
            self.step(|c, now| c.machine.close(now));
        }
    }

    fn run_test(&self, name: &str) {
        let job = {
            let mut c = self.inner.borrow_mut();
            if c.machine.screen() != Screen::Menu
                || matches!(c.tests.get(name), Some(TestState::Running))
            {
                return;
            }
            c.machine.activity((self.clock)());
            let Some(job) = c.backend.test(name) else {
                tracing::warn!(target: "kiosk::maintenance", device = name, "device has no test");
                return;
            };
            c.tests.insert(name.to_string(), TestState::Running);
            job
        };
        tracing::info!(target: "kiosk::maintenance", device = name, "device test started");
        let tx = self.tx.clone();
        let app = self.app.clone();
        let name = name.to_string();
        let spawned = std::thread::Builder::new()
            .name("maintenance-test".into())
            .spawn(move || {
                let outcome = job();
                let _ = tx.send(Done::Test(name, outcome));
                let _ = app.upgrade_in_event_loop(|app| {
                    app.global::<UiMaintenance>().invoke_poll_results();
                });
            });
        if let Err(e) = spawned {
            tracing::error!(target: "kiosk::maintenance", "cannot start a test thread: {e}");
        }
        self.sync();
    }

    fn retry_quarantined(&self) {
        let job = {
            let mut c = self.inner.borrow_mut();
            if c.machine.screen() != Screen::Menu || c.retry_running {
                return;
            }
            c.machine.activity((self.clock)());
            c.retry_running = true;
            c.retry = None;
            c.backend.retry_quarantined()
        };
        tracing::info!(target: "kiosk::maintenance", "retry of quarantined records started");
        let tx = self.tx.clone();
        let app = self.app.clone();
        let spawned = std::thread::Builder::new()
            .name("maintenance-retry".into())
            .spawn(move || {
                let _ = tx.send(Done::Retry(job()));
                let _ = app.upgrade_in_event_loop(|app| {
                    app.global::<UiMaintenance>().invoke_poll_results();
                });
            });
        if let Err(e) = spawned {
            tracing::error!(target: "kiosk::maintenance", "cannot start the retry thread: {e}");
            self.inner.borrow_mut().retry_running = false;
        }
        self.sync();
    }

    /// Retry (`dismiss` `None`) or dismiss the refused offline transaction `seq` on a worker
    /// thread: the backend's job takes the replayer's lock and writes the progress database.
    fn replay_action(&self, seq: &str, dismiss: Option<DismissReason>) {
        let (job, action) = {
            let mut c = self.inner.borrow_mut();
            if c.machine.screen() != Screen::Menu || c.replay_running() {
                return;
            }
            c.machine.activity((self.clock)());
            c.dismissing = None;
            let (Some(row), Ok(n)) = (c.replay_row(seq), seq.parse::<u64>()) else {
                tracing::warn!(target: "kiosk::maintenance", seq, "no such refused offline transaction");
                return;
            };
            let action = ReplayAction { dismiss, row };
            let job = match dismiss {
                Some(reason) => c.backend.dismiss_replay(n, reason),
                None => c.backend.retry_replay(n),
            };
            c.replay_action = Some((action.clone(), None));
            (job, action)
        };
        // The seq and the kind only: the row's item, patron and reason stay off the log.
        tracing::info!(
            target: "kiosk::maintenance",
            seq,
            kind = %action.row.kind,
            action = action.name(),
            reason = action.dismiss.map_or("", DismissReason::as_str),
            "staff action on a refused offline transaction"
        );
        let tx = self.tx.clone();
        let app = self.app.clone();
        let spawned = std::thread::Builder::new()
            .name("maintenance-replay".into())
            .spawn(move || {
                let _ = tx.send(Done::Replay(action, job()));
                let _ = app.upgrade_in_event_loop(|app| {
                    app.global::<UiMaintenance>().invoke_poll_results();
                });
            });
        if let Err(e) = spawned {
            tracing::error!(target: "kiosk::maintenance", "cannot start the replay action thread: {e}");
            if let Some((_, result)) = self.inner.borrow_mut().replay_action.as_mut() {
                *result = Some(Err("could not start".into()));
            }
        }
        self.sync();
    }

    fn confirmed(&self) {
        let (what, backend) = {
            let mut c = self.inner.borrow_mut();
            if c.machine.screen() != Screen::Menu {
                return;
            }
            (std::mem::take(&mut c.confirm), c.backend.clone())
        };
        match what.as_str() {
            "restart" => {
                tracing::warn!(target: "kiosk::maintenance", "restart of the app requested");
                backend.restart();
            }
            "leave" => {
                tracing::warn!(target: "kiosk::maintenance", "leaving kiosk mode");
                backend.leave_kiosk();
            }
            _ => {}
        }
        self.sync();
    }

    /// Collects results the worker threads sent.
    fn drain(&self) {
        let mut changed = false;
        let mut pins = Vec::new();
        while let Ok(done) = self.rx.try_recv() {
            changed = true;
            let mut c = self.inner.borrow_mut();
            match done {
                Done::Pin(id, matched) => pins.push((id, matched)),
                Done::Test(name, outcome) => {
                    tracing::info!(
                        target: "kiosk::maintenance",
                        device = %name,
                        ok = outcome.ok,
                        kind = outcome.kind.as_deref().unwrap_or(""),
                        detail = %outcome.detail,
                        "device test finished"
                    );
                    c.tests.insert(name, TestState::Finished(outcome));
                }
                Done::Retry(result) => {
                    match &result {
                        Ok(n) => {
                            tracing::info!(target: "kiosk::maintenance", records = n, "quarantined records back in the queue")
                        }
                        Err(e) => {
                            tracing::error!(target: "kiosk::maintenance", "retry of quarantined records failed: {e}")
                        }
                    }
                    c.retry_running = false;
                    c.retry = Some(result);
                }
                Done::Replay(action, result) => {
                    let (seq, kind) = (action.row.seq.as_str(), action.row.kind.as_str());
                    match &result {
                        Ok(()) => tracing::info!(
                            target: "kiosk::maintenance",
                            seq,
                            kind,
                            action = action.name(),
                            "refused offline transaction updated"
                        ),
                        // The store's reason can name the item: it shows on screen, not here.
                        Err(_) => tracing::warn!(
                            target: "kiosk::maintenance",
                            seq,
                            kind,
                            action = action.name(),
                            "staff action on a refused offline transaction not done"
                        ),
                    }
                    c.replay_action = Some((action, Some(result)));
                }
            }
        }
        for (id, matched) in pins {
            self.step(|c, now| c.machine.check_done(id, matched, now));
        }
        if changed {
            self.sync();
        }
    }

    /// Writes the state machine and the backend's data into the `Maintenance` global.
    fn sync(&self) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let now = (self.clock)();
        let c = self.inner.borrow();
        let g = app.global::<UiMaintenance>();
        let screen = c.machine.screen();
        g.set_screen(match screen {
            Screen::Closed => MaintenanceScreen::Closed,
            Screen::Pin => MaintenanceScreen::Pin,
            Screen::Menu => MaintenanceScreen::Menu,
        });
        g.set_entered(i32::try_from(c.machine.entered()).unwrap_or(0));
        let (message, left) = match c.machine.message() {
            PinMessage::Prompt => ("prompt", 0),
            PinMessage::Checking => ("checking", 0),
            PinMessage::Wrong { attempts_left } => ("wrong", attempts_left),
            PinMessage::Locked => ("locked", 0),
        };
        g.set_message(message.into());
        g.set_attempts_left(i32::try_from(left).unwrap_or(0));
        g.set_lockout_secs(to_int(c.machine.lockout_secs(now)));
        g.set_confirm(c.confirm.as_str().into());
        if screen != Screen::Menu {
            // The keypad test page closes with the menu.
            g.set_keypad_test("".into());
            g.set_replay_open(false);
            g.set_dismissing(MaintReplay::default());
            return;
        }

        let devices: Vec<MaintDevice> = c
            .backend
            .devices()
            .into_iter()
            .map(|d| {
                let (state, detail) = match c.tests.get(&d.name) {
                    None => ("", String::new()),
                    Some(TestState::Running) => ("running", String::new()),
                    Some(TestState::Finished(o)) => {
                        (if o.ok { "passed" } else { "failed" }, o.detail.clone())
                    }
                };
                MaintDevice {
                    // A simulator row's button runs the action it is named after.
                    action: if d.class == "simulator" {
                        d.name.as_str().into()
                    } else {
                        test_action(&d.class).unwrap_or("").into()
                    },
                    name: d.name.into(),
                    class: d.class.into(),
                    transport: d.transport.into(),
                    status: d.status.into(),
                    error_kind: d.error_kind.unwrap_or_default().into(),
                    error: d.error.unwrap_or_default().into(),
                    operations: to_int(d.operations),
                    errors: to_int(d.errors),
                    unplugs: to_int(d.unplugs),
                    reopens: to_int(d.reopens),
                    last_event: d.last_event.unwrap_or_default().into(),
                    last_event_age: d.last_event_age_secs.map_or(-1, to_int),
                    test_state: state.into(),
                    test_detail: detail.into(),
                }
            })
            .collect();
        update_rows(&c.devices, devices);

        let queue = c.backend.queue();
        g.set_has_queue(queue.is_some());
        if let Some(q) = queue {
            g.set_backlog(to_int(q.backlog));
            g.set_oldest_age(q.oldest_age_secs.map_or(-1, to_int));
            g.set_quarantined(to_int(q.quarantined));
        }
        let (retry_state, retried) = match (&c.retry, c.retry_running) {
            (_, true) => ("running", 0),
            (None, false) => ("", 0),
            (Some(Ok(n)), false) => ("done", *n),
            (Some(Err(_)), false) => ("failed", 0),
        };
        g.set_retry_state(retry_state.into());
        g.set_retried(to_int(retried));

        let bo = c.backend.back_office();
        g.set_backoffice_url(bo.url.as_str().into());
        g.set_backoffice_state(
            match bo.reachable {
                Some(true) => "reachable",
                Some(false) => "unreachable",
                None => "unknown",
            }
            .into(),
        );
        g.set_backoffice_age(bo.last_contact_age_secs.map_or(-1, to_int));

        let errors: Vec<MaintError> = c
            .backend
            .recent_errors()
            .into_iter()
            .take(ERRORS_SHOWN)
            .map(|e| MaintError {
                age: to_int(e.age_secs),
                source: e.source.into(),
                kind: e.kind.into(),
                message: e.message.into(),
            })
            .collect();
        update_rows(&c.errors, errors);

        let has_replay = c.backend.has_replay();
        g.set_has_replay(has_replay);
        let (rows, error) = match has_replay.then(|| c.backend.replay_failures()) {
            None => (Vec::new(), String::new()),
            Some(Ok(rows)) => (rows.into_iter().map(replay_row).collect(), String::new()),
            Some(Err(e)) => (Vec::new(), e),
        };
        update_rows(&c.replays, rows);
        g.set_replay_error(error.into());
        let (state, row, detail) = match &c.replay_action {
            None => ("", MaintReplay::default(), String::new()),
            Some((a, None)) => ("running", a.row.clone(), String::new()),
            Some((a, Some(Ok(())))) => (
                if a.dismiss.is_some() {
                    "dismissed"
                } else {
                    "retried"
                },
                a.row.clone(),
                String::new(),
            ),
            Some((a, Some(Err(e)))) => ("failed", a.row.clone(), e.clone()),
        };
        g.set_replay_action(state.into());
        g.set_replay_action_row(row);
        g.set_replay_action_detail(detail.into());
        // The question closes by itself when its row went (settled meanwhile by `kioskctl`).
        g.set_dismissing(
            c.dismissing
                .as_deref()
                .and_then(|seq| c.replay_row(seq))
                .unwrap_or_default(),
        );
    }
}

fn to_int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
