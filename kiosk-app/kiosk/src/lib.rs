//! The kiosk app: a fullscreen Slint UI over the customer session.
//!
//! Design decisions:
//! * The UI's only API is a set of exported globals (`AppState`, `Theme` in `ui/*.slint`); the
//!   [`adapter`] writes them from the session and turns UI callbacks into session inputs.
//! * The [`session`] is a plain state machine fed with `Instant`s, tested without a window.
//! * UI text is English in the `.slint` sources, translated with `@tr` from the bundled `.po`
//!   files in the workspace `i18n/` folder; zh-CN is the default at start.
//! * Rendering is Slint's software renderer on winit (X11/Wayland); tests use Slint's testing
//!   backend, one platform per test binary (`tests/ui.rs`).

pub mod account_ui;
pub mod adapter;
pub mod attract;
pub mod borrow_ui;
pub mod catalogue;
pub mod cli;
pub mod devices;
pub mod giveback_ui;
pub mod library;
pub mod maintenance;
pub mod maintenance_ui;
pub mod narrator;
pub mod receipts;
pub mod records;
pub mod services;
pub mod session;

/// The compiled `.slint` UI: `App` and its exported globals.
// Slint's generated code has a `todo!` for embedding Rust-written components (unused here);
// the workspace's `clippy::todo` lint is for our code.
#[allow(clippy::todo)]
pub mod ui {
    slint::include_modules!();
}

pub use adapter::{Clock, Kiosk, KioskError};
pub use attract::{Announcement, Playlist};
pub use session::{EndReason, Input, Language, Outcome, Page, Session, SessionData, Trigger};
