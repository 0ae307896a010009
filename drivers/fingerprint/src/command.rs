//! Instructions (reference notes §2.2) and confirmation codes (§2.3).

use std::fmt;

use crate::packet::{Packet, PacketKind};

/// The module's two character-file buffers (CharBuffer1/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CharBuffer {
    One,
    Two,
}

impl CharBuffer {
    pub fn code(self) -> u8 {
        match self {
            CharBuffer::One => 1,
            CharBuffer::Two => 2,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(CharBuffer::One),
            2 => Some(CharBuffer::Two),
            _ => None,
        }
    }
}

/// A host → module instruction.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    /// 13: verify the 4-byte handshake password.
    VfyPwd { password: u32 },
    /// 0F: read the 16 bytes of system parameters.
    ReadSysPara,
    /// 1D: number of stored templates.
    TemplateNum,
    /// 01: capture a finger image into the image buffer.
    GenImg,
    /// 02: extract features of the image into a character buffer.
    Img2Tz(CharBuffer),
    /// 05: merge CharBuffer1 and 2 into a template (in both buffers).
    RegModel,
    /// 06: store a character buffer in the library at `page`.
    Store { buffer: CharBuffer, page: u16 },
    /// 07: load a library template into a character buffer.
    LoadChar { buffer: CharBuffer, page: u16 },
    /// 08: upload a character buffer to the host (ACK, then data packets).
    UpChar(CharBuffer),
    /// 09: download a character buffer from the host (ACK, then the host sends data packets).
    DownChar(CharBuffer),
    /// 04: 1:N search of a character buffer over `count` pages from `start`.
    Search {
        buffer: CharBuffer,
        start: u16,
        count: u16,
    },
    /// 1B: the same search, faster on modules that offer it.
    HighSpeedSearch {
        buffer: CharBuffer,
        start: u16,
        count: u16,
    },
    /// 03: 1:1 match of CharBuffer1 against CharBuffer2.
    Match,
    /// 0C: delete `count` templates from `page`.
    DeleteChar { page: u16, count: u16 },
    /// 0D: delete every template.
    Empty,
    /// 1F: the 32-byte bitmap of used pages in index page 0–3.
    ReadIndexTable { page: u8 },
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The handshake password is a secret of the installation.
            Command::VfyPwd { .. } => f.write_str("VfyPwd { password: <redacted> }"),
            Command::ReadSysPara => f.write_str("ReadSysPara"),
            Command::TemplateNum => f.write_str("TemplateNum"),
            Command::GenImg => f.write_str("GenImg"),
            Command::Img2Tz(b) => write!(f, "Img2Tz({b:?})"),
            Command::RegModel => f.write_str("RegModel"),
            Command::Store { buffer, page } => write!(f, "Store({buffer:?}, #{page})"),
            Command::LoadChar { buffer, page } => write!(f, "LoadChar({buffer:?}, #{page})"),
            Command::UpChar(b) => write!(f, "UpChar({b:?})"),
            Command::DownChar(b) => write!(f, "DownChar({b:?})"),
            Command::Search {
                buffer,
                start,
                count,
            } => write!(f, "Search({buffer:?}, {start}, {count})"),
            Command::HighSpeedSearch {
                buffer,
                start,
                count,
            } => write!(f, "HighSpeedSearch({buffer:?}, {start}, {count})"),
            Command::Match => f.write_str("Match"),
            Command::DeleteChar { page, count } => write!(f, "DeleteChar(#{page}, {count})"),
            Command::Empty => f.write_str("Empty"),
            Command::ReadIndexTable { page } => write!(f, "ReadIndexTable({page})"),
        }
    }
}

/// Why a command packet could not be understood (module side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("not a command packet")]
    NotCommand,
    #[error("empty command packet")]
    Empty,
    #[error("unsupported instruction {0:#04x}")]
    Unsupported(u8),
    #[error("instruction {code:#04x} needs {expected} parameter bytes, got {got}")]
    BadParams {
        code: u8,
        expected: usize,
        got: usize,
    },
    #[error("bad character buffer {0}")]
    BadBuffer(u8),
}

