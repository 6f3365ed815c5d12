//! The sans-IO core of sysplex-wide security associations on one stack: which restart entries
//! to write to EZBDVIPA while this stack owns a DVIPA, and what to do when it acquires one.
//!
//! ```text
//!  owner    daemon: record of Kn changed ──▶ Put / Remove (only for DVIPAs owned here)
//!  backup   Acquired(dvipa) ──▶ Read(dvipa) ──▶ EntriesRead ──▶ Renegotiate(records), AnnounceTakeover
//!           Put of the new tunnel's record ──▶ Clear(the entries it replaces)
//!  old      Released(dvipa) ──▶ stop writing (the entries stay for the next owner)
//!           TakenOverElsewhere(dvipa) ──▶ DropTunnels(dvipa)
//! ```
//!
//! Consumed entries are cleared only once the replacing tunnel's own entry is written, so a
//! backup that dies while renegotiating leaves every peer's restart information in the CF for
//! the next backup.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use cf::structure::Leid;
use ike::swsa::RestartRecord;

use super::layout::StoredRecord;

/// What the core is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwsaEvent {
    /// This stack activated the DVIPA (initial activation, takeover or takeback).
    Acquired(Ipv4Addr),
    /// This stack no longer owns the DVIPA (released, deactivated, or held only for Moving).
    Released(Ipv4Addr),
    /// The stack on system `by` took the DVIPA's tunnels over.
    TakenOverElsewhere {
        /// The DVIPA.
        dvipa: Ipv4Addr,
        /// The system that took it.
        by: String,
    },
    /// The restart record of IKE tunnel `Kn` changed (`None`: the tunnel is gone).
    RecordChanged {
        /// `Kn`.
        ike_tunnel: u32,
        /// Its local IKE address.
        local: Ipv4Addr,
        /// The new record.
        record: Option<Box<RestartRecord>>,
    },
    /// The entries of a DVIPA, as read for an acquisition.
    EntriesRead {
        /// The DVIPA.
        dvipa: Ipv4Addr,
        /// Every entry under its keys, with its LEID.
        entries: Vec<(Leid, StoredRecord)>,
    },
    /// An IKE tunnel came up; `takeover` when the daemon renegotiated it from a record.
    TunnelUp {
        /// Our IKE address (the DVIPA of a renegotiated tunnel).
        local: Ipv4Addr,
        /// The peer's address.
        remote: Ipv4Addr,
        /// Whether its activation method is Takeover.
        takeover: bool,
    },
    /// The daemon refused to renegotiate a record.
    Refused {
        /// The peer's address.
        remote: Ipv4Addr,
        /// Why.
        reason: String,
    },
    /// Writing the entry of tunnel `Kn` failed (`None`: clearing consumed entries failed).
    WriteFailed {
        /// `Kn`.
        ike_tunnel: Option<u32>,
        /// What the CF said.
        reason: String,
    },
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwsaAction {
    /// Read the DVIPA's entries and answer with [`SwsaEvent::EntriesRead`].
    Read(Ipv4Addr),
    /// Write this stack's entry for the record's tunnel (create, or replace the one written).
    Put(Box<StoredRecord>),
    /// Delete this stack's entry for tunnel `Kn`.
    Remove {
        /// `Kn`.
        ike_tunnel: u32,
    },
    /// Delete entries this stack consumed.
    Clear(Vec<Leid>),
    /// Hand the records to the IKE daemon to renegotiate as initiator.
    Renegotiate(Vec<RestartRecord>),
    /// Tell the other stacks that this stack took the DVIPA's tunnels over.
    AnnounceTakeover(Ipv4Addr),
    /// Delete this stack's IKE tunnels on the DVIPA without telling the peers (they already
    /// replaced them with the new owner's).
    DropTunnels(Ipv4Addr),
    /// Write a console message.
    Console(String),
    /// A step for the takeover timeline.
    Note(SwsaNote),
}

