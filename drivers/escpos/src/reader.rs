//! Reading a command stream back the way a printer would: line buffer, styles, Chinese mode and
//! code page, QR symbols, raster images, cuts. Used by the simulator and by tests to check that
//! a receipt prints the right (Chinese) text.

use std::fmt;

use serde::Serialize;

use crate::bitmap::Bitmap;
use crate::command::{Align, Command, Cut, QrEcc};
use crate::text::{CodePage, decode_gb18030};

/// A printed line of text with the style it was printed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrintedLine {
    pub text: String,
    pub align: Align,
    pub bold: bool,
    pub underline: u8,
    pub width: u8,
    pub height: u8,
}

/// A printed QR symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrintedQr {
    /// The payload, as UTF-8 when it is (lossy otherwise).
    pub payload: String,
    pub size: u8,
    pub ecc: QrEcc,
}

/// One thing on the paper, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum PrintedItem {
    Line(PrintedLine),
    Qr(PrintedQr),
    Image(Bitmap),
    Feed { lines: u8 },
    Cut { kind: Cut },
}

/// A receipt as it came out of the printer, up to and including its cut.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrintedReceipt {
    pub items: Vec<PrintedItem>,
}

impl PrintedReceipt {
    /// The text lines, without style.
    pub fn text_lines(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match i {
                PrintedItem::Line(l) => Some(l.text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The QR payloads.
    pub fn qr_payloads(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match i {
                PrintedItem::Qr(q) => Some(q.payload.clone()),
                _ => None,
            })
            .collect()
    }

    /// The images.
    pub fn images(&self) -> Vec<&Bitmap> {
        self.items
            .iter()
            .filter_map(|i| match i {
                PrintedItem::Image(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    /// How it was cut, if it was.
    pub fn cut(&self) -> Option<Cut> {
        self.items.iter().rev().find_map(|i| match i {
            PrintedItem::Cut { kind } => Some(*kind),
            _ => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A plain-text view for people: aligned on a 32-column roll, QR and images as placeholders.
impl fmt::Display for PrintedReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const COLS: usize = 32;
        for item in &self.items {
            match item {
                PrintedItem::Line(l) => {
                    let w: usize = l
                        .text
                        .chars()
                        .map(|c| if c.is_ascii() { 1 } else { 2 })
                        .sum();
                    let w = w * l.width as usize;
                    let pad = match l.align {
                        Align::Left => 0,
                        Align::Center => COLS.saturating_sub(w) / 2,
                        Align::Right => COLS.saturating_sub(w),
                    };
                    writeln!(f, "{}{}", " ".repeat(pad), l.text)?;
                }
                PrintedItem::Qr(q) => {
                    writeln!(f, "[QR {:?} size {}: {}]", q.ecc, q.size, q.payload)?
                }
                PrintedItem::Image(b) => writeln!(f, "[image {}x{}]", b.width(), b.height())?,
                PrintedItem::Feed { lines } => {
                    for _ in 0..(*lines).min(3) {
                        writeln!(f)?;
                    }
                }
                PrintedItem::Cut { kind } => writeln!(
                    f,
                    "{}",
                    match kind {
                        Cut::Full => "-------------- cut -------------",
                        Cut::Partial => "- - - - - - partial cut - - - - -",
                    }
                )?,
            }
        }
        Ok(())
    }
}

/// Printer state while reading commands.
#[derive(Debug, Clone)]
pub struct ReceiptReader {
    chinese: bool,
    chinese_at_power_on: bool,
    code_page: CodePage,
    unknown_code_page: bool,
    align: Align,
    bold: bool,
    underline: u8,
    width: u8,
    height: u8,
    line: Vec<u8>,
    line_segments: Vec<(bool, CodePage, Vec<u8>)>,
    qr_size: u8,
    qr_ecc: QrEcc,
    qr_data: Option<Vec<u8>>,
    current: PrintedReceipt,
}

impl Default for ReceiptReader {
    fn default() -> Self {
        Self::new(false)
    }
}

impl ReceiptReader {
    /// A reader for a printer that powers up in Chinese mode or not.
    pub fn new(chinese_at_power_on: bool) -> Self {
        ReceiptReader {
            chinese: chinese_at_power_on,
            chinese_at_power_on,
            code_page: CodePage::Pc437,
            unknown_code_page: false,
            align: Align::Left,
            bold: false,
            underline: 0,
            width: 1,
            height: 1,
            line: Vec::new(),
            line_segments: Vec::new(),
            qr_size: 3,
            qr_ecc: QrEcc::L,
            qr_data: None,
            current: PrintedReceipt::default(),
        }
    }

    fn flush_segment(&mut self) {
        if !self.line.is_empty() {
            let bytes = std::mem::take(&mut self.line);
            self.line_segments
                .push((self.chinese, self.code_page, bytes));
        }
    }

    fn print_line(&mut self, force: bool) {
        self.flush_segment();
        if self.line_segments.is_empty() && !force {
            return;
        }
        let text: String = self
            .line_segments
            .drain(..)
            .map(|(chinese, cp, bytes)| {
                if chinese {
                    decode_gb18030(&bytes)
                } else {
                    cp.decode(&bytes)
                }
            })
            .collect();
        self.current.items.push(PrintedItem::Line(PrintedLine {
            text,
            align: self.align,
            bold: self.bold,
            underline: self.underline,
            width: self.width,
            height: self.height,
        }));
    }

    /// Applies one command. Returns a finished receipt on a cut.
    pub fn apply(&mut self, cmd: &Command) -> Option<PrintedReceipt> {
        match cmd {
            Command::Text(t) => self.line.extend_from_slice(t),
            Command::LineFeed => self.print_line(true),
            Command::CarriageReturn => {}
            Command::Tab => self.line.extend_from_slice(b"    "),
            Command::Init => {
                self.print_line(false);
                // ESC @ resets styles and the code page, not Chinese mode (devices.md §3.1).
                let chinese = self.chinese;
                let current = std::mem::take(&mut self.current);
                *self = ReceiptReader::new(self.chinese_at_power_on);
                self.chinese = chinese;
                self.current = current;
            }
            Command::Align(a) => self.align = *a,
            Command::Bold(b) => self.bold = *b,
            Command::Underline(n) => self.underline = *n,
            Command::PrintMode(n) => {
                self.bold = n & 0x08 != 0;
                self.height = if n & 0x10 != 0 { 2 } else { 1 };
                self.width = if n & 0x20 != 0 { 2 } else { 1 };
                self.underline = if n & 0x80 != 0 { 1 } else { 0 };
            }
            Command::CharSize { width, height } => {
                self.width = *width;
                self.height = *height;
            }
            Command::FeedLines(n) => {
                self.print_line(false);
                if *n > 0 {
                    self.current.items.push(PrintedItem::Feed { lines: *n });
                }
            }
            Command::CodePage(n) => {
                self.flush_segment();
                match CodePage::from_table(*n) {
                    Some(cp) => {
                        self.code_page = cp;
                        self.unknown_code_page = false;
                    }
                    None => self.unknown_code_page = true,
                }
            }
            Command::ChineseOn => {
                self.flush_segment();
                self.chinese = true;
            }
            Command::ChineseOff => {
                self.flush_segment();
                self.chinese = false;
            }
            Command::QrModel(_) => {}
            Command::QrSize(n) => self.qr_size = *n,
            Command::QrErrorCorrection(e) => self.qr_ecc = *e,
            Command::QrStore(d) => self.qr_data = Some(d.clone()),
            Command::QrPrint => {
                self.print_line(false);
                if let Some(d) = &self.qr_data {
                    self.current.items.push(PrintedItem::Qr(PrintedQr {
                        payload: String::from_utf8_lossy(d).into_owned(),
                        size: self.qr_size,
                        ecc: self.qr_ecc,
                    }));
                }
            }
            Command::Raster {
                width_bytes,
                height,
                data,
                ..
            } => {
                self.print_line(false);
                if let Some(b) = Bitmap::from_raster(*width_bytes, *height, data.clone()) {
                    self.current.items.push(PrintedItem::Image(b));
                }
            }
            Command::Cut { kind, .. } => {
                self.print_line(false);
                self.current.items.push(PrintedItem::Cut { kind: *kind });
                return Some(std::mem::take(&mut self.current));
            }
            Command::DrawerKick { .. }
            | Command::StatusRequest(_)
            | Command::AutoStatusBack(_)
            | Command::TransmitStatus(_) => {}
        }
        None
    }

    /// What has been printed since the last cut (lines already fed).
    pub fn pending(&self) -> &PrintedReceipt {
        &self.current
    }

    /// Whether the printer is in Chinese mode now.
    pub fn chinese_mode(&self) -> bool {
        self.chinese
    }
}

/// Reads a whole stream of commands into receipts; text after the last cut forms a last,
/// uncut receipt.
pub fn read_receipts(commands: &[Command]) -> Vec<PrintedReceipt> {
    let mut r = ReceiptReader::new(false);
    let mut out: Vec<PrintedReceipt> = commands.iter().filter_map(|c| r.apply(c)).collect();
    r.print_line(false);
    if !r.current.is_empty() {
        out.push(r.current);
    }
    out
}
