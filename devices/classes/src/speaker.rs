//! Speakers: the voice of the kiosk's spoken mode (elder mode, devices.md §6.3–6.4). The
//! [`Speaker`] class takes [`Utterance`]s (text, language, priority) and never blocks its caller:
//! the UI thread hands an utterance over and carries on. [`EspeakSpeaker`] drives the
//! `espeak-ng` binary (Debian package `espeak-ng`, offline) from a worker thread that owns the
//! child process, to the sound card or, for tests and machines without a sound device, to WAV
//! files (`espeak-ng -w FILE`).
//!
//! Design decisions:
//! * An utterance of [`Priority::Interrupt`] kills the one playing and drops the queue (a new
//!   screen, an emergency); [`Priority::Queue`] waits its turn (the title after the pressed
//!   button's label).
//! * The text goes to espeak-ng on its standard input, never on its command line, where every
//!   user of the machine could read it in `/proc`. Neither errors nor logs carry the text:
//!   what is spoken can be personal (a patron's name read back on screen).
//! * Mandarin uses the voice `cmn-latn-pinyin`: espeak-ng 1.51's plain `cmn` voice reads Hanzi
//!   through its English fallback (pinyin tone digits spoken as English numbers,
//!   espeak-ng/espeak-ng#1236); the test `chinese_voice_reads_hanzi_as_mandarin` keeps that so.
//! * Volume and rate are optional capabilities, as optional methods returning
//!   [`ErrorKind::Unsupported`] by default, like the other classes.

use std::collections::VecDeque;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Device, DeviceClass, DeviceFault, DeviceInfo, ErrorKind, HasKind};

/// Speech rate of the normal mode, in words per minute (espeak-ng's default).
pub const NORMAL_RATE: u16 = 175;
/// Speech rate in elder mode: slower, so every word is caught the first time.
pub const ELDER_RATE: u16 = 130;
/// Utterances waiting at most; more is refused with [`SpeakerError::Busy`].
pub const MAX_QUEUE: usize = 16;

/// How an utterance relates to what is being said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Stops what is playing and drops what is waiting (new screen, emergency, countdown).
    Interrupt,
    /// Waits until everything before it was said.
    Queue,
}

/// Something to say. Its `Debug` shows the length of the text, never the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Utterance {
    pub text: String,
    /// BCP 47 tag (`zh-CN`, `en`); the speaker picks its voice from it.
    pub language: String,
    pub priority: Priority,
}

impl Utterance {
    pub fn new(text: impl Into<String>, language: impl Into<String>, priority: Priority) -> Self {
        Utterance {
            text: text.into(),
            language: language.into(),
            priority,
        }
    }

    /// An utterance that interrupts.
    pub fn interrupt(text: impl Into<String>, language: impl Into<String>) -> Self {
        Self::new(text, language, Priority::Interrupt)
    }

    /// An utterance that waits its turn.
    pub fn queued(text: impl Into<String>, language: impl Into<String>) -> Self {
        Self::new(text, language, Priority::Queue)
    }
}

impl fmt::Debug for Utterance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Utterance")
            .field(
                "text",
                &format_args!("<{} chars>", self.text.chars().count()),
            )
            .field("language", &self.language)
            .field("priority", &self.priority)
            .finish()
    }
}

/// Why a speaker could not speak. Messages never contain the text of an utterance.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    /// The speech engine is not installed or does not start.
    #[error("speech engine {program} is unavailable: {reason}")]
    Unavailable { program: String, reason: String },
    /// The engine has no voice configured for this language.
    #[error("no voice configured for language '{0}'")]
    NoVoice(String),
    /// A configured voice is not installed.
    #[error("voice '{voice}' is not installed in {program}")]
    VoiceMissing { program: String, voice: String },
    /// The engine ran but found no sound device to play on.
    #[error("no sound device: {0}")]
    NoSoundDevice(String),
    /// The engine failed while speaking.
    #[error("speech engine failed: {0}")]
    Engine(String),
    /// Too many utterances are waiting.
    #[error("speech queue is full ({0} utterances waiting)")]
    Busy(usize),
    /// The speaker's worker has stopped; nothing more can be said.
    #[error("the speech worker has stopped")]
    Offline,
    /// The WAV output could not be written.
    #[error("cannot write speech to {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    #[error("{0} is not supported by this speaker")]
    Unsupported(&'static str),
}

