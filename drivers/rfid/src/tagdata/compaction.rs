//! ISO/IEC 15962 data compaction, as ISO 28560-2 uses it (`library.md` §3.3): integer,
//! numeric, 5-, 6- and 7-bit, octet and UTF-8, plus the ISIL compaction of owner institutions.
//!
//! N-bit schemes pack codes most significant bit first and fill the last byte with zero bits;
//! a trailing all-zero code that lies entirely in that fill is padding, not a character (so the
//! encoder never picks the 5- or 6-bit scheme for text containing `@`, whose code is zero).

use super::TagDataError;

/// The compaction code in bits 6–4 of an ISO/IEC 15962 precursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compaction {
    /// Application-defined; for ISIL objects (owner institution), the ISIL compaction.
    ApplicationDefined = 0,
    Integer = 1,
    Numeric = 2,
    FiveBit = 3,
    SixBit = 4,
    SevenBit = 5,
    Octet = 6,
    Utf8 = 7,
}

impl Compaction {
    pub fn from_code(c: u8) -> Self {
        match c & 7 {
            0 => Compaction::ApplicationDefined,
            1 => Compaction::Integer,
            2 => Compaction::Numeric,
            3 => Compaction::FiveBit,
            4 => Compaction::SixBit,
            5 => Compaction::SevenBit,
            6 => Compaction::Octet,
            _ => Compaction::Utf8,
        }
    }
}

fn is_integer(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 19
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
}

fn fits_5bit(s: &str) -> bool {
    s.bytes().all(|b| (0x41..=0x5F).contains(&b))
}

fn fits_6bit(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x5F).contains(&b) && b != b'@')
}

fn fits_7bit(s: &str) -> bool {
    s.bytes().all(|b| (0x01..=0x7F).contains(&b))
}

/// Compacts `s` with the scheme that gives the fewest bytes.
pub fn compact(s: &str) -> (Compaction, Vec<u8>) {
    let mut best: Option<(Compaction, Vec<u8>)> = None;
    for c in [
        Compaction::Integer,
        Compaction::Numeric,
        Compaction::FiveBit,
        Compaction::SixBit,
        Compaction::SevenBit,
        Compaction::Utf8,
    ] {
        if let Ok(b) = compact_with(c, s)
            && best.as_ref().is_none_or(|(_, cur)| b.len() < cur.len())
        {
            best = Some((c, b));
        }
    }
    best.unwrap_or((Compaction::Utf8, s.as_bytes().to_vec()))
}

/// Compacts `s` with scheme `c`, if `s` fits it.
pub fn compact_with(c: Compaction, s: &str) -> Result<Vec<u8>, TagDataError> {
    let bad = || TagDataError::NotEncodable(c);
    match c {
        Compaction::Integer => {
            if !is_integer(s) {
                return Err(bad());
            }
            let v: u64 = s.parse().map_err(|_| bad())?;
            let bytes = v.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
            Ok(bytes[skip..].to_vec())
        }
        Compaction::Numeric => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
            Ok(digits
                .chunks(2)
                .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0x0F))
                .collect())
        }
        Compaction::FiveBit if fits_5bit(s) && !s.is_empty() => {
            Ok(pack(s.bytes().map(|b| b & 0x1F), 5))
        }
        Compaction::SixBit if fits_6bit(s) && !s.is_empty() => {
            Ok(pack(s.bytes().map(|b| b & 0x3F), 6))
        }
        Compaction::SevenBit if fits_7bit(s) && !s.is_empty() => Ok(pack(s.bytes(), 7)),
        Compaction::Octet if s.chars().all(|c| (c as u32) <= 0xFF) => {
            Ok(s.chars().map(|c| c as u32 as u8).collect())
        }
        Compaction::Utf8 => Ok(s.as_bytes().to_vec()),
        Compaction::ApplicationDefined => isil_compact(s),
        _ => Err(bad()),
    }
}

