//! SAM commands (devices.md §1.3), replies `SW1 SW2 SW3 [DATA]` with every SW3 status typed
//! (§1.4), and the base-message payload of `30 01` / `30 10` (§1.3, §1.5).

use std::fmt;

use zeroize::Zeroize;

use crate::frame::{Frame, encode_frame};
use crate::text::TEXT_LEN;

/// A command from the host (业务终端) to the SAM: `CMD PARA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `10 FF` reset the SAM.
    Reset,
    /// `11 FF` SAM status / self-test (90 = ready).
    Status,
    /// `12 FF` read the SAM id (management information).
    SamId,
    /// `20 01` find a card in the field (9F = found, 80 = none).
    FindCard,
    /// `20 02` select the card found (90 + 8 bytes card serial).
    SelectCard,
    /// `30 01` read text and photo.
    ReadBase,
    /// `30 10` read text, photo and fingerprint.
    ReadBaseWithFingerprint,
    /// `30 03` read the latest address (追加住址; 91 when there is none).
    ReadNewAddress,
    /// `30 05` read the chip management number.
    ReadChipId,
}

impl Command {
    /// Every command, for tests and the simulator.
    pub const ALL: [Command; 9] = [
        Command::Reset,
        Command::Status,
        Command::SamId,
        Command::FindCard,
        Command::SelectCard,
        Command::ReadBase,
        Command::ReadBaseWithFingerprint,
        Command::ReadNewAddress,
        Command::ReadChipId,
    ];

    /// `CMD PARA`.
    pub fn code(self) -> [u8; 2] {
        match self {
            Command::Reset => [0x10, 0xFF],
            Command::Status => [0x11, 0xFF],
            Command::SamId => [0x12, 0xFF],
            Command::FindCard => [0x20, 0x01],
            Command::SelectCard => [0x20, 0x02],
            Command::ReadBase => [0x30, 0x01],
            Command::ReadBaseWithFingerprint => [0x30, 0x10],
            Command::ReadNewAddress => [0x30, 0x03],
            Command::ReadChipId => [0x30, 0x05],
        }
    }

    /// The command with this `CMD PARA`, if the crate knows it.
    pub fn from_code(code: [u8; 2]) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The full frame on the wire.
    pub fn encode(self) -> Vec<u8> {
        encode_frame(&self.code())
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Command::Reset => "reset",
            Command::Status => "SAM status",
            Command::SamId => "read SAM id",
            Command::FindCard => "find card",
            Command::SelectCard => "select card",
            Command::ReadBase => "read card",
            Command::ReadBaseWithFingerprint => "read card with fingerprint",
            Command::ReadNewAddress => "read new address",
            Command::ReadChipId => "read chip id",
        }
    }
}

/// SW3, the SAM's status byte (§1.4, from libsamv.h and HslCommunication).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SamStatus {
    /// 90 操作成功.
    Success,
    /// 9F 寻找证/卡成功.
    CardFound,
    /// 10 the SAM received a bad checksum.
    ChecksumError,
    /// 11 the SAM received a bad length.
    LengthError,
    /// 21 bad command or parameter.
    BadCommand,
    /// 23 越权操作 not permitted.
    NotPermitted,
    /// 24 无法识别的错误.
    UnknownError,
    /// 31 the card failed to authenticate the SAM.
    CardAuthFailed,
    /// 32 the SAM failed to authenticate the card.
    SamAuthFailed,
    /// 33 信息验证错误.
    VerifyFailed,
    /// 40 unknown card type.
    UnknownCardType,
    /// 41 读证/卡操作失败.
    ReadFailed,
    /// 47 取随机数失败.
    RandomFailed,
    /// 60 SAM self-test failed.
    SelfTestFailed,
    /// 66 SAM not authorised.
    NotAuthorised,
    /// 80 寻找证/卡失败: no card.
    NoCard,
    /// 81 选取证/卡失败.
    SelectFailed,
    /// 91 证/卡中此项无内容.
    NoContent,
    /// FF 通信故障.
    CommFault,
    /// Any other value.
    Other(u8),
}

