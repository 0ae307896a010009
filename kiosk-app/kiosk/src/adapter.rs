//! Connects the session and the attract playlist to the UI's exported globals (`AppState`).
//! The UI never sees the session itself: Rust writes the globals after every input and tick,
//! and UI callbacks come back here as [`Input`]s.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kiosk_devices::profile::Profile;
use kiosk_devices::speaker::Speaker;
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use crate::attract::{Announcement, Playlist, Showing};
use crate::narrator::{self, Mode, Narrator, Press};
use crate::services;
use crate::session::{Input, Language, Outcome, Page, Session, SessionSettings, SettingsError};
use crate::ui::{App, AppState, Page as UiPage, ServiceTile};

/// Where the adapter reads the time. The binary uses `Instant::now`; tests pass a fake clock.
pub type Clock = Rc<dyn Fn() -> Instant>;

/// How often the session and the playlist are ticked.
pub const TICK: Duration = Duration::from_millis(250);

/// Why the kiosk could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KioskError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("no bundled translation for '{language}': {message}")]
    Translation { language: String, message: String },
}

struct Controller {
    session: Session,
    playlist: Playlist,
    terminal_name: String,
    applied_language: Option<Language>,
    /// The maintenance menu is open: the session's idle clock stands still.
    held: bool,
    /// The spoken mode, when the terminal has a speaker.
    narrator: Option<Narrator>,
    /// Service flows: what opens on a home tile, and who forgets a session when it ends.
    service_hooks: Vec<(String, Rc<dyn Fn()>)>,
    end_hooks: Vec<Rc<dyn Fn()>>,
}

/// The running kiosk: session + playlist + the window's globals. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Kiosk {
    app: slint::Weak<App>,
    inner: Rc<RefCell<Controller>>,
    clock: Clock,
}

impl Kiosk {
    /// Wires `app` to a new session for `profile`, showing `playlist` on the attract screen,
    /// and selects the profile's default language.
    pub fn attach(
        app: &App,
        profile: &Profile,
        playlist: Playlist,
        clock: Clock,
    ) -> Result<Kiosk, KioskError> {
        let settings = SessionSettings::from_profile(profile)?;
        let now = clock();
        let kiosk = Kiosk {
            app: app.as_weak(),
            inner: Rc::new(RefCell::new(Controller {
                session: Session::new(settings, now),
                playlist,
                terminal_name: profile.display_name.clone(),
                applied_language: None,
                held: false,
                narrator: None,
                service_hooks: Vec::new(),
                end_hooks: Vec::new(),
            })),
            clock,
        };

        let state = app.global::<AppState>();
        let tiles: Vec<ServiceTile> = services::offered(profile)
            .iter()
            .map(|s| ServiceTile { id: s.id.into() })
            .collect();
        state.set_services(ModelRc::new(VecModel::from(tiles)));
        state.set_terminal_name(profile.display_name.as_str().into());

        let k = kiosk.clone();
        state.on_start_session(move || {
            k.press(|l| narrator::button(l, "Start"));
            k.input_logged(Input::Touch)
        });
        let k = kiosk.clone();
        state.on_touched(move || k.input_logged(Input::Touch));
        let k = kiosk.clone();
        state.on_still_here(move || {
            k.press(|l| narrator::button(l, "I am still here"));
            k.input_logged(Input::Touch)
        });
        let k = kiosk.clone();
        state.on_finish(move || k.input_logged(Input::Finish));
        let k = kiosk.clone();
        state.on_toggle_elder(move || {
            k.press(narrator::elder_switch);
            k.input_logged(Input::ToggleElder)
        });
        let k = kiosk.clone();
        state.on_set_language(move |tag| match Language::from_tag(&tag) {
            Some(language) => {
                k.press(|_| narrator::language_button(language));
                k.input_logged(Input::SetLanguage(language))
            }
            None => tracing::warn!(%tag, "language switch to an unknown language ignored"),
        });
        let k = kiosk.clone();
        state.on_open_service(move |id| {
            // The service flows arrive with their own issues; choosing one is activity already.
            tracing::info!(service = %id, "service chosen");
            k.press_service(&id);
            k.input_logged(Input::Touch);
            let hook = k
                .inner
                .borrow()
                .service_hooks
                .iter()
                .find(|(s, _)| *s == id.as_str())
                .map(|(_, f)| f.clone());
            if let Some(open) = hook {
                open();
            }
        });

        kiosk.apply_language()?;
        kiosk.sync();
        Ok(kiosk)
    }

