//! The connection routing table (CRT): the distributor's map of routed connections to targets,
//! its timed affinities, and a target's own table of the connections routed to it.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use smoltcp::time::{Duration, Instant};

use crate::dvipa::model::ConnKey;

/// A routed connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The target's dynamic XCF address (DestXCF).
    pub xcf: Ipv4Addr,
    /// The client sent FIN; the entry stays until the target reports the end (or a RST).
    pub client_fin: bool,
}

/// The distributor's CRT: connection 4-tuple to target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Crt {
    routes: HashMap<ConnKey, Route>,
}

impl Crt {
    /// Makes room for `n` more connections.
    pub fn reserve(&mut self, n: usize) {
        self.routes.reserve(n);
    }

    /// The route of a connection.
    pub fn get(&self, conn: &ConnKey) -> Option<Route> {
        self.routes.get(conn).copied()
    }

    /// Routes a connection to `xcf`; returns the route it replaces.
    pub fn insert(&mut self, conn: ConnKey, xcf: Ipv4Addr) -> Option<Route> {
        self.routes.insert(
            conn,
            Route {
                xcf,
                client_fin: false,
            },
        )
    }

    /// Records the client's FIN.
    pub fn mark_client_fin(&mut self, conn: &ConnKey) {
        if let Some(route) = self.routes.get_mut(conn) {
            route.client_fin = true;
        }
    }

    /// Removes a connection.
    pub fn remove(&mut self, conn: &ConnKey) -> Option<Route> {
        self.routes.remove(conn)
    }

    /// Removes the connections that `drop` picks; returns how many went.
    pub fn remove_where(&mut self, mut drop: impl FnMut(&ConnKey, &Route) -> bool) -> usize {
        let before = self.routes.len();
        self.routes.retain(|conn, route| !drop(conn, route));
        before - self.routes.len()
    }

    /// Every connection and its target, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&ConnKey, &Route)> {
        self.routes.iter()
    }

    /// The number of connections.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// A timed affinity's key: the DVIPA and port, and the client's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AffinityKey {
    /// The distributed DVIPA.
    pub dvipa: Ipv4Addr,
    /// The distributed port.
    pub port: u16,
    /// The client's address.
    pub client: Ipv4Addr,
}

/// A timed affinity (TIMEDAFFINITY): the client's new connections go to `xcf` while it has
/// connections there, and for the affinity time after the last one ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affinity {
    /// The target.
    pub xcf: Ipv4Addr,
    /// The client's open connections routed under this affinity.
    pub active: u32,
    /// TIMEDAFFINITY, in seconds.
    pub seconds: u32,
    /// When the affinity ends (set when the last connection ends).
    pub expires: Option<Instant>,
}

/// The timed affinities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Affinities {
    entries: BTreeMap<AffinityKey, Affinity>,
}

impl Affinities {
    /// The live affinity of `key` at `now`.
    pub fn get(&self, key: &AffinityKey, now: Instant) -> Option<Affinity> {
        self.entries
            .get(key)
            .filter(|a| a.expires.is_none_or(|at| now < at))
            .copied()
    }

    /// Counts a new connection under the affinity of `key` to `xcf` (starting one if needed).
    pub fn connection_started(&mut self, key: AffinityKey, xcf: Ipv4Addr, seconds: u32) {
        let entry = self.entries.entry(key).or_insert(Affinity {
            xcf,
            active: 0,
            seconds,
            expires: None,
        });
        if entry.xcf != xcf {
            *entry = Affinity {
                xcf,
                active: 0,
                seconds,
                expires: None,
            };
        }
        entry.active += 1;
        entry.expires = None;
    }

    /// Counts the end of a connection; the timer starts when the client's last one ends.
    pub fn connection_ended(&mut self, key: &AffinityKey, xcf: Ipv4Addr, now: Instant) {
        if let Some(entry) = self.entries.get_mut(key).filter(|a| a.xcf == xcf) {
            entry.active = entry.active.saturating_sub(1);
            if entry.active == 0 {
                entry.expires = Some(now + Duration::from_secs(u64::from(entry.seconds)));
            }
        }
    }

    /// Drops the affinities that ended by `now`.
    pub fn expire(&mut self, now: Instant) {
        self.entries
            .retain(|_, a| a.expires.is_none_or(|at| now < at));
    }

    /// Drops every affinity to the target `xcf`.
    pub fn remove_target(&mut self, xcf: Ipv4Addr) {
        self.entries.retain(|_, a| a.xcf != xcf);
    }

    /// Drops every affinity on `dvipa`.
    pub fn remove_dvipa(&mut self, dvipa: Ipv4Addr) {
        self.entries.retain(|key, _| key.dvipa != dvipa);
    }

    /// Every affinity, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&AffinityKey, &Affinity)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;

    use super::*;

    fn conn(port: u16) -> ConnKey {
        ConnKey {
            local: SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 80),
            foreign: SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), port),
        }
    }

    #[test]
    fn removes_connections_by_target() {
        let mut crt = Crt::default();
        crt.insert(conn(1), Ipv4Addr::new(192, 0, 2, 1));
        crt.insert(conn(2), Ipv4Addr::new(192, 0, 2, 2));
        crt.mark_client_fin(&conn(2));
        assert!(crt.get(&conn(2)).is_some_and(|r| r.client_fin));
        assert_eq!(
            crt.remove_where(|_, r| r.xcf == Ipv4Addr::new(192, 0, 2, 1)),
            1
        );
        assert_eq!(crt.len(), 1);
    }

    #[test]
    fn an_affinity_lasts_while_connections_are_open_and_then_for_its_time() {
        let key = AffinityKey {
            dvipa: Ipv4Addr::new(198, 51, 100, 10),
            port: 80,
            client: Ipv4Addr::new(203, 0, 113, 5),
        };
        let xcf = Ipv4Addr::new(192, 0, 2, 1);
        let mut affinities = Affinities::default();
        affinities.connection_started(key, xcf, 30);
        affinities.connection_started(key, xcf, 30);
        affinities.connection_ended(&key, xcf, Instant::from_secs(10));
        assert_eq!(
            affinities
                .get(&key, Instant::from_secs(1_000))
                .map(|a| a.active),
            Some(1)
        );
        affinities.connection_ended(&key, xcf, Instant::from_secs(100));
        assert!(affinities.get(&key, Instant::from_secs(129)).is_some());
        assert!(affinities.get(&key, Instant::from_secs(130)).is_none());
        affinities.expire(Instant::from_secs(130));
        assert_eq!(affinities.iter().count(), 0);
    }
}
