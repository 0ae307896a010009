//! A simulated R30x/AS608 fingerprint module speaking the Synochip protocol (reference notes
//! §2) with the driver's own codec: a template library with a capacity, two character
//! buffers, a password, and a scriptable sensor.
//!
//! The sensor is a script of finger states consumed one per GenImg, the last one staying: with
//! `["alice", "none", "alice"]` an enrolment sees alice, then the lifted finger, then alice
//! again, and every later capture sees alice. A state is `"none"` (no finger), `"poor"` (a
//! smudged finger: the image is taken but too messy to extract), or any other word naming a
//! synthetic finger; the same name always gives the same template, so a search hits the page
//! where that name was enrolled and misses for any other name. Tests change the script while
//! the simulator runs through [`FingerprintSimHandle`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use kiosk_fingerprint::{
    Ack, CharBuffer, Command, MAX_TEMPLATE, ModuleError, Packet, PacketDecoder, PacketKind,
    PacketSize, Reassembly, SearchHit, SystemParameters, Template, split_data,
};
use serde::Deserialize;

use crate::runner::SerialDevice;

/// Bytes of a synthetic character file (the common R307/AS608 size).
pub const TEMPLATE_LEN: usize = 512;

/// What lies on the sensor at one GenImg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerState {
    Absent,
    /// A finger whose image is too messy to extract features from.
    Smudged,
    /// A synthetic finger, by name.
    Finger(String),
}

impl FingerState {
    pub fn parse(s: &str) -> Self {
        match s {
            "none" | "" => FingerState::Absent,
            "poor" => FingerState::Smudged,
            name => FingerState::Finger(name.to_string()),
        }
    }
}

/// One template stored before the simulator starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrolled {
    pub slot: u16,
    pub finger: String,
}

/// A scenario file (`fixtures/scenarios/fingerprint-*.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FingerprintScenario {
    /// What the scenario shows, for people.
    pub description: String,
    /// The module password, 8 hex digits (default `00000000`: no verification needed).
    pub password: String,
    /// The module address, 8 hex digits (default `FFFFFFFF`).
    pub address: String,
    /// Library size in templates.
    pub capacity: u16,
    /// Data packet size: 32, 64, 128 or 256.
    pub packet_size: usize,
    /// Match threshold level 1–5 (reported only).
    pub security_level: u16,
    /// Templates already in the library.
    pub enrolled: Vec<Enrolled>,
    /// The sensor script, one state per GenImg, the last one staying.
    pub fingers: Vec<String>,
    /// Answer every command with bytes that are not a packet (a wrong device on the port).
    pub garbage: bool,
}

impl Default for FingerprintScenario {
    fn default() -> Self {
        FingerprintScenario {
            description: String::new(),
            password: "00000000".into(),
            address: "FFFFFFFF".into(),
            capacity: 163,
            packet_size: 128,
            security_level: 3,
            enrolled: Vec::new(),
            fingers: Vec::new(),
            garbage: false,
        }
    }
}

/// Why a scenario cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario is not valid JSON for a fingerprint module: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{field} '{value}' is not 8 hexadecimal digits")]
    Hex { field: &'static str, value: String },
    #[error("packet size {0} (expected 32, 64, 128 or 256)")]
    PacketSize(usize),
    #[error("enrolled slot {slot} is beyond the capacity {capacity}")]
    Slot { slot: u16, capacity: u16 },
}

fn hex32(field: &'static str, value: &str) -> Result<u32, ScenarioError> {
    if value.len() != 8 {
        return Err(ScenarioError::Hex {
            field,
            value: value.into(),
        });
    }
    u32::from_str_radix(value, 16).map_err(|_| ScenarioError::Hex {
        field,
        value: value.into(),
    })
}

impl FingerprintScenario {
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        let s: FingerprintScenario = serde_json::from_str(text)?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        hex32("password", &self.password)?;
        hex32("address", &self.address)?;
        PacketSize::from_bytes(self.packet_size)
            .ok_or(ScenarioError::PacketSize(self.packet_size))?;
        if let Some(e) = self.enrolled.iter().find(|e| e.slot >= self.capacity) {
            return Err(ScenarioError::Slot {
                slot: e.slot,
                capacity: self.capacity,
            });
        }
        Ok(())
    }
}

/// The synthetic character file of a named finger: deterministic bytes from the name.
pub fn synthetic_template(name: &str) -> Template {
    // FNV-1a seed, then xorshift: stable across runs and platforms.
    let mut x = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
        .max(1);
    let mut bytes = Vec::with_capacity(TEMPLATE_LEN);
    bytes.extend_from_slice(&[0x03, 0x01]);
    while bytes.len() < TEMPLATE_LEN {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.push(x as u8);
    }
    Template::new(bytes)
}

