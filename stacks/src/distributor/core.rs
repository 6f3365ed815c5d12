//! The distributor: the DPT, the CRT and the timed affinities of the DVIPAs this stack
//! distributes, target reports in, and for each inbound packet where it goes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use smoltcp::time::Instant;

use super::config::DistConfig;
use super::crt::{Affinities, AffinityKey, Crt};
use super::dpt::{Dpt, DptKey, Health};
use super::packet::{Inbound, Segment, parse};
use super::select::{self, Candidate};
use super::signal::{SdSignal, TargetAnswer};
use crate::datapath::stage::Origin;
use crate::dvipa::model::ConnKey;
use crate::profile::DistMethod;

/// The WLM weight of a target before any WLM poll reported one.
pub const DEFAULT_WLM_WEIGHT: u8 = 1;

/// Where an inbound packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deliver {
    /// To this stack's own TCP/IP (not distributed, or this stack is the target).
    Local,
    /// Over dynamic XCF to the target stack with this XCF address.
    Forward {
        /// The target's XCF address.
        xcf: Ipv4Addr,
    },
    /// Nowhere.
    Drop(DropReason),
}

/// Why the distributor dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The IPv4 or TCP header does not parse.
    Malformed,
    /// A fragment to a distributed DVIPA (its ports cannot be read).
    Fragment,
    /// A connection request found no available target. The SYN is discarded without a reply,
    /// so the client retransmits and succeeds once a listener is ready (the emulator's choice:
    /// no IBM text found says whether z/OS discards or resets here).
    NoTarget,
    /// A packet of a connection not in the CRT while targets have yet to answer the takeover
    /// query: it may be a surviving connection whose route is on its way, so it is neither
    /// answered with a RST here nor routed; the client retransmits.
    Rebuilding,
}

impl DropReason {
    /// The name the datapath counts the drop under.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "SD: malformed packet",
            Self::Fragment => "SD: fragment to a distributed DVIPA",
            Self::NoTarget => "SD: no ready target",
            Self::Rebuilding => "SD: CRT rebuild in progress",
        }
    }
}

/// What a rebuild from target answers installed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RebuildStats {
    /// Listener reports applied.
    pub listeners: usize,
    /// Connections routed.
    pub connections: usize,
    /// Connections or listeners skipped (port not distributed, or not a target).
    pub skipped: usize,
}

/// The Sysplex Distributor of one stack.
#[derive(Clone, Debug)]
pub struct Distributor {
    local_xcf: Ipv4Addr,
    configs: Vec<DistConfig>,
    dpt: Dpt,
    crt: Crt,
    affinities: Affinities,
    system_weights: BTreeMap<Ipv4Addr, u8>,
    quiesced: BTreeSet<(Ipv4Addr, Option<u16>)>,
    standby: BTreeMap<(Ipv4Addr, u16), Ipv4Addr>,
    last: BTreeMap<(Ipv4Addr, u16), Ipv4Addr>,
    credit: BTreeMap<(Ipv4Addr, u16), BTreeMap<Ipv4Addr, i64>>,
    /// The targets whose answer to the takeover query is awaited, by DVIPA.
    awaited: BTreeMap<Ipv4Addr, BTreeSet<Ipv4Addr>>,
}

impl Distributor {
    /// A distributor on the stack with XCF address `local_xcf` for the VIPADISTRIBUTEs in
    /// `configs` (those of the DVIPAs it owns).
    pub fn new(local_xcf: Ipv4Addr, configs: Vec<DistConfig>) -> Self {
        Self {
            local_xcf,
            configs,
            dpt: Dpt::default(),
            crt: Crt::default(),
            affinities: Affinities::default(),
            system_weights: BTreeMap::new(),
            quiesced: BTreeSet::new(),
            standby: BTreeMap::new(),
            last: BTreeMap::new(),
            credit: BTreeMap::new(),
            awaited: BTreeMap::new(),
        }
    }

    /// This stack's XCF address.
    pub fn local_xcf(&self) -> Ipv4Addr {
        self.local_xcf
    }

    /// The VIPADISTRIBUTEs in effect.
    pub fn configs(&self) -> &[DistConfig] {
        &self.configs
    }

    /// The DPT.
    pub fn dpt(&self) -> &Dpt {
        &self.dpt
    }

    /// The CRT.
    pub fn crt(&self) -> &Crt {
        &self.crt
    }

    /// The timed affinities.
    pub fn affinities(&self) -> &Affinities {
        &self.affinities
    }

