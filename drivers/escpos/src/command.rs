//! ESC/POS commands as values, their bytes, and a tokenizer that turns a byte stream back into
//! commands (devices.md §3.1). The tokenizer never panics: unknown, malformed or truncated
//! commands come back as a [`ParseError`].

use serde::{Deserialize, Serialize};

pub(crate) const ESC: u8 = 0x1B;
pub(crate) const GS: u8 = 0x1D;
pub(crate) const FS: u8 = 0x1C;
pub(crate) const DLE: u8 = 0x10;
pub(crate) const EOT: u8 = 0x04;
pub(crate) const LF: u8 = 0x0A;
pub(crate) const CR: u8 = 0x0D;
pub(crate) const HT: u8 = 0x09;

/// Largest QR payload a model 2 symbol holds (numeric, level L).
pub const MAX_QR_DATA: usize = 7089;
/// Largest raster image the tokenizer accepts (bytes of dot data), so a corrupt header cannot
/// make a reader wait for megabytes that never come.
pub const MAX_RASTER_BYTES: usize = 1 << 20;

/// Horizontal alignment, `ESC a n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// QR error correction level, `GS ( k` fn 69 (`0x30..=0x33`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum QrEcc {
    L,
    #[default]
    M,
    Q,
    H,
}

/// How the paper is cut, `GS V`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cut {
    Full,
    Partial,
}

/// One ESC/POS command, or a run of printable bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Printable bytes (`>= 0x20`); their meaning depends on Chinese mode and the code page.
    Text(Vec<u8>),
    /// `LF`: print the line buffer and feed one line.
    LineFeed,
    /// `CR` (ignored by most printers in auto-LF-off mode).
    CarriageReturn,
    /// `HT`: horizontal tab.
    Tab,
    /// `ESC @`: initialise.
    Init,
    /// `ESC a n`.
    Align(Align),
    /// `ESC E n`.
    Bold(bool),
    /// `ESC - n`, n = 0 off, 1 thin, 2 thick.
    Underline(u8),
    /// `ESC ! n`: print mode bits (0x08 bold, 0x10 double height, 0x20 double width, 0x80 underline).
    PrintMode(u8),
    /// `GS ! n`: character size, width and height multipliers 1..=8.
    CharSize { width: u8, height: u8 },
    /// `ESC d n`: print and feed n lines.
    FeedLines(u8),
    /// `ESC t n`: select the single-byte code page table.
    CodePage(u8),
    /// `FS &`: enter Chinese (double-byte) mode.
    ChineseOn,
    /// `FS .`: leave Chinese mode.
    ChineseOff,
    /// `ESC p m t1 t2`: drawer kick pulse.
    DrawerKick { pin: u8, on: u8, off: u8 },
    /// `GS ( k … 31 41`: QR model (0x31 model 1, 0x32 model 2, 0x33 micro).
    QrModel(u8),
    /// `GS ( k … 31 43 n`: module size in dots.
    QrSize(u8),
    /// `GS ( k … 31 45 n`: error correction level.
    QrErrorCorrection(QrEcc),
    /// `GS ( k … 31 50 30 d…`: store the payload.
    QrStore(Vec<u8>),
    /// `GS ( k … 31 51 30`: print the stored symbol.
    QrPrint,
    /// `GS v 0 m xL xH yL yH d…`: raster bit image; `width_bytes` per row, `height` dot rows.
    Raster {
        mode: u8,
        width_bytes: u16,
        height: u16,
        data: Vec<u8>,
    },
    /// `GS V m` / `GS V m n`: cut, with `feed` dots fed first for the `A`/`B` forms.
    Cut { kind: Cut, feed: Option<u8> },
    /// `DLE EOT n`: real-time status request, n = 1..=4.
    StatusRequest(u8),
    /// `GS a n`: automatic status back enable mask.
    AutoStatusBack(u8),
    /// `GS r n`: transmit status (1 paper, 2 drawer).
    TransmitStatus(u8),
}

