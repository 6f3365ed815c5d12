//! One allocated list structure: its lists, entries, lock table, connections and monitors, with
//! the primitives that keep counts, cursors, vector bits and event queues in step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::attrs::{ListCntlType, StrDisp, StructureAttrs};
use super::codes::Reason;
use super::conn::{ConnState, Connections};
use super::entry::Entry;
use super::entry_map::EntryMap;
use super::ids::{ConId, EntryKey, EntryName, Leid, ListNumber, StrName, Tod};
use super::list::{List, Position};
use super::lock::LockTable;
use super::monitor::Monitors;
use super::reply::{Delivery, Event, Recipient};

/// An allocated list structure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListStructure {
    pub(crate) name: StrName,
    pub(crate) attrs: StructureAttrs,
    pub(crate) strdisp: StrDisp,
    pub(crate) allocation: u32,
    pub(crate) allocated_at: Tod,
    pub(crate) lists: Vec<List>,
    pub(crate) entries: EntryMap,
    pub(crate) names: BTreeMap<EntryName, Leid>,
    pub(crate) next_leid: u64,
    pub(crate) elements_in_use: u32,
    pub(crate) locks: LockTable,
    pub(crate) conns: Connections,
    pub(crate) monitors: Monitors,
    pub(crate) above_full_threshold: bool,
}

/// How much a change adds to a list and to the structure (negative: frees).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Growth {
    pub list_entries: i64,
    pub list_elements: i64,
    pub entries: i64,
    pub elements: i64,
}

impl ListStructure {
    /// Allocates an empty structure with checked attributes.
    pub(crate) fn new(
        name: StrName,
        attrs: StructureAttrs,
        strdisp: StrDisp,
        allocation: u32,
        now: Tod,
    ) -> Self {
        let limit = match attrs.list_cntl_type {
            ListCntlType::Entry => attrs.entry_count,
            ListCntlType::Element => attrs.element_count,
        };
        let lists = (0..attrs.list_headers).map(|_| List::new(limit)).collect();
        Self {
            name,
            locks: LockTable::new(attrs.lock_entries),
            attrs,
            strdisp,
            allocation,
            allocated_at: now,
            lists,
            entries: EntryMap::default(),
            names: BTreeMap::new(),
            next_leid: 1,
            elements_in_use: 0,
            conns: Connections::default(),
            monitors: Monitors::default(),
            above_full_threshold: false,
        }
    }

    /// The structure name.
    pub fn name(&self) -> &StrName {
        &self.name
    }

    /// The attributes as allocated.
    pub fn attrs(&self) -> &StructureAttrs {
        &self.attrs
    }

    /// STRDISP, as the first connector gave it.
    pub fn strdisp(&self) -> StrDisp {
        self.strdisp
    }

    /// The allocation number (the physical structure version).
    pub fn allocation(&self) -> u32 {
        self.allocation
    }

    /// When the structure was allocated.
    pub fn allocated_at(&self) -> Tod {
        self.allocated_at
    }

    /// The connections, active and failed-persistent.
    pub fn connections(&self) -> &Connections {
        &self.conns
    }

    /// The list headers, by list number.
    pub fn lists(&self) -> &[List] {
        &self.lists
    }

    /// The entry with `leid`.
    pub fn entry(&self, leid: Leid) -> Option<&Entry> {
        self.entries.get(&leid).map(AsRef::as_ref)
    }

    /// Entries in use.
    pub fn entries_in_use(&self) -> u32 {
        u32::try_from(self.entries.len()).unwrap_or(u32::MAX)
    }

    /// Data elements in use.
    pub fn elements_in_use(&self) -> u32 {
        self.elements_in_use
    }

    /// The lock table.
    pub fn locks(&self) -> &LockTable {
        &self.locks
    }

    /// The monitors and event queues.
    pub fn monitors(&self) -> &Monitors {
        &self.monitors
    }

    /// The list `list`, or BadListNumber.
    pub(crate) fn list(&self, list: ListNumber) -> Result<&List, Reason> {
        usize::try_from(list.0)
            .ok()
            .and_then(|i| self.lists.get(i))
            .ok_or(Reason::BadListNumber)
    }

    fn list_mut(&mut self, list: ListNumber) -> Option<&mut List> {
        usize::try_from(list.0)
            .ok()
            .and_then(|i| self.lists.get_mut(i))
    }

