//! XCF group services against a real CF server in this process: joins, messages, user
//! states, leaves, and both failure paths (a dropped CF link, a hung system partitioned).

#[allow(dead_code)]
#[path = "../server/common.rs"]
mod common;

use std::time::Duration;

use cf::client::Client;
use cf::store::MemoryStore;
use cf::structure::Tod;
use cf::xcf::{
    GroupEvent, GroupEventKind, GroupName, MAX_MESSAGE, Member, MemberEvent, MemberName,
    MemberState, Xcf, XcfError, codes, display_group, display_group_members, display_groups,
};

use common::{PATIENCE, TestCf};

/// A fixed time for displays.
const DISPLAY_TIME: Tod = Tod(1_795_335_324_000_000);

fn ezbtcpcs() -> GroupName {
    GroupName::new("EZBTCPCS").unwrap()
}

fn member_name(system: &str) -> MemberName {
    MemberName::new(&format!("{system}TCPCS")).unwrap()
}

/// A system of the test sysplex: its CF link, XCF, and its stack's member of EZBTCPCS.
struct System {
    client: Client,
    xcf: Xcf,
    member: Member,
}

async fn start_system(cf: &TestCf, sysname: &str) -> System {
    let client = Client::connect(cf.addr, &common::secret(), sysname, "TCPCS")
        .await
        .unwrap();
    let xcf = Xcf::connect(&client).await.unwrap();
    let member = xcf
        .join(&ezbtcpcs(), &member_name(sysname), b"")
        .await
        .unwrap();
    System {
        client,
        xcf,
        member,
    }
}

/// SYSA, SYSB and SYSC, joined in that order.
async fn three_systems(cf: &TestCf) -> [System; 3] {
    let a = start_system(cf, "SYSA").await;
    let b = start_system(cf, "SYSB").await;
    let c = start_system(cf, "SYSC").await;
    [a, b, c]
}

async fn next(member: &mut Member) -> MemberEvent {
    tokio::time::timeout(PATIENCE, member.recv())
        .await
        .expect("no event within the patience bound")
        .expect("member stream ended")
}

async fn next_group_event(member: &mut Member) -> GroupEvent {
    match next(member).await {
        MemberEvent::Group(event) => event,
        other => panic!("expected a group event, got {other:?}"),
    }
}

fn summary(event: &GroupEvent) -> (GroupEventKind, String, MemberState) {
    (event.kind, event.member.to_string(), event.state)
}

#[tokio::test]
async fn three_systems_join_ezbtcpcs_and_everyone_sees_the_joins_in_order() {
    let (cf, _) = TestCf::in_memory().await;
    let [mut a, mut b, c] = three_systems(&cf).await;
    let seen_by_a = [
        next_group_event(&mut a.member).await,
        next_group_event(&mut a.member).await,
    ];
    assert_eq!(
        seen_by_a.each_ref().map(summary),
        [
            (
                GroupEventKind::Joined,
                "SYSBTCPCS".into(),
                MemberState::Active
            ),
            (
                GroupEventKind::Joined,
                "SYSCTCPCS".into(),
                MemberState::Active
            ),
        ]
    );
    assert_eq!(seen_by_a[0].code(), codes::GEMSTATE);
    assert_eq!(seen_by_a[1].system.as_str(), "SYSC");
    let seen_by_b = next_group_event(&mut b.member).await;
    assert_eq!(seen_by_b.member.as_str(), "SYSCTCPCS");

    // Three more members join at the same time from the three systems: every member that
    // was there sees the joins in one and the same order.
    let group = ezbtcpcs();
    let names = ["SYSATCPCS2", "SYSBTCPCS2", "SYSCTCPCS2"].map(|n| MemberName::new(n).unwrap());
    let (x, y, z) = tokio::join!(
        a.xcf.join(&group, &names[0], b""),
        b.xcf.join(&group, &names[1], b""),
        c.xcf.join(&group, &names[2], b""),
    );
    let _late = [x.unwrap(), y.unwrap(), z.unwrap()];
    let mut orders = Vec::new();
    for member in [&mut a.member, &mut b.member] {
        let mut order = Vec::new();
        while order.len() < 3 {
            let event = next_group_event(member).await;
            if event.member.as_str().ends_with('2') {
                order.push(event.member.to_string());
            }
        }
        orders.push(order);
    }
    let mut c_member = c.member;
    let mut order = Vec::new();
    while order.len() < 3 {
        order.push(next_group_event(&mut c_member).await.member.to_string());
    }
    orders.push(order);
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[0], orders[2]);

    let members = a.xcf.query(&group).await.unwrap();
    assert_eq!(members.len(), 6);
    assert!(members.iter().all(|m| m.state == MemberState::Active));
    let systems = a.xcf.systems().await.unwrap();
    let names: Vec<&str> = systems.iter().map(|s| s.system.as_str()).collect();
    assert_eq!(names, ["SYSA", "SYSB", "SYSC"]);
    cf.stop().await;
}

