//! Helpers: an in-process CF on a loopback port, connectors, structure requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cf::auth::Secret;
use cf::client::{Client, Connection, ConnectorEvent, Events, LinkOptions};
use cf::server::{self, Config};
use cf::store::{MemoryStore, Store};
use cf::structure::{
    ConDisp, ConnectRequest, DeleteEntry, Durability, End, EntryType, KeySource, ListNumber,
    ListOp, Locator, MultiEntry, ReadEntry, RefOption, Reply, StrDisp, StrName, StructureAttrs,
    WriteEntry,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Generous bound for things that should happen at once (never a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn secret() -> Secret {
    Secret::new(*b"test-sysplex-secret-0001").unwrap()
}

/// A CF served in this process.
pub struct TestCf {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), cf::Error>>>,
}

impl TestCf {
    pub async fn start(store: Arc<dyn Store>, tune: impl FnOnce(&mut Config)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config::new(secret());
        config.interval = Duration::from_secs(600);
        tune(&mut config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, store, config, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn in_memory() -> (Self, MemoryStore) {
        let store = MemoryStore::new();
        (Self::start(Arc::new(store.clone()), |_| {}).await, store)
    }

    pub async fn client(&self, sysname: &str) -> Client {
        self.client_with(sysname, LinkOptions::default()).await
    }

    pub async fn client_with(&self, sysname: &str, options: LinkOptions) -> Client {
        Client::connect_with(self.addr, &secret(), sysname, "TESTJOB", options)
            .await
            .unwrap()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

pub fn name(s: &str) -> StrName {
    StrName::new(s).unwrap()
}

pub fn attrs(durability: Durability) -> StructureAttrs {
    StructureAttrs {
        list_headers: 8,
        lock_entries: 16,
        adjunct: false,
        ref_option: RefOption::None,
        entry_count: 10_000,
        element_count: 100_000,
        full_threshold: 0,
        durability,
        ..StructureAttrs::default()
    }
}

pub fn connect_request(structure: &str, conname: &str, attrs: StructureAttrs) -> ConnectRequest {
    ConnectRequest {
        structure: name(structure),
        conname: Some(cf::structure::ConName::new(conname).unwrap()),
        attrs,
        condisp: ConDisp::Delete,
        strdisp: StrDisp::Keep,
        vector_len: 0,
        jobname: String::new(),
        asid: 0x2A,
    }
}

pub async fn connect(client: &Client, request: ConnectRequest) -> Connection {
    client
        .connect_structure(request)
        .await
        .unwrap()
        .unwrap_or_else(|reply| panic!("IXLCONN refused: {reply:?}"))
}

pub fn write_op(list: u32, data: &[u8]) -> ListOp {
    ListOp::Write(WriteEntry {
        entry_type: EntryType::New,
        list: ListNumber(list),
        locator: None,
        name: None,
        leid: None,
        key: KeySource::Keep,
        end: End::Tail,
        data: data.to_vec(),
        adjunct: None,
        conditions: Default::default(),
    })
}

pub fn read_head(list: u32) -> ListOp {
    ListOp::Read(ReadEntry {
        locator: Locator::Position {
            list: ListNumber(list),
            end: End::Head,
        },
        cursor: None,
        conditions: Default::default(),
    })
}

pub fn delete_head(list: u32) -> ListOp {
    ListOp::Delete(DeleteEntry {
        locator: Locator::Position {
            list: ListNumber(list),
            end: End::Head,
        },
        read: false,
        conditions: Default::default(),
    })
}

/// Every entry's data on a list, in list order (IXLLSTM READ_LIST, resumed until done).
pub async fn read_all(connection: &Connection, list: u32) -> Vec<Vec<u8>> {
    let mut data = Vec::new();
    let mut restart = None;
    loop {
        let reply = connection
            .read_list(MultiEntry {
                list: ListNumber(list),
                keys: None,
                version: None,
                lock: None,
                limit: 500,
                restart,
            })
            .await
            .unwrap();
        assert!(reply.is_success(), "{reply:?}");
        let cf::structure::ReplyBody::Entries(batch) = reply.body else {
            panic!("READ_LIST answered {reply:?}")
        };
        data.extend(
            batch
                .entries
                .into_iter()
                .map(|e| e.data.unwrap_or_default().into()),
        );
        match batch.restart {
            Some(token) => restart = Some(token),
            None => return data,
        }
    }
}

pub fn ok(reply: &Reply) {
    assert!(reply.is_success(), "request failed: {reply:?}");
}

/// Waits for the first event that `want` accepts, skipping others; panics after PATIENCE.
pub async fn wait_for_event(
    events: &mut Events,
    mut want: impl FnMut(&ConnectorEvent) -> bool,
) -> ConnectorEvent {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let event = events.recv().await.expect("event stream ended");
            if want(&event) {
                return event;
            }
        }
    })
    .await
    .expect("no such event within the patience bound")
}
