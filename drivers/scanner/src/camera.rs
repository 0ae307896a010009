//! QR codes (and EAN/UPC barcodes) from a camera or recorded frames through OpenCV:
//! `videoio::VideoCapture` grabs frames, [`QrDecoder`] finds and decodes every code in a frame,
//! and a [`HoldOff`] reports a code held in view only once.
//!
//! Cameras are named with a [`CameraSpec`], a `camera:` string in the style of the transport
//! strings of `kiosk-transport` (which this crate does not extend):
//!
//! | string | opens |
//! |---|---|
//! | `camera:0` | V4L2 device by index (`/dev/video0`) |
//! | `camera:/dev/video2` | V4L2 device by path (or a udev symlink such as `/dev/v4l/by-id/…`) |
//! | `camera:/path/frame_%03d.png` | an image sequence (OpenCV `CAP_IMAGES`), for tests and demos |
//! | `camera:/path/clip.mp4`, `camera:rtsp://…` | a video file or stream, if OpenCV's build has a backend for it |
//! | `camera:/path/code.png` | one still image (read with `imread`), one frame |
//!
//! `file:` may stand for `camera:` (`file:/dev/video0`), so profiles can name a camera with a
//! transport string the profile loader already accepts.
//!
//! Recorded sources (sequences, files, stills) end; a live camera that stops delivering frames
//! has gone away.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use opencv::barcode::{BarcodeDetector, BarcodeDetectorTraitConst, BarcodeType};
use opencv::core::{Mat, Vector};
use opencv::objdetect::{QRCodeDetector, QRCodeDetectorTrait};
use opencv::prelude::*;
use opencv::wechat_qrcode::{WeChatQRCode, WeChatQRCodeTrait};
use opencv::{imgcodecs, imgproc, videoio};

use crate::holdoff::HoldOff;
use crate::symbology::Symbology;

/// Where frames come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CameraSpec {
    /// A V4L2 camera by index.
    Index(u32),
    /// A V4L2 device node.
    Device(String),
    /// An image sequence, video file, stream URL or still image.
    Media(String),
}

/// Why a camera string could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown camera '{0}': expected camera:INDEX, camera:/dev/videoN or camera:PATH (image, image sequence with %0Nd, video)"
)]
pub struct CameraSpecError(pub String);

impl FromStr for CameraSpec {
    type Err = CameraSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        // `file:PATH` is accepted too, so a profile can name a camera with a transport string
        // that `kiosk-transport` already validates.
        let rest = s
            .strip_prefix("camera:")
            .or_else(|| s.strip_prefix("file:"))
            .ok_or_else(|| CameraSpecError(s.to_string()))?;
        if rest.is_empty() {
            return Err(CameraSpecError(s.to_string()));
        }
        if let Ok(i) = rest.parse::<u32>() {
            return Ok(CameraSpec::Index(i));
        }
        if rest.starts_with("/dev/") {
            return Ok(CameraSpec::Device(rest.to_string()));
        }
        Ok(CameraSpec::Media(rest.to_string()))
    }
}

impl fmt::Display for CameraSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CameraSpec::Index(i) => write!(f, "camera:{i}"),
            CameraSpec::Device(p) | CameraSpec::Media(p) => write!(f, "camera:{p}"),
        }
    }
}

impl CameraSpec {
    /// Whether the source is a recording that ends (not a live camera).
    pub fn is_recorded(&self) -> bool {
        matches!(self, CameraSpec::Media(_))
    }
}

/// What went wrong with a camera or an image.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("{what} not found: {detail}")]
    NotFound { what: String, detail: String },
    #[error("camera {spec} stopped delivering frames (unplugged?)")]
    Disconnected { spec: String },
    #[error("cannot read image {path}: not an image OpenCV can decode")]
    BadImage { path: String },
    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
}

/// One code found in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedCode {
    pub text: String,
    pub symbology: Symbology,
}

/// Finds and decodes the codes in images: QR codes with OpenCV's `wechat_qrcode` module
/// (zxing-based; it also reads the GB2312/UTF-8 payloads of Chinese QR codes) and, when that
/// finds none, `objdetect::QRCodeDetector`; EAN/UPC barcodes (ISBNs on books) with the
/// `barcode` module.
///
/// `QRCodeDetector` alone is not enough everywhere: Debian 12's OpenCV 4.6 is built without
/// quirc, so it detects QR codes but never decodes them (`detectAndDecode` returns "").
pub struct QrDecoder {
    wechat: WeChatQRCode,
    detector: QRCodeDetector,
    barcodes: BarcodeDetector,
}

