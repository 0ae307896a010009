//! Code scanners: QR and barcodes from a camera through OpenCV, and line-based serial scanners.
//!
//! * [`line`]: serial scanners that send each code as a line (sans-IO decoder and the scanner
//!   side's encoder, used by the simulator).
//! * [`symbology`]: symbologies and AIM identifiers (ISO/IEC 15424).
//! * [`holdoff`]: one report per code held in front of a camera.
//! * `camera` (feature `camera`, on by default): frames through OpenCV `VideoCapture`, QR
//!   decoding with `QRCodeDetector`, and the `camera:` strings that name cameras.

pub mod holdoff;
pub mod line;
pub mod symbology;

#[cfg(feature = "camera")]
pub mod camera;

pub use holdoff::{DEFAULT_HOLD_OFF, HoldOff};
pub use line::{
    AimMode, LineConfig, LineDecoder, LineError, ScannedLine, Terminator, TextEncoding, encode_line,
};
pub use symbology::{AimId, Symbology};

#[cfg(feature = "camera")]
pub use camera::{Camera, CameraError, CameraSpec, CameraSpecError, DecodedCode, QrDecoder};
