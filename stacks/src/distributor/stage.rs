//! The datapath's stage in the [`StageSlot::Distributor`] slot: inbound LAN packets of
//! connections left on a Moving DVIPA holder go to it (the DVIPA [`ForwardTable`]); inbound
//! packets to distributed DVIPAs go where the [`Distributor`] decides, marked protected over
//! XCF when the security stage decrypted them; on a target, the packets a distributor routed
//! here feed the [`TargetTable`], whose reports wait in an outbox for the XCF side to send, and
//! the outbound packets of its protected connections go back to their distributor. On the
//! distributor, the packets targets return are checked before the security stage protects them.
//!
//! [`StageSlot::Distributor`]: crate::datapath::stage::StageSlot::Distributor

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smoltcp::time::Instant;

use super::core::{Deliver, Distributor};
use super::packet::{Inbound, outbound_segment, parse};
use super::signal::SdSignal;
use super::target::TargetTable;
use crate::datapath::stage::{Origin, PacketStage, Verdict};
use crate::dvipa::forward::ForwardTable;
use crate::dvipa::model::ConnKey;

/// Drop reasons of returned packets.
const RETURNED_NOT_TCP: &str = "SD: returned packet not a TCP segment";
const RETURNED_NOT_DISTRIBUTED: &str =
    "SD: returned packet from a DVIPA neither distributed nor forwarded here";
const RETURNED_WRONG_TARGET: &str =
    "SD: returned packet from a stack its connection is not routed to";

/// What the stage and the stack's control side share.
#[derive(Debug, Default)]
pub struct SdState {
    /// This stack's dynamic XCF address, once its agent runs: the connections whose
    /// distributor it names are local, their protected packets stay here.
    pub local_xcf: Option<Ipv4Addr>,
    /// The distributor, while this stack distributes some DVIPA.
    pub distributor: Option<Distributor>,
    /// This stack's own CRT as a target.
    pub target: TargetTable,
    /// Reports for distributors, by the XCF address they go to, in order.
    pub outbox: Vec<(Ipv4Addr, SdSignal)>,
    /// DVIPAs another stack now distributes, by DVIPA: the XCF address of their distributor,
    /// to which LAN packets that do not belong to this stack's own connections go (the LAN
    /// may not have followed the new owner's gratuitous ARP yet).
    pub handed_over: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

impl SdState {
    /// Where a LAN segment for a handed-over DVIPA goes, unless it is one of this stack's.
    fn handed_over_to(&self, conn: &ConnKey) -> Option<Ipv4Addr> {
        let to = self.handed_over.get(conn.local.ip())?;
        (!self.target.contains(conn)).then_some(*to)
    }

    /// This stack's XCF address: its agent's, else its distributor's.
    fn own_xcf(&self) -> Option<Ipv4Addr> {
        self.local_xcf
            .or_else(|| self.distributor.as_ref().map(Distributor::local_xcf))
    }
}

/// A handle on the shared state.
#[derive(Clone, Debug, Default)]
pub struct SharedSd {
    state: Arc<Mutex<SdState>>,
}

impl SharedSd {
    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, SdState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the reports waiting to be sent.
    pub fn take_outbox(&self) -> Vec<(Ipv4Addr, SdSignal)> {
        std::mem::take(&mut self.lock().outbox)
    }
}

/// The stage.
#[derive(Debug)]
pub struct DistributorStage {
    forwards: ForwardTable,
    shared: SharedSd,
}

impl DistributorStage {
    /// A stage consulting the takeback `forwards` first, then working on `shared`.
    pub fn new(forwards: ForwardTable, shared: SharedSd) -> Self {
        Self { forwards, shared }
    }

