//! Receipts of the book self-checkout (issue 5): a finished borrow flow becomes a
//! `LoanReceipt`, printed through the real printer class to the ESC/POS printer simulator over a
//! pseudo-terminal (the simulator's decoded GB18030 text holds the Chinese titles and due
//! dates), and written as a PDF that poppler reads back (`pdftotext`), `qpdf --check` accepts,
//! and whose QR code, rendered with `pdftoppm` and decoded with `zbarimg`, is exactly the
//! receipt's `kiosk-receipt/1` payload. With the simulated roll out of paper the receipt mode
//! turns to the PDF/QR and the printer class refuses the slip. A return receipt (no sign-in,
//! so no patron) goes through the same PDF checks. The decoded slip of a fixed
//! receipt is the golden file `fixtures/receipts/loan-zh.txt`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kiosk_devices::printer::PrinterError;
use kiosk_devices::{EscPosPrinter, ReceiptPrinter};
use kiosk_escpos::PaperLevel;
use kiosk_escpos::{Cut, parse, read_receipts};
use kiosk_flows::receipt::{
    CircReceipt, LoanReceipt, PatronChoice, PatronOnReceipt, ReceiptContext, ReceiptDecision,
    ReceiptFonts, ReceiptLabels, ReceiptMode, decide, printer_ready,
};
use kiosk_flows::{
    BorrowFlow, IlsOutcome, Loan, OfflineLedger, Refusal, RefusalReason, StackSettings, TagWrite,
};
use kiosk_rfid::tagdata::{DataElement, LibraryData, TypeOfUsage};
use kiosk_rfid::{ItemTag, Uid};
use kiosk_sim::{PrinterScenario, PrinterSim, PrinterSimOptions, StatePatch};
use kiosk_tests::{fixture, temp_dir};
use kiosk_transport::TransportSpec;

const LONG_TITLE: &str = "中国古典文学名著插图珍藏本·红楼梦（上下册）";

fn uid(n: u8) -> Uid {
    Uid([0xE0, 0x04, 0x01, 0x50, 0x00, 0x00, 0x02, n])
}

fn tag(n: u8, item: &str, title: &str) -> ItemTag {
    ItemTag::slix(
        uid(n),
        0x07,
        LibraryData {
            primary_item_id: item.into(),
            owner_institution: Some("CN-TEST".into()),
            set_info: None,
            type_of_usage: Some(TypeOfUsage { main: 1, sub: 0 }),
            other: vec![DataElement::title(title)],
        },
    )
}

/// A borrow of three books fed its events by hand (the flow's real API, no mock): two loans
/// unsecured and read back, one refused because another reader reserved it.
fn finished_borrow() -> BorrowFlow {
    let mut f = BorrowFlow::new(Some("P20260017".into()), StackSettings::default());
    let mut ledger = OfflineLedger::default();
    f.pad(&[
        tag(1, "B0001", "三体"),
        tag(2, "B0002", LONG_TITLE),
        tag(3, "B0003", "活着"),
    ]);
    for (item, due) in [("B0001", "2026-12-30"), ("B0002", "2027-01-06")] {
        let actions = f.answered(
            item,
            IlsOutcome::Ok(Loan {
                title: None,
                due: Some(due.into()),
                desensitize: Some(true),
            }),
            &mut ledger,
        );
        assert_eq!(actions.len(), 1, "{item}: one security write");
    }
    f.answered(
        "B0003",
        IlsOutcome::Refused(Refusal::with_message(
            RefusalReason::OnHoldForAnother,
            "Item on hold",
        )),
        &mut ledger,
    );
    for n in [1, 2] {
        f.tag_written(uid(n), TagWrite::ReadBack { afi: 0xC2 });
    }
    assert!(f.is_settled());
    f
}

fn labels_zh() -> ReceiptLabels {
    ReceiptLabels::simplified_chinese()
}

fn receipt() -> LoanReceipt {
    let ctx = ReceiptContext {
        library: "市图书馆".into(),
        terminal: "SC-01".into(),
        time: "2026-12-02 18:30".into(),
        patron: PatronOnReceipt::Masked,
    };
    CircReceipt::from_borrow(&finished_borrow(), &ctx, &labels_zh()).unwrap()
}

const PAYLOAD: &str = "kiosk-receipt/1 loan\nlibrary 市图书馆\nterminal SC-01\n\
    time 2026-12-02 18:30\npatron P2*******\nitem B0001 2026-12-30 三体\n\
    item B0002 2027-01-06 中国古典文学名著插图珍藏本·红楼梦（上下册）\n\
    refused B0003 OnHoldForAnother 活着";

