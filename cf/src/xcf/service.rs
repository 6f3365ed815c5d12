//! The async XCF services over the CF client: [`Xcf`] (one per system) and [`Member`] (one per
//! joined member), with the background tasks that move inbox items to members, clean up after
//! failed systems and update the system's status.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::cfops::{XcfStructure, inboxes};
use super::group::{self, JoinRequest, Plan};
use super::names::{GroupName, MemberName};
use super::records::{GroupEvent, InboxItem, MemberRecord, MemberToken, Message, SystemRecord};
use super::{MAX_MESSAGE, XcfConfig, XcfError};
use crate::Error;
use crate::client::{Client, Events};
use crate::structure::{ConToken, Event, Leid, ListNumber, SysName, Tod};

/// What a member receives, in the order XCF delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    /// A group event (the group user routine's input, IXCYGEPL).
    Group(GroupEvent),
    /// A message (the message user routine's input, read with IXCMSGI).
    Message(Message),
}

/// XCF on one system: a connector to the XCF structure named after the system. Cheap to
/// clone; dropping every clone (and the [`Client`]) closes the CF link, which fails the
/// system's members.
#[derive(Clone, Debug)]
pub struct Xcf {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cf: XcfStructure,
    system: SysName,
    /// The connection sequence number in the CONTOKEN, for member tokens.
    connection: u32,
    joins: AtomicU32,
    /// This system's members, by inbox list.
    local: Mutex<HashMap<ListNumber, Local>>,
    /// This system's record in the systems list.
    system_leid: Leid,
    connected_at: Tod,
    partitioned: AtomicBool,
    dispatcher: Mutex<Option<AbortHandle>>,
    status: Mutex<Option<AbortHandle>>,
}

#[derive(Debug)]
struct Local {
    token: MemberToken,
    events: mpsc::UnboundedSender<MemberEvent>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in [&self.dispatcher, &self.status] {
            if let Some(task) = lock(task).take() {
                task.abort();
            }
        }
    }
}

impl Xcf {
    /// Starts XCF on the client's system with the default configuration; see
    /// [`Xcf::connect_with`].
    pub async fn connect(client: &Client) -> Result<Self, Error> {
        Self::connect_with(client, XcfConfig::default()).await
    }

    /// Starts XCF on the client's system: connects to the XCF structure (allocating it on
    /// first use), marks the members of systems no longer connected as Failed, records the
    /// system, sends its first heartbeat and starts the periodic status updates.
    pub async fn connect_with(client: &Client, config: XcfConfig) -> Result<Self, Error> {
        let system = SysName::new(client.sysname())
            .ok_or_else(|| XcfError::Corrupt(format!("bad system name {}", client.sysname())))?;
        let mut events = client.events();
        let cf = XcfStructure::connect(client, &system, &config).await?;
        let token = cf.connection().token();
        let mut alive = BTreeSet::from([system.clone()]);
        while let Some(event) = events.recv().await {
            match event.event {
                _ if event.token != token => {}
                Event::ExistingConnection { conname, .. } => {
                    alive.extend(SysName::new(conname.as_str()));
                }
                Event::ExistingConnectionsEnd => break,
                _ => {}
            }
        }
        let now = now();
        let me = system.clone();
        let (system_leid, events) = cf
            .serialized(move |cf| async move {
                let mut events = events;
                let leid = start_system(&cf, &me, alive, &mut events, now).await?;
                Ok((leid, events))
            })
            .await?;

        let period = config
            .status_update
            .unwrap_or_else(|| (client.interval() / 4).max(Duration::from_millis(10)));
        let connection = u32::from_be_bytes([token.0[4], token.0[5], token.0[6], token.0[7]]);
        let inner = Arc::new(Inner {
            cf,
            system,
            connection,
            joins: AtomicU32::new(0),
            local: Mutex::new(HashMap::new()),
            system_leid,
            connected_at: now,
            partitioned: AtomicBool::new(false),
            dispatcher: Mutex::new(None),
            status: Mutex::new(None),
        });
        // The first heartbeat is part of joining the sysplex (the system record was just
        // written): from here on the CF partitions the system if its updates stop, even if it
        // hangs at once.
        inner.heartbeat().await?;
        // The tasks start once `inner` exists: a task that found its weak handle dead would
        // take that for XCF's end and stop for good.
        let weak = Arc::downgrade(&inner);
        *lock(&inner.dispatcher) =
            Some(tokio::spawn(dispatch(weak.clone(), events, token)).abort_handle());
        *lock(&inner.status) = Some(tokio::spawn(update_status(weak, period)).abort_handle());
        Ok(Self { inner })
    }

