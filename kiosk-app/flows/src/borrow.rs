//! Borrowing a stack (SIP2 11 Checkout per item, then AFI "on loan" written and read back).

use kiosk_rfid::SecurityState;

use crate::offline::{OfflineDecision, OfflineLedger, OfflinePolicy};
use crate::pad::PadItem;
use crate::stack::{StackFlow, Transaction};
use crate::{Action, OfflineKind, RefusalReason};

/// A loan as the library system granted it (SIP2 12) or as recorded offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loan {
    pub title: Option<String>,
    /// Due date as the library system gives it (SIP2 AH is free text in practice).
    pub due: Option<String>,
    /// SIP2 12 desensitize flag: `Some(false)` asks to leave the item secured.
    pub desensitize: Option<bool>,
}

/// Check out.
#[derive(Debug, Clone, Copy)]
pub struct Borrow;

impl Transaction for Borrow {
    type Reply = Loan;
    const TARGET: SecurityState = SecurityState::Unsecured;
    const OFFLINE_KIND: OfflineKind = OfflineKind::Checkout;

    fn request(item: &str) -> Action {
        Action::CheckOut {
            item: item.to_string(),
        }
    }

    fn offline(
        policy: &OfflinePolicy,
        ledger: &mut OfflineLedger,
        patron: Option<&str>,
        item: &PadItem,
    ) -> OfflineDecision {
        match patron {
            Some(p) => policy.loan(ledger, p, item.no_offline_loan),
            None => OfflineDecision::Refuse(RefusalReason::LibraryOffline),
        }
    }

    fn offline_reply(title: Option<String>, due: Option<String>) -> Loan {
        Loan {
            title,
            due,
            desensitize: None,
        }
    }

    fn keep_state(reply: &Loan) -> bool {
        reply.desensitize == Some(false)
    }

    fn title(reply: &Loan) -> Option<&str> {
        reply.title.as_deref()
    }
}

