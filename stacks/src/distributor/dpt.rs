//! The destination port table (DPT): one entry per distributed DVIPA, port and target stack.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A DPT entry's key: the DVIPA and port, and the target's dynamic XCF address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DptKey {
    /// The distributed DVIPA.
    pub dvipa: Ipv4Addr,
    /// The distributed port.
    pub port: u16,
    /// The target stack's dynamic XCF address (DestXCF).
    pub xcf: Ipv4Addr,
}

/// The health figures a target reports for its server (percentages, as VDPT DETAIL shows them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// TSR: target server responsiveness, scales the WLM weight; 0 is unhealthy.
    pub tsr: u8,
    /// TCSR: target connectivity success rate.
    pub tcsr: u8,
    /// CER: connection establishment rate.
    pub cer: u8,
    /// SEF: server efficiency fraction.
    pub sef: u8,
    /// Abnorm: the rate of abnormal transaction completions.
    pub abnorm: u8,
    /// Health: the server's own health indicator.
    pub health: u8,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            tsr: 100,
            tcsr: 100,
            cer: 100,
            sef: 100,
            abnorm: 0,
            health: 100,
        }
    }
}

impl Health {
    /// Whether HOTSTANDBY's HEALTHSWITCH counts the server as healthy (TSR and Health above 0).
    pub fn is_healthy(&self) -> bool {
        self.tsr > 0 && self.health > 0
    }
}

/// One DPT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DptEntry {
    /// Rdy: listeners on the target (0: no new connections).
    pub ready: u16,
    /// TotalConn: connections given to the target since this distributor started distributing.
    pub total_conn: u64,
    /// ActiveConn: those still open.
    pub active_conn: u64,
    /// The server-specific WLM weight (SERVERWLM), when the target reported one.
    pub server_weight: Option<u8>,
    /// The health figures.
    pub health: Health,
}

/// The DPT, ordered by DVIPA, port and target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dpt {
    entries: BTreeMap<DptKey, DptEntry>,
}

impl Dpt {
    /// The entry of `key`.
    pub fn get(&self, key: &DptKey) -> Option<&DptEntry> {
        self.entries.get(key)
    }

    /// The entry of `key`, created empty when missing.
    pub fn entry(&mut self, key: DptKey) -> &mut DptEntry {
        self.entries.entry(key).or_default()
    }

    /// The entry of `key`, if present.
    pub fn get_mut(&mut self, key: &DptKey) -> Option<&mut DptEntry> {
        self.entries.get_mut(key)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&DptKey, &DptEntry)> {
        self.entries.iter()
    }

    /// The entries of one DVIPA and port, in target order.
    pub fn targets(
        &self,
        dvipa: Ipv4Addr,
        port: u16,
    ) -> impl Iterator<Item = (&DptKey, &DptEntry)> {
        let low = DptKey {
            dvipa,
            port,
            xcf: Ipv4Addr::UNSPECIFIED,
        };
        let high = DptKey {
            dvipa,
            port,
            xcf: Ipv4Addr::BROADCAST,
        };
        self.entries.range(low..=high)
    }

    /// Removes every entry of the target `xcf`.
    pub fn remove_target(&mut self, xcf: Ipv4Addr) {
        self.entries.retain(|key, _| key.xcf != xcf);
    }

    /// Removes every entry of `dvipa`.
    pub fn remove_dvipa(&mut self, dvipa: Ipv4Addr) {
        self.entries.retain(|key, _| key.dvipa != dvipa);
    }

    /// Every entry of the target `xcf`, mutable.
    pub fn of_target_mut(
        &mut self,
        xcf: Ipv4Addr,
    ) -> impl Iterator<Item = (&DptKey, &mut DptEntry)> {
        self.entries
            .iter_mut()
            .filter(move |(key, _)| key.xcf == xcf)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16, last: u8) -> DptKey {
        DptKey {
            dvipa: Ipv4Addr::new(198, 51, 100, 10),
            port,
            xcf: Ipv4Addr::new(192, 0, 2, last),
        }
    }

    #[test]
    fn targets_lists_only_the_entries_of_one_port_in_xcf_order() {
        let mut dpt = Dpt::default();
        dpt.entry(key(80, 3)).ready = 1;
        dpt.entry(key(80, 1)).ready = 2;
        dpt.entry(key(81, 2)).ready = 3;
        let ready: Vec<u16> = dpt
            .targets(key(80, 0).dvipa, 80)
            .map(|(_, e)| e.ready)
            .collect();
        assert_eq!(ready, vec![2, 1]);
        dpt.remove_target(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(dpt.len(), 2);
    }

    #[test]
    fn a_server_with_zero_tsr_is_unhealthy() {
        assert!(Health::default().is_healthy());
        assert!(
            !Health {
                tsr: 0,
                ..Health::default()
            }
            .is_healthy()
        );
    }
}
