//! A stack's part in the Sysplex Distributor, sans-IO: the distributor of the DVIPAs it owns
//! and a target of the distributors of others.
//!
//! As distributor, when the stack takes a distributed DVIPA on (at start, on takeover or on
//! takeback) it asks every target for its listeners and connections on the DVIPA
//! ([`SdSignal::Query`]) and builds its DPT and CRT from the answers, so connections to
//! surviving targets keep their routes. As target, on a query it holds the DVIPA without ARP,
//! answers, and from then on reports its listener counts (Rdy) and the ends of the
//! connections routed to it.
//!
//! The [`SharedSd`] it works on is shared with the datapath stage that routes the packets.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::time::Instant;

use super::config::DistConfig;
use super::core::Distributor;
use super::signal::{SdSignal, batch_ended};
use super::stage::SharedSd;
use crate::dvipa::model::ConnKey;

/// What the agent is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdEvent {
    /// This stack now owns `dvipa` (advertised here).
    Owned(Ipv4Addr),
    /// This stack no longer owns `dvipa`; it routes by its CRT until the next distributor asks.
    Disowned(Ipv4Addr),
    /// The stacks of the group, by dynamic XCF address (this one excluded), as now known.
    Peers(BTreeSet<Ipv4Addr>),
    /// A signal from the stack with XCF address `from`.
    Signal {
        /// The sender's XCF address.
        from: Ipv4Addr,
        /// The signal.
        signal: SdSignal,
    },
    /// The periodic look at the stack's TCP sockets.
    Tick {
        /// The local sockets listening (0.0.0.0 for every address).
        listeners: Vec<SocketAddrV4>,
        /// The open connections.
        open: Vec<ConnKey>,
    },
}

/// What the shell must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdAction {
    /// Send `signal` to the stack with XCF address `to`.
    Send {
        /// The receiver's XCF address.
        to: Ipv4Addr,
        /// The signal.
        signal: SdSignal,
    },
    /// Hold `dvipa` as a distributor target: accepted, never answered in ARP.
    HoldAsTarget(Ipv4Addr),
}

/// What this stack serves as a target of one distributed DVIPA.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Serving {
    /// The XCF address of its distributor.
    distributor: Ipv4Addr,
    /// The distributed ports (empty: every port).
    ports: Vec<u16>,
    /// The listener counts last reported, by port.
    reported: BTreeMap<u16, u16>,
}

/// The agent of one stack.
#[derive(Debug)]
pub struct SdAgent {
    local_xcf: Ipv4Addr,
    configs: Vec<DistConfig>,
    shared: SharedSd,
    peers: BTreeSet<Ipv4Addr>,
    /// The distributed DVIPAs this stack owns.
    owned: BTreeSet<Ipv4Addr>,
    serving: BTreeMap<Ipv4Addr, Serving>,
    listeners: Vec<SocketAddrV4>,
}

impl SdAgent {
    /// The agent of the stack with XCF address `local_xcf`, whose profile has the
    /// VIPADISTRIBUTEs `configs` (it distributes those DVIPAs while it owns them).
    pub fn new(local_xcf: Ipv4Addr, configs: Vec<DistConfig>, shared: SharedSd) -> Self {
        shared.lock().local_xcf = Some(local_xcf);
        Self {
            local_xcf,
            configs,
            shared,
            peers: BTreeSet::new(),
            owned: BTreeSet::new(),
            serving: BTreeMap::new(),
            listeners: Vec::new(),
        }
    }

    /// Whether this stack's profile distributes `dvipa` (VIPADISTRIBUTE).
    pub fn distributes(&self, dvipa: Ipv4Addr) -> bool {
        self.configs.iter().any(|c| c.dvipa == dvipa)
    }

    /// Whether this stack's own VIPADISTRIBUTE of `dvipa` makes it one of the targets.
    pub fn targets_itself(&self, dvipa: Ipv4Addr) -> bool {
        self.configs
            .iter()
            .any(|c| c.dvipa == dvipa && c.target(self.local_xcf).is_some())
    }

    /// Whether this stack serves `dvipa` as a target of another stack's distributor.
    pub fn serves_remote(&self, dvipa: Ipv4Addr) -> bool {
        self.serving
            .get(&dvipa)
            .is_some_and(|s| s.distributor != self.local_xcf)
    }

