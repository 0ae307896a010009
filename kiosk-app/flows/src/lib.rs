//! Self-service flows as sans-IO state machines (`ARCHITECTURE.md`, "flows").
//!
//! A flow takes events — what the RFID pad saw, what the library system answered, what a tag
//! write read back — and returns the [`Action`]s to run next. A runner executes them on the
//! device classes and the SIP2 client and feeds the results back in. Nothing here does I/O or
//! reads a clock, so every rule (sets, items added or taken away mid-flow, refusals, the
//! security write checked by reading the tag back, offline limits) is tested with plain values.
//!
//! * [`pad`] groups the tags on the pad into library items (multi-part sets, ISO 28560-1 set
//!   information) and says which are not lendable (type of usage, unreadable data).
//! * [`stack`] is the engine both stack flows share: one line per item, the library-system
//!   request, the offline decision, and the gate-security write checked by reading it back.
//! * [`borrow`] checks out a whole stack for one patron and unsecures each item for the gate.
//! * [`giveback`] returns a stack (no sign-in) and secures each item again.
//! * [`offline`] is the per-library policy when the library system is unreachable.
//! * [`account`] loads the patron's loans, holds and fines and renews one or all loans.
//! * [`signin`] resolves the four ways of signing in (ID card, reader card, card + PIN, phone
//!   QR token) to the patron identifier the library system knows.
//! * [`run`] carries the actions out on the pad, the SIP2 client and the signed queue.

pub mod account;
pub mod borrow;
pub mod giveback;
pub mod offline;
pub mod pad;
pub mod receipt;
pub mod replay;
pub mod run;
pub mod signin;
pub mod stack;

pub use borrow::{BorrowFlow, Loan};
pub use giveback::{Checkin, ReturnFlow};
pub use offline::{OfflineDecision, OfflineLedger, OfflineMode, OfflinePolicy};
pub use pad::{PadItem, PadProblem, StrayTag, group_items};
pub use stack::{Line, LineStatus, StackFlow, StackSettings, StaffReason};

use kiosk_rfid::{SecurityState, Uid};

/// What the runner must do next for a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Check `item` out to the flow's patron at the library system (SIP2 11).
    CheckOut { item: String },
    /// Check `item` in (SIP2 09).
    CheckIn { item: String },
    /// Store the transaction in the signed offline queue, to replay when the library system is
    /// back (`due` is the fixed offline due date for a loan, `None` for a return).
    RecordOffline {
        item: String,
        kind: OfflineKind,
        due: Option<String>,
    },
    /// Write the AFI (and EAS) for `state` to the tag and read it back (`RfidReader::set_security`).
    Secure { uid: Uid, state: SecurityState },
}

/// Which transaction an offline record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineKind {
    Checkout,
    Checkin,
}

/// Why the library system refused an item, as a message id the UI translates, with the
/// library system's own screen message kept for staff and the maintenance log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: RefusalReason,
    /// The ILS's screen message (SIP2 AF), untranslated.
    pub ils_message: Option<String>,
}

impl Refusal {
    pub fn new(reason: RefusalReason) -> Self {
        Refusal {
            reason,
            ils_message: None,
        }
    }
    pub fn with_message(reason: RefusalReason, message: impl Into<String>) -> Self {
        Refusal {
            reason,
            ils_message: Some(message.into()),
        }
    }
}

/// The reasons a self-check shows patrons (`library.md` §5.2: friendly, translated text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalReason {
    /// The item is already on loan (to someone else, or the ILS did not check it in).
    AlreadyOnLoan,
    /// Another patron has a hold on it.
    OnHoldForAnother,
    /// The patron's account does not allow loans (blocked card, fines, too many items).
    PatronBlocked,
    /// Renewing is not allowed yet / any more.
    RenewalRefused,
    /// The library system does not know the item.
    UnknownItem,
    /// The library system is unreachable and the offline policy does not allow this.
    LibraryOffline,
    /// Offline limits reached (items per patron or per terminal).
    OfflineLimit,
    /// The item may not be lent while offline (ISO 28560 type of usage 1/3).
    NotForOfflineLoan,
    /// The offline record could not be stored (queue full, disk error): nothing was lent.
    NotRecorded,
    /// Any other refusal: the ILS's message is shown as it is.
    Other,
}

