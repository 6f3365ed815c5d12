//! The list structure requests XCF makes: the structure's layout and attributes, the
//! serialization lock, reading and writing records, inboxes and monitors. Every reply is
//! checked: a refusal becomes an [`XcfError`], a fenced system [`XcfError::Fenced`].

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use super::XcfError;
use super::group::{Plan, RecordChange, Stored};
use super::names::GroupName;
use super::records::{Checked, InboxItem, MemberRecord, SystemRecord, encode};
use super::{MAX_MEMBERS, XcfConfig};
use crate::Error;
use crate::client::{Client, Connection};
use crate::structure::{
    ConDisp, ConName, Conditions, ConnectRequest, DeleteEntry, Durability, End, EntryKey,
    EntryType, KeySource, Leid, ListNumber, Locator, LockOper, LockRequest, MonitorAction,
    MonitorList, MultiEntry, Reason, RefOption, Reply, ReplyBody, StrDisp, StructureAttrs, SysName,
    WriteEntry,
};

/// The systems list.
const SYSTEMS: ListNumber = ListNumber(0);
/// The member records list.
const MEMBERS: ListNumber = ListNumber(1);
/// The first inbox list.
const FIRST_INBOX: u32 = 2;
/// The XCF serialization lock.
const SERIALIZATION: u32 = 0;
/// Entries read or deleted per multi-entry request.
const BATCH: u32 = 500;

/// The inbox list numbers.
pub(crate) fn inboxes() -> Range<u32> {
    FIRST_INBOX..FIRST_INBOX + MAX_MEMBERS
}

/// The attributes XCF allocates its structure with: keyed lists, 512-byte elements up to
/// 64 KiB per entry, one lock, a notification vector bit per list; volatile, as a real CF.
fn attrs() -> StructureAttrs {
    StructureAttrs {
        list_headers: FIRST_INBOX + MAX_MEMBERS,
        lock_entries: 1,
        adjunct: false,
        elem_char: 1,
        max_elem_num: 128,
        entry_count: 100_000,
        element_count: 1_000_000,
        emc_count: 0,
        ref_option: RefOption::Key,
        max_conn: 32,
        full_threshold: 80,
        durability: Durability::Async,
        ..StructureAttrs::default()
    }
}

/// XCF's connection to its structure.
#[derive(Debug, Clone)]
pub(crate) struct XcfStructure {
    conn: Connection,
    /// Lets this system's group services take the CF lock one at a time (the CF lock is owned
    /// by the connection, which all of them share).
    serial: Arc<tokio::sync::Mutex<()>>,
}

impl XcfStructure {
    /// IXLCONN as XCF on `system`: CONNAME is the system name.
    pub(crate) async fn connect(
        client: &Client,
        system: &SysName,
        config: &XcfConfig,
    ) -> Result<Self, Error> {
        let request = ConnectRequest {
            structure: config.structure.clone(),
            conname: ConName::new(system.as_str()),
            attrs: attrs(),
            condisp: ConDisp::Delete,
            strdisp: StrDisp::Keep,
            vector_len: FIRST_INBOX + MAX_MEMBERS,
            jobname: client.jobname().to_owned(),
            asid: 0x0006,
        };
        match client.connect_structure(request).await? {
            Ok(conn) => Ok(Self {
                conn,
                serial: Arc::default(),
            }),
            Err(reply) if reply.reason == Reason::ConNameInUse => {
                Err(XcfError::AlreadyActive(system.clone()).into())
            }
            Err(reply) => Err(refusal(&reply).into()),
        }
    }