/// A patron borrowing the stack on the pad.
pub type BorrowFlow = StackFlow<Borrow>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pad::tests::{tag, tag_with, uid};
    use crate::stack::{LineStatus, StackSettings, StaffReason};
    use crate::{IlsOutcome, OfflineMode, Refusal, TagWrite};

    fn flow() -> BorrowFlow {
        BorrowFlow::new(Some("P001".into()), StackSettings::default())
    }

    fn loan(due: &str) -> IlsOutcome<Loan> {
        IlsOutcome::Ok(Loan {
            title: Some("三体".into()),
            due: Some(due.into()),
            desensitize: Some(true),
        })
    }

    fn secure(n: u8) -> Action {
        Action::Secure {
            uid: uid(n),
            state: SecurityState::Unsecured,
        }
    }

    fn checkout(item: &str) -> Action {
        Action::CheckOut { item: item.into() }
    }

    const OUT: TagWrite = TagWrite::ReadBack { afi: 0xC2 };

    #[test]
    fn a_stack_is_checked_out_then_unsecured_and_read_back() {
        let mut f = flow();
        let mut ledger = OfflineLedger::default();
        let acts = f.pad(&[tag(1, "B1"), tag(2, "B2")]);
        assert_eq!(acts, vec![checkout("B1"), checkout("B2")]);
        assert!(!f.is_settled());
        assert_eq!(
            f.answered("B1", loan("2026-12-30"), &mut ledger),
            vec![secure(1)]
        );
        assert_eq!(
            f.answered(
                "B2",
                IlsOutcome::Refused(Refusal::with_message(
                    RefusalReason::OnHoldForAnother,
                    "Item on hold"
                )),
                &mut ledger
            ),
            vec![]
        );
        assert!(matches!(
            f.line("B1").unwrap().status,
            LineStatus::Securing(_)
        ));
        assert_eq!(f.tag_written(uid(1), OUT), vec![]);
        let b1 = f.line("B1").unwrap();
        assert!(
            matches!(&b1.status, LineStatus::Done(l) if l.due.as_deref() == Some("2026-12-30"))
        );
        assert_eq!(b1.title.as_deref(), Some("三体"), "the ILS title wins");
        assert!(matches!(
            f.line("B2").unwrap().status,
            LineStatus::Refused(_)
        ));
        assert!(f.is_settled());
        // A stale or repeated answer changes nothing.
        assert_eq!(f.answered("B1", loan("x"), &mut ledger), vec![]);
    }

    #[test]
    fn a_wrong_read_back_is_retried_then_goes_to_staff() {
        let mut f = flow();
        let mut ledger = OfflineLedger::default();
        f.pad(&[tag(1, "B1")]);
        f.answered("B1", loan("d"), &mut ledger);
        let wrong = TagWrite::ReadBack { afi: 0x07 };
        assert_eq!(f.tag_written(uid(1), wrong.clone()), vec![secure(1)]);
        assert_eq!(
            f.tag_written(uid(1), TagWrite::Failed("RF".into())),
            vec![secure(1)]
        );
        assert_eq!(f.tag_written(uid(1), wrong), vec![]);
        assert!(matches!(
            &f.line("B1").unwrap().status,
            LineStatus::NeedsStaff(_, StaffReason::SecurityWrite(e)) if e.contains("07")
        ));
        assert!(f.is_settled());
    }

    #[test]
    fn a_book_lifted_before_its_write_is_asked_back_then_secured() {
        let mut f = flow();
        let mut ledger = OfflineLedger::default();
        f.pad(&[tag(1, "B1"), tag(2, "B2")]);
        // B1 is lifted while the library system answers.
        assert_eq!(f.pad(&[tag(2, "B2")]), vec![]);
        assert_eq!(f.answered("B1", loan("d"), &mut ledger), vec![]);
        assert!(matches!(
            f.line("B1").unwrap().status,
            LineStatus::PutBack(_)
        ));
        assert!(
            !f.is_settled(),
            "the patron may not leave with an unsecured loan"
        );
        // Put back: the write goes out.
        assert_eq!(f.pad(&[tag(1, "B1"), tag(2, "B2")]), vec![secure(1)]);
        // It is lifted again during the write: the reader reports it gone.
        assert_eq!(f.tag_written(uid(1), TagWrite::Gone), vec![]);
        assert!(matches!(
            f.line("B1").unwrap().status,
            LineStatus::PutBack(_)
        ));
        assert_eq!(f.pad(&[tag(1, "B1")]), vec![secure(1)]);
        f.tag_written(uid(1), OUT);
        assert!(matches!(f.line("B1").unwrap().status, LineStatus::Done(_)));
        // B2 was taken away before any answer, and stays asked; the refusal arrives later.
        f.answered(
            "B2",
            IlsOutcome::Refused(Refusal::new(RefusalReason::Other)),
            &mut ledger,
        );
        f.pad(&[]);
        assert!(
            f.line("B2").is_none(),
            "a refused item taken away leaves the list"
        );
        assert!(f.line("B1").is_some(), "a loan stays on the list");
    }

    #[test]
    fn sets_go_out_only_complete_and_every_part_is_unsecured() {
        let mut f = flow();
        let mut ledger = OfflineLedger::default();
        let part1 = tag_with(1, "S1", Some((1, 2)), None);
        let part2 = tag_with(2, "S1", Some((2, 2)), None);
        assert_eq!(f.pad(std::slice::from_ref(&part1)), vec![]);
        assert!(matches!(
            f.line("S1").unwrap().status,
            LineStatus::Waiting(crate::PadProblem::IncompleteSet {
                present: 1,
                total: 2
            })
        ));
        assert!(f.is_settled(), "an incomplete set holds nothing up");
        assert_eq!(f.pad(&[part1, part2]), vec![checkout("S1")]);
        assert_eq!(
            f.answered("S1", loan("d"), &mut ledger),
            vec![secure(1), secure(2)]
        );
        f.tag_written(uid(2), OUT);
        assert!(matches!(
            f.line("S1").unwrap().status,
            LineStatus::Securing(_)
        ));
        f.tag_written(uid(1), OUT);
        assert!(matches!(f.line("S1").unwrap().status, LineStatus::Done(_)));
    }

    #[test]
    fn reference_items_are_not_sent_and_desensitize_no_goes_to_staff() {
        let mut f = flow();
        let mut ledger = OfflineLedger::default();
        let acts = f.pad(&[tag_with(1, "REF", None, Some((2, 0))), tag(2, "DVD")]);
        assert_eq!(acts, vec![checkout("DVD")]);
        let keep = IlsOutcome::Ok(Loan {
            title: None,
            due: Some("d".into()),
            desensitize: Some(false),
        });
        assert_eq!(f.answered("DVD", keep, &mut ledger), vec![]);
        assert!(matches!(
            f.line("DVD").unwrap().status,
            LineStatus::NeedsStaff(_, StaffReason::KeptByLibrary)
        ));
    }

    #[test]
    fn offline_loans_follow_the_policy_and_a_failed_record_lends_nothing() {
        let settings = StackSettings {
            offline: OfflinePolicy {
                mode: OfflineMode::ReturnAndBorrow,
                max_loans_per_patron: 2,
                max_loans_per_terminal: 10,
                due_date: "2026-12-16".into(),
            },
            ..StackSettings::default()
        };
        let mut f = BorrowFlow::new(Some("P001".into()), settings);
        let mut ledger = OfflineLedger::default();
        f.pad(&[
            tag(1, "B1"),
            tag(2, "B2"),
            tag(3, "B3"),
            tag_with(4, "B4", None, Some((1, 3))),
        ]);
        let record = |item: &str| Action::RecordOffline {
            item: item.into(),
            kind: OfflineKind::Checkout,
            due: Some("2026-12-16".into()),
        };
        assert_eq!(f.answered("B4", IlsOutcome::Offline, &mut ledger), vec![]);
        assert_eq!(
            f.answered("B1", IlsOutcome::Offline, &mut ledger),
            vec![record("B1")]
        );
        assert_eq!(
            f.answered("B2", IlsOutcome::Offline, &mut ledger),
            vec![record("B2")]
        );
        assert_eq!(f.answered("B3", IlsOutcome::Offline, &mut ledger), vec![]);
        fn reason(f: &BorrowFlow, id: &str) -> Option<RefusalReason> {
            match &f.line(id).unwrap().status {
                LineStatus::Refused(r) => Some(r.reason),
                _ => None,
            }
        }
        assert_eq!(reason(&f, "B3"), Some(RefusalReason::OfflineLimit));
        assert_eq!(reason(&f, "B4"), Some(RefusalReason::NotForOfflineLoan));
        assert_eq!(
            f.recorded("B1", Ok(Some("2026-12-16".into())), &mut ledger),
            vec![secure(1)]
        );
        assert!(f.line("B1").unwrap().offline);
        assert_eq!(
            f.recorded("B2", Err("disk full".into()), &mut ledger),
            vec![]
        );
        assert_eq!(reason(&f, "B2"), Some(RefusalReason::NotRecorded));
        assert_eq!(
            ledger.loans_total, 1,
            "the failed record gave its place back"
        );
        f.tag_written(uid(1), OUT);
        assert!(matches!(
            &f.line("B1").unwrap().status,
            LineStatus::Done(l) if l.due.as_deref() == Some("2026-12-16")
        ));
    }

    #[test]
    fn offline_without_a_borrowing_policy_refuses() {
        let mut f = flow();
        let mut ledger = OfflineLedger::default();
        f.pad(&[tag(1, "B1")]);
        f.answered("B1", IlsOutcome::Offline, &mut ledger);
        assert!(matches!(
            &f.line("B1").unwrap().status,
            LineStatus::Refused(r) if r.reason == RefusalReason::LibraryOffline
        ));
    }
}
