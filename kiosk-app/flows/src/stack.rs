//! The engine of the stack flows: a patron puts books on the pad and each item goes through
//! the library system and then the gate-security write, independently, while books may be added
//! or taken away at any time (`library.md` §4 and §5.8: the AFI must be written and read back
//! before the item shows as done; a book lifted before its write is asked back).
//!
//! [`StackFlow`] is generic over the [`Transaction`] (check out or check in), so borrow and
//! return share every rule about the pad, sets, retries and offline recording.

use std::collections::{BTreeMap, BTreeSet};

use kiosk_rfid::{AfiConfig, ItemTag, SecurityState, Uid};

use crate::offline::{OfflineDecision, OfflineLedger, OfflinePolicy};
use crate::pad::{PadItem, PadProblem, group_items};
use crate::{Action, IlsOutcome, OfflineKind, Refusal, RefusalReason, SECURITY_RETRIES, TagWrite};

/// What differs between borrowing and returning.
pub trait Transaction {
    /// What the library system answers for an accepted item.
    type Reply: Clone + std::fmt::Debug + PartialEq;
    /// The gate state an item ends in.
    const TARGET: SecurityState;
    /// The offline record kind.
    const OFFLINE_KIND: OfflineKind;
    /// The library-system request for `item`.
    fn request(item: &str) -> Action;
    /// The offline policy's word on `item` for `patron` (None for a return).
    fn offline(
        policy: &OfflinePolicy,
        ledger: &mut OfflineLedger,
        patron: Option<&str>,
        item: &PadItem,
    ) -> OfflineDecision;
    /// The reply recorded for an offline transaction (due date for a loan).
    fn offline_reply(title: Option<String>, due: Option<String>) -> Self::Reply;
    /// Whether the library system asks to leave the gate state alone for this item (SIP2 12
    /// desensitize `N`, 10 resensitize `N`).
    fn keep_state(reply: &Self::Reply) -> bool;
    /// The title in the reply, if any.
    fn title(reply: &Self::Reply) -> Option<&str>;
}

/// Settings of a stack flow (terminal profile and library settings).
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub afi: AfiConfig,
    pub offline: OfflinePolicy,
    /// Follow the library system's desensitize/resensitize flag (default true); when false the
    /// gate state is always written.
    pub honour_security_flag: bool,
}

impl Default for StackSettings {
    fn default() -> Self {
        StackSettings {
            afi: AfiConfig::default(),
            offline: OfflinePolicy::default(),
            honour_security_flag: true,
        }
    }
}

/// Why an item needs the staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffReason {
    /// The security write failed [`SECURITY_RETRIES`] times (last error).
    SecurityWrite(String),
    /// The library system asked not to change the item's gate state.
    KeptByLibrary,
}

/// Where one item stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineStatus<R> {
    /// Not sent: an incomplete set or an item that does not circulate.
    Waiting(PadProblem),
    /// Asked the library system.
    Asking,
    /// Library system unreachable; writing the offline record.
    Recording,
    /// Accepted; writing the gate state to its tags.
    Securing(R),
    /// Accepted, but a tag left the pad before its gate state was written: put it back.
    PutBack(R),
    /// Accepted and every tag reads back the right AFI.
    Done(R),
    Refused(Refusal),
    /// Accepted, but the gate state could not be set: the patron shows it at the desk.
    NeedsStaff(R, StaffReason),
}

/// One item of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<R> {
    pub item_id: String,
    pub title: Option<String>,
    pub status: LineStatus<R>,
    /// Taken offline (in the signed queue, to replay).
    pub offline: bool,
    item: PadItem,
    /// Tags whose gate state is not yet confirmed by a read-back.
    pending: BTreeSet<Uid>,
    in_flight: BTreeSet<Uid>,
    failures: BTreeMap<Uid, u8>,
}

impl<R> Line<R> {
    /// The tags of this item.
    pub fn uids(&self) -> impl Iterator<Item = Uid> + '_ {
        self.item.uids()
    }
}

/// A stack of items going through one transaction.
#[derive(Debug, Clone)]
pub struct StackFlow<T: Transaction> {
    patron: Option<String>,
    settings: StackSettings,
    lines: BTreeMap<String, Line<T::Reply>>,
    on_pad: BTreeSet<Uid>,
}

