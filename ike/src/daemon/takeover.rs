//! SWSA takeover: how a backup stack's IKE turns a restart record read from the CF into a new
//! IKE SA it initiates, with its own configured peer supplying the shared key, the policy
//! names and the timers, and why it refuses a record it cannot renegotiate.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::peer::Peer;
use crate::crypto::CryptoError;
use crate::sa::{IkeSaConfig, SaError};
use crate::swsa::{PolicyNames, RestartRecord};
use crate::wire::{IKE_PORT, Identity, Ipv4Range};

/// Why a restart record is not renegotiated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TakeoverRefusal {
    /// No configured peer has the record's addresses and identities.
    #[error(
        "no KeyExchangeRule for {local} <-> {remote} with identities {local_id} <-> {remote_id}"
    )]
    NoMatchingPeer {
        /// The record's local (DVIPA) address.
        local: Ipv4Addr,
        /// The record's remote address.
        remote: Ipv4Addr,
        /// The record's local identity.
        local_id: Identity,
        /// The record's remote identity.
        remote_id: Identity,
    },
    /// The record holds no phase 2 SA: there is nothing to restart.
    #[error("no phase 2 SA to renegotiate")]
    NoPhase2,
    /// The record names an algorithm this IKE does not implement.
    #[error("unsupported algorithm in the record: {0}")]
    Algorithm(#[from] CryptoError),
    /// The IKE SA could not be started.
    #[error("IKE SA not started: {0}")]
    Start(#[from] SaError),
}

/// What the daemon starts for one restart record.
#[derive(Debug)]
pub(super) struct Renegotiation {
    /// The IKE SA configuration: the record's identities, algorithms and first phase 2
    /// selectors, the peer's key and timers, INITIAL_CONTACT.
    pub config: IkeSaConfig,
    /// The peer's policy names.
    pub names: PolicyNames,
    /// Where to initiate from (the record's local address, IKE port).
    pub local: SocketAddrV4,
    /// Where to initiate to (the record's remote address, IKE port).
    pub remote: SocketAddrV4,
    /// Selectors (ours, the peer's) of the further phase 2 SAs, negotiated with
    /// CREATE_CHILD_SA once the IKE SA is up.
    pub further_children: VecDeque<(Ipv4Range, Ipv4Range)>,
}

/// The configured peer that matches the record: same local and remote addresses, same
/// identities.
fn matching_peer<'a>(peers: &'a [Peer], record: &RestartRecord) -> Option<&'a Peer> {
    let p1 = &record.phase1;
    peers.iter().find(|peer| {
        peer.local == *p1.local_endpoint.ip()
            && peer.remote == *p1.remote_endpoint.ip()
            && peer.config.local_id == p1.local_id
            && peer.config.remote_id == p1.remote_id
    })
}