    /// The configuration that distributes `dvipa` and `port`.
    pub fn config_for(&self, dvipa: Ipv4Addr, port: u16) -> Option<&DistConfig> {
        self.configs
            .iter()
            .find(|c| c.dvipa == dvipa && c.covers(port))
    }

    /// A stack joined the group (or is this one): it gets Rdy 0 DPT entries for the named ports
    /// of every VIPADISTRIBUTE it is a target of.
    pub fn target_joined(&mut self, xcf: Ipv4Addr) {
        let keys: Vec<DptKey> = self
            .configs
            .iter()
            .filter(|c| c.target(xcf).is_some())
            .flat_map(|c| c.listed_ports().map(move |port| (c.dvipa, port)))
            .map(|(dvipa, port)| DptKey { dvipa, port, xcf })
            .collect();
        for key in keys {
            self.dpt.entry(key);
        }
    }

    /// A target left the group: its DPT entries, routed connections and affinities go.
    /// Returns how many connections were lost.
    pub fn target_down(&mut self, xcf: Ipv4Addr) -> usize {
        let dvipas: Vec<Ipv4Addr> = self.awaited.keys().copied().collect();
        for dvipa in dvipas {
            self.answered(dvipa, xcf);
        }
        self.dpt.remove_target(xcf);
        self.affinities.remove_target(xcf);
        self.standby.retain(|_, active| *active != xcf);
        self.quiesced.retain(|(target, _)| *target != xcf);
        self.crt.remove_where(|_, route| route.xcf == xcf)
    }

    /// A target reported its listener count on a DVIPA and port (Rdy). Ignored (false) when the
    /// port is not distributed or the stack is not one of its targets.
    pub fn listeners(&mut self, xcf: Ipv4Addr, dvipa: Ipv4Addr, port: u16, ready: u16) -> bool {
        if self
            .config_for(dvipa, port)
            .and_then(|c| c.target(xcf))
            .is_none()
        {
            return false;
        }
        self.dpt.entry(DptKey { dvipa, port, xcf }).ready = ready;
        true
    }

    /// A target reported the end of a routed connection: the CRT entry goes and ActiveConn
    /// drops. False when the CRT did not route it to that target.
    pub fn connection_ended(&mut self, now: Instant, xcf: Ipv4Addr, conn: &ConnKey) -> bool {
        if self.crt.get(conn).is_none_or(|route| route.xcf != xcf) {
            return false;
        }
        self.end(now, conn);
        true
    }

    fn end(&mut self, now: Instant, conn: &ConnKey) {
        let Some(route) = self.crt.remove(conn) else {
            return;
        };
        let dvipa = *conn.local.ip();
        let port = conn.local.port();
        let key = DptKey {
            dvipa,
            port,
            xcf: route.xcf,
        };
        if let Some(entry) = self.dpt.get_mut(&key) {
            entry.active_conn = entry.active_conn.saturating_sub(1);
        }
        let affinity = AffinityKey {
            dvipa,
            port,
            client: *conn.foreign.ip(),
        };
        self.affinities.connection_ended(&affinity, route.xcf, now);
    }

    /// QUIESCE from a target: no new connections to it (on `port`, or on every port).
    pub fn quiesce(&mut self, xcf: Ipv4Addr, port: Option<u16>) {
        self.quiesced.insert((xcf, port));
    }

    /// RESUME from a target: undoes the matching QUIESCE (every one of the target's when
    /// `port` is `None`).
    pub fn resume(&mut self, xcf: Ipv4Addr, port: Option<u16>) {
        self.quiesced
            .retain(|(target, p)| !(*target == xcf && (port.is_none() || *p == port)));
    }

    /// Whether a DPT entry is quiesced.
    pub fn is_quiesced(&self, key: &DptKey) -> bool {
        self.quiesced.contains(&(key.xcf, None))
            || self.quiesced.contains(&(key.xcf, Some(key.port)))
    }

    /// The WLM system weight of a target's LPAR (BASEWLM; SERVERWLM without a server weight),
    /// as the SYSPLEXWLMPOLL brings it.
    pub fn set_system_weight(&mut self, xcf: Ipv4Addr, weight: u8) {
        self.system_weights.insert(xcf, weight);
    }

    /// The server-specific WLM weight of a DPT entry (SERVERWLM).
    pub fn set_server_weight(&mut self, key: DptKey, weight: u8) {
        if let Some(entry) = self.dpt.get_mut(&key) {
            entry.server_weight = Some(weight);
        }
    }