    /// The next system LEID (never reused).
    pub(crate) fn take_system_leid(&mut self) -> Leid {
        let leid = Leid::system(self.next_leid);
        self.next_leid += 1;
        leid
    }

    /// Checks that `growth` fits in the structure and in `list`: StrFull or ListFull otherwise.
    pub(crate) fn check_room(&self, list: ListNumber, growth: Growth) -> Result<(), Reason> {
        let exceeds =
            |used: u32, add: i64, max: u32| add > 0 && i64::from(used) + add > i64::from(max);
        if exceeds(
            self.entries_in_use(),
            growth.entries,
            self.attrs.entry_count,
        ) || exceeds(
            self.elements_in_use,
            growth.elements,
            self.attrs.element_count,
        ) {
            return Err(Reason::StrFull);
        }
        let controls = &self.list(list)?.controls;
        let full = match self.attrs.list_cntl_type {
            ListCntlType::Entry => exceeds(controls.entries, growth.list_entries, controls.limit),
            ListCntlType::Element => {
                exceeds(controls.elements, growth.list_elements, controls.limit)
            }
        };
        if full { Err(Reason::ListFull) } else { Ok(()) }
    }

    /// Adds a new entry at its position, with transitions.
    pub(crate) fn insert(&mut self, entry: Box<Entry>, out: &mut Vec<Delivery>) {
        if let Some(name) = entry.name {
            self.names.insert(name, entry.leid);
        }
        self.elements_in_use = self.elements_in_use.saturating_add(entry.elements);
        self.link(entry, out);
    }

    /// Deletes an entry, with transitions; returns it.
    pub(crate) fn remove(&mut self, leid: Leid) -> Option<Box<Entry>> {
        let entry = self.unlink(leid)?;
        if let Some(name) = entry.name {
            self.names.remove(&name);
        }
        self.elements_in_use = self.elements_in_use.saturating_sub(entry.elements);
        Some(entry)
    }

    /// Moves an entry to `list` at `position` (same list: re-keyed or re-ordered).
    pub(crate) fn relocate(
        &mut self,
        leid: Leid,
        list: ListNumber,
        position: Position,
        out: &mut Vec<Delivery>,
    ) {
        let Some(current) = self.entries.get(&leid) else {
            return;
        };
        if current.list == list {
            self.reorder(leid, position, out);
        } else if let Some(mut entry) = self.unlink(leid) {
            entry.list = list;
            entry.position = position;
            self.link(entry, out);
        }
    }

    /// Moves an entry within its list: counts, cursor and list transitions stay as they are;
    /// the sublists it leaves and joins see their transitions.
    fn reorder(&mut self, leid: Leid, position: Position, out: &mut Vec<Delivery>) {
        let Some(entry) = self.entries.get_mut(&leid) else {
            return;
        };
        let (list, old) = (entry.list, entry.position);
        entry.position = position;
        let keyed = self.attrs.keyed();
        let Some(l) = self.list_mut(list) else {
            return;
        };
        l.order.remove(&old);
        let left_empty = keyed && l.sublist_is_empty(old.key);
        let joined_empty = keyed && l.sublist_is_empty(position.key);
        l.order.insert(position, leid);
        if left_empty {
            self.withdraw_sublist(list, old.key);
        }
        if joined_empty {
            self.sublist_became_nonempty(list, position.key, out);
        }
    }

    /// Changes an entry's data, keeping the element counts right.
    pub(crate) fn rewrite(&mut self, leid: Leid, data: Vec<u8>, adjunct: Option<Vec<u8>>) {
        let elements = self.attrs.elements_for(data.len());
        let Some(entry) = self.entries.get_mut(&leid) else {
            return;
        };
        let old = entry.elements;
        entry.elements = elements;
        entry.data = data.into();
        if adjunct.is_some() {
            entry.adjunct = adjunct;
        }
        let list = entry.list;
        self.elements_in_use = self
            .elements_in_use
            .saturating_sub(old)
            .saturating_add(elements);
        if let Some(l) = self.list_mut(list) {
            l.controls.elements = l
                .controls
                .elements
                .saturating_sub(old)
                .saturating_add(elements);
        }
    }

