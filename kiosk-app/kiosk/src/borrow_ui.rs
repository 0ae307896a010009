//! The borrow screens of the book self-checkout (`ui/borrow.slint`): sign in, the stack on the
//! pad, the receipt choice and the receipt's QR code for a phone. This module turns a [`kiosk_flows::BorrowFlow`] into the `Borrow`
//! global's rows and count ([`rows`]) and the UI's callbacks into flow inputs; every text is
//! translated in the `.slint` source (`Borrow.status-text`, `Borrow.message` map the flows'
//! message ids through `@tr`).
//!
//! In the app the sign-ins and the pad run on a [`LibraryWorker`] ([`BorrowUi::use_worker`],
//! [`BorrowUi::poll`]). Without one, whoever has the events feeds them in through
//! [`BorrowUi::pad`], [`BorrowUi::answered`] and [`BorrowUi::tag_written`] and the
//! [`Verifier`] checks patrons on the UI thread (the UI tests and goldens, with [`demo`]).
//!
//! What the patron typed and the flow (which names the patron) are dropped when the session
//! ends, however it ends ([`crate::Kiosk::on_session_end`]).

use std::cell::RefCell;
use std::rc::Rc;

use kiosk_flows::receipt::{self, PatronChoice, ReceiptDecision, ReceiptMode};
use kiosk_flows::run::{Patron, SignInError};
use kiosk_flows::signin::{self, Credential, PatronLookup, SeenTokens, SignInSettings};
use kiosk_flows::{
    Action, BorrowFlow, IlsOutcome, LineStatus, Loan, OfflineLedger, PadProblem, RefusalReason,
    StackSettings, TagWrite,
};
use kiosk_rfid::{ItemTag, Uid};
use slint::{ComponentHandle, ModelRc, VecModel};
use zeroize::Zeroizing;

use crate::adapter::Kiosk;
use crate::library::{Done, Job, LibraryWorker};
use crate::session::Input;
use crate::ui::{App, Borrow, BorrowRow, BorrowScreen};

/// Checks a patron at the library system.
pub type Verifier = Box<dyn FnMut(&PatronLookup) -> Result<Patron, SignInError>>;

/// Shown while the library system checks a sign-in (translated in `ui/borrow.slint`).
pub const CHECKING: &str = "Checking your card with the library…";

/// Longest card number and PIN the keypad takes.
const MAX_CARD: usize = 20;
const MAX_PIN: usize = 12;

/// Every refusal a borrow can show (their message ids are translated in `ui/borrow.slint`).
pub const REFUSALS: [RefusalReason; 10] = RefusalReason::ALL;

/// Before [`BorrowUi::set_receipts`]: the patron is asked (paper and phone), nothing is printed.
fn default_receipts() -> crate::receipts::ReceiptOptions {
    crate::receipts::ReceiptOptions {
        mode: ReceiptMode::Ask,
        make: Rc::new(|flow, language| crate::receipts::borrow_receipt(flow, language, "", "")),
        print: None,
        paper_ready: Rc::new(|| true),
    }
}

/// The count shown above the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Items lent (done, or lent but to be shown at the desk).
    pub borrowed: usize,
    pub total: usize,
    /// Nothing is in progress: the patron may finish.
    pub settled: bool,
}