    /// The system XCF runs on.
    pub fn system(&self) -> &SysName {
        &self.inner.system
    }

    /// IXCJOIN: joins `member` to `group` as an active member with an initial user state.
    /// Every other active member gets a Joined event (GEMSTATE); the returned [`Member`]
    /// receives the group's events and its messages from now on.
    pub async fn join(
        &self,
        group: &GroupName,
        member: &MemberName,
        user_state: &[u8],
    ) -> Result<Member, Error> {
        let n = self.inner.joins.fetch_add(1, Ordering::Relaxed) + 1;
        let token = MemberToken::new(self.inner.connection, n);
        let request = JoinRequest {
            group: group.clone(),
            member: member.clone(),
            system: self.inner.system.clone(),
            jobname: self.inner.cf.connection().client().jobname().to_owned(),
            token,
            user_state: user_state.to_vec(),
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let inner = Arc::clone(&self.inner);
        let inbox = self
            .inner
            .cf
            .serialized(move |cf| async move {
                let records = cf.members().await?;
                let (plan, inbox) = group::plan_join(&records, request, inboxes(), now())?;
                let local = Local {
                    token,
                    events: sender,
                };
                lock(&inner.local).insert(inbox, local);
                let done = async {
                    cf.carry_out(&Plan {
                        purge: plan.purge.clone(),
                        ..Plan::default()
                    })
                    .await?;
                    cf.monitor(inbox, true).await?;
                    cf.carry_out(&Plan {
                        purge: Vec::new(),
                        ..plan
                    })
                    .await
                }
                .await;
                if done.is_err() {
                    lock(&inner.local).remove(&inbox);
                }
                done.map(|()| inbox)
            })
            .await?;
        Ok(Member {
            xcf: self.clone(),
            group: group.clone(),
            name: member.clone(),
            token,
            inbox,
            events: receiver,
        })
    }

    /// IXCQUERY: the members of `group` (active and failed) with their states, user states and
    /// systems, sorted by member name.
    pub async fn query(&self, group: &GroupName) -> Result<Vec<MemberRecord>, Error> {
        let records = self.inner.cf.group(group).await?;
        Ok(group::members_of(&records, group))
    }

    /// IXCQUERY REQINFO=GROUPS: the members of every group, sorted by group and member.
    pub async fn query_all(&self) -> Result<Vec<MemberRecord>, Error> {
        let mut members: Vec<MemberRecord> = self
            .inner
            .cf
            .members()
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        members.sort_by(|a, b| (&a.group, &a.member).cmp(&(&b.group, &b.member)));
        Ok(members)
    }

    /// IXCQUERY REQINFO=SYSPLEX: the systems XCF knows, with their last status update.
    pub async fn systems(&self) -> Result<Vec<SystemRecord>, Error> {
        let mut systems: Vec<SystemRecord> = self
            .inner
            .cf
            .systems()
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        systems.sort_by(|a, b| a.system.cmp(&b.system));
        Ok(systems)
    }

    /// Emulates a hung system: XCF stops updating the system's status (its heartbeat) while
    /// everything else goes on, so after INTERVAL the CF partitions and fences the system.
    pub fn stop_status_update(&self) {
        if let Some(status) = lock(&self.inner.status).take() {
            status.abort();
        }
    }

    /// Whether the CF has refused this system's status update as partitioned.
    pub fn is_partitioned(&self) -> bool {
        self.inner.partitioned.load(Ordering::Relaxed)
    }
}

/// A member joined by [`Xcf::join`]: its events and messages, and the services it calls.
/// It stays active until [`Member::leave`] or its system's failure; dropping the handle only
/// stops its deliveries.
#[derive(Debug)]
pub struct Member {
    xcf: Xcf,
    group: GroupName,
    name: MemberName,
    token: MemberToken,
    inbox: ListNumber,
    events: mpsc::UnboundedReceiver<MemberEvent>,
}

impl Member {
    /// The group.
    pub fn group(&self) -> &GroupName {
        &self.group
    }

    /// The member name.
    pub fn name(&self) -> &MemberName {
        &self.name
    }

    /// The member token (IXCJOIN MEMTOKEN).
    pub fn token(&self) -> MemberToken {
        self.token
    }

    /// The XCF the member runs under.
    pub fn xcf(&self) -> &Xcf {
        &self.xcf
    }

    /// The next group event or message (the group and message user routines; IXCMSGI), in
    /// delivery order; `None` once the member can receive no more (its system's CF link
    /// closed).
    pub async fn recv(&mut self) -> Option<MemberEvent> {
        self.events.recv().await
    }

