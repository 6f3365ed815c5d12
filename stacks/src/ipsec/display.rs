//! The `ipsec` command's displays in the z/OS layout: `ipsec -y display` (dynamic tunnels,
//! `Yn`), `ipsec -k display` (IKE tunnels, `Kn`) and `ipsec -f display` (filters, the
//! profile's IPSECRULEs split into outbound and inbound, then one pair per dynamic filter).
//! Pure functions of the state they are given; the time of day comes from the caller.

use std::fmt::Write;
use std::net::Ipv4Addr;

use ike::crypto::{Encryption, EspSuite, IkeSuite, Integrity, Prf, Role};
use ike::daemon::IkeTunnelView;
use ike::wire::{Identity, Ipv4Range};

use super::sad::{ChildCounters, ChildEntry};
use super::spd::{Spd, protocol_number};
use crate::esp::Mode;
use crate::profile::AddrMatch;

const RULE: &str = "************************************************************************";

/// What the heading of every `ipsec` display shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    /// The TCP/IP stack name.
    pub stack: String,
    /// The time, as z/OS prints it (`Fri Nov 25 06:53:45 2011`).
    pub time: String,
    /// Whether DVIPSEC is on.
    pub dvipsec: bool,
}

fn heading(out: &mut String, h: &Heading, primary: &str, available: usize) {
    let _ = writeln!(out, "CS V2R1 ipsec  Stack Name: {}  {}", h.stack, h.time);
    let _ = writeln!(
        out,
        "Primary:  {:<14}  Function: Display            Format:   Detail",
        primary
    );
    let _ = writeln!(
        out,
        "Source:   Stack           Scope:    Current            TotAvail: {available}"
    );
    let _ = writeln!(
        out,
        "Logging:  On              Predecap: Off                DVIPSec:  {}",
        yes_no(h.dvipsec)
    );
    let _ = writeln!(out, "NatKeepAlive:  20         FIPS140:  No");
    out.push('\n');
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "Yes" } else { "No" }
}

fn field(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{:<32}{}", format!("{name}:"), value);
}

/// `ipsec -y display`: the dynamic tunnels with their counters, and the IKE tunnels they were
/// negotiated under (for the policy names).
pub fn dynamic_tunnels(
    h: &Heading,
    children: &[(ChildEntry, ChildCounters)],
    ike: &[IkeTunnelView],
) -> String {
    let mut out = String::new();
    heading(&mut out, h, "Dynamic tunnel", children.len());
    for (child, counters) in children {
        let parent = ike.iter().find(|k| k.id == child.tunnel.ike_tunnel);
        let name = |pick: fn(&IkeTunnelView) -> &str| parent.map_or("n/a", pick).to_owned();
        field(&mut out, "TunnelID", format!("Y{}", child.tunnel.id));
        field(&mut out, "Generation", child.tunnel.generation);
        field(
            &mut out,
            "KeyExchangeRuleName",
            name(|k| &k.names.key_exchange_rule),
        );
        field(
            &mut out,
            "KeyExchangeActionName",
            name(|k| &k.names.key_exchange_action),
        );
        field(
            &mut out,
            "LocalDynVpnRuleName",
            name(|k| &k.names.dyn_vpn_rule),
        );
        field(&mut out, "VpnActionName", name(|k| &k.names.vpn_action));
        field(
            &mut out,
            "IKETunnelID",
            format!("K{}", child.tunnel.ike_tunnel),
        );
        field(&mut out, "LocalEndPoint", child.local.ip());
        field(&mut out, "RemoteEndPoint", child.remote.ip());
        selector(&mut out, "Local", &child.local_ts);
        selector(&mut out, "Remote", &child.remote_ts);
        field(
            &mut out,
            "Protocol",
            protocol_name(child.local_ts.ip_protocol),
        );
        field(&mut out, "Type", "ESP");
        field(
            &mut out,
            "Mode",
            match child.mode {
                Mode::Tunnel => "Tunnel",
                Mode::Transport => "Transport",
            },
        );
        field(&mut out, "AuthenticationAlgorithm", esp_auth(&child.suite));
        field(
            &mut out,
            "EncryptionAlgorithm",
            encryption(child.suite.encryption),
        );
        field(&mut out, "State", "Active");
        field(&mut out, "ActivationMethod", child.tunnel.activation);
        field(
            &mut out,
            "LifetimeRefresh",
            format!("{}s", child.lifetime.as_secs()),
        );
        field(&mut out, "OutboundSPI", child.outbound_spi);
        field(&mut out, "InboundSPI", child.inbound_spi);
        field(&mut out, "OutboundPackets", counters.outbound_packets);
        field(&mut out, "OutboundBytes", counters.outbound_bytes);
        field(&mut out, "InboundPackets", counters.inbound_packets);
        field(&mut out, "InboundBytes", counters.inbound_bytes);
        field(
            &mut out,
            "NATTraversalTopology",
            nat(child.udp_encapsulation),
        );
        field(&mut out, "UdpEncapMode", yes_no(child.udp_encapsulation));
        let _ = writeln!(out, "{RULE}");
    }
    let _ = writeln!(out, "{} entries selected", children.len());
    out
}

