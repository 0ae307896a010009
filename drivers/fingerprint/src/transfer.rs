//! Multi-packet data transfer (reference notes §2.4): the data is split into PID 02 packets of
//! the module's packet size, the last one PID 08.

use zeroize::Zeroize;

use crate::command::{Ack, ModuleError, ReplyError};
use crate::packet::{DecodeError, OVERHEAD, Packet, PacketKind};
use crate::params::PacketSize;
use crate::template::Template;

/// The most template bytes accepted from one transfer. A character file is 512 bytes on
/// common modules (768 or 1536 on some); 4 KiB leaves room without letting a babbling
/// peer grow a buffer without end.
pub const MAX_TEMPLATE: usize = 4096;

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Reply(#[from] ReplyError),
    #[error("expected a data packet, got a {0:?} packet")]
    UnexpectedKind(PacketKind),
    #[error("data packet from address {found:08X}, expected {expected:08X}")]
    WrongAddress { expected: u32, found: u32 },
    #[error("data transfer longer than {0} bytes")]
    TooLong(usize),
}

/// Splits `data` into data packets, the last one an end packet. Empty data is one empty
/// end packet.
pub fn split_data(address: u32, data: &[u8], size: PacketSize) -> Vec<Packet> {
    let n = size.bytes();
    if data.is_empty() {
        return vec![Packet::new(address, PacketKind::End, Vec::new())];
    }
    let chunks = data.len().div_ceil(n);
    data.chunks(n)
        .enumerate()
        .map(|(i, c)| {
            let kind = if i + 1 == chunks {
                PacketKind::End
            } else {
                PacketKind::Data
            };
            Packet::new(address, kind, c.to_vec())
        })
        .collect()
}

/// The wire bytes of [`split_data`].
pub fn encode_data(address: u32, data: &[u8], size: PacketSize) -> Vec<u8> {
    split_data(address, data, size)
        .iter()
        .flat_map(Packet::encode)
        .collect()
}

/// Reassembles data packets into one buffer (wiped on drop).
pub struct Reassembly {
    address: u32,
    limit: usize,
    data: Vec<u8>,
    complete: bool,
}

impl Reassembly {
    pub fn new(address: u32, limit: usize) -> Self {
        Reassembly {
            address,
            limit,
            data: Vec::new(),
            complete: false,
        }
    }

    /// Adds one packet. Returns whether the end packet has arrived.
    pub fn push(&mut self, packet: &Packet) -> Result<bool, TransferError> {
        if !matches!(packet.kind, PacketKind::Data | PacketKind::End) || self.complete {
            return Err(TransferError::UnexpectedKind(packet.kind));
        }
        if packet.address != self.address {
            return Err(TransferError::WrongAddress {
                expected: self.address,
                found: packet.address,
            });
        }
        if self.data.len() + packet.payload.len() > self.limit {
            return Err(TransferError::TooLong(self.limit));
        }
        self.data.extend_from_slice(&packet.payload);
        self.complete = packet.kind == PacketKind::End;
        Ok(self.complete)
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The data received so far, as a template.
    pub fn into_template(mut self) -> Template {
        Template::new(std::mem::take(&mut self.data))
    }
}

impl Drop for Reassembly {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

/// How many bytes an upload of at most `limit` data bytes can take on the wire (ACK plus
/// data packets of the smallest size), for [`kiosk_transport::read_frame`]-style limits.
pub fn max_upload_len(limit: usize) -> usize {
    OVERHEAD + 1 + limit + OVERHEAD * (limit / PacketSize::B32.bytes() + 1)
}

/// Decodes the reply to UpChar at the start of `buf`: the acknowledgement and, when it is
/// positive, the data packets up to the end packet.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some(Err(e)))`: the module refused (no data
/// follows). `Ok(Some(Ok(template)))`: the complete transfer.
pub fn decode_upload(
    buf: &[u8],
    address: u32,
    limit: usize,
) -> Result<Option<Result<Template, ModuleError>>, TransferError> {
    let Some((ack_packet, mut at)) = Packet::decode(buf)? else {
        return Ok(None);
    };
    let ack = Ack::from_packet(&ack_packet, address)?;
    if let Err(e) = ack.result() {
        return Ok(Some(Err(e)));
    }
    let mut re = Reassembly::new(address, limit);
    loop {
        let Some((p, used)) = Packet::decode(&buf[at..])? else {
            return Ok(None);
        };
        at += used;
        if re.push(&p)? {
            return Ok(Some(Ok(re.into_template())));
        }
    }
}
