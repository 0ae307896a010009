//! Code scanners (UnifiedPOS "Scanner" category): a serial scanner that sends each code as a
//! line, and a camera whose frames OpenCV searches for QR codes (feature `camera`). Both give
//! [`ScannedCode`]s through [`CodeScanner::next_code`]; see `kiosk_scanner` for the wire
//! format and the `camera:` strings.

use std::fmt;
use std::time::{Duration, Instant};

use kiosk_scanner::{LineConfig, LineDecoder, LineError, Symbology};
use kiosk_transport::{Link, LinkError, TransportSpec};
use serde::Serialize;

use crate::{Device, DeviceClass, DeviceFault, DeviceInfo, ErrorKind, HasKind};

/// Where a code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeSource {
    /// A line-based scanner on a serial port.
    Serial,
    /// A camera, decoded by OpenCV.
    Camera,
}

/// One code read by a scanner (UnifiedPOS `ScanData`/`ScanDataLabel` + `ScanDataType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScannedCode {
    pub text: String,
    #[serde(serialize_with = "ser_symbology")]
    pub symbology: Symbology,
    pub source: CodeSource,
}

fn ser_symbology<S: serde::Serializer>(s: &Symbology, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

/// Why a scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScannerError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A line that is not a valid code: noise, wrong baud rate, wrong terminator or prefix.
    #[error("bad line from {transport}: {source}")]
    Line {
        transport: String,
        source: LineError,
    },
    #[cfg(feature = "camera")]
    #[error(transparent)]
    Camera(#[from] kiosk_scanner::CameraError),
    #[error("{0} is not supported by this scanner")]
    Unsupported(&'static str),
}

impl HasKind for ScannerError {
    fn kind(&self) -> ErrorKind {
        match self {
            ScannerError::Link(e) => e.kind().into(),
            ScannerError::Line { .. } => ErrorKind::Protocol,
            #[cfg(feature = "camera")]
            ScannerError::Camera(e) => {
                use kiosk_scanner::CameraError as C;
                match e {
                    C::NotFound { .. } => ErrorKind::NotFound,
                    C::Disconnected { .. } => ErrorKind::Disconnected,
                    C::BadImage { .. } => ErrorKind::MediaRejected,
                    C::OpenCv(_) => ErrorKind::Other,
                }
            }
            ScannerError::Unsupported(_) => ErrorKind::Unsupported,
        }
    }
}

impl From<ScannerError> for DeviceFault {
    fn from(e: ScannerError) -> Self {
        DeviceFault::from_error(&e)
    }
}

/// A device that reads QR codes and barcodes.
pub trait CodeScanner: Device {
    /// The next code within `timeout`; `Ok(None)` when none came. A bad line is an error of
    /// its own; the scanner stays usable for the next code.
    fn next_code(&mut self, timeout: Duration) -> Result<Option<ScannedCode>, ScannerError>;

    /// Forgets codes still held in view, so the same code counts again (a new session starts).
    fn forget_held_codes(&mut self) -> Result<(), ScannerError> {
        Err(ScannerError::Unsupported("forgetting held codes"))
    }
}

/// How long a scanner may pause inside a line: scanners send a code in one burst, so a partial
/// line that gets no byte for this long is cut off ([`LineError::Truncated`]) instead of being
/// glued to the front of the next code.
pub const LINE_GAP: Duration = Duration::from_millis(500);

/// A line-based scanner on any [`Link`] (serial port, USB-CDC, pseudo-terminal).
pub struct SerialScanner {
    link: Box<dyn Link>,
    decoder: LineDecoder,
    transport: String,
    /// When the last byte arrived (for [`LINE_GAP`]).
    last_byte: Instant,
}

impl fmt::Debug for SerialScanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialScanner")
            .field("transport", &self.transport)
            .finish()
    }
}

impl SerialScanner {
    pub fn new(link: Box<dyn Link>, config: LineConfig) -> Self {
        let transport = link.describe();
        SerialScanner {
            link,
            decoder: LineDecoder::new(config),
            transport,
            last_byte: Instant::now(),
        }
    }

    /// Opens the transport and drops whatever was queued before (half a line, old codes).
    pub fn open(spec: &TransportSpec, config: LineConfig) -> Result<Self, ScannerError> {
        let mut link = kiosk_transport::open(spec)?;
        link.discard_input()?;
        Ok(SerialScanner::new(link, config))
    }

    /// Reads what arrived within `timeout` into the decoder.
    fn pump(&mut self, timeout: Duration) -> Result<usize, LinkError> {
        let mut buf = [0u8; 512];
        let n = self.link.read_some(&mut buf, timeout)?;
        if n > 0 {
            self.decoder.feed(&buf[..n]);
            self.last_byte = Instant::now();
        }
        Ok(n)
    }
}

impl Device for SerialScanner {
    fn info(&self) -> DeviceInfo {
        let c = self.decoder.config();
        DeviceInfo {
            class: DeviceClass::CodeScanner,
            model: format!("line scanner ({}, {})", c.terminator, c.encoding.as_str()),
            firmware: None,
            transport: self.transport.clone(),
        }
    }

    /// A scanner is silent until it reads a code, so the probe is a short read: it notices a
    /// hang-up and keeps any bytes for the next [`CodeScanner::next_code`].
    fn probe(&mut self) -> Result<(), DeviceFault> {
        self.pump(Duration::from_millis(1))?;
        Ok(())
    }
}

