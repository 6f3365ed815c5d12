//! Behaviour tests of the DVIPA manager: a simulated sysplex of managers that passes their
//! signals around synchronously, in the order they were sent.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use super::*;
use crate::profile;

const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 30);
const NOW: ActTime = ActTime(1_795_335_324);

fn config(text: &str) -> DvipaConfig {
    let text = format!("VIPADYNAMIC\n{text}\nENDVIPADYNAMIC\n");
    DvipaConfig::from_profile(&profile::parse("p", &text).profile.vipa_dynamic)
}

fn manager(sys: &str, last: u8, text: &str) -> DvipaManager {
    let xcf = XcfLinkInfo {
        address: Ipv4Addr::new(203, 0, 113, last),
        endpoint: SocketAddr::from((Ipv4Addr::LOCALHOST, 9000 + u16::from(last))),
    };
    DvipaManager::new(StackId::new(sys, "TCPCS"), Some(xcf), config(text))
}

/// Managers by member name, the open connections of each, and what each did.
struct Plex {
    stacks: BTreeMap<String, DvipaManager>,
    connections: BTreeMap<String, Vec<ConnKey>>,
    log: Vec<(String, Action)>,
}

impl Plex {
    fn new() -> Self {
        Self {
            stacks: BTreeMap::new(),
            connections: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn join(&mut self, stack: DvipaManager) {
        let member = stack.id().member.clone();
        let peers = self.stacks.keys().cloned().collect();
        self.stacks.insert(member.clone(), stack);
        self.run(member, Event::Joined { peers });
    }

    fn kill(&mut self, member: &str) {
        self.stacks.remove(member);
        let survivors: Vec<String> = self.stacks.keys().cloned().collect();
        for survivor in survivors {
            self.run(
                survivor,
                Event::PeerGone {
                    member: member.to_owned(),
                },
            );
        }
    }

    fn run(&mut self, member: String, event: Event) {
        let mut queue = VecDeque::from([(member, event)]);
        while let Some((member, event)) = queue.pop_front() {
            let Some(stack) = self.stacks.get_mut(&member) else {
                continue;
            };
            let conns = self.connections.get(&member).cloned().unwrap_or_default();
            for action in stack.handle(NOW, event, &conns) {
                match &action {
                    Action::Send { to, signal } => queue.push_back((
                        to.clone(),
                        Event::Signal {
                            from: member.clone(),
                            signal: signal.clone(),
                        },
                    )),
                    Action::Broadcast(signal) => {
                        for to in self.stacks.keys().filter(|m| **m != member) {
                            queue.push_back((
                                to.clone(),
                                Event::Signal {
                                    from: member.clone(),
                                    signal: signal.clone(),
                                },
                            ));
                        }
                    }
                    _ => {}
                }
                self.log.push((member.clone(), action));
            }
        }
    }

    fn status(&self, member: &str) -> Option<DvipaStatus> {
        self.stacks[member]
            .local()
            .iter()
            .find(|l| l.addr == DVIPA)
            .map(|l| l.status)
    }

    fn owners(&self) -> Vec<Option<String>> {
        self.stacks
            .values()
            .map(|s| s.owner_of(DVIPA).map(|id| id.member))
            .collect()
    }

    fn console(&self, member: &str) -> Vec<String> {
        self.log
            .iter()
            .filter(|(m, _)| m == member)
            .filter_map(|(_, a)| match a {
                Action::Console(message) => Some(message.to_string()),
                _ => None,
            })
            .collect()
    }

    fn take_log(&mut self) -> Vec<(String, Action)> {
        std::mem::take(&mut self.log)
    }
}

const OWNER: &str = "VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.255 198.51.100.30";
const OWNER_WHENIDLE: &str = "VIPADEFINE MOVEABLE WHENIDLE 255.255.255.255 198.51.100.30";
const BACKUP_150: &str = "VIPABACKUP 150 198.51.100.30";
const BACKUP_50: &str = "VIPABACKUP 50 198.51.100.30";

fn three(owner: &str) -> Plex {
    let mut plex = Plex::new();
    plex.join(manager("SYS1", 11, owner));
    plex.join(manager("SYS2", 12, BACKUP_150));
    plex.join(manager("SYS3", 13, BACKUP_50));
    plex
}

fn conn(port: u16) -> ConnKey {
    ConnKey {
        local: SocketAddrV4::new(DVIPA, 7),
        foreign: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 50), port),
    }
}

