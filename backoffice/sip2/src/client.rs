//! The sans-IO session (library.md §1.5, §1.8): login `93` → status `99`, one request in flight,
//! sequence numbers 0–9 echoed by the ACS, resend on `96`, `97` after a bad checksum, retries
//! after a timeout with the ACS's timeout period and retry count (clamped: many servers send
//! `000` or `999`), keep-alive `99` when idle. Time comes in as [`Instant`]s, bytes in and out as
//! slices; the blocking TCP driver is [`crate::transport::Client`].

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::frame::{FrameError, Framer};
use crate::message::*;
use crate::settings::Settings;

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No connection.
    Disconnected,
    /// `93` sent.
    LoggingIn,
    /// `94` ok, `99` sent.
    FetchingStatus,
    /// Logged in with a known ACS status.
    Ready,
}

/// What to do after bytes arrived or a deadline passed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // short-lived; boxing would only add an allocation
pub enum Step {
    /// Nothing complete yet: read more, or wait for [`Session::deadline`].
    Wait,
    /// Write these bytes (a resend, a `97`, or the `99` after login), then keep reading.
    Send(Vec<u8>),
    /// Login and status are done; the session takes requests.
    Ready,
    /// The answer to the request in flight.
    Done(Message),
}

/// Counters for health reporting and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: u64,
    pub responses: u64,
    /// Retries after a timeout.
    pub timeouts: u64,
    /// `96` received (the ACS saw a bad checksum) and the request resent.
    pub sc_resends: u64,
    /// `97` sent after a bad checksum on a response.
    pub acs_resends: u64,
    /// Responses whose checksum was right only over code points (accepted).
    pub codepoint_checksums: u64,
    /// Responses with a sequence number other than the request's (ignored).
    pub stale_responses: u64,
    /// Frames dropped as oversized.
    pub oversized: u64,
    /// Logins sent.
    pub logins: u64,
    /// Reconnections after a dropped connection (set by the transport).
    pub reconnects: u64,
}

#[derive(Debug, Clone)]
struct InFlight {
    expect: &'static str,
    bytes: Vec<u8>,
    sequence: Option<u8>,
    deadline: Instant,
    retries: u32,
    resends: u32,
    /// The user's request (None for the session's own login and status).
    request: Option<Message>,
}

/// The SIP2 session state machine.
#[derive(Debug, Clone)]
pub struct Session {
    settings: Settings,
    codec: Codec,
    framer: Framer,
    state: SessionState,
    next_sequence: u8,
    in_flight: Option<InFlight>,
    acs: Option<AcsStatusResponse>,
    last_activity: Option<Instant>,
    counters: Counters,
}

