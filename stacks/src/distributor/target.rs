//! A target stack's side: its own CRT of the connections distributors routed to it, its
//! listener counts, the reports it sends, and its answer to a new distributor.
//!
//! A connection whose request arrived protected (decrypted from ESP by its distributor, or by
//! this stack's own security stage when it distributes the DVIPA itself) is marked protected:
//! its outbound packets go back to the distributor that routes it, which does the IPSec
//! processing (the claims' design: both directions of secure traffic pass the distribution
//! processor). The mark stays when a new distributor's query moves the connection to it, so
//! after a takeover or a planned transfer the packets go to the new distributor, or stay on
//! this stack when it is the new distributor itself.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;

use super::packet::{Inbound, Segment, outbound_segment, parse};
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
    /// Sweeps that did not see it open, before any did.
    missed: u8,
    /// Its request arrived protected: outbound packets go back to the distributor.
    protected: bool,
}

impl TargetTable {
    /// Records a connection the distributor with XCF address `distributor` routed here;
    /// `protected` when its request arrived protected.
    pub fn record(&mut self, conn: ConnKey, distributor: Ipv4Addr, protected: bool) {
        self.connections.insert(
            conn,
            Routed {
                distributor,
                seen_open: false,
                missed: 0,
                protected,
            },
        );
    }

    /// Looks at a packet that reached this stack in clear, routed here by the distributor
    /// with XCF address `routed_by` (over XCF, or this stack's own); see
    /// [`TargetTable::on_segment`].
    pub fn on_inbound(
        &mut self,
        routed_by: Option<Ipv4Addr>,
        packet: &[u8],
    ) -> Option<(Ipv4Addr, SdSignal)> {
        match parse(packet) {
            Ok(Inbound::Tcp(segment)) => self.on_segment(routed_by, &segment, false),
            _ => None,
        }
    }

    /// Looks at a TCP segment that reached this stack, routed here by `routed_by`, which
    /// arrived `protected` or not: a connection request is recorded (protected or not); a
    /// protected segment marks a routed connection protected, and makes a connection another
    /// stack forwards here without having routed its request (a Moving DVIPA's takeback
    /// forwarding) a protected one routed by that stack; a RST ends the connection (the report
    /// to send comes back with its addressee).
    pub fn on_segment(
        &mut self,
        routed_by: Option<Ipv4Addr>,
        segment: &Segment,
        protected: bool,
    ) -> Option<(Ipv4Addr, SdSignal)> {
        if segment.rst {
            return self.connection_closed(&segment.conn);
        }
        match (routed_by, self.connections.get_mut(&segment.conn)) {
            (Some(distributor), _) if segment.is_connection_request() => {
                self.record(segment.conn, distributor, protected);
            }
            (_, Some(routed)) => routed.protected |= protected,
            // A segment of a connection the stack does not hold is answered with a RST, which
            // removes the entry again (see `on_outbound_segment`).
            (Some(distributor), None) if protected => {
                self.record(segment.conn, distributor, true);
            }
            _ => {}
        }
        None
    }

    /// Looks at a packet this stack sends: a RST from a routed connection ends it.
    pub fn on_outbound(&mut self, packet: &[u8]) -> Option<(Ipv4Addr, SdSignal)> {
        self.on_outbound_segment(&outbound_segment(packet)?)
    }

    /// Looks at a TCP segment this stack sends (its connection seen from this side): a RST
    /// from a routed connection ends it.
    pub fn on_outbound_segment(&mut self, segment: &Segment) -> Option<(Ipv4Addr, SdSignal)> {
        if !segment.rst {
            return None;
        }
        self.connection_closed(&segment.conn)
    }

    /// The distributor an outbound segment of a protected connection goes back to (its
    /// connection seen from this side); `None` for a clear or unknown connection.
    pub fn protected_route(&self, segment: &Segment) -> Option<Ipv4Addr> {
        self.connections
            .get(&segment.conn)
            .filter(|routed| routed.protected)
            .map(|routed| routed.distributor)
    }

    /// Whether `conn` is a routed connection whose request arrived protected.
    pub fn is_protected(&self, conn: &ConnKey) -> bool {
        self.connections.get(conn).is_some_and(|r| r.protected)
    }

    /// The stack closed a connection: forget it and tell its distributor.
    pub fn connection_closed(&mut self, conn: &ConnKey) -> Option<(Ipv4Addr, SdSignal)> {
        self.connections
            .remove(conn)
            .map(|routed| (routed.distributor, SdSignal::ConnectionEnded(*conn)))
    }

