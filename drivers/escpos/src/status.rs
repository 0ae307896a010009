//! Printer status: real-time status (`DLE EOT n`, one reply byte each) and automatic status
//! back (`GS a n`, 4-byte messages), devices.md §3.3.
//!
//! Every real-time reply has the fixed bits 1 and 4 set and 0 and 7 clear (`xxx1xx10`, idle
//! `0x12`); the first byte of an ASB message has bit 4 set and bits 0, 1 and 7 clear
//! (`0xx1xx00`), the other three have bit 4 and bit 7 clear. So a reader can tell real-time
//! replies, ASB messages and garbage apart byte by byte.

use serde::{Deserialize, Serialize};

/// Which real-time status `DLE EOT n` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusRequest {
    /// n = 1.
    Printer = 1,
    /// n = 2.
    OfflineCause = 2,
    /// n = 3.
    ErrorCause = 3,
    /// n = 4.
    RollPaper = 4,
}

impl StatusRequest {
    pub const ALL: [StatusRequest; 4] = [
        StatusRequest::Printer,
        StatusRequest::OfflineCause,
        StatusRequest::ErrorCause,
        StatusRequest::RollPaper,
    ];

    /// `DLE EOT n`.
    pub fn to_bytes(self) -> [u8; 3] {
        [0x10, 0x04, self as u8]
    }

    pub fn from_n(n: u8) -> Option<Self> {
        StatusRequest::ALL
            .get((n as usize).wrapping_sub(1))
            .copied()
    }
}

/// A status reply that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error(
        "invalid real-time status byte {byte:02X} for DLE EOT {n} (fixed bits 0,1,4,7 must read 0,1,1,0)"
    )]
    BadRealTime { n: u8, byte: u8 },
    #[error("invalid automatic status back message {bytes:02X?}")]
    BadAsb { bytes: [u8; 4] },
    #[error("unexpected byte {byte:02X} in the printer's replies")]
    Garbage { byte: u8 },
}

const RT_FIXED_MASK: u8 = 0x93;
const RT_FIXED: u8 = 0x12;

/// Whether a byte is shaped like a real-time status reply.
pub fn is_real_time_reply(b: u8) -> bool {
    b & RT_FIXED_MASK == RT_FIXED
}

/// Whether a byte is shaped like the first byte of an ASB message.
pub fn is_asb_header(b: u8) -> bool {
    b & 0x93 == 0x10
}

/// How much paper is left on the roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaperLevel {
    #[default]
    Ok,
    NearEnd,
    Out,
}

/// The printer's status, from the four `DLE EOT` replies or an ASB message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PrinterStatus {
    /// Not offline (n1 bit 3).
    pub online: bool,
    /// Drawer kick-out connector pin 3 is high (n1 bit 2).
    pub drawer_pin_high: bool,
    /// Waiting for online recovery (n1 bit 5).
    pub waiting_recovery: bool,
    /// The feed button is pressed (n1 bit 6).
    pub feed_button: bool,
    /// The cover is open (n2 bit 2).
    pub cover_open: bool,
    /// Paper is being fed by the feed button (n2 bit 3).
    pub feeding_by_button: bool,
    /// Printing stopped because the paper ran out (n2 bit 5).
    pub stopped_paper_end: bool,
    /// An error occurred (n2 bit 6).
    pub error: bool,
    /// Recoverable mechanical error (n3 bit 2).
    pub mechanical_error: bool,
    /// Autocutter error (n3 bit 3).
    pub cutter_error: bool,
    /// Unrecoverable error (n3 bit 5).
    pub unrecoverable_error: bool,
    /// Automatically recoverable error, e.g. head overheat (n3 bit 6).
    pub auto_recoverable_error: bool,
    /// Roll paper sensor (n4 bits 2–3 near end, bits 5–6 end).
    pub paper: PaperLevel,
}

fn bit(b: u8, n: u8) -> bool {
    b & (1 << n) != 0
}

fn set(on: bool, n: u8) -> u8 {
    if on { 1 << n } else { 0 }
}

impl PrinterStatus {
    /// A healthy idle printer.
    pub fn ready() -> Self {
        PrinterStatus {
            online: true,
            ..Default::default()
        }
    }

