//! The spoken mode: decides what the [`Speaker`] says, from what is on the screen.
//!
//! It reads the same accessible labels the UI tests use (devices.md §6.3; slint-rust.md §1.6:
//! the kiosk's backends have no screen-reader bridge, so it speaks for itself):
//! * on every page change, the page's title: the element with `accessible-id: "page-title"`
//!   (Slint 1.18 has no heading role), interrupting whatever was being said;
//! * the label of the button or switch just pressed (a switch with its new state), before the
//!   title of the page it leads to;
//! * live regions (`accessible-live-region`), such as the "still there?" countdown and emergency
//!   alerts: in full when they appear, assertive ones interrupting, then their changing
//!   description again at most every [`REPEAT_EVERY`] (a countdown is not read every second).
//!
//! It speaks only while elder mode is on, or always when the terminal is set up to talk; it
//! stops speaking when the session ends. It only ever says what is on the screen for the person
//! in front of it (the screen's labels, or translated fixed prompts), and it never logs the text.
//! UI strings arrive translated by Slint; the few prompts composed here come from the same
//! `.po` catalogue ([`crate::catalogue`], [`PROMPTS`]).
//!
//! [`Narrator`] is plain logic over a [`Screen`] snapshot and is tested without a window;
//! [`read_screen`] takes the snapshot from the live element tree.

use std::path::Path;
use std::time::{Duration, Instant};

use i_slint_backend_testing::{AccessibleLiveness, ElementRoot};
use kiosk_devices::speaker::{
    ELDER_RATE, NORMAL_RATE, Speaker, SpeakerError, SpeechOutput, Utterance,
};
use kiosk_devices::{Device, HasKind};

use crate::catalogue;
use crate::session::Language;

/// The `accessible-id` of each page's title element.
pub const PAGE_TITLE_ID: &str = "page-title";

/// A live region whose description keeps changing is read again at most this often.
pub const REPEAT_EVERY: Duration = Duration::from_secs(5);

/// msgids of the prompts composed here; every one needs an entry in every `.po` file
/// (`tests/translations.rs`).
pub const PROMPTS: &[&str] = &[
    // Labels of controls the narrator names when they are pressed.
    "Start",
    "I am still here",
    "Elder mode",
    // A switch and its new state.
    "{} on",
    "{} off",
];

/// What the narrator needs from the screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screen {
    /// The page title's accessible label.
    pub title: Option<String>,
    /// Live regions, in tree order.
    pub live: Vec<LiveRegion>,
}

/// An element with `accessible-live-region` polite or assertive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRegion {
    pub label: String,
    pub description: String,
    pub assertive: bool,
}

/// Takes the [`Screen`] snapshot from the visible elements of a window.
pub fn read_screen(root: &impl ElementRoot) -> Screen {
    let mut screen = Screen::default();
    for e in root.root_element().query_descendants().find_all() {
        if e.accessible_id().is_some_and(|id| id == PAGE_TITLE_ID) {
            if let Some(label) = e.accessible_label().filter(|l| !l.trim().is_empty()) {
                // The last one is the top-most page.
                screen.title = Some(label.to_string());
            }
            continue;
        }
        let assertive = match e.accessible_live_region() {
            Some(AccessibleLiveness::Assertive) => true,
            Some(AccessibleLiveness::Polite) => false,
            _ => continue,
        };
        let label = e.accessible_label().unwrap_or_default().to_string();
        let description = e.accessible_description().unwrap_or_default().to_string();
        if !label.trim().is_empty() || !description.trim().is_empty() {
            screen.live.push(LiveRegion {
                label,
                description,
                assertive,
            });
        }
    }
    screen
}

/// A control that was pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Press {
    /// A button: its label and the language it is in (a language button's label is its own
    /// language's name, said in that language).
    Button { label: String, language: Language },
    /// A switch: its label; it is said with its new state.
    Switch { label: String },
}

/// What the session looks like to the narrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub elder: bool,
    pub language: Language,
    /// A session is running.
    pub active: bool,
}

struct Region {
    label: String,
    description: String,
    said_at: Instant,
}

/// Decides what to say; owns the speaker.
pub struct Narrator {
    speaker: Box<dyn Speaker>,
    /// Speak outside elder mode too.
    always: bool,
    mode: Option<Mode>,
    /// The title said last, with its language: a new title, or the same in another language,
    /// is said again.
    said_title: Option<(String, Language)>,
    regions: Vec<Region>,
    pending: Option<Press>,
    /// The last speaker error kind logged, so a missing sound card is logged once, not per line.
    logged_error: Option<kiosk_devices::ErrorKind>,
}

