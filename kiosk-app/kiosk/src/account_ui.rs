//! The account page of the book self-checkout (`ui/account.slint`): the patron's loans with
//! their due dates, holds ready for pickup, fines; "Renew" per loan and "Renew all". The home
//! tiles "account" and "renew" open the borrow sign-in page ([`BorrowUi::open_for_account`]),
//! which hands the patron over; the library system is asked on the worker
//! ([`Job::Account`], [`Job::Renew`], [`Job::RenewAll`]). Texts are translated in the
//! `.slint` source; the patron's data is dropped whenever the session ends.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use kiosk_flows::account::{Account, RenewAll};
use kiosk_flows::run::Patron;
use kiosk_flows::{IlsOutcome, Loan, RefusalReason};
use slint::{ComponentHandle, ModelRc, VecModel};

use crate::adapter::Kiosk;
use crate::borrow_ui::BorrowUi;
use crate::library::{Done, Job, LibraryWorker};
use crate::session::Input;
use crate::ui::{AccountHoldRow, AccountInfo, AccountLoanRow, App};

/// A SIP2 date (`YYYYMMDDZZZZHHMMSS`) as `YYYY-MM-DD`; anything else as it is.
pub fn date(sip2: &str) -> String {
    let s = sip2.trim();
    let digits = s.get(..8).filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    match digits {
        Some(d) if s.len() >= 8 => format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]),
        _ => s.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Account,
    Renew,
    RenewAll,
}

#[derive(Default)]
struct State {
    open: bool,
    patron: Option<Patron>,
    account: Option<Account>,
    /// Per loan: "renewing", "renewed" or "refused" with its message id.
    results: BTreeMap<String, (&'static str, &'static str)>,
    /// Renewed and not renewed by the last "Renew all".
    renewed_all: Option<(usize, usize)>,
    /// Message id of the last failure to load or renew.
    error: Option<&'static str>,
    worker: Option<Rc<LibraryWorker>>,
    generation: u64,
    pending: std::collections::VecDeque<(u64, Kind)>,
}

impl State {
    fn forget(&mut self) {
        let worker = self.worker.take();
        let generation = self.generation + 1;
        let pending = std::mem::take(&mut self.pending);
        *self = State {
            worker,
            generation,
            pending,
            ..State::default()
        };
    }

    fn waiting(&self, kind: Kind) -> bool {
        self.pending
            .iter()
            .any(|&(g, k)| g == self.generation && k == kind)
    }
}

/// Why a library request failed, as a message id.
fn failure<T>(outcome: &IlsOutcome<T>) -> Option<&'static str> {
    match outcome {
        IlsOutcome::Ok(_) => None,
        IlsOutcome::Refused(r) => Some(r.reason.message_id()),
        IlsOutcome::Offline => Some(RefusalReason::LibraryOffline.message_id()),
    }
}

/// The account page wired to a kiosk window. Cheap to clone.
#[derive(Clone)]
pub struct AccountUi {
    app: slint::Weak<App>,
    kiosk: Kiosk,
    state: Rc<RefCell<State>>,
}

impl AccountUi {
    /// Wires the `AccountInfo` global; the home tiles "account" and "renew" open the sign-in page
    /// of `borrow`, which hands the signed-in patron to this page.
    pub fn attach(app: &App, kiosk: &Kiosk, borrow: &BorrowUi) -> AccountUi {
        let ui = AccountUi {
            app: app.as_weak(),
            kiosk: kiosk.clone(),
            state: Rc::new(RefCell::new(State::default())),
        };
        let p = app.global::<AccountInfo>();
        let u = ui.clone();
        p.on_renew(move |item| u.renew(&item));
        let u = ui.clone();
        p.on_renew_all(move || u.renew_all());
        let u = ui.clone();
        p.on_finish(move || {
            u.kiosk.input(Input::Touch);
            u.kiosk.input(Input::Finish);
        });
        for tile in ["account", "renew"] {
            let b = borrow.clone();
            kiosk.on_service(tile, move || b.open_for_account());
        }
        let u = ui.clone();
        borrow.on_account_sign_in(move |patron| u.show(patron));
        let u = ui.clone();
        kiosk.on_session_end(move || {
            u.state.borrow_mut().forget();
            u.sync();
        });
        ui.sync();
        ui
    }

