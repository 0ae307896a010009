//! What a self-check does while the library system is unreachable (`library.md` §4, "Offline
//! design anchors": Librid's none / return only / return + borrow, 3M's maximum offline
//! checkouts and fixed days until due). Transactions taken offline go to the signed queue and
//! are replayed later with their original dates.

use crate::RefusalReason;

/// The library's offline mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineMode {
    /// Nothing is taken while offline.
    None,
    /// Returns are recorded; loans are refused.
    ReturnOnly,
    /// Returns and loans are recorded, within the limits.
    ReturnAndBorrow,
}

/// Per-library offline policy (terminal profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflinePolicy {
    pub mode: OfflineMode,
    /// Loans one patron may take while offline.
    pub max_loans_per_patron: u32,
    /// Loans this terminal may take while offline in all, until the library system is back.
    pub max_loans_per_terminal: u32,
    /// The due date printed for an offline loan (the library's fixed offline due date, as text
    /// the receipt shows; the runner computes it from the loan period).
    pub due_date: String,
}

impl Default for OfflinePolicy {
    fn default() -> Self {
        OfflinePolicy {
            mode: OfflineMode::ReturnOnly,
            max_loans_per_patron: 3,
            max_loans_per_terminal: 50,
            due_date: String::new(),
        }
    }
}

/// What the policy says about one offline transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineDecision {
    /// Record it; for a loan, with this due date.
    Record {
        due: Option<String>,
    },
    Refuse(RefusalReason),
}

/// Counts of what was taken offline since the library system was last reachable; the runner
/// keeps one per terminal (rebuilt from the queue's pending offline records at start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfflineLedger {
    pub loans_total: u32,
    /// Loans by patron identifier in this offline period.
    pub loans_by_patron: std::collections::BTreeMap<String, u32>,
}

impl OfflineLedger {
    /// Gives back a loan counted by [`OfflinePolicy::loan`] that was then not recorded.
    pub fn release(&mut self, patron: &str) {
        self.loans_total = self.loans_total.saturating_sub(1);
        if let Some(n) = self.loans_by_patron.get_mut(patron) {
            *n = n.saturating_sub(1);
        }
    }

    /// Forget the counts: the library system answered again and the queue replays.
    pub fn clear(&mut self) {
        *self = OfflineLedger::default();
    }
}

impl OfflinePolicy {
    /// May `patron` take a loan of an item (`no_offline_loan`: tag type of usage 1/3) now?
    /// Counts it in `ledger` when it may.
    pub fn loan(
        &self,
        ledger: &mut OfflineLedger,
        patron: &str,
        no_offline_loan: bool,
    ) -> OfflineDecision {
        if self.mode != OfflineMode::ReturnAndBorrow {
            return OfflineDecision::Refuse(RefusalReason::LibraryOffline);
        }
        if no_offline_loan {
            return OfflineDecision::Refuse(RefusalReason::NotForOfflineLoan);
        }
        let mine = ledger.loans_by_patron.get(patron).copied().unwrap_or(0);
        if mine >= self.max_loans_per_patron || ledger.loans_total >= self.max_loans_per_terminal {
            return OfflineDecision::Refuse(RefusalReason::OfflineLimit);
        }
        ledger.loans_total += 1;
        *ledger
            .loans_by_patron
            .entry(patron.to_string())
            .or_default() += 1;
        OfflineDecision::Record {
            due: Some(self.due_date.clone()),
        }
    }

    /// May an item be returned now (`no_offline_return`: tag type of usage 1/4)?
    pub fn checkin(&self, no_offline_return: bool) -> OfflineDecision {
        match self.mode {
            OfflineMode::None => OfflineDecision::Refuse(RefusalReason::LibraryOffline),
            _ if no_offline_return => OfflineDecision::Refuse(RefusalReason::LibraryOffline),
            _ => OfflineDecision::Record { due: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn borrowing() -> OfflinePolicy {
        OfflinePolicy {
            mode: OfflineMode::ReturnAndBorrow,
            max_loans_per_patron: 2,
            max_loans_per_terminal: 3,
            due_date: "2026-12-16".into(),
        }
    }

    #[test]
    fn limits_per_patron_and_per_terminal() {
        let p = borrowing();
        let mut l = OfflineLedger::default();
        let rec = OfflineDecision::Record {
            due: Some("2026-12-16".into()),
        };
        assert_eq!(p.loan(&mut l, "P1", false), rec);
        assert_eq!(p.loan(&mut l, "P1", false), rec);
        assert_eq!(
            p.loan(&mut l, "P1", false),
            OfflineDecision::Refuse(RefusalReason::OfflineLimit)
        );
        assert_eq!(p.loan(&mut l, "P2", false), rec);
        assert_eq!(
            p.loan(&mut l, "P3", false),
            OfflineDecision::Refuse(RefusalReason::OfflineLimit),
            "terminal limit"
        );
        assert_eq!(l.loans_total, 3);
        l.clear();
        assert_eq!(p.loan(&mut l, "P3", false), rec);
    }

    #[test]
    fn modes_and_tag_rules() {
        let mut l = OfflineLedger::default();
        let mut p = borrowing();
        assert_eq!(
            p.loan(&mut l, "P", true),
            OfflineDecision::Refuse(RefusalReason::NotForOfflineLoan)
        );
        assert_eq!(
            p.checkin(true),
            OfflineDecision::Refuse(RefusalReason::LibraryOffline)
        );
        p.mode = OfflineMode::ReturnOnly;
        assert_eq!(
            p.loan(&mut l, "P", false),
            OfflineDecision::Refuse(RefusalReason::LibraryOffline)
        );
        assert_eq!(p.checkin(false), OfflineDecision::Record { due: None });
        p.mode = OfflineMode::None;
        assert_eq!(
            p.checkin(false),
            OfflineDecision::Refuse(RefusalReason::LibraryOffline)
        );
        assert_eq!(l.loans_total, 0);
    }
}
