//! `NETSTAT VIPADCFG`: the stack's dynamic VIPA configuration (VIPABACKUP, VIPADEFINE,
//! VIPARANGE), with what an operator deactivated in its own section.
//!
//! ```text
//! Dynamic VIPA Information:
//!   VIPA Backup:
//!     IpAddr/PrefixLen: 201.2.10.13
//!       Rank: 000100  Moveable:           SrvMgr:
//!   VIPA Define:
//!     IpAddr/PrefixLen: 201.2.10.11/28
//!       Moveable: Immediate  SrvMgr: No
//!   VIPA Range:
//!     IpAddr/PrefixLen: 201.2.10.192/26
//!       Moveable: NonDisr
//! Deactivated Dynamic VIPA Information:
//! ```
//! VIPADISTRIBUTE and VIPAROUTE sections belong to the Sysplex Distributor and are not shown.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::{header, lines, not_in_group};
use crate::dvipa::model::ActTime;
use crate::profile::{Change, RangeMoveable, VipaDynamic};

/// What the report shows.
#[derive(Clone, Copy, Debug)]
pub struct VipaDcfg<'a> {
    /// The VIPADYNAMIC configuration.
    pub config: &'a VipaDynamic,
    /// DVIPAs deactivated by operator command.
    pub deactivated: &'a BTreeSet<Ipv4Addr>,
    /// Whether the stack is in its sysplex group.
    pub joined: bool,
}

fn sections(config: &VipaDynamic, pick: &dyn Fn(Ipv4Addr) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let backups: Vec<String> = config
        .backups
        .iter()
        .flat_map(|b| {
            b.addresses
                .iter()
                .filter(|a| pick(**a))
                .map(move |a| (b, a))
        })
        .flat_map(|(b, addr)| {
            let ip = match b.prefix_len {
                Some(len) => format!("{addr}/{len}"),
                None => addr.to_string(),
            };
            let moveable = b.moveable.map_or("", |m| {
                crate::dvipa::model::Moveable::from(m).netstat_word()
            });
            let srvmgr = match (b.moveable, b.service_mgr) {
                (None, _) => "",
                (Some(_), true) => "Yes",
                (Some(_), false) => "No",
            };
            [
                format!("    IpAddr/PrefixLen: {ip}"),
                format!(
                    "      Rank: {:06}  Moveable: {moveable:<10}SrvMgr: {srvmgr}",
                    b.rank
                ),
            ]
        })
        .collect();
    if !backups.is_empty() {
        out.push("  VIPA Backup:".to_owned());
        out.extend(backups);
    }
    let defines: Vec<String> = config
        .defines
        .iter()
        .flat_map(|d| {
            d.addresses
                .iter()
                .filter(|a| pick(**a))
                .map(move |a| (d, a))
        })
        .flat_map(|(d, addr)| {
            let moveable = crate::dvipa::model::Moveable::from(d.moveable).netstat_word();
            let srvmgr = if d.service_mgr { "Yes" } else { "No" };
            [
                format!("    IpAddr/PrefixLen: {addr}/{}", d.prefix_len),
                format!("      Moveable: {moveable:<10} SrvMgr: {srvmgr}"),
            ]
        })
        .collect();
    if !defines.is_empty() {
        out.push("  VIPA Define:".to_owned());
        out.extend(defines);
    }
    let ranges: Vec<String> = config
        .ranges
        .iter()
        .filter(|r| r.change == Change::Define && pick(r.address))
        .flat_map(|r| {
            let moveable = match r.moveable {
                RangeMoveable::NonDisruptive => "NonDisr",
                RangeMoveable::Disruptive => "Disrupt",
            };
            [
                format!("    IpAddr/PrefixLen: {}/{}", r.address, r.prefix_len),
                format!("      Moveable: {moveable}"),
            ]
        })
        .collect();
    if !ranges.is_empty() {
        out.push("  VIPA Range:".to_owned());
        out.extend(ranges);
    }
    out
}

/// The report.
pub fn report(tcpname: &str, now: ActTime, view: VipaDcfg<'_>) -> String {
    let mut out = vec![header(tcpname, now)];
    if !view.joined {
        out.extend(not_in_group(tcpname));
    }
    out.push("Dynamic VIPA Information:".to_owned());
    out.extend(sections(view.config, &|addr| {
        !view.deactivated.contains(&addr)
    }));
    if !view.deactivated.is_empty() {
        out.push("Deactivated Dynamic VIPA Information:".to_owned());
        out.extend(sections(view.config, &|addr| {
            view.deactivated.contains(&addr)
        }));
    }
    lines(out)
}
