//! The side queue of frames for connections in TIME_WAIT.
//!
//! smoltcp scans every socket of a set on every poll and every received segment, so a stack
//! that closes connections first at a high rate would spend its time on sockets that only wait
//! out TIME_WAIT. The stack keeps those sockets in a set of their own, polled only when a
//! segment for one of them arrives: this filter picks those segments out of the frames
//! smoltcp is about to take, at the moment it takes them, so a segment always meets the set
//! its socket is in.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddrV4;

use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpPacket};

use crate::lan::LanFrame;

/// A TCP connection as this stack sees it: its local and foreign sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpTuple {
    /// The local socket.
    pub local: SocketAddrV4,
    /// The foreign socket.
    pub foreign: SocketAddrV4,
}

/// The connections in TIME_WAIT and the frames received for them, not yet polled.
#[derive(Debug, Default)]
pub struct TimeWaitFilter {
    tuples: HashSet<TcpTuple>,
    frames: VecDeque<LanFrame>,
    touched: Vec<TcpTuple>,
}

impl TimeWaitFilter {
    /// Starts picking out the segments of connection `tuple`.
    pub fn insert(&mut self, tuple: TcpTuple) {
        self.tuples.insert(tuple);
    }

    /// Stops picking out the segments of connection `tuple`.
    pub fn remove(&mut self, tuple: &TcpTuple) {
        self.tuples.remove(tuple);
    }

    /// Keeps `frame` aside when it is a segment of a connection in TIME_WAIT; gives it back
    /// otherwise.
    pub fn divert(&mut self, frame: LanFrame) -> Option<LanFrame> {
        if self.tuples.is_empty() {
            return Some(frame);
        }
        match inbound_tuple(&frame.bytes) {
            Some(tuple) if self.tuples.contains(&tuple) => {
                self.frames.push_back(frame);
                self.touched.push(tuple);
                None
            }
            _ => Some(frame),
        }
    }

    /// The next frame kept aside.
    pub fn pop(&mut self) -> Option<LanFrame> {
        self.frames.pop_front()
    }

    /// The connections frames were kept aside for since the last call, in arrival order
    /// (repeated when several came).
    pub fn take_touched(&mut self) -> Vec<TcpTuple> {
        std::mem::take(&mut self.touched)
    }

    /// Whether frames wait for the TIME_WAIT sockets.
    pub fn has_frames(&self) -> bool {
        !self.frames.is_empty()
    }
}

/// The connection of a TCP segment in an Ethernet frame received by this stack.
fn inbound_tuple(frame: &[u8]) -> Option<TcpTuple> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Tcp || ip.frag_offset() != 0 {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    Some(TcpTuple {
        local: SocketAddrV4::new(ip.dst_addr(), tcp.dst_port()),
        foreign: SocketAddrV4::new(ip.src_addr(), tcp.src_port()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetAddress, EthernetRepr, IpAddress, Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber,
    };
    use std::net::Ipv4Addr;

    const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 50), 49152);
    const FOREIGN: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 22), 7);

    fn segment(from: SocketAddrV4, to: SocketAddrV4) -> Bytes {
        let tcp = TcpRepr {
            src_port: from.port(),
            dst_port: to.port(),
            control: TcpControl::Fin,
            seq_number: TcpSeqNumber(1),
            ack_number: Some(TcpSeqNumber(1)),
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
        let eth = EthernetRepr {
            src_addr: EthernetAddress([0x02, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([0x02, 0, 0, 0, 0, 2]),
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut bytes = vec![0u8; eth.buffer_len() + ip.buffer_len() + tcp.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut frame);
        let caps = ChecksumCapabilities::default();
        let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet, &caps);
        tcp.emit(
            &mut TcpPacket::new_unchecked(packet.payload_mut()),
            &IpAddress::Ipv4(*from.ip()),
            &IpAddress::Ipv4(*to.ip()),
            &caps,
        );
        Bytes::from(bytes)
    }

    #[test]
    fn segments_of_a_connection_in_time_wait_are_kept_aside_in_order() {
        let mut filter = TimeWaitFilter::default();
        let tuple = TcpTuple {
            local: LOCAL,
            foreign: FOREIGN,
        };
        filter.insert(tuple);
        let first = LanFrame::from(segment(FOREIGN, LOCAL));
        assert_eq!(filter.divert(first.clone()), None);
        assert_eq!(filter.divert(first.clone()), None);
        assert!(filter.has_frames());
        assert_eq!(filter.take_touched(), vec![tuple, tuple]);
        assert!(filter.take_touched().is_empty());
        assert_eq!(filter.pop(), Some(first.clone()));
        assert_eq!(filter.pop(), Some(first));
        assert!(!filter.has_frames());
    }

    #[test]
    fn other_frames_pass_and_a_removed_connection_passes_again() {
        let mut filter = TimeWaitFilter::default();
        let tuple = TcpTuple {
            local: LOCAL,
            foreign: FOREIGN,
        };
        filter.insert(tuple);
        let other_port = SocketAddrV4::new(*FOREIGN.ip(), 8);
        assert!(filter.divert(segment(other_port, LOCAL).into()).is_some());
        assert!(
            filter.divert(segment(LOCAL, FOREIGN).into()).is_some(),
            "the reverse direction is another connection's"
        );
        assert!(filter.divert(Bytes::from_static(b"short").into()).is_some());
        filter.remove(&tuple);
        assert!(filter.divert(segment(FOREIGN, LOCAL).into()).is_some());
        assert!(!filter.has_frames());
    }
}
