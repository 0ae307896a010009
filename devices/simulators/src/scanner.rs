//! A line-based serial code scanner: sends scripted codes (and, on request, garbage lines) as
//! the real scanner does, using `kiosk_scanner::encode_line` with the configured terminator,
//! prefix, suffix, AIM identifier and encoding. Unplugging is done through [`SimControl`].
//!
//! With the `qr-image` feature, [`write_qr_image`] renders real QR codes to image files (the
//! `qrcode` crate for the module matrix, OpenCV to write the PNG), which the camera path reads
//! through `VideoCapture` as an image sequence: the camera "simulator" is a recording.

use std::collections::VecDeque;
#[cfg(feature = "qr-image")]
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_scanner::{AimId, AimMode, LineConfig, TextEncoding, encode_line};
use serde::Deserialize;

use crate::runner::{SerialDevice, SimControl};

/// What the simulated scanner does next.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStep {
    /// A code, with an AIM identifier such as `]Q1` if given.
    Code { text: String, aim: Option<String> },
    /// Raw bytes followed by the terminator (line noise, a wrong baud rate).
    Garbage { hex: String },
    /// Nothing for a while.
    PauseMs(u64),
    /// Pull the cable for a while, then plug it back (needs a [`SimControl`], see
    /// [`run_unplugs`]).
    UnplugMs(u64),
}

/// A scenario file for `kioskctl simulate scanner --scenario FILE` (JSON).
///
/// ```json
/// { "terminator": "cr", "aim": true, "interval_ms": 1000, "repeat": true,
///   "steps": [ {"code": {"text": "9787111213826", "aim": "]E0"}}, {"garbage": {"hex": "fffe"}},
///              {"pause_ms": 2000}, {"unplug_ms": 1500} ] }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerScenario {
    #[serde(default = "default_terminator")]
    pub terminator: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub suffix: String,
    /// Whether codes carry their AIM identifier.
    #[serde(default)]
    pub aim: bool,
    /// `utf-8` or `gb18030`.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// Time between steps.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Start again after the last step.
    #[serde(default)]
    pub repeat: bool,
    pub steps: Vec<ScanStep>,
}

fn default_terminator() -> String {
    "cr".into()
}
fn default_encoding() -> String {
    "utf-8".into()
}
fn default_interval() -> u64 {
    1000
}

impl ScannerScenario {
    /// Codes a library terminal sees: a book's ISBN (EAN-13), a patron card (Code 128), a
    /// QR code from a phone, and one in Chinese.
    pub fn demo() -> Self {
        let code = |text: &str, aim: &str| ScanStep::Code {
            text: text.into(),
            aim: Some(aim.into()),
        };
        ScannerScenario {
            terminator: default_terminator(),
            prefix: String::new(),
            suffix: String::new(),
            aim: true,
            encoding: default_encoding(),
            interval_ms: 3000,
            repeat: true,
            steps: vec![
                code("9787111213826", "]E0"),
                code("LIB0000042", "]C0"),
                code("https://lib.example/p/0042", "]Q1"),
                code("借书证 0042", "]Q1"),
            ],
        }
    }

    /// The line settings the scenario's scanner is programmed with.
    pub fn line_config(&self) -> Result<LineConfig, String> {
        Ok(LineConfig {
            terminator: self.terminator.parse()?,
            prefix: self.prefix.as_bytes().to_vec(),
            suffix: self.suffix.as_bytes().to_vec(),
            aim: if self.aim {
                AimMode::Required
            } else {
                AimMode::Off
            },
            encoding: match self.encoding.parse()? {
                TextEncoding::Auto => TextEncoding::Utf8,
                e => e,
            },
            ..LineConfig::default()
        })
    }
}

/// Queues lines for a running [`ScannerSim`] from a test or the CLI.
#[derive(Clone)]
pub struct ScannerFeed {
    config: LineConfig,
    queue: Arc<Mutex<VecDeque<Vec<u8>>>>,
}