impl Narrator {
    /// A narrator speaking in elder mode, or always when `always` (a terminal set up to talk).
    pub fn new(speaker: Box<dyn Speaker>, always: bool) -> Self {
        Narrator {
            speaker,
            always,
            mode: None,
            said_title: None,
            regions: Vec::new(),
            pending: None,
            logged_error: None,
        }
    }

    fn on(&self, mode: Mode) -> bool {
        self.always || mode.elder
    }

    /// Whether [`Narrator::observe`] needs a real [`Screen`] for `mode` (reading one walks the
    /// element tree: skipped while the voice is off).
    pub fn needs_screen(&self, mode: Mode) -> bool {
        self.on(mode)
    }

    /// The speaker (health in the maintenance menu, tests).
    pub fn speaker(&mut self) -> &mut dyn Speaker {
        self.speaker.as_mut()
    }

    /// Notes a pressed control; it is said at the next [`Narrator::observe`], before the page.
    pub fn pressed(&mut self, press: Press) {
        self.pending = Some(press);
    }

    /// Looks at the session and the screen after a change or a tick and says what is new.
    pub fn observe(&mut self, mode: Mode, screen: &Screen, now: Instant) {
        let before = self.mode.replace(mode);
        let was_on = before.is_some_and(|m| self.on(m));
        let on = self.on(mode);
        if before.is_some_and(|m| m.active) && !mode.active {
            // The session ended: nothing of it is said any more.
            self.call(|s| s.stop());
            self.forget();
        }
        if before.is_none_or(|m| m.elder != mode.elder) {
            let rate = if mode.elder { ELDER_RATE } else { NORMAL_RATE };
            self.call(|s| s.set_rate(rate));
        }
        let press = self.pending.take();
        let mut interrupted = false;
        // A switch that turns the voice off is still confirmed.
        if let Some(press) = press.filter(|_| on || was_on) {
            let (text, language) = match press {
                Press::Button { label, language } => (label, language),
                Press::Switch { label } => {
                    let msgid = if mode.elder { "{} on" } else { "{} off" };
                    (catalogue::tr1(mode.language, msgid, &label), mode.language)
                }
            };
            self.say(Utterance::interrupt(text, language.tag()));
            interrupted = true;
        }
        if !on {
            // Said again in full when the voice comes back.
            self.forget();
            return;
        }
        if let Some(title) = &screen.title
            && self.said_title.as_ref() != Some(&(title.clone(), mode.language))
        {
            self.said_title = Some((title.clone(), mode.language));
            let u = if interrupted {
                Utterance::queued(title.clone(), mode.language.tag())
            } else {
                Utterance::interrupt(title.clone(), mode.language.tag())
            };
            self.say(u);
            interrupted = true;
        }
        self.live_regions(&screen.live, mode.language, now, interrupted);
    }

