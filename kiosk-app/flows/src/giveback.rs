//! Returning a stack (SIP2 09 Checkin per item, then AFI "in stock" written and read back). No
//! sign-in is needed; the result per item says where it goes (sort bin) and whether somebody
//! is waiting for it (hold), as the library system answers.

use kiosk_rfid::SecurityState;

use crate::offline::{OfflineDecision, OfflineLedger, OfflinePolicy};
use crate::pad::PadItem;
use crate::stack::{StackFlow, Transaction};
use crate::{Action, OfflineKind};

/// A return as the library system accepted it (SIP2 10) or as recorded offline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checkin {
    pub title: Option<String>,
    /// SIP2 CL sort bin.
    pub sort_bin: Option<String>,
    /// Another patron has a hold on it (SIP2 10 alert with a hold patron, CV 01/02).
    pub on_hold: bool,
    /// SIP2 10 alert flag: staff must look at the item.
    pub alert: bool,
    /// SIP2 10 resensitize flag: `Some(false)` asks to leave the gate state alone.
    pub resensitize: Option<bool>,
}

/// Check in.
#[derive(Debug, Clone, Copy)]
pub struct GiveBack;

impl Transaction for GiveBack {
    type Reply = Checkin;
    const TARGET: SecurityState = SecurityState::Secured;
    const OFFLINE_KIND: OfflineKind = OfflineKind::Checkin;

    fn request(item: &str) -> Action {
        Action::CheckIn {
            item: item.to_string(),
        }
    }

    fn offline(
        policy: &OfflinePolicy,
        _ledger: &mut OfflineLedger,
        _patron: Option<&str>,
        item: &PadItem,
    ) -> OfflineDecision {
        policy.checkin(item.no_offline_return)
    }

    fn offline_reply(title: Option<String>, _due: Option<String>) -> Checkin {
        Checkin {
            title,
            ..Checkin::default()
        }
    }

    fn keep_state(reply: &Checkin) -> bool {
        reply.resensitize == Some(false)
    }

    fn title(reply: &Checkin) -> Option<&str> {
        reply.title.as_deref()
    }
}

/// A stack being returned.
pub type ReturnFlow = StackFlow<GiveBack>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pad::tests::{tag, uid};
    use crate::stack::{LineStatus, StackSettings};
    use crate::{IlsOutcome, OfflineMode, TagWrite};

    #[test]
    fn returns_are_secured_and_keep_sort_bin_and_hold() {
        let mut f = ReturnFlow::new(None, StackSettings::default());
        let mut ledger = OfflineLedger::default();
        assert_eq!(
            f.pad(&[tag(1, "B1")]),
            vec![Action::CheckIn { item: "B1".into() }]
        );
        let reply = Checkin {
            title: Some("活着".into()),
            sort_bin: Some("A3".into()),
            on_hold: true,
            alert: true,
            resensitize: Some(true),
        };
        assert_eq!(
            f.answered("B1", IlsOutcome::Ok(reply.clone()), &mut ledger),
            vec![Action::Secure {
                uid: uid(1),
                state: SecurityState::Secured
            }]
        );
        f.tag_written(uid(1), TagWrite::ReadBack { afi: 0x07 });
        assert_eq!(f.line("B1").unwrap().status, LineStatus::Done(reply));
    }

    #[test]
    fn offline_returns_are_recorded_unless_the_policy_says_none() {
        let mut settings = StackSettings::default();
        settings.offline.mode = OfflineMode::ReturnOnly;
        let mut f = ReturnFlow::new(None, settings.clone());
        let mut ledger = OfflineLedger::default();
        f.pad(&[tag(1, "B1")]);
        assert_eq!(
            f.answered("B1", IlsOutcome::Offline, &mut ledger),
            vec![Action::RecordOffline {
                item: "B1".into(),
                kind: OfflineKind::Checkin,
                due: None
            }]
        );
        assert_eq!(f.recorded("B1", Ok(None), &mut ledger).len(), 1);
        settings.offline.mode = OfflineMode::None;
        let mut f = ReturnFlow::new(None, settings);
        f.pad(&[tag(1, "B1")]);
        assert_eq!(f.answered("B1", IlsOutcome::Offline, &mut ledger), vec![]);
        assert!(matches!(
            f.line("B1").unwrap().status,
            LineStatus::Refused(_)
        ));
    }
}
