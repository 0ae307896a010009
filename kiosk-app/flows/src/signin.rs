//! The four ways a patron signs in at the self-check (`library.md` §1.10a): each ends as the
//! identifier the library system knows (SIP2 AA), with a PIN only when the patron typed one.
//!
//! * **Resident ID card** (GA/T 467 reader): the card's ID number is mapped to the patron
//!   identifier by a per-library rule ([`IdCardRule`]): many Chinese libraries register the ID
//!   number itself as the reader number (身份证即读者证), others prefix it.
//! * **Reader card**: an RFID patron card on the pad (ISO 28560 type of usage 8, its primary
//!   identifier is the card number) or a barcode scanned from the card.
//! * **Card number + PIN** typed on the keypad.
//! * **QR code on a phone**: a signed, expiring token ([`PatronToken`]) issued by the library's
//!   app, resolved to the card number without a PIN.
//!
//! ## Phone QR token, version 1
//!
//! The QR code holds one line of ASCII:
//!
//! ```text
//! KPT1.<card>.<expires>.<nonce>.<signature>
//! ```
//!
//! * `KPT1`: the format and its version.
//! * `<card>`: the patron identifier, base64url without padding of its UTF-8 bytes (1–64 bytes).
//! * `<expires>`: expiry as Unix seconds (UTC), decimal, at most 12 digits.
//! * `<nonce>`: 8–32 bytes chosen at random by the issuer, base64url without padding; a kiosk
//!   refuses a nonce it has already seen within the token's lifetime (a screenshot replayed).
//! * `<signature>`: Ed25519 (RFC 8032) over the ASCII bytes `KPT1.<card>.<expires>.<nonce>`
//!   (everything before the last `.`), base64url without padding of the 64 signature bytes,
//!   verified with `verify_strict` against the library's public key from the terminal profile.
//!
//! A token is valid while `now <= expires + skew` (clock skew allowed: 30 s by default) and
//! issuers keep lifetimes short (60–300 s) since the code is shown on a screen.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
pub use kiosk_token::{PatronToken, TokenError};
use zeroize::Zeroize as _;

use crate::pad::StrayTag;

/// How a patron identified themselves, before it is resolved to a patron identifier.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The ID number read from a resident ID card (GB 11643, checked by the driver).
    IdCard { id_number: String },
    /// A reader card: RFID patron card or its barcode.
    ReaderCard { card: String },
    /// Card number and PIN typed on the keypad.
    CardAndPin { card: String, pin: String },
    /// The text of a QR code shown on a phone.
    PhoneQr { text: String },
}

impl std::fmt::Debug for Credential {
    // Personal data never reaches logs: only the way of signing in.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::IdCard { .. } => "Credential::IdCard(..)",
            Credential::ReaderCard { .. } => "Credential::ReaderCard(..)",
            Credential::CardAndPin { .. } => "Credential::CardAndPin(..)",
            Credential::PhoneQr { .. } => "Credential::PhoneQr(..)",
        })
    }
}

// Card numbers, ID numbers, PINs and token texts are wiped from memory when dropped.
impl Drop for Credential {
    fn drop(&mut self) {
        match self {
            Credential::IdCard { id_number } => id_number.zeroize(),
            Credential::ReaderCard { card } => card.zeroize(),
            Credential::CardAndPin { card, pin } => {
                card.zeroize();
                pin.zeroize();
            }
            Credential::PhoneQr { text } => text.zeroize(),
        }
    }
}

impl Credential {
    /// A patron card lying on the RFID pad, if one of the stray tags is one.
    pub fn from_pad(stray: &[StrayTag]) -> Option<Credential> {
        stray.iter().find_map(|t| match t {
            StrayTag::PatronCard { card, .. } => {
                Some(Credential::ReaderCard { card: card.clone() })
            }
            _ => None,
        })
    }
}

/// How an ID number becomes a patron identifier (per library setting).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IdCardRule {
    /// The ID number is the reader number.
    #[default]
    IdNumber,
    /// The reader number is this prefix followed by the ID number.
    Prefixed(String),
    /// This library does not take ID cards.
    Refused,
}

/// What the library system is asked: identifier and, when typed, PIN.
#[derive(Clone, PartialEq, Eq)]
pub struct PatronLookup {
    pub patron_id: String,
    pub pin: Option<String>,
}