impl Command {
    /// The instruction code.
    pub fn code(&self) -> u8 {
        match self {
            Command::GenImg => 0x01,
            Command::Img2Tz(_) => 0x02,
            Command::Match => 0x03,
            Command::Search { .. } => 0x04,
            Command::RegModel => 0x05,
            Command::Store { .. } => 0x06,
            Command::LoadChar { .. } => 0x07,
            Command::UpChar(_) => 0x08,
            Command::DownChar(_) => 0x09,
            Command::DeleteChar { .. } => 0x0C,
            Command::Empty => 0x0D,
            Command::ReadSysPara => 0x0F,
            Command::VfyPwd { .. } => 0x13,
            Command::HighSpeedSearch { .. } => 0x1B,
            Command::TemplateNum => 0x1D,
            Command::ReadIndexTable { .. } => 0x1F,
        }
    }

    /// The packet payload: instruction code then parameters.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = vec![self.code()];
        match self {
            Command::VfyPwd { password } => p.extend_from_slice(&password.to_be_bytes()),
            Command::Img2Tz(b) | Command::UpChar(b) | Command::DownChar(b) => p.push(b.code()),
            Command::Store { buffer, page } | Command::LoadChar { buffer, page } => {
                p.push(buffer.code());
                p.extend_from_slice(&page.to_be_bytes());
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
                p.push(buffer.code());
                p.extend_from_slice(&start.to_be_bytes());
                p.extend_from_slice(&count.to_be_bytes());
            }
            Command::DeleteChar { page, count } => {
                p.extend_from_slice(&page.to_be_bytes());
                p.extend_from_slice(&count.to_be_bytes());
            }
            Command::ReadIndexTable { page } => p.push(*page),
            Command::ReadSysPara
            | Command::TemplateNum
            | Command::GenImg
            | Command::RegModel
            | Command::Match
            | Command::Empty => {}
        }
        p
    }

    /// The command packet to `address`.
    pub fn to_packet(&self, address: u32) -> Packet {
        Packet::new(address, PacketKind::Command, self.payload())
    }

    /// The wire bytes to `address`.
    pub fn encode(&self, address: u32) -> Vec<u8> {
        self.to_packet(address).encode()
    }

    /// Parses a command packet (what the module, or the simulator, does).
    pub fn from_packet(packet: &Packet) -> Result<Command, CommandError> {
        if packet.kind != PacketKind::Command {
            return Err(CommandError::NotCommand);
        }
        let (&code, params) = packet.payload.split_first().ok_or(CommandError::Empty)?;
        let need = |n: usize| {
            if params.len() == n {
                Ok(())
            } else {
                Err(CommandError::BadParams {
                    code,
                    expected: n,
                    got: params.len(),
                })
            }
        };
        let buffer = |b: u8| CharBuffer::from_code(b).ok_or(CommandError::BadBuffer(b));
        let u16_at = |i: usize| u16::from_be_bytes([params[i], params[i + 1]]);
        Ok(match code {
            0x01 => need(0).map(|_| Command::GenImg)?,
            0x02 => {
                need(1)?;
                Command::Img2Tz(buffer(params[0])?)
            }
            0x03 => need(0).map(|_| Command::Match)?,
            0x04 | 0x1B => {
                need(5)?;
                let (buffer, start, count) = (buffer(params[0])?, u16_at(1), u16_at(3));
                if code == 0x04 {
                    Command::Search {
                        buffer,
                        start,
                        count,
                    }
                } else {
                    Command::HighSpeedSearch {
                        buffer,
                        start,
                        count,
                    }
                }
            }
            0x05 => need(0).map(|_| Command::RegModel)?,
            0x06 | 0x07 => {
                need(3)?;
                let (buffer, page) = (buffer(params[0])?, u16_at(1));
                if code == 0x06 {
                    Command::Store { buffer, page }
                } else {
                    Command::LoadChar { buffer, page }
                }
            }
            0x08 | 0x09 => {
                need(1)?;
                let b = buffer(params[0])?;
                if code == 0x08 {
                    Command::UpChar(b)
                } else {
                    Command::DownChar(b)
                }
            }
            0x0C => {
                need(4)?;
                Command::DeleteChar {
                    page: u16_at(0),
                    count: u16_at(2),
                }
            }
            0x0D => need(0).map(|_| Command::Empty)?,
            0x0F => need(0).map(|_| Command::ReadSysPara)?,
            0x13 => {
                need(4)?;
                Command::VfyPwd {
                    password: u32::from_be_bytes([params[0], params[1], params[2], params[3]]),
                }
            }
            0x1D => need(0).map(|_| Command::TemplateNum)?,
            0x1F => {
                need(1)?;
                Command::ReadIndexTable { page: params[0] }
            }
            other => return Err(CommandError::Unsupported(other)),
        })
    }
}

