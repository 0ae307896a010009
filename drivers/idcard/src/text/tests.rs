use super::*;
use proptest::prelude::*;

/// 张三 of device-vectors.txt (synthetic person).
pub(crate) fn zhang_san() -> IdCard {
    let mut c = IdCard::empty(CardKind::Resident);
    c.name = "张三".into();
    c.sex = Sex::Male;
    c.nation = Some(1);
    c.birth = Date::new(1990, 1, 1).unwrap();
    c.address = "北京市东城区测试路1号".into();
    c.number = "110101199001010015".into();
    c.issuer = "北京市公安局东城分局".into();
    c.valid_from = Date::new(2020, 1, 1).unwrap();
    c.valid_until = Validity::Until(Date::new(2030, 1, 1).unwrap());
    c
}

fn permit() -> IdCard {
    let mut c = zhang_san();
    c.kind = CardKind::HkMoTwPermit;
    c.name = "陈大文".into();
    c.nation = None;
    c.address = "广东省深圳市福田区示例路2号".into();
    let first17 = "81000019850615003";
    c.number = format!(
        "{first17}{}",
        gb11643::check_char(first17.as_bytes()).unwrap()
    );
    c.birth = Date::new(1985, 6, 15).unwrap();
    c.issuer = "深圳市公安局".into();
    c.permit_number = "H12345678".into();
    c.issue_count = Some(1);
    c
}

fn foreigner_2017() -> IdCard {
    let mut c = IdCard::empty(CardKind::ForeignPermanent2017);
    c.english_name = "SAMPLE, JOHN".into();
    c.name = "约翰".into();
    c.sex = Sex::Male;
    c.number = "USA110090010158".into();
    c.nationality = "USA".into();
    c.birth = Date::new(1990, 1, 1).unwrap();
    c.valid_from = Date::new(2017, 6, 1).unwrap();
    c.valid_until = Validity::Until(Date::new(2027, 6, 1).unwrap());
    c.card_version = "01".into();
    c.issuer = "1100".into();
    c
}

fn foreigner_2023() -> IdCard {
    let mut c = IdCard::empty(CardKind::ForeignPermanent2023);
    c.name = "安娜".into();
    c.english_name = "EXAMPLE-LONGNAME, ANNA MARIA THERESA KATHARINA".into();
    c.sex = Sex::Female;
    c.issue_count = Some(0);
    c.birth = Date::new(1988, 8, 8).unwrap();
    let first17 = "93115619880808002";
    c.number = format!(
        "{first17}{}",
        gb11643::check_char(first17.as_bytes()).unwrap()
    );
    c.nationality = "DEU".into();
    c.valid_from = Date::new(2023, 12, 1).unwrap();
    c.valid_until = Validity::Until(Date::new(2033, 12, 1).unwrap());
    c.previous_link = "001".into();
    c
}

#[test]
fn synthetic_vector_text_head() {
    // device-vectors.txt: text[0:36] of the synthetic 30 01 reply for 张三.
    let block = encode_text(&zhang_san()).unwrap();
    let head: Vec<u8> = "20 5F 09 4E 20 00 20 00 20 00 20 00 20 00 20 00 20 00 20 00 20 00 20 00 20 00 20 00 20 00 31 00 30 00 31 00"
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    assert_eq!(&block[..36], &head[..]);
}

#[test]
fn every_layout_round_trips_with_checks() {
    for card in [zhang_san(), permit(), foreigner_2017(), foreigner_2023()] {
        let block = encode_text(&card).unwrap();
        assert_eq!(block.len(), TEXT_LEN);
        let back = parse_text(&block).unwrap_or_else(|e| panic!("{:?}: {e}", card.kind));
        assert_eq!(back, card);
    }
    let block = encode_text(&permit()).unwrap();
    assert_eq!(&block[248..250], b"J\0");
    assert_eq!(
        card_kind(&encode_text(&foreigner_2017()).unwrap()),
        CardKind::ForeignPermanent2017
    );
    assert_eq!(
        card_kind(&encode_text(&foreigner_2023()).unwrap()),
        CardKind::ForeignPermanent2023
    );
}

