//! Fingerprint readers: R30x / AS608 / R503 / ZFM-20 modules speaking the Synochip protocol
//! (reference notes §2), over any [`Link`] (serial at 57600 baud by default).
//!
//! Opening a module verifies its password (VfyPwd) and reads its system parameters (capacity,
//! packet size); the periodic probe asks for the template count. Enrolment and 1:N search run
//! the driver's state machines ([`Enrolment`], [`Identification`]), polling the sensor every
//! `poll_interval` until a finger is placed (or lifted) or `finger_timeout` passes.

use std::fmt;
use std::time::{Duration, Instant};

use kiosk_fingerprint::{
    Ack, AckError, CharBuffer, Command, DEFAULT_ADDRESS, Enrolment, Identification, MAX_PACKET,
    MAX_TEMPLATE, ModuleError, Progress, ReplyError, SearchFlowError, TransferError, decode_ack,
    decode_upload, max_upload_len, u16_param,
};
pub use kiosk_fingerprint::{SearchHit, SystemParameters, Template, Waiting};
use kiosk_transport::{Link, LinkError, OpenOptions, TransportSpec, read_frame};

use crate::{Device, DeviceClass, DeviceFault, DeviceInfo, ErrorKind, HasKind};

/// The serial speed modules ship with (N = 6 × 9600).
pub const DEFAULT_BAUD: u32 = 57_600;

/// A fingerprint reader.
pub trait FingerprintReader: Device {
    /// The module's system parameters as read when it was opened.
    fn system_parameters(&self) -> SystemParameters;
    /// Reads the system parameters again from the module.
    fn read_system_parameters(&mut self) -> Result<SystemParameters, FingerprintError>;
    /// How many templates the library holds.
    fn template_count(&mut self) -> Result<u16, FingerprintError>;
    /// Waits for a finger and extracts its features into the module's first buffer.
    fn capture(&mut self) -> Result<(), FingerprintError>;
    /// Enrols a finger (two captures) into library page `slot`; returns the page.
    fn enroll(&mut self, slot: u16) -> Result<u16, FingerprintError>;
    /// Waits for a finger and searches the whole library: `None` when nothing matches.
    fn search(&mut self) -> Result<Option<SearchHit>, FingerprintError>;
    /// Deletes the template at `slot`.
    fn delete(&mut self, slot: u16) -> Result<(), FingerprintError>;
    /// Deletes every template.
    fn clear(&mut self) -> Result<(), FingerprintError> {
        Err(FingerprintError::Unsupported("clearing the library"))
    }
    /// Uploads the template stored at `slot` (for back-office enrolment). Biometric data.
    fn template(&mut self, slot: u16) -> Result<Template, FingerprintError> {
        let _ = slot;
        Err(FingerprintError::Unsupported("uploading templates"))
    }
    /// Called with what the user should do whenever a flow starts waiting (for UI prompts).
    fn set_prompt(&mut self, prompt: Box<dyn FnMut(Waiting) + Send>) {
        let _ = prompt;
    }
}