    /// Handles one event at stack time `now`; returns what the shell must do.
    pub fn handle(&mut self, now: Instant, event: SdEvent) -> Vec<SdAction> {
        let mut out = Vec::new();
        match event {
            SdEvent::Owned(dvipa) => self.take_on(dvipa, &mut out),
            // The routes stay in force until the new distributor's query: the LAN may send
            // here until it follows the new owner's gratuitous ARP.
            SdEvent::Disowned(dvipa) => {
                self.owned.remove(&dvipa);
            }
            SdEvent::Peers(peers) => self.set_peers(peers, &mut out),
            SdEvent::Signal { from, signal } => self.on_signal(now, from, signal, &mut out),
            SdEvent::Tick { listeners, open } => self.on_tick(now, listeners, &open, &mut out),
        }
        out
    }

    fn configs_of(&self, dvipa: Ipv4Addr) -> Vec<DistConfig> {
        self.configs
            .iter()
            .filter(|c| c.dvipa == dvipa)
            .cloned()
            .collect()
    }

    /// The targets of `dvipa` among the live stacks (this one included).
    fn targets_of(&self, configs: &[DistConfig]) -> Vec<Ipv4Addr> {
        let mut targets: Vec<Ipv4Addr> = std::iter::once(self.local_xcf)
            .chain(self.peers.iter().copied())
            .filter(|xcf| configs.iter().any(|c| c.target(*xcf).is_some()))
            .collect();
        targets.sort_unstable();
        targets
    }

    fn take_on(&mut self, dvipa: Ipv4Addr, out: &mut Vec<SdAction>) {
        let configs = self.configs_of(dvipa);
        if configs.is_empty() {
            return;
        }
        self.owned.insert(dvipa);
        let targets = self.targets_of(&configs);
        let ports = ports_of(&configs);
        {
            let mut state = self.shared.lock();
            state.handed_over.remove(&dvipa);
            let local_xcf = self.local_xcf;
            let distributor = state
                .distributor
                .get_or_insert_with(|| Distributor::new(local_xcf, Vec::new()));
            distributor.take_on(dvipa, configs);
            for target in &targets {
                distributor.target_joined(*target);
            }
            distributor.await_answers(dvipa, targets.iter().copied());
        }
        for target in targets {
            self.query(target, dvipa, ports.clone(), out);
        }
    }

    /// Asks `target` for its listeners and connections on `dvipa` (this stack answers itself
    /// at once).
    fn query(
        &mut self,
        target: Ipv4Addr,
        dvipa: Ipv4Addr,
        ports: Vec<u16>,
        out: &mut Vec<SdAction>,
    ) {
        if target == self.local_xcf {
            let signal = self.answer_query(self.local_xcf, dvipa, ports, out);
            let mut state = self.shared.lock();
            if let (Some(distributor), SdSignal::Answer(answer)) =
                (state.distributor.as_mut(), &signal)
            {
                distributor.merge_answer(self.local_xcf, answer);
            }
        } else {
            out.push(SdAction::Send {
                to: target,
                signal: SdSignal::Query { dvipa, ports },
            });
        }
    }

    fn set_peers(&mut self, peers: BTreeSet<Ipv4Addr>, out: &mut Vec<SdAction>) {
        let gone: Vec<Ipv4Addr> = self.peers.difference(&peers).copied().collect();
        let new: Vec<Ipv4Addr> = peers.difference(&self.peers).copied().collect();
        self.peers = peers;
        if let Some(distributor) = self.shared.lock().distributor.as_mut() {
            for xcf in &gone {
                distributor.target_down(*xcf);
            }
        }
        let owned: Vec<Ipv4Addr> = self.owned.iter().copied().collect();
        for dvipa in owned {
            let configs = self.configs_of(dvipa);
            let ports = ports_of(&configs);
            for xcf in &new {
                if configs.iter().any(|c| c.target(*xcf).is_some()) {
                    if let Some(distributor) = self.shared.lock().distributor.as_mut() {
                        distributor.target_joined(*xcf);
                    }
                    self.query(*xcf, dvipa, ports.clone(), out);
                }
            }
        }
    }