/// The module's state, shared between the simulator thread and its handle.
struct Module {
    params: SystemParameters,
    password: u32,
    verified: bool,
    library: BTreeMap<u16, Template>,
    buffers: [Option<Template>; 2],
    image: Option<FingerState>,
    sensor: VecDeque<FingerState>,
    garbage: bool,
    download: Option<(CharBuffer, Reassembly)>,
    commands: Vec<u8>,
}

impl Module {
    fn from_scenario(s: &FingerprintScenario) -> Result<Self, ScenarioError> {
        s.validate()?;
        let params = SystemParameters {
            capacity: s.capacity,
            security_level: s.security_level,
            address: hex32("address", &s.address)?,
            packet_size: PacketSize::from_bytes(s.packet_size)
                .ok_or(ScenarioError::PacketSize(s.packet_size))?,
            ..SystemParameters::default()
        };
        let mut sensor: VecDeque<FingerState> =
            s.fingers.iter().map(|f| FingerState::parse(f)).collect();
        if sensor.is_empty() {
            sensor.push_back(FingerState::Absent);
        }
        Ok(Module {
            params,
            password: hex32("password", &s.password)?,
            verified: false,
            library: s
                .enrolled
                .iter()
                .map(|e| (e.slot, synthetic_template(&e.finger)))
                .collect(),
            buffers: [None, None],
            image: None,
            sensor,
            garbage: s.garbage,
            download: None,
            commands: Vec::new(),
        })
    }

    fn buffer(&mut self, b: CharBuffer) -> &mut Option<Template> {
        &mut self.buffers[usize::from(b.code() - 1)]
    }

    /// What the sensor shows at this GenImg; the script advances, the last state stays.
    fn sense(&mut self) -> FingerState {
        if self.sensor.len() > 1 {
            self.sensor.pop_front().unwrap_or(FingerState::Absent)
        } else {
            self.sensor.front().cloned().unwrap_or(FingerState::Absent)
        }
    }

    /// Handles one packet from the host; returns the reply bytes.
    fn on_packet(&mut self, packet: &Packet) -> Vec<u8> {
        let address = self.params.address;
        if packet.address != address {
            // A module ignores packets for another address.
            return Vec::new();
        }
        if matches!(packet.kind, PacketKind::Data | PacketKind::End) {
            return self.on_download(packet);
        }
        let cmd = match Command::from_packet(packet) {
            Ok(cmd) => cmd,
            Err(_) => return Ack::error(ModuleError::PacketReceive).encode(address),
        };
        self.commands.push(cmd.code());
        if self.password != 0 && !self.verified && !matches!(cmd, Command::VfyPwd { .. }) {
            return Ack::error(ModuleError::PasswordRequired).encode(address);
        }
        if let Command::UpChar(b) = cmd {
            return match self.buffer(b).clone() {
                Some(t) => {
                    let mut out = Ack::ok(vec![]).encode(address);
                    for p in split_data(address, t.as_bytes(), self.params.packet_size) {
                        out.extend(p.encode());
                    }
                    out
                }
                None => Ack::error(ModuleError::UploadTemplate).encode(address),
            };
        }
        let ack = match self.execute(cmd) {
            Ok(params) => Ack::ok(params),
            Err(e) => Ack::error(e),
        };
        ack.encode(address)
    }

    fn on_download(&mut self, packet: &Packet) -> Vec<u8> {
        let Some((b, mut re)) = self.download.take() else {
            return Vec::new();
        };
        match re.push(packet) {
            Ok(true) => *self.buffer(b) = Some(re.into_template()),
            Ok(false) => self.download = Some((b, re)),
            // The module drops a broken transfer; the host notices at its next command.
            Err(_) => {}
        }
        Vec::new()
    }