/// `ipsec -k display`: the IKE tunnels.
pub fn ike_tunnels(h: &Heading, tunnels: &[IkeTunnelView]) -> String {
    let mut out = String::new();
    heading(&mut out, h, "IKE tunnel", tunnels.len());
    for k in tunnels {
        field(&mut out, "TunnelID", format!("K{}", k.id));
        field(&mut out, "Generation", k.generation);
        field(&mut out, "IKEVersion", "2.0");
        field(&mut out, "KeyExchangeRuleName", &k.names.key_exchange_rule);
        field(
            &mut out,
            "KeyExchangeActionName",
            &k.names.key_exchange_action,
        );
        field(&mut out, "LocalEndPoint", k.local.ip());
        field(&mut out, "LocalIDType", id_type(&k.local_id));
        field(&mut out, "LocalID", id_value(&k.local_id));
        field(&mut out, "RemoteEndPoint", k.remote.ip());
        field(&mut out, "RemoteIDType", id_type(&k.remote_id));
        field(&mut out, "RemoteID", id_value(&k.remote_id));
        field(
            &mut out,
            "Role",
            match k.role {
                Role::Initiator => "Initiator",
                Role::Responder => "Responder",
            },
        );
        field(
            &mut out,
            "State",
            if k.established { "DONE" } else { "INIT" },
        );
        field(&mut out, "ActivationMethod", k.activation);
        field(&mut out, "AuthenticationMethod", "PresharedKey");
        match &k.suite {
            Some(suite) => ike_suite(&mut out, suite),
            None => {
                for name in [
                    "EncryptionAlgorithm",
                    "AuthenticationAlgorithm",
                    "PseudoRandomFunction",
                    "DiffieHellmanGroup",
                ] {
                    field(&mut out, name, "n/a");
                }
            }
        }
        field(
            &mut out,
            "LifetimeRefresh",
            k.lifetime
                .map_or("n/a".to_owned(), |t| format!("{}s", t.as_secs())),
        );
        field(&mut out, "InitiatorCookie", format!("0x{:016X}", k.spis.0));
        field(&mut out, "ResponderCookie", format!("0x{:016X}", k.spis.1));
        field(&mut out, "NATTraversalTopology", nat(k.udp_encapsulation));
        field(&mut out, "NumChildSAs", k.dynamic_tunnels.len());
        let _ = writeln!(out, "{RULE}");
    }
    let _ = writeln!(out, "{} entries selected", tunnels.len());
    out
}

/// `ipsec -f display`: the IPSECRULE filters, each as an outbound and an inbound rule, then
/// the dynamic filters of the installed CHILD SAs, then the implicit deny.
pub fn filters(h: &Heading, spd: &Spd, children: &[ChildEntry]) -> String {
    let mut out = String::new();
    let count = spd.rules.len() * 2 + children.len() * 2 + 2;
    heading(&mut out, h, "Filter", count);
    for child in children {
        let name = format!("Y{}.{}", child.tunnel.id, child.tunnel.generation);
        for (direction, src, dst) in [
            ("Outbound", &child.local_ts, &child.remote_ts),
            ("Inbound", &child.remote_ts, &child.local_ts),
        ] {
            field(&mut out, "FilterName", &name);
            field(&mut out, "Type", "Dynamic");
            field(&mut out, "Action", "Permit");
            field(&mut out, "Direction", direction);
            field(&mut out, "SourceAddress", range_text(src));
            field(&mut out, "DestAddress", range_text(dst));
            field(&mut out, "Protocol", protocol_name(src.ip_protocol));
            field(&mut out, "SourcePort", ports(src));
            field(&mut out, "DestPort", ports(dst));
            field(&mut out, "TunnelID", format!("Y{}", child.tunnel.id));
            let _ = writeln!(out, "{RULE}");
        }
    }
    for (index, rule) in spd.rules.iter().enumerate() {
        let name = format!("SYSDEFAULTRULE.{}", index + 1);
        let port = |p: Option<u16>| p.map_or("All".to_owned(), |p| p.to_string());
        for (direction, src, dst, sport, dport) in [
            (
                "Outbound",
                rule.source,
                rule.destination,
                rule.source_port,
                rule.destination_port,
            ),
            (
                "Inbound",
                rule.destination,
                rule.source,
                rule.destination_port,
                rule.source_port,
            ),
        ] {
            field(&mut out, "FilterName", &name);
            field(&mut out, "Type", "Default");
            field(&mut out, "Action", "Permit");
            field(&mut out, "Direction", direction);
            field(&mut out, "SourceAddress", addr_text(src));
            field(&mut out, "DestAddress", addr_text(dst));
            field(
                &mut out,
                "Protocol",
                protocol_number(rule.protocol).map_or("All".to_owned(), protocol_name),
            );
            field(&mut out, "SourcePort", port(sport));
            field(&mut out, "DestPort", port(dport));
            field(&mut out, "Logging", if rule.log { "All" } else { "None" });
            field(&mut out, "ProfileLine", rule.line);
            let _ = writeln!(out, "{RULE}");
        }
    }
    for direction in ["Outbound", "Inbound"] {
        field(&mut out, "FilterName", "SYSDEFAULTDENYRULE");
        field(&mut out, "Type", "Default");
        field(&mut out, "Action", "Deny");
        field(&mut out, "Direction", direction);
        field(&mut out, "SourceAddress", "0.0.0.0/0");
        field(&mut out, "DestAddress", "0.0.0.0/0");
        field(&mut out, "Protocol", "All");
        let _ = writeln!(out, "{RULE}");
    }
    let _ = writeln!(out, "{count} entries selected");
    out
}