    fn on_signal(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        signal: SdSignal,
        out: &mut Vec<SdAction>,
    ) {
        match signal {
            // A query about a DVIPA this stack owns is stale (the DVIPA moved here since).
            SdSignal::Query { dvipa, .. } if self.owned.contains(&dvipa) => {}
            SdSignal::Query { dvipa, ports } => {
                let answer = self.answer_query(from, dvipa, ports, out);
                out.push(SdAction::Send {
                    to: from,
                    signal: answer,
                });
            }
            SdSignal::Answer(answer) => {
                let mut state = self.shared.lock();
                if let Some(distributor) = state.distributor.as_mut()
                    && distributor.distributes(answer.dvipa)
                {
                    distributor.target_joined(from);
                    distributor.merge_answer(from, &answer);
                }
            }
            report => {
                if let Some(distributor) = self.shared.lock().distributor.as_mut() {
                    distributor.apply(now, from, &report);
                }
            }
        }
    }

    /// Becomes (or stays) a target of `distributor` for `dvipa` and gives the answer.
    fn answer_query(
        &mut self,
        distributor: Ipv4Addr,
        dvipa: Ipv4Addr,
        ports: Vec<u16>,
        out: &mut Vec<SdAction>,
    ) -> SdSignal {
        if distributor != self.local_xcf {
            out.push(SdAction::HoldAsTarget(dvipa));
        }
        let counts = listener_counts(&self.listeners, dvipa, &ports);
        let mut state = self.shared.lock();
        if distributor != self.local_xcf {
            state.handed_over.insert(dvipa, distributor);
            if let Some(own) = state.distributor.as_mut() {
                own.give_up(dvipa);
            }
        }
        for (port, ready) in &counts {
            state.target.set_listeners(dvipa, *port, *ready);
        }
        self.serving.insert(
            dvipa,
            Serving {
                distributor,
                ports,
                reported: counts,
            },
        );
        SdSignal::Answer(state.target.answer(dvipa, distributor))
    }

    fn on_tick(
        &mut self,
        now: Instant,
        listeners: Vec<SocketAddrV4>,
        open: &[ConnKey],
        out: &mut Vec<SdAction>,
    ) {
        self.listeners = listeners;
        let mut reports = Vec::new();
        {
            let mut state = self.shared.lock();
            for (dvipa, serving) in &mut self.serving {
                let counts = listener_counts(&self.listeners, *dvipa, &serving.ports);
                let ports: BTreeSet<u16> = counts
                    .keys()
                    .chain(serving.reported.keys())
                    .copied()
                    .collect();
                for port in ports {
                    let ready = counts.get(&port).copied().unwrap_or(0);
                    if serving.reported.get(&port).copied().unwrap_or(0) != ready {
                        let report = state.target.set_listeners(*dvipa, port, ready);
                        reports.push((serving.distributor, report));
                    }
                }
                serving.reported = counts;
            }
            let open: HashSet<ConnKey> = open.iter().copied().collect();
            reports.extend(state.target.sweep(&open));
            reports.append(&mut state.outbox);
            if let Some(distributor) = state.distributor.as_mut() {
                distributor.expire(now);
            }
        }
        for (to, signal) in batch_ended(reports) {
            if to == self.local_xcf {
                if let Some(distributor) = self.shared.lock().distributor.as_mut() {
                    distributor.apply(now, to, &signal);
                }
            } else {
                out.push(SdAction::Send { to, signal });
            }
        }
    }
}

/// The distributed ports of a DVIPA's VIPADISTRIBUTEs (empty: every port).
fn ports_of(configs: &[DistConfig]) -> Vec<u16> {
    if configs.iter().any(|c| c.ports.is_empty()) {
        return Vec::new();
    }
    let mut ports: Vec<u16> = configs.iter().flat_map(DistConfig::listed_ports).collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// How many sockets listen on each of `ports` of `dvipa` (on the DVIPA or on every address);
/// every listening port when `ports` is empty. Ports without a listener are left out.
fn listener_counts(
    listeners: &[SocketAddrV4],
    dvipa: Ipv4Addr,
    ports: &[u16],
) -> BTreeMap<u16, u16> {
    let mut counts = BTreeMap::new();
    for listener in listeners {
        let on_dvipa = *listener.ip() == dvipa || listener.ip().is_unspecified();
        if on_dvipa && (ports.is_empty() || ports.contains(&listener.port())) {
            let count: &mut u16 = counts.entry(listener.port()).or_default();
            *count = count.saturating_add(1);
        }
    }
    counts
}
