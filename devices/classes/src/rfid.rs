//! HF RFID pads for library items (ISO 15693 tags with ISO 28560 data), `devices.md` §4 and
//! `library.md` §3. One [`HfReader`] drives either wire protocol (FEIG ISO-Host or RR3036)
//! through `kiosk_rfid::ReaderProtocol`; the AFI values for "secured"/"on loan" come from the
//! terminal profile through [`RfidOptions`].

use std::time::Duration;

use kiosk_rfid::tagdata::{self, DataModel, LibraryData, TagDataError};
use kiosk_rfid::{
    AfiConfig, Command, FrameCheck, ItemTag, ReaderError, ReaderInfo, ReaderKind, ReaderProtocol,
    Response, SecurityState, StatusClass, Uid,
};
use kiosk_transport::{Link, LinkError, OpenOptions, TransportSpec};

use crate::{Device, DeviceClass, DeviceFault, DeviceInfo, ErrorKind, HasKind};

/// An RFID pad reading and securing library items.
pub trait RfidReader: Device {
    /// Every tag on the pad with its system data and decoded library data. A tag that leaves
    /// between the inventory and its read is left out.
    fn inventory(&mut self) -> Result<Vec<ItemTag>, RfidError>;
    /// One tag's system data and library data.
    fn read_tag(&mut self, uid: Uid) -> Result<ItemTag, RfidError>;
    /// Writes library data in `model` to the start of user memory.
    fn write_tag_data(
        &mut self,
        uid: Uid,
        model: DataModel,
        data: &LibraryData,
    ) -> Result<(), RfidError>;
    /// Writes the AFI for `state` (and the EAS bit when the reader can), then reads the tag
    /// back and checks the AFI took. Returns the tag as read back.
    fn set_security(&mut self, uid: Uid, state: SecurityState) -> Result<ItemTag, RfidError>;
    /// The AFI values this reader writes.
    fn afi_config(&self) -> AfiConfig;
    /// Sets or resets the NXP EAS bit (optional capability).
    fn set_eas(&mut self, _uid: Uid, _on: bool) -> Result<(), RfidError> {
        Err(RfidError::Unsupported("EAS"))
    }
}

