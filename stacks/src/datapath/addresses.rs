//! The addresses a stack holds, and in which role: what the datapath answers ARP for and what it
//! accepts.
//!
//! A z/OS stack's HOME list holds its interface addresses and its active dynamic VIPAs. A DVIPA
//! is *advertised* by the stack that owns it (it answers ARP for it and sends gratuitous ARP when
//! it takes it over) and held *as a target* by Sysplex Distributor targets, which accept packets
//! for it from their distributor over dynamic XCF but must never answer ARP for it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use smoltcp::wire::{IpCidr, Ipv4Cidr};

/// How a stack holds a dynamic VIPA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DvipaRole {
    /// Active and owned here: answered in ARP, announced with gratuitous ARP.
    Advertised,
    /// Held only as a Sysplex Distributor target: accepted, never answered in ARP.
    Target,
}

/// The role of one address of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressRole {
    /// A HOME address of the LAN interface.
    Home,
    /// A dynamic VIPA.
    Dvipa(DvipaRole),
}

/// The addresses of one stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressBook {
    home: Vec<Ipv4Cidr>,
    dvipas: BTreeMap<Ipv4Addr, DvipaRole>,
}

impl AddressBook {
    /// A book with these HOME addresses (with their subnet prefixes) and no DVIPA.
    pub fn new(home: Vec<Ipv4Cidr>) -> Self {
        Self {
            home,
            dvipas: BTreeMap::new(),
        }
    }

    /// The HOME addresses.
    pub fn home(&self) -> &[Ipv4Cidr] {
        &self.home
    }

    /// The first HOME address, used as the sender of ARP requests.
    pub fn primary_home(&self) -> Option<Ipv4Addr> {
        self.home.first().map(|cidr| cidr.address())
    }

    /// The DVIPAs and their roles, in address order.
    pub fn dvipas(&self) -> impl Iterator<Item = (Ipv4Addr, DvipaRole)> + '_ {
        self.dvipas.iter().map(|(addr, role)| (*addr, *role))
    }

    /// The role of `addr` here, if the stack holds it.
    pub fn role(&self, addr: Ipv4Addr) -> Option<AddressRole> {
        if self.home.iter().any(|cidr| cidr.address() == addr) {
            return Some(AddressRole::Home);
        }
        self.dvipas.get(&addr).map(|role| AddressRole::Dvipa(*role))
    }

    /// Whether this stack answers ARP for `addr` (a HOME address or an advertised DVIPA).
    pub fn answers_arp_for(&self, addr: Ipv4Addr) -> bool {
        matches!(
            self.role(addr),
            Some(AddressRole::Home | AddressRole::Dvipa(DvipaRole::Advertised))
        )
    }

    /// Whether packets to `addr` are for this stack, in any role.
    pub fn holds(&self, addr: Ipv4Addr) -> bool {
        self.role(addr).is_some()
    }

    /// Whether `addr` is the limited broadcast or the broadcast of a HOME subnet.
    pub fn is_broadcast(&self, addr: Ipv4Addr) -> bool {
        addr == Ipv4Addr::BROADCAST || self.home.iter().any(|cidr| cidr.broadcast() == Some(addr))
    }

    /// Whether `addr` lies in a HOME subnet (is on-link).
    pub fn is_on_link(&self, addr: Ipv4Addr) -> bool {
        self.home.iter().any(|cidr| cidr.contains_addr(&addr))
    }

    /// Sets the role of a DVIPA; returns its previous role.
    pub fn set_dvipa(&mut self, addr: Ipv4Addr, role: DvipaRole) -> Option<DvipaRole> {
        self.dvipas.insert(addr, role)
    }

    /// Drops a DVIPA; returns the role it had.
    pub fn remove_dvipa(&mut self, addr: Ipv4Addr) -> Option<DvipaRole> {
        self.dvipas.remove(&addr)
    }

    /// The addresses the smoltcp interface must carry: HOME with its prefix, each DVIPA as /32.
    pub fn interface_cidrs(&self) -> Vec<IpCidr> {
        let home = self.home.iter().map(|cidr| IpCidr::Ipv4(*cidr));
        let dvipas = self
            .dvipas
            .keys()
            .map(|addr| IpCidr::Ipv4(Ipv4Cidr::new(*addr, 32)));
        home.chain(dvipas).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> AddressBook {
        let mut book = AddressBook::new(vec![Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 11), 24)]);
        book.set_dvipa(Ipv4Addr::new(192, 0, 2, 100), DvipaRole::Advertised);
        book.set_dvipa(Ipv4Addr::new(192, 0, 2, 101), DvipaRole::Target);
        book
    }

    #[test]
    fn answers_arp_for_home_and_advertised_but_not_target_dvipas() {
        let book = book();
        assert!(book.answers_arp_for(Ipv4Addr::new(192, 0, 2, 11)));
        assert!(book.answers_arp_for(Ipv4Addr::new(192, 0, 2, 100)));
        assert!(!book.answers_arp_for(Ipv4Addr::new(192, 0, 2, 101)));
        assert!(!book.answers_arp_for(Ipv4Addr::new(192, 0, 2, 102)));
    }

    #[test]
    fn holds_target_dvipas_for_delivery() {
        let book = book();
        assert!(book.holds(Ipv4Addr::new(192, 0, 2, 101)));
        assert!(!book.holds(Ipv4Addr::new(192, 0, 2, 102)));
    }

    #[test]
    fn carries_dvipas_as_host_routes_on_the_interface() {
        let cidrs = book().interface_cidrs();
        assert_eq!(cidrs.len(), 3);
        assert_eq!(
            cidrs[1],
            IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 100), 32))
        );
    }

    #[test]
    fn knows_subnet_and_limited_broadcast() {
        let book = book();
        assert!(book.is_broadcast(Ipv4Addr::new(192, 0, 2, 255)));
        assert!(book.is_broadcast(Ipv4Addr::BROADCAST));
        assert!(!book.is_broadcast(Ipv4Addr::new(192, 0, 2, 254)));
    }

    #[test]
    fn removing_a_dvipa_returns_its_role() {
        let mut book = book();
        assert_eq!(
            book.remove_dvipa(Ipv4Addr::new(192, 0, 2, 101)),
            Some(DvipaRole::Target)
        );
        assert_eq!(book.role(Ipv4Addr::new(192, 0, 2, 101)), None);
    }
}