#[test]
fn the_vipadefine_owner_activates_and_everyone_knows_the_chain() {
    let plex = three(OWNER);
    assert_eq!(plex.status("SYS1TCPCS"), Some(DvipaStatus::Active));
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Backup));
    assert_eq!(plex.status("SYS3TCPCS"), Some(DvipaStatus::Backup));
    assert_eq!(plex.owners(), vec![Some("SYS1TCPCS".to_owned()); 3]);
    let view = plex.stacks["SYS3TCPCS"].sysplex();
    let ranks: Vec<(String, DvipaStatus, u8)> = view[0]
        .holders
        .iter()
        .map(|h| (h.id.sysname.clone(), h.status, h.rank))
        .collect();
    assert_eq!(
        ranks,
        vec![
            ("SYS1".into(), DvipaStatus::Active, 255),
            ("SYS2".into(), DvipaStatus::Backup, 150),
            ("SYS3".into(), DvipaStatus::Backup, 50),
        ]
    );
}

#[test]
fn the_highest_ranked_backup_takes_over_from_a_failed_owner() {
    let mut plex = three(OWNER);
    plex.take_log();
    plex.kill("SYS1TCPCS");
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Active));
    assert_eq!(plex.status("SYS3TCPCS"), Some(DvipaStatus::Backup));
    assert_eq!(plex.owners(), vec![Some("SYS2TCPCS".to_owned()); 2]);
    assert_eq!(
        plex.console("SYS2TCPCS"),
        vec!["EZZ8301I VIPA 198.51.100.30 TAKEN OVER FROM TCPCS ON SYS1"]
    );
    assert!(plex.console("SYS3TCPCS").is_empty());
    // The next backup in the chain takes over when the first one fails too.
    plex.kill("SYS2TCPCS");
    assert_eq!(plex.status("SYS3TCPCS"), Some(DvipaStatus::Active));
}

#[test]
fn equal_ranks_are_broken_by_member_name() {
    let mut plex = Plex::new();
    plex.join(manager("SYS1", 11, OWNER));
    plex.join(manager("SYS3", 13, BACKUP_50));
    plex.join(manager("SYS2", 12, BACKUP_50));
    plex.kill("SYS1TCPCS");
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Active));
    assert_eq!(plex.status("SYS3TCPCS"), Some(DvipaStatus::Backup));
}

#[test]
fn immediate_takeback_leaves_the_holder_moving_until_its_connections_close() {
    let mut plex = three(OWNER);
    plex.kill("SYS1TCPCS");
    plex.connections
        .insert("SYS2TCPCS".into(), vec![conn(40000)]);
    plex.take_log();
    plex.join(manager("SYS1", 11, OWNER));
    assert_eq!(plex.status("SYS1TCPCS"), Some(DvipaStatus::Active));
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Moving));
    assert_eq!(plex.owners(), vec![Some("SYS1TCPCS".to_owned()); 3]);
    assert_eq!(
        plex.console("SYS2TCPCS"),
        vec!["EZZ8303I VIPA 198.51.100.30 GIVEN TO TCPCS ON SYS1"]
    );
    assert_eq!(
        plex.console("SYS1TCPCS"),
        vec!["EZZ8302I VIPA 198.51.100.30 TAKEN FROM TCPCS ON SYS2"]
    );
    let log = plex.take_log();
    assert!(log.contains(&(
        "SYS1TCPCS".into(),
        Action::Forward {
            addr: DVIPA,
            xcf: Ipv4Addr::new(203, 0, 113, 12),
            connections: vec![conn(40000)]
        }
    )));
    assert!(log.contains(&("SYS2TCPCS".into(), Action::HoldForMoving { addr: DVIPA })));
    // Still open: nothing changes on a tick.
    plex.run("SYS2TCPCS".into(), Event::Tick);
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Moving));
    // Closed: the holder drops it and the owner stops forwarding.
    plex.connections.clear();
    plex.take_log();
    plex.run("SYS2TCPCS".into(), Event::Tick);
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Backup));
    let log = plex.take_log();
    assert!(log.contains(&("SYS2TCPCS".into(), Action::Release { addr: DVIPA })));
    assert!(log.contains(&(
        "SYS1TCPCS".into(),
        Action::StopForward {
            addr: DVIPA,
            xcf: Ipv4Addr::new(203, 0, 113, 12)
        }
    )));
}

