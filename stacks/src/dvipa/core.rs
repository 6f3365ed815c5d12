//! The sans-IO DVIPA manager of one stack: its sysplex-wide view of every stack's VIPADEFINE /
//! VIPABACKUP configuration and of who holds each DVIPA, and the decisions it takes on each
//! event (a peer's signal, a peer's failure, an operator command, a periodic check).
//!
//! Every stack runs the same rules on the same facts, and each decides only for itself:
//! - **Join**: the stack says Hello (its configuration, what it holds, what is deactivated) to
//!   every active member and waits for their replies; then it activates its VIPADEFINE DVIPAs
//!   and its `VIPABACKUP ... MOVEABLE` DVIPAs that are active nowhere else.
//! - **Takeover**: when the holder of a DVIPA fails, leaves the group or deactivates it, the
//!   eligible stack with the highest rank (VIPADEFINE 255, then VIPABACKUP rank, ties by member
//!   name) activates it (EZZ8301I).
//! - **Takeback**: when a VIPADEFINE owner comes back (Hello, or REACTIVATE), the holder gives
//!   the DVIPA back (EZZ8303I / EZZ8302I): `MOVEABLE IMMEDIATE` at once, the holder keeping its
//!   open connections in **Moving** while the owner forwards their packets to it over dynamic
//!   XCF; `MOVEABLE WHENIDLE` only once the holder has no connection to it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::command::VaryCommand;
use super::messages::ConsoleMessage;
use super::model::{
    ActTime, ConfigRole, ConnKey, DvipaConfig, DvipaEntry, DvipaStatus, Moveable, Origin, StackId,
};

/// A stack's dynamic XCF address and the UDP endpoint of its XCF link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XcfLinkInfo {
    /// The dynamic XCF address (IPCONFIG DYNAMICXCF).
    pub address: Ipv4Addr,
    /// Where its XCF link receives.
    pub endpoint: SocketAddr,
}

/// A stack's configuration and state, sent when it joins and in answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Who.
    pub id: StackId,
    /// Its dynamic XCF link, if any.
    pub xcf: Option<XcfLinkInfo>,
    /// Its VIPADEFINE / VIPABACKUP configuration.
    pub config: DvipaConfig,
    /// The DVIPAs it holds as Active.
    pub owned: Vec<Ipv4Addr>,
    /// The DVIPAs it keeps in Moving for old connections.
    pub moving: Vec<Ipv4Addr>,
    /// The DVIPAs deactivated on it.
    pub deactivated: Vec<Ipv4Addr>,
    /// Whether this answers the receiver's Hello (false when the sender has just joined; the
    /// receiver then answers with its own).
    pub reply: bool,
}

/// What stacks tell each other over XCF group EZBTCPCS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    /// A stack's configuration and state.
    Hello(Box<Hello>),
    /// The sender now holds the DVIPA as Active.
    Owned {
        /// The DVIPA.
        addr: Ipv4Addr,
    },
    /// The sender's DVIPA was deactivated (it gave it up if it held it).
    Deactivated {
        /// The DVIPA.
        addr: Ipv4Addr,
    },
    /// The sender's DVIPA was reactivated: it is eligible again.
    Reactivated {
        /// The DVIPA.
        addr: Ipv4Addr,
    },
    /// The sender gives the DVIPA back to the receiver, its VIPADEFINE owner; it keeps
    /// `connections` (Moving) and the receiver forwards their packets to it.
    GiveBack {
        /// The DVIPA.
        addr: Ipv4Addr,
        /// The sender's open connections on the DVIPA.
        connections: Vec<ConnKey>,
    },
    /// The sender's last old connection on a Moving DVIPA closed; it no longer holds it.
    MovingDone {
        /// The DVIPA.
        addr: Ipv4Addr,
    },
}

