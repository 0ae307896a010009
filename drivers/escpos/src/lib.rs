//! ESC/POS receipt printers, sans-IO: commands and their bytes, GB18030 text in Chinese mode,
//! single-byte code pages, QR codes (`GS ( k`), raster images (`GS v 0`), real-time status
//! (`DLE EOT n`) and automatic status back (`GS a n`), following
//! `shared/reference/devices.md` §3.
//!
//! * [`Receipt`] / [`ReceiptBuilder`] build the bytes to send.
//! * [`parse`], [`parse_command`] and [`StreamParser`] tokenize bytes back into [`Command`]s;
//!   bad input gives a [`ParseError`], never a panic. [`ReceiptReader`] then plays the
//!   commands as a printer would, giving [`PrintedReceipt`]s with decoded text (GB18030 or the
//!   code page in force), QR payloads, images and cuts. The simulator and the tests use it.
//! * [`PrinterStatus`] is parsed from the four `DLE EOT` replies or an [`AsbStatus`]
//!   message, checking the fixed bits of every byte; [`next_reply`] tells real-time replies,
//!   ASB messages and garbage apart in what the printer sends back.
//!
//! ## Design notes
//!
//! Text is encoded as it is added to the builder: ASCII as is; other text in the selected code
//! page if that table has every character, otherwise in Chinese mode (`FS &`) as GB18030, which
//! covers all of Unicode. The builder always sends `FS &` / `FS .` before non-ASCII text
//! because many Chinese-market printers power up in Chinese mode and `ESC @` does not reset it.
//! Real-time status requests are sent as one batch of four (Epson allows up to eight before
//! reading) and the replies read together, skipping any ASB messages in between.
//!
//! ## Receipt description (JSON)
//!
//! `kioskctl print receipt FILE.json` reads a [`ReceiptSpec`]:
//!
//! ```json
//! {
//!   "code_page": "wpc1252",
//!   "blocks": [
//!     { "text": "市图书馆 借书凭条", "align": "center", "bold": true, "width": 2, "height": 2 },
//!     { "text": "读者: 张**\n日期: 2025-03-01" },
//!     { "feed": 1 },
//!     { "qr": "https://lib.example/r/123", "size": 6, "ecc": "M", "align": "center" },
//!     { "image": "logo.pbm", "align": "center" }
//!   ],
//!   "cut": "partial",
//!   "feed_before_cut": 3
//! }
//! ```
//!
//! * `blocks`: each has exactly one of `text` (lines split on `\n`), `qr` (UTF-8 payload),
//!   `image` (a PBM file, P1 or P4, relative to the JSON file), `feed` (lines), `cut`
//!   (`"full"`/`"partial"`). Optional style: `align` (`left`, `center`, `right`; default left),
//!   and for text `bold`, `underline` (0–2), `width`/`height` (1–8); for QR `size` (1–16,
//!   default 6) and `ecc` (`L`, `M` default, `Q`, `H`). Styles do not carry over between blocks.
//! * `code_page` (optional): `pc437` (default), `iso8859-7`, `wpc1252`, `pc866`, `iso8859-2`,
//!   `iso8859-15`, `wpc1250`, `wpc1251`.
//! * `cut`: `full` (default), `partial` or `none`; `feed_before_cut`: lines, default 3.
//!
//! Unknown fields are rejected so a typo fails loudly. An example with Chinese text is
//! `fixtures/escpos/receipt-example.json`.

mod bitmap;
mod command;
mod reader;
mod receipt;
mod spec;
mod status;
mod text;

pub use bitmap::{Bitmap, BitmapError};
pub use command::{
    Align, Command, Cut, MAX_QR_DATA, MAX_RASTER_BYTES, ParseError, QrEcc, StreamParser, encode,
    parse, parse_command,
};
pub use reader::{
    PrintedItem, PrintedLine, PrintedQr, PrintedReceipt, ReceiptReader, read_receipts,
};
pub use receipt::{Receipt, ReceiptBuilder, ReceiptError};
pub use spec::{Block, EndCut, ReceiptSpec};
pub use status::{
    AsbStatus, PaperLevel, PrinterStatus, Reply, StatusError, StatusRequest, asb, is_asb_header,
    is_real_time_reply, next_reply,
};
pub use text::{CodePage, decode_gb18030, encode_gb18030};