    /// Puts an entry on its list (`entry.list`), with the list and sublist transitions.
    fn link(&mut self, entry: Box<Entry>, out: &mut Vec<Delivery>) {
        let (list, key, elements) = (entry.list, entry.position.key, entry.elements);
        let keyed = self.attrs.keyed();
        let Some(l) = self.list_mut(list) else {
            return;
        };
        let list_was_empty = l.is_empty();
        let sublist_was_empty = keyed && l.sublist_is_empty(key);
        l.order.insert(entry.position, entry.leid);
        l.controls.entries += 1;
        l.controls.elements = l.controls.elements.saturating_add(elements);
        if list_was_empty {
            l.controls.transitions += 1;
        }
        self.entries.insert(entry.leid, entry);
        if list_was_empty {
            self.list_became_nonempty(list, out);
        }
        if sublist_was_empty {
            self.sublist_became_nonempty(list, key, out);
        }
    }

    /// Takes an entry off its list, with the list and sublist transitions; returns it.
    fn unlink(&mut self, leid: Leid) -> Option<Box<Entry>> {
        let entry = self.entries.remove(&leid)?;
        let (list, key) = (entry.list, entry.position.key);
        let keyed = self.attrs.keyed();
        let l = self.list_mut(list)?;
        l.order.remove(&entry.position);
        l.controls.entries = l.controls.entries.saturating_sub(1);
        l.controls.elements = l.controls.elements.saturating_sub(entry.elements);
        if l.controls.cursor == Some(leid) {
            l.controls.cursor = None;
        }
        let list_empty = l.is_empty();
        let sublist_empty = keyed && l.sublist_is_empty(key);
        if list_empty {
            self.set_bits(list, false);
        }
        if sublist_empty {
            self.withdraw_sublist(list, key);
        }
        Some(entry)
    }

    /// The sublist of `key` became empty: its event monitors' queued EMCs are withdrawn.
    fn withdraw_sublist(&mut self, list: ListNumber, key: EntryKey) {
        for conid in self.monitors.sublist_monitors(list, key) {
            self.monitors.withdraw(conid, list, key);
        }
    }

    fn list_became_nonempty(&mut self, list: ListNumber, out: &mut Vec<Delivery>) {
        self.set_bits(list, true);
        let exits: Vec<ConId> = self
            .monitors
            .list_monitors(list)
            .filter(|(_, m)| m.drive_exit)
            .map(|(c, _)| c)
            .collect();
        for conid in exits {
            self.event_to(conid, Event::ListTransition, out);
        }
    }

    fn sublist_became_nonempty(
        &mut self,
        list: ListNumber,
        key: EntryKey,
        out: &mut Vec<Delivery>,
    ) {
        for conid in self.monitors.sublist_monitors(list, key) {
            if self.monitors.queue(conid, list, key) {
                self.event_to(conid, Event::EventQueueTransition, out);
            }
        }
    }

    /// Sets every monitoring connector's vector bit for `list`.
    pub(crate) fn set_bits(&mut self, list: ListNumber, nonempty: bool) {
        let monitors: Vec<(ConId, u32)> = self
            .monitors
            .list_monitors(list)
            .map(|(c, m)| (c, m.bit))
            .collect();
        for (conid, bit) in monitors {
            let slot = self
                .conns
                .get_mut(conid)
                .and_then(|c| c.vector.get_mut(usize::try_from(bit).ok()?));
            if let Some(slot) = slot {
                *slot = nonempty;
            }
        }
    }

    /// Queues an event for an active connection.
    pub(crate) fn event_to(&self, conid: ConId, event: Event, out: &mut Vec<Delivery>) {
        if let Some(to) = self.recipient(conid) {
            out.push(Delivery::Event { to, event });
        }
    }

    /// Where deliveries for an active connection go.
    pub(crate) fn recipient(&self, conid: ConId) -> Option<Recipient> {
        self.conns
            .get(conid)
            .filter(|c| c.state == ConnState::Active)
            .map(|c| Recipient {
                link: c.link,
                token: c.token,
            })
    }

    /// Usage in percent: the larger of entries and elements in use.
    pub fn percent_full(&self) -> u32 {
        let pct = |used: u32, total: u32| {
            if total == 0 {
                0
            } else {
                u32::try_from(u64::from(used) * 100 / u64::from(total)).unwrap_or(100)
            }
        };
        pct(self.entries_in_use(), self.attrs.entry_count)
            .max(pct(self.elements_in_use, self.attrs.element_count))
    }
}
