//! ARP for a sysplex: which ARP packets reach smoltcp, and the frames the datapath makes itself.
//!
//! smoltcp answers ARP for every address on its interface, and a Sysplex Distributor target must
//! carry the distributed DVIPA on its interface without ever answering for it. So every ARP
//! packet passes through [`classify`] first: requests reach smoltcp only for HOME addresses and
//! advertised DVIPAs. smoltcp never sends gratuitous ARP and ignores the ones it receives; the
//! datapath sends them ([`gratuitous_arp`]) and, where asked to, makes smoltcp follow the ones
//! it receives ([`neighbour_update`]), as a Linux host updates its neighbour entry.

use std::net::Ipv4Addr;

use bytes::Bytes;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr,
};

use super::addresses::{AddressBook, AddressRole, DvipaRole};

/// Why an ARP packet did not reach smoltcp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpIgnored {
    /// A request for a DVIPA this stack holds only as a distributor target.
    TargetOnly,
    /// A request or reply about an address this stack does not hold.
    NotOurs,
    /// A gratuitous ARP for an address this stack does not hold, and learning is off.
    Gratuitous,
    /// An ARP packet sent by this stack itself, seen again.
    OwnFrame,
}

/// What the datapath does with one received ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpVerdict {
    /// Hand it to smoltcp: a request for an address answered here, or a reply to this stack.
    Pass,
    /// A gratuitous ARP moved `addr` to `mac`: make smoltcp's neighbour cache follow.
    Learn {
        /// The announced address.
        addr: Ipv4Addr,
        /// Its new hardware address.
        mac: EthernetAddress,
    },
    /// Another station claims an address this stack answers for.
    Conflict {
        /// The contested address.
        addr: Ipv4Addr,
        /// The other station.
        mac: EthernetAddress,
    },
    /// Drop it.
    Ignore(ArpIgnored),
}

/// Decides what to do with an ARP packet received on the LAN.
pub fn classify(
    arp: &ArpRepr,
    book: &AddressBook,
    own_mac: EthernetAddress,
    learn_gratuitous: bool,
) -> ArpVerdict {
    let ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    } = *arp
    else {
        return ArpVerdict::Ignore(ArpIgnored::NotOurs);
    };
    if source_hardware_addr == own_mac {
        return ArpVerdict::Ignore(ArpIgnored::OwnFrame);
    }
    if book.answers_arp_for(source_protocol_addr) {
        return ArpVerdict::Conflict {
            addr: source_protocol_addr,
            mac: source_hardware_addr,
        };
    }
    if source_protocol_addr == target_protocol_addr {
        // Gratuitous: someone announces where an address lives now. A distributor target hears
        // the distributor announce the DVIPA it holds as target: that is expected, not learned.
        if book.holds(target_protocol_addr)
            || !learn_gratuitous
            || !book.is_on_link(source_protocol_addr)
        {
            return ArpVerdict::Ignore(ArpIgnored::Gratuitous);
        }
        return ArpVerdict::Learn {
            addr: source_protocol_addr,
            mac: source_hardware_addr,
        };
    }
    match (operation, book.role(target_protocol_addr)) {
        (ArpOperation::Request, Some(AddressRole::Dvipa(DvipaRole::Target))) => {
            ArpVerdict::Ignore(ArpIgnored::TargetOnly)
        }
        (ArpOperation::Request | ArpOperation::Reply, Some(_)) => ArpVerdict::Pass,
        _ => ArpVerdict::Ignore(ArpIgnored::NotOurs),
    }
}

fn arp_frame(dst: EthernetAddress, src: EthernetAddress, arp: &ArpRepr) -> Bytes {
    let eth = EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: EthernetProtocol::Arp,
    };
    let mut bytes = vec![0u8; eth.buffer_len() + arp.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
    eth.emit(&mut frame);
    arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    Bytes::from(bytes)
}

/// A gratuitous ARP announcing that `addr` now lives at `mac`: an ARP request with sender and
/// target protocol address both `addr`, to the broadcast address (RFC 5227 announcement).
pub fn gratuitous_arp(mac: EthernetAddress, addr: Ipv4Addr) -> Bytes {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: mac,
        source_protocol_addr: addr,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: addr,
    };
    arp_frame(EthernetAddress::BROADCAST, mac, &arp)
}

/// An ARP reply from (`addr`, `mac`) to this stack, which smoltcp accepts into its neighbour
/// cache: how the datapath makes smoltcp follow a gratuitous ARP it would otherwise ignore.
pub fn neighbour_update(
    own_mac: EthernetAddress,
    own_ip: Ipv4Addr,
    addr: Ipv4Addr,
    mac: EthernetAddress,
) -> Bytes {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: mac,
        source_protocol_addr: addr,
        target_hardware_addr: own_mac,
        target_protocol_addr: own_ip,
    };
    arp_frame(own_mac, mac, &arp)
}

