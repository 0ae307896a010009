//! GA/T 467 ID-card SAM reader protocol, resident/permit card layouts, GB 11643 check digit.
//!
//! Sans-IO: this crate turns commands into bytes and bytes into typed replies and cards; the
//! device layer (`kiosk-devices`) moves the bytes, and the simulator (`kiosk-sim`) uses the same
//! codec from the SAM's side. Follows `shared/reference/devices.md` §1:
//!
//! * [`frame`]: `AA AA AA 96 69 | LEN(2, BE) | body | XOR` framing (§1.2) with an incremental
//!   [`frame::decode`] that reports garbage, oversized frames and bad checksums as typed errors.
//! * [`command`]: the SAM commands (§1.3), replies with SW1 SW2 SW3 and every SW3 status as a
//!   [`command::SamStatus`] (§1.4), the base-message payload (text, WLT photo, fingerprint).
//! * [`text`]: the 256-byte UCS-2 text block for the four card layouts (§1.6), decoded into an
//!   [`IdCard`] that is zeroized on drop and whose `Debug` hides name and number; and an encoder.
//! * [`gb11643`]: the ID-number check digit (§1.8); [`date`]: card dates and expiry;
//!   [`nation`]: the GB 3304 nation codes printed on resident cards.
//!
//! Design decisions: the photo is kept as an opaque 1024-byte WLT blob (decoding needs a licensed
//! vendor library, §1.7); fingerprint bytes are kept exactly as they arrive; payloads are parsed
//! by their length fields, never by total reply size (§1.5).

pub mod command;
pub mod date;
pub mod frame;
pub mod gb11643;
pub mod nation;
pub mod text;

pub use command::{BaseMessage, Command, Response, SamStatus, decode_sam_id};
pub use date::{Date, Validity};
pub use frame::{Frame, FrameError, decode, encode_frame};
pub use text::{CardKind, IdCard, Sex, TEXT_LEN, TextError, encode_text, parse_text};