/// Expands bytes compacted with scheme `c` (application-defined taken as ISIL compaction).
pub fn expand(c: Compaction, b: &[u8]) -> Result<String, TagDataError> {
    let bad = || TagDataError::BadCompaction(c);
    match c {
        Compaction::Integer => {
            if b.is_empty() || b.len() > 16 {
                return Err(bad());
            }
            let v = b.iter().fold(0u128, |a, &x| (a << 8) | x as u128);
            Ok(v.to_string())
        }
        Compaction::Numeric => {
            let mut s = String::with_capacity(b.len() * 2);
            for (i, &x) in b.iter().enumerate() {
                for (j, n) in [x >> 4, x & 0x0F].into_iter().enumerate() {
                    match n {
                        0..=9 => s.push((b'0' + n) as char),
                        0x0F if i == b.len() - 1 && j == 1 => {}
                        _ => return Err(bad()),
                    }
                }
            }
            if s.is_empty() {
                return Err(bad());
            }
            Ok(s)
        }
        Compaction::FiveBit => Ok(unpack(b, 5).map(|v| (0x40 | v) as char).collect()),
        Compaction::SixBit => Ok(unpack(b, 6)
            .map(|v| {
                if v < 0x20 {
                    (v | 0x40) as char
                } else {
                    v as char
                }
            })
            .collect()),
        Compaction::SevenBit => Ok(unpack(b, 7).map(|v| v as char).collect()),
        Compaction::Octet => Ok(b.iter().map(|&x| x as char).collect()),
        Compaction::Utf8 => String::from_utf8(b.to_vec()).map_err(|_| bad()),
        Compaction::ApplicationDefined => isil_expand(b),
    }
}

fn pack(codes: impl Iterator<Item = u8>, n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in codes {
        acc = (acc << n) | (c as u32 & ((1 << n) - 1));
        bits += n;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push((acc << (8 - bits)) as u8);
    }
    out
}

fn unpack(b: &[u8], n: u32) -> impl Iterator<Item = u8> + '_ {
    let total = b.len() as u32 * 8;
    let mut count = total / n;
    let code_at = move |i: u32| -> u8 {
        let mut v = 0u32;
        for k in 0..n {
            let bit = i * n + k;
            v = (v << 1) | ((b[(bit / 8) as usize] >> (7 - bit % 8)) & 1) as u32;
        }
        v as u8
    };
    if count > 0 && code_at(count - 1) == 0 && ((count - 1) * n).div_ceil(8) == b.len() as u32 {
        count -= 1;
    }
    (0..count).map(code_at)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum IsilMode {
    Upper,
    Lower,
    Digit,
}

const ISIL_SHIFT: u8 = 29;
const ISIL_LATCH_CASE: u8 = 30;
const ISIL_LATCH_DIGIT: u8 = 31;
const ISIL_DIGIT_LATCH_UPPER: u8 = 14;
const ISIL_DIGIT_LATCH_LOWER: u8 = 15;

fn isil_punct(c: char) -> Option<u8> {
    match c {
        '-' => Some(0),
        ':' => Some(27),
        '/' => Some(28),
        _ => None,
    }
}

/// ISIL compaction (ISO 28560-2 annex, after ISO 15511 character set): 5-bit upper- and
/// lower-case modes (`-`=0, letters 1–26, `:`=27, `/`=28, 29 shift case for one character,
/// 30 latch case, 31 latch digits) and a 4-bit digit mode (0–9, `-`=10, `:`=11, `/`=12,
/// 14 latch upper, 15 latch lower); starts in upper case; fill bits are ones.
pub fn isil_compact(s: &str) -> Result<Vec<u8>, TagDataError> {
    let bad = || TagDataError::NotEncodable(Compaction::ApplicationDefined);
    if s.is_empty() || s.len() > 16 {
        return Err(bad());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut codes: Vec<(u8, u32)> = Vec::new();
    let mut mode = IsilMode::Upper;
    for (i, &c) in chars.iter().enumerate() {
        let width = if mode == IsilMode::Digit { 4 } else { 5 };
        if let Some(p) = isil_punct(c) {
            let code = if mode == IsilMode::Digit {
                10 + [0u8, 27, 28].iter().position(|&x| x == p).unwrap_or(0) as u8
            } else {
                p
            };
            codes.push((code, width));
        } else if c.is_ascii_digit() {
            if mode != IsilMode::Digit {
                codes.push((ISIL_LATCH_DIGIT, 5));
                mode = IsilMode::Digit;
            }
            codes.push((c as u8 - b'0', 4));
        } else if c.is_ascii_alphabetic() {
            let want = if c.is_ascii_uppercase() {
                IsilMode::Upper
            } else {
                IsilMode::Lower
            };
            let letter = (c.to_ascii_uppercase() as u8) - b'A' + 1;
            if mode == IsilMode::Digit {
                codes.push((
                    if want == IsilMode::Upper {
                        ISIL_DIGIT_LATCH_UPPER
                    } else {
                        ISIL_DIGIT_LATCH_LOWER
                    },
                    4,
                ));
                mode = want;
            } else if mode != want {
                let next_same = chars.get(i + 1).is_some_and(|n| {
                    n.is_ascii_alphabetic() && n.is_ascii_uppercase() == c.is_ascii_uppercase()
                });
                if next_same {
                    codes.push((ISIL_LATCH_CASE, 5));
                    mode = want;
                } else {
                    codes.push((ISIL_SHIFT, 5));
                }
            }
            codes.push((letter, 5));
        } else {
            return Err(bad());
        }
    }
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for (c, n) in codes {
        acc = (acc << n) | c as u32;
        bits += n;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) as u8);
    }
    Ok(out)
}