    fn execute(&mut self, cmd: Command) -> Result<Vec<u8>, ModuleError> {
        let capacity = self.params.capacity;
        match cmd {
            Command::VfyPwd { password } => {
                if password == self.password {
                    self.verified = true;
                    Ok(vec![])
                } else {
                    Err(ModuleError::WrongPassword)
                }
            }
            Command::ReadSysPara => {
                let mut p = self.params;
                p.status = if self.verified { 0b0100 } else { 0 };
                Ok(p.to_bytes().to_vec())
            }
            Command::TemplateNum => Ok((self.library.len() as u16).to_be_bytes().to_vec()),
            Command::GenImg => match self.sense() {
                FingerState::Absent => Err(ModuleError::NoFinger),
                seen => {
                    self.image = Some(seen);
                    Ok(vec![])
                }
            },
            Command::Img2Tz(b) => {
                let template = match self.image.clone() {
                    None | Some(FingerState::Absent) => return Err(ModuleError::NoValidImage),
                    Some(FingerState::Smudged) => return Err(ModuleError::ImageTooMessy),
                    Some(FingerState::Finger(name)) => synthetic_template(&name),
                };
                *self.buffer(b) = Some(template);
                Ok(vec![])
            }
            Command::RegModel => match (&self.buffers[0], &self.buffers[1]) {
                (Some(a), Some(b)) if a == b => {
                    self.buffers[1] = Some(a.clone());
                    Ok(vec![])
                }
                _ => Err(ModuleError::MergeFailed),
            },
            Command::Store { buffer, page } => {
                if page >= capacity {
                    return Err(ModuleError::PageOutOfRange);
                }
                let t = self.buffer(buffer).clone().ok_or(ModuleError::Undefined)?;
                self.library.insert(page, t);
                Ok(vec![])
            }
            Command::LoadChar { buffer, page } => {
                if page >= capacity {
                    return Err(ModuleError::PageOutOfRange);
                }
                let t = self
                    .library
                    .get(&page)
                    .cloned()
                    .ok_or(ModuleError::ReadTemplate)?;
                *self.buffer(buffer) = Some(t);
                Ok(vec![])
            }
            Command::DownChar(b) => {
                self.download = Some((b, Reassembly::new(self.params.address, MAX_TEMPLATE)));
                Ok(vec![])
            }
            Command::Search {
                buffer,
                start,
                count,
            }
            | Command::HighSpeedSearch {
                buffer,
                start,
                count,
            } => {
                let probe = self
                    .buffer(buffer)
                    .clone()
                    .ok_or(ModuleError::NoValidImage)?;
                let end = u32::from(start) + u32::from(count);
                self.library
                    .iter()
                    .find(|(page, t)| u32::from(**page) < end && **page >= start && **t == probe)
                    .map(|(&page, _)| SearchHit { page, score: 100 }.to_params())
                    .ok_or(ModuleError::NotFound)
            }
            Command::Match => match (&self.buffers[0], &self.buffers[1]) {
                (Some(a), Some(b)) if a == b => Ok(100u16.to_be_bytes().to_vec()),
                _ => Err(ModuleError::NoMatch),
            },
            Command::DeleteChar { page, count } => {
                if u32::from(page) + u32::from(count) > u32::from(capacity) {
                    return Err(ModuleError::DeleteFailed);
                }
                self.library.retain(|p, _| *p < page || *p - page >= count);
                Ok(vec![])
            }
            Command::Empty => {
                self.library.clear();
                Ok(vec![])
            }
            Command::ReadIndexTable { page } => {
                if page > 3 {
                    return Err(ModuleError::WrongNotepadPage);
                }
                let mut bits = vec![0u8; 32];
                let base = u16::from(page) * 256;
                for &p in self.library.keys() {
                    if p >= base && p - base < 256 {
                        let i = usize::from(p - base);
                        bits[i / 8] |= 1 << (i % 8);
                    }
                }
                Ok(bits)
            }
            Command::UpChar(_) => Err(ModuleError::Undefined),
        }
    }
}

/// What a garbled device answers instead of a packet.
pub const GARBAGE: &[u8] = b"\x00\x13\x37 not a fingerprint module \xff";

/// Changes a running simulator from a test.
#[derive(Clone)]
pub struct FingerprintSimHandle {
    module: Arc<Mutex<Module>>,
}

impl FingerprintSimHandle {
    fn lock(&self) -> MutexGuard<'_, Module> {
        self.module.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the sensor script (see the module docs).
    pub fn script(&self, states: &[&str]) {
        let mut m = self.lock();
        m.sensor = states.iter().map(|s| FingerState::parse(s)).collect();
        if m.sensor.is_empty() {
            m.sensor.push_back(FingerState::Absent);
        }
    }

    /// Places a named finger (and leaves it there).
    pub fn place(&self, finger: &str) {
        self.script(&[finger]);
    }

    /// Lifts the finger.
    pub fn lift(&self) {
        self.script(&["none"]);
    }

    /// Answers with garbage (or stops doing so).
    pub fn set_garbage(&self, on: bool) {
        self.lock().garbage = on;
    }

    /// Templates in the library.
    pub fn template_count(&self) -> usize {
        self.lock().library.len()
    }

    /// The slots in use.
    pub fn slots(&self) -> Vec<u16> {
        self.lock().library.keys().copied().collect()
    }

    /// Instruction codes received so far.
    pub fn commands(&self) -> Vec<u8> {
        self.lock().commands.clone()
    }
}

/// The simulated module, to run with [`crate::SerialSim::start`].
pub struct FingerprintSim {
    module: Arc<Mutex<Module>>,
    decoder: PacketDecoder,
}

