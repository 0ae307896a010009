//! The 256-byte text block of a card (devices.md §1.6): UCS-2 little-endian, fields padded with
//! spaces (`20 00`), card type told by the character at byte 248.
//!
//! | flag at 248 | card | layout |
//! |---|---|---|
//! | other | 居民身份证 resident ID | name 0:30, sex 30:2, nation 32:4, birth 36:16, address 52:70, number 122:36, issuer 158:30, from 188:16, until 204:16 |
//! | `J` | 港澳台居民居住证 HK/Macau/Taiwan residence permit | as resident (nation empty), permit number 220:18, issue count 238:4 |
//! | `I` | 外国人永久居留身份证 (2017) | English name 0:120, sex 120:2, number 122:30, nationality 152:6, Chinese name 158:30, from 188:16, until 204:16, birth 220:16, version 236:4, authority code 240:8 |
//! | `Y` | 外国人永久居留身份证 (2023) | Chinese name 0:30, sex 30:2, renewals 32:4, birth 36:16, English name 52:70 + 220:22, number 122:36, from 188:16, until 204:16, nationality 242:6, previous-card link 250:6 |
//!
//! Numbers are checked with GB 11643 (resident, permit, 2023 foreigner; the permit's address
//! code must be 81/82/83 0000), the birth date and the order code's sex must agree with the
//! number, and every date must be a real date. A block that fails is a corrupt read or a card
//! the kiosk must not accept, reported as a [`TextError`] that never contains the data itself.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::date::{Date, Validity};
use crate::gb11643::{self, IdNumberError};
use crate::nation;

/// Size of the text block.
pub const TEXT_LEN: usize = 256;
/// Offset of the card type flag.
pub const TYPE_FLAG_AT: usize = 248;

/// Which card was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardKind {
    /// 居民身份证.
    Resident,
    /// 港澳台居民居住证 (flag `J`).
    HkMoTwPermit,
    /// 外国人永久居留身份证, 2017 edition (flag `I`).
    ForeignPermanent2017,
    /// 外国人永久居留身份证, 2023 edition (flag `Y`).
    ForeignPermanent2023,
}

impl CardKind {
    /// The flag character at byte 248 (`None` for the resident card, which has none).
    pub fn flag(self) -> Option<u8> {
        match self {
            CardKind::Resident => None,
            CardKind::HkMoTwPermit => Some(b'J'),
            CardKind::ForeignPermanent2017 => Some(b'I'),
            CardKind::ForeignPermanent2023 => Some(b'Y'),
        }
    }

    /// A stable machine name.
    pub fn as_str(self) -> &'static str {
        match self {
            CardKind::Resident => "resident",
            CardKind::HkMoTwPermit => "hk-mo-tw-permit",
            CardKind::ForeignPermanent2017 => "foreign-permanent-2017",
            CardKind::ForeignPermanent2023 => "foreign-permanent-2023",
        }
    }

    /// The card's Chinese name.
    pub fn title(self) -> &'static str {
        match self {
            CardKind::Resident => "居民身份证",
            CardKind::HkMoTwPermit => "港澳台居民居住证",
            CardKind::ForeignPermanent2017 => "外国人永久居留身份证(2017版)",
            CardKind::ForeignPermanent2023 => "外国人永久居留身份证(2023版)",
        }
    }
}

/// Sex code of GB/T 2261.1 as on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Unknown,
    Male,
    Female,
    Unspecified,
}

impl Sex {
    pub fn from_code(c: &str) -> Option<Sex> {
        match c {
            "0" => Some(Sex::Unknown),
            "1" => Some(Sex::Male),
            "2" => Some(Sex::Female),
            "9" => Some(Sex::Unspecified),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Sex::Unknown => "0",
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::Unspecified => "9",
        }
    }

    /// As printed on the card.
    pub fn label(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
            Sex::Unknown => "未知",
            Sex::Unspecified => "未说明",
        }
    }
}

