//! SAM framing (devices.md §1.2), the same in both directions:
//!
//! ```text
//! AA AA AA 96 69 | LEN_H LEN_L | body… | CHK
//! LEN = |body| + 1 (CHK included); CHK = XOR of LEN_H, LEN_L and every body byte
//! ```
//!
//! The body is `CMD PARA [DATA]` from the host and `SW1 SW2 SW3 [DATA]` from the SAM.

use std::fmt;

use zeroize::Zeroize;

/// The five-byte preamble that starts every frame.
pub const PREAMBLE: [u8; 5] = [0xAA, 0xAA, 0xAA, 0x96, 0x69];

/// Bytes before the body: preamble and length.
pub const HEADER_LEN: usize = 7;

/// Largest LEN accepted. The biggest real reply (30 10 with 1024 fingerprint bytes) has
/// LEN = 0x090A; anything far above is a corrupt length, not a frame worth waiting for.
pub const MAX_LEN: usize = 0x0A00;

/// Smallest LEN: a command body (`CMD PARA`) plus CHK.
pub const MIN_LEN: usize = 3;

/// Largest complete frame in bytes.
pub const MAX_FRAME: usize = HEADER_LEN + MAX_LEN;

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Bytes before the preamble. `skipped` bytes can be dropped before trying again.
    #[error("{skipped} bytes of garbage before the frame preamble AA AA AA 96 69")]
    Garbage { skipped: usize },
    /// LEN below the minimum for any frame.
    #[error("frame length {len} is too short (minimum {MIN_LEN})")]
    BadLength { len: usize },
    /// LEN above [`MAX_LEN`].
    #[error("frame length {len} exceeds the maximum {MAX_LEN}")]
    Oversized { len: usize },
    /// The frame ended early (only from [`decode_exact`]; [`decode`] waits for more).
    #[error("truncated frame: {have} of {need} bytes")]
    Truncated { have: usize, need: usize },
    /// CHK does not match the XOR of the frame.
    #[error("bad frame checksum: computed {computed:02X}, received {received:02X}")]
    BadChecksum { computed: u8, received: u8 },
}

/// A decoded frame: the body between LEN and CHK. Zeroized on drop (replies carry card data).
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    body: Vec<u8>,
}

impl Frame {
    /// A frame around `body`.
    pub fn new(body: Vec<u8>) -> Self {
        Frame { body }
    }

    /// The body (`CMD PARA DATA` or `SW1 SW2 SW3 DATA`).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The frame on the wire.
    pub fn encode(&self) -> Vec<u8> {
        encode_frame(&self.body)
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.body.zeroize();
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first three bytes (command or status words) are never personal data.
        let head = &self.body[..self.body.len().min(3)];
        write!(
            f,
            "Frame {{ head: {head:02X?}, body_len: {} }}",
            self.body.len()
        )
    }
}

/// XOR of `bytes` (the CHK of §1.2 when given LEN and body).
pub fn xor(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |a, b| a ^ b)
}

/// Wraps `body` in preamble, length and checksum.
///
/// # Panics
/// If `body` is longer than [`MAX_LEN`]` - 1`; no command or reply of the protocol is.
pub fn encode_frame(body: &[u8]) -> Vec<u8> {
    assert!(body.len() < MAX_LEN, "SAM frame body too long");
    let len = (body.len() + 1) as u16;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + 1);
    out.extend_from_slice(&PREAMBLE);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out.push(xor(&out[PREAMBLE.len()..]));
    out
}

/// Incremental decoder: looks at the bytes received so far.
///
/// * `None`: a frame has started (or nothing yet) and more bytes are needed.
/// * `Some(Ok((frame, used)))`: a complete frame in the first `used` bytes.
/// * `Some(Err(e))`: the bytes at the front are not a valid frame. For
///   [`FrameError::Garbage`] drop `skipped` bytes and call again; for the others drop the
///   bytes up to the next preamble (see [`resync`]).
///
/// Usable directly as the parser of `kiosk_transport::read_frame`.
pub fn decode(buf: &[u8]) -> Option<Result<(Frame, usize), FrameError>> {
    let garbage = garbage_len(buf);
    if garbage > 0 {
        return Some(Err(FrameError::Garbage { skipped: garbage }));
    }
    if buf.len() < HEADER_LEN {
        return None;
    }
    let len = u16::from_be_bytes([buf[5], buf[6]]) as usize;
    if len < MIN_LEN {
        return Some(Err(FrameError::BadLength { len }));
    }
    if len > MAX_LEN {
        return Some(Err(FrameError::Oversized { len }));
    }
    let total = HEADER_LEN + len;
    if buf.len() < total {
        return None;
    }
    let computed = xor(&buf[PREAMBLE.len()..total - 1]);
    let received = buf[total - 1];
    if computed != received {
        return Some(Err(FrameError::BadChecksum { computed, received }));
    }
    Some(Ok((Frame::new(buf[HEADER_LEN..total - 1].to_vec()), total)))
}

/// Decodes one whole frame from `buf` (trailing bytes ignored); a short buffer is
/// [`FrameError::Truncated`].
pub fn decode_exact(buf: &[u8]) -> Result<(Frame, usize), FrameError> {
    match decode(buf) {
        Some(r) => r,
        None => {
            let need = if buf.len() >= HEADER_LEN {
                HEADER_LEN + u16::from_be_bytes([buf[5], buf[6]]) as usize
            } else {
                HEADER_LEN
            };
            Err(FrameError::Truncated {
                have: buf.len(),
                need,
            })
        }
    }
}

