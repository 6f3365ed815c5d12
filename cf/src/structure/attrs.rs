//! Structure attributes, fixed by the first connector (IXLCONN) and returned to later ones
//! (IXLYCONA), and the dispositions a connector asks for.

use serde::{Deserialize, Serialize};

use super::codes::Reason;

/// Largest data entry, in bytes.
pub const MAX_DATA_BYTES: u32 = 64 * 1024;
/// Size of an adjunct area, in bytes.
pub const ADJUNCT_BYTES: usize = 64;
/// Most list headers a structure may have (an emulator limit).
pub const MAX_LIST_HEADERS: u32 = 65_536;
/// Largest MAXCONN (CFLEVEL 17 and later).
pub const MAX_CONNECTIONS: u8 = 255;

/// How entries are referenced besides their LEID (REFOPTION).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefOption {
    /// LEID and position only; lists are unkeyed.
    None,
    /// Entry keys: lists keep entries in ascending key order.
    Key,
    /// Entry names, unique in the structure.
    Name,
}

/// Who assigns LEIDs (ENTRYIDTYPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryIdType {
    /// The CF assigns LEIDs and never reuses one.
    System,
    /// The writer supplies LEIDs, unique while in use.
    User,
}

/// What a list limit counts (LISTCNTLTYPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListCntlType {
    /// The limit counts entries.
    Entry,
    /// The limit counts data elements.
    Element,
}

/// How durable a structure's updates must be before they are acknowledged (emulator setting:
/// the server's store honours it; the model only carries it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Durability {
    /// Flushed to disk before the reply.
    Sync,
    /// Flushed in the background.
    Async,
}

/// What happens to a connection whose connector fails (CONDISP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConDisp {
    /// The connection becomes failed-persistent, keeping its CONNAME and CONID.
    Keep,
    /// The connection goes away.
    Delete,
}

/// What happens to a structure when its last connection goes (STRDISP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StrDisp {
    /// The structure stays allocated until forced.
    Keep,
    /// The structure is freed when no active or failed-persistent connections remain.
    Delete,
}

/// The attributes of a list structure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructureAttrs {
    /// Number of list headers (LISTHEADERS), 1..=[`MAX_LIST_HEADERS`].
    pub list_headers: u32,
    /// Lock table entries (LOCKENTRIES), rounded up to a power of 2; 0 = no lock table.
    pub lock_entries: u32,
    /// Whether entries have 64-byte adjunct areas (ADJUNCT=YES).
    pub adjunct: bool,
    /// Element size is 256 × 2^ELEMCHAR bytes.
    pub elem_char: u8,
    /// Most elements in one data entry (MAXELEMNUM), at most 255 and 64 KiB.
    pub max_elem_num: u8,
    /// Entries in the structure (ENTRYCOUNT).
    pub entry_count: u32,
    /// Data elements in the structure (ELEMENTCOUNT).
    pub element_count: u32,
    /// Event monitor controls in the structure (from EMCSTGPCT); 0 = no event queues.
    pub emc_count: u32,
    /// How entries are referenced (REFOPTION).
    pub ref_option: RefOption,
    /// Who assigns LEIDs (ENTRYIDTYPE).
    pub entry_id_type: EntryIdType,
    /// What list limits count (LISTCNTLTYPE).
    pub list_cntl_type: ListCntlType,
    /// Most connections (MAXCONN), 1..=255.
    pub max_conn: u8,
    /// FULLTHRESHOLD percent for IXC585E/IXC586I; 0 turns monitoring off.
    pub full_threshold: u8,
    /// How durable updates must be before the reply.
    pub durability: Durability,
}

impl Default for StructureAttrs {
    /// A small keyed, serialized structure with adjuncts: 16 lists, 256 locks, 256-byte
    /// elements, 1000 entries, 4000 elements, 32 connections.
    fn default() -> Self {
        Self {
            list_headers: 16,
            lock_entries: 256,
            adjunct: true,
            elem_char: 0,
            max_elem_num: 16,
            entry_count: 1000,
            element_count: 4000,
            emc_count: 256,
            ref_option: RefOption::Key,
            entry_id_type: EntryIdType::System,
            list_cntl_type: ListCntlType::Entry,
            max_conn: 32,
            full_threshold: 80,
            durability: Durability::Sync,
        }
    }
}

impl StructureAttrs {
    /// Bytes in one data element.
    pub fn element_size(&self) -> u32 {
        256u32 << self.elem_char.min(8)
    }

    /// Elements needed for `len` bytes of data.
    pub fn elements_for(&self, len: usize) -> u32 {
        let size = usize::try_from(self.element_size()).unwrap_or(usize::MAX);
        u32::try_from(len.div_ceil(size)).unwrap_or(u32::MAX)
    }

    /// Whether lists are keyed.
    pub fn keyed(&self) -> bool {
        self.ref_option == RefOption::Key
    }

    /// Whether entries have names.
    pub fn named(&self) -> bool {
        self.ref_option == RefOption::Name
    }

    /// Checks the attributes of a first connect and returns them as allocated (LOCKENTRIES
    /// rounded up to a power of 2).
    pub fn allocate(&self) -> Result<Self, Reason> {
        let element_bytes = u64::from(self.element_size()) * u64::from(self.max_elem_num);
        let valid = (1..=MAX_LIST_HEADERS).contains(&self.list_headers)
            && self.elem_char <= 8
            && element_bytes <= u64::from(MAX_DATA_BYTES)
            && self.max_conn > 0
            && self.full_threshold <= 100
            && self.lock_entries <= 1 << 31;
        if !valid {
            return Err(Reason::BadAttribute);
        }
        let mut allocated = self.clone();
        allocated.lock_entries = match self.lock_entries {
            0 => 0,
            n => n.next_power_of_two(),
        };
        Ok(allocated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_entries_are_rounded_up_to_a_power_of_two() {
        let attrs = StructureAttrs {
            lock_entries: 100,
            ..StructureAttrs::default()
        };
        assert_eq!(attrs.allocate().map(|a| a.lock_entries), Ok(128));
        let none = StructureAttrs {
            lock_entries: 0,
            ..StructureAttrs::default()
        };
        assert_eq!(none.allocate().map(|a| a.lock_entries), Ok(0));
    }

    #[test]
    fn refuses_entries_larger_than_64k() {
        let attrs = StructureAttrs {
            elem_char: 2,
            max_elem_num: 255,
            ..StructureAttrs::default()
        };
        assert_eq!(attrs.allocate(), Err(Reason::BadAttribute));
        let fits = StructureAttrs {
            elem_char: 0,
            max_elem_num: 255,
            ..StructureAttrs::default()
        };
        assert!(fits.allocate().is_ok());
    }

    #[test]
    fn refuses_list_headers_outside_the_supported_range() {
        for list_headers in [0, MAX_LIST_HEADERS + 1] {
            let attrs = StructureAttrs {
                list_headers,
                ..StructureAttrs::default()
            };
            assert_eq!(attrs.allocate(), Err(Reason::BadAttribute));
        }
    }

    #[test]
    fn counts_whole_elements() {
        let attrs = StructureAttrs {
            elem_char: 1,
            ..StructureAttrs::default()
        };
        assert_eq!(attrs.element_size(), 512);
        assert_eq!(attrs.elements_for(0), 0);
        assert_eq!(attrs.elements_for(1), 1);
        assert_eq!(attrs.elements_for(513), 2);
    }
}
