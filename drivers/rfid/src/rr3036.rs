//! RR3036-style HF reader protocol (Chafon and similar), ISO 15693 mode, 19200 baud 8N1
//! (`devices.md` §4, `545ch4/RR3036` `connection.rb`).
//!
//! Request `LEN ADR CMD STATE [data] CRC_LSB CRC_MSB` and reply `LEN ADR STATUS [data] CRC`, LEN
//! counting the bytes after itself, CRC as in [`crate::checksum`]. Commands: `00/00` reader
//! information, `01/06` inventory (reply: `DSFID UID` per tag), `20` read one block (reply:
//! security byte + block), `21` write one block, `27` write AFI, `2B` tag information. UIDs go
//! least significant byte first, as on the air interface; block bytes in tag memory order.
//!
//! EAS: the reader passes ISO 15693 custom commands through with CMD = the custom command code
//! (`A2` SET EAS, `A3` RESET EAS) and data `MFR UID`; readers without it answer status 0x02.

use crate::checksum::{frame_crc_ok, push_frame_crc};
use crate::iso15693::{Block, InventoryEntry, IsoError, SystemInfo, Uid, nxp};
use crate::protocol::{
    Command, FrameCheck, ReaderError, ReaderInfo, ReaderKind, ReaderProtocol, Response,
    Rr3036Status, SerialSettings, TagFault,
};

const CMD_CONTROL: u8 = 0x00;
const CMD_INVENTORY: u8 = 0x01;
const CMD_READ_BLOCK: u8 = 0x20;
const CMD_WRITE_BLOCK: u8 = 0x21;
const CMD_WRITE_AFI: u8 = 0x27;
const CMD_TAG_INFO: u8 = 0x2B;
const STATE_ISO15693: u8 = 0x06;
const STATUS_OK: u8 = 0x00;
const STATUS_NO_TAG: u8 = 0x0E;
const STATUS_ISO: u8 = 0x0F;
/// ISO 15693 block size the single-block commands carry.
pub const BLOCK_SIZE: usize = 4;

/// RR3036 codec for a reader at bus address `address`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rr3036 {
    pub address: u8,
}

fn status_from_byte(b: u8, extra: Option<u8>) -> Rr3036Status {
    use Rr3036Status::*;
    match b {
        0x01 => OperandLength,
        0x02 => CommandNotSupported,
        0x03 => OperandRange,
        0x04 => OperationNotAvailable,
        0x05 => FieldClosed,
        0x06 => Eeprom,
        0x0A => InventoryIncomplete,
        0x0B => InventoryPartial,
        0x0C => TagResponse,
        0x0E => NoTag,
        0x0F => IsoError(crate::iso15693::IsoError::from_code(extra.unwrap_or(0x0F))),
        0x1F => ProtocolModel,
        other => Other(other),
    }
}

fn frame_check(buf: &[u8], min_len: usize) -> FrameCheck {
    match buf.first() {
        None => FrameCheck::Incomplete,
        Some(&len) if (len as usize) < min_len => FrameCheck::Invalid,
        Some(&len) if buf.len() < len as usize + 1 => FrameCheck::Incomplete,
        Some(&len) => FrameCheck::Complete(len as usize + 1),
    }
}

fn finish(mut f: Vec<u8>) -> Vec<u8> {
    f[0] = (f.len() + 1) as u8;
    push_frame_crc(&mut f);
    f
}

fn uid_lsb(b: &[u8]) -> Result<Uid, ReaderError> {
    let a: [u8; 8] = b
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or(ReaderError::Malformed("UID cut short"))?;
    Ok(Uid::from_lsb_first(a))
}

fn body(frame: &[u8], header: usize) -> Result<&[u8], ReaderError> {
    let len = *frame.first().ok_or(ReaderError::BadLength(0))? as usize;
    if len + 1 != frame.len() || len + 1 < header + 2 {
        return Err(ReaderError::BadLength(len));
    }
    if !frame_crc_ok(frame) {
        return Err(ReaderError::Crc);
    }
    Ok(&frame[header..frame.len() - 2])
}

impl ReaderProtocol for Rr3036 {
    fn kind(&self) -> ReaderKind {
        ReaderKind::Rr3036
    }

    fn serial(&self) -> SerialSettings {
        SerialSettings {
            baud: 19200,
            even_parity: false,
        }
    }

    fn max_blocks_per_read(&self) -> u8 {
        1
    }

    fn max_blocks_per_write(&self) -> u8 {
        1
    }

