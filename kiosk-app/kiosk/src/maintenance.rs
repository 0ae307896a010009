//! The maintenance menu as plain state machines (no window, no clock of its own): the hidden
//! gesture, the PIN check with lockout, and what the menu shows and does.
//!
//! * **Gesture**: five taps on the top-left corner of the screen within three seconds
//!   ([`CornerTaps`]), the "tap N times in a corner" exit gesture of kiosk lockdown apps
//!   (SureLock, Fully Kiosk). The corner is not an accessible element: the spoken mode never
//!   offers it to customers.
//! * **PIN**: compared against a salted PBKDF2-HMAC-SHA256 hash from the profile's
//!   `[maintenance]` section ([`PinHash`]); the PIN itself is never stored or logged. A profile
//!   without the section has no maintenance menu, except in demo mode, which uses
//!   [`DEMO_PIN`] (2580).
//! * **Lockout** ([`PinGate`]): `max_attempts` wrong PINs in a row lock the PIN pad for
//!   `lockout_secs`; each further lockout in a row doubles that, up to `lockout_max_secs`. A right
//!   PIN clears the count. Everything takes the current [`Instant`], so tests use a fake clock.
//! * **Menu** ([`Maintenance`]): opening it ends (wipes) a session in progress (the adapter feeds
//!   `Input::Maintenance` to the session); it closes itself after a quiet period. The data
//!   comes from a [`MaintenanceBackend`]: the device supervisor and the offline queue in the app,
//!   [`FixtureBackend`] in the demo and the tests.
//! * **Refused offline transactions** ([`ReplayFailure`], issue 5): what the library system
//!   refused when the offline loans and returns were replayed is kept for staff here, never
//!   dropped. Staff send one again on the next replay or settle it by hand with one of the
//!   fixed [`DismissReason`]s (the menu has no keyboard for a note); both take the replayer's
//!   round lock and run on a worker thread, so they never race a round nor hold up the UI.
//!
//! Every action is logged with `tracing` (target `kiosk::maintenance`), never with a PIN or
//! personal data.

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use kiosk_devices::health::{Availability, DeviceState, Health};
use kiosk_devices::profile::{MaintenanceSettings, PinHashParts};
use serde::Deserialize;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The PIN of demo mode (`kiosk --demo`) when the profile configures none. Documented in the
/// README; never use it on a real terminal.
pub const DEMO_PIN: &str = "2580";

/// Taps on the corner that open the PIN pad…
pub const GESTURE_TAPS: usize = 5;
/// …within this time.
pub const GESTURE_WINDOW: Duration = Duration::from_secs(3);
/// The PIN pad closes after this long without a key press.
pub const PIN_PAD_IDLE: Duration = Duration::from_secs(30);
/// The menu closes after this long without a touch, so an unattended terminal goes back to
/// its customers.
pub const MENU_IDLE: Duration = Duration::from_secs(300);
/// Shortest and longest PIN accepted by the pad.
pub const PIN_MIN_LEN: usize = 4;
pub const PIN_MAX_LEN: usize = 8;

/// PBKDF2-HMAC-SHA256 with one 32-byte output block (RFC 8018 §5.2).
fn pbkdf2_sha256(pin: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(pin).expect("HMAC takes any key length");
    let mut mac = keyed.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut mac = keyed.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

/// The `pin_hash` string for `pin` (what a technician writes into the profile).
pub fn hash_pin(pin: &str, salt: &[u8], iterations: u32) -> String {
    let hash = pbkdf2_sha256(pin.as_bytes(), salt, iterations);
    format!("pbkdf2-sha256${iterations}${}${}", hex(salt), hex(&hash))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The demo profile's maintenance settings: PIN [`DEMO_PIN`], 5 attempts, 60 s lockout.
pub fn demo_settings() -> MaintenanceSettings {
    MaintenanceSettings {
        // Python: hashlib.pbkdf2_hmac('sha256', b'2580', b'kiosk-demo-salt1', 20000).hex()
        pin_hash: "pbkdf2-sha256$20000$6b696f736b2d64656d6f2d73616c7431$\
                   6104ceaef712e8f538bd6699f28a837228332d9a5ef94186237355806c52e336"
            .into(),
        max_attempts: 5,
        lockout_secs: 60,
        lockout_max_secs: 3600,
    }
}

/// A checked PIN hash.
#[derive(Clone)]
pub struct PinHash(PinHashParts);

impl PinHash {
    pub fn new(settings: &MaintenanceSettings) -> Result<Self, String> {
        settings.pin_hash_parts().map(PinHash)
    }

    /// Whether `pin` is the PIN (constant-time comparison of the hashes).
    pub fn verify(&self, pin: &str) -> bool {
        let got = pbkdf2_sha256(pin.as_bytes(), &self.0.salt, self.0.iterations);
        got.iter()
            .zip(&self.0.hash)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for PinHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinHash(<hidden>)")
    }
}

/// Detects the hidden gesture: [`GESTURE_TAPS`] taps within [`GESTURE_WINDOW`].
#[derive(Debug, Default)]
pub struct CornerTaps {
    taps: VecDeque<Instant>,
}

impl CornerTaps {
    /// One tap on the corner; true when it completes the gesture.
    pub fn tap(&mut self, now: Instant) -> bool {
        self.taps.push_back(now);
        while self
            .taps
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > GESTURE_WINDOW)
        {
            self.taps.pop_front();
        }
        if self.taps.len() >= GESTURE_TAPS {
            self.taps.clear();
            true
        } else {
            false
        }
    }
}

/// The answer to a submitted PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinVerdict {
    Correct,
    /// Wrong; this many attempts remain before the lockout.
    Wrong {
        attempts_left: u32,
    },
    /// Wrong, and the pad is now locked for this long.
    LockedOut {
        duration: Duration,
    },
    /// The pad is locked; the PIN was not even checked.
    StillLocked {
        remaining: Duration,
    },
}

/// Attempt counter and lockout.
#[derive(Debug)]
pub struct PinGate {
    hash: PinHash,
    max_attempts: u32,
    lockout: Duration,
    lockout_max: Duration,
    failures: u32,
    lockouts_in_a_row: u32,
    locked_until: Option<Instant>,
}

impl PinGate {
    pub fn new(settings: &MaintenanceSettings) -> Result<Self, String> {
        Ok(PinGate {
            hash: PinHash::new(settings)?,
            max_attempts: settings.max_attempts.max(1),
            lockout: Duration::from_secs(settings.lockout_secs.into()),
            lockout_max: Duration::from_secs(settings.lockout_max_secs.into()),
            failures: 0,
            lockouts_in_a_row: 0,
            locked_until: None,
        })
    }

    /// Time left on the lockout, `None` when the pad accepts PINs.
    pub fn locked_remaining(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .map(|until| until.saturating_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// When the last lockout ends (or ended).
    pub fn locked_until(&self) -> Option<Instant> {
        self.locked_until
    }

    /// Wrong PINs since the last lockout or right PIN.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Checks `pin` at `now` (hashing on the calling thread).
    pub fn submit(&mut self, pin: &str, now: Instant) -> PinVerdict {
        if let Some(remaining) = self.locked_remaining(now) {
            return PinVerdict::StillLocked { remaining };
        }
        let matched = self.hash.verify(pin);
        self.record(matched, now)
    }

    /// The hash PINs are checked against, for a check on another thread ([`PinCheck`]).
    pub fn hash(&self) -> &PinHash {
        &self.hash
    }

    /// Counts a PIN checked at `now` (`matched`: [`PinHash::verify`]'s answer): the attempt
    /// counter and lockout of [`PinGate::submit`], without the hashing.
    pub fn record(&mut self, matched: bool, now: Instant) -> PinVerdict {
        self.locked_until = None;
        if matched {
            self.failures = 0;
            self.lockouts_in_a_row = 0;
            return PinVerdict::Correct;
        }
        self.failures += 1;
        if self.failures < self.max_attempts {
            return PinVerdict::Wrong {
                attempts_left: self.max_attempts - self.failures,
            };
        }
        let factor = 1u32 << self.lockouts_in_a_row.min(16);
        let duration = self.lockout.saturating_mul(factor).min(self.lockout_max);
        self.failures = 0;
        self.lockouts_in_a_row += 1;
        self.locked_until = Some(now + duration);
        PinVerdict::LockedOut { duration }
    }
}

/// Which maintenance screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The customer UI.
    Closed,
    /// The PIN pad.
    Pin,
    /// The menu itself.
    Menu,
}

/// The line under the PIN dots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMessage {
    /// "Enter the maintenance PIN".
    Prompt,
    /// "Checking the PIN…": the PIN is being hashed (on a worker thread); keys are ignored.
    Checking,
    /// "Wrong PIN, N attempts left".
    Wrong { attempts_left: u32 },
    /// "Locked, try again in N s".
    Locked,
}