    /// Asks the library on `worker` (give this page its own [`LibraryWorker::client`]).
    pub fn use_worker(&self, worker: Rc<LibraryWorker>) {
        self.state.borrow_mut().worker = Some(worker);
    }

    /// Whether the page shows.
    pub fn is_open(&self) -> bool {
        self.state.borrow().open
    }

    /// Shows the page for `patron` and loads the account.
    pub fn show(&self, patron: Patron) {
        {
            let mut s = self.state.borrow_mut();
            s.forget();
            s.open = true;
            s.patron = Some(patron);
        }
        self.send(Kind::Account);
        self.sync();
    }

    fn job(&self, kind: Kind, item: Option<String>) -> Option<Job> {
        let patron = self.state.borrow().patron.clone()?;
        Some(match (kind, item) {
            (Kind::Account, _) => Job::Account { patron },
            (Kind::Renew, Some(item)) => Job::Renew { patron, item },
            (Kind::Renew, None) => return None,
            (Kind::RenewAll, _) => Job::RenewAll { patron },
        })
    }

    fn send_job(&self, kind: Kind, item: Option<String>) -> bool {
        let Some(worker) = self.state.borrow().worker.clone() else {
            self.state.borrow_mut().error = Some(RefusalReason::LibraryOffline.message_id());
            return false;
        };
        let Some(job) = self.job(kind, item) else {
            return false;
        };
        let mut s = self.state.borrow_mut();
        if worker.send(job) {
            let g = s.generation;
            s.pending.push_back((g, kind));
            true
        } else {
            s.error = Some(RefusalReason::LibraryOffline.message_id());
            false
        }
    }

    fn send(&self, kind: Kind) -> bool {
        self.send_job(kind, None)
    }

    fn renew(&self, item: &str) {
        self.kiosk.input(Input::Touch);
        {
            let s = self.state.borrow();
            if !s.open || s.results.get(item).is_some_and(|r| r.0 == "renewing") {
                return;
            }
        }
        if self.send_job(Kind::Renew, Some(item.to_string())) {
            self.state
                .borrow_mut()
                .results
                .insert(item.to_string(), ("renewing", ""));
        }
        self.sync();
    }

    fn renew_all(&self) {
        self.kiosk.input(Input::Touch);
        {
            let s = self.state.borrow();
            if !s.open || s.waiting(Kind::RenewAll) {
                return;
            }
        }
        if self.send(Kind::RenewAll) {
            let mut s = self.state.borrow_mut();
            s.renewed_all = None;
            let items: Vec<String> = s
                .account
                .iter()
                .flat_map(|a| a.loans.iter().map(|l| l.item_id.clone()))
                .collect();
            for item in items {
                s.results.insert(item, ("renewing", ""));
            }
        }
        self.sync();
    }

    /// Takes the worker's answers. Returns whether anything changed.
    pub fn poll(&self) -> bool {
        // A card or phone code opened the borrow sign-in over this page: this patron's
        // account is not shown again when it closes.
        let borrowing = self.app.upgrade().is_some_and(|app| {
            app.global::<crate::ui::Borrow>().get_screen() != crate::ui::BorrowScreen::Closed
        });
        if borrowing && self.is_open() {
            self.state.borrow_mut().forget();
            self.sync();
        }
        let Some(worker) = self.state.borrow().worker.clone() else {
            return false;
        };
        let mut changed = false;
        while let Some(done) = worker.try_done() {
            changed = true;
            let (generation, _) = self
                .state
                .borrow_mut()
                .pending
                .pop_front()
                .unwrap_or((u64::MAX, Kind::Account));
            if generation != self.state.borrow().generation {
                continue;
            }
            match done {
                Done::Account(outcome) => {
                    let mut s = self.state.borrow_mut();
                    s.error = failure(&outcome);
                    if let IlsOutcome::Ok(account) = outcome {
                        s.account = Some(account);
                    }
                }
                Done::Renewed { item, outcome } => self.renewed(&item, &outcome),
                Done::RenewedAll(outcome) => self.renewed_all(outcome),
                _ => {}
            }
            self.sync();
        }
        changed
    }

