//! The next hops the datapath has seen smoltcp use: for each IPv4 destination of a frame that
//! left on the LAN, the MAC address it was sent to (the destination's own, or its gateway's).
//!
//! The datapath sends some packets smoltcp did not build: the outbound packets of protected
//! connections that targets return to this distributor, once the security stage has wrapped
//! them in ESP. Their outer destination is an IPSec peer this stack has talked IKE with, so
//! smoltcp's ARP and route lookup have already resolved it; this table remembers the answer.
//! It holds at most a fixed number of destinations, forgetting the oldest first.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use smoltcp::wire::EthernetAddress;

/// Destinations remembered by default.
pub const DEFAULT_CAPACITY: usize = 4096;

/// IPv4 destination to next-hop MAC address.
#[derive(Clone, Debug)]
pub struct NextHops {
    capacity: usize,
    macs: HashMap<Ipv4Addr, EthernetAddress>,
    /// Destinations in the order they were first learned, oldest first.
    order: VecDeque<Ipv4Addr>,
}

impl Default for NextHops {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl NextHops {
    /// A table remembering at most `capacity` destinations (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            macs: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Records that a frame for `dst` left to `mac`; broadcast and multicast frames teach
    /// nothing.
    pub fn learn(&mut self, dst: Ipv4Addr, mac: EthernetAddress) {
        if !mac.is_unicast() {
            return;
        }
        if let Some(known) = self.macs.get_mut(&dst) {
            *known = mac;
            return;
        }
        if self.macs.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.macs.remove(&oldest);
        }
        self.macs.insert(dst, mac);
        self.order.push_back(dst);
    }

    /// The MAC address frames for `dst` go to, if smoltcp has sent there.
    pub fn get(&self, dst: Ipv4Addr) -> Option<EthernetAddress> {
        self.macs.get(&dst).copied()
    }

    /// The number of destinations remembered.
    pub fn len(&self) -> usize {
        self.macs.len()
    }

    /// Whether no destination is remembered.
    pub fn is_empty(&self) -> bool {
        self.macs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> EthernetAddress {
        EthernetAddress([0x02, 0, 0, 0, 0, last])
    }

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, last)
    }

    #[test]
    fn follows_the_latest_mac_of_a_destination() {
        let mut hops = NextHops::default();
        hops.learn(ip(1), mac(1));
        hops.learn(ip(1), mac(2));
        assert_eq!(hops.get(ip(1)), Some(mac(2)));
        assert_eq!(hops.get(ip(2)), None);
        assert_eq!(hops.len(), 1);
    }

    #[test]
    fn ignores_broadcast_and_multicast_frames() {
        let mut hops = NextHops::default();
        hops.learn(ip(255), EthernetAddress::BROADCAST);
        hops.learn(ip(9), EthernetAddress([0x01, 0, 0x5e, 0, 0, 1]));
        assert!(hops.is_empty());
    }

    #[test]
    fn forgets_the_oldest_destination_when_full() {
        let mut hops = NextHops::with_capacity(2);
        hops.learn(ip(1), mac(1));
        hops.learn(ip(2), mac(2));
        hops.learn(ip(1), mac(3));
        hops.learn(ip(3), mac(3));
        assert_eq!(hops.get(ip(1)), None);
        assert_eq!(hops.get(ip(2)), Some(mac(2)));
        assert_eq!(hops.get(ip(3)), Some(mac(3)));
        assert_eq!(hops.len(), 2);
    }
}
