//! The two operations a kiosk runs, as small sans-IO state machines: ask [`Enrolment::command`]
//! what to send, feed the acknowledgement to `on_ack`, and wait or go on as [`Progress`] says.
//!
//! Enrolment (two captures, as the R30x/AS608 user manuals describe it):
//! GenImg → Img2Tz(1) → finger lifted (GenImg answers "no finger") → GenImg → Img2Tz(2) →
//! RegModel → Store(1, slot). Identification (1:N): GenImg → Img2Tz(1) → Search(1, 0, capacity).

use crate::command::{Ack, CharBuffer, Command, ModuleError, SearchHit};

/// What to do after an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<T> {
    /// Send the next command now.
    Next,
    /// Nothing to work on yet: poll again (same command) after a short pause.
    Wait(Waiting),
    /// Finished.
    Done(T),
}

/// What the flow waits for, so the UI can prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// "Place your finger on the sensor."
    FingerOn,
    /// "Lift your finger."
    FingerOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnrolStep {
    Capture1,
    Extract1,
    Lift,
    Capture2,
    Extract2,
    Merge,
    Store,
    Done,
}

/// Enrols one finger into library page `slot`.
#[derive(Debug, Clone)]
pub struct Enrolment {
    slot: u16,
    step: EnrolStep,
}

impl Enrolment {
    pub fn new(slot: u16) -> Self {
        Enrolment {
            slot,
            step: EnrolStep::Capture1,
        }
    }

    /// The command to send now; `None` once done.
    pub fn command(&self) -> Option<Command> {
        Some(match self.step {
            EnrolStep::Capture1 | EnrolStep::Lift | EnrolStep::Capture2 => Command::GenImg,
            EnrolStep::Extract1 => Command::Img2Tz(CharBuffer::One),
            EnrolStep::Extract2 => Command::Img2Tz(CharBuffer::Two),
            EnrolStep::Merge => Command::RegModel,
            EnrolStep::Store => Command::Store {
                buffer: CharBuffer::One,
                page: self.slot,
            },
            EnrolStep::Done => return None,
        })
    }

    /// What the flow waits for now, if anything.
    pub fn waiting(&self) -> Option<Waiting> {
        match self.step {
            EnrolStep::Capture1 | EnrolStep::Capture2 => Some(Waiting::FingerOn),
            EnrolStep::Lift => Some(Waiting::FingerOff),
            _ => None,
        }
    }

    /// Takes the acknowledgement of [`Enrolment::command`]. A module error ends the flow.
    pub fn on_ack(&mut self, ack: &Ack) -> Result<Progress<u16>, ModuleError> {
        let result = ack.result().map(|_| ());
        let (next, progress) = match (self.step, result) {
            (EnrolStep::Capture1, Ok(())) => (EnrolStep::Extract1, Progress::Next),
            (EnrolStep::Capture2, Ok(())) => (EnrolStep::Extract2, Progress::Next),
            (s @ (EnrolStep::Capture1 | EnrolStep::Capture2), Err(ModuleError::NoFinger)) => {
                (s, Progress::Wait(Waiting::FingerOn))
            }
            (EnrolStep::Extract1, Ok(())) => (EnrolStep::Lift, Progress::Next),
            (EnrolStep::Lift, Err(ModuleError::NoFinger)) => (EnrolStep::Capture2, Progress::Next),
            (EnrolStep::Lift, Ok(())) => (EnrolStep::Lift, Progress::Wait(Waiting::FingerOff)),
            (EnrolStep::Extract2, Ok(())) => (EnrolStep::Merge, Progress::Next),
            (EnrolStep::Merge, Ok(())) => (EnrolStep::Store, Progress::Next),
            (EnrolStep::Store, Ok(())) => (EnrolStep::Done, Progress::Done(self.slot)),
            (EnrolStep::Done, _) => (EnrolStep::Done, Progress::Done(self.slot)),
            (_, Err(e)) => {
                self.step = EnrolStep::Done;
                return Err(e);
            }
        };
        self.step = next;
        Ok(progress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchStep {
    Capture,
    Extract,
    Search,
    Done,
}

/// Identifies a finger against library pages `0..capacity`. Finishes with `Some(hit)` or
/// `None` when no template matches.
#[derive(Debug, Clone)]
pub struct Identification {
    capacity: u16,
    step: SearchStep,
}

impl Identification {
    pub fn new(capacity: u16) -> Self {
        Identification {
            capacity,
            step: SearchStep::Capture,
        }
    }

    pub fn command(&self) -> Option<Command> {
        Some(match self.step {
            SearchStep::Capture => Command::GenImg,
            SearchStep::Extract => Command::Img2Tz(CharBuffer::One),
            SearchStep::Search => Command::Search {
                buffer: CharBuffer::One,
                start: 0,
                count: self.capacity,
            },
            SearchStep::Done => return None,
        })
    }

    pub fn waiting(&self) -> Option<Waiting> {
        (self.step == SearchStep::Capture).then_some(Waiting::FingerOn)
    }

    /// Takes the acknowledgement of [`Identification::command`]. A Search reply too short to
    /// hold page and score is reported as [`ModuleError::PacketReceive`]'s host-side twin by
    /// the caller; here it counts as a module error of its own.
    pub fn on_ack(&mut self, ack: &Ack) -> Result<Progress<Option<SearchHit>>, SearchFlowError> {
        let result = ack.result();
        let (next, progress) = match (self.step, result) {
            (SearchStep::Capture, Ok(_)) => (SearchStep::Extract, Progress::Next),
            (SearchStep::Capture, Err(ModuleError::NoFinger)) => {
                (SearchStep::Capture, Progress::Wait(Waiting::FingerOn))
            }
            (SearchStep::Extract, Ok(_)) => (SearchStep::Search, Progress::Next),
            (SearchStep::Search, Ok(p)) => {
                let hit = SearchHit::from_params(p).map_err(SearchFlowError::Reply)?;
                (SearchStep::Done, Progress::Done(Some(hit)))
            }
            (SearchStep::Search, Err(ModuleError::NotFound | ModuleError::NoMatch)) => {
                (SearchStep::Done, Progress::Done(None))
            }
            (SearchStep::Done, _) => (SearchStep::Done, Progress::Done(None)),
            (_, Err(e)) => {
                self.step = SearchStep::Done;
                return Err(SearchFlowError::Module(e));
            }
        };
        self.step = next;
        Ok(progress)
    }
}

/// Why an identification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchFlowError {
    #[error(transparent)]
    Module(ModuleError),
    #[error(transparent)]
    Reply(crate::command::ReplyError),
}
