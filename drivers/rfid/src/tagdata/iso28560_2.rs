//! ISO 28560-2 object encoding after ISO/IEC 15962 (`library.md` §3.3). Each data element is a
//! precursor byte (bit 7 offset flag, bits 6–4 compaction, bits 3–0 relative OID, 15 meaning
//! "OID − 15 follows in the next byte"), an offset byte when flagged (pad bytes after the data),
//! a length (EBV-8: 7 bits per byte, high bit = more) and the compacted data. A zero byte ends
//! the data. The primary item identifier (OID 1) comes first.
//!
//! Value conventions here: set information is the total then the part number, both with the
//! same number of digits ("21" = part 1 of 2, "1203" = part 3 of 12); type of usage is one hex
//! digit for the main value and one for the qualifier ("10", "13").

use super::compaction::{Compaction, compact, compact_with, expand};
use super::{DataElement, LibraryData, SetInfo, TagDataError, TypeOfUsage};

/// Relative OIDs of ISO 28560-1 data elements used by name here.
pub mod oid {
    pub const PRIMARY_ITEM_ID: u16 = 1;
    pub const CONTENT_PARAMETER: u16 = 2;
    pub const OWNER_INSTITUTION: u16 = 3;
    pub const SET_INFORMATION: u16 = 4;
    pub const TYPE_OF_USAGE: u16 = 5;
    pub const ILL_BORROWING_INSTITUTION: u16 = 11;
    pub const ALTERNATIVE_OWNER_INSTITUTION: u16 = 23;
    pub const ALTERNATIVE_ILL_INSTITUTION: u16 = 25;
}

/// DSFID of ISO 28560-2 tags (access method 0, data format 6).
pub const DSFID: u8 = 0x06;
/// Most objects decoded before giving up (a tag holds at most a few hundred bytes).
const MAX_OBJECTS: usize = 64;

