//! Synchronous completion: a lone waited-for request, or a burst that is all the work in
//! flight, spins for its answer; a waited-for request among others in flight, or one not
//! answered within the sync threshold, is converted to asynchronous.

use std::sync::Arc;
use std::time::Duration;

use cf::client::{Client, CompletionCounts, Connection, LinkOptions, SpinGroup};
use cf::store::{LogBatch, MemoryStore, Recovered, Store, StoreError};
use cf::structure::{Durability, ListOp, LockOper, LockRequest, ReplyBody, Request};

use crate::common::*;

fn options(group: &SpinGroup, sync_threshold: Duration) -> LinkOptions {
    LinkOptions {
        sync_threshold,
        spin_group: group.clone(),
    }
}

fn lock(oper: LockOper, conditional: bool) -> ListOp {
    ListOp::Lock(LockRequest {
        index: 3,
        oper,
        conditional,
    })
}

/// The link's counts once all `calls` requests are counted (a spin is counted by the writer
/// just after the answer is handed out, perhaps on another thread).
async fn counts_of(client: &Client, calls: u64) -> CompletionCounts {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let counts = client.completion_counts();
            if counts.sync + counts.converted >= calls {
                return counts;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{calls} requests never counted: {:?}",
            client.completion_counts()
        )
    })
}

/// Checks the link's counts, once they are all in.
async fn expect_counts(client: &Client, sync: u64, converted: u64) {
    let counts = counts_of(client, sync + converted).await;
    assert_eq!(counts, CompletionCounts { sync, converted });
}

/// Sends `count` reads of list 0 at once and checks their replies.
async fn read_burst(connection: &Connection, count: usize) {
    let mut burst = connection.submit_all((0..count).map(|_| read_head(0)));
    while let Some(reply) = burst.next().await {
        ok(&reply.unwrap());
    }
}

// Two threads: the CF runs beside the one a spinning link holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_request_spins_and_one_among_others_is_converted() {
    let (cf, _store) = TestCf::in_memory().await;
    let group = SpinGroup::isolated();
    // A threshold no loopback answer misses.
    let spinning = cf.client_with("SYS1", options(&group, PATIENCE)).await;
    let holder = cf.client_with("SYS2", options(&group, PATIENCE)).await;
    let mine = connect(
        &spinning,
        connect_request("SPIN", "MINE", attrs(Durability::Async)),
    )
    .await;
    let theirs = connect(
        &holder,
        connect_request("SPIN", "THEIRS", attrs(Durability::Async)),
    )
    .await;

    for i in 0..10u8 {
        ok(&mine.call(write_op(0, &[i; 64])).await.unwrap());
        ok(&mine.call(read_head(0)).await.unwrap());
    }
    // IXLCONN and the 20 list requests, each the only one in flight.
    expect_counts(&spinning, 21, 0).await;

    // So does a burst that is all the work in flight.
    read_burst(&mine, 8).await;
    expect_counts(&spinning, 29, 0).await;

    // While another link of the group waits for a lock the CF queued, nothing spins: waited-for
    // requests are converted, bursts go as they are.
    ok(&mine.call(lock(LockOper::Set, true)).await.unwrap());
    let mut queued = holder.submit(Request::List {
        token: theirs.token(),
        op: lock(LockOper::Set, false),
    });
    for _ in 0..5 {
        ok(&mine.call(read_head(0)).await.unwrap());
    }
    read_burst(&mine, 4).await;
    expect_counts(&spinning, 30, 5).await;

    // Once that lock is granted and its answer taken, a lone request spins again (the reset
    // that grants it is not alone).
    ok(&mine.call(lock(LockOper::Reset, true)).await.unwrap());
    let granted = tokio::time::timeout(PATIENCE, &mut queued)
        .await
        .unwrap()
        .unwrap();
    assert!(
        granted.is_success() && !matches!(granted.body, ReplyBody::Queued(_)),
        "{granted:?}"
    );
    ok(&mine.call(read_head(0)).await.unwrap());
    expect_counts(&spinning, 31, 6).await;
    cf.stop().await;
}

/// A store whose every flush takes 20 ms: `sync` replies come long after a short threshold.
#[derive(Debug, Clone)]
struct SlowFlush(MemoryStore);

impl Store for SlowFlush {
    fn append(&self, batch: &LogBatch) -> Result<(), StoreError> {
        self.0.append(batch)
    }

    fn save_snapshot(&self, seq: u64, image: &[u8]) -> Result<(), StoreError> {
        self.0.save_snapshot(seq, image)
    }

    fn load(&self) -> Result<Recovered, StoreError> {
        self.0.load()
    }

    fn flush(&self) -> Result<(), StoreError> {
        std::thread::sleep(Duration::from_millis(20));
        self.0.flush()
    }

    fn next_incarnation(&self) -> Result<u64, StoreError> {
        self.0.next_incarnation()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slower_than_the_threshold_are_converted() {
    let cf = TestCf::start(Arc::new(SlowFlush(MemoryStore::new())), |_| {}).await;
    let client = cf
        .client_with(
            "SYS1",
            options(&SpinGroup::isolated(), Duration::from_millis(1)),
        )
        .await;
    let connection = connect(
        &client,
        connect_request("SLOW", "ONE", attrs(Durability::Sync)),
    )
    .await;
    let before = counts_of(&client, 1).await;
    for i in 0..8u8 {
        ok(&connection.call(write_op(0, &[i; 64])).await.unwrap());
    }
    // Each write is answered after a flush: spun for 1 ms and converted, or converted at once
    // while the link skips spinning after conversions.
    expect_counts(&client, before.sync, before.converted + 8).await;
    assert_eq!(read_all(&connection, 0).await.len(), 8);

    // A zero threshold never spins.
    let never = cf
        .client_with("SYS2", options(&SpinGroup::isolated(), Duration::ZERO))
        .await;
    never.heartbeat().await.unwrap();
    expect_counts(&never, 0, 1).await;
    cf.stop().await;
}
