//! What the device layer asks a reader, independent of the wire protocol, and the
//! [`ReaderProtocol`] trait both protocols implement (host side and, for simulators, device side).

use std::fmt;
use std::str::FromStr;

use crate::iso15693::{Block, InventoryEntry, IsoError, SystemInfo, Uid};

/// One request to a reader. Tag commands are addressed (by UID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Reader model and firmware (FEIG `65`, RR3036 `00/00`).
    ReaderInfo,
    /// ISO 15693 inventory; `more` asks for the rest of a list that did not fit (FEIG).
    Inventory {
        more: bool,
    },
    SystemInfo {
        uid: Uid,
    },
    ReadBlocks {
        uid: Uid,
        first: u8,
        count: u8,
    },
    /// `data` holds `data.len() / block_size` whole blocks in tag memory order.
    WriteBlocks {
        uid: Uid,
        first: u8,
        block_size: u8,
        data: Vec<u8>,
    },
    WriteAfi {
        uid: Uid,
        afi: u8,
    },
    /// NXP ICODE custom command SET EAS (`set`) or RESET EAS, passed through by the reader.
    Eas {
        uid: Uid,
        set: bool,
    },
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    ReaderInfo(ReaderInfo),
    Inventory {
        tags: Vec<InventoryEntry>,
        more: bool,
    },
    SystemInfo(SystemInfo),
    Blocks(Vec<Block>),
    /// Write done.
    Done,
}

/// What a reader says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    pub model: String,
    pub firmware: String,
}

/// What the tag or the field did wrong, in protocol-neutral terms. The simulator answers with
/// these and each protocol turns them into its own status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagFault {
    /// No tag answered (absent or left the field).
    NoTag,
    /// The tag answered with an ISO 15693 error.
    Iso(IsoError),
    /// The reader does not know the command.
    UnknownCommand,
    /// The request's length or parameters are wrong.
    BadParameter,
}

/// What a reader status means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// No tag in the field.
    NoTag,
    /// The tag refused or failed the operation (write error, locked block…).
    TagRejected,
    /// The reader did not understand us (unknown command, length error).
    Protocol,
    /// The reader reports a fault of its own (EEPROM, RF hardware).
    Reader,
    /// The command is not available on this reader.
    Unsupported,
}

/// FEIG ISO-Host status byte (ID ISC manuals, "Status byte" annex).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeigStatus {
    NoTransponder,
    DataFalse,
    WriteError,
    AddressError,
    WrongTransponderType,
    EepromFailure,
    ParameterRange,
    UnknownCommand,
    LengthError,
    CommandNotAvailable,
    RfCommunication,
    RfWarning,
    /// 0x95: the tag answered with an ISO 15693 error code.
    IsoError(IsoError),
    Other(u8),
}

impl FeigStatus {
    pub fn class(self) -> StatusClass {
        use FeigStatus::*;
        match self {
            NoTransponder => StatusClass::NoTag,
            DataFalse | WriteError | AddressError | WrongTransponderType | IsoError(_) => {
                StatusClass::TagRejected
            }
            UnknownCommand | LengthError => StatusClass::Protocol,
            CommandNotAvailable => StatusClass::Unsupported,
            EepromFailure | ParameterRange | RfCommunication | RfWarning | Other(_) => {
                StatusClass::Reader
            }
        }
    }
}

impl fmt::Display for FeigStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FeigStatus::*;
        match self {
            NoTransponder => f.write_str("no transponder (0x01)"),
            DataFalse => f.write_str("data false, CRC error from the tag (0x02)"),
            WriteError => f.write_str("write error (0x03)"),
            AddressError => f.write_str("address error (0x04)"),
            WrongTransponderType => f.write_str("wrong transponder type (0x05)"),
            EepromFailure => f.write_str("reader EEPROM failure (0x10)"),
            ParameterRange => f.write_str("parameter out of range (0x11)"),
            UnknownCommand => f.write_str("unknown command (0x80)"),
            LengthError => f.write_str("length error (0x81)"),
            CommandNotAvailable => f.write_str("command not available (0x82)"),
            RfCommunication => f.write_str("RF communication error (0x83)"),
            RfWarning => f.write_str("RF warning (0x84)"),
            IsoError(e) => write!(f, "ISO 15693 error from the tag: {e} (0x95)"),
            Other(c) => write!(f, "status 0x{c:02X}"),
        }
    }
}

/// RR3036 status byte (`545ch4/RR3036` `ERROR_MSG`, `devices.md` §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rr3036Status {
    OperandLength,
    CommandNotSupported,
    OperandRange,
    OperationNotAvailable,
    FieldClosed,
    Eeprom,
    InventoryIncomplete,
    InventoryPartial,
    TagResponse,
    NoTag,
    /// 0x0F: ISO 15693 error with the tag's error code.
    IsoError(IsoError),
    ProtocolModel,
    Other(u8),
}

impl Rr3036Status {
    pub fn class(self) -> StatusClass {
        use Rr3036Status::*;
        match self {
            NoTag => StatusClass::NoTag,
            IsoError(_) | TagResponse | InventoryIncomplete | InventoryPartial => {
                StatusClass::TagRejected
            }
            OperandLength | OperandRange | ProtocolModel => StatusClass::Protocol,
            CommandNotSupported | OperationNotAvailable => StatusClass::Unsupported,
            FieldClosed | Eeprom | Other(_) => StatusClass::Reader,
        }
    }
}

