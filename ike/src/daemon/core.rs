//! The sans-IO daemon: IKE SAs by SPI, responders behind cookies under load, timers, tunnel
//! IDs and generations, INITIAL_CONTACT, rekeys, and the messages for the stack.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use rand::{CryptoRng, RngCore};

use super::message::{DaemonInput, DynamicTunnel, ToStack};
use super::peer::{ActivationMethod, Peer};
use super::takeover::{self, TakeoverRefusal};
use super::wireshark::KeyTables;
use crate::crypto::{IkeSuite, Role};
use crate::sa::{
    Action, CloseReason, CookieCheck, CookieJar, IkeSa, IkeSaSummary, Received, SaError,
};
use crate::swsa::{PolicyNames, RestartRecord};
use crate::wire::{
    ExchangeType, Header, Identity, Ipv4Range, Message, NAT_T_PORT, NotifyType, Port4500,
    classify_port_4500,
};

/// Half-open responder SAs above which IKE_SA_INIT requests must carry a cookie.
const DEFAULT_HALF_OPEN_LIMIT: usize = 32;

/// Counters of the daemon, for displays and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaemonStats {
    /// Datagrams handed in.
    pub datagrams_in: u64,
    /// Datagrams handed out.
    pub datagrams_out: u64,
    /// Datagrams dropped: unparsable, for no known SA, or refused by an SA.
    pub datagrams_dropped: u64,
    /// Cookie challenges sent instead of creating a responder SA.
    pub cookies_sent: u64,
    /// IKE_SA_INIT requests from addresses no peer is configured for.
    pub no_policy: u64,
}

/// One IKE tunnel as `ipsec -k display` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeTunnelView {
    /// `Kn`.
    pub id: u32,
    /// Its generation.
    pub generation: u32,
    /// The policy names.
    pub names: PolicyNames,
    /// How it came to be.
    pub activation: ActivationMethod,
    /// Whether we initiated it.
    pub role: Role,
    /// (SPIi, SPIr).
    pub spis: (u64, u64),
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
    /// Our identity.
    pub local_id: Identity,
    /// The peer's identity.
    pub remote_id: Identity,
    /// The negotiated algorithms, once IKE_SA_INIT is done.
    pub suite: Option<IkeSuite>,
    /// Whether it is authenticated and usable (else still negotiating).
    pub established: bool,
    /// Whether NAT traversal (UDP 4500, UDP-encapsulated ESP) is in use.
    pub udp_encapsulation: bool,
    /// When it was established.
    pub established_at: Option<Instant>,
    /// The IKE SA rekey time of the policy.
    pub lifetime: Option<Duration>,
    /// Its CHILD SAs.
    pub dynamic_tunnels: Vec<DynamicTunnel>,
}

/// One IKE SA and what the daemon knows about it.
#[derive(Debug)]
struct Entry {
    sa: IkeSa,
    id: u32,
    generation: u32,
    names: PolicyNames,
    activation: ActivationMethod,
    established_at: Option<Instant>,
    /// Whether its keys went into the key tables.
    keys_exported: bool,
    /// Takeover: selectors (ours, the peer's) of the record's further phase 2 SAs, still to
    /// be negotiated with CREATE_CHILD_SA.
    further_children: VecDeque<(Ipv4Range, Ipv4Range)>,
    /// The selectors of the CHILD SA being negotiated from `further_children`.
    requested_child: Option<(Ipv4Range, Ipv4Range)>,
}

impl Entry {
    /// The SPI this daemon chose for the SA.
    fn our_spi(&self) -> u64 {
        let (spi_i, spi_r) = self.sa.spis();
        match self.sa.role() {
            Role::Initiator => spi_i,
            Role::Responder => spi_r,
        }
    }
}

/// The IKE daemon of one stack. See the module documentation.
#[derive(Debug)]
pub struct IkeDaemon<R> {
    peers: Vec<Peer>,
    rng: R,
    cookies: CookieJar,
    half_open_limit: usize,
    entries: BTreeMap<u64, Entry>,
    by_spi: HashMap<u64, u64>,
    /// Responder SAs by the initiator's SPI and address, for retransmitted IKE_SA_INITs.
    responders: HashMap<(u64, Ipv4Addr), u64>,
    /// Responder SAs not yet established (what the cookie threshold counts).
    half_open: HashSet<u64>,
    children: HashMap<u32, DynamicTunnel>,
    /// The restart record last reported for each IKE tunnel `Kn`, with its local address.
    records: BTreeMap<u32, (Ipv4Addr, RestartRecord)>,
    next_entry: u64,
    next_ike_tunnel: u32,
    next_dynamic_tunnel: u32,
    out: Vec<ToStack>,
    stats: DaemonStats,
    key_tables: Option<KeyTables>,
}

impl<R: RngCore + CryptoRng> IkeDaemon<R> {
    /// A daemon for `peers`, with its random source.
    pub fn new(peers: Vec<Peer>, mut rng: R) -> Self {
        let cookies = CookieJar::new(&mut rng);
        Self {
            peers,
            rng,
            cookies,
            half_open_limit: DEFAULT_HALF_OPEN_LIMIT,
            entries: BTreeMap::new(),
            by_spi: HashMap::new(),
            responders: HashMap::new(),
            half_open: HashSet::new(),
            children: HashMap::new(),
            records: BTreeMap::new(),
            next_entry: 0,
            next_ike_tunnel: 1,
            next_dynamic_tunnel: 1,
            out: Vec::new(),
            stats: DaemonStats::default(),
            key_tables: None,
        }
    }

