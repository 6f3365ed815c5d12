//! The datapath's stage in the [`StageSlot::Distributor`] slot: inbound LAN packets of
//! connections left on a Moving DVIPA holder go to it (the DVIPA [`ForwardTable`]); inbound
//! packets to distributed DVIPAs go where the [`Distributor`] decides; on a target, the packets
//! a distributor routed here feed the [`TargetTable`], whose reports wait in an outbox for the
//! XCF side to send.
//!
//! [`StageSlot::Distributor`]: crate::datapath::stage::StageSlot::Distributor

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smoltcp::time::Instant;

use super::core::{Deliver, Distributor};
use super::packet::{Inbound, parse};
use super::signal::SdSignal;
use super::target::TargetTable;
use crate::datapath::stage::{Origin, PacketStage, Verdict};
use crate::dvipa::forward::ForwardTable;
use crate::dvipa::model::ConnKey;

/// What the stage and the stack's control side share.
#[derive(Debug, Default)]
pub struct SdState {
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
}

impl PacketStage for DistributorStage {
    fn inbound(&mut self, now: Instant, origin: Origin, packet: Vec<u8>) -> Verdict {
        let segment = match parse(&packet) {
            Ok(Inbound::Tcp(segment)) => Some(segment),
            _ => None,
        };
        if origin == Origin::Lan
            && let Some(to) = segment.and_then(|s| self.forwards.route(&s.conn))
        {
            return Verdict::ForwardXcf { to, packet };
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
                    return Verdict::ForwardXcf { to, packet };
                }
                let routed_by = match origin {
                    Origin::Xcf(distributor) => Some(distributor),
                    Origin::Lan => state
                        .distributor
                        .as_ref()
                        .filter(|d| routed_here(d, &segment.conn))
                        .map(Distributor::local_xcf),
                };
                if let Some(report) = state.target.on_segment(routed_by, &segment) {
                    state.outbox.push(report);
                }
                Verdict::Continue(packet)
            }
            Deliver::Forward { xcf } => Verdict::ForwardXcf { to: xcf, packet },
            Deliver::Drop(reason) => Verdict::Drop {
                reason: reason.as_str(),
            },
        }
    }

    fn outbound(&mut self, _now: Instant, packet: Vec<u8>) -> Verdict {
        let mut state = self.shared.lock();
        if let Some(report) = state.target.on_outbound(&packet) {
            state.outbox.push(report);
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
}
