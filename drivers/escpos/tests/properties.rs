//! Property tests: builder → bytes → parser round trips, status encode/parse round trips, and
//! the parsers never panic on arbitrary bytes.

use kiosk_escpos::*;
use proptest::prelude::*;

fn align() -> impl Strategy<Value = Align> {
    prop_oneof![Just(Align::Left), Just(Align::Center), Just(Align::Right)]
}

fn ecc() -> impl Strategy<Value = QrEcc> {
    prop_oneof![
        Just(QrEcc::L),
        Just(QrEcc::M),
        Just(QrEcc::Q),
        Just(QrEcc::H)
    ]
}

fn cut() -> impl Strategy<Value = Cut> {
    prop_oneof![Just(Cut::Full), Just(Cut::Partial)]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        prop::collection::vec(0x20u8..=0xFF, 1..40).prop_map(Command::Text),
        Just(Command::LineFeed),
        Just(Command::CarriageReturn),
        Just(Command::Tab),
        Just(Command::Init),
        align().prop_map(Command::Align),
        any::<bool>().prop_map(Command::Bold),
        (0u8..=2).prop_map(Command::Underline),
        any::<u8>().prop_map(Command::PrintMode),
        (1u8..=8, 1u8..=8).prop_map(|(width, height)| Command::CharSize { width, height }),
        any::<u8>().prop_map(Command::FeedLines),
        any::<u8>().prop_map(Command::CodePage),
        Just(Command::ChineseOn),
        Just(Command::ChineseOff),
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(pin, on, off)| Command::DrawerKick {
            pin,
            on,
            off
        }),
        (0x31u8..=0x33).prop_map(Command::QrModel),
        (1u8..=16).prop_map(Command::QrSize),
        ecc().prop_map(Command::QrErrorCorrection),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Command::QrStore),
        Just(Command::QrPrint),
        (0u8..=3, 1u16..6, 1u16..6).prop_flat_map(|(mode, w, h)| {
            prop::collection::vec(any::<u8>(), (w * h) as usize).prop_map(move |data| {
                Command::Raster {
                    mode,
                    width_bytes: w,
                    height: h,
                    data,
                }
            })
        }),
        (cut(), prop::option::of(any::<u8>())).prop_map(|(kind, feed)| Command::Cut { kind, feed }),
        (1u8..=4).prop_map(Command::StatusRequest),
        any::<u8>().prop_map(Command::AutoStatusBack),
        (1u8..=2).prop_map(Command::TransmitStatus),
    ]
}

/// Adjacent text runs merge on the wire; a list without them round-trips exactly.
fn no_adjacent_text(cmds: Vec<Command>) -> Vec<Command> {
    let mut out: Vec<Command> = Vec::new();
    for c in cmds {
        if let (Some(Command::Text(prev)), Command::Text(t)) = (out.last_mut(), &c) {
            prev.extend_from_slice(t);
        } else {
            out.push(c);
        }
    }
    out
}

fn line_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 .,:-]{0,30}",
        "[您好欢迎借书还书日期读者张三丰图书馆一二三 ]{1,12}",
        "[a-z]{0,5}[借还书]{1,4}[0-9]{0,5}",
    ]
}

fn status() -> impl Strategy<Value = PrinterStatus> {
    (
        prop::array::uniform12(any::<bool>()),
        prop_oneof![
            Just(PaperLevel::Ok),
            Just(PaperLevel::NearEnd),
            Just(PaperLevel::Out)
        ],
    )
        .prop_map(|(b, paper)| PrinterStatus {
            online: b[0],
            drawer_pin_high: b[1],
            waiting_recovery: b[2],
            feed_button: b[3],
            cover_open: b[4],
            feeding_by_button: b[5],
            stopped_paper_end: b[6],
            error: b[7],
            mechanical_error: b[8],
            cutter_error: b[9],
            unrecoverable_error: b[10],
            auto_recoverable_error: b[11],
            paper,
        })
}

