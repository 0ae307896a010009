//! The customer session as a plain state machine (no window, no clock of its own).
//!
//! A session starts on a touch, a card, a tag or a scanned code and ends on "finish", on idle
//! timeout after a visible countdown, or when the card it started with is taken away
//! (ARCHITECTURE.md "The session"). Ending wipes every personal datum ([`SessionData`] zeroizes on
//! drop) and resets language and elder mode to the profile's defaults. Every method takes the
//! current [`Instant`], so tests drive time by hand and never sleep.

use std::fmt;
use std::time::{Duration, Instant};

use kiosk_devices::profile::{Profile, Timeouts};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A language the UI ships translations for (`i18n/<bundle>/LC_MESSAGES/kiosk.po`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Simplified Chinese, the default at start.
    ZhCn,
    /// English, the language of the `.slint` sources.
    En,
}

impl Language {
    /// Every language the UI ships.
    pub const ALL: [Language; 2] = [Language::ZhCn, Language::En];

    /// The BCP 47 tag used in profiles and in the UI state (`zh-CN`, `en`).
    pub fn tag(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::En => "en",
        }
    }

    /// The folder name of the bundled `.po` file, as `slint::select_bundled_translation` wants it.
    pub fn bundle(self) -> &'static str {
        match self {
            Language::ZhCn => "zh_CN",
            Language::En => "en",
        }
    }

    /// Parses a profile's language tag (`zh-CN`, `zh_CN`, `zh`, `en`, `en-GB`…).
    pub fn from_tag(tag: &str) -> Option<Language> {
        let lower = tag.trim().to_ascii_lowercase().replace('_', "-");
        match lower.split('-').next() {
            Some("zh") => Some(Language::ZhCn),
            Some("en") => Some(Language::En),
            _ => None,
        }
    }
}

/// What brought the customer to the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A touch anywhere on the screen.
    Touch,
    /// An ID or reader card placed on the reader.
    Card,
    /// An RFID tag (a book) placed on the pad.
    Tag,
    /// A code shown to the scanner.
    Scan,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The customer pressed "finish".
    Finished,
    /// Nobody answered the "still there?" countdown.
    IdleTimeout,
    /// The card the session started with was taken away.
    CardRemoved,
    /// A technician opened the maintenance menu.
    Maintenance,
}

/// The screens the session moves through. Flows add their own pages later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Announcements and "touch or tap your card to start"; no session.
    Attract,
    /// The services of this terminal kind.
    Home,
}

/// Personal data gathered during one session. Zeroized when dropped, which happens when the
/// session ends; its `Debug` shows no content.
#[derive(Default, Zeroize, ZeroizeOnDrop)]
pub struct SessionData {
    /// Card holder's name as read from an ID or reader card.
    pub holder_name: String,
    /// ID-card number or library patron id.
    pub holder_id: String,
    /// UID of the card the session started with.
    pub card_uid: Vec<u8>,
    /// Codes scanned during the session (QR codes can carry personal data too).
    pub scanned: Vec<String>,
}

impl SessionData {
    /// True when nothing personal is held.
    pub fn is_empty(&self) -> bool {
        self.holder_name.is_empty()
            && self.holder_id.is_empty()
            && self.card_uid.is_empty()
            && self.scanned.is_empty()
    }
}

impl fmt::Debug for SessionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionData")
            .field("holder_name", &"<redacted>")
            .field("holder_id", &"<redacted>")
            .field("card_uid", &"<redacted>")
            .field("scanned", &self.scanned.len())
            .finish()
    }
}

/// The profile settings the session needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Language at start and after every session.
    pub default_language: Language,
    /// Languages offered, in the profile's order.
    pub languages: Vec<Language>,
    /// Elder mode at start and after every session.
    pub default_elder_mode: bool,
    pub idle: Duration,
    pub elder_idle: Duration,
    pub countdown: Duration,
}

/// Why the session settings could not be taken from a profile.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("profile language '{0}' has no translation (shipped: zh-CN, en)")]
    UnknownLanguage(String),
}

