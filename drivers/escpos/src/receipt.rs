//! The [`Receipt`] builder: styled lines, Chinese and code-page text, QR codes, raster images,
//! feed and cut, as a list of [`Command`]s and their bytes (devices.md §3.1, §3.2).

use crate::bitmap::Bitmap;
use crate::command::{Align, Command, Cut, MAX_QR_DATA, QrEcc, encode};
use crate::text::{CodePage, encode_gb18030};

/// A receipt ready to send: its commands and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    commands: Vec<Command>,
}

impl Receipt {
    /// Starts a receipt with `ESC @`.
    pub fn builder() -> ReceiptBuilder {
        ReceiptBuilder::new()
    }

    /// The commands, in order.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The bytes to send to the printer.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&self.commands)
    }
}

/// Why a receipt cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("QR payload of {0} bytes is empty or longer than {MAX_QR_DATA}")]
    QrPayload(usize),
    #[error("QR module size {0} is outside 1..=16")]
    QrSize(u8),
    #[error("character size {0}x{1} is outside 1..=8")]
    CharSize(u8, u8),
    #[error("image: {0}")]
    Image(#[from] crate::bitmap::BitmapError),
    #[error("receipt description: {0}")]
    Spec(String),
}

/// Builds a [`Receipt`]. Text is encoded as it is added: ASCII as is, other text in the current
/// code page when the table has every character, else in Chinese mode as GB18030. The builder
/// sends `FS &` / `FS .` explicitly before non-ASCII text, since many Chinese-market printers
/// power up in Chinese mode and `ESC @` does not leave it.
#[derive(Debug, Clone)]
pub struct ReceiptBuilder {
    commands: Vec<Command>,
    chinese: Option<bool>,
    code_page: CodePage,
}

impl Default for ReceiptBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceiptBuilder {
    pub fn new() -> Self {
        ReceiptBuilder {
            commands: vec![Command::Init],
            chinese: None,
            code_page: CodePage::Pc437,
        }
    }

    fn push(mut self, c: Command) -> Self {
        self.commands.push(c);
        self
    }

    /// `ESC a n`.
    pub fn align(self, a: Align) -> Self {
        self.push(Command::Align(a))
    }

    /// `ESC E n`.
    pub fn bold(self, on: bool) -> Self {
        self.push(Command::Bold(on))
    }

    /// `ESC - n`, 0 off, 1 thin, 2 thick.
    pub fn underline(self, n: u8) -> Self {
        self.push(Command::Underline(n.min(2)))
    }

    /// `GS ! n`, multipliers 1..=8.
    pub fn size(self, width: u8, height: u8) -> Result<Self, ReceiptError> {
        if !(1..=8).contains(&width) || !(1..=8).contains(&height) {
            return Err(ReceiptError::CharSize(width, height));
        }
        Ok(self.push(Command::CharSize { width, height }))
    }

    /// `FS .` then `ESC t n`: single-byte text in this table from now on.
    pub fn code_page(mut self, cp: CodePage) -> Self {
        if self.chinese != Some(false) {
            self.commands.push(Command::ChineseOff);
            self.chinese = Some(false);
        }
        self.code_page = cp;
        self.push(Command::CodePage(cp.table()))
    }

    /// Adds text to the current line (no line feed).
    pub fn text(mut self, s: &str) -> Self {
        if s.is_empty() {
            return self;
        }
        let bytes = if s.is_ascii() {
            s.as_bytes().to_vec()
        } else if self.chinese == Some(false) && self.code_page.can_encode(s) {
            self.code_page.encode(s)
        } else {
            if self.chinese != Some(true) {
                self.commands.push(Command::ChineseOn);
                self.chinese = Some(true);
            }
            encode_gb18030(s)
        };
        // Control characters inside the text would be read as commands; drop them.
        let bytes: Vec<u8> = bytes.into_iter().filter(|&b| b >= 0x20).collect();
        if let Some(Command::Text(prev)) = self.commands.last_mut() {
            prev.extend_from_slice(&bytes);
            self
        } else if bytes.is_empty() {
            self
        } else {
            self.push(Command::Text(bytes))
        }
    }

    /// `LF`.
    pub fn newline(self) -> Self {
        self.push(Command::LineFeed)
    }

    /// Text then `LF`; each `\n` in `s` starts a new line.
    pub fn line(mut self, s: &str) -> Self {
        for part in s.split('\n') {
            self = self.text(part.trim_end_matches('\r')).newline();
        }
        self
    }

    /// `ESC d n`: feed n lines.
    pub fn feed(self, lines: u8) -> Self {
        self.push(Command::FeedLines(lines))
    }

    /// A QR code (model 2): model, size, error correction, store, print.
    pub fn qr(self, data: &[u8], size: u8, ecc: QrEcc) -> Result<Self, ReceiptError> {
        if data.is_empty() || data.len() > MAX_QR_DATA {
            return Err(ReceiptError::QrPayload(data.len()));
        }
        if !(1..=16).contains(&size) {
            return Err(ReceiptError::QrSize(size));
        }
        Ok(self
            .push(Command::QrModel(0x32))
            .push(Command::QrSize(size))
            .push(Command::QrErrorCorrection(ecc))
            .push(Command::QrStore(data.to_vec()))
            .push(Command::QrPrint))
    }

    /// A raster image, `GS v 0` normal density.
    pub fn image(self, bitmap: &Bitmap) -> Self {
        self.push(Command::Raster {
            mode: 0,
            width_bytes: bitmap.width_bytes(),
            height: bitmap.height(),
            data: bitmap.data().to_vec(),
        })
    }

    /// `GS V`: cut (after `feed` lines fed with `ESC d`, so the last line clears the cutter).
    pub fn cut(self, kind: Cut, feed: u8) -> Self {
        let s = if feed > 0 { self.feed(feed) } else { self };
        s.push(Command::Cut { kind, feed: None })
    }

    /// Any command not covered above (drawer kick, status back…).
    pub fn command(self, c: Command) -> Self {
        self.push(c)
    }

    pub fn build(self) -> Receipt {
        Receipt {
            commands: self.commands,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_text_uses_fs_ampersand_and_gb18030() {
        let r = Receipt::builder().line("您好").build();
        assert_eq!(
            r.to_bytes(),
            [0x1B, 0x40, 0x1C, 0x26, 0xC4, 0xFA, 0xBA, 0xC3, 0x0A]
        );
    }

    #[test]
    fn latin_text_uses_code_page_after_leaving_chinese_mode() {
        let r = Receipt::builder()
            .code_page(CodePage::Wpc1252)
            .line("café")
            .build();
        assert_eq!(
            r.to_bytes(),
            [
                0x1B, 0x40, 0x1C, 0x2E, 0x1B, 0x74, 16, b'c', b'a', b'f', 0xE9, 0x0A
            ]
        );
    }
}
