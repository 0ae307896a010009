//! A character file / template (reference notes §2.4): biometric data, wiped on drop and
//! never printed.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Template bytes as uploaded by UpChar or downloaded by DownChar (512 bytes on R307/AS608
/// class modules; the length is whatever the module sends up to the end packet).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Template(Vec<u8>);

impl Template {
    pub fn new(bytes: Vec<u8>) -> Self {
        Template(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template(<{} bytes redacted>)", self.0.len())
    }
}