/// The rows and the count the stack page shows for `flow`.
pub fn rows(flow: &BorrowFlow) -> (Vec<BorrowRow>, Summary) {
    let mut borrowed = 0;
    let rows: Vec<BorrowRow> = flow
        .lines()
        .map(|line| {
            let (state, detail, present, total) = match &line.status {
                LineStatus::Asking | LineStatus::Recording => ("checking", String::new(), 0, 0),
                LineStatus::Securing(_) => ("securing", String::new(), 0, 0),
                LineStatus::PutBack(_) => ("put-back", String::new(), 0, 0),
                LineStatus::Done(loan) => {
                    borrowed += 1;
                    ("done", due(loan), 0, 0)
                }
                LineStatus::NeedsStaff(loan, _) => {
                    borrowed += 1;
                    ("staff", due(loan), 0, 0)
                }
                LineStatus::Refused(r) => ("refused", r.reason.message_id().to_string(), 0, 0),
                LineStatus::Waiting(PadProblem::IncompleteSet { present, total }) => (
                    "incomplete",
                    String::new(),
                    i32::from(*present),
                    i32::from(*total),
                ),
                LineStatus::Waiting(PadProblem::NotForLoan) => {
                    ("not-for-loan", String::new(), 0, 0)
                }
            };
            BorrowRow {
                // A tag without a title still shows its barcode.
                title: line.title.as_deref().unwrap_or(&line.item_id).into(),
                item_id: line.item_id.as_str().into(),
                state: state.into(),
                detail: detail.into(),
                present,
                total,
            }
        })
        .collect();
    // What the patron must act on first, then what is in progress, then the loans: the rows
    // that need a hand stay in view on a short screen. Within a group, by item id.
    let mut rows = rows;
    rows.sort_by_key(|r| match r.state.as_str() {
        "refused" | "incomplete" | "not-for-loan" | "put-back" | "staff" => 0,
        "checking" | "securing" => 1,
        _ => 2,
    });
    let summary = Summary {
        borrowed,
        total: rows.len(),
        settled: flow.is_settled(),
    };
    (rows, summary)
}

fn due(loan: &Loan) -> String {
    loan.due.clone().unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Card,
    Pin,
}

struct State {
    screen: BorrowScreen,
    card: Zeroizing<String>,
    pin: Zeroizing<String>,
    field: Field,
    error: Option<&'static str>,
    flow: Option<BorrowFlow>,
    ledger: OfflineLedger,
    settings: SignInSettings,
    seen: SeenTokens,
    verifier: Verifier,
    /// The receipt the last patron chose ("print", "phone", "none"), for the receipt module.
    last_receipt: Option<String>,
    /// The library system and the pad on their worker thread (a real terminal and the demo
    /// app); without one the verifier checks patrons and the caller feeds the pad.
    worker: Option<Rc<LibraryWorker>>,
    /// The signed-in patron, for the worker's rounds.
    patron: Option<Patron>,
    /// Counts sessions: a job's answer from an earlier session is dropped, not shown.
    generation: u64,
    /// Generations of the jobs sent and not answered yet, oldest first (the worker answers
    /// in order).
    pending: std::collections::VecDeque<(u64, JobKind)>,
    /// AFI values and offline policy of the library.
    stack: StackSettings,
    /// The identifier of the sign-in waiting for the library system's answer: with a
    /// return-and-borrow offline policy an unreachable library system lets the patron borrow
    /// on it (checked when the transactions replay).
    asked_for: Option<Zeroizing<String>>,
    /// What receipts the terminal makes, and how.
    receipts: crate::receipts::ReceiptOptions,
    /// The receipt choice offers paper (the printer could print when it was shown).
    paper_offered: bool,
    /// The phone page's QR code was shown because the printer could not print.
    instead_of_paper: bool,
    /// The phone page's QR code.
    receipt_qr: Option<slint::Image>,
    /// The sign-in page signs in for the account page, not to borrow.
    for_account: bool,
    /// Gets the patron signed in for the account page.
    account: Option<Rc<dyn Fn(Patron)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    SignIn,
    Borrow,
}

impl State {
    fn forget(&mut self) {
        self.screen = BorrowScreen::Closed;
        self.card = Zeroizing::new(String::new());
        self.pin = Zeroizing::new(String::new());
        self.field = Field::Card;
        self.error = None;
        self.flow = None;
        self.patron = None;
        self.for_account = false;
        self.asked_for = None;
        self.instead_of_paper = false;
        self.receipt_qr = None;
        self.generation += 1;
    }

    fn waiting_for(&self, kind: JobKind) -> bool {
        let current = self.generation;
        self.pending.iter().any(|&(g, k)| g == current && k == kind)
    }
}

/// The borrow screens wired to a kiosk window. Cheap to clone (shared state).
#[derive(Clone)]
pub struct BorrowUi {
    app: slint::Weak<App>,
    kiosk: Kiosk,
    state: Rc<RefCell<State>>,
}

