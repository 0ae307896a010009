//! ISO/IEC 15693 things every reader protocol shares: the UID, system information, blocks and
//! the tag's own error codes (ISO/IEC 15693-3 §7.4.3, table "error codes").

use std::fmt;
use std::str::FromStr;

/// A tag's 64-bit unique identifier, kept most significant byte first (`E0 04 …`), as it is
/// printed on labels and shown to people. ISO 15693 sends it LSB first over the air; each reader
/// protocol says which order it uses on the serial line.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(pub [u8; 8]);

impl Uid {
    /// From bytes in air order (least significant first).
    pub fn from_lsb_first(b: [u8; 8]) -> Self {
        let mut m = b;
        m.reverse();
        Uid(m)
    }

    /// Bytes in air order (least significant first).
    pub fn lsb_first(&self) -> [u8; 8] {
        let mut b = self.0;
        b.reverse();
        b
    }

    /// The IC manufacturer code (byte after `E0`; 0x04 = NXP).
    pub fn manufacturer(&self) -> u8 {
        self.0[1]
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({self})")
    }
}

/// Why a UID string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a UID is 16 hexadecimal digits, e.g. E004010012345678")]
pub struct UidParseError;

impl FromStr for Uid {
    type Err = UidParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s: String = s.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
        if s.len() != 16 || !s.is_ascii() {
            return Err(UidParseError);
        }
        let mut b = [0u8; 8];
        for (i, out) in b.iter_mut().enumerate() {
            *out = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| UidParseError)?;
        }
        Ok(Uid(b))
    }
}

/// One tag seen by an inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InventoryEntry {
    pub uid: Uid,
    pub dsfid: u8,
}

/// ISO 15693 Get System Information, reduced to what the kiosk uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemInfo {
    pub uid: Uid,
    pub dsfid: u8,
    pub afi: u8,
    /// Number of user blocks.
    pub block_count: u16,
    /// Bytes per block (4 on ICODE SLIX).
    pub block_size: u8,
    pub ic_reference: u8,
}

/// One memory block as read, with its security (lock) status byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub locked: bool,
    pub data: Vec<u8>,
}

/// ISO/IEC 15693-3 error codes a tag returns in its response (table 7 there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsoError {
    CommandNotSupported,
    CommandNotRecognized,
    OptionNotSupported,
    Unknown,
    BlockNotAvailable,
    BlockAlreadyLocked,
    BlockLocked,
    ProgramFailed,
    LockFailed,
    /// 0xA0–0xDF: custom (manufacturer) errors; others reserved.
    Other(u8),
}

impl IsoError {
    pub fn from_code(c: u8) -> Self {
        match c {
            0x01 => IsoError::CommandNotSupported,
            0x02 => IsoError::CommandNotRecognized,
            0x03 => IsoError::OptionNotSupported,
            0x0F => IsoError::Unknown,
            0x10 => IsoError::BlockNotAvailable,
            0x11 => IsoError::BlockAlreadyLocked,
            0x12 => IsoError::BlockLocked,
            0x13 => IsoError::ProgramFailed,
            0x14 => IsoError::LockFailed,
            other => IsoError::Other(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            IsoError::CommandNotSupported => 0x01,
            IsoError::CommandNotRecognized => 0x02,
            IsoError::OptionNotSupported => 0x03,
            IsoError::Unknown => 0x0F,
            IsoError::BlockNotAvailable => 0x10,
            IsoError::BlockAlreadyLocked => 0x11,
            IsoError::BlockLocked => 0x12,
            IsoError::ProgramFailed => 0x13,
            IsoError::LockFailed => 0x14,
            IsoError::Other(c) => c,
        }
    }
}

impl fmt::Display for IsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            IsoError::CommandNotSupported => "command not supported",
            IsoError::CommandNotRecognized => "command not recognised",
            IsoError::OptionNotSupported => "option not supported",
            IsoError::Unknown => "unknown error",
            IsoError::BlockNotAvailable => "block not available",
            IsoError::BlockAlreadyLocked => "block already locked",
            IsoError::BlockLocked => "block locked, cannot be changed",
            IsoError::ProgramFailed => "block was not programmed",
            IsoError::LockFailed => "block was not locked",
            IsoError::Other(c) => return write!(f, "tag error 0x{c:02X}"),
        };
        f.write_str(s)
    }
}

/// NXP ICODE SLIX custom command codes (manufacturer 0x04), `library.md` §3.1.
pub mod nxp {
    pub const MANUFACTURER: u8 = 0x04;
    pub const SET_EAS: u8 = 0xA2;
    pub const RESET_EAS: u8 = 0xA3;
    pub const EAS_ALARM: u8 = 0xA5;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_text_and_order() {
        let u: Uid = "E004010012345678".parse().unwrap();
        assert_eq!(u.to_string(), "E004010012345678");
        assert_eq!(u.lsb_first()[0], 0x78);
        assert_eq!(Uid::from_lsb_first(u.lsb_first()), u);
        assert_eq!(u.manufacturer(), 0x04);
        assert!("E0040100".parse::<Uid>().is_err());
        assert!("E00401001234567G".parse::<Uid>().is_err());
        assert!("É00401001234567".parse::<Uid>().is_err());
    }
}
