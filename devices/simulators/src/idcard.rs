//! A GA/T 467 SAM ID-card reader (reference notes §1), speaking the real frames through the
//! `kiosk-idcard` codec from the SAM's side: reset, status, SAM id, find, select, read
//! (`30 01`, `30 10`), latest address (always "no content") and chip id.
//!
//! Like a real SAM, a card that has been read is not found again until it is removed and
//! placed again (`consume_on_read`, §1.5); some integrated readers keep finding it, which
//! `consume_on_read: false` models. Only synthetic people are used (张三 of the reference
//! vectors and the like).
//!
//! # Scenario files (`fixtures/scenarios/idcard-*.json`)
//!
//! ```json
//! {
//!   "card": { "kind": "resident", "name": "张三", "sex": "male", "nation": 1,
//!             "birth": "19900101", "address": "北京市东城区测试路1号",
//!             "number": "110101199001010015", "issuer": "北京市公安局东城分局",
//!             "valid_from": "20200101", "valid_until": "20300101", "fingerprint_len": 1024 },
//!   "consume_on_read": true,
//!   "fault": "none",
//!   "timeline": [ { "at_ms": 5000, "action": "remove" },
//!                 { "at_ms": 8000, "action": "place", "card": { "...": "..." } },
//!                 { "at_ms": 9000, "action": "fault", "fault": "garbage" } ]
//! }
//! ```
//!
//! * `card` (optional): the card in the field at start, `null` for an empty field. Fields:
//!   `kind` (`resident`, `hk-mo-tw-permit`, `foreign-permanent-2017`,
//!   `foreign-permanent-2023`), `name`, `english_name`, `sex` (`male`/`female`/`unknown`/
//!   `unspecified`), `nation` (GB 3304 number), `nationality` (ISO alpha-3), `birth`, `address`,
//!   `number`, `issuer`, `valid_from`, `valid_until` (`YYYYMMDD` or `长期`), `permit_number`,
//!   `issue_count`, `card_version`, `previous_link`, `photo_fill` (byte repeated over the 1024
//!   photo bytes), `fingerprint_len` (0, 512 or 1024 synthetic template bytes). The data is
//!   sent as given, unchecked: a wrong check digit makes a corrupt card for the host to reject.
//! * `consume_on_read` (default `true`): a read card is not found again until re-placed.
//! * `fault` (default `none`): `unreadable` (read answers 41), `select-fails` (81),
//!   `garbage` (every reply is noise), `bad-checksum` (every reply has a wrong CHK), `silent`
//!   (no reply), `sam-fault` (every command answers 60, self-test failed).
//! * `read_delay_ms` (default 0): how long the SAM takes to answer a read (a real one
//!   authenticates the card first, several hundred ms); during that time the simulator can be
//!   unplugged, as a cable pulled mid-read.
//! * `timeline`: actions at milliseconds after start: `place` (with `card`), `remove`,
//!   `fault` (with `fault`).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kiosk_idcard::command::{BaseMessage, Command, Response, SamStatus};
use kiosk_idcard::frame::{self, FrameError};
use kiosk_idcard::{CardKind, Date, IdCard, Sex, Validity, encode_text};
use serde::{Deserialize, Serialize};

use crate::runner::SerialDevice;

/// Noise sent instead of a reply by the `garbage` fault.
pub const GARBAGE_REPLY: &[u8] = b"\x13\x37 NOT A SAM FRAME \xFE\xFF";

/// The SAM id the simulator reports: `05.01-20240101-000000001-000000042`.
pub const SIM_SAM_ID: [u8; 16] = [5, 0, 1, 0, 0xE5, 0xD6, 0x34, 0x01, 1, 0, 0, 0, 42, 0, 0, 0];

/// A misbehaviour of the simulated reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimFault {
    #[default]
    None,
    /// Reading the card fails (SW3 41), as with a damaged card.
    Unreadable,
    /// Selecting the card fails (SW3 81).
    SelectFails,
    /// Every reply is noise without a preamble.
    Garbage,
    /// Every reply has a wrong checksum.
    BadChecksum,
    /// No reply at all.
    Silent,
    /// The SAM failed its self-test (SW3 60 to everything).
    SamFault,
}

