//! 1-bit images for `GS v 0` raster printing, and reading them from netpbm PBM files (P1/P4).

use serde::Serialize;

/// A 1-bit image: rows of `width_bytes()` bytes, most significant bit = leftmost dot, 1 = black
/// (the layout of `GS v 0` and of PBM P4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bitmap {
    width: u16,
    height: u16,
    #[serde(skip)]
    data: Vec<u8>,
}

/// Why an image cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitmapError {
    #[error("image size {width}x{height} is out of range (1..=65535 dots, at most 1 MiB)")]
    BadSize { width: usize, height: usize },
    #[error("image data has {got} bytes, {expected} expected")]
    BadLength { expected: usize, got: usize },
    #[error("not a PBM image: {0}")]
    BadPbm(String),
}

impl Bitmap {
    /// An image from packed rows.
    pub fn new(width: u16, height: u16, data: Vec<u8>) -> Result<Bitmap, BitmapError> {
        let expected = (width as usize).div_ceil(8) * height as usize;
        if width == 0 || height == 0 || expected > crate::command::MAX_RASTER_BYTES {
            return Err(BitmapError::BadSize {
                width: width as usize,
                height: height as usize,
            });
        }
        if data.len() != expected {
            return Err(BitmapError::BadLength {
                expected,
                got: data.len(),
            });
        }
        Ok(Bitmap {
            width,
            height,
            data,
        })
    }

    /// An image from a raster command (width is a whole number of bytes).
    pub fn from_raster(width_bytes: u16, height: u16, data: Vec<u8>) -> Option<Bitmap> {
        let width = width_bytes.checked_mul(8)?;
        Bitmap::new(width, height, data).ok()
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    pub fn width_bytes(&self) -> u16 {
        self.width.div_ceil(8)
    }

    /// The packed rows.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether the dot at (x, y) is black.
    pub fn dot(&self, x: u16, y: u16) -> bool {
        if x >= self.width || y >= self.height {
            return false;
        }
        let i = y as usize * self.width_bytes() as usize + x as usize / 8;
        self.data[i] & (0x80 >> (x % 8)) != 0
    }

    /// Reads a PBM image, plain (`P1`) or raw (`P4`).
    pub fn from_pbm(bytes: &[u8]) -> Result<Bitmap, BitmapError> {
        let mut pos = 0usize;
        let mut token = |bytes: &[u8]| -> Option<String> {
            loop {
                while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                    pos += 1;
                }
                if pos < bytes.len() && bytes[pos] == b'#' {
                    while pos < bytes.len() && bytes[pos] != b'\n' {
                        pos += 1;
                    }
                    continue;
                }
                break;
            }
            let start = pos;
            while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() && bytes[pos] != b'#' {
                pos += 1;
            }
            (pos > start).then(|| String::from_utf8_lossy(&bytes[start..pos]).into_owned())
        };
        let magic = token(bytes).ok_or_else(|| BitmapError::BadPbm("empty".into()))?;
        let mut dim = |what: &str| -> Result<usize, BitmapError> {
            token(bytes)
                .and_then(|t| t.parse::<usize>().ok())
                .ok_or_else(|| BitmapError::BadPbm(format!("missing {what}")))
        };
        let width = dim("width")?;
        let height = dim("height")?;
        if width == 0 || height == 0 || width > 65535 || height > 65535 {
            return Err(BitmapError::BadSize { width, height });
        }
        let row = width.div_ceil(8);
        if row * height > crate::command::MAX_RASTER_BYTES {
            return Err(BitmapError::BadSize { width, height });
        }
        let mut data = vec![0u8; row * height];
        match magic.as_str() {
            "P4" => {
                // Exactly one whitespace byte separates the header from the raster.
                let start = pos + 1;
                let raster = bytes.get(start..start + row * height).ok_or_else(|| {
                    BitmapError::BadPbm(format!("raster shorter than {} bytes", row * height))
                })?;
                data.copy_from_slice(raster);
            }
            "P1" => {
                let mut i = 0usize;
                for &b in &bytes[pos..] {
                    if i == width * height {
                        break;
                    }
                    match b {
                        b'0' | b'1' => {
                            if b == b'1' {
                                let (x, y) = (i % width, i / width);
                                data[y * row + x / 8] |= 0x80 >> (x % 8);
                            }
                            i += 1;
                        }
                        b if b.is_ascii_whitespace() => {}
                        _ => return Err(BitmapError::BadPbm(format!("unexpected byte {b:02X}"))),
                    }
                }
                if i < width * height {
                    return Err(BitmapError::BadPbm("fewer pixels than declared".into()));
                }
            }
            other => return Err(BitmapError::BadPbm(format!("magic {other:?}"))),
        }
        Bitmap::new(width as u16, height as u16, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_raw_pbm_agree() {
        let p1 = b"P1\n# a 10x2 test\n10 2\n1000000001\n0100000010\n";
        let a = Bitmap::from_pbm(p1).unwrap();
        assert_eq!(a.width_bytes(), 2);
        assert_eq!(a.data(), [0x80, 0x40, 0x40, 0x80]);
        let mut p4 = b"P4\n10 2\n".to_vec();
        p4.extend_from_slice(&[0x80, 0x40, 0x40, 0x80]);
        assert_eq!(Bitmap::from_pbm(&p4).unwrap(), a);
        assert!(a.dot(0, 0) && a.dot(9, 0) && !a.dot(1, 0));
        assert!(Bitmap::from_pbm(b"P4\n10 2\n\x80").is_err());
        assert!(Bitmap::from_pbm(b"P7\n").is_err());
    }
}
