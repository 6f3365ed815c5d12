//! Extension points of the packet walk: the stages that IPSec and the Sysplex Distributor plug in.
//!
//! The datapath walks every IPv4 packet for this stack through its stages before local delivery
//! (inbound), and every IPv4 packet smoltcp emits through them before the LAN (outbound):
//!
//! ```text
//! inbound   LAN ─ ARP policy ─ [Security] ─ [Distributor] ─ smoltcp
//!           XCF ─────────────┘        (ForwardXcf → XCF link)
//! outbound  smoltcp ─ [Distributor] ─ [Security] ─ LAN   (ForwardXcf → XCF link)
//! ```
//!
//! The security stage (IKE and ESP, `DVIPSEC`) sends UDP 500 and non-ESP-marked UDP 4500 to
//! the IKE daemon ([`Verdict::Consumed`]), decrypts ESP and ESP-in-UDP and continues with the
//! inner packet, drops clear text the SPD wants protected, and on the way out protects what the
//! SPD says. The distributor stage looks distributed DVIPA:port packets up in the CRT (or picks
//! a target for a SYN) and forwards them over dynamic XCF; on a target it sends protected
//! outbound traffic back to the distributor. No stage is installed by default.

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
    /// Go on along the walk with this packet (the same, or transformed: decrypted, encrypted).
    Continue(Vec<u8>),
    /// Send this packet over dynamic XCF to the stack with XCF address `to`.
    ForwardXcf {
        /// The XCF address of the receiving stack.
        to: Ipv4Addr,
        /// The packet to send.
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

    /// Handles an IPv4 packet smoltcp emitted, before it leaves on the LAN.
    fn outbound(&mut self, _now: Instant, packet: Vec<u8>) -> Verdict {
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

    /// Walks an inbound packet: security, then distributor.
    pub fn inbound(&mut self, now: Instant, origin: Origin, packet: Vec<u8>) -> Verdict {
        let mut verdict = Verdict::Continue(packet);
        for stage in [&mut self.security, &mut self.distributor]
            .into_iter()
            .flatten()
        {
            let Verdict::Continue(packet) = verdict else {
                break;
            };
            verdict = stage.inbound(now, origin, packet);
        }
        verdict
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