    /// The connection.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs `work` holding the XCF serialization lock: after this system's other group
    /// services, then FIFO behind other systems in the CF. It runs on a task of its own, so a
    /// caller that stops waiting cannot leave the lock held.
    pub(crate) async fn serialized<T, F, Fut>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Self) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let cf = self.clone();
        let task = tokio::spawn(async move {
            let _local = Arc::clone(&cf.serial).lock_owned().await;
            cf.lock(LockOper::Set).await?;
            let done = work(cf.clone()).await;
            let released = cf.lock(LockOper::Reset).await;
            let value = done?;
            released.map(|()| value)
        });
        task.await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
    }

    async fn lock(&self, oper: LockOper) -> Result<(), Error> {
        let request = LockRequest {
            index: SERIALIZATION,
            oper,
            conditional: false,
        };
        checked(self.conn.lock(request).await?)?;
        Ok(())
    }

    /// Every member record.
    pub(crate) async fn members(&self) -> Result<Vec<Stored>, Error> {
        self.read_records(MEMBERS, None).await
    }

    /// The member records of one group.
    pub(crate) async fn group(&self, group: &GroupName) -> Result<Vec<Stored>, Error> {
        let range = (group_key(group, 0x00), group_key(group, 0xFF));
        let records: Vec<Stored> = self.read_records(MEMBERS, Some(range)).await?;
        Ok(records
            .into_iter()
            .filter(|(_, r)| &r.group == group)
            .collect())
    }

    /// Every system record.
    pub(crate) async fn systems(&self) -> Result<Vec<(Leid, SystemRecord)>, Error> {
        self.read_records(SYSTEMS, None).await
    }

    async fn read_records<T: Checked>(
        &self,
        list: ListNumber,
        keys: Option<(EntryKey, EntryKey)>,
    ) -> Result<Vec<(Leid, T)>, Error> {
        let mut records = Vec::new();
        let mut restart = None;
        loop {
            let multi = MultiEntry {
                list,
                keys,
                version: None,
                lock: None,
                limit: BATCH,
                restart,
            };
            let ReplyBody::Entries(batch) = checked(self.conn.read_list(multi).await?)?.body else {
                return Err(XcfError::Corrupt("READ_LIST gave no entries".into()).into());
            };
            for entry in batch.entries {
                let data = entry.data.unwrap_or_default();
                records.push((entry.controls.leid, T::decode(&data)?));
            }
            match batch.restart {
                Some(token) => restart = Some(token),
                None => return Ok(records),
            }
        }
    }

    /// Writes this system's record, replacing any left from an earlier connection; returns
    /// its LEID.
    pub(crate) async fn write_system(&self, record: &SystemRecord) -> Result<Leid, Error> {
        for (leid, old) in self.systems().await? {
            if old.system == record.system {
                self.delete(leid).await?;
            }
        }
        let key = padded_key(record.system.as_str().as_bytes());
        self.write_new(SYSTEMS, KeySource::Explicit(key), encode(record))
            .await
    }

    /// Updates this system's record in place (a status update).
    pub(crate) async fn update_system(
        &self,
        leid: Leid,
        record: &SystemRecord,
    ) -> Result<(), Error> {
        self.replace(SYSTEMS, leid, encode(record)).await
    }

    /// Deletes a system's record, if there is one.
    pub(crate) async fn remove_system(&self, system: &SysName) -> Result<(), Error> {
        for (leid, old) in self.systems().await? {
            if &old.system == system {
                self.delete(leid).await?;
            }
        }
        Ok(())
    }

    /// Carries a group plan out: empties the purged inboxes, changes the records, then
    /// writes the group events, in plan order.
    pub(crate) async fn carry_out(&self, plan: &Plan) -> Result<(), Error> {
        for list in &plan.purge {
            self.purge(*list).await?;
        }
        for change in &plan.changes {
            match change {
                RecordChange::Create(record) => {
                    let key = KeySource::Explicit(member_key(record));
                    self.write_new(MEMBERS, key, encode(record)).await?;
                }
                RecordChange::Replace(leid, record) => {
                    self.replace(MEMBERS, *leid, encode(record)).await?;
                }
                RecordChange::Delete(leid) => self.delete(*leid).await?,
            }
        }
        for delivery in &plan.deliveries {
            self.put(delivery.inbox, &delivery.item).await?;
        }
        Ok(())
    }

    /// Puts an item at the tail of an inbox.
    pub(crate) async fn put(&self, inbox: ListNumber, item: &InboxItem) -> Result<(), Error> {
        self.write_new(inbox, KeySource::Keep, encode(item))
            .await
            .map(drop)
    }

    /// Takes the item at the head of an inbox, `None` when it is empty.
    pub(crate) async fn take(&self, inbox: ListNumber) -> Result<Option<InboxItem>, Error> {
        let reply = self
            .conn
            .delete(DeleteEntry {
                locator: Locator::Position {
                    list: inbox,
                    end: End::Head,
                },
                read: true,
                conditions: Conditions::default(),
            })
            .await?;
        if reply.reason == Reason::NoEntry {
            return Ok(None);
        }
        match checked(reply)?.body {
            ReplyBody::Entry(entry) => {
                Ok(Some(InboxItem::decode(&entry.data.unwrap_or_default())?))
            }
            _ => Err(XcfError::Corrupt("read-and-delete gave no entry".into()).into()),
        }
    }

    /// Starts or stops monitoring an inbox with its own vector bit and the transition exit.
    pub(crate) async fn monitor(&self, inbox: ListNumber, start: bool) -> Result<(), Error> {
        let monitor = MonitorList {
            list: inbox,
            action: if start {
                MonitorAction::Start
            } else {
                MonitorAction::Stop
            },
            bit: inbox.0,
            drive_exit: true,
        };
        checked(self.conn.monitor_list(monitor).await?)?;
        Ok(())
    }

    /// The lists whose notification vector bits say they are nonempty (IXLVECTR).
    pub(crate) async fn nonempty_lists(&self) -> Result<Vec<ListNumber>, Error> {
        match checked(self.conn.read_vector().await?)?.body {
            ReplyBody::Vector(bits) => Ok(bits
                .iter()
                .enumerate()
                .filter(|(_, set)| **set)
                .filter_map(|(i, _)| u32::try_from(i).ok().map(ListNumber))
                .collect()),
            _ => Err(XcfError::Corrupt("IXLVECTR gave no vector".into()).into()),
        }
    }

    /// Empties a list.
    async fn purge(&self, list: ListNumber) -> Result<(), Error> {
        let mut restart = None;
        loop {
            let multi = MultiEntry {
                list,
                keys: None,
                version: None,
                lock: None,
                limit: BATCH,
                restart,
            };
            let reply = checked(self.conn.delete_list(multi).await?)?;
            match reply.body {
                ReplyBody::Entries(batch) if batch.restart.is_some() => restart = batch.restart,
                _ => return Ok(()),
            }
        }
    }

    async fn write_new(
        &self,
        list: ListNumber,
        key: KeySource,
        data: Vec<u8>,
    ) -> Result<Leid, Error> {
        let reply = self
            .conn
            .write(WriteEntry {
                entry_type: EntryType::New,
                list,
                locator: None,
                name: None,
                leid: None,
                key,
                end: End::Tail,
                data,
                adjunct: None,
                conditions: Conditions::default(),
            })
            .await?;
        match checked(reply)?.body {
            ReplyBody::Entry(entry) => Ok(entry.controls.leid),
            _ => Err(XcfError::Corrupt("WRITE gave no entry controls".into()).into()),
        }
    }

    async fn replace(&self, list: ListNumber, leid: Leid, data: Vec<u8>) -> Result<(), Error> {
        let reply = self
            .conn
            .write(WriteEntry {
                entry_type: EntryType::Old,
                list,
                locator: Some(Locator::Leid(leid)),
                name: None,
                leid: None,
                key: KeySource::Keep,
                end: End::Tail,
                data,
                adjunct: None,
                conditions: Conditions::default(),
            })
            .await?;
        checked(reply)?;
        Ok(())
    }

    async fn delete(&self, leid: Leid) -> Result<(), Error> {
        let reply = self
            .conn
            .delete(DeleteEntry {
                locator: Locator::Leid(leid),
                read: false,
                conditions: Conditions::default(),
            })
            .await?;
        checked(reply)?;
        Ok(())
    }
}

