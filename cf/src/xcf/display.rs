//! Operator displays of XCF groups: `D XCF,GROUP` (IXC331I), `D XCF,GROUP,grpname` (IXC332I)
//! and `D XCF,GROUP,grpname,ALL` (IXC333I), in the z/OS layouts, from member records.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::names::GroupName;
use super::records::MemberRecord;
use crate::structure::Tod;

/// Names per line in the IXC331I and IXC332I name tables.
const PER_LINE: usize = 3;

/// `D XCF,GROUP`: IXC331I, every group with its number of members.
pub fn display_groups(members: &[MemberRecord], now: Tod) -> String {
    let mut sizes: BTreeMap<&GroupName, usize> = BTreeMap::new();
    for m in members {
        *sizes.entry(&m.group).or_default() += 1;
    }
    let mut out = format!("IXC331I  {}  DISPLAY XCF\n", clock(now));
    if sizes.is_empty() {
        out.push_str("NO GROUPS DEFINED\n");
        return out;
    }
    let cells: Vec<String> = sizes.iter().map(|(g, n)| format!("{g}({n})")).collect();
    table(&mut out, "GROUPS(SIZE):  ", &cells);
    out
}

/// `D XCF,GROUP,grpname`: IXC332I, the member names of one group.
pub fn display_group(group: &GroupName, members: &[MemberRecord], now: Tod) -> String {
    let mut out = format!("IXC332I  {}  DISPLAY XCF\n", clock(now));
    let mut names: Vec<String> = in_group(group, members)
        .map(|m| m.member.to_string())
        .collect();
    names.sort();
    if names.is_empty() {
        let _ = writeln!(out, "GROUP {group}: NO MEMBERS");
        return out;
    }
    table(&mut out, &format!("GROUP {group:<8}:  "), &names);
    out
}

/// `D XCF,GROUP,grpname,ALL`: IXC333I, each member of one group with its system, job and
/// state.
pub fn display_group_members(group: &GroupName, members: &[MemberRecord], now: Tod) -> String {
    let mut out = format!("IXC333I  {}  DISPLAY XCF\n", clock(now));
    let _ = writeln!(out, "INFORMATION FOR GROUP {group}");
    let mut rows: Vec<&MemberRecord> = in_group(group, members).collect();
    rows.sort_by(|a, b| a.member.cmp(&b.member));
    if rows.is_empty() {
        out.push_str("  NO MEMBERS\n");
        return out;
    }
    out.push_str("  MEMBER NAME:      SYSTEM:   JOB ID:   STATUS:\n");
    for m in rows {
        let _ = writeln!(
            out,
            "  {:<16}  {:<8}  {:<8}  {}",
            m.member.to_string(),
            m.system.to_string(),
            m.jobname,
            m.state.display_word()
        );
    }
    out
}

fn in_group<'a>(
    group: &'a GroupName,
    members: &'a [MemberRecord],
) -> impl Iterator<Item = &'a MemberRecord> {
    members.iter().filter(move |m| &m.group == group)
}

/// Cells of 17 columns, [`PER_LINE`] to a line, the first line after `lead`.
fn table(out: &mut String, lead: &str, cells: &[String]) {
    for (i, line) in cells.chunks(PER_LINE).enumerate() {
        let prefix = if i == 0 {
            lead.to_owned()
        } else {
            " ".repeat(lead.len())
        };
        let row: Vec<String> = line.iter().map(|c| format!("{c:<17}")).collect();
        let _ = writeln!(out, "{prefix}{}", row.concat().trim_end());
    }
}

/// hh.mm.ss (UTC) of a time of day in microseconds since the Unix epoch.
fn clock(now: Tod) -> String {
    let secs = now.0 / 1_000_000 % 86_400;
    format!("{:02}.{:02}.{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::{ListNumber, SysName};
    use crate::xcf::names::MemberName;
    use crate::xcf::records::{MemberState, MemberToken};

    /// 2026-11-22 08:15:24 UTC.
    const NOW: Tod = Tod(1_795_335_324_000_000);

    fn member(group: &str, name: &str, system: &str, state: MemberState) -> MemberRecord {
        MemberRecord {
            group: GroupName::new(group).unwrap(),
            member: MemberName::new(name).unwrap(),
            system: SysName::new(system).unwrap(),
            jobname: "TCPCS".into(),
            token: MemberToken::new(1, 1),
            state,
            user_state: vec![],
            joined_at: NOW,
            changed_at: NOW,
            inbox: (state == MemberState::Active).then_some(ListNumber(2)),
        }
    }

    fn sysplex() -> Vec<MemberRecord> {
        let mut members = vec![
            member("EZBTCPCS", "SYSATCPCS", "SYSA", MemberState::Active),
            member("EZBTCPCS", "SYSCTCPCS", "SYSC", MemberState::Failed),
            member("EZBTCPCS", "SYSBTCPCS", "SYSB", MemberState::Active),
        ];
        for (group, n) in [("ISTXCF", 3), ("SYSGRS", 3), ("SYSMCS", 2), ("IXCLO001", 1)] {
            for i in 0..n {
                let sys = ["SYSA", "SYSB", "SYSC"][i];
                let name = format!("{sys}M{i}");
                members.push(member(group, &name, sys, MemberState::Active));
            }
        }
        members
    }

    #[test]
    fn d_xcf_group_lists_groups_with_sizes() {
        insta::assert_snapshot!(display_groups(&sysplex(), NOW));
    }

    #[test]
    fn d_xcf_group_with_no_groups() {
        insta::assert_snapshot!(display_groups(&[], NOW));
    }

    #[test]
    fn d_xcf_group_ezbtcpcs_lists_member_names() {
        let group = GroupName::new("EZBTCPCS").unwrap();
        insta::assert_snapshot!(display_group(&group, &sysplex(), NOW));
    }

    #[test]
    fn d_xcf_group_ezbtcpcs_all_shows_systems_and_states() {
        let group = GroupName::new("EZBTCPCS").unwrap();
        insta::assert_snapshot!(display_group_members(&group, &sysplex(), NOW));
    }

    #[test]
    fn d_xcf_group_of_an_unknown_group() {
        let group = GroupName::new("EZBT0102").unwrap();
        insta::assert_snapshot!(display_group(&group, &sysplex(), NOW));
    }
}
