//! The one end-to-end test binary. Each area is a module; shared helpers are in `kiosk_tests`.

mod cli;
mod fingerprint;
mod idcard;
mod printer;
mod queue;
mod receipt;
mod replay;
mod rfid;
mod scanner;
mod selfcheck;
mod sip2;
mod sip2_demo;
mod tamper;
mod upload;
