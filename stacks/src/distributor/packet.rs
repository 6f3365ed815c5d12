//! The parts of an IPv4 packet the distributor looks at: addresses, ports, TCP flags.

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::wire::{IpProtocol, Ipv4Packet, TcpPacket};

use crate::dvipa::model::ConnKey;

/// A TCP segment's connection and the flags that change the CRT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Local socket: the destination (DVIPA and port); foreign: the source (the client).
    pub conn: ConnKey,
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

impl Segment {
    /// A connection request: SYN without ACK or RST.
    pub fn is_connection_request(&self) -> bool {
        self.syn && !self.ack && !self.rst
    }
}

/// An inbound IPv4 packet, as far as the distributor cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A TCP segment.
    Tcp(Segment),
    /// A fragment (the distributor cannot see its ports).
    Fragment {
        /// The destination address.
        dst: Ipv4Addr,
    },
    /// Another protocol.
    Other {
        /// The destination address.
        dst: Ipv4Addr,
    },
}

/// Why a packet could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The IPv4 header is short, not version 4, or its lengths do not fit the packet.
    #[error("malformed IPv4 header")]
    Ipv4,
    /// The TCP header is short or its data offset does not fit.
    #[error("malformed TCP header")]
    Tcp,
}

/// Reads the IPv4 and TCP headers of `packet` (checksums are the receiving stack's business).
pub fn parse(packet: &[u8]) -> Result<Inbound, Malformed> {
    let ip = Ipv4Packet::new_checked(packet).map_err(|_| Malformed::Ipv4)?;
    if ip.version() != 4 {
        return Err(Malformed::Ipv4);
    }
    let dst = ip.dst_addr();
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Ok(Inbound::Fragment { dst });
    }
    if ip.next_header() != IpProtocol::Tcp {
        return Ok(Inbound::Other { dst });
    }
    let tcp = TcpPacket::new_checked(ip.payload()).map_err(|_| Malformed::Tcp)?;
    Ok(Inbound::Tcp(Segment {
        conn: ConnKey {
            local: SocketAddrV4::new(dst, tcp.dst_port()),
            foreign: SocketAddrV4::new(ip.src_addr(), tcp.src_port()),
        },
        syn: tcp.syn(),
        ack: tcp.ack(),
        fin: tcp.fin(),
        rst: tcp.rst(),
    }))
}

/// Reads an outbound TCP segment (one this stack sends): its connection seen from this side
/// (local: the source), or `None` when it is not an unfragmented TCP segment.
pub fn outbound_segment(packet: &[u8]) -> Option<Segment> {
    match parse(packet) {
        Ok(Inbound::Tcp(segment)) => Some(Segment {
            conn: ConnKey {
                local: segment.conn.foreign,
                foreign: segment.conn.local,
            },
            ..segment
        }),
        _ => None,
    }
}

/// Test packets: a TCP segment between two sockets with the given flags.
#[cfg(test)]
pub(crate) fn tcp_packet(from: SocketAddrV4, to: SocketAddrV4, flags: &str) -> Vec<u8> {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber};

    let control = match flags {
        "S" => TcpControl::Syn,
        "F" => TcpControl::Fin,
        "R" => TcpControl::Rst,
        _ => TcpControl::None,
    };
    let tcp = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        control,
        seq_number: TcpSeqNumber(1000),
        ack_number: (flags != "S").then_some(TcpSeqNumber(1)),
        window_len: 1024,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: *from.ip(),
        dst_addr: *to.ip(),
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let mut bytes = vec![0; ip.buffer_len() + tcp.buffer_len()];
    let caps = ChecksumCapabilities::default();
    let mut packet = Ipv4Packet::new_unchecked(&mut bytes);
    ip.emit(&mut packet, &caps);
    tcp.emit(
        &mut TcpPacket::new_unchecked(packet.payload_mut()),
        &from.ip().to_owned().into(),
        &to.ip().to_owned().into(),
        &caps,
    );
    bytes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn client() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 40_000)
    }

    fn server() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 80)
    }

    #[test]
    fn reads_the_connection_and_flags_of_a_syn() {
        let Ok(Inbound::Tcp(segment)) = parse(&tcp_packet(client(), server(), "S")) else {
            panic!("not TCP");
        };
        assert_eq!(segment.conn.local, server());
        assert_eq!(segment.conn.foreign, client());
        assert!(segment.is_connection_request());
        let Ok(Inbound::Tcp(fin)) = parse(&tcp_packet(client(), server(), "F")) else {
            panic!("not TCP");
        };
        assert!(fin.fin && fin.ack && !fin.is_connection_request());
    }

    #[test]
    fn an_outbound_segment_is_seen_from_its_sender() {
        let segment = outbound_segment(&tcp_packet(server(), client(), "R")).unwrap();
        assert_eq!(segment.conn.local, server());
        assert_eq!(segment.conn.foreign, client());
        assert!(segment.rst);
        assert_eq!(
            outbound_segment(&tcp_packet(server(), client(), "S")[..10]),
            None
        );
    }

    #[test]
    fn truncated_headers_are_malformed() {
        let packet = tcp_packet(client(), server(), "S");
        assert_eq!(parse(&packet[..10]), Err(Malformed::Ipv4));
        let mut short = packet[..24].to_vec();
        // Shrink the total length so the IPv4 header fits and the TCP header does not.
        short[2..4].copy_from_slice(&24u16.to_be_bytes());
        assert_eq!(parse(&short), Err(Malformed::Tcp));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn mutated_tcp_packets_never_panic(
            index in 0usize..40,
            value in any::<u8>(),
            cut in 0usize..41,
        ) {
            let mut packet = tcp_packet(client(), server(), "S");
            if let Some(byte) = packet.get_mut(index) {
                *byte = value;
            }
            packet.truncate(cut);
            let _ = parse(&packet);
        }
    }
}