impl RefusalReason {
    /// Every reason, for catalogue checks and the UI's message tables (`message_ids` fails to
    /// compile when a new variant is missing here).
    pub const ALL: [RefusalReason; 10] = [
        RefusalReason::AlreadyOnLoan,
        RefusalReason::OnHoldForAnother,
        RefusalReason::PatronBlocked,
        RefusalReason::RenewalRefused,
        RefusalReason::UnknownItem,
        RefusalReason::LibraryOffline,
        RefusalReason::OfflineLimit,
        RefusalReason::NotForOfflineLoan,
        RefusalReason::NotRecorded,
        RefusalReason::Other,
    ];
}

impl RefusalReason {
    /// Message id for the translation catalogue (`i18n/*/kiosk.po`).
    pub fn message_id(self) -> &'static str {
        match self {
            RefusalReason::AlreadyOnLoan => {
                "This item is already on loan. Please take it to the desk."
            }
            RefusalReason::OnHoldForAnother => {
                "Another reader has reserved this item. Please take it to the desk."
            }
            RefusalReason::PatronBlocked => {
                "Your card cannot borrow at the moment. Please ask the staff."
            }
            RefusalReason::RenewalRefused => "This loan cannot be renewed now.",
            RefusalReason::UnknownItem => "This item is not known to the library system.",
            RefusalReason::LibraryOffline => {
                "The library system cannot be reached. Please try again later."
            }
            RefusalReason::OfflineLimit => {
                "While the library system is offline only a few items can be borrowed."
            }
            RefusalReason::NotForOfflineLoan => {
                "This item cannot be borrowed while the library system is offline."
            }
            RefusalReason::NotRecorded => {
                "This item could not be recorded. Nothing was lent. Please ask the staff."
            }
            RefusalReason::Other => "The library system refused this item.",
        }
    }
}

/// Every message id the flows can give the UI (refusals, sign-in and credential errors): each
/// is an English msgid of `i18n/<lang>/LC_MESSAGES/kiosk.po`; the app shows
/// `kiosk::catalogue::tr(language, id)`. Exhaustive matches keep this list complete.
pub fn message_ids() -> Vec<&'static str> {
    use signin::CredentialError as C;
    let refusals = RefusalReason::ALL;
    // A new variant fails to compile here until it is listed in `RefusalReason::ALL`.
    for r in refusals {
        match r {
            RefusalReason::AlreadyOnLoan
            | RefusalReason::OnHoldForAnother
            | RefusalReason::PatronBlocked
            | RefusalReason::RenewalRefused
            | RefusalReason::UnknownItem
            | RefusalReason::LibraryOffline
            | RefusalReason::OfflineLimit
            | RefusalReason::NotForOfflineLoan
            | RefusalReason::NotRecorded
            | RefusalReason::Other => {}
        }
    }
    let credential = [
        C::IdCardNotAccepted,
        C::Empty,
        C::NotAToken,
        C::Malformed(""),
        C::BadSignature,
        C::Expired,
        C::Replayed,
    ];
    let sign_in = [
        run::SignInError::UnknownPatron,
        run::SignInError::WrongPin,
        run::SignInError::Blocked(None),
        run::SignInError::Offline,
        run::SignInError::Failed(String::new()),
    ];
    let mut ids: Vec<&'static str> = refusals.iter().map(|r| r.message_id()).collect();
    ids.extend(credential.iter().map(C::message_id));
    ids.extend(sign_in.iter().map(run::SignInError::message_id));
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// How a library-system request ended, as the flows see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IlsOutcome<T> {
    Ok(T),
    Refused(Refusal),
    /// Unreachable or not answering (SIP2 client error of kind offline or timeout).
    Offline,
}

/// How a tag write ended: the AFI read back from the tag, or why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagWrite {
    /// The tag was read back with this AFI.
    ReadBack { afi: u8 },
    /// The tag is not on the pad (taken away before the write).
    Gone,
    /// The write or the read back failed (RF error, locked AFI…); may be retried.
    Failed(String),
}

/// How many times a failed tag write is retried before the item needs staff.
pub const SECURITY_RETRIES: u8 = 3;