    /// Applies one real-time reply (to `DLE EOT n`), checking its fixed bits.
    pub fn apply_real_time(&mut self, req: StatusRequest, byte: u8) -> Result<(), StatusError> {
        if !is_real_time_reply(byte) {
            return Err(StatusError::BadRealTime { n: req as u8, byte });
        }
        match req {
            StatusRequest::Printer => {
                self.drawer_pin_high = bit(byte, 2);
                self.online = !bit(byte, 3);
                self.waiting_recovery = bit(byte, 5);
                self.feed_button = bit(byte, 6);
            }
            StatusRequest::OfflineCause => {
                self.cover_open = bit(byte, 2);
                self.feeding_by_button = bit(byte, 3);
                self.stopped_paper_end = bit(byte, 5);
                self.error = bit(byte, 6);
            }
            StatusRequest::ErrorCause => {
                self.mechanical_error = bit(byte, 2);
                self.cutter_error = bit(byte, 3);
                self.unrecoverable_error = bit(byte, 5);
                self.auto_recoverable_error = bit(byte, 6);
            }
            StatusRequest::RollPaper => {
                self.paper = if byte & 0x60 != 0 {
                    PaperLevel::Out
                } else if byte & 0x0C != 0 {
                    PaperLevel::NearEnd
                } else {
                    PaperLevel::Ok
                };
            }
        }
        Ok(())
    }

    /// Status from the replies to `DLE EOT 1`, `2`, `3`, `4`.
    pub fn from_real_time(replies: [u8; 4]) -> Result<Self, StatusError> {
        let mut s = PrinterStatus::default();
        for (req, b) in StatusRequest::ALL.into_iter().zip(replies) {
            s.apply_real_time(req, b)?;
        }
        Ok(s)
    }

    /// The reply byte a printer in this state sends to `DLE EOT n`.
    pub fn real_time_byte(&self, req: StatusRequest) -> u8 {
        RT_FIXED
            | match req {
                StatusRequest::Printer => {
                    set(self.drawer_pin_high, 2)
                        | set(!self.online, 3)
                        | set(self.waiting_recovery, 5)
                        | set(self.feed_button, 6)
                }
                StatusRequest::OfflineCause => {
                    set(self.cover_open, 2)
                        | set(self.feeding_by_button, 3)
                        | set(self.stopped_paper_end, 5)
                        | set(self.error, 6)
                }
                StatusRequest::ErrorCause => {
                    set(self.mechanical_error, 2)
                        | set(self.cutter_error, 3)
                        | set(self.unrecoverable_error, 5)
                        | set(self.auto_recoverable_error, 6)
                }
                StatusRequest::RollPaper => match self.paper {
                    PaperLevel::Ok => 0,
                    PaperLevel::NearEnd => 0x0C,
                    PaperLevel::Out => 0x6C,
                },
            }
    }

    /// All four real-time replies.
    pub fn to_real_time(&self) -> [u8; 4] {
        StatusRequest::ALL.map(|r| self.real_time_byte(r))
    }

    /// Any error bit (cutter, mechanical, unrecoverable, auto-recoverable, or n2 "error").
    pub fn has_error(&self) -> bool {
        self.error
            || self.mechanical_error
            || self.cutter_error
            || self.unrecoverable_error
            || self.auto_recoverable_error
    }

    /// One line for people, e.g. "online, paper near end".
    pub fn summary(&self) -> String {
        let mut parts = vec![if self.online { "online" } else { "offline" }.to_string()];
        parts.push(
            match self.paper {
                PaperLevel::Ok => "paper ok",
                PaperLevel::NearEnd => "paper near end",
                PaperLevel::Out => "paper out",
            }
            .to_string(),
        );
        if self.cover_open {
            parts.push("cover open".into());
        }
        for (on, what) in [
            (self.cutter_error, "cutter error"),
            (self.mechanical_error, "mechanical error"),
            (self.unrecoverable_error, "unrecoverable error"),
            (self.auto_recoverable_error, "auto-recoverable error"),
            (self.feed_button, "feed button pressed"),
            (self.drawer_pin_high, "drawer pin high"),
        ] {
            if on {
                parts.push(what.into());
            }
        }
        parts.join(", ")
    }
}

/// `GS a n` enable bits.
pub mod asb {
    pub const DRAWER: u8 = 0x01;
    pub const ONLINE: u8 = 0x02;
    pub const ERROR: u8 = 0x04;
    pub const PAPER: u8 = 0x08;
    pub const ALL: u8 = 0x0F;
}

/// A 4-byte automatic status back message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AsbStatus(pub PrinterStatus);

