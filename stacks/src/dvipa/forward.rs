//! The table of a DVIPA's owner that names the connections still open on a Moving holder, whose
//! packets go to that holder over dynamic XCF (IMMEDIATE takeback); the datapath's distributor
//! stage ([`crate::distributor::DistributorStage`]) consults it.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smoltcp::wire::{IpProtocol, Ipv4Packet, TcpPacket};

use super::model::ConnKey;

/// The connections to forward, by (local DVIPA socket, foreign socket), to an XCF address.
#[derive(Clone, Debug, Default)]
pub struct ForwardTable {
    entries: Arc<Mutex<BTreeMap<ConnKey, Ipv4Addr>>>,
}

impl ForwardTable {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<ConnKey, Ipv4Addr>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forwards these connections to the stack with XCF address `xcf`.
    pub fn add(&self, xcf: Ipv4Addr, connections: &[ConnKey]) {
        let mut entries = self.lock();
        for conn in connections {
            entries.insert(*conn, xcf);
        }
    }

    /// Stops forwarding connections on `addr` to `xcf`.
    pub fn remove(&self, addr: Ipv4Addr, xcf: Ipv4Addr) {
        self.lock()
            .retain(|conn, to| !(*conn.local.ip() == addr && *to == xcf));
    }

    /// Stops forwarding everything.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The number of connections forwarded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is forwarded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the TCP packet `packet` must go, if it belongs to a forwarded connection.
    pub(crate) fn lookup(&self, packet: &[u8]) -> Option<Ipv4Addr> {
        let ip = Ipv4Packet::new_checked(packet).ok()?;
        if ip.next_header() != IpProtocol::Tcp {
            return None;
        }
        let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
        let key = ConnKey {
            local: SocketAddrV4::new(ip.dst_addr(), tcp.dst_port()),
            foreign: SocketAddrV4::new(ip.src_addr(), tcp.src_port()),
        };
        self.lock().get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::time::Instant;
    use smoltcp::wire::{IpAddress, Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber};

    use super::*;
    use crate::datapath::stage::{Origin, PacketStage, Verdict};
    use crate::distributor::{DistributorStage, SharedSd};

    const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 30);
    const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
    const HOLDER_XCF: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 12);

    fn tcp_packet(src_port: u16) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port,
            dst_port: 7,
            control: TcpControl::None,
            seq_number: TcpSeqNumber(1),
            ack_number: None,
            window_len: 100,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let ip = Ipv4Repr {
            src_addr: HOST,
            dst_addr: DVIPA,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut bytes = vec![0u8; ip.buffer_len() + tcp.buffer_len()];
        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        ip.emit(&mut packet, &ChecksumCapabilities::default());
        tcp.emit(
            &mut TcpPacket::new_unchecked(packet.payload_mut()),
            &IpAddress::Ipv4(HOST),
            &IpAddress::Ipv4(DVIPA),
            &ChecksumCapabilities::default(),
        );
        bytes
    }

    #[test]
    fn forwards_only_the_listed_connections_and_only_from_the_lan() {
        let table = ForwardTable::default();
        table.add(
            HOLDER_XCF,
            &[ConnKey {
                local: SocketAddrV4::new(DVIPA, 7),
                foreign: SocketAddrV4::new(HOST, 40000),
            }],
        );
        let mut stage = DistributorStage::new(table.clone(), SharedSd::default());
        let old = tcp_packet(40000);
        assert_eq!(
            stage.inbound(Instant::ZERO, Origin::Lan, old.clone()),
            Verdict::ForwardXcf {
                to: HOLDER_XCF,
                packet: old.clone()
            }
        );
        assert_eq!(
            stage.inbound(Instant::ZERO, Origin::Xcf(HOLDER_XCF), old.clone()),
            Verdict::Continue(old)
        );
        let new = tcp_packet(40001);
        assert_eq!(
            stage.inbound(Instant::ZERO, Origin::Lan, new.clone()),
            Verdict::Continue(new)
        );
        table.remove(DVIPA, HOLDER_XCF);
        assert!(table.is_empty());
    }
}