proptest! {
    #[test]
    fn commands_round_trip(cmds in prop::collection::vec(command(), 0..30)) {
        let cmds = no_adjacent_text(cmds);
        let bytes = encode(&cmds);
        prop_assert_eq!(parse(&bytes).unwrap(), cmds);
    }

    #[test]
    fn builder_text_reads_back(lines in prop::collection::vec(line_text(), 1..8),
                               qr in "[ -~]{1,60}", cp in 0usize..8, bold: bool, a in align()) {
        let mut b = Receipt::builder().code_page(CodePage::ALL[cp]).align(a).bold(bold);
        for l in &lines {
            b = b.line(l);
        }
        let receipt = b.qr(qr.as_bytes(), 4, QrEcc::Q).unwrap().cut(Cut::Partial, 2).build();
        let cmds = parse(&receipt.to_bytes()).unwrap();
        let printed = read_receipts(&cmds);
        prop_assert_eq!(printed.len(), 1);
        prop_assert_eq!(printed[0].text_lines(), lines);
        prop_assert_eq!(printed[0].qr_payloads(), vec![qr]);
        prop_assert_eq!(printed[0].cut(), Some(Cut::Partial));
    }

    #[test]
    fn latin_text_in_code_pages_reads_back(s in "[a-zA-Zéèàüöß€ДомΩ ]{0,30}") {
        for cp in CodePage::ALL {
            let r = Receipt::builder().code_page(cp).line(&s).build();
            let printed = read_receipts(&parse(&r.to_bytes()).unwrap());
            prop_assert_eq!(printed[0].text_lines(), vec![s.clone()]);
        }
    }

    #[test]
    fn parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&bytes);
        let mut p = StreamParser::new();
        let mut reader = ReceiptReader::new(true);
        for chunk in bytes.chunks(7) {
            p.push(chunk);
            while let Some(r) = p.next_command() {
                if let Ok(c) = r {
                    let _ = reader.apply(&c);
                }
            }
        }
    }

    #[test]
    fn stream_parser_matches_whole_parse(cmds in prop::collection::vec(command(), 0..20), split in 1usize..9) {
        let cmds = no_adjacent_text(cmds);
        let bytes = encode(&cmds);
        let mut p = StreamParser::new();
        let mut got = Vec::new();
        for chunk in bytes.chunks(split) {
            p.push(chunk);
            while let Some(r) = p.next_command() {
                got.push(r.unwrap());
            }
        }
        prop_assert_eq!(p.pending(), 0);
        prop_assert_eq!(no_adjacent_text(got), cmds);
    }

    #[test]
    fn real_time_status_round_trips(s in status()) {
        prop_assert_eq!(PrinterStatus::from_real_time(s.to_real_time()).unwrap(), s);
    }

    #[test]
    fn real_time_bytes_parse_or_fail_typed(b: [u8; 4]) {
        match PrinterStatus::from_real_time(b) {
            Ok(s) => {
                // Canonical re-encoding keeps every bit except the duplicated paper bits.
                let again = s.to_real_time();
                for i in 0..3 { prop_assert_eq!(again[i], b[i]); }
            }
            Err(e) => { let ok = matches!(e, StatusError::BadRealTime { .. }); prop_assert!(ok); }
        }
    }

    #[test]
    fn asb_round_trips(s in status()) {
        // ASB carries no "feed button" bit and derives the summary bits.
        let s = PrinterStatus {
            feed_button: false,
            stopped_paper_end: s.paper == PaperLevel::Out,
            error: s.mechanical_error || s.cutter_error || s.unrecoverable_error || s.auto_recoverable_error,
            ..s
        };
        let bytes = AsbStatus(s).to_bytes();
        prop_assert_eq!(AsbStatus::parse(bytes).unwrap(), AsbStatus(s));
        prop_assert_eq!(next_reply(&bytes).unwrap(), Some((Reply::Asb(AsbStatus(s)), 4)));
    }

    #[test]
    fn reply_scanner_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            match next_reply(rest) {
                Ok(Some((_, used))) => rest = &rest[used..],
                Ok(None) => break,
                Err(_) => rest = &rest[1..],
            }
        }
    }
}
