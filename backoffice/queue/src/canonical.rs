//! Canonical JSON for record payloads (PROTOCOL.md §3).
//!
//! Rules: object keys sorted by their UTF-8 bytes, no insignificant whitespace, strings
//! escaped exactly as `serde_json` writes them (`"` `\\` and control characters only; `\b \f
//! \n \r \t` short forms, other controls as `\u00XX` lowercase), integers in plain decimal,
//! no floats (amounts travel in minor units), nesting at most [`MAX_DEPTH`].

use serde_json::Value;

/// Deepest nesting of arrays/objects accepted in a payload.
pub const MAX_DEPTH: usize = 32;

/// Why a payload has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("payload is not valid JSON: {0}")]
    Syntax(String),
    #[error("payload contains a non-integer number ({0}); send amounts as integer minor units")]
    Float(String),
    #[error("payload nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("payload is not in canonical form (PROTOCOL.md §3)")]
    NotCanonical,
}

/// Writes the canonical form of `value`.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(64);
    write_value(value, &mut out, 0)?;
    Ok(out)
}

/// Parses JSON text and returns its canonical bytes.
pub fn canonicalize_str(text: &str) -> Result<Vec<u8>, CanonicalError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| CanonicalError::Syntax(e.to_string()))?;
    canonicalize(&value)
}

/// Checks that `bytes` are already canonical JSON (a receiver's check).
pub fn check_canonical(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| CanonicalError::Syntax(e.to_string()))?;
    if canonicalize(&value)? != bytes {
        return Err(CanonicalError::NotCanonical);
    }
    Ok(value)
}

fn write_value(value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(CanonicalError::Float(n.to_string()));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep);
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep);
            }
            // Sort explicitly: serde_json's map order depends on crate features.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_value(v, out, depth + 1)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorts_keys_and_strips_whitespace() {
        let c = canonicalize_str(r#"{ "b": 1, "a": [true, null, "x\ny"], "A": -5 }"#).unwrap();
        assert_eq!(c, br#"{"A":-5,"a":[true,null,"x\ny"],"b":1}"#);
    }

    #[test]
    fn escapes_like_serde_json() {
        let s = "q\"\\\u{1}\u{7f}é/";
        let mut ours = Vec::new();
        write_string(s, &mut ours);
        assert_eq!(ours, serde_json::to_vec(s).unwrap());
        assert_eq!(ours, "\"q\\\"\\\\\\u0001\u{7f}é/\"".as_bytes());
    }

    #[test]
    fn rejects_floats_and_deep_nesting() {
        assert!(matches!(
            canonicalize_str(r#"{"amount": 1.5}"#),
            Err(CanonicalError::Float(_))
        ));
        assert!(matches!(
            canonicalize_str("1e3"),
            Err(CanonicalError::Float(_))
        ));
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert_eq!(canonicalize_str(&deep), Err(CanonicalError::TooDeep));
        assert!(matches!(
            canonicalize_str("{"),
            Err(CanonicalError::Syntax(_))
        ));
    }

    #[test]
    fn large_integers() {
        assert_eq!(
            canonicalize_str("[18446744073709551615,-9223372036854775808]").unwrap(),
            b"[18446744073709551615,-9223372036854775808]"
        );
    }

    #[test]
    fn check_canonical_detects_reformatting() {
        assert!(check_canonical(br#"{"a":1,"b":2}"#).is_ok());
        assert_eq!(
            check_canonical(br#"{"b":2,"a":1}"#),
            Err(CanonicalError::NotCanonical)
        );
        assert_eq!(
            check_canonical(br#"{"a":1,"a":1}"#),
            Err(CanonicalError::NotCanonical)
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_round_trips(v in arb_json()) {
            let c = canonicalize(&v).unwrap();
            let back: Value = serde_json::from_slice(&c).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(check_canonical(&c).unwrap(), v);
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = check_canonical(&bytes);
        }
    }
}
