//! The return page of the book self-checkout (`ui/giveback.slint`): no sign-in, the books on
//! the pad are checked in and secured again on the library worker
//! ([`crate::library::Job::Return`]), each row says where the book goes (sort bin, hold
//! shelf). Texts are translated in the `.slint` source; refusals reuse `Borrow.message`.
//!
//! "Finish" ends the session; the flow is dropped whenever the session ends.

use std::cell::RefCell;
use std::rc::Rc;

use kiosk_flows::{Checkin, LineStatus, PadProblem, ReturnFlow, StackSettings};
use slint::{ComponentHandle, ModelRc, VecModel};

use crate::adapter::Kiosk;
use crate::library::{Done, Job, LibraryWorker};
use crate::session::Input;
use crate::ui::{App, Giveback, GivebackRow};

/// The rows and (returned, settled) for `flow`.
pub fn rows(flow: &ReturnFlow) -> (Vec<GivebackRow>, usize, bool) {
    let mut returned = 0;
    let mut rows: Vec<GivebackRow> = flow
        .lines()
        .map(|line| {
            let (state, detail) = match &line.status {
                LineStatus::Asking | LineStatus::Recording => ("checking", String::new()),
                LineStatus::Securing(_) => ("securing", String::new()),
                LineStatus::PutBack(_) => ("put-back", String::new()),
                LineStatus::Done(c) => {
                    returned += 1;
                    done(c)
                }
                LineStatus::NeedsStaff(_, _) => {
                    returned += 1;
                    ("staff", String::new())
                }
                LineStatus::Refused(r) => ("refused", r.reason.message_id().to_string()),
                LineStatus::Waiting(PadProblem::IncompleteSet { .. }) => {
                    ("incomplete", String::new())
                }
                LineStatus::Waiting(PadProblem::NotForLoan) => ("staff", String::new()),
            };
            GivebackRow {
                title: line.title.as_deref().unwrap_or(&line.item_id).into(),
                item_id: line.item_id.as_str().into(),
                state: state.into(),
                detail: detail.into(),
            }
        })
        .collect();
    rows.sort_by_key(|r| match r.state.as_str() {
        "refused" | "incomplete" | "put-back" | "staff" | "hold" => 0,
        "checking" | "securing" => 1,
        _ => 2,
    });
    (rows, returned, flow.is_settled())
}

/// A checked-in book: to the hold shelf, to a sort bin, or just returned.
fn done(c: &Checkin) -> (&'static str, String) {
    if c.on_hold {
        ("hold", String::new())
    } else if c.alert {
        ("staff", String::new())
    } else if let Some(bin) = c.sort_bin.as_deref().filter(|b| !b.trim().is_empty()) {
        ("sorted", bin.trim().to_string())
    } else {
        ("done", String::new())
    }
}

struct State {
    open: bool,
    flow: Option<ReturnFlow>,
    worker: Option<Rc<LibraryWorker>>,
    generation: u64,
    /// Generations of the rounds sent and not answered yet.
    pending: std::collections::VecDeque<u64>,
    settings: StackSettings,
}

/// The return page wired to a kiosk window. Cheap to clone.
#[derive(Clone)]
pub struct ReturnUi {
    app: slint::Weak<App>,
    kiosk: Kiosk,
    state: Rc<RefCell<State>>,
}

impl ReturnUi {
    /// Wires the `Giveback` global; the home tile "return" opens the page.
    pub fn attach(app: &App, kiosk: &Kiosk) -> ReturnUi {
        let ui = ReturnUi {
            app: app.as_weak(),
            kiosk: kiosk.clone(),
            state: Rc::new(RefCell::new(State {
                open: false,
                flow: None,
                worker: None,
                generation: 0,
                pending: Default::default(),
                settings: StackSettings::default(),
            })),
        };
        let g = app.global::<Giveback>();
        let u = ui.clone();
        g.on_finish(move || u.finish());
        let u = ui.clone();
        kiosk.on_service("return", move || u.open());
        let u = ui.clone();
        kiosk.on_session_end(move || u.close());
        ui.sync();
        ui
    }

    /// Runs the pad rounds on `worker` (give this page its own [`LibraryWorker::client`]).
    pub fn use_worker(&self, worker: Rc<LibraryWorker>) {
        self.state.borrow_mut().worker = Some(worker);
    }

