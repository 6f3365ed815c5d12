//! Extension points of the packet walk: the stages that IPSec and the Sysplex Distributor plug in.
//!
//! The datapath walks every IPv4 packet for this stack through its stages before local delivery
//! (inbound), every IPv4 packet smoltcp emits through them before the LAN (outbound), and every
//! packet a target returns over XCF through the distributor's check and the security stage's
//! outbound side before the LAN (returned):
//!
//! ```text
//! inbound   LAN ─ ARP policy ─ [Security] ─ [Distributor] ─ smoltcp
//!           XCF ─────────────┘        (ForwardXcf[Protected] → XCF link)
//! outbound  smoltcp ─ [Distributor] ─ [Security] ─ LAN   (ReturnXcf → XCF link)
//! returned  XCF ─ [Distributor] ─ [Security] ─ LAN
//! ```
//!
//! The security stage (IKE and ESP, `DVIPSEC`) sends UDP 500 and non-ESP-marked UDP 4500 to
//! the IKE daemon ([`Verdict::Consumed`]), decrypts ESP and ESP-in-UDP and goes on with the
//! inner packet ([`Verdict::Decrypted`]: later stages see it through
//! [`PacketStage::inbound_protected`]), drops clear text the SPD wants protected, and on the way
//! out protects what the SPD says. The distributor stage looks distributed DVIPA:port packets up
//! in the CRT (or picks a target for a SYN) and forwards them over dynamic XCF, marked protected
//! when they were decrypted; on a target it returns the outbound packets of protected
//! connections to their distributor ([`Verdict::ReturnXcf`]). No stage is installed by default.

use std::fmt;
use std::net::Ipv4Addr;

use smoltcp::time::Instant;

/// Where a packet entered the datapath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// From the LAN port.
    Lan,
    /// Over a dynamic XCF link from the stack with this XCF address.
    Xcf(Ipv4Addr),
}

/// What a stage decided about one IPv4 packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on along the walk with this packet (the same, or transformed: encrypted).
    Continue(Vec<u8>),
    /// Go on along the walk with this inbound packet, which arrived protected: the inner packet
    /// of ESP an SA of this stack decrypted, or one a distributor decrypted and forwarded.
    Decrypted(Vec<u8>),
    /// Send this packet over dynamic XCF to the stack with XCF address `to`.
    ForwardXcf {
        /// The XCF address of the receiving stack.
        to: Ipv4Addr,
        /// The packet to send.
        packet: Vec<u8>,
    },
    /// Send this inbound packet, which arrived protected, over dynamic XCF to the target stack
    /// with XCF address `to` (the datagram says it was decrypted).
    ForwardXcfProtected {
        /// The XCF address of the target.
        to: Ipv4Addr,
        /// The decrypted packet.
        packet: Vec<u8>,
    },
    /// Return this outbound packet of a protected connection over dynamic XCF to its
    /// distributor, the stack with XCF address `to`, which protects it and sends it out.
    ReturnXcf {
        /// The XCF address of the distributor.
        to: Ipv4Addr,
        /// The clear packet.
        packet: Vec<u8>,
    },
    /// The stage took the packet (e.g. handed it to the IKE daemon).
    Consumed,
    /// Drop the packet; the datapath counts it under `reason`.
    Drop {
        /// Why, for the drop counters (e.g. "SPD requires protection").
        reason: &'static str,
    },
}

/// A stage of the packet walk.
pub trait PacketStage: Send + fmt::Debug {
    /// Handles an IPv4 packet addressed to this stack, before local delivery.
    fn inbound(&mut self, _now: Instant, _origin: Origin, packet: Vec<u8>) -> Verdict {
        Verdict::Continue(packet)
    }

    /// Handles an inbound IPv4 packet that arrived protected (see [`Verdict::Decrypted`]);
    /// by default as any inbound packet.
    fn inbound_protected(&mut self, now: Instant, origin: Origin, packet: Vec<u8>) -> Verdict {
        self.inbound(now, origin, packet)
    }

    /// Handles an IPv4 packet smoltcp emitted, before it leaves on the LAN.
    fn outbound(&mut self, _now: Instant, packet: Vec<u8>) -> Verdict {
        Verdict::Continue(packet)
    }

    /// Handles an outbound IPv4 packet a target returned over XCF from the stack with XCF
    /// address `from`, before this stack protects it; by default it goes on.
    fn returned(&mut self, _now: Instant, _from: Ipv4Addr, packet: Vec<u8>) -> Verdict {
        Verdict::Continue(packet)
    }
}

