//! The typed policy the IKE daemon and the stack's IPSec layer run with: every reference
//! resolved, every algorithm checked against what the crypto layer implements.

use std::fmt;
use std::net::IpAddr;

use crate::crypto::ids::DhGroup;
use crate::crypto::{EspSuite, IkeSuite};

/// A parsed Policy Agent IPSec policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The IP filter rules, in search order (IpFilterPolicy order, else file order).
    pub filter_rules: Vec<FilterRule>,
    /// The key exchange rules, in search order (KeyExchangePolicy order, else file order).
    pub key_exchange_rules: Vec<KeyExchangeRule>,
}

impl Policy {
    /// The first key exchange rule for an IKE negotiation between `local` and `remote`
    /// whose endpoints' locations hold the addresses and, when `remote_identity` is known
    /// (IKE_AUTH received), whose remote identity matches it.
    pub fn key_exchange_rule(
        &self,
        local: IpAddr,
        remote: IpAddr,
        remote_identity: Option<&Identity>,
    ) -> Option<&KeyExchangeRule> {
        self.key_exchange_rules.iter().find(|rule| {
            rule.local.is_at(local)
                && rule.remote.is_at(remote)
                && remote_identity.is_none_or(|id| *id == rule.remote.identity)
        })
    }
}

/// An address specification of a rule or an endpoint location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSpec {
    /// `All`: any address.
    All,
    /// One address.
    Host(IpAddr),
    /// `address/len`.
    Prefix(IpAddr, u8),
    /// `first last` (IpAddrSet Range, IpSourceAddrRange).
    Range(IpAddr, IpAddr),
}

impl AddrSpec {
    /// Whether `address` is in this specification.
    pub fn contains(&self, address: IpAddr) -> bool {
        match *self {
            Self::All => true,
            Self::Host(host) => host == address,
            Self::Prefix(network, len) => same_prefix(network, address, len),
            Self::Range(first, last) => match (first, last, address) {
                (IpAddr::V4(f), IpAddr::V4(l), IpAddr::V4(a)) => f <= a && a <= l,
                (IpAddr::V6(f), IpAddr::V6(l), IpAddr::V6(a)) => f <= a && a <= l,
                _ => false,
            },
        }
    }
}

/// Whether `a` and `b` share their first `len` bits (false across address families).
fn same_prefix(a: IpAddr, b: IpAddr, len: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// An IpFilterRule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRule {
    /// The rule name (a system name for an inline rule).
    pub name: String,
    /// The line of the statement.
    pub line: u32,
    /// IpSourceAddr...: the source of outbound traffic (local side).
    pub source: AddrSpec,
    /// IpDestAddr...: the destination of outbound traffic (remote side).
    pub destination: AddrSpec,
    /// The traffic descriptions (IpService); at least one.
    pub services: Vec<Service>,
    /// What to do with matching traffic.
    pub action: FilterAction,
}

/// IP protocol of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `All`.
    All,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1).
    Icmp,
    /// Any other protocol number.
    Number(u8),
}

/// Direction of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both directions (the default).
    Bidirectional,
    /// Inbound only.
    Inbound,
    /// Outbound only.
    Outbound,
}

/// Which side may start a connection (the optional word after `Direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connect {
    /// InboundConnect: only the remote side.
    Inbound,
    /// OutboundConnect: only the local side.
    Outbound,
}

/// Routing of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Local (the default): traffic that starts or ends on this stack.
    Local,
    /// Routed through this stack.
    Routed,
    /// Either.
    Either,
}

/// An inclusive port range; `0..=65535` is any port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port.
    pub last: u16,
}

impl PortRange {
    /// Any port.
    pub const ANY: Self = Self {
        first: 0,
        last: u16::MAX,
    };
}

/// An IpService traffic description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Protocol (default All).
    pub protocol: Protocol,
    /// SourcePortRange (default any).
    pub source_ports: PortRange,
    /// DestinationPortRange (default any).
    pub destination_ports: PortRange,
    /// Direction (default Bidirectional).
    pub direction: Direction,
    /// InboundConnect / OutboundConnect.
    pub connect: Option<Connect>,
    /// Routing (default Local).
    pub routing: Routing,
    /// SecurityClass 0..=255 (default 0).
    pub security_class: u8,
}

