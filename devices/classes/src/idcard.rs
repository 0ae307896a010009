//! ID-card readers: a GA/T 467 SAM (reference notes §1) over any [`Link`], usually
//! `serial:/dev/ttyUSB0@115200`.
//!
//! A read is find (`20 01`) → select (`20 02`) → read (`30 01`, or `30 10` with fingerprints),
//! §1.5. The [`CardPoller`] adds the two timing rules of that section: poll no faster than every
//! 300 ms, and once a card has been read (or failed to read) it must leave the field before it
//! is read again. Card data never reaches logs: [`IdCard`]'s `Debug` redacts it, and every
//! buffer that held it is zeroized.

use std::time::{Duration, Instant, SystemTime};

use kiosk_idcard::command::ReplyError;
use kiosk_idcard::frame::{self, FrameError, MAX_FRAME};
use kiosk_idcard::text::TextError;
use kiosk_idcard::{BaseMessage, Command, Response, decode_sam_id, parse_text};
pub use kiosk_idcard::{CardKind, Date, IdCard, SamStatus, Sex, Validity};
use kiosk_transport::{Link, LinkError, LinkErrorKind, OpenOptions, TransportSpec};
use zeroize::Zeroizing;

use crate::{Device, DeviceClass, DeviceFault, DeviceInfo, ErrorKind, HasKind};

/// The SAM's factory baud rate (§1.1).
pub const DEFAULT_BAUD: u32 = 115_200;

/// The fastest polling the SAM tolerates (§1.5: "间隔时间建议大于300ms").
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(300);

/// An ID-card reader.
pub trait IdCardReader: Device {
    /// Whether a card is in the field (`20 01`: 9F yes, 80 no).
    fn find_card(&mut self) -> Result<bool, IdCardError>;
    /// Finds, selects and reads the card in the field; `None` when there is none. With
    /// `with_fingerprint`, also reads the fingerprint templates (`30 10`).
    fn read_card(&mut self, with_fingerprint: bool) -> Result<Option<IdCard>, IdCardError>;
    /// The SAM's id (`12 FF`).
    fn sam_id(&mut self) -> Result<String, IdCardError> {
        Err(IdCardError::Unsupported("reading the SAM id"))
    }
    /// Resets the SAM (`10 FF`).
    fn reset(&mut self) -> Result<(), IdCardError> {
        Err(IdCardError::Unsupported("resetting the SAM"))
    }
}