impl BorrowUi {
    /// Wires the `Borrow` global of `app`; the home tile "borrow" opens the sign-in page.
    pub fn attach(app: &App, kiosk: &Kiosk, verifier: Verifier) -> BorrowUi {
        let ui = BorrowUi {
            app: app.as_weak(),
            kiosk: kiosk.clone(),
            state: Rc::new(RefCell::new(State {
                screen: BorrowScreen::Closed,
                card: Zeroizing::new(String::new()),
                pin: Zeroizing::new(String::new()),
                field: Field::Card,
                error: None,
                flow: None,
                ledger: OfflineLedger::default(),
                settings: SignInSettings::default(),
                seen: SeenTokens::default(),
                verifier,
                last_receipt: None,
                worker: None,
                patron: None,
                generation: 0,
                pending: Default::default(),
                receipts: default_receipts(),
                paper_offered: true,
                instead_of_paper: false,
                receipt_qr: None,
                for_account: false,
                account: None,
                stack: StackSettings::default(),
                asked_for: None,
            })),
        };
        let b = app.global::<Borrow>();
        let u = ui.clone();
        b.on_select_field(move |f| {
            u.activity();
            u.state.borrow_mut().field = if f == "pin" { Field::Pin } else { Field::Card };
            u.sync();
        });
        let u = ui.clone();
        b.on_key(move |k| u.key(&k));
        let u = ui.clone();
        b.on_backspace(move || u.backspace());
        let u = ui.clone();
        b.on_submit_card(move || u.submit_typed());
        let u = ui.clone();
        b.on_cancel(move || {
            u.activity();
            u.state.borrow_mut().forget();
            u.sync();
        });
        let u = ui.clone();
        b.on_finish(move || u.finish());
        let u = ui.clone();
        b.on_choose_receipt(move |choice| u.choose_receipt(&choice));
        let u = ui.clone();
        b.on_receipt_done(move || {
            if u.state.borrow().screen == BorrowScreen::Phone {
                u.end_with_receipt("phone");
            }
        });

        let u = ui.clone();
        kiosk.on_service("borrow", move || u.open());
        let u = ui.clone();
        kiosk.on_session_end(move || {
            u.state.borrow_mut().forget();
            u.sync();
        });
        ui.sync();
        ui
    }

    /// Shows the sign-in page (the home tile "borrow").
    pub fn open(&self) {
        {
            let mut s = self.state.borrow_mut();
            s.forget();
            s.screen = BorrowScreen::Signin;
        }
        self.sync();
    }

    /// Shows the sign-in page to sign in for the account page: the hook of
    /// [`BorrowUi::on_account_sign_in`] gets the patron instead of the stack page opening.
    pub fn open_for_account(&self) {
        {
            let mut s = self.state.borrow_mut();
            s.forget();
            s.screen = BorrowScreen::Signin;
            s.for_account = true;
        }
        self.sync();
    }

    /// Called with the patron signed in on a page opened by [`BorrowUi::open_for_account`].
    pub fn on_account_sign_in(&self, hook: impl Fn(Patron) + 'static) {
        self.state.borrow_mut().account = Some(Rc::new(hook));
    }

    /// The screen showing.
    pub fn screen(&self) -> BorrowScreen {
        self.state.borrow().screen
    }

    /// The receipt the last patron chose.
    pub fn last_receipt(&self) -> Option<String> {
        self.state.borrow().last_receipt.clone()
    }

    /// Reads the flow of the signed-in patron.
    pub fn with_flow<R>(&self, f: impl FnOnce(Option<&BorrowFlow>) -> R) -> R {
        f(self.state.borrow().flow.as_ref())
    }

    /// A credential from a device (reader card, ID card, phone QR) on the sign-in page;
    /// `now` is Unix seconds (phone codes expire).
    pub fn sign_in(&self, credential: &Credential, now: i64) -> bool {
        self.activity();
        let result = {
            let mut s = self.state.borrow_mut();
            if s.screen != BorrowScreen::Signin {
                return false;
            }
            let State { settings, seen, .. } = &mut *s;
            signin::resolve(credential, settings, seen, now)
        };
        let ok = match result {
            Ok(lookup) => self.check(&lookup),
            Err(e) => {
                self.state.borrow_mut().error = Some(e.message_id());
                false
            }
        };
        self.sync();
        ok
    }

