//! Operator displays of CF structures: `D XCF,STR` (IXC359I) and `D XCF,STR,STRNAME=name`
//! (IXC360I), in the z/OS layouts.
//!
//! The emulator has no CFRM policy, so every allocated structure is listed and the policy
//! section of IXC360I shows the values the structure was allocated with. Sizes are computed from
//! the attributes (an emulator formula: control storage per entry, element storage, lock
//! entries and EMCs, rounded up to the 1 M storage increment).

use std::fmt::Write;

use crate::structure::{Facility, ListStructure, StrDisp, StrName, Tod};

/// Storage increment, in K.
const STORAGE_INCREMENT_K: u64 = 1024;

/// `D XCF,STR`: IXC359I, one line per allocated structure.
pub fn display_structures(facility: &Facility, now: Tod) -> String {
    let mut out = format!("IXC359I  {}  DISPLAY XCF\n", clock(now));
    out.push_str("STRNAME          ALLOCATION TIME     STATUS           TYPE\n");
    let mut any = false;
    for s in facility.structures() {
        any = true;
        let _ = writeln!(
            out,
            "{:<16} {} {:<16} {}",
            s.name().to_string(),
            date_time(s.allocated_at()),
            "ALLOCATED",
            structure_type(s)
        );
    }
    if !any {
        out.push_str("NO STRUCTURES ARE ALLOCATED\n");
    }
    out
}

/// `D XCF,STR,STRNAME=name`: IXC360I with policy, instance and connection information.
pub fn display_structure(facility: &Facility, name: &StrName, now: Tod) -> String {
    let mut out = format!("IXC360I  {}  DISPLAY XCF\n", clock(now));
    let _ = writeln!(out, "STRNAME: {name}");
    let Some(s) = facility.structure(name) else {
        out.push_str(" STATUS: NOT ALLOCATED\n");
        return out;
    };
    let a = s.attrs();
    let size = size_k(s);
    let cf = facility.identity();
    out.push_str(" STATUS: ALLOCATED\n");
    out.push_str(" EVENT MANAGEMENT: MESSAGE-BASED\n");
    let _ = writeln!(out, " TYPE: {}", structure_type(s));
    out.push_str(" POLICY INFORMATION:\n");
    let _ = writeln!(out, "  POLICY SIZE    : {size} K");
    out.push_str("  POLICY INITSIZE: N/A\n");
    out.push_str("  POLICY MINSIZE : 0 K\n");
    let _ = writeln!(out, "  FULLTHRESHOLD  : {}", a.full_threshold);
    out.push_str("  ALLOWAUTOALT   : NO\n");
    out.push_str("  REBUILD PERCENT: N/A\n");
    out.push_str("  DUPLEX         : DISABLED\n");
    out.push_str("  ALLOWREALLOCATE: YES\n");
    let _ = writeln!(out, "  PREFERENCE LIST: {}", cf.name);
    out.push_str("  ENFORCEORDER   : NO\n");
    out.push_str("  EXCLUSION LIST IS EMPTY\n\n");
    out.push_str(" ACTIVE STRUCTURE\n ----------------\n");
    let _ = writeln!(out, "  ALLOCATION TIME: {}", date_time(s.allocated_at()));
    let _ = writeln!(out, "  CFNAME         : {}", cf.name);
    let _ = writeln!(out, "  COUPLING FACILITY: {}", cf.node);
    let _ = writeln!(
        out,
        "                     PARTITION: {:02X}   CPCID: {:02X}",
        cf.partition, cf.cpcid
    );
    let _ = writeln!(out, "  ACTUAL SIZE    : {size} K");
    out.push_str("  STORAGE INCREMENT SIZE: 1 M\n");
    out.push_str("  USAGE INFO          TOTAL    CHANGED    %\n");
    usage(&mut out, "ENTRIES:", a.entry_count, s.entries_in_use());
    usage(&mut out, "ELEMENTS:", a.element_count, s.elements_in_use());
    if a.emc_count > 0 {
        let emcs = u32::try_from(s.monitors().emcs.len()).unwrap_or(u32::MAX);
        usage(&mut out, "EMCS:", a.emc_count, emcs);
    }
    if a.lock_entries > 0 {
        let _ = writeln!(out, "   {:<9}   {:>10}", "LOCKS:", a.lock_entries);
    }
    let version = s.physical_version();
    let (hi, lo) = (version >> 32, version & 0xFFFF_FFFF);
    let _ = writeln!(out, "  PHYSICAL VERSION: {hi:08X} {lo:08X}");
    let _ = writeln!(out, "  LOGICAL VERSION:  {hi:08X} {lo:08X}");
    out.push_str("  SYSTEM-MANAGED PROCESS LEVEL: NOT APPLICABLE\n");
    let _ = writeln!(
        out,
        "  XCF GRPNAME    : IXCLO{:03X}",
        s.allocation() & 0xFFF
    );
    let disposition = match s.strdisp() {
        StrDisp::Keep => "KEEP",
        StrDisp::Delete => "DELETE",
    };
    let _ = writeln!(out, "  DISPOSITION    : {disposition}");
    out.push_str("  ACCESS TIME    : 1800\n");
    let _ = writeln!(out, "  MAX CONNECTIONS: {}", a.max_conn);
    let count = s.connections().iter().count();
    let _ = writeln!(out, "  # CONNECTIONS  : {count}");
    if count > 0 {
        connection_table(&mut out, s);
    }
    out
}

