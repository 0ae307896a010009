//! The Synochip packet (reference notes §2.1):
//! `EF 01 | ADDR(4) | PID(1) | LEN(2) | PAYLOAD | SUM(2)`, all big-endian,
//! `LEN = |PAYLOAD| + 2`, `SUM = (PID + LEN_H + LEN_L + Σ PAYLOAD) & 0xFFFF`.

use std::fmt;

use zeroize::Zeroize;

/// The two header bytes every packet starts with.
pub const HEADER: [u8; 2] = [0xEF, 0x01];
/// The module address every module answers to out of the box.
pub const DEFAULT_ADDRESS: u32 = 0xFFFF_FFFF;
/// Bytes around the payload: header 2, address 4, PID 1, length 2, sum 2.
pub const OVERHEAD: usize = 11;
/// The largest payload accepted: a 256-byte data packet (the biggest packet size a module
/// can be set to). Anything longer is garbage, not a frame.
pub const MAX_PAYLOAD: usize = 256;
/// The largest whole packet.
pub const MAX_PACKET: usize = OVERHEAD + MAX_PAYLOAD;

/// The packet identifier (PID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// 01: a command from the host.
    Command,
    /// 02: a data packet, more follow.
    Data,
    /// 07: the module's acknowledgement (confirmation code + return parameters).
    Ack,
    /// 08: the last data packet.
    End,
}

impl PacketKind {
    pub fn code(self) -> u8 {
        match self {
            PacketKind::Command => 0x01,
            PacketKind::Data => 0x02,
            PacketKind::Ack => 0x07,
            PacketKind::End => 0x08,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0x01 => Some(PacketKind::Command),
            0x02 => Some(PacketKind::Data),
            0x07 => Some(PacketKind::Ack),
            0x08 => Some(PacketKind::End),
            _ => None,
        }
    }
}

/// Why bytes are not a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("bad header {0:02X} {1:02X} (expected EF 01)")]
    BadHeader(u8, u8),
    #[error("unknown packet identifier {0:#04x}")]
    UnknownKind(u8),
    #[error("length field {0} is shorter than the 2-byte checksum")]
    ShortLength(u16),
    #[error("payload of {0} bytes is longer than the {MAX_PAYLOAD}-byte maximum")]
    Oversized(usize),
    #[error("checksum {found:#06x} does not match the computed {computed:#06x}")]
    Checksum { computed: u16, found: u16 },
}

/// One packet. The payload may hold template bytes: it is wiped on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    pub address: u32,
    pub kind: PacketKind,
    pub payload: Vec<u8>,
}

impl Drop for Packet {
    fn drop(&mut self) {
        self.payload.zeroize();
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Packet");
        d.field("address", &format_args!("{:08X}", self.address))
            .field("kind", &self.kind);
        match self.kind {
            // Commands and acknowledgements carry codes, not personal data.
            PacketKind::Command | PacketKind::Ack => d.field("payload", &Hex(&self.payload)),
            PacketKind::Data | PacketKind::End => d.field(
                "payload",
                &format_args!("<{} bytes redacted>", self.payload.len()),
            ),
        };
        d.finish()
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// The checksum over PID, length and payload.
pub fn checksum(kind: u8, len: u16, payload: &[u8]) -> u16 {
    let [hi, lo] = len.to_be_bytes();
    payload.iter().fold(
        u16::from(kind)
            .wrapping_add(u16::from(hi))
            .wrapping_add(u16::from(lo)),
        |s, &b| s.wrapping_add(u16::from(b)),
    )
}

impl Packet {
    pub fn new(address: u32, kind: PacketKind, payload: Vec<u8>) -> Self {
        Packet {
            address,
            kind,
            payload,
        }
    }

    /// The wire bytes. Payloads longer than [`MAX_PAYLOAD`] are the caller's bug; they are
    /// still encoded (the length field holds up to 65 533 bytes) so nothing panics.
    pub fn encode(&self) -> Vec<u8> {
        let payload = &self.payload[..self.payload.len().min(usize::from(u16::MAX) - 2)];
        let len = (payload.len() + 2) as u16;
        let mut out = Vec::with_capacity(OVERHEAD + payload.len());
        out.extend_from_slice(&HEADER);
        out.extend_from_slice(&self.address.to_be_bytes());
        out.push(self.kind.code());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&checksum(self.kind.code(), len, payload).to_be_bytes());
        out
    }

    /// Decodes the packet at the very start of `buf`.
    ///
    /// `Ok(None)`: more bytes are needed. `Ok(Some((packet, used)))`: a packet and how many
    /// bytes it took. Errors are decided as early as possible (a bad header on the first
    /// byte), so a caller reading with a deadline never waits for bytes that cannot help.
    pub fn decode(buf: &[u8]) -> Result<Option<(Packet, usize)>, DecodeError> {
        if let Some(&b0) = buf.first()
            && b0 != HEADER[0]
        {
            return Err(DecodeError::BadHeader(b0, buf.get(1).copied().unwrap_or(0)));
        }
        if let Some(&b1) = buf.get(1)
            && b1 != HEADER[1]
        {
            return Err(DecodeError::BadHeader(buf[0], b1));
        }
        if let Some(&pid) = buf.get(6)
            && PacketKind::from_code(pid).is_none()
        {
            return Err(DecodeError::UnknownKind(pid));
        }
        if buf.len() < 9 {
            return Ok(None);
        }
        let len = u16::from_be_bytes([buf[7], buf[8]]);
        if len < 2 {
            return Err(DecodeError::ShortLength(len));
        }
        let payload_len = usize::from(len) - 2;
        if payload_len > MAX_PAYLOAD {
            return Err(DecodeError::Oversized(payload_len));
        }
        let total = 9 + usize::from(len);
        if buf.len() < total {
            return Ok(None);
        }
        let pid = buf[6];
        let payload = &buf[9..9 + payload_len];
        let found = u16::from_be_bytes([buf[total - 2], buf[total - 1]]);
        let computed = checksum(pid, len, payload);
        if found != computed {
            return Err(DecodeError::Checksum { computed, found });
        }
        let kind = PacketKind::from_code(pid).ok_or(DecodeError::UnknownKind(pid))?;
        let address = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]);
        Ok(Some((Packet::new(address, kind, payload.to_vec()), total)))
    }
}

/// Where the next possible packet starts in `buf` after index 0 (for a receiver that skips
/// garbage, as the module does): the next `EF 01`, or a trailing `EF`, or the end.
pub fn resync(buf: &[u8]) -> usize {
    (1..buf.len())
        .find(|&i| buf[i] == HEADER[0] && buf.get(i + 1).is_none_or(|&b| b == HEADER[1]))
        .unwrap_or(buf.len())
}

/// An incremental decoder: push bytes as they arrive, take packets out.
#[derive(Default)]
pub struct PacketDecoder {
    buf: Vec<u8>,
}

impl PacketDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet decoded.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next packet, `Ok(None)` when more bytes are needed. After an error the offending
    /// bytes are skipped up to the next header, so the caller may keep going.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, DecodeError> {
        match Packet::decode(&self.buf) {
            Ok(Some((p, used))) => {
                self.buf.drain(..used).for_each(drop);
                Ok(Some(p))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                let skip = resync(&self.buf);
                self.buf[..skip].zeroize();
                self.buf.drain(..skip);
                Err(e)
            }
        }
    }
}

impl Drop for PacketDecoder {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}