#[tokio::test]
async fn messages_between_two_members_arrive_in_order() {
    let (cf, _) = TestCf::in_memory().await;
    let a = start_system(&cf, "SYSA").await;
    let mut b = start_system(&cf, "SYSB").await;
    for i in 0u32..200 {
        a.member
            .send(&member_name("SYSB"), &i.to_be_bytes())
            .await
            .unwrap();
    }
    let largest = vec![0x5A; MAX_MESSAGE];
    a.member.send(&member_name("SYSB"), &largest).await.unwrap();
    let mut received = Vec::new();
    while received.len() < 201 {
        if let MemberEvent::Message(message) = next(&mut b.member).await {
            assert_eq!(message.from.as_str(), "SYSATCPCS");
            assert_eq!(message.system.as_str(), "SYSA");
            received.push(message.data);
        }
    }
    let expected: Vec<Vec<u8>> = (0u32..200).map(|i| i.to_be_bytes().to_vec()).collect();
    assert_eq!(received[..200], expected[..]);
    assert_eq!(received[200], largest);

    let too_large = vec![0; MAX_MESSAGE + 1];
    let refused = a.member.send(&member_name("SYSB"), &too_large).await;
    assert!(matches!(
        refused,
        Err(cf::Error::Xcf(XcfError::MessageTooLarge { len })) if len == MAX_MESSAGE + 1
    ));
    let nobody = a.member.send(&member_name("SYSZ"), b"hello").await;
    assert!(matches!(
        nobody,
        Err(cf::Error::Xcf(XcfError::NotActive { .. }))
    ));
    drop((a, b));
    cf.stop().await;
}

#[tokio::test]
async fn a_user_state_change_is_seen_by_the_others() {
    let (cf, _) = TestCf::in_memory().await;
    let [a, mut b, mut c] = three_systems(&cf).await;
    next_group_event(&mut b.member).await; // SYSC joined
    a.member.set_user_state(b"OWNER 192.0.2.1").await.unwrap();
    for member in [&mut b.member, &mut c.member] {
        let event = next_group_event(member).await;
        assert_eq!(event.kind, GroupEventKind::UserStateChanged);
        assert_eq!(event.code(), codes::GEUSTATE);
        assert_eq!(event.member.as_str(), "SYSATCPCS");
        assert_eq!(event.user_state, b"OWNER 192.0.2.1");
    }
    let members = c.xcf.query(&ezbtcpcs()).await.unwrap();
    assert_eq!(members[0].user_state, b"OWNER 192.0.2.1");
    let too_long = a.member.set_user_state(&[0; 33]).await;
    assert!(matches!(
        too_long,
        Err(cf::Error::Xcf(XcfError::UserStateTooLarge { len: 33 }))
    ));
    cf.stop().await;
}