impl HasKind for SpeakerError {
    fn kind(&self) -> ErrorKind {
        match self {
            SpeakerError::Unavailable { .. } | SpeakerError::NoSoundDevice(_) => {
                ErrorKind::NotFound
            }
            SpeakerError::NoVoice(_) | SpeakerError::VoiceMissing { .. } => ErrorKind::Config,
            SpeakerError::Engine(_) => ErrorKind::HardwareError,
            SpeakerError::Busy(_) => ErrorKind::Busy,
            SpeakerError::Offline => ErrorKind::Disconnected,
            SpeakerError::Output { .. } => ErrorKind::PermissionDenied,
            SpeakerError::Unsupported(_) => ErrorKind::Unsupported,
        }
    }
}

impl From<SpeakerError> for DeviceFault {
    fn from(e: SpeakerError) -> Self {
        DeviceFault::from_error(&e)
    }
}

/// A device that speaks.
pub trait Speaker: Device {
    /// Hands an utterance over and returns at once; it is said in the background.
    fn speak(&mut self, utterance: Utterance) -> Result<(), SpeakerError>;

    /// Stops what is playing and drops what is waiting.
    fn stop(&mut self) -> Result<(), SpeakerError>;

    /// True while something is playing or waiting.
    fn is_speaking(&self) -> bool {
        false
    }

    /// Volume, 0 to 100 percent.
    fn set_volume(&mut self, _percent: u8) -> Result<(), SpeakerError> {
        Err(SpeakerError::Unsupported("volume"))
    }

    /// Speech rate in words per minute ([`NORMAL_RATE`], [`ELDER_RATE`]).
    fn set_rate(&mut self, _words_per_minute: u16) -> Result<(), SpeakerError> {
        Err(SpeakerError::Unsupported("speech rate"))
    }
}

/// Where [`EspeakSpeaker`] sends its sound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeechOutput {
    /// The default sound device (espeak-ng plays it itself).
    SoundCard,
    /// Each utterance becomes a WAV file in this folder, `0001-zh-CN.wav`, `0002-en.wav`, …
    /// (tests, machines without a sound device). The files hold what was said: keep the folder
    /// out of anything that is collected or uploaded.
    WavFiles(PathBuf),
}

impl SpeechOutput {
    /// The transport string the supervisor and the maintenance menu show.
    pub fn transport(&self) -> String {
        match self {
            SpeechOutput::SoundCard => "audio:default".into(),
            SpeechOutput::WavFiles(dir) => format!("file:{}", dir.display()),
        }
    }
}

/// Settings of [`EspeakSpeaker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspeakOptions {
    /// The binary (`espeak-ng`, looked up on `PATH`).
    pub program: PathBuf,
    /// Voice per language: a BCP 47 tag or its primary subtag (`zh`, `en`), and the voice.
    pub voices: Vec<(String, String)>,
    /// Words per minute.
    pub rate: u16,
    /// Percent, 0 to 100.
    pub volume: u8,
    pub output: SpeechOutput,
}

impl Default for EspeakOptions {
    fn default() -> Self {
        EspeakOptions {
            program: PathBuf::from("espeak-ng"),
            voices: vec![
                ("zh".into(), "cmn-latn-pinyin".into()),
                ("en".into(), "en".into()),
            ],
            rate: NORMAL_RATE,
            volume: 100,
            output: SpeechOutput::SoundCard,
        }
    }
}

impl EspeakOptions {
    /// The default voices, rendering to WAV files in `dir`.
    pub fn wav(dir: impl Into<PathBuf>) -> Self {
        EspeakOptions {
            output: SpeechOutput::WavFiles(dir.into()),
            ..Default::default()
        }
    }

    /// The voice for a language tag: the whole tag first, then its primary subtag.
    pub fn voice_for(&self, tag: &str) -> Option<&str> {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        let primary = tag.split('-').next().unwrap_or("");
        let find = |want: &str| {
            self.voices
                .iter()
                .find(|(t, _)| t.to_ascii_lowercase().replace('_', "-") == want)
                .map(|(_, v)| v.as_str())
        };
        find(&tag).or_else(|| find(primary))
    }
}

/// What the worker shares with the speaker.
#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Utterance>,
    /// Kill what is playing (set by an interrupting utterance and by `stop`).
    interrupt: bool,
    playing: bool,
    rate: u16,
    volume: u8,
    shutdown: bool,
    /// The result of the last utterance that finished (not killed): `None` when it was fine.
    last_fault: Option<DeviceFault>,
    spoken: u64,
    failed: u64,
    /// Files written so far (WAV output).
    sequence: u64,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// espeak-ng, in a worker thread that owns the child process.