/// Why bytes are not a valid ESC/POS command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The command is not complete yet; `needed` more bytes at least.
    #[error("truncated command at byte {offset}: {needed} more byte(s) needed")]
    Truncated { offset: usize, needed: usize },
    /// A prefix (`ESC`, `GS`, `FS`, `DLE`) followed by a byte this tokenizer does not know.
    #[error("unknown command {prefix:02X} {code:02X} at byte {offset}")]
    Unknown { offset: usize, prefix: u8, code: u8 },
    /// A control byte that starts no command.
    #[error("unexpected control byte {byte:02X} at byte {offset}")]
    UnexpectedByte { offset: usize, byte: u8 },
    /// A known command with an argument out of range.
    #[error("bad argument for {command} at byte {offset}: {detail}")]
    BadArgument {
        offset: usize,
        command: &'static str,
        detail: String,
    },
    /// A length field larger than the tokenizer accepts.
    #[error("{command} at byte {offset} declares {len} bytes (limit {limit})")]
    Oversized {
        offset: usize,
        command: &'static str,
        len: usize,
        limit: usize,
    },
}

impl ParseError {
    /// Whether more bytes could complete the command.
    pub fn is_truncated(&self) -> bool {
        matches!(self, ParseError::Truncated { .. })
    }
}

impl Command {
    /// Appends this command's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Command::Text(t) => out.extend_from_slice(t),
            Command::LineFeed => out.push(LF),
            Command::CarriageReturn => out.push(CR),
            Command::Tab => out.push(HT),
            Command::Init => out.extend_from_slice(&[ESC, b'@']),
            Command::Align(a) => out.extend_from_slice(&[ESC, b'a', *a as u8]),
            Command::Bold(b) => out.extend_from_slice(&[ESC, b'E', *b as u8]),
            Command::Underline(n) => out.extend_from_slice(&[ESC, b'-', *n]),
            Command::PrintMode(n) => out.extend_from_slice(&[ESC, b'!', *n]),
            Command::CharSize { width, height } => out.extend_from_slice(&[
                GS,
                b'!',
                ((width.clamp(&1, &8) - 1) << 4) | (height.clamp(&1, &8) - 1),
            ]),
            Command::FeedLines(n) => out.extend_from_slice(&[ESC, b'd', *n]),
            Command::CodePage(n) => out.extend_from_slice(&[ESC, b't', *n]),
            Command::ChineseOn => out.extend_from_slice(&[FS, b'&']),
            Command::ChineseOff => out.extend_from_slice(&[FS, b'.']),
            Command::DrawerKick { pin, on, off } => {
                out.extend_from_slice(&[ESC, b'p', *pin, *on, *off])
            }
            Command::QrModel(m) => qr(out, 0x41, &[*m, 0]),
            Command::QrSize(n) => qr(out, 0x43, &[*n]),
            Command::QrErrorCorrection(e) => qr(out, 0x45, &[0x30 + *e as u8]),
            Command::QrStore(data) => {
                let mut params = Vec::with_capacity(data.len() + 1);
                params.push(0x30);
                params.extend_from_slice(data);
                qr(out, 0x50, &params)
            }
            Command::QrPrint => qr(out, 0x51, &[0x30]),
            Command::Raster {
                mode,
                width_bytes,
                height,
                data,
            } => {
                out.extend_from_slice(&[GS, b'v', b'0', *mode]);
                out.extend_from_slice(&width_bytes.to_le_bytes());
                out.extend_from_slice(&height.to_le_bytes());
                out.extend_from_slice(data);
            }
            Command::Cut { kind, feed } => match (kind, feed) {
                (Cut::Full, None) => out.extend_from_slice(&[GS, b'V', 0x00]),
                (Cut::Partial, None) => out.extend_from_slice(&[GS, b'V', 0x01]),
                (Cut::Full, Some(n)) => out.extend_from_slice(&[GS, b'V', 0x41, *n]),
                (Cut::Partial, Some(n)) => out.extend_from_slice(&[GS, b'V', 0x42, *n]),
            },
            Command::StatusRequest(n) => out.extend_from_slice(&[DLE, EOT, *n]),
            Command::AutoStatusBack(n) => out.extend_from_slice(&[GS, b'a', *n]),
            Command::TransmitStatus(n) => out.extend_from_slice(&[GS, b'r', *n]),
        }
    }

    /// This command's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }
}