/// An input of the manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// This stack joined the sysplex group; `peers` are the other active members then.
    Joined {
        /// The member names of the other active members.
        peers: Vec<String>,
    },
    /// A peer's signal.
    Signal {
        /// The sending member.
        from: String,
        /// What it said.
        signal: Signal,
    },
    /// A peer failed or left the group.
    PeerGone {
        /// The member name.
        member: String,
    },
    /// Periodic check of Moving DVIPAs and of WHENIDLE takebacks.
    Tick,
    /// XCF partitioned this stack's system out of the sysplex (its heartbeat stopped for
    /// INTERVAL) and the CF fences it: it must hold nothing any more, as its LPAR would be gone.
    Fenced,
    /// An operator command for this stack.
    Command(VaryCommand),
}

/// What the shell must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Activate the DVIPA here: HOME, ARP, gratuitous ARP.
    Activate {
        /// The DVIPA.
        addr: Ipv4Addr,
    },
    /// Keep the DVIPA for existing connections only: accepted, no longer answered in ARP.
    HoldForMoving {
        /// The DVIPA.
        addr: Ipv4Addr,
    },
    /// Remove the DVIPA from this stack.
    Release {
        /// The DVIPA.
        addr: Ipv4Addr,
    },
    /// Forward the packets of these connections to the stack with XCF address `xcf`.
    Forward {
        /// The DVIPA.
        addr: Ipv4Addr,
        /// The old holder's XCF address.
        xcf: Ipv4Addr,
        /// Its connections.
        connections: Vec<ConnKey>,
    },
    /// Stop forwarding the DVIPA's connections to the stack with XCF address `xcf`.
    StopForward {
        /// The DVIPA.
        addr: Ipv4Addr,
        /// The old holder's XCF address.
        xcf: Ipv4Addr,
    },
    /// Record a peer's XCF link so packets can be forwarded to it.
    AddXcfPartner(XcfLinkInfo),
    /// Send a signal to one member.
    Send {
        /// The member name.
        to: String,
        /// The signal.
        signal: Signal,
    },
    /// Send a signal to every peer.
    Broadcast(Signal),
    /// Leave the sysplex group.
    LeaveGroup,
    /// Join the sysplex group (the shell answers with [`Event::Joined`]).
    JoinGroup,
    /// Write a console message.
    Console(ConsoleMessage),
}

/// What this stack knows of a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Peer {
    id: StackId,
    xcf: Option<XcfLinkInfo>,
    config: DvipaConfig,
    owned: BTreeSet<Ipv4Addr>,
    moving: BTreeSet<Ipv4Addr>,
    deactivated: BTreeSet<Ipv4Addr>,
}

/// A DVIPA this stack holds (or backs up), as NETSTAT VIPADYN shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalDvipa {
    /// The DVIPA.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Its status here.
    pub status: DvipaStatus,
    /// How this stack came to it.
    pub origin: Origin,
    /// When it became Active here (`None` for Backup).
    pub act_time: Option<ActTime>,
}

/// One stack's line of a DVIPA in the sysplex-wide view (`D TCPIP,,SYSPLEX,VIPADYN`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysplexHolder {
    /// The stack.
    pub id: StackId,
    /// Its status for the DVIPA.
    pub status: DvipaStatus,
    /// Its rank (255 for VIPADEFINE).
    pub rank: u8,
}

/// A DVIPA as the whole sysplex holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysplexDvipa {
    /// The DVIPA.
    pub addr: Ipv4Addr,
    /// Its prefix length (from the Active stack's configuration, else the first seen).
    pub prefix_len: u8,
    /// The origin on the Active stack, if any.
    pub origin: Option<Origin>,
    /// Every stack configured for it, Active first, then by rank and name.
    pub holders: Vec<SysplexHolder>,
}

/// The DVIPA manager of one stack.
#[derive(Clone, Debug)]
pub struct DvipaManager {
    id: StackId,
    xcf: Option<XcfLinkInfo>,
    config: DvipaConfig,
    joined: bool,
    started: bool,
    waiting_for: BTreeSet<String>,
    peers: BTreeMap<String, Peer>,
    local: BTreeMap<Ipv4Addr, LocalDvipa>,
    deactivated: BTreeSet<Ipv4Addr>,
    when_idle: BTreeMap<Ipv4Addr, String>,
}

