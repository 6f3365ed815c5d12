//! The async shell around the DVIPA manager: the stack's member of its XCF group (EZBTCPCS, or
//! EZBTCPtt with GLOBALCONFIG XCFGRPID tt), the manager's events from XCF and the operator,
//! and its actions carried out on the stack's datapath.
//!
//! ```text
//!  XCF member ──events/messages──▶ ┌────── service task ──────┐ ──activate/release──▶ Stack
//!  DvipaHandle ──commands─────────▶ │ DvipaManager (sans-IO)   │ ──forward table──┐
//!  ticker ─────────────────────────▶ │ SdAgent (sans-IO)        │ ──DPT, CRT───────┴▶ DistributorStage
//!                                    └──────────────────────────┘ ──signals──▶ XCF peers
//! ```
//!
//! The same member carries the Sysplex Distributor's signals: the [`SdAgent`] distributes the
//! DVIPAs with VIPADISTRIBUTE that the manager activates here, and serves as a target of the
//! other stacks' distributors.
//!
//! The task owns the CF link: aborting it ([`DvipaHandle::abort`]) closes the link, and the
//! other stacks see the member fail, as when a stack dies.
//!
//! A runner starts one service per stack, after the stack (which needs its dynamic XCF link,
//! `StackConfig::xcf` from IPCONFIG DYNAMICXCF) and with a CF link of the stack's system:
//!
//! ```no_run
//! # async fn lpar(
//! #     cf: std::net::SocketAddr,
//! #     secret: &cf::auth::Secret,
//! #     stack: stacks::stack::StackHandle,
//! #     profile: stacks::profile::Profile,
//! # ) -> Result<(), stacks::Error> {
//! use stacks::dvipa::service::{self, DvipaServiceConfig, Report};
//! let client = cf::client::Client::connect(cf, secret, "SYS1", "TCPCS").await?;
//! let dvipa = service::start(client, stack, DvipaServiceConfig::new("SYS1", profile)).await?;
//! let lines = dvipa.vary("V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.30").await?;
//! let report = dvipa.netstat(Report::VipaDyn).await?;
//! let sysplex = dvipa.display_sysplex_vipadyn().await?;
//! # let _ = (lines, report, sysplex);
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use cf::client::Client;
use cf::xcf::{GroupEventKind, GroupName, Member, MemberEvent, MemberName, MemberState, Xcf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::command::{self, VaryCommand};
use super::core::{Action, DvipaManager, Event, XcfLinkInfo};
use super::forward::ForwardTable;
use super::messages::ConsoleMessage;
use super::model::{ActTime, ConnKey, DvipaConfig, StackId};
use crate::Error;
use crate::datapath::stage::StageSlot;
use crate::distributor::{
    DistConfig, Distributor, DistributorStage, SdAction, SdAgent, SdEvent, SdSignal, SharedSd,
    display as sd_display,
};
use crate::group_signal::{self, GroupSignal};
use crate::netstat;
use crate::profile::Profile;
use crate::stack::netstat::{ConnState, TcpState};
use crate::stack::{Clock, StackHandle};
use crate::swsa::SwsaEvent;
use crate::swsa::shell::{ShellWork, SwsaLink, SwsaShell, SwsaSignal, SwsaTimeline};

/// Requests queued to the service.
const REQUEST_QUEUE: usize = 16;

/// How often the service asks the CF whether its system is fenced.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What can go wrong in a request to the DVIPA service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DvipaError {
    /// The service task has ended (the stack was killed or left for good).
    #[error("the DVIPA service of {0} is not running")]
    Gone(String),
    /// The stack needs IPCONFIG DYNAMICXCF to take part in DVIPA movement.
    #[error("{0} has no dynamic XCF link (IPCONFIG DYNAMICXCF)")]
    NoDynamicXcf(String),
}

/// The wall clock the service stamps ActTime and reports with.
pub type WallClock = Arc<dyn Fn() -> ActTime + Send + Sync>;

/// The system's wall clock.
pub fn system_clock() -> WallClock {
    Arc::new(|| {
        ActTime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    })
}