/// A non-zero confirmation code, as a typed error (reference notes §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ModuleError {
    #[error("the module could not receive the packet (01)")]
    PacketReceive,
    #[error("no finger on the sensor (02)")]
    NoFinger,
    #[error("the module could not capture the finger image (03)")]
    CaptureFailed,
    #[error("the finger image is too messy to use (06)")]
    ImageTooMessy,
    #[error("the finger image has too few feature points (07)")]
    TooFewFeatures,
    #[error("the fingers do not match (08)")]
    NoMatch,
    #[error("no matching template in the library (09)")]
    NotFound,
    #[error("the two captures could not be combined into one template (0A)")]
    MergeFailed,
    #[error("the template number is beyond the library (0B)")]
    PageOutOfRange,
    #[error("the module could not read the template (0C)")]
    ReadTemplate,
    #[error("the module could not upload the template (0D)")]
    UploadTemplate,
    #[error("the module could not receive the following data packets (0E)")]
    ReceiveData,
    #[error("the module could not upload the image (0F)")]
    UploadImage,
    #[error("the module could not delete the template (10)")]
    DeleteFailed,
    #[error("the module could not clear the library (11)")]
    ClearFailed,
    #[error("wrong module password (13)")]
    WrongPassword,
    #[error("no valid primary image (15)")]
    NoValidImage,
    #[error("the module could not write its flash (18)")]
    FlashWrite,
    #[error("undefined module error (19)")]
    Undefined,
    #[error("invalid register number (1A)")]
    InvalidRegister,
    #[error("bad register configuration (1B)")]
    BadRegister,
    #[error("wrong notepad page (1C)")]
    WrongNotepadPage,
    #[error("the module's communication port failed (1D)")]
    CommPort,
    #[error("wrong module address (20)")]
    WrongAddress,
    #[error("the password must be verified first (21)")]
    PasswordRequired,
    #[error("the sensor is abnormal (29)")]
    SensorAbnormal,
    #[error("unknown confirmation code {0:#04x}")]
    Unknown(u8),
}

impl ModuleError {
    /// `None` for code 00 (success).
    pub fn from_code(code: u8) -> Option<Self> {
        use ModuleError::*;
        Some(match code {
            0x00 => return None,
            0x01 => PacketReceive,
            0x02 => NoFinger,
            0x03 => CaptureFailed,
            0x06 => ImageTooMessy,
            0x07 => TooFewFeatures,
            0x08 => NoMatch,
            0x09 => NotFound,
            0x0A => MergeFailed,
            0x0B => PageOutOfRange,
            0x0C => ReadTemplate,
            0x0D => UploadTemplate,
            0x0E => ReceiveData,
            0x0F => UploadImage,
            0x10 => DeleteFailed,
            0x11 => ClearFailed,
            0x13 => WrongPassword,
            0x15 => NoValidImage,
            0x18 => FlashWrite,
            0x19 => Undefined,
            0x1A => InvalidRegister,
            0x1B => BadRegister,
            0x1C => WrongNotepadPage,
            0x1D => CommPort,
            0x20 => WrongAddress,
            0x21 => PasswordRequired,
            0x29 => SensorAbnormal,
            other => Unknown(other),
        })
    }

    /// The confirmation code on the wire.
    pub fn code(self) -> u8 {
        use ModuleError::*;
        match self {
            PacketReceive => 0x01,
            NoFinger => 0x02,
            CaptureFailed => 0x03,
            ImageTooMessy => 0x06,
            TooFewFeatures => 0x07,
            NoMatch => 0x08,
            NotFound => 0x09,
            MergeFailed => 0x0A,
            PageOutOfRange => 0x0B,
            ReadTemplate => 0x0C,
            UploadTemplate => 0x0D,
            ReceiveData => 0x0E,
            UploadImage => 0x0F,
            DeleteFailed => 0x10,
            ClearFailed => 0x11,
            WrongPassword => 0x13,
            NoValidImage => 0x15,
            FlashWrite => 0x18,
            Undefined => 0x19,
            InvalidRegister => 0x1A,
            BadRegister => 0x1B,
            WrongNotepadPage => 0x1C,
            CommPort => 0x1D,
            WrongAddress => 0x20,
            PasswordRequired => 0x21,
            SensorAbnormal => 0x29,
            Unknown(c) => c,
        }
    }

