//! Property tests: round trips and never-panics on arbitrary bytes.

use kiosk_fingerprint::*;
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = PacketKind> {
    prop_oneof![
        Just(PacketKind::Command),
        Just(PacketKind::Data),
        Just(PacketKind::Ack),
        Just(PacketKind::End)
    ]
}

fn buffer() -> impl Strategy<Value = CharBuffer> {
    prop_oneof![Just(CharBuffer::One), Just(CharBuffer::Two)]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        any::<u32>().prop_map(|password| Command::VfyPwd { password }),
        Just(Command::ReadSysPara),
        Just(Command::TemplateNum),
        Just(Command::GenImg),
        buffer().prop_map(Command::Img2Tz),
        Just(Command::RegModel),
        (buffer(), any::<u16>()).prop_map(|(buffer, page)| Command::Store { buffer, page }),
        (buffer(), any::<u16>()).prop_map(|(buffer, page)| Command::LoadChar { buffer, page }),
        buffer().prop_map(Command::UpChar),
        buffer().prop_map(Command::DownChar),
        (buffer(), any::<u16>(), any::<u16>()).prop_map(|(buffer, start, count)| {
            Command::Search {
                buffer,
                start,
                count,
            }
        }),
        Just(Command::Match),
        (any::<u16>(), any::<u16>()).prop_map(|(page, count)| Command::DeleteChar { page, count }),
        Just(Command::Empty),
        (0u8..4).prop_map(|page| Command::ReadIndexTable { page }),
    ]
}

proptest! {
    #[test]
    fn packet_round_trip(address: u32, kind in kind(), payload in prop::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD)) {
        let p = Packet::new(address, kind, payload);
        let bytes = p.encode();
        let (q, used) = Packet::decode(&bytes).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(q, p);
        // Every strict prefix asks for more bytes.
        for cut in 0..bytes.len() {
            prop_assert_eq!(Packet::decode(&bytes[..cut]), Ok(None));
        }
    }

    #[test]
    fn command_round_trip(address: u32, cmd in command()) {
        let (p, _) = Packet::decode(&cmd.encode(address)).unwrap().unwrap();
        prop_assert_eq!(p.address, address);
        prop_assert_eq!(Command::from_packet(&p).unwrap(), cmd);
    }

    #[test]
    fn sys_para_round_trip(status: u16, system_id: u16, capacity: u16, security_level: u16,
                           address: u32, size in 0u16..4, baud_multiplier in 1u16..=12) {
        let sp = SystemParameters {
            status, system_id, capacity, security_level, address,
            packet_size: PacketSize::from_code(size).unwrap(), baud_multiplier,
        };
        prop_assert_eq!(SystemParameters::parse(&sp.to_bytes()), Ok(sp));
    }

    #[test]
    fn transfer_round_trip(address: u32, data in prop::collection::vec(any::<u8>(), 0..1200), size in 0u16..4) {
        let size = PacketSize::from_code(size).unwrap();
        let mut wire = Ack::ok(vec![]).encode(address);
        wire.extend(encode_data(address, &data, size));
        let t = decode_upload(&wire, address, MAX_TEMPLATE).unwrap().unwrap().unwrap();
        prop_assert_eq!(t.as_bytes(), &data[..]);
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Packet::decode(&bytes);
        let _ = SystemParameters::parse(&bytes);
        let _ = decode_upload(&bytes, DEFAULT_ADDRESS, 1024);
        let _ = decode_ack(&bytes, DEFAULT_ADDRESS);
        let mut d = PacketDecoder::new();
        d.push(&bytes);
        let mut guard = 0;
        while d.pending() > 0 && guard < 1000 {
            if let Ok(Some(p)) = d.next_packet() {
                let _ = Command::from_packet(&p);
                let _ = Ack::from_packet(&p, DEFAULT_ADDRESS);
            } else if d.next_packet() == Ok(None) {
                break;
            }
            guard += 1;
        }
    }

    #[test]
    fn garbage_then_packet_is_found(junk in prop::collection::vec(any::<u8>(), 0..40), cmd in command()) {
        let mut d = PacketDecoder::new();
        // Junk without a header byte cannot swallow the packet after it.
        let junk: Vec<u8> = junk.into_iter().filter(|&b| b != 0xEF).collect();
        d.push(&junk);
        d.push(&cmd.encode(DEFAULT_ADDRESS));
        let mut found = None;
        for _ in 0..100 {
            match d.next_packet() {
                Ok(Some(p)) => { found = Some(p); break; }
                Ok(None) => break,
                Err(_) => continue,
            }
        }
        let p = found.expect("packet after garbage");
        prop_assert_eq!(Command::from_packet(&p).unwrap(), cmd);
    }
}