/// The XCF group of the TCP/IP stacks: EZBTCPCS, or EZBTCPtt with `GLOBALCONFIG XCFGRPID tt`
/// (the VTAM suffix is not modelled, so vv stays CP).
pub fn group_name(xcf_group_id: Option<u8>) -> String {
    match xcf_group_id {
        Some(tt) => format!("EZBTCP{tt:02}"),
        None => "EZBTCPCS".to_owned(),
    }
}

/// How to run the DVIPA service of one stack.
pub struct DvipaServiceConfig {
    /// The MVS system name (`SYS1`).
    pub sysname: String,
    /// The stack's profile (VIPADYNAMIC, GLOBALCONFIG XCFGRPID, the LAN interface name).
    pub profile: Profile,
    /// How often Moving DVIPAs and WHENIDLE takebacks are checked.
    pub check_every: Duration,
    /// The wall clock.
    pub clock: WallClock,
    /// The stack's IPSec, for sysplex-wide security associations: with `IPSEC DVIPSEC` in the
    /// profile, the service keeps the restart information of the IKE tunnels on the DVIPAs it
    /// owns in EZBDVIPA and renegotiates them from there when it takes a DVIPA over.
    pub swsa: Option<SwsaLink>,
}

impl std::fmt::Debug for DvipaServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DvipaServiceConfig")
            .field("sysname", &self.sysname)
            .field("check_every", &self.check_every)
            .finish_non_exhaustive()
    }
}

impl DvipaServiceConfig {
    /// The service of the stack on system `sysname` with profile `profile`, checking every
    /// 100 ms, on the system clock.
    pub fn new(sysname: &str, profile: Profile) -> Self {
        Self {
            sysname: sysname.to_owned(),
            profile,
            check_every: Duration::from_millis(100),
            clock: system_clock(),
            swsa: None,
        }
    }
}

/// Which NETSTAT report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// NETSTAT HOME.
    Home,
    /// NETSTAT CONN.
    Conn,
    /// NETSTAT VIPADCFG.
    VipaDcfg,
    /// NETSTAT VIPADYN.
    VipaDyn,
    /// NETSTAT VDPT (with DETAIL when true).
    Vdpt(bool),
    /// NETSTAT VCRT (with DETAIL when true).
    Vcrt(bool),
}

enum Request {
    Command {
        command: VaryCommand,
        reply: oneshot::Sender<Vec<String>>,
    },
    Snapshot {
        reply: oneshot::Sender<DvipaManager>,
    },
    StopStatusUpdate,
}