    /// A new inventory of the pad.
    pub fn pad(&self, tags: &[ItemTag]) -> Vec<Action> {
        self.activity();
        let actions = self.with_flow_mut(|f, _| f.pad(tags));
        self.sync();
        actions
    }

    /// The library system's answer for `item`.
    pub fn answered(&self, item: &str, outcome: IlsOutcome<Loan>) -> Vec<Action> {
        let actions = self.with_flow_mut(|f, ledger| f.answered(item, outcome, ledger));
        self.sync();
        actions
    }

    /// A tag write ended.
    pub fn tag_written(&self, uid: Uid, result: TagWrite) -> Vec<Action> {
        let actions = self.with_flow_mut(|f, _| f.tag_written(uid, result));
        self.sync();
        actions
    }

    /// Runs sign-ins and the pad on `worker` from now on: the verifier and the callers' pad
    /// feed are no longer used. [`BorrowUi::poll`] must then be called often (the app's timer).
    pub fn use_worker(&self, worker: Rc<LibraryWorker>) {
        let mut s = self.state.borrow_mut();
        // Jobs sent to an earlier worker are never answered by this one.
        s.pending.clear();
        s.worker = Some(worker);
    }

    /// How receipts are offered and made from now on (without: both offered, none made).
    pub fn set_receipts(&self, receipts: crate::receipts::ReceiptOptions) {
        self.state.borrow_mut().receipts = receipts;
    }

    /// The library's AFI values and offline policy for the next flows.
    pub fn set_stack_settings(&self, settings: StackSettings) {
        self.state.borrow_mut().stack = settings;
    }

    /// How sign-ins are checked (ID card rule, the phone-code issuer's key).
    pub fn set_sign_in(&self, settings: SignInSettings) {
        self.state.borrow_mut().settings = settings;
    }

    /// Whether a library worker runs the sign-ins and the pad.
    pub fn has_worker(&self) -> bool {
        self.state.borrow().worker.is_some()
    }