    /// Routes an inbound packet, which arrived `protected` or not.
    fn route(&mut self, now: Instant, origin: Origin, packet: Vec<u8>, protected: bool) -> Verdict {
        let forward = |to: Ipv4Addr, packet: Vec<u8>| {
            if protected {
                Verdict::ForwardXcfProtected { to, packet }
            } else {
                Verdict::ForwardXcf { to, packet }
            }
        };
        let segment = match parse(&packet) {
            Ok(Inbound::Tcp(segment)) => Some(segment),
            _ => None,
        };
        if origin == Origin::Lan
            && let Some(to) = segment.and_then(|s| self.forwards.route(&s.conn))
        {
            return forward(to, packet);
        }
        let mut state = self.shared.lock();
        let deliver = state
            .distributor
            .as_mut()
            .map_or(Deliver::Local, |d| d.inbound(now, origin, &packet));
        match deliver {
            Deliver::Local => {
                let Some(segment) = segment else {
                    return Verdict::Continue(packet);
                };
                if origin == Origin::Lan
                    && let Some(to) = state.handed_over_to(&segment.conn)
                {
                    return forward(to, packet);
                }
                let routed_by = match origin {
                    Origin::Xcf(distributor) => Some(distributor),
                    Origin::Lan => state
                        .distributor
                        .as_ref()
                        .filter(|d| routed_here(d, &segment.conn))
                        .map(Distributor::local_xcf),
                };
                if let Some(report) = state.target.on_segment(routed_by, &segment, protected) {
                    state.outbox.push(report);
                }
                Verdict::Continue(packet)
            }
            Deliver::Forward { xcf } => forward(xcf, packet),
            Deliver::Drop(reason) => Verdict::Drop {
                reason: reason.as_str(),
            },
        }
    }
}

impl PacketStage for DistributorStage {
    fn inbound(&mut self, now: Instant, origin: Origin, packet: Vec<u8>) -> Verdict {
        self.route(now, origin, packet, false)
    }

    fn inbound_protected(&mut self, now: Instant, origin: Origin, packet: Vec<u8>) -> Verdict {
        self.route(now, origin, packet, true)
    }

    /// A packet of a protected connection another stack distributes goes back to it; a RST
    /// ends its routed connection.
    fn outbound(&mut self, _now: Instant, packet: Vec<u8>) -> Verdict {
        let Some(segment) = outbound_segment(&packet) else {
            return Verdict::Continue(packet);
        };
        let mut state = self.shared.lock();
        let own = state.own_xcf();
        let back_to = state
            .target
            .protected_route(&segment)
            .filter(|distributor| Some(*distributor) != own);
        if let Some(report) = state.target.on_outbound_segment(&segment) {
            state.outbox.push(report);
        }
        match back_to {
            Some(to) => Verdict::ReturnXcf { to, packet },
            None => Verdict::Continue(packet),
        }
    }

    /// A returned packet goes on to the security stage when its connection is one the takeback
    /// `forwards` send to that stack, or when it comes from a DVIPA this stack distributes and
    /// from the target its CRT routes the connection to (any target while the CRT does not
    /// know the connection: its route may be on its way in an answer).
    fn returned(&mut self, _now: Instant, from: Ipv4Addr, packet: Vec<u8>) -> Verdict {
        let Some(segment) = outbound_segment(&packet) else {
            return Verdict::Drop {
                reason: RETURNED_NOT_TCP,
            };
        };
        if self.forwards.route(&segment.conn) == Some(from) {
            return Verdict::Continue(packet);
        }
        let state = self.shared.lock();
        let Some(distributor) = state
            .distributor
            .as_ref()
            .filter(|d| d.distributes(*segment.conn.local.ip()))
        else {
            return Verdict::Drop {
                reason: RETURNED_NOT_DISTRIBUTED,
            };
        };
        if distributor
            .crt()
            .get(&segment.conn)
            .is_some_and(|route| route.xcf != from)
        {
            return Verdict::Drop {
                reason: RETURNED_WRONG_TARGET,
            };
        }
        Verdict::Continue(packet)
    }
}

/// Whether this stack's own distributor routed the connection to this stack.
fn routed_here(distributor: &Distributor, conn: &ConnKey) -> bool {
    distributor
        .crt()
        .get(conn)
        .is_some_and(|route| route.xcf == distributor.local_xcf())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;

    use super::*;
    use crate::datapath::stage::{StageSlot, Stages};
    use crate::distributor::DistConfig;
    use crate::distributor::packet::tcp_packet;
    use crate::dvipa::model::ConnKey;
    use crate::profile;

    const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

    fn xcf(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, last)
    }

