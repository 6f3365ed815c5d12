//! A CF restarted on its store comes back with its structures, through snapshots and log
//! replay, and fails the connections of the links it had before.

use std::sync::Arc;

use cf::structure::{ConDisp, Durability, Event};

use crate::common::{
    TestCf, attrs, connect, connect_request, delete_head, name, ok, read_all, wait_for_event,
    write_op,
};

#[tokio::test]
async fn a_restarted_cf_recovers_its_structures_from_snapshot_and_log() {
    let store = cf::store::MemoryStore::new();
    let cf = TestCf::start(Arc::new(store.clone()), |config| config.snapshot_every = 7).await;
    let client = cf.client("SYS1").await;
    let mut request = connect_request("RESTART1", "KEEPER", attrs(Durability::Async));
    request.condisp = ConDisp::Keep;
    let keeper = connect(&client, request).await;
    for i in 0..25u8 {
        ok(&keeper
            .call(write_op(u32::from(i % 3), &[i; 100]))
            .await
            .unwrap());
    }
    ok(&keeper.call(delete_head(1)).await.unwrap());
    let before = client.dump(name("RESTART1")).await.unwrap();
    drop(keeper);
    drop(client);
    cf.stop().await;

    let cf = TestCf::start(Arc::new(store), |config| config.snapshot_every = 7).await;
    let client = cf.client("SYS1").await;
    let mut events = client.events();
    let peer = connect(
        &client,
        connect_request("RESTART1", "PEER", attrs(Durability::Async)),
    )
    .await;
    // The keeper's link did not survive the restart: it is failed-persistent now.
    wait_for_event(&mut events, |e| {
        matches!(&e.event, Event::ExistingConnection { conname, .. } if conname.as_str() == "KEEPER")
    })
    .await;
    assert_eq!(read_all(&peer, 1).await.len(), 7);
    assert_eq!(read_all(&peer, 0).await[0], [0u8; 100]);
    ok(&peer.disconnect().await.unwrap());
    let after = client.dump(name("RESTART1")).await.unwrap();
    let entries = |dump: &str| dump.split("lists:").nth(1).map(str::to_owned);
    assert_eq!(entries(&after), entries(&before), "{after}");
    assert!(
        after.contains("FAILED-PERSISTENT") || after.contains("FAILED_PERSISTENT"),
        "{after}"
    );
    cf.stop().await;
}