#[test]
fn whenidle_takeback_waits_for_the_holder_to_be_idle() {
    let mut plex = three(OWNER_WHENIDLE);
    plex.kill("SYS1TCPCS");
    plex.connections
        .insert("SYS2TCPCS".into(), vec![conn(40000)]);
    plex.join(manager("SYS1", 11, OWNER_WHENIDLE));
    assert_eq!(plex.status("SYS1TCPCS"), None);
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Active));
    plex.run("SYS2TCPCS".into(), Event::Tick);
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Active));
    plex.connections.clear();
    plex.run("SYS2TCPCS".into(), Event::Tick);
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Backup));
    assert_eq!(plex.status("SYS1TCPCS"), Some(DvipaStatus::Active));
    assert_eq!(plex.owners(), vec![Some("SYS1TCPCS".to_owned()); 3]);
}

#[test]
fn deactivate_moves_the_dvipa_and_reactivate_takes_it_back() {
    let mut plex = three(OWNER);
    plex.take_log();
    plex.run(
        "SYS1TCPCS".into(),
        Event::Command(VaryCommand::Deactivate(DVIPA)),
    );
    assert_eq!(plex.status("SYS1TCPCS"), Some(DvipaStatus::Deactivated));
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Active));
    assert_eq!(
        plex.console("SYS1TCPCS"),
        vec!["EZD1197I THE VARY TCPIP,,SYSPLEX,DEACTIVATE,DVIPA COMMAND COMPLETED SUCCESSFULLY"]
    );
    assert_eq!(
        plex.console("SYS2TCPCS"),
        vec!["EZZ8301I VIPA 198.51.100.30 TAKEN OVER FROM TCPCS ON SYS1"]
    );
    plex.take_log();
    plex.run(
        "SYS1TCPCS".into(),
        Event::Command(VaryCommand::Deactivate(DVIPA)),
    );
    assert_eq!(
        plex.console("SYS1TCPCS"),
        vec![
            "EZD1198I THE VARY TCPIP,,SYSPLEX,DEACTIVATE,DVIPA COMMAND FAILED: \
              DVIPA 198.51.100.30 IS ALREADY DEACTIVATED"
        ]
    );
    plex.run(
        "SYS1TCPCS".into(),
        Event::Command(VaryCommand::Reactivate(DVIPA)),
    );
    assert_eq!(plex.status("SYS1TCPCS"), Some(DvipaStatus::Active));
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Backup));
}

#[test]
fn a_deactivated_backup_is_skipped_in_the_chain() {
    let mut plex = three(OWNER);
    plex.run(
        "SYS2TCPCS".into(),
        Event::Command(VaryCommand::Deactivate(DVIPA)),
    );
    plex.kill("SYS1TCPCS");
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Deactivated));
    assert_eq!(plex.status("SYS3TCPCS"), Some(DvipaStatus::Active));
}