impl SessionSettings {
    /// Settings from a terminal profile; unknown languages are refused at start.
    pub fn from_profile(profile: &Profile) -> Result<Self, SettingsError> {
        let languages = profile
            .languages
            .iter()
            .map(|t| Language::from_tag(t).ok_or_else(|| SettingsError::UnknownLanguage(t.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(languages, &profile.timeouts))
    }

    /// Settings from languages (first is the default) and timeouts.
    pub fn new(languages: Vec<Language>, timeouts: &Timeouts) -> Self {
        let languages = if languages.is_empty() {
            vec![Language::ZhCn]
        } else {
            languages
        };
        SessionSettings {
            default_language: languages[0],
            languages,
            default_elder_mode: false,
            idle: Duration::from_secs(timeouts.idle_secs.into()),
            // A profile that sets a shorter elder timeout still never rushes an elder.
            elder_idle: Duration::from_secs(
                timeouts.elder_idle_secs.max(timeouts.idle_secs).into(),
            ),
            countdown: Duration::from_secs(timeouts.countdown_secs.into()),
        }
    }
}

/// Something the UI or a device did, fed to [`Session::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The session was started by a touch, card, tag or scan.
    Start(Trigger),
    /// Any touch: counts as activity, cancels a running countdown.
    Touch,
    /// "Finish" pressed.
    Finish,
    /// The card on the reader was taken away.
    CardRemoved,
    /// Language switch.
    SetLanguage(Language),
    /// Elder-mode switch.
    ToggleElder,
    /// The maintenance menu opened: the session in progress ends and is wiped.
    MaintenanceOpened,
    /// The maintenance menu closed: language and elder mode go back to the defaults.
    MaintenanceClosed,
}

/// What changed after an input or a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing the UI must know beyond its state.
    Unchanged,
    /// A session began.
    Started(Trigger),
    /// The "still there?" countdown began.
    CountdownStarted,
    /// A touch cancelled the countdown.
    CountdownCancelled,
    /// The session ended and its data was wiped.
    Ended(EndReason),
    /// Language and elder mode chosen on the attract screen went back to the defaults after
    /// an idle period without a session.
    PreferencesReset,
}

/// The session state machine.
#[derive(Debug)]
pub struct Session {
    settings: SessionSettings,
    page: Page,
    language: Language,
    elder_mode: bool,
    last_activity: Instant,
    countdown_ends: Option<Instant>,
    started_by_card: bool,
    data: Option<SessionData>,
}