impl fmt::Display for Rr3036Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Rr3036Status::*;
        match self {
            OperandLength => f.write_str("command operand length error (0x01)"),
            CommandNotSupported => f.write_str("command not supported (0x02)"),
            OperandRange => f.write_str("operand out of range (0x03)"),
            OperationNotAvailable => f.write_str("operation not available (0x04)"),
            FieldClosed => f.write_str("inductive field closed (0x05)"),
            Eeprom => f.write_str("reader EEPROM error (0x06)"),
            InventoryIncomplete => f.write_str("inventory did not complete a UID (0x0A)"),
            InventoryPartial => f.write_str("inventory did not get every UID (0x0B)"),
            TagResponse => f.write_str("tag response not ISO 15693 conformant (0x0C)"),
            NoTag => f.write_str("no tag in the field (0x0E)"),
            IsoError(e) => write!(f, "ISO 15693 error from the tag: {e} (0x0F)"),
            ProtocolModel => {
                f.write_str("command does not match the reader's protocol mode (0x1F)")
            }
            Other(c) => write!(f, "status 0x{c:02X}"),
        }
    }
}

/// A reader exchange that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReaderError {
    #[error("frame CRC mismatch")]
    Crc,
    #[error("bad frame length byte {0}")]
    BadLength(usize),
    #[error("malformed reply: {0}")]
    Malformed(&'static str),
    #[error("reply to another command (0x{0:02X})")]
    UnexpectedCommand(u8),
    #[error("FEIG reader: {0}")]
    Feig(FeigStatus),
    #[error("RR3036 reader: {0}")]
    Rr3036(Rr3036Status),
    #[error("{0} is not supported by this reader")]
    Unsupported(&'static str),
}

impl ReaderError {
    /// What the error means, for the device layer's error kinds.
    pub fn class(&self) -> StatusClass {
        match self {
            ReaderError::Feig(s) => s.class(),
            ReaderError::Rr3036(s) => s.class(),
            ReaderError::Unsupported(_) => StatusClass::Unsupported,
            _ => StatusClass::Protocol,
        }
    }
}

/// Serial framing a protocol needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    pub baud: u32,
    pub even_parity: bool,
}

impl SerialSettings {
    /// Bits on the wire per byte (start + 8 data + parity + stop).
    pub fn bits_per_byte(&self) -> u32 {
        if self.even_parity { 11 } else { 10 }
    }
}

/// How far a buffer is from holding one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCheck {
    /// More bytes needed.
    Incomplete,
    /// The first `n` bytes are one frame (CRC not yet checked).
    Complete(usize),
    /// The first byte cannot start a frame (skip it to resynchronise).
    Invalid,
}

/// A reader wire protocol. Host side: [`encode`](Self::encode) a command,
/// collect a reply with [`reply_frame`](Self::reply_frame), [`decode`](Self::decode) it.
/// Device side (simulators): [`request_frame`](Self::request_frame),
/// [`decode_request`](Self::decode_request), [`encode_reply`](Self::encode_reply).
pub trait ReaderProtocol: Send + Sync {
    fn kind(&self) -> ReaderKind;
    fn serial(&self) -> SerialSettings;
    /// Most blocks one read request may ask for.
    fn max_blocks_per_read(&self) -> u8;
    /// Most blocks one write request may carry.
    fn max_blocks_per_write(&self) -> u8;
    /// Largest reply frame, for `read_frame`.
    fn max_frame(&self) -> usize {
        258
    }

    fn encode(&self, cmd: &Command) -> Vec<u8>;
    fn reply_frame(&self, buf: &[u8]) -> FrameCheck;
    fn decode(&self, cmd: &Command, frame: &[u8]) -> Result<Response, ReaderError>;

    fn request_frame(&self, buf: &[u8]) -> FrameCheck;
    fn decode_request(&self, frame: &[u8]) -> Result<Command, ReaderError>;
    fn encode_reply(&self, cmd: &Command, result: &Result<Response, TagFault>) -> Vec<u8>;
}

/// The reader protocols this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReaderKind {
    /// FEIG ISO-Host (ID ISC, CPR readers).
    Feig,
    /// RR3036 / Chafon-style HF readers.
    Rr3036,
}

impl ReaderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReaderKind::Feig => "feig",
            ReaderKind::Rr3036 => "rr3036",
        }
    }

    /// The protocol codec for this kind, at reader bus address `address`.
    pub fn protocol(self) -> Box<dyn ReaderProtocol> {
        match self {
            ReaderKind::Feig => Box::new(crate::feig::FeigIsoHost::default()),
            ReaderKind::Rr3036 => Box::new(crate::rr3036::Rr3036::default()),
        }
    }
}

impl fmt::Display for ReaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReaderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "feig" | "iso-host" => Ok(ReaderKind::Feig),
            "rr3036" | "chafon" => Ok(ReaderKind::Rr3036),
            other => Err(format!(
                "unknown reader protocol '{other}': expected feig or rr3036"
            )),
        }
    }
}
