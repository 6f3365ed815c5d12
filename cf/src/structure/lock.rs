//! The lock table of a serialized list structure: exclusive locks owned by CONIDs, with a FIFO
//! queue of waiting unconditional requests per lock.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::ids::{ConId, Ticket};
use super::request::ListOp;

/// An unconditional request waiting for a lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Waiter {
    /// The ticket its requester was given.
    pub ticket: Ticket,
    /// The requesting connection.
    pub conid: ConId,
    /// The whole request, run again when the lock frees.
    pub op: ListOp,
}

/// The lock table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LockTable {
    size: u32,
    holders: BTreeMap<u32, ConId>,
    queues: BTreeMap<u32, VecDeque<Waiter>>,
}

impl LockTable {
    /// A table of `size` lock entries (0 for an unserialized structure).
    pub fn new(size: u32) -> Self {
        Self {
            size,
            ..Self::default()
        }
    }

    /// Whether `index` names a lock entry.
    pub fn contains(&self, index: u32) -> bool {
        index < self.size
    }

    /// The holder of lock `index`.
    pub fn holder(&self, index: u32) -> Option<ConId> {
        self.holders.get(&index).copied()
    }

    /// Held locks and their holders, by index.
    pub fn held(&self) -> impl Iterator<Item = (u32, ConId)> + '_ {
        self.holders.iter().map(|(i, c)| (*i, *c))
    }

    /// Waiters per lock, by index.
    pub fn waiting(&self) -> impl Iterator<Item = (u32, &VecDeque<Waiter>)> {
        self.queues.iter().map(|(i, q)| (*i, q))
    }

    /// Gives lock `index` to `conid`.
    pub fn set(&mut self, index: u32, conid: ConId) {
        self.holders.insert(index, conid);
    }

    /// Frees lock `index`.
    pub fn reset(&mut self, index: u32) {
        self.holders.remove(&index);
    }

    /// Queues a waiter at the tail of lock `index`'s queue.
    pub fn enqueue(&mut self, index: u32, waiter: Waiter) {
        self.queues.entry(index).or_default().push_back(waiter);
    }

    /// Takes the oldest waiter of lock `index`.
    pub fn dequeue(&mut self, index: u32) -> Option<Waiter> {
        let queue = self.queues.get_mut(&index)?;
        let waiter = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(&index);
        }
        waiter
    }

    /// Drops every waiter of `conid`.
    pub fn forget_waiters(&mut self, conid: ConId) {
        for queue in self.queues.values_mut() {
            queue.retain(|w| w.conid != conid);
        }
        self.queues.retain(|_, q| !q.is_empty());
    }

    /// Frees every lock `conid` holds and returns their indexes.
    pub fn release_all(&mut self, conid: ConId) -> Vec<u32> {
        let held: Vec<u32> = self
            .holders
            .iter()
            .filter(|(_, c)| **c == conid)
            .map(|(i, _)| *i)
            .collect();
        for index in &held {
            self.holders.remove(index);
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::request::ListOp;

    fn waiter(ticket: u64, conid: u8) -> Waiter {
        Waiter {
            ticket: Ticket(ticket),
            conid: ConId(conid),
            op: ListOp::ReadVector,
        }
    }

    #[test]
    fn waiters_leave_in_fifo_order() {
        let mut table = LockTable::new(4);
        table.enqueue(1, waiter(1, 2));
        table.enqueue(1, waiter(2, 3));
        assert_eq!(table.dequeue(1).map(|w| w.ticket), Some(Ticket(1)));
        assert_eq!(table.dequeue(1).map(|w| w.ticket), Some(Ticket(2)));
        assert_eq!(table.dequeue(1), None);
    }

    #[test]
    fn releases_every_lock_of_a_connection() {
        let mut table = LockTable::new(4);
        table.set(0, ConId(1));
        table.set(2, ConId(1));
        table.set(3, ConId(2));
        assert_eq!(table.release_all(ConId(1)), vec![0, 2]);
        assert_eq!(table.holder(3), Some(ConId(2)));
        assert!(!table.contains(4));
    }
}