impl SamStatus {
    pub fn from_code(sw3: u8) -> SamStatus {
        match sw3 {
            0x90 => SamStatus::Success,
            0x9F => SamStatus::CardFound,
            0x10 => SamStatus::ChecksumError,
            0x11 => SamStatus::LengthError,
            0x21 => SamStatus::BadCommand,
            0x23 => SamStatus::NotPermitted,
            0x24 => SamStatus::UnknownError,
            0x31 => SamStatus::CardAuthFailed,
            0x32 => SamStatus::SamAuthFailed,
            0x33 => SamStatus::VerifyFailed,
            0x40 => SamStatus::UnknownCardType,
            0x41 => SamStatus::ReadFailed,
            0x47 => SamStatus::RandomFailed,
            0x60 => SamStatus::SelfTestFailed,
            0x66 => SamStatus::NotAuthorised,
            0x80 => SamStatus::NoCard,
            0x81 => SamStatus::SelectFailed,
            0x91 => SamStatus::NoContent,
            0xFF => SamStatus::CommFault,
            other => SamStatus::Other(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            SamStatus::Success => 0x90,
            SamStatus::CardFound => 0x9F,
            SamStatus::ChecksumError => 0x10,
            SamStatus::LengthError => 0x11,
            SamStatus::BadCommand => 0x21,
            SamStatus::NotPermitted => 0x23,
            SamStatus::UnknownError => 0x24,
            SamStatus::CardAuthFailed => 0x31,
            SamStatus::SamAuthFailed => 0x32,
            SamStatus::VerifyFailed => 0x33,
            SamStatus::UnknownCardType => 0x40,
            SamStatus::ReadFailed => 0x41,
            SamStatus::RandomFailed => 0x47,
            SamStatus::SelfTestFailed => 0x60,
            SamStatus::NotAuthorised => 0x66,
            SamStatus::NoCard => 0x80,
            SamStatus::SelectFailed => 0x81,
            SamStatus::NoContent => 0x91,
            SamStatus::CommFault => 0xFF,
            SamStatus::Other(c) => c,
        }
    }

    /// 90 and 9F are the two success codes.
    pub fn is_success(self) -> bool {
        matches!(self, SamStatus::Success | SamStatus::CardFound)
    }

    /// What it means, for the technician.
    pub fn describe(self) -> &'static str {
        match self {
            SamStatus::Success => "success",
            SamStatus::CardFound => "card found",
            SamStatus::ChecksumError => "the SAM received a frame with a bad checksum",
            SamStatus::LengthError => "the SAM received a frame with a bad length",
            SamStatus::BadCommand => "the SAM rejected the command or its parameter",
            SamStatus::NotPermitted => "operation not permitted",
            SamStatus::UnknownError => "the SAM reports an unrecognised error",
            SamStatus::CardAuthFailed => "the card failed to authenticate the SAM",
            SamStatus::SamAuthFailed => "the SAM failed to authenticate the card",
            SamStatus::VerifyFailed => "card data failed verification",
            SamStatus::UnknownCardType => "unknown card type",
            SamStatus::ReadFailed => "reading the card failed",
            SamStatus::RandomFailed => "the card failed to produce a random number",
            SamStatus::SelfTestFailed => "the SAM failed its self-test and accepts no commands",
            SamStatus::NotAuthorised => "the SAM is not authorised for use",
            SamStatus::NoCard => "no card in the field",
            SamStatus::SelectFailed => "selecting the card failed",
            SamStatus::NoContent => "the card holds no data for this item",
            SamStatus::CommFault => "the SAM reports a communication fault",
            SamStatus::Other(_) => "unknown SAM status",
        }
    }
}

impl fmt::Display for SamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SW3 {:02X}: {}", self.code(), self.describe())
    }
}

/// Why a reply frame is not a usable reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply body of {0} bytes is shorter than SW1 SW2 SW3")]
    TooShort(usize),
    #[error("reply has SW1 SW2 {sw1:02X} {sw2:02X}, expected 00 00")]
    BadStatusWords { sw1: u8, sw2: u8 },
    #[error("{0}")]
    Status(SamStatus),
    #[error("{what}: expected {expected} data bytes, got {got}")]
    BadData {
        what: &'static str,
        expected: usize,
        got: usize,
    },
}

/// A reply from the SAM. The data is zeroized on drop (it can hold card data).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub status: SamStatus,
    pub data: Vec<u8>,
}

impl Response {
    /// A reply with this status and data.
    pub fn new(status: SamStatus, data: Vec<u8>) -> Self {
        Response { status, data }
    }

