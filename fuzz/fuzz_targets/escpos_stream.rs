//! The ESC/POS tokenizer and the receipt reader on arbitrary bytes: whole-buffer parse,
//! streaming parse in small chunks, and the reader playing every command. Must never panic.
#![no_main]

use kiosk_escpos::{ReceiptReader, StreamParser, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmds) = parse(data) {
        // What parses re-encodes (in canonical form) to bytes that parse to the same commands.
        assert_eq!(parse(&kiosk_escpos::encode(&cmds)).unwrap(), cmds);
        let _ = kiosk_escpos::read_receipts(&cmds);
    }
    let chunk = 1 + data.first().map(|b| (*b % 13) as usize).unwrap_or(0);
    let mut p = StreamParser::new();
    let mut reader = ReceiptReader::new(data.len() % 2 == 0);
    for c in data.chunks(chunk) {
        p.push(c);
        while let Some(r) = p.next_command() {
            if let Ok(cmd) = r {
                if let Some(receipt) = reader.apply(&cmd) {
                    let _ = receipt.to_string();
                }
            }
        }
    }
});
