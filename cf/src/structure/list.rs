//! A list header: the entries of one list in order, and the list controls.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::{Authority, EntryKey, Leid, ListNumber};
use super::request::End;

/// Where an entry sits in its list: ascending key, then its order within the equal-key
/// sublist. Unkeyed lists use the zero key for every entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The entry key.
    pub key: EntryKey,
    /// Order within the sublist; head inserts go below the lowest, tail inserts above the
    /// highest.
    pub order: i64,
}

/// Where a multi-entry request resumes: the first position not yet processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartToken {
    /// The list.
    pub list: ListNumber,
    /// The first position to process.
    pub from: Position,
}

/// The controls of one list, as READ_LCONTROLS returns them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListControls {
    /// Entry or element limit.
    pub limit: u32,
    /// Entries on the list.
    pub entries: u32,
    /// Data elements used by the list's entries.
    pub elements: u32,
    /// Count of empty→nonempty transitions.
    pub transitions: u64,
    /// The list description.
    pub description: [u8; 32],
    /// The list authority.
    pub authority: Authority,
    /// LISTKEY.
    pub list_key: EntryKey,
    /// MAXLISTKEY.
    pub max_list_key: EntryKey,
    /// The cursor (the LEID of its entry), `None` when 0.
    pub cursor: Option<Leid>,
}

/// One list header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct List {
    /// The list's controls; `entries` and `elements` are kept in step with `order`.
    pub controls: ListControls,
    /// The entries in list order.
    pub order: BTreeMap<Position, Leid>,
}

impl List {
    /// An empty list whose limit is the structure maximum.
    pub fn new(limit: u32) -> Self {
        Self {
            controls: ListControls {
                limit,
                entries: 0,
                elements: 0,
                transitions: 0,
                description: [0; 32],
                authority: Authority::default(),
                list_key: EntryKey::default(),
                max_list_key: EntryKey::MAX,
                cursor: None,
            },
            order: BTreeMap::new(),
        }
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Whether the equal-key sublist of `key` has no entries.
    pub fn sublist_is_empty(&self, key: EntryKey) -> bool {
        self.sublist(key).next().is_none()
    }

    /// The entries of the sublist of `key`, in order.
    pub fn sublist(&self, key: EntryKey) -> impl DoubleEndedIterator<Item = (&Position, &Leid)> {
        self.order.range(
            Position {
                key,
                order: i64::MIN,
            }..=Position {
                key,
                order: i64::MAX,
            },
        )
    }

    /// The position a new entry with `key` takes at `end` of its sublist.
    pub fn insert_position(&self, key: EntryKey, end: End) -> Position {
        let order = self.sublist_end(key, end).map_or(0, |p| match end {
            End::Head => p.order - 1,
            End::Tail => p.order + 1,
        });
        Position { key, order }
    }

    /// The position at `end` of the sublist of `key`, if it has entries. The list's own end
    /// is looked at first: it is that end of the sublist when its key is `key` (always, in a
    /// list whose entries share one key), and the sublist is empty when its key lies beyond.
    fn sublist_end(&self, key: EntryKey, end: End) -> Option<&Position> {
        let (outer, beyond) = match end {
            End::Head => (self.order.first_key_value(), std::cmp::Ordering::Greater),
            End::Tail => (self.order.last_key_value(), std::cmp::Ordering::Less),
        };
        let (outer, _) = outer?;
        let ordering = outer.key.cmp(&key);
        if ordering.is_eq() {
            return Some(outer);
        }
        if ordering == beyond {
            return None;
        }
        let found = match end {
            End::Head => self.sublist(key).next(),
            End::Tail => self.sublist(key).next_back(),
        };
        found.map(|(position, _)| position)
    }

    /// The entry at `end` of the list.
    pub fn end_entry(&self, end: End) -> Option<Leid> {
        match end {
            End::Head => self.order.first_key_value().map(|(_, leid)| *leid),
            End::Tail => self.order.last_key_value().map(|(_, leid)| *leid),
        }
    }

    /// The entry after `position` in list order.
    pub fn next_after(&self, position: Position) -> Option<Leid> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.order
            .range((Excluded(position), Unbounded))
            .next()
            .map(|(_, leid)| *leid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> EntryKey {
        let mut k = [0u8; 16];
        k[15] = n;
        EntryKey(k)
    }

    #[test]
    fn head_and_tail_inserts_bracket_the_sublist() {
        let mut list = List::new(10);
        let first = list.insert_position(key(1), End::Tail);
        list.order.insert(first, Leid::system(1));
        let tail = list.insert_position(key(1), End::Tail);
        let head = list.insert_position(key(1), End::Head);
        assert!(head < first && first < tail);
        let other = list.insert_position(key(0), End::Tail);
        assert!(other < head);
    }

    #[test]
    fn a_sublist_between_others_is_bracketed_too() {
        let mut list = List::new(10);
        for (n, k) in [0u8, 1, 1, 2].into_iter().enumerate() {
            let at = list.insert_position(key(k), End::Tail);
            list.order.insert(at, Leid::system(n as u64));
        }
        let middle: Vec<Position> = list.sublist(key(1)).map(|(p, _)| *p).collect();
        let head = list.insert_position(key(1), End::Head);
        let tail = list.insert_position(key(1), End::Tail);
        assert_eq!((head.key, tail.key), (key(1), key(1)));
        assert!(head < middle[0] && middle[1] < tail);
        assert_eq!(list.insert_position(key(3), End::Head).order, 0);
        assert_eq!(list.insert_position(key(3), End::Tail).order, 0);
    }

    #[test]
    fn finds_the_entry_after_a_position() {
        let mut list = List::new(10);
        let a = list.insert_position(key(1), End::Tail);
        list.order.insert(a, Leid::system(1));
        let b = list.insert_position(key(2), End::Tail);
        list.order.insert(b, Leid::system(2));
        assert_eq!(list.next_after(a), Some(Leid::system(2)));
        assert_eq!(list.next_after(b), None);
        assert_eq!(list.end_entry(End::Head), Some(Leid::system(1)));
    }
}
