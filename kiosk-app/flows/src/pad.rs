//! What is on the pad, as library items: the tags of a multi-part set (a book with its CD,
//! ISO 28560-1 set information "part n of m") form one item, lendable only when every part is
//! there (`library.md` §5.8, FE set management type 1).

use std::collections::{BTreeMap, BTreeSet};

use kiosk_rfid::{ItemTag, Uid};

/// One library item on the pad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PadItem {
    /// Primary item identifier (barcode) from the tag data.
    pub item_id: String,
    /// The tags of this item on the pad, by part number (1 for a single item).
    pub parts: BTreeMap<u8, Uid>,
    /// Number of parts the set has (1 for a single item).
    pub total_parts: u8,
    /// Title when the tag carries one (ISO 28560-2 OID 17).
    pub title: Option<String>,
    /// Why the item cannot go through a flow as it is, if it cannot.
    pub problem: Option<PadProblem>,
    /// ISO 28560 type of usage qualifier 1/3: not for issue while offline.
    pub no_offline_loan: bool,
    /// ISO 28560 type of usage qualifier 1/4: not for return while offline.
    pub no_offline_return: bool,
}

impl PadItem {
    /// Every part of the set is on the pad.
    pub fn is_complete(&self) -> bool {
        self.parts.len() == usize::from(self.total_parts)
    }

    /// The tags of this item.
    pub fn uids(&self) -> impl Iterator<Item = Uid> + '_ {
        self.parts.values().copied()
    }
}

/// Why an item on the pad cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PadProblem {
    /// Not every part of a set is on the pad.
    IncompleteSet { present: u8, total: u8 },
    /// The tag's type of usage says the item does not circulate (reference, discarded).
    NotForLoan,
}

/// A tag that is not an item anyone can process here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrayTag {
    /// Blank, unknown data model or undecodable data: the patron takes it to the desk.
    Unreadable(Uid),
    /// A patron card lying on the pad (type of usage 8, its primary identifier is the card
    /// number): the sign-in, not an item.
    PatronCard { uid: Uid, card: String },
}

/// Groups the tags of one inventory into items, sorted by item id; tags that are not items come
/// back separately.
pub fn group_items(tags: &[ItemTag]) -> (Vec<PadItem>, Vec<StrayTag>) {
    let mut items: BTreeMap<String, PadItem> = BTreeMap::new();
    let mut stray = Vec::new();
    for tag in tags {
        let Some(data) = tag
            .data
            .as_ref()
            .filter(|d| !d.primary_item_id.trim().is_empty())
        else {
            stray.push(StrayTag::Unreadable(tag.uid));
            continue;
        };
        let usage = data.type_of_usage;
        if usage.is_some_and(|u| u.main == 8) {
            stray.push(StrayTag::PatronCard {
                uid: tag.uid,
                card: data.primary_item_id.trim().to_string(),
            });
            continue;
        }
        // FOLIO SIP2-98: spaces around barcodes break lookups.
        let id = data.primary_item_id.trim().to_string();
        let (part, total) = match data.set_info {
            Some(s) if s.total > 1 && (1..=s.total).contains(&s.part) => (s.part, s.total),
            _ => (1, 1),
        };
        let title = data
            .other
            .iter()
            .find(|e| e.oid == 17)
            .and_then(|e| e.text.clone());
        let entry = items.entry(id.clone()).or_insert_with(|| PadItem {
            item_id: id,
            parts: BTreeMap::new(),
            total_parts: total,
            title: None,
            problem: None,
            no_offline_loan: false,
            no_offline_return: false,
        });
        entry.total_parts = entry.total_parts.max(total);
        entry.parts.insert(part, tag.uid);
        if entry.title.is_none() {
            entry.title = title;
        }
        if let Some(u) = usage {
            if matches!(u.main, 2 | 7) {
                entry.problem = Some(PadProblem::NotForLoan);
            }
            if u.main == 1 && u.sub == 3 {
                entry.no_offline_loan = true;
            }
            if u.main == 1 && u.sub == 4 {
                entry.no_offline_return = true;
            }
        }
    }
    let items = items
        .into_values()
        .map(|mut item| {
            if item.problem.is_none() && !item.is_complete() {
                item.problem = Some(PadProblem::IncompleteSet {
                    present: item.parts.len() as u8,
                    total: item.total_parts,
                });
            }
            item
        })
        .collect();
    (items, stray)
}

/// The uids of every tag in `items`.
pub fn all_uids(items: &[PadItem]) -> BTreeSet<Uid> {
    items.iter().flat_map(|i| i.uids()).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kiosk_rfid::ItemTag;
    use kiosk_rfid::tagdata::{DataElement, LibraryData, SetInfo, TypeOfUsage};

    pub fn uid(n: u8) -> Uid {
        Uid([0xE0, 0x04, 0x01, 0, 0, 0, 0, n])
    }

    pub fn tag(n: u8, id: &str) -> ItemTag {
        tag_with(n, id, None, None)
    }

    pub fn tag_with(n: u8, id: &str, set: Option<(u8, u8)>, usage: Option<(u8, u8)>) -> ItemTag {
        let data = LibraryData {
            primary_item_id: id.to_string(),
            owner_institution: Some("CN-110000-GT".into()),
            set_info: set.map(|(part, total)| SetInfo { part, total }),
            type_of_usage: usage.map(|(main, sub)| TypeOfUsage { main, sub }),
            other: vec![DataElement::title(&format!("书 {id}"))],
        };
        ItemTag::slix(uid(n), 0x07, data)
    }

    #[test]
    fn sets_group_and_are_complete_only_with_every_part() {
        let tags = [
            tag_with(1, "B1", Some((1, 2)), None),
            tag(2, " B2 "),
            tag_with(3, "B1", Some((2, 2)), None),
            tag_with(4, "B3", Some((1, 3)), None),
        ];
        let (items, stray) = group_items(&tags);
        assert!(stray.is_empty());
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].item_id, "B1");
        assert!(items[0].is_complete() && items[0].problem.is_none());
        assert_eq!(items[0].title.as_deref(), Some("书 B1"));
        assert_eq!(items[1].item_id, "B2", "barcode trimmed");
        assert_eq!(
            items[2].problem,
            Some(PadProblem::IncompleteSet {
                present: 1,
                total: 3
            })
        );
    }

    #[test]
    fn stray_tags_and_usage_rules() {
        let mut blank = tag(1, "X");
        blank.data = None;
        let tags = [
            blank,
            tag_with(2, "P1", None, Some((8, 0))),
            tag_with(3, "REF", None, Some((2, 0))),
            tag_with(4, "C1", None, Some((1, 3))),
            tag_with(5, "C2", None, Some((1, 4))),
        ];
        let (items, stray) = group_items(&tags);
        assert_eq!(
            stray,
            vec![
                StrayTag::Unreadable(uid(1)),
                StrayTag::PatronCard {
                    uid: uid(2),
                    card: "P1".into()
                }
            ]
        );
        let by = |id: &str| items.iter().find(|i| i.item_id == id).unwrap().clone();
        assert_eq!(by("REF").problem, Some(PadProblem::NotForLoan));
        assert!(by("C1").no_offline_loan && !by("C1").no_offline_return);
        assert!(by("C2").no_offline_return && !by("C2").no_offline_loan);
    }

    #[test]
    fn a_nonsense_set_number_counts_as_a_single_item() {
        let (items, _) = group_items(&[tag_with(1, "B", Some((5, 2)), None)]);
        assert!(items[0].is_complete());
        assert_eq!(items[0].total_parts, 1);
    }
}