    /// Block commands carry one block: `ReadBlocks` reads block `first` (its `count` is
    /// ignored), `WriteBlocks` writes the first 4 bytes of `data` to block `first`.
    fn encode(&self, cmd: &Command) -> Vec<u8> {
        let mut f = vec![0, self.address];
        match cmd {
            Command::ReaderInfo => f.extend([CMD_CONTROL, 0x00]),
            Command::Inventory { .. } => f.extend([CMD_INVENTORY, STATE_ISO15693]),
            Command::SystemInfo { uid } => {
                f.extend([CMD_TAG_INFO, 0]);
                f.extend(uid.lsb_first());
            }
            Command::ReadBlocks { uid, first, .. } => {
                f.extend([CMD_READ_BLOCK, 0]);
                f.extend(uid.lsb_first());
                f.push(*first);
            }
            Command::WriteBlocks {
                uid, first, data, ..
            } => {
                f.extend([CMD_WRITE_BLOCK, 0]);
                f.extend(uid.lsb_first());
                f.push(*first);
                let mut block = [0u8; BLOCK_SIZE];
                for (o, i) in block.iter_mut().zip(data) {
                    *o = *i;
                }
                f.extend(block);
            }
            Command::WriteAfi { uid, afi } => {
                f.extend([CMD_WRITE_AFI, 0]);
                f.extend(uid.lsb_first());
                f.push(*afi);
            }
            Command::Eas { uid, set } => {
                f.extend([if *set { nxp::SET_EAS } else { nxp::RESET_EAS }, 0]);
                f.push(nxp::MANUFACTURER);
                f.extend(uid.lsb_first());
            }
        }
        finish(f)
    }

    fn reply_frame(&self, buf: &[u8]) -> FrameCheck {
        frame_check(buf, 4)
    }

    fn decode(&self, cmd: &Command, frame: &[u8]) -> Result<Response, ReaderError> {
        let b = body(frame, 2)?;
        let (&status, data) = b.split_first().ok_or(ReaderError::Malformed("no status"))?;
        let inventory = matches!(cmd, Command::Inventory { .. });
        match status {
            STATUS_OK => {}
            STATUS_NO_TAG if inventory => {
                return Ok(Response::Inventory {
                    tags: Vec::new(),
                    more: false,
                });
            }
            other => {
                return Err(ReaderError::Rr3036(status_from_byte(
                    other,
                    data.first().copied(),
                )));
            }
        }
        match cmd {
            Command::ReaderInfo => {
                if data.len() != 8 {
                    return Err(ReaderError::Malformed("reader information length"));
                }
                Ok(Response::ReaderInfo(ReaderInfo {
                    model: format!("RR3036 (reader type 0x{:02X})", data[4]),
                    firmware: format!("{}.{}", data[0], data[1]),
                }))
            }
            Command::Inventory { .. } => {
                if data.len() % 9 != 0 {
                    return Err(ReaderError::Malformed("inventory record length"));
                }
                let tags = data
                    .chunks(9)
                    .map(|c| {
                        Ok(InventoryEntry {
                            dsfid: c[0],
                            uid: uid_lsb(&c[1..])?,
                        })
                    })
                    .collect::<Result<Vec<_>, ReaderError>>()?;
                Ok(Response::Inventory { tags, more: false })
            }
            Command::SystemInfo { .. } => {
                if data.len() != 14 {
                    return Err(ReaderError::Malformed("tag information length"));
                }
                Ok(Response::SystemInfo(SystemInfo {
                    uid: uid_lsb(&data[1..9])?,
                    dsfid: data[9],
                    afi: data[10],
                    block_count: data[11] as u16 + 1,
                    block_size: (data[12] & 0x1F) + 1,
                    ic_reference: data[13],
                }))
            }
            Command::ReadBlocks { .. } => {
                if data.len() != 1 + BLOCK_SIZE {
                    return Err(ReaderError::Malformed("block length"));
                }
                Ok(Response::Blocks(vec![Block {
                    locked: data[0] & 0x01 != 0,
                    data: data[1..].to_vec(),
                }]))
            }
            _ => {
                if !data.is_empty() {
                    return Err(ReaderError::Malformed("unexpected data after a write"));
                }
                Ok(Response::Done)
            }
        }
    }

    fn request_frame(&self, buf: &[u8]) -> FrameCheck {
        frame_check(buf, 5)
    }

    fn decode_request(&self, frame: &[u8]) -> Result<Command, ReaderError> {
        let b = body(frame, 2)?;
        if b.len() < 2 {
            return Err(ReaderError::Malformed("no command"));
        }
        let (cmd, state, d) = (b[0], b[1], &b[2..]);
        let need = |n: usize| {
            if d.len() == n {
                Ok(())
            } else {
                Err(ReaderError::Malformed("request length"))
            }
        };
        match cmd {
            CMD_CONTROL if state == 0 => {
                need(0)?;
                Ok(Command::ReaderInfo)
            }
            CMD_INVENTORY => {
                need(0)?;
                Ok(Command::Inventory { more: false })
            }
            CMD_TAG_INFO => {
                need(8)?;
                Ok(Command::SystemInfo { uid: uid_lsb(d)? })
            }
            CMD_READ_BLOCK => {
                need(9)?;
                Ok(Command::ReadBlocks {
                    uid: uid_lsb(d)?,
                    first: d[8],
                    count: 1,
                })
            }
            CMD_WRITE_BLOCK => {
                need(9 + BLOCK_SIZE)?;
                Ok(Command::WriteBlocks {
                    uid: uid_lsb(d)?,
                    first: d[8],
                    block_size: BLOCK_SIZE as u8,
                    data: d[9..].to_vec(),
                })
            }
            CMD_WRITE_AFI => {
                need(9)?;
                Ok(Command::WriteAfi {
                    uid: uid_lsb(d)?,
                    afi: d[8],
                })
            }
            nxp::SET_EAS | nxp::RESET_EAS => {
                need(9)?;
                if d[0] != nxp::MANUFACTURER {
                    return Err(ReaderError::Malformed(
                        "custom command for another manufacturer",
                    ));
                }
                Ok(Command::Eas {
                    uid: uid_lsb(&d[1..])?,
                    set: cmd == nxp::SET_EAS,
                })
            }
            other => Err(ReaderError::UnexpectedCommand(other)),
        }
    }

