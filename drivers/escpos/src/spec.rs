//! The JSON receipt description used by `kioskctl print receipt FILE.json` and by flows that
//! print from templates. See the crate docs for the format.

use std::path::Path;

use serde::Deserialize;

use crate::bitmap::Bitmap;
use crate::command::{Align, Cut, QrEcc};
use crate::receipt::{Receipt, ReceiptBuilder, ReceiptError};
use crate::text::CodePage;

/// A receipt described as data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptSpec {
    /// Table for non-Chinese, non-ASCII text (e.g. "wpc1252"); Chinese text always uses GB18030.
    #[serde(default)]
    pub code_page: Option<CodePage>,
    /// What to print, top to bottom.
    pub blocks: Vec<Block>,
    /// How to cut at the end: "full" (default), "partial" or "none".
    #[serde(default)]
    pub cut: EndCut,
    /// Lines fed before the cut so the last line clears the cutter (default 3).
    #[serde(default = "default_feed")]
    pub feed_before_cut: u8,
}

fn default_feed() -> u8 {
    3
}

/// The cut at the end of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndCut {
    #[default]
    Full,
    Partial,
    None,
}

/// One block: exactly one of `text`, `qr`, `image`, `feed`, `cut`, with optional style.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// Text lines (`\n` splits lines).
    pub text: Option<String>,
    /// QR payload (UTF-8).
    pub qr: Option<String>,
    /// A PBM image (P1 or P4), relative to the JSON file.
    pub image: Option<String>,
    /// Blank lines to feed.
    pub feed: Option<u8>,
    /// A cut in the middle of the stream.
    pub cut: Option<Cut>,
    pub align: Option<Align>,
    pub bold: Option<bool>,
    pub underline: Option<u8>,
    /// Character width multiplier 1..=8 (text).
    pub width: Option<u8>,
    /// Character height multiplier 1..=8 (text).
    pub height: Option<u8>,
    /// QR module size 1..=16 (default 6).
    pub size: Option<u8>,
    /// QR error correction "L", "M" (default), "Q", "H".
    pub ecc: Option<QrEcc>,
}

struct Style {
    align: Align,
    bold: bool,
    underline: u8,
    size: (u8, u8),
}

impl ReceiptSpec {
    /// Parses the JSON text.
    pub fn from_json(json: &str) -> Result<ReceiptSpec, ReceiptError> {
        serde_json::from_str(json).map_err(|e| ReceiptError::Spec(e.to_string()))
    }

    /// Builds the receipt; images are read relative to `base_dir`.
    pub fn build(&self, base_dir: &Path) -> Result<Receipt, ReceiptError> {
        let mut b = Receipt::builder();
        if let Some(cp) = self.code_page {
            b = b.code_page(cp);
        }
        let mut style = Style {
            align: Align::Left,
            bold: false,
            underline: 0,
            size: (1, 1),
        };
        for (i, block) in self.blocks.iter().enumerate() {
            let kinds = [
                block.text.is_some(),
                block.qr.is_some(),
                block.image.is_some(),
                block.feed.is_some(),
                block.cut.is_some(),
            ];
            if kinds.iter().filter(|k| **k).count() != 1 {
                return Err(ReceiptError::Spec(format!(
                    "block {} needs exactly one of text, qr, image, feed, cut",
                    i + 1
                )));
            }
            let align = block.align.unwrap_or(Align::Left);
            if align != style.align {
                b = b.align(align);
                style.align = align;
            }
            if let Some(text) = &block.text {
                let bold = block.bold.unwrap_or(false);
                let underline = block.underline.unwrap_or(0).min(2);
                let size = (block.width.unwrap_or(1), block.height.unwrap_or(1));
                if bold != style.bold {
                    b = b.bold(bold);
                    style.bold = bold;
                }
                if underline != style.underline {
                    b = b.underline(underline);
                    style.underline = underline;
                }
                if size != style.size {
                    b = b.size(size.0, size.1)?;
                    style.size = size;
                }
                b = b.line(text);
            } else if let Some(qr) = &block.qr {
                b = b.qr(
                    qr.as_bytes(),
                    block.size.unwrap_or(6),
                    block.ecc.unwrap_or_default(),
                )?;
            } else if let Some(image) = &block.image {
                let path = base_dir.join(image);
                let bytes = std::fs::read(&path).map_err(|e| {
                    ReceiptError::Spec(format!("block {}: {}: {e}", i + 1, path.display()))
                })?;
                b = b.image(&Bitmap::from_pbm(&bytes)?);
            } else if let Some(n) = block.feed {
                b = b.feed(n);
            } else if let Some(kind) = block.cut {
                b = b.cut(kind, self.feed_before_cut);
            }
        }
        Ok(finish(b, self.cut, self.feed_before_cut))
    }
}

fn finish(b: ReceiptBuilder, cut: EndCut, feed: u8) -> Receipt {
    match cut {
        EndCut::Full => b.cut(Cut::Full, feed),
        EndCut::Partial => b.cut(Cut::Partial, feed),
        EndCut::None => b.feed(feed),
    }
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_typos_and_ambiguous_blocks() {
        assert!(ReceiptSpec::from_json(r#"{"blocks":[{"txt":"x"}]}"#).is_err());
        let spec = ReceiptSpec::from_json(r#"{"blocks":[{"text":"x","qr":"y"}]}"#).unwrap();
        assert!(spec.build(Path::new(".")).is_err());
    }
}