/// A step of an SWSA takeover, for timelines and measurements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwsaNote {
    /// The CF entries of the DVIPA are being read.
    Reading(Ipv4Addr),
    /// They were read: `entries` in all, `peers` to renegotiate with.
    Read {
        /// The DVIPA.
        dvipa: Ipv4Addr,
        /// Entries under its keys.
        entries: usize,
        /// Peers handed to the daemon.
        peers: usize,
    },
    /// A renegotiated tunnel to this peer is up.
    Renegotiated(Ipv4Addr),
    /// The daemon refused the record of this peer.
    Refused(Ipv4Addr),
}

/// The SWSA state of one stack.
#[derive(Debug, Clone)]
pub struct SwsaCore {
    sysname: String,
    /// DVIPAs owned here whose tunnels are written to the CF.
    owned: BTreeSet<Ipv4Addr>,
    /// This stack's entries in the CF: `Kn` and its DVIPA.
    written: BTreeMap<u32, Ipv4Addr>,
    /// Live tunnels on DVIPAs this stack gave up; their entries stay for the next owner.
    retired: BTreeMap<u32, Ipv4Addr>,
    /// Entries consumed by a takeover, by DVIPA and peer, cleared once the new tunnel's
    /// entry is written.
    consumed: BTreeMap<(Ipv4Addr, Ipv4Addr), Vec<Leid>>,
    /// Tunnels being renegotiated, by DVIPA and peer address (a peer may have tunnels to
    /// several DVIPAs taken over at once).
    renegotiating: BTreeSet<(Ipv4Addr, Ipv4Addr)>,
}

impl SwsaCore {
    /// The core of the stack on system `sysname`.
    pub fn new(sysname: &str) -> Self {
        Self {
            sysname: sysname.to_owned(),
            owned: BTreeSet::new(),
            written: BTreeMap::new(),
            retired: BTreeMap::new(),
            consumed: BTreeMap::new(),
            renegotiating: BTreeSet::new(),
        }
    }

    /// Tunnels (DVIPA, peer) whose renegotiation has not finished.
    pub fn renegotiating(&self) -> &BTreeSet<(Ipv4Addr, Ipv4Addr)> {
        &self.renegotiating
    }

    /// Handles one event.
    pub fn handle(&mut self, event: SwsaEvent) -> Vec<SwsaAction> {
        match event {
            SwsaEvent::Acquired(dvipa) => {
                if !self.owned.insert(dvipa) {
                    return Vec::new();
                }
                vec![
                    SwsaAction::Note(SwsaNote::Reading(dvipa)),
                    SwsaAction::Read(dvipa),
                ]
            }
            SwsaEvent::Released(dvipa) => {
                self.owned.remove(&dvipa);
                let (gone, kept) = std::mem::take(&mut self.written)
                    .into_iter()
                    .partition(|(_, d)| *d == dvipa);
                self.written = kept;
                self.retired.extend(gone);
                Vec::new()
            }
            SwsaEvent::TakenOverElsewhere { dvipa, by } => {
                if by == self.sysname || self.owned.contains(&dvipa) {
                    return Vec::new();
                }
                self.retired.retain(|_, d| *d != dvipa);
                vec![SwsaAction::DropTunnels(dvipa)]
            }
            SwsaEvent::RecordChanged {
                ike_tunnel,
                local,
                record,
            } => self.record_changed(ike_tunnel, local, record),
            SwsaEvent::EntriesRead { dvipa, entries } => self.entries_read(dvipa, entries),
            SwsaEvent::TunnelUp {
                local,
                remote,
                takeover,
            } => {
                if takeover && self.renegotiating.remove(&(local, remote)) {
                    vec![SwsaAction::Note(SwsaNote::Renegotiated(remote))]
                } else {
                    Vec::new()
                }
            }
            SwsaEvent::Refused { remote, reason } => {
                // The refusal names the peer only: it ends one of its renegotiations.
                let pending = self
                    .renegotiating
                    .iter()
                    .find(|(_, r)| *r == remote)
                    .copied();
                if let Some(pending) = pending {
                    self.renegotiating.remove(&pending);
                }
                vec![
                    SwsaAction::Console(format!(
                        "EZD0831I Tunnel takeover preparation failed for peer {remote}: {reason}"
                    )),
                    SwsaAction::Note(SwsaNote::Refused(remote)),
                ]
            }
            SwsaEvent::WriteFailed { ike_tunnel, reason } => {
                let what = match ike_tunnel {
                    Some(kn) => {
                        self.written.remove(&kn);
                        format!("IKE tunnel K{kn}")
                    }
                    None => "consumed entries".to_owned(),
                };
                vec![SwsaAction::Console(format!(
                    "EZD0831I Tunnel takeover preparation failed for {what}: {reason}"
                ))]
            }
        }
    }