/// A handle on a stack's running DVIPA service; dropping it ends the service.
pub struct DvipaHandle {
    id: StackId,
    group: String,
    stack: StackHandle,
    profile: Profile,
    clock: WallClock,
    requests: mpsc::Sender<Request>,
    console: watch::Sender<Vec<String>>,
    forwards: ForwardTable,
    sd: SharedSd,
    xcf_address: std::net::Ipv4Addr,
    swsa_timeline: SwsaTimeline,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for DvipaHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DvipaHandle")
            .field("id", &self.id)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Command { .. } => "Command",
            Self::Snapshot { .. } => "Snapshot",
            Self::StopStatusUpdate => "StopStatusUpdate",
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the DVIPA service of `stack` on the CF link `client` (whose system is the stack's):
/// installs the forwarding stage, joins the XCF group and says Hello to the other stacks.
pub async fn start(
    client: Client,
    stack: StackHandle,
    config: DvipaServiceConfig,
) -> Result<DvipaHandle, Error> {
    let id = StackId::new(&config.sysname, stack.name());
    let profile = config.profile;
    let xcf_address = profile.ipconfig.dynamic_xcf.map(|x| x.address);
    let (Some(address), Some(endpoint)) = (xcf_address, stack.xcf_endpoint()) else {
        return Err(DvipaError::NoDynamicXcf(id.tcpname).into());
    };
    let link = XcfLinkInfo { address, endpoint };
    let group = group_name(profile.global.xcf_group_id);
    let group_name = GroupName::new(&group).map_err(cf::Error::from)?;
    let member_name = MemberName::new(&id.member).map_err(cf::Error::from)?;
    let forwards = ForwardTable::default();
    let sd = SharedSd::default();
    stack
        .install_stage(
            StageSlot::Distributor,
            Box::new(DistributorStage::new(forwards.clone(), sd.clone())),
        )
        .await?;
    let agent = SdAgent::new(
        address,
        DistConfig::from_profile(&profile.vipa_dynamic.distributes),
        sd.clone(),
    );
    let xcf = Xcf::connect(&client).await?;
    let manager = DvipaManager::new(
        id.clone(),
        Some(link),
        DvipaConfig::from_profile(&profile.vipa_dynamic),
    );
    let console = watch::Sender::new(Vec::new());
    let swsa_timeline = SwsaTimeline::default();
    let swsa = match (
        config.swsa,
        profile.ipsec.as_ref().is_some_and(|i| i.dvipsec),
    ) {
        (Some(link), true) => Some(
            SwsaShell::start(
                &client,
                &config.sysname,
                profile.global.xcf_group_id,
                link,
                swsa_timeline.clone(),
            )
            .await?,
        ),
        _ => None,
    };
    let (requests, inbox) = mpsc::channel(REQUEST_QUEUE);
    let mut shell = Shell {
        _client: client,
        xcf,
        group: group_name,
        member_name,
        member: None,
        manager,
        agent,
        swsa,
        deferred: Vec::new(),
        stack_clock: stack.clock(),
        stack: stack.clone(),
        forwards: forwards.clone(),
        console: console.clone(),
        clock: config.clock.clone(),
    };
    shell.join().await?;
    let task = tokio::spawn(shell.run(inbox, config.check_every));
    Ok(DvipaHandle {
        id,
        group,
        stack,
        profile,
        clock: config.clock,
        requests,
        console,
        forwards,
        sd,
        xcf_address: address,
        swsa_timeline,
        task,
    })
}

impl DvipaHandle {
    /// The stack.
    pub fn id(&self) -> &StackId {
        &self.id
    }

    /// The XCF group the stack joins.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Runs an operator command line (`V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=a`); returns
    /// the console lines it produced (its response, and any takeover it caused here).
    pub async fn vary(&self, line: &str) -> Result<Vec<String>, Error> {
        let parsed = match command::parse(line) {
            Ok(parsed) => parsed,
            Err(error) => return Ok(vec![error.to_string()]),
        };
        if parsed
            .procname
            .as_ref()
            .is_some_and(|p| *p != self.id.tcpname)
        {
            return Ok(vec![format!(
                "EZZ0053I COMMAND VARY NOT PROCESSED: {} IS NOT THIS STACK ({})",
                parsed.procname.unwrap_or_default(),
                self.id.tcpname
            )]);
        }
        self.command(parsed.command).await
    }

    /// Runs an operator command; returns the console lines it produced.
    pub async fn command(&self, command: VaryCommand) -> Result<Vec<String>, Error> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Command { command, reply })
            .await
            .map_err(|_| self.gone())?;
        Ok(answer.await.map_err(|_| self.gone())?)
    }

    fn gone(&self) -> DvipaError {
        DvipaError::Gone(self.id.tcpname.clone())
    }