pub struct EspeakSpeaker {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    options: EspeakOptions,
    version: String,
}

impl fmt::Debug for EspeakSpeaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EspeakSpeaker")
            .field("version", &self.version)
            .field("output", &self.options.output)
            .finish()
    }
}

impl EspeakSpeaker {
    /// Checks that the binary runs and every configured voice is installed, then starts the
    /// worker. Takes a few tens of milliseconds (one short espeak-ng run per voice).
    pub fn open(options: EspeakOptions) -> Result<Self, SpeakerError> {
        let program = options.program.display().to_string();
        let unavailable = |reason: String| SpeakerError::Unavailable {
            program: program.clone(),
            reason,
        };
        let out = Command::new(&options.program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| unavailable(e.to_string()))?;
        if !out.status.success() {
            return Err(unavailable(format!("--version exited with {}", out.status)));
        }
        // "eSpeak NG text-to-speech: 1.51  Data at: …"
        let banner = String::from_utf8_lossy(&out.stdout);
        let version = banner
            .split("text-to-speech:")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("unknown")
            .to_string();
        for (_, voice) in &options.voices {
            // -q: synthesise without playing; an unknown voice exits non-zero.
            let status = Command::new(&options.program)
                .args(["-q", "-v", voice, "."])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| unavailable(e.to_string()))?;
            if !status.success() {
                return Err(SpeakerError::VoiceMissing {
                    program,
                    voice: voice.clone(),
                });
            }
        }
        if let SpeechOutput::WavFiles(dir) = &options.output {
            std::fs::create_dir_all(dir).map_err(|e| SpeakerError::Output {
                path: dir.clone(),
                reason: e.to_string(),
            })?;
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                rate: options.rate,
                volume: options.volume.min(100),
                ..Default::default()
            }),
            wake: Condvar::new(),
        });
        let worker = {
            let shared = Arc::clone(&shared);
            let options = options.clone();
            std::thread::Builder::new()
                .name("speaker".into())
                .spawn(move || worker(&shared, &options))
                .map_err(|e| unavailable(format!("cannot start the worker thread: {e}")))?
        };
        Ok(EspeakSpeaker {
            shared,
            worker: Some(worker),
            options,
            version,
        })
    }

    /// The espeak-ng version, e.g. `1.51`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Waits until nothing is playing or waiting; false when `timeout` passed first.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.shared.state);
        while st.playing || !st.queue.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .shared
                .wake
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Utterances said to the end and utterances that failed, since open.
    pub fn counts(&self) -> (u64, u64) {
        let st = lock(&self.shared.state);
        (st.spoken, st.failed)
    }

    fn worker_alive(&self) -> bool {
        self.worker.as_ref().is_some_and(|w| !w.is_finished())
    }

    fn send(
        &self,
        f: impl FnOnce(&mut State) -> Result<(), SpeakerError>,
    ) -> Result<(), SpeakerError> {
        if !self.worker_alive() {
            return Err(SpeakerError::Offline);
        }
        let mut st = lock(&self.shared.state);
        f(&mut st)?;
        drop(st);
        self.shared.wake.notify_all();
        Ok(())
    }
}

impl Drop for EspeakSpeaker {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.shared.state);
            st.shutdown = true;
            st.queue.clear();
        }
        self.shared.wake.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Device for EspeakSpeaker {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            class: DeviceClass::Speaker,
            model: "espeak-ng".into(),
            firmware: Some(self.version.clone()),
            transport: self.options.output.transport(),
        }
    }

    /// The worker is alive and the last utterance that finished was said without a fault.
    fn probe(&mut self) -> Result<(), DeviceFault> {
        if !self.worker_alive() {
            return Err(SpeakerError::Offline.into());
        }
        match &lock(&self.shared.state).last_fault {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }
}

impl Speaker for EspeakSpeaker {
    fn speak(&mut self, utterance: Utterance) -> Result<(), SpeakerError> {
        if self.options.voice_for(&utterance.language).is_none() {
            return Err(SpeakerError::NoVoice(utterance.language));
        }
        self.send(|st| {
            match utterance.priority {
                Priority::Interrupt => {
                    st.queue.clear();
                    st.interrupt = st.playing;
                }
                Priority::Queue if st.queue.len() >= MAX_QUEUE => {
                    return Err(SpeakerError::Busy(st.queue.len()));
                }
                Priority::Queue => {}
            }
            st.queue.push_back(utterance);
            Ok(())
        })
    }

