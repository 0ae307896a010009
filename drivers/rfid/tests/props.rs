//! Property tests: frames and both tag data models round-trip; decoders never panic.

use kiosk_rfid::tagdata::{self, DataModel, LibraryData, iso28560_2, iso28560_3};
use kiosk_rfid::{
    Block, Command, InventoryEntry, IsoError, ReaderKind, Response, SetInfo, SystemInfo, TagFault,
    TypeOfUsage, Uid,
};
use proptest::prelude::*;

fn uid() -> impl Strategy<Value = Uid> {
    any::<[u8; 8]>().prop_map(Uid)
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::ReaderInfo),
        any::<bool>().prop_map(|more| Command::Inventory { more }),
        uid().prop_map(|uid| Command::SystemInfo { uid }),
        (uid(), any::<u8>()).prop_map(|(uid, first)| Command::ReadBlocks {
            uid,
            first,
            count: 1
        }),
        (uid(), any::<u8>(), any::<[u8; 4]>()).prop_map(|(uid, first, d)| Command::WriteBlocks {
            uid,
            first,
            block_size: 4,
            data: d.to_vec()
        }),
        (uid(), any::<u8>()).prop_map(|(uid, afi)| Command::WriteAfi { uid, afi }),
        (uid(), any::<bool>()).prop_map(|(uid, set)| Command::Eas { uid, set }),
    ]
}

fn kind() -> impl Strategy<Value = ReaderKind> {
    prop_oneof![Just(ReaderKind::Feig), Just(ReaderKind::Rr3036)]
}

fn library_data(max_id: usize) -> impl Strategy<Value = LibraryData> {
    (
        proptest::string::string_regex(&format!("[A-Z0-9][A-Za-z0-9-]{{0,{}}}", max_id - 1))
            .unwrap(),
        proptest::option::of(proptest::string::string_regex("[A-Z]{2}-[A-Za-z0-9]{1,9}").unwrap()),
        (1u8..=99, 1u8..=99),
        0u8..=9,
    )
        .prop_map(|(id, owner, (total, part), usage)| LibraryData {
            primary_item_id: id,
            owner_institution: owner,
            set_info: Some(SetInfo { total, part }),
            type_of_usage: Some(TypeOfUsage {
                main: usage,
                sub: 0,
            }),
            other: vec![],
        })
}

proptest! {
    #[test]
    fn requests_round_trip(k in kind(), cmd in command()) {
        let p = k.protocol();
        let f = p.encode(&cmd);
        prop_assert_eq!(p.request_frame(&f), kiosk_rfid::FrameCheck::Complete(f.len()));
        let back = p.decode_request(&f).unwrap();
        match (&cmd, &back) {
            // FEIG sends "more" in the inventory MODE; RR3036 has no paging.
            (Command::Inventory { .. }, Command::Inventory { .. }) if k == ReaderKind::Rr3036 => {}
            _ => prop_assert_eq!(&back, &cmd),
        }
    }

    #[test]
    fn replies_round_trip(
        k in kind(),
        u in uid(),
        entries in proptest::collection::vec((uid(), any::<u8>()), 1..20),
        block in any::<[u8; 4]>(),
        afi in any::<u8>(),
        code in 0x01u8..=0x14,
    ) {
        let p = k.protocol();
        let tags: Vec<_> = entries.iter().map(|&(uid, dsfid)| InventoryEntry { uid, dsfid }).collect();
        let cases = vec![
            (Command::Inventory { more: false }, Ok(Response::Inventory { tags, more: false })),
            (Command::SystemInfo { uid: u }, Ok(Response::SystemInfo(SystemInfo {
                uid: u, dsfid: 6, afi, block_count: 28, block_size: 4, ic_reference: 1,
            }))),
            (Command::ReadBlocks { uid: u, first: 0, count: 1 },
                Ok(Response::Blocks(vec![Block { locked: afi & 1 == 1, data: block.to_vec() }]))),
            (Command::WriteAfi { uid: u, afi }, Ok(Response::Done)),
        ];
        for (cmd, result) in cases {
            let f = p.encode_reply(&cmd, &result);
            prop_assert_eq!(p.reply_frame(&f), kiosk_rfid::FrameCheck::Complete(f.len()));
            prop_assert_eq!(p.decode(&cmd, &f), result.map_err(|_: TagFault| unreachable!()));
        }
        let cmd = Command::WriteAfi { uid: u, afi };
        let f = p.encode_reply(&cmd, &Err(TagFault::Iso(IsoError::from_code(code))));
        prop_assert!(p.decode(&cmd, &f).is_err());
    }

    #[test]
    fn frame_decoders_never_panic(k in kind(), cmd in command(), bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let p = k.protocol();
        let _ = p.reply_frame(&bytes);
        let _ = p.request_frame(&bytes);
        let _ = p.decode(&cmd, &bytes);
        let _ = p.decode_request(&bytes);
    }

    #[test]
    fn iso28560_3_round_trips(d in library_data(16)) {
        let b = iso28560_3::encode(&d).unwrap();
        prop_assert_eq!(tagdata::detect(0, &b), DataModel::Iso28560_3);
        prop_assert_eq!(iso28560_3::decode(&b).unwrap(), d);
    }

    #[test]
    fn iso28560_2_round_trips(d in library_data(24)) {
        let b = iso28560_2::encode(&d).unwrap();
        prop_assert_eq!(iso28560_2::encoded_len(&b), Some(b.len()));
        prop_assert_eq!(iso28560_2::decode(&b).unwrap(), d);
    }

    #[test]
    fn text_compaction_round_trips(s in "\\PC{1,20}") {
        let (c, b) = tagdata::compaction::compact(&s);
        prop_assert_eq!(tagdata::compaction::expand(c, &b).unwrap(), s);
    }

    #[test]
    fn tag_decoders_never_panic(dsfid in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = tagdata::detect(dsfid, &bytes);
        let _ = tagdata::is_complete(dsfid, &bytes);
        let _ = iso28560_2::decode(&bytes);
        let _ = iso28560_3::decode(&bytes);
        let _ = tagdata::compaction::isil_expand(&bytes);
    }
}