/// How many bytes at the front of `buf` cannot start a frame: everything before the first
/// position where the preamble (or, at the very end, a prefix of it) begins.
fn garbage_len(buf: &[u8]) -> usize {
    (0..buf.len())
        .find(|&i| {
            let rest = &buf[i..];
            let n = rest.len().min(PREAMBLE.len());
            rest[..n] == PREAMBLE[..n]
        })
        .unwrap_or(buf.len())
}

/// Where to restart after a bad frame at the front of `buf`: the next preamble after the
/// first byte, or the end of the buffer (keeping a trailing partial preamble).
pub fn resync(buf: &[u8]) -> usize {
    if buf.is_empty() {
        return 0;
    }
    1 + garbage_len(&buf[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn encodes_golden_commands() {
        assert_eq!(
            encode_frame(&[0x11, 0xFF]),
            hex("AA AA AA 96 69 00 03 11 FF ED")
        );
        assert_eq!(
            encode_frame(&[0x20, 0x01]),
            hex("AA AA AA 96 69 00 03 20 01 22")
        );
        assert_eq!(
            encode_frame(&[0x30, 0x10]),
            hex("AA AA AA 96 69 00 03 30 10 23")
        );
    }

    #[test]
    fn decodes_golden_reply_and_reports_used() {
        let mut bytes = hex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97");
        bytes.extend_from_slice(&[0xAA, 0xAA]);
        let (frame, used) = decode(&bytes).unwrap().unwrap();
        assert_eq!(used, 15);
        assert_eq!(frame.body(), &[0, 0, 0x9F, 0, 0, 0, 0]);
    }

    #[test]
    fn waits_for_more_bytes_on_every_prefix() {
        let bytes = hex("AA AA AA 96 69 00 04 00 00 90 94");
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n]), None, "prefix {n}");
        }
        assert_eq!(
            decode_exact(&bytes[..9]),
            Err(FrameError::Truncated { have: 9, need: 11 })
        );
    }

    #[test]
    fn reports_garbage_bad_checksum_and_lengths() {
        // Garbage then a frame (one Qt sample shows `AA 00 AA AA 96 69 …`).
        let bytes = hex("AA 00 AA AA AA 96 69 00 04 00 00 90 94");
        assert_eq!(
            decode(&bytes),
            Some(Err(FrameError::Garbage { skipped: 2 }))
        );
        assert!(decode(&bytes[2..]).unwrap().is_ok());
        assert_eq!(
            decode(b"hello"),
            Some(Err(FrameError::Garbage { skipped: 5 }))
        );
        assert_eq!(
            decode(&hex("AA AA AA 96 69 00 04 00 00 90 95")),
            Some(Err(FrameError::BadChecksum {
                computed: 0x94,
                received: 0x95
            }))
        );
        assert_eq!(
            decode(&hex("AA AA AA 96 69 00 01 00")),
            Some(Err(FrameError::BadLength { len: 1 }))
        );
        assert_eq!(
            decode(&hex("AA AA AA 96 69 FF FF")),
            Some(Err(FrameError::Oversized { len: 0xFFFF }))
        );
    }

    #[test]
    fn resync_finds_the_next_preamble() {
        let bytes = hex("AA AA AA 96 69 00 04 00 00 90 95 AA AA AA 96 69");
        assert_eq!(resync(&bytes), 11);
        assert_eq!(resync(&hex("AA AA AA 96 69 00")), 6);
        assert_eq!(resync(&hex("AA AA AA 96 69 AA AA")), 5);
    }

    #[test]
    fn debug_shows_only_status_words() {
        let f = Frame::new(vec![0, 0, 0x90, 0x20, 0x5F]);
        assert_eq!(
            format!("{f:?}"),
            "Frame { head: [00, 00, 90], body_len: 5 }"
        );
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn round_trip(body in proptest::collection::vec(any::<u8>(), 2..600)) {
                let wire = encode_frame(&body);
                let (frame, used) = decode(&wire).unwrap().unwrap();
                prop_assert_eq!(used, wire.len());
                prop_assert_eq!(frame.body(), &body[..]);
            }

            #[test]
            fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
                let _ = decode(&bytes);
                let _ = decode_exact(&bytes);
                let _ = resync(&bytes);
            }

            #[test]
            fn never_panics_after_preamble(rest in proptest::collection::vec(any::<u8>(), 0..64)) {
                let mut bytes = PREAMBLE.to_vec();
                bytes.extend_from_slice(&rest);
                match decode(&bytes) {
                    Some(Ok((_, used))) => prop_assert!(used <= bytes.len()),
                    Some(Err(FrameError::Garbage { .. })) => prop_assert!(false, "preamble is not garbage"),
                    _ => {}
                }
            }

            #[test]
            fn flipped_byte_is_detected(body in proptest::collection::vec(any::<u8>(), 2..100), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
                let mut wire = encode_frame(&body);
                // Flip a bit after the preamble: LEN, body or CHK.
                let i = PREAMBLE.len() + pos.index(wire.len() - PREAMBLE.len());
                wire[i] ^= 1 << bit;
                if let Some(Ok((f, _))) = decode(&wire) {
                    prop_assert!(f.body() != &body[..]);
                }
            }
        }
    }
}