    /// Feeds one input (UI action or device event) to the session and updates the UI.
    pub fn input(&self, input: Input) -> Outcome {
        let now = (self.clock)();
        let outcome = self.inner.borrow_mut().session.handle(input, now);
        self.after();
        self.ended(outcome);
        outcome
    }

    /// Runs `open` when the home tile of service `id` is pressed (a service flow's first page).
    pub fn on_service(&self, id: &str, open: impl Fn() + 'static) {
        self.inner
            .borrow_mut()
            .service_hooks
            .push((id.to_string(), Rc::new(open)));
    }

    /// Runs `forget` whenever a session ends (finish, timeout, card removed, maintenance), so
    /// a flow drops what it holds of the patron with the session's own data.
    pub fn on_session_end(&self, forget: impl Fn() + 'static) {
        self.inner.borrow_mut().end_hooks.push(Rc::new(forget));
    }

    fn ended(&self, outcome: Outcome) {
        if matches!(outcome, Outcome::Ended(_)) {
            let hooks = self.inner.borrow().end_hooks.clone();
            for forget in hooks {
                forget();
            }
        }
    }

    fn input_logged(&self, input: Input) {
        let outcome = self.input(input);
        if outcome != Outcome::Unchanged {
            tracing::info!(?input, ?outcome, "session");
        }
    }

    /// Advances the session's idle clock and the playlist; call every [`TICK`].
    pub fn tick(&self) -> Outcome {
        let now = (self.clock)();
        let outcome = {
            let mut c = self.inner.borrow_mut();
            let outcome = if c.held {
                Outcome::Unchanged
            } else {
                c.session.tick(now)
            };
            let elder = c.session.elder_mode();
            c.playlist.tick(now, elder);
            outcome
        };
        if outcome != Outcome::Unchanged {
            tracing::info!(?outcome, "session");
        }
        self.after();
        self.ended(outcome);
        outcome
    }

    /// Starts the repeating timer that calls [`Kiosk::tick`]; keep the returned timer alive.
    pub fn start_timer(&self) -> slint::Timer {
        let timer = slint::Timer::default();
        let k = self.clone();
        timer.start(slint::TimerMode::Repeated, TICK, move || {
            k.tick();
        });
        timer
    }

    /// Shows an emergency alert on the attract screen at once.
    pub fn raise_emergency(&self, alert: Announcement) {
        self.inner.borrow_mut().playlist.raise_emergency(alert);
        self.sync();
    }

    /// Returns the attract screen to its playlist.
    pub fn clear_emergency(&self) {
        let now = (self.clock)();
        self.inner.borrow_mut().playlist.clear_emergency(now);
        self.sync();
    }

    /// Stops (`true`) or restarts the session's idle ticks, while the maintenance menu is open.
    pub fn hold(&self, held: bool) {
        self.inner.borrow_mut().held = held;
    }

    /// Gives the kiosk a voice: the spoken mode speaks in elder mode, or always when `always`.
    pub fn set_speaker(&self, speaker: Box<dyn Speaker>, always: bool) {
        self.inner.borrow_mut().narrator = Some(Narrator::new(speaker, always));
        self.narrate();
    }

    /// Notes the control just pressed for the spoken mode (its label in the UI's language).
    fn press(&self, press: impl FnOnce(Language) -> Press) {
        let mut c = self.inner.borrow_mut();
        let language = c.session.language();
        if let Some(n) = c.narrator.as_mut() {
            n.pressed(press(language));
        }
    }