    /// A copy of the manager's state (for displays and checks).
    pub async fn snapshot(&self) -> Result<DvipaManager, Error> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Snapshot { reply })
            .await
            .map_err(|_| self.gone())?;
        Ok(answer.await.map_err(|_| self.gone())?)
    }

    /// Every console message the service wrote so far.
    pub fn console(&self) -> Vec<String> {
        self.console.borrow().clone()
    }

    /// The console as it grows: the receiver sees a change as soon as a message is written.
    pub fn console_updates(&self) -> watch::Receiver<Vec<String>> {
        self.console.subscribe()
    }

    /// The number of connections this stack forwards to Moving holders.
    pub fn forwarded_connections(&self) -> usize {
        self.forwards.len()
    }

    /// A NETSTAT report of this stack, stamped with the service's clock.
    pub async fn netstat(&self, report: Report) -> Result<String, Error> {
        let now = (self.clock)();
        let name = &self.id.tcpname;
        Ok(match report {
            Report::Home => {
                let link = self
                    .profile
                    .interfaces
                    .first()
                    .map_or("LAN", |i| i.name.as_str());
                let book = self.stack.addresses().await?;
                netstat::home::report(name, now, &netstat::home::home_list(&book, link))
            }
            Report::Conn => netstat::conn::report(name, now, &self.stack.connections().await?),
            Report::VipaDcfg => {
                let manager = self.snapshot().await?;
                let view = netstat::vipadcfg::VipaDcfg {
                    config: &self.profile.vipa_dynamic,
                    deactivated: manager.deactivated(),
                    joined: manager.is_joined(),
                };
                netstat::vipadcfg::report(name, now, view)
            }
            Report::VipaDyn => {
                let manager = self.snapshot().await?;
                netstat::vipadyn::report(name, now, manager.is_joined(), &manager.local())
            }
            Report::Vdpt(detail) => {
                let distributor = self.distributor();
                sd_display::vdpt(name, now, &distributor, detail)
            }
            Report::Vcrt(detail) => {
                let distributor = self.distributor();
                let at = self.stack.clock().now();
                sd_display::vcrt(name, now, at, &distributor, detail)
            }
        })
    }

    /// A copy of this stack's Sysplex Distributor (empty when it distributes nothing).
    pub fn distributor(&self) -> Distributor {
        self.sd
            .lock()
            .distributor
            .clone()
            .unwrap_or_else(|| Distributor::new(self.xcf_address, Vec::new()))
    }

    /// `D TCPIP,tcpname,SYSPLEX,VIPADYN` from this stack.
    pub async fn display_sysplex_vipadyn(&self) -> Result<String, Error> {
        let manager = self.snapshot().await?;
        Ok(netstat::vipadyn::sysplex_report(
            &self.id.tcpname,
            &self.id.sysname,
            manager.is_joined(),
            &manager.sysplex(),
        ))
    }

    /// Emulates a hung system: XCF on the stack's system stops its status updates (heartbeats)
    /// while the stack runs on, so that after INTERVAL the CF partitions and fences the system,
    /// the other stacks see the member fail, and this stack, finding itself fenced, drops its
    /// DVIPAs.
    pub async fn stop_status_update(&self) -> Result<(), Error> {
        self.requests
            .send(Request::StopStatusUpdate)
            .await
            .map_err(|_| self.gone())?;
        Ok(())
    }

    /// Ends the service at once, closing its CF link: the other stacks see it fail.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Whether the service task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The steps of the SWSA takeovers this stack made, with when they happened (empty
    /// without DVIPSEC and IPSec).
    pub fn swsa_timeline(&self) -> Vec<(tokio::time::Instant, crate::swsa::SwsaNote)> {
        lock(&self.swsa_timeline).clone()
    }
}

impl Drop for DvipaHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The service task's state.
struct Shell {
    /// Kept so that the CF link lives as long as the task.
    _client: Client,
    xcf: Xcf,
    group: GroupName,
    member_name: MemberName,
    member: Option<Member>,
    manager: DvipaManager,
    agent: SdAgent,
    /// Sysplex-wide security associations, with DVIPSEC and IPSec.
    swsa: Option<SwsaShell>,
    /// Distributed DVIPAs the manager activated before every stack of the group said Hello:
    /// their distributor must know all its targets first.
    deferred: Vec<std::net::Ipv4Addr>,
    stack_clock: Clock,
    stack: StackHandle,
    forwards: ForwardTable,
    console: watch::Sender<Vec<String>>,
    clock: WallClock,
}