    /// Takes the worker's answers and starts the next pad round while the stack page shows.
    /// Returns whether anything changed.
    pub fn poll(&self) -> bool {
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
                .unwrap_or((u64::MAX, JobKind::Borrow));
            if generation != self.state.borrow().generation {
                // The session ended meanwhile: the answer is dropped with whatever it names.
                continue;
            }
            match done {
                Done::SignedIn(result) => {
                    let asked_for = {
                        let mut st = self.state.borrow_mut();
                        st.error = None;
                        st.asked_for.take()
                    };
                    let offline_loans = self.state.borrow().stack.offline.mode
                        == kiosk_flows::OfflineMode::ReturnAndBorrow;
                    let result = match (result, asked_for) {
                        (Err(SignInError::Offline), Some(id)) if offline_loans => {
                            tracing::info!(target: "kiosk::borrow", "library system offline: signed in unverified for offline loans");
                            Ok(Patron {
                                id: id.to_string(),
                                pin: None,
                                name: None,
                            })
                        }
                        (result, _) => result,
                    };
                    self.signed_in(result);
                }
                Done::Borrow { flow, error } => {
                    if let Some(e) = error {
                        tracing::warn!(target: "kiosk::borrow", "pad round stopped: {e}");
                    }
                    let mut s = self.state.borrow_mut();
                    let before = s.flow.as_ref().map(|f| f.lines().count());
                    let now = flow.lines().count();
                    s.flow = Some(flow);
                    drop(s);
                    if before != Some(now) {
                        // Books put on or taken off the pad count as the patron's activity.
                        self.activity();
                    }
                }
                // Other screens' answers go to their own handles (LibraryWorker::client).
                _ => {}
            }
            self.sync();
        }
        let round = {
            let s = self.state.borrow();
            match (&s.flow, &s.patron) {
                (Some(flow), Some(patron))
                    if s.screen == BorrowScreen::Stack && !s.waiting_for(JobKind::Borrow) =>
                {
                    Some((flow.clone(), patron.clone()))
                }
                _ => None,
            }
        };
        if let Some((flow, patron)) = round
            && worker.send(Job::Borrow { flow, patron })
        {
            let mut s = self.state.borrow_mut();
            let g = s.generation;
            s.pending.push_back((g, JobKind::Borrow));
        }
        changed
    }

    fn with_flow_mut(
        &self,
        f: impl FnOnce(&mut BorrowFlow, &mut OfflineLedger) -> Vec<Action>,
    ) -> Vec<Action> {
        let mut s = self.state.borrow_mut();
        let State { flow, ledger, .. } = &mut *s;
        match flow.as_mut() {
            Some(flow) => f(flow, ledger),
            None => Vec::new(),
        }
    }

    fn activity(&self) {
        self.kiosk.input(Input::Touch);
    }

    fn key(&self, digit: &str) {
        self.activity();
        {
            let mut s = self.state.borrow_mut();
            let (text, max) = match s.field {
                Field::Card => (&mut s.card, MAX_CARD),
                Field::Pin => (&mut s.pin, MAX_PIN),
            };
            if text.chars().count() < max {
                text.push_str(digit);
            }
        }
        self.sync();
    }

    fn backspace(&self) {
        self.activity();
        {
            let mut s = self.state.borrow_mut();
            match s.field {
                Field::Card => s.card.pop(),
                Field::Pin => s.pin.pop(),
            };
        }
        self.sync();
    }

    /// "Next" on the card number goes to the password; "Sign in" checks both.
    fn submit_typed(&self) {
        self.activity();
        let credential = {
            let mut s = self.state.borrow_mut();
            if s.field == Field::Card && !s.card.is_empty() && s.pin.is_empty() {
                s.field = Field::Pin;
                s.error = None;
                None
            } else {
                Some(Credential::CardAndPin {
                    card: s.card.to_string(),
                    pin: s.pin.to_string(),
                })
            }
        };
        match credential {
            Some(c) => {
                // Unix time only matters for phone codes.
                self.sign_in(&c, 0);
            }
            None => self.sync(),
        }
    }

    fn check(&self, lookup: &PatronLookup) -> bool {
        let worker = self.state.borrow().worker.clone();
        if let Some(worker) = worker {
            let mut s = self.state.borrow_mut();
            if s.waiting_for(JobKind::SignIn) {
                return false;
            }
            s.pin = Zeroizing::new(String::new());
            s.error = Some(CHECKING);
            s.asked_for = Some(Zeroizing::new(lookup.patron_id.clone()));
            if worker.send(Job::SignIn(lookup.clone())) {
                let g = s.generation;
                s.pending.push_back((g, JobKind::SignIn));
            } else {
                s.error = Some(SignInError::Offline.message_id());
            }
            return false;
        }
        let result = (self.state.borrow_mut().verifier)(lookup);
        self.signed_in(result)
    }

    /// The library system's answer to a sign-in.
    fn signed_in(&self, result: Result<Patron, SignInError>) -> bool {
        let mut s = self.state.borrow_mut();
        s.pin = Zeroizing::new(String::new());
        match result {
            Ok(patron) => {
                self.kiosk.with_session_mut(|session| {
                    if let Some(data) = session.data_mut() {
                        data.holder_id.clone_from(&patron.id);
                        if let Some(name) = &patron.name {
                            data.holder_name.clone_from(name);
                        }
                    }
                });
                s.card = Zeroizing::new(String::new());
                s.field = Field::Card;
                s.error = None;
                if s.for_account
                    && let Some(hook) = s.account.clone()
                {
                    s.forget();
                    drop(s);
                    tracing::info!(target: "kiosk::borrow", "signed in for the account");
                    hook(patron);
                    self.sync();
                    return true;
                }
                s.flow = Some(BorrowFlow::new(Some(patron.id.clone()), s.stack.clone()));
                s.patron = Some(patron);
                s.screen = BorrowScreen::Stack;
                tracing::info!(target: "kiosk::borrow", "signed in");
                true
            }
            Err(e) => {
                tracing::info!(target: "kiosk::borrow", ?e, "sign-in refused");
                s.field = Field::Pin;
                s.error = Some(e.message_id());
                false
            }
        }
    }

    /// "Finish" once every book is settled: the receipt the library setting and the printer
    /// allow (the choice, the slip, the phone page, or none), or with nothing on the pad the
    /// end of the session.
    fn finish(&self) {
        self.activity();
        let nothing = {
            let s = self.state.borrow();
            let Some(flow) = s.flow.as_ref().filter(|_| s.screen == BorrowScreen::Stack) else {
                return;
            };
            if !flow.is_settled() {
                return;
            }
            flow.lines().next().is_none()
        };
        if nothing {
            self.kiosk.input(Input::Finish);
            return;
        }
        self.receipt(None);
    }

    /// Acts on the receipt decision for the patron's `choice` (`None`: not asked yet).
    fn receipt(&self, choice: Option<PatronChoice>) {
        let (mode, ready) = {
            let s = self.state.borrow();
            (s.receipts.mode, (s.receipts.paper_ready)())
        };
        match receipt::decide(mode, choice, ready) {
            ReceiptDecision::AskPatron { paper } => {
                {
                    let mut s = self.state.borrow_mut();
                    s.screen = BorrowScreen::Receipt;
                    s.paper_offered = paper;
                }
                self.sync();
            }
            ReceiptDecision::Nothing => self.end_with_receipt("none"),
            ReceiptDecision::Print => {
                let receipt = self.make_receipt();
                let print = self.state.borrow().receipts.print.clone();
                match (receipt, print) {
                    (Some(receipt), Some(print)) => print(receipt),
                    (_, None) => {
                        tracing::warn!(target: "kiosk::receipt", "no receipt printer: nothing printed")
                    }
                    (None, _) => {}
                }
                self.end_with_receipt("print");
            }
            ReceiptDecision::Pdf { instead_of_paper } => {
                let qr = self.make_receipt().and_then(|r| {
                    crate::receipts::qr_image(&r.payload(), 6)
                        .map_err(|e| tracing::error!(target: "kiosk::receipt", "{e}"))
                        .ok()
                });
                if qr.is_none() {
                    self.end_with_receipt("none");
                    return;
                }
                {
                    let mut s = self.state.borrow_mut();
                    s.screen = BorrowScreen::Phone;
                    s.instead_of_paper = instead_of_paper;
                    s.receipt_qr = qr;
                }
                tracing::info!(target: "kiosk::receipt", instead_of_paper, "receipt shown as a QR code");
                self.sync();
            }
        }
    }

    /// The receipt of the settled flow in the patron's language (logged when it cannot be made).
    fn make_receipt(&self) -> Option<kiosk_flows::receipt::CircReceipt> {
        let language = self.kiosk.with_session(|s| s.language());
        let s = self.state.borrow();
        let flow = s.flow.as_ref()?;
        (s.receipts.make)(flow, language)
            .map_err(|e| tracing::error!(target: "kiosk::receipt", "no receipt: {e}"))
            .ok()
    }

    /// The patron picked a receipt on the choice page.
    fn choose_receipt(&self, choice: &str) {
        if self.state.borrow().screen != BorrowScreen::Receipt {
            return;
        }
        self.activity();
        let choice = match choice {
            "print" => PatronChoice::Paper,
            "phone" => PatronChoice::Phone,
            _ => PatronChoice::NoReceipt,
        };
        self.receipt(Some(choice));
    }

    /// Ends the borrow with the receipt `kind` given (the session's end hook forgets the flow
    /// and closes the screens).
    fn end_with_receipt(&self, kind: &str) {
        tracing::info!(target: "kiosk::borrow", receipt = kind, "borrowing finished");
        self.state.borrow_mut().last_receipt = Some(kind.to_string());
        self.kiosk.input(Input::Finish);
    }

    /// Writes the `Borrow` global.
    fn sync(&self) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let b = app.global::<Borrow>();
        let s = self.state.borrow();
        b.set_screen(s.screen);
        b.set_for_account(s.for_account);
        b.set_card(s.card.as_str().into());
        let digits = s.pin.chars().count();
        b.set_pin_length(i32::try_from(digits).unwrap_or(0));
        b.set_pin_mask("●".repeat(digits).into());
        b.set_field(match s.field {
            Field::Card => "card".into(),
            Field::Pin => "pin".into(),
        });
        b.set_error(s.error.unwrap_or("").into());
        let (rows, summary) = match &s.flow {
            Some(flow) => rows(flow),
            None => (
                Vec::new(),
                Summary {
                    borrowed: 0,
                    total: 0,
                    settled: true,
                },
            ),
        };
        b.set_rows(ModelRc::new(VecModel::from(rows)));
        b.set_borrowed(i32::try_from(summary.borrowed).unwrap_or(i32::MAX));
        b.set_settled(summary.settled);
        b.set_offer_paper(s.paper_offered);
        b.set_instead_of_paper(s.instead_of_paper);
        b.set_receipt_qr(s.receipt_qr.clone().unwrap_or_default());
        drop(s);
        self.kiosk.narrate();
    }
}