#[test]
fn leavegroup_drops_the_dvipas_and_joingroup_reapplies_the_config() {
    let mut plex = three(OWNER);
    plex.take_log();
    plex.run("SYS1TCPCS".into(), Event::Command(VaryCommand::LeaveGroup));
    let log = plex.take_log();
    assert!(log.contains(&("SYS1TCPCS".into(), Action::Release { addr: DVIPA })));
    assert!(log.contains(&("SYS1TCPCS".into(), Action::LeaveGroup)));
    assert!(!plex.stacks["SYS1TCPCS"].is_joined());
    let left = plex.stacks.remove("SYS1TCPCS").unwrap();
    for member in ["SYS2TCPCS", "SYS3TCPCS"] {
        plex.run(
            member.into(),
            Event::PeerGone {
                member: "SYS1TCPCS".into(),
            },
        );
    }
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Active));
    plex.stacks.insert("SYS1TCPCS".into(), left);
    plex.run("SYS1TCPCS".into(), Event::Command(VaryCommand::JoinGroup));
    assert!(
        plex.take_log()
            .contains(&("SYS1TCPCS".into(), Action::JoinGroup))
    );
    let peers = vec!["SYS2TCPCS".to_owned(), "SYS3TCPCS".to_owned()];
    plex.run("SYS1TCPCS".into(), Event::Joined { peers });
    assert_eq!(plex.status("SYS1TCPCS"), Some(DvipaStatus::Active));
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Backup));
}

#[test]
fn commands_outside_the_group_are_refused() {
    let mut stack = manager("SYS1", 11, OWNER);
    let actions = stack.handle(NOW, Event::Command(VaryCommand::Deactivate(DVIPA)), &[]);
    assert_eq!(
        actions,
        vec![Action::Console(ConsoleMessage::CommandFailed {
            command: "DEACTIVATE,DVIPA",
            reason: "TCPCS IS NOT A MEMBER OF A SYSPLEX GROUP".into()
        })]
    );
}

#[test]
fn a_moveable_backup_activates_at_start_only_when_nobody_else_can() {
    let mut plex = Plex::new();
    plex.join(manager(
        "SYS2",
        12,
        "VIPABACKUP 150 MOVEABLE IMMEDIATE 255.255.255.255 198.51.100.30",
    ));
    plex.join(manager("SYS3", 13, BACKUP_50));
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Active));
    assert_eq!(plex.status("SYS3TCPCS"), Some(DvipaStatus::Backup));
    // A plain backup alone never activates.
    let mut lone = Plex::new();
    lone.join(manager("SYS3", 13, BACKUP_50));
    assert_eq!(lone.status("SYS3TCPCS"), Some(DvipaStatus::Backup));
    assert_eq!(lone.owners(), vec![None]);
}

#[test]
fn a_fenced_stack_releases_its_dvipas_and_a_backup_takes_over() {
    let mut plex = three(OWNER);
    plex.take_log();
    plex.run("SYS1TCPCS".into(), Event::Fenced);
    assert!(
        plex.take_log()
            .contains(&("SYS1TCPCS".into(), Action::Release { addr: DVIPA }))
    );
    assert!(!plex.stacks["SYS1TCPCS"].is_joined());
    assert!(plex.stacks["SYS1TCPCS"].local().is_empty());
    plex.kill("SYS1TCPCS");
    assert_eq!(plex.status("SYS2TCPCS"), Some(DvipaStatus::Active));
}

mod model_check {
    //! Random sequences of failures, restarts, operator commands, connections and ticks on a
    //! three-stack sysplex: no two stacks ever hold the DVIPA Active, and every member of the
    //! group agrees on who holds it.

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Kill(usize),
        Start(usize),
        Deactivate(usize),
        Reactivate(usize),
        Leave(usize),
        Join(usize),
        Open(usize),
        CloseAll(usize),
        Tick(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        (0usize..9, 0usize..3).prop_map(|(kind, i)| match kind {
            0 => Op::Kill(i),
            1 => Op::Start(i),
            2 => Op::Deactivate(i),
            3 => Op::Reactivate(i),
            4 => Op::Leave(i),
            5 => Op::Join(i),
            6 => Op::Open(i),
            7 => Op::CloseAll(i),
            _ => Op::Tick(i),
        })
    }

    const MEMBERS: [&str; 3] = ["SYS1TCPCS", "SYS2TCPCS", "SYS3TCPCS"];

