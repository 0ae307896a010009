//! ISO 28560-3 (Danish data model, DS/INF 163) fixed layout, `library.md` §3.2:
//!
//! | bytes | field |
//! |---|---|
//! | 0 | version (high nibble, 1) and type of usage (low nibble) |
//! | 1, 2 | number of parts in the set, ordinal part number |
//! | 3–18 | primary item identifier, NUL-padded |
//! | 19–20 | CRC-16/CCITT-FALSE, LSB first, over bytes 0–18 and 21–33 |
//! | 21–22 | country of the owner library (ISO 3166) |
//! | 23–33 | owner library (ISIL suffix), NUL-padded; 9 bytes on 32-byte tags |
//!
//! Extension blocks after byte 34 are left alone (neither decoded nor written).

use super::{LibraryData, SetInfo, TagDataError, TypeOfUsage};
use crate::checksum::tag_crc;

/// Length of the basic block this module writes.
pub const BASIC_BLOCK: usize = 34;
/// Smallest basic block (32-byte tags).
pub const MIN_BLOCK: usize = 32;
const VERSION: u8 = 1;

fn field(b: &[u8]) -> String {
    b.iter()
        .take_while(|&&x| x != 0)
        .map(|&x| x as char)
        .collect()
}

/// The CRC over a basic block (32-byte blocks read as if bytes 32–33 were zero).
pub fn crc_of(block: &[u8; BASIC_BLOCK]) -> u16 {
    tag_crc(&[&block[..19], &block[21..]])
}

/// Whether `data` starts with a basic block whose version and CRC are right.
pub fn looks_like(data: &[u8]) -> bool {
    basic_block(data).is_ok_and(|b| {
        matches!(b[0] >> 4, 1 | 2) && crc_of(&b) == u16::from_le_bytes([b[19], b[20]])
    })
}

fn basic_block(data: &[u8]) -> Result<[u8; BASIC_BLOCK], TagDataError> {
    if data.len() < MIN_BLOCK {
        return Err(TagDataError::Truncated);
    }
    let mut b = [0u8; BASIC_BLOCK];
    let n = data.len().min(BASIC_BLOCK);
    b[..n].copy_from_slice(&data[..n]);
    Ok(b)
}

/// Decodes the basic block at the start of `data`.
pub fn decode(data: &[u8]) -> Result<LibraryData, TagDataError> {
    let b = basic_block(data)?;
    let version = b[0] >> 4;
    if !matches!(version, 1 | 2) {
        return Err(TagDataError::BadVersion(version));
    }
    let stored = u16::from_le_bytes([b[19], b[20]]);
    let computed = crc_of(&b);
    if stored != computed {
        return Err(TagDataError::BadCrc { stored, computed });
    }
    let country = field(&b[21..23]);
    let library = field(&b[23..]);
    let owner = match (country.is_empty(), library.is_empty()) {
        (true, true) => None,
        (false, true) => Some(country),
        (true, false) => Some(library),
        (false, false) => Some(format!("{country}-{library}")),
    };
    Ok(LibraryData {
        primary_item_id: field(&b[3..19]),
        owner_institution: owner,
        set_info: Some(SetInfo {
            total: b[1],
            part: b[2],
        }),
        type_of_usage: Some(TypeOfUsage {
            main: b[0] & 0x0F,
            sub: 0,
        }),
        other: Vec::new(),
    })
}

fn put(dst: &mut [u8], s: &str, what: &'static str) -> Result<(), TagDataError> {
    if !s.is_ascii() || s.len() > dst.len() || s.bytes().any(|b| b == 0) {
        return Err(TagDataError::FieldTooLong {
            field: what,
            max: dst.len(),
        });
    }
    dst[..s.len()].copy_from_slice(s.as_bytes());
    Ok(())
}

/// Encodes a 34-byte basic block. The owner institution is an ISIL `CC-LIBRARY`; a missing type
/// of usage is written as 1 (circulating item), a missing set as 1 of 1.
pub fn encode(d: &LibraryData) -> Result<Vec<u8>, TagDataError> {
    let mut b = [0u8; BASIC_BLOCK];
    let usage = d.type_of_usage.map(|u| u.main).unwrap_or(1);
    if usage > 0x0F {
        return Err(TagDataError::FieldTooLong {
            field: "type of usage",
            max: 15,
        });
    }
    b[0] = (VERSION << 4) | usage;
    let set = d.set_info.unwrap_or(SetInfo { total: 1, part: 1 });
    b[1] = set.total;
    b[2] = set.part;
    if d.primary_item_id.is_empty() {
        return Err(TagDataError::MissingPrimaryItemId);
    }
    put(&mut b[3..19], &d.primary_item_id, "primary item identifier")?;
    if let Some(isil) = &d.owner_institution {
        match isil.split_once('-') {
            Some((cc, lib)) if cc.len() == 2 => {
                put(&mut b[21..23], cc, "country")?;
                put(&mut b[23..], lib, "owner library")?;
            }
            _ => put(&mut b[23..], isil, "owner library")?,
        }
    }
    let crc = crc_of(&b);
    b[19..21].copy_from_slice(&crc.to_le_bytes());
    Ok(b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn danish_example_round_trips() {
        let d = LibraryData {
            primary_item_id: "5010177836".into(),
            owner_institution: Some("DK-710100".into()),
            set_info: Some(SetInfo { total: 1, part: 1 }),
            type_of_usage: Some(TypeOfUsage { main: 1, sub: 0 }),
            other: vec![],
        };
        let b = encode(&d).unwrap();
        assert_eq!(b.len(), 34);
        assert_eq!(&b[..4], &[0x11, 0x01, 0x01, b'5']);
        assert_eq!(&b[21..23], b"DK");
        assert!(looks_like(&b));
        assert_eq!(decode(&b).unwrap(), d);
        // A 32-byte tag holds the same block minus two NUL bytes.
        assert_eq!(decode(&b[..32]).unwrap(), d);
        let mut bad = b.clone();
        bad[5] ^= 1;
        assert!(matches!(decode(&bad), Err(TagDataError::BadCrc { .. })));
    }
}