    /// Reads `SW1 SW2 SW3 DATA` from a frame. SW1 SW2 must be `00 00` (every observed SAM).
    pub fn from_frame(frame: &Frame) -> Result<Response, ReplyError> {
        let body = frame.body();
        if body.len() < 3 {
            return Err(ReplyError::TooShort(body.len()));
        }
        if body[0] != 0 || body[1] != 0 {
            return Err(ReplyError::BadStatusWords {
                sw1: body[0],
                sw2: body[1],
            });
        }
        Ok(Response {
            status: SamStatus::from_code(body[2]),
            data: body[3..].to_vec(),
        })
    }

    /// The reply on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(3 + self.data.len());
        body.extend_from_slice(&[0, 0, self.status.code()]);
        body.extend_from_slice(&self.data);
        let wire = encode_frame(&body);
        body.zeroize();
        wire
    }

    /// `Ok(self)` for 90/9F, else the status as an error.
    pub fn success(self) -> Result<Response, ReplyError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(ReplyError::Status(self.status))
        }
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Response {{ status: {:?}, data_len: {} }}",
            self.status,
            self.data.len()
        )
    }
}

/// Decodes the 16-byte SAM id of a `12 FF` reply (HslCommunication `ExtractSafeModuleNumber`):
/// `d0:02 "." d2:02 "-" u32le(d4) "-" u32le(d8):09 "-" u32le(d12):09`.
pub fn decode_sam_id(data: &[u8]) -> Result<String, ReplyError> {
    if data.len() < 16 {
        return Err(ReplyError::BadData {
            what: "SAM id",
            expected: 16,
            got: data.len(),
        });
    }
    let u = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    Ok(format!(
        "{:02}.{:02}-{}-{:09}-{:09}",
        data[0],
        data[2],
        u(4),
        u(8),
        u(12)
    ))
}

/// The payload of a `30 01` / `30 10` reply, split by its length fields (never by total size):
/// `TEXT_LEN(2 BE) PHOTO_LEN(2 BE) [FP_LEN(2 BE)] text photo [fingerprint]`.
/// Zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct BaseMessage {
    pub text: Vec<u8>,
    pub photo: Vec<u8>,
    pub fingerprint: Vec<u8>,
}

impl BaseMessage {
    /// Splits the data of a reply to `30 01` (`with_fingerprint == false`) or `30 10`.
    pub fn parse(data: &[u8], with_fingerprint: bool) -> Result<BaseMessage, ReplyError> {
        let heads = if with_fingerprint { 3 } else { 2 };
        if data.len() < 2 * heads {
            return Err(ReplyError::BadData {
                what: "card data header",
                expected: 2 * heads,
                got: data.len(),
            });
        }
        let len = |i: usize| u16::from_be_bytes([data[2 * i], data[2 * i + 1]]) as usize;
        let (text_len, photo_len) = (len(0), len(1));
        let fp_len = if with_fingerprint { len(2) } else { 0 };
        let expected = 2 * heads + text_len + photo_len + fp_len;
        if data.len() != expected {
            return Err(ReplyError::BadData {
                what: "card data",
                expected,
                got: data.len(),
            });
        }
        if text_len != TEXT_LEN {
            return Err(ReplyError::BadData {
                what: "card text block",
                expected: TEXT_LEN,
                got: text_len,
            });
        }
        let mut at = 2 * heads;
        let mut take = |n: usize| {
            let v = data[at..at + n].to_vec();
            at += n;
            v
        };
        Ok(BaseMessage {
            text: take(text_len),
            photo: take(photo_len),
            fingerprint: take(fp_len),
        })
    }

