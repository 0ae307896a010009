//! Character sets (library.md §1.7). The spec's default is IBM code page 850; Chinese ILSs run
//! UTF-8 (dp2) and some GB18030. The set is a per-library setting; encoding happens before the
//! checksum is computed, decoding only after a whole frame has been framed.
//!
//! CP850 is a 128-entry table below (bytes 0x80–0xFF), taken from Python 3.11's
//! `encodings.cp850`, which is generated from the Unicode Consortium's
//! `MAPPINGS/VENDORS/MICSFT/PC/CP850.TXT`. (crates.io `oem_cp` 2.1.2 has the same table but pulls
//! in `phf`; 128 characters do not need a dependency.) GB18030 is `encoding_rs` (WHATWG).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The character set of one library system's SIP2 account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Charset {
    /// UTF-8 (dp2, invenio-sip2, most Chinese deployments).
    #[default]
    #[serde(alias = "utf8")]
    Utf8,
    /// GB18030 (covers GBK and GB2312).
    #[serde(alias = "gbk")]
    Gb18030,
    /// IBM code page 850, the spec's default and pysip2's and FOLIO's.
    #[serde(alias = "ibm850")]
    Cp850,
    /// ISO 8859-1.
    #[serde(alias = "iso-8859-1")]
    Latin1,
    /// 7-bit ASCII only.
    Ascii,
}

/// A character the library's character set cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("character {ch:?} (U+{code:04X}) cannot be sent in {charset}")]
pub struct Unencodable {
    pub ch: char,
    pub code: u32,
    pub charset: Charset,
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Charset::Utf8 => "utf-8",
            Charset::Gb18030 => "gb18030",
            Charset::Cp850 => "cp850",
            Charset::Latin1 => "latin-1",
            Charset::Ascii => "ascii",
        })
    }
}

impl FromStr for Charset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(Charset::Utf8),
            "gb18030" | "gbk" | "gb2312" => Ok(Charset::Gb18030),
            "cp850" | "ibm850" | "850" => Ok(Charset::Cp850),
            "latin-1" | "latin1" | "iso-8859-1" => Ok(Charset::Latin1),
            "ascii" | "us-ascii" => Ok(Charset::Ascii),
            other => Err(format!(
                "unknown character set {other:?} (use utf-8, gb18030, cp850, latin-1 or ascii)"
            )),
        }
    }
}

/// CP850 bytes 0x80..=0xFF.
const CP850_HIGH: [char; 128] = [
    '\u{00C7}', '\u{00FC}', '\u{00E9}', '\u{00E2}', '\u{00E4}', '\u{00E0}', '\u{00E5}', '\u{00E7}',
    '\u{00EA}', '\u{00EB}', '\u{00E8}', '\u{00EF}', '\u{00EE}', '\u{00EC}', '\u{00C4}', '\u{00C5}',
    '\u{00C9}', '\u{00E6}', '\u{00C6}', '\u{00F4}', '\u{00F6}', '\u{00F2}', '\u{00FB}', '\u{00F9}',
    '\u{00FF}', '\u{00D6}', '\u{00DC}', '\u{00F8}', '\u{00A3}', '\u{00D8}', '\u{00D7}', '\u{0192}',
    '\u{00E1}', '\u{00ED}', '\u{00F3}', '\u{00FA}', '\u{00F1}', '\u{00D1}', '\u{00AA}', '\u{00BA}',
    '\u{00BF}', '\u{00AE}', '\u{00AC}', '\u{00BD}', '\u{00BC}', '\u{00A1}', '\u{00AB}', '\u{00BB}',
    '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{00C1}', '\u{00C2}', '\u{00C0}',
    '\u{00A9}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255D}', '\u{00A2}', '\u{00A5}', '\u{2510}',
    '\u{2514}', '\u{2534}', '\u{252C}', '\u{251C}', '\u{2500}', '\u{253C}', '\u{00E3}', '\u{00C3}',
    '\u{255A}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256C}', '\u{00A4}',
    '\u{00F0}', '\u{00D0}', '\u{00CA}', '\u{00CB}', '\u{00C8}', '\u{0131}', '\u{00CD}', '\u{00CE}',
    '\u{00CF}', '\u{2518}', '\u{250C}', '\u{2588}', '\u{2584}', '\u{00A6}', '\u{00CC}', '\u{2580}',
    '\u{00D3}', '\u{00DF}', '\u{00D4}', '\u{00D2}', '\u{00F5}', '\u{00D5}', '\u{00B5}', '\u{00FE}',
    '\u{00DE}', '\u{00DA}', '\u{00DB}', '\u{00D9}', '\u{00FD}', '\u{00DD}', '\u{00AF}', '\u{00B4}',
    '\u{00AD}', '\u{00B1}', '\u{2017}', '\u{00BE}', '\u{00B6}', '\u{00A7}', '\u{00F7}', '\u{00B8}',
    '\u{00B0}', '\u{00A8}', '\u{00B7}', '\u{00B9}', '\u{00B3}', '\u{00B2}', '\u{25A0}', '\u{00A0}',
];

