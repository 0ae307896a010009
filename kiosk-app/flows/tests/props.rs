//! Property test of the borrow flow under any interleaving of pad snapshots, library-system
//! answers and tag writes: no panic, each item asked once while it is listed, no tag unsecured before its loan was
//! granted, and "done" only after every tag of the item read back the on-loan AFI.

use std::collections::{BTreeMap, BTreeSet};

use kiosk_flows::stack::LineStatus;
use kiosk_flows::{
    Action, BorrowFlow, IlsOutcome, Loan, OfflineLedger, OfflineMode, Refusal, RefusalReason,
    StackSettings, TagWrite,
};
use kiosk_rfid::tagdata::{LibraryData, SetInfo};
use kiosk_rfid::{DataModel, ItemTag, Uid};
use proptest::prelude::*;

/// Six tags: items A (2-part set: tags 0, 1), B (2), C (3), D (4), E (5).
fn tag(n: u8) -> ItemTag {
    let (id, set) = match n {
        0 => ("A", Some(SetInfo { part: 1, total: 2 })),
        1 => ("A", Some(SetInfo { part: 2, total: 2 })),
        2 => ("B", None),
        3 => ("C", None),
        4 => ("D", None),
        _ => ("E", None),
    };
    ItemTag {
        uid: Uid([0xE0, 4, 1, 0, 0, 0, 0, n]),
        afi: 0x07,
        dsfid: 6,
        eas: None,
        block_size: 4,
        block_count: 28,
        data_model: DataModel::Iso28560_2,
        data: Some(LibraryData {
            primary_item_id: id.into(),
            set_info: set,
            ..LibraryData::default()
        }),
        data_error: None,
    }
}

#[derive(Debug, Clone)]
enum Event {
    Pad(Vec<bool>),
    Answer(usize, u8),
    Recorded(usize, bool),
    Write(u8, u8),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        prop::collection::vec(any::<bool>(), 6).prop_map(Event::Pad),
        (0usize..5, 0u8..3).prop_map(|(i, k)| Event::Answer(i, k)),
        (0usize..5, any::<bool>()).prop_map(|(i, ok)| Event::Recorded(i, ok)),
        (0u8..6, 0u8..4).prop_map(|(t, k)| Event::Write(t, k)),
    ]
}

const ITEMS: [&str; 5] = ["A", "B", "C", "D", "E"];

proptest! {
    #[test]
    fn borrow_flow_invariants(events in prop::collection::vec(event(), 1..60)) {
        let mut settings = StackSettings::default();
        settings.offline.mode = OfflineMode::ReturnAndBorrow;
        let mut flow = BorrowFlow::new(Some("P".into()), settings);
        let mut ledger = OfflineLedger::default();
        let mut asked: BTreeSet<String> = BTreeSet::new();
        let mut granted: BTreeSet<String> = BTreeSet::new();
        // Tags confirmed on loan since their item was granted.
        let mut confirmed: BTreeSet<Uid> = BTreeSet::new();
        let mut in_flight: BTreeMap<Uid, ()> = BTreeMap::new();
        for ev in events {
            let actions = match ev {
                Event::Pad(on) => {
                    let tags: Vec<ItemTag> =
                        (0..6u8).filter(|n| on[*n as usize]).map(tag).collect();
                    flow.pad(&tags)
                }
                Event::Answer(i, k) => {
                    let outcome = match k {
                        0 => IlsOutcome::Ok(Loan { title: None, due: Some("d".into()), desensitize: Some(true) }),
                        1 => IlsOutcome::Refused(Refusal::new(RefusalReason::AlreadyOnLoan)),
                        _ => IlsOutcome::Offline,
                    };
                    let before = flow.line(ITEMS[i]).map(|l| l.status.clone());
                    let acts = flow.answered(ITEMS[i], outcome.clone(), &mut ledger);
                    if matches!(before, Some(LineStatus::Asking)) && matches!(outcome, IlsOutcome::Ok(_)) {
                        granted.insert(ITEMS[i].to_string());
                    }
                    acts
                }
                Event::Recorded(i, ok) => {
                    let before = flow.line(ITEMS[i]).map(|l| l.status.clone());
                    let res = if ok { Ok(Some("d".into())) } else { Err("disk full".into()) };
                    let acts = flow.recorded(ITEMS[i], res, &mut ledger);
                    if ok && matches!(before, Some(LineStatus::Recording)) {
                        granted.insert(ITEMS[i].to_string());
                    }
                    acts
                }
                Event::Write(t, k) => {
                    let uid = tag(t).uid;
                    if in_flight.remove(&uid).is_none() {
                        // The runner only reports writes it was asked for.
                        continue;
                    }
                    let w = match k {
                        0 | 1 => TagWrite::ReadBack { afi: 0xC2 },
                        2 => TagWrite::Gone,
                        _ => TagWrite::Failed("rf".into()),
                    };
                    if matches!(w, TagWrite::ReadBack { .. }) {
                        confirmed.insert(uid);
                    }
                    flow.tag_written(uid, w)
                }
            };
            for a in actions {
                match a {
                    Action::CheckOut { item } => {
                        prop_assert!(asked.insert(item.clone()), "{item} asked twice");
                    }
                    Action::Secure { uid, .. } => {
                        let item = flow.lines().find(|l| l.uids().any(|u| u == uid)).unwrap();
                        prop_assert!(granted.contains(&item.item_id), "unsecured before the loan");
                        prop_assert!(in_flight.insert(uid, ()).is_none(), "two writes at once");
                    }
                    Action::RecordOffline { .. } | Action::CheckIn { .. } => {}
                }
            }
            // A refused item taken off the pad is forgotten; put back, it is a new attempt.
            asked.retain(|id| flow.line(id).is_some());
            for line in flow.lines() {
                if let LineStatus::Done(_) = line.status {
                    for u in line.uids() {
                        prop_assert!(confirmed.contains(&u), "done without a read-back");
                    }
                }
            }
        }
    }
}
