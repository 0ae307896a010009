//! FEIG ISO-Host protocol (OBID ID ISC / CPR readers), standard (short) frames:
//! `LEN COM-ADR CMD [data] CRC_LSB CRC_MSB`, LEN counting the whole frame, CRC as in
//! [`crate::checksum`]; replies carry a STATUS byte after CMD. 38400 baud 8E1 (`devices.md` §4).
//!
//! ISO 15693 host commands go under CMD `B0` with a sub-command (`01` inventory, `23` read
//! multiple blocks, `24` write multiple blocks, `27` write AFI, `2B` get system information);
//! UIDs travel most significant byte first; block data travels byte-reversed within each block
//! (FEIG sends the tag's LSB-first block as a big-endian number). Manufacturer custom commands
//! (NXP SET/RESET EAS) go under CMD `B1`: `B1 CMD MFR MODE UID`.

use crate::checksum::{frame_crc_ok, push_frame_crc};
use crate::iso15693::{Block, InventoryEntry, IsoError, SystemInfo, Uid, nxp};
use crate::protocol::{
    Command, FeigStatus, FrameCheck, ReaderError, ReaderInfo, ReaderKind, ReaderProtocol, Response,
    SerialSettings, TagFault,
};

const CMD_SW_VERSION: u8 = 0x65;
const CMD_ISO: u8 = 0xB0;
const CMD_CUSTOM: u8 = 0xB1;
const ISO_INVENTORY: u8 = 0x01;
const ISO_READ_MULTIPLE: u8 = 0x23;
const ISO_WRITE_MULTIPLE: u8 = 0x24;
const ISO_WRITE_AFI: u8 = 0x27;
const ISO_SYSTEM_INFO: u8 = 0x2B;
/// MODE: addressed.
const MODE_ADDRESSED: u8 = 0x01;
/// MODE bit 3 for read multiple blocks: return the security status byte.
const MODE_SEC: u8 = 0x08;
/// MODE bit 7 for inventory: give the rest of the list.
const MODE_MORE: u8 = 0x80;
/// Transponder type code of an ISO 15693 tag in inventory replies.
const TR_TYPE_ISO15693: u8 = 0x03;
const STATUS_OK: u8 = 0x00;
const STATUS_NO_TRANSPONDER: u8 = 0x01;
const STATUS_MORE_DATA: u8 = 0x94;
const STATUS_ISO_ERROR: u8 = 0x95;
/// Tags per inventory reply, so a frame stays under 256 bytes.
pub const TAGS_PER_REPLY: usize = 24;

/// FEIG ISO-Host codec, for a reader at bus address `address` (0xFF = any).
#[derive(Debug, Clone, Copy)]
pub struct FeigIsoHost {
    pub address: u8,
}

impl Default for FeigIsoHost {
    fn default() -> Self {
        FeigIsoHost { address: 0xFF }
    }
}

fn status_from_byte(b: u8, iso: Option<u8>) -> FeigStatus {
    use FeigStatus::*;
    match b {
        0x01 => NoTransponder,
        0x02 => DataFalse,
        0x03 => WriteError,
        0x04 => AddressError,
        0x05 => WrongTransponderType,
        0x10 => EepromFailure,
        0x11 => ParameterRange,
        0x80 => UnknownCommand,
        0x81 => LengthError,
        0x82 => CommandNotAvailable,
        0x83 => RfCommunication,
        0x84 => RfWarning,
        0x95 => IsoError(crate::iso15693::IsoError::from_code(iso.unwrap_or(0x0F))),
        other => Other(other),
    }
}

fn fault_to_status(f: &TagFault) -> (u8, Option<u8>) {
    match f {
        TagFault::NoTag => (STATUS_NO_TRANSPONDER, None),
        TagFault::Iso(e) => (STATUS_ISO_ERROR, Some(e.code())),
        TagFault::UnknownCommand => (0x80, None),
        TagFault::BadParameter => (0x81, None),
    }
}

fn frame_check(buf: &[u8], min: usize) -> FrameCheck {
    match buf.first() {
        None => FrameCheck::Incomplete,
        Some(&len) if (len as usize) < min => FrameCheck::Invalid,
        Some(&len) if buf.len() < len as usize => FrameCheck::Incomplete,
        Some(&len) => FrameCheck::Complete(len as usize),
    }
}

fn finish(mut f: Vec<u8>) -> Vec<u8> {
    f[0] = (f.len() + 2) as u8;
    push_frame_crc(&mut f);
    f
}