/// What an input changed, for the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Unchanged,
    /// The gesture was recognised and the PIN pad opened.
    PinPadShown,
    /// The gesture was recognised but no PIN is configured.
    Disabled,
    /// The right PIN: the menu opened; the session must be ended.
    MenuOpened,
    WrongPin,
    LockedOut,
    /// A PIN was submitted: [`Maintenance::take_check`] has the hashing to run, and
    /// [`Maintenance::check_done`] takes its answer.
    Checking,
    /// Back to the customer UI (cancelled, closed, or idle).
    Closed,
}

/// A submitted PIN to hash away from the UI thread: [`PinCheck::run`], then
/// [`Maintenance::check_done`] with its id and answer. The PIN is zeroized when dropped.
pub struct PinCheck {
    pub id: u64,
    pin: Zeroizing<String>,
    hash: PinHash,
}

impl PinCheck {
    /// The PBKDF2 computation (tens of milliseconds on a kiosk board): whether the PIN is right.
    pub fn run(&self) -> bool {
        self.hash.verify(&self.pin)
    }
}

impl std::fmt::Debug for PinCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinCheck({}, <hidden>)", self.id)
    }
}

/// Gesture → PIN pad → menu, with the entry buffer (zeroized when dropped or cleared).
#[derive(Debug)]
pub struct Maintenance {
    gate: Option<PinGate>,
    /// The id of the PIN being checked, if any, and the check not yet handed out.
    checking: Option<u64>,
    pending: Option<PinCheck>,
    checks: u64,
    gesture: CornerTaps,
    screen: Screen,
    entry: Zeroizing<String>,
    message: PinMessage,
    last_input: Instant,
}

impl Maintenance {
    /// `settings` is `None` when the profile has no `[maintenance]` section: the gesture is
    /// then logged and ignored.
    pub fn new(settings: Option<&MaintenanceSettings>, now: Instant) -> Result<Self, String> {
        Ok(Maintenance {
            gate: settings.map(PinGate::new).transpose()?,
            checking: None,
            pending: None,
            checks: 0,
            gesture: CornerTaps::default(),
            screen: Screen::Closed,
            entry: Zeroizing::new(String::new()),
            message: PinMessage::Prompt,
            last_input: now,
        })
    }

    pub fn screen(&self) -> Screen {
        self.screen
    }

    pub fn message(&self) -> PinMessage {
        self.message
    }

    /// Digits typed so far (the UI shows dots).
    pub fn entered(&self) -> usize {
        self.entry.chars().count()
    }

    /// Whole seconds left on the lockout (rounded up), 0 when not locked.
    pub fn lockout_secs(&self, now: Instant) -> u64 {
        self.gate
            .as_ref()
            .and_then(|g| g.locked_remaining(now))
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
            .unwrap_or(0)
    }

    /// A tap on the hidden corner.
    pub fn corner_tap(&mut self, now: Instant) -> Event {
        if self.screen != Screen::Closed || !self.gesture.tap(now) {
            return Event::Unchanged;
        }
        if self.gate.is_none() {
            tracing::warn!(
                target: "kiosk::maintenance",
                "maintenance gesture, but the profile has no [maintenance] PIN"
            );
            return Event::Disabled;
        }
        self.screen = Screen::Pin;
        self.entry.clear();
        self.message = if self.lockout_secs(now) > 0 {
            PinMessage::Locked
        } else {
            PinMessage::Prompt
        };
        self.last_input = now;
        tracing::info!(target: "kiosk::maintenance", "PIN pad opened by the corner gesture");
        Event::PinPadShown
    }

    /// Whether a submitted PIN is being checked (the pad ignores its keys meanwhile).
    pub fn checking(&self) -> bool {
        self.checking.is_some()
    }

    /// A key of the numeric pad: `'0'..='9'`.
    pub fn digit(&mut self, digit: char, now: Instant) -> Event {
        if self.screen != Screen::Pin || self.checking() || !digit.is_ascii_digit() {
            return Event::Unchanged;
        }
        self.last_input = now;
        if self.lockout_secs(now) > 0 {
            self.message = PinMessage::Locked;
            return Event::Unchanged;
        }
        if self.entry.len() < PIN_MAX_LEN {
            self.entry.push(digit);
        }
        Event::Unchanged
    }

    /// The pad's "delete" key.
    pub fn backspace(&mut self, now: Instant) -> Event {
        if self.screen == Screen::Pin && !self.checking() {
            self.entry.pop();
            self.last_input = now;
        }
        Event::Unchanged
    }

    /// The pad's "OK" key: starts the check of the PIN typed ([`Event::Checking`]; run
    /// [`Maintenance::take_check`] on a worker thread) unless the pad is locked.
    pub fn submit(&mut self, now: Instant) -> Event {
        if self.screen != Screen::Pin || self.checking() {
            return Event::Unchanged;
        }
        self.last_input = now;
        let Some(gate) = self.gate.as_mut() else {
            return Event::Unchanged;
        };
        if gate.locked_remaining(now).is_some() {
            self.entry.clear();
            self.message = PinMessage::Locked;
            return Event::Unchanged;
        }
        if self.entry.len() < PIN_MIN_LEN {
            return Event::Unchanged;
        }
        self.checks += 1;
        let id = self.checks;
        let pin = Zeroizing::new(std::mem::take(&mut *self.entry));
        self.pending = Some(PinCheck {
            id,
            pin,
            hash: gate.hash().clone(),
        });
        self.checking = Some(id);
        self.message = PinMessage::Checking;
        Event::Checking
    }

    /// The check [`Maintenance::submit`] started, to run on a worker thread.
    pub fn take_check(&mut self) -> Option<PinCheck> {
        self.pending.take()
    }

    /// The answer of check `id` ([`PinCheck::run`]), counted at `now` by the lockout logic. A
    /// check whose pad was closed meanwhile still counts as an attempt, but opens nothing.
    pub fn check_done(&mut self, id: u64, matched: bool, now: Instant) -> Event {
        let Some(gate) = self.gate.as_mut() else {
            return Event::Unchanged;
        };
        let verdict = gate.record(matched, now);
        if self.checking != Some(id) {
            return Event::Unchanged;
        }
        self.checking = None;
        self.last_input = now;
        match verdict {
            PinVerdict::Correct => {
                self.screen = Screen::Menu;
                self.message = PinMessage::Prompt;
                tracing::info!(target: "kiosk::maintenance", "maintenance menu opened");
                Event::MenuOpened
            }
            PinVerdict::Wrong { attempts_left } => {
                self.message = PinMessage::Wrong { attempts_left };
                tracing::warn!(target: "kiosk::maintenance", attempts_left, "wrong maintenance PIN");
                Event::WrongPin
            }
            PinVerdict::LockedOut { duration } => {
                self.message = PinMessage::Locked;
                tracing::warn!(
                    target: "kiosk::maintenance",
                    lockout_secs = duration.as_secs(),
                    "wrong maintenance PIN, PIN pad locked"
                );
                Event::LockedOut
            }
            PinVerdict::StillLocked { .. } => {
                self.message = PinMessage::Locked;
                Event::Unchanged
            }
        }
    }

    /// "Cancel" on the pad or "Close" in the menu.
    pub fn close(&mut self, now: Instant) -> Event {
        if self.screen == Screen::Closed {
            return Event::Unchanged;
        }
        tracing::info!(target: "kiosk::maintenance", screen = ?self.screen, "maintenance closed");
        self.shut(now)
    }

    /// Any touch in the menu keeps it open.
    pub fn activity(&mut self, now: Instant) {
        self.last_input = now;
    }

    /// Closes an abandoned pad or menu, and clears the "locked" line when the lockout ended.
    pub fn tick(&mut self, now: Instant) -> Event {
        // The end of a lockout counts as activity: the pad stays up for the next try.
        let since = self
            .gate
            .as_ref()
            .and_then(PinGate::locked_until)
            .map_or(self.last_input, |until| until.max(self.last_input));
        let quiet = now.saturating_duration_since(since);
        let limit = match self.screen {
            Screen::Closed => return Event::Unchanged,
            Screen::Pin => PIN_PAD_IDLE,
            Screen::Menu => MENU_IDLE,
        };
        // A locked pad stays up while its countdown runs, so the technician sees it end.
        if quiet >= limit && self.lockout_secs(now) == 0 {
            tracing::info!(target: "kiosk::maintenance", screen = ?self.screen, "maintenance closed after inactivity");
            return self.shut(now);
        }
        if self.message == PinMessage::Locked && self.lockout_secs(now) == 0 {
            self.message = PinMessage::Prompt;
        }
        Event::Unchanged
    }

    fn shut(&mut self, now: Instant) -> Event {
        self.screen = Screen::Closed;
        self.entry.clear();
        self.checking = None;
        self.pending = None;
        if self.lockout_secs(now) == 0 {
            self.message = PinMessage::Prompt;
        }
        Event::Closed
    }
}

// ---------------------------------------------------------------------------------------------
// What the menu shows, and the backend behind it.