impl Shell {
    async fn run(mut self, mut requests: mpsc::Receiver<Request>, check_every: Duration) {
        let mut ticker = tokio::time::interval(check_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_probe = tokio::time::Instant::now();
        loop {
            let event = tokio::select! {
                request = requests.recv() => match request {
                    Some(Request::Command { command, reply }) => {
                        let written = self.feed(Event::Command(command)).await;
                        let _ = reply.send(written);
                        continue;
                    }
                    Some(Request::Snapshot { reply }) => {
                        let _ = reply.send(self.manager.clone());
                        continue;
                    }
                    Some(Request::StopStatusUpdate) => {
                        self.xcf.stop_status_update();
                        continue;
                    }
                    None => return,
                },
                event = next_member_event(&mut self.member) => match event {
                    Some(Incoming::Dvipa(event)) => event,
                    Some(Incoming::Distributor { from, signal }) => {
                        self.on_distributor_signal(&from, signal).await;
                        continue;
                    }
                    Some(Incoming::Swsa(SwsaSignal::TakenOver { dvipa, by })) => {
                        self.swsa_feed(SwsaEvent::TakenOverElsewhere { dvipa, by }).await;
                        continue;
                    }
                    None => {
                        tracing::warn!(member = %self.member_name, "XCF member stream ended");
                        self.member = None;
                        continue;
                    }
                },
                event = next_swsa_event(&mut self.swsa) => {
                    self.swsa_feed(event).await;
                    continue;
                }
                _ = ticker.tick() => {
                    if self.fenced(&mut last_probe, check_every).await {
                        tracing::warn!(member = %self.member_name, "partitioned and fenced");
                        self.member = None;
                        Event::Fenced
                    } else {
                        self.sd_tick().await;
                        Event::Tick
                    }
                }
            };
            self.feed(event).await;
        }
    }

    /// Whether the CF fences this system: XCF saw its status update refused, or (probed about
    /// once a second, as XCF's own updates may have stopped) a group query is refused.
    async fn fenced(&self, last_probe: &mut tokio::time::Instant, check_every: Duration) -> bool {
        if self.member.is_none() {
            return false;
        }
        if self.xcf.is_partitioned() {
            return true;
        }
        if last_probe.elapsed() < PROBE_EVERY.max(check_every) {
            return false;
        }
        *last_probe = tokio::time::Instant::now();
        matches!(
            self.xcf.query(&self.group).await,
            Err(cf::Error::Xcf(cf::xcf::XcfError::Fenced))
        )
    }

    /// Joins the group, tells the manager, carries out what it says.
    async fn join(&mut self) -> Result<(), Error> {
        let member = self.xcf.join(&self.group, &self.member_name, b"").await?;
        let peers = self
            .xcf
            .query(&self.group)
            .await?
            .into_iter()
            .filter(|r| r.state == MemberState::Active && r.member != self.member_name)
            .map(|r| r.member.to_string())
            .collect();
        self.member = Some(member);
        self.write(ConsoleMessage::JoinedGroup {
            tcpname: self.manager.id().tcpname.clone(),
            group: self.group.to_string(),
        });
        self.feed(Event::Joined { peers }).await;
        Ok(())
    }

    async fn connections(&self) -> Vec<ConnKey> {
        self.sockets().await.1
    }

    /// The stack's TCP listeners and its open connections.
    async fn sockets(&self) -> (Vec<std::net::SocketAddrV4>, Vec<ConnKey>) {
        let Ok(all) = self.stack.connections().await else {
            return (Vec::new(), Vec::new());
        };
        // A listening application counts once, however many sockets its backlog holds.
        let mut listening = std::collections::BTreeSet::new();
        let mut open = Vec::new();
        for c in all {
            match c.state {
                ConnState::Tcp(TcpState::Listen) => {
                    listening.insert((c.owner, c.local));
                }
                ConnState::Tcp(TcpState::Closed | TcpState::TimeWait) => {}
                ConnState::Tcp(_) => open.push(ConnKey {
                    local: c.local,
                    foreign: c.foreign,
                }),
                _ => {}
            }
        }
        let listeners = listening.into_iter().map(|(_, local)| local).collect();
        (listeners, open)
    }

    /// The distributor's periodic work: listener counts, ended connections, reports.
    async fn sd_tick(&mut self) {
        let (listeners, open) = self.sockets().await;
        self.sd_feed(SdEvent::Tick { listeners, open }).await;
    }

    /// A Sysplex Distributor signal from the member `from`.
    async fn on_distributor_signal(&mut self, from: &str, signal: SdSignal) {
        let Some(&xcf) = self.manager.peer_xcf_addresses().get(from) else {
            tracing::debug!(from, "distributor signal from a stack not yet known");
            return;
        };
        self.sd_feed(SdEvent::Signal { from: xcf, signal }).await;
    }

    /// Activates `addr` on the stack, its distributor ready before the gratuitous ARP brings
    /// the first packets.
    async fn activate(&mut self, addr: std::net::Ipv4Addr) {
        self.sd_feed(SdEvent::Owned(addr)).await;
        if let Err(error) = self.stack.activate_dvipa(addr).await {
            tracing::warn!(stack = %self.manager.id().member, %error, "DVIPA activation failed");
        }
        self.swsa_feed(SwsaEvent::Acquired(addr)).await;
    }

    /// Runs one event through the SWSA side, if there is one, and does what it asks.
    async fn swsa_feed(&mut self, event: SwsaEvent) {
        let Some(swsa) = &mut self.swsa else {
            return;
        };
        for work in swsa.feed(event).await {
            match work {
                ShellWork::Console(line) => self.write_line(line),
                ShellWork::Broadcast(signal) => {
                    let data = group_signal::encode(&GroupSignal::Swsa(signal));
                    if let Err(error) = self.broadcast(&data).await {
                        tracing::warn!(%error, "SWSA signal not sent");
                    }
                }
            }
        }
    }

    fn holds_active(&self, addr: std::net::Ipv4Addr) -> bool {
        self.manager
            .local()
            .iter()
            .any(|l| l.addr == addr && l.status == crate::dvipa::model::DvipaStatus::Active)
    }

    /// Runs one event through the distributor agent and carries out its actions.
    async fn sd_feed(&mut self, event: SdEvent) {
        let now = self.stack_clock.now();
        for action in self.agent.handle(now, event) {
            let result: Result<(), Error> = match action {
                SdAction::Send { to, signal } => self.send_to_xcf(to, signal).await,
                SdAction::HoldAsTarget(dvipa) => {
                    if self.holds_active(dvipa) {
                        Ok(())
                    } else {
                        self.stack.hold_as_target(dvipa).await
                    }
                }
            };
            if let Err(error) = result {
                tracing::warn!(stack = %self.manager.id().member, %error, "distributor action failed");
            }
        }
    }

    async fn send_to_xcf(&self, to: std::net::Ipv4Addr, signal: SdSignal) -> Result<(), Error> {
        let peers = self.manager.peer_xcf_addresses();
        let Some((member, _)) = peers.iter().find(|(_, xcf)| **xcf == to) else {
            tracing::debug!(%to, "distributor signal to a stack not known");
            return Ok(());
        };
        self.send(
            member,
            &group_signal::encode(&GroupSignal::Distributor(signal)),
        )
        .await
    }

    /// Runs one event through the manager and carries out its actions; returns the console
    /// lines written meanwhile.
    async fn feed(&mut self, event: Event) -> Vec<String> {
        let connections = self.connections().await;
        let now = (self.clock)();
        let start = self.console.borrow().len();
        for action in self.manager.handle(now, event, &connections) {
            self.carry_out(action).await;
        }
        let peers = self.manager.peer_xcf_addresses().into_values().collect();
        self.sd_feed(SdEvent::Peers(peers)).await;
        if !self.manager.awaits_hellos() {
            for addr in std::mem::take(&mut self.deferred) {
                if self.holds_active(addr) {
                    self.activate(addr).await;
                }
            }
        }
        self.console
            .borrow()
            .get(start..)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    fn write(&self, message: ConsoleMessage) {
        self.write_line(message.to_string());
    }

    fn write_line(&self, line: String) {
        tracing::info!(stack = %self.manager.id().member, "{line}");
        self.console.send_modify(|console| console.push(line));
    }

    async fn carry_out(&mut self, action: Action) {
        let result: Result<(), Error> = match action {
            Action::Activate { addr }
                if self.agent.distributes(addr) && self.manager.awaits_hellos() =>
            {
                self.deferred.push(addr);
                Ok(())
            }
            Action::Activate { addr } => {
                self.activate(addr).await;
                Ok(())
            }
            Action::HoldForMoving { addr } => {
                self.swsa_feed(SwsaEvent::Released(addr)).await;
                self.sd_feed(SdEvent::Disowned(addr)).await;
                self.stack.hold_as_target(addr).await
            }
            Action::Release { addr } => {
                self.swsa_feed(SwsaEvent::Released(addr)).await;
                self.sd_feed(SdEvent::Disowned(addr)).await;
                // A planned move (DEACTIVATE) of a DVIPA this stack distributes to itself too
                // keeps its connections: they become distributed ones, routed through the
                // next distributor.
                let planned = self.manager.deactivated().contains(&addr);
                if self.agent.serves_remote(addr) || (planned && self.agent.targets_itself(addr)) {
                    self.stack.hold_as_target(addr).await
                } else {
                    self.stack.deactivate_dvipa(addr).await.map(|_| ())
                }
            }
            Action::Forward {
                xcf, connections, ..
            } => {
                self.forwards.add(xcf, &connections);
                Ok(())
            }
            Action::StopForward { addr, xcf } => {
                self.forwards.remove(addr, xcf);
                Ok(())
            }
            Action::AddXcfPartner(link) => {
                self.stack
                    .add_xcf_partner(link.address, link.endpoint)
                    .await
            }
            Action::Send { to, signal } => {
                let data = group_signal::encode(&GroupSignal::Dvipa(signal));
                self.send(&to, &data).await
            }
            Action::Broadcast(signal) => {
                let data = group_signal::encode(&GroupSignal::Dvipa(signal));
                self.broadcast(&data).await
            }
            Action::LeaveGroup => {
                if let Some(member) = self.member.take()
                    && let Err(error) = member.leave().await
                {
                    tracing::warn!(%error, "IXCLEAVE failed");
                }
                self.forwards.clear();
                self.write(ConsoleMessage::LeftGroup {
                    tcpname: self.manager.id().tcpname.clone(),
                    group: self.group.to_string(),
                });
                Ok(())
            }
            Action::JoinGroup => Box::pin(self.join()).await,
            Action::Console(message) => {
                self.write(message);
                Ok(())
            }
        };
        if let Err(error) = result {
            tracing::warn!(stack = %self.manager.id().member, %error, "DVIPA action failed");
        }
    }

    async fn send(&self, to: &str, data: &[u8]) -> Result<(), Error> {
        let Some(member) = &self.member else {
            return Ok(());
        };
        let to = MemberName::new(to).map_err(cf::Error::from)?;
        Ok(member.send(&to, data).await?)
    }

    async fn broadcast(&self, data: &[u8]) -> Result<(), Error> {
        let Some(member) = &self.member else {
            return Ok(());
        };
        let peers = self.xcf.query(&self.group).await?;
        for peer in peers
            .iter()
            .filter(|r| r.state == MemberState::Active && r.member != self.member_name)
        {
            if let Err(error) = member.send(&peer.member, data).await {
                tracing::debug!(%error, to = %peer.member, "XCF message not sent");
            }
        }
        Ok(())
    }
}

/// What the member brought: an event for the DVIPA manager or a Sysplex Distributor signal.
enum Incoming {
    Dvipa(Event),
    Distributor { from: String, signal: SdSignal },
    Swsa(SwsaSignal),
}

/// The next event of the SWSA side; pending forever without one.
async fn next_swsa_event(swsa: &mut Option<SwsaShell>) -> SwsaEvent {
    match swsa {
        Some(swsa) => swsa.next_event().await,
        None => std::future::pending().await,
    }
}

/// The next event of the member (messages that are not group signals and events the manager
/// has no use for are skipped); None when the member stream ends.
async fn next_member_event(member: &mut Option<Member>) -> Option<Incoming> {
    let Some(member) = member else {
        return std::future::pending().await;
    };
    loop {
        match member.recv().await? {
            MemberEvent::Group(event) => match event.kind {
                // A joining member says Hello itself; user states are not used.
                GroupEventKind::Joined | GroupEventKind::UserStateChanged => {}
                // Left, Failed, or any other end of activity: the member is gone.
                _ => {
                    tracing::debug!(member = %event.member, kind = ?event.kind, "XCF member gone");
                    return Some(Incoming::Dvipa(Event::PeerGone {
                        member: event.member.to_string(),
                    }));
                }
            },
            MemberEvent::Message(message) => match group_signal::decode(&message.data) {
                Ok(GroupSignal::Dvipa(signal)) => {
                    return Some(Incoming::Dvipa(Event::Signal {
                        from: message.from.to_string(),
                        signal,
                    }));
                }
                Ok(GroupSignal::Distributor(signal)) => {
                    return Some(Incoming::Distributor {
                        from: message.from.to_string(),
                        signal,
                    });
                }
                Ok(GroupSignal::Swsa(signal)) => return Some(Incoming::Swsa(signal)),
                Err(error) => tracing::debug!(%error, from = %message.from, "XCF message ignored"),
            },
        }
    }
}