impl FingerprintSim {
    pub fn new(scenario: &FingerprintScenario) -> Result<Self, ScenarioError> {
        Ok(FingerprintSim {
            module: Arc::new(Mutex::new(Module::from_scenario(scenario)?)),
            decoder: PacketDecoder::new(),
        })
    }

    pub fn handle(&self) -> FingerprintSimHandle {
        FingerprintSimHandle {
            module: Arc::clone(&self.module),
        }
    }
}

impl SerialDevice for FingerprintSim {
    fn on_input(&mut self, input: &mut Vec<u8>) -> Vec<u8> {
        self.decoder.push(input);
        zeroize_vec(input);
        let mut out = Vec::new();
        let mut m = self.module.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match self.decoder.next_packet() {
                Ok(Some(packet)) => {
                    if m.garbage {
                        out.extend_from_slice(GARBAGE);
                    } else {
                        out.extend(m.on_packet(&packet));
                    }
                }
                Ok(None) => break,
                // Garbage from the host is skipped, as the module's receiver does.
                Err(_) => continue,
            }
        }
        out
    }
}

fn zeroize_vec(v: &mut Vec<u8>) {
    v.iter_mut().for_each(|b| *b = 0);
    v.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_fingerprint::decode_upload;

    fn run(sim: &mut FingerprintSim, cmd: Command) -> Ack {
        let mut input = cmd.encode(0xFFFF_FFFF);
        let out = sim.on_input(&mut input);
        let (p, _) = Packet::decode(&out).unwrap().unwrap();
        Ack::from_packet(&p, 0xFFFF_FFFF).unwrap()
    }

    #[test]
    fn enrol_then_search_hits_and_upload_round_trips() {
        let scenario = FingerprintScenario {
            fingers: vec!["alice".into(), "none".into(), "alice".into()],
            packet_size: 32,
            ..Default::default()
        };
        let mut sim = FingerprintSim::new(&scenario).unwrap();
        let b1 = CharBuffer::One;
        for cmd in [
            Command::VfyPwd { password: 0 },
            Command::GenImg,
            Command::Img2Tz(b1),
        ] {
            assert_eq!(run(&mut sim, cmd).code, 0);
        }
        assert_eq!(run(&mut sim, Command::GenImg).code, 2);
        for cmd in [
            Command::GenImg,
            Command::Img2Tz(CharBuffer::Two),
            Command::RegModel,
            Command::Store {
                buffer: b1,
                page: 4,
            },
            Command::GenImg,
            Command::Img2Tz(b1),
        ] {
            assert_eq!(run(&mut sim, cmd).code, 0);
        }
        let hit = run(
            &mut sim,
            Command::Search {
                buffer: b1,
                start: 0,
                count: 163,
            },
        );
        assert_eq!(
            SearchHit::from_params(hit.result().unwrap()).unwrap().page,
            4
        );
        let mut up = Command::UpChar(b1).encode(0xFFFF_FFFF);
        let wire = sim.on_input(&mut up);
        let t = decode_upload(&wire, 0xFFFF_FFFF, MAX_TEMPLATE)
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(t, synthetic_template("alice"));
        sim.handle().place("bob");
        run(&mut sim, Command::GenImg);
        run(&mut sim, Command::Img2Tz(b1));
        let miss = run(
            &mut sim,
            Command::Search {
                buffer: b1,
                start: 0,
                count: 163,
            },
        );
        assert_eq!(miss.result(), Err(ModuleError::NotFound));
    }

    #[test]
    fn password_and_garbage() {
        let scenario = FingerprintScenario {
            password: "12345678".into(),
            ..Default::default()
        };
        let mut sim = FingerprintSim::new(&scenario).unwrap();
        assert_eq!(
            run(&mut sim, Command::TemplateNum).result(),
            Err(ModuleError::PasswordRequired)
        );
        assert_eq!(
            run(&mut sim, Command::VfyPwd { password: 0 }).result(),
            Err(ModuleError::WrongPassword)
        );
        assert_eq!(
            run(
                &mut sim,
                Command::VfyPwd {
                    password: 0x12345678
                }
            )
            .code,
            0
        );
        sim.handle().set_garbage(true);
        let mut input = Command::TemplateNum.encode(0xFFFF_FFFF);
        assert_eq!(sim.on_input(&mut input), GARBAGE);
    }

    #[test]
    fn scenario_files_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("fingerprint-") && name.ends_with(".json") {
                let text = std::fs::read_to_string(&path).unwrap();
                FingerprintScenario::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                seen += 1;
            }
        }
        assert!(seen >= 3);
        assert!(FingerprintScenario::from_json(r#"{"packet_size": 100}"#).is_err());
        assert!(FingerprintScenario::from_json(r#"{"pasword": "00000000"}"#).is_err());
    }
}
