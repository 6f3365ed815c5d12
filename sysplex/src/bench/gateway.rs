//! A router on the in-memory LAN for the SWSA benchmark: the LPARs and the remote peer stacks
//! all use it as their default gateway, so each stack needs one neighbour (the gateway) however
//! many peers it talks to. It answers ARP for its own address, learns where every address lives
//! from ARP senders (gratuitous ARPs included, so it follows a DVIPA to its new owner) and from
//! the source of the IPv4 packets it forwards, and forwards each IPv4 packet sent to its MAC to
//! the MAC of the destination address.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bytes::Bytes;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Ipv4Packet,
};
use stacks::lan::LanPort;
use stacks::lan::switch::EthernetSwitch;
use tokio::task::JoinHandle;

/// The router's MAC.
pub const GATEWAY_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, 0x01]);

/// What the router does with one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send this frame back onto the LAN.
    Send(Vec<u8>),
    /// Nothing to send.
    Nothing,
}

/// The router's forwarding state: its address and where each address lives.
#[derive(Debug, Clone)]
pub struct Router {
    address: Ipv4Addr,
    neighbours: HashMap<Ipv4Addr, EthernetAddress>,
}

impl Router {
    /// A router answering ARP for `address`, knowing no neighbour yet.
    pub fn new(address: Ipv4Addr) -> Self {
        Self {
            address,
            neighbours: HashMap::new(),
        }
    }

    /// Where `addr` lives, as learned so far.
    pub fn neighbour(&self, addr: Ipv4Addr) -> Option<EthernetAddress> {
        self.neighbours.get(&addr).copied()
    }

    /// Handles one frame heard on the LAN (bytes from outside: anything malformed is ignored).
    pub fn handle(&mut self, frame: &[u8]) -> Verdict {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return Verdict::Nothing;
        };
        let Ok(eth_repr) = EthernetRepr::parse(&eth) else {
            return Verdict::Nothing;
        };
        match eth_repr.ethertype {
            EthernetProtocol::Arp => self.arp(eth.payload()),
            EthernetProtocol::Ipv4 if eth_repr.dst_addr == GATEWAY_MAC => {
                self.forward(eth_repr.src_addr, eth.payload())
            }
            _ => Verdict::Nothing,
        }
    }

    fn arp(&mut self, payload: &[u8]) -> Verdict {
        let Ok(packet) = ArpPacket::new_checked(payload) else {
            return Verdict::Nothing;
        };
        let Ok(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        }) = ArpRepr::parse(&packet)
        else {
            return Verdict::Nothing;
        };
        if source_hardware_addr != GATEWAY_MAC && !source_protocol_addr.is_unspecified() {
            self.neighbours
                .insert(source_protocol_addr, source_hardware_addr);
        }
        if operation != ArpOperation::Request
            || target_protocol_addr != self.address
            || source_protocol_addr == target_protocol_addr
        {
            return Verdict::Nothing;
        }
        let reply = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: GATEWAY_MAC,
            source_protocol_addr: self.address,
            target_hardware_addr: source_hardware_addr,
            target_protocol_addr: source_protocol_addr,
        };
        let eth = EthernetRepr {
            src_addr: GATEWAY_MAC,
            dst_addr: source_hardware_addr,
            ethertype: EthernetProtocol::Arp,
        };
        let mut bytes = vec![0; eth.buffer_len() + reply.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut frame);
        reply.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        Verdict::Send(bytes)
    }

    fn forward(&mut self, from: EthernetAddress, payload: &[u8]) -> Verdict {
        let Ok(packet) = Ipv4Packet::new_checked(payload) else {
            return Verdict::Nothing;
        };
        let (src, dst) = (packet.src_addr(), packet.dst_addr());
        if from != GATEWAY_MAC {
            self.neighbours.insert(src, from);
        }
        let Some(to) = self.neighbour(dst) else {
            return Verdict::Nothing;
        };
        let eth = EthernetRepr {
            src_addr: GATEWAY_MAC,
            dst_addr: to,
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut bytes = vec![0; eth.buffer_len() + payload.len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut frame);
        frame.payload_mut().copy_from_slice(payload);
        Verdict::Send(bytes)
    }
}

