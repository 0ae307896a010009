//! The one end-to-end test binary. Each area is a module; shared helpers are in `kiosk_tests`.

mod cli;
mod idcard;
mod rfid;
mod queue;
mod scanner;
mod fingerprint;
mod upload;
