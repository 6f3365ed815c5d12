//! The group state logic, pure: given the member records read under the XCF serialization
//! lock, what a join, leave, user state change or system failure changes in the structure and
//! which inboxes get which group events. The async layer carries the plan out while it still
//! holds the lock, so every member sees the group's events in one order.

use std::collections::BTreeSet;
use std::ops::Range;

use super::XcfError;
use super::names::{GroupName, MemberName};
use super::records::{
    GroupEvent, GroupEventKind, InboxItem, MAX_USER_STATE, MemberRecord, MemberState, MemberToken,
};
use crate::structure::{Leid, ListNumber, SysName, Tod};

/// A member record as read from the structure, with the LEID that locates it.
pub(crate) type Stored = (Leid, MemberRecord);

/// A change to the member records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RecordChange {
    /// Write a new record.
    Create(MemberRecord),
    /// Replace the record at this LEID.
    Replace(Leid, MemberRecord),
    /// Delete the record at this LEID.
    Delete(Leid),
}

/// An item to put at the tail of an inbox list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// The inbox list.
    pub inbox: ListNumber,
    /// The item.
    pub item: InboxItem,
}

/// What one group service does to the structure, in order: empty the `purge` inboxes, make
/// the record `changes`, then write the `deliveries`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Inbox lists to empty (a new member's, a gone member's).
    pub purge: Vec<ListNumber>,
    /// Record changes.
    pub changes: Vec<RecordChange>,
    /// Group events for the other members.
    pub deliveries: Vec<Delivery>,
}

/// The parameters of IXCJOIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JoinRequest {
    pub group: GroupName,
    pub member: MemberName,
    pub system: SysName,
    pub jobname: String,
    pub token: MemberToken,
    pub user_state: Vec<u8>,
}

/// IXCJOIN: the new member's record (a Failed member of the same name is replaced), an
/// inbox list free among `inboxes`, and a Joined event for every other active member.
pub(crate) fn plan_join(
    records: &[Stored],
    join: JoinRequest,
    inboxes: Range<u32>,
    now: Tod,
) -> Result<(Plan, ListNumber), XcfError> {
    check_user_state(&join.user_state)?;
    let existing = find(records, &join.group, &join.member);
    if let Some((_, record)) = existing
        && record.state == MemberState::Active
    {
        return Err(XcfError::MemberExists {
            group: join.group,
            member: join.member,
        });
    }
    let used: BTreeSet<u32> = records
        .iter()
        .filter_map(|(_, r)| r.inbox.map(|l| l.0))
        .collect();
    let inbox = inboxes
        .clone()
        .find(|l| !used.contains(l))
        .map(ListNumber)
        .ok_or(XcfError::NoInbox {
            members: inboxes.len(),
        })?;
    let record = MemberRecord {
        group: join.group,
        member: join.member,
        system: join.system,
        jobname: join.jobname,
        token: join.token,
        state: MemberState::Active,
        user_state: join.user_state,
        joined_at: now,
        changed_at: now,
        inbox: Some(inbox),
    };
    let deliveries = tell_others(records, &record, GroupEventKind::Joined, now);
    let change = match existing {
        Some((leid, _)) => RecordChange::Replace(*leid, record),
        None => RecordChange::Create(record),
    };
    let plan = Plan {
        purge: vec![inbox],
        changes: vec![change],
        deliveries,
    };
    Ok((plan, inbox))
}

/// IXCLEAVE: the member's record goes (Not-defined), its inbox is emptied, and every other
/// active member is told it left.
pub(crate) fn plan_leave(
    records: &[Stored],
    group: &GroupName,
    member: &MemberName,
    token: MemberToken,
    now: Tod,
) -> Result<Plan, XcfError> {
    let (leid, record) = find_active(records, group, member, token)?;
    let mut gone = record.clone();
    gone.state = MemberState::NotDefined;
    gone.changed_at = now;
    Ok(Plan {
        purge: record.inbox.into_iter().collect(),
        changes: vec![RecordChange::Delete(*leid)],
        deliveries: tell_others(records, &gone, GroupEventKind::Left, now),
    })
}

/// IXCQUIES: the member stays defined as Quiesced without an inbox (it sends and receives no
/// more), its inbox is emptied, and every other active member is told.
pub(crate) fn plan_quiesce(
    records: &[Stored],
    group: &GroupName,
    member: &MemberName,
    token: MemberToken,
    now: Tod,
) -> Result<Plan, XcfError> {
    let (leid, record) = find_active(records, group, member, token)?;
    let mut quiesced = record.clone();
    quiesced.state = MemberState::Quiesced;
    quiesced.inbox = None;
    quiesced.changed_at = now;
    Ok(Plan {
        purge: record.inbox.into_iter().collect(),
        deliveries: tell_others(records, &quiesced, GroupEventKind::Quiesced, now),
        changes: vec![RecordChange::Replace(*leid, quiesced)],
    })
}