/// The places in the walk where a stage plugs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StageSlot {
    /// IPSec: IKE demultiplexing, ESP, the SPD.
    Security,
    /// The Sysplex Distributor: CRT lookup and XCF forwarding.
    Distributor,
}

/// The installed stages, walked in the order the design fixes.
#[derive(Debug, Default)]
pub struct Stages {
    security: Option<Box<dyn PacketStage>>,
    distributor: Option<Box<dyn PacketStage>>,
}

impl Stages {
    /// Installs (or replaces) the stage of a slot; returns the one it replaces.
    pub fn install(
        &mut self,
        slot: StageSlot,
        stage: Box<dyn PacketStage>,
    ) -> Option<Box<dyn PacketStage>> {
        self.slot_mut(slot).replace(stage)
    }

    /// Removes the stage of a slot.
    pub fn remove(&mut self, slot: StageSlot) -> Option<Box<dyn PacketStage>> {
        self.slot_mut(slot).take()
    }

    /// Whether no stage is installed (the walk is then a plain hand-over).
    pub fn is_empty(&self) -> bool {
        self.security.is_none() && self.distributor.is_none()
    }

    fn slot_mut(&mut self, slot: StageSlot) -> &mut Option<Box<dyn PacketStage>> {
        match slot {
            StageSlot::Security => &mut self.security,
            StageSlot::Distributor => &mut self.distributor,
        }
    }

    /// Walks an inbound packet: security, then distributor. A packet the security stage
    /// decrypted goes on to the distributor as protected, and ends as [`Verdict::Decrypted`].
    pub fn inbound(&mut self, now: Instant, origin: Origin, packet: Vec<u8>) -> Verdict {
        self.walk_inbound(now, origin, packet, false)
    }

    /// Walks an inbound packet that arrived protected (a distributor decrypted it).
    pub fn inbound_protected(&mut self, now: Instant, origin: Origin, packet: Vec<u8>) -> Verdict {
        self.walk_inbound(now, origin, packet, true)
    }

    fn walk_inbound(
        &mut self,
        now: Instant,
        origin: Origin,
        mut packet: Vec<u8>,
        mut protected: bool,
    ) -> Verdict {
        for stage in [&mut self.security, &mut self.distributor]
            .into_iter()
            .flatten()
        {
            let verdict = if protected {
                stage.inbound_protected(now, origin, packet)
            } else {
                stage.inbound(now, origin, packet)
            };
            packet = match verdict {
                Verdict::Continue(next) => next,
                Verdict::Decrypted(next) => {
                    protected = true;
                    next
                }
                other => return other,
            };
        }
        if protected {
            Verdict::Decrypted(packet)
        } else {
            Verdict::Continue(packet)
        }
    }

    /// Walks an outbound packet: distributor, then security.
    pub fn outbound(&mut self, now: Instant, packet: Vec<u8>) -> Verdict {
        let mut verdict = Verdict::Continue(packet);
        for stage in [&mut self.distributor, &mut self.security]
            .into_iter()
            .flatten()
        {
            let Verdict::Continue(packet) = verdict else {
                break;
            };
            verdict = stage.outbound(now, packet);
        }
        verdict
    }

