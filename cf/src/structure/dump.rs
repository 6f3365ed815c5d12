//! A deterministic, readable YAML dump of one structure's contents, for snapshot tests of CF
//! contents and for `cfsrv dump`.
//!
//! Stable by construction: lists in list-number order, entries in list order, connections by
//! CONID, locks by index. Volatile fields (allocation and connect times, CONTOKENs) are left
//! out. Lists with no entries and untouched controls are left out; controls at their initial
//! values are not printed. Byte strings print as quoted text when every byte is printable ASCII,
//! as hex otherwise; data longer than [`DATA_SHOWN`] bytes prints its first bytes, its length
//! and an FNV-1a checksum of the whole.

use std::fmt::Write;

use super::attrs::{EntryIdType, ListCntlType, RefOption, StrDisp};
use super::entry::Entry;
use super::ids::{Authority, EntryKey};
use super::instance::ListStructure;
use super::list::List;

/// Data bytes shown in full before a dump abbreviates an entry's data.
pub const DATA_SHOWN: usize = 128;

/// Dumps `structure` as YAML.
pub fn dump_structure(structure: &ListStructure) -> String {
    let mut y = String::new();
    let a = structure.attrs();
    line(&mut y, 0, "structure", &structure.name().to_string());
    line(&mut y, 0, "attributes", "");
    line(&mut y, 1, "list_headers", &a.list_headers.to_string());
    line(&mut y, 1, "lock_entries", &a.lock_entries.to_string());
    line(&mut y, 1, "adjunct", &a.adjunct.to_string());
    line(&mut y, 1, "element_size", &a.element_size().to_string());
    line(&mut y, 1, "max_elem_num", &a.max_elem_num.to_string());
    line(&mut y, 1, "entry_count", &a.entry_count.to_string());
    line(&mut y, 1, "element_count", &a.element_count.to_string());
    line(&mut y, 1, "emc_count", &a.emc_count.to_string());
    let refopt = match a.ref_option {
        RefOption::None => "NONE",
        RefOption::Key => "KEY",
        RefOption::Name => "NAME",
    };
    line(&mut y, 1, "ref_option", refopt);
    let idtype = match a.entry_id_type {
        EntryIdType::System => "SYSTEM",
        EntryIdType::User => "USER",
    };
    line(&mut y, 1, "entry_id_type", idtype);
    let cntl = match a.list_cntl_type {
        ListCntlType::Entry => "ENTRY",
        ListCntlType::Element => "ELEMENT",
    };
    line(&mut y, 1, "list_cntl_type", cntl);
    line(&mut y, 1, "max_conn", &a.max_conn.to_string());
    line(&mut y, 1, "full_threshold", &a.full_threshold.to_string());
    let strdisp = match structure.strdisp() {
        StrDisp::Keep => "KEEP",
        StrDisp::Delete => "DELETE",
    };
    line(&mut y, 1, "strdisp", strdisp);
    line(&mut y, 0, "usage", "");
    line(
        &mut y,
        1,
        "entries",
        &structure.entries_in_use().to_string(),
    );
    line(
        &mut y,
        1,
        "elements",
        &structure.elements_in_use().to_string(),
    );
    let emcs = structure.monitors().emcs.len();
    line(&mut y, 1, "emcs", &emcs.to_string());
    dump_connections(&mut y, structure);
    dump_lists(&mut y, structure);
    dump_locks(&mut y, structure);
    dump_monitors(&mut y, structure);
    y
}

fn dump_connections(y: &mut String, s: &ListStructure) {
    if s.connections().is_empty() {
        line(y, 0, "connections", "[]");
        return;
    }
    line(y, 0, "connections", "");
    for c in s.connections().iter() {
        item(y, 1, "conname", &c.conname.to_string());
        line(y, 2, "conid", &c.conid.0.to_string());
        line(y, 2, "version", &c.version.to_string());
        line(y, 2, "state", &c.state.to_string());
        line(y, 2, "system", &c.system.to_string());
        line(y, 2, "jobname", &quote(&c.jobname));
        line(y, 2, "condisp", &format!("{:?}", c.condisp).to_uppercase());
        let set: Vec<String> = c
            .vector
            .iter()
            .enumerate()
            .filter(|(_, on)| **on)
            .map(|(bit, _)| bit.to_string())
            .collect();
        if !c.vector.is_empty() {
            let bits = format!("{} bits, set [{}]", c.vector.len(), set.join(", "));
            line(y, 2, "vector", &quote(&bits));
        }
    }
}