impl DvipaManager {
    /// The manager of stack `id` with dynamic XCF link `xcf` and DVIPA configuration
    /// `config`; it does nothing until [`Event::Joined`].
    pub fn new(id: StackId, xcf: Option<XcfLinkInfo>, config: DvipaConfig) -> Self {
        Self {
            id,
            xcf,
            config,
            joined: false,
            started: false,
            waiting_for: BTreeSet::new(),
            peers: BTreeMap::new(),
            local: BTreeMap::new(),
            deactivated: BTreeSet::new(),
            when_idle: BTreeMap::new(),
        }
    }

    /// This stack.
    pub fn id(&self) -> &StackId {
        &self.id
    }

    /// Its DVIPA configuration.
    pub fn config(&self) -> &DvipaConfig {
        &self.config
    }

    /// Whether it is a member of the sysplex group.
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The DVIPAs deactivated here by operator command.
    pub fn deactivated(&self) -> &BTreeSet<Ipv4Addr> {
        &self.deactivated
    }

    /// The DVIPAs this stack holds or backs up, in address order.
    pub fn local(&self) -> Vec<LocalDvipa> {
        self.local.values().copied().collect()
    }

    /// Whether some stacks of the group have yet to answer this stack's Hello.
    pub fn awaits_hellos(&self) -> bool {
        !self.waiting_for.is_empty()
    }

    /// The dynamic XCF addresses of the other stacks that said Hello, by member name.
    pub fn peer_xcf_addresses(&self) -> BTreeMap<String, Ipv4Addr> {
        self.peers
            .iter()
            .filter_map(|(member, peer)| Some((member.clone(), peer.xcf?.address)))
            .collect()
    }