/// One device row of the menu. Texts are technicians' messages, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceStatus {
    /// Role name in the profile (`idcard`, `rfid`, `printer`…).
    pub name: String,
    /// Device class machine name (`DeviceClass::as_str`).
    pub class: String,
    pub transport: String,
    /// `ok`, `busy`, `fault` or `offline`.
    pub status: String,
    /// `ErrorKind::as_str` of the last fault.
    #[serde(default)]
    pub error_kind: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub operations: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub unplugs: u64,
    #[serde(default)]
    pub reopens: u64,
    /// `opened`, `reopened`, `lost` or `error`.
    #[serde(default)]
    pub last_event: Option<String>,
    #[serde(default)]
    pub last_event_age_secs: Option<u64>,
}

impl DeviceStatus {
    /// A row with no fault, counters or events yet.
    pub fn without_history(name: &str, class: &str, transport: &str, status: &str) -> Self {
        DeviceStatus {
            name: name.into(),
            class: class.into(),
            transport: transport.into(),
            status: status.into(),
            error_kind: None,
            error: None,
            operations: 0,
            errors: 0,
            unplugs: 0,
            reopens: 0,
            last_event: None,
            last_event_age_secs: None,
        }
    }

    /// A row from the supervisor's health report.
    pub fn from_health(h: &Health, last_event: Option<(&str, u64)>) -> Self {
        let status = match (h.availability, h.state) {
            (Availability::NoDevice, _) | (_, DeviceState::Closed) => "offline",
            (Availability::HwError, _) | (_, DeviceState::Error) => "fault",
            (Availability::Online, DeviceState::Busy) => "busy",
            (Availability::Online, DeviceState::Idle) => "ok",
        };
        DeviceStatus {
            name: h.name.clone(),
            class: h.class.as_str().into(),
            transport: h.transport.clone(),
            status: status.into(),
            error_kind: h.last_fault.as_ref().map(|f| f.kind.as_str().into()),
            error: h.last_fault.as_ref().map(|f| f.message.clone()),
            operations: h.counters.operations,
            errors: h.counters.errors,
            unplugs: h.counters.unplugs,
            reopens: h.counters.reopens,
            last_event: last_event.map(|(e, _)| e.into()),
            last_event_age_secs: last_event.map(|(_, age)| age),
        }
    }
}

/// The test a device class offers in the menu.
pub fn test_action(class: &str) -> Option<&'static str> {
    match class {
        "idcard" => Some("read-card"),
        "rfid" => Some("inventory"),
        "printer" => Some("test-print"),
        "fingerprint" | "camera" => Some("capture"),
        "scanner" => Some("scan"),
        "speaker" => Some("say-test"),
        _ => None,
    }
}

/// The offline queue's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueStatus {
    /// Records waiting for upload.
    pub backlog: u64,
    pub oldest_age_secs: Option<u64>,
    pub quarantined: u64,
}

/// Whether the records back office answered lately.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackOfficeStatus {
    pub url: String,
    /// `None` while nothing was tried yet.
    pub reachable: Option<bool>,
    pub last_contact_age_secs: Option<u64>,
}

/// One line of "recent errors".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecentError {
    pub age_secs: u64,
    /// Device name, `queue` or `backoffice`.
    pub source: String,
    pub kind: String,
    pub message: String,
}

/// Result of a device test; `detail` never holds personal data (a card test says "read OK",
/// not the name on the card).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestOutcome {
    pub ok: bool,
    #[serde(default)]
    pub kind: Option<String>,
    pub detail: String,
}

/// How a refused offline transaction stands for staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFailureStatus {
    /// Refused by the library system; waits for staff.
    Failed,
    /// Staff asked for it to be sent again; the next replay round does.
    RetryPending,
}

impl ReplayFailureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayFailureStatus::Failed => "failed",
            ReplayFailureStatus::RetryPending => "retry-pending",
        }
    }
}

/// One offline transaction the library system refused when it was replayed (issue 5: kept for
/// staff in the menu, never dropped). The patron is masked as on receipts; nothing else
/// personal is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayFailure {
    /// The signed queue's seq of the record.
    pub seq: u64,
    /// `checkout`, `checkin` or `renew` (the queue kind without `library.`).
    pub kind: String,
    pub item: String,
    /// Masked (`P0**`, [`kiosk_flows::receipt::mask_patron`]); `None` for a return.
    pub patron: Option<String>,
    /// The library system's screen message, or why the record could not be sent.
    pub reason: String,
    /// When the transaction took place, China time `YYYY-MM-DD HH:MM` (the record's own text
    /// when it is not a SIP2 date).
    pub at: String,
    pub status: ReplayFailureStatus,
}

impl ReplayFailure {
    /// The menu's row of a `failed` or `retry` row of the replay progress.
    pub fn from_settled(s: &kiosk_flows::replay::Settled) -> Self {
        use kiosk_flows::replay::Status;
        ReplayFailure {
            seq: s.seq,
            kind: s
                .kind
                .strip_prefix("library.")
                .unwrap_or(&s.kind)
                .to_string(),
            item: s.item.clone(),
            patron: s
                .patron
                .as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(kiosk_flows::receipt::mask_patron),
            reason: s.message.clone(),
            at: china_time(&s.at),
            status: match s.status {
                Status::Retry => ReplayFailureStatus::RetryPending,
                _ => ReplayFailureStatus::Failed,
            },
        }
    }
}

/// A SIP2 date (UTC, as the kiosk records it) as China Standard Time `YYYY-MM-DD HH:MM`.
fn china_time(sip2: &str) -> String {
    match kiosk_sip2::Timestamp::parse(sip2) {
        Some(t) => crate::receipts::china_time(t),
        None => sip2.trim().to_string(),
    }
}

/// Why staff settle a refused offline transaction by hand: the menu has no keyboard for a
/// free-text note, so it offers these, and the note written is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DismissReason {
    /// Staff did the loan or return in the library system at the desk.
    SettledAtDesk,
    /// Nothing is left to do (the book is back, the loan was settled otherwise).
    NotNeeded,
}

impl DismissReason {
    pub const ALL: [DismissReason; 2] = [DismissReason::SettledAtDesk, DismissReason::NotNeeded];

    /// The UI's name of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            DismissReason::SettledAtDesk => "desk",
            DismissReason::NotNeeded => "not-needed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The staff note kept in the replay progress (`kioskctl library failures` shows it).
    pub fn note(self) -> &'static str {
        match self {
            DismissReason::SettledAtDesk => {
                "dismissed at the terminal's maintenance menu: settled at the desk"
            }
            DismissReason::NotNeeded => {
                "dismissed at the terminal's maintenance menu: nothing left to do"
            }
        }
    }
}

/// Work to run off the UI thread.
pub type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// Where the menu reads its data and sends its actions. Reads are cheap snapshots taken on the
/// UI thread; anything that talks to a device or a database is returned as a [`Job`] that the
/// adapter runs on a worker thread.
pub trait MaintenanceBackend {
    fn devices(&self) -> Vec<DeviceStatus>;
    fn queue(&self) -> Option<QueueStatus>;
    fn back_office(&self) -> BackOfficeStatus;
    /// Newest first.
    fn recent_errors(&self) -> Vec<RecentError>;
    /// The device's test (see [`test_action`]); `None` when it has none.
    fn test(&self, device: &str) -> Option<Job<TestOutcome>>;
    /// Puts quarantined records back in the upload queue; returns how many.
    fn retry_quarantined(&self) -> Job<Result<u64, String>>;
    /// Whether this terminal replays offline library transactions (the menu then lists
    /// [`MaintenanceBackend::replay_failures`]).
    fn has_replay(&self) -> bool {
        false
    }
    /// Offline transactions the library system refused, in seq order; `Err` when they cannot
    /// be read (the menu says so rather than showing an empty list).
    fn replay_failures(&self) -> Result<Vec<ReplayFailure>, String> {
        Ok(Vec::new())
    }
    /// Sends a refused transaction again on the next replay round.
    fn retry_replay(&self, seq: u64) -> Job<Result<(), String>> {
        let _ = seq;
        Box::new(|| Err("not available".into()))
    }
    /// Settles a refused transaction by hand, with the note of `reason`.
    fn dismiss_replay(&self, seq: u64, reason: DismissReason) -> Job<Result<(), String>> {
        let _ = (seq, reason);
        Box::new(|| Err("not available".into()))
    }
    /// Restarts the app (the binary quits with [`EXIT_RESTART`], systemd starts it again).
    fn restart(&self);
    /// Leaves kiosk mode (quits with [`EXIT_LEAVE_KIOSK`], which the unit does not restart).
    fn leave_kiosk(&self);
}

/// Exit status of "restart the app".
pub const EXIT_RESTART: u8 = 0;
/// Exit status of "leave kiosk mode" (`RestartPreventExitStatus=` in the systemd unit).
pub const EXIT_LEAVE_KIOSK: u8 = 10;