impl AsbStatus {
    /// Parses a message, checking the fixed bits.
    pub fn parse(bytes: [u8; 4]) -> Result<AsbStatus, StatusError> {
        let ok = is_asb_header(bytes[0]) && bytes[1..].iter().all(|b| b & 0x90 == 0);
        if !ok {
            return Err(StatusError::BadAsb { bytes });
        }
        let [b1, b2, b3, _] = bytes;
        let paper = if b3 & 0x0C != 0 {
            PaperLevel::Out
        } else if b3 & 0x03 != 0 {
            PaperLevel::NearEnd
        } else {
            PaperLevel::Ok
        };
        Ok(AsbStatus(PrinterStatus {
            drawer_pin_high: bit(b1, 2),
            online: !bit(b1, 3),
            cover_open: bit(b1, 5),
            feeding_by_button: bit(b1, 6),
            waiting_recovery: bit(b2, 0),
            mechanical_error: bit(b2, 2),
            cutter_error: bit(b2, 3),
            unrecoverable_error: bit(b2, 5),
            auto_recoverable_error: bit(b2, 6),
            stopped_paper_end: paper == PaperLevel::Out,
            error: bit(b2, 2) || bit(b2, 3) || bit(b2, 5) || bit(b2, 6),
            feed_button: false,
            paper,
        }))
    }

    /// The message a printer in this state sends.
    pub fn to_bytes(&self) -> [u8; 4] {
        let s = &self.0;
        [
            0x10 | set(s.drawer_pin_high, 2)
                | set(!s.online, 3)
                | set(s.cover_open, 5)
                | set(s.feeding_by_button, 6),
            set(s.waiting_recovery, 0)
                | set(s.mechanical_error, 2)
                | set(s.cutter_error, 3)
                | set(s.unrecoverable_error, 5)
                | set(s.auto_recoverable_error, 6),
            match s.paper {
                PaperLevel::Ok => 0,
                PaperLevel::NearEnd => 0x03,
                PaperLevel::Out => 0x0F,
            },
            0,
        ]
    }
}

/// One item found in the bytes a printer sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A real-time status byte (which request it answers is known only to the sender).
    RealTime(u8),
    /// An automatic status back message.
    Asb(AsbStatus),
}

/// Takes the next reply from the front of `buf`: `Ok(None)` if more bytes are needed,
/// `Ok(Some((reply, used)))`, or an error for a byte that fits no reply (skip it).
pub fn next_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, StatusError> {
    let Some(&b) = buf.first() else {
        return Ok(None);
    };
    if is_real_time_reply(b) {
        return Ok(Some((Reply::RealTime(b), 1)));
    }
    if is_asb_header(b) {
        let Some(four) = buf.get(..4) else {
            return Ok(None);
        };
        let bytes = [four[0], four[1], four[2], four[3]];
        return AsbStatus::parse(bytes).map(|a| Some((Reply::Asb(a), 4)));
    }
    Err(StatusError::Garbage { byte: b })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_out_example_from_reference() {
        let s = PrinterStatus::from_real_time([0x1A, 0x32, 0x12, 0x7E]).unwrap();
        assert!(!s.online);
        assert!(s.stopped_paper_end);
        assert_eq!(s.paper, PaperLevel::Out);
        assert!(!s.cover_open);
    }

    #[test]
    fn idle_and_bad_bytes() {
        assert_eq!(
            PrinterStatus::from_real_time([0x12; 4]).unwrap(),
            PrinterStatus::ready()
        );
        assert!(matches!(
            PrinterStatus::from_real_time([0x12, 0xFF, 0x12, 0x12]),
            Err(StatusError::BadRealTime { n: 2, byte: 0xFF })
        ));
        assert_eq!(PrinterStatus::ready().to_real_time(), [0x12; 4]);
    }

    #[test]
    fn asb_is_told_apart_from_real_time() {
        let mut s = PrinterStatus::ready();
        s.cover_open = true;
        s.paper = PaperLevel::NearEnd;
        let asb = AsbStatus(s).to_bytes();
        assert_eq!(asb, [0x30, 0x00, 0x03, 0x00]);
        let mut buf = asb.to_vec();
        buf.push(0x12);
        let (r, used) = next_reply(&buf).unwrap().unwrap();
        assert_eq!(used, 4);
        assert_eq!(r, Reply::Asb(AsbStatus(s)));
        assert_eq!(
            next_reply(&buf[4..]).unwrap(),
            Some((Reply::RealTime(0x12), 1))
        );
        assert_eq!(next_reply(&buf[..2]).unwrap(), None);
        assert!(next_reply(&[0xFF]).is_err());
    }
}