    /// Handles one event at wall-clock time `now`; `connections` are this stack's open TCP
    /// connections (any local address). Returns what the shell must do, in order.
    pub fn handle(&mut self, now: ActTime, event: Event, connections: &[ConnKey]) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Joined { peers } => self.on_joined(now, peers, &mut out),
            Event::Signal { from, signal } => {
                self.on_signal(now, from, signal, connections, &mut out)
            }
            Event::PeerGone { member } => self.on_peer_gone(now, &member, &mut out),
            Event::Tick => self.on_tick(connections, &mut out),
            Event::Fenced => self.drop_out(&mut out),
            Event::Command(command) => self.on_command(now, command, &mut out),
        }
        out
    }

    fn hello(&self, reply: bool) -> Signal {
        let with = |status| {
            self.local
                .values()
                .filter(|l| l.status == status)
                .map(|l| l.addr)
                .collect()
        };
        Signal::Hello(Box::new(Hello {
            id: self.id.clone(),
            xcf: self.xcf,
            config: self.config.clone(),
            owned: with(DvipaStatus::Active),
            moving: with(DvipaStatus::Moving),
            deactivated: self.deactivated.iter().copied().collect(),
            reply,
        }))
    }

    fn on_joined(&mut self, now: ActTime, peers: Vec<String>, out: &mut Vec<Action>) {
        self.joined = true;
        self.started = false;
        self.peers.clear();
        self.waiting_for = peers.into_iter().filter(|p| *p != self.id.member).collect();
        for peer in &self.waiting_for {
            out.push(Action::Send {
                to: peer.clone(),
                signal: self.hello(false),
            });
        }
        self.start_if_ready(now, out);
    }

    /// Once every peer answered Hello: activate what is this stack's to activate.
    fn start_if_ready(&mut self, now: ActTime, out: &mut Vec<Action>) {
        if self.started || !self.joined || !self.waiting_for.is_empty() {
            return;
        }
        self.started = true;
        for entry in self.config.entries.clone() {
            if self.local.contains_key(&entry.addr) {
                continue;
            }
            if self.deactivated.contains(&entry.addr) {
                self.set_local(entry, DvipaStatus::Deactivated, None);
                continue;
            }
            let activates_at_start = match entry.role {
                ConfigRole::Define { .. } => true,
                ConfigRole::Backup { moveable, .. } => moveable.is_some(),
            };
            let best = self.best_candidate(entry.addr, true);
            if activates_at_start
                && self.owner(entry.addr).is_none()
                && best.as_ref() == Some(&self.id.member)
            {
                self.activate(now, entry, out);
            } else if matches!(entry.role, ConfigRole::Backup { .. }) {
                self.set_local(entry, DvipaStatus::Backup, None);
            }
        }
    }

    fn set_local(&mut self, entry: DvipaEntry, status: DvipaStatus, act_time: Option<ActTime>) {
        self.local.insert(
            entry.addr,
            LocalDvipa {
                addr: entry.addr,
                prefix_len: entry.prefix_len,
                status,
                origin: entry.role.into(),
                act_time,
            },
        );
    }

    /// Back to the not-held state of a configured DVIPA: Backup for a VIPABACKUP, nothing
    /// for a VIPADEFINE.
    fn unhold(&mut self, addr: Ipv4Addr) {
        match self.config.entry(addr).copied() {
            Some(entry) if self.deactivated.contains(&addr) => {
                self.set_local(entry, DvipaStatus::Deactivated, None)
            }
            Some(entry) if matches!(entry.role, ConfigRole::Backup { .. }) => {
                self.set_local(entry, DvipaStatus::Backup, None)
            }
            _ => {
                self.local.remove(&addr);
            }
        }
    }

    fn activate(&mut self, now: ActTime, entry: DvipaEntry, out: &mut Vec<Action>) {
        self.set_local(entry, DvipaStatus::Active, Some(now));
        self.when_idle.remove(&entry.addr);
        out.push(Action::Activate { addr: entry.addr });
        out.push(Action::Broadcast(Signal::Owned { addr: entry.addr }));
    }

    /// The member holding `addr` as Active, this stack included.
    fn owner(&self, addr: Ipv4Addr) -> Option<String> {
        if self.holds_active(addr) {
            return Some(self.id.member.clone());
        }
        self.peers
            .iter()
            .find(|(_, peer)| peer.owned.contains(&addr))
            .map(|(member, _)| member.clone())
    }

    fn holds_active(&self, addr: Ipv4Addr) -> bool {
        self.local
            .get(&addr)
            .is_some_and(|l| l.status == DvipaStatus::Active)
    }

    /// The eligible stack that should hold `addr` when nobody does: highest rank, then lowest
    /// member name. At startup only VIPADEFINE and MOVEABLE backups activate.
    fn best_candidate(&self, addr: Ipv4Addr, at_start: bool) -> Option<String> {
        let eligible = |role: ConfigRole| {
            !at_start
                || matches!(
                    role,
                    ConfigRole::Define { .. }
                        | ConfigRole::Backup {
                            moveable: Some(_),
                            ..
                        }
                )
        };
        let mine = self
            .config
            .entry(addr)
            .filter(|e| self.started && !self.deactivated.contains(&addr) && eligible(e.role))
            .map(|e| (e.role.rank(), self.id.member.clone()));
        let theirs = self.peers.iter().filter_map(|(member, peer)| {
            peer.config
                .entry(addr)
                .filter(|e| !peer.deactivated.contains(&addr) && eligible(e.role))
                .map(|e| (e.role.rank(), member.clone()))
        });
        mine.into_iter()
            .chain(theirs)
            .min_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)))
            .map(|(_, member)| member)
    }

    /// Nobody holds `addr` (its holder `from` went away): takes it if this stack is next.
    fn take_over_if_next(
        &mut self,
        now: ActTime,
        addr: Ipv4Addr,
        from: Option<StackId>,
        out: &mut Vec<Action>,
    ) {
        if self.owner(addr).is_some()
            || self.best_candidate(addr, false).as_ref() != Some(&self.id.member)
        {
            return;
        }
        let Some(entry) = self.config.entry(addr).copied() else {
            return;
        };
        self.activate(now, entry, out);
        if let Some(from) = from {
            out.push(Action::Console(ConsoleMessage::TakenOver { addr, from }));
        }
    }

    fn on_signal(
        &mut self,
        now: ActTime,
        from: String,
        signal: Signal,
        connections: &[ConnKey],
        out: &mut Vec<Action>,
    ) {
        if !self.joined {
            return;
        }
        match signal {
            Signal::Hello(hello) => {
                let Hello {
                    id,
                    xcf,
                    config,
                    owned,
                    moving,
                    deactivated,
                    reply,
                } = *hello;
                for addr in &owned {
                    for peer in self.peers.values_mut() {
                        peer.owned.remove(addr);
                    }
                }
                if let Some(xcf) = xcf {
                    out.push(Action::AddXcfPartner(xcf));
                }
                self.peers.insert(
                    from.clone(),
                    Peer {
                        id,
                        xcf,
                        config,
                        owned: owned.into_iter().collect(),
                        moving: moving.into_iter().collect(),
                        deactivated: deactivated.into_iter().collect(),
                    },
                );
                if reply {
                    self.waiting_for.remove(&from);
                    self.start_if_ready(now, out);
                } else {
                    out.push(Action::Send {
                        to: from.clone(),
                        signal: self.hello(true),
                    });
                    self.give_back_to(&from, None, connections, out);
                }
            }
            Signal::Owned { addr } => {
                for (member, peer) in &mut self.peers {
                    if *member == from {
                        peer.owned.insert(addr);
                    } else {
                        peer.owned.remove(&addr);
                    }
                }
                self.when_idle.remove(&addr);
            }
            Signal::Deactivated { addr } => {
                let Some(peer) = self.peers.get_mut(&from) else {
                    return;
                };
                peer.deactivated.insert(addr);
                let was_owner = peer.owned.remove(&addr);
                let id = peer.id.clone();
                if was_owner {
                    self.take_over_if_next(now, addr, Some(id), out);
                }
            }
            Signal::Reactivated { addr } => {
                let Some(peer) = self.peers.get_mut(&from) else {
                    return;
                };
                peer.deactivated.remove(&addr);
                self.give_back_to(&from, Some(addr), connections, out);
                self.take_over_if_next(now, addr, None, out);
            }
            Signal::GiveBack {
                addr,
                connections: theirs,
            } => {
                let Some(peer) = self.peers.get_mut(&from) else {
                    return;
                };
                peer.owned.remove(&addr);
                if !theirs.is_empty() {
                    peer.moving.insert(addr);
                }
                let (id, xcf) = (peer.id.clone(), peer.xcf);
                let Some(entry) = self.config.entry(addr).copied() else {
                    return;
                };
                if let (Some(xcf), false) = (xcf, theirs.is_empty()) {
                    out.push(Action::Forward {
                        addr,
                        xcf: xcf.address,
                        connections: theirs,
                    });
                }
                if !self.holds_active(addr) {
                    self.activate(now, entry, out);
                    out.push(Action::Console(ConsoleMessage::TakenBack {
                        addr,
                        from: id,
                    }));
                }
            }
            Signal::MovingDone { addr } => {
                let Some(peer) = self.peers.get_mut(&from) else {
                    return;
                };
                peer.moving.remove(&addr);
                if let (Some(xcf), true) = (peer.xcf, self.holds_active(addr)) {
                    out.push(Action::StopForward {
                        addr,
                        xcf: xcf.address,
                    });
                }
            }
        }
    }

    /// Gives DVIPAs this stack holds back to `member` when it is their eligible VIPADEFINE
    /// owner (all such DVIPAs, or only `only`).
    fn give_back_to(
        &mut self,
        member: &str,
        only: Option<Ipv4Addr>,
        connections: &[ConnKey],
        out: &mut Vec<Action>,
    ) {
        let Some(peer) = self.peers.get(member) else {
            return;
        };
        let due: Vec<(Ipv4Addr, Moveable)> = peer
            .config
            .entries
            .iter()
            .filter_map(|e| match e.role {
                ConfigRole::Define { moveable } => Some((e.addr, moveable)),
                ConfigRole::Backup { .. } => None,
            })
            .filter(|(addr, _)| only.is_none_or(|only| only == *addr))
            .filter(|(addr, _)| !peer.deactivated.contains(addr) && self.holds_active(*addr))
            .filter(|(addr, _)| {
                !matches!(
                    self.config.entry(*addr).map(|e| e.role),
                    Some(ConfigRole::Define { .. })
                )
            })
            .collect();
        for (addr, moveable) in due {
            let open = open_on(connections, addr);
            if moveable == Moveable::WhenIdle && !open.is_empty() {
                self.when_idle.insert(addr, member.to_owned());
            } else {
                self.give_back(addr, member, open, out);
            }
        }
    }

    fn give_back(
        &mut self,
        addr: Ipv4Addr,
        member: &str,
        open: Vec<ConnKey>,
        out: &mut Vec<Action>,
    ) {
        let Some(peer) = self.peers.get_mut(member) else {
            return;
        };
        let to = peer.id.clone();
        peer.owned.insert(addr);
        self.when_idle.remove(&addr);
        if open.is_empty() {
            out.push(Action::Release { addr });
            self.unhold(addr);
        } else {
            out.push(Action::HoldForMoving { addr });
            if let Some(local) = self.local.get_mut(&addr) {
                local.status = DvipaStatus::Moving;
            }
        }
        out.push(Action::Send {
            to: member.to_owned(),
            signal: Signal::GiveBack {
                addr,
                connections: open,
            },
        });
        out.push(Action::Console(ConsoleMessage::GivenTo { addr, to }));
    }

    fn on_peer_gone(&mut self, now: ActTime, member: &str, out: &mut Vec<Action>) {
        self.waiting_for.remove(member);
        self.when_idle.retain(|_, to| to != member);
        if let Some(peer) = self.peers.remove(member) {
            if let Some(xcf) = peer.xcf {
                for addr in &peer.moving {
                    if self.holds_active(*addr) {
                        out.push(Action::StopForward {
                            addr: *addr,
                            xcf: xcf.address,
                        });
                    }
                }
            }
            for addr in peer.owned {
                self.take_over_if_next(now, addr, Some(peer.id.clone()), out);
            }
        }
        self.start_if_ready(now, out);
    }

    fn on_tick(&mut self, connections: &[ConnKey], out: &mut Vec<Action>) {
        let moving: Vec<Ipv4Addr> = self
            .local
            .values()
            .filter(|l| l.status == DvipaStatus::Moving)
            .map(|l| l.addr)
            .collect();
        for addr in moving {
            if open_on(connections, addr).is_empty() {
                out.push(Action::Release { addr });
                self.unhold(addr);
                out.push(Action::Broadcast(Signal::MovingDone { addr }));
            }
        }
        let idle: Vec<(Ipv4Addr, String)> = self
            .when_idle
            .iter()
            .filter(|(addr, _)| open_on(connections, **addr).is_empty())
            .map(|(addr, member)| (*addr, member.clone()))
            .collect();
        for (addr, member) in idle {
            if self.holds_active(addr) {
                self.give_back(addr, &member, Vec::new(), out);
            } else {
                self.when_idle.remove(&addr);
            }
        }
    }

    fn on_command(&mut self, now: ActTime, command: VaryCommand, out: &mut Vec<Action>) {
        let words = command.words();
        let fail = |reason: String| {
            Action::Console(ConsoleMessage::CommandFailed {
                command: words,
                reason,
            })
        };
        let done = Action::Console(ConsoleMessage::CommandCompleted { command: words });
        match command {
            VaryCommand::JoinGroup if self.joined => out.push(fail(format!(
                "{} IS ALREADY A MEMBER OF THE SYSPLEX GROUP",
                self.id.tcpname
            ))),
            VaryCommand::JoinGroup => out.push(Action::JoinGroup),
            _ if !self.joined => out.push(fail(format!(
                "{} IS NOT A MEMBER OF A SYSPLEX GROUP",
                self.id.tcpname
            ))),
            VaryCommand::LeaveGroup => {
                self.drop_out(out);
                out.push(Action::LeaveGroup);
            }
            VaryCommand::Deactivate(addr) => {
                let Some(entry) = self.config.entry(addr).copied() else {
                    return out.push(fail(format!(
                        "DVIPA {addr} IS NOT CONFIGURED ON THIS STACK"
                    )));
                };
                if !self.deactivated.insert(addr) {
                    return out.push(fail(format!("DVIPA {addr} IS ALREADY DEACTIVATED")));
                }
                let held = self.local.get(&addr).map(|l| l.status);
                if matches!(held, Some(DvipaStatus::Active | DvipaStatus::Moving)) {
                    out.push(Action::Release { addr });
                }
                self.when_idle.remove(&addr);
                self.set_local(entry, DvipaStatus::Deactivated, None);
                out.push(Action::Broadcast(Signal::Deactivated { addr }));
                out.push(done);
            }
            VaryCommand::Reactivate(addr) => {
                if !self.deactivated.remove(&addr) {
                    return out.push(fail(format!("DVIPA {addr} IS NOT DEACTIVATED")));
                }
                self.unhold(addr);
                out.push(Action::Broadcast(Signal::Reactivated { addr }));
                out.push(done);
                self.take_over_if_next(now, addr, None, out);
            }
        }
    }

    /// Out of the group: every DVIPA held here goes, the view of the peers is forgotten.
    fn drop_out(&mut self, out: &mut Vec<Action>) {
        for local in std::mem::take(&mut self.local).into_values() {
            if matches!(local.status, DvipaStatus::Active | DvipaStatus::Moving) {
                out.push(Action::Release { addr: local.addr });
            }
        }
        self.peers.clear();
        self.when_idle.clear();
        self.waiting_for.clear();
        self.joined = false;
        self.started = false;
    }

    /// The sysplex-wide view of every DVIPA this stack knows a configuration for.
    pub fn sysplex(&self) -> Vec<SysplexDvipa> {
        let mut by_addr: BTreeMap<Ipv4Addr, SysplexDvipa> = BTreeMap::new();
        let mut add = |id: &StackId, entry: &DvipaEntry, status: DvipaStatus| {
            let dvipa = by_addr.entry(entry.addr).or_insert_with(|| SysplexDvipa {
                addr: entry.addr,
                prefix_len: entry.prefix_len,
                origin: None,
                holders: Vec::new(),
            });
            if status == DvipaStatus::Active {
                dvipa.origin = Some(entry.role.into());
                dvipa.prefix_len = entry.prefix_len;
            }
            dvipa.holders.push(SysplexHolder {
                id: id.clone(),
                status,
                rank: entry.role.rank(),
            });
        };
        if self.joined {
            for entry in &self.config.entries {
                let status = self
                    .local
                    .get(&entry.addr)
                    .map_or(DvipaStatus::Backup, |l| l.status);
                add(&self.id, entry, status);
            }
        }
        for peer in self.peers.values() {
            for entry in &peer.config.entries {
                let status = if peer.owned.contains(&entry.addr) {
                    DvipaStatus::Active
                } else if peer.moving.contains(&entry.addr) {
                    DvipaStatus::Moving
                } else if peer.deactivated.contains(&entry.addr) {
                    DvipaStatus::Deactivated
                } else {
                    DvipaStatus::Backup
                };
                add(&peer.id, entry, status);
            }
        }
        let mut all: Vec<SysplexDvipa> = by_addr.into_values().collect();
        for dvipa in &mut all {
            dvipa.holders.sort_by(|a, b| {
                (a.status != DvipaStatus::Active)
                    .cmp(&(b.status != DvipaStatus::Active))
                    .then(b.rank.cmp(&a.rank))
                    .then_with(|| a.id.member.cmp(&b.id.member))
            });
        }
        all
    }

    /// The member that holds `addr` as Active, as this stack knows it.
    pub fn owner_of(&self, addr: Ipv4Addr) -> Option<StackId> {
        if self.holds_active(addr) {
            return Some(self.id.clone());
        }
        self.peers
            .values()
            .find(|p| p.owned.contains(&addr))
            .map(|p| p.id.clone())
    }
}

/// The connections whose local address is `addr`.
fn open_on(connections: &[ConnKey], addr: Ipv4Addr) -> Vec<ConnKey> {
    connections
        .iter()
        .filter(|c| *c.local.ip() == addr)
        .copied()
        .collect()
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