/// Rewrites an ARP request that smoltcp sends from an address this stack must not announce (a
/// target-only DVIPA) to come from the primary HOME address, so that no neighbour learns the
/// DVIPA from it. Returns whether the frame changed.
pub fn rewrite_outbound(frame: &mut [u8], book: &AddressBook) -> bool {
    let Ok(mut eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    let Ok(mut packet) = ArpPacket::new_checked(eth.payload_mut()) else {
        return false;
    };
    let Ok(ArpRepr::EthernetIpv4 {
        source_protocol_addr,
        ..
    }) = ArpRepr::parse(&packet)
    else {
        return false;
    };
    if book.answers_arp_for(source_protocol_addr) {
        return false;
    }
    let Some(home) = book.primary_home() else {
        return false;
    };
    packet.set_source_protocol_addr(&home.octets());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::Ipv4Cidr;

    const OWN: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0a]);
    const PEER: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);
    const HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const OWNED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
    const TARGET: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 101);
    const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);

    fn book() -> AddressBook {
        let mut book = AddressBook::new(vec![Ipv4Cidr::new(HOME, 24)]);
        book.set_dvipa(OWNED, DvipaRole::Advertised);
        book.set_dvipa(TARGET, DvipaRole::Target);
        book
    }

    fn request(from_ip: Ipv4Addr, from_mac: EthernetAddress, target: Ipv4Addr) -> ArpRepr {
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: from_mac,
            source_protocol_addr: from_ip,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        }
    }

    fn parse(frame: &[u8]) -> ArpRepr {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap()
    }

    #[test]
    fn passes_requests_for_home_and_advertised_dvipas() {
        assert_eq!(
            classify(&request(HOST, PEER, HOME), &book(), OWN, true),
            ArpVerdict::Pass
        );
        assert_eq!(
            classify(&request(HOST, PEER, OWNED), &book(), OWN, true),
            ArpVerdict::Pass
        );
    }

    #[test]
    fn never_answers_for_a_target_only_dvipa() {
        let verdict = classify(&request(HOST, PEER, TARGET), &book(), OWN, true);
        assert_eq!(verdict, ArpVerdict::Ignore(ArpIgnored::TargetOnly));
    }

    #[test]
    fn ignores_requests_for_addresses_it_does_not_hold() {
        let verdict = classify(
            &request(HOST, PEER, Ipv4Addr::new(192, 0, 2, 7)),
            &book(),
            OWN,
            true,
        );
        assert_eq!(verdict, ArpVerdict::Ignore(ArpIgnored::NotOurs));
    }

    #[test]
    fn learns_a_gratuitous_arp_for_a_foreign_on_link_address() {
        let garp = parse(&gratuitous_arp(PEER, Ipv4Addr::new(192, 0, 2, 200)));
        let verdict = classify(&garp, &book(), OWN, true);
        assert_eq!(
            verdict,
            ArpVerdict::Learn {
                addr: Ipv4Addr::new(192, 0, 2, 200),
                mac: PEER
            }
        );
        assert_eq!(
            classify(&garp, &book(), OWN, false),
            ArpVerdict::Ignore(ArpIgnored::Gratuitous)
        );
    }

    #[test]
    fn a_target_ignores_its_distributors_announcement() {
        let garp = parse(&gratuitous_arp(PEER, TARGET));
        assert_eq!(
            classify(&garp, &book(), OWN, true),
            ArpVerdict::Ignore(ArpIgnored::Gratuitous)
        );
    }

    #[test]
    fn reports_a_conflict_when_another_station_claims_an_advertised_dvipa() {
        let garp = parse(&gratuitous_arp(PEER, OWNED));
        assert_eq!(
            classify(&garp, &book(), OWN, true),
            ArpVerdict::Conflict {
                addr: OWNED,
                mac: PEER
            }
        );
    }

    #[test]
    fn ignores_its_own_announcements() {
        let garp = parse(&gratuitous_arp(OWN, OWNED));
        assert_eq!(
            classify(&garp, &book(), OWN, true),
            ArpVerdict::Ignore(ArpIgnored::OwnFrame)
        );
    }

    #[test]
    fn builds_a_broadcast_gratuitous_request() {
        let frame = gratuitous_arp(OWN, OWNED);
        let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
        assert_eq!(eth.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(eth.src_addr(), OWN);
        assert_eq!(parse(&frame), request(OWNED, OWN, OWNED));
    }

    #[test]
    fn neighbour_update_is_a_reply_aimed_at_this_stack() {
        let frame = neighbour_update(OWN, HOME, OWNED, PEER);
        let ArpRepr::EthernetIpv4 {
            operation,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } = parse(&frame)
        else {
            panic!("not IPv4 ARP");
        };
        assert_eq!(operation, ArpOperation::Reply);
        assert_eq!((source_protocol_addr, target_protocol_addr), (OWNED, HOME));
        assert_eq!(
            EthernetFrame::new_checked(&frame[..]).unwrap().dst_addr(),
            OWN
        );
    }

    #[test]
    fn rewrites_requests_sent_from_a_target_only_dvipa() {
        let mut frame =
            arp_frame(EthernetAddress::BROADCAST, OWN, &request(TARGET, OWN, HOST)).to_vec();
        assert!(rewrite_outbound(&mut frame, &book()));
        assert_eq!(parse(&frame), request(HOME, OWN, HOST));
        let mut frame =
            arp_frame(EthernetAddress::BROADCAST, OWN, &request(OWNED, OWN, HOST)).to_vec();
        assert!(!rewrite_outbound(&mut frame, &book()));
    }
}