fn reversed_blocks(data: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for b in data.chunks(size.max(1)) {
        out.extend(b.iter().rev());
    }
    out
}

fn uid_at(b: &[u8]) -> Result<Uid, ReaderError> {
    let a: [u8; 8] = b
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or(ReaderError::Malformed("UID cut short"))?;
    Ok(Uid(a))
}

/// The frame body between the header and the CRC, after checking LEN and CRC.
fn body(frame: &[u8], header: usize) -> Result<&[u8], ReaderError> {
    let len = *frame.first().ok_or(ReaderError::BadLength(0))? as usize;
    if len != frame.len() || len < header + 2 {
        return Err(ReaderError::BadLength(len));
    }
    if !frame_crc_ok(frame) {
        return Err(ReaderError::Crc);
    }
    Ok(&frame[header..len - 2])
}

impl ReaderProtocol for FeigIsoHost {
    fn kind(&self) -> ReaderKind {
        ReaderKind::Feig
    }

    fn serial(&self) -> SerialSettings {
        SerialSettings {
            baud: 38400,
            even_parity: true,
        }
    }

    fn max_blocks_per_read(&self) -> u8 {
        32
    }

    fn max_blocks_per_write(&self) -> u8 {
        32
    }

    fn encode(&self, cmd: &Command) -> Vec<u8> {
        let mut f = vec![0, self.address];
        match cmd {
            Command::ReaderInfo => f.push(CMD_SW_VERSION),
            Command::Inventory { more } => {
                f.extend([CMD_ISO, ISO_INVENTORY, if *more { MODE_MORE } else { 0 }])
            }
            Command::SystemInfo { uid } => {
                f.extend([CMD_ISO, ISO_SYSTEM_INFO, MODE_ADDRESSED]);
                f.extend(uid.0);
            }
            Command::ReadBlocks { uid, first, count } => {
                f.extend([CMD_ISO, ISO_READ_MULTIPLE, MODE_ADDRESSED | MODE_SEC]);
                f.extend(uid.0);
                f.extend([*first, *count]);
            }
            Command::WriteBlocks {
                uid,
                first,
                block_size,
                data,
            } => {
                let size = (*block_size).max(1);
                f.extend([CMD_ISO, ISO_WRITE_MULTIPLE, MODE_ADDRESSED]);
                f.extend(uid.0);
                f.extend([*first, (data.len() / size as usize) as u8, size]);
                f.extend(reversed_blocks(data, size as usize));
            }
            Command::WriteAfi { uid, afi } => {
                f.extend([CMD_ISO, ISO_WRITE_AFI, MODE_ADDRESSED]);
                f.extend(uid.0);
                f.push(*afi);
            }
            Command::Eas { uid, set } => {
                let code = if *set { nxp::SET_EAS } else { nxp::RESET_EAS };
                f.extend([CMD_CUSTOM, code, nxp::MANUFACTURER, MODE_ADDRESSED]);
                f.extend(uid.0);
            }
        }
        finish(f)
    }

    fn reply_frame(&self, buf: &[u8]) -> FrameCheck {
        frame_check(buf, 6)
    }

