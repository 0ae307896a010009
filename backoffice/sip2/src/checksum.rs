//! SIP2 checksum (library.md §1.5): the two's complement of the 16-bit sum of every byte from
//! the first byte of the message through the `A`,`Z` of the `AZ` field, as four upper-case hex
//! digits. Computed over the *encoded bytes on the wire*; some servers sum Unicode code points
//! instead (library.md §1.7), which [`codepoint_checksum`] reproduces so that the decoder can
//! accept such messages with a flag.

/// The checksum of `prefix_through_az` (every byte up to and including `AZ`).
pub fn checksum(prefix_through_az: &[u8]) -> u16 {
    let sum = prefix_through_az
        .iter()
        .fold(0u16, |acc, b| acc.wrapping_add(u16::from(*b)));
    sum.wrapping_neg()
}

/// The checksum as the four upper-case hex digits sent on the wire.
pub fn checksum_hex(prefix_through_az: &[u8]) -> [u8; 4] {
    let s = format!("{:04X}", checksum(prefix_through_az));
    let b = s.as_bytes();
    [b[0], b[1], b[2], b[3]]
}

/// The checksum a server computes when it sums code points instead of bytes.
pub fn codepoint_checksum(prefix_through_az: &str) -> u16 {
    let sum = prefix_through_az
        .chars()
        .fold(0u32, |acc, c| acc.wrapping_add(c as u32));
    (sum as u16).wrapping_neg()
}

/// Parses four hex digits (either case).
pub fn parse_hex4(digits: &[u8]) -> Option<u16> {
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// Checks a message without its terminator that ends in `AZcccc`: true when the byte sum
/// through `AZ` plus `cccc` is zero modulo 2^16.
pub fn verify(message: &[u8]) -> bool {
    if message.len() < 6 || &message[message.len() - 6..message.len() - 4] != b"AZ" {
        return false;
    }
    match parse_hex4(&message[message.len() - 4..]) {
        Some(c) => checksum(&message[..message.len() - 4]) == c,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// library.md §1.6, each vector recomputed there with Python.
    const VECTORS: &[(&str, &str)] = &[
        ("990 402.00AY1AZ", "FCB4"),
        ("941AY0AZ", "FDFD"),
        ("9300CNuser_id|COpassw0rd|AY1AZ", "F594"),
        (
            "9300CNlibrarian@test.com|CO123456|CPselfcheck_location|AY1AZ",
            "EAEE",
        ),
        ("9900802.00AY1AZ", "FCA0"),
        ("97AZ", "FEF5"),
        ("96AZ", "FEF6"),
        (
            "1804020120110630    110249AB30007008637257|AJVie d'Isabelle Eberhardt |CK001|AQOSUL|APOSUL|BGOSUL|AH2011-10-28 23:59:59|CSPB LP   EAU|AY6AZ",
            "DB4E",
        ),
        (
            "24              01920261128    192744AOCN-TEST|AAP001|AE张三|BLY|CQY|AY2AZ",
            "EB6B",
        ),
        (
            "9300CNLoginUserID|COLoginPassword|CPLocationCode|AY5AZ",
            "EC7B",
        ),
    ];

    #[test]
    fn vectors_of_library_md_1_6() {
        for (prefix, want) in VECTORS {
            let got = checksum_hex(prefix.as_bytes());
            assert_eq!(std::str::from_utf8(&got).unwrap(), *want, "{prefix}");
            assert!(verify(format!("{prefix}{want}").as_bytes()), "{prefix}");
        }
    }

    #[test]
    fn rejects_the_wrong_published_examples() {
        // The 3M guide's login example says EC78; the right value is EC7B (library.md §1.6).
        assert!(!verify(
            b"9300CNLoginUserID|COLoginPassword|CPLocationCode|AY5AZEC78"
        ));
        // edge-sip2's negative case: F595 must be rejected.
        assert!(!verify(b"9300CNuser_id|COpassw0rd|AY1AZF595"));
    }

    #[test]
    fn gb18030_and_codepoint_flavours_differ() {
        let text = "24              01920261128    192744AOCN-TEST|AAP001|AE张三|BLY|CQY|AY2AZ";
        let (gb, _, _) = encoding_rs::GB18030.encode(text);
        assert_eq!(checksum(&gb), 0xEC72);
        assert_eq!(codepoint_checksum(text), 0x42A8);
    }

    #[test]
    fn lower_case_hex_is_accepted() {
        assert!(verify(b"990 402.00AY1AZfcb4"));
        assert!(!verify(b"990 402.00AY1AZfcbx"));
        assert!(!verify(b"AZ"));
    }
}
