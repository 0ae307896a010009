//! Library data on ISO 15693 item tags: ISO 28560-2 (object encoding) and ISO 28560-3 (fixed
//! Danish layout), one [`LibraryData`] model for both, and a detector.

pub mod compaction;
pub mod iso28560_2;
pub mod iso28560_3;

use std::fmt;

pub use compaction::Compaction;

/// Which data model a tag's memory follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataModel {
    /// ISO 28560-2 (ISO/IEC 15962 objects): UK, NL, FI, DE…
    Iso28560_2,
    /// ISO 28560-3 / Danish fixed layout: DK, NO, SE…
    Iso28560_3,
    /// Nothing written yet (all zero or all 0xFF).
    Blank,
    /// Something else (3M RFID501, WH/T 43, vendor formats).
    Unknown,
}

impl DataModel {
    pub fn as_str(self) -> &'static str {
        match self {
            DataModel::Iso28560_2 => "iso28560-2",
            DataModel::Iso28560_3 => "iso28560-3",
            DataModel::Blank => "blank",
            DataModel::Unknown => "unknown",
        }
    }

    /// The DSFID to write with data of this model.
    pub fn dsfid(self) -> u8 {
        match self {
            DataModel::Iso28560_2 => iso28560_2::DSFID,
            _ => 0x00,
        }
    }
}

impl fmt::Display for DataModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DataModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "iso28560-2" | "28560-2" => Ok(DataModel::Iso28560_2),
            "iso28560-3" | "28560-3" | "danish" => Ok(DataModel::Iso28560_3),
            "blank" => Ok(DataModel::Blank),
            other => Err(format!(
                "unknown data model '{other}': expected iso28560-2 or iso28560-3"
            )),
        }
    }
}

/// Set information: part `part` of a set of `total` items (a book with a CD is 1 of 2, 2 of 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetInfo {
    pub total: u8,
    pub part: u8,
}

impl fmt::Display for SetInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.part, self.total)
    }
}

/// Type of usage (ISO 28560-1): main value (0 acquisition, 1 circulating item, 2 not for
/// circulation, 7 discarded, 8 patron card, 9 equipment…) and ISO 28560-2 qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeOfUsage {
    pub main: u8,
    pub sub: u8,
}

impl fmt::Display for TypeOfUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.main {
            0 => "acquisition",
            1 => "circulating item",
            2 => "not for circulation",
            3 | 4 => "local",
            6 => "no information",
            7 => "discarded",
            8 => "patron card",
            9 => "library equipment",
            _ => "other",
        };
        if self.sub == 0 {
            write!(f, "{} ({name})", self.main)
        } else {
            write!(f, "{}/{} ({name})", self.main, self.sub)
        }
    }
}

/// A data element this crate does not interpret (ISO 28560-2 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataElement {
    /// Relative OID (ISO 28560-1 numbering).
    pub oid: u16,
    /// The expanded text, when the compaction is a text scheme.
    pub text: Option<String>,
    /// The compacted bytes as stored.
    pub raw: Vec<u8>,
}

impl DataElement {
    /// The title (ISO 28560-1 relative OID 17) as decoded text.
    pub fn title(text: &str) -> Self {
        DataElement {
            oid: 17,
            text: Some(text.to_string()),
            raw: Vec::new(),
        }
    }
}

/// The library data elements of an item tag, whatever the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibraryData {
    /// Barcode / item number.
    pub primary_item_id: String,
    /// Owner institution as an ISIL (`DK-710100`, `US-InU-Mu`).
    pub owner_institution: Option<String>,
    pub set_info: Option<SetInfo>,
    pub type_of_usage: Option<TypeOfUsage>,
    /// Further ISO 28560-2 elements (title, shelf location…).
    pub other: Vec<DataElement>,
}