#[tokio::test]
async fn a_member_that_leaves_is_not_defined_for_the_others() {
    let (cf, _) = TestCf::in_memory().await;
    let [mut a, b, mut c] = three_systems(&cf).await;
    for _ in 0..2 {
        next_group_event(&mut a.member).await;
    }
    b.member.leave().await.unwrap();
    for member in [&mut a.member, &mut c.member] {
        let event = next_group_event(member).await;
        assert_eq!(
            summary(&event),
            (
                GroupEventKind::Left,
                "SYSBTCPCS".into(),
                MemberState::NotDefined
            )
        );
    }
    let names: Vec<String> = a
        .xcf
        .query(&ezbtcpcs())
        .await
        .unwrap()
        .iter()
        .map(|m| m.member.to_string())
        .collect();
    assert_eq!(names, ["SYSATCPCS", "SYSCTCPCS"]);
    let gone = a.member.send(&member_name("SYSB"), b"hello").await;
    assert!(matches!(
        gone,
        Err(cf::Error::Xcf(XcfError::NotActive { .. }))
    ));
    // The name is free again.
    let again = b.xcf.join(&ezbtcpcs(), &member_name("SYSB"), b"").await;
    assert!(again.is_ok());
    next_group_event(&mut a.member).await; // SYSBTCPCS joined again

    // IXCQUIES: SYSC's member stays defined but can no longer be sent to.
    c.member.quiesce().await.unwrap();
    let event = next_group_event(&mut a.member).await;
    assert_eq!(
        summary(&event),
        (
            GroupEventKind::Quiesced,
            "SYSCTCPCS".into(),
            MemberState::Quiesced
        )
    );
    let quiesced = a.member.send(&member_name("SYSC"), b"hello").await;
    assert!(matches!(
        quiesced,
        Err(cf::Error::Xcf(XcfError::NotActive { .. }))
    ));
    let members = a.xcf.query(&ezbtcpcs()).await.unwrap();
    assert_eq!(members[2].state, MemberState::Quiesced);
    drop(b.client);
    cf.stop().await;
}

#[tokio::test]
async fn a_dropped_cf_link_fails_the_systems_members_at_once() {
    let (cf, _) = TestCf::in_memory().await;
    let [mut a, mut b, c] = three_systems(&cf).await;
    for _ in 0..2 {
        next_group_event(&mut a.member).await;
    }
    next_group_event(&mut b.member).await;
    let duplicate = a.xcf.join(&ezbtcpcs(), &member_name("SYSC"), b"").await;
    assert!(matches!(
        duplicate,
        Err(cf::Error::Xcf(XcfError::MemberExists { .. }))
    ));

    drop(c); // the stack dies: its CF link closes
    for member in [&mut a.member, &mut b.member] {
        let event = next_group_event(member).await;
        assert_eq!(
            summary(&event),
            (
                GroupEventKind::Failed,
                "SYSCTCPCS".into(),
                MemberState::Failed
            )
        );
    }
    let members = a.xcf.query_all().await.unwrap();
    insta::assert_snapshot!(
        "after_sysc_failed",
        format!(
            "{}\n{}\n{}",
            display_groups(&members, DISPLAY_TIME),
            display_group(&ezbtcpcs(), &members, DISPLAY_TIME),
            display_group_members(&ezbtcpcs(), &members, DISPLAY_TIME)
        )
    );

    // SYSC is IPLed again and its stack joins in place of the failed member.
    let c = start_system(&cf, "SYSC").await;
    for member in [&mut a.member, &mut b.member] {
        let event = next_group_event(member).await;
        assert_eq!(
            summary(&event),
            (
                GroupEventKind::Joined,
                "SYSCTCPCS".into(),
                MemberState::Active
            )
        );
    }
    let states: Vec<MemberState> = c
        .xcf
        .query(&ezbtcpcs())
        .await
        .unwrap()
        .iter()
        .map(|m| m.state)
        .collect();
    assert_eq!(states, [MemberState::Active; 3]);
    cf.stop().await;
}

#[tokio::test]
async fn a_hung_system_is_partitioned_its_members_fail_and_its_requests_are_refused() {
    let cf = TestCf::start(std::sync::Arc::new(MemoryStore::new()), |config| {
        config.interval = Duration::from_millis(500);
    })
    .await;
    let [mut a, mut b, c] = three_systems(&cf).await;
    for _ in 0..2 {
        next_group_event(&mut a.member).await;
    }
    next_group_event(&mut b.member).await;

    c.xcf.stop_status_update(); // SYSC hangs: its link stays up, its status updates stop
    for member in [&mut a.member, &mut b.member] {
        let event = next_group_event(member).await;
        assert_eq!(
            summary(&event),
            (
                GroupEventKind::Failed,
                "SYSCTCPCS".into(),
                MemberState::Failed
            )
        );
        assert_eq!(event.system.as_str(), "SYSC");
    }
    // The hung system wakes up and tries to go on: the CF fences it.
    let refused = c.member.send(&member_name("SYSA"), b"still here").await;
    assert!(matches!(refused, Err(cf::Error::Xcf(XcfError::Fenced))));
    let refused = c.member.set_user_state(b"OWNER").await;
    assert!(matches!(refused, Err(cf::Error::Xcf(XcfError::Fenced))));
    let members = a.xcf.query(&ezbtcpcs()).await.unwrap();
    let states: Vec<(String, MemberState)> = members
        .iter()
        .map(|m| (m.member.to_string(), m.state))
        .collect();
    assert_eq!(
        states,
        [
            ("SYSATCPCS".into(), MemberState::Active),
            ("SYSBTCPCS".into(), MemberState::Active),
            ("SYSCTCPCS".into(), MemberState::Failed),
        ]
    );
    assert!(!a.xcf.is_partitioned());
    let systems: Vec<String> = a
        .xcf
        .systems()
        .await
        .unwrap()
        .iter()
        .map(|s| s.system.to_string())
        .collect();
    assert_eq!(systems, ["SYSA", "SYSB"], "the partitioned system is gone");
    drop(c.client);
    cf.stop().await;
}