#[test]
fn long_term_validity_and_expiry() {
    let mut c = zhang_san();
    c.valid_until = Validity::LongTerm;
    let back = parse_text(&encode_text(&c).unwrap()).unwrap();
    assert_eq!(back.valid_until, Validity::LongTerm);
    assert!(!back.is_expired(Date::new(2099, 1, 1).unwrap()));
    let c = zhang_san();
    assert!(!c.is_expired(Date::new(2030, 1, 1).unwrap()));
    assert!(c.is_expired(Date::new(2030, 1, 2).unwrap()));
    assert_eq!(c.nation_name(), Some("汉"));
}

#[test]
fn bad_cards_are_typed_errors() {
    let mut c = zhang_san();
    c.number = "110101199001010016".into();
    assert_eq!(
        parse_text(&encode_text(&c).unwrap()),
        Err(TextError::BadNumber(IdNumberError::CheckDigit))
    );
    let mut c = zhang_san();
    c.sex = Sex::Female;
    assert_eq!(
        parse_text(&encode_text(&c).unwrap()),
        Err(TextError::NumberMismatch("sex"))
    );
    let mut c = zhang_san();
    c.birth = Date::new(1990, 1, 2).unwrap();
    assert_eq!(
        parse_text(&encode_text(&c).unwrap()),
        Err(TextError::NumberMismatch("birth date"))
    );
    let mut c = zhang_san();
    c.nation = Some(60);
    assert_eq!(
        parse_text(&encode_text(&c).unwrap()),
        Err(TextError::BadNation)
    );
    let mut c = zhang_san();
    c.valid_until = Validity::Until(Date::new(2019, 1, 1).unwrap());
    assert_eq!(
        parse_text(&encode_text(&c).unwrap()),
        Err(TextError::ValidityOrder)
    );
    let mut c = permit();
    c.number = "110101198506150035".into();
    assert_eq!(
        parse_text(&encode_text(&c).unwrap()),
        Err(TextError::NumberMismatch("card type"))
    );
    let mut block = encode_text(&zhang_san()).unwrap();
    block[36..38].copy_from_slice(&[b'X', 0]);
    assert_eq!(parse_text(&block), Err(TextError::BadDate("birth date")));
    assert_eq!(parse_text(&block[..100]), Err(TextError::WrongLength(100)));
    assert_eq!(
        parse_text(&[0x20, 0].repeat(128)),
        Err(TextError::Missing("name"))
    );
    let mut c = zhang_san();
    c.name = "名".repeat(16);
    assert_eq!(encode_text(&c).unwrap_err(), TextError::TooLong("name"));
}

#[test]
fn debug_redacts_personal_data() {
    let mut c = zhang_san();
    c.photo = vec![7; 1024];
    let s = format!("{c:?}");
    assert!(!s.contains("张三"), "{s}");
    assert!(!s.contains("110101"), "{s}");
    assert!(!s.contains("北京"), "{s}");
    assert!(s.contains("photo_len: 1024"), "{s}");
}

#[test]
fn zeroize_clears_everything() {
    let mut c = permit();
    c.fingerprint = vec![1; 512];
    c.zeroize();
    assert!(c.name.is_empty() && c.number.is_empty() && c.address.is_empty());
    assert!(c.fingerprint.is_empty() && c.permit_number.is_empty());
    assert_eq!(c.birth, Date::default());
}