impl Session {
    pub fn new(settings: Settings) -> Self {
        Session {
            codec: Codec::new(settings.charset, settings.terminator),
            framer: Framer::new(settings.max_frame),
            settings,
            state: SessionState::Disconnected,
            next_sequence: 0,
            in_flight: None,
            acs: None,
            last_activity: None,
            counters: Counters::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    pub fn state(&self) -> SessionState {
        self.state
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// The last ACS status (`98`).
    pub fn acs_status(&self) -> Option<&AcsStatusResponse> {
        self.acs.as_ref()
    }

    /// Per-attempt timeout: the ACS's timeout period (tenths of a second) clamped to the
    /// settings' bounds, or the settings' default before `98` and for `000`/`999`.
    pub fn timeout(&self) -> Duration {
        let s = &self.settings;
        let acs = self
            .acs
            .as_ref()
            .and_then(|a| a.timeout_period.trim().parse::<u64>().ok())
            .filter(|t| *t != 0 && *t != 999);
        match acs {
            Some(tenths) => Duration::from_millis(
                (tenths * 100).clamp(s.min_timeout_ms, s.max_timeout_ms.max(s.min_timeout_ms)),
            ),
            None => s.timeout(),
        }
    }

    /// Retries after a timeout: the ACS's retries allowed (capped), or the settings' default.
    pub fn retries(&self) -> u32 {
        let s = &self.settings;
        self.acs
            .as_ref()
            .and_then(|a| a.retries_allowed.trim().parse::<u32>().ok())
            .filter(|r| *r != 999)
            .map(|r| r.min(s.max_retries))
            .unwrap_or(s.retries)
    }

    /// When the request in flight times out.
    pub fn deadline(&self) -> Option<Instant> {
        self.in_flight.as_ref().map(|f| f.deadline)
    }

    /// Whether a request is waiting for its answer.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// When the next keep-alive `99` is due (Ready and idle).
    pub fn keepalive_due_at(&self) -> Option<Instant> {
        if self.state != SessionState::Ready || self.in_flight.is_some() {
            return None;
        }
        self.last_activity
            .map(|t| t + Duration::from_secs(self.settings.keepalive_secs))
    }

    pub fn keepalive_due(&self, now: Instant) -> bool {
        self.keepalive_due_at().is_some_and(|t| now >= t)
    }

    /// A connection is open: starts the login. Returns the `93` to write.
    pub fn connected(&mut self, now: Instant) -> Result<Vec<u8>, Error> {
        self.framer.clear();
        self.in_flight = None;
        self.state = SessionState::LoggingIn;
        self.counters.logins += 1;
        let login = self.settings.login();
        self.send(login, None, now)
    }

    /// The connection is gone. Returns the user request that was in flight, if any, so the
    /// transport can send it again once after logging in again.
    pub fn disconnected(&mut self) -> Option<Message> {
        self.state = SessionState::Disconnected;
        self.framer.clear();
        self.in_flight.take().and_then(|f| f.request)
    }

    /// Starts a request. Returns the bytes to write.
    pub fn start(&mut self, request: Message, now: Instant) -> Result<Vec<u8>, Error> {
        if self.state != SessionState::Ready {
            return Err(Error::new(
                ErrorKind::Offline,
                "SIP2 session is not logged in",
            ));
        }
        if self.in_flight.is_some() {
            return Err(Error::new(
                ErrorKind::Protocol,
                "a SIP2 request is already waiting for its answer",
            ));
        }
        self.counters.requests += 1;
        self.send(request.clone(), Some(request), now)
    }

    fn send(
        &mut self,
        msg: Message,
        user: Option<Message>,
        now: Instant,
    ) -> Result<Vec<u8>, Error> {
        let expect = response_id(msg.id()).ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("message {} is not a request", msg.id()),
            )
        })?;
        let raw = msg.to_raw()?;
        let (trailer, sequence) = if self.settings.error_detection {
            let seq = self.next_sequence;
            self.next_sequence = (seq + 1) % 10;
            (Trailer::Checksum { sequence: seq }, Some(seq))
        } else {
            (Trailer::None, None)
        };
        let bytes = self.codec.encode(&raw, trailer)?;
        self.in_flight = Some(InFlight {
            expect,
            bytes: bytes.clone(),
            sequence,
            deadline: now + self.timeout(),
            retries: 0,
            resends: 0,
            request: user,
        });
        Ok(bytes)
    }