impl Session {
    /// A terminal showing its attract screen.
    pub fn new(settings: SessionSettings, now: Instant) -> Self {
        Session {
            page: Page::Attract,
            language: settings.default_language,
            elder_mode: settings.default_elder_mode,
            settings,
            last_activity: now,
            countdown_ends: None,
            started_by_card: false,
            data: None,
        }
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    pub fn page(&self) -> Page {
        self.page
    }

    pub fn language(&self) -> Language {
        self.language
    }

    pub fn elder_mode(&self) -> bool {
        self.elder_mode
    }

    /// True between start and end.
    pub fn is_active(&self) -> bool {
        self.data.is_some()
    }

    /// The personal data of the running session.
    pub fn data(&self) -> Option<&SessionData> {
        self.data.as_ref()
    }

    /// The personal data of the running session, for flows to fill.
    pub fn data_mut(&mut self) -> Option<&mut SessionData> {
        self.data.as_mut()
    }

    /// Inactivity allowed before the countdown, slower in elder mode.
    pub fn idle_limit(&self) -> Duration {
        if self.elder_mode {
            self.settings.elder_idle
        } else {
            self.settings.idle
        }
    }

    /// Whole seconds left on the "still there?" countdown (rounded up), or `None` when it is not
    /// showing.
    pub fn countdown_remaining(&self, now: Instant) -> Option<u32> {
        let ends = self.countdown_ends?;
        let left = ends.saturating_duration_since(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Some(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    /// Applies one input at `now`.
    pub fn handle(&mut self, input: Input, now: Instant) -> Outcome {
        match input {
            Input::Start(trigger) => {
                let outcome = self.start(trigger, now);
                if trigger == Trigger::Card {
                    self.started_by_card = true;
                }
                outcome
            }
            Input::Touch => self.activity(now),
            Input::Finish => self.end(EndReason::Finished),
            Input::CardRemoved => {
                if self.is_active() && self.started_by_card {
                    self.end(EndReason::CardRemoved)
                } else {
                    Outcome::Unchanged
                }
            }
            Input::SetLanguage(language) => {
                let outcome = self.preference_touch(now);
                if self.settings.languages.contains(&language) {
                    self.language = language;
                }
                outcome
            }
            Input::ToggleElder => {
                let outcome = self.preference_touch(now);
                self.elder_mode = !self.elder_mode;
                outcome
            }
            Input::MaintenanceOpened => {
                self.last_activity = now;
                self.end(EndReason::Maintenance)
            }
            Input::MaintenanceClosed => {
                self.last_activity = now;
                let reset = !self.at_defaults();
                self.reset_preferences();
                if reset {
                    Outcome::PreferencesReset
                } else {
                    Outcome::Unchanged
                }
            }
        }
    }

    /// Advances time: starts the countdown after the idle limit and ends the session when the
    /// countdown runs out. Call it a few times a second.
    pub fn tick(&mut self, now: Instant) -> Outcome {
        let idle = now.saturating_duration_since(self.last_activity) >= self.idle_limit();
        if !self.is_active() {
            // Choices made on the attract screen wait for the session one idle period, then
            // fall back so the next visitor finds the defaults.
            if idle && !self.at_defaults() {
                self.reset_preferences();
                return Outcome::PreferencesReset;
            }
            return Outcome::Unchanged;
        }
        match self.countdown_ends {
            Some(ends) if now >= ends => self.end(EndReason::IdleTimeout),
            Some(_) => Outcome::Unchanged,
            None if idle => {
                self.countdown_ends = Some(now + self.settings.countdown);
                Outcome::CountdownStarted
            }
            None => Outcome::Unchanged,
        }
    }

    /// A language or elder-mode choice: on the attract screen it only restarts the idle clock
    /// (the choice carries into the session started next); in a session it is a touch.
    fn preference_touch(&mut self, now: Instant) -> Outcome {
        if self.is_active() {
            self.activity(now)
        } else {
            self.last_activity = now;
            Outcome::Unchanged
        }
    }

    fn at_defaults(&self) -> bool {
        self.language == self.settings.default_language
            && self.elder_mode == self.settings.default_elder_mode
    }

    fn reset_preferences(&mut self) {
        self.language = self.settings.default_language;
        self.elder_mode = self.settings.default_elder_mode;
    }

    /// A touch (or any input): starts a session from the attract screen, else resets the idle
    /// clock and cancels the countdown.
    fn activity(&mut self, now: Instant) -> Outcome {
        if !self.is_active() {
            return self.start(Trigger::Touch, now);
        }
        self.last_activity = now;
        if self.countdown_ends.take().is_some() {
            Outcome::CountdownCancelled
        } else {
            Outcome::Unchanged
        }
    }

    fn start(&mut self, trigger: Trigger, now: Instant) -> Outcome {
        self.last_activity = now;
        self.countdown_ends = None;
        if self.is_active() {
            return Outcome::Unchanged;
        }
        self.data = Some(SessionData::default());
        self.started_by_card = false;
        self.page = Page::Home;
        Outcome::Started(trigger)
    }

    fn end(&mut self, reason: EndReason) -> Outcome {
        if !self.is_active() {
            return Outcome::Unchanged;
        }
        // Dropping zeroizes (ZeroizeOnDrop); take() makes the drop happen here, not later.
        drop(self.data.take());
        self.page = Page::Attract;
        self.reset_preferences();
        self.countdown_ends = None;
        self.started_by_card = false;
        Outcome::Ended(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SessionSettings {
        SessionSettings::new(
            vec![Language::ZhCn, Language::En],
            &Timeouts {
                idle_secs: 60,
                elder_idle_secs: 150,
                countdown_secs: 15,
            },
        )
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn touch_starts_and_finish_returns_to_attract() {
        let t0 = Instant::now();
        let mut s = Session::new(settings(), t0);
        assert_eq!(s.page(), Page::Attract);
        assert!(!s.is_active());
        assert_eq!(s.handle(Input::Touch, t0), Outcome::Started(Trigger::Touch));
        assert_eq!(s.page(), Page::Home);
        assert!(s.data().is_some_and(SessionData::is_empty));
        assert_eq!(
            s.handle(Input::Finish, t0 + secs(5)),
            Outcome::Ended(EndReason::Finished)
        );
        assert_eq!(s.page(), Page::Attract);
        assert!(s.data().is_none());
        // Finishing twice is harmless.
        assert_eq!(s.handle(Input::Finish, t0 + secs(6)), Outcome::Unchanged);
    }

    #[test]
    fn idle_countdown_then_timeout_wipes_and_resets() {
        let t0 = Instant::now();
        let mut s = Session::new(settings(), t0);
        s.handle(Input::Start(Trigger::Scan), t0);
        s.handle(Input::SetLanguage(Language::En), t0 + secs(1));
        s.data_mut().unwrap().holder_name = "张三".into();
        assert_eq!(
            s.tick(t0 + secs(60)),
            Outcome::Unchanged,
            "idle counts from last touch"
        );
        assert_eq!(s.countdown_remaining(t0 + secs(60)), None);
        assert_eq!(s.tick(t0 + secs(61)), Outcome::CountdownStarted);
        assert_eq!(s.countdown_remaining(t0 + secs(61)), Some(15));
        assert_eq!(
            s.countdown_remaining(t0 + secs(61) + Duration::from_millis(500)),
            Some(15),
            "rounded up so the screen never shows 0 while the session still runs"
        );
        assert_eq!(s.countdown_remaining(t0 + secs(75)), Some(1));
        assert_eq!(s.tick(t0 + secs(75)), Outcome::Unchanged);
        assert_eq!(
            s.tick(t0 + secs(76)),
            Outcome::Ended(EndReason::IdleTimeout)
        );
        assert_eq!(s.page(), Page::Attract);
        assert_eq!(s.language(), Language::ZhCn);
        assert!(s.data().is_none());
        assert_eq!(s.countdown_remaining(t0 + secs(76)), None);
        // On the attract screen time passing does nothing.
        assert_eq!(s.tick(t0 + secs(10_000)), Outcome::Unchanged);
    }

    #[test]
    fn any_touch_cancels_the_countdown() {
        let t0 = Instant::now();
        let mut s = Session::new(settings(), t0);
        s.handle(Input::Touch, t0);
        assert_eq!(s.tick(t0 + secs(60)), Outcome::CountdownStarted);
        assert_eq!(
            s.handle(Input::Touch, t0 + secs(70)),
            Outcome::CountdownCancelled
        );
        assert_eq!(s.countdown_remaining(t0 + secs(70)), None);
        // The idle clock restarted at the touch.
        assert_eq!(s.tick(t0 + secs(129)), Outcome::Unchanged);
        assert_eq!(s.tick(t0 + secs(130)), Outcome::CountdownStarted);
        assert!(s.is_active());
    }

    #[test]
    fn elder_mode_waits_longer_and_is_reset_at_end() {
        let t0 = Instant::now();
        let mut s = Session::new(settings(), t0);
        s.handle(Input::Touch, t0);
        s.handle(Input::ToggleElder, t0);
        assert!(s.elder_mode());
        assert_eq!(s.idle_limit(), secs(150));
        assert_eq!(s.tick(t0 + secs(100)), Outcome::Unchanged);
        assert_eq!(s.tick(t0 + secs(150)), Outcome::CountdownStarted);
        assert_eq!(
            s.tick(t0 + secs(165)),
            Outcome::Ended(EndReason::IdleTimeout)
        );
        assert!(!s.elder_mode());
    }

    #[test]
    fn attract_screen_choices_carry_into_the_session_or_reset_when_idle() {
        let t0 = Instant::now();
        let mut s = Session::new(settings(), t0);
        assert_eq!(
            s.handle(Input::SetLanguage(Language::En), t0),
            Outcome::Unchanged
        );
        assert_eq!(s.handle(Input::ToggleElder, t0), Outcome::Unchanged);
        assert_eq!(s.page(), Page::Attract);
        assert!(!s.is_active());
        assert_eq!(
            s.handle(Input::Touch, t0 + secs(5)),
            Outcome::Started(Trigger::Touch)
        );
        assert_eq!(s.language(), Language::En);
        assert!(s.elder_mode());
        s.handle(Input::Finish, t0 + secs(6));
        assert_eq!(s.language(), Language::ZhCn);

        // Chosen, then nobody starts: back to the defaults after the (elder) idle period.
        s.handle(Input::ToggleElder, t0 + secs(10));
        assert_eq!(s.tick(t0 + secs(159)), Outcome::Unchanged);
        assert_eq!(s.tick(t0 + secs(160)), Outcome::PreferencesReset);
        assert!(!s.elder_mode());
        assert_eq!(s.tick(t0 + secs(1000)), Outcome::Unchanged);
    }

    #[test]
    fn removing_the_starting_card_ends_the_session() {
        let t0 = Instant::now();
        let mut s = Session::new(settings(), t0);
        // A card removed with no session, or from a touch session, changes nothing.
        assert_eq!(s.handle(Input::CardRemoved, t0), Outcome::Unchanged);
        s.handle(Input::Touch, t0);
        assert_eq!(s.handle(Input::CardRemoved, t0), Outcome::Unchanged);
        s.handle(Input::Finish, t0);

        assert_eq!(
            s.handle(Input::Start(Trigger::Card), t0),
            Outcome::Started(Trigger::Card)
        );
        s.data_mut().unwrap().card_uid = vec![0xE0, 0x04, 0x01];
        assert_eq!(
            s.handle(Input::CardRemoved, t0 + secs(3)),
            Outcome::Ended(EndReason::CardRemoved)
        );
        assert!(s.data().is_none());
        assert_eq!(s.page(), Page::Attract);
    }

    #[test]
    fn a_card_during_a_touch_session_binds_it_to_the_card() {
        let t0 = Instant::now();
        let mut s = Session::new(settings(), t0);
        s.handle(Input::Touch, t0);
        assert_eq!(
            s.handle(Input::Start(Trigger::Card), t0),
            Outcome::Unchanged
        );
        assert_eq!(
            s.handle(Input::CardRemoved, t0),
            Outcome::Ended(EndReason::CardRemoved)
        );
    }

    #[test]
    fn opening_maintenance_ends_and_wipes_the_session() {
        let t0 = Instant::now();
        let mut s = Session::new(settings(), t0);
        assert_eq!(s.handle(Input::MaintenanceOpened, t0), Outcome::Unchanged);
        s.handle(Input::Start(Trigger::Card), t0);
        s.handle(Input::SetLanguage(Language::En), t0);
        s.data_mut().unwrap().holder_id = "11010519491231002X".into();
        assert_eq!(
            s.handle(Input::MaintenanceOpened, t0 + secs(2)),
            Outcome::Ended(EndReason::Maintenance)
        );
        assert!(s.data().is_none());
        assert_eq!(s.page(), Page::Attract);
        assert_eq!(s.language(), Language::ZhCn);
        // The technician's language choice in the menu ends with the menu.
        s.handle(Input::SetLanguage(Language::En), t0 + secs(3));
        assert_eq!(
            s.handle(Input::MaintenanceClosed, t0 + secs(9)),
            Outcome::PreferencesReset
        );
        assert_eq!(s.language(), Language::ZhCn);
        assert_eq!(
            s.handle(Input::MaintenanceClosed, t0 + secs(9)),
            Outcome::Unchanged
        );
    }

    #[test]
    fn languages_outside_the_profile_are_ignored() {
        let t0 = Instant::now();
        let only_zh = SessionSettings::new(vec![Language::ZhCn], &Timeouts::default());
        let mut s = Session::new(only_zh, t0);
        s.handle(Input::SetLanguage(Language::En), t0);
        assert_eq!(s.language(), Language::ZhCn);
    }

    #[test]
    fn session_data_debug_is_redacted_and_zeroize_clears() {
        let mut d = SessionData {
            holder_name: "李四".into(),
            holder_id: "11010519491231002X".into(),
            card_uid: vec![1, 2, 3],
            scanned: vec!["secret".into()],
        };
        let text = format!("{d:?}");
        assert!(!text.contains("李四") && !text.contains("1101") && !text.contains("secret"));
        d.zeroize();
        assert!(d.is_empty());
    }

    #[test]
    fn settings_from_shipped_profiles() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/profiles");
        let p = Profile::find("library-selfcheck", &[dir]).unwrap();
        let s = SessionSettings::from_profile(&p).unwrap();
        assert_eq!(s.default_language, Language::ZhCn);
        assert_eq!(s.idle, secs(45));
        assert_eq!(s.elder_idle, secs(120));
        let mut bad = p.clone();
        bad.languages = vec!["fr".into()];
        assert_eq!(
            SessionSettings::from_profile(&bad),
            Err(SettingsError::UnknownLanguage("fr".into()))
        );
        assert_eq!(Language::from_tag("zh_CN"), Some(Language::ZhCn));
        assert_eq!(Language::from_tag("en-GB"), Some(Language::En));
    }
}
