//! Golden frames of `fixtures/idcard/` (from shared/reference/device-vectors.txt) through the
//! incremental decoder, byte by byte and all at once.

use kiosk_idcard::command::{BaseMessage, Command, Response, SamStatus};
use kiosk_idcard::frame::{self, FrameError};
use kiosk_idcard::{CardKind, Date, Sex, Validity, parse_text};

fn hex_fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/idcard/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| c.is_ascii_hexdigit()))
        .collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

/// Splits a stream into frames with the incremental decoder, feeding one byte at a time.
fn frames(stream: &[u8]) -> Vec<frame::Frame> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for &b in stream {
        buf.push(b);
        if let Some(r) = frame::decode(&buf) {
            let (f, used) = r.expect("golden frame decodes");
            buf.drain(..used);
            out.push(f);
        }
    }
    assert!(buf.is_empty());
    out
}

#[test]
fn golden_commands_encode_and_decode() {
    let stream = hex_fixture("commands.hex");
    let frames = frames(&stream);
    assert_eq!(frames.len(), 10);
    let expected = [
        Some(Command::Reset),
        Some(Command::Status),
        Some(Command::SamId),
        Some(Command::FindCard),
        Some(Command::SelectCard),
        Some(Command::ReadBase),
        Some(Command::ReadNewAddress),
        Some(Command::ReadChipId),
        Some(Command::ReadBaseWithFingerprint),
        None, // 61 FF "max RF frame": valid framing, a command this crate does not send
    ];
    let mut wire = Vec::new();
    for (f, want) in frames.iter().zip(expected) {
        let code = [f.body()[0], f.body()[1]];
        assert_eq!(Command::from_code(code), want);
        wire.extend(f.encode());
    }
    assert_eq!(wire, stream);
}

#[test]
fn golden_responses() {
    let frames = frames(&hex_fixture("responses.hex"));
    let statuses: Vec<SamStatus> = frames
        .iter()
        .map(|f| Response::from_frame(f).unwrap().status)
        .collect();
    assert_eq!(
        statuses,
        [
            SamStatus::Success,
            SamStatus::CardFound,
            SamStatus::NoCard,
            SamStatus::SelectFailed,
            SamStatus::ReadFailed,
            SamStatus::Success
        ]
    );
}

#[test]
fn synthetic_read_base_reply() {
    let wire = hex_fixture("read-base-zhangsan.hex");
    assert_eq!(wire.len(), 1295);
    let (f, used) = frame::decode(&wire).unwrap().unwrap();
    assert_eq!(used, 1295);
    let r = Response::from_frame(&f).unwrap().success().unwrap();
    let msg = BaseMessage::parse(&r.data, false).unwrap();
    assert_eq!(msg.photo.len(), 1024);
    let card = parse_text(&msg.text).unwrap();
    assert_eq!(card.kind, CardKind::Resident);
    assert_eq!(card.name, "张三");
    assert_eq!(card.sex, Sex::Male);
    assert_eq!(card.nation_name(), Some("汉"));
    assert_eq!(card.birth, Date::new(1990, 1, 1).unwrap());
    assert_eq!(card.number, "110101199001010015");
    assert_eq!(card.issuer, "北京市公安局东城分局");
    assert_eq!(
        card.valid_until,
        Validity::Until(Date::new(2030, 1, 1).unwrap())
    );
    // Our encoder produces the same bytes as the independent generator.
    let mut again = card.clone();
    again.photo = msg.photo.clone();
    let data = BaseMessage {
        text: kiosk_idcard::encode_text(&again).unwrap().to_vec(),
        photo: again.photo.clone(),
        fingerprint: Vec::new(),
    }
    .encode(false);
    assert_eq!(Response::new(SamStatus::Success, data).encode(), wire);
}

#[test]
fn damaged_golden_reply_is_a_typed_error() {
    let mut wire = hex_fixture("read-base-zhangsan.hex");
    // Truncated: the decoder waits for more, decode_exact says how much is missing.
    assert_eq!(frame::decode(&wire[..700]), None);
    assert_eq!(
        frame::decode_exact(&wire[..700]).unwrap_err(),
        FrameError::Truncated {
            have: 700,
            need: 1295
        }
    );
    // A flipped bit in the name is caught by the checksum.
    wire[20] ^= 0x01;
    assert!(matches!(
        frame::decode(&wire),
        Some(Err(FrameError::BadChecksum { .. }))
    ));
    // Noise before the preamble is reported with the count to skip.
    let mut noisy = vec![0x00, 0xAA, 0x13];
    noisy.extend(hex_fixture("responses.hex"));
    assert_eq!(
        frame::decode(&noisy),
        Some(Err(FrameError::Garbage { skipped: 3 }))
    );
}
