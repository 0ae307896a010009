//! System parameters returned by ReadSysPara (reference notes §2.2, §2.4):
//! status(2) system id(2) capacity(2) security level(2) address(4) packet size code(2) baud N(2).

/// The data packet size a module is set to (ReadSysPara code 0–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketSize {
    B32,
    B64,
    B128,
    B256,
}

impl PacketSize {
    pub fn from_code(code: u16) -> Option<Self> {
        match code {
            0 => Some(PacketSize::B32),
            1 => Some(PacketSize::B64),
            2 => Some(PacketSize::B128),
            3 => Some(PacketSize::B256),
            _ => None,
        }
    }

    pub fn code(self) -> u16 {
        match self {
            PacketSize::B32 => 0,
            PacketSize::B64 => 1,
            PacketSize::B128 => 2,
            PacketSize::B256 => 3,
        }
    }

    /// Data bytes per packet.
    pub fn bytes(self) -> usize {
        32 << self.code()
    }

    pub fn from_bytes(n: usize) -> Option<Self> {
        match n {
            32 => Some(PacketSize::B32),
            64 => Some(PacketSize::B64),
            128 => Some(PacketSize::B128),
            256 => Some(PacketSize::B256),
            _ => None,
        }
    }
}

/// Why ReadSysPara's reply is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysParaError {
    #[error("{0} bytes, expected 16")]
    Length(usize),
    #[error("packet size code {0} (expected 0-3)")]
    PacketSize(u16),
    #[error("baud multiplier {0} (expected 1-12)")]
    Baud(u16),
}

/// The module's system parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemParameters {
    /// Status register (bit 0 busy, bit 1 pass, bit 2 password verified, bit 3 image valid).
    pub status: u16,
    pub system_id: u16,
    /// Template library size (pages).
    pub capacity: u16,
    /// Match threshold level 1–5.
    pub security_level: u16,
    pub address: u32,
    pub packet_size: PacketSize,
    /// Baud rate multiplier N (baud = N × 9600).
    pub baud_multiplier: u16,
}

impl SystemParameters {
    /// The 16 parameter bytes after the confirmation code.
    pub fn parse(p: &[u8]) -> Result<Self, SysParaError> {
        if p.len() != 16 {
            return Err(SysParaError::Length(p.len()));
        }
        let w = |i: usize| u16::from_be_bytes([p[i], p[i + 1]]);
        let packet_size = PacketSize::from_code(w(12)).ok_or(SysParaError::PacketSize(w(12)))?;
        let baud_multiplier = w(14);
        if !(1..=12).contains(&baud_multiplier) {
            return Err(SysParaError::Baud(baud_multiplier));
        }
        Ok(SystemParameters {
            status: w(0),
            system_id: w(2),
            capacity: w(4),
            security_level: w(6),
            address: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
            packet_size,
            baud_multiplier,
        })
    }

    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&self.status.to_be_bytes());
        b[2..4].copy_from_slice(&self.system_id.to_be_bytes());
        b[4..6].copy_from_slice(&self.capacity.to_be_bytes());
        b[6..8].copy_from_slice(&self.security_level.to_be_bytes());
        b[8..12].copy_from_slice(&self.address.to_be_bytes());
        b[12..14].copy_from_slice(&self.packet_size.code().to_be_bytes());
        b[14..16].copy_from_slice(&self.baud_multiplier.to_be_bytes());
        b
    }

    /// The serial speed the module is set to.
    pub fn baud(&self) -> u32 {
        u32::from(self.baud_multiplier) * 9600
    }
}

impl Default for SystemParameters {
    /// An R307/AS608 out of the box: 163 pages (the golden vector's module), security 3,
    /// 128-byte packets, 57600 baud.
    fn default() -> Self {
        SystemParameters {
            status: 0,
            system_id: 9,
            capacity: 163,
            security_level: 3,
            address: crate::packet::DEFAULT_ADDRESS,
            packet_size: PacketSize::B128,
            baud_multiplier: 6,
        }
    }
}