    fn live_regions(
        &mut self,
        live: &[LiveRegion],
        language: Language,
        now: Instant,
        mut interrupted: bool,
    ) {
        self.regions
            .retain(|r| live.iter().any(|l| l.label == r.label));
        for l in live {
            let known = self.regions.iter().position(|r| r.label == l.label);
            let text = match known {
                None => {
                    self.regions.push(Region {
                        label: l.label.clone(),
                        description: l.description.clone(),
                        said_at: now,
                    });
                    join(&l.label, &l.description)
                }
                Some(i) => {
                    let r = &mut self.regions[i];
                    if r.description == l.description
                        || now.saturating_duration_since(r.said_at) < REPEAT_EVERY
                    {
                        continue;
                    }
                    r.description = l.description.clone();
                    r.said_at = now;
                    l.description.clone()
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            // An assertive region interrupts only what it follows from an older screen, not
            // the title or label said for this very change.
            let u = if l.assertive && !interrupted {
                interrupted = true;
                Utterance::interrupt(text, language.tag())
            } else {
                Utterance::queued(text, language.tag())
            };
            self.say(u);
        }
    }

    fn forget(&mut self) {
        self.said_title = None;
        self.regions.clear();
        self.pending = None;
    }

    fn say(&mut self, u: Utterance) {
        tracing::debug!(
            language = %u.language,
            chars = u.text.chars().count(),
            "speaking"
        );
        self.call(move |s| s.speak(u));
    }

    fn call(&mut self, f: impl FnOnce(&mut dyn Speaker) -> Result<(), SpeakerError>) {
        match f(self.speaker.as_mut()) {
            Ok(()) => self.logged_error = None,
            Err(SpeakerError::Unsupported(_)) => {}
            Err(e) => {
                if self.logged_error != Some(e.kind()) {
                    tracing::warn!(kind = %e.kind(), "spoken mode: {e}");
                    self.logged_error = Some(e.kind());
                }
            }
        }
    }
}

fn join(label: &str, description: &str) -> String {
    match (label.trim().is_empty(), description.trim().is_empty()) {
        (false, false) => format!("{label} {description}"),
        (false, true) => label.to_string(),
        _ => description.to_string(),
    }
}

/// The elder-mode switch pressed with the UI in `language`.
pub fn elder_switch(language: Language) -> Press {
    Press::Switch {
        label: catalogue::tr(language, "Elder mode").to_string(),
    }
}

/// A language button: its label is the language's own name (`ui/widgets.slint`), said in it.
pub fn language_button(language: Language) -> Press {
    Press::Button {
        label: match language {
            Language::ZhCn => "中文",
            Language::En => "English",
        }
        .to_string(),
        language,
    }
}

/// Gives `kiosk` the supervised speaker (espeak-ng, [`crate::devices::speech_options`]): the
/// spoken mode speaks in elder mode, or `always`. A missing engine or sound device is logged
/// and shown in the maintenance menu; the supervisor keeps trying to open it.
pub fn attach_speaker(
    kiosk: &crate::Kiosk,
    speaker: kiosk_devices::supervisor::Supervised<dyn Speaker>,
    always: bool,
) {
    let health = speaker.health();
    match &health.last_fault {
        None => {
            tracing::info!(output = %health.transport, always, "spoken mode: espeak-ng (in elder mode, or always)")
        }
        Some(fault) => {
            tracing::warn!(kind = %fault.kind, "spoken mode has no voice yet: {}; install espeak-ng (packaging/setup-debian.sh)", fault.message)
        }
    }
    if health.transport == SpeechOutput::SoundCard.transport() && !Path::new("/dev/snd").exists() {
        tracing::warn!(
            "spoken mode: no sound device (/dev/snd is missing), espeak-ng cannot play; \
             KIOSK_SPEECH_WAV_DIR=DIR renders to WAV files instead"
        );
    }
    kiosk.set_speaker(Box::new(SupervisedSpeaker(speaker)), always);
}

/// The supervisor's speaker as the narrator's [`Speaker`]: its faults reach the maintenance
/// menu, and a speaker that is not open says why instead of speaking.
pub struct SupervisedSpeaker(pub kiosk_devices::supervisor::Supervised<dyn Speaker>);

impl SupervisedSpeaker {
    fn run<T>(
        &self,
        op: impl FnOnce(&mut dyn Speaker) -> Result<T, SpeakerError>,
    ) -> Result<T, SpeakerError> {
        match self.0.try_with(|s| op(s)) {
            Ok(result) => result,
            Err(fault) => Err(SpeakerError::Unavailable {
                program: "espeak-ng".into(),
                reason: fault.message,
            }),
        }
    }
}

impl Device for SupervisedSpeaker {
    fn info(&self) -> kiosk_devices::DeviceInfo {
        let h = self.0.health();
        kiosk_devices::DeviceInfo {
            class: h.class,
            model: h.name,
            firmware: None,
            transport: h.transport,
        }
    }

    /// The supervisor probes the speaker itself.
    fn probe(&mut self) -> Result<(), kiosk_devices::health::DeviceFault> {
        Ok(())
    }
}

impl Speaker for SupervisedSpeaker {
    fn speak(&mut self, utterance: Utterance) -> Result<(), SpeakerError> {
        self.run(|s| s.speak(utterance))
    }

    fn stop(&mut self) -> Result<(), SpeakerError> {
        self.run(|s| s.stop())
    }

    fn is_speaking(&self) -> bool {
        self.run(|s| Ok(s.is_speaking())).unwrap_or(false)
    }

    fn set_volume(&mut self, percent: u8) -> Result<(), SpeakerError> {
        self.run(|s| s.set_volume(percent))
    }

    fn set_rate(&mut self, words_per_minute: u16) -> Result<(), SpeakerError> {
        self.run(|s| s.set_rate(words_per_minute))
    }
}

/// The label of a button pressed with the UI in `language`, from the catalogue.
pub fn button(language: Language, msgid: &str) -> Press {
    Press::Button {
        label: catalogue::tr(language, msgid).to_string(),
        language,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_devices::speaker::{Recorded, RecordingSpeaker};

    fn mode(elder: bool, language: Language, active: bool) -> Mode {
        Mode {
            elder,
            language,
            active,
        }
    }

    fn titled(title: &str) -> Screen {
        Screen {
            title: Some(title.into()),
            live: Vec::new(),
        }
    }

    fn said(r: &RecordingSpeaker) -> Vec<(String, String)> {
        r.take_said()
    }

    fn pair(text: &str, lang: &str) -> (String, String) {
        (text.to_string(), lang.to_string())
    }

    #[test]
    fn silent_outside_elder_mode_unless_always() {
        let r = RecordingSpeaker::new();
        let mut n = Narrator::new(Box::new(r.clone()), false);
        let t0 = Instant::now();
        n.observe(
            mode(false, Language::ZhCn, false),
            &titled("请轻触屏幕或刷卡开始"),
            t0,
        );
        n.pressed(button(Language::ZhCn, "Start"));
        n.observe(mode(false, Language::ZhCn, true), &titled("请选择服务"), t0);
        assert!(said(&r).is_empty());

        let r = RecordingSpeaker::new();
        let mut n = Narrator::new(Box::new(r.clone()), true);
        n.observe(
            mode(false, Language::ZhCn, false),
            &titled("请轻触屏幕或刷卡开始"),
            t0,
        );
        assert_eq!(said(&r), [pair("请轻触屏幕或刷卡开始", "zh-CN")]);
    }

    #[test]
    fn pressed_label_then_page_title_then_language_switch() {
        let r = RecordingSpeaker::new();
        let mut n = Narrator::new(Box::new(r.clone()), false);
        let t0 = Instant::now();
        n.observe(
            mode(false, Language::ZhCn, false),
            &titled("请轻触屏幕或刷卡开始"),
            t0,
        );
        r.take();
        // Elder mode switched on: the switch's new state, the rate, then where we are.
        n.pressed(Press::Switch {
            label: "长辈模式".into(),
        });
        n.observe(
            mode(true, Language::ZhCn, false),
            &titled("请轻触屏幕或刷卡开始"),
            t0,
        );
        let rec = r.take();
        assert_eq!(rec[0], Recorded::Rate(ELDER_RATE));
        assert_eq!(
            rec[1..],
            [
                Recorded::Said(Utterance::interrupt("长辈模式已开启", "zh-CN")),
                Recorded::Said(Utterance::queued("请轻触屏幕或刷卡开始", "zh-CN")),
            ]
        );
        n.pressed(button(Language::ZhCn, "Start"));
        n.observe(mode(true, Language::ZhCn, true), &titled("请选择服务"), t0);
        assert_eq!(
            r.take(),
            [
                Recorded::Said(Utterance::interrupt("开始", "zh-CN")),
                Recorded::Said(Utterance::queued("请选择服务", "zh-CN")),
            ]
        );
        // Same screen again: nothing new.
        n.observe(mode(true, Language::ZhCn, true), &titled("请选择服务"), t0);
        assert!(said(&r).is_empty());
        // The language button's own name in its language, then the title in the new language.
        n.pressed(Press::Button {
            label: "English".into(),
            language: Language::En,
        });
        n.observe(
            mode(true, Language::En, true),
            &titled("Choose a service"),
            t0,
        );
        assert_eq!(
            said(&r),
            [pair("English", "en"), pair("Choose a service", "en")]
        );
    }

    #[test]
    fn a_new_title_alone_interrupts() {
        let r = RecordingSpeaker::new();
        let mut n = Narrator::new(Box::new(r.clone()), true);
        let t0 = Instant::now();
        n.observe(
            mode(false, Language::En, true),
            &titled("Choose a service"),
            t0,
        );
        n.observe(mode(false, Language::En, true), &titled("Borrow books"), t0);
        let rec = r.take();
        assert_eq!(
            rec.last(),
            Some(&Recorded::Said(Utterance::interrupt("Borrow books", "en")))
        );
    }

    #[test]
    fn countdown_is_said_when_it_appears_then_every_five_seconds() {
        let r = RecordingSpeaker::new();
        let mut n = Narrator::new(Box::new(r.clone()), false);
        let t0 = Instant::now();
        let m = mode(true, Language::En, true);
        n.observe(m, &titled("Choose a service"), t0);
        r.take();
        let countdown = |secs: u32| Screen {
            title: Some("Choose a service".into()),
            live: vec![LiveRegion {
                label: "Are you still there?".into(),
                description: format!("The session ends in {secs} seconds"),
                assertive: true,
            }],
        };
        n.observe(m, &countdown(15), t0);
        assert_eq!(
            r.take(),
            [Recorded::Said(Utterance::interrupt(
                "Are you still there? The session ends in 15 seconds",
                "en"
            ))]
        );
        for s in 1..5 {
            n.observe(m, &countdown(15 - s), t0 + Duration::from_secs(s.into()));
        }
        assert!(said(&r).is_empty(), "not every second");
        n.observe(m, &countdown(10), t0 + Duration::from_secs(5));
        assert_eq!(said(&r), [pair("The session ends in 10 seconds", "en")]);
        // "I am still here": the overlay goes, and a later countdown is said in full again.
        n.pressed(button(Language::En, "I am still here"));
        n.observe(m, &titled("Choose a service"), t0 + Duration::from_secs(6));
        assert_eq!(said(&r), [pair("I am still here", "en")]);
        n.observe(m, &countdown(15), t0 + Duration::from_secs(60));
        assert_eq!(
            said(&r),
            [pair(
                "Are you still there? The session ends in 15 seconds",
                "en"
            )]
        );
    }

    #[test]
    fn session_end_stops_speaking_and_elder_off_is_confirmed_then_silent() {
        let r = RecordingSpeaker::new();
        let mut n = Narrator::new(Box::new(r.clone()), false);
        let t0 = Instant::now();
        n.observe(mode(true, Language::ZhCn, true), &titled("请选择服务"), t0);
        r.take();
        // Timeout: back to attract with the defaults (elder mode off).
        n.observe(
            mode(false, Language::ZhCn, false),
            &titled("请轻触屏幕或刷卡开始"),
            t0,
        );
        let rec = r.take();
        assert_eq!(rec[0], Recorded::Stopped);
        assert!(
            !rec.iter().any(|x| matches!(x, Recorded::Said(_))),
            "{rec:?}"
        );

        n.observe(mode(true, Language::ZhCn, true), &titled("请选择服务"), t0);
        r.take();
        n.pressed(Press::Switch {
            label: "长辈模式".into(),
        });
        n.observe(mode(false, Language::ZhCn, true), &titled("请选择服务"), t0);
        assert_eq!(said(&r), [pair("长辈模式已关闭", "zh-CN")]);
        n.observe(mode(false, Language::ZhCn, true), &titled("其他页面"), t0);
        assert!(said(&r).is_empty());
    }

    #[test]
    fn emergency_on_the_attract_screen_interrupts() {
        let r = RecordingSpeaker::new();
        let mut n = Narrator::new(Box::new(r.clone()), true);
        let t0 = Instant::now();
        let m = mode(false, Language::ZhCn, false);
        let mut screen = titled("请轻触屏幕或刷卡开始");
        screen.live.push(LiveRegion {
            label: "今日开放".into(),
            description: "9:00–21:00".into(),
            assertive: false,
        });
        n.observe(m, &screen, t0);
        assert_eq!(
            r.take()[2..],
            [Recorded::Said(Utterance::queued(
                "今日开放 9:00–21:00",
                "zh-CN"
            ))]
        );
        screen.live[0] = LiveRegion {
            label: "紧急通知: 消防演练".into(),
            description: "请从最近的出口离开".into(),
            assertive: true,
        };
        n.observe(m, &screen, t0 + Duration::from_secs(1));
        assert_eq!(
            r.take(),
            [Recorded::Said(Utterance::interrupt(
                "紧急通知: 消防演练 请从最近的出口离开",
                "zh-CN"
            ))]
        );
    }

    #[test]
    fn espeak_says_the_pressed_label_and_the_title_for_real() {
        let dir = std::env::temp_dir().join(format!("kiosk-narrator-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        use kiosk_devices::speaker::{EspeakOptions, EspeakSpeaker};
        let speaker = EspeakSpeaker::open(EspeakOptions::wav(&dir))
            .expect("espeak-ng (bash packaging/setup-debian.sh)");
        let mut n = Narrator::new(Box::new(speaker), false);
        let t0 = Instant::now();
        n.pressed(button(Language::ZhCn, "Start"));
        n.observe(mode(true, Language::ZhCn, true), &titled("请选择服务"), t0);
        let deadline = Instant::now() + Duration::from_secs(20);
        while n.speaker().is_speaking() {
            assert!(Instant::now() < deadline, "espeak-ng did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
        n.speaker().probe().unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["0001-zh-CN.wav", "0002-zh-CN.wav"]);
        for f in &files {
            // 22050 Hz 16-bit mono: more than a quarter of a second of sound each.
            let len = std::fs::metadata(f).unwrap().len();
            assert!(len > 44 + 11_025, "{}: {len} bytes", f.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn prompts_are_translated() {
        for id in PROMPTS {
            for lang in Language::ALL {
                assert!(
                    catalogue::lookup(lang, id).is_some(),
                    "{id:?} has no {lang:?} entry"
                );
            }
        }
        assert_eq!(
            catalogue::tr1(Language::En, "{} on", "Elder mode"),
            "Elder mode on"
        );
    }
}
