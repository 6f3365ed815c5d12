//! A deterministic, readable YAML dump of one structure's contents.

use super::instance::ListStructure;

/// Dumps `structure` as YAML (work in progress placeholder replaced below).
pub fn dump_structure(structure: &ListStructure) -> String {
    format!("structure: {}\n", structure.name())
}