/// The action of a filter rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterAction {
    /// IpGenericFilterAction Permit.
    Permit {
        /// IpFilterLogging Yes.
        log: bool,
    },
    /// IpGenericFilterAction Deny.
    Deny {
        /// IpFilterLogging Yes.
        log: bool,
    },
    /// IpDynVpnAction: protect with SAs that IKE negotiates.
    DynamicVpn(DynVpnAction),
}

/// Who may start the phase 2 negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiation {
    /// Either side (the default).
    Either,
    /// This stack only.
    LocalOnly,
    /// The remote side only.
    RemoteOnly,
}

/// An IpDynVpnAction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynVpnAction {
    /// The action name (z/OS shows it as VpnActionName).
    pub name: String,
    /// Pfs: the CHILD SA's DH group (`DhGroup::NONE` for no PFS).
    pub pfs: DhGroup,
    /// Initiation.
    pub initiation: Initiation,
    /// The data offers, in preference order.
    pub offers: Vec<DataOffer>,
}

/// ESP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encapsulation {
    /// Transport mode (the default).
    Transport,
    /// Tunnel mode.
    Tunnel,
}

/// Refresh (rekey) limits of an SA: what this side proposes and what it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    /// RefreshLifetimeProposed, minutes.
    pub lifetime_minutes: u32,
    /// RefreshLifetimeAccepted, minutes (`None`: any).
    pub lifetime_accepted: Option<(u32, u32)>,
    /// RefreshLifesizeProposed, kilobytes (`None`: no size limit).
    pub lifesize_kb: Option<u64>,
    /// RefreshLifesizeAccepted, kilobytes (`None`: any).
    pub lifesize_accepted: Option<(u64, u64)>,
}

/// An IpDataOffer: one acceptable ESP protection of the data traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataOffer {
    /// The offer name (`None` for an inline offer).
    pub name: Option<String>,
    /// HowToEncap.
    pub encapsulation: Encapsulation,
    /// HowToEncrypt and HowToAuth ESP, checked by the crypto layer.
    pub suite: EspSuite,
    /// Refresh limits (default lifetime 240 minutes).
    pub refresh: Refresh,
}

/// HowToInitiate of a KeyExchangeAction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HowToInitiate {
    /// IKEv1 main mode.
    Main,
    /// IKEv1 aggressive mode.
    Aggressive,
    /// IKEv2.
    Ikev2,
    /// Never initiate.
    DoNot,
}

/// HowToRespondIKEv1 of a KeyExchangeAction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HowToRespond {
    /// Main mode only.
    Main,
    /// Aggressive mode only.
    Aggressive,
    /// Either (the default).
    Either,
}

/// How a side authenticates (HowToAuthMe, HowToAuthPeers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A shared key (SharedKey on the KeyExchangeRule).
    PresharedKey,
    /// RSA signature.
    RsaSignature,
    /// ECDSA with P-256 (ECDSA-256).
    Ecdsa256,
    /// ECDSA with P-384 (ECDSA-384).
    Ecdsa384,
    /// ECDSA with P-521 (ECDSA-521).
    Ecdsa521,
    /// Digital signature (RFC 7427).
    DigitalSignature,
}

/// A KeyExchangeOffer: one acceptable protection of the IKE SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExchangeOffer {
    /// The offer name (`None` for an inline offer).
    pub name: Option<String>,
    /// HowToEncrypt, HowToAuthMsgs, PseudoRandomFunction and DHGroup, checked.
    pub suite: IkeSuite,
    /// HowToAuthPeers (default: the action's HowToAuthMe).
    pub auth_peers: AuthMethod,
    /// Refresh limits (default lifetime 480 minutes).
    pub refresh: Refresh,
}

