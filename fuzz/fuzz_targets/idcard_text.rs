//! Card text block parser (kiosk-idcard text) on arbitrary 256-byte blocks: never panics, and
//! a block that parses re-encodes to one that parses to the same card.
#![no_main]

use kiosk_idcard::{encode_text, parse_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(card) = parse_text(data) else { return };
    let block = encode_text(&card).expect("a parsed card fits its layout");
    let again = parse_text(&block).expect("a re-encoded card parses");
    assert_eq!(again, card);
});