    #[test]
    fn the_distributor_forwards_and_the_target_reports_the_end() {
        let text = "VIPADYNAMIC\nVIPADEFINE 255.255.255.0 198.51.100.10\n\
            VIPADISTRIBUTE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL\n\
            ENDVIPADYNAMIC\n";
        let parsed = profile::parse("sd.tcpip", text);
        let mut distributor = Distributor::new(
            xcf(1),
            DistConfig::from_profile(&parsed.profile.vipa_dynamic.distributes),
        );
        distributor.listeners(xcf(2), DVIPA, 80, 1);
        let sd1 = SharedSd::default();
        sd1.lock().distributor = Some(distributor);
        let mut stages1 = Stages::default();
        stages1.install(
            StageSlot::Distributor,
            Box::new(DistributorStage::new(ForwardTable::default(), sd1.clone())),
        );
        let sd2 = SharedSd::default();
        let mut stages2 = Stages::default();
        stages2.install(
            StageSlot::Distributor,
            Box::new(DistributorStage::new(ForwardTable::default(), sd2.clone())),
        );

        let client = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 40_000);
        let server = SocketAddrV4::new(DVIPA, 80);
        let syn = tcp_packet(client, server, "S");
        let Verdict::ForwardXcf { to, packet } = stages1.inbound(Instant::ZERO, Origin::Lan, syn)
        else {
            panic!("not forwarded");
        };
        assert_eq!(to, xcf(2));
        assert!(matches!(
            stages2.inbound(Instant::ZERO, Origin::Xcf(xcf(1)), packet),
            Verdict::Continue(_)
        ));
        assert_eq!(sd2.lock().target.len(), 1);
        stages2.outbound(Instant::ZERO, tcp_packet(server, client, "R"));
        let reports = sd2.take_outbox();
        let conn = ConnKey {
            local: server,
            foreign: client,
        };
        assert_eq!(reports, vec![(xcf(1), SdSignal::ConnectionEnded(conn))]);
        {
            let mut state = sd1.lock();
            let distributor = state.distributor.as_mut().unwrap();
            assert!(distributor.apply(Instant::ZERO, xcf(2), &reports[0].1));
            assert!(distributor.crt().is_empty());
        }
        assert_eq!(
            stages1_drop_reason(&mut stages1),
            None,
            "a packet to an undistributed port continues"
        );
    }

    fn stages1_drop_reason(stages: &mut Stages) -> Option<&'static str> {
        let packet = tcp_packet(
            SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 1),
            SocketAddrV4::new(DVIPA, 81),
            "S",
        );
        match stages.inbound(Instant::ZERO, Origin::Lan, packet) {
            Verdict::Drop { reason } => Some(reason),
            _ => None,
        }
    }

    const PROFILE: &str = "VIPADYNAMIC\nVIPADEFINE 255.255.255.0 198.51.100.10\n\
        VIPADISTRIBUTE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL\n\
        ENDVIPADYNAMIC\n";

    fn configs() -> Vec<DistConfig> {
        let parsed = profile::parse("sd.tcpip", PROFILE);
        DistConfig::from_profile(&parsed.profile.vipa_dynamic.distributes)
    }

    fn client() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 40_000)
    }

    fn server() -> SocketAddrV4 {
        SocketAddrV4::new(DVIPA, 80)
    }

    fn conn() -> ConnKey {
        ConnKey {
            local: server(),
            foreign: client(),
        }
    }

    /// The security stage as far as this stage cares: every inbound packet was ESP.
    #[derive(Debug)]
    struct Decrypt;

    impl PacketStage for Decrypt {
        fn inbound(&mut self, _now: Instant, _origin: Origin, packet: Vec<u8>) -> Verdict {
            Verdict::Decrypted(packet)
        }
    }

    /// The walk of a stack with XCF address `xcf(n)`, with a decrypting security stage when
    /// `ipsec`, on `shared`.
    fn walk(n: u8, ipsec: bool, shared: &SharedSd) -> Stages {
        shared.lock().local_xcf = Some(xcf(n));
        let mut stages = Stages::default();
        if ipsec {
            stages.install(StageSlot::Security, Box::new(Decrypt));
        }
        stages.install(
            StageSlot::Distributor,
            Box::new(DistributorStage::new(
                ForwardTable::default(),
                shared.clone(),
            )),
        );
        stages
    }

    #[test]
    fn a_decrypted_request_goes_marked_to_the_target_whose_replies_come_back() {
        let mut distributor = Distributor::new(xcf(1), configs());
        distributor.listeners(xcf(2), DVIPA, 80, 1);
        let sd1 = SharedSd::default();
        sd1.lock().distributor = Some(distributor);
        let mut stages1 = walk(1, true, &sd1);
        let sd2 = SharedSd::default();
        let mut stages2 = walk(2, false, &sd2);

        let syn = tcp_packet(client(), server(), "S");
        let Verdict::ForwardXcfProtected { to, packet } =
            stages1.inbound(Instant::ZERO, Origin::Lan, syn.clone())
        else {
            panic!("not forwarded as protected");
        };
        assert_eq!((to, &packet), (xcf(2), &syn));
        assert_eq!(
            stages2.inbound_protected(Instant::ZERO, Origin::Xcf(xcf(1)), packet),
            Verdict::Decrypted(syn)
        );
        assert!(sd2.lock().target.is_protected(&conn()));

        let reply = tcp_packet(server(), client(), "A");
        assert_eq!(
            stages2.outbound(Instant::ZERO, reply.clone()),
            Verdict::ReturnXcf {
                to: xcf(1),
                packet: reply.clone()
            }
        );
        assert_eq!(
            stages1.returned(Instant::ZERO, xcf(2), reply.clone()),
            Verdict::Continue(reply.clone())
        );
        assert_eq!(
            stages1.returned(Instant::ZERO, xcf(3), reply.clone()),
            Verdict::Drop {
                reason: RETURNED_WRONG_TARGET
            }
        );
        let stranger = tcp_packet(
            SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 99), 80),
            client(),
            "A",
        );
        assert_eq!(
            stages1.returned(Instant::ZERO, xcf(2), stranger),
            Verdict::Drop {
                reason: RETURNED_NOT_DISTRIBUTED
            }
        );
        assert_eq!(
            stages1.returned(Instant::ZERO, xcf(2), reply[..20].to_vec()),
            Verdict::Drop {
                reason: RETURNED_NOT_TCP
            }
        );
        // Even the RST that ends it goes back protected.
        let rst = tcp_packet(server(), client(), "R");
        assert!(matches!(
            stages2.outbound(Instant::ZERO, rst),
            Verdict::ReturnXcf { .. }
        ));
        assert!(sd2.lock().target.is_empty());
    }

    #[test]
    fn a_clear_connection_leaves_the_target_directly() {
        let mut distributor = Distributor::new(xcf(1), configs());
        distributor.listeners(xcf(2), DVIPA, 80, 1);
        let sd1 = SharedSd::default();
        sd1.lock().distributor = Some(distributor);
        let mut stages1 = walk(1, false, &sd1);
        let sd2 = SharedSd::default();
        let mut stages2 = walk(2, false, &sd2);
        let Verdict::ForwardXcf { packet, .. } = stages1.inbound(
            Instant::ZERO,
            Origin::Lan,
            tcp_packet(client(), server(), "S"),
        ) else {
            panic!("not forwarded in clear");
        };
        stages2.inbound(Instant::ZERO, Origin::Xcf(xcf(1)), packet);
        assert_eq!(sd2.lock().target.len(), 1);
        let reply = tcp_packet(server(), client(), "A");
        assert_eq!(
            stages2.outbound(Instant::ZERO, reply.clone()),
            Verdict::Continue(reply)
        );
    }

    /// A stack with XCF address `xcf(n)` distributing [`DVIPA`] to every stack, with its agent.
    fn agent(n: u8, shared: &SharedSd) -> crate::distributor::SdAgent {
        let mut agent = crate::distributor::SdAgent::new(xcf(n), configs(), shared.clone());
        let peers = [1, 2].into_iter().filter(|m| *m != n).map(xcf).collect();
        agent.handle(Instant::ZERO, crate::distributor::SdEvent::Peers(peers));
        agent
    }

    #[test]
    fn after_a_takeover_the_new_distributors_routed_protected_connections_are_local() {
        // Stack 2 was a target of stack 1, which routed it a protected connection.
        let sd2 = SharedSd::default();
        let mut agent2 = agent(2, &sd2);
        let mut stages2 = walk(2, false, &sd2);
        stages2.inbound_protected(
            Instant::ZERO,
            Origin::Xcf(xcf(1)),
            tcp_packet(client(), server(), "S"),
        );
        let reply = tcp_packet(server(), client(), "A");
        assert!(matches!(
            stages2.outbound(Instant::ZERO, reply.clone()),
            Verdict::ReturnXcf { to, .. } if to == xcf(1)
        ));
        // Stack 1 dies; stack 2 takes the DVIPA over and answers its own query.
        agent2.handle(
            Instant::ZERO,
            crate::distributor::SdEvent::Peers(Default::default()),
        );
        agent2.handle(Instant::ZERO, crate::distributor::SdEvent::Owned(DVIPA));
        {
            let state = sd2.lock();
            let route = state
                .distributor
                .as_ref()
                .and_then(|d| d.crt().get(&conn()));
            assert_eq!(route.map(|r| r.xcf), Some(xcf(2)), "routed to itself");
            assert!(state.target.is_protected(&conn()));
        }
        assert_eq!(
            stages2.outbound(Instant::ZERO, reply.clone()),
            Verdict::Continue(reply),
            "its own security stage protects it"
        );
        let ack = tcp_packet(client(), server(), "A");
        assert_eq!(
            stages2.inbound_protected(Instant::ZERO, Origin::Lan, ack.clone()),
            Verdict::Decrypted(ack),
            "delivered here"
        );
    }

    #[test]
    fn a_planned_transfer_routes_the_old_distributors_protected_connections_through_the_new() {
        // Stack 1 distributes and took a protected connection itself.
        let sd1 = SharedSd::default();
        let mut agent1 = agent(1, &sd1);
        agent1.handle(Instant::ZERO, crate::distributor::SdEvent::Owned(DVIPA));
        if let Some(distributor) = sd1.lock().distributor.as_mut() {
            distributor.listeners(xcf(1), DVIPA, 80, 1);
            distributor.await_answers(DVIPA, []);
        }
        let mut stages1 = walk(1, true, &sd1);
        let syn = tcp_packet(client(), server(), "S");
        assert_eq!(
            stages1.inbound(Instant::ZERO, Origin::Lan, syn.clone()),
            Verdict::Decrypted(syn)
        );
        assert!(sd1.lock().target.is_protected(&conn()));
        let reply = tcp_packet(server(), client(), "A");
        assert_eq!(
            stages1.outbound(Instant::ZERO, reply.clone()),
            Verdict::Continue(reply.clone()),
            "local: its own security stage protects it"
        );
        // Stack 2 takes the DVIPA (V TCPIP,,SYSPLEX,DEACTIVATE on stack 1) and asks.
        agent1.handle(Instant::ZERO, crate::distributor::SdEvent::Disowned(DVIPA));
        let actions = agent1.handle(
            Instant::ZERO,
            crate::distributor::SdEvent::Signal {
                from: xcf(2),
                signal: SdSignal::Query {
                    dvipa: DVIPA,
                    ports: vec![80],
                },
            },
        );
        assert!(actions.iter().any(|a| matches!(
            a,
            crate::distributor::SdAction::Send { to, signal: SdSignal::Answer(answer) }
                if *to == xcf(2) && answer.connections == vec![conn()]
        )));
        assert_eq!(
            stages1.outbound(Instant::ZERO, reply.clone()),
            Verdict::ReturnXcf {
                to: xcf(2),
                packet: reply
            },
            "now distributed, through the new distributor"
        );
    }

    #[test]
    fn a_takeback_forwards_protected_packets_marked_and_takes_the_replies_back() {
        // Stack 1 owns a non-distributed DVIPA again; stack 2, the Moving holder, still holds
        // a connection on it, whose LAN packets stack 1 forwards.
        let forwards = ForwardTable::default();
        forwards.add(xcf(2), &[conn()]);
        let sd1 = SharedSd::default();
        sd1.lock().local_xcf = Some(xcf(1));
        let mut stages1 = Stages::default();
        stages1.install(StageSlot::Security, Box::new(Decrypt));
        stages1.install(
            StageSlot::Distributor,
            Box::new(DistributorStage::new(forwards, sd1.clone())),
        );
        let sd2 = SharedSd::default();
        let mut stages2 = walk(2, false, &sd2);

        let ack = tcp_packet(client(), server(), "A");
        let Verdict::ForwardXcfProtected { to, packet } =
            stages1.inbound(Instant::ZERO, Origin::Lan, ack)
        else {
            panic!("not forwarded as protected");
        };
        assert_eq!(to, xcf(2));
        stages2.inbound_protected(Instant::ZERO, Origin::Xcf(xcf(1)), packet);
        let reply = tcp_packet(server(), client(), "A");
        assert_eq!(
            stages2.outbound(Instant::ZERO, reply.clone()),
            Verdict::ReturnXcf {
                to: xcf(1),
                packet: reply.clone()
            }
        );
        assert_eq!(
            stages1.returned(Instant::ZERO, xcf(2), reply.clone()),
            Verdict::Continue(reply.clone())
        );
        assert_eq!(
            stages1.returned(Instant::ZERO, xcf(3), reply),
            Verdict::Drop {
                reason: RETURNED_NOT_DISTRIBUTED
            }
        );
    }
}
