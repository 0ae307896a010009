//! The two CRC-16s of this crate.
//!
//! * Reader frames (FEIG ISO-Host, RR3036): reflected polynomial 0x8408 (0x1021 reversed),
//!   preset 0xFFFF, no final XOR, sent LSB first (`devices.md` §4). This is the catalogued
//!   CRC-16/MCRF4XX.
//! * ISO 28560-3 tag data: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB-first, no final
//!   XOR), stored LSB first on the tag (`library.md` §3.2). Catalogued as CRC-16/IBM-3740.

use crc::{CRC_16_IBM_3740, CRC_16_MCRF4XX, Crc};

const FRAME: Crc<u16> = Crc::<u16>::new(&CRC_16_MCRF4XX);
const TAG: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// CRC of a reader frame (everything before the two CRC bytes).
pub fn frame_crc(bytes: &[u8]) -> u16 {
    FRAME.checksum(bytes)
}

/// Appends the frame CRC, LSB first.
pub fn push_frame_crc(frame: &mut Vec<u8>) {
    let c = frame_crc(frame);
    frame.extend_from_slice(&c.to_le_bytes());
}

/// Whether the last two bytes of `frame` are the CRC (LSB first) of the bytes before them.
pub fn frame_crc_ok(frame: &[u8]) -> bool {
    if frame.len() < 2 {
        return false;
    }
    let (body, crc) = frame.split_at(frame.len() - 2);
    frame_crc(body).to_le_bytes() == [crc[0], crc[1]]
}

/// CRC of ISO 28560-3 data (CCITT-FALSE), over the given parts in order.
pub fn tag_crc(parts: &[&[u8]]) -> u16 {
    let mut d = TAG.digest();
    for p in parts {
        d.update(p);
    }
    d.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_check_values() {
        assert_eq!(frame_crc(b"123456789"), 0x6F91);
        assert_eq!(tag_crc(&[b"123456789"]), 0x29B1);
        // library.md §3.2, from rfidgeek/crc.py.
        assert_eq!(tag_crc(&[b"RFID tag data model"]), 0x1AEE);
    }

    #[test]
    fn device_vectors() {
        // device-vectors.txt: FEIG inventory and RR3036 inventory.
        let mut f = vec![0x07, 0xFF, 0xB0, 0x01, 0x00];
        push_frame_crc(&mut f);
        assert_eq!(f, [0x07, 0xFF, 0xB0, 0x01, 0x00, 0x1C, 0x56]);
        assert!(frame_crc_ok(&[0x05, 0x00, 0x01, 0x06, 0x98, 0x11]));
        assert!(!frame_crc_ok(&[0x05, 0x00, 0x01, 0x06, 0x98, 0x12]));
    }
}