/// What a [`FixtureBackend`] file holds (`fixtures/maintenance/*.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceStatus>,
    pub queue: Option<QueueStatus>,
    #[serde(default)]
    pub backoffice: BackOfficeStatus,
    #[serde(default, rename = "error")]
    pub errors: Vec<RecentError>,
    /// Test outcomes by device name.
    #[serde(default)]
    pub tests: std::collections::BTreeMap<String, TestOutcome>,
    /// The replay of offline library transactions (`[replay]`); absent on terminals without
    /// one.
    #[serde(default)]
    pub replay: Option<ReplayFixture>,
}

/// `[replay]` of a fixture: what the library system refused (`[[replay.failure]]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFixture {
    #[serde(default, rename = "failure")]
    pub failures: Vec<ReplayFixtureRow>,
}

/// One refused offline transaction of a fixture, as the replay progress stores it (unmasked
/// demo patron, SIP2 date); shown through [`ReplayFailure::from_settled`] like the real ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFixtureRow {
    pub seq: u64,
    /// `library.checkout`, `library.checkin`…
    pub kind: String,
    pub item: String,
    #[serde(default)]
    pub patron: Option<String>,
    pub at: String,
    pub message: String,
    /// `failed` or `retry`.
    pub status: String,
}

impl ReplayFixtureRow {
    fn settled(&self) -> kiosk_flows::replay::Settled {
        use kiosk_flows::replay::Status;
        kiosk_flows::replay::Settled {
            seq: self.seq,
            kind: self.kind.clone(),
            item: self.item.clone(),
            patron: self.patron.clone(),
            at: self.at.clone(),
            due: None,
            status: if self.status == "retry" {
                Status::Retry
            } else {
                Status::Failed
            },
            message: self.message.clone(),
            settled_ms: 0,
            attempts: 1,
            staff_note: None,
        }
    }
}

/// A backend fed from a fixture: the demo's menu and the tests. Actions are recorded.
pub struct FixtureBackend {
    pub fixture: std::cell::RefCell<Fixture>,
    /// Actions taken (`restart`, `leave-kiosk`, `retry-quarantined`, `test:NAME`,
    /// `replay-retry:SEQ`, `replay-dismiss:SEQ:REASON`).
    pub actions: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// How long a test takes (tests set it to 0).
    pub test_delay: Duration,
}

impl FixtureBackend {
    pub fn new(fixture: Fixture) -> Self {
        FixtureBackend {
            fixture: std::cell::RefCell::new(fixture),
            actions: Default::default(),
            test_delay: Duration::from_millis(600),
        }
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let fixture: Fixture =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self::new(fixture))
    }

    /// The demo status shipped in `fixtures/maintenance/demo.toml`.
    pub fn demo() -> Self {
        let fixture: Fixture =
            toml::from_str(include_str!("../../../fixtures/maintenance/demo.toml"))
                .expect("the demo maintenance fixture parses");
        Self::new(fixture)
    }

    /// The demo status of the devices `profile` names (its transports), nothing else.
    pub fn demo_for(profile: &kiosk_devices::profile::Profile) -> Self {
        let b = Self::demo();
        {
            let mut f = b.fixture.borrow_mut();
            f.devices.retain(|d| profile.devices.contains_key(&d.name));
            for d in &mut f.devices {
                d.transport = profile.devices[&d.name].transport.clone();
            }
            f.errors.retain(|e| {
                profile.devices.contains_key(&e.source) || test_action(&e.source).is_none()
            });
            // Only a library terminal replays offline transactions.
            if profile.kind != kiosk_devices::TerminalKind::LibrarySelfcheck {
                f.replay = None;
            }
        }
        b
    }

    fn record(&self, action: String) {
        self.actions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(action);
    }
}

impl MaintenanceBackend for FixtureBackend {
    fn devices(&self) -> Vec<DeviceStatus> {
        self.fixture.borrow().devices.clone()
    }
    fn queue(&self) -> Option<QueueStatus> {
        self.fixture.borrow().queue.clone()
    }
    fn back_office(&self) -> BackOfficeStatus {
        self.fixture.borrow().backoffice.clone()
    }
    fn recent_errors(&self) -> Vec<RecentError> {
        self.fixture.borrow().errors.clone()
    }
    fn test(&self, device: &str) -> Option<Job<TestOutcome>> {
        let outcome = self.fixture.borrow().tests.get(device).cloned()?;
        let actions = self.actions.clone();
        let delay = self.test_delay;
        let name = device.to_string();
        Some(Box::new(move || {
            std::thread::sleep(delay);
            actions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("test:{name}"));
            outcome
        }))
    }
    fn retry_quarantined(&self) -> Job<Result<u64, String>> {
        let n = {
            let mut f = self.fixture.borrow_mut();
            f.queue.as_mut().map_or(0, |q| {
                let n = q.quarantined;
                q.backlog += n;
                q.quarantined = 0;
                n
            })
        };
        self.record("retry-quarantined".into());
        Box::new(move || Ok(n))
    }
    fn has_replay(&self) -> bool {
        self.fixture.borrow().replay.is_some()
    }
    fn replay_failures(&self) -> Result<Vec<ReplayFailure>, String> {
        Ok(self
            .fixture
            .borrow()
            .replay
            .iter()
            .flat_map(|r| &r.failures)
            .map(|row| ReplayFailure::from_settled(&row.settled()))
            .collect())
    }
    fn retry_replay(&self, seq: u64) -> Job<Result<(), String>> {
        let result = {
            let mut f = self.fixture.borrow_mut();
            match f
                .replay
                .as_mut()
                .and_then(|r| r.failures.iter_mut().find(|row| row.seq == seq))
            {
                Some(row) => {
                    row.status = "retry".into();
                    Ok(())
                }
                None => Err(format!("seq {seq} is not among the refused transactions")),
            }
        };
        self.record(format!("replay-retry:{seq}"));
        Box::new(move || result)
    }
    fn dismiss_replay(&self, seq: u64, reason: DismissReason) -> Job<Result<(), String>> {
        let result = {
            let mut f = self.fixture.borrow_mut();
            let rows = f.replay.as_mut().map(|r| &mut r.failures);
            match rows.and_then(|rows| {
                let at = rows.iter().position(|row| row.seq == seq)?;
                Some(rows.remove(at))
            }) {
                Some(_) => Ok(()),
                None => Err(format!("seq {seq} is not among the refused transactions")),
            }
        };
        self.record(format!("replay-dismiss:{seq}:{}", reason.as_str()));
        Box::new(move || result)
    }
    fn restart(&self) {
        self.record("restart".into());
    }
    fn leave_kiosk(&self) {
        self.record("leave-kiosk".into());
    }
}

/// A device test run by [`SupervisorBackend`] on a worker thread.
pub type DeviceTest = std::sync::Arc<dyn Fn() -> TestOutcome + Send + Sync>;

struct SupervisorState {
    last_events: std::collections::BTreeMap<String, (&'static str, Instant)>,
    errors: VecDeque<(Instant, RecentError)>,
}

/// The app's backend: the devices of the profile as the [`Supervisor`] reports them (with its
/// live events), the tests registered for them, and the back office named in the profile.
/// A device of the profile the supervisor does not (yet) hold shows as offline, "not opened".
///
/// [`Supervisor`]: kiosk_devices::supervisor::Supervisor
pub struct SupervisorBackend {
    supervisor: std::sync::Arc<kiosk_devices::supervisor::Supervisor>,
    profile_devices: Vec<(String, String)>,
    events: std::sync::mpsc::Receiver<kiosk_devices::supervisor::DeviceEvent>,
    state: std::cell::RefCell<SupervisorState>,
    tests: std::collections::BTreeMap<String, DeviceTest>,
    backoffice_url: String,
    queue: Option<std::sync::Arc<kiosk_queue::Queue>>,
    queue_cache: std::cell::RefCell<Option<(Instant, Option<QueueStatus>)>>,
    reachability: Option<Probe>,
    simulators: Option<Simulators>,
    replay: Option<std::sync::Arc<std::sync::Mutex<crate::library::ReplayReport>>>,
    replay_store: Option<std::path::PathBuf>,
    replay_cache: ReplayCache,
}

/// The refused transactions last read, and when; a staff action's job clears it, so the menu
/// reads afresh once the action is done.
type ReplayCache =
    std::sync::Arc<std::sync::Mutex<Option<(Instant, Result<Vec<ReplayFailure>, String>)>>>;

/// The demo's simulator actions (`crate::devices::DemoControls`), shown as rows of class
/// `simulator` whose test button runs the action.
struct Simulators {
    actions: Vec<&'static str>,
    run: SimulatorRunner,
}

/// Runs one simulator action; the text is a technician's line.
pub type SimulatorRunner = std::sync::Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// Last result of the back-office probe: (reachable, when).
type ProbeResult = std::sync::Arc<std::sync::Mutex<Option<(bool, Instant)>>>;

/// A thread that opens a TCP connection to the back office every `every` (no request is sent),
/// so the menu can say whether the network path is there. Stops when dropped.
struct Probe {
    result: ProbeResult,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `HOST:PORT` of an `http://` or `https://` URL (default ports 80 and 443).
pub fn url_host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), default)),
    }
}