    fn decode(&self, cmd: &Command, frame: &[u8]) -> Result<Response, ReaderError> {
        let b = body(frame, 2)?;
        let (&code, rest) = b
            .split_first()
            .ok_or(ReaderError::Malformed("no command"))?;
        let expected = match cmd {
            Command::ReaderInfo => CMD_SW_VERSION,
            Command::Eas { .. } => CMD_CUSTOM,
            _ => CMD_ISO,
        };
        if code != expected {
            return Err(ReaderError::UnexpectedCommand(code));
        }
        let (&status, data) = rest
            .split_first()
            .ok_or(ReaderError::Malformed("no status"))?;
        let inventory = matches!(cmd, Command::Inventory { .. });
        match status {
            STATUS_OK => {}
            STATUS_MORE_DATA if inventory => {}
            STATUS_NO_TRANSPONDER if inventory => {
                return Ok(Response::Inventory {
                    tags: Vec::new(),
                    more: false,
                });
            }
            other => {
                return Err(ReaderError::Feig(status_from_byte(
                    other,
                    data.first().copied(),
                )));
            }
        }
        match cmd {
            Command::ReaderInfo => {
                if data.len() < 5 {
                    return Err(ReaderError::Malformed("software version cut short"));
                }
                Ok(Response::ReaderInfo(ReaderInfo {
                    model: format!("FEIG ISO-Host (hw type 0x{:02X})", data[3]),
                    firmware: format!("{}.{}.{}", data[0], data[1], data[2]),
                }))
            }
            Command::Inventory { .. } => {
                let (&n, sets) = data
                    .split_first()
                    .ok_or(ReaderError::Malformed("no data-set count"))?;
                if sets.len() != n as usize * 10 {
                    return Err(ReaderError::Malformed("inventory data-set count mismatch"));
                }
                let tags = sets
                    .chunks(10)
                    .map(|s| {
                        Ok(InventoryEntry {
                            dsfid: s[1],
                            uid: uid_at(&s[2..])?,
                        })
                    })
                    .collect::<Result<Vec<_>, ReaderError>>()?;
                Ok(Response::Inventory {
                    tags,
                    more: status == STATUS_MORE_DATA,
                })
            }
            Command::SystemInfo { .. } => {
                if data.len() != 13 {
                    return Err(ReaderError::Malformed("system information length"));
                }
                Ok(Response::SystemInfo(SystemInfo {
                    dsfid: data[0],
                    uid: uid_at(&data[1..9])?,
                    afi: data[9],
                    block_size: (data[10] & 0x1F) + 1,
                    block_count: data[11] as u16 + 1,
                    ic_reference: data[12],
                }))
            }
            Command::ReadBlocks { count, .. } => {
                if data.len() < 2 {
                    return Err(ReaderError::Malformed("block header cut short"));
                }
                let (n, size) = (data[0] as usize, data[1] as usize);
                if n != *count as usize || size == 0 || data.len() != 2 + n * (size + 1) {
                    return Err(ReaderError::Malformed("block count or size mismatch"));
                }
                Ok(Response::Blocks(
                    data[2..]
                        .chunks(size + 1)
                        .map(|c| Block {
                            locked: c[0] & 0x01 != 0,
                            data: c[1..].iter().rev().copied().collect(),
                        })
                        .collect(),
                ))
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
        let (&cmd, d) = b
            .split_first()
            .ok_or(ReaderError::Malformed("no command"))?;
        let need = |n: usize| {
            if d.len() == n {
                Ok(())
            } else {
                Err(ReaderError::Malformed("request length"))
            }
        };
        match (cmd, d.first().copied()) {
            (CMD_SW_VERSION, _) => {
                need(0)?;
                Ok(Command::ReaderInfo)
            }
            (CMD_ISO, Some(ISO_INVENTORY)) => {
                need(2)?;
                Ok(Command::Inventory {
                    more: d[1] & MODE_MORE != 0,
                })
            }
            (CMD_ISO, Some(ISO_SYSTEM_INFO)) => {
                need(10)?;
                Ok(Command::SystemInfo {
                    uid: uid_at(&d[2..])?,
                })
            }
            (CMD_ISO, Some(ISO_READ_MULTIPLE)) => {
                need(12)?;
                Ok(Command::ReadBlocks {
                    uid: uid_at(&d[2..])?,
                    first: d[10],
                    count: d[11],
                })
            }
            (CMD_ISO, Some(ISO_WRITE_MULTIPLE)) => {
                if d.len() < 13 {
                    return Err(ReaderError::Malformed("request length"));
                }
                let (n, size) = (d[11] as usize, d[12] as usize);
                if size == 0 || d.len() != 13 + n * size {
                    return Err(ReaderError::Malformed("write block count or size mismatch"));
                }
                Ok(Command::WriteBlocks {
                    uid: uid_at(&d[2..])?,
                    first: d[10],
                    block_size: size as u8,
                    data: reversed_blocks(&d[13..], size),
                })
            }
            (CMD_ISO, Some(ISO_WRITE_AFI)) => {
                need(11)?;
                Ok(Command::WriteAfi {
                    uid: uid_at(&d[2..])?,
                    afi: d[10],
                })
            }
            (CMD_CUSTOM, Some(code @ (nxp::SET_EAS | nxp::RESET_EAS))) => {
                need(11)?;
                if d[1] != nxp::MANUFACTURER {
                    return Err(ReaderError::Malformed(
                        "custom command for another manufacturer",
                    ));
                }
                Ok(Command::Eas {
                    uid: uid_at(&d[3..])?,
                    set: code == nxp::SET_EAS,
                })
            }
            (other, _) => Err(ReaderError::UnexpectedCommand(other)),
        }
    }

    fn encode_reply(&self, cmd: &Command, result: &Result<Response, TagFault>) -> Vec<u8> {
        let code = match cmd {
            Command::ReaderInfo => CMD_SW_VERSION,
            Command::Eas { .. } => CMD_CUSTOM,
            _ => CMD_ISO,
        };
        let mut f = vec![0, self.address, code];
        match result {
            Err(fault) => {
                let (s, iso) = fault_to_status(fault);
                f.push(s);
                f.extend(iso);
            }
            Ok(Response::ReaderInfo(_)) => {
                // SW-REV 3.2, D-REV 1, HW-TYPE, SW-TYPE, TR-TYPE (ISO 15693).
                f.extend([STATUS_OK, 3, 2, 1, 0x4A, 0x50, 0x00, 0x08]);
            }
            Ok(Response::Inventory { tags, more }) => {
                if tags.is_empty() && !more {
                    f.push(STATUS_NO_TRANSPONDER);
                } else {
                    f.push(if *more { STATUS_MORE_DATA } else { STATUS_OK });
                    f.push(tags.len() as u8);
                    for t in tags {
                        f.extend([TR_TYPE_ISO15693, t.dsfid]);
                        f.extend(t.uid.0);
                    }
                }
            }
            Ok(Response::SystemInfo(si)) => {
                f.extend([STATUS_OK, si.dsfid]);
                f.extend(si.uid.0);
                f.extend([
                    si.afi,
                    si.block_size.saturating_sub(1) & 0x1F,
                    si.block_count.saturating_sub(1).min(255) as u8,
                    si.ic_reference,
                ]);
            }
            Ok(Response::Blocks(blocks)) => {
                let size = blocks.first().map(|b| b.data.len()).unwrap_or(4);
                f.extend([STATUS_OK, blocks.len() as u8, size as u8]);
                for b in blocks {
                    f.push(b.locked as u8);
                    f.extend(b.data.iter().rev());
                }
            }
            Ok(Response::Done) => f.push(STATUS_OK),
        }
        finish(f)
    }
}

/// The ISO error code carried by a 0x95 status, if any (for tests and diagnostics).
pub fn iso_error(e: &ReaderError) -> Option<IsoError> {
    match e {
        ReaderError::Feig(FeigStatus::IsoError(i)) => Some(*i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid() -> Uid {
        "E004010012345678".parse().unwrap()
    }

    #[test]
    fn golden_requests() {
        let p = FeigIsoHost::default();
        assert_eq!(
            p.encode(&Command::Inventory { more: false }),
            [0x07, 0xFF, 0xB0, 0x01, 0x00, 0x1C, 0x56]
        );
        assert_eq!(
            p.encode(&Command::SystemInfo { uid: uid() }),
            [
                0x0F, 0xFF, 0xB0, 0x2B, 0x01, 0xE0, 0x04, 0x01, 0x00, 0x12, 0x34, 0x56, 0x78, 0x11,
                0xA3
            ]
        );
    }

    #[test]
    fn block_bytes_are_reversed_on_the_wire() {
        let p = FeigIsoHost::default();
        let cmd = Command::ReadBlocks {
            uid: uid(),
            first: 0,
            count: 2,
        };
        let blocks = vec![
            Block {
                locked: false,
                data: vec![1, 2, 3, 4],
            },
            Block {
                locked: true,
                data: vec![5, 6, 7, 8],
            },
        ];
        let reply = p.encode_reply(&cmd, &Ok(Response::Blocks(blocks.clone())));
        assert_eq!(&reply[4..9], &[2, 4, 0, 4, 3]);
        assert_eq!(p.decode(&cmd, &reply).unwrap(), Response::Blocks(blocks));
    }

    #[test]
    fn statuses_are_typed() {
        let p = FeigIsoHost::default();
        let cmd = Command::WriteAfi { uid: uid(), afi: 7 };
        let r = p.encode_reply(&cmd, &Err(TagFault::Iso(IsoError::ProgramFailed)));
        let e = p.decode(&cmd, &r).unwrap_err();
        assert_eq!(
            e,
            ReaderError::Feig(FeigStatus::IsoError(IsoError::ProgramFailed))
        );
        let r = p.encode_reply(&cmd, &Err(TagFault::NoTag));
        assert_eq!(
            p.decode(&cmd, &r).unwrap_err(),
            ReaderError::Feig(FeigStatus::NoTransponder)
        );
        let inv = Command::Inventory { more: false };
        let r = p.encode_reply(&inv, &Err(TagFault::NoTag));
        assert_eq!(
            p.decode(&inv, &r).unwrap(),
            Response::Inventory {
                tags: vec![],
                more: false
            }
        );
        let mut bad = r.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(p.decode(&inv, &bad).unwrap_err(), ReaderError::Crc);
    }
}