#[tokio::test]
async fn members_joining_at_once_on_one_system_get_their_own_inboxes() {
    let (cf, _) = TestCf::in_memory().await;
    let client = Client::connect(cf.addr, &common::secret(), "SYSA", "TCPCS")
        .await
        .unwrap();
    let xcf = Xcf::connect(&client).await.unwrap();
    let group = GroupName::new("ISTXCF").unwrap();
    let names = ["SYSAVTAM1", "SYSAVTAM2"].map(|n| MemberName::new(n).unwrap());
    let (one, two) = tokio::join!(
        xcf.join(&group, &names[0], b""),
        xcf.join(&group, &names[1], b"")
    );
    let (mut one, mut two) = (one.unwrap(), two.unwrap());
    one.send(&names[1], b"to two").await.unwrap();
    two.send(&names[0], b"to one").await.unwrap();
    for (member, expected) in [(&mut one, &b"to one"[..]), (&mut two, &b"to two"[..])] {
        loop {
            if let MemberEvent::Message(message) = next(member).await {
                assert_eq!(message.data, expected);
                break;
            }
        }
    }
    cf.stop().await;
}

#[tokio::test]
async fn systems_starting_at_once_do_not_fail_each_others_members() {
    let (cf, _) = TestCf::in_memory().await;
    for round in 0..3 {
        // New system names each round: the CF may not have seen the last round's links close.
        let names = ["A", "B", "C"].map(|s| format!("SYS{s}{round}"));
        let (a, b, c) = tokio::join!(
            start_system(&cf, &names[0]),
            start_system(&cf, &names[1]),
            start_system(&cf, &names[2])
        );
        let states: Vec<MemberState> = a
            .xcf
            .query(&ezbtcpcs())
            .await
            .unwrap()
            .iter()
            .map(|m| m.state)
            .collect();
        assert_eq!(states, [MemberState::Active; 3]);
        for system in [a, b, c] {
            system
                .member
                .leave()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            drop(system.xcf);
            drop(system.client);
        }
    }
    cf.stop().await;
}

/// XCF's tasks start on other threads at once: none may start before XCF is built and stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systems_starting_at_once_on_many_threads_each_get_their_signals() {
    let (cf, _) = TestCf::in_memory().await;
    for round in 0..40 {
        let names = ["A", "B", "C"].map(|s| format!("SYS{s}{round}"));
        let (a, b, c) = tokio::join!(
            start_system(&cf, &names[0]),
            start_system(&cf, &names[1]),
            start_system(&cf, &names[2])
        );
        let mut systems = [a, b, c];
        for from in 0..3 {
            for to in (0..3).filter(|to| *to != from) {
                systems[from]
                    .member
                    .send(&member_name(&names[to]), names[from].as_bytes())
                    .await
                    .unwrap();
            }
        }
        for system in &mut systems {
            let mut senders = Vec::new();
            while senders.len() < 2 {
                if let MemberEvent::Message(message) = next(&mut system.member).await {
                    senders.push(String::from_utf8(message.data).unwrap());
                }
            }
            senders.sort();
            let me = system.xcf.system().to_string();
            let others: Vec<&String> = names.iter().filter(|n| **n != me).collect();
            assert_eq!(senders.iter().collect::<Vec<_>>(), others, "round {round}");
        }
        for system in systems {
            system.member.leave().await.unwrap();
            drop(system.xcf);
            drop(system.client);
        }
    }
    cf.stop().await;
}