impl Probe {
    fn start(host: String, port: u16, every: Duration) -> Option<Probe> {
        use std::net::ToSocketAddrs;
        let result: ProbeResult = Default::default();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r, s) = (result.clone(), stop.clone());
        std::thread::Builder::new()
            .name("backoffice-probe".into())
            .spawn(move || {
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    let ok = (host.as_str(), port)
                        .to_socket_addrs()
                        .ok()
                        .and_then(|mut addrs| addrs.next())
                        .is_some_and(|addr| {
                            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                                .is_ok()
                        });
                    let was = r
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .replace((ok, Instant::now()));
                    if was.map(|(w, _)| w) != Some(ok) {
                        tracing::info!(target: "kiosk::maintenance", reachable = ok, %host, port, "back office");
                    }
                    let until = Instant::now() + every;
                    while Instant::now() < until && !s.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })
            .ok()?;
        Some(Probe { result, stop })
    }
}

/// How long the queue's figures are reused: the menu refreshes four times a second, the
/// database need not answer that often.
const QUEUE_REFRESH: Duration = Duration::from_secs(2);

/// Recent errors kept by [`SupervisorBackend`].
const ERRORS_KEPT: usize = 20;

impl SupervisorBackend {
    pub fn new(
        supervisor: std::sync::Arc<kiosk_devices::supervisor::Supervisor>,
        profile: &kiosk_devices::profile::Profile,
    ) -> Self {
        let events = supervisor.subscribe();
        SupervisorBackend {
            supervisor,
            profile_devices: profile
                .devices
                .iter()
                .map(|(name, d)| (name.clone(), d.transport.clone()))
                .collect(),
            events,
            state: std::cell::RefCell::new(SupervisorState {
                last_events: Default::default(),
                errors: VecDeque::new(),
            }),
            tests: Default::default(),
            backoffice_url: profile.backoffice.records_url.clone().unwrap_or_default(),
            queue: None,
            queue_cache: std::cell::RefCell::new(None),
            reachability: None,
            simulators: None,
            replay: None,
            replay_store: None,
            replay_cache: Default::default(),
        }
    }

    /// Lists the offline transactions the library system refused, from the replay progress at
    /// `path` (`ReplayStore::beside(queue.db)`), and lets the menu retry or dismiss them.
    pub fn with_replay_store(mut self, path: std::path::PathBuf) -> Self {
        self.replay_store = Some(path);
        self
    }

    /// A staff action on the replay progress, for a worker thread: opens the store, takes the
    /// round lock the replayer holds while it sends and settles records (so the action never
    /// races a round; a round that is running makes it fail at once, to be tried again), then
    /// clears the cache of the list.
    fn replay_action(
        &self,
        action: impl FnOnce(
            &mut kiosk_flows::replay::ReplayStore,
        ) -> Result<(), kiosk_flows::replay::ReplayError>
        + Send
        + 'static,
    ) -> Job<Result<(), String>> {
        use kiosk_flows::replay::{ReplayError, ReplayStore};
        let Some(path) = self.replay_store.clone() else {
            return Box::new(|| Err("this terminal does not replay offline transactions".into()));
        };
        let cache = self.replay_cache.clone();
        Box::new(move || {
            let result = ReplayStore::open(&path).and_then(|mut store| {
                let _round = store.lock_round().map_err(|e| match e {
                    ReplayError::Busy(_) => ReplayError::Invalid(
                        "the offline transactions are being replayed right now; try again in a \
                         moment"
                            .into(),
                    ),
                    e => e,
                })?;
                action(&mut store)
            });
            cache.lock().unwrap_or_else(|p| p.into_inner()).take();
            result.map_err(|e| e.to_string())
        })
    }

    /// Lists offline transactions the library system refused on replay (kept for staff) and
    /// a replay that could not finish among the recent errors.
    pub fn with_replay_report(
        mut self,
        report: std::sync::Arc<std::sync::Mutex<crate::library::ReplayReport>>,
    ) -> Self {
        self.replay = Some(report);
        self
    }

    /// Offers the demo's simulator actions (`place-card`, `put-books`, `paper-out`…) as rows
    /// whose button runs them.
    pub fn with_simulators(mut self, actions: Vec<&'static str>, run: SimulatorRunner) -> Self {
        self.simulators = Some(Simulators { actions, run });
        self
    }

    /// Probes the back office's records URL (a TCP connect) every `every`; without it the
    /// menu says "not checked yet".
    pub fn probing_back_office(mut self, every: Duration) -> Self {
        self.reachability = url_host_port(&self.backoffice_url)
            .and_then(|(host, port)| Probe::start(host, port, every));
        self
    }

    /// Shows the offline queue's backlog and quarantine, and lets the menu retry it.
    pub fn with_queue(mut self, queue: std::sync::Arc<kiosk_queue::Queue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Registers the test of device `name` (e.g. a closure over its `Supervised` handle).
    pub fn with_test(mut self, name: &str, test: DeviceTest) -> Self {
        self.tests.insert(name.to_string(), test);
        self
    }

    fn drain_events(&self) {
        use kiosk_devices::supervisor::DeviceEvent;
        let now = Instant::now();
        let mut st = self.state.borrow_mut();
        while let Ok(event) = self.events.try_recv() {
            let (name, kind, fault) = match event {
                DeviceEvent::Opened { name, reopen, .. } => {
                    (name, if reopen { "reopened" } else { "opened" }, None)
                }
                DeviceEvent::Lost { name, fault } => (name, "lost", Some(fault)),
                DeviceEvent::Error { name, fault } => (name, "error", Some(fault)),
            };
            if let Some(fault) = fault {
                st.errors.push_front((
                    now,
                    RecentError {
                        age_secs: 0,
                        source: name.clone(),
                        kind: fault.kind.as_str().into(),
                        message: fault.message,
                    },
                ));
                st.errors.truncate(ERRORS_KEPT);
            }
            st.last_events.insert(name, (kind, now));
        }
    }
}

impl MaintenanceBackend for SupervisorBackend {
    fn devices(&self) -> Vec<DeviceStatus> {
        self.drain_events();
        let health = self.supervisor.health();
        let st = self.state.borrow();
        self.profile_devices
            .iter()
            .map(|(name, transport)| {
                let last = st
                    .last_events
                    .get(name)
                    .map(|(kind, at)| (*kind, at.elapsed().as_secs()));
                match health.iter().find(|h| &h.name == name) {
                    Some(h) => DeviceStatus::from_health(h, last),
                    None => DeviceStatus {
                        error_kind: Some("not-found".into()),
                        error: Some("not opened by the app".into()),
                        ..DeviceStatus::without_history(name, name, transport, "offline")
                    },
                }
            })
            .chain(self.simulators.iter().flat_map(|sims| {
                sims.actions
                    .iter()
                    .map(|action| DeviceStatus::without_history(action, "simulator", "sim:", "ok"))
            }))
            .collect()
    }
    fn queue(&self) -> Option<QueueStatus> {
        let queue = self.queue.as_ref()?;
        if let Some((at, status)) = self.queue_cache.borrow().as_ref()
            && at.elapsed() < QUEUE_REFRESH
        {
            return status.clone();
        }
        let status = match queue.stats() {
            Ok(s) => Some(QueueStatus {
                backlog: s.pending,
                oldest_age_secs: s.oldest_pending_age_secs,
                quarantined: s.quarantined,
            }),
            Err(e) => {
                tracing::error!(target: "kiosk::maintenance", "queue stats: {e}");
                None
            }
        };
        *self.queue_cache.borrow_mut() = Some((Instant::now(), status.clone()));
        status
    }
    fn back_office(&self) -> BackOfficeStatus {
        let last = self
            .reachability
            .as_ref()
            .and_then(|p| *p.result.lock().unwrap_or_else(|e| e.into_inner()));
        BackOfficeStatus {
            url: self.backoffice_url.clone(),
            reachable: last.map(|(ok, _)| ok),
            last_contact_age_secs: last.map(|(_, at)| at.elapsed().as_secs()),
        }
    }
    fn recent_errors(&self) -> Vec<RecentError> {
        self.drain_events();
        let mut errors: Vec<RecentError> = Vec::new();
        if let Some(report) = &self.replay {
            let r = report.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // With the replay progress at hand the menu lists them itself, and the count is
            // what is still waiting for staff (not what was refused since the app started).
            let (refused, where_) = match (&self.replay_store, self.replay_failures()) {
                (Some(_), Ok(rows)) => (rows.len() as u64, "listed in this menu"),
                _ => (r.failed_for_staff, "kioskctl library failures"),
            };
            if refused > 0 {
                errors.push(RecentError {
                    age_secs: 0,
                    source: "library".into(),
                    kind: "refused".into(),
                    message: format!(
                        "{refused} offline transactions refused by the library system, kept for staff ({where_})"
                    ),
                });
            }
            if let Some(problem) = r.last_problem {
                errors.push(RecentError {
                    age_secs: 0,
                    source: "library".into(),
                    kind: "offline".into(),
                    message: format!("offline transactions not replayed yet: {problem}"),
                });
            }
        }
        errors.extend(
            self.state
                .borrow()
                .errors
                .iter()
                .map(|(at, e)| RecentError {
                    age_secs: at.elapsed().as_secs(),
                    ..e.clone()
                }),
        );
        errors
    }
    fn test(&self, device: &str) -> Option<Job<TestOutcome>> {
        if let Some(sims) = &self.simulators
            && sims.actions.contains(&device)
        {
            let (run, action) = (sims.run.clone(), device.to_string());
            tracing::info!(target: "kiosk::maintenance", action, "simulator action");
            return Some(Box::new(move || match run(&action) {
                Ok(detail) => TestOutcome {
                    ok: true,
                    kind: None,
                    detail,
                },
                Err(detail) => TestOutcome {
                    ok: false,
                    kind: Some("unsupported".into()),
                    detail,
                },
            }));
        }
        let test = self.tests.get(device)?.clone();
        Some(Box::new(move || test()))
    }
    fn retry_quarantined(&self) -> Job<Result<u64, String>> {
        // The next look at the queue reads fresh figures.
        self.queue_cache.borrow_mut().take();
        match self.queue.clone() {
            Some(queue) => Box::new(move || {
                queue
                    .retry_quarantined()
                    .map(|n| n as u64)
                    .map_err(|e| e.to_string())
            }),
            None => Box::new(|| Err("this terminal has no offline queue open".into())),
        }
    }
    fn has_replay(&self) -> bool {
        self.replay_store.is_some()
    }
    fn replay_failures(&self) -> Result<Vec<ReplayFailure>, String> {
        let Some(path) = &self.replay_store else {
            return Ok(Vec::new());
        };
        let mut cache = self.replay_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, rows)) = cache.as_ref()
            && at.elapsed() < QUEUE_REFRESH
        {
            return rows.clone();
        }
        // A read of a WAL database: it does not wait for the replayer's writes.
        let rows = read_replay_failures(path);
        if let Err(e) = &rows {
            tracing::error!(target: "kiosk::maintenance", "replay progress: {e}");
        }
        *cache = Some((Instant::now(), rows.clone()));
        rows
    }
    fn retry_replay(&self, seq: u64) -> Job<Result<(), String>> {
        self.replay_action(move |store| store.retry(seq))
    }
    fn dismiss_replay(&self, seq: u64, reason: DismissReason) -> Job<Result<(), String>> {
        self.replay_action(move |store| store.dismiss(seq, reason.note()))
    }
    fn restart(&self) {}
    fn leave_kiosk(&self) {}
}