    fn stop(&mut self) -> Result<(), SpeakerError> {
        self.send(|st| {
            st.queue.clear();
            st.interrupt = st.playing;
            Ok(())
        })
    }

    fn is_speaking(&self) -> bool {
        let st = lock(&self.shared.state);
        st.playing || !st.queue.is_empty()
    }

    fn set_volume(&mut self, percent: u8) -> Result<(), SpeakerError> {
        self.send(|st| {
            st.volume = percent.min(100);
            Ok(())
        })
    }

    fn set_rate(&mut self, words_per_minute: u16) -> Result<(), SpeakerError> {
        // espeak-ng accepts 80 to 450 words per minute.
        self.send(|st| {
            st.rate = words_per_minute.clamp(80, 450);
            Ok(())
        })
    }
}

/// One utterance being said.
struct Playing {
    child: Child,
    wav: Option<PathBuf>,
}

/// The worker: takes utterances off the queue one at a time, kills the one playing on an
/// interrupt, and records how each one ended.
fn worker(shared: &Shared, options: &EspeakOptions) {
    let mut playing: Option<Playing> = None;
    loop {
        let mut st = lock(&shared.state);
        if st.shutdown {
            drop(st);
            if let Some(mut p) = playing.take() {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
            return;
        }
        if let Some(p) = playing.as_mut() {
            if st.interrupt {
                st.interrupt = false;
                drop(st);
                let _ = p.child.kill();
                let _ = p.child.wait();
                playing = None;
                lock(&shared.state).playing = false;
                shared.wake.notify_all();
                continue;
            }
            match p.child.try_wait() {
                Ok(Some(status)) => {
                    drop(st);
                    let p = playing.take().expect("playing");
                    let result = finished(p, status, &options.output);
                    let mut st = lock(&shared.state);
                    st.playing = false;
                    match result {
                        Ok(()) => {
                            st.spoken += 1;
                            st.last_fault = None;
                        }
                        Err(e) => {
                            tracing::warn!(kind = %e.kind(), "speaker: {e}");
                            st.failed += 1;
                            st.last_fault = Some(e.into());
                        }
                    }
                    drop(st);
                    shared.wake.notify_all();
                    continue;
                }
                Ok(None) => {
                    // Still playing: look again soon, or at once when woken.
                    let _ = shared
                        .wake
                        .wait_timeout(st, Duration::from_millis(20))
                        .unwrap_or_else(|p| p.into_inner());
                    continue;
                }
                Err(e) => {
                    drop(st);
                    tracing::warn!("speaker: cannot wait for espeak-ng: {e}");
                    let _ = p.child.kill();
                    playing = None;
                    lock(&shared.state).playing = false;
                    shared.wake.notify_all();
                    continue;
                }
            }
        }
        st.interrupt = false;
        let Some(next) = st.queue.pop_front() else {
            let _st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        let (rate, volume) = (st.rate, st.volume);
        st.sequence += 1;
        let sequence = st.sequence;
        st.playing = true;
        drop(st);
        match start(options, &next, rate, volume, sequence) {
            Ok(p) => playing = Some(p),
            Err(e) => {
                tracing::warn!(kind = %e.kind(), "speaker: {e}");
                let mut st = lock(&shared.state);
                st.playing = false;
                st.failed += 1;
                st.last_fault = Some(e.into());
                drop(st);
                shared.wake.notify_all();
            }
        }
    }
}

/// Starts espeak-ng for one utterance; the text goes in on standard input.
fn start(
    options: &EspeakOptions,
    u: &Utterance,
    rate: u16,
    volume: u8,
    sequence: u64,
) -> Result<Playing, SpeakerError> {
    let voice = options
        .voice_for(&u.language)
        .ok_or_else(|| SpeakerError::NoVoice(u.language.clone()))?;
    let mut cmd = Command::new(&options.program);
    // -a: amplitude 0..200, 100 is espeak-ng's normal level.
    cmd.args(["-v", voice, "-s", &rate.to_string(), "-a"])
        .arg((u16::from(volume) * 2).to_string());
    let wav = match &options.output {
        SpeechOutput::SoundCard => None,
        SpeechOutput::WavFiles(dir) => {
            let tag: String = u
                .language
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            let path = dir.join(format!("{sequence:04}-{tag}.wav"));
            cmd.arg("-w").arg(&path);
            Some(path)
        }
    };
    cmd.arg("--stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| SpeakerError::Unavailable {
        program: options.program.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    // A line break ends the last clause, so espeak-ng says it without waiting for more.
    let written = stdin
        .write_all(u.text.as_bytes())
        .and_then(|()| stdin.write_all(b"\n"));
    drop(stdin);
    if let Err(e) = written {
        let _ = child.kill();
        let _ = child.wait();
        return Err(SpeakerError::Engine(format!(
            "cannot hand the text over: {e}"
        )));
    }
    Ok(Playing { child, wav })
}

/// How an utterance that ran to its end went. espeak-ng 1.51 exits 0 when ALSA finds no sound
/// card and when it cannot write the WAV file, so its error output and the file are checked too.
fn finished(mut p: Playing, status: ExitStatus, output: &SpeechOutput) -> Result<(), SpeakerError> {
    let mut stderr = String::new();
    if let Some(mut e) = p.child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let first_error = || {
        let line = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        line.chars().take(200).collect::<String>()
    };
    if !status.success() {
        return Err(SpeakerError::Engine(format!(
            "espeak-ng exited with {status}: {}",
            first_error()
        )));
    }
    match (output, &p.wav) {
        (SpeechOutput::SoundCard, _) => {
            if stderr.contains("ALSA lib") || stderr.contains("Unknown PCM") {
                return Err(SpeakerError::NoSoundDevice(first_error()));
            }
            Ok(())
        }
        (SpeechOutput::WavFiles(_), Some(path)) => check_wav_written(path, &stderr),
        (SpeechOutput::WavFiles(dir), None) => Err(SpeakerError::Output {
            path: dir.clone(),
            reason: "no file name".into(),
        }),
    }
}

fn check_wav_written(path: &Path, stderr: &str) -> Result<(), SpeakerError> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 44 => Ok(()),
        Ok(_) => Err(SpeakerError::Output {
            path: path.to_path_buf(),
            reason: "espeak-ng wrote no sound".into(),
        }),
        Err(e) => Err(SpeakerError::Output {
            path: path.to_path_buf(),
            reason: if stderr.trim().is_empty() {
                e.to_string()
            } else {
                stderr.trim().chars().take(200).collect()
            },
        }),
    }
}

#[cfg(any(test, feature = "test-doubles"))]
pub use recording::{Recorded, RecordingSpeaker};

/// A speaker that only remembers: a test double for the UI layer (the narrator's tests and the
/// headless UI scenarios). Behind the `test-doubles` feature so no terminal ships it.
#[cfg(any(test, feature = "test-doubles"))]
mod recording {
    use super::*;

    /// What a [`RecordingSpeaker`] was asked to do, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Recorded {
        Said(Utterance),
        Stopped,
        Rate(u16),
        Volume(u8),
    }

    /// Keeps every request in memory; clones share the record, so a test keeps one clone and
    /// hands the other to the code under test.
    #[derive(Debug, Clone, Default)]
    pub struct RecordingSpeaker {
        log: Arc<Mutex<Vec<Recorded>>>,
    }

    impl RecordingSpeaker {
        pub fn new() -> Self {
            Self::default()
        }

        fn log(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
            self.log.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// Everything recorded so far.
        pub fn recorded(&self) -> Vec<Recorded> {
            self.log().clone()
        }

        /// Takes the record, leaving it empty.
        pub fn take(&self) -> Vec<Recorded> {
            std::mem::take(&mut *self.log())
        }

        /// The utterances said so far as `(text, language)`.
        pub fn said(&self) -> Vec<(String, String)> {
            self.log()
                .iter()
                .filter_map(|r| match r {
                    Recorded::Said(u) => Some((u.text.clone(), u.language.clone())),
                    _ => None,
                })
                .collect()
        }

        /// Takes the utterances said so far as `(text, language)`, leaving the record empty.
        pub fn take_said(&self) -> Vec<(String, String)> {
            let taken = self.take();
            taken
                .into_iter()
                .filter_map(|r| match r {
                    Recorded::Said(u) => Some((u.text, u.language)),
                    _ => None,
                })
                .collect()
        }
    }

    impl Device for RecordingSpeaker {
        fn info(&self) -> DeviceInfo {
            DeviceInfo {
                class: DeviceClass::Speaker,
                model: "recording test double".into(),
                firmware: None,
                transport: "sim:".into(),
            }
        }

        fn probe(&mut self) -> Result<(), DeviceFault> {
            Ok(())
        }
    }

    impl Speaker for RecordingSpeaker {
        fn speak(&mut self, utterance: Utterance) -> Result<(), SpeakerError> {
            self.log().push(Recorded::Said(utterance));
            Ok(())
        }

        fn stop(&mut self) -> Result<(), SpeakerError> {
            self.log().push(Recorded::Stopped);
            Ok(())
        }

        fn set_volume(&mut self, percent: u8) -> Result<(), SpeakerError> {
            self.log().push(Recorded::Volume(percent));
            Ok(())
        }

        fn set_rate(&mut self, words_per_minute: u16) -> Result<(), SpeakerError> {
            self.log().push(Recorded::Rate(words_per_minute));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    //! The espeak-ng speaker is tested with the real espeak-ng (Debian `espeak-ng`, installed by
    //! `packaging/setup-debian.sh`) rendering to WAV files, measured with sox (`--test`
    //! packages) and with the WAV header read here.
    use super::*;

    /// A folder under the target directory's tmp, removed at the end of the test.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "kiosk-speaker-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn open(options: EspeakOptions) -> EspeakSpeaker {
        EspeakSpeaker::open(options).unwrap_or_else(|e| {
            panic!("{e}: the speaker tests need espeak-ng (bash packaging/setup-debian.sh --test)")
        })
    }

    fn wav_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .collect();
        files.sort();
        files
    }

    /// Format, rate and sample count from a canonical RIFF/WAVE header, and the RMS of the
    /// 16-bit samples (0..1).
    fn read_wav(path: &Path) -> (u16, u32, u16, usize, f64) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[0..4], b"RIFF", "{}", path.display());
        assert_eq!(&bytes[8..12], b"WAVE");
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        let (mut pos, mut fmt, mut data) = (12, None, None);
        while pos + 8 <= bytes.len() {
            let id = &bytes[pos..pos + 4];
            let len = u32_at(pos + 4) as usize;
            let body = pos + 8;
            if id == b"fmt " {
                fmt = Some((
                    u16_at(body),
                    u16_at(body + 2),
                    u32_at(body + 4),
                    u16_at(body + 14),
                ));
            } else if id == b"data" {
                // espeak-ng writing to a file fills the length in at the end; a length past
                // the end means the file is truncated.
                assert!(body + len <= bytes.len(), "data chunk runs past the end");
                data = Some(&bytes[body..body + len]);
            }
            pos = body + len + (len & 1);
        }
        let (format, channels, rate, bits) = fmt.expect("fmt chunk");
        assert_eq!((format, channels, bits), (1, 1, 16), "16-bit mono PCM");
        let data = data.expect("data chunk");
        let samples: Vec<i16> = data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        let sum: f64 = samples
            .iter()
            .map(|&s| (f64::from(s) / 32768.0).powi(2))
            .sum();
        let rms = (sum / samples.len().max(1) as f64).sqrt();
        (channels, rate, bits, samples.len(), rms)
    }

    /// Duration (s) and RMS amplitude as sox reports them.
    fn sox_measure(path: &Path) -> (f64, f64) {
        let run = |args: &[&str]| {
            Command::new("sox").args(args).output().unwrap_or_else(|e| {
                panic!("{e}: this test needs sox (bash packaging/setup-debian.sh --test)")
            })
        };
        let p = path.to_str().unwrap();
        let info = run(&["--i", "-D", p]);
        assert!(info.status.success(), "sox --i {p}");
        let duration: f64 = String::from_utf8_lossy(&info.stdout)
            .trim()
            .parse()
            .unwrap();
        // `stat` reports on stderr.
        let stat = run(&[p, "-n", "stat"]);
        assert!(stat.status.success(), "sox stat {p}");
        let text = String::from_utf8_lossy(&stat.stderr);
        let rms = text
            .lines()
            .find(|l| l.starts_with("RMS     amplitude:"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no RMS amplitude in sox stat output:\n{text}"));
        (duration, rms)
    }

    #[test]
    fn utterances_never_show_their_text_in_debug_or_errors() {
        let u = Utterance::interrupt("王五 11010519491231002X", "zh-CN");
        let shown = format!("{u:?}");
        assert!(
            !shown.contains("王五") && !shown.contains("1101"),
            "{shown}"
        );
        assert!(shown.contains("<21 chars>"));
    }

    #[test]
    fn voices_are_found_by_tag_or_primary_subtag() {
        let o = EspeakOptions::default();
        assert_eq!(o.voice_for("zh-CN"), Some("cmn-latn-pinyin"));
        assert_eq!(o.voice_for("zh_CN"), Some("cmn-latn-pinyin"));
        assert_eq!(o.voice_for("en"), Some("en"));
        assert_eq!(o.voice_for("en-GB"), Some("en"));
        assert_eq!(o.voice_for("fr"), None);
    }

    #[test]
    fn errors_have_kinds() {
        let cases = [
            (
                SpeakerError::Unavailable {
                    program: "x".into(),
                    reason: "y".into(),
                },
                ErrorKind::NotFound,
            ),
            (SpeakerError::NoSoundDevice("x".into()), ErrorKind::NotFound),
            (SpeakerError::NoVoice("fr".into()), ErrorKind::Config),
            (SpeakerError::Busy(16), ErrorKind::Busy),
            (SpeakerError::Offline, ErrorKind::Disconnected),
            (SpeakerError::Engine("x".into()), ErrorKind::HardwareError),
            (SpeakerError::Unsupported("volume"), ErrorKind::Unsupported),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
            assert_eq!(DeviceFault::from(e).kind, kind);
        }
    }

    #[test]
    fn missing_program_and_voice_are_refused_at_open() {
        let e = EspeakSpeaker::open(EspeakOptions {
            program: "/nonexistent/espeak-ng".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = EspeakSpeaker::open(EspeakOptions {
            voices: vec![("xx".into(), "qqq-nosuch".into())],
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(e, SpeakerError::VoiceMissing { .. }), "{e}");
        assert_eq!(e.kind(), ErrorKind::Config);
    }

    #[test]
    fn chinese_voice_reads_hanzi_as_mandarin() {
        // `-x` prints the phonemes; a switch to the English fallback shows as "(en)".
        let phonemes = |voice: &str| {
            let out = Command::new("espeak-ng")
                .args(["-q", "-x", "-v", voice, "请选择服务"])
                .output()
                .expect("espeak-ng (bash packaging/setup-debian.sh --test)");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let voice = EspeakOptions::default()
            .voice_for("zh-CN")
            .unwrap()
            .to_string();
        let ours = phonemes(&voice);
        assert!(
            !ours.contains("(en)"),
            "{voice} switched to English: {ours}"
        );
        assert!(
            phonemes("cmn").contains("(en)"),
            "plain cmn still misreads Hanzi"
        );
    }

    #[test]
    fn espeak_renders_chinese_and_english_prompts_to_valid_wav() {
        let dir = TempDir::new("render");
        let mut s = open(EspeakOptions::wav(&dir.0));
        assert_eq!(s.info().class, DeviceClass::Speaker);
        assert!(s.version().starts_with('1'), "version {}", s.version());
        s.speak(Utterance::queued("请选择服务", "zh-CN")).unwrap();
        s.speak(Utterance::queued(
            "您还在吗？15 秒后将结束本次服务",
            "zh-CN",
        ))
        .unwrap();
        s.speak(Utterance::queued("Choose a service", "en"))
            .unwrap();
        assert!(
            s.wait_idle(Duration::from_secs(20)),
            "espeak-ng did not finish"
        );
        assert_eq!(s.counts(), (3, 0));
        s.probe().unwrap();

        let files = wav_files(&dir.0);
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["0001-zh-CN.wav", "0002-zh-CN.wav", "0003-en.wav"]);
        // Plausible lengths: about 0.3 s per syllable (5 and 16 syllables), English 2 words.
        let expect = [(0.8, 4.0), (2.5, 10.0), (0.5, 3.0)];
        for (file, (min, max)) in files.iter().zip(expect) {
            let (channels, rate, _, samples, rms) = read_wav(file);
            assert_eq!((channels, rate), (1, 22050), "{}", file.display());
            let secs = samples as f64 / f64::from(rate);
            let (sox_secs, sox_rms) = sox_measure(file);
            assert!(
                (secs - sox_secs).abs() < 0.01,
                "header {secs} s, sox {sox_secs} s"
            );
            assert!(
                (min..=max).contains(&secs),
                "{}: {secs:.2} s is not in {min}..{max} s",
                file.display()
            );
            assert!(
                rms > 0.02 && sox_rms > 0.02,
                "{}: silent (rms {rms}, sox {sox_rms})",
                file.display()
            );
        }
        // The rate is applied: the same prompt is longer in elder mode.
        let normal = read_wav(&files[0]).3;
        s.set_rate(ELDER_RATE).unwrap();
        s.speak(Utterance::queued("请选择服务", "zh-CN")).unwrap();
        assert!(s.wait_idle(Duration::from_secs(20)));
        let slow = read_wav(&wav_files(&dir.0)[3]).3;
        assert!(
            slow as f64 > normal as f64 * 1.15,
            "elder rate {slow} vs {normal} samples"
        );
    }

    #[test]
    fn an_interrupting_utterance_kills_the_one_playing_and_the_queue() {
        let dir = TempDir::new("interrupt");
        let mut s = open(EspeakOptions {
            // Slowest rate: the long text takes many seconds to render, so the kill lands
            // while it plays.
            rate: 80,
            ..EspeakOptions::wav(&dir.0)
        });
        let long = "这是一段很长的通知。".repeat(100);
        s.speak(Utterance::queued(long, "zh-CN")).unwrap();
        s.speak(Utterance::queued("Never said", "en")).unwrap();
        let t0 = Instant::now();
        while !lock(&s.shared.state).playing {
            assert!(t0.elapsed() < Duration::from_secs(5), "never started");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(50));
        s.speak(Utterance::interrupt("Emergency", "en")).unwrap();
        assert!(s.is_speaking());
        assert!(s.wait_idle(Duration::from_secs(10)));
        // Only the interrupting one ran to the end; the queued one was dropped.
        assert_eq!(s.counts(), (1, 0));
        let names: Vec<_> = wav_files(&dir.0)
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert!(names.contains(&"0002-en.wav".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with("0003")), "{names:?}");
        let (_, _, _, samples, rms) = read_wav(&dir.0.join("0002-en.wav"));
        assert!(samples > 4000 && rms > 0.02);

        // stop() empties everything too.
        s.speak(Utterance::queued(
            "这是一段很长的通知。".repeat(40),
            "zh-CN",
        ))
        .unwrap();
        s.stop().unwrap();
        assert!(s.wait_idle(Duration::from_secs(5)));
        assert_eq!(s.counts(), (1, 0));
    }

    #[test]
    fn speak_never_blocks_and_refuses_unknown_languages_and_overflow() {
        let dir = TempDir::new("queue");
        let mut s = open(EspeakOptions {
            rate: 80,
            ..EspeakOptions::wav(&dir.0)
        });
        let e = s.speak(Utterance::queued("Bonjour", "fr")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let t0 = Instant::now();
        let mut refused = None;
        for i in 0..(MAX_QUEUE + 2) {
            if let Err(e) = s.speak(Utterance::queued(
                "这是一段很长的通知。".repeat(10),
                "zh-CN",
            )) {
                refused = Some((i, e));
                break;
            }
        }
        assert!(t0.elapsed() < Duration::from_millis(200), "speak blocked");
        let (i, e) = refused.expect("the queue has a limit");
        assert!(i >= MAX_QUEUE, "refused after {i}");
        assert_eq!(e.kind(), ErrorKind::Busy);
        s.stop().unwrap();
        // Dropping the speaker kills espeak-ng and joins the worker.
        let t0 = Instant::now();
        drop(s);
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_wav_folder_that_cannot_be_written_is_a_fault_not_a_hang() {
        let dir = TempDir::new("unwritable");
        let mut s = open(EspeakOptions::wav(&dir.0));
        // Take the folder away under the worker's feet.
        std::fs::remove_dir_all(&dir.0).unwrap();
        s.speak(Utterance::queued("Hello", "en")).unwrap();
        assert!(s.wait_idle(Duration::from_secs(10)));
        let fault = s.probe().unwrap_err();
        assert_eq!(fault.kind, ErrorKind::PermissionDenied, "{fault}");
        assert!(!fault.message.contains("Hello"));
        assert_eq!(s.counts(), (0, 1));
    }

    #[test]
    fn recording_double_keeps_requests_in_order() {
        let r = RecordingSpeaker::new();
        let mut boxed: Box<dyn Speaker> = Box::new(r.clone());
        boxed.set_rate(ELDER_RATE).unwrap();
        boxed
            .speak(Utterance::interrupt("请选择服务", "zh-CN"))
            .unwrap();
        boxed.stop().unwrap();
        assert_eq!(
            r.recorded(),
            [
                Recorded::Rate(ELDER_RATE),
                Recorded::Said(Utterance::interrupt("请选择服务", "zh-CN")),
                Recorded::Stopped
            ]
        );
        assert_eq!(
            r.take_said(),
            [("请选择服务".to_string(), "zh-CN".to_string())]
        );
        assert!(r.recorded().is_empty());
    }
}