impl Charset {
    /// Whether `ch` can be sent in this set.
    pub fn can_encode(self, ch: char) -> bool {
        match self {
            Charset::Utf8 => true,
            // The WHATWG encoder refuses U+E5E5, and a few characters come back as another
            // code point (e.g. the private-use U+E82B, whose bytes decode as U+9FB6 龶 in the
            // WHATWG tables): only what reads back unchanged may be sent.
            Charset::Gb18030 => {
                let mut buf = [0u8; 4];
                let one: &str = ch.encode_utf8(&mut buf);
                let (bytes, _, unmappable) = encoding_rs::GB18030.encode(one);
                !unmappable && encoding_rs::GB18030.decode_without_bom_handling(&bytes).0 == one
            }
            Charset::Cp850 => ch.is_ascii() || CP850_HIGH.contains(&ch),
            Charset::Latin1 => (ch as u32) < 0x100,
            Charset::Ascii => ch.is_ascii(),
        }
    }

    /// Encodes text; fails on the first character the set cannot carry.
    pub fn encode(self, text: &str) -> Result<Vec<u8>, Unencodable> {
        let bad = |ch: char| Unencodable {
            ch,
            code: ch as u32,
            charset: self,
        };
        match self {
            Charset::Utf8 => Ok(text.as_bytes().to_vec()),
            Charset::Gb18030 => {
                let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
                if !unmappable && encoding_rs::GB18030.decode_without_bom_handling(&bytes).0 == text
                {
                    return Ok(bytes.into_owned());
                }
                let ch = text
                    .chars()
                    .find(|c| !self.can_encode(*c))
                    .unwrap_or('\u{FFFD}');
                Err(bad(ch))
            }
            Charset::Cp850 => text
                .chars()
                .map(|ch| {
                    if ch.is_ascii() {
                        Ok(ch as u8)
                    } else {
                        CP850_HIGH
                            .iter()
                            .position(|c| *c == ch)
                            .map(|i| 0x80 + i as u8)
                            .ok_or(bad(ch))
                    }
                })
                .collect(),
            Charset::Latin1 => text
                .chars()
                .map(|ch| u8::try_from(ch as u32).map_err(|_| bad(ch)))
                .collect(),
            Charset::Ascii => text
                .chars()
                .map(|ch| {
                    if ch.is_ascii() {
                        Ok(ch as u8)
                    } else {
                        Err(bad(ch))
                    }
                })
                .collect(),
        }
    }

    /// Decodes bytes. Malformed sequences become U+FFFD; the flag says whether any did.
    pub fn decode(self, bytes: &[u8]) -> (String, bool) {
        match self {
            Charset::Utf8 => match std::str::from_utf8(bytes) {
                Ok(s) => (s.to_string(), false),
                Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
            },
            Charset::Gb18030 => {
                let (text, malformed) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
                (text.into_owned(), malformed)
            }
            Charset::Cp850 => (
                bytes
                    .iter()
                    .map(|b| {
                        if *b < 0x80 {
                            *b as char
                        } else {
                            CP850_HIGH[(*b - 0x80) as usize]
                        }
                    })
                    .collect(),
                false,
            ),
            Charset::Latin1 => (bytes.iter().map(|b| *b as char).collect(), false),
            Charset::Ascii => {
                let bad = bytes.iter().any(|b| !b.is_ascii());
                (
                    bytes
                        .iter()
                        .map(|b| if b.is_ascii() { *b as char } else { '\u{FFFD}' })
                        .collect(),
                    bad,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp850_known_bytes() {
        // é 0x82, ü 0x81, ß 0xE1, Ç 0x80, nbsp 0xFF (CP850.TXT).
        assert_eq!(
            Charset::Cp850.encode("éüßÇ\u{A0}").unwrap(),
            vec![0x82, 0x81, 0xE1, 0x80, 0xFF]
        );
        assert_eq!(Charset::Cp850.decode(&[0x63, 0xA0, 0x6C]).0, "cál");
        assert!(Charset::Cp850.encode("张").is_err());
        let all: Vec<u8> = (0..=255u8).collect();
        let (text, _) = Charset::Cp850.decode(&all);
        assert_eq!(Charset::Cp850.encode(&text).unwrap(), all);
    }

    #[test]
    fn gb18030_chinese() {
        assert_eq!(
            Charset::Gb18030.encode("张三").unwrap(),
            vec![0xD5, 0xC5, 0xC8, 0xFD]
        );
        assert_eq!(
            Charset::Gb18030.decode(&[0xD5, 0xC5, 0xC8, 0xFD]),
            ("张三".into(), false)
        );
        // Characters that would read back as another code point are refused.
        assert!(Charset::Gb18030.encode("\u{E82B}").is_err());
        assert_eq!(Charset::Gb18030.encode("龶").unwrap().len(), 2);
        assert!(Charset::Gb18030.encode("\u{E5E5}").is_err());
        // A four-byte sequence.
        let emoji = Charset::Gb18030.encode("😀").unwrap();
        assert_eq!(emoji.len(), 4);
        assert_eq!(Charset::Gb18030.decode(&emoji).0, "😀");
    }

    #[test]
    fn malformed_input_is_flagged_not_fatal() {
        assert!(Charset::Utf8.decode(&[0xE5, 0xBC]).1);
        assert!(Charset::Gb18030.decode(&[0xD5]).1);
        assert!(Charset::Ascii.decode(&[0xD5]).1);
        assert!(Charset::Ascii.encode("é").is_err());
        assert!(Charset::Latin1.encode("€").is_err());
    }

    #[test]
    fn names_parse() {
        for (s, c) in [
            ("UTF-8", Charset::Utf8),
            ("gbk", Charset::Gb18030),
            ("IBM850", Charset::Cp850),
        ] {
            assert_eq!(s.parse::<Charset>().unwrap(), c);
            assert_eq!(c.to_string().parse::<Charset>().unwrap(), c);
        }
        assert!("klingon".parse::<Charset>().is_err());
    }
}