/// The refused transactions in the replay progress at `path`; none while nothing was replayed
/// yet (the file is not created for a look).
fn read_replay_failures(path: &Path) -> Result<Vec<ReplayFailure>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let store = kiosk_flows::replay::ReplayStore::open(path).map_err(|e| e.to_string())?;
    let rows = store.failures().map_err(|e| e.to_string())?;
    Ok(rows.iter().map(ReplayFailure::from_settled).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn fast_settings(pin: &str) -> MaintenanceSettings {
        MaintenanceSettings {
            pin_hash: hash_pin(pin, b"0123456789abcdef", 1000),
            max_attempts: 3,
            lockout_secs: 30,
            lockout_max_secs: 100,
        }
    }

    #[test]
    fn pbkdf2_matches_python_hashlib() {
        // hashlib.pbkdf2_hmac('sha256', b'1234', bytes.fromhex('00112233445566778899aabbccddeeff'), 1000)
        let salt: Vec<u8> = (0..16u8).map(|i| i * 0x11).collect();
        assert_eq!(
            hash_pin("1234", &salt, 1000),
            "pbkdf2-sha256$1000$00112233445566778899aabbccddeeff$\
             b8ad0f1dacec0beb4f418fadcb2ee5939ef45823391bb89692028dd1b67e9cef"
        );
        let demo = PinHash::new(&demo_settings()).unwrap();
        assert!(demo.verify(DEMO_PIN));
        assert!(!demo.verify("2581") && !demo.verify("") && !demo.verify("25800"));
        assert_eq!(format!("{demo:?}"), "PinHash(<hidden>)");
    }

    #[test]
    fn five_taps_within_three_seconds() {
        let t0 = Instant::now();
        let mut g = CornerTaps::default();
        for i in 0..4 {
            assert!(!g.tap(t0 + Duration::from_millis(i * 500)));
        }
        assert!(g.tap(t0 + Duration::from_millis(2900)));
        // Slow taps never add up.
        let t1 = t0 + secs(10);
        for i in 0..10 {
            assert!(!g.tap(t1 + Duration::from_millis(i * 800)));
        }
    }

    #[test]
    fn lockout_after_wrong_pins_doubles_and_ends() {
        let t0 = Instant::now();
        let mut gate = PinGate::new(&fast_settings("4711")).unwrap();
        assert_eq!(
            gate.submit("0000", t0),
            PinVerdict::Wrong { attempts_left: 2 }
        );
        assert_eq!(
            gate.submit("1111", t0),
            PinVerdict::Wrong { attempts_left: 1 }
        );
        assert_eq!(
            gate.submit("2222", t0),
            PinVerdict::LockedOut { duration: secs(30) }
        );
        // Even the right PIN is refused while locked.
        assert_eq!(
            gate.submit("4711", t0 + secs(29)),
            PinVerdict::StillLocked { remaining: secs(1) }
        );
        assert_eq!(gate.locked_remaining(t0 + secs(30)), None);
        // The next run of wrong PINs locks twice as long, then hits the cap.
        for _ in 0..2 {
            gate.submit("9", t0 + secs(30));
        }
        assert_eq!(
            gate.submit("9", t0 + secs(30)),
            PinVerdict::LockedOut { duration: secs(60) }
        );
        for _ in 0..2 {
            gate.submit("9", t0 + secs(90));
        }
        assert_eq!(
            gate.submit("9", t0 + secs(90)),
            PinVerdict::LockedOut {
                duration: secs(100)
            }
        );
        assert_eq!(gate.submit("4711", t0 + secs(190)), PinVerdict::Correct);
        // A right PIN resets everything.
        for _ in 0..2 {
            gate.submit("9", t0 + secs(200));
        }
        assert_eq!(
            gate.submit("9", t0 + secs(200)),
            PinVerdict::LockedOut { duration: secs(30) }
        );
    }

    fn open_pad(m: &mut Maintenance, now: Instant) {
        for _ in 0..GESTURE_TAPS - 1 {
            assert_eq!(m.corner_tap(now), Event::Unchanged);
        }
        assert_eq!(m.corner_tap(now), Event::PinPadShown);
        assert_eq!(m.screen(), Screen::Pin);
    }

    /// Types and submits `pin`, running the check (the UI's worker thread) synchronously.
    fn type_pin(m: &mut Maintenance, pin: &str, now: Instant) -> Event {
        for c in pin.chars() {
            m.digit(c, now);
        }
        match m.submit(now) {
            Event::Checking => {
                let check = m.take_check().expect("a check to run");
                m.check_done(check.id, check.run(), now)
            }
            other => other,
        }
    }

    #[test]
    fn pad_ignores_keys_while_checking_and_a_late_answer_opens_nothing() {
        let t0 = Instant::now();
        let settings = fast_settings("4711");
        let mut m = Maintenance::new(Some(&settings), t0).unwrap();
        open_pad(&mut m, t0);
        for c in "4711".chars() {
            m.digit(c, t0);
        }
        assert_eq!(m.submit(t0), Event::Checking);
        assert!(m.checking());
        assert_eq!(m.message(), PinMessage::Checking);
        assert_eq!(m.entered(), 0, "the entry went to the check");
        // Keys are ignored until the answer.
        m.digit('1', t0);
        m.backspace(t0);
        assert_eq!(m.submit(t0), Event::Unchanged);
        assert_eq!(m.entered(), 0);
        let check = m.take_check().unwrap();
        assert!(m.take_check().is_none(), "handed out once");
        assert!(format!("{check:?}").contains("hidden"));
        let matched = std::thread::spawn(move || (check.id, check.run()))
            .join()
            .unwrap();
        assert_eq!(m.check_done(matched.0, matched.1, t0), Event::MenuOpened);
        assert!(!m.checking());
        assert_eq!(m.screen(), Screen::Menu);

        // Cancelled while checking: a right PIN opens nothing, a wrong one still counts.
        m.close(t0);
        open_pad(&mut m, t0);
        for c in "4711".chars() {
            m.digit(c, t0);
        }
        assert_eq!(m.submit(t0), Event::Checking);
        let check = m.take_check().unwrap();
        assert_eq!(m.close(t0), Event::Closed);
        assert_eq!(m.check_done(check.id, check.run(), t0), Event::Unchanged);
        assert_eq!(m.screen(), Screen::Closed);
        open_pad(&mut m, t0);
        for c in "0000".chars() {
            m.digit(c, t0);
        }
        assert_eq!(m.submit(t0), Event::Checking);
        let check = m.take_check().unwrap();
        m.close(t0);
        assert_eq!(m.check_done(check.id, check.run(), t0), Event::Unchanged);
        open_pad(&mut m, t0);
        assert_eq!(
            type_pin(&mut m, "0000", t0),
            Event::WrongPin,
            "the cancelled wrong PIN counted"
        );
        assert_eq!(m.gate.as_ref().unwrap().failures(), 2);
    }

    #[test]
    fn gesture_pin_menu_and_close() {
        let t0 = Instant::now();
        let settings = fast_settings("4711");
        let mut m = Maintenance::new(Some(&settings), t0).unwrap();
        open_pad(&mut m, t0);
        // Too short a PIN is not submitted (and costs no attempt).
        assert_eq!(type_pin(&mut m, "47", t0), Event::Unchanged);
        assert_eq!(m.entered(), 2);
        m.backspace(t0);
        m.backspace(t0);
        assert_eq!(m.entered(), 0);
        assert_eq!(type_pin(&mut m, "1234", t0), Event::WrongPin);
        assert_eq!(m.message(), PinMessage::Wrong { attempts_left: 2 });
        assert_eq!(m.entered(), 0, "the entry is cleared after each try");
        assert_eq!(type_pin(&mut m, "4711", t0), Event::MenuOpened);
        assert_eq!(m.screen(), Screen::Menu);
        // Taps on the corner do nothing while open.
        assert_eq!(m.corner_tap(t0), Event::Unchanged);
        assert_eq!(m.close(t0), Event::Closed);
        assert_eq!(m.screen(), Screen::Closed);
    }

    #[test]
    fn locked_pad_shows_the_countdown_then_accepts_again() {
        let t0 = Instant::now();
        let settings = MaintenanceSettings {
            lockout_secs: 60,
            ..fast_settings("4711")
        };
        let mut m = Maintenance::new(Some(&settings), t0).unwrap();
        open_pad(&mut m, t0);
        type_pin(&mut m, "0000", t0);
        type_pin(&mut m, "0000", t0);
        assert_eq!(type_pin(&mut m, "0000", t0), Event::LockedOut);
        assert_eq!(m.message(), PinMessage::Locked);
        assert_eq!(m.lockout_secs(t0 + Duration::from_millis(100)), 60);
        // Keys are ignored while locked; the right PIN does not open.
        assert_eq!(type_pin(&mut m, "4711", t0 + secs(10)), Event::Unchanged);
        assert_eq!(m.entered(), 0);
        assert_eq!(m.screen(), Screen::Pin);
        // The pad stays up past its idle time while the lockout runs, and for another idle
        // period after it ended, then closes.
        assert_eq!(m.tick(t0 + secs(45)), Event::Unchanged);
        assert_eq!(m.screen(), Screen::Pin);
        assert_eq!(m.tick(t0 + secs(60)), Event::Unchanged);
        assert_eq!(m.message(), PinMessage::Prompt);
        assert_eq!(m.tick(t0 + secs(89)), Event::Unchanged);
        assert_eq!(m.tick(t0 + secs(90)), Event::Closed);
        open_pad(&mut m, t0 + secs(91));
        assert_eq!(type_pin(&mut m, "4711", t0 + secs(91)), Event::MenuOpened);

        // Closing and reopening the pad does not clear a lockout.
        let mut m = Maintenance::new(Some(&settings), t0).unwrap();
        open_pad(&mut m, t0);
        for _ in 0..3 {
            type_pin(&mut m, "0000", t0);
        }
        m.close(t0);
        open_pad(&mut m, t0 + secs(5));
        assert_eq!(m.message(), PinMessage::Locked);
        assert_eq!(m.tick(t0 + secs(20)), Event::Unchanged);
        assert_eq!(m.message(), PinMessage::Locked);
        assert_eq!(type_pin(&mut m, "4711", t0 + secs(21)), Event::Unchanged);
    }

    #[test]
    fn abandoned_pad_and_menu_close_themselves() {
        let t0 = Instant::now();
        let settings = fast_settings("4711");
        let mut m = Maintenance::new(Some(&settings), t0).unwrap();
        open_pad(&mut m, t0);
        m.digit('4', t0 + secs(20));
        assert_eq!(m.tick(t0 + secs(49)), Event::Unchanged);
        assert_eq!(m.tick(t0 + secs(50)), Event::Closed);
        assert_eq!(m.entered(), 0);
        open_pad(&mut m, t0 + secs(60));
        type_pin(&mut m, "4711", t0 + secs(60));
        m.activity(t0 + secs(200));
        assert_eq!(m.tick(t0 + secs(499)), Event::Unchanged);
        assert_eq!(m.tick(t0 + secs(500)), Event::Closed);
    }

    #[test]
    fn without_a_pin_the_menu_is_disabled() {
        let t0 = Instant::now();
        let mut m = Maintenance::new(None, t0).unwrap();
        for _ in 0..GESTURE_TAPS - 1 {
            m.corner_tap(t0);
        }
        assert_eq!(m.corner_tap(t0), Event::Disabled);
        assert_eq!(m.screen(), Screen::Closed);
    }

    struct FakeDevice;

    impl kiosk_devices::Device for FakeDevice {
        fn info(&self) -> kiosk_devices::DeviceInfo {
            kiosk_devices::DeviceInfo {
                class: kiosk_devices::DeviceClass::ReceiptPrinter,
                model: "fake".into(),
                firmware: None,
                transport: "sim:".into(),
            }
        }
        fn probe(&mut self) -> Result<(), kiosk_devices::DeviceFault> {
            Ok(())
        }
    }

    fn library_profile() -> kiosk_devices::profile::Profile {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/profiles");
        kiosk_devices::profile::Profile::find("library-selfcheck", &[dir]).unwrap()
    }

    #[test]
    fn supervisor_backend_shows_health_events_and_tests() {
        use kiosk_devices::health::{DeviceClass, DeviceFault, ErrorKind};
        let sup = std::sync::Arc::new(kiosk_devices::supervisor::Supervisor::new());
        let backend = SupervisorBackend::new(sup.clone(), &library_profile()).with_test(
            "printer",
            std::sync::Arc::new(|| TestOutcome {
                ok: true,
                kind: None,
                detail: "test page printed".into(),
            }),
        );
        let printer: kiosk_devices::Supervised<FakeDevice> = sup.add(
            "printer",
            DeviceClass::ReceiptPrinter,
            "usb:auto",
            Box::new(|| Ok(Box::new(FakeDevice))),
        );
        let _ = printer
            .with(|_| Err::<(), _>(DeviceFault::new(ErrorKind::PaperOut, "paper roll empty")));
        let rows = backend.devices();
        let names: Vec<_> = rows.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["idcard", "printer", "rfid", "scanner"]);
        let p = &rows[1];
        assert_eq!((p.status.as_str(), p.class.as_str()), ("fault", "printer"));
        assert_eq!(p.error_kind.as_deref(), Some("paper-out"));
        assert_eq!(p.last_event.as_deref(), Some("error"));
        assert_eq!((p.operations, p.errors), (0, 1));
        // Not supervised (yet): shown, not hidden.
        assert_eq!(rows[0].status, "offline");
        assert_eq!(rows[0].error.as_deref(), Some("not opened by the app"));
        let errors = backend.recent_errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            (errors[0].source.as_str(), errors[0].kind.as_str()),
            ("printer", "paper-out")
        );
        assert_eq!(
            backend.test("printer").unwrap()().detail,
            "test page printed"
        );
        assert!(backend.test("rfid").is_none());
        assert!(backend.queue().is_none());
        assert!(backend.retry_quarantined()().is_err());
    }

    #[test]
    fn supervisor_backend_reads_and_retries_the_queue() {
        let dir = std::env::temp_dir().join(format!(
            "kiosk-maintenance-queue-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = kiosk_queue::QueueConfig::new(dir.join("queue.db"));
        cfg.terminal = Some("T-MAINT".into());
        let queue = std::sync::Arc::new(kiosk_queue::Queue::open(cfg).unwrap());
        let seqs: Vec<u64> = (0..3)
            .map(|n| {
                queue
                    .enqueue("loan.checkout", &serde_json::json!({ "n": n }))
                    .unwrap()
                    .seq
            })
            .collect();
        queue.quarantine(seqs[0], "schema").unwrap();
        let sup = std::sync::Arc::new(kiosk_devices::supervisor::Supervisor::new());
        let backend = SupervisorBackend::new(sup, &library_profile()).with_queue(queue.clone());
        let q = backend.queue().unwrap();
        assert_eq!((q.backlog, q.quarantined), (2, 1));
        assert!(q.oldest_age_secs.is_some());
        assert_eq!(backend.retry_quarantined()(), Ok(1));
        let q = backend.queue().unwrap();
        assert_eq!(
            (q.backlog, q.quarantined),
            (3, 0),
            "fresh figures after a retry"
        );
        drop(backend);
        drop(queue);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn supervisor_backend_lists_retries_and_dismisses_refused_offline_transactions() {
        use kiosk_flows::OfflineKind;
        use kiosk_flows::replay::{OfflineTransaction, ReplayStore, Status};
        let dir = std::env::temp_dir().join(format!(
            "kiosk-maintenance-replay-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = ReplayStore::beside(&dir.join("queue.db"));
        let sup = std::sync::Arc::new(kiosk_devices::supervisor::Supervisor::new());
        let report = std::sync::Arc::new(std::sync::Mutex::new(crate::library::ReplayReport {
            failed_for_staff: 5,
            ..Default::default()
        }));
        assert!(!SupervisorBackend::new(sup.clone(), &library_profile()).has_replay());
        let backend = SupervisorBackend::new(sup, &library_profile())
            .with_replay_report(report)
            .with_replay_store(path.clone());
        assert!(backend.has_replay());
        // Nothing replayed yet: none, and the look does not create the file.
        assert_eq!(backend.replay_failures(), Ok(vec![]));
        assert!(!path.exists());

        // The replayer's outcomes, written the way its round writes them.
        let tx = |seq, kind, item: &str, patron: Option<&str>| OfflineTransaction {
            seq,
            kind,
            item: item.into(),
            patron: patron.map(str::to_string),
            at: "20260110   Z093000".into(),
            due: None,
        };
        {
            let mut store = ReplayStore::open(&path).unwrap();
            store
                .settle(
                    &tx(2, OfflineKind::Checkout, "B001", Some("P001")),
                    Status::Done,
                    "ok",
                )
                .unwrap();
            store
                .settle(
                    &tx(3, OfflineKind::Checkout, "B404", Some("P001")),
                    Status::Failed,
                    "Item not found",
                )
                .unwrap();
            store
                .settle(
                    &tx(4, OfflineKind::Checkin, "B007", None),
                    Status::Failed,
                    "Item not checked out",
                )
                .unwrap();
        }
        // The empty list read above is reused for a moment; a fresh backend reads at once.
        let sup = std::sync::Arc::new(kiosk_devices::supervisor::Supervisor::new());
        let backend = SupervisorBackend::new(sup, &library_profile())
            .with_replay_report(std::sync::Arc::new(std::sync::Mutex::new(
                crate::library::ReplayReport {
                    failed_for_staff: 5,
                    ..Default::default()
                },
            )))
            .with_replay_store(path.clone());
        let rows = backend.replay_failures().unwrap();
        assert_eq!(
            rows,
            [
                ReplayFailure {
                    seq: 3,
                    kind: "checkout".into(),
                    item: "B404".into(),
                    patron: Some("P0**".into()),
                    reason: "Item not found".into(),
                    at: "2026-01-10 17:30".into(),
                    status: ReplayFailureStatus::Failed,
                },
                ReplayFailure {
                    seq: 4,
                    kind: "checkin".into(),
                    item: "B007".into(),
                    patron: None,
                    reason: "Item not checked out".into(),
                    at: "2026-01-10 17:30".into(),
                    status: ReplayFailureStatus::Failed,
                },
            ]
        );
        let refused: Vec<_> = backend
            .recent_errors()
            .into_iter()
            .filter(|e| e.kind == "refused")
            .collect();
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].message.starts_with("2 offline transactions"),
            "the count still waiting, not the report's: {}",
            refused[0].message
        );

        // While a replay round holds the lock, an action fails at once and changes nothing.
        let round = ReplayStore::open(&path).unwrap();
        let held = round.lock_round().unwrap();
        let started = Instant::now();
        let e = backend.dismiss_replay(4, DismissReason::SettledAtDesk)().unwrap_err();
        assert!(e.contains("being replayed"), "{e}");
        assert!(backend.retry_replay(3)().is_err());
        assert!(started.elapsed() < Duration::from_secs(2), "no waiting");
        assert_eq!(round.failures().unwrap().len(), 2);
        assert_eq!(round.get(3).unwrap().unwrap().status, Status::Failed);
        drop(held);

        // Retry: sent again on the next round, shown at once (the action cleared the cache).
        backend.retry_replay(3)().unwrap();
        assert_eq!(round.retries().unwrap(), [3]);
        let rows = backend.replay_failures().unwrap();
        assert_eq!(rows[0].status, ReplayFailureStatus::RetryPending);
        // Dismiss: settled with the reason's note, off the list.
        backend.dismiss_replay(4, DismissReason::SettledAtDesk)().unwrap();
        let row = round.get(4).unwrap().unwrap();
        assert_eq!(row.status, Status::Dismissed);
        assert_eq!(
            row.staff_note.as_deref(),
            Some(DismissReason::SettledAtDesk.note())
        );
        let rows = backend.replay_failures().unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
        // What the store refuses comes back as the store says it.
        assert!(backend.dismiss_replay(2, DismissReason::NotNeeded)().is_err());
        assert!(backend.retry_replay(9)().is_err());
        assert_eq!(
            DismissReason::parse("not-needed"),
            Some(DismissReason::NotNeeded)
        );
        drop(round);
        drop(backend);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn back_office_url_and_probe() {
        assert_eq!(
            url_host_port("https://backoffice.example.invalid/v1/records"),
            Some(("backoffice.example.invalid".into(), 443))
        );
        assert_eq!(
            url_host_port("http://user@10.0.0.5:8080?x"),
            Some(("10.0.0.5".into(), 8080))
        );
        assert_eq!(url_host_port("http://[::1]:9/"), Some(("::1".into(), 9)));
        assert_eq!(url_host_port("embedded"), None);
        assert_eq!(url_host_port("ftp://x/"), None);

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut profile = library_profile();
        profile.backoffice.records_url = Some(format!("http://127.0.0.1:{port}/v1/records"));
        let sup = std::sync::Arc::new(kiosk_devices::supervisor::Supervisor::new());
        let backend = SupervisorBackend::new(sup.clone(), &profile)
            .probing_back_office(Duration::from_millis(50));
        let wait = |want: bool| {
            for _ in 0..200 {
                if backend.back_office().reachable == Some(want) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("back office never {want}");
        };
        wait(true);
        assert!(backend.back_office().last_contact_age_secs.is_some());
        drop(listener);
        wait(false);
        // Not probed: not checked yet.
        let quiet = SupervisorBackend::new(sup, &library_profile());
        assert_eq!(quiet.back_office().reachable, None);
    }

    #[test]
    fn demo_fixture_and_health_rows() {
        let b = FixtureBackend::demo();
        let devices = b.devices();
        assert!(devices.len() >= 3);
        for d in &devices {
            assert!(["ok", "busy", "fault", "offline"].contains(&d.status.as_str()));
        }
        assert!(b.queue().is_some());
        // Refused offline transactions: on a library terminal only, the patron masked.
        let lib = FixtureBackend::demo_for(&library_profile());
        assert!(lib.has_replay());
        let rows = lib.replay_failures().unwrap();
        assert!(rows.len() >= 2);
        assert!(
            rows.iter()
                .filter_map(|r| r.patron.as_deref())
                .all(|p| p.ends_with("**"))
        );
        lib.retry_replay(rows[0].seq)().unwrap();
        assert_eq!(
            lib.replay_failures().unwrap()[0].status,
            ReplayFailureStatus::RetryPending
        );
        lib.dismiss_replay(rows[1].seq, DismissReason::NotNeeded)().unwrap();
        assert_eq!(lib.replay_failures().unwrap().len(), rows.len() - 1);
        assert!(lib.dismiss_replay(rows[1].seq, DismissReason::NotNeeded)().is_err());
        let gov = kiosk_devices::profile::Profile::find(
            "gov-terminal",
            &[Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/profiles")],
        )
        .unwrap();
        assert!(!FixtureBackend::demo_for(&gov).has_replay());
        let h = Health {
            name: "printer".into(),
            class: kiosk_devices::health::DeviceClass::ReceiptPrinter,
            transport: "usb:auto".into(),
            state: DeviceState::Idle,
            availability: Availability::HwError,
            last_fault: Some(kiosk_devices::health::DeviceFault::new(
                kiosk_devices::health::ErrorKind::PaperOut,
                "paper out",
            )),
            last_change: std::time::SystemTime::now(),
            counters: Default::default(),
        };
        let row = DeviceStatus::from_health(&h, Some(("error", 12)));
        assert_eq!(row.last_event_age_secs, Some(12));
        assert_eq!(row.status, "fault");
        assert_eq!(row.error_kind.as_deref(), Some("paper-out"));
        assert_eq!(row.class, "printer");
        assert_eq!(test_action(&row.class), Some("test-print"));
    }
}