fn date_strategy() -> impl Strategy<Value = Date> {
    (1900u16..2100, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

fn cjk(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![0x4E00u32..0x9FA5, 0x20000u32..0x2A6D6, 0x30u32..0x3A]
            .prop_map(|c| char::from_u32(c).unwrap()),
        1..=max,
    )
    .prop_map(|v| v.into_iter().collect::<String>())
    .prop_filter("fits in UTF-16 units", move |s| {
        s.encode_utf16().count() <= max
    })
}

fn citizen_number(prefix: &'static str, birth: Date, male: bool, seq: u8) -> String {
    let order = u16::from(seq) * 2 + u16::from(male);
    let first17 = format!("{prefix}{}{:03}", birth.to_yyyymmdd(), order);
    let check = gb11643::check_char(first17.as_bytes()).unwrap();
    format!("{first17}{check}")
}

fn validity_after(from: Date) -> impl Strategy<Value = Validity> {
    prop_oneof![
        Just(Validity::LongTerm),
        (0u16..30).prop_map(move |y| Validity::Until(Date {
            year: from.year + y,
            ..from
        })),
    ]
}

fn resident_or_permit() -> impl Strategy<Value = IdCard> {
    (
        any::<bool>(),
        cjk(15),
        any::<bool>(),
        prop_oneof![1u8..=56, Just(97u8), Just(98u8)],
        date_strategy(),
        cjk(35),
        0u8..100,
        cjk(15),
        date_strategy(),
        "[A-Z][0-9]{8}",
        proptest::option::of(0u8..100),
    )
        .prop_flat_map(
            |(
                is_permit,
                name,
                male,
                nation,
                birth,
                address,
                seq,
                issuer,
                from,
                permit_no,
                count,
            )| {
                validity_after(from).prop_map(move |until| {
                    let mut c = IdCard::empty(if is_permit {
                        CardKind::HkMoTwPermit
                    } else {
                        CardKind::Resident
                    });
                    c.name = name.clone();
                    c.sex = if male { Sex::Male } else { Sex::Female };
                    c.birth = birth;
                    c.address = address.clone();
                    c.issuer = issuer.clone();
                    c.valid_from = from;
                    c.valid_until = until;
                    if is_permit {
                        c.number = citizen_number("820000", birth, male, seq);
                        c.permit_number = permit_no.clone();
                        c.issue_count = count;
                    } else {
                        c.nation = Some(nation);
                        c.number = citizen_number("110105", birth, male, seq);
                    }
                    c
                })
            },
        )
}

fn foreigner() -> impl Strategy<Value = IdCard> {
    (
        any::<bool>(),
        "[A-Z]{1,20}(, [A-Z]{1,20}){0,1}",
        proptest::option::of(cjk(15)),
        any::<bool>(),
        date_strategy(),
        "[A-Z]{3}",
        "[0-9]{12}",
        date_strategy(),
        proptest::option::of(0u8..100),
        "[0-9]{2}",
        "[0-9]{4}",
        0u8..100,
    )
        .prop_flat_map(
            |(y2023, english, name, male, birth, nat, digits, from, count, ver, code, seq)| {
                validity_after(from).prop_map(move |until| {
                    let mut c = IdCard::empty(if y2023 {
                        CardKind::ForeignPermanent2023
                    } else {
                        CardKind::ForeignPermanent2017
                    });
                    c.english_name = english.clone();
                    c.name = name.clone().unwrap_or_default();
                    c.sex = if male { Sex::Male } else { Sex::Female };
                    c.birth = birth;
                    c.nationality = nat.clone();
                    c.valid_from = from;
                    c.valid_until = until;
                    if y2023 {
                        c.number = citizen_number("931156", birth, male, seq);
                        c.issue_count = count;
                        c.previous_link = ver.clone();
                    } else {
                        c.number = format!("{nat}{digits}");
                        c.card_version = ver.clone();
                        c.issuer = code.clone();
                    }
                    c
                })
            },
        )
}

proptest! {
    #[test]
    fn resident_and_permit_round_trip(card in resident_or_permit()) {
        let block = encode_text(&card).unwrap();
        prop_assert_eq!(parse_text(&block).unwrap(), card);
    }

    #[test]
    fn foreigner_cards_round_trip(card in foreigner()) {
        let block = encode_text(&card).unwrap();
        prop_assert_eq!(parse_text(&block).unwrap(), card);
    }

    #[test]
    fn parse_never_panics(block in proptest::collection::vec(any::<u8>(), TEXT_LEN..=TEXT_LEN), flag in prop_oneof![Just(b'J'), Just(b'I'), Just(b'Y'), Just(b' ')]) {
        let mut block = block;
        block[TYPE_FLAG_AT] = flag;
        let _ = parse_text(&block);
    }

    #[test]
    fn parse_never_panics_on_any_length(block in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_text(&block);
    }
}
