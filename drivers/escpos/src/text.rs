//! Text encodings: GB18030 in Chinese mode (`FS &`), single-byte code pages selected with
//! `ESC t n` otherwise (devices.md §3.1, §3.2). Table numbers follow the Epson code page table.

use encoding_rs::Encoding;
use serde::{Deserialize, Serialize};

/// A single-byte character table a printer selects with `ESC t n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodePage {
    /// PC437 (USA, standard Europe), table 0: the power-on default.
    #[default]
    Pc437,
    /// ISO-8859-7 Greek, table 15.
    Iso8859_7,
    /// WPC1252 (Windows Latin-1), table 16.
    Wpc1252,
    /// PC866 Cyrillic, table 17.
    Pc866,
    /// ISO-8859-2 Latin-2, table 39.
    Iso8859_2,
    /// ISO-8859-15 Latin-9, table 40.
    Iso8859_15,
    /// WPC1250 Central European, table 45.
    Wpc1250,
    /// WPC1251 Cyrillic, table 46.
    Wpc1251,
}

/// Upper half of PC437 (0x80..=0xFF); the lower half is ASCII.
const PC437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{A0}";

impl CodePage {
    /// Every table this driver can encode.
    pub const ALL: [CodePage; 8] = [
        CodePage::Pc437,
        CodePage::Iso8859_7,
        CodePage::Wpc1252,
        CodePage::Pc866,
        CodePage::Iso8859_2,
        CodePage::Iso8859_15,
        CodePage::Wpc1250,
        CodePage::Wpc1251,
    ];

    /// The `n` of `ESC t n`.
    pub fn table(self) -> u8 {
        match self {
            CodePage::Pc437 => 0,
            CodePage::Iso8859_7 => 15,
            CodePage::Wpc1252 => 16,
            CodePage::Pc866 => 17,
            CodePage::Iso8859_2 => 39,
            CodePage::Iso8859_15 => 40,
            CodePage::Wpc1250 => 45,
            CodePage::Wpc1251 => 46,
        }
    }

    /// The code page for `ESC t n`, if this driver knows it.
    pub fn from_table(n: u8) -> Option<CodePage> {
        CodePage::ALL.into_iter().find(|c| c.table() == n)
    }

    fn encoding(self) -> Option<&'static Encoding> {
        match self {
            CodePage::Pc437 => None,
            CodePage::Iso8859_7 => Some(encoding_rs::ISO_8859_7),
            CodePage::Wpc1252 => Some(encoding_rs::WINDOWS_1252),
            CodePage::Pc866 => Some(encoding_rs::IBM866),
            CodePage::Iso8859_2 => Some(encoding_rs::ISO_8859_2),
            CodePage::Iso8859_15 => Some(encoding_rs::ISO_8859_15),
            CodePage::Wpc1250 => Some(encoding_rs::WINDOWS_1250),
            CodePage::Wpc1251 => Some(encoding_rs::WINDOWS_1251),
        }
    }

    /// Encodes one character, `None` if the table lacks it.
    pub fn encode_char(self, c: char) -> Option<u8> {
        if c.is_ascii() {
            return Some(c as u8);
        }
        match self.encoding() {
            None => PC437_HIGH
                .chars()
                .position(|h| h == c)
                .map(|i| 0x80 + i as u8),
            Some(enc) => {
                let mut tmp = [0u8; 4];
                let (bytes, _, had_errors) = enc.encode(c.encode_utf8(&mut tmp));
                (!had_errors && bytes.len() == 1).then(|| bytes[0])
            }
        }
    }

    /// Whether every character of `s` is in this table.
    pub fn can_encode(self, s: &str) -> bool {
        s.chars().all(|c| self.encode_char(c).is_some())
    }

    /// Encodes `s`, replacing characters the table lacks with `?`.
    pub fn encode(self, s: &str) -> Vec<u8> {
        s.chars()
            .map(|c| self.encode_char(c).unwrap_or(b'?'))
            .collect()
    }

    /// Decodes bytes printed with this table.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self.encoding() {
            None => bytes
                .iter()
                .map(|&b| {
                    if b < 0x80 {
                        b as char
                    } else {
                        PC437_HIGH.chars().nth((b - 0x80) as usize).unwrap_or('?')
                    }
                })
                .collect(),
            Some(enc) => enc.decode_without_bom_handling(bytes).0.into_owned(),
        }
    }
}

/// Encodes text for Chinese mode (GB18030, which covers all of Unicode).
pub fn encode_gb18030(s: &str) -> Vec<u8> {
    encoding_rs::GB18030.encode(s).0.into_owned()
}

/// Decodes bytes printed in Chinese mode; malformed sequences become U+FFFD.
pub fn decode_gb18030(bytes: &[u8]) -> String {
    encoding_rs::GB18030
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb18030_golden() {
        assert_eq!(encode_gb18030("您好"), [0xC4, 0xFA, 0xBA, 0xC3]);
        assert_eq!(decode_gb18030(&[0xC4, 0xFA, 0xBA, 0xC3]), "您好");
    }

    #[test]
    fn pc437_table_is_complete_and_round_trips() {
        assert_eq!(PC437_HIGH.chars().count(), 128);
        let all: Vec<u8> = (0x20..=0xFF).collect();
        let s = CodePage::Pc437.decode(&all);
        assert_eq!(CodePage::Pc437.encode(&s), all);
        assert_eq!(CodePage::Pc437.encode("é"), [0x82]);
    }

    #[test]
    fn code_pages_encode_and_replace() {
        assert_eq!(CodePage::Wpc1252.encode("café €"), b"caf\xE9 \x80");
        assert_eq!(CodePage::Wpc1251.encode("Дом"), [0xC4, 0xEE, 0xEC]);
        assert_eq!(CodePage::Wpc1252.encode("您"), b"?");
        for cp in CodePage::ALL {
            assert_eq!(CodePage::from_table(cp.table()), Some(cp));
        }
    }
}