fn dump_lists(y: &mut String, s: &ListStructure) {
    let default_limit = match s.attrs().list_cntl_type {
        ListCntlType::Entry => s.attrs().entry_count,
        ListCntlType::Element => s.attrs().element_count,
    };
    let shown: Vec<(usize, &List)> = s
        .lists()
        .iter()
        .enumerate()
        .filter(|(_, l)| !untouched(l, default_limit))
        .collect();
    if shown.is_empty() {
        line(y, 0, "lists", "[]");
        return;
    }
    line(y, 0, "lists", "");
    for (number, list) in shown {
        let c = &list.controls;
        item(y, 1, "list", &number.to_string());
        line(y, 2, "entries", &c.entries.to_string());
        line(y, 2, "elements", &c.elements.to_string());
        line(y, 2, "transitions", &c.transitions.to_string());
        if c.limit != default_limit {
            line(y, 2, "limit", &c.limit.to_string());
        }
        if c.authority != Authority::default() {
            line(y, 2, "authority", &bytes(&c.authority.0));
        }
        if c.description != [0; 32] {
            line(y, 2, "description", &bytes(&c.description));
        }
        if c.list_key != EntryKey::default() {
            line(y, 2, "list_key", &bytes(&c.list_key.0));
        }
        if c.max_list_key != EntryKey::MAX {
            line(y, 2, "max_list_key", &bytes(&c.max_list_key.0));
        }
        if let Some(cursor) = c.cursor {
            line(y, 2, "cursor", &cursor.to_string());
        }
        if list.order.is_empty() {
            continue;
        }
        line(y, 2, "entries_in_order", "");
        for leid in list.order.values() {
            if let Some(entry) = s.entry(*leid) {
                dump_entry(y, s, entry);
            }
        }
    }
}

fn untouched(list: &List, default_limit: u32) -> bool {
    let c = &list.controls;
    list.order.is_empty()
        && c.transitions == 0
        && c.limit == default_limit
        && c.authority == Authority::default()
        && c.description == [0; 32]
        && c.list_key == EntryKey::default()
        && c.max_list_key == EntryKey::MAX
        && c.cursor.is_none()
}

fn dump_entry(y: &mut String, s: &ListStructure, e: &Entry) {
    item(y, 3, "leid", &e.leid.to_string());
    if s.attrs().keyed() {
        line(y, 4, "key", &bytes(&e.position.key.0));
    }
    if let Some(name) = e.name {
        line(y, 4, "name", &bytes(&name.0));
    }
    line(y, 4, "version", &e.version.to_string());
    line(y, 4, "elements", &e.elements.to_string());
    if let Some(adjunct) = e.adjunct.as_ref().filter(|a| a.iter().any(|b| *b != 0)) {
        line(y, 4, "adjunct", &bytes(adjunct));
    }
    dump_data(y, &e.data);
}

fn dump_data(y: &mut String, data: &[u8]) {
    if data.is_empty() {
        line(y, 4, "data", "\"\"");
    } else if data.len() <= DATA_SHOWN && printable(data) {
        line(y, 4, "data", &quote(&String::from_utf8_lossy(data)));
    } else {
        let shown = data.get(..DATA_SHOWN.min(data.len())).unwrap_or(data);
        line(y, 4, "data_len", &data.len().to_string());
        if data.len() > DATA_SHOWN {
            line(y, 4, "data_fnv1a", &format!("{:016x}", fnv1a(data)));
        }
        line(y, 4, "data_hex", "");
        for chunk in shown.chunks(32) {
            let mut hex = String::with_capacity(64);
            for b in chunk {
                let _ = write!(hex, "{b:02x}");
            }
            item_plain(y, 5, &hex);
        }
    }
}

