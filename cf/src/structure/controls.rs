//! IXLLSTC: list controls, list monitoring (notification vector and transition exit), sublist
//! monitoring (EMCs on the event queue), and reading the notification vector.

use super::codes::Reason;
use super::ids::ConId;
use super::instance::ListStructure;
use super::monitor::{Emc, ListMonitor};
use super::ops::Refused;
use super::reply::{Delivery, EmcAnswer, Event, Reply, ReplyBody};
use super::request::{MonitorAction, MonitorList, MonitorSublist, WriteListControls};

impl ListStructure {
    /// WRITE_LCONTROLS: always compares the authority first.
    pub(crate) fn write_list_controls(&mut self, w: WriteListControls) -> Result<Reply, Refused> {
        let list = self.list(w.list)?;
        let current = list.controls.authority;
        if !w.authority.compare.passes(&current, &w.authority.value) {
            return Err(
                Reply::refused_with(Reason::BadListAuth, ReplyBody::Authority(current)).into(),
            );
        }
        if let Some(Some(leid)) = w.cursor
            && self.entries.get(&leid).is_none_or(|e| e.list != w.list)
        {
            return Err(Reason::NoEntry.into());
        }
        let index = usize::try_from(w.list.0).map_err(|_| Reason::BadListNumber)?;
        let controls = &mut self
            .lists
            .get_mut(index)
            .ok_or(Reason::BadListNumber)?
            .controls;
        if let Some(new) = w.authority.new {
            controls.authority = new;
        }
        if let Some(limit) = w.limit {
            controls.limit = limit;
        }
        if let Some(description) = w.description {
            controls.description = description;
        }
        if let Some(key) = w.list_key {
            controls.list_key = key;
        }
        if let Some(key) = w.max_list_key {
            controls.max_list_key = key;
        }
        if let Some(cursor) = w.cursor {
            controls.cursor = cursor;
        }
        Ok(Reply::ok(ReplyBody::ListControls(Box::new(
            controls.clone(),
        ))))
    }

    /// MONITOR_LIST: binds the list to a vector bit (set to the list's current state) or stops.
    pub(crate) fn monitor_list(&mut self, conid: ConId, m: MonitorList) -> Result<Reply, Refused> {
        let nonempty = !self.list(m.list)?.is_empty();
        match m.action {
            MonitorAction::Start => {
                let bit = usize::try_from(m.bit).map_err(|_| Reason::BadVectorIndex)?;
                let previous = self
                    .monitors
                    .lists
                    .get(&m.list)
                    .and_then(|ms| ms.get(&conid))
                    .and_then(|old| usize::try_from(old.bit).ok());
                let vector = self
                    .conns
                    .get_mut(conid)
                    .map(|c| &mut c.vector)
                    .filter(|v| bit < v.len())
                    .ok_or(Reason::BadVectorIndex)?;
                if let Some(old) = previous.and_then(|old| vector.get_mut(old)) {
                    *old = false;
                }
                if let Some(slot) = vector.get_mut(bit) {
                    *slot = nonempty;
                }
                let monitor = ListMonitor {
                    bit: m.bit,
                    drive_exit: m.drive_exit,
                };
                self.monitors
                    .lists
                    .entry(m.list)
                    .or_default()
                    .insert(conid, monitor);
            }
            MonitorAction::Stop => {
                let monitors = self.monitors.lists.get_mut(&m.list);
                if monitors.and_then(|ms| ms.remove(&conid)).is_none() {
                    return Err(Reason::NotMonitored.into());
                }
                self.monitors.lists.retain(|_, ms| !ms.is_empty());
            }
        }
        Ok(Reply::ok(ReplyBody::None))
    }

    /// MONITOR_SUBLIST: creates the EMC of (connector, list, key), queued at once when the
    /// sublist is nonempty, or deletes it.
    pub(crate) fn monitor_sublist(
        &mut self,
        conid: ConId,
        m: MonitorSublist,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, Refused> {
        let nonempty = !self.list(m.list)?.sublist_is_empty(m.key);
        if !self.attrs.keyed() || self.attrs.emc_count == 0 {
            return Err(Reason::NotSupported.into());
        }
        let id = (conid, m.list, m.key);
        match m.action {
            MonitorAction::Start => {
                if let Some(emc) = self.monitors.emcs.get_mut(&id) {
                    emc.user_data = m.user_data;
                    return Ok(Reply::ok(ReplyBody::None));
                }
                let in_use = u32::try_from(self.monitors.emcs.len()).unwrap_or(u32::MAX);
                if in_use >= self.attrs.emc_count {
                    return Err(Reason::StrFull.into());
                }
                let emc = Emc {
                    user_data: m.user_data,
                    queued: false,
                };
                self.monitors.emcs.insert(id, emc);
                if nonempty && self.monitors.queue(conid, m.list, m.key) {
                    self.event_to(conid, Event::EventQueueTransition, out);
                }
            }
            MonitorAction::Stop => {
                if !self.monitors.emcs.contains_key(&id) {
                    return Err(Reason::NotMonitored.into());
                }
                self.monitors.withdraw(conid, m.list, m.key);
                self.monitors.emcs.remove(&id);
            }
        }
        Ok(Reply::ok(ReplyBody::None))
    }

    /// DEQ_EVENTQ: takes up to `max` EMCs off the queue and says how many remain.
    pub(crate) fn dequeue_events(&mut self, conid: ConId, max: u32) -> Reply {
        let (taken, remaining) = self.monitors.dequeue(conid, max);
        let emcs = taken
            .into_iter()
            .map(|((list, key), emc)| EmcAnswer {
                list,
                key,
                user_data: emc.user_data,
            })
            .collect();
        Reply::ok(ReplyBody::EventQueue { emcs, remaining })
    }

    /// The connector's notification vector.
    pub(crate) fn read_vector(&self, conid: ConId) -> Reply {
        let vector = self
            .conns
            .get(conid)
            .map(|c| c.vector.clone())
            .unwrap_or_default();
        Reply::ok(ReplyBody::Vector(vector))
    }
}