/// What went wrong with the pad or a tag.
#[derive(Debug, thiserror::Error)]
pub enum RfidError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("reader: {0}")]
    Reader(#[from] ReaderError),
    #[error("tag {0} is not on the pad")]
    NoTag(Uid),
    #[error("tag {uid} left the pad during a write ({written} of {total} bytes written)")]
    TagLeft {
        uid: Uid,
        written: usize,
        total: usize,
    },
    #[error("tag {uid} reads back AFI {read:02X}, expected {expected:02X}")]
    VerifyFailed { uid: Uid, expected: u8, read: u8 },
    #[error("tag data: {0}")]
    Data(TagDataError),
    #[error("{0} is not supported by this reader")]
    Unsupported(&'static str),
}

impl HasKind for RfidError {
    fn kind(&self) -> ErrorKind {
        match self {
            RfidError::Link(e) => e.kind().into(),
            RfidError::Reader(e) => match e.class() {
                StatusClass::NoTag => ErrorKind::NoMedia,
                StatusClass::TagRejected => ErrorKind::MediaRejected,
                StatusClass::Protocol => ErrorKind::Protocol,
                StatusClass::Reader => ErrorKind::HardwareError,
                StatusClass::Unsupported => ErrorKind::Unsupported,
            },
            RfidError::NoTag(_) => ErrorKind::NoMedia,
            RfidError::TagLeft { .. } | RfidError::VerifyFailed { .. } => ErrorKind::MediaRejected,
            RfidError::Data(TagDataError::TooBig { .. }) => ErrorKind::MediaRejected,
            RfidError::Data(_) => ErrorKind::Config,
            RfidError::Unsupported(_) => ErrorKind::Unsupported,
        }
    }
}

/// Settings of a pad, from the terminal profile.
#[derive(Debug, Clone, Copy)]
pub struct RfidOptions {
    pub afi: AfiConfig,
    /// Also set/reset the EAS bit when securing (NXP ICODE tags; skipped when the tag or the
    /// reader refuses).
    pub use_eas: bool,
    /// Reply timeout per exchange.
    pub timeout: Duration,
}

impl Default for RfidOptions {
    fn default() -> Self {
        RfidOptions {
            afi: AfiConfig::default(),
            use_eas: true,
            timeout: Duration::from_millis(500),
        }
    }
}

/// An ISO 15693 HF reader (FEIG ISO-Host or RR3036) on a link.
pub struct HfReader {
    link: Box<dyn Link>,
    protocol: Box<dyn ReaderProtocol>,
    opts: RfidOptions,
    reader: ReaderInfo,
    /// Bytes may be left over from a failed exchange; drop them before the next request.
    stale: bool,
}

impl HfReader {
    /// Opens the transport with the protocol's serial framing (FEIG: 8E1) and connects.
    pub fn open(
        spec: &TransportSpec,
        kind: ReaderKind,
        opts: RfidOptions,
    ) -> Result<Self, RfidError> {
        let protocol = kind.protocol();
        let link = kiosk_transport::open_with(
            spec,
            &OpenOptions {
                even_parity: protocol.serial().even_parity,
                ..OpenOptions::default()
            },
        )?;
        Self::connect(link, protocol, opts)
    }

    /// Asks the reader for its information over an open link.
    pub fn connect(
        link: Box<dyn Link>,
        protocol: Box<dyn ReaderProtocol>,
        opts: RfidOptions,
    ) -> Result<Self, RfidError> {
        let mut r = HfReader {
            link,
            protocol,
            opts,
            reader: ReaderInfo {
                model: String::new(),
                firmware: String::new(),
            },
            stale: true,
        };
        r.reader = r.reader_info()?;
        Ok(r)
    }

    /// An opener for the [`crate::Supervisor`] (first open and every reopen).
    pub fn opener(
        spec: TransportSpec,
        kind: ReaderKind,
        opts: RfidOptions,
    ) -> crate::Opener<dyn RfidReader> {
        Box::new(move || {
            HfReader::open(&spec, kind, opts)
                .map(|r| Box::new(r) as Box<dyn RfidReader>)
                .map_err(|e| DeviceFault::from_error(&e))
        })
    }

    pub fn kind(&self) -> ReaderKind {
        self.protocol.kind()
    }

    /// One request/reply exchange.
    pub fn exchange(&mut self, cmd: &Command) -> Result<Response, RfidError> {
        if self.stale {
            self.link.discard_input()?;
            self.stale = false;
        }
        let frame = self.protocol.encode(cmd);
        self.link.write_all(&frame)?;
        let protocol = &self.protocol;
        let result = kiosk_transport::read_frame(
            self.link.as_mut(),
            self.opts.timeout,
            protocol.max_frame(),
            |buf| match protocol.reply_frame(buf) {
                FrameCheck::Incomplete => None,
                FrameCheck::Invalid => Some(Err(ReaderError::BadLength(buf[0] as usize))),
                FrameCheck::Complete(n) => Some(protocol.decode(cmd, &buf[..n])),
            },
        );
        match result {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                if e.class() == StatusClass::Protocol {
                    self.stale = true;
                }
                Err(e.into())
            }
            Err(e) => {
                self.stale = true;
                Err(e.into())
            }
        }
    }

    fn reader_info(&mut self) -> Result<ReaderInfo, RfidError> {
        match self.exchange(&Command::ReaderInfo)? {
            Response::ReaderInfo(i) => Ok(i),
            _ => Err(ReaderError::Malformed("reply is not reader information").into()),
        }
    }

    fn no_tag(uid: Uid) -> impl Fn(RfidError) -> RfidError {
        move |e| match &e {
            RfidError::Reader(r) if r.class() == StatusClass::NoTag => RfidError::NoTag(uid),
            _ => e,
        }
    }

    fn system_info(&mut self, uid: Uid) -> Result<kiosk_rfid::SystemInfo, RfidError> {
        match self
            .exchange(&Command::SystemInfo { uid })
            .map_err(Self::no_tag(uid))?
        {
            Response::SystemInfo(si) => Ok(si),
            _ => Err(ReaderError::Malformed("reply is not system information").into()),
        }
    }

    /// Reads user memory until the library data is complete (or memory ends).
    fn read_memory(&mut self, uid: Uid, dsfid: u8, block_count: u16) -> Result<Vec<u8>, RfidError> {
        let step = self.protocol.max_blocks_per_read().max(1) as u16;
        // Enough for an ISO 28560-3 basic block (34 bytes) in the first request.
        let first_step = if step == 1 { 1 } else { step.min(9) };
        let mut out = Vec::new();
        let mut next = 0u16;
        while next < block_count.min(256) {
            let count = (if next == 0 { first_step } else { step }).min(block_count - next);
            let cmd = Command::ReadBlocks {
                uid,
                first: next as u8,
                count: count as u8,
            };
            match self.exchange(&cmd).map_err(Self::no_tag(uid))? {
                Response::Blocks(blocks) => {
                    for b in blocks {
                        out.extend(b.data);
                    }
                }
                _ => return Err(ReaderError::Malformed("reply is not blocks").into()),
            }
            next += count;
            if tagdata::is_complete(dsfid, &out) {
                break;
            }
        }
        Ok(out)
    }
}

impl Device for HfReader {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            class: DeviceClass::RfidReader,
            model: self.reader.model.clone(),
            firmware: Some(self.reader.firmware.clone()),
            transport: self.link.describe(),
        }
    }

    fn probe(&mut self) -> Result<(), DeviceFault> {
        self.reader_info()
            .map(|_| ())
            .map_err(|e| DeviceFault::from_error(&e))
    }
}

