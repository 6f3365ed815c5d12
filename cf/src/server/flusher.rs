//! The log writer: the one thread that writes log records to the store, in order, flushes
//! them for `sync` replies (group commit), and saves snapshots.
//!
//! The facility owner hands each record over with [`Flusher::append`], which only queues it,
//! so no store call sits on the request path. The thread takes everything queued in one go,
//! writes it as one batch, and flushes when a reply waits for durability; replies that queue
//! up while a flush runs share the next one.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use tokio::sync::{mpsc, watch};

use crate::store::{Store, StoreError};
use crate::wire::CfMessage;

/// A message to send once the log is durable up to `seq`.
#[derive(Debug)]
struct Held {
    seq: u64,
    to: mpsc::UnboundedSender<CfMessage>,
    message: CfMessage,
}

#[derive(Debug, Default)]
struct State {
    /// Records not yet written to the store, in sequence order.
    queued: Vec<(u64, Vec<u8>)>,
    held: Vec<Held>,
    snapshot: Option<(u64, Vec<u8>)>,
    /// Every record up to this one is flushed.
    durable: u64,
    /// The thread waits for work.
    idle: bool,
    stopping: bool,
}

impl State {
    fn has_work(&self) -> bool {
        !self.queued.is_empty() || !self.held.is_empty() || self.snapshot.is_some() || self.stopping
    }
}

/// Handle on the log writer thread.
#[derive(Debug)]
pub(super) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Set when the store fails; the server then stops.
    failed: watch::Sender<Option<String>>,
}

impl Flusher {
    /// Starts the thread; `durable` is the last sequence number already in the store.
    pub(super) fn start(
        store: Arc<dyn Store>,
        durable: u64,
    ) -> std::io::Result<(Self, watch::Receiver<Option<String>>)> {
        let (failed, failures) = watch::channel(None);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                durable,
                ..State::default()
            }),
            wake: Condvar::new(),
            failed,
        });
        let thread_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("cfsrv-log".into())
            .spawn(move || write_loop(&thread_shared, store.as_ref()))?;
        Ok((
            Self {
                shared,
                thread: Some(thread),
            },
            failures,
        ))
    }

    /// Queues log record `seq` (called in sequence order).
    pub(super) fn append(&self, seq: u64, record: Vec<u8>) {
        let mut state = self.shared.lock();
        state.queued.push((seq, record));
        self.shared.wake_if_idle(&mut state);
    }

    /// Sends `message` on `to` once records up to `seq` are durable.
    pub(super) fn send_when_durable(
        &self,
        seq: u64,
        to: mpsc::UnboundedSender<CfMessage>,
        message: CfMessage,
    ) {
        let mut state = self.shared.lock();
        if state.durable >= seq {
            drop(state);
            let _ = to.send(message);
            return;
        }
        state.held.push(Held { seq, to, message });
        self.shared.wake_if_idle(&mut state);
    }

    /// Saves a snapshot image taken at `seq`, after the records before it.
    pub(super) fn save_snapshot(&self, seq: u64, image: Vec<u8>) {
        let mut state = self.shared.lock();
        state.snapshot = Some((seq, image));
        self.shared.wake_if_idle(&mut state);
    }

    /// Writes and flushes everything queued, saves a pending snapshot, and stops the thread.
    pub(super) fn stop(mut self) {
        self.request_stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn request_stop(&self) {
        let mut state = self.shared.lock();
        state.stopping = true;
        self.shared.wake_if_idle(&mut state);
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.request_stop();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake_if_idle(&self, state: &mut State) {
        if state.idle {
            state.idle = false;
            self.wake.notify_one();
        }
    }
}

fn write_loop(shared: &Shared, store: &dyn Store) {
    // Every record up to this one is in the store (not necessarily flushed).
    let mut written = shared.lock().durable;
    loop {
        let (records, must_flush, snapshot, stopping) = {
            let mut state = shared.lock();
            while !state.has_work() {
                state.idle = true;
                state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state.idle = false;
            let must_flush = !state.held.is_empty() || state.snapshot.is_some() || state.stopping;
            (
                std::mem::take(&mut state.queued),
                must_flush,
                state.snapshot.take(),
                state.stopping,
            )
        };
        if let Err(e) = write(store, &records, must_flush, snapshot) {
            tracing::error!("CF store failed: {e}");
            shared.failed.send_replace(Some(e.to_string()));
            return;
        }
        if let Some((seq, _)) = records.last() {
            written = *seq;
        }
        if must_flush {
            let ready = {
                let mut state = shared.lock();
                state.durable = written;
                let durable = state.durable;
                let (ready, waiting) = std::mem::take(&mut state.held)
                    .into_iter()
                    .partition::<Vec<_>, _>(|held| held.seq <= durable);
                state.held = waiting;
                ready
            };
            for held in ready {
                let _ = held.to.send(held.message);
            }
        }
        if stopping && !shared.lock().has_work_besides_stopping() {
            return;
        }
    }
}

impl State {
    fn has_work_besides_stopping(&self) -> bool {
        !self.queued.is_empty() || self.snapshot.is_some()
    }
}

fn write(
    store: &dyn Store,
    records: &[(u64, Vec<u8>)],
    flush: bool,
    snapshot: Option<(u64, Vec<u8>)>,
) -> Result<(), StoreError> {
    if !records.is_empty() {
        store.append(records)?;
    }
    if flush {
        store.flush()?;
    }
    if let Some((seq, image)) = snapshot {
        store.save_snapshot(seq, &image)?;
    }
    Ok(())
}