    fn record_changed(
        &mut self,
        ike_tunnel: u32,
        local: Ipv4Addr,
        record: Option<Box<RestartRecord>>,
    ) -> Vec<SwsaAction> {
        let Some(record) = record else {
            self.retired.remove(&ike_tunnel);
            return match self.written.remove(&ike_tunnel) {
                Some(_) => vec![SwsaAction::Remove { ike_tunnel }],
                None => Vec::new(),
            };
        };
        if !self.owned.contains(&local) {
            return Vec::new();
        }
        let stored = Box::new(StoredRecord {
            owner: self.sysname.clone(),
            ike_tunnel,
            record: *record,
        });
        let remote = stored.remote();
        self.written.insert(ike_tunnel, local);
        let mut actions = vec![SwsaAction::Put(stored)];
        if let Some(leids) = self.consumed.remove(&(local, remote)) {
            actions.push(SwsaAction::Clear(leids));
        }
        actions
    }

    fn entries_read(
        &mut self,
        dvipa: Ipv4Addr,
        entries: Vec<(Leid, StoredRecord)>,
    ) -> Vec<SwsaAction> {
        if !self.owned.contains(&dvipa) {
            return Vec::new();
        }
        let total = entries.len();
        let mut by_peer: BTreeMap<Ipv4Addr, Vec<(Leid, StoredRecord)>> = BTreeMap::new();
        for (leid, stored) in entries {
            if stored.dvipa() == dvipa {
                by_peer
                    .entry(stored.remote())
                    .or_default()
                    .push((leid, stored));
            }
        }
        let mut renegotiate = Vec::new();
        let mut stale = Vec::new();
        let mut foreign = false;
        for (remote, group) in by_peer {
            let (own, others): (Vec<_>, Vec<_>) = group
                .into_iter()
                .partition(|(_, s)| s.owner == self.sysname && self.is_live(s.ike_tunnel));
            for (_, stored) in &own {
                self.retired.remove(&stored.ike_tunnel);
                self.written.insert(stored.ike_tunnel, dvipa);
            }
            foreign |= others.iter().any(|(_, s)| s.owner != self.sysname);
            let leids = others.iter().map(|(leid, _)| *leid);
            if !own.is_empty() {
                // A tunnel of this stack already serves the peer: the others are stale.
                stale.extend(leids);
                continue;
            }
            let leids: Vec<Leid> = leids.collect();
            let Some((_, newest)) = others.into_iter().max_by_key(|(leid, _)| *leid) else {
                continue;
            };
            self.consumed.insert((dvipa, remote), leids);
            self.renegotiating.insert((dvipa, remote));
            renegotiate.push(newest.record);
        }
        let mut actions = Vec::new();
        if !stale.is_empty() {
            actions.push(SwsaAction::Clear(stale));
        }
        actions.push(SwsaAction::Note(SwsaNote::Read {
            dvipa,
            entries: total,
            peers: renegotiate.len(),
        }));
        if !renegotiate.is_empty() {
            actions.push(SwsaAction::Renegotiate(renegotiate));
        }
        if foreign {
            actions.push(SwsaAction::AnnounceTakeover(dvipa));
        }
        actions
    }

    /// Whether tunnel `Kn` of this stack is still up (written or retired, not yet gone).
    fn is_live(&self, ike_tunnel: u32) -> bool {
        self.written.contains_key(&ike_tunnel) || self.retired.contains_key(&ike_tunnel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swsa::layout::test_record;

    const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    const OTHER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);

    fn peer(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, last)
    }

    fn changed(kn: u32, local: Ipv4Addr, remote: Ipv4Addr) -> SwsaEvent {
        SwsaEvent::RecordChanged {
            ike_tunnel: kn,
            local,
            record: Some(Box::new(test_record(local, remote, kn * 16))),
        }
    }