/// A card as written in a scenario file (all text, as on the card).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScenarioCard {
    pub kind: String,
    pub name: String,
    pub english_name: String,
    pub sex: String,
    pub nation: Option<u8>,
    pub nationality: String,
    pub birth: String,
    pub address: String,
    pub number: String,
    pub issuer: String,
    pub valid_from: String,
    pub valid_until: String,
    pub permit_number: String,
    pub issue_count: Option<u8>,
    pub card_version: String,
    pub previous_link: String,
    pub photo_fill: u8,
    pub fingerprint_len: usize,
}

/// A scenario file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario is not valid JSON for the ID-card simulator: {0}")]
    Json(#[from] serde_json::Error),
    #[error("scenario card: {0}")]
    Card(String),
}

fn date(s: &str, what: &str) -> Result<Date, ScenarioError> {
    Date::parse_yyyymmdd(&s.replace('-', ""))
        .ok_or_else(|| ScenarioError::Card(format!("{what} '{s}' is not YYYYMMDD")))
}

impl ScenarioCard {
    /// The card the simulator holds.
    pub fn to_card(&self) -> Result<IdCard, ScenarioError> {
        let kind = match self.kind.as_str() {
            "" | "resident" => CardKind::Resident,
            "hk-mo-tw-permit" => CardKind::HkMoTwPermit,
            "foreign-permanent-2017" => CardKind::ForeignPermanent2017,
            "foreign-permanent-2023" => CardKind::ForeignPermanent2023,
            other => return Err(ScenarioError::Card(format!("unknown card kind '{other}'"))),
        };
        let mut c = IdCard::empty(kind);
        c.name = self.name.clone();
        c.english_name = self.english_name.clone();
        c.sex = match self.sex.as_str() {
            "male" | "1" => Sex::Male,
            "female" | "2" => Sex::Female,
            "unspecified" | "9" => Sex::Unspecified,
            "" | "unknown" | "0" => Sex::Unknown,
            other => return Err(ScenarioError::Card(format!("unknown sex '{other}'"))),
        };
        c.nation = self.nation;
        c.nationality = self.nationality.clone();
        c.birth = date(&self.birth, "birth")?;
        c.address = self.address.clone();
        c.number = self.number.clone();
        c.issuer = self.issuer.clone();
        c.valid_from = date(&self.valid_from, "valid_from")?;
        c.valid_until = if self.valid_until == "长期" {
            Validity::LongTerm
        } else {
            Validity::Until(date(&self.valid_until, "valid_until")?)
        };
        c.permit_number = self.permit_number.clone();
        c.issue_count = self.issue_count;
        c.card_version = self.card_version.clone();
        c.previous_link = self.previous_link.clone();
        c.photo = vec![self.photo_fill; 1024];
        c.fingerprint = (0..self.fingerprint_len).map(|i| i as u8).collect();
        encode_text(&c).map_err(|e| ScenarioError::Card(e.to_string()))?;
        Ok(c)
    }

    /// 张三 of the reference vectors (a synthetic person).
    pub fn zhang_san() -> ScenarioCard {
        ScenarioCard {
            kind: "resident".into(),
            name: "张三".into(),
            sex: "male".into(),
            nation: Some(1),
            birth: "19900101".into(),
            address: "北京市东城区测试路1号".into(),
            number: "110101199001010015".into(),
            issuer: "北京市公安局东城分局".into(),
            valid_from: "20200101".into(),
            valid_until: "20300101".into(),
            ..ScenarioCard::default()
        }
    }
}

/// Something that happens at a time after start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimedEvent {
    pub at_ms: u64,
    #[serde(flatten)]
    pub action: SimAction,
}

/// What a timeline entry does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
// A scenario holds a handful of these; boxing the card would only complicate the JSON mapping.
#[allow(clippy::large_enum_variant)]
pub enum SimAction {
    Place { card: ScenarioCard },
    Remove,
    Fault { fault: SimFault },
}

/// A scenario: the starting state and a timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdCardScenario {
    pub card: Option<ScenarioCard>,
    pub consume_on_read: bool,
    pub fault: SimFault,
    pub read_delay_ms: u64,
    pub timeline: Vec<TimedEvent>,
}