fn dump_locks(y: &mut String, s: &ListStructure) {
    let held: Vec<(u32, String)> = s
        .locks()
        .held()
        .map(|(index, conid)| (index, conid.0.to_string()))
        .collect();
    let waiting: Vec<(u32, Vec<String>)> = s
        .locks()
        .waiting()
        .map(|(index, q)| (index, q.iter().map(|w| w.conid.0.to_string()).collect()))
        .collect();
    if held.is_empty() && waiting.is_empty() {
        line(y, 0, "locks", "[]");
        return;
    }
    line(y, 0, "locks", "");
    let mut indexes: Vec<u32> = held.iter().map(|(i, _)| *i).collect();
    indexes.extend(waiting.iter().map(|(i, _)| *i));
    indexes.sort_unstable();
    indexes.dedup();
    for index in indexes {
        item(y, 1, "index", &index.to_string());
        let holder = held.iter().find(|(i, _)| *i == index);
        line(y, 2, "holder", holder.map_or("none", |(_, c)| c.as_str()));
        if let Some((_, q)) = waiting.iter().find(|(i, _)| *i == index) {
            line(y, 2, "waiting", &format!("[{}]", q.join(", ")));
        }
    }
}

fn dump_monitors(y: &mut String, s: &ListStructure) {
    let m = s.monitors();
    if m.lists.is_empty() && m.emcs.is_empty() {
        line(y, 0, "monitors", "[]");
        return;
    }
    line(y, 0, "monitors", "");
    for (list, monitors) in &m.lists {
        for (conid, monitor) in monitors {
            item(y, 1, "list", &list.0.to_string());
            line(y, 2, "conid", &conid.0.to_string());
            line(y, 2, "bit", &monitor.bit.to_string());
            line(y, 2, "drive_exit", &monitor.drive_exit.to_string());
        }
    }
    for ((conid, list, key), emc) in &m.emcs {
        item(y, 1, "sublist", &list.0.to_string());
        line(y, 2, "key", &bytes(&key.0));
        line(y, 2, "conid", &conid.0.to_string());
        line(y, 2, "queued", &emc.queued.to_string());
        if emc.user_data != [0; 16] {
            line(y, 2, "user_data", &bytes(&emc.user_data));
        }
    }
}

/// `key: value` at `depth` (two spaces per level); an empty value opens a mapping.
fn line(y: &mut String, depth: usize, key: &str, value: &str) {
    let pad = "  ".repeat(depth);
    if value.is_empty() {
        let _ = writeln!(y, "{pad}{key}:");
    } else {
        let _ = writeln!(y, "{pad}{key}: {value}");
    }
}

/// The first `key: value` of a sequence item.
fn item(y: &mut String, depth: usize, key: &str, value: &str) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(y, "{pad}- {key}: {value}");
}

fn item_plain(y: &mut String, depth: usize, value: &str) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(y, "{pad}- \"{value}\"");
}

fn printable(b: &[u8]) -> bool {
    b.iter().all(|c| (0x20..0x7F).contains(c))
}

/// Text in quotes when every byte is printable, else `0x` and hex, in quotes.
fn bytes(b: &[u8]) -> String {
    if printable(b) {
        quote(&String::from_utf8_lossy(b))
    } else {
        let mut hex = String::from("\"0x");
        for byte in b {
            let _ = write!(hex, "{byte:02x}");
        }
        hex.push('"');
        hex
    }
}

/// A YAML double-quoted string.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(q, "\\x{:02x}", u32::from(c));
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_print_as_text_or_hex() {
        assert_eq!(bytes(b"DVIPA"), "\"DVIPA\"");
        assert_eq!(bytes(&[0, 1, 0xff]), "\"0x0001ff\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn fnv1a_matches_the_reference_vector() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
