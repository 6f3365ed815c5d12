//! Failure of a connector's link, and lock completions pushed on the link.

use std::time::Instant;

use cf::structure::{ConName, Durability, Event, ListOp, LockOper, LockRequest, Reason, ReplyBody};

use crate::common::{TestCf, attrs, connect, connect_request, ok, wait_for_event};

#[tokio::test]
async fn peers_get_the_failed_connection_event_when_a_link_drops() {
    let (cf, _store) = TestCf::in_memory().await;
    let survivor = cf.client("SYS1").await;
    let mut events = survivor.events();
    let _watching = connect(
        &survivor,
        connect_request("EZBDVIPA", "SURVIVOR", attrs(Durability::Async)),
    )
    .await;
    let victim = cf.client("SYS2").await;
    let victim_conn = connect(
        &victim,
        connect_request("EZBDVIPA", "VICTIM", attrs(Durability::Async)),
    )
    .await;
    let conid = victim_conn.conid();
    wait_for_event(&mut events, |e| {
        matches!(e.event, Event::NewConnection { .. })
    })
    .await;

    let dropped_at = Instant::now();
    drop(victim_conn);
    drop(victim); // the last handle: the link closes
    let event = wait_for_event(&mut events, |e| {
        matches!(e.event, Event::FailedConnection { .. })
    })
    .await;
    eprintln!("failed-connection event after {:?}", dropped_at.elapsed());
    assert_eq!(
        event.event,
        Event::FailedConnection {
            conname: ConName::new("VICTIM").unwrap(),
            conid,
            persistent: false,
        }
    );
    cf.stop().await;
}

fn lock(oper: LockOper, conditional: bool) -> ListOp {
    ListOp::Lock(LockRequest {
        index: 3,
        oper,
        conditional,
    })
}

#[tokio::test]
async fn a_queued_lock_request_completes_when_the_holder_releases() {
    let (cf, _store) = TestCf::in_memory().await;
    let first = cf.client("SYS1").await;
    let second = cf.client("SYS2").await;
    let holder = connect(
        &first,
        connect_request("LOCKSTR", "HOLDER", attrs(Durability::Async)),
    )
    .await;
    let waiter = connect(
        &second,
        connect_request("LOCKSTR", "WAITER", attrs(Durability::Async)),
    )
    .await;
    ok(&holder.call(lock(LockOper::Set, true)).await.unwrap());

    let conditional = waiter.call(lock(LockOper::Set, true)).await.unwrap();
    assert_eq!(conditional.reason, Reason::LockHeld);
    let mut queued = waiter.submit(lock(LockOper::Set, false));
    tokio::task::yield_now().await;
    assert!(queued.test().is_none(), "granted while still held");

    ok(&holder.call(lock(LockOper::Reset, false)).await.unwrap());
    let granted = tokio::time::timeout(crate::common::PATIENCE, queued)
        .await
        .unwrap()
        .unwrap();
    ok(&granted);
    let test = holder
        .call(lock(
            LockOper::Test {
                owner: waiter.conid(),
            },
            false,
        ))
        .await
        .unwrap();
    ok(&test);
    assert!(!matches!(test.body, ReplyBody::Queued(_)));
    cf.stop().await;
}
