//! R30x / AS608 / R503 / ZFM-20 fingerprint module protocol (Synochip), sans-IO.
//!
//! Follows `devices.md` §2 of the reference notes: [`packet`] is the frame (§2.1),
//! [`command`] the instructions and confirmation codes (§2.2, §2.3), [`params`] the
//! ReadSysPara reply, [`transfer`] the multi-packet data transfer (§2.4) and [`flow`] the
//! enrolment and 1:N identification state machines. Nothing here does I/O: the device layer
//! (`kiosk-devices`) writes [`Command::encode`] to a link and feeds the bytes it reads to
//! [`Packet::decode`] (through `kiosk_transport::read_frame`); the simulator does the same
//! from the module's side with [`PacketDecoder`].
//!
//! Template bytes are biometric data: [`Template`] and data packets are wiped on drop and
//! their `Debug` shows only a length.

pub mod command;
pub mod flow;
pub mod packet;
pub mod params;
pub mod template;
pub mod transfer;

pub use command::{
    Ack, CharBuffer, Command, CommandError, ModuleError, ReplyError, SearchHit, u16_param,
};
pub use flow::{Enrolment, Identification, Progress, SearchFlowError, Waiting};
pub use packet::{
    DEFAULT_ADDRESS, DecodeError, MAX_PACKET, MAX_PAYLOAD, Packet, PacketDecoder, PacketKind,
    checksum, resync,
};
pub use params::{PacketSize, SysParaError, SystemParameters};
pub use template::Template;
pub use transfer::{
    MAX_TEMPLATE, Reassembly, TransferError, decode_upload, encode_data, max_upload_len, split_data,
};

/// Decodes one acknowledgement at the start of `buf`, in the shape `read_frame` wants:
/// `None` while more bytes are needed, else the decision.
pub fn decode_ack(buf: &[u8], address: u32) -> Option<Result<Ack, AckError>> {
    match Packet::decode(buf) {
        Ok(None) => None,
        Ok(Some((p, _))) => Some(Ack::from_packet(&p, address).map_err(AckError::Reply)),
        Err(e) => Some(Err(AckError::Decode(e))),
    }
}

/// Why bytes are not the acknowledgement expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Reply(#[from] ReplyError),
}
