//! ISO 15693 HF reader protocols (FEIG ISO-Host, RR3036) and ISO 28560 library tag data.
//!
//! Everything here is sans-IO: commands become bytes and bytes become typed replies or typed
//! errors. The device layer (`kiosk-devices`) moves the bytes and drives either protocol through
//! the one [`ReaderProtocol`] trait; the simulators (`kiosk-sim`) use the same codecs from the
//! reader's side. Tag data: [`tagdata`] decodes and encodes ISO 28560-2 and -3.
//!
//! Design notes: the UID is kept most significant byte first everywhere in this API; each codec
//! converts to its wire order (FEIG: MSB first, RR3036: air order LSB first). AFI values for
//! "secured"/"on loan" live in [`AfiConfig`], filled from the terminal profile.

pub mod checksum;
pub mod feig;
pub mod iso15693;
pub mod item;
pub mod protocol;
pub mod rr3036;
pub mod tagdata;

pub use feig::FeigIsoHost;
pub use iso15693::{Block, InventoryEntry, IsoError, SystemInfo, Uid};
pub use item::{AfiConfig, ItemTag, SecurityState};
pub use protocol::{
    Command, FeigStatus, FrameCheck, ReaderError, ReaderInfo, ReaderKind, ReaderProtocol, Response,
    Rr3036Status, SerialSettings, StatusClass, TagFault,
};
pub use rr3036::Rr3036;
pub use tagdata::{DataModel, LibraryData, SetInfo, TagDataError, TypeOfUsage};