/// Expands ISIL compaction (see [`isil_compact`]).
pub fn isil_expand(b: &[u8]) -> Result<String, TagDataError> {
    let bad = || TagDataError::BadCompaction(Compaction::ApplicationDefined);
    let total = b.len() * 8;
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Option<u8> {
        if *pos + n > total {
            return None;
        }
        let mut v = 0u8;
        for k in 0..n {
            let bit = *pos + k;
            v = (v << 1) | ((b[bit / 8] >> (7 - bit % 8)) & 1);
        }
        *pos += n;
        Some(v)
    };
    let mut s = String::new();
    let mut mode = IsilMode::Upper;
    let alpha = |code: u8, upper: bool| -> Option<char> {
        match code {
            0 => Some('-'),
            1..=26 => {
                let c = (b'A' + code - 1) as char;
                Some(if upper { c } else { c.to_ascii_lowercase() })
            }
            27 => Some(':'),
            28 => Some('/'),
            _ => None,
        }
    };
    while pos < total {
        if mode == IsilMode::Digit {
            let Some(code) = take(&mut pos, 4) else { break };
            match code {
                0..=9 => s.push((b'0' + code) as char),
                10 => s.push('-'),
                11 => s.push(':'),
                12 => s.push('/'),
                ISIL_DIGIT_LATCH_UPPER => mode = IsilMode::Upper,
                ISIL_DIGIT_LATCH_LOWER => mode = IsilMode::Lower,
                _ => return Err(bad()),
            }
        } else {
            let Some(code) = take(&mut pos, 5) else { break };
            let upper = mode == IsilMode::Upper;
            match code {
                ISIL_SHIFT => {
                    let Some(next) = take(&mut pos, 5) else { break };
                    s.push(alpha(next, !upper).ok_or_else(bad)?);
                }
                ISIL_LATCH_CASE => {
                    mode = if upper {
                        IsilMode::Lower
                    } else {
                        IsilMode::Upper
                    }
                }
                ISIL_LATCH_DIGIT => mode = IsilMode::Digit,
                c => s.push(alpha(c, upper).ok_or_else(bad)?),
            }
        }
    }
    if s.is_empty() {
        return Err(bad());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_d_integer() {
        // ISO 28560-2:2023 Annex D (library.md §3.3): 123456789012 → 1C BE 99 1A 14.
        assert_eq!(
            compact("123456789012"),
            (Compaction::Integer, vec![0x1C, 0xBE, 0x99, 0x1A, 0x14])
        );
        assert_eq!(
            expand(Compaction::Integer, &[0x1C, 0xBE, 0x99, 0x1A, 0x14]).unwrap(),
            "123456789012"
        );
    }

    #[test]
    fn isil_annex_prefix() {
        // library.md §3.3: the first five bytes match the annex text.
        let b = isil_compact("US-InU-Mu").unwrap();
        assert_eq!(&b[..5], &[0xAC, 0xC0, 0x9E, 0xBA, 0xA0]);
        assert_eq!(isil_expand(&b).unwrap(), "US-InU-Mu");
        for s in [
            "DK-710100",
            "GB-UkOxU",
            "CN-110000-3",
            "de-Hil2",
            "FI-Helka/1:2",
        ] {
            assert_eq!(isil_expand(&isil_compact(s).unwrap()).unwrap(), s);
        }
    }

    #[test]
    fn schemes_round_trip() {
        for (c, s) in [
            (Compaction::Numeric, "0012345"),
            (Compaction::FiveBit, "ABC"),
            (Compaction::FiveBit, "ABCDEFGH"),
            (Compaction::SixBit, "AB-12 3"),
            (Compaction::SixBit, "ABC"),
            (Compaction::SevenBit, "Ab-1x"),
            (Compaction::Octet, "Malmö"),
            (Compaction::Utf8, "红楼梦"),
        ] {
            let b = compact_with(c, s).unwrap();
            assert_eq!(expand(c, &b).unwrap(), s, "{c:?}");
        }
        assert_eq!(compact("0012345").0, Compaction::Numeric);
        assert_eq!(compact("HELLO").0, Compaction::FiveBit);
        assert_eq!(compact("BK-0001").0, Compaction::SixBit);
        assert_eq!(compact("bk0001x").0, Compaction::SevenBit);
    }
}