    /// A service tile pressed: its label is the tile's title as the UI shows it.
    fn press_service(&self, id: &str) {
        if let Some(app) = self.app.upgrade() {
            let label = app.global::<AppState>().invoke_service_title(id.into());
            self.press(|language| Press::Button {
                label: label.into(),
                language,
            });
        }
    }

    /// Lets the spoken mode look at the screen after a change or a tick; a flow that changed
    /// its page calls it so the new title is said at once, not at the next tick.
    pub fn narrate(&self) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let now = (self.clock)();
        let (mode, look) = {
            let c = self.inner.borrow();
            let s = &c.session;
            let mode = Mode {
                elder: s.elder_mode(),
                language: s.language(),
                active: s.is_active(),
            };
            match &c.narrator {
                Some(n) => (mode, n.needs_screen(mode)),
                None => return,
            }
        };
        // Read without holding the controller: property bindings may call back into Rust.
        let screen = if look {
            narrator::read_screen(&app)
        } else {
            narrator::Screen::default()
        };
        if let Some(n) = self.inner.borrow_mut().narrator.as_mut() {
            n.observe(mode, &screen, now);
        }
    }

    /// Reads the session (tests, maintenance menu).
    pub fn with_session<R>(&self, f: impl FnOnce(&Session) -> R) -> R {
        f(&self.inner.borrow().session)
    }

    /// Lets a flow fill the session's personal data.
    pub fn with_session_mut<R>(&self, f: impl FnOnce(&mut Session) -> R) -> R {
        f(&mut self.inner.borrow_mut().session)
    }

    fn after(&self) {
        if let Err(e) = self.apply_language() {
            tracing::error!("{e}");
        }
        self.sync();
    }

    /// Selects the session's language in Slint's bundled translations when it changed.
    fn apply_language(&self) -> Result<(), KioskError> {
        let language = {
            let c = self.inner.borrow();
            let language = c.session.language();
            if c.applied_language == Some(language) {
                return Ok(());
            }
            language
        };
        slint::select_bundled_translation(language.bundle()).map_err(|e| {
            KioskError::Translation {
                language: language.tag().into(),
                message: e.to_string(),
            }
        })?;
        self.inner.borrow_mut().applied_language = Some(language);
        Ok(())
    }

    /// Writes the session and playlist state into the `AppState` global.
    fn sync(&self) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let now = (self.clock)();
        let c = self.inner.borrow();
        let s = &c.session;
        let state = app.global::<AppState>();
        state.set_page(match s.page() {
            Page::Attract => UiPage::Attract,
            Page::Home => UiPage::Home,
        });
        state.set_language(s.language().tag().into());
        state.set_elder_mode(s.elder_mode());
        let countdown = s.countdown_remaining(now).unwrap_or(0);
        state.set_countdown(i32::try_from(countdown).unwrap_or(i32::MAX));

        let language = s.language();
        let (title, body, emergency) = match c.playlist.showing() {
            Showing::Emergency(a) => (a.title(language), a.body(language), true),
            Showing::Item(a) => (a.title(language), a.body(language), false),
            Showing::Nothing => (c.terminal_name.as_str(), "", false),
        };
        set_if_changed(state.get_announcement_title(), title, |v| {
            state.set_announcement_title(v)
        });
        set_if_changed(state.get_announcement_body(), body, |v| {
            state.set_announcement_body(v)
        });
        state.set_emergency(emergency);
        state.set_announcement_index(i32::try_from(c.playlist.index()).unwrap_or(0));
        state.set_announcement_count(i32::try_from(c.playlist.len()).unwrap_or(0));
        drop(c);
        self.narrate();
    }
}

fn set_if_changed(old: SharedString, new: &str, set: impl FnOnce(SharedString)) {
    if old.as_str() != new {
        set(new.into());
    }
}