impl Default for IdCardScenario {
    fn default() -> Self {
        IdCardScenario {
            card: None,
            consume_on_read: true,
            fault: SimFault::None,
            read_delay_ms: 0,
            timeline: Vec::new(),
        }
    }
}

impl IdCardScenario {
    /// The demo: 张三's card lies on the reader.
    pub fn demo() -> Self {
        IdCardScenario {
            card: Some(ScenarioCard::zhang_san()),
            ..IdCardScenario::default()
        }
    }

    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        let s: IdCardScenario = serde_json::from_str(text)?;
        // Check every card now, not when the timeline reaches it.
        if let Some(c) = &s.card {
            c.to_card()?;
        }
        for e in &s.timeline {
            if let SimAction::Place { card } = &e.action {
                card.to_card()?;
            }
        }
        Ok(s)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }
}

#[derive(Default)]
struct State {
    card: Option<IdCard>,
    found: bool,
    selected: bool,
    consumed: bool,
    consume_on_read: bool,
    fault: SimFault,
    read_delay: Duration,
    reads: u64,
    requests: u64,
}

/// The simulated reader. Start it with [`crate::SerialSim::start`].
pub struct IdCardSim {
    state: Arc<Mutex<State>>,
    timeline: Vec<TimedEvent>,
    started: Instant,
    /// A read reply held back for `read_delay`, and when it is due.
    pending: Option<(Instant, Vec<u8>)>,
}

/// A held-back reply this late is for a client that has gone (unplug, timeout): dropped.
const STALE_AFTER: Duration = Duration::from_millis(300);

/// Changes what lies on a running simulator, from a test or the CLI.
#[derive(Clone)]
pub struct IdCardSimHandle {
    state: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl IdCardSimHandle {
    /// Places a card in the field (replacing any other).
    pub fn place(&self, card: IdCard) {
        let mut s = lock(&self.state);
        s.card = Some(card);
        s.consumed = false;
        s.found = false;
        s.selected = false;
    }

    /// Takes the card away.
    pub fn remove(&self) {
        let mut s = lock(&self.state);
        s.card = None;
        s.consumed = false;
        s.found = false;
        s.selected = false;
    }

    /// Makes the reader misbehave (or behave again with [`SimFault::None`]).
    pub fn set_fault(&self, fault: SimFault) {
        lock(&self.state).fault = fault;
    }

    /// How long reads take to answer (see `read_delay_ms`).
    pub fn set_read_delay(&self, delay: Duration) {
        lock(&self.state).read_delay = delay;
    }

    /// Successful card reads so far.
    pub fn reads(&self) -> u64 {
        lock(&self.state).reads
    }

    /// Requests received so far (any command).
    pub fn requests(&self) -> u64 {
        lock(&self.state).requests
    }
}

impl IdCardSim {
    /// A simulator in the scenario's starting state.
    pub fn new(scenario: &IdCardScenario) -> Result<Self, ScenarioError> {
        let card = scenario
            .card
            .as_ref()
            .map(ScenarioCard::to_card)
            .transpose()?;
        let mut timeline = scenario.timeline.clone();
        timeline.sort_by_key(|e| e.at_ms);
        Ok(IdCardSim {
            state: Arc::new(Mutex::new(State {
                card,
                consume_on_read: scenario.consume_on_read,
                fault: scenario.fault,
                read_delay: Duration::from_millis(scenario.read_delay_ms),
                ..State::default()
            })),
            timeline,
            started: Instant::now(),
            pending: None,
        })
    }

    /// A handle to change the state while it runs.
    pub fn handle(&self) -> IdCardSimHandle {
        IdCardSimHandle {
            state: Arc::clone(&self.state),
        }
    }

    fn run_timeline(&mut self) {
        let elapsed = self.started.elapsed().as_millis() as u64;
        while self.timeline.first().is_some_and(|e| e.at_ms <= elapsed) {
            let event = self.timeline.remove(0);
            let handle = self.handle();
            match event.action {
                SimAction::Place { card } => match card.to_card() {
                    Ok(c) => handle.place(c),
                    Err(e) => tracing::warn!("scenario card skipped: {e}"),
                },
                SimAction::Remove => handle.remove(),
                SimAction::Fault { fault } => handle.set_fault(fault),
            }
        }
    }

