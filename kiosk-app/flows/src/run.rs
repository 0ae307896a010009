//! Runs the stack flows on real peers: the RFID pad through `RfidReader`, the library system
//! through the SIP2 client, the offline records through the signed queue. The flows decide;
//! this module only carries their actions out and feeds the results back. It blocks, so the app
//! runs it on a worker thread, never on the UI thread.

use kiosk_devices::rfid::{RfidError, RfidReader};
use kiosk_devices::{ErrorKind as DeviceErrorKind, HasKind};
use kiosk_sip2::{CircOptions, Client, Connect, ErrorKind, Settings, Timestamp};

use crate::borrow::Loan;
use crate::giveback::Checkin;
use crate::offline::OfflineLedger;
use crate::stack::{StackFlow, Transaction};
use crate::{Action, IlsOutcome, OfflineKind, Refusal, RefusalReason, TagWrite};

/// A signed-in patron, for the length of one session.
#[derive(Clone, PartialEq, Eq)]
pub struct Patron {
    /// The identifier the library system knows (SIP2 AA).
    pub id: String,
    pub pin: Option<String>,
    /// Name as the library system gives it, for the screen only.
    pub name: Option<String>,
}

// The identifier (an ID number when the library registers those) and the PIN are wiped from
// memory when the session's patron is dropped.
impl Drop for Patron {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.id.zeroize();
        self.pin.zeroize();
    }
}

impl std::fmt::Debug for Patron {
    // Personal data never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Patron(..)")
    }
}

/// Why a sign-in did not work, as the patron is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInError {
    UnknownPatron,
    WrongPin,
    /// The account may not borrow (blocked card, fines…), with the library's message.
    Blocked(Option<String>),
    /// The library system cannot be reached.
    Offline,
    /// Anything else the client reported (for the technician).
    Failed(String),
}

impl SignInError {
    /// Message id for the translation catalogue.
    pub fn message_id(&self) -> &'static str {
        match self {
            SignInError::UnknownPatron => "This card is not known to the library.",
            SignInError::WrongPin => "The password is not right. Please try again.",
            SignInError::Blocked(_) => RefusalReason::PatronBlocked.message_id(),
            SignInError::Offline => RefusalReason::LibraryOffline.message_id(),
            SignInError::Failed(_) => "Something went wrong. Please ask the staff.",
        }
    }
}

/// The library system as the stack flows need it.
pub trait Library {
    fn check_out(&mut self, patron: &Patron, item: &str) -> IlsOutcome<Loan>;
    fn check_in(&mut self, item: &str) -> IlsOutcome<Checkin>;
}

/// A refusal from a SIP2 answer: its first screen message mapped to a reason.
pub(crate) fn refusal(settings: &Settings, screens: &[String]) -> Refusal {
    let reason =
        screens
            .iter()
            .find_map(|s| settings.translate(s))
            .map_or(RefusalReason::Other, |id| match id {
                "sip2.item-already-out" => RefusalReason::AlreadyOnLoan,
                "sip2.item-on-hold" => RefusalReason::OnHoldForAnother,
                "sip2.renew-too-soon" | "sip2.renew-refused" => RefusalReason::RenewalRefused,
                "sip2.item-unknown" => RefusalReason::UnknownItem,
                id if id.starts_with("sip2.patron-") => RefusalReason::PatronBlocked,
                _ => RefusalReason::Other,
            });
    Refusal {
        reason,
        ils_message: screens.first().cloned(),
    }
}

pub(crate) fn offline_or_refused<T>(e: &kiosk_sip2::Error) -> IlsOutcome<T> {
    match e.kind() {
        ErrorKind::Offline | ErrorKind::Timeout => IlsOutcome::Offline,
        _ => IlsOutcome::Refused(Refusal::with_message(RefusalReason::Other, e.to_string())),
    }
}