impl<T: Transaction> StackFlow<T> {
    pub fn new(patron: Option<String>, settings: StackSettings) -> Self {
        StackFlow {
            patron,
            settings,
            lines: BTreeMap::new(),
            on_pad: BTreeSet::new(),
        }
    }

    pub fn patron(&self) -> Option<&str> {
        self.patron.as_deref()
    }

    /// The items, sorted by item id.
    pub fn lines(&self) -> impl Iterator<Item = &Line<T::Reply>> {
        self.lines.values()
    }

    pub fn line(&self, item: &str) -> Option<&Line<T::Reply>> {
        self.lines.get(item)
    }

    /// Nothing is waiting for the library system, the queue or a tag: the patron may leave
    /// (lines asking to put a book back are not settled).
    pub fn is_settled(&self) -> bool {
        self.lines.values().all(|l| {
            !matches!(
                l.status,
                LineStatus::Asking
                    | LineStatus::Recording
                    | LineStatus::Securing(_)
                    | LineStatus::PutBack(_)
            )
        })
    }

    /// A new inventory of the pad: new items are sent, items taken away leave the list (unless
    /// accepted), books put back are secured.
    pub fn pad(&mut self, tags: &[ItemTag]) -> Vec<Action> {
        let (items, _stray) = group_items(tags);
        self.on_pad = crate::pad::all_uids(&items);
        let mut actions = Vec::new();
        let seen: BTreeSet<String> = items.iter().map(|i| i.item_id.clone()).collect();
        for item in items {
            match self.lines.get_mut(&item.item_id) {
                None => {
                    let mut line = Line {
                        item_id: item.item_id.clone(),
                        title: item.title.clone(),
                        status: LineStatus::Asking,
                        offline: false,
                        item,
                        pending: BTreeSet::new(),
                        in_flight: BTreeSet::new(),
                        failures: BTreeMap::new(),
                    };
                    match line.item.problem.clone() {
                        Some(p) => line.status = LineStatus::Waiting(p),
                        None => actions.push(T::request(&line.item_id)),
                    }
                    self.lines.insert(line.item_id.clone(), line);
                }
                Some(line) => {
                    if let LineStatus::Waiting(_) = line.status {
                        line.status = match item.problem.clone() {
                            Some(p) => LineStatus::Waiting(p),
                            None => {
                                actions.push(T::request(&line.item_id));
                                LineStatus::Asking
                            }
                        };
                    }
                    // Parts seen again keep their uids; a set's parts are the union.
                    for (part, uid) in &item.parts {
                        line.item.parts.insert(*part, *uid);
                    }
                    if line.title.is_none() {
                        line.title = item.title.clone();
                    }
                }
            }
        }
        // Items no longer on the pad: forgotten unless the library system has them already.
        self.lines.retain(|id, l| {
            seen.contains(id)
                || !matches!(l.status, LineStatus::Waiting(_) | LineStatus::Refused(_))
        });
        let on_pad = self.on_pad.clone();
        for line in self.lines.values_mut() {
            actions.extend(Self::secure_what_is_there(line, &on_pad));
        }
        actions
    }

    /// The library system's answer for `item`.
    pub fn answered(
        &mut self,
        item: &str,
        outcome: IlsOutcome<T::Reply>,
        ledger: &mut OfflineLedger,
    ) -> Vec<Action> {
        let on_pad = self.on_pad.clone();
        let Some(line) = self.lines.get_mut(item) else {
            return Vec::new();
        };
        if line.status != LineStatus::Asking {
            return Vec::new();
        }
        match outcome {
            IlsOutcome::Ok(reply) => {
                if let Some(t) = T::title(&reply) {
                    line.title = Some(t.to_string());
                }
                Self::accept(line, reply, &self.settings, &on_pad)
            }
            IlsOutcome::Refused(r) => {
                line.status = LineStatus::Refused(r);
                Vec::new()
            }
            IlsOutcome::Offline => {
                match T::offline(
                    &self.settings.offline,
                    ledger,
                    self.patron.as_deref(),
                    &line.item,
                ) {
                    OfflineDecision::Record { due } => {
                        line.status = LineStatus::Recording;
                        line.offline = true;
                        vec![Action::RecordOffline {
                            item: line.item_id.clone(),
                            kind: T::OFFLINE_KIND,
                            due,
                        }]
                    }
                    OfflineDecision::Refuse(reason) => {
                        line.status = LineStatus::Refused(Refusal::new(reason));
                        Vec::new()
                    }
                }
            }
        }
    }