impl fmt::Debug for QrDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QrDecoder")
    }
}

impl QrDecoder {
    pub fn new() -> Result<Self, CameraError> {
        Ok(QrDecoder {
            // Without model files the module uses its classic detector, no CNN.
            wechat: WeChatQRCode::new_def()?,
            detector: QRCodeDetector::default()?,
            barcodes: BarcodeDetector::new_def()?,
        })
    }

    /// Every code decoded in `image` (grayscale or BGR), in no particular order.
    pub fn decode(&mut self, image: &Mat) -> Result<Vec<DecodedCode>, CameraError> {
        if image.empty() {
            return Ok(Vec::new());
        }
        let gray = if image.channels() == 1 {
            image.try_clone()?
        } else {
            let mut g = Mat::default();
            imgproc::cvt_color_def(image, &mut g, imgproc::COLOR_BGR2GRAY)?;
            g
        };
        let mut codes = Vec::new();
        for text in self.wechat.detect_and_decode_def(&gray)? {
            if !text.is_empty() {
                push_unique(&mut codes, text, Symbology::QrCode);
            }
        }
        if codes.is_empty() {
            let bytes = self.detector.detect_and_decode_def(&gray)?;
            if !bytes.is_empty() {
                push_unique(&mut codes, bytes_to_text(&bytes), Symbology::QrCode);
            }
        }
        let mut infos: Vector<String> = Vector::new();
        let mut kinds: Vector<BarcodeType> = Vector::new();
        // A barcode candidate that fails to decode is not an error of the frame.
        if self
            .barcodes
            .detect_and_decode_def(&gray, &mut infos, &mut kinds)
            .unwrap_or(false)
        {
            for (text, kind) in infos.iter().zip(kinds.iter()) {
                if !text.is_empty() && kind != BarcodeType::NONE {
                    push_unique(&mut codes, text, Symbology::EanUpc);
                }
            }
        }
        Ok(codes)
    }

    /// Decodes the codes in an image file (PNG, JPEG, …).
    pub fn decode_file(&mut self, path: &Path) -> Result<Vec<DecodedCode>, CameraError> {
        let image = read_image(path)?;
        self.decode(&image)
    }
}

fn push_unique(codes: &mut Vec<DecodedCode>, text: String, symbology: Symbology) {
    if !codes.iter().any(|c| c.text == text) {
        codes.push(DecodedCode { text, symbology });
    }
}

/// QR byte-mode payloads are UTF-8 by convention, GB18030 on older Chinese generators.
pub fn bytes_to_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|s| s.into_owned())
            .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// Reads an image file as grayscale.
pub fn read_image(path: &Path) -> Result<Mat, CameraError> {
    let shown = path.display().to_string();
    if !path.exists() {
        return Err(CameraError::NotFound {
            what: format!("image {shown}"),
            detail: "no such file".into(),
        });
    }
    let image = imgcodecs::imread(path, imgcodecs::IMREAD_GRAYSCALE)?;
    if image.empty() {
        return Err(CameraError::BadImage { path: shown });
    }
    Ok(image)
}

/// Decodes the QR codes in an image file with a fresh detector.
pub fn decode_file(path: &Path) -> Result<Vec<DecodedCode>, CameraError> {
    QrDecoder::new()?.decode_file(path)
}

enum Source {
    Capture(videoio::VideoCapture),
    Still(Option<Mat>),
}

/// A camera (or recording) delivering de-duplicated codes.
pub struct Camera {
    spec: CameraSpec,
    source: Source,
    decoder: QrDecoder,
    hold_off: HoldOff,
    pending: std::collections::VecDeque<DecodedCode>,
    ended: bool,
    frames: u64,
}

impl fmt::Debug for Camera {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Camera")
            .field("spec", &self.spec)
            .field("frames", &self.frames)
            .finish()
    }
}