/// `GS ( k pL pH cn=49 fn params`, pL + 256·pH = params + 2.
fn qr(out: &mut Vec<u8>, func: u8, params: &[u8]) {
    let len = (params.len() + 2) as u16;
    out.extend_from_slice(&[GS, b'(', b'k']);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0x31, func]);
    out.extend_from_slice(params);
}

/// Encodes a list of commands.
pub fn encode(commands: &[Command]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in commands {
        c.encode_into(&mut out);
    }
    out
}

fn need(buf: &[u8], n: usize, offset: usize) -> Result<(), ParseError> {
    if buf.len() < n {
        Err(ParseError::Truncated {
            offset,
            needed: n - buf.len(),
        })
    } else {
        Ok(())
    }
}

fn bad(offset: usize, command: &'static str, detail: impl Into<String>) -> ParseError {
    ParseError::BadArgument {
        offset,
        command,
        detail: detail.into(),
    }
}

/// Reads one command from the front of `buf` (which starts at stream position `offset`, used
/// in error messages). Returns the command and how many bytes it used.
///
/// A run of text ends at the first control byte or the end of `buf`, so a stream split in the
/// middle of text yields two `Text` commands.
pub fn parse_command(buf: &[u8], offset: usize) -> Result<(Command, usize), ParseError> {
    need(buf, 1, offset)?;
    let b0 = buf[0];
    match b0 {
        0x20..=0xFF => {
            let n = buf.iter().take_while(|&&b| b >= 0x20).count();
            Ok((Command::Text(buf[..n].to_vec()), n))
        }
        LF => Ok((Command::LineFeed, 1)),
        CR => Ok((Command::CarriageReturn, 1)),
        HT => Ok((Command::Tab, 1)),
        ESC => parse_esc(buf, offset),
        GS => parse_gs(buf, offset),
        FS => {
            need(buf, 2, offset)?;
            match buf[1] {
                b'&' => Ok((Command::ChineseOn, 2)),
                b'.' => Ok((Command::ChineseOff, 2)),
                code => Err(ParseError::Unknown {
                    offset,
                    prefix: FS,
                    code,
                }),
            }
        }
        DLE => {
            need(buf, 2, offset)?;
            if buf[1] != EOT {
                return Err(ParseError::Unknown {
                    offset,
                    prefix: DLE,
                    code: buf[1],
                });
            }
            need(buf, 3, offset)?;
            match buf[2] {
                n @ 1..=4 => Ok((Command::StatusRequest(n), 3)),
                n => Err(bad(offset, "DLE EOT", format!("n = {n}, expected 1..=4"))),
            }
        }
        byte => Err(ParseError::UnexpectedByte { offset, byte }),
    }
}

fn parse_esc(buf: &[u8], offset: usize) -> Result<(Command, usize), ParseError> {
    need(buf, 2, offset)?;
    let code = buf[1];
    if code == b'@' {
        return Ok((Command::Init, 2));
    }
    if code == b'p' {
        need(buf, 5, offset)?;
        return Ok((
            Command::DrawerKick {
                pin: buf[2],
                on: buf[3],
                off: buf[4],
            },
            5,
        ));
    }
    if !matches!(code, b'a' | b'E' | b'-' | b'!' | b'd' | b't') {
        return Err(ParseError::Unknown {
            offset,
            prefix: ESC,
            code,
        });
    }
    need(buf, 3, offset)?;
    let n = buf[2];
    let cmd = match code {
        b'a' => Command::Align(match n {
            0 | 0x30 => Align::Left,
            1 | 0x31 => Align::Center,
            2 | 0x32 => Align::Right,
            _ => return Err(bad(offset, "ESC a", format!("n = {n}"))),
        }),
        b'E' => Command::Bold(n & 1 == 1),
        b'-' => match n {
            0..=2 => Command::Underline(n),
            0x30..=0x32 => Command::Underline(n - 0x30),
            _ => return Err(bad(offset, "ESC -", format!("n = {n}"))),
        },
        b'!' => Command::PrintMode(n),
        b'd' => Command::FeedLines(n),
        _ => Command::CodePage(n),
    };
    Ok((cmd, 3))
}