    /// Compares the table with the connections the stack holds `open`: a routed connection seen
    /// open before and now gone ended (closed by FIN, or timed out); the reports to send come
    /// back with their addressees. A connection not yet seen open is kept at the first sweep
    /// that misses it (the listing swept may be older than its SYN) and ends at the second (it
    /// lasted less than a sweep, or its SYN never made a socket).
    pub fn sweep(&mut self, open: &HashSet<ConnKey>) -> Vec<(Ipv4Addr, SdSignal)> {
        let mut ended = Vec::new();
        self.connections.retain(|conn, routed| {
            if open.contains(conn) {
                routed.seen_open = true;
                return true;
            }
            routed.missed = routed.missed.saturating_add(1);
            if routed.seen_open || routed.missed >= 2 {
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

    /// The answer to a new distributor of `dvipa`; the connections are now routed by it (and
    /// the protected ones send their outbound packets to it). When the new distributor is this
    /// stack, its connections routed by the old one become its own, local ones.
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
    use std::net::SocketAddrV4;

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

    fn conn() -> ConnKey {
        ConnKey {
            local: server(),
            foreign: client(),
        }
    }

    fn segment(from: SocketAddrV4, to: SocketAddrV4, flags: &str) -> Segment {
        match parse(&tcp_packet(from, to, flags)) {
            Ok(Inbound::Tcp(segment)) => segment,
            other => panic!("not TCP: {other:?}"),
        }
    }

    fn outbound(flags: &str) -> Segment {
        outbound_segment(&tcp_packet(server(), client(), flags)).unwrap()
    }

    #[test]
    fn a_connection_requested_protected_returns_its_packets_to_its_distributor() {
        let mut table = TargetTable::default();
        table.on_segment(Some(DISTRIBUTOR), &segment(client(), server(), "S"), true);
        assert!(table.is_protected(&conn()));
        assert_eq!(table.protected_route(&outbound("A")), Some(DISTRIBUTOR));
        let other = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 6), 40_001);
        table.on_segment(Some(DISTRIBUTOR), &segment(other, server(), "S"), false);
        let clear = outbound_segment(&tcp_packet(server(), other, "A")).unwrap();
        assert_eq!(table.protected_route(&clear), None, "clear stays clear");
    }

    #[test]
    fn a_protected_segment_marks_a_clear_connection_and_a_clear_one_does_not_unmark() {
        let mut table = TargetTable::default();
        table.on_segment(Some(DISTRIBUTOR), &segment(client(), server(), "S"), false);
        table.on_segment(None, &segment(client(), server(), "A"), true);
        assert!(table.is_protected(&conn()));
        table.on_segment(None, &segment(client(), server(), "A"), false);
        assert!(table.is_protected(&conn()));
        table.on_segment(None, &segment(client(), server(), "R"), true);
        assert!(table.is_empty());
    }

    #[test]
    fn a_protected_segment_forwarded_without_its_request_is_adopted_and_a_clear_one_not() {
        let mut table = TargetTable::default();
        table.on_segment(Some(DISTRIBUTOR), &segment(client(), server(), "A"), false);
        assert!(table.is_empty());
        table.on_segment(None, &segment(client(), server(), "A"), true);
        assert!(table.is_empty(), "nobody forwarded it");
        table.on_segment(Some(DISTRIBUTOR), &segment(client(), server(), "A"), true);
        assert_eq!(table.protected_route(&outbound("A")), Some(DISTRIBUTOR));
        assert_eq!(
            table.on_outbound_segment(&outbound("R")),
            Some((DISTRIBUTOR, SdSignal::ConnectionEnded(conn())))
        );
        assert!(table.is_empty());
    }

    #[test]
    fn the_mark_survives_a_new_distributor_and_follows_it() {
        let mut table = TargetTable::default();
        table.on_segment(Some(DISTRIBUTOR), &segment(client(), server(), "S"), true);
        let new = Ipv4Addr::new(192, 0, 2, 2);
        let answer = table.answer(*server().ip(), new);
        assert_eq!(answer.connections, vec![conn()]);
        assert_eq!(table.protected_route(&outbound("A")), Some(new));
        assert_eq!(
            table.on_outbound_segment(&outbound("R")),
            Some((new, SdSignal::ConnectionEnded(conn())))
        );
        assert_eq!(table.protected_route(&outbound("A")), None);
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

    #[test]
    fn a_connection_no_sweep_saw_open_ends_at_the_second_sweep_missing_it() {
        let mut table = TargetTable::default();
        table.on_inbound(Some(DISTRIBUTOR), &tcp_packet(client(), server(), "S"));
        let conn = ConnKey {
            local: server(),
            foreign: client(),
        };
        assert!(
            table.sweep(&HashSet::new()).is_empty(),
            "the listing may predate the SYN"
        );
        assert_eq!(
            table.sweep(&HashSet::new()),
            vec![(DISTRIBUTOR, SdSignal::ConnectionEnded(conn))],
            "it came and went between two sweeps"
        );
        assert!(table.is_empty());
    }
}