fn is_still_image(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    !path.contains('%')
        && [
            ".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff", ".webp",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

impl Camera {
    /// Opens a camera or recording. A missing camera or file is `NotFound`.
    pub fn open(spec: &CameraSpec) -> Result<Self, CameraError> {
        let not_found = |detail: &str| CameraError::NotFound {
            what: format!("camera {spec}"),
            detail: detail.to_string(),
        };
        let source = match spec {
            CameraSpec::Media(path) if is_still_image(path) => {
                Source::Still(Some(read_image(Path::new(path))?))
            }
            CameraSpec::Index(i) => {
                if !Path::new(&format!("/dev/video{i}")).exists() {
                    return Err(not_found("no such video device"));
                }
                let index = i32::try_from(*i).map_err(|_| not_found("index out of range"))?;
                Source::Capture(videoio::VideoCapture::new(index, videoio::CAP_V4L2)?)
            }
            CameraSpec::Device(path) => {
                if !Path::new(path).exists() {
                    return Err(not_found("no such video device"));
                }
                Source::Capture(videoio::VideoCapture::from_file(path, videoio::CAP_V4L2)?)
            }
            CameraSpec::Media(path) => {
                let api = if path.contains('%') {
                    videoio::CAP_IMAGES
                } else {
                    videoio::CAP_ANY
                };
                Source::Capture(videoio::VideoCapture::from_file(path, api)?)
            }
        };
        if let Source::Capture(cap) = &source
            && !cap.is_opened()?
        {
            return Err(not_found("OpenCV could not open it"));
        }
        Ok(Camera {
            spec: spec.clone(),
            source,
            decoder: QrDecoder::new()?,
            hold_off: HoldOff::default(),
            pending: Default::default(),
            ended: false,
            frames: 0,
        })
    }

    pub fn spec(&self) -> &CameraSpec {
        &self.spec
    }

    /// Sets how long a code must be out of view before it counts again.
    pub fn set_hold_off(&mut self, window: Duration) {
        self.hold_off = HoldOff::new(window);
    }

    /// Frames grabbed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Whether a recorded source has delivered its last frame.
    pub fn has_ended(&self) -> bool {
        self.ended
    }

    /// The next frame; `None` once a recording has ended.
    pub fn read_frame(&mut self) -> Result<Option<Mat>, CameraError> {
        if self.ended {
            return Ok(None);
        }
        let frame = match &mut self.source {
            Source::Still(image) => image.take(),
            Source::Capture(cap) => {
                let mut frame = Mat::default();
                if cap.read(&mut frame)? && !frame.empty() {
                    Some(frame)
                } else {
                    None
                }
            }
        };
        match frame {
            Some(f) => {
                self.frames += 1;
                Ok(Some(f))
            }
            None if self.spec.is_recorded() => {
                self.ended = true;
                Ok(None)
            }
            None => Err(CameraError::Disconnected {
                spec: self.spec.to_string(),
            }),
        }
    }

    /// The next new code within `timeout`. Returns `None` when none appeared in time, or at
    /// once when a recording has ended.
    pub fn next_code(&mut self, timeout: Duration) -> Result<Option<DecodedCode>, CameraError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.pending.pop_front() {
                return Ok(Some(code));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let Some(frame) = self.read_frame()? else {
                return Ok(None);
            };
            let now = Instant::now();
            for code in self.decoder.decode(&frame)? {
                if self.hold_off.admit(&code.text, now) {
                    self.pending.push_back(code);
                }
            }
        }
    }
}

/// Renders a QR module matrix (`true` = dark, row-major, `width`×`width`) as a grayscale image
/// with `scale` pixels per module and a `quiet` zone of light modules around it (ISO/IEC 18004
/// asks for 4), for tests and demos.
pub fn render_modules(
    dark: &[bool],
    width: usize,
    scale: usize,
    quiet: usize,
) -> Result<Mat, CameraError> {
    let side = (width + 2 * quiet) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
        let (row, col) = (i / width, i % width);
        for y in 0..scale {
            let start = ((row + quiet) * scale + y) * side + (col + quiet) * scale;
            pixels[start..start + scale].fill(0);
        }
    }
    let flat = Mat::from_slice(&pixels)?;
    let rows = i32::try_from(side).map_err(|_| opencv::Error::new(0, "image too large"))?;
    Ok(flat.reshape(1, rows)?.try_clone()?)
}