    /// Whether the finger (not the module) is at fault: a poor or unusable image.
    pub fn is_poor_image(self) -> bool {
        matches!(
            self,
            ModuleError::CaptureFailed
                | ModuleError::ImageTooMessy
                | ModuleError::TooFewFeatures
                | ModuleError::NoValidImage
                | ModuleError::MergeFailed
        )
    }
}

/// An acknowledgement: confirmation code and return parameters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ack {
    pub code: u8,
    pub params: Vec<u8>,
}

/// Why a packet is not the acknowledgement that was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("expected an acknowledgement, got a {0:?} packet")]
    NotAck(PacketKind),
    #[error("empty acknowledgement")]
    Empty,
    #[error("acknowledgement from address {found:08X}, expected {expected:08X}")]
    WrongAddress { expected: u32, found: u32 },
    #[error("{what} reply has {got} parameter bytes, expected {expected}")]
    ShortReply {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("bad system parameters: {0}")]
    SysPara(#[from] crate::params::SysParaError),
}

impl Ack {
    pub fn ok(params: Vec<u8>) -> Self {
        Ack { code: 0, params }
    }

    pub fn error(e: ModuleError) -> Self {
        Ack {
            code: e.code(),
            params: Vec::new(),
        }
    }

    /// Reads an acknowledgement packet from `address`.
    pub fn from_packet(packet: &Packet, address: u32) -> Result<Ack, ReplyError> {
        if packet.kind != PacketKind::Ack {
            return Err(ReplyError::NotAck(packet.kind));
        }
        if packet.address != address {
            return Err(ReplyError::WrongAddress {
                expected: address,
                found: packet.address,
            });
        }
        let (&code, params) = packet.payload.split_first().ok_or(ReplyError::Empty)?;
        Ok(Ack {
            code,
            params: params.to_vec(),
        })
    }

    pub fn to_packet(&self, address: u32) -> Packet {
        let mut payload = Vec::with_capacity(1 + self.params.len());
        payload.push(self.code);
        payload.extend_from_slice(&self.params);
        Packet::new(address, PacketKind::Ack, payload)
    }

    pub fn encode(&self, address: u32) -> Vec<u8> {
        self.to_packet(address).encode()
    }

    /// The confirmation as a result.
    pub fn result(&self) -> Result<&[u8], ModuleError> {
        match ModuleError::from_code(self.code) {
            None => Ok(&self.params),
            Some(e) => Err(e),
        }
    }

    /// The first `n` parameter bytes, or a typed error when the reply is short.
    pub fn params_exact(&self, what: &'static str, n: usize) -> Result<&[u8], ReplyError> {
        if self.params.len() < n {
            return Err(ReplyError::ShortReply {
                what,
                expected: n,
                got: self.params.len(),
            });
        }
        Ok(&self.params[..n])
    }
}

/// A 1:N search hit: the library page and the module's match score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchHit {
    pub page: u16,
    pub score: u16,
}

impl SearchHit {
    pub fn from_params(p: &[u8]) -> Result<Self, ReplyError> {
        if p.len() < 4 {
            return Err(ReplyError::ShortReply {
                what: "Search",
                expected: 4,
                got: p.len(),
            });
        }
        Ok(SearchHit {
            page: u16::from_be_bytes([p[0], p[1]]),
            score: u16::from_be_bytes([p[2], p[3]]),
        })
    }

    pub fn to_params(self) -> Vec<u8> {
        let mut v = self.page.to_be_bytes().to_vec();
        v.extend_from_slice(&self.score.to_be_bytes());
        v
    }
}

/// Reads a big-endian u16 reply parameter (TemplateNum count, Match score).
pub fn u16_param(what: &'static str, p: &[u8]) -> Result<u16, ReplyError> {
    if p.len() < 2 {
        return Err(ReplyError::ShortReply {
            what,
            expected: 2,
            got: p.len(),
        });
    }
    Ok(u16::from_be_bytes([p[0], p[1]]))
}
