//! Runs one list operation for a connection: the lock gate in front (conditional requests fail
//! on a held lock, unconditional SET and NOTHELD wait in FIFO order), the operation, then the
//! lock's own effect, and hands a freed lock to its waiters.

use super::codes::Reason;
use super::ids::{ConId, Ticket};
use super::instance::ListStructure;
use super::lock::Waiter;
use super::ops::Refused;
use super::reply::{Delivery, Event, Reply, ReplyBody};
use super::request::{ListOp, LockOper, LockRequest};

/// What the lock gate decided.
enum Gate {
    /// Go on with the operation.
    Proceed,
    /// Queue behind `holder`.
    Wait { holder: ConId },
}

impl ListStructure {
    /// Runs `op` for `conid`. `tickets` numbers queued requests facility-wide.
    pub(crate) fn run(
        &mut self,
        conid: ConId,
        op: ListOp,
        tickets: &mut u64,
        out: &mut Vec<Delivery>,
    ) -> Reply {
        let lock = joined_lock(&op);
        let multi = matches!(op, ListOp::ReadList(_) | ListOp::DeleteList(_));
        if multi && lock.is_some_and(|l| !matches!(l.oper, LockOper::NotHeld | LockOper::HeldBy)) {
            return Reason::BadParmList.into();
        }
        if let Some(lock) = lock {
            match self.lock_gate(conid, lock, &op) {
                Err(refused) => return *refused.0,
                Ok(Gate::Wait { holder }) => {
                    let ticket = Ticket(*tickets);
                    *tickets += 1;
                    self.locks.enqueue(lock.index, Waiter { ticket, conid, op });
                    let event = Event::LockContention {
                        index: lock.index,
                        requester: conid,
                    };
                    self.event_to(holder, event, out);
                    return Reply::warning(Reason::Asynch, ReplyBody::Queued(ticket));
                }
                Ok(Gate::Proceed) => {}
            }
        }
        let result = match op {
            ListOp::Write(w) => self.write(w, out),
            ListOp::Read(ref r) => self.read(r),
            ListOp::Move(m) => self.move_entry(m, out),
            ListOp::Delete(ref d) => self.delete(d),
            ListOp::ReadList(ref m) => self.multi(m, false),
            ListOp::DeleteList(ref m) => self.multi(m, true),
            ListOp::Lock(l) => Ok(self.lock_only(conid, l)),
            ListOp::ReadListControls { list } => self
                .list(list)
                .map(|l| Reply::ok(ReplyBody::ListControls(Box::new(l.controls.clone()))))
                .map_err(Refused::from),
            ListOp::WriteListControls(w) => self.write_list_controls(w),
            ListOp::MonitorList(m) => self.monitor_list(conid, m),
            ListOp::MonitorSublist(m) => self.monitor_sublist(conid, m, out),
            ListOp::DeqEventQueue { max } => Ok(self.dequeue_events(conid, max)),
            ListOp::ReadVector => Ok(self.read_vector(conid)),
        };
        let reply = result.unwrap_or_else(|refused| *refused.0);
        if let Some(lock) = lock
            && reply.is_success()
        {
            match lock.oper {
                LockOper::Set => self.locks.set(lock.index, conid),
                LockOper::Reset => self.release_lock(lock.index, tickets, out),
                LockOper::Test { .. } | LockOper::NotHeld | LockOper::HeldBy => {}
            }
        }
        reply
    }

    /// Frees lock `index` and runs its waiters, oldest first, until one takes it.
    pub(crate) fn release_lock(&mut self, index: u32, tickets: &mut u64, out: &mut Vec<Delivery>) {
        self.locks.reset(index);
        while self.locks.holder(index).is_none() {
            let Some(waiter) = self.locks.dequeue(index) else {
                break;
            };
            let Some(to) = self.recipient(waiter.conid) else {
                continue;
            };
            let reply = self.run(waiter.conid, waiter.op, tickets, out);
            out.push(Delivery::Completion {
                to,
                ticket: waiter.ticket,
                reply,
            });
        }
        let next = self
            .locks
            .waiting()
            .find(|(i, _)| *i == index)
            .and_then(|(_, q)| q.front().map(|w| w.conid));
        if let (Some(holder), Some(requester)) = (self.locks.holder(index), next) {
            self.event_to(holder, Event::LockContention { index, requester }, out);
        }
    }

    fn lock_gate(&self, conid: ConId, lock: LockRequest, op: &ListOp) -> Result<Gate, Refused> {
        if !self.locks.contains(lock.index) {
            return Err(Reason::BadLockIndex.into());
        }
        let holder = self.locks.holder(lock.index);
        let held_by_other = holder.filter(|h| *h != conid);
        match lock.oper {
            LockOper::Set | LockOper::NotHeld => match held_by_other {
                None => Ok(Gate::Proceed),
                Some(h) if lock.conditional => Err(Reply::refused_with(
                    Reason::LockHeld,
                    ReplyBody::LockHolder(Some(h)),
                )
                .into()),
                Some(holder) => Ok(Gate::Wait { holder }),
            },
            LockOper::Reset | LockOper::HeldBy if holder != Some(conid) => {
                Err(Reply::refused_with(Reason::LockNotOwned, ReplyBody::LockHolder(holder)).into())
            }
            LockOper::Reset | LockOper::HeldBy => Ok(Gate::Proceed),
            LockOper::Test { .. } if matches!(op, ListOp::Lock(_)) => Ok(Gate::Proceed),
            LockOper::Test { .. } => Err(Reason::BadParmList.into()),
        }
    }

    /// IXLLSTE LOCK alone; the gate has already passed.
    fn lock_only(&self, conid: ConId, lock: LockRequest) -> Reply {
        let holder = self.locks.holder(lock.index);
        match lock.oper {
            LockOper::Test { owner } if holder != Some(owner) => {
                Reply::warning(Reason::LockNotHeld, ReplyBody::LockHolder(holder))
            }
            LockOper::Set => Reply::ok(ReplyBody::LockHolder(Some(conid))),
            LockOper::Reset => Reply::ok(ReplyBody::LockHolder(None)),
            _ => Reply::ok(ReplyBody::LockHolder(holder)),
        }
    }
}

/// The lock operation a request carries, if any.
fn joined_lock(op: &ListOp) -> Option<LockRequest> {
    match op {
        ListOp::Write(w) => w.conditions.lock,
        ListOp::Read(r) => r.conditions.lock,
        ListOp::Move(m) => m.conditions.lock,
        ListOp::Delete(d) => d.conditions.lock,
        ListOp::ReadList(m) | ListOp::DeleteList(m) => m.lock,
        ListOp::Lock(l) => Some(*l),
        _ => None,
    }
}