/// The demo library and stack (`kiosk --demo`, the UI tests and the golden screenshots), fed
/// through the flow's real API.
pub mod demo {
    use kiosk_rfid::DataModel;
    use kiosk_rfid::tagdata::{DataElement, LibraryData, SetInfo};

    use super::*;

    /// The demo reader card and its password.
    pub const CARD: &str = "20260001";
    pub const PIN: &str = "1234";
    /// The due date of every demo loan.
    pub const DUE: &str = "2026-12-30";

    /// Knows one patron, [`CARD`] with [`PIN`].
    pub fn verifier() -> Verifier {
        Box::new(|lookup: &PatronLookup| {
            if lookup.patron_id != CARD {
                return Err(SignInError::UnknownPatron);
            }
            if lookup.pin.as_deref().is_some_and(|p| p != PIN) {
                return Err(SignInError::WrongPin);
            }
            Ok(Patron {
                id: lookup.patron_id.clone(),
                pin: lookup.pin.clone(),
                name: None,
            })
        })
    }

    /// The tag UID of demo tag `n`.
    pub fn uid(n: u8) -> Uid {
        Uid([0xE0, 0x04, 0x01, 0x50, 0x00, 0x00, 0x00, n])
    }

    /// An ISO 28560-2 item tag `n` with barcode `id`, title (OID 17) and set part (`part`,
    /// `of`), as the pad inventory reports it.
    pub fn tag(n: u8, id: &str, title: &str, set: Option<(u8, u8)>) -> ItemTag {
        ItemTag {
            uid: uid(n),
            afi: 0x07,
            dsfid: 0x06,
            eas: None,
            block_size: 4,
            block_count: 28,
            data_model: DataModel::Iso28560_2,
            data: Some(LibraryData {
                primary_item_id: id.to_string(),
                owner_institution: Some("CN-110000-GT".into()),
                set_info: set.map(|(part, total)| SetInfo { part, total }),
                type_of_usage: None,
                other: vec![DataElement {
                    oid: 17,
                    text: Some(title.to_string()),
                    raw: Vec::new(),
                }],
            }),
            data_error: None,
        }
    }