impl ScannerFeed {
    fn push(&self, bytes: Vec<u8>) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(bytes);
    }

    /// The scanner reads `text` (with an AIM identifier such as `]Q1` if given).
    pub fn scan(&self, text: &str, aim: Option<&str>) {
        let aim = aim.and_then(|a| AimId::parse(a.as_bytes()));
        self.push(encode_line(&self.config, text, aim));
    }

    /// The scanner sends `bytes` and its terminator: noise the decoder must reject.
    pub fn garbage(&self, bytes: &[u8]) {
        let mut line = bytes.to_vec();
        line.extend_from_slice(self.config.terminator.as_bytes());
        self.push(line);
    }

    /// The scanner sends `bytes` and stops, without its terminator: a line cut short (the
    /// scanner reset or lost power mid-line).
    pub fn partial(&self, bytes: &[u8]) {
        self.push(bytes.to_vec());
    }

    /// Lines not yet sent.
    pub fn queued(&self) -> usize {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The scanner's side on the pseudo-terminal: sends one queued line per idle tick and ignores
/// what the host sends (it has no command set in this mode).
pub struct ScannerSim {
    feed: ScannerFeed,
    script: Vec<ScanStep>,
    next_step: usize,
    interval: Duration,
    repeat: bool,
    next_at: Instant,
}

impl ScannerSim {
    /// A scanner driven only through its [`ScannerFeed`].
    pub fn new(config: LineConfig) -> (Self, ScannerFeed) {
        let feed = ScannerFeed {
            config,
            queue: Arc::default(),
        };
        let sim = ScannerSim {
            feed: feed.clone(),
            script: Vec::new(),
            next_step: 0,
            interval: Duration::from_secs(1),
            repeat: false,
            next_at: Instant::now(),
        };
        (sim, feed)
    }

    /// A scanner playing a scenario (its unplug steps are left to [`run_unplugs`]).
    pub fn from_scenario(scenario: &ScannerScenario) -> Result<(Self, ScannerFeed), String> {
        let (mut sim, feed) = ScannerSim::new(scenario.line_config()?);
        for step in &scenario.steps {
            if let ScanStep::Garbage { hex } = step {
                parse_hex(hex)?;
            }
        }
        sim.script = scenario.steps.clone();
        sim.interval = Duration::from_millis(scenario.interval_ms);
        sim.repeat = scenario.repeat;
        sim.next_at = Instant::now() + sim.interval;
        Ok((sim, feed))
    }

    fn play_step(&mut self) {
        if self.script.is_empty() || Instant::now() < self.next_at {
            return;
        }
        if self.next_step >= self.script.len() {
            if !self.repeat {
                return;
            }
            self.next_step = 0;
        }
        let step = self.script[self.next_step].clone();
        self.next_step += 1;
        let wait = match step {
            ScanStep::Code { text, aim } => {
                self.feed.scan(&text, aim.as_deref());
                self.interval
            }
            ScanStep::Garbage { hex } => {
                self.feed.garbage(&parse_hex(&hex).unwrap_or_default());
                self.interval
            }
            ScanStep::PauseMs(ms) => Duration::from_millis(ms),
            // Played by `run_unplugs` on the control side; here the script just waits.
            ScanStep::UnplugMs(ms) => Duration::from_millis(ms),
        };
        self.next_at = Instant::now() + wait;
    }
}

impl SerialDevice for ScannerSim {
    fn on_input(&mut self, input: &mut Vec<u8>) -> Vec<u8> {
        input.clear();
        self.on_idle()
    }

    fn on_idle(&mut self) -> Vec<u8> {
        self.play_step();
        self.feed
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or_default()
    }
}

/// Plays a scenario's unplug steps on `control`, with the same timing as the scanner plays
/// the rest. Blocks; run it on its own thread. Returns when the scenario ends (never when it
/// repeats).
pub fn run_unplugs(scenario: &ScannerScenario, control: &SimControl) {
    if !scenario
        .steps
        .iter()
        .any(|s| matches!(s, ScanStep::UnplugMs(_)))
    {
        return;
    }
    let interval = Duration::from_millis(scenario.interval_ms);
    std::thread::sleep(interval);
    loop {
        for step in &scenario.steps {
            match step {
                ScanStep::UnplugMs(ms) => {
                    control.unplug();
                    std::thread::sleep(Duration::from_millis(*ms));
                    control.replug();
                }
                ScanStep::PauseMs(ms) => std::thread::sleep(Duration::from_millis(*ms)),
                _ => std::thread::sleep(interval),
            }
        }
        if !scenario.repeat {
            return;
        }
    }
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, String> {
    let digits: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in '{hex}'"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| format!("bad hex '{hex}'")))
        .collect()
}

/// Renders `text` as a QR code image file (PNG, …) with `scale` pixels per module and the
/// 4-module quiet zone of ISO/IEC 18004.
#[cfg(feature = "qr-image")]
pub fn write_qr_image(text: &str, path: &Path, scale: usize) -> Result<(), String> {
    use qrcode::{Color, QrCode};
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("cannot encode QR: {e}"))?;
    let dark: Vec<bool> = code.to_colors().iter().map(|c| *c == Color::Dark).collect();
    let image = kiosk_scanner::camera::render_modules(&dark, code.width(), scale.max(1), 4)
        .map_err(|e| e.to_string())?;
    kiosk_scanner::camera::write_image(path, &image).map_err(|e| e.to_string())
}

/// Writes frames `frame_000.png`, `frame_001.png` … into `dir`, one per entry (`None`: a frame
/// with no code), and returns the `camera:` string that plays them through `VideoCapture`.
#[cfg(feature = "qr-image")]
pub fn write_qr_sequence(dir: &Path, frames: &[Option<&str>]) -> Result<String, String> {
    for (i, frame) in frames.iter().enumerate() {
        let path = dir.join(format!("frame_{i:03}.png"));
        match frame {
            Some(text) => write_qr_image(text, &path, 4)?,
            None => {
                let blank = kiosk_scanner::camera::render_modules(&[false; 625], 25, 4, 4)
                    .map_err(|e| e.to_string())?;
                kiosk_scanner::camera::write_image(&path, &blank).map_err(|e| e.to_string())?
            }
        }
    }
    Ok(format!("camera:{}/frame_%03d.png", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_scanner::{LineDecoder, Terminator};

    #[test]
    fn sends_queued_codes_with_the_configured_framing() {
        let cfg = LineConfig {
            terminator: Terminator::CrLf,
            aim: AimMode::Optional,
            ..Default::default()
        };
        let (mut sim, feed) = ScannerSim::new(cfg.clone());
        feed.scan("9787111213826", Some("]E0"));
        feed.garbage(b"\xff\x00");
        assert_eq!(sim.on_idle(), b"]E09787111213826\r\n");
        assert_eq!(sim.on_idle(), b"\xff\x00\r\n");
        assert!(sim.on_idle().is_empty());
        let mut d = LineDecoder::new(cfg);
        d.feed(b"]E09787111213826\r\n");
        assert_eq!(d.next_line().unwrap().unwrap().text, "9787111213826");
    }

    #[test]
    fn scenario_file_parses_and_plays() {
        let json = r#"{ "terminator": "lf", "aim": true, "interval_ms": 0, "encoding": "gb18030",
            "steps": [ {"code": {"text": "借书证", "aim": "]Q1"}}, {"garbage": {"hex": "ff fe"}},
                       {"pause_ms": 0}, {"unplug_ms": 10} ] }"#;
        let sc: ScannerScenario = serde_json::from_str(json).unwrap();
        let (mut sim, _feed) = ScannerSim::from_scenario(&sc).unwrap();
        let first = sim.on_idle();
        assert_eq!(&first[..3], b"]Q1");
        assert_eq!(first.last(), Some(&b'\n'));
        assert_eq!(sim.on_idle(), b"\xff\xfe\n");
        assert!(ScannerSim::from_scenario(&ScannerScenario::demo()).is_ok());
        let bad: ScannerScenario =
            serde_json::from_str(r#"{"steps": [{"garbage": {"hex": "f"}}]}"#).unwrap();
        assert!(ScannerSim::from_scenario(&bad).is_err());
    }

    #[test]
    fn fixture_scenario_loads() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/scenarios/scanner-library.json"
        );
        let sc: ScannerScenario =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(ScannerSim::from_scenario(&sc).is_ok());
        assert!(sc.steps.contains(&ScanStep::UnplugMs(1500)));
    }
}