// The identifier (possibly an ID number) and the PIN are wiped from memory when dropped.
impl Drop for PatronLookup {
    fn drop(&mut self) {
        self.patron_id.zeroize();
        self.pin.zeroize();
    }
}

impl std::fmt::Debug for PatronLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatronLookup(..)")
    }
}

/// Why a credential did not resolve, as the patron is told (message ids).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("ID cards are not accepted here")]
    IdCardNotAccepted,
    #[error("empty card number or PIN")]
    Empty,
    #[error("not a library sign-in code")]
    NotAToken,
    #[error("sign-in code is damaged: {0}")]
    Malformed(&'static str),
    #[error("sign-in code signature does not verify")]
    BadSignature,
    #[error("sign-in code expired")]
    Expired,
    #[error("sign-in code already used")]
    Replayed,
}

impl From<TokenError> for CredentialError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotAToken => CredentialError::NotAToken,
            TokenError::Malformed(what) => CredentialError::Malformed(what),
            TokenError::BadSignature => CredentialError::BadSignature,
        }
    }
}

impl CredentialError {
    /// Message id for the translation catalogue.
    pub fn message_id(&self) -> &'static str {
        match self {
            CredentialError::IdCardNotAccepted => {
                "This machine does not take ID cards. Please use your reader card."
            }
            CredentialError::Empty => "Please enter your card number and password.",
            CredentialError::NotAToken
            | CredentialError::Malformed(_)
            | CredentialError::BadSignature => {
                "This code is not a library sign-in code. Please open it again in the library app."
            }
            CredentialError::Expired | CredentialError::Replayed => {
                "This sign-in code has expired. Please refresh it in the library app."
            }
        }
    }
}

/// Settings of sign-in (terminal profile).
#[derive(Debug, Clone)]
pub struct SignInSettings {
    pub id_card: IdCardRule,
    /// Public key of the library's token issuer; `None`: phone codes are not accepted.
    pub token_key: Option<VerifyingKey>,
    /// Clock skew allowed on token expiry, seconds.
    pub token_skew_secs: i64,
}

impl Default for SignInSettings {
    fn default() -> Self {
        SignInSettings {
            id_card: IdCardRule::IdNumber,
            token_key: None,
            token_skew_secs: 30,
        }
    }
}

/// Nonces of tokens already used, kept until they expire.
#[derive(Debug, Default)]
pub struct SeenTokens {
    until: BTreeMap<Vec<u8>, i64>,
}

impl SeenTokens {
    fn check_and_remember(&mut self, nonce: Vec<u8>, expires: i64, now: i64) -> bool {
        self.until.retain(|_, exp| *exp >= now);
        if self.until.contains_key(&nonce) {
            return false;
        }
        // Bounded: a kiosk sees a handful of sign-ins a minute.
        if self.until.len() >= 4096 {
            let oldest = self
                .until
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.until.remove(&k);
            }
        }
        self.until.insert(nonce, expires);
        true
    }
}