fn connection_table(out: &mut String, s: &ListStructure) {
    out.push_str("\n  CONNECTION NAME  ID VERSION  SYSNAME  JOBNAME  ASID STATE\n");
    out.push_str("  ---------------- -- -------- -------- -------- ---- ----------------\n");
    for c in s.connections().iter() {
        let version = (u32::from(c.conid.0) << 16) | (c.version & 0xFFFF);
        let _ = writeln!(
            out,
            "  {:<16} {} {:08X} {:<8} {:<8} {:04X} {}",
            c.conname.to_string(),
            c.conid,
            version,
            c.system.to_string(),
            c.jobname.chars().take(8).collect::<String>(),
            c.asid,
            c.state
        );
    }
}

fn usage(out: &mut String, what: &str, total: u32, used: u32) {
    let pct = u64::from(used) * 100 / u64::from(total.max(1));
    let _ = writeln!(out, "   {what:<9}   {total:>10} {used:>10} {pct:>4}");
}

fn structure_type(s: &ListStructure) -> &'static str {
    if s.attrs().lock_entries > 0 {
        "SERIALIZED LIST"
    } else {
        "LIST"
    }
}

/// Structure size in K: 256 B of controls per entry (plus 64 B adjunct), the elements, 8 B
/// per lock entry, 64 B per EMC and 128 B per list header, rounded up to the increment.
fn size_k(s: &ListStructure) -> u64 {
    let a = s.attrs();
    let per_entry = 256 + if a.adjunct { 64 } else { 0 };
    let bytes = u64::from(a.entry_count) * per_entry
        + u64::from(a.element_count) * u64::from(a.element_size())
        + u64::from(a.lock_entries) * 8
        + u64::from(a.emc_count) * 64
        + u64::from(a.list_headers) * 128;
    bytes.div_ceil(1024).div_ceil(STORAGE_INCREMENT_K).max(1) * STORAGE_INCREMENT_K
}

/// `hh.mm.ss` of a time of day.
fn clock(tod: Tod) -> String {
    let (_, _, _, h, m, s) = civil(tod);
    format!("{h:02}.{m:02}.{s:02}")
}

/// `MM/DD/YYYY hh:mm:ss` of a time of day.
fn date_time(tod: Tod) -> String {
    let (y, mo, d, h, m, s) = civil(tod);
    format!("{mo:02}/{d:02}/{y:04} {h:02}:{m:02}:{s:02}")
}

/// UTC calendar date and time of microseconds since 1970-01-01 (days-to-civil, proleptic
/// Gregorian).
fn civil(tod: Tod) -> (u64, u64, u64, u64, u64, u64) {
    let secs = tod.0 / 1_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::{
        ConDisp, ConName, ConnectRequest, Ctx, LinkId, Request, StructureAttrs, SysName,
    };

    /// 2026-11-22 06:32:16 UTC.
    const NOW: Tod = Tod(1_795_329_136_000_000);

    fn connect(f: &mut Facility, link: u64, system: &str, conname: &str, structure: &str) {
        let ctx = Ctx {
            link: LinkId(link),
            system: SysName::new(system).expect("valid system"),
            now: NOW,
        };
        let request = Request::Connect(ConnectRequest {
            structure: StrName::new(structure).expect("valid structure"),
            conname: ConName::new(conname),
            attrs: StructureAttrs::default(),
            condisp: ConDisp::Keep,
            strdisp: StrDisp::Keep,
            vector_len: 32,
            jobname: "TCPIP".into(),
            asid: 0x40 + u16::try_from(link).expect("small link"),
        });
        assert!(f.apply(&ctx, request).reply.is_success());
    }

    fn sample() -> Facility {
        let mut f = Facility::default();
        connect(&mut f, 1, "SYS1", "TCPIPSYS1", "EZBDVIPA");
        connect(&mut f, 2, "SYS2", "TCPIPSYS2", "EZBDVIPA");
        connect(&mut f, 1, "SYS1", "XCFSYS1", "IXC_XCF1");
        let dropped = Ctx {
            link: LinkId(2),
            system: SysName::new("SYS2").expect("valid system"),
            now: NOW,
        };
        f.apply(&dropped, Request::LinkDropped);
        f
    }

    #[test]
    fn civil_time_matches_a_known_date() {
        assert_eq!(date_time(NOW), "11/22/2026 06:32:16");
        assert_eq!(date_time(Tod(0)), "01/01/1970 00:00:00");
        assert_eq!(clock(NOW), "06.32.16");
    }

    #[test]
    fn d_xcf_str_lists_allocated_structures() {
        insta::assert_snapshot!(display_structures(&sample(), NOW));
    }

    #[test]
    fn d_xcf_str_with_nothing_allocated() {
        insta::assert_snapshot!(display_structures(&Facility::default(), NOW));
    }

    #[test]
    fn d_xcf_str_strname_shows_the_connection_table() {
        let name = StrName::new("EZBDVIPA").expect("valid structure");
        insta::assert_snapshot!(display_structure(&sample(), &name, NOW));
    }

    #[test]
    fn d_xcf_str_strname_of_an_unallocated_structure() {
        let name = StrName::new("NOSUCH").expect("valid structure");
        let text = display_structure(&sample(), &name, NOW);
        assert!(text.ends_with("STRNAME: NOSUCH\n STATUS: NOT ALLOCATED\n"));
    }
}
