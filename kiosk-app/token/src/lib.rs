//! The phone sign-in token of the self-check (`kiosk_flows::signin`), kept apart so it can be
//! fuzzed without building the flows (fuzz target `fuzz/fuzz_targets/phone_token.rs`).
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

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Why a text is not a valid token (the flows map these to patron messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a library sign-in code")]
    NotAToken,
    #[error("sign-in code is damaged: {0}")]
    Malformed(&'static str),
    #[error("sign-in code signature does not verify")]
    BadSignature,
}

/// A phone sign-in token (format in the crate docs).
#[derive(Clone, PartialEq, Eq)]
pub struct PatronToken {
    pub card: String,
    pub expires: i64,
    pub nonce: Vec<u8>,
    signed: String,
    signature: [u8; 64],
}

impl std::fmt::Debug for PatronToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PatronToken(expires {})", self.expires)
    }
}

const PREFIX: &str = "KPT1";

impl PatronToken {
    /// Decodes the QR text; checks the layout, not the signature.
    pub fn parse(text: &str) -> Result<PatronToken, TokenError> {
        let text = text.trim();
        if text.len() > 512 {
            return Err(TokenError::Malformed("too long"));
        }
        let parts: Vec<&str> = text.split('.').collect();
        if parts.first() != Some(&PREFIX) {
            return Err(TokenError::NotAToken);
        }
        let [_, card, expires, nonce, sig] = parts[..] else {
            return Err(TokenError::Malformed("wrong number of fields"));
        };
        let card = B64
            .decode(card)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|c| (1..=64).contains(&c.len()) && !c.chars().any(char::is_control))
            .ok_or(TokenError::Malformed("card"))?;
        if expires.is_empty() || expires.len() > 12 || !expires.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(TokenError::Malformed("expiry"));
        }
        let expires: i64 = expires
            .parse()
            .map_err(|_| TokenError::Malformed("expiry"))?;
        let nonce = B64
            .decode(nonce)
            .ok()
            .filter(|n| (8..=32).contains(&n.len()))
            .ok_or(TokenError::Malformed("nonce"))?;
        let signature: [u8; 64] = B64
            .decode(sig)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or(TokenError::Malformed("signature"))?;
        let signed = text[..text.rfind('.').unwrap_or(0)].to_string();
        Ok(PatronToken {
            card,
            expires,
            nonce,
            signed,
            signature,
        })
    }

    /// Checks the Ed25519 signature (`verify_strict`).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), TokenError> {
        key.verify_strict(
            self.signed.as_bytes(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| TokenError::BadSignature)
    }

    /// Issues a token: what the library's app server does (used by the demo and the tests).
    pub fn issue(key: &SigningKey, card: &str, expires: i64, nonce: &[u8]) -> String {
        let signed = format!(
            "{PREFIX}.{}.{expires}.{}",
            B64.encode(card),
            B64.encode(nonce)
        );
        let sig = key.sign(signed.as_bytes());
        format!("{signed}.{}", B64.encode(sig.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    #[test]
    fn damaged_codes_are_typed_errors() {
        for (text, want) in [
            ("https://example.invalid/", TokenError::NotAToken),
            ("KPT1.a.b", TokenError::Malformed("wrong number of fields")),
            ("KPT1..1.bm9uY2UtMDE.x", TokenError::Malformed("card")),
            (
                "KPT1.UDAwMQ.-1.bm9uY2UtMDE.x",
                TokenError::Malformed("expiry"),
            ),
            ("KPT1.UDAwMQ.1.AA.x", TokenError::Malformed("nonce")),
            (
                "KPT1.UDAwMQ.1.bm9uY2UtMDE.AAAA",
                TokenError::Malformed("signature"),
            ),
        ] {
            assert_eq!(PatronToken::parse(text), Err(want), "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}") {
            let _ = PatronToken::parse(&text);
            let _ = PatronToken::parse(&format!("KPT1.{text}"));
        }

        #[test]
        fn issued_tokens_round_trip(card in "[A-Za-z0-9中文]{1,20}", exp in 0i64..=999_999_999_999, nonce in proptest::collection::vec(proptest::num::u8::ANY, 8..=32)) {
            let text = PatronToken::issue(&key(), &card, exp, &nonce);
            let t = PatronToken::parse(&text).unwrap();
            proptest::prop_assert_eq!(&t.card, &card);
            proptest::prop_assert_eq!(t.expires, exp);
            proptest::prop_assert_eq!(&t.nonce, &nonce);
            proptest::prop_assert!(t.verify(&key().verifying_key()).is_ok());
        }
    }
}