impl RfidReader for HfReader {
    fn inventory(&mut self) -> Result<Vec<ItemTag>, RfidError> {
        let mut uids = Vec::new();
        let mut more = false;
        for _ in 0..16 {
            match self.exchange(&Command::Inventory { more })? {
                Response::Inventory { tags, more: m } => {
                    uids.extend(tags.into_iter().map(|t| t.uid));
                    more = m;
                }
                _ => return Err(ReaderError::Malformed("reply is not an inventory").into()),
            }
            if !more {
                break;
            }
        }
        uids.sort();
        uids.dedup();
        let mut tags = Vec::with_capacity(uids.len());
        for uid in uids {
            match self.read_tag(uid) {
                Ok(t) => tags.push(t),
                Err(RfidError::NoTag(_)) => {
                    tracing::debug!(%uid, "tag left the pad before it was read");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(tags)
    }

    fn read_tag(&mut self, uid: Uid) -> Result<ItemTag, RfidError> {
        let si = self.system_info(uid)?;
        let memory = self.read_memory(uid, si.dsfid, si.block_count)?;
        let model = tagdata::detect(si.dsfid, &memory);
        let (data, data_error) = match model {
            DataModel::Iso28560_2 | DataModel::Iso28560_3 => {
                match tagdata::decode(model, &memory) {
                    Ok(d) => (Some(d), None),
                    Err(e) => (None, Some(e)),
                }
            }
            _ => (None, None),
        };
        Ok(ItemTag {
            uid,
            afi: si.afi,
            dsfid: si.dsfid,
            eas: None,
            block_size: si.block_size,
            block_count: si.block_count,
            data_model: model,
            data,
            data_error,
        })
    }

    fn write_tag_data(
        &mut self,
        uid: Uid,
        model: DataModel,
        data: &LibraryData,
    ) -> Result<(), RfidError> {
        let mut bytes = tagdata::encode(model, data).map_err(RfidError::Data)?;
        let si = self.system_info(uid)?;
        let size = si.block_size.max(1) as usize;
        let capacity = size * si.block_count as usize;
        if bytes.len() > capacity {
            return Err(RfidError::Data(TagDataError::TooBig {
                need: bytes.len(),
                have: capacity,
            }));
        }
        bytes.resize(bytes.len().div_ceil(size) * size, 0);
        let step = self.protocol.max_blocks_per_write().max(1) as usize * size;
        let total = bytes.len();
        for (i, chunk) in bytes.chunks(step).enumerate() {
            let cmd = Command::WriteBlocks {
                uid,
                first: (i * step / size) as u8,
                block_size: size as u8,
                data: chunk.to_vec(),
            };
            let written = i * step;
            match self.exchange(&cmd).map_err(Self::no_tag(uid)) {
                Ok(_) => {}
                Err(RfidError::NoTag(_)) if written > 0 => {
                    return Err(RfidError::TagLeft {
                        uid,
                        written,
                        total,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn set_security(&mut self, uid: Uid, state: SecurityState) -> Result<ItemTag, RfidError> {
        let afi = self.opts.afi.afi_for(state);
        self.exchange(&Command::WriteAfi { uid, afi })
            .map_err(Self::no_tag(uid))?;
        let mut eas = None;
        if self.opts.use_eas && uid.manufacturer() == kiosk_rfid::iso15693::nxp::MANUFACTURER {
            let on = state == SecurityState::Secured;
            match self.set_eas(uid, on) {
                Ok(()) => eas = Some(on),
                Err(e) if e.kind() == ErrorKind::Unsupported => {}
                Err(RfidError::NoTag(_)) => {
                    return Err(RfidError::TagLeft {
                        uid,
                        written: 1,
                        total: 2,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        let mut tag = self.read_tag(uid).map_err(|e| match e {
            RfidError::NoTag(_) => RfidError::TagLeft {
                uid,
                written: 1,
                total: 1,
            },
            e => e,
        })?;
        if tag.afi != afi {
            return Err(RfidError::VerifyFailed {
                uid,
                expected: afi,
                read: tag.afi,
            });
        }
        tag.eas = eas;
        Ok(tag)
    }

    fn afi_config(&self) -> AfiConfig {
        self.opts.afi
    }

    fn set_eas(&mut self, uid: Uid, on: bool) -> Result<(), RfidError> {
        self.exchange(&Command::Eas { uid, set: on })
            .map_err(Self::no_tag(uid))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_rfid::{FeigStatus, IsoError, Rr3036Status};

    #[test]
    fn kinds_follow_the_contract() {
        let uid: Uid = "E004010012345678".parse().unwrap();
        assert_eq!(RfidError::NoTag(uid).kind(), ErrorKind::NoMedia);
        assert_eq!(
            RfidError::Reader(ReaderError::Feig(FeigStatus::NoTransponder)).kind(),
            ErrorKind::NoMedia
        );
        assert_eq!(
            RfidError::Reader(ReaderError::Rr3036(Rr3036Status::IsoError(
                IsoError::ProgramFailed
            )))
            .kind(),
            ErrorKind::MediaRejected
        );
        assert_eq!(
            RfidError::TagLeft {
                uid,
                written: 4,
                total: 8
            }
            .kind(),
            ErrorKind::MediaRejected
        );
        assert_eq!(
            RfidError::Reader(ReaderError::Crc).kind(),
            ErrorKind::Protocol
        );
        assert_eq!(RfidError::Unsupported("EAS").kind(), ErrorKind::Unsupported);
    }
}