    /// Eight books: six lent and unsecured, one reserved for another reader, one set of two
    /// with only its first part on the pad.
    pub fn stack() -> Vec<ItemTag> {
        vec![
            tag(1, "T0001", "三体", None),
            tag(2, "T0002", "活着", None),
            tag(3, "T0003", "围城", None),
            tag(4, "T0004", "平凡的世界", None),
            tag(5, "T0005", "边城", None),
            tag(6, "T0006", "红楼梦（上下册）", Some((1, 2))),
            tag(7, "T0007", "小王子", None),
            tag(8, "T0008", "朝花夕拾", None),
        ]
    }

    /// The item of [`stack`] the library system refuses (reserved for another reader).
    pub const RESERVED: &str = "T0005";

    /// Feeds [`stack`] to a signed-in borrow: the pad inventory, the library system's answers
    /// and the read-back of every security write.
    pub fn feed(ui: &BorrowUi) {
        use kiosk_flows::Refusal;
        let asked = ui.pad(&stack());
        for action in asked {
            let Action::CheckOut { item } = action else {
                continue;
            };
            let outcome = if item == RESERVED {
                IlsOutcome::Refused(Refusal::with_message(
                    RefusalReason::OnHoldForAnother,
                    "Item on hold for another patron",
                ))
            } else {
                IlsOutcome::Ok(Loan {
                    title: None,
                    due: Some(DUE.into()),
                    desensitize: Some(true),
                })
            };
            for secure in ui.answered(&item, outcome) {
                if let Action::Secure { uid, .. } = secure {
                    ui.tag_written(uid, TagWrite::ReadBack { afi: 0xC2 });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_flows::Refusal;

    fn signed_in() -> BorrowFlow {
        BorrowFlow::new(Some(demo::CARD.into()), StackSettings::default())
    }

    fn by<'a>(rows: &'a [BorrowRow], id: &str) -> &'a BorrowRow {
        rows.iter().find(|r| r.item_id == id).unwrap()
    }

    #[test]
    fn lines_become_rows_and_a_count() {
        let mut flow = signed_in();
        let mut ledger = OfflineLedger::default();
        let asked = flow.pad(&demo::stack());
        assert_eq!(asked.len(), 7, "the incomplete set is not sent");
        let (rows0, sum0) = rows(&flow);
        assert_eq!(rows0.len(), 8);
        assert_eq!(by(&rows0, "T0001").state, "checking");
        assert_eq!(by(&rows0, "T0001").title, "三体");
        assert_eq!(by(&rows0, "T0006").state, "incomplete");
        assert_eq!(
            (by(&rows0, "T0006").present, by(&rows0, "T0006").total),
            (1, 2)
        );
        assert_eq!(sum0.borrowed, 0);
        assert!(!sum0.settled);

        let loan = || {
            IlsOutcome::Ok(Loan {
                title: None,
                due: Some(demo::DUE.into()),
                desensitize: Some(true),
            })
        };
        let writes = flow.answered("T0001", loan(), &mut ledger);
        assert_eq!(by(&rows(&flow).0, "T0001").state, "securing");
        for a in writes {
            if let Action::Secure { uid, .. } = a {
                flow.tag_written(uid, TagWrite::ReadBack { afi: 0xC2 });
            }
        }
        flow.answered(
            demo::RESERVED,
            IlsOutcome::Refused(Refusal::new(RefusalReason::OnHoldForAnother)),
            &mut ledger,
        );
        let (r, sum) = rows(&flow);
        assert_eq!(by(&r, "T0001").state, "done");
        assert_eq!(by(&r, "T0001").detail, demo::DUE);
        assert_eq!(by(&r, demo::RESERVED).state, "refused");
        assert_eq!(
            by(&r, demo::RESERVED).detail,
            RefusalReason::OnHoldForAnother.message_id()
        );
        assert_eq!(sum.borrowed, 1);
        assert_eq!(sum.total, 8);

        // Lifted before its write: asked back.
        flow.answered("T0002", loan(), &mut ledger);
        let without_2: Vec<_> = demo::stack()
            .into_iter()
            .filter(|t| t.uid != demo::uid(2))
            .collect();
        flow.pad(&without_2);
        flow.tag_written(demo::uid(2), TagWrite::Gone);
        let (r, _) = rows(&flow);
        assert_eq!(by(&r, "T0002").state, "put-back");
        let order: Vec<_> = r.iter().map(|r| r.state.as_str()).collect();
        assert_eq!(
            order,
            [
                "put-back",
                "refused",
                "incomplete",
                "checking",
                "checking",
                "checking",
                "checking",
                "done"
            ],
            "what needs the patron first, loans last"
        );
    }

    #[test]
    fn a_tag_without_a_title_shows_its_barcode_and_every_refusal_has_an_id() {
        let mut flow = signed_in();
        let mut tag = demo::tag(1, "X9", "", None);
        tag.data.as_mut().unwrap().other.clear();
        flow.pad(&[tag]);
        assert_eq!(rows(&flow).0[0].title, "X9");
        let ids: std::collections::BTreeSet<_> = REFUSALS.iter().map(|r| r.message_id()).collect();
        assert_eq!(ids.len(), REFUSALS.len());
    }

    #[test]
    fn the_demo_verifier_knows_one_card() {
        let mut v = demo::verifier();
        let ask = |id: &str, pin: &str| PatronLookup {
            patron_id: id.into(),
            pin: Some(pin.into()),
        };
        assert!(v(&ask(demo::CARD, demo::PIN)).is_ok());
        assert_eq!(
            v(&ask(demo::CARD, "9999")).unwrap_err(),
            SignInError::WrongPin
        );
        assert_eq!(
            v(&ask("1", demo::PIN)).unwrap_err(),
            SignInError::UnknownPatron
        );
    }
}
