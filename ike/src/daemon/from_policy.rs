//! The daemon's peers from a Policy Agent policy: one per KeyExchangeRule (IKE endpoints,
//! identities, shared key, IKE offers) and IpFilterRule with an IpDynVpnAction whose source
//! holds the rule's local endpoint (selectors, ESP offers, mode, lifetimes).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::peer::Peer;
use crate::crypto::SecretBytes;
use crate::policy::{
    AddrSpec, DynVpnAction, Encapsulation, FilterAction, FilterRule, Identity as PolicyIdentity,
    KeyExchangeRule, Policy, SecurityEndpoint,
};
use crate::sa::{IkeSaConfig, Mode, RetransmitPolicy};
use crate::swsa::PolicyNames;
use crate::wire::{Identity, Ipv4Range};

/// The peers `policy` describes; rules this IKEv2/PSK/IPv4 daemon cannot run (no shared key,
/// IPv6, certificate identities, no concrete IKE address) are left out.
pub fn peers_from_policy(policy: &Policy) -> Vec<Peer> {
    let mut peers = Vec::new();
    for rule in &policy.key_exchange_rules {
        let (Some(local), Some(remote)) = (ike_address(&rule.local), ike_address(&rule.remote))
        else {
            continue;
        };
        for filter in &policy.filter_rules {
            let FilterAction::DynamicVpn(action) = &filter.action else {
                continue;
            };
            if !filter.source.contains(IpAddr::V4(local)) {
                continue;
            }
            if let Some(peer) = peer(rule, filter, action, local, remote) {
                peers.push(peer);
            }
        }
    }
    peers
}

fn peer(
    rule: &KeyExchangeRule,
    filter: &FilterRule,
    action: &DynVpnAction,
    local: Ipv4Addr,
    remote: Ipv4Addr,
) -> Option<Peer> {
    let first_offer = action.offers.first()?;
    let child_lifetime = minutes(first_offer.refresh.lifetime_minutes);
    let ike_lifetime = rule
        .action
        .offers
        .first()
        .map(|o| minutes(o.refresh.lifetime_minutes));
    Some(Peer {
        local,
        remote,
        config: IkeSaConfig {
            local_id: identity(&rule.local.identity)?,
            remote_id: identity(&rule.remote.identity)?,
            psk: SecretBytes::new(rule.shared_key.as_ref()?.0.clone()),
            ike_suites: rule.action.offers.iter().map(|o| o.suite).collect(),
            esp_suites: action.offers.iter().map(|o| o.suite).collect(),
            pfs: action.pfs,
            local_ts: range(filter.source)?,
            remote_ts: range(filter.destination)?,
            mode: match first_offer.encapsulation {
                Encapsulation::Tunnel => Mode::Tunnel,
                Encapsulation::Transport => Mode::Transport,
            },
            force_udp_encapsulation: false,
            initial_contact: true,
            retransmit: RetransmitPolicy::STRONGSWAN,
            dpd_interval: None,
            child_lifetime,
            // Refresh before the lifetime runs out, as z/OS does.
            child_rekey_time: Some(child_lifetime * 9 / 10),
            ike_rekey_time: ike_lifetime.map(|t| t * 9 / 10),
        },
        names: PolicyNames {
            key_exchange_rule: rule.name.clone(),
            key_exchange_action: rule.action.name.clone(),
            dyn_vpn_rule: filter.name.clone(),
            vpn_action: action.name.clone(),
        },
        autoactivate: false,
    })
}

fn minutes(minutes: u32) -> Duration {
    Duration::from_secs(u64::from(minutes) * 60)
}

/// The endpoint's IKE address: its one-host location, else its IP address identity.
fn ike_address(endpoint: &SecurityEndpoint) -> Option<Ipv4Addr> {
    let located = endpoint.location.iter().find_map(|l| match l {
        AddrSpec::Host(IpAddr::V4(a)) | AddrSpec::Prefix(IpAddr::V4(a), 32) => Some(*a),
        _ => None,
    });
    located.or(match endpoint.identity {
        PolicyIdentity::IpAddr(IpAddr::V4(a)) => Some(a),
        _ => None,
    })
}

fn identity(id: &PolicyIdentity) -> Option<Identity> {
    match id {
        PolicyIdentity::IpAddr(IpAddr::V4(a)) => Some(Identity::Ipv4(*a)),
        PolicyIdentity::Fqdn(name) => Some(Identity::Fqdn(name.clone())),
        PolicyIdentity::UserFqdn(name) => Some(Identity::Rfc822(name.clone())),
        PolicyIdentity::KeyId(bytes) => Some(Identity::KeyId(bytes.clone())),
        PolicyIdentity::IpAddr(IpAddr::V6(_)) | PolicyIdentity::X500Dn(_) => None,
    }
}

/// An IPv4 address specification as a traffic selector (all protocols and ports).
fn range(spec: AddrSpec) -> Option<Ipv4Range> {
    let (start_addr, end_addr) = match spec {
        AddrSpec::All => (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST),
        AddrSpec::Host(IpAddr::V4(a)) => (a, a),
        AddrSpec::Prefix(IpAddr::V4(a), len) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            let net = u32::from(a) & mask;
            (Ipv4Addr::from(net), Ipv4Addr::from(net | !mask))
        }
        AddrSpec::Range(IpAddr::V4(a), IpAddr::V4(b)) => (a, b),
        _ => return None,
    };
    Some(Ipv4Range {
        ip_protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr,
        end_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{AesKeySize, Encryption};

    #[test]
    fn the_dvipa_owner_policy_gives_one_tunnel_peer_to_the_gateway() {
        let text = include_str!("../../../fixtures/policies/dvipa-owner.conf");
        let policy = crate::policy::parse(text).expect("valid policy");
        let peers = peers_from_policy(&policy);
        assert_eq!(peers.len(), 1);
        let p = &peers[0];
        assert_eq!(p.local, Ipv4Addr::new(198, 51, 100, 30));
        assert_eq!(p.remote, Ipv4Addr::new(192, 0, 2, 201));
        assert_eq!(
            p.config.local_id,
            Identity::KeyId(b"SYSPLEX-DVIPA30".to_vec())
        );
        assert_eq!(p.config.psk.as_bytes(), b"lab-secret-30");
        assert_eq!(p.config.mode, Mode::Tunnel);
        assert_eq!(
            (p.config.remote_ts.start_addr, p.config.remote_ts.end_addr),
            (
                Ipv4Addr::new(203, 0, 113, 128),
                Ipv4Addr::new(203, 0, 113, 255)
            )
        );
        assert_eq!(
            p.config.esp_suites[0].encryption,
            Encryption::AesCbc(AesKeySize::Aes256)
        );
        assert_eq!(p.config.ike_rekey_time, Some(Duration::from_secs(240 * 54)));
        // `Pfs Group14` in its IpDynVpnAction.
        assert_eq!(p.config.pfs, crate::crypto::ids::DhGroup::MODP_2048);
        assert_eq!(p.names.dyn_vpn_rule, "Dvipa-Subnet");
        assert_eq!(p.names.key_exchange_rule, "Dvipa-Gateway");
    }
}