/// Resolves a credential to what the library system is asked (`now`: Unix seconds).
pub fn resolve(
    credential: &Credential,
    settings: &SignInSettings,
    seen: &mut SeenTokens,
    now: i64,
) -> Result<PatronLookup, CredentialError> {
    let lookup = |id: &str, pin: Option<&str>| {
        let id = id.trim();
        if id.is_empty() || pin.is_some_and(|p| p.is_empty()) {
            return Err(CredentialError::Empty);
        }
        Ok(PatronLookup {
            patron_id: id.to_string(),
            pin: pin.map(str::to_string),
        })
    };
    match credential {
        Credential::IdCard { id_number } => match &settings.id_card {
            IdCardRule::IdNumber => lookup(id_number, None),
            IdCardRule::Prefixed(p) => lookup(&format!("{p}{}", id_number.trim()), None),
            IdCardRule::Refused => Err(CredentialError::IdCardNotAccepted),
        },
        Credential::ReaderCard { card } => lookup(card, None),
        Credential::CardAndPin { card, pin } => lookup(card, Some(pin)),
        Credential::PhoneQr { text } => {
            let key = settings
                .token_key
                .as_ref()
                .ok_or(CredentialError::NotAToken)?;
            let token = PatronToken::parse(text)?;
            token.verify(key)?;
            if now > token.expires.saturating_add(settings.token_skew_secs) {
                return Err(CredentialError::Expired);
            }
            if !seen.check_and_remember(token.nonce.clone(), token.expires, now) {
                return Err(CredentialError::Replayed);
            }
            lookup(&token.card, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use ed25519_dalek::SigningKey;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn settings() -> SignInSettings {
        SignInSettings {
            token_key: Some(key().verifying_key()),
            ..SignInSettings::default()
        }
    }

    const NOW: i64 = 1_796_230_000;

    fn qr(text: String) -> Credential {
        Credential::PhoneQr { text }
    }

    #[test]
    fn each_way_resolves_to_the_patron_identifier() {
        let s = settings();
        let mut seen = SeenTokens::default();
        let id = Credential::IdCard {
            id_number: "11010519491231002X".into(),
        };
        assert_eq!(
            resolve(&id, &s, &mut seen, NOW).unwrap().patron_id,
            "11010519491231002X"
        );
        let prefixed = SignInSettings {
            id_card: IdCardRule::Prefixed("ID".into()),
            ..settings()
        };
        assert_eq!(
            resolve(&id, &prefixed, &mut seen, NOW).unwrap().patron_id,
            "ID11010519491231002X"
        );
        let refused = SignInSettings {
            id_card: IdCardRule::Refused,
            ..settings()
        };
        assert_eq!(
            resolve(&id, &refused, &mut seen, NOW),
            Err(CredentialError::IdCardNotAccepted)
        );
        let card = Credential::ReaderCard {
            card: " P001 ".into(),
        };
        assert_eq!(
            resolve(&card, &s, &mut seen, NOW).unwrap(),
            PatronLookup {
                patron_id: "P001".into(),
                pin: None
            }
        );
        let typed = Credential::CardAndPin {
            card: "P001".into(),
            pin: "1234".into(),
        };
        assert_eq!(
            resolve(&typed, &s, &mut seen, NOW).unwrap().pin.as_deref(),
            Some("1234")
        );
        let empty = Credential::CardAndPin {
            card: "P001".into(),
            pin: String::new(),
        };
        assert_eq!(
            resolve(&empty, &s, &mut seen, NOW),
            Err(CredentialError::Empty)
        );
        let token = PatronToken::issue(&key(), "P001", NOW + 120, b"nonce-01");
        assert_eq!(
            resolve(&qr(token), &s, &mut seen, NOW).unwrap().patron_id,
            "P001"
        );
    }

    #[test]
    fn tokens_expire_are_used_once_and_must_be_signed_by_the_library() {
        let s = settings();
        let mut seen = SeenTokens::default();
        let token = PatronToken::issue(&key(), "P001", NOW + 60, b"nonce-02");
        assert!(resolve(&qr(token.clone()), &s, &mut seen, NOW).is_ok());
        assert_eq!(
            resolve(&qr(token.clone()), &s, &mut seen, NOW + 1),
            Err(CredentialError::Replayed)
        );
        let late = PatronToken::issue(&key(), "P001", NOW - 31, b"nonce-03");
        assert_eq!(
            resolve(&qr(late), &s, &mut seen, NOW),
            Err(CredentialError::Expired)
        );
        let skewed = PatronToken::issue(&key(), "P001", NOW - 29, b"nonce-04");
        assert!(
            resolve(&qr(skewed), &s, &mut seen, NOW).is_ok(),
            "within the clock skew"
        );
        let other = SigningKey::from_bytes(&[8; 32]);
        let forged = PatronToken::issue(&other, "P001", NOW + 60, b"nonce-05");
        assert_eq!(
            resolve(&qr(forged), &s, &mut seen, NOW),
            Err(CredentialError::BadSignature)
        );
        // A changed card number breaks the signature.
        let good = PatronToken::issue(&key(), "P001", NOW + 60, b"nonce-06");
        let mut fields: Vec<String> = good.split('.').map(str::to_string).collect();
        fields[1] = B64.encode("P002");
        assert_eq!(
            resolve(&qr(fields.join(".")), &s, &mut seen, NOW),
            Err(CredentialError::BadSignature)
        );
        let none = SignInSettings::default();
        let t = PatronToken::issue(&key(), "P001", NOW + 60, b"nonce-07");
        assert_eq!(
            resolve(&qr(t), &none, &mut seen, NOW),
            Err(CredentialError::NotAToken)
        );
    }

    #[test]
    fn debug_output_hides_the_patron() {
        let c = Credential::CardAndPin {
            card: "P001".into(),
            pin: "1234".into(),
        };
        let s = format!("{c:?}");
        assert!(!s.contains("P001") && !s.contains("1234"), "{s}");
    }
}