fn parse_gs(buf: &[u8], offset: usize) -> Result<(Command, usize), ParseError> {
    need(buf, 2, offset)?;
    match buf[1] {
        b'!' => {
            need(buf, 3, offset)?;
            let n = buf[2];
            if n & 0x88 != 0 {
                return Err(bad(offset, "GS !", format!("n = {n:02X}")));
            }
            Ok((
                Command::CharSize {
                    width: (n >> 4) + 1,
                    height: (n & 0x07) + 1,
                },
                3,
            ))
        }
        b'a' => {
            need(buf, 3, offset)?;
            Ok((Command::AutoStatusBack(buf[2]), 3))
        }
        b'r' => {
            need(buf, 3, offset)?;
            match buf[2] {
                n @ (1 | 2 | 0x31 | 0x32) => Ok((Command::TransmitStatus(n & 0x0F), 3)),
                n => Err(bad(offset, "GS r", format!("n = {n}"))),
            }
        }
        b'V' => {
            need(buf, 3, offset)?;
            match buf[2] {
                0 | 0x30 => Ok((
                    Command::Cut {
                        kind: Cut::Full,
                        feed: None,
                    },
                    3,
                )),
                1 | 0x31 => Ok((
                    Command::Cut {
                        kind: Cut::Partial,
                        feed: None,
                    },
                    3,
                )),
                m @ (0x41 | 0x42) => {
                    need(buf, 4, offset)?;
                    let kind = if m == 0x41 { Cut::Full } else { Cut::Partial };
                    Ok((
                        Command::Cut {
                            kind,
                            feed: Some(buf[3]),
                        },
                        4,
                    ))
                }
                m => Err(bad(offset, "GS V", format!("m = {m}"))),
            }
        }
        b'v' => {
            need(buf, 8, offset)?;
            if buf[2] != b'0' {
                return Err(bad(
                    offset,
                    "GS v",
                    format!("expected '0', got {:02X}", buf[2]),
                ));
            }
            let mode = buf[3];
            if !matches!(mode, 0..=3 | 0x30..=0x33) {
                return Err(bad(offset, "GS v 0", format!("m = {mode}")));
            }
            let width_bytes = u16::from_le_bytes([buf[4], buf[5]]);
            let height = u16::from_le_bytes([buf[6], buf[7]]);
            let len = width_bytes as usize * height as usize;
            if len > MAX_RASTER_BYTES {
                return Err(ParseError::Oversized {
                    offset,
                    command: "GS v 0",
                    len,
                    limit: MAX_RASTER_BYTES,
                });
            }
            need(buf, 8 + len, offset)?;
            Ok((
                Command::Raster {
                    mode: mode & 0x0F,
                    width_bytes,
                    height,
                    data: buf[8..8 + len].to_vec(),
                },
                8 + len,
            ))
        }
        b'(' => parse_gs_paren(buf, offset),
        code => Err(ParseError::Unknown {
            offset,
            prefix: GS,
            code,
        }),
    }
}

fn parse_gs_paren(buf: &[u8], offset: usize) -> Result<(Command, usize), ParseError> {
    need(buf, 3, offset)?;
    if buf[2] != b'k' {
        return Err(ParseError::Unknown {
            offset,
            prefix: GS,
            code: b'(',
        });
    }
    need(buf, 5, offset)?;
    let len = u16::from_le_bytes([buf[3], buf[4]]) as usize;
    if len < 2 {
        return Err(bad(offset, "GS ( k", format!("pL/pH length {len} < 2")));
    }
    if len > MAX_QR_DATA + 3 {
        return Err(ParseError::Oversized {
            offset,
            command: "GS ( k",
            len,
            limit: MAX_QR_DATA + 3,
        });
    }
    need(buf, 5 + len, offset)?;
    let body = &buf[5..5 + len];
    let (cn, func, params) = (body[0], body[1], &body[2..]);
    if cn != 0x31 {
        return Err(bad(
            offset,
            "GS ( k",
            format!("symbol cn = {cn:02X}, only QR (31) is supported"),
        ));
    }
    let used = 5 + len;
    let one = |name: &'static str| -> Result<u8, ParseError> {
        match params {
            [n] => Ok(*n),
            _ => Err(bad(
                offset,
                name,
                format!("{} parameter bytes", params.len()),
            )),
        }
    };
    let cmd = match func {
        0x41 => match params {
            [m @ 0x31..=0x33, 0] => Command::QrModel(*m),
            _ => return Err(bad(offset, "QR model", format!("{params:02X?}"))),
        },
        0x43 => match one("QR size")? {
            n @ 1..=16 => Command::QrSize(n),
            n => return Err(bad(offset, "QR size", format!("n = {n}"))),
        },
        0x45 => Command::QrErrorCorrection(match one("QR error correction")? {
            0x30 => QrEcc::L,
            0x31 => QrEcc::M,
            0x32 => QrEcc::Q,
            0x33 => QrEcc::H,
            n => return Err(bad(offset, "QR error correction", format!("n = {n}"))),
        }),
        0x50 => match params {
            [0x30, data @ ..] => Command::QrStore(data.to_vec()),
            _ => return Err(bad(offset, "QR store", "m must be 30")),
        },
        0x51 => match one("QR print")? {
            0x30 => Command::QrPrint,
            n => return Err(bad(offset, "QR print", format!("m = {n}"))),
        },
        f => return Err(bad(offset, "GS ( k", format!("QR function {f:02X}"))),
    };
    Ok((cmd, used))
}