/// Why a text block is not an acceptable card. Names the field, never its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("card text block must be {TEXT_LEN} bytes, got {0}")]
    WrongLength(usize),
    #[error("card field '{0}' is empty")]
    Missing(&'static str),
    #[error("card field '{0}' is malformed")]
    BadFormat(&'static str),
    #[error("card field '{0}' is not a real date")]
    BadDate(&'static str),
    #[error("card sex code is not 0, 1, 2 or 9")]
    BadSex,
    #[error("card nation code is not a GB 3304 code")]
    BadNation,
    #[error("card number: {0}")]
    BadNumber(#[from] IdNumberError),
    #[error("card number disagrees with the card's {0}")]
    NumberMismatch(&'static str),
    #[error("card validity starts after it ends")]
    ValidityOrder,
    #[error("card field '{0}' is too long for its place in the text block")]
    TooLong(&'static str),
}

/// A card as read: text fields, the WLT photo and fingerprint data. Zeroized on drop; `Debug`
/// shows neither names, number, address nor birth date.
///
/// Fields a layout lacks are empty (`""`, `None`).
#[derive(Clone, PartialEq, Eq)]
pub struct IdCard {
    pub kind: CardKind,
    /// 姓名 / 中文姓名 (may be empty on a 2017 foreigner card).
    pub name: String,
    /// 英文姓名 (foreigner cards).
    pub english_name: String,
    pub sex: Sex,
    /// 民族 code (resident card only), see [`crate::nation`].
    pub nation: Option<u8>,
    /// 国籍 ISO 3166 alpha-3 (foreigner cards).
    pub nationality: String,
    pub birth: Date,
    /// 住址 (resident card and permit).
    pub address: String,
    /// 公民身份号码 / 永久居留证号码.
    pub number: String,
    /// 签发机关; the 2017 foreigner card's 受理机关代码.
    pub issuer: String,
    pub valid_from: Date,
    pub valid_until: Validity,
    /// 通行证号码 (permit).
    pub permit_number: String,
    /// 签发次数 (permit) or 换证次数 (2023 foreigner card).
    pub issue_count: Option<u8>,
    /// 证件版本号 (2017 foreigner card).
    pub card_version: String,
    /// 既往版本证件号码关联项 (2023 foreigner card).
    pub previous_link: String,
    /// 1024 bytes of wavelet-compressed WLT photo, opaque (§1.7).
    pub photo: Vec<u8>,
    /// Fingerprint feature data as it came (0, 512 or 1024 bytes).
    pub fingerprint: Vec<u8>,
}

impl IdCard {
    /// An empty card of this kind (for building cards field by field).
    pub fn empty(kind: CardKind) -> IdCard {
        IdCard {
            kind,
            name: String::new(),
            english_name: String::new(),
            sex: Sex::Unknown,
            nation: None,
            nationality: String::new(),
            birth: Date::default(),
            address: String::new(),
            number: String::new(),
            issuer: String::new(),
            valid_from: Date::default(),
            valid_until: Validity::LongTerm,
            permit_number: String::new(),
            issue_count: None,
            card_version: String::new(),
            previous_link: String::new(),
            photo: Vec::new(),
            fingerprint: Vec::new(),
        }
    }

    /// The nation as printed on the card ("汉", …).
    pub fn nation_name(&self) -> Option<&'static str> {
        self.nation.and_then(nation::name)
    }

    /// Whether the card has expired on `today` (valid through its end date; "长期" never expires).
    pub fn is_expired(&self, today: Date) -> bool {
        self.valid_until.expired_on(today)
    }
}

impl Zeroize for IdCard {
    fn zeroize(&mut self) {
        self.name.zeroize();
        self.english_name.zeroize();
        self.sex = Sex::Unknown;
        self.nation = None;
        self.nationality.zeroize();
        self.birth = Date::default();
        self.address.zeroize();
        self.number.zeroize();
        self.issuer.zeroize();
        self.valid_from = Date::default();
        self.valid_until = Validity::LongTerm;
        self.permit_number.zeroize();
        self.issue_count = None;
        self.card_version.zeroize();
        self.previous_link.zeroize();
        self.photo.zeroize();
        self.fingerprint.zeroize();
    }
}

impl Drop for IdCard {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl fmt::Debug for IdCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdCard")
            .field("kind", &self.kind)
            .field("name", &"<redacted>")
            .field("number", &"<redacted>")
            .field("valid_until", &self.valid_until)
            .field("photo_len", &self.photo.len())
            .field("fingerprint_len", &self.fingerprint.len())
            .finish_non_exhaustive()
    }
}

/// Decodes `len` bytes at `off` as UTF-16LE without trimming (unpaired surrogates become U+FFFD).
fn raw(block: &[u8], off: usize, len: usize) -> String {
    let units = block[off..off + len]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn trim(s: &str) -> String {
    s.trim_end_matches([' ', '\0']).to_string()
}

/// A field with its padding removed.
fn field(block: &[u8], off: usize, len: usize) -> String {
    let mut s = raw(block, off, len);
    let t = trim(&s);
    s.zeroize();
    t
}

fn date(block: &[u8], off: usize, name: &'static str) -> Result<Date, TextError> {
    let s = field(block, off, 16);
    if s.is_empty() {
        return Err(TextError::Missing(name));
    }
    Date::parse_yyyymmdd(&s).ok_or(TextError::BadDate(name))
}

fn required(s: String, name: &'static str) -> Result<String, TextError> {
    if s.is_empty() {
        Err(TextError::Missing(name))
    } else {
        Ok(s)
    }
}

fn two_digits(s: &str, name: &'static str) -> Result<Option<u8>, TextError> {
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.parse().ok())
    } else {
        Err(TextError::BadFormat(name))
    }
}

/// The card kind told by byte 248.
pub fn card_kind(block: &[u8]) -> CardKind {
    match block.get(TYPE_FLAG_AT) {
        Some(b'J') => CardKind::HkMoTwPermit,
        Some(b'I') => CardKind::ForeignPermanent2017,
        Some(b'Y') => CardKind::ForeignPermanent2023,
        _ => CardKind::Resident,
    }
}

/// Parses and checks a 256-byte text block. Photo and fingerprint are left empty.
pub fn parse_text(block: &[u8]) -> Result<IdCard, TextError> {
    if block.len() != TEXT_LEN {
        return Err(TextError::WrongLength(block.len()));
    }
    let kind = card_kind(block);
    let mut c = IdCard::empty(kind);
    match kind {
        CardKind::Resident | CardKind::HkMoTwPermit => {
            c.name = required(field(block, 0, 30), "name")?;
            c.sex = Sex::from_code(&field(block, 30, 2)).ok_or(TextError::BadSex)?;
            let nation = field(block, 32, 4);
            if kind == CardKind::Resident {
                let code = two_digits(&nation, "nation")
                    .map_err(|_| TextError::BadNation)?
                    .ok_or(TextError::Missing("nation"))?;
                nation::name(code).ok_or(TextError::BadNation)?;
                c.nation = Some(code);
            } else if !nation.is_empty() {
                return Err(TextError::BadFormat("nation"));
            }
            c.birth = date(block, 36, "birth date")?;
            c.address = required(field(block, 52, 70), "address")?;
            c.number = required(field(block, 122, 36), "number")?;
            c.issuer = required(field(block, 158, 30), "issuer")?;
            c.valid_from = date(block, 188, "valid from")?;
            c.valid_until = validity(block)?;
            if kind == CardKind::HkMoTwPermit {
                c.permit_number = required(field(block, 220, 18), "permit number")?;
                c.issue_count = two_digits(&field(block, 238, 4), "issue count")?;
            }
            check_citizen_number(&c)?;
        }
        CardKind::ForeignPermanent2017 => {
            c.english_name = required(field(block, 0, 120), "English name")?;
            c.sex = Sex::from_code(&field(block, 120, 2)).ok_or(TextError::BadSex)?;
            c.number = required(field(block, 122, 30), "number")?;
            let n = c.number.as_bytes();
            if !(n.len() == 15
                && n[..3].iter().all(u8::is_ascii_uppercase)
                && n[3..].iter().all(u8::is_ascii_digit))
            {
                return Err(TextError::BadFormat("number"));
            }
            c.nationality = nationality(field(block, 152, 6))?;
            c.name = field(block, 158, 30);
            c.valid_from = date(block, 188, "valid from")?;
            c.valid_until = validity(block)?;
            c.birth = date(block, 220, "birth date")?;
            c.card_version = field(block, 236, 4);
            c.issuer = field(block, 240, 8);
        }
        CardKind::ForeignPermanent2023 => {
            c.name = field(block, 0, 30);
            c.sex = Sex::from_code(&field(block, 30, 2)).ok_or(TextError::BadSex)?;
            c.issue_count = two_digits(&field(block, 32, 4), "renewal count")?;
            c.birth = date(block, 36, "birth date")?;
            let mut english = raw(block, 52, 70);
            english.push_str(&raw(block, 220, 22));
            c.english_name = required(trim(&english), "English name")?;
            english.zeroize();
            c.number = required(field(block, 122, 36), "number")?;
            gb11643::validate(&c.number)?;
            c.valid_from = date(block, 188, "valid from")?;
            c.valid_until = validity(block)?;
            c.nationality = nationality(field(block, 242, 6))?;
            c.previous_link = field(block, 250, 6);
        }
    }
    if let Validity::Until(end) = c.valid_until
        && end < c.valid_from
    {
        return Err(TextError::ValidityOrder);
    }
    Ok(c)
}

fn validity(block: &[u8]) -> Result<Validity, TextError> {
    let s = field(block, 204, 16);
    if s.is_empty() {
        return Err(TextError::Missing("valid until"));
    }
    Validity::parse(&s).ok_or(TextError::BadDate("valid until"))
}

fn nationality(s: String) -> Result<String, TextError> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(s)
    } else {
        Err(TextError::BadFormat("nationality"))
    }
}

