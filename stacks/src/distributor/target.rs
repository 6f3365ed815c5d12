//! A target stack's side: its own CRT of the connections distributors routed to it, its
//! listener counts, the reports it sends, and its answer to a new distributor.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::wire::{IpProtocol, Ipv4Packet, TcpPacket};

use super::packet::{Inbound, Segment, parse};
use super::signal::{ListenerReport, SdSignal, TargetAnswer};
use crate::dvipa::model::ConnKey;

/// The target's table: routed connections by 4-tuple, with the distributor that routed each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetTable {
    connections: HashMap<ConnKey, Routed>,
    listeners: BTreeMap<(Ipv4Addr, u16), u16>,
}

/// One routed connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Routed {
    /// The XCF address of the distributor that routes it.
    distributor: Ipv4Addr,
    /// Whether a sweep has seen the stack hold it open.
    seen_open: bool,
}

impl TargetTable {
    /// Records a connection the distributor with XCF address `distributor` routed here.
    pub fn record(&mut self, conn: ConnKey, distributor: Ipv4Addr) {
        self.connections.insert(
            conn,
            Routed {
                distributor,
                seen_open: false,
            },
        );
    }

    /// Looks at a packet that reached this stack, routed here by the distributor with XCF
    /// address `routed_by` (over XCF, or this stack's own); see [`TargetTable::on_segment`].
    pub fn on_inbound(
        &mut self,
        routed_by: Option<Ipv4Addr>,
        packet: &[u8],
    ) -> Option<(Ipv4Addr, SdSignal)> {
        match parse(packet) {
            Ok(Inbound::Tcp(segment)) => self.on_segment(routed_by, &segment),
            _ => None,
        }
    }

    /// Looks at a TCP segment that reached this stack, routed here by `routed_by`: a
    /// connection request is recorded; a RST ends the connection (the report to send comes back
    /// with its addressee).
    pub fn on_segment(
        &mut self,
        routed_by: Option<Ipv4Addr>,
        segment: &Segment,
    ) -> Option<(Ipv4Addr, SdSignal)> {
        if segment.rst {
            return self.connection_closed(&segment.conn);
        }
        if let (Some(distributor), true) = (routed_by, segment.is_connection_request()) {
            self.record(segment.conn, distributor);
        }
        None
    }

    /// Looks at a packet this stack sends: a RST from a routed connection ends it.
    pub fn on_outbound(&mut self, packet: &[u8]) -> Option<(Ipv4Addr, SdSignal)> {
        let ip = Ipv4Packet::new_checked(packet).ok()?;
        if ip.next_header() != IpProtocol::Tcp {
            return None;
        }
        let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
        if !tcp.rst() {
            return None;
        }
        self.connection_closed(&ConnKey {
            local: SocketAddrV4::new(ip.src_addr(), tcp.src_port()),
            foreign: SocketAddrV4::new(ip.dst_addr(), tcp.dst_port()),
        })
    }

    /// The stack closed a connection: forget it and tell its distributor.
    pub fn connection_closed(&mut self, conn: &ConnKey) -> Option<(Ipv4Addr, SdSignal)> {
        self.connections
            .remove(conn)
            .map(|routed| (routed.distributor, SdSignal::ConnectionEnded(*conn)))
    }

    /// Compares the table with the connections the stack holds `open`: a routed connection seen
    /// open before and now gone ended (closed by FIN, or timed out); the reports to send come
    /// back with their addressees. A connection not yet seen open is kept (its SYN may be
    /// ahead of the socket).
    pub fn sweep(&mut self, open: &HashSet<ConnKey>) -> Vec<(Ipv4Addr, SdSignal)> {
        let mut ended = Vec::new();
        self.connections.retain(|conn, routed| {
            if open.contains(conn) {
                routed.seen_open = true;
                true
            } else if routed.seen_open {
                ended.push((routed.distributor, SdSignal::ConnectionEnded(*conn)));
                false
            } else {
                true
            }
        });
        ended.sort_unstable_by_key(|(_, signal)| match signal {
            SdSignal::ConnectionEnded(conn) => Some(*conn),
            _ => None,
        });
        ended
    }