/// The reply if the CF did the request, the XCF error it means otherwise.
fn checked(reply: Reply) -> Result<Reply, XcfError> {
    if reply.is_success() {
        Ok(reply)
    } else {
        Err(refusal(&reply))
    }
}

fn refusal(reply: &Reply) -> XcfError {
    match reply.reason {
        Reason::Fenced => XcfError::Fenced,
        reason => XcfError::Cf {
            rc: reply.rc,
            reason,
        },
    }
}

/// A key of `bytes` padded with blanks to 16 bytes.
fn padded_key(bytes: &[u8]) -> EntryKey {
    let mut key = [b' '; 16];
    for (slot, byte) in key.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    EntryKey(key)
}

/// A member record's key: the group name, then the first 8 bytes of the member name, so a
/// key range reads one group.
fn member_key(record: &MemberRecord) -> EntryKey {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&record.group.padded());
    key[8..].copy_from_slice(&record.member.padded()[..8]);
    EntryKey(key)
}

/// The group name followed by 8 bytes of `fill`: the ends of a group's key range.
fn group_key(group: &GroupName, fill: u8) -> EntryKey {
    let mut key = [fill; 16];
    key[..8].copy_from_slice(&group.padded());
    EntryKey(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::Tod;
    use crate::xcf::names::MemberName;
    use crate::xcf::records::{MemberState, MemberToken};

    #[test]
    fn member_keys_fall_in_their_group_range() {
        let record = MemberRecord {
            group: GroupName::new("EZBTCPCS").unwrap(),
            member: MemberName::new("SYSATCPCSLONGNAME")
                .unwrap_or_else(|_| MemberName::new("SYSATCPCSLONGNAM").unwrap()),
            system: SysName::new("SYSA").unwrap(),
            jobname: "TCPCS".into(),
            token: MemberToken::new(1, 1),
            state: MemberState::Active,
            user_state: vec![],
            joined_at: Tod(0),
            changed_at: Tod(0),
            inbox: Some(ListNumber(2)),
        };
        let key = member_key(&record);
        assert!(group_key(&record.group, 0x00) <= key && key <= group_key(&record.group, 0xFF));
        let other = GroupName::new("EZBTCPC").unwrap();
        assert!(!(group_key(&other, 0x00) <= key && key <= group_key(&other, 0xFF)));
    }

    #[test]
    fn the_structure_has_a_list_and_a_vector_bit_per_inbox() {
        let a = attrs();
        assert_eq!(a.list_headers, inboxes().end);
        assert!(a.allocate().is_ok());
        assert_eq!(a.element_size() * u32::from(a.max_elem_num), 64 * 1024);
    }
}