/// IXCSETUS: the member's new user state, and a GEUSTATE event for every other active member.
pub(crate) fn plan_user_state(
    records: &[Stored],
    group: &GroupName,
    member: &MemberName,
    token: MemberToken,
    user_state: Vec<u8>,
    now: Tod,
) -> Result<Plan, XcfError> {
    check_user_state(&user_state)?;
    let (leid, record) = find_active(records, group, member, token)?;
    let mut changed = record.clone();
    changed.user_state = user_state;
    changed.changed_at = now;
    let deliveries = tell_others(records, &changed, GroupEventKind::UserStateChanged, now);
    Ok(Plan {
        purge: Vec::new(),
        changes: vec![RecordChange::Replace(*leid, changed)],
        deliveries,
    })
}

/// A system failed (its CF connection failed, or it was partitioned): each of its active
/// members becomes Failed, its inbox is emptied, and the other active members of its group
/// (on other systems) are told. Nothing to do when its members were already failed.
pub(crate) fn plan_system_failure(records: &[Stored], system: &SysName, now: Tod) -> Plan {
    let survivors: Vec<Stored> = records
        .iter()
        .filter(|(_, r)| &r.system != system)
        .cloned()
        .collect();
    let mut plan = Plan::default();
    let mut victims: Vec<&Stored> = records
        .iter()
        .filter(|(_, r)| &r.system == system && r.state == MemberState::Active)
        .collect();
    victims.sort_by(|a, b| (&a.1.group, &a.1.member).cmp(&(&b.1.group, &b.1.member)));
    for (leid, record) in victims {
        let mut failed = record.clone();
        failed.state = MemberState::Failed;
        failed.changed_at = now;
        failed.inbox = None;
        plan.purge.extend(record.inbox);
        plan.deliveries.extend(tell_others(
            &survivors,
            &failed,
            GroupEventKind::Failed,
            now,
        ));
        plan.changes.push(RecordChange::Replace(*leid, failed));
    }
    plan
}

/// The members of `group`, sorted by name (IXCQUERY).
pub(crate) fn members_of(records: &[Stored], group: &GroupName) -> Vec<MemberRecord> {
    let mut members: Vec<MemberRecord> = records
        .iter()
        .filter(|(_, r)| &r.group == group)
        .map(|(_, r)| r.clone())
        .collect();
    members.sort_by(|a, b| a.member.cmp(&b.member));
    members
}

/// The active member `member` of `group`, for sending to it.
pub(crate) fn active_member<'a>(
    records: &'a [Stored],
    group: &GroupName,
    member: &MemberName,
) -> Result<&'a MemberRecord, XcfError> {
    find(records, group, member)
        .map(|(_, r)| r)
        .filter(|r| r.state == MemberState::Active && r.inbox.is_some())
        .ok_or_else(|| XcfError::NotActive {
            group: group.clone(),
            member: member.clone(),
        })
}

fn find<'a>(records: &'a [Stored], group: &GroupName, member: &MemberName) -> Option<&'a Stored> {
    records
        .iter()
        .find(|(_, r)| &r.group == group && &r.member == member)
}

fn find_active<'a>(
    records: &'a [Stored],
    group: &GroupName,
    member: &MemberName,
    token: MemberToken,
) -> Result<&'a Stored, XcfError> {
    find(records, group, member)
        .filter(|(_, r)| r.token == token && r.state == MemberState::Active)
        .ok_or_else(|| XcfError::NotActive {
            group: group.clone(),
            member: member.clone(),
        })
}

fn check_user_state(user_state: &[u8]) -> Result<(), XcfError> {
    if user_state.len() > MAX_USER_STATE {
        return Err(XcfError::UserStateTooLarge {
            len: user_state.len(),
        });
    }
    Ok(())
}