    /// Records the keys of every IKE SA and CHILD SA negotiated from now on for Wireshark
    /// (off by default); the shell writes them out, see [`super::shell::spawn_exporting_keys`].
    pub fn record_keys(&mut self) {
        self.key_tables.get_or_insert_with(KeyTables::default);
    }

    /// The recorded keys, when [`IkeDaemon::record_keys`] was called.
    pub fn key_tables(&self) -> Option<&KeyTables> {
        self.key_tables.as_ref()
    }

    /// Sets how many half-open responder SAs are tolerated before cookies are required
    /// (0: always require them).
    pub fn set_half_open_limit(&mut self, limit: usize) {
        self.half_open_limit = limit;
    }

    /// Starts the tunnels of every peer marked `autoactivate`.
    pub fn start(&mut self, now: Instant) {
        for index in 0..self.peers.len() {
            if self.peers.get(index).is_some_and(|p| p.autoactivate)
                && let Err(error) = self.initiate(now, index, ActivationMethod::Autoact)
            {
                tracing::warn!(%error, "IKE tunnel not started");
            }
        }
    }

    /// Handles one input from the stack.
    pub fn handle(&mut self, now: Instant, input: DaemonInput) {
        let result = match input {
            DaemonInput::Datagram { from, to, bytes } => {
                self.handle_datagram(now, from, to, &bytes);
                Ok(())
            }
            DaemonInput::Initiate(peer) => {
                self.initiate(now, peer, ActivationMethod::User).map(|_| ())
            }
            DaemonInput::DeleteIkeTunnel(id) => self.delete_ike_tunnel(now, id),
            DaemonInput::RekeyChild(spi) => self.rekey_child(now, spi),
            DaemonInput::Takeover(records) => {
                self.take_over(now, records);
                Ok(())
            }
            DaemonInput::DeleteLocal {
                local,
                notify_peers,
            } => {
                self.delete_local(now, local, notify_peers);
                Ok(())
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "IKE daemon command failed");
        }
    }

    /// Starts an IKE SA to peer `index` from its local address; returns its `Kn` number.
    ///
    /// # Errors
    /// [`SaError::Protocol`] for an unknown peer, or what [`IkeSa::initiate`] returns.
    pub fn initiate(
        &mut self,
        now: Instant,
        index: usize,
        activation: ActivationMethod,
    ) -> Result<u32, SaError> {
        let peer = self
            .peers
            .get(index)
            .ok_or(SaError::Protocol("no such peer"))?;
        let local = SocketAddrV4::new(peer.local, crate::wire::IKE_PORT);
        let remote = SocketAddrV4::new(peer.remote, crate::wire::IKE_PORT);
        let (config, names) = (peer.config.clone(), peer.names.clone());
        let sa = IkeSa::initiate(config, now, &mut self.rng, local, remote)?;
        let id = self.take_ike_tunnel_id();
        let serial = self.insert(sa, id, 1, names, activation);
        self.settle(now, serial);
        Ok(id)
    }

    /// SWSA takeover: renegotiates every restart record as initiator, from the record's local
    /// address to its remote one, with the same identities, the record's algorithms first,
    /// INITIAL_CONTACT (so the peer replaces what it held for the old owner) and the key,
    /// policy names and timers of the configured peer with the same addresses and identities.
    /// The first phase 2 SA is negotiated in IKE_AUTH, the others with CREATE_CHILD_SA once
    /// the IKE SA is up. The new tunnels show `ActivationMethod::Takeover`. Each peer runs on
    /// its own: one that does not answer only times out its own tunnel.
    ///
    /// Returns, for each record in order, its new `Kn` or why it is refused; each refusal is
    /// also reported to the stack as [`ToStack::TakeoverRefused`] and logged.
    pub fn take_over(
        &mut self,
        now: Instant,
        records: Vec<RestartRecord>,
    ) -> Vec<Result<u32, TakeoverRefusal>> {
        records
            .into_iter()
            .map(|record| {
                let started = self.renegotiate(now, &record);
                if let Err(refusal) = &started {
                    let remote = record.phase1.remote_endpoint;
                    tracing::warn!(%remote, %refusal, "SWSA takeover refused");
                    self.out.push(ToStack::TakeoverRefused {
                        remote,
                        reason: refusal.to_string(),
                    });
                }
                started
            })
            .collect()
    }

    fn renegotiate(
        &mut self,
        now: Instant,
        record: &RestartRecord,
    ) -> Result<u32, TakeoverRefusal> {
        let plan = takeover::plan(&self.peers, record)?;
        let sa = IkeSa::initiate(plan.config, now, &mut self.rng, plan.local, plan.remote)?;
        let id = self.take_ike_tunnel_id();
        let serial = self.insert(sa, id, 1, plan.names, ActivationMethod::Takeover);
        if let Some(entry) = self.entries.get_mut(&serial) {
            entry.further_children = plan.further_children;
        }
        self.settle(now, serial);
        Ok(id)
    }