    /// The health figures of a DPT entry.
    pub fn set_health(&mut self, key: DptKey, health: Health) {
        if let Some(entry) = self.dpt.get_mut(&key) {
            entry.health = health;
        }
    }

    /// The WLM weight VDPT shows for an entry: the server weight under SERVERWLM, else the
    /// system weight.
    pub fn wlm_weight(&self, key: &DptKey) -> u8 {
        let system = self
            .system_weights
            .get(&key.xcf)
            .copied()
            .unwrap_or(DEFAULT_WLM_WEIGHT);
        match self.config_for(key.dvipa, key.port).map(|c| c.method) {
            Some(DistMethod::ServerWlm { .. }) => self
                .dpt
                .get(key)
                .and_then(|e| e.server_weight)
                .unwrap_or(system),
            _ => system,
        }
    }

    /// The HOTSTANDBY target now taking the work of a DVIPA and port.
    pub fn active_standby(&self, dvipa: Ipv4Addr, port: u16) -> Option<Ipv4Addr> {
        self.standby.get(&(dvipa, port)).copied()
    }

    /// Applies a report from the target with XCF address `from`. Queries and answers are not
    /// reports (see [`Distributor::merge_answer`]); they return false.
    pub fn apply(&mut self, now: Instant, from: Ipv4Addr, signal: &SdSignal) -> bool {
        match signal {
            SdSignal::Listeners(report) => {
                self.listeners(from, report.dvipa, report.port, report.ready)
            }
            SdSignal::ConnectionEnded(conn) => self.connection_ended(now, from, conn),
            SdSignal::ConnectionsEnded(conns) => conns.iter().fold(false, |any, conn| {
                self.connection_ended(now, from, conn) | any
            }),
            SdSignal::Quiesce { port } => {
                self.quiesce(from, *port);
                true
            }
            SdSignal::Resume { port } => {
                self.resume(from, *port);
                true
            }
            SdSignal::Health {
                dvipa,
                port,
                health,
            } => {
                let key = DptKey {
                    dvipa: *dvipa,
                    port: *port,
                    xcf: from,
                };
                self.set_health(key, *health);
                self.dpt.get(&key).is_some()
            }
            SdSignal::ServerWeight {
                dvipa,
                port,
                weight,
            } => {
                let key = DptKey {
                    dvipa: *dvipa,
                    port: *port,
                    xcf: from,
                };
                self.set_server_weight(key, *weight);
                self.dpt.get(&key).is_some()
            }
            SdSignal::Query { .. } | SdSignal::Answer(_) => false,
        }
    }

    /// Drops the timed affinities that ended by `now`.
    pub fn expire(&mut self, now: Instant) {
        self.affinities.expire(now);
    }

    /// Starts distributing `dvipa` with these of its VIPADISTRIBUTEs (this stack took the DVIPA
    /// on): its DPT and CRT start empty, to be filled from the targets' answers.
    pub fn take_on(&mut self, dvipa: Ipv4Addr, configs: impl IntoIterator<Item = DistConfig>) {
        self.give_up(dvipa);
        self.configs
            .extend(configs.into_iter().filter(|c| c.dvipa == dvipa));
    }

    /// Stops distributing `dvipa`: its configurations, DPT and CRT entries go.
    pub fn give_up(&mut self, dvipa: Ipv4Addr) {
        self.forget_dvipa(dvipa);
        self.configs.retain(|c| c.dvipa != dvipa);
    }

    /// Waits for the answers of `targets` to the query about `dvipa`: until they have all
    /// answered (or gone), packets of connections not in the CRT are dropped, not answered.
    pub fn await_answers(&mut self, dvipa: Ipv4Addr, targets: impl IntoIterator<Item = Ipv4Addr>) {
        let awaited: BTreeSet<Ipv4Addr> = targets.into_iter().collect();
        if awaited.is_empty() {
            self.awaited.remove(&dvipa);
        } else {
            self.awaited.insert(dvipa, awaited);
        }
    }

    /// Whether targets have yet to answer the query about `dvipa`.
    pub fn is_rebuilding(&self, dvipa: Ipv4Addr) -> bool {
        self.awaited.contains_key(&dvipa)
    }

    fn answered(&mut self, dvipa: Ipv4Addr, xcf: Ipv4Addr) {
        if let Some(awaited) = self.awaited.get_mut(&dvipa) {
            awaited.remove(&xcf);
            if awaited.is_empty() {
                self.awaited.remove(&dvipa);
            }
        }
    }