/// GB 11643 number of a resident card or permit: check character, birth date and sex agree.
fn check_citizen_number(c: &IdCard) -> Result<(), TextError> {
    gb11643::validate(&c.number)?;
    if gb11643::birth_date(&c.number) != Some(c.birth) {
        return Err(TextError::NumberMismatch("birth date"));
    }
    let male = gb11643::order_code_male(&c.number);
    match (c.sex, male) {
        (Sex::Male, Some(false)) | (Sex::Female, Some(true)) => {
            return Err(TextError::NumberMismatch("sex"));
        }
        _ => {}
    }
    let hk_mo_tw = gb11643::is_hk_mo_tw(&c.number);
    if (c.kind == CardKind::HkMoTwPermit) != hk_mo_tw {
        return Err(TextError::NumberMismatch("card type"));
    }
    Ok(())
}

/// Writes `s` as UTF-16LE into `len` bytes at `off` (the block is pre-filled with spaces).
fn put(
    block: &mut [u8],
    off: usize,
    len: usize,
    s: &str,
    name: &'static str,
) -> Result<(), TextError> {
    let mut at = off;
    for unit in s.encode_utf16() {
        if at + 2 > off + len {
            return Err(TextError::TooLong(name));
        }
        block[at..at + 2].copy_from_slice(&unit.to_le_bytes());
        at += 2;
    }
    Ok(())
}

