//! A system whose heartbeat stops is partitioned after INTERVAL, and the CF refuses its
//! requests from then on.

use std::time::Duration;

use cf::structure::{Durability, Event, Reason, ReturnCode};

use crate::common::{TestCf, attrs, connect, connect_request, read_head, wait_for_event};

#[tokio::test]
async fn a_hung_system_is_partitioned_and_fenced() {
    let store = cf::store::MemoryStore::new();
    let cf = TestCf::start(std::sync::Arc::new(store), |config| {
        config.interval = Duration::from_secs(3);
    })
    .await;
    let healthy = cf.client("SYSA").await;
    let hung = cf.client("SYSB").await;
    let _healthy_beat = healthy.keep_alive(Duration::from_millis(100));
    let hung_beat = hung.keep_alive(Duration::from_millis(100));
    let mut events = healthy.events();
    let _watching = connect(
        &healthy,
        connect_request("EZBDVIPA", "STACKA", attrs(Durability::Async)),
    )
    .await;
    let hung_conn = connect(
        &hung,
        connect_request("EZBDVIPA", "STACKB", attrs(Durability::Async)),
    )
    .await;
    let before = hung_conn.call(read_head(0)).await.unwrap();
    assert_eq!(
        before.reason,
        Reason::NoEntry,
        "the hung system works before it hangs"
    );

    // The CF tracks a system from its first status update: make sure it has made one (the
    // keep-alive task may not have run yet), then the system hangs: its link stays up, its
    // heartbeat stops.
    let first = hung.heartbeat().await.unwrap();
    assert_eq!(first.rc, ReturnCode::Ok);
    drop(hung_beat);
    let event = wait_for_event(&mut events, |e| {
        matches!(e.event, Event::FailedConnection { .. })
    })
    .await;
    assert!(
        matches!(event.event, Event::FailedConnection { conid, .. } if conid == hung_conn.conid())
    );

    let refused = hung_conn.call(read_head(0)).await.unwrap();
    assert_eq!(
        (refused.rc, refused.reason),
        (ReturnCode::EnvError, Reason::Fenced)
    );
    let heartbeat = hung.heartbeat().await.unwrap();
    assert_eq!(
        heartbeat.reason,
        Reason::Fenced,
        "a fenced link cannot heartbeat its way back"
    );
    cf.stop().await;
}