    fn encode_reply(&self, _cmd: &Command, result: &Result<Response, TagFault>) -> Vec<u8> {
        let mut f = vec![0, self.address];
        match result {
            Err(TagFault::NoTag) => f.push(STATUS_NO_TAG),
            Err(TagFault::Iso(e)) => f.extend([STATUS_ISO, e.code()]),
            Err(TagFault::UnknownCommand) => f.push(0x02),
            Err(TagFault::BadParameter) => f.push(0x01),
            Ok(Response::ReaderInfo(_)) => {
                // Version 2.1, RFU, reader type 0x03, TR type (ISO 15693), scan time 10×100 ms.
                f.extend([STATUS_OK, 2, 1, 0, 0, 0x03, 0x00, 0x08, 10]);
            }
            Ok(Response::Inventory { tags, .. }) => {
                if tags.is_empty() {
                    f.push(STATUS_NO_TAG);
                } else {
                    f.push(STATUS_OK);
                    for t in tags {
                        f.push(t.dsfid);
                        f.extend(t.uid.lsb_first());
                    }
                }
            }
            Ok(Response::SystemInfo(si)) => {
                f.extend([STATUS_OK, 0x0F]);
                f.extend(si.uid.lsb_first());
                f.extend([
                    si.dsfid,
                    si.afi,
                    si.block_count.saturating_sub(1).min(255) as u8,
                    si.block_size.saturating_sub(1) & 0x1F,
                    si.ic_reference,
                ]);
            }
            Ok(Response::Blocks(blocks)) => {
                f.push(STATUS_OK);
                if let Some(b) = blocks.first() {
                    f.push(b.locked as u8);
                    let mut block = [0u8; BLOCK_SIZE];
                    for (o, i) in block.iter_mut().zip(&b.data) {
                        *o = *i;
                    }
                    f.extend(block);
                }
            }
            Ok(Response::Done) => f.push(STATUS_OK),
        }
        finish(f)
    }
}

/// The ISO error code carried by a 0x0F status, if any.
pub fn iso_error(e: &ReaderError) -> Option<IsoError> {
    match e {
        ReaderError::Rr3036(Rr3036Status::IsoError(i)) => Some(*i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_inventory() {
        let p = Rr3036::default();
        assert_eq!(
            p.encode(&Command::Inventory { more: false }),
            [0x05, 0x00, 0x01, 0x06, 0x98, 0x11]
        );
        assert_eq!(
            p.decode_request(&[0x05, 0x00, 0x01, 0x06, 0x98, 0x11])
                .unwrap(),
            Command::Inventory { more: false }
        );
    }

    #[test]
    fn uid_goes_lsb_first() {
        let p = Rr3036::default();
        let uid: Uid = "E004010012345678".parse().unwrap();
        let f = p.encode(&Command::WriteAfi { uid, afi: 0xC2 });
        assert_eq!(&f[4..12], &[0x78, 0x56, 0x34, 0x12, 0x00, 0x01, 0x04, 0xE0]);
        assert_eq!(
            p.decode_request(&f).unwrap(),
            Command::WriteAfi { uid, afi: 0xC2 }
        );
    }

    #[test]
    fn statuses_are_typed() {
        let p = Rr3036::default();
        let uid: Uid = "E004010012345678".parse().unwrap();
        let cmd = Command::ReadBlocks {
            uid,
            first: 3,
            count: 1,
        };
        let r = p.encode_reply(&cmd, &Err(TagFault::Iso(IsoError::BlockNotAvailable)));
        assert_eq!(
            p.decode(&cmd, &r).unwrap_err(),
            ReaderError::Rr3036(Rr3036Status::IsoError(IsoError::BlockNotAvailable))
        );
        let r = p.encode_reply(&cmd, &Err(TagFault::NoTag));
        assert_eq!(
            p.decode(&cmd, &r).unwrap_err(),
            ReaderError::Rr3036(Rr3036Status::NoTag)
        );
    }
}
