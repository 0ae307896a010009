//! Property tests: encode → frame (split at random points) → decode round trips with random
//! UTF-8 and GB18030 text, typed round trips, and decoders that never panic.

use kiosk_sip2::charset::Charset;
use kiosk_sip2::frame::Framer;
use kiosk_sip2::message::*;
use proptest::prelude::*;

fn charset() -> impl Strategy<Value = Charset> {
    prop_oneof![Just(Charset::Utf8), Just(Charset::Gb18030)]
}

fn terminator() -> impl Strategy<Value = Terminator> {
    prop_oneof![Just(Terminator::Cr), Just(Terminator::CrLf)]
}

/// Text SIP2 can carry: any character but `|`, CR, LF, NUL, weighted towards CJK.
fn text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        3 => any::<char>(),
        3 => proptest::char::range('\u{4E00}', '\u{9FFF}'),
        2 => proptest::char::range(' ', '~'),
    ]
    .prop_filter("SIP2 cannot carry it", |c| {
        !matches!(c, '|' | '\r' | '\n' | '\0' | '\u{E5E5}')
    });
    proptest::collection::vec(ch, 0..30).prop_map(|v| v.into_iter().collect())
}

fn fixed(width: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just('Y'), Just('N'), Just(' '), Just('0'), Just('7')],
        width,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn raw_message() -> impl Strategy<Value = RawMessage> {
    let ids = BX_ORDER
        .iter()
        .chain(
            [
                "94", "98", "24", "64", "12", "10", "30", "66", "18", "36", "38", "16", "26", "20",
            ]
            .iter(),
        )
        .copied()
        .filter(|id| *id != "96" && *id != "97")
        .collect::<Vec<_>>();
    proptest::sample::select(ids).prop_flat_map(|id| {
        let width = fixed_width(id).unwrap();
        (
            fixed(width),
            proptest::collection::vec(("[A-Z][A-Z0-9]", text()), 0..8),
        )
            .prop_map(move |(fixed, fields)| RawMessage {
                id: id.to_string(),
                fixed,
                fields: fields.into_iter().map(|(c, v)| Field::new(&c, v)).collect(),
            })
    })
}

/// Feeds `bytes` to a framer in chunks cut at `cuts` and returns the frames.
fn frames(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut f = Framer::default();
    let mut out = Vec::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    for p in points {
        f.push(&bytes[at..p.max(at)]);
        at = p.max(at);
        while let Some(r) = f.next_frame() {
            out.push(r.unwrap());
        }
    }
    out
}

proptest! {
    #[test]
    fn raw_round_trip(
        msg in raw_message(),
        cs in charset(),
        term in terminator(),
        seq in proptest::option::of(0u8..10),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let codec = Codec::new(cs, term);
        let trailer = seq.map_or(Trailer::None, |sequence| Trailer::Checksum { sequence });
        // A few characters have no GB18030 round trip; the encoder refuses them.
        let bytes = match codec.encode(&msg, trailer) {
            Err(kiosk_sip2::EncodeError::Unencodable(_)) => return Ok(()),
            other => other.unwrap(),
        };
        // Two messages back to back, cut anywhere.
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        let got = frames(&two, &cuts);
        prop_assert_eq!(got.len(), 2);
        for frame in got {
            let d = codec.decode(&frame).unwrap();
            prop_assert_eq!(&d.message, &msg);
            prop_assert_eq!(d.sequence, seq);
            prop_assert!(!d.malformed_text);
            let status = if seq.is_some() { ChecksumStatus::Bytes } else { ChecksumStatus::Absent };
            prop_assert_eq!(d.checksum, status);
        }
    }

    #[test]
    fn typed_round_trip(
        cs in charset(),
        title in text(),
        name in text(),
        screens in proptest::collection::vec(text(), 0..4),
        vendor in text(),
        ok in prop_oneof![Just("0"), Just("1")],
        seq in 0u8..10,
    ) {
        let codec = Codec::new(cs, Terminator::Cr);
        let checkout = CheckoutResponse {
            ok: ok.into(),
            renewal_ok: "N".into(),
            magnetic_media: "U".into(),
            desensitize: "Y".into(),
            transaction_date: "20260101    120000".into(),
            institution_id: Some("CN-TEST".into()),
            patron_identifier: Some("P001".into()),
            item_identifier: Some("B001".into()),
            title_identifier: Some(title),
            due_date: Some("20260129    235900".into()),
            screen_message: screens.clone(),
            extra: vec![Field::new("ZX", vendor)],
            ..Default::default()
        };
        let patron = PatronInformationResponse {
            patron_status: "Y             ".into(),
            language: "019".into(),
            transaction_date: "20260101    120000".into(),
            hold_items_count: "0001".into(),
            overdue_items_count: "    ".into(),
            charged_items_count: "0002".into(),
            fine_items_count: "0000".into(),
            recall_items_count: "0000".into(),
            unavailable_holds_count: "0000".into(),
            personal_name: Some(name),
            charged_items: screens.clone(),
            screen_message: screens,
            ..Default::default()
        };
        for m in [Message::from(checkout), Message::from(patron)] {
            let bytes = match codec.encode(&m.to_raw().unwrap(), Trailer::Checksum { sequence: seq }) {
                Err(kiosk_sip2::EncodeError::Unencodable(_)) => continue,
                other => other.unwrap(),
            };
            let d = codec.decode(&bytes).unwrap();
            prop_assert_eq!(Message::from_raw(&d.message).unwrap(), m);
        }
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for cs in [Charset::Utf8, Charset::Gb18030, Charset::Cp850, Charset::Latin1, Charset::Ascii] {
            let codec = Codec::new(cs, Terminator::Cr);
            let mut f = Framer::new(128);
            f.push(&bytes);
            while let Some(frame) = f.next_frame() {
                let Ok(frame) = frame else { continue };
                if let Ok(d) = codec.decode(&frame)
                    && let Ok(m) = Message::from_raw(&d.message)
                {
                    // Whatever decodes re-encodes to the same typed message (when it can be sent).
                    if let Ok(raw) = m.to_raw()
                        && let Ok(again) = codec.encode(&raw, Trailer::Checksum { sequence: 1 })
                    {
                        let d2 = codec.decode(&again).unwrap();
                        prop_assert_eq!(Message::from_raw(&d2.message).unwrap(), m);
                    }
                }
            }
            let _ = codec.decode(&bytes);
        }
    }

    #[test]
    fn cp850_round_trip(s in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (text, _) = Charset::Cp850.decode(&s);
        prop_assert_eq!(Charset::Cp850.encode(&text).unwrap(), s);
    }
}