    /// The deadline passed: resend the request (the same bytes, so an ACS that saw it answers
    /// with a replay) or fail with [`ErrorKind::Timeout`] after the allowed retries.
    pub fn on_deadline(&mut self, now: Instant) -> Result<Step, Error> {
        let timeout = self.timeout();
        let retries = self.retries();
        let Some(f) = self.in_flight.as_mut() else {
            return Ok(Step::Wait);
        };
        if now < f.deadline {
            return Ok(Step::Wait);
        }
        if f.retries >= retries {
            let expect = f.expect;
            let attempts = f.retries + 1;
            self.in_flight = None;
            if self.state != SessionState::Ready {
                self.state = SessionState::Disconnected;
            }
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "no SIP2 answer ({expect}) after {attempts} attempts of {} ms; check the ILS is up, \
                     the character set and the terminator",
                    timeout.as_millis()
                ),
            ));
        }
        f.retries += 1;
        f.deadline = now + timeout;
        self.counters.timeouts += 1;
        Ok(Step::Send(f.bytes.clone()))
    }

    /// Bytes arrived (possibly none: call with `&[]` to process frames already buffered).
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<Step, Error> {
        self.framer.push(bytes);
        loop {
            let frame = match self.framer.next_frame() {
                None => return Ok(Step::Wait),
                Some(Err(FrameError::Oversized { .. })) => {
                    self.counters.oversized += 1;
                    if let Some(step) = self.ask_acs_resend(now)? {
                        return Ok(step);
                    }
                    continue;
                }
                Some(Ok(frame)) => frame,
            };
            if let Some(step) = self.on_frame(&frame, now)? {
                return Ok(step);
            }
        }
    }

    /// `97` after a damaged response, within the resend limit.
    fn ask_acs_resend(&mut self, now: Instant) -> Result<Option<Step>, Error> {
        let max = self.settings.max_resends;
        let timeout = self.timeout();
        let Some(f) = self.in_flight.as_mut() else {
            return Ok(None);
        };
        if f.resends >= max {
            self.in_flight = None;
            return Err(Error::new(
                ErrorKind::Checksum,
                format!(
                    "SIP2 answers kept arriving damaged after {max} resends; check the character set \
                     and the line"
                ),
            ));
        }
        f.resends += 1;
        f.deadline = now + timeout;
        self.counters.acs_resends += 1;
        let raw = RequestAcsResend::default().to_raw()?;
        let trailer = if self.settings.error_detection {
            Trailer::Checksum { sequence: 0 }
        } else {
            Trailer::None
        };
        Ok(Some(Step::Send(self.codec.encode(&raw, trailer)?)))
    }

    fn on_frame(&mut self, frame: &[u8], now: Instant) -> Result<Option<Step>, Error> {
        if self.in_flight.is_none() {
            // Nothing asked: a late duplicate or an unsolicited message. Ignore it.
            self.counters.stale_responses += 1;
            return Ok(None);
        }
        let decoded = match self.codec.decode(frame) {
            Ok(d) => d,
            Err(crate::error::DecodeError::Checksum { .. }) => return self.ask_acs_resend(now),
            Err(e) => {
                self.in_flight = None;
                return Err(Error::new(
                    e.kind(),
                    format!("{e}; check the character set and that the peer speaks SIP2"),
                ));
            }
        };
        if decoded.checksum == crate::message::ChecksumStatus::CodePoints {
            self.counters.codepoint_checksums += 1;
            tracing::warn!("SIP2 response checksum summed over code points, accepted");
        }
        if decoded.message.id == "96" {
            let max = self.settings.max_resends;
            let timeout = self.timeout();
            let f = self.in_flight.as_mut().expect("checked above");
            if f.resends >= max {
                self.in_flight = None;
                return Err(Error::new(
                    ErrorKind::Checksum,
                    format!(
                        "the ILS kept asking for a resend (96) after {max} resends; check the \
                         character set and the terminator (CR or CR LF)"
                    ),
                ));
            }
            f.resends += 1;
            f.deadline = now + timeout;
            self.counters.sc_resends += 1;
            return Ok(Some(Step::Send(f.bytes.clone())));
        }
        let f = self.in_flight.as_ref().expect("checked above");
        if let (Some(want), Some(got)) = (f.sequence, decoded.sequence)
            && want != got
        {
            self.counters.stale_responses += 1;
            return Ok(None);
        }
        if decoded.message.id != f.expect {
            let expect = f.expect;
            self.in_flight = None;
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "the ILS answered {} where {expect} was expected",
                    decoded.message.id
                ),
            ));
        }
        let message = Message::from_raw(&decoded.message)?;
        let f = self.in_flight.take().expect("checked above");
        self.last_activity = Some(now);
        self.counters.responses += 1;
        match message {
            Message::LoginResponse(ref r) if self.state == SessionState::LoggingIn => {
                if !flag(&r.ok) {
                    self.state = SessionState::Disconnected;
                    return Err(Error::new(
                        ErrorKind::LoginRefused,
                        "the ILS refused the SIP2 login (94 ok=0); check --user, --password and \
                         --location",
                    ));
                }
                self.state = SessionState::FetchingStatus;
                let status = self.settings.sc_status();
                Ok(Some(Step::Send(self.send(status, None, now)?)))
            }
            Message::AcsStatusResponse(ref r) => {
                self.acs = Some(r.clone());
                if self.state == SessionState::FetchingStatus {
                    self.state = SessionState::Ready;
                    if f.request.is_none() {
                        return Ok(Some(Step::Ready));
                    }
                }
                Ok(Some(Step::Done(message)))
            }
            other => Ok(Some(Step::Done(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Timestamp;

    fn settings() -> Settings {
        Settings {
            institution_id: "CN-TEST".into(),
            login_user: "kiosk".into(),
            login_password: "secret".into(),
            ..Default::default()
        }
    }

    fn reply(s: &Session, text: &str, seq: Option<u8>) -> Vec<u8> {
        let raw = s.codec().decode(text.as_bytes()).unwrap().message;
        let trailer = seq.map_or(Trailer::None, |sequence| Trailer::Checksum { sequence });
        s.codec().encode(&raw, trailer).unwrap()
    }

    const ACS: &str = "98YYYYYY010003";

    fn status_reply() -> String {
        format!("{ACS}20260101    0000002.00AOCN-TEST|BXYYYYYYYYYYYYYYYY|")
    }

    fn logged_in(now: Instant) -> Session {
        let mut s = Session::new(settings());
        let login = s.connected(now).unwrap();
        assert!(login.starts_with(b"9300CNkiosk|COsecret|AY0AZ"));
        let r = reply(&s, "941", Some(0));
        let Step::Send(status) = s.receive(&r, now).unwrap() else {
            panic!()
        };
        assert!(status.starts_with(b"990040"));
        let r = reply(&s, &status_reply(), Some(1));
        assert_eq!(s.receive(&r, now).unwrap(), Step::Ready);
        assert_eq!(s.state(), SessionState::Ready);
        s
    }

    #[test]
    fn login_then_status_and_acs_timeouts() {
        let now = Instant::now();
        let s = logged_in(now);
        assert_eq!(s.timeout(), Duration::from_millis(1000));
        assert_eq!(s.retries(), 3);
    }

    #[test]
    fn refused_login() {
        let now = Instant::now();
        let mut s = Session::new(settings());
        s.connected(now).unwrap();
        let r = reply(&s, "940", Some(0));
        let e = s.receive(&r, now).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LoginRefused);
    }

    #[test]
    fn resend_on_96_and_97_on_bad_checksum() {
        let now = Instant::now();
        let mut s = logged_in(now);
        let req = s.settings().item_information("B001", Timestamp(0));
        let sent = s.start(req, now).unwrap();
        // 96: the same bytes again.
        let r96 = s
            .codec()
            .encode(
                &RequestScResend::default().to_raw().unwrap(),
                Trailer::Checksum { sequence: 0 },
            )
            .unwrap();
        assert_eq!(s.receive(&r96, now).unwrap(), Step::Send(sent.clone()));
        // A damaged answer: 97.
        let mut bad = reply(&s, "1803020020260101    000000ABB001|AJ三体|", Some(2));
        let n = bad.len();
        bad[n - 8] ^= 1;
        assert_eq!(
            s.receive(&bad, now).unwrap(),
            Step::Send(b"97AZFEF5\r".to_vec())
        );
        // A stale answer with another sequence number is ignored, the right one completes.
        let stale = reply(&s, "1803020020260101    000000ABB000|AJx|", Some(7));
        assert_eq!(s.receive(&stale, now).unwrap(), Step::Wait);
        let good = reply(&s, "1803020020260101    000000ABB001|AJ三体|", Some(2));
        let Step::Done(Message::ItemInformationResponse(m)) = s.receive(&good, now).unwrap() else {
            panic!()
        };
        assert_eq!(m.title_identifier.as_deref(), Some("三体"));
        let c = s.counters();
        assert_eq!((c.sc_resends, c.acs_resends, c.stale_responses), (1, 1, 1));
    }

    #[test]
    fn timeouts_retry_then_fail() {
        let now = Instant::now();
        let mut s = logged_in(now);
        let sent = s.start(s.settings().sc_status(), now).unwrap();
        let mut t = now;
        for _ in 0..3 {
            t += s.timeout();
            assert_eq!(s.on_deadline(t).unwrap(), Step::Send(sent.clone()));
        }
        t += s.timeout();
        assert_eq!(s.on_deadline(t).unwrap_err().kind(), ErrorKind::Timeout);
        assert!(!s.busy());
    }

    #[test]
    fn keepalive_when_idle() {
        let now = Instant::now();
        let s = logged_in(now);
        assert!(!s.keepalive_due(now));
        assert!(s.keepalive_due(now + Duration::from_secs(240)));
    }

    #[test]
    fn disconnect_returns_the_request_in_flight() {
        let now = Instant::now();
        let mut s = logged_in(now);
        let req = s.settings().item_information("B001", Timestamp(0));
        s.start(req.clone(), now).unwrap();
        assert_eq!(s.disconnected(), Some(req));
        assert_eq!(s.state(), SessionState::Disconnected);
    }
}
