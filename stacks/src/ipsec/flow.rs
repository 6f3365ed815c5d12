//! The selector fields of an IPv4 packet (addresses, protocol, ports) and how they match
//! IKE traffic selectors and IPSECRULE filters.

use std::net::Ipv4Addr;

use ike::wire::Ipv4Range;
use smoltcp::wire::Ipv4Packet;

/// IP protocol numbers the SPD looks at.
pub const IPPROTO_ICMP: u8 = 1;
/// TCP.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;

/// The selector fields of one IPv4 packet; ports are 0 for protocols without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol.
    pub protocol: u8,
    /// Source port (TCP, UDP).
    pub src_port: u16,
    /// Destination port (TCP, UDP).
    pub dst_port: u16,
}

impl Flow {
    /// Reads the fields of an IPv4 packet; `None` if it is not one. Ports are read only from
    /// a first fragment that holds them.
    pub fn of(packet: &[u8]) -> Option<Self> {
        let ip = Ipv4Packet::new_checked(packet).ok()?;
        let protocol = u8::from(ip.next_header());
        let payload = ip.payload();
        let (src_port, dst_port) = match (protocol, payload) {
            (IPPROTO_TCP | IPPROTO_UDP, [a, b, c, d, ..]) if ip.frag_offset() == 0 => {
                (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))
            }
            _ => (0, 0),
        };
        Some(Self {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            protocol,
            src_port,
            dst_port,
        })
    }

    /// The same flow seen from the other end.
    pub fn reversed(self) -> Self {
        Self {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..self
        }
    }

    /// Whether a packet of this flow leaving from `local` to `remote` fits a CHILD SA's
    /// selectors (`local` our side, `remote` the peer's).
    pub fn fits(&self, local: &Ipv4Range, remote: &Ipv4Range) -> bool {
        side_fits(local, self.src, self.protocol, self.src_port)
            && side_fits(remote, self.dst, self.protocol, self.dst_port)
    }
}

fn side_fits(range: &Ipv4Range, addr: Ipv4Addr, protocol: u8, port: u16) -> bool {
    (range.start_addr..=range.end_addr).contains(&addr)
        && (range.ip_protocol == 0 || range.ip_protocol == protocol)
        && (range.start_port..=range.end_port).contains(&port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_packet(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, IPPROTO_UDP, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0, 8, 0, 0]);
        p
    }

    #[test]
    fn reads_addresses_protocol_and_ports_and_fits_selectors() {
        let flow = Flow::of(&udp_packet([192, 0, 2, 1], [192, 0, 2, 2], 1234, 53)).expect("flow");
        assert_eq!(
            (flow.protocol, flow.src_port, flow.dst_port),
            (IPPROTO_UDP, 1234, 53)
        );
        let host = |a: Ipv4Addr| Ipv4Range {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: a,
            end_addr: a,
        };
        let (a, b) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        assert!(flow.fits(&host(a), &host(b)));
        assert!(!flow.fits(&host(b), &host(a)));
        assert!(flow.reversed().fits(&host(b), &host(a)));
        let tcp_only = Ipv4Range {
            ip_protocol: IPPROTO_TCP,
            ..host(a)
        };
        assert!(!flow.fits(&tcp_only, &host(b)));
    }

    #[test]
    fn garbage_is_not_a_flow() {
        assert_eq!(Flow::of(&[0x45, 0, 0]), None);
        assert_eq!(Flow::of(&[0x60; 40]), None);
    }
}