    /// The listener count of a DVIPA and port changed: the report for the distributor.
    pub fn set_listeners(&mut self, dvipa: Ipv4Addr, port: u16, ready: u16) -> SdSignal {
        if ready == 0 {
            self.listeners.remove(&(dvipa, port));
        } else {
            self.listeners.insert((dvipa, port), ready);
        }
        SdSignal::Listeners(ListenerReport { dvipa, port, ready })
    }

    /// The answer to a new distributor of `dvipa`; the connections are now routed by it.
    pub fn answer(&mut self, dvipa: Ipv4Addr, new_distributor: Ipv4Addr) -> TargetAnswer {
        let listeners = self
            .listeners
            .range((dvipa, 0)..=(dvipa, u16::MAX))
            .map(|(&(dvipa, port), &ready)| ListenerReport { dvipa, port, ready })
            .collect();
        let mut connections = Vec::new();
        for (conn, routed) in &mut self.connections {
            if *conn.local.ip() == dvipa {
                routed.distributor = new_distributor;
                connections.push(*conn);
            }
        }
        connections.sort_unstable();
        TargetAnswer {
            dvipa,
            listeners,
            connections,
        }
    }

    /// Whether `conn` is a connection routed here.
    pub fn contains(&self, conn: &ConnKey) -> bool {
        self.connections.contains_key(conn)
    }

    /// The number of routed connections held.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// Whether no routed connection is held.
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributor::packet::tcp_packet;

    fn client() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 40_000)
    }

    fn server() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 80)
    }

    const DISTRIBUTOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    #[test]
    fn records_forwarded_syns_and_reports_the_end_to_their_distributor() {
        let mut table = TargetTable::default();
        assert_eq!(
            table.on_inbound(None, &tcp_packet(client(), server(), "S")),
            None
        );
        assert!(table.is_empty());
        table.on_inbound(Some(DISTRIBUTOR), &tcp_packet(client(), server(), "S"));
        assert_eq!(table.len(), 1);
        let conn = ConnKey {
            local: server(),
            foreign: client(),
        };
        assert_eq!(
            table.on_outbound(&tcp_packet(server(), client(), "R")),
            Some((DISTRIBUTOR, SdSignal::ConnectionEnded(conn)))
        );
        assert!(table.is_empty());
    }

    #[test]
    fn the_answer_lists_listeners_and_connections_of_the_dvipa_only() {
        let mut table = TargetTable::default();
        table.set_listeners(*server().ip(), 80, 2);
        table.set_listeners(Ipv4Addr::new(198, 51, 100, 11), 80, 1);
        table.on_inbound(Some(DISTRIBUTOR), &tcp_packet(client(), server(), "S"));
        let answer = table.answer(*server().ip(), Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(answer.listeners.len(), 1);
        assert_eq!(answer.connections.len(), 1);
        let conn = answer.connections[0];
        assert_eq!(
            table.connection_closed(&conn),
            Some((Ipv4Addr::new(192, 0, 2, 2), SdSignal::ConnectionEnded(conn)))
        );
    }

    #[test]
    fn a_sweep_ends_connections_seen_open_and_then_gone_only() {
        let mut table = TargetTable::default();
        table.on_inbound(Some(DISTRIBUTOR), &tcp_packet(client(), server(), "S"));
        let conn = ConnKey {
            local: server(),
            foreign: client(),
        };
        assert!(table.sweep(&HashSet::new()).is_empty(), "not yet seen open");
        assert!(table.sweep(&HashSet::from([conn])).is_empty());
        assert_eq!(table.len(), 1);
        assert_eq!(
            table.sweep(&HashSet::new()),
            vec![(DISTRIBUTOR, SdSignal::ConnectionEnded(conn))]
        );
        assert!(table.is_empty());
    }
}
