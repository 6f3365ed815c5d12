//! A readable rendering of the restart entries of EZBDVIPA, field by field in the terms of
//! `ipsec -k display` and `ipsec -y display`, for the scenario's before-and-after view and
//! snapshot tests. Entries come in key order (DVIPA, peer, owner), so the text is stable.

use std::fmt::Write;

use ike::swsa::{EspAlgorithms, IkeAlgorithms};

use super::layout::StoredRecord;

/// Renders `entries` (as read, in key order) under a heading naming the structure.
pub fn render(structure: &str, entries: &[StoredRecord]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{structure}: {} restart entries", entries.len());
    for stored in entries {
        entry(&mut out, stored);
    }
    out
}

fn entry(out: &mut String, stored: &StoredRecord) {
    let record = &stored.record;
    let p1 = &record.phase1;
    let policy = &p1.policy;
    let _ = writeln!(
        out,
        "Owner: {}  IKETunnelID: K{}  Generation: {}",
        stored.owner, stored.ike_tunnel, record.generation
    );
    let _ = writeln!(
        out,
        "  KeyExchangeRuleName: {}  KeyExchangeActionName: {}",
        policy.key_exchange_rule, policy.key_exchange_action
    );
    let _ = writeln!(
        out,
        "  LocalEndpoint: {}  LocalID: {}",
        p1.local_endpoint, p1.local_id
    );
    let _ = writeln!(
        out,
        "  RemoteEndpoint: {}  RemoteID: {}",
        p1.remote_endpoint, p1.remote_id
    );
    let _ = writeln!(
        out,
        "  Role: {:?}  IKESPIs: {:016x}_i {:016x}_r  UdpEncap: {}",
        p1.role,
        p1.spi_i,
        p1.spi_r,
        yes_no(p1.udp_encapsulation)
    );
    let _ = writeln!(out, "  Negotiated: {}", ike_algorithms(&p1.negotiated));
    let offers: Vec<String> = policy.ike_offers.iter().map(ike_algorithms).collect();
    let _ = writeln!(out, "  IKEOffers: {}", offers.join("; "));
    let offers: Vec<String> = policy.esp_offers.iter().map(esp_algorithms).collect();
    let _ = writeln!(out, "  ESPOffers: {}", offers.join("; "));
    for (index, p2) in record.phase2.iter().enumerate() {
        let _ = writeln!(
            out,
            "  Phase2 {}: LocalDynVpnRuleName: {}  VpnActionName: {}",
            index + 1,
            p2.dyn_vpn_rule,
            p2.vpn_action
        );
        let _ = writeln!(
            out,
            "    Filter: {} === {}",
            p2.filter.local, p2.filter.remote
        );
        let _ = writeln!(
            out,
            "    Protocol: {:?}  Mode: {:?}  {}",
            p2.protocol,
            p2.mode,
            esp_algorithms(&p2.crypto)
        );
        let rekey = p2
            .rekey_secs
            .map_or_else(|| "-".to_owned(), |s| s.to_string());
        let _ = writeln!(
            out,
            "    SPIs: in {:08x} out {:08x}  Lifetime: {} s  Rekey: {} s",
            p2.inbound_spi, p2.outbound_spi, p2.lifetime_secs, rekey
        );
    }
}

fn ike_algorithms(a: &IkeAlgorithms) -> String {
    let integrity = a
        .integrity
        .map_or_else(|| "-".to_owned(), |i| i.to_string());
    format!(
        "ENCR {}/{} INTEG {} PRF {} DH {}",
        a.encryption, a.key_bits, integrity, a.prf, a.dh_group
    )
}

fn esp_algorithms(a: &EspAlgorithms) -> String {
    let integrity = a
        .integrity
        .map_or_else(|| "-".to_owned(), |i| i.to_string());
    format!("ENCR {}/{} INTEG {}", a.encryption, a.key_bits, integrity)
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "Yes" } else { "No" }
}
