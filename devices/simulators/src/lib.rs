//! Simulators that speak each peripheral's real wire protocol on a pseudo-terminal (or a TCP
//! socket for network printers), so drivers, the supervisor and the app run end to end without
//! hardware. Each simulator reuses the driver's sans-IO codec from the device side.
//!
//! [`SimPort`] is the pseudo-terminal with an optional stable symlink (what a profile or
//! `kioskctl --port` names); [`SerialSim`] runs a [`SerialDevice`] on it in a thread and can
//! unplug and replug it, as pulling a USB-serial cable does.

pub mod fingerprint;
pub mod idcard;
pub mod printer;
pub mod pty;
pub mod rfid;
pub mod runner;
pub mod scanner;

pub use fingerprint::{FingerprintScenario, FingerprintSim, FingerprintSimHandle};
pub use idcard::{IdCardScenario, IdCardSim, IdCardSimHandle};
pub use printer::{PrinterScenario, PrinterSim, PrinterSimOptions, SimPrinterState, StatePatch};
pub use pty::SimPort;
pub use rfid::{RfidPad, RfidPadSim, RfidScenario, SimTag};
pub use runner::{SerialDevice, SerialSim, SimControl};