    /// Whether this stack distributes `dvipa`.
    pub fn distributes(&self, dvipa: Ipv4Addr) -> bool {
        self.configs.iter().any(|c| c.dvipa == dvipa)
    }

    /// Forgets everything about `dvipa` (ownership gone, or a rebuild starting).
    pub fn forget_dvipa(&mut self, dvipa: Ipv4Addr) {
        self.dpt.remove_dvipa(dvipa);
        self.crt.remove_where(|conn, _| *conn.local.ip() == dvipa);
        self.affinities.remove_dvipa(dvipa);
        self.standby.retain(|(d, _), _| *d != dvipa);
        self.last.retain(|(d, _), _| *d != dvipa);
        self.credit.retain(|(d, _), _| *d != dvipa);
        self.awaited.remove(&dvipa);
    }

    /// Takes in one target's answer after a takeover: its Rdy counts and its connections, which
    /// count as active (TotalConn restarts at 0, as on z/OS).
    pub fn merge_answer(&mut self, from: Ipv4Addr, answer: &TargetAnswer) -> RebuildStats {
        self.answered(answer.dvipa, from);
        let mut stats = RebuildStats::default();
        for report in &answer.listeners {
            if report.dvipa == answer.dvipa
                && self.listeners(from, report.dvipa, report.port, report.ready)
            {
                stats.listeners += 1;
            } else {
                stats.skipped += 1;
            }
        }
        self.crt.reserve(answer.connections.len());
        for conn in &answer.connections {
            let key = DptKey {
                dvipa: *conn.local.ip(),
                port: conn.local.port(),
                xcf: from,
            };
            if key.dvipa != answer.dvipa
                || self
                    .config_for(key.dvipa, key.port)
                    .and_then(|c| c.target(from))
                    .is_none()
            {
                stats.skipped += 1;
                continue;
            }
            if let Some(old) = self.crt.insert(*conn, from)
                && let Some(entry) = self.dpt.get_mut(&DptKey {
                    xcf: old.xcf,
                    ..key
                })
            {
                entry.active_conn = entry.active_conn.saturating_sub(1);
            }
            self.dpt.entry(key).active_conn += 1;
            stats.connections += 1;
        }
        stats
    }

    /// Rebuilds the DPT and CRT of `dvipa` from every target's answer (this stack's own answer
    /// included when it is a target), as a backup distributor does after a takeover.
    pub fn rebuild(
        &mut self,
        dvipa: Ipv4Addr,
        answers: &[(Ipv4Addr, TargetAnswer)],
    ) -> RebuildStats {
        self.forget_dvipa(dvipa);
        let mut total = RebuildStats::default();
        for (from, answer) in answers.iter().filter(|(_, a)| a.dvipa == dvipa) {
            let stats = self.merge_answer(*from, answer);
            total.listeners += stats.listeners;
            total.connections += stats.connections;
            total.skipped += stats.skipped;
        }
        total
    }

    /// Decides where an inbound IPv4 packet goes, and keeps the CRT up to date: a connection
    /// request gets a target (by timed affinity, OPTLOCAL, then DISTMETHOD), a RST removes its
    /// connection, a FIN marks it. `origin` tells where the packet came from: a request over XCF
    /// comes from a client on that stack (OPTLOCAL).
    pub fn inbound(&mut self, now: Instant, origin: Origin, packet: &[u8]) -> Deliver {
        let segment = match parse(packet) {
            Err(_) => return Deliver::Drop(DropReason::Malformed),
            Ok(Inbound::Tcp(segment)) => segment,
            Ok(Inbound::Fragment { dst }) => {
                return if self.configs.iter().any(|c| c.dvipa == dst) {
                    Deliver::Drop(DropReason::Fragment)
                } else {
                    Deliver::Local
                };
            }
            Ok(Inbound::Other { .. }) => return Deliver::Local,
        };
        let dvipa = *segment.conn.local.ip();
        let port = segment.conn.local.port();
        if self.config_for(dvipa, port).is_none() {
            return Deliver::Local;
        }
        match self.crt.get(&segment.conn) {
            Some(route) if !(segment.is_connection_request() && route.client_fin) => {
                if segment.rst {
                    self.end(now, &segment.conn);
                } else if segment.fin {
                    self.crt.mark_client_fin(&segment.conn);
                }
                self.to(route.xcf)
            }
            Some(_) => {
                // A new SYN on a 4-tuple whose old connection the client closed: start over.
                self.end(now, &segment.conn);
                self.connect(now, origin, &segment)
            }
            None if segment.is_connection_request() => self.connect(now, origin, &segment),
            None if self.is_rebuilding(dvipa) => Deliver::Drop(DropReason::Rebuilding),
            // Not a routed connection: the local stack answers it (with a RST if it has none).
            None => Deliver::Local,
        }
    }