/// Why a fingerprint operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("bad reply from the fingerprint module: {0}")]
    Reply(#[from] AckError),
    #[error("bad data transfer from the fingerprint module: {0}")]
    Transfer(#[from] TransferError),
    #[error("fingerprint module: {0}")]
    Module(#[from] ModuleError),
    #[error("no finger placed on the sensor within {} s", .0.as_secs_f32())]
    NoFinger(Duration),
    #[error("the finger was not lifted from the sensor within {} s", .0.as_secs_f32())]
    FingerNotLifted(Duration),
    #[error("slot {slot} is beyond the library of {capacity} templates")]
    SlotOutOfRange { slot: u16, capacity: u16 },
    #[error("this fingerprint reader does not support {0}")]
    Unsupported(&'static str),
}

impl From<ReplyError> for FingerprintError {
    fn from(e: ReplyError) -> Self {
        FingerprintError::Reply(AckError::Reply(e))
    }
}

impl From<SearchFlowError> for FingerprintError {
    fn from(e: SearchFlowError) -> Self {
        match e {
            SearchFlowError::Module(m) => FingerprintError::Module(m),
            SearchFlowError::Reply(r) => r.into(),
        }
    }
}

/// The kind of a module's confirmation code.
pub fn module_error_kind(e: ModuleError) -> ErrorKind {
    use ModuleError::*;
    match e {
        NoFinger => ErrorKind::NoMedia,
        CaptureFailed | ImageTooMessy | TooFewFeatures | NoValidImage | MergeFailed | NoMatch
        | NotFound => ErrorKind::MediaRejected,
        WrongPassword | PasswordRequired | WrongAddress | PageOutOfRange => ErrorKind::Config,
        PacketReceive | ReceiveData => ErrorKind::Protocol,
        ReadTemplate | UploadTemplate | UploadImage | DeleteFailed | ClearFailed | FlashWrite
        | Undefined | InvalidRegister | BadRegister | WrongNotepadPage | CommPort
        | SensorAbnormal => ErrorKind::HardwareError,
        Unknown(_) => ErrorKind::Other,
    }
}

impl HasKind for FingerprintError {
    fn kind(&self) -> ErrorKind {
        match self {
            FingerprintError::Link(e) => HasKind::kind(e),
            FingerprintError::Reply(_) | FingerprintError::Transfer(_) => ErrorKind::Protocol,
            FingerprintError::Module(m) => module_error_kind(*m),
            FingerprintError::NoFinger(_) => ErrorKind::NoMedia,
            FingerprintError::FingerNotLifted(_) => ErrorKind::Timeout,
            FingerprintError::SlotOutOfRange { .. } => ErrorKind::Config,
            FingerprintError::Unsupported(_) => ErrorKind::Unsupported,
        }
    }
}

/// Settings of a module connection.
#[derive(Clone)]
pub struct FingerprintOptions {
    /// Module address (default `FFFFFFFF`).
    pub address: u32,
    /// Handshake password (default 0).
    pub password: u32,
    /// How long to wait for each reply (pyfingerprint waits 2 s; a capture takes < 1 s).
    pub reply_timeout: Duration,
    /// How long a flow waits for a finger to be placed or lifted.
    pub finger_timeout: Duration,
    /// How often the sensor is polled while waiting.
    pub poll_interval: Duration,
}

impl Default for FingerprintOptions {
    fn default() -> Self {
        FingerprintOptions {
            address: DEFAULT_ADDRESS,
            password: 0,
            reply_timeout: Duration::from_secs(2),
            finger_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(100),
        }
    }
}

impl fmt::Debug for FingerprintOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FingerprintOptions")
            .field("address", &format_args!("{:08X}", self.address))
            .field("password", &"<redacted>")
            .field("reply_timeout", &self.reply_timeout)
            .field("finger_timeout", &self.finger_timeout)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// A Synochip module (R30x, AS608, R503, ZFM-20) on a link.
pub struct SynochipReader {
    link: Box<dyn Link>,
    opts: FingerprintOptions,
    params: SystemParameters,
    prompt: Option<Box<dyn FnMut(Waiting) + Send>>,
}

impl SynochipReader {
    /// Opens the transport and connects to the module.
    pub fn open(spec: &TransportSpec, opts: FingerprintOptions) -> Result<Self, FingerprintError> {
        let link = kiosk_transport::open_with(spec, &OpenOptions::default())?;
        Self::connect(link, opts)
    }

    /// Verifies the password and reads the system parameters over an open link.
    pub fn connect(
        link: Box<dyn Link>,
        opts: FingerprintOptions,
    ) -> Result<Self, FingerprintError> {
        let mut reader = SynochipReader {
            link,
            opts,
            params: SystemParameters::default(),
            prompt: None,
        };
        // Bytes left from before (an R503 sends 0x55 once ready) are not a reply.
        reader.link.discard_input()?;
        let password = reader.opts.password;
        reader.call(&Command::VfyPwd { password })?;
        reader.params = reader.read_system_parameters()?;
        Ok(reader)
    }

    /// An opener for the [`crate::Supervisor`]: the same code path for the first open and
    /// every reopen.
    pub fn opener(
        spec: TransportSpec,
        opts: FingerprintOptions,
    ) -> crate::Opener<dyn FingerprintReader> {
        Box::new(move || {
            SynochipReader::open(&spec, opts.clone())
                .map(|r| Box::new(r) as Box<dyn FingerprintReader>)
                .map_err(|e| DeviceFault::from_error(&e))
        })
    }

    /// Sends a command and reads its acknowledgement (any confirmation code).
    pub fn exchange(&mut self, cmd: &Command) -> Result<Ack, FingerprintError> {
        let address = self.opts.address;
        // Whatever is queued before a request is stale: an acknowledgement that came after its
        // timeout. Acknowledgements do not name their command, so it would pass for this one.
        // A failure here (an unplugged port) is left to the write and read to report.
        let _ = self.link.discard_input();
        self.link.write_all(&cmd.encode(address))?;
        let reply = read_frame(
            self.link.as_mut(),
            self.opts.reply_timeout,
            MAX_PACKET,
            |buf| decode_ack(buf, address),
        );
        match reply {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(e)) => {
                // Drop the rest of a corrupt reply so the next exchange starts clean.
                let _ = self.link.discard_input();
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a command and returns the parameters of a positive acknowledgement.
    fn call(&mut self, cmd: &Command) -> Result<Vec<u8>, FingerprintError> {
        let ack = self.exchange(cmd)?;
        ack.result()?;
        Ok(ack.params)
    }

    /// Tells the user what to do when a flow starts waiting for something new.
    fn prompt_for(&mut self, waiting: Option<Waiting>, since: &mut Option<(Waiting, Instant)>) {
        match waiting {
            Some(w) if since.map(|(s, _)| s) != Some(w) => {
                if let Some(p) = self.prompt.as_mut() {
                    p(w);
                }
                *since = Some((w, Instant::now()));
            }
            Some(_) => {}
            None => *since = None,
        }
    }

    /// Pauses before polling the sensor again, or gives up after `finger_timeout`.
    fn wait_step(
        &mut self,
        waiting: Waiting,
        since: &mut Option<(Waiting, Instant)>,
    ) -> Result<(), FingerprintError> {
        self.prompt_for(Some(waiting), since);
        let started = since.map(|(_, t)| t).unwrap_or_else(Instant::now);
        if started.elapsed() >= self.opts.finger_timeout {
            return Err(match waiting {
                Waiting::FingerOn => FingerprintError::NoFinger(self.opts.finger_timeout),
                Waiting::FingerOff => FingerprintError::FingerNotLifted(self.opts.finger_timeout),
            });
        }
        std::thread::sleep(self.opts.poll_interval);
        Ok(())
    }

    /// Runs an enrolment or identification state machine to its end.
    fn drive<F: Flow>(&mut self, mut flow: F) -> Result<Option<F::Out>, FingerprintError> {
        let mut since = None;
        while let Some(cmd) = flow.command() {
            self.prompt_for(flow.waiting(), &mut since);
            let ack = self.exchange(&cmd)?;
            match flow.on_ack(&ack)? {
                Progress::Next => {}
                Progress::Wait(w) => self.wait_step(w, &mut since)?,
                Progress::Done(out) => return Ok(Some(out)),
            }
        }
        Ok(None)
    }

    fn check_slot(&self, slot: u16) -> Result<(), FingerprintError> {
        if slot >= self.params.capacity {
            return Err(FingerprintError::SlotOutOfRange {
                slot,
                capacity: self.params.capacity,
            });
        }
        Ok(())
    }
}

/// The driver's two flows, driven the same way.
trait Flow {
    type Out;
    fn command(&self) -> Option<Command>;
    fn waiting(&self) -> Option<Waiting>;
    fn on_ack(&mut self, ack: &Ack) -> Result<Progress<Self::Out>, FingerprintError>;
}

impl Flow for Enrolment {
    type Out = u16;
    fn command(&self) -> Option<Command> {
        Enrolment::command(self)
    }
    fn waiting(&self) -> Option<Waiting> {
        Enrolment::waiting(self)
    }
    fn on_ack(&mut self, ack: &Ack) -> Result<Progress<u16>, FingerprintError> {
        Ok(Enrolment::on_ack(self, ack)?)
    }
}

impl Flow for Identification {
    type Out = Option<SearchHit>;
    fn command(&self) -> Option<Command> {
        Identification::command(self)
    }
    fn waiting(&self) -> Option<Waiting> {
        Identification::waiting(self)
    }
    fn on_ack(&mut self, ack: &Ack) -> Result<Progress<Option<SearchHit>>, FingerprintError> {
        Ok(Identification::on_ack(self, ack)?)
    }
}

impl Device for SynochipReader {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            class: DeviceClass::FingerprintReader,
            model: "Synochip R30x/AS608 fingerprint module".into(),
            firmware: Some(format!(
                "system id {:04X}, {} templates, security level {}, {}-byte packets",
                self.params.system_id,
                self.params.capacity,
                self.params.security_level,
                self.params.packet_size.bytes()
            )),
            transport: self.link.describe(),
        }
    }

    fn probe(&mut self) -> Result<(), DeviceFault> {
        self.template_count()
            .map(|_| ())
            .map_err(|e| DeviceFault::from_error(&e))
    }
}

impl FingerprintReader for SynochipReader {
    fn system_parameters(&self) -> SystemParameters {
        self.params
    }

    fn read_system_parameters(&mut self) -> Result<SystemParameters, FingerprintError> {
        let p = self.call(&Command::ReadSysPara)?;
        let params = SystemParameters::parse(&p).map_err(ReplyError::SysPara)?;
        self.params = params;
        Ok(params)
    }

    fn template_count(&mut self) -> Result<u16, FingerprintError> {
        let p = self.call(&Command::TemplateNum)?;
        Ok(u16_param("TemplateNum", &p)?)
    }

    fn capture(&mut self) -> Result<(), FingerprintError> {
        let mut since = None;
        self.prompt_for(Some(Waiting::FingerOn), &mut since);
        loop {
            let ack = self.exchange(&Command::GenImg)?;
            match ack.result() {
                Ok(_) => break,
                Err(ModuleError::NoFinger) => self.wait_step(Waiting::FingerOn, &mut since)?,
                Err(e) => return Err(e.into()),
            }
        }
        self.call(&Command::Img2Tz(CharBuffer::One))?;
        Ok(())
    }

    fn enroll(&mut self, slot: u16) -> Result<u16, FingerprintError> {
        self.check_slot(slot)?;
        Ok(self.drive(Enrolment::new(slot))?.unwrap_or(slot))
    }

    fn search(&mut self) -> Result<Option<SearchHit>, FingerprintError> {
        let capacity = self.params.capacity;
        Ok(self.drive(Identification::new(capacity))?.flatten())
    }

    fn delete(&mut self, slot: u16) -> Result<(), FingerprintError> {
        self.check_slot(slot)?;
        self.call(&Command::DeleteChar {
            page: slot,
            count: 1,
        })?;
        Ok(())
    }

    fn clear(&mut self) -> Result<(), FingerprintError> {
        self.call(&Command::Empty)?;
        Ok(())
    }

    fn template(&mut self, slot: u16) -> Result<Template, FingerprintError> {
        self.check_slot(slot)?;
        self.call(&Command::LoadChar {
            buffer: CharBuffer::One,
            page: slot,
        })?;
        let address = self.opts.address;
        self.link
            .write_all(&Command::UpChar(CharBuffer::One).encode(address))?;
        // The acknowledgement and the data packets come back to back: read them as one frame.
        let reply = read_frame(
            self.link.as_mut(),
            self.opts.reply_timeout,
            max_upload_len(MAX_TEMPLATE),
            |buf| match decode_upload(buf, address, MAX_TEMPLATE) {
                Ok(None) => None,
                Ok(Some(r)) => Some(Ok(r)),
                Err(e) => Some(Err(e)),
            },
        )?;
        match reply {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(m)) => Err(m.into()),
            Err(e) => {
                let _ = self.link.discard_input();
                Err(e.into())
            }
        }
    }

    fn set_prompt(&mut self, prompt: Box<dyn FnMut(Waiting) + Send>) {
        self.prompt = Some(prompt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_contract() {
        let k = |e: FingerprintError| e.kind();
        assert_eq!(k(ModuleError::NoFinger.into()), ErrorKind::NoMedia);
        assert_eq!(
            k(ModuleError::ImageTooMessy.into()),
            ErrorKind::MediaRejected
        );
        assert_eq!(k(ModuleError::WrongPassword.into()), ErrorKind::Config);
        assert_eq!(
            k(ModuleError::SensorAbnormal.into()),
            ErrorKind::HardwareError
        );
        assert_eq!(
            k(FingerprintError::Reply(AckError::Decode(
                kiosk_fingerprint::DecodeError::BadHeader(0, 0)
            ))),
            ErrorKind::Protocol
        );
        assert_eq!(
            k(FingerprintError::NoFinger(Duration::from_secs(1))),
            ErrorKind::NoMedia
        );
        let options = format!(
            "{:?}",
            FingerprintOptions {
                password: 0x1234_5678,
                ..Default::default()
            }
        );
        assert!(!options.contains("12345678") && !options.contains("305419896"));
    }
}
