//! Every golden frame of `device-vectors.txt` (stored under `fixtures/fingerprint/`), encoded
//! and decoded.

use kiosk_fingerprint::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/fingerprint/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(text.starts_with("# origin:"), "{path} lacks an origin line");
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

const A: u32 = DEFAULT_ADDRESS;

fn decode_whole(bytes: &[u8]) -> Packet {
    let (p, used) = Packet::decode(bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(p.encode(), bytes, "re-encoding");
    p
}

#[test]
fn command_frames() {
    let b1 = CharBuffer::One;
    let cases = [
        ("cmd-vfypwd-0", Command::VfyPwd { password: 0 }),
        ("cmd-genimg", Command::GenImg),
        ("cmd-img2tz-1", Command::Img2Tz(b1)),
        ("cmd-img2tz-2", Command::Img2Tz(CharBuffer::Two)),
        ("cmd-regmodel", Command::RegModel),
        (
            "cmd-store-1-1",
            Command::Store {
                buffer: b1,
                page: 1,
            },
        ),
        (
            "cmd-search-1-0-163",
            Command::Search {
                buffer: b1,
                start: 0,
                count: 163,
            },
        ),
        (
            "cmd-highspeedsearch-1-0-163",
            Command::HighSpeedSearch {
                buffer: b1,
                start: 0,
                count: 163,
            },
        ),
        ("cmd-match", Command::Match),
        (
            "cmd-loadchar-1-1",
            Command::LoadChar {
                buffer: b1,
                page: 1,
            },
        ),
        ("cmd-upchar-1", Command::UpChar(b1)),
        ("cmd-downchar-1", Command::DownChar(b1)),
        (
            "cmd-deletechar-1-1",
            Command::DeleteChar { page: 1, count: 1 },
        ),
        ("cmd-empty", Command::Empty),
        ("cmd-readsyspara", Command::ReadSysPara),
        ("cmd-templatenum", Command::TemplateNum),
        ("cmd-readindextable-0", Command::ReadIndexTable { page: 0 }),
    ];
    for (name, cmd) in cases {
        let golden = fixture(name);
        assert_eq!(cmd.encode(A), golden, "{name}");
        let p = decode_whole(&golden);
        assert_eq!(Command::from_packet(&p).unwrap(), cmd, "{name}");
    }
}

#[test]
fn up_image_is_a_valid_packet_of_an_instruction_not_driven_here() {
    let p = decode_whole(&fixture("cmd-upimage"));
    assert_eq!(p.kind, PacketKind::Command);
    assert_eq!(
        Command::from_packet(&p),
        Err(CommandError::Unsupported(0x0A))
    );
}

#[test]
fn ack_frames() {
    let ok = decode_whole(&fixture("ack-ok"));
    let ack = Ack::from_packet(&ok, A).unwrap();
    assert_eq!(ack, Ack::ok(vec![]));
    assert_eq!(ack.encode(A), fixture("ack-ok"));

    let nf = Ack::from_packet(&decode_whole(&fixture("ack-no-finger")), A).unwrap();
    assert_eq!(nf.result(), Err(ModuleError::NoFinger));
    assert_eq!(
        Ack::error(ModuleError::NoFinger).encode(A),
        fixture("ack-no-finger")
    );

    let hit = Ack::from_packet(&decode_whole(&fixture("ack-search-hit-1-100")), A).unwrap();
    let h = SearchHit::from_params(hit.result().unwrap()).unwrap();
    assert_eq!(
        h,
        SearchHit {
            page: 1,
            score: 100
        }
    );
    assert_eq!(
        Ack::ok(h.to_params()).encode(A),
        fixture("ack-search-hit-1-100")
    );

    let n = Ack::from_packet(&decode_whole(&fixture("ack-templatenum-3")), A).unwrap();
    assert_eq!(u16_param("TemplateNum", n.result().unwrap()), Ok(3));

    let sp = Ack::from_packet(&decode_whole(&fixture("ack-readsyspara")), A).unwrap();
    let params = SystemParameters::parse(sp.result().unwrap()).unwrap();
    assert_eq!(params.capacity, 163);
    assert_eq!(params.security_level, 3);
    assert_eq!(params.packet_size, PacketSize::B128);
    assert_eq!(params.baud(), 57600);
    assert_eq!(params.address, A);
    assert_eq!(params, SystemParameters::default());
    assert_eq!(
        Ack::ok(params.to_bytes().to_vec()).encode(A),
        fixture("ack-readsyspara")
    );
}

#[test]
fn data_frames() {
    let data = decode_whole(&fixture("data-4"));
    let end = decode_whole(&fixture("end-4"));
    assert_eq!((data.kind, end.kind), (PacketKind::Data, PacketKind::End));
    let mut re = Reassembly::new(A, 64);
    assert!(!re.push(&data).unwrap());
    assert!(re.push(&end).unwrap());
    assert_eq!(re.into_template().as_bytes(), [1, 2, 3, 4, 1, 2, 3, 4]);
    assert!(format!("{data:?}").contains("redacted"));
}

#[test]
fn upload_reply_reassembles_across_packet_sizes() {
    let template: Vec<u8> = (0..512u32).map(|i| (i * 7 % 251) as u8).collect();
    for size in [
        PacketSize::B32,
        PacketSize::B64,
        PacketSize::B128,
        PacketSize::B256,
    ] {
        let mut wire = Ack::ok(vec![]).encode(A);
        let packets = split_data(A, &template, size);
        assert_eq!(packets.len(), 512 / size.bytes());
        wire.extend(encode_data(A, &template, size));
        // Incomplete until the very last byte.
        for cut in [1, wire.len() / 2, wire.len() - 1] {
            assert_eq!(decode_upload(&wire[..cut], A, MAX_TEMPLATE), Ok(None));
        }
        let t = decode_upload(&wire, A, MAX_TEMPLATE)
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(t.as_bytes(), template);
        assert!(wire.len() <= max_upload_len(512));
        assert_eq!(format!("{t:?}"), "Template(<512 bytes redacted>)");
    }
    let refused = Ack::error(ModuleError::UploadTemplate).encode(A);
    assert_eq!(
        decode_upload(&refused, A, MAX_TEMPLATE),
        Ok(Some(Err(ModuleError::UploadTemplate)))
    );
    let long = [
        Ack::ok(vec![]).encode(A),
        encode_data(A, &template, PacketSize::B128),
    ]
    .concat();
    assert_eq!(
        decode_upload(&long, A, 300).map(|_| ()),
        Err(TransferError::TooLong(300))
    );
}

#[test]
fn confirmation_codes_round_trip() {
    for code in 1..=255u8 {
        let e = ModuleError::from_code(code).unwrap();
        assert_eq!(e.code(), code);
    }
    assert_eq!(ModuleError::from_code(0), None);
    assert_eq!(
        ModuleError::from_code(0x13),
        Some(ModuleError::WrongPassword)
    );
}

#[test]
fn bad_frames_are_typed_errors() {
    let mut ok = fixture("ack-ok");
    assert_eq!(Packet::decode(&ok[..5]), Ok(None));
    ok[11] ^= 1;
    assert!(matches!(
        Packet::decode(&ok),
        Err(DecodeError::Checksum { .. })
    ));
    assert_eq!(
        Packet::decode(b"hello"),
        Err(DecodeError::BadHeader(b'h', b'e'))
    );
    let mut kind = fixture("ack-ok");
    kind[6] = 0x05;
    assert_eq!(Packet::decode(&kind), Err(DecodeError::UnknownKind(5)));
    let mut big = fixture("ack-ok");
    big[7] = 0xFF;
    assert!(matches!(
        Packet::decode(&big),
        Err(DecodeError::Oversized(_))
    ));
    let mut short = fixture("ack-ok");
    short[8] = 1;
    short[7] = 0;
    assert_eq!(Packet::decode(&short), Err(DecodeError::ShortLength(1)));
}

#[test]
fn decoder_skips_garbage_between_packets() {
    let mut d = PacketDecoder::new();
    d.push(b"\x00\x55noise");
    d.push(&fixture("cmd-genimg"));
    d.push(&fixture("cmd-templatenum")[..4]);
    assert!(d.next_packet().is_err());
    let p = d.next_packet().unwrap().unwrap();
    assert_eq!(Command::from_packet(&p), Ok(Command::GenImg));
    assert_eq!(d.next_packet(), Ok(None));
    d.push(&fixture("cmd-templatenum")[4..]);
    let p = d.next_packet().unwrap().unwrap();
    assert_eq!(Command::from_packet(&p), Ok(Command::TemplateNum));
}

#[test]
fn enrolment_flow() {
    let ok = Ack::ok(vec![]);
    let none = Ack::error(ModuleError::NoFinger);
    let mut e = Enrolment::new(7);
    let mut sent = Vec::new();
    let script = [&none, &ok, &ok, &ok, &none, &none, &ok, &ok, &ok, &ok];
    let mut last = None;
    for ack in script {
        sent.push(e.command().unwrap());
        last = Some(e.on_ack(ack).unwrap());
    }
    assert_eq!(last, Some(Progress::Done(7)));
    assert_eq!(e.command(), None);
    use Command::*;
    let b1 = CharBuffer::One;
    assert_eq!(
        sent,
        [
            GenImg,
            GenImg,
            Img2Tz(b1),
            GenImg,
            GenImg,
            GenImg,
            GenImg,
            Img2Tz(CharBuffer::Two),
            RegModel,
            Store {
                buffer: b1,
                page: 7
            }
        ]
    );
    let mut bad = Enrolment::new(1);
    bad.on_ack(&ok).unwrap();
    assert_eq!(
        bad.on_ack(&Ack::error(ModuleError::ImageTooMessy)),
        Err(ModuleError::ImageTooMessy)
    );
    assert_eq!(bad.command(), None);
}

#[test]
fn identification_flow() {
    let ok = Ack::ok(vec![]);
    let mut s = Identification::new(163);
    assert_eq!(
        s.on_ack(&Ack::error(ModuleError::NoFinger)),
        Ok(Progress::Wait(Waiting::FingerOn))
    );
    assert_eq!(s.on_ack(&ok), Ok(Progress::Next));
    assert_eq!(s.on_ack(&ok), Ok(Progress::Next));
    assert_eq!(
        s.command(),
        Some(Command::Search {
            buffer: CharBuffer::One,
            start: 0,
            count: 163
        })
    );
    let hit = Ack::ok(
        SearchHit {
            page: 1,
            score: 100,
        }
        .to_params(),
    );
    assert_eq!(
        s.on_ack(&hit),
        Ok(Progress::Done(Some(SearchHit {
            page: 1,
            score: 100
        })))
    );
    let mut miss = Identification::new(10);
    miss.on_ack(&ok).unwrap();
    miss.on_ack(&ok).unwrap();
    assert_eq!(
        miss.on_ack(&Ack::error(ModuleError::NotFound)),
        Ok(Progress::Done(None))
    );
}