/// Tokenizes a complete stream. Stops at the first error.
pub fn parse(bytes: &[u8]) -> Result<Vec<Command>, ParseError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (cmd, used) = parse_command(&bytes[pos..], pos)?;
        pos += used;
        out.push(cmd);
    }
    Ok(out)
}

/// A streaming tokenizer for a device side: feed bytes as they arrive, take commands out.
/// Invalid bytes are skipped one at a time (reported as errors); a truncated command waits for
/// more bytes.
#[derive(Debug, Default)]
pub struct StreamParser {
    buf: Vec<u8>,
    consumed: usize,
}

impl StreamParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet tokenized.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Next command, an error for skipped bytes, or `None` when more bytes are needed.
    /// A text run at the end of the buffer is returned as soon as it is seen.
    pub fn next_command(&mut self) -> Option<Result<Command, ParseError>> {
        if self.buf.is_empty() {
            return None;
        }
        match parse_command(&self.buf, self.consumed) {
            Ok((cmd, used)) => {
                self.buf.drain(..used);
                self.consumed += used;
                Some(Ok(cmd))
            }
            Err(e) if e.is_truncated() => None,
            Err(e) => {
                self.buf.drain(..1);
                self.consumed += 1;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_hello_matches_device_vectors() {
        let cmds = [
            Command::QrModel(0x32),
            Command::QrSize(6),
            Command::QrErrorCorrection(QrEcc::M),
            Command::QrStore(b"HELLO".to_vec()),
            Command::QrPrint,
        ];
        let expected = "1D 28 6B 04 00 31 41 32 00 1D 28 6B 03 00 31 43 06 1D 28 6B 03 00 31 45 31 \
                        1D 28 6B 08 00 31 50 30 48 45 4C 4C 4F 1D 28 6B 03 00 31 51 30";
        let bytes = encode(&cmds);
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(
            hex.join(" "),
            expected.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        assert_eq!(parse(&bytes).unwrap(), cmds);
    }

    #[test]
    fn typed_errors_for_bad_input() {
        assert!(matches!(parse(&[ESC]), Err(ParseError::Truncated { .. })));
        assert!(matches!(
            parse(&[ESC, b'Z', 0]),
            Err(ParseError::Unknown { code: b'Z', .. })
        ));
        assert!(matches!(
            parse(&[0x00]),
            Err(ParseError::UnexpectedByte { .. })
        ));
        assert!(matches!(
            parse(&[GS, b'v', b'0', 0, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(ParseError::Oversized { .. })
        ));
        assert!(matches!(
            parse(&[DLE, EOT, 9]),
            Err(ParseError::BadArgument { .. })
        ));
    }

    #[test]
    fn stream_parser_waits_for_truncated_and_skips_garbage() {
        let mut p = StreamParser::new();
        p.push(&[0x00, GS, b'V']);
        assert!(matches!(p.next_command(), Some(Err(_))));
        assert!(p.next_command().is_none());
        p.push(&[0x41, 3]);
        assert_eq!(
            p.next_command(),
            Some(Ok(Command::Cut {
                kind: Cut::Full,
                feed: Some(3)
            }))
        );
        assert!(p.next_command().is_none());
    }
}