/// A KeyExchangeAction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExchangeAction {
    /// The action name (z/OS shows it as KeyExchangeActionName).
    pub name: String,
    /// HowToInitiate (default Main, as on z/OS).
    pub initiate: HowToInitiate,
    /// HowToRespondIKEv1.
    pub respond_ikev1: HowToRespond,
    /// AllowNat (default No).
    pub allow_nat: bool,
    /// HowToAuthMe (default DigitalSignature).
    pub auth_me: AuthMethod,
    /// ReauthInterval, minutes (0: never).
    pub reauth_interval_minutes: u32,
    /// The offers, in preference order.
    pub offers: Vec<KeyExchangeOffer>,
}

/// An IKE identity (ID payload).
#[derive(Clone, PartialEq, Eq)]
pub enum Identity {
    /// ID_IPV4_ADDR / ID_IPV6_ADDR.
    IpAddr(IpAddr),
    /// ID_FQDN.
    Fqdn(String),
    /// ID_RFC822_ADDR (z/OS UserFqdn).
    UserFqdn(String),
    /// ID_DER_ASN1_DN, as written.
    X500Dn(String),
    /// ID_KEY_ID, the bytes of the value as written.
    KeyId(Vec<u8>),
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IpAddr(a) => write!(f, "IpAddr({a})"),
            Self::Fqdn(n) => write!(f, "Fqdn({n})"),
            Self::UserFqdn(n) => write!(f, "UserFqdn({n})"),
            Self::X500Dn(n) => write!(f, "X500Dn({n})"),
            Self::KeyId(k) => write!(f, "KeyId({})", String::from_utf8_lossy(k)),
        }
    }
}

/// A Local- or RemoteSecurityEndpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEndpoint {
    /// The endpoint name (`None` for an inline endpoint).
    pub name: Option<String>,
    /// Identity.
    pub identity: Identity,
    /// Location: where the IKE peer is (empty: anywhere).
    pub location: Vec<AddrSpec>,
    /// CaLabel (certificates; kept, unused with shared keys).
    pub ca_label: Option<String>,
}

impl SecurityEndpoint {
    /// Whether an IKE peer at `address` is this endpoint's location.
    pub fn is_at(&self, address: IpAddr) -> bool {
        self.location.is_empty() || self.location.iter().any(|l| l.contains(address))
    }
}

/// A shared key. Its bytes never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedKey(pub Vec<u8>);

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedKey(<{} bytes>)", self.0.len())
    }
}

/// A KeyExchangeRule: which IKE peers may negotiate, how, and with what key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExchangeRule {
    /// The rule name (z/OS shows it as KeyExchangeRuleName).
    pub name: String,
    /// The line of the statement.
    pub line: u32,
    /// The local IKE endpoint.
    pub local: SecurityEndpoint,
    /// The remote IKE endpoint.
    pub remote: SecurityEndpoint,
    /// The action.
    pub action: KeyExchangeAction,
    /// SharedKey: required when either side authenticates with a shared key.
    pub shared_key: Option<SharedKey>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_range_contain_their_addresses() {
        let net: IpAddr = "198.51.100.0".parse().expect("address");
        let inside: IpAddr = "198.51.100.77".parse().expect("address");
        let outside: IpAddr = "198.51.101.1".parse().expect("address");
        assert!(AddrSpec::Prefix(net, 24).contains(inside));
        assert!(!AddrSpec::Prefix(net, 24).contains(outside));
        assert!(AddrSpec::Prefix(net, 0).contains(outside));
        assert!(AddrSpec::Range(net, inside).contains(inside));
        assert!(!AddrSpec::Range(net, inside).contains(outside));
        let v6: IpAddr = "2001:db8::1".parse().expect("address");
        assert!(
            !AddrSpec::Prefix(net, 0).contains(v6),
            "families never match"
        );
    }

    #[test]
    fn shared_key_bytes_stay_out_of_debug() {
        let key = SharedKey(b"TheEagleHasLanded".to_vec());
        assert_eq!(format!("{key:?}"), "SharedKey(<17 bytes>)");
    }
}