impl CodeScanner for SerialScanner {
    fn next_code(&mut self, timeout: Duration) -> Result<Option<ScannedCode>, ScannerError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.decoder.next_line() {
                let line = line.map_err(|source| ScannerError::Line {
                    transport: self.transport.clone(),
                    source,
                })?;
                return Ok(Some(ScannedCode {
                    symbology: line.symbology(),
                    text: line.text,
                    source: CodeSource::Serial,
                }));
            }
            let now = Instant::now();
            if self.decoder.pending() > 0 {
                let quiet = now.duration_since(self.last_byte);
                if quiet >= LINE_GAP {
                    if let Some(source) = self.decoder.expire() {
                        return Err(ScannerError::Line {
                            transport: self.transport.clone(),
                            source,
                        });
                    }
                    continue;
                }
                if now >= deadline {
                    return Ok(None);
                }
                self.pump((deadline - now).min(LINE_GAP - quiet))?;
                continue;
            }
            if now >= deadline {
                return Ok(None);
            }
            self.pump(deadline - now)?;
        }
    }
}

#[cfg(feature = "camera")]
pub use camera::CameraScanner;

#[cfg(feature = "camera")]
mod camera {
    use super::*;
    use kiosk_scanner::{Camera, CameraSpec};

    /// A camera searched for QR codes by OpenCV; a code held in view is reported once.
    #[derive(Debug)]
    pub struct CameraScanner {
        camera: Camera,
        hold_off: Duration,
    }

    impl CameraScanner {
        /// Opens a camera named by a `camera:` (or `file:`) string, with a hold-off: how long
        /// a code must be out of view before it counts as a new scan.
        pub fn open(spec: &CameraSpec, hold_off: Duration) -> Result<Self, ScannerError> {
            let mut camera = Camera::open(spec)?;
            camera.set_hold_off(hold_off);
            Ok(CameraScanner { camera, hold_off })
        }

        /// Frames grabbed so far.
        pub fn frames(&self) -> u64 {
            self.camera.frames()
        }
    }

    impl Device for CameraScanner {
        fn info(&self) -> DeviceInfo {
            DeviceInfo {
                class: DeviceClass::CodeScanner,
                model: "camera, OpenCV QRCodeDetector".into(),
                firmware: None,
                transport: self.camera.spec().to_string(),
            }
        }

        /// A live camera is there while its device node is; a recording always is.
        fn probe(&mut self) -> Result<(), DeviceFault> {
            let node = match self.camera.spec() {
                CameraSpec::Index(i) => Some(format!("/dev/video{i}")),
                CameraSpec::Device(p) => Some(p.clone()),
                CameraSpec::Media(_) => None,
            };
            match node {
                Some(p) if !std::path::Path::new(&p).exists() => Err(DeviceFault::new(
                    ErrorKind::Disconnected,
                    format!("camera {} is gone", self.camera.spec()),
                )),
                _ => Ok(()),
            }
        }
    }

    impl CodeScanner for CameraScanner {
        fn next_code(&mut self, timeout: Duration) -> Result<Option<ScannedCode>, ScannerError> {
            Ok(self.camera.next_code(timeout)?.map(|c| ScannedCode {
                text: c.text,
                symbology: c.symbology,
                source: CodeSource::Camera,
            }))
        }

        fn forget_held_codes(&mut self) -> Result<(), ScannerError> {
            self.camera.set_hold_off(self.hold_off);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link fed from a byte script, one chunk per read, then silence.
    struct Scripted {
        chunks: std::collections::VecDeque<Vec<u8>>,
        hang_up_at_end: bool,
    }

    impl Link for Scripted {
        fn write_all(&mut self, _: &[u8]) -> Result<(), LinkError> {
            Ok(())
        }
        fn read_some(&mut self, buf: &mut [u8], _: Duration) -> Result<usize, LinkError> {
            match self.chunks.pop_front() {
                Some(c) => {
                    buf[..c.len()].copy_from_slice(&c);
                    Ok(c.len())
                }
                None if self.hang_up_at_end => Err(LinkError::new(
                    kiosk_transport::LinkErrorKind::Disconnected,
                    "read failed",
                    "serial:/dev/ttyACM0@9600",
                    "the device hung up",
                )),
                None => Ok(0),
            }
        }
        fn describe(&self) -> String {
            "serial:/dev/ttyACM0@9600".into()
        }
    }

    fn scanner(chunks: &[&[u8]], hang_up_at_end: bool) -> SerialScanner {
        SerialScanner::new(
            Box::new(Scripted {
                chunks: chunks.iter().map(|c| c.to_vec()).collect(),
                hang_up_at_end,
            }),
            LineConfig::default(),
        )
    }

    #[test]
    fn codes_errors_and_hang_up_have_kinds() {
        let mut s = scanner(&[b"]E0978711", b"1213826\r\xff\xff\r", b"]Q1OK\r"], true);
        let t = Duration::from_millis(50);
        let c = s.next_code(t).unwrap().unwrap();
        assert_eq!(c.text, "9787111213826");
        assert_eq!(c.symbology, Symbology::EanUpc);
        assert_eq!(c.source, CodeSource::Serial);
        let e = s.next_code(t).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
        assert_eq!(s.next_code(t).unwrap().unwrap().text, "OK");
        let e = s.next_code(t).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Disconnected);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["symbology"], "ean-upc");
        assert_eq!(json["source"], "serial");
    }

    #[test]
    fn silence_is_none_and_probe_keeps_bytes() {
        let mut s = scanner(&[b"LIB-0042\r"], false);
        s.probe().unwrap();
        assert_eq!(
            s.next_code(Duration::from_millis(10))
                .unwrap()
                .unwrap()
                .text,
            "LIB-0042"
        );
        assert_eq!(s.next_code(Duration::from_millis(10)).unwrap(), None);
        assert_eq!(s.info().class, DeviceClass::CodeScanner);
    }
}
