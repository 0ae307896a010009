//! GB 11643-1999 citizen identity number: 6-digit address code, 8-digit birth date, 3-digit
//! order code (odd = male), and an ISO 7064 MOD 11-2 check character (devices.md §1.8).

use crate::date::Date;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// Why a number is not a valid GB 11643 identity number. Never carries the number itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("identity number must have 18 characters, found {0}")]
    Length(usize),
    #[error("identity number must be 17 digits followed by a digit or X")]
    NotDigits,
    #[error("identity number check character does not match (corrupt read or forged card)")]
    CheckDigit,
    #[error("identity number carries an impossible birth date")]
    BirthDate,
}

/// The check character for the first 17 digits (`None` if they are not 17 ASCII digits).
pub fn check_char(first17: &[u8]) -> Option<char> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(CHECK_CHARS[(sum % 11) as usize] as char)
}

/// Checks length, digits, check character and birth date of an 18-character number
/// (a lower-case `x` is accepted as `X`).
pub fn validate(number: &str) -> Result<(), IdNumberError> {
    let b = number.as_bytes();
    if b.len() != 18 {
        return Err(IdNumberError::Length(number.chars().count()));
    }
    let last = b[17].to_ascii_uppercase();
    if !(last.is_ascii_digit() || last == b'X') {
        return Err(IdNumberError::NotDigits);
    }
    match check_char(&b[..17]) {
        None => return Err(IdNumberError::NotDigits),
        Some(c) if c as u8 != last => return Err(IdNumberError::CheckDigit),
        Some(_) => {}
    }
    birth_date(number).ok_or(IdNumberError::BirthDate)?;
    Ok(())
}

/// The birth date encoded in digits 7–14.
pub fn birth_date(number: &str) -> Option<Date> {
    number.get(6..14).and_then(Date::parse_yyyymmdd)
}

/// Whether the order code (digit 17) says male; `None` if not a digit.
pub fn order_code_male(number: &str) -> Option<bool> {
    let d = *number.as_bytes().get(16)?;
    d.is_ascii_digit().then(|| (d - b'0') % 2 == 1)
}

/// Whether the address code marks a Hong Kong (81), Macau (82) or Taiwan (83) resident
/// (the residence permit's number, §1.6).
pub fn is_hk_mo_tw(number: &str) -> bool {
    matches!(number.get(..6), Some("810000" | "820000" | "830000"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_from_device_vectors_txt() {
        assert_eq!(check_char(b"11010519491231002"), Some('X'));
        assert_eq!(check_char(b"44052418800101001"), Some('4'));
        assert_eq!(check_char(b"11010119900101001"), Some('5'));
        for ok in [
            "11010519491231002X",
            "11010519491231002x",
            "440524188001010014",
            "360426199101010071",
            "120103198806018241",
            "230306196304054513",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            validate("360426199101010072"),
            Err(IdNumberError::CheckDigit)
        );
        assert_eq!(
            validate("230307196304054513"),
            Err(IdNumberError::CheckDigit)
        );
        assert_eq!(
            validate("23030719630405451"),
            Err(IdNumberError::Length(17))
        );
        assert_eq!(
            validate("2303071963040545AB"),
            Err(IdNumberError::NotDigits)
        );
    }

    #[test]
    fn birth_date_and_sex() {
        assert_eq!(birth_date("11010519491231002X"), Date::new(1949, 12, 31));
        assert_eq!(order_code_male("11010519491231002X"), Some(false));
        assert_eq!(order_code_male("110101199001010015"), Some(true));
        assert!(is_hk_mo_tw("810000199001010019"));
        assert!(!is_hk_mo_tw("110101199001010015"));
    }

    #[test]
    fn impossible_birth_date_is_rejected() {
        // 1990-02-30 with a correct check character.
        let first17 = "11010119900230001";
        let n = format!("{first17}{}", check_char(first17.as_bytes()).unwrap());
        assert_eq!(validate(&n), Err(IdNumberError::BirthDate));
    }

    proptest::proptest! {
        #[test]
        fn computed_check_char_always_validates(digits in "[0-9]{6}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}") {
            let n = format!("{digits}{}", check_char(digits.as_bytes()).unwrap());
            proptest::prop_assert_eq!(validate(&n), Ok(()));
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = validate(&s);
            let _ = birth_date(&s);
            let _ = order_code_male(&s);
        }
    }
}