/// Why tag data could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagDataError {
    #[error("tag data cut short")]
    Truncated,
    #[error("ISO 28560-3 CRC mismatch: stored {stored:04X}, computed {computed:04X}")]
    BadCrc { stored: u16, computed: u16 },
    #[error("unsupported ISO 28560-3 version {0}")]
    BadVersion(u8),
    #[error("data not valid for compaction {0:?}")]
    BadCompaction(Compaction),
    #[error("value cannot be written with compaction {0:?}")]
    NotEncodable(Compaction),
    #[error("{field} longer than {max} bytes or not ASCII")]
    FieldTooLong { field: &'static str, max: usize },
    #[error("bad {0}")]
    BadValue(&'static str),
    #[error("no primary item identifier (it must be the first element)")]
    MissingPrimaryItemId,
    #[error("too many data elements")]
    TooManyObjects,
    #[error("tag data model {0} cannot be decoded")]
    NotDecodable(DataModel),
    #[error("data needs {need} bytes, the tag holds {have}")]
    TooBig { need: usize, have: usize },
}

/// Guesses the data model from the DSFID and the first bytes of user memory.
pub fn detect(dsfid: u8, data: &[u8]) -> DataModel {
    if data.iter().all(|&b| b == 0) || data.iter().all(|&b| b == 0xFF) {
        return DataModel::Blank;
    }
    if dsfid & 0x1F == iso28560_2::DSFID {
        return DataModel::Iso28560_2;
    }
    if iso28560_3::looks_like(data) {
        return DataModel::Iso28560_3;
    }
    if data[0] & 0x0F == 1 && iso28560_2::decode(data).is_ok() {
        return DataModel::Iso28560_2;
    }
    DataModel::Unknown
}

/// Whether `data` (the first bytes of user memory) already holds the whole library data, so a
/// reader can stop reading blocks early.
pub fn is_complete(dsfid: u8, data: &[u8]) -> bool {
    let Some(&first) = data.first() else {
        return false;
    };
    if first == 0 {
        return true;
    }
    if dsfid & 0x1F == iso28560_2::DSFID {
        return iso28560_2::encoded_len(data).is_some();
    }
    if matches!(first >> 4, 1 | 2) && data.len() < iso28560_3::BASIC_BLOCK {
        return false;
    }
    if data.len() >= iso28560_3::BASIC_BLOCK && iso28560_3::looks_like(data) {
        return true;
    }
    first & 0x0F == 1 && iso28560_2::encoded_len(data).is_some()
}

/// Decodes `data` as `model`.
pub fn decode(model: DataModel, data: &[u8]) -> Result<LibraryData, TagDataError> {
    match model {
        DataModel::Iso28560_2 => iso28560_2::decode(data),
        DataModel::Iso28560_3 => iso28560_3::decode(data),
        other => Err(TagDataError::NotDecodable(other)),
    }
}

/// Encodes `d` as `model`.
pub fn encode(model: DataModel, d: &LibraryData) -> Result<Vec<u8>, TagDataError> {
    match model {
        DataModel::Iso28560_2 => iso28560_2::encode(d),
        DataModel::Iso28560_3 => iso28560_3::encode(d),
        other => Err(TagDataError::NotDecodable(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_models() {
        let d = LibraryData {
            primary_item_id: "30012345".into(),
            owner_institution: Some("DK-710100".into()),
            set_info: Some(SetInfo { total: 1, part: 1 }),
            type_of_usage: Some(TypeOfUsage { main: 1, sub: 0 }),
            other: vec![],
        };
        let mut three = encode(DataModel::Iso28560_3, &d).unwrap();
        three.resize(112, 0);
        assert_eq!(detect(0x00, &three), DataModel::Iso28560_3);
        let mut two = encode(DataModel::Iso28560_2, &d).unwrap();
        two.resize(112, 0);
        assert_eq!(detect(0x06, &two), DataModel::Iso28560_2);
        assert_eq!(detect(0x00, &two), DataModel::Iso28560_2);
        assert_eq!(detect(0x00, &[0; 112]), DataModel::Blank);
        assert_eq!(detect(0x00, &[0x04, 0x11, 0x22, 0x33]), DataModel::Unknown);
    }
}
