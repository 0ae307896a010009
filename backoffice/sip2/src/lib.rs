//! SIP2 (3M Standard Interchange Protocol 2.00) client for the book self-checkout,
//! following `shared/reference/library.md` §1 (and §7 for the pysip2 test peer).
//!
//! Layers, each usable on its own:
//!
//! * [`checksum`]: the `AZ` checksum over encoded bytes, with the §1.6 vectors as tests.
//! * [`frame`]: byte-level framing tolerant of CR, CR LF, stray LF, split reads, a size limit.
//! * [`charset`]: UTF-8, GB18030, CP850, Latin-1, ASCII; text is decoded only after framing.
//! * [`message`]: the raw codec and one typed struct per message of the self-check set
//!   (93/94, 99/98, 23/24, 63/64, 11/12, 09/10, 29/30, 65/66, 17/18, 35/36, 37/38, 15/16, 25/26,
//!   01, 19/20, 97/96), unknown fields kept, repeated AF/AG kept in order, either checksum flavour
//!   accepted on input (flagged).
//! * [`settings`]: per-library settings (character set, terminator, institution, location,
//!   credentials, optional fields, AFI, screen-message table) and the request builders.
//! * [`client`]: the sans-IO [`Session`]: login → status, sequence numbers, resend on `96`,
//!   `97` on a bad checksum, timeouts and retries from the ACS status, keep-alive.
//! * [`transport`]: blocking TCP with timeouts, reconnect + re-login + one retry; the
//!   [`transport::Connect`] trait is the seam for TLS.
//! * [`server`] and [`demo`]: the other side, a small built-in SIP2 server (ACS) serving a demo
//!   catalogue from memory for the demo mode ([`DemoServer`], [`DemoLibrary`]), built on the
//!   same codec and tested against pysip2's codec.
//!
//! Nothing here panics on input from the wire: decoders return [`DecodeError`], the client
//! returns [`Error`] with an [`ErrorKind`] (`Offline`, `Timeout`, `Protocol`, `LoginRefused`,
//! `Checksum`, …).

pub mod charset;
pub mod checksum;
pub mod client;
pub mod date;
pub mod demo;
pub mod error;
pub mod frame;
pub mod message;
pub mod server;
pub mod settings;
pub mod transport;

pub use charset::Charset;
pub use client::{Counters, Session, SessionState, Step};
pub use date::Timestamp;
pub use demo::DemoLibrary;
pub use error::{DecodeError, EncodeError, Error, ErrorKind};
pub use frame::Framer;
pub use message::{Codec, Message, PatronStatus, RawMessage, Terminator, Trailer};
pub use server::DemoServer;
pub use settings::{CircOptions, ScreenRule, Settings};
pub use transport::{Client, Connect, Connection, TcpConnector};
