//! The neighbours smoltcp learned, mirrored. smoltcp forgets its whole neighbour cache when the
//! interface's addresses change (a DVIPA activated or released) and then asks for at most one
//! address a second, so a stack that took a DVIPA over would reach its N IPSec peers over N
//! seconds. The datapath notes each neighbour smoltcp learns from an ARP packet it hands over
//! and gives the fresh ones back after every address change, as z/OS keeps its ARP cache when
//! a VIPA comes or goes.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::EthernetAddress;

/// How long smoltcp keeps a neighbour it learned.
const LIFETIME: Duration = Duration::from_secs(60);

/// The mirror: each neighbour's hardware address and when it was learned.
#[derive(Clone, Debug, Default)]
pub struct Neighbours {
    learned: BTreeMap<Ipv4Addr, (EthernetAddress, Instant)>,
}

impl Neighbours {
    /// Notes that smoltcp learned `addr` at `mac` at `now`.
    pub fn learned(&mut self, addr: Ipv4Addr, mac: EthernetAddress, now: Instant) {
        if mac.is_unicast() {
            self.learned.insert(addr, (mac, now));
        }
    }

    /// The neighbours smoltcp would still know at `now` had it not forgotten them; forgets
    /// the older ones.
    pub fn fresh(&mut self, now: Instant) -> Vec<(Ipv4Addr, EthernetAddress)> {
        self.learned.retain(|_, (_, at)| now < *at + LIFETIME);
        self.learned
            .iter()
            .map(|(addr, (mac, _))| (*addr, *mac))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);
    const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 101);

    #[test]
    fn a_neighbour_is_given_back_until_smoltcp_would_have_expired_it() {
        let mut neighbours = Neighbours::default();
        neighbours.learned(PEER, MAC, Instant::from_secs(1));
        assert_eq!(neighbours.fresh(Instant::from_secs(60)), [(PEER, MAC)]);
        assert!(neighbours.fresh(Instant::from_secs(61)).is_empty());
    }

    #[test]
    fn the_latest_hardware_address_wins_and_broadcast_is_never_learned() {
        let mut neighbours = Neighbours::default();
        let moved = EthernetAddress([0x02, 0, 0, 0, 0, 0x0c]);
        neighbours.learned(PEER, MAC, Instant::ZERO);
        neighbours.learned(PEER, moved, Instant::ZERO);
        neighbours.learned(
            Ipv4Addr::new(192, 0, 2, 102),
            EthernetAddress::BROADCAST,
            Instant::ZERO,
        );
        assert_eq!(neighbours.fresh(Instant::ZERO), [(PEER, moved)]);
    }
}