    fn to(&self, xcf: Ipv4Addr) -> Deliver {
        if xcf == self.local_xcf {
            Deliver::Local
        } else {
            Deliver::Forward { xcf }
        }
    }

    fn connect(&mut self, now: Instant, origin: Origin, segment: &Segment) -> Deliver {
        let dvipa = *segment.conn.local.ip();
        let port = segment.conn.local.port();
        let client_stack = match origin {
            Origin::Xcf(xcf) => Some(xcf),
            Origin::Lan => None,
        };
        let Some(xcf) = self.select(now, dvipa, port, *segment.conn.foreign.ip(), client_stack)
        else {
            return Deliver::Drop(DropReason::NoTarget);
        };
        self.crt.insert(segment.conn, xcf);
        let entry = self.dpt.entry(DptKey { dvipa, port, xcf });
        entry.total_conn += 1;
        entry.active_conn += 1;
        if let Some(seconds) = self.config_for(dvipa, port).and_then(|c| c.timed_affinity) {
            let key = AffinityKey {
                dvipa,
                port,
                client: *segment.conn.foreign.ip(),
            };
            self.affinities.connection_started(key, xcf, seconds);
        }
        self.to(xcf)
    }

    /// The targets of a DVIPA and port as the selection sees them.
    pub fn candidates(&self, dvipa: Ipv4Addr, port: u16) -> Vec<Candidate> {
        let Some(config) = self.config_for(dvipa, port) else {
            return Vec::new();
        };
        self.dpt
            .targets(dvipa, port)
            .filter_map(|(key, entry)| {
                let role = config.target(key.xcf)?;
                let wlm = u32::from(self.wlm_weight(key)) * u32::from(entry.health.tsr) / 100;
                Some(Candidate {
                    xcf: key.xcf,
                    available: entry.ready > 0 && !self.is_quiesced(key),
                    healthy: entry.health.is_healthy(),
                    active: entry.active_conn,
                    weight: role.weight,
                    wlm,
                    server_type: role.server_type,
                })
            })
            .collect()
    }

    /// Chooses the target of a new connection from `client` to `dvipa`:`port`; `client_stack`
    /// is the sysplex stack the client runs on, if any.
    fn select(
        &mut self,
        now: Instant,
        dvipa: Ipv4Addr,
        port: u16,
        client: Ipv4Addr,
        client_stack: Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        let config = self.config_for(dvipa, port)?.clone();
        let candidates = self.candidates(dvipa, port);
        let available = |xcf: Ipv4Addr| candidates.iter().find(|c| c.xcf == xcf && c.available);
        if config.timed_affinity.is_some() {
            let key = AffinityKey {
                dvipa,
                port,
                client,
            };
            if let Some(affinity) = self.affinities.get(&key, now)
                && available(affinity.xcf).is_some()
            {
                return Some(affinity.xcf);
            }
        }
        if let (Some(factor), Some(local)) = (config.opt_local, client_stack.and_then(available)) {
            let best = candidates
                .iter()
                .filter(|c| c.available)
                .map(|c| c.wlm)
                .max()
                .unwrap_or(0);
            if factor == 0 || (local.wlm > 0 && local.wlm * u32::from(factor) >= best) {
                return Some(local.xcf);
            }
        }
        let slot = (dvipa, port);
        let last = self.last.get(&slot).copied();
        let choice = match config.method {
            DistMethod::RoundRobin => select::round_robin(&candidates, last),
            DistMethod::WeightedActive => select::weighted_active(&candidates),
            DistMethod::HotStandby {
                auto_switch_back,
                health_switch,
            } => {
                let current = self.standby.get(&slot).copied();
                let choice =
                    select::hot_standby(&candidates, current, auto_switch_back, health_switch);
                if let Some(xcf) = choice {
                    self.standby.insert(slot, xcf);
                }
                choice
            }
            DistMethod::BaseWlm { .. } | DistMethod::ServerWlm { .. } => {
                select::wlm(&candidates, self.credit.entry(slot).or_default(), last)
            }
        }?;
        self.last.insert(slot, choice);
        Some(choice)
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