/// Why an ID-card operation failed. Never carries card data.
#[derive(Debug, thiserror::Error)]
pub enum IdCardError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("bad frame from the ID-card reader: {0}")]
    Frame(#[from] FrameError),
    #[error("bad reply to {command} from the ID-card reader: {error}")]
    Reply {
        command: &'static str,
        error: ReplyError,
    },
    #[error("ID-card reader, {command}: {status}")]
    Sam {
        command: &'static str,
        status: SamStatus,
    },
    #[error("card data rejected: {0}")]
    Card(#[from] TextError),
    #[error("the card expired on {until}")]
    Expired { until: Date },
    #[error("this ID-card reader does not support {0}")]
    Unsupported(&'static str),
}

/// The kind of a SAM status (SW3, §1.4).
pub fn sam_status_kind(status: SamStatus) -> ErrorKind {
    use SamStatus::*;
    match status {
        Success | CardFound => ErrorKind::Other,
        NoCard | NoContent => ErrorKind::NoMedia,
        SelectFailed | ReadFailed | CardAuthFailed | SamAuthFailed | VerifyFailed
        | UnknownCardType | RandomFailed => ErrorKind::MediaRejected,
        ChecksumError | LengthError | BadCommand => ErrorKind::Protocol,
        NotPermitted | NotAuthorised => ErrorKind::Config,
        UnknownError | SelfTestFailed | CommFault => ErrorKind::HardwareError,
        Other(_) => ErrorKind::Protocol,
    }
}

impl HasKind for IdCardError {
    fn kind(&self) -> ErrorKind {
        match self {
            IdCardError::Link(e) => HasKind::kind(e),
            IdCardError::Frame(_) | IdCardError::Reply { .. } => ErrorKind::Protocol,
            IdCardError::Sam { status, .. } => sam_status_kind(*status),
            IdCardError::Card(_) | IdCardError::Expired { .. } => ErrorKind::MediaRejected,
            IdCardError::Unsupported(_) => ErrorKind::Unsupported,
        }
    }
}

impl From<IdCardError> for DeviceFault {
    fn from(e: IdCardError) -> Self {
        DeviceFault::from_error(&e)
    }
}

/// Timeouts of a SAM connection.
#[derive(Debug, Clone)]
pub struct SamOptions {
    /// For status, find and select (a SAM answers within tens of ms).
    pub reply_timeout: Duration,
    /// For reading a card (the SAM authenticates the card first: up to about a second).
    pub read_timeout: Duration,
    /// How long to wait for more bytes after noise before the preamble, before calling the
    /// reply garbage.
    pub garbage_gap: Duration,
}

impl Default for SamOptions {
    fn default() -> Self {
        SamOptions {
            reply_timeout: Duration::from_millis(1000),
            read_timeout: Duration::from_secs(3),
            garbage_gap: Duration::from_millis(50),
        }
    }
}

/// A SAM on a link.
pub struct SamReader {
    link: Box<dyn Link>,
    opts: SamOptions,
    sam_id: Option<String>,
}

impl SamReader {
    /// Opens the transport and checks the SAM.
    pub fn open(spec: &TransportSpec, opts: SamOptions) -> Result<Self, IdCardError> {
        let link = kiosk_transport::open_with(spec, &OpenOptions::default())?;
        Self::connect(link, opts)
    }

    /// Checks the SAM's status (`11 FF` must answer 90) and reads its id over an open link.
    pub fn connect(link: Box<dyn Link>, opts: SamOptions) -> Result<Self, IdCardError> {
        let mut reader = SamReader {
            link,
            opts,
            sam_id: None,
        };
        reader.link.discard_input()?;
        reader.status()?;
        reader.sam_id = match reader.read_sam_id() {
            Ok(id) => Some(id),
            // Some SAM boards refuse 12 FF; the id is for the maintenance menu only.
            Err(IdCardError::Sam { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(reader)
    }

    /// An opener for the [`crate::Supervisor`]: the same code path for the first open and
    /// every reopen.
    pub fn opener(spec: TransportSpec, opts: SamOptions) -> crate::Opener<dyn IdCardReader> {
        Box::new(move || {
            SamReader::open(&spec, opts.clone())
                .map(|r| Box::new(r) as Box<dyn IdCardReader>)
                .map_err(|e| DeviceFault::from_error(&e))
        })
    }

    fn status(&mut self) -> Result<(), IdCardError> {
        self.expect(Command::Status, SamStatus::Success).map(|_| ())
    }

    fn read_sam_id(&mut self) -> Result<String, IdCardError> {
        let r = self.expect(Command::SamId, SamStatus::Success)?;
        decode_sam_id(&r.data).map_err(|error| IdCardError::Reply {
            command: Command::SamId.name(),
            error,
        })
    }

    /// Sends `cmd` and requires the status `want`.
    fn expect(&mut self, cmd: Command, want: SamStatus) -> Result<Response, IdCardError> {
        let r = self.transact(cmd)?;
        if r.status == want {
            Ok(r)
        } else {
            Err(IdCardError::Sam {
                command: cmd.name(),
                status: r.status,
            })
        }
    }

    /// One request/reply exchange.
    fn transact(&mut self, cmd: Command) -> Result<Response, IdCardError> {
        let timeout = match cmd {
            Command::ReadBase | Command::ReadBaseWithFingerprint | Command::ReadNewAddress => {
                self.opts.read_timeout
            }
            _ => self.opts.reply_timeout,
        };
        // Whatever is queued before a command is stale (a reply that came after its timeout):
        // read now, it would pass for this command's reply. A failure here (an unplugged
        // port) is left to the write and read to report, with their kinds.
        let _ = self.link.discard_input();
        self.link.write_all(&cmd.encode())?;
        let frame = self.read_reply(timeout)?;
        Response::from_frame(&frame).map_err(|error| IdCardError::Reply {
            command: cmd.name(),
            error,
        })
    }

    /// Collects one reply frame, in a buffer zeroized afterwards (replies carry card data).
    /// Noise before the preamble is skipped if a frame follows promptly; a reply of noise
    /// only is [`FrameError::Garbage`] after `garbage_gap`, not a timeout.
    fn read_reply(&mut self, timeout: Duration) -> Result<frame::Frame, IdCardError> {
        let deadline = Instant::now() + timeout;
        // Allocated once at full size so no reallocation leaves copies behind.
        let mut buf = Zeroizing::new(Vec::with_capacity(MAX_FRAME));
        let mut chunk = Zeroizing::new([0u8; 512]);
        let mut garbage = 0usize;
        loop {
            match frame::decode(&buf) {
                Some(Ok((f, _))) => return Ok(f),
                Some(Err(FrameError::Garbage { skipped })) => {
                    garbage += skipped;
                    buf.drain(..skipped);
                    continue;
                }
                Some(Err(e)) => {
                    let _ = self.link.discard_input();
                    return Err(e.into());
                }
                None => {}
            }
            let now = Instant::now();
            if now >= deadline {
                if garbage > 0 && buf.is_empty() {
                    return Err(FrameError::Garbage { skipped: garbage }.into());
                }
                let detail = if buf.is_empty() {
                    format!("no reply within {} ms", timeout.as_millis())
                } else {
                    format!(
                        "incomplete reply within {} ms: {} bytes received",
                        timeout.as_millis(),
                        buf.len()
                    )
                };
                return Err(LinkError::new(
                    LinkErrorKind::Timeout,
                    "timeout",
                    self.link.describe(),
                    detail,
                )
                .into());
            }
            let mut wait = deadline - now;
            if garbage > 0 && buf.is_empty() {
                wait = wait.min(self.opts.garbage_gap);
            }
            let room = MAX_FRAME.saturating_sub(buf.len()).clamp(1, chunk.len());
            let n = self.link.read_some(&mut chunk[..room], wait)?;
            if n == 0 && garbage > 0 && buf.is_empty() {
                return Err(FrameError::Garbage { skipped: garbage }.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Device for SamReader {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            class: DeviceClass::IdCardReader,
            model: "GA/T 467 SAM".into(),
            firmware: self.sam_id.clone(),
            transport: self.link.describe(),
        }
    }

    fn probe(&mut self) -> Result<(), DeviceFault> {
        self.status().map_err(|e| DeviceFault::from_error(&e))
    }
}

impl IdCardReader for SamReader {
    fn find_card(&mut self) -> Result<bool, IdCardError> {
        let r = self.transact(Command::FindCard)?;
        match r.status {
            SamStatus::CardFound | SamStatus::Success => Ok(true),
            SamStatus::NoCard => Ok(false),
            status => Err(IdCardError::Sam {
                command: Command::FindCard.name(),
                status,
            }),
        }
    }

    fn read_card(&mut self, with_fingerprint: bool) -> Result<Option<IdCard>, IdCardError> {
        if !self.find_card()? {
            return Ok(None);
        }
        self.expect(Command::SelectCard, SamStatus::Success)?;
        let cmd = if with_fingerprint {
            Command::ReadBaseWithFingerprint
        } else {
            Command::ReadBase
        };
        let r = self.expect(cmd, SamStatus::Success)?;
        let mut msg =
            BaseMessage::parse(&r.data, with_fingerprint).map_err(|error| IdCardError::Reply {
                command: cmd.name(),
                error,
            })?;
        drop(r);
        let mut card = parse_text(&msg.text)?;
        card.photo = std::mem::take(&mut msg.photo);
        card.fingerprint = std::mem::take(&mut msg.fingerprint);
        Ok(Some(card))
    }

    fn sam_id(&mut self) -> Result<String, IdCardError> {
        let id = self.read_sam_id()?;
        self.sam_id = Some(id.clone());
        Ok(id)
    }

    fn reset(&mut self) -> Result<(), IdCardError> {
        self.expect(Command::Reset, SamStatus::Success).map(|_| ())
    }
}

/// Polls a reader for cards with the timing rules of §1.5: no faster than every
/// [`MIN_POLL_INTERVAL`], and a card that was read (or failed to read) is not read again
/// until a find reports the field empty.
#[derive(Debug)]
pub struct CardPoller {
    interval: Duration,
    last: Option<Instant>,
    consumed: bool,
}

impl Default for CardPoller {
    fn default() -> Self {
        CardPoller::new(MIN_POLL_INTERVAL)
    }
}

impl CardPoller {
    /// A poller at `interval`, raised to [`MIN_POLL_INTERVAL`] if shorter.
    pub fn new(interval: Duration) -> Self {
        CardPoller {
            interval: interval.max(MIN_POLL_INTERVAL),
            last: None,
            consumed: false,
        }
    }

    /// The interval in use.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long until the next poll may talk to the reader.
    pub fn next_poll_in(&self) -> Duration {
        self.last
            .map(|t| self.interval.saturating_sub(t.elapsed()))
            .unwrap_or_default()
    }

    /// Whether the last card has been read and must leave the field first.
    pub fn waiting_for_removal(&self) -> bool {
        self.consumed
    }

    /// One poll: sleeps until the interval has passed, then either reads a newly placed card
    /// (`Some`) or checks whether the last one has left the field (`None`).
    pub fn poll<R: IdCardReader + ?Sized>(
        &mut self,
        reader: &mut R,
        with_fingerprint: bool,
    ) -> Result<Option<IdCard>, IdCardError> {
        std::thread::sleep(self.next_poll_in());
        self.last = Some(Instant::now());
        if self.consumed {
            if !reader.find_card()? {
                self.consumed = false;
            }
            return Ok(None);
        }
        match reader.read_card(with_fingerprint) {
            Ok(Some(card)) => {
                self.consumed = true;
                Ok(Some(card))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                // §1.5: after an error with a card placed, it must be removed and re-placed.
                if e.kind() == ErrorKind::MediaRejected {
                    self.consumed = true;
                }
                Err(e)
            }
        }
    }

    /// Polls until a card is read or `timeout` passes (`None`).
    pub fn wait_for_card<R: IdCardReader + ?Sized>(
        &mut self,
        reader: &mut R,
        with_fingerprint: bool,
        timeout: Duration,
    ) -> Result<Option<IdCard>, IdCardError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(card) = self.poll(reader, with_fingerprint)? {
                return Ok(Some(card));
            }
            if Instant::now() + self.next_poll_in() >= deadline {
                return Ok(None);
            }
        }
    }
}

/// Today's date in China (UTC+8), for [`IdCard::is_expired`].
pub fn china_today() -> Date {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Date::china_date_at(secs)
}

/// `Err(Expired)` when `card` has expired on `today`, for flows that refuse expired cards.
pub fn check_not_expired(card: &IdCard, today: Date) -> Result<(), IdCardError> {
    match card.valid_until {
        Validity::Until(until) if card.is_expired(today) => Err(IdCardError::Expired { until }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_idcard::command::ReplyError;

    #[test]
    fn every_sam_status_has_a_kind() {
        assert_eq!(sam_status_kind(SamStatus::NoCard), ErrorKind::NoMedia);
        assert_eq!(
            sam_status_kind(SamStatus::ReadFailed),
            ErrorKind::MediaRejected
        );
        assert_eq!(
            sam_status_kind(SamStatus::SelfTestFailed),
            ErrorKind::HardwareError
        );
        assert_eq!(
            sam_status_kind(SamStatus::ChecksumError),
            ErrorKind::Protocol
        );
        for code in 0..=255u8 {
            let _ = sam_status_kind(SamStatus::from_code(code));
        }
        let e = IdCardError::Frame(FrameError::BadChecksum {
            computed: 1,
            received: 2,
        });
        assert_eq!(e.kind(), ErrorKind::Protocol);
        let e = IdCardError::Reply {
            command: "read card",
            error: ReplyError::TooShort(1),
        };
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert_eq!(
            IdCardError::Card(TextError::BadSex).kind(),
            ErrorKind::MediaRejected
        );
    }

    #[test]
    fn poller_never_polls_faster_than_300ms() {
        assert_eq!(
            CardPoller::new(Duration::from_millis(10)).interval(),
            MIN_POLL_INTERVAL
        );
    }

    /// A byte pipe: what the reader would have sent, delivered in small pieces.
    struct Pipe {
        rx: Vec<u8>,
    }

    impl Link for Pipe {
        fn write_all(&mut self, _: &[u8]) -> Result<(), LinkError> {
            Ok(())
        }
        fn read_some(&mut self, buf: &mut [u8], _: Duration) -> Result<usize, LinkError> {
            let n = buf.len().min(self.rx.len()).min(7);
            buf[..n].copy_from_slice(&self.rx[..n]);
            self.rx.drain(..n);
            Ok(n)
        }
        fn describe(&self) -> String {
            "pipe".into()
        }
    }

    #[test]
    fn decoder_works_with_read_frame() {
        let reply = Response::new(SamStatus::CardFound, vec![0; 4]).encode();
        let mut pipe = Pipe { rx: reply.clone() };
        let r = kiosk_transport::read_frame(&mut pipe, Duration::from_secs(1), MAX_FRAME, |b| {
            frame::decode(b)
        })
        .unwrap();
        let (f, used) = r.unwrap();
        assert_eq!(used, reply.len());
        assert_eq!(
            Response::from_frame(&f).unwrap().status,
            SamStatus::CardFound
        );
    }

    #[test]
    fn expired_check() {
        let mut card = IdCard::empty(CardKind::Resident);
        card.valid_until = Validity::Until(Date::new(2020, 1, 1).unwrap());
        let e = check_not_expired(&card, Date::new(2021, 1, 1).unwrap()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MediaRejected);
        assert!(check_not_expired(&card, Date::new(2020, 1, 1).unwrap()).is_ok());
    }
}