    /// The offline record for `item` was stored (Ok, with the due date it holds) or not.
    pub fn recorded(
        &mut self,
        item: &str,
        result: Result<Option<String>, String>,
        ledger: &mut OfflineLedger,
    ) -> Vec<Action> {
        let on_pad = self.on_pad.clone();
        let Some(line) = self.lines.get_mut(item) else {
            return Vec::new();
        };
        if line.status != LineStatus::Recording {
            return Vec::new();
        }
        match result {
            Ok(due) => {
                let reply = T::offline_reply(line.title.clone(), due);
                // Offline there is no library-system flag to honour.
                let settings = StackSettings {
                    honour_security_flag: false,
                    ..self.settings.clone()
                };
                Self::accept(line, reply, &settings, &on_pad)
            }
            Err(e) => {
                if T::OFFLINE_KIND == OfflineKind::Checkout
                    && let Some(p) = self.patron.as_deref()
                {
                    ledger.release(p);
                }
                line.offline = false;
                line.status =
                    LineStatus::Refused(Refusal::with_message(RefusalReason::NotRecorded, e));
                Vec::new()
            }
        }
    }

    /// A tag write ended.
    pub fn tag_written(&mut self, uid: Uid, result: TagWrite) -> Vec<Action> {
        let target = self.settings.afi.afi_for(T::TARGET);
        let Some(line) = self.lines.values_mut().find(|l| l.in_flight.contains(&uid)) else {
            return Vec::new();
        };
        line.in_flight.remove(&uid);
        let error = match result {
            TagWrite::ReadBack { afi } if afi == target => {
                line.pending.remove(&uid);
                None
            }
            TagWrite::ReadBack { afi } => {
                Some(format!("AFI reads back {afi:02X}, expected {target:02X}"))
            }
            TagWrite::Gone => {
                self.on_pad.remove(&uid);
                None
            }
            TagWrite::Failed(e) => Some(e),
        };
        if let Some(e) = error {
            let n = line.failures.entry(uid).or_insert(0);
            *n += 1;
            if *n >= SECURITY_RETRIES {
                if let LineStatus::Securing(r) | LineStatus::PutBack(r) = &line.status {
                    line.status = LineStatus::NeedsStaff(r.clone(), StaffReason::SecurityWrite(e));
                }
                return Vec::new();
            }
        }
        let on_pad = self.on_pad.clone();
        Self::secure_what_is_there(line, &on_pad)
    }

    fn accept(
        line: &mut Line<T::Reply>,
        reply: T::Reply,
        settings: &StackSettings,
        on_pad: &BTreeSet<Uid>,
    ) -> Vec<Action> {
        if settings.honour_security_flag && T::keep_state(&reply) {
            line.status = LineStatus::NeedsStaff(reply, StaffReason::KeptByLibrary);
            return Vec::new();
        }
        line.pending = line.item.uids().collect();
        line.status = LineStatus::Securing(reply);
        Self::secure_what_is_there(line, on_pad)
    }

    /// Sends the writes a securing line can make now and derives its status.
    fn secure_what_is_there(line: &mut Line<T::Reply>, on_pad: &BTreeSet<Uid>) -> Vec<Action> {
        let reply = match &line.status {
            LineStatus::Securing(r) | LineStatus::PutBack(r) => r.clone(),
            _ => return Vec::new(),
        };
        let mut actions = Vec::new();
        for uid in line.pending.iter() {
            if on_pad.contains(uid) && !line.in_flight.contains(uid) {
                line.in_flight.insert(*uid);
                actions.push(Action::Secure {
                    uid: *uid,
                    state: T::TARGET,
                });
            }
        }
        line.status = if line.pending.is_empty() {
            LineStatus::Done(reply)
        } else if line
            .pending
            .iter()
            .any(|u| !on_pad.contains(u) && !line.in_flight.contains(u))
        {
            LineStatus::PutBack(reply)
        } else {
            LineStatus::Securing(reply)
        };
        actions
    }
}