/// An event about `subject` for every other active member of its group, in member order.
fn tell_others(
    records: &[Stored],
    subject: &MemberRecord,
    kind: GroupEventKind,
    now: Tod,
) -> Vec<Delivery> {
    let event = GroupEvent {
        kind,
        group: subject.group.clone(),
        member: subject.member.clone(),
        system: subject.system.clone(),
        token: subject.token,
        state: subject.state,
        user_state: subject.user_state.clone(),
        at: now,
    };
    let mut others: Vec<&MemberRecord> = records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.group == subject.group && r.member != subject.member)
        .filter(|r| r.state == MemberState::Active)
        .collect();
    others.sort_by(|a, b| a.member.cmp(&b.member));
    others
        .into_iter()
        .filter_map(|r| r.inbox)
        .map(|inbox| Delivery {
            inbox,
            item: InboxItem::Event(event.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INBOXES: Range<u32> = 2..5;

    fn join(member: &str, system: &str, n: u32) -> JoinRequest {
        JoinRequest {
            group: GroupName::new("EZBTCPCS").unwrap(),
            member: MemberName::new(member).unwrap(),
            system: SysName::new(system).unwrap(),
            jobname: "TCPCS".into(),
            token: MemberToken::new(1, n),
            user_state: vec![],
        }
    }

    /// Applies a plan's record changes to `records`, giving created records LEID `next`.
    fn apply(records: &mut Vec<Stored>, plan: &Plan, next: u64) {
        for change in &plan.changes {
            match change {
                RecordChange::Create(r) => records.push((Leid::system(next), r.clone())),
                RecordChange::Replace(leid, r) => {
                    for (l, old) in records.iter_mut() {
                        if l == leid {
                            *old = r.clone();
                        }
                    }
                }
                RecordChange::Delete(leid) => records.retain(|(l, _)| l != leid),
            }
        }
    }

    fn three_members() -> Vec<Stored> {
        let mut records = Vec::new();
        for (n, (member, system)) in [
            ("SYSATCPCS", "SYSA"),
            ("SYSBTCPCS", "SYSB"),
            ("SYSCTCPCS", "SYSC"),
        ]
        .into_iter()
        .enumerate()
        {
            let n = u32::try_from(n).unwrap();
            let (plan, _) = plan_join(&records, join(member, system, n), INBOXES, Tod(1)).unwrap();
            apply(&mut records, &plan, u64::from(n));
        }
        records
    }

    fn event_kinds(plan: &Plan) -> Vec<(u32, GroupEventKind, String)> {
        plan.deliveries
            .iter()
            .map(|d| match &d.item {
                InboxItem::Event(e) => (d.inbox.0, e.kind, e.member.to_string()),
                InboxItem::Message { .. } => panic!("a plan delivers only events"),
            })
            .collect()
    }

    #[test]
    fn join_takes_the_lowest_free_inbox_and_tells_the_others() {
        let records = three_members();
        let inboxes: Vec<_> = records.iter().map(|(_, r)| r.inbox).collect();
        assert_eq!(
            inboxes,
            [
                Some(ListNumber(2)),
                Some(ListNumber(3)),
                Some(ListNumber(4))
            ]
        );
        let mut two = records.clone();
        two.pop();
        let (plan, inbox) = plan_join(&two, join("SYSCTCPCS", "SYSC", 9), INBOXES, Tod(2)).unwrap();
        assert_eq!(inbox, ListNumber(4));
        assert_eq!(plan.purge, [ListNumber(4)]);
        assert_eq!(
            event_kinds(&plan),
            [
                (2, GroupEventKind::Joined, "SYSCTCPCS".into()),
                (3, GroupEventKind::Joined, "SYSCTCPCS".into())
            ]
        );
    }

    #[test]
    fn join_refuses_an_active_duplicate_and_a_full_structure() {
        let records = three_members();
        assert!(matches!(
            plan_join(&records, join("SYSATCPCS", "SYSA", 7), INBOXES, Tod(2)),
            Err(XcfError::MemberExists { .. })
        ));
        assert!(matches!(
            plan_join(&records, join("SYSDTCPCS", "SYSD", 7), INBOXES, Tod(2)),
            Err(XcfError::NoInbox { members: 3 })
        ));
    }

    #[test]
    fn leave_deletes_the_record_and_tells_the_others() {
        let records = three_members();
        let (leid, b) = records[1].clone();
        let plan = plan_leave(&records, &b.group, &b.member, b.token, Tod(3)).unwrap();
        assert_eq!(plan.changes, [RecordChange::Delete(leid)]);
        assert_eq!(plan.purge, [ListNumber(3)]);
        assert_eq!(
            event_kinds(&plan),
            [
                (2, GroupEventKind::Left, "SYSBTCPCS".into()),
                (4, GroupEventKind::Left, "SYSBTCPCS".into())
            ]
        );
    }

    #[test]
    fn leave_with_a_stale_token_is_refused() {
        let records = three_members();
        let b = &records[1].1;
        let stale = MemberToken::new(9, 9);
        assert!(matches!(
            plan_leave(&records, &b.group, &b.member, stale, Tod(3)),
            Err(XcfError::NotActive { .. })
        ));
    }

    #[test]
    fn user_state_change_is_told_to_the_others_with_the_new_state() {
        let records = three_members();
        let a = &records[0].1;
        let plan =
            plan_user_state(&records, &a.group, &a.member, a.token, vec![7], Tod(4)).unwrap();
        let InboxItem::Event(event) = &plan.deliveries[0].item else {
            panic!("expected an event")
        };
        assert_eq!(event.kind, GroupEventKind::UserStateChanged);
        assert_eq!(event.user_state, [7]);
        assert_eq!(plan.deliveries.len(), 2);
        assert!(
            plan_user_state(&records, &a.group, &a.member, a.token, vec![0; 33], Tod(4)).is_err()
        );
    }

    #[test]
    fn system_failure_fails_its_members_once() {
        let mut records = three_members();
        let sysc = SysName::new("SYSC").unwrap();
        let plan = plan_system_failure(&records, &sysc, Tod(5));
        assert_eq!(plan.purge, [ListNumber(4)]);
        assert_eq!(
            event_kinds(&plan),
            [
                (2, GroupEventKind::Failed, "SYSCTCPCS".into()),
                (3, GroupEventKind::Failed, "SYSCTCPCS".into())
            ]
        );
        apply(&mut records, &plan, 0);
        assert_eq!(records[2].1.state, MemberState::Failed);
        assert_eq!(records[2].1.inbox, None);
        assert_eq!(
            plan_system_failure(&records, &sysc, Tod(6)),
            Plan::default()
        );
    }

    #[test]
    fn a_quiesced_member_keeps_its_name_but_loses_its_inbox() {
        let mut records = three_members();
        let (leid, a) = records[0].clone();
        let plan = plan_quiesce(&records, &a.group, &a.member, a.token, Tod(4)).unwrap();
        assert_eq!(plan.purge, [ListNumber(2)]);
        assert_eq!(
            event_kinds(&plan),
            [
                (3, GroupEventKind::Quiesced, "SYSATCPCS".into()),
                (4, GroupEventKind::Quiesced, "SYSATCPCS".into())
            ]
        );
        apply(&mut records, &plan, 0);
        assert_eq!(records[0].0, leid);
        assert_eq!(records[0].1.state, MemberState::Quiesced);
        assert!(active_member(&records, &a.group, &a.member).is_err());
        assert!(plan_user_state(&records, &a.group, &a.member, a.token, vec![], Tod(5)).is_err());
        let (_, inbox) =
            plan_join(&records, join("SYSATCPCS", "SYSA", 9), INBOXES, Tod(6)).unwrap();
        assert_eq!(inbox, ListNumber(2));
    }

    #[test]
    fn a_failed_member_can_join_again_in_place() {
        let mut records = three_members();
        let sysc = SysName::new("SYSC").unwrap();
        let plan = plan_system_failure(&records, &sysc, Tod(5));
        apply(&mut records, &plan, 0);
        let (plan, inbox) =
            plan_join(&records, join("SYSCTCPCS", "SYSC", 8), INBOXES, Tod(6)).unwrap();
        assert_eq!(inbox, ListNumber(4));
        assert!(matches!(plan.changes[..], [RecordChange::Replace(..)]));
    }

    #[test]
    fn members_of_lists_one_group_sorted() {
        let records = three_members();
        let group = GroupName::new("EZBTCPCS").unwrap();
        let names: Vec<String> = members_of(&records, &group)
            .iter()
            .map(|r| r.member.to_string())
            .collect();
        assert_eq!(names, ["SYSATCPCS", "SYSBTCPCS", "SYSCTCPCS"]);
        let other = GroupName::new("ISTXCF").unwrap();
        assert!(members_of(&records, &other).is_empty());
        assert!(active_member(&records, &group, &records[0].1.member).is_ok());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Join(usize, usize),
        Leave(usize),
        Quiesce(usize),
        SetUserState(usize, u8),
        FailSystem(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0..6usize, 0..3usize).prop_map(|(m, s)| Op::Join(m, s)),
            (0..6usize).prop_map(Op::Leave),
            (0..6usize).prop_map(Op::Quiesce),
            (0..6usize, any::<u8>()).prop_map(|(m, u)| Op::SetUserState(m, u)),
            (0..3usize).prop_map(Op::FailSystem),
        ]
    }

    fn names(m: usize) -> (GroupName, MemberName) {
        let group = ["EZBTCPCS", "ISTXCF"][m % 2];
        (
            GroupName::new(group).unwrap(),
            MemberName::new(&format!("MEMBER{m}")).unwrap(),
        )
    }

    fn system(s: usize) -> SysName {
        SysName::new(["SYSA", "SYSB", "SYSC"][s]).unwrap()
    }

    /// The inboxes a plan about `subject` must reach: every other active member of its group,
    /// except those on `failing`.
    fn expected_inboxes(
        records: &[Stored],
        group: &GroupName,
        subject: &MemberName,
        failing: Option<&SysName>,
    ) -> BTreeSet<u32> {
        records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| &r.group == group && &r.member != subject)
            .filter(|r| r.state == MemberState::Active && Some(&r.system) != failing)
            .filter_map(|r| r.inbox.map(|l| l.0))
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn random_group_services_keep_inboxes_unique_and_tell_exactly_the_other_members(
            ops in proptest::collection::vec(op(), 1..60)
        ) {
            let mut records: Vec<Stored> = Vec::new();
            let mut tokens: std::collections::HashMap<usize, MemberToken> = Default::default();
            for (step, op) in ops.into_iter().enumerate() {
                let now = Tod(u64::try_from(step).unwrap());
                let next = u64::try_from(step).unwrap() + 1;
                let (plan, expected) = match op {
                    Op::Join(m, s) => {
                        let (group, member) = names(m);
                        let token = MemberToken::new(1, u32::try_from(step).unwrap());
                        let request = JoinRequest {
                            group: group.clone(),
                            member: member.clone(),
                            system: system(s),
                            jobname: "J".into(),
                            token,
                            user_state: vec![],
                        };
                        let Ok((plan, _)) = plan_join(&records, request, INBOXES, now) else {
                            continue;
                        };
                        tokens.insert(m, token);
                        let expected = vec![expected_inboxes(&records, &group, &member, None)];
                        (plan, expected)
                    }
                    Op::Leave(m) | Op::Quiesce(m) | Op::SetUserState(m, _) => {
                        let user_state = match op {
                            Op::SetUserState(_, u) => vec![u],
                            _ => vec![],
                        };
                        let (group, member) = names(m);
                        let token = tokens.get(&m).copied().unwrap_or(MemberToken::new(0, 0));
                        let planned = match op {
                            Op::Leave(_) => plan_leave(&records, &group, &member, token, now),
                            Op::Quiesce(_) => plan_quiesce(&records, &group, &member, token, now),
                            _ => {
                                plan_user_state(&records, &group, &member, token, user_state, now)
                            }
                        };
                        let Ok(plan) = planned else { continue };
                        let expected = vec![expected_inboxes(&records, &group, &member, None)];
                        (plan, expected)
                    }
                    Op::FailSystem(s) => {
                        let failing = system(s);
                        let plan = plan_system_failure(&records, &failing, now);
                        let mut victims: Vec<&MemberRecord> = records
                            .iter()
                            .map(|(_, r)| r)
                            .filter(|r| r.system == failing && r.state == MemberState::Active)
                            .collect();
                        victims.sort_by(|a, b| (&a.group, &a.member).cmp(&(&b.group, &b.member)));
                        let expected = victims
                            .iter()
                            .map(|v| {
                                expected_inboxes(&records, &v.group, &v.member, Some(&failing))
                            })
                            .collect();
                        (plan, expected)
                    }
                };
                let mut reached: Vec<u32> = plan.deliveries.iter().map(|d| d.inbox.0).collect();
                let mut wanted: Vec<u32> = expected.iter().flatten().copied().collect();
                reached.sort_unstable();
                wanted.sort_unstable();
                proptest::prop_assert_eq!(reached, wanted);
                apply(&mut records, &plan, next);
                let active: Vec<u32> = records
                    .iter()
                    .filter_map(|(_, r)| r.inbox.map(|l| l.0))
                    .collect();
                let unique: BTreeSet<u32> = active.iter().copied().collect();
                proptest::prop_assert_eq!(unique.len(), active.len());
                for (_, r) in &records {
                    proptest::prop_assert_eq!(r.inbox.is_some(), r.state == MemberState::Active);
                    proptest::prop_assert!(r.inbox.is_none_or(|l| INBOXES.contains(&l.0)));
                }
            }
        }
    }
}