    fn entry(n: u64, owner: &str, kn: u32, remote: Ipv4Addr) -> (Leid, StoredRecord) {
        entry_on(DVIPA, n, owner, kn, remote)
    }

    fn entry_on(
        dvipa: Ipv4Addr,
        n: u64,
        owner: &str,
        kn: u32,
        remote: Ipv4Addr,
    ) -> (Leid, StoredRecord) {
        let stored = StoredRecord {
            owner: owner.into(),
            ike_tunnel: kn,
            record: test_record(dvipa, remote, kn * 16),
        };
        (Leid::system(n), stored)
    }

    fn puts(actions: &[SwsaAction]) -> Vec<(String, u32)> {
        actions
            .iter()
            .filter_map(|a| match a {
                SwsaAction::Put(s) => Some((s.owner.clone(), s.ike_tunnel)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_owner_writes_the_tunnels_of_its_dvipas_only_and_removes_them_when_gone() {
        let mut core = SwsaCore::new("SYS1");
        core.handle(SwsaEvent::Acquired(DVIPA));
        assert_eq!(
            puts(&core.handle(changed(1, DVIPA, peer(200)))),
            vec![("SYS1".into(), 1)]
        );
        assert!(core.handle(changed(2, OTHER, peer(200))).is_empty());
        assert_eq!(
            core.handle(SwsaEvent::RecordChanged {
                ike_tunnel: 1,
                local: DVIPA,
                record: None
            }),
            vec![SwsaAction::Remove { ike_tunnel: 1 }]
        );
        assert!(
            core.handle(SwsaEvent::RecordChanged {
                ike_tunnel: 2,
                local: OTHER,
                record: None
            })
            .is_empty()
        );
    }

    #[test]
    fn a_backup_renegotiates_what_it_reads_and_clears_it_once_the_new_tunnel_is_written() {
        let mut backup = SwsaCore::new("SYS2");
        assert_eq!(
            backup.handle(SwsaEvent::Acquired(DVIPA)),
            vec![
                SwsaAction::Note(SwsaNote::Reading(DVIPA)),
                SwsaAction::Read(DVIPA)
            ]
        );
        let entries = vec![
            entry(1, "SYS1", 1, peer(200)),
            entry(2, "SYS1", 2, peer(201)),
        ];
        let records: Vec<RestartRecord> = entries.iter().map(|(_, s)| s.record.clone()).collect();
        let actions = backup.handle(SwsaEvent::EntriesRead {
            dvipa: DVIPA,
            entries,
        });
        assert_eq!(
            actions,
            vec![
                SwsaAction::Note(SwsaNote::Read {
                    dvipa: DVIPA,
                    entries: 2,
                    peers: 2
                }),
                SwsaAction::Renegotiate(records),
                SwsaAction::AnnounceTakeover(DVIPA),
            ]
        );
        assert_eq!(backup.renegotiating().len(), 2);
        let actions = backup.handle(changed(5, DVIPA, peer(200)));
        assert_eq!(puts(&actions), vec![("SYS2".into(), 5)]);
        assert_eq!(
            actions.last(),
            Some(&SwsaAction::Clear(vec![Leid::system(1)]))
        );
        assert_eq!(
            backup.handle(SwsaEvent::TunnelUp {
                local: DVIPA,
                remote: peer(200),
                takeover: true
            }),
            vec![SwsaAction::Note(SwsaNote::Renegotiated(peer(200)))]
        );
        assert_eq!(backup.renegotiating().len(), 1);
    }

    #[test]
    fn a_peer_with_tunnels_to_two_dvipas_taken_over_together_is_noted_once_per_tunnel() {
        let mut backup = SwsaCore::new("SYS2");
        for (dvipa, n) in [(DVIPA, 1), (OTHER, 2)] {
            backup.handle(SwsaEvent::Acquired(dvipa));
            backup.handle(SwsaEvent::EntriesRead {
                dvipa,
                entries: vec![entry_on(dvipa, n, "SYS1", 1, peer(200))],
            });
        }
        assert_eq!(backup.renegotiating().len(), 2);
        for dvipa in [OTHER, DVIPA] {
            assert_eq!(
                backup.handle(SwsaEvent::TunnelUp {
                    local: dvipa,
                    remote: peer(200),
                    takeover: true
                }),
                vec![SwsaAction::Note(SwsaNote::Renegotiated(peer(200)))]
            );
        }
        assert!(backup.renegotiating().is_empty());
    }

    #[test]
    fn the_next_backup_takes_the_newest_entry_of_each_peer_after_a_backup_died_midway() {
        let mut next = SwsaCore::new("SYS3");
        next.handle(SwsaEvent::Acquired(DVIPA));
        let entries = vec![
            entry(1, "SYS1", 1, peer(200)),
            entry(2, "SYS1", 2, peer(201)),
            entry(9, "SYS2", 5, peer(200)),
        ];
        let newest = entries[2].1.record.clone();
        let old_other = entries[1].1.record.clone();
        let actions = next.handle(SwsaEvent::EntriesRead {
            dvipa: DVIPA,
            entries,
        });
        assert!(actions.contains(&SwsaAction::Renegotiate(vec![newest, old_other])));
        let actions = next.handle(changed(1, DVIPA, peer(200)));
        assert_eq!(
            actions.last(),
            Some(&SwsaAction::Clear(vec![Leid::system(1), Leid::system(9)]))
        );
    }

    #[test]
    fn a_stack_that_gives_a_dvipa_up_keeps_its_entries_for_the_next_owner() {
        let mut old = SwsaCore::new("SYS1");
        old.handle(SwsaEvent::Acquired(DVIPA));
        old.handle(changed(1, DVIPA, peer(200)));
        assert!(old.handle(SwsaEvent::Released(DVIPA)).is_empty());
        assert!(
            old.handle(changed(1, DVIPA, peer(200))).is_empty(),
            "no write after release"
        );
        assert!(
            old.handle(SwsaEvent::TakenOverElsewhere {
                dvipa: DVIPA,
                by: "SYS1".into()
            })
            .is_empty()
        );
        assert_eq!(
            old.handle(SwsaEvent::TakenOverElsewhere {
                dvipa: DVIPA,
                by: "SYS2".into()
            }),
            vec![SwsaAction::DropTunnels(DVIPA)]
        );
        assert!(
            old.handle(SwsaEvent::RecordChanged {
                ike_tunnel: 1,
                local: DVIPA,
                record: None
            })
            .is_empty(),
            "the entry now belongs to the next owner"
        );
    }

    #[test]
    fn a_stack_that_gets_its_dvipa_back_with_live_tunnels_keeps_them() {
        let mut core = SwsaCore::new("SYS1");
        core.handle(SwsaEvent::Acquired(DVIPA));
        core.handle(changed(1, DVIPA, peer(200)));
        core.handle(SwsaEvent::Released(DVIPA));
        core.handle(SwsaEvent::Acquired(DVIPA));
        let actions = core.handle(SwsaEvent::EntriesRead {
            dvipa: DVIPA,
            entries: vec![
                entry(1, "SYS1", 1, peer(200)),
                entry(4, "SYS9", 3, peer(200)),
            ],
        });
        assert_eq!(
            actions,
            vec![
                SwsaAction::Clear(vec![Leid::system(4)]),
                SwsaAction::Note(SwsaNote::Read {
                    dvipa: DVIPA,
                    entries: 2,
                    peers: 0
                }),
                SwsaAction::AnnounceTakeover(DVIPA),
            ]
        );
        assert_eq!(
            puts(&core.handle(changed(1, DVIPA, peer(200)))),
            vec![("SYS1".into(), 1)]
        );
    }

    #[test]
    fn a_refused_record_and_a_failed_write_give_ezd0831i() {
        let mut core = SwsaCore::new("SYS2");
        let actions = core.handle(SwsaEvent::Refused {
            remote: peer(200),
            reason: "no KeyExchangeRule for the peer".into(),
        });
        assert!(
            matches!(&actions[0], SwsaAction::Console(m) if m.starts_with("EZD0831I Tunnel takeover preparation failed"))
        );
        let actions = core.handle(SwsaEvent::WriteFailed {
            ike_tunnel: Some(3),
            reason: "CF link lost".into(),
        });
        assert!(matches!(&actions[0], SwsaAction::Console(m) if m.contains("K3")));
    }
}
