//! Error kinds, device state and health, after UnifiedPOS (`ControlState`, `CheckHealth`,
//! statistics) and CEN/XFS (`fwDevice`). See `../shared/reference/devices.md` §5.4.

use std::fmt;
use std::time::SystemTime;

use kiosk_transport::{LinkError, LinkErrorKind};
use serde::Serialize;

/// What kind of failure happened, for generic code (supervisor, flows, UI messages).
/// Drivers keep the detail in their own error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The device is not there (not plugged, wrong port, nothing listening).
    NotFound,
    /// The OS refuses access (udev rules, groups).
    PermissionDenied,
    /// The device went away during use.
    Disconnected,
    /// No answer in time.
    Timeout,
    /// The device answered with bytes that are not a valid frame (corrupt, truncated, oversized).
    Protocol,
    /// Nothing to work on: no card in the field, no finger on the sensor, no tag on the pad.
    NoMedia,
    /// The medium was read but refused: unreadable card, expired card, poor fingerprint image.
    MediaRejected,
    /// The device is working on something else.
    Busy,
    /// Printer out of paper.
    PaperOut,
    /// Printer cover open.
    CoverOpen,
    /// The device reports a fault of its own (cutter jam, sensor error, SAM fault).
    HardwareError,
    /// The device does not offer this capability.
    Unsupported,
    /// Wrong settings (bad password, bad transport string, bad profile value).
    Config,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Whether the supervisor should close the device and start reopening it.
    pub fn needs_reopen(self) -> bool {
        matches!(self, ErrorKind::Disconnected | ErrorKind::NotFound)
    }

    /// A stable machine name (`kioskctl --json`, logs, translation keys).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::PermissionDenied => "permission-denied",
            ErrorKind::Disconnected => "disconnected",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::NoMedia => "no-media",
            ErrorKind::MediaRejected => "media-rejected",
            ErrorKind::Busy => "busy",
            ErrorKind::PaperOut => "paper-out",
            ErrorKind::CoverOpen => "cover-open",
            ErrorKind::HardwareError => "hardware-error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "config",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<LinkErrorKind> for ErrorKind {
    fn from(k: LinkErrorKind) -> Self {
        match k {
            LinkErrorKind::NotFound => ErrorKind::NotFound,
            LinkErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            LinkErrorKind::Disconnected => ErrorKind::Disconnected,
            LinkErrorKind::Timeout => ErrorKind::Timeout,
            LinkErrorKind::Unsupported => ErrorKind::Unsupported,
            LinkErrorKind::Oversized => ErrorKind::Protocol,
            _ => ErrorKind::Other,
        }
    }
}

/// Errors that can say what kind they are.
pub trait HasKind {
    fn kind(&self) -> ErrorKind;
}

impl HasKind for LinkError {
    fn kind(&self) -> ErrorKind {
        LinkError::kind(self).into()
    }
}

/// A failure reduced to its kind and a technician's message: what the supervisor and the
/// health report keep. Never contains personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct DeviceFault {
    pub kind: ErrorKind,
    pub message: String,
}

impl DeviceFault {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DeviceFault {
            kind,
            message: message.into(),
        }
    }

    /// Any error with a kind becomes a fault.
    pub fn from_error<E: HasKind + fmt::Display>(e: &E) -> Self {
        DeviceFault {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl HasKind for DeviceFault {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<LinkError> for DeviceFault {
    fn from(e: LinkError) -> Self {
        DeviceFault::from_error(&e)
    }
}

/// Device classes of the kiosk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceClass {
    IdCardReader,
    FingerprintReader,
    RfidReader,
    ReceiptPrinter,
    CodeScanner,
    Camera,
    Speaker,
}

impl DeviceClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::IdCardReader => "idcard",
            DeviceClass::FingerprintReader => "fingerprint",
            DeviceClass::RfidReader => "rfid",
            DeviceClass::ReceiptPrinter => "printer",
            DeviceClass::CodeScanner => "scanner",
            DeviceClass::Camera => "camera",
            DeviceClass::Speaker => "speaker",
        }
    }
}

/// What a device is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub class: DeviceClass,
    /// Protocol or model, e.g. "GA/T 467 SAM", "FEIG ISO-Host".
    pub model: String,
    /// Firmware, SAM id or similar when the device reports it.
    pub firmware: Option<String>,
    /// The transport string it was opened with.
    pub transport: String,
}

/// UnifiedPOS `ControlState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceState {
    Closed,
    Idle,
    Busy,
    Error,
}

/// CEN/XFS `fwDevice`, reduced to what the kiosk shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Availability {
    Online,
    /// Gone (unplugged) or never found; the supervisor keeps trying to reopen it.
    NoDevice,
    /// Present but reporting a fault (paper out, cover open, hardware error).
    HwError,
}

/// UnifiedPOS-like statistics, kept across reopens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Operations that succeeded.
    pub operations: u64,
    /// Operations that failed, any kind.
    pub errors: u64,
    /// Failures of the link itself (timeouts, corrupt frames, disconnects).
    pub communication_errors: u64,
    /// Times the device went away.
    pub unplugs: u64,
    /// Times it was opened again after going away.
    pub reopens: u64,
}

/// A health report (UnifiedPOS `CheckHealth` text plus structure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub name: String,
    pub class: DeviceClass,
    pub transport: String,
    pub state: DeviceState,
    pub availability: Availability,
    pub last_fault: Option<DeviceFault>,
    #[serde(serialize_with = "ser_time")]
    pub last_change: SystemTime,
    pub counters: Counters,
}

fn ser_time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    s.serialize_u64(secs)
}
