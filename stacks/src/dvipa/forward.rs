//! The table of a DVIPA's owner that names the connections still open on a Moving holder, whose
//! packets go to that holder over dynamic XCF (IMMEDIATE takeback); the datapath's distributor
//! stage ([`crate::distributor::DistributorStage`]) consults it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

    /// Where the packets of connection `conn` must go, if it is forwarded.
    pub(crate) fn route(&self, conn: &ConnKey) -> Option<Ipv4Addr> {
        self.lock().get(conn).copied()
    }
}

#[cfg(test)]
mod tests {
    use smoltcp::time::Instant;

    use std::net::SocketAddrV4;

    use super::*;
    use crate::datapath::stage::{Origin, PacketStage, Verdict};
    use crate::distributor::{DistributorStage, SharedSd, packet};

    const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 30);
    const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
    const HOLDER_XCF: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 12);

    fn tcp_packet(src_port: u16) -> Vec<u8> {
        packet::tcp_packet(
            SocketAddrV4::new(HOST, src_port),
            SocketAddrV4::new(DVIPA, 7),
            "A",
        )
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
