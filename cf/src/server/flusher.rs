//! Group commit: the store thread that flushes the log and releases the replies of `sync`
//! requests once their records are on disk, and saves snapshots in order.
//!
//! Replies waiting for a flush queue up while the previous flush runs; the next flush covers
//! all of them, so pipelined sync requests share flushes.

use std::sync::atomic::{AtomicU64, Ordering};
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
    held: Vec<Held>,
    snapshot: Option<(u64, Vec<u8>)>,
    flushed: u64,
    stopping: bool,
}

/// Handle on the store thread.
#[derive(Debug)]
pub(super) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// The highest sequence number appended to the store (set by the facility owner).
    appended: AtomicU64,
    /// Set when the store fails; the server then stops.
    failed: watch::Sender<Option<String>>,
}

impl Flusher {
    /// Starts the thread; `appended` is the last sequence already in the store.
    pub(super) fn start(
        store: Arc<dyn Store>,
        appended: u64,
    ) -> std::io::Result<(Self, watch::Receiver<Option<String>>)> {
        let (failed, failures) = watch::channel(None);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                flushed: appended,
                ..State::default()
            }),
            wake: Condvar::new(),
            appended: AtomicU64::new(appended),
            failed,
        });
        let thread_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("cfsrv-flusher".into())
            .spawn(move || flush_loop(&thread_shared, store.as_ref()))?;
        Ok((
            Self {
                shared,
                thread: Some(thread),
            },
            failures,
        ))
    }

    /// Records that the store now holds every record up to `seq` (called in sequence order).
    pub(super) fn appended(&self, seq: u64) {
        self.shared.appended.store(seq, Ordering::Release);
    }

    /// Sends `message` on `to` once records up to `seq` are durable.
    pub(super) fn send_when_durable(
        &self,
        seq: u64,
        to: mpsc::UnboundedSender<CfMessage>,
        message: CfMessage,
    ) {
        let mut state = self.shared.lock();
        if state.flushed >= seq {
            drop(state);
            let _ = to.send(message);
            return;
        }
        state.held.push(Held { seq, to, message });
        self.shared.wake.notify_one();
    }

    /// Saves a snapshot image taken at `seq` (after any earlier one).
    pub(super) fn save_snapshot(&self, seq: u64, image: Vec<u8>) {
        let mut state = self.shared.lock();
        state.snapshot = Some((seq, image));
        self.shared.wake.notify_one();
    }

    /// Flushes what is pending, saves a pending snapshot and stops the thread.
    pub(super) fn stop(mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn flush_loop(shared: &Shared, store: &dyn Store) {
    loop {
        let (snapshot, stopping) = {
            let mut state = shared.lock();
            while state.held.is_empty() && state.snapshot.is_none() && !state.stopping {
                state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            (state.snapshot.take(), state.stopping)
        };
        let target = shared.appended.load(Ordering::Acquire);
        if let Err(e) = flush_and_snapshot(store, snapshot) {
            tracing::error!("CF store failed: {e}");
            shared.failed.send_replace(Some(e.to_string()));
            return;
        }
        let ready = {
            let mut state = shared.lock();
            state.flushed = target;
            let (ready, waiting) = std::mem::take(&mut state.held)
                .into_iter()
                .partition::<Vec<_>, _>(|held| held.seq <= target);
            state.held = waiting;
            ready
        };
        for held in ready {
            let _ = held.to.send(held.message);
        }
        if stopping {
            return;
        }
    }
}

fn flush_and_snapshot(
    store: &dyn Store,
    snapshot: Option<(u64, Vec<u8>)>,
) -> Result<(), StoreError> {
    store.flush()?;
    if let Some((seq, image)) = snapshot {
        store.save_snapshot(seq, &image)?;
    }
    Ok(())
}