/// Plugs a router answering for `address` into `switch`; it runs until the task is aborted.
pub fn spawn(switch: &EthernetSwitch, address: Ipv4Addr) -> JoinHandle<()> {
    let mut port = switch.port();
    let mut router = Router::new(address);
    tokio::spawn(async move {
        loop {
            let frame = match std::future::poll_fn(|cx| port.poll_recv(cx)).await {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::warn!(%error, "gateway port failed");
                    return;
                }
            };
            if let Verdict::Send(bytes) = router.handle(&frame.bytes) {
                // A full port drops the frame, as a congested router would.
                let _ = port.send(Bytes::from(bytes));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const HOST_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x21]);
    const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 21);
    const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x64]);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);

    fn arp(operation: ArpOperation, mac: EthernetAddress, from: Ipv4Addr, to: Ipv4Addr) -> Vec<u8> {
        let repr = ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: mac,
            source_protocol_addr: from,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: to,
        };
        let eth = EthernetRepr {
            src_addr: mac,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Arp,
        };
        let mut bytes = vec![0; eth.buffer_len() + repr.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut frame);
        repr.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        bytes
    }

    fn ipv4(from_mac: EthernetAddress, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let ip = smoltcp::wire::Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: smoltcp::wire::IpProtocol::Udp,
            payload_len: 0,
            hop_limit: 64,
        };
        let eth = EthernetRepr {
            src_addr: from_mac,
            dst_addr: GATEWAY_MAC,
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut bytes = vec![0; eth.buffer_len() + ip.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut frame);
        ip.emit(
            &mut Ipv4Packet::new_unchecked(frame.payload_mut()),
            &smoltcp::phy::ChecksumCapabilities::default(),
        );
        bytes
    }

    fn destination(verdict: &Verdict) -> Option<EthernetAddress> {
        match verdict {
            Verdict::Send(bytes) => EthernetFrame::new_checked(&bytes[..])
                .ok()
                .map(|f| f.dst_addr()),
            Verdict::Nothing => None,
        }
    }

    #[test]
    fn answers_arp_for_its_address_only_and_learns_the_asker() {
        let mut router = Router::new(GATEWAY);
        let verdict = router.handle(&arp(ArpOperation::Request, HOST_MAC, HOST, GATEWAY));
        assert_eq!(destination(&verdict), Some(HOST_MAC));
        assert_eq!(router.neighbour(HOST), Some(HOST_MAC));
        let other = Ipv4Addr::new(192, 0, 2, 99);
        assert_eq!(
            router.handle(&arp(ArpOperation::Request, HOST_MAC, HOST, other)),
            Verdict::Nothing
        );
    }

    #[test]
    fn forwards_to_the_learned_mac_and_follows_a_gratuitous_arp() {
        let mut router = Router::new(GATEWAY);
        router.handle(&arp(ArpOperation::Request, PEER_MAC, PEER, PEER));
        assert_eq!(
            destination(&router.handle(&ipv4(HOST_MAC, HOST, PEER))),
            Some(PEER_MAC)
        );
        // The peer answers the host, whose address the router learned from the packet.
        assert_eq!(
            destination(&router.handle(&ipv4(PEER_MAC, PEER, HOST))),
            Some(HOST_MAC)
        );
        let moved = EthernetAddress([0x02, 0, 0, 0, 0, 0x22]);
        router.handle(&arp(ArpOperation::Request, moved, HOST, HOST));
        assert_eq!(
            destination(&router.handle(&ipv4(PEER_MAC, PEER, HOST))),
            Some(moved)
        );
    }

    #[test]
    fn drops_packets_for_unknown_addresses_and_malformed_frames() {
        let mut router = Router::new(GATEWAY);
        assert_eq!(router.handle(&ipv4(HOST_MAC, HOST, PEER)), Verdict::Nothing);
        assert_eq!(router.handle(&[0x02, 0x00]), Verdict::Nothing);
        let mut truncated = ipv4(HOST_MAC, HOST, PEER);
        truncated.truncate(20);
        assert_eq!(router.handle(&truncated), Verdict::Nothing);
    }
}