    /// The library's AFI values and offline policy for the next returns.
    pub fn set_stack_settings(&self, settings: StackSettings) {
        self.state.borrow_mut().settings = settings;
    }

    /// Shows the return page with an empty stack.
    pub fn open(&self) {
        {
            let mut s = self.state.borrow_mut();
            s.generation += 1;
            s.open = true;
            s.flow = Some(ReturnFlow::new(None, s.settings.clone()));
        }
        self.sync();
    }

    /// Whether the page shows.
    pub fn is_open(&self) -> bool {
        self.state.borrow().open
    }

    /// Reads the flow.
    pub fn with_flow<R>(&self, f: impl FnOnce(Option<&ReturnFlow>) -> R) -> R {
        f(self.state.borrow().flow.as_ref())
    }

    fn close(&self) {
        {
            let mut s = self.state.borrow_mut();
            s.generation += 1;
            s.open = false;
            s.flow = None;
        }
        self.sync();
    }

    /// Takes the worker's answers and starts the next round while the page shows.
    pub fn poll(&self) -> bool {
        self.give_way();
        let Some(worker) = self.state.borrow().worker.clone() else {
            return false;
        };
        let mut changed = false;
        while let Some(done) = worker.try_done() {
            changed = true;
            let generation = self.state.borrow_mut().pending.pop_front();
            if generation != Some(self.state.borrow().generation) {
                continue;
            }
            if let Done::Return { flow, error } = done {
                if let Some(e) = error {
                    tracing::warn!(target: "kiosk::return", "pad round stopped: {e}");
                }
                let mut s = self.state.borrow_mut();
                let before = s.flow.as_ref().map(|f| f.lines().count());
                let now = flow.lines().count();
                s.flow = Some(flow);
                drop(s);
                if before != Some(now) {
                    self.kiosk.input(Input::Touch);
                }
            }
            self.sync();
        }
        let round = {
            let s = self.state.borrow();
            let waiting = s.pending.contains(&s.generation);
            match &s.flow {
                Some(flow) if s.open && !waiting => Some(flow.clone()),
                _ => None,
            }
        };
        if let Some(flow) = round
            && worker.send(Job::Return { flow })
        {
            let mut s = self.state.borrow_mut();
            let g = s.generation;
            s.pending.push_back(g);
        }
        changed
    }

    /// A card or phone code opened the borrow sign-in over this page: the return stops, so
    /// the pad never runs a return round and a borrow round on the same books.
    fn give_way(&self) {
        let borrowing = self.app.upgrade().is_some_and(|app| {
            app.global::<crate::ui::Borrow>().get_screen() != crate::ui::BorrowScreen::Closed
        });
        if borrowing && self.is_open() {
            tracing::info!(target: "kiosk::return", "the borrow screens took over");
            self.close();
        }
    }

    /// "Finish" once every book is settled ends the session.
    fn finish(&self) {
        let settled = {
            let s = self.state.borrow();
            s.open && s.flow.as_ref().is_some_and(|f| f.is_settled())
        };
        if settled {
            tracing::info!(target: "kiosk::return", "returning finished");
            self.kiosk.input(Input::Finish);
        }
    }

    fn sync(&self) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let g = app.global::<Giveback>();
        let s = self.state.borrow();
        g.set_open(s.open);
        let (rows, returned, settled) = match &s.flow {
            Some(flow) => rows(flow),
            None => (Vec::new(), 0, true),
        };
        g.set_rows(ModelRc::new(VecModel::from(rows)));
        g.set_returned(i32::try_from(returned).unwrap_or(i32::MAX));
        g.set_settled(settled);
        drop(s);
        self.kiosk.narrate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkin_says_where_the_book_goes() {
        let c = |on_hold, alert, bin: Option<&str>| Checkin {
            on_hold,
            alert,
            sort_bin: bin.map(str::to_string),
            ..Checkin::default()
        };
        assert_eq!(done(&c(true, true, Some("HOLD"))).0, "hold");
        assert_eq!(done(&c(false, true, Some("A1"))).0, "staff");
        assert_eq!(
            done(&c(false, false, Some(" A1 "))),
            ("sorted", "A1".into())
        );
        assert_eq!(done(&c(false, false, None)).0, "done");
    }
}