fn is_isil(o: u16) -> bool {
    matches!(
        o,
        oid::OWNER_INSTITUTION
            | oid::ILL_BORROWING_INSTITUTION
            | oid::ALTERNATIVE_OWNER_INSTITUTION
            | oid::ALTERNATIVE_ILL_INSTITUTION
    )
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, TagDataError> {
        let v = *self.b.get(self.pos).ok_or(TagDataError::Truncated)?;
        self.pos += 1;
        Ok(v)
    }

    fn ebv(&mut self) -> Result<usize, TagDataError> {
        let mut v = 0usize;
        for _ in 0..3 {
            let x = self.byte()?;
            v = (v << 7) | (x & 0x7F) as usize;
            if x & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(TagDataError::Truncated)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], TagDataError> {
        let end = self.pos.checked_add(n).ok_or(TagDataError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(TagDataError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
}

/// One raw object: relative OID, compaction and compacted bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawObject {
    pub oid: u16,
    pub compaction: Compaction,
    pub data: Vec<u8>,
}

/// Where the encoded data ends (just after the terminator), once `data` holds all of it;
/// `None` while more bytes are needed (or the bytes are not ISO 28560-2 objects).
pub fn encoded_len(data: &[u8]) -> Option<usize> {
    let mut r = Reader { b: data, pos: 0 };
    for _ in 0..=MAX_OBJECTS {
        let p = r.byte().ok()?;
        if p == 0 {
            return Some(r.pos);
        }
        if p & 0x0F == 15 {
            r.byte().ok()?;
        }
        let offset = if p & 0x80 != 0 {
            r.byte().ok()? as usize
        } else {
            0
        };
        let len = r.ebv().ok()?;
        r.take(len.checked_add(offset)?).ok()?;
    }
    None
}

/// Splits tag memory into objects, up to the terminator or the end.
pub fn objects(data: &[u8]) -> Result<Vec<RawObject>, TagDataError> {
    let mut r = Reader { b: data, pos: 0 };
    let mut out = Vec::new();
    while r.pos < data.len() {
        let p = r.byte()?;
        if p == 0 {
            break;
        }
        if out.len() >= MAX_OBJECTS {
            return Err(TagDataError::TooManyObjects);
        }
        let mut oid = (p & 0x0F) as u16;
        if oid == 15 {
            oid = 15 + r.byte()? as u16;
        }
        let offset = if p & 0x80 != 0 { r.byte()? as usize } else { 0 };
        let len = r.ebv()?;
        let d = r.take(len)?.to_vec();
        r.take(offset)?;
        out.push(RawObject {
            oid,
            compaction: Compaction::from_code(p >> 4),
            data: d,
        });
    }
    Ok(out)
}

fn push_object(out: &mut Vec<u8>, oid: u16, c: Compaction, data: &[u8]) {
    let small = if oid < 15 { oid as u8 } else { 15 };
    out.push(((c as u8) << 4) | small);
    if oid >= 15 {
        out.push((oid - 15) as u8);
    }
    let n = data.len();
    if n >= 1 << 14 {
        out.push(((n >> 14) as u8 & 0x7F) | 0x80);
    }
    if n >= 1 << 7 {
        out.push(((n >> 7) as u8 & 0x7F) | 0x80);
    }
    out.push(n as u8 & 0x7F);
    out.extend_from_slice(data);
}

/// Decodes tag memory.
pub fn decode(data: &[u8]) -> Result<LibraryData, TagDataError> {
    let objs = objects(data)?;
    let first = objs.first().ok_or(TagDataError::MissingPrimaryItemId)?;
    if first.oid != oid::PRIMARY_ITEM_ID {
        return Err(TagDataError::MissingPrimaryItemId);
    }
    let mut d = LibraryData::default();
    for o in &objs {
        let text = if o.compaction == Compaction::ApplicationDefined && !is_isil(o.oid) {
            None
        } else {
            Some(expand(o.compaction, &o.data)?)
        };
        match (o.oid, text) {
            (oid::PRIMARY_ITEM_ID, Some(t)) => d.primary_item_id = t,
            (oid::OWNER_INSTITUTION, Some(t)) => d.owner_institution = Some(t),
            (oid::SET_INFORMATION, Some(t)) => d.set_info = Some(parse_set(&t)?),
            (oid::TYPE_OF_USAGE, Some(t)) => d.type_of_usage = Some(parse_usage(&t)?),
            (other, text) => d.other.push(DataElement {
                oid: other,
                text,
                raw: o.data.clone(),
            }),
        }
    }
    Ok(d)
}

fn parse_set(t: &str) -> Result<SetInfo, TagDataError> {
    let bad = || TagDataError::BadValue("set information");
    if t.len() < 2 || !t.len().is_multiple_of(2) || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (total, part) = t.split_at(t.len() / 2);
    Ok(SetInfo {
        total: total.parse().map_err(|_| bad())?,
        part: part.parse().map_err(|_| bad())?,
    })
}

fn parse_usage(t: &str) -> Result<TypeOfUsage, TagDataError> {
    let bad = || TagDataError::BadValue("type of usage");
    let mut it = t.chars().map(|c| c.to_digit(16));
    let main = it.next().flatten().ok_or_else(bad)? as u8;
    let sub = match it.next() {
        None => 0,
        Some(Some(s)) => s as u8,
        Some(None) => return Err(bad()),
    };
    if it.next().is_some() {
        return Err(bad());
    }
    Ok(TypeOfUsage { main, sub })
}

/// Encodes the data elements, primary item identifier first, then a terminator.
pub fn encode(d: &LibraryData) -> Result<Vec<u8>, TagDataError> {
    if d.primary_item_id.is_empty() {
        return Err(TagDataError::MissingPrimaryItemId);
    }
    let mut out = Vec::new();
    let (c, b) = compact(&d.primary_item_id);
    push_object(&mut out, oid::PRIMARY_ITEM_ID, c, &b);
    if let Some(isil) = &d.owner_institution {
        let (c, b) = match compact_with(Compaction::ApplicationDefined, isil) {
            Ok(b) => (Compaction::ApplicationDefined, b),
            Err(_) => compact(isil),
        };
        push_object(&mut out, oid::OWNER_INSTITUTION, c, &b);
    }
    if let Some(s) = d.set_info {
        let w = s.total.max(s.part).to_string().len().max(1);
        let t = format!("{:0w$}{:0w$}", s.total, s.part);
        push_object(
            &mut out,
            oid::SET_INFORMATION,
            Compaction::Numeric,
            &compact_with(Compaction::Numeric, &t)?,
        );
    }
    if let Some(u) = d.type_of_usage {
        if u.main > 15 || u.sub > 15 {
            return Err(TagDataError::BadValue("type of usage"));
        }
        let t = format!("{:X}{:X}", u.main, u.sub);
        let (c, b) = compact(&t);
        push_object(&mut out, oid::TYPE_OF_USAGE, c, &b);
    }
    for e in &d.other {
        if e.oid <= oid::TYPE_OF_USAGE || e.oid > 15 + 255 {
            return Err(TagDataError::BadValue("extra element OID"));
        }
        match &e.text {
            Some(t) => {
                let (c, b) = if is_isil(e.oid) {
                    (
                        Compaction::ApplicationDefined,
                        compact_with(Compaction::ApplicationDefined, t)?,
                    )
                } else {
                    compact(t)
                };
                push_object(&mut out, e.oid, c, &b);
            }
            None => push_object(&mut out, e.oid, Compaction::ApplicationDefined, &e.raw),
        }
    }
    out.push(0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_d_primary_item_id_with_offset() {
        // library.md §3.3: 91 00 05 1C BE 99 1A 14 = OID 1, integer, offset 0, length 5.
        let d = decode(&[0x91, 0x00, 0x05, 0x1C, 0xBE, 0x99, 0x1A, 0x14, 0x00]).unwrap();
        assert_eq!(d.primary_item_id, "123456789012");
        // Our encoder writes the same object without the offset byte.
        let d2 = LibraryData {
            primary_item_id: "123456789012".into(),
            ..Default::default()
        };
        assert_eq!(
            encode(&d2).unwrap(),
            [0x11, 0x05, 0x1C, 0xBE, 0x99, 0x1A, 0x14, 0x00]
        );
    }

    #[test]
    fn common_objects_round_trip() {
        let d = LibraryData {
            primary_item_id: "30012345".into(),
            owner_institution: Some("US-InU-Mu".into()),
            set_info: Some(SetInfo { total: 2, part: 1 }),
            type_of_usage: Some(TypeOfUsage { main: 1, sub: 3 }),
            other: vec![DataElement {
                oid: 17,
                text: Some("Der Zauberberg".into()),
                raw: vec![],
            }],
        };
        let b = encode(&d).unwrap();
        assert_eq!(b[0] & 0x0F, 1);
        let back = decode(&b).unwrap();
        assert_eq!(back.primary_item_id, d.primary_item_id);
        assert_eq!(back.owner_institution, d.owner_institution);
        assert_eq!(back.set_info, d.set_info);
        assert_eq!(back.type_of_usage, d.type_of_usage);
        assert_eq!(back.other[0].oid, 17);
        assert_eq!(back.other[0].text.as_deref(), Some("Der Zauberberg"));
    }

    #[test]
    fn refuses_other_first_object() {
        assert_eq!(
            decode(&[0x63, 0x01, 0x41, 0x00]),
            Err(TagDataError::MissingPrimaryItemId)
        );
        assert_eq!(decode(&[0x11, 0x09, 0x01]), Err(TagDataError::Truncated));
    }
}