    /// IXCMSGO: sends `data` to the active member `to` of this member's group. Messages from
    /// one member to another arrive in the order sent (DELIVERMSG=ORDERED). Refused over
    /// 62 464 bytes ([`XcfError::MessageTooLarge`]) or when `to` is not active.
    pub async fn send(&self, to: &MemberName, data: &[u8]) -> Result<(), Error> {
        if data.len() > MAX_MESSAGE {
            return Err(XcfError::MessageTooLarge { len: data.len() }.into());
        }
        let cf = &self.xcf.inner.cf;
        let records = cf.group(&self.group).await?;
        let target = group::active_member(&records, &self.group, to)?;
        let Some(inbox) = target.inbox else {
            return Err(XcfError::NotActive {
                group: self.group.clone(),
                member: to.clone(),
            }
            .into());
        };
        let item = InboxItem::Message {
            to: target.token,
            message: Message {
                from: self.name.clone(),
                system: self.xcf.inner.system.clone(),
                token: self.token,
                data: data.to_vec(),
            },
        };
        cf.put(inbox, &item).await
    }

    /// IXCSETUS: sets the member's user state (up to 32 bytes); every other active member
    /// gets a GEUSTATE event with it.
    pub async fn set_user_state(&self, user_state: &[u8]) -> Result<(), Error> {
        let (group, name, token) = (self.group.clone(), self.name.clone(), self.token);
        let user_state = user_state.to_vec();
        self.xcf
            .inner
            .cf
            .serialized(move |cf| async move {
                let records = cf.members().await?;
                let plan =
                    group::plan_user_state(&records, &group, &name, token, user_state, now())?;
                cf.carry_out(&plan).await
            })
            .await
    }

    /// IXCQUIES: the member quiesces: it stays defined (Quiesced) but sends and receives no
    /// more; every other active member gets a GEMSTATE event. It can join again later.
    pub async fn quiesce(self) -> Result<(), Error> {
        self.stop_activity(group::plan_quiesce).await
    }

    /// IXCLEAVE: the member leaves the group (Not-defined); every other active member gets a
    /// Left event (GEMSTATE). Its event stream ends.
    pub async fn leave(self) -> Result<(), Error> {
        self.stop_activity(group::plan_leave).await
    }

