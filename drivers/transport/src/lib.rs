//! Thin byte transports for kiosk peripherals.
//!
//! Protocol crates (`kiosk-idcard`, `kiosk-fingerprint`, …) are sans-IO: they turn frames into
//! bytes and bytes into frames. This crate moves those bytes over a serial port (serialport), a
//! USB printer-class interface (rusb), a TCP socket or a device file, behind one small [`Link`]
//! trait, and offers [`read_frame`], the one loop every driver uses to collect a frame with a
//! deadline, so that no read can hang.

mod link;
mod spec;
mod usb;

pub use link::{
    FileLink, Link, LinkError, LinkErrorKind, OpenOptions, SerialLink, TcpLink, open, open_with,
    read_frame,
};
pub use spec::{SpecError, TransportSpec};
pub use usb::UsbPrinterLink;
