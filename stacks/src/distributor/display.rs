//! `NETSTAT VDPT [DETAIL]` (`-O`) and `NETSTAT VCRT [DETAIL]` (`-V`) of a distributing stack,
//! as pure functions of the [`Distributor`] and the time.
//!
//! ```text
//! Dynamic VIPA Destination Port Table for TCP/IP stacks:
//! Dest:        201.2.10.11..21
//!   DestXCF:   201.1.10.15
//!   TotalConn: 0000000000  Rdy: 001  WLM: 01  TSR: 075
//!   DistMethod: RoundRobin          Flg: Active
//!   TCSR: 100  CER: 075  SEF: 100          (DETAIL)
//!   Abnorm: 00  Health: 100                (DETAIL)
//!   ActiveConn: 0000000000                 (DETAIL)
//!   QosPlcAct: *DEFAULT*                   (DETAIL)
//!   W/Q: 01                                (DETAIL)
//!
//! Dynamic VIPA Connection Routing Table:
//! Dest:      201.2.10.11..21
//!   Source:  9.42.103.82..1064
//!   DestXCF: 201.1.10.15
//!   PolicyRule: *NONE*   PolicyAction: *NONE*   (DETAIL)
//! ```
//! Reconstructed details (no IBM sample seen): HOTSTANDBY entries add `SrvType: Preferred` or
//! `SrvType: Backup  Rank: nnn` and only the active target shows `Flg: Active`; a quiesced
//! target shows `Rdy: 000`; a timed affinity is a VCRT entry with source port 0, and DETAIL adds
//! `TimAff: sss  AffConn: nnnn  Expires: sss` (seconds left, blank while connections are open).

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::time::Instant;

use super::core::Distributor;
use crate::dvipa::model::ActTime;
use crate::netstat::header;
use crate::profile::{DistMethod, ServerType};

/// The DISTMETHOD word VDPT prints.
pub fn method_word(method: DistMethod) -> &'static str {
    match method {
        DistMethod::BaseWlm { .. } => "BaseWLM",
        DistMethod::RoundRobin => "RoundRobin",
        DistMethod::ServerWlm { .. } => "ServerWLM",
        DistMethod::WeightedActive => "WeightedActive",
        DistMethod::HotStandby { .. } => "HotStandby",
    }
}

fn join(lines: Vec<String>) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `NETSTAT VDPT [DETAIL]`.
pub fn vdpt(tcpname: &str, time: ActTime, sd: &Distributor, detail: bool) -> String {
    let mut out = vec![
        header(tcpname, time),
        "Dynamic VIPA Destination Port Table for TCP/IP stacks:".to_owned(),
    ];
    for (key, entry) in sd.dpt().iter() {
        let Some(config) = sd.config_for(key.dvipa, key.port) else {
            continue;
        };
        let quiesced = sd.is_quiesced(key);
        let ready = if quiesced { 0 } else { entry.ready };
        let role = config.target(key.xcf);
        let flag = match config.method {
            DistMethod::HotStandby { .. }
                if sd.active_standby(key.dvipa, key.port) == Some(key.xcf) =>
            {
                "Active"
            }
            DistMethod::HotStandby { .. } => "",
            _ if ready > 0 => "Active",
            _ => "",
        };
        let wlm = sd.wlm_weight(key);
        out.push(format!("Dest:        {}..{}", key.dvipa, key.port));
        out.push(format!("  DestXCF:   {}", key.xcf));
        out.push(format!(
            "  TotalConn: {:010}  Rdy: {ready:03}  WLM: {wlm:02}  TSR: {:03}",
            entry.total_conn, entry.health.tsr
        ));
        out.push(format!(
            "  DistMethod: {:<20}Flg: {flag}",
            method_word(config.method)
        ));
        if let DistMethod::HotStandby { .. } = config.method {
            match role.and_then(|r| r.server_type) {
                Some(ServerType::Preferred) => out.push("  SrvType: Preferred".to_owned()),
                Some(ServerType::Backup(rank)) => {
                    out.push(format!("  SrvType: Backup     Rank: {rank:03}"));
                }
                None => {}
            }
        }
        if detail {
            let h = entry.health;
            out.push(format!(
                "  TCSR: {:03}  CER: {:03}  SEF: {:03}",
                h.tcsr, h.cer, h.sef
            ));
            out.push(format!(
                "  Abnorm: {:02}  Health: {:03}",
                h.abnorm, h.health
            ));
            out.push(format!("  ActiveConn: {:010}", entry.active_conn));
            out.push("  QosPlcAct: *DEFAULT*".to_owned());
            out.push(format!("  W/Q: {wlm:02}"));
        }
    }
    join(out)
}

/// One VCRT line group, sortable by destination, source and target.
struct CrtRow {
    dest: SocketAddrV4,
    source: SocketAddrV4,
    xcf: Ipv4Addr,
    affinity: Option<String>,
}

/// `NETSTAT VCRT [DETAIL]`; `now` times the affinities' expiry.
pub fn vcrt(tcpname: &str, time: ActTime, now: Instant, sd: &Distributor, detail: bool) -> String {
    let mut rows: Vec<CrtRow> = sd
        .crt()
        .iter()
        .map(|(conn, route)| CrtRow {
            dest: conn.local,
            source: conn.foreign,
            xcf: route.xcf,
            affinity: None,
        })
        .collect();
    rows.extend(
        sd.affinities()
            .iter()
            .filter(|(_, a)| a.expires.is_none_or(|at| now < at))
            .map(|(key, a)| {
                let left = a
                    .expires
                    .map(|at| format!("{:03}", (at - now).secs()))
                    .unwrap_or_default();
                CrtRow {
                    dest: SocketAddrV4::new(key.dvipa, key.port),
                    source: SocketAddrV4::new(key.client, 0),
                    xcf: a.xcf,
                    affinity: Some(format!(
                        "  TimAff: {:03}  AffConn: {:04}  Expires: {left}",
                        a.seconds, a.active
                    )),
                }
            }),
    );
    rows.sort_unstable_by_key(|r| {
        (
            *r.dest.ip(),
            r.dest.port(),
            *r.source.ip(),
            r.source.port(),
            r.xcf,
        )
    });
    let mut out = vec![
        header(tcpname, time),
        "Dynamic VIPA Connection Routing Table:".to_owned(),
    ];
    for row in rows {
        out.push(format!("Dest:      {}..{}", row.dest.ip(), row.dest.port()));
        out.push(format!(
            "  Source:  {}..{}",
            row.source.ip(),
            row.source.port()
        ));
        out.push(format!("  DestXCF: {}", row.xcf));
        if detail {
            match row.affinity {
                Some(affinity) => out.push(affinity),
                None => out.push("  PolicyRule: *NONE*   PolicyAction: *NONE*".to_owned()),
            }
        }
    }
    join(out)
}