    /// Carries out `plan` (a leave or a quiesce) and stops delivering to the member.
    async fn stop_activity(self, plan: EndPlan) -> Result<(), Error> {
        let (group, name, token, inbox) = (self.group, self.name, self.token, self.inbox);
        let inner = Arc::clone(&self.xcf.inner);
        self.xcf
            .inner
            .cf
            .serialized(move |cf| async move {
                let records = cf.members().await?;
                cf.carry_out(&plan(&records, &group, &name, token, now())?)
                    .await?;
                lock(&inner.local).remove(&inbox);
                cf.monitor(inbox, false).await
            })
            .await
    }
}

/// A plan that ends a member's activity (IXCLEAVE, IXCQUIES).
type EndPlan =
    fn(&[group::Stored], &GroupName, &MemberName, MemberToken, Tod) -> Result<Plan, XcfError>;

/// Under the serialization lock at connect: fails the members of systems that are gone and
/// writes this system's record. `alive` holds the systems connected when this one connected;
/// systems that connected or went since are told on `events` before the CF answers the reads
/// made here, so they are taken into account too.
async fn start_system(
    cf: &XcfStructure,
    system: &SysName,
    mut alive: BTreeSet<SysName>,
    events: &mut Events,
    now: Tod,
) -> Result<Leid, Error> {
    let records = cf.members().await?;
    let systems = cf.systems().await?;
    let token = cf.connection().token();
    while let Some(Some(event)) = events.recv().now_or_never() {
        match event.event {
            _ if event.token != token => {}
            Event::NewConnection { conname, .. } => alive.extend(SysName::new(conname.as_str())),
            Event::FailedConnection { conname, .. } | Event::Disconnected { conname, .. } => {
                if let Some(gone) = SysName::new(conname.as_str()) {
                    alive.remove(&gone);
                }
            }
            _ => {}
        }
    }
    let mut gone: BTreeSet<SysName> = records.iter().map(|(_, r)| r.system.clone()).collect();
    gone.extend(systems.into_iter().map(|(_, r)| r.system));
    gone.retain(|s| !alive.contains(s) || s == system);
    for dead in &gone {
        fail_system(cf, dead, now).await?;
    }
    let record = SystemRecord {
        system: system.clone(),
        connected_at: now,
        last_update: now,
    };
    cf.write_system(&record).await
}

/// Fails a gone system's members and forgets its record (the caller holds the lock).
async fn fail_system(cf: &XcfStructure, system: &SysName, now: Tod) -> Result<(), Error> {
    let records = cf.members().await?;
    cf.carry_out(&group::plan_system_failure(&records, system, now))
        .await?;
    cf.remove_system(system).await
}

/// The system's event exit: moves inbox items to members when the CF says an inbox became
/// nonempty, and cleans up after systems whose connection failed or went.
async fn dispatch(xcf: Weak<Inner>, mut events: Events, token: ConToken) {
    while let Some(event) = events.recv().await {
        if event.token != token {
            continue;
        }
        let Some(inner) = xcf.upgrade() else {
            return;
        };
        match event.event {
            Event::ListTransition => {
                if let Err(e) = inner.drain().await {
                    tracing::warn!(system = %inner.system, "XCF signal delivery failed: {e}");
                }
            }
            Event::FailedConnection { conname, .. } | Event::Disconnected { conname, .. } => {
                // Cleanup waits for the serialization lock, perhaps held by a system that
                // hangs until it is partitioned; signals keep flowing meanwhile.
                if let Some(system) = SysName::new(conname.as_str()) {
                    tracing::debug!(system = %inner.system, gone = %system, "XCF connection of a system went");
                    tokio::spawn(async move {
                        if let Err(e) = inner.system_gone(&system).await {
                            let me = &inner.system;
                            tracing::warn!(system = %me, failed = %system, "XCF cleanup: {e}");
                        }
                    });
                }
            }
            _ => {}
        }
    }
    // The CF link closed: the members can receive no more.
    if let Some(inner) = xcf.upgrade() {
        lock(&inner.local).clear();
    }
}

/// Updates the system's status every `period` from one period after connecting (which
/// recorded the system and sent its first heartbeat): a CF heartbeat and the system record.
async fn update_status(xcf: Weak<Inner>, period: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = xcf.upgrade() else {
            return;
        };
        match inner.status_update().await {
            Ok(()) => {}
            Err(Error::Xcf(XcfError::Fenced)) => {
                let text = "IXC220W XCF IS UNABLE TO CONTINUE: SYSTEM PARTITIONED";
                tracing::warn!(system = %inner.system, "{text}");
                inner.partitioned.store(true, Ordering::Relaxed);
                // The system is out of the sysplex: its members receive nothing more.
                lock(&inner.local).clear();
                return;
            }
            Err(e) => {
                tracing::warn!(system = %inner.system, "XCF status update failed: {e}");
                if matches!(e, Error::LinkLost | Error::LinkClosed(_)) {
                    return;
                }
            }
        }
    }
}

impl Inner {
    /// Moves the items of every local inbox the vector marks nonempty to its member.
    async fn drain(&self) -> Result<(), Error> {
        for inbox in self.cf.nonempty_lists().await? {
            if !lock(&self.local).contains_key(&inbox) {
                continue;
            }
            while let Some(item) = self.cf.take(inbox).await? {
                self.deliver(inbox, item);
            }
        }
        Ok(())
    }

    fn deliver(&self, inbox: ListNumber, item: InboxItem) {
        let local = lock(&self.local);
        let Some(member) = local.get(&inbox) else {
            return;
        };
        let event = match item {
            InboxItem::Event(event) => MemberEvent::Group(event),
            InboxItem::Message { to, message } if to == member.token => {
                MemberEvent::Message(message)
            }
            InboxItem::Message { .. } => return,
        };
        let _ = member.events.send(event);
    }

    /// A system's XCF connection failed or went: its members become Failed.
    async fn system_gone(&self, system: &SysName) -> Result<(), Error> {
        let failed = system.clone();
        self.cf
            .serialized(move |cf| async move { fail_system(&cf, &failed, now()).await })
            .await?;
        tracing::debug!(system = %self.system, failed = %system, "XCF cleanup after a failed system done");
        Ok(())
    }

    /// The CF heartbeat; `Fenced` once the system is partitioned.
    async fn heartbeat(&self) -> Result<(), Error> {
        let reply = self.cf.connection().client().heartbeat().await?;
        if reply.reason == crate::structure::Reason::Fenced {
            return Err(XcfError::Fenced.into());
        }
        Ok(())
    }

    /// One status update: the CF heartbeat, then the system record's time.
    async fn status_update(&self) -> Result<(), Error> {
        self.heartbeat().await?;
        let record = SystemRecord {
            system: self.system.clone(),
            connected_at: self.connected_at,
            last_update: now(),
        };
        self.cf.update_system(self.system_leid, &record).await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The time of day in microseconds since the Unix epoch.
fn now() -> Tod {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    Tod(micros)
}
