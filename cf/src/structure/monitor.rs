//! List monitoring: which connectors monitor which lists (vector bit, transition exit), and the
//! event monitor controls (EMCs) of keyed event queues.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::ids::{ConId, EntryKey, ListNumber};

/// A connector's monitor of one list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMonitor {
    /// The notification vector bit kept equal to "list is nonempty".
    pub bit: u32,
    /// Whether empty→nonempty drives the list transition exit.
    pub drive_exit: bool,
}

/// An event monitor control: one connector monitoring one sublist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emc {
    /// User data returned with the EMC.
    pub user_data: [u8; 16],
    /// Whether it is on the connector's event queue.
    pub queued: bool,
}

/// An EMC taken off an event queue: its sublist and its contents.
pub type Dequeued = ((ListNumber, EntryKey), Emc);

/// The monitoring state of one structure.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Monitors {
    /// List monitors, by list then connector.
    pub lists: BTreeMap<ListNumber, BTreeMap<ConId, ListMonitor>>,
    /// EMCs, by (connector, list, key).
    pub emcs: BTreeMap<(ConId, ListNumber, EntryKey), Emc>,
    /// Each connector's event queue, oldest first.
    pub queues: BTreeMap<ConId, VecDeque<(ListNumber, EntryKey)>>,
}

impl Monitors {
    /// Connectors monitoring `list`.
    pub fn list_monitors(&self, list: ListNumber) -> impl Iterator<Item = (ConId, ListMonitor)> {
        self.lists
            .get(&list)
            .into_iter()
            .flat_map(|m| m.iter().map(|(c, m)| (*c, *m)))
    }

    /// Connectors with an EMC on the sublist (`list`, `key`).
    pub fn sublist_monitors(&self, list: ListNumber, key: EntryKey) -> Vec<ConId> {
        self.emcs
            .keys()
            .filter(|(_, l, k)| *l == list && *k == key)
            .map(|(c, _, _)| *c)
            .collect()
    }

    /// Queues the EMC at the tail of its connector's queue; returns whether the queue went
    /// empty→nonempty.
    pub fn queue(&mut self, conid: ConId, list: ListNumber, key: EntryKey) -> bool {
        let Some(emc) = self.emcs.get_mut(&(conid, list, key)) else {
            return false;
        };
        if emc.queued {
            return false;
        }
        emc.queued = true;
        let queue = self.queues.entry(conid).or_default();
        queue.push_back((list, key));
        queue.len() == 1
    }

    /// Takes the EMC off its connector's queue (it stays bound).
    pub fn withdraw(&mut self, conid: ConId, list: ListNumber, key: EntryKey) {
        if let Some(emc) = self.emcs.get_mut(&(conid, list, key)) {
            emc.queued = false;
        }
        if let Some(queue) = self.queues.get_mut(&conid) {
            queue.retain(|e| *e != (list, key));
            if queue.is_empty() {
                self.queues.remove(&conid);
            }
        }
    }

    /// Dequeues up to `max` EMCs of `conid`; returns them and how many remain.
    pub fn dequeue(&mut self, conid: ConId, max: u32) -> (Vec<Dequeued>, u32) {
        let mut taken = Vec::new();
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        while taken.len() < max {
            let Some(next) = self.queues.get_mut(&conid).and_then(VecDeque::pop_front) else {
                break;
            };
            if let Some(emc) = self.emcs.get_mut(&(conid, next.0, next.1)) {
                emc.queued = false;
                taken.push((next, *emc));
            }
        }
        let remaining = self.queues.get(&conid).map_or(0, VecDeque::len);
        if remaining == 0 {
            self.queues.remove(&conid);
        }
        (taken, u32::try_from(remaining).unwrap_or(u32::MAX))
    }

    /// Deletes every monitor and EMC of `conid`.
    pub fn forget(&mut self, conid: ConId) {
        for monitors in self.lists.values_mut() {
            monitors.remove(&conid);
        }
        self.lists.retain(|_, m| !m.is_empty());
        self.emcs.retain(|(c, _, _), _| *c != conid);
        self.queues.remove(&conid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(monitors: &mut Monitors, conid: u8, list: u32, key: u8) {
        let mut k = [0u8; 16];
        k[15] = key;
        monitors.emcs.insert(
            (ConId(conid), ListNumber(list), EntryKey(k)),
            Emc {
                user_data: [key; 16],
                queued: false,
            },
        );
    }

    fn key(n: u8) -> EntryKey {
        let mut k = [0u8; 16];
        k[15] = n;
        EntryKey(k)
    }

    #[test]
    fn queue_reports_only_the_empty_to_nonempty_transition() {
        let mut m = Monitors::default();
        bind(&mut m, 1, 0, 1);
        bind(&mut m, 1, 0, 2);
        assert!(m.queue(ConId(1), ListNumber(0), key(1)));
        assert!(!m.queue(ConId(1), ListNumber(0), key(1)));
        assert!(!m.queue(ConId(1), ListNumber(0), key(2)));
    }

    #[test]
    fn dequeue_keeps_the_emc_bound_and_counts_the_rest() {
        let mut m = Monitors::default();
        bind(&mut m, 1, 0, 1);
        bind(&mut m, 1, 0, 2);
        m.queue(ConId(1), ListNumber(0), key(1));
        m.queue(ConId(1), ListNumber(0), key(2));
        let (taken, remaining) = m.dequeue(ConId(1), 1);
        assert_eq!(taken.len(), 1);
        assert_eq!(remaining, 1);
        assert_eq!(m.emcs.len(), 2);
        assert!(!m.queue(ConId(1), ListNumber(0), key(1)));
    }

    #[test]
    fn withdraw_and_forget_clear_the_queue() {
        let mut m = Monitors::default();
        bind(&mut m, 1, 0, 1);
        m.queue(ConId(1), ListNumber(0), key(1));
        m.withdraw(ConId(1), ListNumber(0), key(1));
        assert_eq!(m.dequeue(ConId(1), 5).1, 0);
        m.forget(ConId(1));
        assert!(m.emcs.is_empty());
    }
}