    /// Removes every IKE SA whose local address is `local` (a DVIPA leaving this stack), with
    /// its CHILD SAs: the stack gets `DeleteChildSa`, `IkeTunnelDown` and a `None` restart
    /// record for each. With `notify_peers` each established SA first sends its peer an
    /// INFORMATIONAL DELETE (planned transfer); without, the SAs go silently, so that a peer
    /// that already renegotiated with the new owner is not disturbed.
    pub fn delete_local(&mut self, now: Instant, local: Ipv4Addr, notify_peers: bool) {
        let leaving: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| *e.sa.local().ip() == local)
            .map(|(s, _)| *s)
            .collect();
        for serial in leaving {
            if let Some(entry) = self.entries.get_mut(&serial)
                && let Err(error) = entry.sa.drop_locally(&mut self.rng, notify_peers)
            {
                tracing::warn!(%error, %local, "IKE SA DELETE not sent");
            }
            self.settle(now, serial);
        }
    }

    /// Deletes IKE tunnel `Kn` (its newest generation), telling the peer.
    ///
    /// # Errors
    /// [`SaError::Protocol`] for an unknown tunnel, or what [`IkeSa::delete`] returns.
    pub fn delete_ike_tunnel(&mut self, now: Instant, id: u32) -> Result<(), SaError> {
        let serial = self
            .entries
            .iter()
            .filter(|(_, e)| e.id == id)
            .max_by_key(|(_, e)| e.generation)
            .map(|(s, _)| *s)
            .ok_or(SaError::Protocol("no such IKE tunnel"))?;
        if let Some(entry) = self.entries.get_mut(&serial) {
            entry.sa.delete(now, &mut self.rng)?;
        }
        self.settle(now, serial);
        Ok(())
    }

    /// Rekeys the CHILD SA whose inbound SPI is `inbound_spi`.
    ///
    /// # Errors
    /// [`SaError::Protocol`] for an unknown CHILD SA, or what [`IkeSa::rekey_child`] returns.
    pub fn rekey_child(&mut self, now: Instant, inbound_spi: u32) -> Result<(), SaError> {
        let serial = self
            .entries
            .iter()
            .find(|(_, e)| e.sa.children().iter().any(|c| c.inbound_spi == inbound_spi))
            .map(|(s, _)| *s)
            .ok_or(SaError::Protocol("no such CHILD SA"))?;
        if let Some(entry) = self.entries.get_mut(&serial) {
            entry.sa.rekey_child(now, &mut self.rng, inbound_spi)?;
        }
        self.settle(now, serial);
        Ok(())
    }

    /// Handles a datagram that arrived from `from` at `to` (port 500, or 4500 with the
    /// non-ESP marker still on it).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        to: SocketAddrV4,
        datagram: &[u8],
    ) {
        self.stats.datagrams_in += 1;
        let ike = if to.port() == NAT_T_PORT {
            match classify_port_4500(datagram) {
                Ok(Port4500::Ike(ike)) => ike,
                _ => return self.drop_datagram("not IKE on port 4500"),
            }
        } else {
            datagram
        };
        let Ok(header) = Header::new_checked(ike) else {
            return self.drop_datagram("truncated IKE header");
        };
        let (spi_i, spi_r) = (header.initiator_spi(), header.responder_spi());
        if let Some(serial) = self.find(spi_i, spi_r, from) {
            let result = self
                .entries
                .get_mut(&serial)
                .map(|e| e.sa.handle_datagram(now, &mut self.rng, from, to, datagram));
            match result {
                Some(Ok(Received::Ignored(why))) => self.drop_datagram(why),
                Some(Err(error)) => {
                    tracing::debug!(%error, %from, "IKE datagram refused");
                    self.stats.datagrams_dropped += 1;
                }
                _ => {}
            }
            self.settle(now, serial);
            return;
        }
        let flags = header.flags();
        if header.exchange_type() != ExchangeType::IKE_SA_INIT
            || spi_r != 0
            || flags.response()
            || header.message_id() != 0
        {
            return self.drop_datagram("no IKE SA for these SPIs");
        }
        self.respond(now, from, to, ike, datagram);
    }

    /// Creates a responder SA for a new IKE_SA_INIT request, behind a cookie under load.
    fn respond(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        to: SocketAddrV4,
        ike: &[u8],
        datagram: &[u8],
    ) {
        let Some(peer) = self
            .peers
            .iter()
            .find(|p| p.local == *to.ip() && p.remote == *from.ip())
        else {
            self.stats.no_policy += 1;
            return self.drop_datagram("no KeyExchangeRule for this peer");
        };
        let (config, names) = (peer.config.clone(), peer.names.clone());
        if self.half_open.len() >= self.half_open_limit {
            let Ok(request) = Message::parse(ike) else {
                return self.drop_datagram("unparsable IKE_SA_INIT");
            };
            if let CookieCheck::Challenge(bytes) = self.cookies.check(&request, from) {
                self.stats.cookies_sent += 1;
                return self.send(to, from, bytes);
            }
        }
        match IkeSa::respond(config, now, &mut self.rng, from, to, datagram) {
            Ok(sa) => {
                let id = self.take_ike_tunnel_id();
                let serial = self.insert(sa, id, 1, names, ActivationMethod::Remote);
                self.settle(now, serial);
            }
            Err(error) => {
                tracing::debug!(%error, %from, "IKE_SA_INIT refused");
                self.stats.datagrams_dropped += 1;
            }
        }
    }

    /// The SA a datagram with these SPIs belongs to.
    fn find(&self, spi_i: u64, spi_r: u64, from: SocketAddrV4) -> Option<u64> {
        let matches = |serial: &u64| {
            self.entries.get(serial).is_some_and(|e| {
                let (i, r) = e.sa.spis();
                i == spi_i && (r == spi_r || spi_r == 0 || r == 0)
            })
        };
        if let Some(serial) = self.by_spi.get(&spi_r).filter(|s| matches(s)) {
            return Some(*serial);
        }
        if let Some(serial) = self.by_spi.get(&spi_i).filter(|s| matches(s)) {
            return Some(*serial);
        }
        // A retransmitted IKE_SA_INIT request for a responder SA we already created.
        if spi_r != 0 {
            return None;
        }
        self.responders.get(&(spi_i, *from.ip())).copied()
    }

    /// When [`IkeDaemon::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| e.sa.poll_timeout())
            .min()
    }

    /// Runs the timers that are due: retransmissions, rekeys, liveness, give-ups.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.sa.poll_timeout().is_some_and(|at| at <= now))
            .map(|(s, _)| *s)
            .collect();
        for serial in due {
            if let Some(entry) = self.entries.get_mut(&serial)
                && let Err(error) = entry.sa.handle_timeout(now, &mut self.rng)
            {
                tracing::warn!(%error, "IKE SA timer failed");
            }
            self.settle(now, serial);
        }
    }

    /// Every message for the stack since the last call, in order.
    pub fn drain(&mut self) -> Vec<ToStack> {
        std::mem::take(&mut self.out)
    }

    /// The counters.
    pub fn stats(&self) -> DaemonStats {
        self.stats
    }

    /// The configured peers.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// The IKE tunnels, by `Kn` then generation.
    pub fn ike_tunnels(&self) -> Vec<IkeTunnelView> {
        let mut views: Vec<IkeTunnelView> = self
            .entries
            .values()
            .map(|e| {
                let config = e.sa.config();
                IkeTunnelView {
                    id: e.id,
                    generation: e.generation,
                    names: e.names.clone(),
                    activation: e.activation,
                    role: e.sa.role(),
                    spis: e.sa.spis(),
                    local: e.sa.local(),
                    remote: e.sa.remote(),
                    local_id: config.local_id.clone(),
                    remote_id: config.remote_id.clone(),
                    suite: e.sa.suite(),
                    established: e.sa.is_established(),
                    udp_encapsulation: e.sa.udp_encapsulation(),
                    established_at: e.established_at,
                    lifetime: config.ike_rekey_time,
                    dynamic_tunnels: e
                        .sa
                        .children()
                        .iter()
                        .filter_map(|c| self.children.get(&c.inbound_spi).copied())
                        .collect(),
                }
            })
            .collect();
        views.sort_by_key(|v| (v.id, v.generation));
        views
    }

    /// The SWSA restart record of every IKE tunnel that has one (established, with at least
    /// one CHILD SA), with its `Kn` number: the records last reported with
    /// [`ToStack::RestartRecordChanged`].
    pub fn restart_records(&self) -> Vec<(u32, RestartRecord)> {
        self.records
            .iter()
            .map(|(id, (_, record))| (*id, record.clone()))
            .collect()
    }

    /// Reports the restart record of IKE tunnel `Kn` if it changed: the newest established
    /// generation with CHILD SAs gives it, and it is gone when there is none. The generation
    /// of the record grows by one at every change.
    fn refresh_record(&mut self, id: u32) {
        let current = self
            .entries
            .values()
            .filter(|e| {
                e.id == id
                    && e.established_at.is_some()
                    && e.sa.closed().is_none()
                    && !e.sa.children().is_empty()
            })
            .max_by_key(|e| e.generation)
            .and_then(|e| RestartRecord::of(&e.sa, &e.names, 1).map(|r| (*e.sa.local().ip(), r)));
        let previous = self.records.get(&id);
        let record = match (previous, current) {
            (None, None) => return,
            (Some(&(local, _)), None) => {
                self.records.remove(&id);
                self.out.push(ToStack::RestartRecordChanged {
                    ike_tunnel: id,
                    local,
                    record: None,
                });
                return;
            }
            (Some((_, old)), Some((local, mut record))) => {
                record.generation = old.generation;
                if *old == record {
                    return;
                }
                record.generation = old.generation.wrapping_add(1);
                (local, record)
            }
            (None, Some(current)) => current,
        };
        self.out.push(ToStack::RestartRecordChanged {
            ike_tunnel: id,
            local: record.0,
            record: Some(Box::new(record.1.clone())),
        });
        self.records.insert(id, record);
    }

    /// Takeover: once the IKE SA is up and idle, negotiates the next further phase 2 SA of
    /// its record (one exchange at a time), warning about one the peer refused.
    fn next_takeover_child(&mut self, now: Instant, serial: u64) {
        let Some(entry) = self.entries.get_mut(&serial) else {
            return;
        };
        if !entry.sa.is_idle() {
            return;
        }
        if let Some((local_ts, remote_ts)) = entry.requested_child.take()
            && !entry
                .sa
                .children()
                .iter()
                .any(|c| local_ts.contains(&c.local_ts) && remote_ts.contains(&c.remote_ts))
        {
            tracing::warn!(
                remote = %entry.sa.remote(),
                %local_ts,
                %remote_ts,
                "SWSA takeover: the peer refused a phase 2 SA of the record"
            );
        }
        let Some(selectors) = entry.further_children.pop_front() else {
            return;
        };
        match entry.sa.create_child_for(now, &mut self.rng, selectors) {
            Ok(()) => entry.requested_child = Some(selectors),
            Err(error) => tracing::warn!(%error, "SWSA takeover: phase 2 SA not requested"),
        }
    }

    fn take_ike_tunnel_id(&mut self) -> u32 {
        let id = self.next_ike_tunnel;
        self.next_ike_tunnel += 1;
        id
    }

    fn insert(
        &mut self,
        sa: IkeSa,
        id: u32,
        generation: u32,
        names: PolicyNames,
        activation: ActivationMethod,
    ) -> u64 {
        let serial = self.next_entry;
        self.next_entry += 1;
        let entry = Entry {
            sa,
            id,
            generation,
            names,
            activation,
            established_at: None,
            keys_exported: false,
            further_children: VecDeque::new(),
            requested_child: None,
        };
        self.by_spi.insert(entry.our_spi(), serial);
        if entry.sa.role() == Role::Responder {
            self.responders
                .insert((entry.sa.spis().0, *entry.sa.remote().ip()), serial);
            if !entry.sa.is_established() {
                self.half_open.insert(serial);
            }
        }
        self.entries.insert(serial, entry);
        serial
    }

    fn remove(&mut self, serial: u64) {
        self.half_open.remove(&serial);
        let Some(entry) = self.entries.remove(&serial) else {
            return;
        };
        if self.by_spi.get(&entry.our_spi()) == Some(&serial) {
            self.by_spi.remove(&entry.our_spi());
        }
        let key = (entry.sa.spis().0, *entry.sa.remote().ip());
        if self.responders.get(&key) == Some(&serial) {
            self.responders.remove(&key);
        }
    }

    fn drop_datagram(&mut self, why: &'static str) {
        tracing::debug!(why, "IKE datagram dropped");
        self.stats.datagrams_dropped += 1;
    }

    fn send(&mut self, from: SocketAddrV4, to: SocketAddrV4, bytes: Vec<u8>) {
        self.stats.datagrams_out += 1;
        self.out.push(ToStack::SendDatagram { from, to, bytes });
    }

    /// Turns the actions of one SA into messages for the stack, then reports its restart
    /// record if that changed.
    fn settle(&mut self, now: Instant, serial: u64) {
        self.next_takeover_child(now, serial);
        let Some(entry) = self.entries.get_mut(&serial) else {
            return;
        };
        if let Some(tables) = &mut self.key_tables
            && !entry.keys_exported
            && let (Some(suite), Some(keys)) = (entry.sa.suite(), entry.sa.keys())
        {
            tables.add_ike_sa(entry.sa.spis(), &suite, keys);
            entry.keys_exported = true;
        }
        let actions = entry.sa.drain_actions();
        let (id, generation, activation) = (entry.id, entry.generation, entry.activation);
        let names = entry.names.clone();
        let mut closed = false;
        for action in actions {
            match action {
                Action::SendDatagram { from, to, bytes } => self.send(from, to, bytes),
                Action::IkeSaEstablished(summary) => {
                    self.established(serial, now, id, generation, summary, activation)
                }
                Action::InstallChildSa(install) => {
                    let tunnel = match install.replaces.and_then(|old| self.children.get(&old)) {
                        Some(old) => DynamicTunnel {
                            generation: old.generation + 1,
                            ike_tunnel: id,
                            ..*old
                        },
                        None => {
                            let yn = self.next_dynamic_tunnel;
                            self.next_dynamic_tunnel += 1;
                            DynamicTunnel {
                                id: yn,
                                generation: 1,
                                ike_tunnel: id,
                                activation,
                            }
                        }
                    };
                    self.children.insert(install.inbound_spi, tunnel);
                    if let Some(tables) = &mut self.key_tables {
                        tables.add_child_sa(&install);
                    }
                    self.out.push(ToStack::InstallChildSa {
                        tunnel,
                        install: Box::new(install),
                    });
                }
                Action::DeleteChildSa {
                    inbound_spi,
                    outbound_spi,
                } => {
                    self.children.remove(&inbound_spi);
                    self.out.push(ToStack::DeleteChildSa {
                        inbound_spi,
                        outbound_spi,
                    });
                }
                Action::InitialContact {
                    local_id,
                    remote_id,
                } => self.drop_duplicates(serial, &local_id, &remote_id),
                Action::IkeSaRekeyed { new, .. } => {
                    let names = names.clone();
                    let new_serial = self.insert(*new, id, generation + 1, names, activation);
                    // The new generation is established as the rekey completes.
                    if let Some(entry) = self.entries.get_mut(&new_serial) {
                        entry.established_at = Some(now);
                    }
                    self.settle(now, new_serial);
                }
                Action::IkeSaClosed(reason) => {
                    closed = true;
                    self.out.push(ToStack::IkeTunnelDown {
                        id,
                        generation,
                        reason,
                    });
                }
            }
        }
        if closed {
            self.remove(serial);
        }
        self.refresh_record(id);
    }

    fn established(
        &mut self,
        serial: u64,
        now: Instant,
        id: u32,
        generation: u32,
        summary: IkeSaSummary,
        activation: ActivationMethod,
    ) {
        self.half_open.remove(&serial);
        let mut sent_initial_contact = false;
        if let Some(entry) = self.entries.get_mut(&serial) {
            entry.established_at = Some(now);
            // A rekey gives the SA new SPIs: index it under ours.
            let spi = entry.our_spi();
            self.by_spi.insert(spi, serial);
            sent_initial_contact =
                entry.sa.role() == Role::Initiator && entry.sa.config().initial_contact;
        }
        let ids = (summary.local_id.clone(), summary.remote_id.clone());
        self.out.push(ToStack::IkeTunnelUp {
            id,
            generation,
            summary,
            activation,
        });
        // The peer accepted our INITIAL_CONTACT and dropped every other IKE SA with us (RFC
        // 7296 §2.4), such as one it started before a takeover renegotiated: ours go too.
        if sent_initial_contact {
            self.drop_duplicates(serial, &ids.0, &ids.1);
        }
    }

    /// INITIAL_CONTACT: every other IKE SA between these identities is stale; it goes without
    /// a DELETE (the peer no longer knows it), and so do its CHILD SAs.
    fn drop_duplicates(&mut self, keep: u64, local_id: &Identity, remote_id: &Identity) {
        let stale: Vec<u64> = self
            .entries
            .iter()
            .filter(|(s, e)| {
                **s != keep
                    && e.sa.config().local_id == *local_id
                    && e.sa.config().remote_id == *remote_id
            })
            .map(|(s, _)| *s)
            .collect();
        for serial in stale {
            let Some(entry) = self.entries.get(&serial) else {
                continue;
            };
            let (id, generation) = (entry.id, entry.generation);
            let children: Vec<(u32, u32)> = entry
                .sa
                .children()
                .iter()
                .map(|c| (c.inbound_spi, c.outbound_spi))
                .collect();
            for (inbound_spi, outbound_spi) in children {
                self.children.remove(&inbound_spi);
                self.out.push(ToStack::DeleteChildSa {
                    inbound_spi,
                    outbound_spi,
                });
            }
            self.out.push(ToStack::IkeTunnelDown {
                id,
                generation,
                reason: CloseReason::Notify(NotifyType::INITIAL_CONTACT),
            });
            self.remove(serial);
            self.refresh_record(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    use super::*;
    use crate::daemon::ProposalFamily;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn peer(local: Ipv4Addr, remote: Ipv4Addr, autoactivate: bool) -> Peer {
        let mut peer = Peer::host_to_host(
            local,
            remote,
            b"daemon-test-secret",
            ProposalFamily::AesGcm16X25519,
        );
        peer.autoactivate = autoactivate;
        peer
    }

    struct Lab {
        now: Instant,
        a: IkeDaemon<ChaCha20Rng>,
        b: IkeDaemon<ChaCha20Rng>,
        a_events: Vec<ToStack>,
        b_events: Vec<ToStack>,
    }

    impl Lab {
        fn new() -> Self {
            Self {
                now: Instant::now(),
                a: IkeDaemon::new(vec![peer(A, B, true)], ChaCha20Rng::seed_from_u64(1)),
                b: IkeDaemon::new(vec![peer(B, A, false)], ChaCha20Rng::seed_from_u64(2)),
                a_events: Vec::new(),
                b_events: Vec::new(),
            }
        }

        /// Moves datagrams between the daemons until both are quiet.
        fn run(&mut self) {
            loop {
                let (from_a, from_b) = (self.a.drain(), self.b.drain());
                if from_a.is_empty() && from_b.is_empty() {
                    return;
                }
                for m in from_a {
                    match m {
                        ToStack::SendDatagram { from, to, bytes } => {
                            self.b.handle_datagram(self.now, from, to, &bytes)
                        }
                        other => self.a_events.push(other),
                    }
                }
                for m in from_b {
                    match m {
                        ToStack::SendDatagram { from, to, bytes } => {
                            self.a.handle_datagram(self.now, from, to, &bytes)
                        }
                        other => self.b_events.push(other),
                    }
                }
            }
        }
    }

    fn installs(events: &[ToStack]) -> Vec<DynamicTunnel> {
        events
            .iter()
            .filter_map(|e| match e {
                ToStack::InstallChildSa { tunnel, .. } => Some(*tunnel),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn autoactivated_tunnel_comes_up_with_k1_and_y1_on_both_sides() {
        let mut lab = Lab::new();
        lab.a.start(lab.now);
        lab.run();
        let (ka, kb) = (lab.a.ike_tunnels(), lab.b.ike_tunnels());
        assert_eq!(ka.len(), 1);
        assert!(ka[0].established && kb[0].established);
        assert_eq!((ka[0].id, ka[0].activation), (1, ActivationMethod::Autoact));
        assert_eq!(kb[0].activation, ActivationMethod::Remote);
        assert!(ka[0].udp_encapsulation, "NAT-T forced, IKE on 4500");
        let (ya, yb) = (installs(&lab.a_events), installs(&lab.b_events));
        assert_eq!(ya.len(), 1);
        assert_eq!((ya[0].id, ya[0].generation, ya[0].ike_tunnel), (1, 1, 1));
        assert_eq!(yb.len(), 1);
        assert_eq!(lab.a.restart_records().len(), 1);
        assert_eq!(ka[0].dynamic_tunnels, ya);
    }

    #[test]
    fn a_child_rekey_keeps_the_tunnel_id_and_bumps_the_generation() {
        let mut lab = Lab::new();
        lab.a.start(lab.now);
        lab.run();
        let spi = match lab.a_events.iter().find_map(|e| match e {
            ToStack::InstallChildSa { install, .. } => Some(install.inbound_spi),
            _ => None,
        }) {
            Some(spi) => spi,
            None => panic!("no CHILD SA installed"),
        };
        lab.a.handle(lab.now, DaemonInput::RekeyChild(spi));
        lab.run();
        let ya = installs(&lab.a_events);
        assert_eq!(ya.len(), 2);
        assert_eq!((ya[1].id, ya[1].generation), (1, 2));
        assert!(lab.a_events.iter().any(|e| matches!(
            e,
            ToStack::DeleteChildSa { inbound_spi, .. } if *inbound_spi == spi
        )));
        assert_eq!(
            installs(&lab.b_events).last().map(|t| t.generation),
            Some(2)
        );
    }

    #[test]
    fn a_responder_under_load_asks_for_a_cookie_and_the_initiator_retries_with_it() {
        let mut lab = Lab::new();
        lab.b.set_half_open_limit(0);
        lab.a.start(lab.now);
        lab.run();
        assert_eq!(lab.b.stats().cookies_sent, 1);
        assert!(lab.a.ike_tunnels()[0].established);
        assert_eq!(lab.b.ike_tunnels().len(), 1);
    }

    #[test]
    fn initial_contact_drops_the_stale_tunnels_of_the_same_identities() {
        let mut lab = Lab::new();
        lab.a.start(lab.now);
        lab.run();
        // A restarts (a new daemon, as after a takeover) and initiates again.
        lab.a = IkeDaemon::new(vec![peer(A, B, true)], ChaCha20Rng::seed_from_u64(3));
        lab.a.start(lab.now);
        lab.run();
        let kb = lab.b.ike_tunnels();
        assert_eq!(kb.len(), 1, "the first IKE SA was dropped");
        assert_eq!(kb[0].id, 2);
        assert!(lab.b_events.iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelDown {
                id: 1,
                reason: CloseReason::Notify(NotifyType::INITIAL_CONTACT),
                ..
            }
        )));
        assert_eq!(
            lab.b_events
                .iter()
                .filter(|e| matches!(e, ToStack::DeleteChildSa { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn truncated_and_unknown_datagrams_are_dropped_and_counted() {
        let mut lab = Lab::new();
        lab.a.start(lab.now);
        lab.run();
        let (from, to) = (SocketAddrV4::new(A, 4500), SocketAddrV4::new(B, 4500));
        lab.b
            .handle_datagram(lab.now, from, to, &[0, 0, 0, 0, 1, 2, 3]);
        let mut unknown = vec![0, 0, 0, 0];
        unknown.extend_from_slice(&[0x11; 28]);
        lab.b.handle_datagram(lab.now, from, to, &unknown);
        assert_eq!(lab.b.stats().datagrams_dropped, 2);
        assert!(lab.b.ike_tunnels()[0].established);
        assert!(lab.b.drain().is_empty());
    }

    #[test]
    fn deleting_a_tunnel_closes_it_on_both_sides() {
        let mut lab = Lab::new();
        lab.a.start(lab.now);
        lab.run();
        lab.a.handle(lab.now, DaemonInput::DeleteIkeTunnel(1));
        lab.run();
        assert!(lab.a.ike_tunnels().is_empty() && lab.b.ike_tunnels().is_empty());
        assert!(lab.b_events.iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelDown {
                reason: CloseReason::DeletedByPeer,
                ..
            }
        )));
    }

    #[test]
    fn recorded_keys_agree_on_both_ends_for_wireshark() {
        let mut lab = Lab::new();
        lab.a.record_keys();
        lab.b.record_keys();
        lab.a.start(lab.now);
        lab.run();
        let (a, b) = (
            lab.a.key_tables().expect("recording"),
            lab.b.key_tables().expect("recording"),
        );
        assert_eq!(a.ikev2_decryption_table(), b.ikev2_decryption_table());
        assert_eq!(a.ikev2_decryption_table().lines().count(), 1);
        let (a_esp, b_esp) = (a.esp_sa(), b.esp_sa());
        let (a_lines, b_lines): (Vec<&str>, Vec<&str>) =
            (a_esp.lines().collect(), b_esp.lines().collect());
        assert_eq!(a_lines.len(), 2);
        // A's inbound SA is B's outbound SA, and the other way round.
        assert_eq!((a_lines[0], a_lines[1]), (b_lines[1], b_lines[0]));
        assert!(a_lines[0].starts_with("\"IPv4\",\"192.0.2.2\",\"192.0.2.1\""));
        let spi = lab.a_events.iter().find_map(|e| match e {
            ToStack::InstallChildSa { install, .. } => Some(install.inbound_spi),
            _ => None,
        });
        lab.a
            .handle(lab.now, DaemonInput::RekeyChild(spi.expect("a CHILD SA")));
        lab.run();
        let a = lab.a.key_tables().expect("recording");
        assert_eq!(
            a.esp_sa().lines().count(),
            4,
            "the rekeyed pair is added, the old one kept"
        );
        assert_eq!(Lab::new().a.key_tables(), None, "off unless asked for");
    }

    #[test]
    fn a_retransmitted_ike_sa_init_is_answered_by_the_same_half_open_sa() {
        let mut lab = Lab::new();
        lab.a.start(lab.now);
        let Some(ToStack::SendDatagram { from, to, bytes }) = lab.a.drain().into_iter().next()
        else {
            panic!("no IKE_SA_INIT request");
        };
        lab.b.handle_datagram(lab.now, from, to, &bytes);
        let first = lab.b.drain();
        lab.b.handle_datagram(lab.now, from, to, &bytes);
        let again = lab.b.drain();
        assert_eq!(lab.b.ike_tunnels().len(), 1, "one responder SA");
        let response = |m: &[ToStack]| match m.first() {
            Some(ToStack::SendDatagram { bytes, .. }) => bytes.clone(),
            other => panic!("no response: {other:?}"),
        };
        assert_eq!(
            response(&first),
            response(&again),
            "the cached response, sent again"
        );
        assert_eq!(lab.b.half_open.len(), 1);
        for (i, datagram) in first.into_iter().enumerate() {
            if let (0, ToStack::SendDatagram { from, to, bytes }) = (i, datagram) {
                lab.a.handle_datagram(lab.now, from, to, &bytes);
            }
        }
        lab.run();
        assert!(lab.b.ike_tunnels()[0].established);
        assert!(
            lab.b.half_open.is_empty(),
            "established SAs are not half-open"
        );
    }

    /// The restart records `events` reported for `Kn`, in order.
    fn reported_records(events: &[ToStack], kn: u32) -> Vec<Option<RestartRecord>> {
        events
            .iter()
            .filter_map(|e| match e {
                ToStack::RestartRecordChanged {
                    ike_tunnel, record, ..
                } if *ike_tunnel == kn => Some(record.as_deref().cloned()),
                _ => None,
            })
            .collect()
    }

    /// Each reported record differs from the one before it and is one generation newer.
    fn assert_no_duplicates(records: &[Option<RestartRecord>]) {
        let present: Vec<&RestartRecord> = records.iter().flatten().collect();
        for (n, pair) in present.windows(2).enumerate() {
            assert_eq!(pair[1].generation, pair[0].generation + 1, "record {n}");
            let mut same = pair[1].clone();
            same.generation = pair[0].generation;
            assert_ne!(&same, pair[0], "record {n} reported twice");
        }
    }

    #[test]
    fn the_restart_record_is_reported_once_per_change_until_the_tunnel_goes() {
        let mut lab = Lab::new();
        lab.a.start(lab.now);
        lab.run();
        let up = reported_records(&lab.a_events, 1);
        assert_eq!(up.len(), 1, "established with its CHILD SA: one record");
        let first = up[0].clone().expect("a record");
        assert_eq!(first.generation, 1);
        assert_eq!(lab.a.restart_records(), vec![(1, first.clone())]);
        assert!(matches!(
            lab.a_events.last(),
            Some(ToStack::RestartRecordChanged { local: A, .. })
        ));
        assert!(lab.a_events.iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelUp {
                id: 1,
                activation: ActivationMethod::Autoact,
                ..
            }
        )));
        assert_eq!(
            reported_records(&lab.b_events, 1).len(),
            1,
            "the responder too"
        );

        let old_spi = first.phase2[0].inbound_spi;
        lab.a.handle(lab.now, DaemonInput::RekeyChild(old_spi));
        lab.run();
        let rekeyed = reported_records(&lab.a_events, 1);
        let last = rekeyed.last().cloned().flatten().expect("a record");
        assert_eq!(last.phase2.len(), 1);
        assert_ne!(last.phase2[0].inbound_spi, old_spi, "the new CHILD SA");
        assert_eq!(last.phase2[0].filter, first.phase2[0].filter);
        assert_eq!(
            (last.phase1.spi_i, last.phase1.spi_r),
            (first.phase1.spi_i, first.phase1.spi_r)
        );
        assert_no_duplicates(&rekeyed);

        lab.a.handle(lab.now, DaemonInput::DeleteIkeTunnel(1));
        lab.run();
        assert_eq!(reported_records(&lab.a_events, 1).last(), Some(&None));
        assert_eq!(reported_records(&lab.b_events, 1).last(), Some(&None));
        assert!(lab.a.restart_records().is_empty());
    }

    #[test]
    fn an_ike_sa_rekey_reports_the_record_with_the_new_spis_and_the_same_child_sa() {
        let mut lab = Lab::new();
        let mut rekeying = peer(A, B, true);
        rekeying.config.ike_rekey_time = Some(Duration::from_secs(60));
        lab.a = IkeDaemon::new(vec![rekeying], ChaCha20Rng::seed_from_u64(1));
        lab.a.start(lab.now);
        lab.run();
        let first = lab.a.restart_records().remove(0).1;
        lab.now += Duration::from_secs(61);
        lab.a.handle_timeout(lab.now);
        lab.run();
        let reported = reported_records(&lab.a_events, 1);
        assert!(
            reported.iter().all(Option::is_some),
            "the tunnel never went"
        );
        assert_no_duplicates(&reported);
        let last = reported.last().cloned().flatten().expect("a record");
        assert_eq!(lab.a.ike_tunnels()[0].generation, 2);
        assert_eq!(
            (last.phase1.spi_i, last.phase1.spi_r),
            lab.a.ike_tunnels()[0].spis
        );
        assert_ne!(last.phase1.spi_i, first.phase1.spi_i);
        assert_eq!(last.phase2[0].inbound_spi, first.phase2[0].inbound_spi);
        assert_eq!(last.phase2[0].phase1_spis, lab.a.ike_tunnels()[0].spis);
    }
}