#[test]
fn the_payload_is_the_documented_format() {
    assert_eq!(receipt().payload(), PAYLOAD);
}

/// The printer simulator on a pty (behind a symlink in `dir`) and its serial transport.
fn printer_sim(dir: &Path) -> (PrinterSim, TransportSpec) {
    let sim = PrinterSim::start(PrinterSimOptions {
        pty_link: Some(dir.join("ttyPRN")),
        pty: true,
        tcp: None,
        scenario: PrinterScenario::load(&fixture("scenarios/printer-paper-near-end.json")).unwrap(),
    })
    .unwrap();
    let spec = TransportSpec::Serial {
        path: sim.pty_path().unwrap().to_str().unwrap().into(),
        baud: 115200,
    };
    (sim, spec)
}

#[test]
fn a_loan_receipt_prints_chinese_on_the_simulated_printer_over_a_pty() {
    let dir = temp_dir();
    let (sim, spec) = printer_sim(dir.path());
    let r = receipt();
    let slip = r.to_escpos().unwrap();
    let mut printer = EscPosPrinter::open(&spec).unwrap();
    printer.print(&slip).unwrap();
    let got = sim.wait_for_receipts(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert!(sim.parse_errors().is_empty(), "{:?}", sim.parse_errors());
    let lines = got[0].text_lines();
    let has = |s: &str| lines.iter().any(|l| l.contains(s));
    for s in [
        "市图书馆",
        "自助借书凭条",
        "1. 三体",
        "应还: 2026-12-30",
        "应还: 2027-01-06",
        "x  活着",
        "读者: P2*******",
        "共借出 2 册",
        "未借出 1 册",
    ] {
        assert!(has(s), "{s:?} not in {lines:#?}");
    }
    assert!(!has("P20260017"), "the patron id is masked on paper");
    // The long title is broken to the 32 columns of 58 mm paper, hanging under its first
    // character, and reads back whole.
    let at = lines.iter().position(|l| l.starts_with("2. ")).unwrap();
    assert_eq!(
        format!("{}{}", &lines[at][3..], lines[at + 1].trim_start()),
        LONG_TITLE
    );
    assert!(lines[at + 1].starts_with("   "));
    let squeezed: String = lines.concat().split_whitespace().collect();
    assert!(squeezed.contains("此书已被其他读者预约，请交到服务台。"));
    assert_eq!(got[0].qr_payloads(), [PAYLOAD]);
    assert_eq!(got[0].cut(), Some(Cut::Partial));

    // Golden: the slip as the printer decodes it (the simulator and the reader agree).
    let offline = read_receipts(&parse(&slip.to_bytes()).unwrap());
    assert_eq!(offline[0].text_lines(), lines);
    let mut text = lines.join("\n");
    text.push_str("\n[QR]\n");
    text.push_str(PAYLOAD);
    text.push('\n');
    let golden = fixture("receipts/loan-zh.txt");
    if std::env::var_os("KIOSK_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    assert_eq!(text, std::fs::read_to_string(&golden).unwrap());
}

#[test]
fn out_of_paper_the_patron_is_offered_the_pdf_instead() {
    let dir = temp_dir();
    let (sim, spec) = printer_sim(dir.path());
    let mut printer = EscPosPrinter::open(&spec).unwrap();
    let ready = |p: &mut EscPosPrinter| printer_ready(&p.status().unwrap());
    assert!(ready(&mut printer), "a near-end roll still prints");
    assert_eq!(
        decide(ReceiptMode::Print, None, ready(&mut printer)),
        ReceiptDecision::Print
    );

    sim.set_state(&StatePatch {
        paper: Some(PaperLevel::Out),
        ..Default::default()
    });
    let ready_now = ready(&mut printer);
    assert!(!ready_now);
    assert_eq!(
        decide(ReceiptMode::Print, None, ready_now),
        ReceiptDecision::Pdf {
            instead_of_paper: true
        }
    );
    assert_eq!(
        decide(ReceiptMode::Ask, None, ready_now),
        ReceiptDecision::AskPatron { paper: false }
    );
    assert_eq!(
        decide(ReceiptMode::Ask, Some(PatronChoice::Paper), ready_now),
        ReceiptDecision::Pdf {
            instead_of_paper: true
        }
    );
    // The printer class agrees: it refuses the slip, and nothing reaches the paper.
    let slip = receipt().to_escpos().unwrap();
    assert!(matches!(
        printer.print(&slip),
        Err(PrinterError::PaperOut(_))
    ));
    assert!(
        sim.wait_for_receipts(1, Duration::from_millis(300))
            .is_empty()
    );

    sim.set_state(&StatePatch {
        paper: Some(PaperLevel::Ok),
        ..Default::default()
    });
    assert!(ready(&mut printer), "paper loaded again");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (packaging/setup-debian.sh --test installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_pdf_reads_back_checks_clean_and_its_qr_decodes_to_the_payload() {
    let fonts = ReceiptFonts::noto_cjk().expect("fonts-noto-cjk (packaging/setup-debian.sh)");
    let pdf = receipt().to_pdf(&fonts).unwrap();
    assert!(
        pdf.len() < 150_000,
        "subset fonts keep it small: {} bytes",
        pdf.len()
    );
    let dir = temp_dir();
    let path = dir.path().join("receipt.pdf");
    std::fs::write(&path, &pdf).unwrap();
    if let Some(keep) = std::env::var_os("KIOSK_KEEP_RECEIPT") {
        std::fs::copy(&path, Path::new(&keep).join("receipt.pdf")).unwrap();
    }

    run(Command::new("qpdf").arg("--check").arg(&path));

    let text = run(Command::new("pdftotext").arg(&path).arg("-"));
    for s in [
        "市图书馆",
        "自助借书凭条",
        "三体",
        "2026-12-30",
        "2027-01-06",
        "活着",
        "此书已被其他读者预约",
        "P2*******",
        "共借出 2 册",
    ] {
        assert!(text.contains(s), "{s:?} not in pdftotext output:\n{text}");
    }
    // The long title wraps; its characters come back in order.
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(squeezed.contains(LONG_TITLE), "{text}");
    assert!(!text.contains("P20260017"));

    let png = dir.path().join("page");
    run(Command::new("pdftoppm")
        .args(["-png", "-r", "200", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&path)
        .arg(&png));
    let png = png.with_extension("png");
    if let Some(keep) = std::env::var_os("KIOSK_KEEP_RECEIPT") {
        std::fs::copy(&png, Path::new(&keep).join("receipt.png")).unwrap();
    }
    let decoded = run(Command::new("zbarimg").args(["--raw", "-q"]).arg(&png));
    assert_eq!(decoded.strip_suffix('\n').unwrap_or(&decoded), PAYLOAD);
}

#[test]
fn a_return_receipt_pdf_has_no_patron_and_its_qr_decodes() {
    use kiosk_flows::{Checkin, ReturnFlow};
    let mut f = ReturnFlow::new(None, StackSettings::default());
    let mut ledger = OfflineLedger::default();
    f.pad(&[tag(1, "B0001", "三体"), tag(3, "B0003", "活着")]);
    for (item, bin, hold) in [("B0001", "A3", false), ("B0003", "H1", true)] {
        let reply = Checkin {
            sort_bin: Some(bin.into()),
            on_hold: hold,
            resensitize: Some(true),
            ..Checkin::default()
        };
        f.answered(item, IlsOutcome::Ok(reply), &mut ledger);
    }
    for n in [1, 3] {
        f.tag_written(uid(n), TagWrite::ReadBack { afi: 0x07 });
    }
    let ctx = ReceiptContext {
        library: "市图书馆".into(),
        terminal: "SC-02".into(),
        time: "2026-12-03 09:05".into(),
        patron: PatronOnReceipt::Masked,
    };
    let r = CircReceipt::from_return(&f, &ctx, &labels_zh()).unwrap();
    let payload = "kiosk-receipt/1 return\nlibrary 市图书馆\nterminal SC-02\n\
        time 2026-12-03 09:05\nitem B0001 A3 三体\nitem B0003 H1 活着";
    assert_eq!(r.payload(), payload);

    let fonts = ReceiptFonts::noto_cjk().expect("fonts-noto-cjk (packaging/setup-debian.sh)");
    let dir = temp_dir();
    let path = dir.path().join("return.pdf");
    std::fs::write(&path, r.to_pdf(&fonts).unwrap()).unwrap();
    run(Command::new("qpdf").arg("--check").arg(&path));
    let text = run(Command::new("pdftotext").arg(&path).arg("-"));
    for s in [
        "自助还书凭条",
        "三体",
        "分拣箱: A3",
        "活着",
        "已被预约",
        "共归还 2 册",
    ] {
        assert!(text.contains(s), "{s:?} not in pdftotext output:\n{text}");
    }
    assert!(!text.contains("读者"), "no sign-in, no patron line");
    let png = dir.path().join("return");
    run(Command::new("pdftoppm")
        .args(["-png", "-r", "200", "-singlefile"])
        .arg(&path)
        .arg(&png));
    let decoded = run(Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(png.with_extension("png")));
    assert_eq!(decoded.strip_suffix('\n').unwrap_or(&decoded), payload);
}
