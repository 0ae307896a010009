//! Errors. Every error offers [`Error::kind`], a small `#[non_exhaustive]` enum the kiosk's flows
//! react to (go offline, show "try again", call staff), while the message keeps the detail for the
//! technician.

use std::fmt;

use crate::charset::Unencodable;

/// What kind of failure, in the terms a flow reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The library system cannot be reached (connection refused, reset and not re-established).
    Offline,
    /// No answer within the timeout after every allowed retry.
    Timeout,
    /// The peer sent something that is not SIP2 or not the answer to the request.
    Protocol,
    /// Login `93` answered `940` (user, password or location wrong).
    LoginRefused,
    /// Checksums kept failing after the allowed resends.
    Checksum,
    /// Text the library's character set cannot carry, or a value SIP2 cannot carry (`|`, CR).
    Encoding,
    /// The library system does not support the message (BX flags, unknown command id).
    Unsupported,
    /// Settings are wrong (bad address, bad option value).
    Config,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Offline => "offline",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::LoginRefused => "login refused",
            ErrorKind::Checksum => "checksum",
            ErrorKind::Encoding => "encoding",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "config",
        })
    }
}

/// Why bytes are not a SIP2 message (library.md §1.1, §1.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// `AZ` does not match the bytes (nor their code points).
    #[error("bad SIP2 checksum: received {received:04X}, computed {computed:04X}")]
    Checksum { computed: u16, received: u16 },
    /// A command id this codec has no layout for.
    #[error("unknown SIP2 command id {0:?}")]
    UnknownCommand(String),
    /// Anything else: too short, NUL bytes, truncated fixed fields, a broken field.
    #[error("malformed SIP2 message: {0}")]
    Malformed(String),
}

impl DecodeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DecodeError::Checksum { .. } => ErrorKind::Checksum,
            DecodeError::UnknownCommand(_) => ErrorKind::Unsupported,
            DecodeError::Malformed(_) => ErrorKind::Protocol,
        }
    }
}

/// Why a message cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Unencodable(#[from] Unencodable),
    /// A value SIP2 cannot carry (`|`, CR, LF, NUL, over 255 bytes) or a fixed field of the
    /// wrong width.
    #[error("cannot encode SIP2 message: {0}")]
    Invalid(String),
}

impl EncodeError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Encoding
    }
}

/// A client failure: a kind and a one-line description naming what to check.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The kind a flow reacts to.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::new(e.kind(), e.to_string())
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::new(e.kind(), e.to_string())
    }
}
