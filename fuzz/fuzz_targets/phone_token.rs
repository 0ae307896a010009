//! KPT1 phone sign-in token (kiosk-token) from arbitrary text: typed errors, never a panic; a
//! token that parses re-parses the same from the same text, and verifying it against a key
//! is an answer, never a panic. A token issued from the parsed fields round-trips.
#![no_main]

use kiosk_token::PatronToken;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let text = String::from_utf8_lossy(data);
    for text in [text.to_string(), format!("KPT1.{text}")] {
        if let Ok(t) = PatronToken::parse(&text) {
            assert_eq!(PatronToken::parse(&text).as_ref(), Ok(&t));
            let _ = t.verify(&key.verifying_key());
            let again = PatronToken::issue(&key, &t.card, t.expires, &t.nonce);
            let u = PatronToken::parse(&again).expect("own token parses");
            assert_eq!((&u.card, u.expires, &u.nonce), (&t.card, t.expires, &t.nonce));
            assert!(u.verify(&key.verifying_key()).is_ok());
        }
    }
});
