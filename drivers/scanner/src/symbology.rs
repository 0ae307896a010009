//! Symbologies and AIM symbology identifiers (ISO/IEC 15424: `]` + code character + modifier
//! character), which many serial scanners can prefix to each code (`]Q1`, `]C0`, `]E0` …).

use std::fmt;

/// The kind of code that was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Symbology {
    QrCode,
    DataMatrix,
    Aztec,
    Pdf417,
    MaxiCode,
    Code128,
    Code39,
    Code93,
    Codabar,
    /// EAN-13/EAN-8/UPC-A/UPC-E (ISBNs on books are EAN-13).
    EanUpc,
    /// Interleaved 2 of 5.
    Itf,
    Gs1DataBar,
    /// A code the scanner named, but not one listed here (AIM code character kept).
    Other(char),
    /// The scanner did not say (no AIM identifier configured).
    Unknown,
}

impl Symbology {
    /// The symbology for an AIM code character (ISO/IEC 15424 table 1).
    pub fn from_aim_code(code: char) -> Symbology {
        match code {
            'Q' => Symbology::QrCode,
            'd' => Symbology::DataMatrix,
            'z' => Symbology::Aztec,
            'L' => Symbology::Pdf417,
            'U' => Symbology::MaxiCode,
            'C' => Symbology::Code128,
            'A' => Symbology::Code39,
            'G' => Symbology::Code93,
            'F' => Symbology::Codabar,
            'E' => Symbology::EanUpc,
            'I' => Symbology::Itf,
            'e' => Symbology::Gs1DataBar,
            other => Symbology::Other(other),
        }
    }

    /// The AIM code character, if the symbology has one.
    pub fn aim_code(self) -> Option<char> {
        Some(match self {
            Symbology::QrCode => 'Q',
            Symbology::DataMatrix => 'd',
            Symbology::Aztec => 'z',
            Symbology::Pdf417 => 'L',
            Symbology::MaxiCode => 'U',
            Symbology::Code128 => 'C',
            Symbology::Code39 => 'A',
            Symbology::Code93 => 'G',
            Symbology::Codabar => 'F',
            Symbology::EanUpc => 'E',
            Symbology::Itf => 'I',
            Symbology::Gs1DataBar => 'e',
            Symbology::Other(c) => c,
            Symbology::Unknown => return None,
        })
    }

    /// A stable machine name (`kioskctl --json`, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Symbology::QrCode => "qr-code",
            Symbology::DataMatrix => "data-matrix",
            Symbology::Aztec => "aztec",
            Symbology::Pdf417 => "pdf417",
            Symbology::MaxiCode => "maxicode",
            Symbology::Code128 => "code128",
            Symbology::Code39 => "code39",
            Symbology::Code93 => "code93",
            Symbology::Codabar => "codabar",
            Symbology::EanUpc => "ean-upc",
            Symbology::Itf => "itf",
            Symbology::Gs1DataBar => "gs1-databar",
            Symbology::Other(_) => "other",
            Symbology::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Symbology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AIM symbology identifier as sent on the wire: `]`, a code character, a modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AimId {
    /// Code character (`Q` QR Code, `C` Code 128, `E` EAN/UPC …), an ASCII letter.
    pub code: char,
    /// Modifier character (options such as check digit or GS1 mode), ASCII alphanumeric.
    pub modifier: char,
}

impl AimId {
    /// Parses the three bytes at the start of `bytes`, if they form an identifier.
    pub fn parse(bytes: &[u8]) -> Option<AimId> {
        match bytes {
            [b']', code, modifier, ..]
                if code.is_ascii_alphabetic() && modifier.is_ascii_alphanumeric() =>
            {
                Some(AimId {
                    code: *code as char,
                    modifier: *modifier as char,
                })
            }
            _ => None,
        }
    }

    /// The wire form, e.g. `]Q1`.
    pub fn to_bytes(self) -> [u8; 3] {
        [b']', self.code as u8, self.modifier as u8]
    }

    pub fn symbology(self) -> Symbology {
        Symbology::from_aim_code(self.code)
    }
}

impl fmt::Display for AimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "]{}{}", self.code, self.modifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_identifiers() {
        let q = AimId::parse(b"]Q1https://x").unwrap();
        assert_eq!(q.symbology(), Symbology::QrCode);
        assert_eq!(q.to_string(), "]Q1");
        assert_eq!(
            AimId::parse(b"]C0ABC").unwrap().symbology(),
            Symbology::Code128
        );
        assert_eq!(
            AimId::parse(b"]E09787").unwrap().symbology(),
            Symbology::EanUpc
        );
        assert_eq!(
            AimId::parse(b"]d2").unwrap().symbology(),
            Symbology::DataMatrix
        );
        assert_eq!(AimId::parse(b"]Q"), None);
        assert_eq!(AimId::parse(b"Q1]"), None);
        assert_eq!(AimId::parse(b"]1Q"), None);
    }

    #[test]
    fn aim_code_round_trips() {
        for c in [
            'Q', 'd', 'z', 'L', 'U', 'C', 'A', 'G', 'F', 'E', 'I', 'e', 'X',
        ] {
            assert_eq!(Symbology::from_aim_code(c).aim_code(), Some(c));
        }
        assert_eq!(Symbology::Unknown.aim_code(), None);
    }
}