/// Plans the renegotiation of `record` with the peer of `peers` that matches it.
pub(super) fn plan(
    peers: &[Peer],
    record: &RestartRecord,
) -> Result<Renegotiation, TakeoverRefusal> {
    let p1 = &record.phase1;
    let peer = matching_peer(peers, record).ok_or_else(|| TakeoverRefusal::NoMatchingPeer {
        local: *p1.local_endpoint.ip(),
        remote: *p1.remote_endpoint.ip(),
        local_id: p1.local_id.clone(),
        remote_id: p1.remote_id.clone(),
    })?;
    let mut config = record
        .renegotiation_config(peer.config.psk.clone())?
        .ok_or(TakeoverRefusal::NoPhase2)?;
    // PFS, how patient to be and how often to check liveness are this stack's policy.
    config.pfs = peer.config.pfs;
    config.retransmit = peer.config.retransmit;
    config.dpd_interval = peer.config.dpd_interval;
    let further_children = record
        .phase2
        .iter()
        .skip(1)
        .map(|p2| (p2.filter.local, p2.filter.remote))
        .collect();
    Ok(Renegotiation {
        config,
        names: peer.names.clone(),
        local: SocketAddrV4::new(peer.local, IKE_PORT),
        remote: SocketAddrV4::new(peer.remote, IKE_PORT),
        further_children,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    use super::*;
    use crate::crypto::ids::DhGroup;
    use crate::daemon::{ActivationMethod, IkeDaemon, ProposalFamily, ToStack};
    use crate::sa::CloseReason;
    use crate::wire::NotifyType;

    /// The DVIPA: owned by stack A, taken over by C (and D).
    const DVIPA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    /// A second DVIPA, for the 1,000-record takeover.
    const DVIPA2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    /// The remote IPSec host.
    const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    /// A remote host that never answers.
    const SILENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

    fn peer(local: Ipv4Addr, remote: Ipv4Addr) -> Peer {
        Peer::host_to_host(
            local,
            remote,
            b"swsa-test-secret",
            ProposalFamily::AesGcm16X25519,
        )
    }

    fn daemon(peers: Vec<Peer>, seed: u64) -> IkeDaemon<ChaCha20Rng> {
        IkeDaemon::new(peers, ChaCha20Rng::seed_from_u64(seed))
    }

    struct Node {
        daemon: IkeDaemon<ChaCha20Rng>,
        /// Everything but datagrams the daemon told its stack, in order.
        events: Vec<ToStack>,
        /// A failed stack: its datagrams are lost and nothing reaches it.
        dead: bool,
    }

    /// Daemons joined by a network that delivers each datagram to the node its destination
    /// address routes to; an address with no route (a silent peer) loses it.
    struct Net {
        now: Instant,
        nodes: Vec<Node>,
        route: HashMap<Ipv4Addr, usize>,
    }

    impl Net {
        fn new() -> Self {
            Self {
                now: Instant::now(),
                nodes: Vec::new(),
                route: HashMap::new(),
            }
        }

        /// Adds a daemon reached at `addresses`; returns its index.
        fn add(&mut self, daemon: IkeDaemon<ChaCha20Rng>, addresses: &[Ipv4Addr]) -> usize {
            let index = self.nodes.len();
            self.nodes.push(Node {
                daemon,
                events: Vec::new(),
                dead: false,
            });
            for address in addresses {
                self.route.insert(*address, index);
            }
            index
        }

        fn daemon(&self, node: usize) -> &IkeDaemon<ChaCha20Rng> {
            &self.nodes[node].daemon
        }

        fn initiate(&mut self, node: usize, peer: usize) {
            let now = self.now;
            let started = self.nodes[node]
                .daemon
                .initiate(now, peer, ActivationMethod::User);
            assert!(started.is_ok(), "{started:?}");
        }

        fn take_over(
            &mut self,
            node: usize,
            records: Vec<RestartRecord>,
        ) -> Vec<Result<u32, TakeoverRefusal>> {
            let now = self.now;
            self.nodes[node].daemon.take_over(now, records)
        }

        /// Moves datagrams until every daemon is quiet.
        fn run(&mut self) {
            loop {
                let mut quiet = true;
                for index in 0..self.nodes.len() {
                    let messages = self.nodes[index].daemon.drain();
                    if self.nodes[index].dead {
                        continue;
                    }
                    for message in messages {
                        quiet = false;
                        match message {
                            ToStack::SendDatagram { from, to, bytes } => {
                                let Some(&target) = self.route.get(to.ip()) else {
                                    continue;
                                };
                                let node = &mut self.nodes[target];
                                if !node.dead {
                                    node.daemon.handle_datagram(self.now, from, to, &bytes);
                                }
                            }
                            other => self.nodes[index].events.push(other),
                        }
                    }
                }
                if quiet {
                    return;
                }
            }
        }

        /// Lets `by` pass, running every timer that comes due, in order.
        fn advance(&mut self, by: Duration) {
            let end = self.now + by;
            loop {
                let next = self
                    .nodes
                    .iter()
                    .filter(|n| !n.dead)
                    .filter_map(|n| n.daemon.poll_timeout())
                    .min()
                    .filter(|at| *at <= end);
                let Some(at) = next else { break };
                self.now = self.now.max(at);
                for node in self.nodes.iter_mut().filter(|n| !n.dead) {
                    node.daemon.handle_timeout(self.now);
                }
                self.run();
            }
            self.now = end;
        }

        /// The stack A owning the DVIPA with its tunnel to B established, and B.
        fn established() -> (Self, usize, usize) {
            Self::established_with(DhGroup::NONE)
        }

        /// As [`Net::established`], both policies asking for PFS in `pfs`.
        fn established_with(pfs: DhGroup) -> (Self, usize, usize) {
            let mut net = Self::new();
            let [mut to_b, mut to_a] = [peer(DVIPA, B), peer(B, DVIPA)];
            (to_b.config.pfs, to_a.config.pfs) = (pfs, pfs);
            let a = net.add(daemon(vec![to_b], 1), &[DVIPA]);
            let b = net.add(daemon(vec![to_a], 2), &[B]);
            net.initiate(a, 0);
            net.run();
            (net, a, b)
        }

        /// A fails; C, configured like A, takes the DVIPA over.
        fn take_over_by(&mut self, old: usize, peers: Vec<Peer>, seed: u64) -> usize {
            self.nodes[old].dead = true;
            self.add(daemon(peers, seed), &[DVIPA, DVIPA2])
        }

        fn events(&self, node: usize) -> &[ToStack] {
            &self.nodes[node].events
        }
    }

    fn records(daemon: &IkeDaemon<ChaCha20Rng>) -> Vec<RestartRecord> {
        daemon
            .restart_records()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    /// The last restart record reported for `Kn` (outer `None`: never reported).
    fn last_record(events: &[ToStack], kn: u32) -> Option<Option<&RestartRecord>> {
        events.iter().rev().find_map(|e| match e {
            ToStack::RestartRecordChanged {
                ike_tunnel, record, ..
            } if *ike_tunnel == kn => Some(record.as_deref()),
            _ => None,
        })
    }

    fn installed_inbound_spis(events: &[ToStack]) -> Vec<u32> {
        events
            .iter()
            .filter_map(|e| match e {
                ToStack::InstallChildSa { install, .. } => Some(install.inbound_spi),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_backup_renegotiates_as_initiator_and_the_peer_keeps_only_the_new_sas() {
        let (mut net, a, b) = Net::established();
        let old = records(net.daemon(a));
        assert_eq!(old.len(), 1);
        let old_child = old[0].phase2[0].clone();
        let c = net.take_over_by(a, vec![peer(DVIPA, B)], 3);
        let started = net.take_over(c, old.clone());
        assert_eq!(started, vec![Ok(1)]);
        net.run();

        let kc = net.daemon(c).ike_tunnels();
        assert_eq!(kc.len(), 1);
        assert!(kc[0].established);
        assert_eq!(kc[0].role, crate::crypto::Role::Initiator);
        assert_eq!(kc[0].activation, ActivationMethod::Takeover);
        assert_eq!(
            (kc[0].local_id.clone(), kc[0].remote_id.clone()),
            (
                old[0].phase1.local_id.clone(),
                old[0].phase1.remote_id.clone()
            )
        );
        assert!(
            kc[0]
                .dynamic_tunnels
                .iter()
                .all(|y| y.activation == ActivationMethod::Takeover)
        );
        assert!(net.events(c).iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelUp {
                id: 1,
                activation: ActivationMethod::Takeover,
                ..
            }
        )));

        // B dropped A's SAs because of INITIAL_CONTACT and holds only C's.
        let kb = net.daemon(b).ike_tunnels();
        assert_eq!(kb.len(), 1);
        assert_eq!(kb[0].spis, kc[0].spis);
        assert_ne!(kb[0].spis, (old[0].phase1.spi_i, old[0].phase1.spi_r));
        assert!(net.events(b).iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelDown {
                id: 1,
                reason: CloseReason::Notify(NotifyType::INITIAL_CONTACT),
                ..
            }
        )));
        assert!(net.events(b).iter().any(|e| matches!(
            e,
            ToStack::DeleteChildSa { inbound_spi, outbound_spi }
                if (*inbound_spi, *outbound_spi) == (old_child.outbound_spi, old_child.inbound_spi)
        )));
        assert_eq!(
            last_record(net.events(b), 1),
            Some(None),
            "B's record of A's tunnel is gone"
        );

        // C reports its new record, after the CHILD SA it describes, with the new SPIs.
        let events = net.events(c);
        let install_at = events
            .iter()
            .position(|e| matches!(e, ToStack::InstallChildSa { .. }));
        let record_at = events
            .iter()
            .position(|e| matches!(e, ToStack::RestartRecordChanged { .. }));
        assert!(install_at < record_at, "{events:?}");
        let Some(Some(new)) = last_record(events, 1) else {
            panic!("no record from C");
        };
        assert_eq!((new.phase1.spi_i, new.phase1.spi_r), kc[0].spis);
        assert_eq!(new.phase1.local_endpoint.ip(), &DVIPA);
        assert_eq!(
            vec![new.phase2[0].inbound_spi],
            installed_inbound_spis(events)
        );
        assert_ne!(new.phase2[0].inbound_spi, old_child.inbound_spi);
        assert_eq!(new.phase2[0].filter, old_child.filter);
        assert!(matches!(
            events
                .iter()
                .find(|e| matches!(e, ToStack::RestartRecordChanged { .. })),
            Some(ToStack::RestartRecordChanged {
                ike_tunnel: 1,
                local: DVIPA,
                ..
            })
        ));
    }

    /// A's record with a second phase 2 SA for TCP port 80 only.
    fn with_second_child(mut record: RestartRecord) -> RestartRecord {
        let mut second = record.phase2[0].clone();
        for side in [&mut second.filter.local, &mut second.filter.remote] {
            side.ip_protocol = 6;
        }
        second.filter.local.start_port = 80;
        second.filter.local.end_port = 80;
        second.inbound_spi ^= 0x5a5a;
        second.outbound_spi ^= 0x5a5a;
        record.phase2.push(second);
        record
    }

    #[test]
    fn every_phase2_sa_of_a_record_is_renegotiated_and_the_new_record_holds_them_all() {
        let (mut net, a, b) = Net::established();
        let record = with_second_child(records(net.daemon(a)).remove(0));
        let filters: Vec<DynamicFilterPair> = record.phase2.iter().map(pair).collect();
        let c = net.take_over_by(a, vec![peer(DVIPA, B)], 3);
        assert_eq!(net.take_over(c, vec![record]), vec![Ok(1)]);
        net.run();
        assert_eq!(
            installed_inbound_spis(net.events(c)).len(),
            2,
            "one in IKE_AUTH, one in CREATE_CHILD_SA"
        );
        let Some(Some(new)) = last_record(net.events(c), 1).map(|r| r.cloned()) else {
            panic!("no record from C");
        };
        assert_eq!(new.phase2.iter().map(pair).collect::<Vec<_>>(), filters);
        assert_eq!(net.daemon(b).ike_tunnels()[0].dynamic_tunnels.len(), 2);
        let reported = net
            .events(c)
            .iter()
            .filter(|e| matches!(e, ToStack::RestartRecordChanged { .. }))
            .count();
        assert_eq!(
            reported, 2,
            "established with one CHILD SA, then the second"
        );

        // C fails in turn; D's stack hands it C's record, and D restarts both CHILD SAs.
        let d = net.take_over_by(c, vec![peer(DVIPA, B)], 4);
        let now = net.now;
        net.nodes[d]
            .daemon
            .handle(now, crate::daemon::DaemonInput::Takeover(vec![new]));
        net.run();
        assert!(net.events(d).iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelUp {
                id: 1,
                activation: ActivationMethod::Takeover,
                ..
            }
        )));
        assert_eq!(installed_inbound_spis(net.events(d)).len(), 2);
        let kb = net.daemon(b).ike_tunnels();
        assert_eq!(kb.len(), 1);
        assert_eq!(kb[0].spis, net.daemon(d).ike_tunnels()[0].spis);
        assert_eq!(kb[0].dynamic_tunnels.len(), 2);
    }

    #[test]
    fn further_phase2_sas_are_renegotiated_with_the_pfs_of_the_backups_own_policy() {
        // B asks for PFS; a backup whose policy does too makes the second CHILD SA, one
        // without PFS is refused it (the first comes in IKE_AUTH, without a key exchange).
        for (backup_pfs, installed) in [(DhGroup::CURVE25519, 2), (DhGroup::NONE, 1)] {
            let (mut net, a, _) = Net::established_with(DhGroup::CURVE25519);
            let record = with_second_child(records(net.daemon(a)).remove(0));
            let mut backup = peer(DVIPA, B);
            backup.config.pfs = backup_pfs;
            let c = net.take_over_by(a, vec![backup], 3);
            assert_eq!(net.take_over(c, vec![record]), vec![Ok(1)]);
            net.run();
            let made = installed_inbound_spis(net.events(c)).len();
            assert_eq!(made, installed, "backup PFS {backup_pfs:?}");
        }
    }

    type DynamicFilterPair = (Ipv4Range, Ipv4Range);

    fn pair(p2: &crate::swsa::Phase2Record) -> DynamicFilterPair {
        (p2.filter.local, p2.filter.remote)
    }

    /// `record` moved to another remote host.
    fn for_remote(mut record: RestartRecord, remote: Ipv4Addr) -> RestartRecord {
        record.phase1.remote_endpoint.set_ip(remote);
        record.phase1.remote_id = Identity::Ipv4(remote);
        for p2 in &mut record.phase2 {
            p2.filter.remote = Ipv4Range::host(remote);
        }
        record
    }

    #[test]
    fn a_silent_peer_times_out_alone_without_holding_back_the_others() {
        let (mut net, a, b) = Net::established();
        let record = records(net.daemon(a)).remove(0);
        let silent = for_remote(record.clone(), SILENT);
        let c = net.take_over_by(a, vec![peer(DVIPA, SILENT), peer(DVIPA, B)], 3);
        assert_eq!(net.take_over(c, vec![silent, record]), vec![Ok(1), Ok(2)]);
        net.run();
        let kc = net.daemon(c).ike_tunnels();
        assert!(!kc[0].established, "the silent peer has not answered");
        assert!(kc[1].established, "B renegotiated at once");
        assert_eq!(net.daemon(b).ike_tunnels()[0].spis, kc[1].spis);

        net.advance(Duration::from_secs(600));
        let kc = net.daemon(c).ike_tunnels();
        assert_eq!(kc.len(), 1);
        assert_eq!(kc[0].id, 2);
        assert!(net.events(c).iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelDown {
                id: 1,
                reason: CloseReason::PeerUnreachable,
                ..
            }
        )));
        assert_eq!(
            last_record(net.events(c), 1),
            None,
            "no record for a tunnel never up"
        );
    }

    #[test]
    fn records_that_cannot_be_renegotiated_are_refused_with_the_reason() {
        let (mut net, a, _) = Net::established();
        let record = records(net.daemon(a)).remove(0);
        let unknown_peer = for_remote(record.clone(), Ipv4Addr::new(203, 0, 113, 9));
        let mut no_phase2 = record.clone();
        no_phase2.phase2.clear();
        let mut unknown_algorithm = record.clone();
        unknown_algorithm.phase1.negotiated.encryption = 9999;
        let c = net.take_over_by(a, vec![peer(DVIPA, B)], 3);
        let started = net.take_over(c, vec![unknown_peer, no_phase2, unknown_algorithm, record]);
        assert!(
            matches!(started[0], Err(TakeoverRefusal::NoMatchingPeer { remote, .. }) if remote == Ipv4Addr::new(203, 0, 113, 9))
        );
        assert_eq!(started[1], Err(TakeoverRefusal::NoPhase2));
        assert!(matches!(started[2], Err(TakeoverRefusal::Algorithm(_))));
        assert_eq!(started[3], Ok(1));
        let refusals: Vec<String> = net.nodes[c]
            .daemon
            .drain()
            .into_iter()
            .filter_map(|e| match e {
                ToStack::TakeoverRefused { remote, reason } => Some(format!("{remote}: {reason}")),
                _ => None,
            })
            .collect();
        assert_eq!(refusals.len(), 3);
        assert_eq!(
            refusals[0],
            "203.0.113.9:4500: no KeyExchangeRule for 192.0.2.1 <-> 203.0.113.9 with identities \
             192.0.2.1 <-> 203.0.113.9"
        );
        assert_eq!(
            refusals[1],
            "198.51.100.1:4500: no phase 2 SA to renegotiate"
        );
        assert!(refusals[2].starts_with("198.51.100.1:4500: unsupported algorithm in the record"));
    }

    #[test]
    fn a_thousand_records_to_a_thousand_peers_are_all_renegotiated() {
        // The documentation ranges hold fewer than 1,000 addresses: 500 remote hosts, each
        // with a tunnel to each of two DVIPAs.
        let hosts: Vec<Ipv4Addr> = (1..=250u8)
            .flat_map(|n| {
                [
                    Ipv4Addr::new(198, 51, 100, n),
                    Ipv4Addr::new(203, 0, 113, n),
                ]
            })
            .collect();
        let owner_peers: Vec<Peer> = [DVIPA, DVIPA2]
            .iter()
            .flat_map(|dvipa| hosts.iter().map(|host| peer(*dvipa, *host)))
            .collect();
        let mut net = Net::new();
        let a = net.add(daemon(owner_peers.clone(), 1), &[DVIPA, DVIPA2]);
        let remotes: Vec<usize> = hosts
            .iter()
            .zip(10u64..)
            .map(|(host, seed)| {
                let peers = vec![peer(*host, DVIPA), peer(*host, DVIPA2)];
                net.add(daemon(peers, seed), &[*host])
            })
            .collect();
        for index in 0..owner_peers.len() {
            net.initiate(a, index);
        }
        net.run();
        let old = records(net.daemon(a));
        assert_eq!(old.len(), 1000);

        let c = net.take_over_by(a, owner_peers, 2);
        let started = net.take_over(c, old);
        assert!(started.iter().all(Result::is_ok));
        net.run();
        let kc = net.daemon(c).ike_tunnels();
        assert_eq!(kc.iter().filter(|k| k.established).count(), 1000);
        assert_eq!(net.daemon(c).restart_records().len(), 1000);
        for remote in remotes {
            let kr = net.daemon(remote).ike_tunnels();
            assert_eq!(kr.len(), 2, "only C's two tunnels");
            assert!(kr.iter().all(|k| kc.iter().any(|c| c.spis == k.spis)));
        }
    }

    fn sent_datagrams(daemon: &mut IkeDaemon<ChaCha20Rng>, events: &mut Vec<ToStack>) -> usize {
        let mut sent = 0;
        for message in daemon.drain() {
            match message {
                ToStack::SendDatagram { .. } => sent += 1,
                other => events.push(other),
            }
        }
        sent
    }

    /// What a daemon reported for its tunnel `K1` leaving: CHILD SA deleted, tunnel down
    /// (deleted locally), record gone.
    fn assert_k1_left(events: &[ToStack], child: &crate::swsa::Phase2Record) {
        assert!(events.iter().any(|e| matches!(
            e,
            ToStack::DeleteChildSa { inbound_spi, .. } if *inbound_spi == child.inbound_spi
        )));
        assert!(events.iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelDown {
                id: 1,
                reason: CloseReason::DeletedLocally,
                ..
            }
        )));
        assert_eq!(last_record(events, 1), Some(None));
    }

    #[test]
    fn a_dvipa_leaving_with_notice_deletes_its_sas_here_and_at_the_peer() {
        let (mut net, a, b) = Net::established();
        let child = records(net.daemon(a)).remove(0).phase2.remove(0);
        net.nodes[a].daemon.handle(
            net.now,
            crate::daemon::DaemonInput::DeleteLocal {
                local: DVIPA,
                notify_peers: true,
            },
        );
        net.run();
        assert!(net.daemon(a).ike_tunnels().is_empty());
        assert!(net.daemon(a).restart_records().is_empty());
        assert_k1_left(net.events(a), &child);
        assert!(net.daemon(b).ike_tunnels().is_empty(), "B got the DELETE");
        assert!(net.events(b).iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelDown {
                id: 1,
                reason: CloseReason::DeletedByPeer,
                ..
            }
        )));
    }

    #[test]
    fn a_dvipa_leaving_silently_does_not_disturb_the_peer_that_renegotiated() {
        let (mut net, a, b) = Net::established();
        let record = records(net.daemon(a)).remove(0);
        let child = record.phase2[0].clone();
        // The old owner A still runs (claim 19): C takes the DVIPA and renegotiates ...
        let c = net.add(daemon(vec![peer(DVIPA, B)], 3), &[DVIPA]);
        assert_eq!(net.take_over(c, vec![record]), vec![Ok(1)]);
        net.run();
        let renegotiated = net.daemon(c).ike_tunnels()[0].spis;
        // ... and tells A's IKE to drop its SAs for the DVIPA without a word to B.
        let (node, mut events) = (&mut net.nodes[a], Vec::new());
        node.daemon.delete_local(net.now, DVIPA, false);
        assert_eq!(sent_datagrams(&mut node.daemon, &mut events), 0);
        assert_k1_left(&events, &child);
        assert!(node.daemon.ike_tunnels().is_empty());
        net.run();
        let kb = net.daemon(b).ike_tunnels();
        assert_eq!(kb.len(), 1);
        assert_eq!(kb[0].spis, renegotiated);
        assert!(kb[0].established);
    }

    #[test]
    fn deleting_another_local_address_leaves_the_tunnels_alone() {
        let (mut net, a, _) = Net::established();
        let now = net.now;
        let node = &mut net.nodes[a];
        node.daemon.delete_local(now, DVIPA2, true);
        assert!(node.daemon.drain().is_empty());
        assert_eq!(node.daemon.ike_tunnels().len(), 1);
    }

    #[test]
    fn a_tunnel_the_peer_started_with_the_backup_gives_way_to_the_renegotiated_one() {
        let (mut net, a, b) = Net::established();
        let record = records(net.daemon(a)).remove(0);
        let c = net.take_over_by(a, vec![peer(DVIPA, B)], 3);
        // B reaches the DVIPA at its new owner before the takeover renegotiates.
        net.initiate(b, 0);
        net.run();
        assert_eq!(
            net.daemon(c).ike_tunnels()[0].activation,
            ActivationMethod::Remote
        );
        assert_eq!(net.take_over(c, vec![record]), vec![Ok(2)]);
        net.run();
        let kc = net.daemon(c).ike_tunnels();
        assert_eq!(kc.len(), 1, "{kc:?}");
        assert_eq!(
            (kc[0].id, kc[0].activation),
            (2, ActivationMethod::Takeover)
        );
        assert!(net.events(c).iter().any(|e| matches!(
            e,
            ToStack::IkeTunnelDown {
                id: 1,
                reason: CloseReason::Notify(NotifyType::INITIAL_CONTACT),
                ..
            }
        )));
        assert_eq!(last_record(net.events(c), 1), Some(None));
        let kb = net.daemon(b).ike_tunnels();
        assert_eq!(kb.len(), 1);
        assert_eq!(kb[0].spis, kc[0].spis);
    }

    #[test]
    fn takeover_transcript() {
        let (mut net, a, b) = Net::established();
        let record = with_second_child(records(net.daemon(a)).remove(0));
        let b_before = net.events(b).len();
        let c = net.take_over_by(a, vec![peer(DVIPA, B)], 3);
        let unknown = for_remote(record.clone(), Ipv4Addr::new(203, 0, 113, 9));
        net.take_over(c, vec![record, unknown]);
        net.run();
        let lines =
            |events: &[ToStack]| -> String { events.iter().map(|e| format!("{e}\n")).collect() };
        insta::assert_snapshot!(format!(
            "C (backup, takes the DVIPA over):\n{}\nB (remote peer):\n{}",
            lines(net.events(c)),
            lines(&net.events(b)[b_before..])
        ));
    }
}
