//! Device classes of the kiosk: small traits per class of peripheral, with rich errors that
//! each offer a [`ErrorKind`] the app reacts to (as embedded-hal does), health and counters
//! modelled on UnifiedPOS (`State`, `CheckHealth`, statistics), and a [`Supervisor`] that keeps
//! devices open, notices an unplug and reopens the device when it comes back.
//!
//! Capabilities a device may lack are optional methods with a default that returns
//! [`ErrorKind::Unsupported`], not separate giant traits.

pub mod fingerprint;
pub mod health;
pub mod idcard;
pub mod printer;
pub mod profile;
pub mod rfid;
pub mod scanner;
pub mod speaker;
pub mod supervisor;

pub use fingerprint::{FingerprintError, FingerprintOptions, FingerprintReader, SynochipReader};
pub use health::{
    Availability, Counters, DeviceClass, DeviceFault, DeviceInfo, DeviceState, ErrorKind, HasKind,
    Health,
};
pub use idcard::{CardPoller, IdCardError, IdCardReader, SamOptions, SamReader};
pub use printer::{EscPosPrinter, PrinterError, ReceiptPrinter};
pub use profile::{DeviceEntry, Profile, ProfileError, TerminalKind};
pub use rfid::{HfReader, RfidError, RfidOptions, RfidReader};
#[cfg(feature = "camera")]
pub use scanner::CameraScanner;
pub use scanner::{CodeScanner, CodeSource, ScannedCode, ScannerError, SerialScanner};
pub use supervisor::{DeviceEvent, Opener, Supervised, Supervisor};

/// What every device of any class offers.
pub trait Device: Send {
    /// Class, model, firmware and transport, for the maintenance menu.
    fn info(&self) -> DeviceInfo;
    /// A cheap exchange proving the device still answers (a status request). The supervisor
    /// calls it while the device is idle; a [`ErrorKind::Disconnected`] fault closes it.
    fn probe(&mut self) -> Result<(), DeviceFault>;
}
