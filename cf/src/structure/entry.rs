//! A list entry: its controls (LEID, list, key, name, version), data and adjunct.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ids::{EntryKey, EntryName, Leid, ListNumber};
use super::list::Position;

/// A list entry as the CF holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The LEID.
    pub leid: Leid,
    /// The list the entry is on.
    pub list: ListNumber,
    /// Its place in the list (key, then order within the equal-key sublist).
    pub position: Position,
    /// Its name (named structures).
    pub name: Option<EntryName>,
    /// Its version number.
    pub version: u64,
    /// Data elements it occupies.
    pub elements: u32,
    /// The data entry (shared with the answers that read it).
    pub data: Bytes,
    /// The adjunct area (structures with ADJUNCT).
    #[serde(with = "serde_bytes")]
    pub adjunct: Option<Vec<u8>>,
}

impl Entry {
    /// The entry's controls, as returned in answer areas.
    pub fn controls(&self, keyed: bool) -> EntryControls {
        EntryControls {
            leid: self.leid,
            list: self.list,
            key: keyed.then_some(self.position.key),
            name: self.name,
            version: self.version,
            elements: self.elements,
            data_len: u32::try_from(self.data.len()).unwrap_or(u32::MAX),
        }
    }
}

/// List entry controls (the IXLYLCTL view of an entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryControls {
    /// The LEID.
    pub leid: Leid,
    /// The list the entry is on.
    pub list: ListNumber,
    /// The entry key (keyed structures).
    pub key: Option<EntryKey>,
    /// The entry name (named structures).
    pub name: Option<EntryName>,
    /// The version number.
    pub version: u64,
    /// Data elements used.
    pub elements: u32,
    /// Data bytes written.
    pub data_len: u32,
}