    /// Walks a packet a target returned over XCF from `from`: the distributor's check, then
    /// the security stage's outbound side. Without a distributor stage nothing here expects
    /// returned packets, so they are dropped.
    pub fn returned(&mut self, now: Instant, from: Ipv4Addr, packet: Vec<u8>) -> Verdict {
        let Some(distributor) = &mut self.distributor else {
            return Verdict::Drop {
                reason: "returned packet without a distributor",
            };
        };
        match distributor.returned(now, from, packet) {
            Verdict::Continue(packet) => match &mut self.security {
                Some(security) => security.outbound(now, packet),
                None => Verdict::Continue(packet),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends a tag to every packet it sees, so the order of the walk shows in the bytes.
    #[derive(Debug)]
    struct Tag(u8);

    impl PacketStage for Tag {
        fn inbound(&mut self, _now: Instant, _origin: Origin, mut packet: Vec<u8>) -> Verdict {
            packet.push(self.0);
            Verdict::Continue(packet)
        }
        fn outbound(&mut self, _now: Instant, mut packet: Vec<u8>) -> Verdict {
            packet.push(self.0);
            Verdict::Continue(packet)
        }
    }

    #[derive(Debug)]
    struct Swallow;

    impl PacketStage for Swallow {
        fn inbound(&mut self, _now: Instant, _origin: Origin, _packet: Vec<u8>) -> Verdict {
            Verdict::Consumed
        }
    }

    #[test]
    fn inbound_walks_security_before_distributor_and_outbound_the_reverse() {
        let mut stages = Stages::default();
        stages.install(StageSlot::Distributor, Box::new(Tag(2)));
        stages.install(StageSlot::Security, Box::new(Tag(1)));
        assert_eq!(
            stages.inbound(Instant::ZERO, Origin::Lan, vec![]),
            Verdict::Continue(vec![1, 2])
        );
        assert_eq!(
            stages.outbound(Instant::ZERO, vec![]),
            Verdict::Continue(vec![2, 1])
        );
    }

    /// Says every inbound packet was decrypted.
    #[derive(Debug)]
    struct Decrypt;

    impl PacketStage for Decrypt {
        fn inbound(&mut self, _now: Instant, _origin: Origin, packet: Vec<u8>) -> Verdict {
            Verdict::Decrypted(packet)
        }
    }

    /// Tags protected packets 9, others 0; checks returned packets came from XCF 1.
    #[derive(Debug)]
    struct SeesProtection;

    impl PacketStage for SeesProtection {
        fn inbound(&mut self, _now: Instant, _origin: Origin, mut packet: Vec<u8>) -> Verdict {
            packet.push(0);
            Verdict::Continue(packet)
        }
        fn inbound_protected(
            &mut self,
            _now: Instant,
            _origin: Origin,
            mut packet: Vec<u8>,
        ) -> Verdict {
            packet.push(9);
            Verdict::Continue(packet)
        }
        fn returned(&mut self, _now: Instant, from: Ipv4Addr, packet: Vec<u8>) -> Verdict {
            if from == Ipv4Addr::new(0, 0, 0, 1) {
                Verdict::Continue(packet)
            } else {
                Verdict::Drop { reason: "stranger" }
            }
        }
    }

    #[test]
    fn a_decrypted_packet_reaches_the_distributor_as_protected_and_stays_marked() {
        let mut stages = Stages::default();
        stages.install(StageSlot::Distributor, Box::new(SeesProtection));
        assert_eq!(
            stages.inbound(Instant::ZERO, Origin::Lan, vec![]),
            Verdict::Continue(vec![0])
        );
        assert_eq!(
            stages.inbound_protected(Instant::ZERO, Origin::Lan, vec![]),
            Verdict::Decrypted(vec![9])
        );
        stages.install(StageSlot::Security, Box::new(Decrypt));
        assert_eq!(
            stages.inbound(Instant::ZERO, Origin::Lan, vec![]),
            Verdict::Decrypted(vec![9])
        );
    }

    #[test]
    fn a_returned_packet_passes_the_distributor_check_then_security_outbound() {
        let mut stages = Stages::default();
        let from = Ipv4Addr::new(0, 0, 0, 1);
        assert!(matches!(
            stages.returned(Instant::ZERO, from, vec![]),
            Verdict::Drop { .. }
        ));
        stages.install(StageSlot::Distributor, Box::new(SeesProtection));
        stages.install(StageSlot::Security, Box::new(Tag(1)));
        assert_eq!(
            stages.returned(Instant::ZERO, from, vec![]),
            Verdict::Continue(vec![1])
        );
        assert_eq!(
            stages.returned(Instant::ZERO, Ipv4Addr::new(0, 0, 0, 2), vec![]),
            Verdict::Drop { reason: "stranger" }
        );
    }

    #[test]
    fn a_stage_that_consumes_ends_the_walk() {
        let mut stages = Stages::default();
        stages.install(StageSlot::Security, Box::new(Swallow));
        stages.install(StageSlot::Distributor, Box::new(Tag(2)));
        assert_eq!(
            stages.inbound(Instant::ZERO, Origin::Lan, vec![]),
            Verdict::Consumed
        );
        assert_eq!(
            stages.outbound(Instant::ZERO, vec![]),
            Verdict::Continue(vec![2])
        );
    }

    #[test]
    fn an_empty_walk_continues_unchanged() {
        let mut stages = Stages::default();
        assert!(stages.is_empty());
        assert_eq!(
            stages.inbound(Instant::ZERO, Origin::Xcf(Ipv4Addr::LOCALHOST), vec![7]),
            Verdict::Continue(vec![7])
        );
        stages.install(StageSlot::Security, Box::new(Swallow));
        assert!(stages.remove(StageSlot::Security).is_some());
        assert!(stages.is_empty());
    }
}