fn selector(out: &mut String, side: &str, range: &Ipv4Range) {
    if range.start_addr == range.end_addr {
        field(out, &format!("{side}AddressBase"), range.start_addr);
    } else {
        field(out, &format!("{side}AddressBase"), range.start_addr);
        field(out, &format!("{side}AddressRange"), range.end_addr);
    }
    field(out, &format!("{side}Port"), ports(range));
}

fn range_text(range: &Ipv4Range) -> String {
    if range.start_addr == range.end_addr {
        format!("{}/32", range.start_addr)
    } else {
        format!("{}-{}", range.start_addr, range.end_addr)
    }
}

fn addr_text(spec: AddrMatch) -> String {
    match spec {
        AddrMatch::Any => "0.0.0.0/0".to_owned(),
        AddrMatch::Prefix(addr, len) => format!("{addr}/{len}"),
    }
}

fn ports(range: &Ipv4Range) -> String {
    match (range.start_port, range.end_port) {
        (0, u16::MAX) => "All".to_owned(),
        (a, b) if a == b => a.to_string(),
        (a, b) => format!("{a}-{b}"),
    }
}

fn protocol_name(protocol: u8) -> String {
    match protocol {
        0 => "All".to_owned(),
        1 => "ICMP(1)".to_owned(),
        6 => "TCP(6)".to_owned(),
        17 => "UDP(17)".to_owned(),
        89 => "OSPF(89)".to_owned(),
        n => format!("({n})"),
    }
}

fn nat(udp_encapsulation: bool) -> &'static str {
    if udp_encapsulation {
        "RemoteNAT"
    } else {
        "None"
    }
}

fn encryption(encryption: Encryption) -> String {
    match encryption {
        Encryption::AesGcm16(size) => format!("AES_GCM_16 {}", key_bits(size)),
        Encryption::AesCbc(size) => format!("AES_CBC {}", key_bits(size)),
    }
}

fn key_bits(size: ike::crypto::AesKeySize) -> String {
    format!("{size:?}").trim_start_matches("Aes").to_owned()
}

fn integrity(integrity: Option<Integrity>) -> String {
    match integrity {
        None => "n/a".to_owned(),
        Some(Integrity::HmacSha1_96) => "HMAC_SHA1_96".to_owned(),
        Some(Integrity::HmacSha2_256_128) => "HMAC_SHA2_256_128".to_owned(),
        Some(Integrity::HmacSha2_384_192) => "HMAC_SHA2_384_192".to_owned(),
        Some(Integrity::HmacSha2_512_256) => "HMAC_SHA2_512_256".to_owned(),
    }
}

fn esp_auth(suite: &EspSuite) -> String {
    match suite.encryption {
        Encryption::AesGcm16(_) => "n/a (combined mode)".to_owned(),
        _ => integrity(suite.integrity),
    }
}

fn ike_suite(out: &mut String, suite: &IkeSuite) {
    field(out, "EncryptionAlgorithm", encryption(suite.encryption));
    field(out, "AuthenticationAlgorithm", integrity(suite.integrity));
    let prf = match suite.prf {
        Prf::HmacSha1 => "HMAC_SHA1",
        Prf::HmacSha2_256 => "HMAC_SHA2_256",
        Prf::HmacSha2_384 => "HMAC_SHA2_384",
        Prf::HmacSha2_512 => "HMAC_SHA2_512",
    };
    field(out, "PseudoRandomFunction", prf);
    field(out, "DiffieHellmanGroup", suite.dh.0);
}

fn id_type(id: &Identity) -> &'static str {
    match id {
        Identity::Ipv4(_) => "ID_IPV4_ADDR",
        Identity::Fqdn(_) => "ID_FQDN",
        Identity::Rfc822(_) => "ID_USER_FQDN",
        Identity::KeyId(_) => "ID_KEY_ID",
        _ => "ID_DER_ASN1_DN",
    }
}

fn id_value(id: &Identity) -> String {
    match id {
        Identity::Ipv4(a) => Ipv4Addr::to_string(a),
        other => other.to_string(),
    }
}