/// Encodes the text fields of `card` in its kind's layout (the simulator's side of
/// [`parse_text`]). Does not check the data; `parse_text` does.
pub fn encode_text(card: &IdCard) -> Result<Zeroizing<Vec<u8>>, TextError> {
    let mut b = Zeroizing::new([0x20u8, 0x00].repeat(TEXT_LEN / 2));
    let two = |n: Option<u8>| n.map(|n| format!("{n:02}")).unwrap_or_default();
    match card.kind {
        CardKind::Resident | CardKind::HkMoTwPermit => {
            put(&mut b, 0, 30, &card.name, "name")?;
            put(&mut b, 30, 2, card.sex.code(), "sex")?;
            put(&mut b, 32, 4, &two(card.nation), "nation")?;
            put(&mut b, 36, 16, &card.birth.to_yyyymmdd(), "birth date")?;
            put(&mut b, 52, 70, &card.address, "address")?;
            put(&mut b, 122, 36, &card.number, "number")?;
            put(&mut b, 158, 30, &card.issuer, "issuer")?;
            put(
                &mut b,
                188,
                16,
                &card.valid_from.to_yyyymmdd(),
                "valid from",
            )?;
            put(&mut b, 204, 16, &card.valid_until.to_field(), "valid until")?;
            if card.kind == CardKind::HkMoTwPermit {
                put(&mut b, 220, 18, &card.permit_number, "permit number")?;
                put(&mut b, 238, 4, &two(card.issue_count), "issue count")?;
            }
        }
        CardKind::ForeignPermanent2017 => {
            put(&mut b, 0, 120, &card.english_name, "English name")?;
            put(&mut b, 120, 2, card.sex.code(), "sex")?;
            put(&mut b, 122, 30, &card.number, "number")?;
            put(&mut b, 152, 6, &card.nationality, "nationality")?;
            put(&mut b, 158, 30, &card.name, "name")?;
            put(
                &mut b,
                188,
                16,
                &card.valid_from.to_yyyymmdd(),
                "valid from",
            )?;
            put(&mut b, 204, 16, &card.valid_until.to_field(), "valid until")?;
            put(&mut b, 220, 16, &card.birth.to_yyyymmdd(), "birth date")?;
            put(&mut b, 236, 4, &card.card_version, "card version")?;
            put(&mut b, 240, 8, &card.issuer, "authority code")?;
        }
        CardKind::ForeignPermanent2023 => {
            put(&mut b, 0, 30, &card.name, "name")?;
            put(&mut b, 30, 2, card.sex.code(), "sex")?;
            put(&mut b, 32, 4, &two(card.issue_count), "renewal count")?;
            put(&mut b, 36, 16, &card.birth.to_yyyymmdd(), "birth date")?;
            let units: Vec<u16> = card.english_name.encode_utf16().collect();
            let (first, rest) = units.split_at(units.len().min(35));
            if rest.len() > 11 {
                return Err(TextError::TooLong("English name"));
            }
            for (i, u) in first.iter().enumerate() {
                b[52 + 2 * i..54 + 2 * i].copy_from_slice(&u.to_le_bytes());
            }
            for (i, u) in rest.iter().enumerate() {
                b[220 + 2 * i..222 + 2 * i].copy_from_slice(&u.to_le_bytes());
            }
            put(&mut b, 122, 36, &card.number, "number")?;
            put(
                &mut b,
                188,
                16,
                &card.valid_from.to_yyyymmdd(),
                "valid from",
            )?;
            put(&mut b, 204, 16, &card.valid_until.to_field(), "valid until")?;
            put(&mut b, 242, 6, &card.nationality, "nationality")?;
            put(&mut b, 250, 6, &card.previous_link, "previous card link")?;
        }
    }
    if let Some(flag) = card.kind.flag() {
        b[TYPE_FLAG_AT] = flag;
        b[TYPE_FLAG_AT + 1] = 0;
    }
    Ok(b)
}

#[cfg(test)]
mod tests;