    fn fresh(i: usize, owner: &str) -> DvipaManager {
        match i {
            0 => manager("SYS1", 11, owner),
            1 => manager("SYS2", 12, BACKUP_150),
            _ => manager("SYS3", 13, BACKUP_50),
        }
    }

    fn check(plex: &Plex) -> Result<(), TestCaseError> {
        let active: Vec<&String> = plex
            .stacks
            .iter()
            .filter(|(_, s)| {
                s.local()
                    .iter()
                    .any(|l| l.addr == DVIPA && l.status == DvipaStatus::Active)
            })
            .map(|(m, _)| m)
            .collect();
        prop_assert!(active.len() <= 1, "two owners: {active:?}");
        let views: BTreeSet<Option<String>> = plex
            .stacks
            .values()
            .filter(|s| s.is_joined())
            .map(|s| s.owner_of(DVIPA).map(|id| id.member))
            .collect();
        prop_assert!(views.len() <= 1, "members disagree on the owner: {views:?}");
        Ok(())
    }

    fn run_ops(owner: &str, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut plex = Plex::new();
        let mut left: BTreeMap<String, DvipaManager> = BTreeMap::new();
        for i in 0..3 {
            plex.join(fresh(i, owner));
        }
        let mut port = 40000;
        for op in ops {
            match op {
                Op::Kill(i) => {
                    left.remove(MEMBERS[i]);
                    if plex.stacks.contains_key(MEMBERS[i]) {
                        plex.connections.remove(MEMBERS[i]);
                        plex.kill(MEMBERS[i]);
                    }
                }
                Op::Start(i) => {
                    if !plex.stacks.contains_key(MEMBERS[i]) && !left.contains_key(MEMBERS[i]) {
                        plex.join(fresh(i, owner));
                    }
                }
                Op::Deactivate(i) | Op::Reactivate(i) | Op::Tick(i) => {
                    let event = match op {
                        Op::Deactivate(_) => Event::Command(VaryCommand::Deactivate(DVIPA)),
                        Op::Reactivate(_) => Event::Command(VaryCommand::Reactivate(DVIPA)),
                        _ => Event::Tick,
                    };
                    plex.run(MEMBERS[i].into(), event);
                }
                Op::Leave(i) => {
                    if plex.stacks.contains_key(MEMBERS[i]) {
                        plex.run(MEMBERS[i].into(), Event::Command(VaryCommand::LeaveGroup));
                        plex.connections.remove(MEMBERS[i]);
                        let gone = plex.stacks.remove(MEMBERS[i]);
                        left.extend(gone.map(|g| (MEMBERS[i].to_owned(), g)));
                        let survivors: Vec<String> = plex.stacks.keys().cloned().collect();
                        for survivor in survivors {
                            plex.run(
                                survivor,
                                Event::PeerGone {
                                    member: MEMBERS[i].into(),
                                },
                            );
                        }
                    }
                }
                Op::Join(i) => {
                    if let Some(back) = left.remove(MEMBERS[i]) {
                        let peers = plex.stacks.keys().cloned().collect();
                        plex.stacks.insert(MEMBERS[i].into(), back);
                        plex.run(MEMBERS[i].into(), Event::Joined { peers });
                    }
                }
                Op::Open(i) => {
                    let holds = plex.stacks.get(MEMBERS[i]).is_some_and(|s| {
                        s.local()
                            .iter()
                            .any(|l| l.addr == DVIPA && l.status == DvipaStatus::Active)
                    });
                    if holds {
                        port += 1;
                        plex.connections
                            .entry(MEMBERS[i].into())
                            .or_default()
                            .push(conn(port));
                    }
                }
                Op::CloseAll(i) => {
                    plex.connections.remove(MEMBERS[i]);
                }
            }
            check(&plex)?;
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn one_owner_and_one_view_with_immediate_takeback(ops in proptest::collection::vec(op(), 0..40)) {
            run_ops(OWNER, ops)?;
        }

        #[test]
        fn one_owner_and_one_view_with_whenidle_takeback(ops in proptest::collection::vec(op(), 0..40)) {
            run_ops(OWNER_WHENIDLE, ops)?;
        }
    }
}