fn flag(s: &str) -> Option<bool> {
    match s {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// The library system over SIP2 (`kiosk-sip2`).
pub struct Sip2Library<C: Connect> {
    pub client: Client<C>,
}

impl<C: Connect> Sip2Library<C> {
    pub fn new(client: Client<C>) -> Self {
        Sip2Library { client }
    }

    /// SIP2 63 Patron Information: valid patron, valid PIN, blocking status.
    pub fn sign_in(&mut self, id: &str, pin: Option<&str>) -> Result<Patron, SignInError> {
        let id = id.trim();
        let info = match self.client.patron_information(id, pin, None) {
            Ok(info) => info,
            Err(e) if matches!(e.kind(), ErrorKind::Offline | ErrorKind::Timeout) => {
                return Err(SignInError::Offline);
            }
            Err(e) => return Err(SignInError::Failed(e.to_string())),
        };
        if info
            .valid_patron
            .as_deref()
            .is_some_and(|v| flag(v) == Some(false))
        {
            return Err(SignInError::UnknownPatron);
        }
        if pin.is_some()
            && info
                .valid_patron_password
                .as_deref()
                .is_some_and(|v| flag(v) == Some(false))
        {
            return Err(SignInError::WrongPin);
        }
        let status = kiosk_sip2::PatronStatus::parse(&info.patron_status);
        if self.client.settings().blocks_checkout(&status) {
            return Err(SignInError::Blocked(info.screen_message.first().cloned()));
        }
        Ok(Patron {
            id: id.to_string(),
            pin: pin.map(str::to_string),
            name: info.personal_name.clone(),
        })
    }
}

impl<C: Connect> Library for Sip2Library<C> {
    fn check_out(&mut self, patron: &Patron, item: &str) -> IlsOutcome<Loan> {
        let options = CircOptions {
            pin: patron.pin.clone(),
            ..CircOptions::default()
        };
        match self.client.checkout(&patron.id, item, &options) {
            Ok(r) if flag(&r.ok) == Some(true) => IlsOutcome::Ok(Loan {
                title: r.title_identifier.clone(),
                due: r.due_date.clone(),
                desensitize: flag(&r.desensitize),
            }),
            Ok(r) => IlsOutcome::Refused(refusal(self.client.settings(), &r.screen_message)),
            Err(e) => offline_or_refused(&e),
        }
    }

    fn check_in(&mut self, item: &str) -> IlsOutcome<Checkin> {
        match self.client.checkin(item, false, None) {
            Ok(r) if flag(&r.ok) == Some(true) => IlsOutcome::Ok(Checkin {
                title: r.title_identifier.clone(),
                sort_bin: r.sort_bin.clone(),
                on_hold: r.hold_patron_id.is_some()
                    || matches!(r.alert_type.as_deref(), Some("01") | Some("02")),
                alert: flag(&r.alert) == Some(true),
                resensitize: flag(&r.resensitize),
            }),
            Ok(r) => IlsOutcome::Refused(refusal(self.client.settings(), &r.screen_message)),
            Err(e) => offline_or_refused(&e),
        }
    }
}

/// Where offline transactions are stored (the signed queue).
pub trait OfflineStore {
    /// Stores one transaction durably; Ok only after the commit returned.
    fn record(
        &mut self,
        kind: OfflineKind,
        patron: Option<&Patron>,
        item: &str,
        due: Option<&str>,
    ) -> Result<(), String>;
}

/// Offline transactions as records of the signed queue (`backoffice/PROTOCOL.md`): kinds
/// `library.checkout` / `library.checkin`, payload with the item, the patron identifier, the
/// original time (SIP2 18-character date) and the due date promised.
pub struct QueueOffline<'a> {
    pub queue: &'a kiosk_queue::Queue,
}

impl OfflineStore for QueueOffline<'_> {
    fn record(
        &mut self,
        kind: OfflineKind,
        patron: Option<&Patron>,
        item: &str,
        due: Option<&str>,
    ) -> Result<(), String> {
        let kind = match kind {
            OfflineKind::Checkout => "library.checkout",
            OfflineKind::Checkin => "library.checkin",
        };
        let payload = serde_json::json!({
            "item": item,
            "patron": patron.map(|p| p.id.as_str()),
            "at": Timestamp::now().to_sip2(),
            "due": due,
        });
        self.queue
            .enqueue(kind, &payload)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The peers a stack flow runs against.
pub struct Peers<'a> {
    pub pad: &'a mut dyn RfidReader,
    pub library: &'a mut dyn Library,
    pub offline: &'a mut dyn OfflineStore,
    pub ledger: &'a mut OfflineLedger,
}

/// How a transaction is asked of the library system.
pub trait Ask: Transaction {
    fn ask(
        library: &mut dyn Library,
        patron: Option<&Patron>,
        item: &str,
    ) -> IlsOutcome<Self::Reply>;
}

impl Ask for crate::borrow::Borrow {
    fn ask(library: &mut dyn Library, patron: Option<&Patron>, item: &str) -> IlsOutcome<Loan> {
        match patron {
            Some(p) => library.check_out(p, item),
            None => IlsOutcome::Refused(Refusal::new(RefusalReason::PatronBlocked)),
        }
    }
}

impl Ask for crate::giveback::GiveBack {
    fn ask(library: &mut dyn Library, _: Option<&Patron>, item: &str) -> IlsOutcome<Checkin> {
        library.check_in(item)
    }
}

/// One round: inventory the pad, then carry out every action until the flow asks for nothing
/// more. The pad's own failures end the round with the error (the flow keeps its state; the
/// next round picks up where it stopped).
pub fn round<T: Ask>(
    flow: &mut StackFlow<T>,
    patron: Option<&Patron>,
    peers: &mut Peers<'_>,
) -> Result<(), RfidError> {
    let tags = peers.pad.inventory()?;
    let mut todo: std::collections::VecDeque<Action> = flow.pad(&tags).into();
    while let Some(action) = todo.pop_front() {
        let next = match action {
            Action::CheckOut { item } | Action::CheckIn { item } => {
                let outcome = T::ask(peers.library, patron, &item);
                flow.answered(&item, outcome, peers.ledger)
            }
            Action::RecordOffline { item, kind, due } => {
                let result = peers
                    .offline
                    .record(kind, patron, &item, due.as_deref())
                    .map(|()| due);
                flow.recorded(&item, result, peers.ledger)
            }
            Action::Secure { uid, state } => {
                let write = match peers.pad.set_security(uid, state) {
                    Ok(tag) => TagWrite::ReadBack { afi: tag.afi },
                    Err(e) if e.kind() == DeviceErrorKind::NoMedia => TagWrite::Gone,
                    // The pad itself is gone: end the round, the supervisor reopens it.
                    Err(e)
                        if matches!(
                            e.kind(),
                            DeviceErrorKind::Disconnected
                                | DeviceErrorKind::NotFound
                                | DeviceErrorKind::Timeout
                        ) =>
                    {
                        return Err(e);
                    }
                    Err(e) => TagWrite::Failed(e.to_string()),
                };
                flow.tag_written(uid, write)
            }
        };
        todo.extend(next);
    }
    Ok(())
}