    fn renewed(&self, item: &str, outcome: &IlsOutcome<Loan>) {
        let mut s = self.state.borrow_mut();
        let result = match failure(outcome) {
            None => ("renewed", ""),
            Some(id) => ("refused", id),
        };
        tracing::info!(target: "kiosk::account", renewed = result.0 == "renewed", "renew");
        s.results.insert(item.to_string(), result);
        if let IlsOutcome::Ok(Loan { due: Some(due), .. }) = outcome
            && let Some(loan) = s
                .account
                .as_mut()
                .and_then(|a| a.loans.iter_mut().find(|l| l.item_id == item))
        {
            loan.due = Some(due.clone());
        }
    }

    fn renewed_all(&self, outcome: IlsOutcome<RenewAll>) {
        {
            let mut s = self.state.borrow_mut();
            let renewing: Vec<String> = s
                .results
                .iter()
                .filter(|(_, r)| r.0 == "renewing")
                .map(|(i, _)| i.clone())
                .collect();
            match outcome {
                IlsOutcome::Ok(all) => {
                    for item in &all.renewed {
                        s.results.insert(item.clone(), ("renewed", ""));
                    }
                    for item in &all.not_renewed {
                        s.results.insert(
                            item.clone(),
                            ("refused", RefusalReason::RenewalRefused.message_id()),
                        );
                    }
                    for item in renewing {
                        if !all.renewed.contains(&item) && !all.not_renewed.contains(&item) {
                            s.results.remove(&item);
                        }
                    }
                    s.renewed_all = Some((all.renewed.len(), all.not_renewed.len()));
                    s.error = None;
                }
                other => {
                    for item in renewing {
                        s.results.remove(&item);
                    }
                    s.error = failure(&other);
                }
            }
        }
        // The new due dates.
        self.send(Kind::Account);
    }

    fn sync(&self) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let p = app.global::<AccountInfo>();
        let s = self.state.borrow();
        p.set_open(s.open);
        p.set_loading(s.open && s.account.is_none() && s.error.is_none());
        p.set_name(
            s.patron
                .as_ref()
                .and_then(|p| p.name.clone())
                .unwrap_or_default()
                .into(),
        );
        p.set_error(s.error.unwrap_or("").into());
        let account = s.account.clone().unwrap_or_default();
        let loans: Vec<AccountLoanRow> = account
            .loans
            .iter()
            .map(|l| {
                let (state, detail) = s.results.get(&l.item_id).copied().unwrap_or(("", ""));
                AccountLoanRow {
                    item_id: l.item_id.as_str().into(),
                    title: l.title.as_deref().unwrap_or(&l.item_id).into(),
                    due: l.due.as_deref().map(date).unwrap_or_default().into(),
                    state: state.into(),
                    detail: detail.into(),
                }
            })
            .collect();
        let holds: Vec<AccountHoldRow> = account
            .holds
            .iter()
            .map(|h| AccountHoldRow {
                title: h.title.as_deref().unwrap_or(&h.item_id).into(),
                ready: h.ready,
                pickup_by: h.pickup_by.as_deref().map(date).unwrap_or_default().into(),
            })
            .collect();
        let owed = account
            .fines
            .as_deref()
            .filter(|f| f.trim().parse::<f64>().map_or(true, |v| v > 0.0))
            .unwrap_or("");
        p.set_fines(owed.trim().into());
        p.set_currency(account.currency.clone().unwrap_or_default().into());
        p.set_loans(ModelRc::new(VecModel::from(loans)));
        p.set_holds(ModelRc::new(VecModel::from(holds)));
        let (renewed, not_renewed) = s.renewed_all.unwrap_or((0, 0));
        p.set_renewed_all(s.renewed_all.is_some());
        p.set_renewed(i32::try_from(renewed).unwrap_or(0));
        p.set_not_renewed(i32::try_from(not_renewed).unwrap_or(0));
        p.set_busy(s.waiting(Kind::RenewAll));
        drop(s);
        self.kiosk.narrate();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sip2_dates_show_as_days() {
        assert_eq!(super::date("20260310    235900"), "2026-03-10");
        assert_eq!(super::date("2026-12-30"), "2026-12-30");
        assert_eq!(super::date(""), "");
    }
}