    /// The reply to one request body (`CMD PARA [DATA]`), or `None` for silence.
    fn answer(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut s = lock(&self.state);
        s.requests += 1;
        let reply = match s.fault {
            SimFault::Silent => return None,
            SimFault::Garbage => return Some(GARBAGE_REPLY.to_vec()),
            SimFault::SamFault => Response::new(SamStatus::SelfTestFailed, vec![]),
            _ => respond(&mut s, body),
        };
        let mut wire = reply.encode();
        if s.fault == SimFault::BadChecksum
            && let Some(last) = wire.last_mut()
        {
            *last ^= 0xFF;
        }
        Some(wire)
    }
}

fn status(st: SamStatus) -> Response {
    Response::new(st, Vec::new())
}

fn respond(s: &mut State, body: &[u8]) -> Response {
    if body.len() < 2 {
        return status(SamStatus::LengthError);
    }
    let Some(cmd) = Command::from_code([body[0], body[1]]) else {
        return status(SamStatus::BadCommand);
    };
    match cmd {
        Command::Reset => {
            s.found = false;
            s.selected = false;
            status(SamStatus::Success)
        }
        Command::Status => status(SamStatus::Success),
        Command::SamId => Response::new(SamStatus::Success, SIM_SAM_ID.to_vec()),
        Command::FindCard => {
            if s.card.is_some() && !s.consumed {
                s.found = true;
                Response::new(SamStatus::CardFound, vec![0; 4])
            } else {
                s.found = false;
                status(SamStatus::NoCard)
            }
        }
        Command::SelectCard => {
            if s.card.is_some() && s.found && s.fault != SimFault::SelectFails {
                s.selected = true;
                Response::new(SamStatus::Success, vec![0; 8])
            } else {
                status(SamStatus::SelectFailed)
            }
        }
        Command::ReadBase | Command::ReadBaseWithFingerprint => {
            let with_fp = cmd == Command::ReadBaseWithFingerprint;
            let data = match (&s.card, s.selected, s.fault) {
                (Some(card), true, SimFault::None | SimFault::BadChecksum) => {
                    encode_text(card).ok().map(|text| {
                        BaseMessage {
                            text: text.to_vec(),
                            photo: card.photo.clone(),
                            fingerprint: card.fingerprint.clone(),
                        }
                        .encode(with_fp)
                    })
                }
                _ => None,
            };
            s.selected = false;
            s.found = false;
            match data {
                Some(data) => {
                    s.reads += 1;
                    s.consumed = s.consume_on_read;
                    Response::new(SamStatus::Success, data)
                }
                None => {
                    // §1.5: after a read error the card must be removed and placed again.
                    if s.card.is_some() {
                        s.consumed = true;
                    }
                    status(SamStatus::ReadFailed)
                }
            }
        }
        Command::ReadNewAddress => {
            if s.card.is_some() {
                status(SamStatus::NoContent)
            } else {
                status(SamStatus::ReadFailed)
            }
        }
        Command::ReadChipId => {
            if s.card.is_some() {
                Response::new(SamStatus::Success, vec![0x5A; 8])
            } else {
                status(SamStatus::ReadFailed)
            }
        }
    }
}

impl SerialDevice for IdCardSim {
    fn on_input(&mut self, input: &mut Vec<u8>) -> Vec<u8> {
        self.run_timeline();
        let mut out = Vec::new();
        loop {
            match frame::decode(input) {
                None => break,
                Some(Ok((f, used))) => {
                    input.drain(..used);
                    let is_read = f.body().first() == Some(&0x30);
                    let delay = lock(&self.state).read_delay;
                    if let Some(reply) = self.answer(f.body()) {
                        if is_read && !delay.is_zero() {
                            self.pending = Some((Instant::now() + delay, reply));
                        } else {
                            out.extend(reply);
                        }
                    }
                }
                // A SAM skips noise before the preamble.
                Some(Err(FrameError::Garbage { skipped })) => {
                    input.drain(..skipped);
                }
                Some(Err(e)) => {
                    let skip = frame::resync(input);
                    input.drain(..skip);
                    let st = match e {
                        FrameError::BadChecksum { .. } => SamStatus::ChecksumError,
                        _ => SamStatus::LengthError,
                    };
                    if lock(&self.state).fault != SimFault::Silent {
                        out.extend(status(st).encode());
                    }
                }
            }
        }
        out
    }