    /// The reply data for `30 01` (`with_fingerprint == false`) or `30 10`.
    pub fn encode(&self, with_fingerprint: bool) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.text.len() as u16).to_be_bytes());
        out.extend_from_slice(&(self.photo.len() as u16).to_be_bytes());
        if with_fingerprint {
            out.extend_from_slice(&(self.fingerprint.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(&self.text);
        out.extend_from_slice(&self.photo);
        if with_fingerprint {
            out.extend_from_slice(&self.fingerprint);
        }
        out
    }
}

impl Drop for BaseMessage {
    fn drop(&mut self) {
        self.text.zeroize();
        self.photo.zeroize();
        self.fingerprint.zeroize();
    }
}

impl fmt::Debug for BaseMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BaseMessage {{ text: {} bytes, photo: {} bytes, fingerprint: {} bytes }}",
            self.text.len(),
            self.photo.len(),
            self.fingerprint.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::decode;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn golden_commands() {
        let golden = [
            (Command::Reset, "AA AA AA 96 69 00 03 10 FF EC"),
            (Command::Status, "AA AA AA 96 69 00 03 11 FF ED"),
            (Command::SamId, "AA AA AA 96 69 00 03 12 FF EE"),
            (Command::FindCard, "AA AA AA 96 69 00 03 20 01 22"),
            (Command::SelectCard, "AA AA AA 96 69 00 03 20 02 21"),
            (Command::ReadBase, "AA AA AA 96 69 00 03 30 01 32"),
            (Command::ReadNewAddress, "AA AA AA 96 69 00 03 30 03 30"),
            (Command::ReadChipId, "AA AA AA 96 69 00 03 30 05 36"),
            (
                Command::ReadBaseWithFingerprint,
                "AA AA AA 96 69 00 03 30 10 23",
            ),
        ];
        for (cmd, wire) in golden {
            assert_eq!(cmd.encode(), hex(wire), "{cmd:?}");
            assert_eq!(Command::from_code(cmd.code()), Some(cmd));
        }
    }

    #[test]
    fn golden_replies() {
        let cases = [
            ("AA AA AA 96 69 00 04 00 00 90 94", SamStatus::Success, 0),
            (
                "AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97",
                SamStatus::CardFound,
                4,
            ),
            ("AA AA AA 96 69 00 04 00 00 80 84", SamStatus::NoCard, 0),
            (
                "AA AA AA 96 69 00 04 00 00 81 85",
                SamStatus::SelectFailed,
                0,
            ),
            ("AA AA AA 96 69 00 04 00 00 41 45", SamStatus::ReadFailed, 0),
            (
                "AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C",
                SamStatus::Success,
                8,
            ),
        ];
        for (wire, status, data_len) in cases {
            let bytes = hex(wire);
            let (frame, used) = decode(&bytes).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            let r = Response::from_frame(&frame).unwrap();
            assert_eq!(r.status, status);
            assert_eq!(r.data.len(), data_len);
            assert_eq!(r.encode(), bytes);
        }
    }

    #[test]
    fn every_status_round_trips() {
        for code in 0..=255u8 {
            let s = SamStatus::from_code(code);
            assert_eq!(s.code(), code);
            assert_eq!(s.is_success(), code == 0x90 || code == 0x9F);
        }
        let r = Response::new(SamStatus::ReadFailed, vec![]);
        assert_eq!(r.success(), Err(ReplyError::Status(SamStatus::ReadFailed)));
    }

    #[test]
    fn nonzero_sw1_sw2_is_rejected() {
        let frame = Frame::new(vec![0x01, 0x00, 0x90]);
        assert_eq!(
            Response::from_frame(&frame),
            Err(ReplyError::BadStatusWords { sw1: 1, sw2: 0 })
        );
        assert_eq!(
            Response::from_frame(&Frame::new(vec![0, 0])),
            Err(ReplyError::TooShort(2))
        );
    }

    #[test]
    fn sam_id() {
        let mut d = vec![5, 0, 1, 0];
        d.extend_from_slice(&20240101u32.to_le_bytes());
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&42u32.to_le_bytes());
        assert_eq!(
            decode_sam_id(&d).unwrap(),
            "05.01-20240101-000000001-000000042"
        );
        assert!(decode_sam_id(&d[..15]).is_err());
    }

    #[test]
    fn base_message_by_length_fields() {
        let m = BaseMessage {
            text: vec![0x20; 256],
            photo: vec![1; 1024],
            fingerprint: vec![2; 512],
        };
        let data = m.encode(true);
        assert_eq!(&data[..6], &[0x01, 0x00, 0x04, 0x00, 0x02, 0x00]);
        assert_eq!(BaseMessage::parse(&data, true).unwrap(), m);
        let plain = m.encode(false);
        let p = BaseMessage::parse(&plain, false).unwrap();
        assert!(p.fingerprint.is_empty());
        assert!(BaseMessage::parse(&plain[..plain.len() - 1], false).is_err());
        assert!(BaseMessage::parse(&data, false).is_err());
        assert!(BaseMessage::parse(&[1], true).is_err());
    }
}
