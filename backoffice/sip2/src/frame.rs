//! Byte-level framing (library.md §1.1, §1.8): a message ends at CR. The framer is liberal in
//! what it accepts: CR, CR LF (Koha's default), a lone LF, stray LFs or CRs between messages and
//! messages split across any number of reads ("reassemble by terminator, never by `recv()`").
//! Framing works on bytes only; text is decoded after a whole frame is there, so a multi-byte
//! UTF-8 or GB18030 character split between two reads is never a problem (CR and LF are never
//! part of a multi-byte sequence in UTF-8, GB18030 or CP850).

/// The largest frame accepted by default. SIP2 messages are a few hundred bytes; a patron
/// information response with long item lists stays well under this.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024;

/// Framing failures. The framer recovers by itself: after an error the next call goes on with
/// the bytes after the offending frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// More than the maximum arrived without a terminator; those bytes were dropped up to the
    /// next terminator.
    #[error("SIP2 frame longer than {max} bytes without a terminator")]
    Oversized { max: usize },
}

/// Splits a byte stream into messages (terminators removed).
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    max: usize,
    /// Dropping an oversized frame until its terminator.
    discarding: bool,
    stray: u64,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(DEFAULT_MAX_FRAME)
    }
}

impl Framer {
    /// A framer that refuses frames longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Framer {
            buf: Vec::new(),
            max: max.max(8),
            discarding: false,
            stray: 0,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not a whole frame yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// How many stray terminator bytes (the LF of CR LF, blank lines) were skipped so far.
    pub fn stray_terminators(&self) -> u64 {
        self.stray
    }

    /// Forgets everything held (after a reconnect).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.discarding = false;
    }

    /// The next complete frame, if one is there.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        loop {
            let end = self.buf.iter().position(|b| *b == b'\r' || *b == b'\n');
            match end {
                None => {
                    if self.buf.len() > self.max {
                        self.buf.clear();
                        if !self.discarding {
                            self.discarding = true;
                            return Some(Err(FrameError::Oversized { max: self.max }));
                        }
                    }
                    return None;
                }
                Some(end) => {
                    let frame: Vec<u8> = self.buf.drain(..=end).take(end).collect();
                    if self.discarding {
                        self.discarding = false;
                        continue;
                    }
                    if frame.is_empty() {
                        self.stray += 1;
                        continue;
                    }
                    if frame.len() > self.max {
                        return Some(Err(FrameError::Oversized { max: self.max }));
                    }
                    return Some(Ok(frame));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &mut Framer) -> Vec<Result<Vec<u8>, FrameError>> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    #[test]
    fn cr_crlf_lf_and_stray_lf() {
        let mut f = Framer::default();
        f.push(b"\n941\r981\r\n\n24x\n25y\r");
        let got: Vec<Vec<u8>> = all(&mut f).into_iter().map(Result::unwrap).collect();
        assert_eq!(
            got,
            vec![
                b"941".to_vec(),
                b"981".to_vec(),
                b"24x".to_vec(),
                b"25y".to_vec()
            ]
        );
        assert_eq!(f.stray_terminators(), 3);
    }

    #[test]
    fn split_reads_byte_by_byte() {
        let msg = "24              01920261128    192744AE张三|\r\n".as_bytes();
        let mut f = Framer::default();
        let mut out = Vec::new();
        for b in msg {
            f.push(std::slice::from_ref(b));
            while let Some(r) = f.next_frame() {
                out.push(r.unwrap());
            }
        }
        assert_eq!(out, vec![msg[..msg.len() - 2].to_vec()]);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn oversized_frames_are_dropped_and_the_stream_recovers() {
        let mut f = Framer::new(16);
        f.push(&[b'x'; 40]);
        assert_eq!(f.next_frame(), Some(Err(FrameError::Oversized { max: 16 })));
        f.push(&[b'x'; 40]);
        assert_eq!(f.next_frame(), None);
        f.push(b"tail\r941\r");
        assert_eq!(f.next_frame(), Some(Ok(b"941".to_vec())));
        assert_eq!(f.next_frame(), None);
    }
}