    fn on_idle(&mut self) -> Vec<u8> {
        self.run_timeline();
        match self.pending.take() {
            Some((due, reply)) if Instant::now() >= due => {
                if due.elapsed() <= STALE_AFTER {
                    reply
                } else {
                    Vec::new()
                }
            }
            other => {
                self.pending = other;
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_idcard::command::Response;
    use kiosk_idcard::parse_text;

    fn ask(sim: &mut IdCardSim, cmd: Command) -> Response {
        let mut input = cmd.encode();
        let out = sim.on_input(&mut input);
        assert!(input.is_empty());
        let (f, used) = frame::decode(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        Response::from_frame(&f).unwrap()
    }

    #[test]
    fn reads_the_demo_card_once_until_replaced() {
        let mut sim = IdCardSim::new(&IdCardScenario::demo()).unwrap();
        assert_eq!(ask(&mut sim, Command::Status).status, SamStatus::Success);
        assert_eq!(
            ask(&mut sim, Command::FindCard).status,
            SamStatus::CardFound
        );
        assert_eq!(
            ask(&mut sim, Command::SelectCard).status,
            SamStatus::Success
        );
        let r = ask(&mut sim, Command::ReadBase);
        assert_eq!(r.status, SamStatus::Success);
        assert_eq!(r.data.len(), 4 + 256 + 1024);
        let msg = BaseMessage::parse(&r.data, false).unwrap();
        assert_eq!(parse_text(&msg.text).unwrap().name, "张三");
        assert_eq!(ask(&mut sim, Command::FindCard).status, SamStatus::NoCard);
        let h = sim.handle();
        h.remove();
        h.place(ScenarioCard::zhang_san().to_card().unwrap());
        assert_eq!(
            ask(&mut sim, Command::FindCard).status,
            SamStatus::CardFound
        );
        assert_eq!(h.reads(), 1);
    }

    #[test]
    fn scenario_json_and_faults() {
        let s = IdCardScenario::from_json(
            r#"{"card": null, "fault": "garbage",
                "timeline": [{"at_ms": 0, "action": "place", "card": {"name": "李四", "sex": "female", "nation": 3,
                  "birth": "19491231", "address": "北京市西城区测试街2号", "number": "11010519491231002X",
                  "issuer": "北京市公安局西城分局", "valid_from": "20100101", "valid_until": "长期"}}]}"#,
        )
        .unwrap();
        let mut sim = IdCardSim::new(&s).unwrap();
        let mut input = Command::FindCard.encode();
        assert_eq!(sim.on_input(&mut input), GARBAGE_REPLY);
        sim.handle().set_fault(SimFault::None);
        assert_eq!(
            ask(&mut sim, Command::FindCard).status,
            SamStatus::CardFound
        );
        assert!(IdCardScenario::from_json(r#"{"cards": []}"#).is_err());
        assert!(IdCardScenario::from_json(r#"{"card": {"birth": "1990"}}"#).is_err());
    }

    #[test]
    fn bad_frames_get_sam_errors() {
        let mut sim = IdCardSim::new(&IdCardScenario::default()).unwrap();
        let mut bad = Command::Status.encode();
        *bad.last_mut().unwrap() ^= 1;
        let mut input = [b"noise".to_vec(), bad, Command::Status.encode()].concat();
        let out = sim.on_input(&mut input);
        let (f, used) = frame::decode(&out).unwrap().unwrap();
        assert_eq!(
            Response::from_frame(&f).unwrap().status,
            SamStatus::ChecksumError
        );
        let (f, _) = frame::decode(&out[used..]).unwrap().unwrap();
        assert_eq!(Response::from_frame(&f).unwrap().status, SamStatus::Success);
        let mut unknown = frame::encode_frame(&[0x61, 0xFF]);
        assert_eq!(
            Response::from_frame(
                &frame::decode(&sim.on_input(&mut unknown))
                    .unwrap()
                    .unwrap()
                    .0
            )
            .unwrap()
            .status,
            SamStatus::BadCommand
        );
    }
}