/// Writes an image file (format from the extension).
pub fn write_image(path: &Path, image: &Mat) -> Result<(), CameraError> {
    if imgcodecs::imwrite(path, image, &Vector::new())? {
        Ok(())
    } else {
        Err(CameraError::BadImage {
            path: path.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qrcode::{Color, QrCode};

    fn qr_image(text: &str) -> Mat {
        let code = QrCode::new(text.as_bytes()).unwrap();
        let dark: Vec<bool> = code.to_colors().iter().map(|c| *c == Color::Dark).collect();
        render_modules(&dark, code.width(), 4, 4).unwrap()
    }

    #[test]
    fn camera_strings() {
        assert_eq!("camera:0".parse(), Ok(CameraSpec::Index(0)));
        assert_eq!(
            "camera:/dev/video2".parse(),
            Ok(CameraSpec::Device("/dev/video2".into()))
        );
        let seq: CameraSpec = "camera:/tmp/f_%03d.png".parse().unwrap();
        assert!(seq.is_recorded());
        assert_eq!(seq.to_string(), "camera:/tmp/f_%03d.png");
        assert!("camera:".parse::<CameraSpec>().is_err());
        assert!("serial:/dev/video0@9600".parse::<CameraSpec>().is_err());
        assert_eq!(
            "file:/dev/video0".parse(),
            Ok(CameraSpec::Device("/dev/video0".into()))
        );
    }

    #[test]
    fn decodes_generated_ascii_and_chinese_qr() {
        let mut dec = QrDecoder::new().unwrap();
        for text in ["https://lib.example/patron/0042", "借书证 图书馆 0042"] {
            let codes = dec.decode(&qr_image(text)).unwrap();
            assert_eq!(codes.len(), 1, "{text}");
            assert_eq!(codes[0].text, text);
            assert_eq!(codes[0].symbology, Symbology::QrCode);
        }
        let blank = render_modules(&[false; 21 * 21], 21, 4, 4).unwrap();
        assert!(dec.decode(&blank).unwrap().is_empty());
    }

    #[test]
    fn image_sequence_through_videocapture_is_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let a = qr_image("PAY-20240501-0001");
        let b = qr_image("PAY-20240501-0002");
        let blank = render_modules(&[false; 25 * 25], 25, 4, 4).unwrap();
        // A phone held for four frames, taken away, another phone.
        for (i, m) in [&a, &a, &a, &a, &blank, &b, &b].iter().enumerate() {
            write_image(&dir.path().join(format!("frame_{i:03}.png")), m).unwrap();
        }
        let spec: CameraSpec = format!("camera:{}/frame_%03d.png", dir.path().display())
            .parse()
            .unwrap();
        let mut cam = Camera::open(&spec).unwrap();
        let t = Duration::from_secs(5);
        assert_eq!(cam.next_code(t).unwrap().unwrap().text, "PAY-20240501-0001");
        assert_eq!(cam.next_code(t).unwrap().unwrap().text, "PAY-20240501-0002");
        assert_eq!(cam.next_code(t).unwrap(), None);
        assert!(cam.has_ended());
        assert_eq!(cam.frames(), 7);
    }

    #[test]
    fn missing_sources_are_not_found() {
        assert!(matches!(
            Camera::open(&CameraSpec::Index(99)),
            Err(CameraError::NotFound { .. })
        ));
        assert!(matches!(
            Camera::open(&"camera:/nonexistent/code.png".parse().unwrap()),
            Err(CameraError::NotFound { .. })
        ));
        assert!(matches!(
            Camera::open(&"camera:/nonexistent/f_%03d.png".parse().unwrap()),
            Err(CameraError::NotFound { .. })
        ));
    }

    #[test]
    fn still_image_gives_one_frame() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("code.png");
        write_image(&p, &qr_image("ISBN 978-7-111-21382-6")).unwrap();
        let mut cam = Camera::open(&format!("camera:{}", p.display()).parse().unwrap()).unwrap();
        assert_eq!(
            cam.next_code(Duration::from_secs(1)).unwrap().unwrap().text,
            "ISBN 978-7-111-21382-6"
        );
        assert_eq!(cam.next_code(Duration::from_secs(1)).unwrap(), None);
        assert_eq!(decode_file(&p).unwrap().len(), 1);
        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"not a png").unwrap();
        assert!(matches!(
            decode_file(&junk),
            Err(CameraError::BadImage { .. })
        ));
    }
}
