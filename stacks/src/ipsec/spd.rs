//! The security policy database: the default IP filter rules of the profile (IPSECRULE, each
//! an outbound and a mirrored inbound permit, written from this stack's side), the
//! selectors that policy says must be protected, and the verdict for clear traffic. Dynamic
//! filters (one per CHILD SA) live with the SAs in [`super::sad`].

use std::net::Ipv4Addr;

use ike::wire::Ipv4Range;

use super::flow::{Flow, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use crate::profile::{AddrMatch, IpSecRule, Routing, RuleProtocol};

/// OSPF's protocol number.
const IPPROTO_OSPF: u8 = 89;

/// Which way a packet goes, seen from this stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Arriving.
    Inbound,
    /// Leaving.
    Outbound,
}

/// Traffic that policy says must travel in a tunnel (an IpFilterRule with IpDynVpnAction): our
/// side's and the peer's selectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectRule {
    /// The rule name (z/OS LocalDynVpnRuleName).
    pub name: String,
    /// Our side.
    pub local: Ipv4Range,
    /// The peer's side.
    pub remote: Ipv4Range,
}

/// What the SPD says about a packet that is not (or not yet) in a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearVerdict {
    /// An IPSECRULE permits it (its index in the rule list).
    Permit(usize),
    /// A protect rule or a dynamic filter covers it: it must not travel in clear.
    MustProtect,
    /// No rule permits it (the implicit deny at the end of the filter list).
    Deny,
}

/// The static part of the SPD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spd {
    /// IPSECRULE permits, in profile order.
    pub rules: Vec<IpSecRule>,
    /// Traffic to protect.
    pub protect: Vec<ProtectRule>,
}

impl Spd {
    /// An SPD from the profile's IPSECRULEs and the policy's protected selectors.
    pub fn new(rules: Vec<IpSecRule>, protect: Vec<ProtectRule>) -> Self {
        Self { rules, protect }
    }

    /// The verdict for a packet of `flow` going `way` in clear, when no dynamic filter took it.
    pub fn clear(&self, way: Way, flow: &Flow) -> ClearVerdict {
        let ours = match way {
            Way::Outbound => *flow,
            Way::Inbound => flow.reversed(),
        };
        if self.protect.iter().any(|p| ours.fits(&p.local, &p.remote)) {
            return ClearVerdict::MustProtect;
        }
        match self.rules.iter().position(|r| permits(r, &ours)) {
            Some(index) => ClearVerdict::Permit(index),
            None => ClearVerdict::Deny,
        }
    }
}

/// Whether `rule` permits `flow` written from our side (source = this stack).
fn permits(rule: &IpSecRule, flow: &Flow) -> bool {
    addr_matches(rule.source, flow.src)
        && addr_matches(rule.destination, flow.dst)
        && protocol_number(rule.protocol).is_none_or(|p| p == flow.protocol)
        && port_matches(rule.source_port, flow.src_port)
        && port_matches(rule.destination_port, flow.dst_port)
        && rule.routing != Routing::Routed
}

/// The protocol number of an IPSECRULE protocol; `None` for any.
pub fn protocol_number(protocol: RuleProtocol) -> Option<u8> {
    match protocol {
        RuleProtocol::Any => None,
        RuleProtocol::Tcp => Some(IPPROTO_TCP),
        RuleProtocol::Udp => Some(IPPROTO_UDP),
        RuleProtocol::Icmp => Some(IPPROTO_ICMP),
        RuleProtocol::Ospf => Some(IPPROTO_OSPF),
        RuleProtocol::Number(n) => Some(n),
    }
}

fn addr_matches(spec: AddrMatch, addr: Ipv4Addr) -> bool {
    match spec {
        AddrMatch::Any => true,
        AddrMatch::Prefix(net, len) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(net) & mask == u32::from(addr) & mask
        }
    }
}

fn port_matches(spec: Option<u16>, port: u16) -> bool {
    spec.is_none_or(|p| p == port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: RuleProtocol, sport: Option<u16>, dport: Option<u16>) -> IpSecRule {
        IpSecRule {
            line: 1,
            source: AddrMatch::Prefix(Ipv4Addr::new(192, 0, 2, 0), 24),
            destination: AddrMatch::Any,
            log: false,
            protocol,
            source_port: sport,
            destination_port: dport,
            routing: Routing::Local,
        }
    }

    fn flow(src: [u8; 4], dst: [u8; 4], protocol: u8, sport: u16, dport: u16) -> Flow {
        Flow {
            src: src.into(),
            dst: dst.into(),
            protocol,
            src_port: sport,
            dst_port: dport,
        }
    }

    #[test]
    fn an_ipsecrule_permits_both_ways_mirrored_and_the_rest_is_denied() {
        let spd = Spd::new(vec![rule(RuleProtocol::Udp, Some(500), Some(500))], vec![]);
        let out = flow([192, 0, 2, 1], [203, 0, 113, 9], IPPROTO_UDP, 500, 500);
        assert_eq!(spd.clear(Way::Outbound, &out), ClearVerdict::Permit(0));
        assert_eq!(
            spd.clear(Way::Inbound, &out.reversed()),
            ClearVerdict::Permit(0)
        );
        assert_eq!(
            spd.clear(Way::Inbound, &out),
            ClearVerdict::Deny,
            "not mirrored"
        );
        let tcp = flow([192, 0, 2, 1], [203, 0, 113, 9], IPPROTO_TCP, 500, 500);
        assert_eq!(spd.clear(Way::Outbound, &tcp), ClearVerdict::Deny);
    }

    #[test]
    fn protected_selectors_win_over_permits() {
        let host = |a: [u8; 4]| Ipv4Range {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: a.into(),
            end_addr: a.into(),
        };
        let spd = Spd::new(
            vec![rule(RuleProtocol::Any, None, None)],
            vec![ProtectRule {
                name: "Tunnel1".into(),
                local: host([192, 0, 2, 1]),
                remote: host([192, 0, 2, 2]),
            }],
        );
        let to_peer = flow([192, 0, 2, 1], [192, 0, 2, 2], IPPROTO_TCP, 1024, 80);
        assert_eq!(
            spd.clear(Way::Outbound, &to_peer),
            ClearVerdict::MustProtect
        );
        assert_eq!(
            spd.clear(Way::Inbound, &to_peer.reversed()),
            ClearVerdict::MustProtect
        );
        let elsewhere = flow([192, 0, 2, 1], [192, 0, 2, 3], IPPROTO_TCP, 1024, 80);
        assert_eq!(
            spd.clear(Way::Outbound, &elsewhere),
            ClearVerdict::Permit(0)
        );
    }
}
