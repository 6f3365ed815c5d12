//! `NETSTAT VIPADYN`: the dynamic VIPAs of this stack, and `D TCPIP,,SYSPLEX,VIPADYN`: every
//! DVIPA of the sysplex with the status of each stack configured for it.
//!
//! ```text
//! Dynamic VIPA:
//!   IP Address      AddressMask     Status    Origin       DistStat
//!   ----------      -----------     ------    ------       --------
//!   198.51.100.30   255.255.255.255 Active    VIPABackup
//!     ActTime:      11/22/2026 07:55:24
//! ```
//! The EZZ8260I layout is reconstructed from IBM examples.

use super::{dvipa_link_name, header, lines, mask, not_in_group};
use crate::dvipa::core::{LocalDvipa, SysplexDvipa};
use crate::dvipa::model::{ActTime, DvipaStatus, Origin};

/// `NETSTAT VIPADYN`: Active, Moving and Backup DVIPAs of this stack, in address order.
pub fn report(tcpname: &str, now: ActTime, joined: bool, local: &[LocalDvipa]) -> String {
    let mut out = vec![header(tcpname, now)];
    if !joined {
        out.extend(not_in_group(tcpname));
    }
    out.push("Dynamic VIPA:".to_owned());
    out.push("  IP Address      AddressMask     Status    Origin       DistStat".to_owned());
    out.push("  ----------      -----------     ------    ------       --------".to_owned());
    for dvipa in local
        .iter()
        .filter(|l| l.status != DvipaStatus::Deactivated)
    {
        out.push(format!(
            "  {:<16}{:<16}{:<10}{:<13}",
            dvipa.addr.to_string(),
            mask(dvipa.prefix_len).to_string(),
            dvipa.status.netstat_word(),
            dvipa.origin.netstat_word(),
        ));
        let act_time = dvipa
            .act_time
            .map_or_else(|| "n/a".to_owned(), ActTime::date_time);
        out.push(format!("    ActTime:      {act_time}"));
    }
    lines(out)
}

/// `D TCPIP,tcpname,SYSPLEX,VIPADYN` issued on stack `tcpname` of system `sysname`.
pub fn sysplex_report(
    tcpname: &str,
    sysname: &str,
    joined: bool,
    dvipas: &[SysplexDvipa],
) -> String {
    if !joined {
        return lines([format!(
            "EZZ8269I {tcpname} {sysname} IS NOT A MEMBER OF A SYSPLEX GROUP"
        )]);
    }
    let mut out = vec![
        format!("EZZ8260I SYSPLEX {}", super::RELEASE),
        format!("VIPA DYNAMIC DISPLAY FROM {tcpname:<8} AT {sysname}"),
    ];
    for dvipa in dvipas {
        out.push(format!(
            "IPADDR: {}  LINKNAME: {}",
            dvipa.addr,
            dvipa_link_name(dvipa.addr)
        ));
        let origin = match dvipa.origin {
            Some(Origin::VipaDefine) => "VIPADEFINE",
            Some(Origin::VipaBackup) => "VIPABACKUP",
            None => "NONE",
        };
        out.push(format!("  ORIGIN: {origin}"));
        out.push("  TCPNAME  MVSNAME  STATUS      RANK DIST".to_owned());
        out.push("  -------- -------- ----------- ---- ----".to_owned());
        for holder in &dvipa.holders {
            let rank = if holder.status == DvipaStatus::Active {
                String::new()
            } else {
                format!("{:03}", holder.rank)
            };
            out.push(format!(
                "  {:<8} {:<8} {:<11} {rank:<4}",
                holder.id.tcpname,
                holder.id.sysname,
                holder.status.console_word(),
            ));
        }
    }
    out.push(format!(
        "{} OF {} RECORDS DISPLAYED",
        dvipas.len(),
        dvipas.len()
    ));
    lines(out)
}
