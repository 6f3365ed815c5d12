//! The log writer: the one thread that writes log records to the store, in order, flushes
//! them for `sync` replies (group commit), and serializes and saves snapshots.
//!
//! The facility owner hands each record over with [`Flusher::append`], which encodes it into
//! the batch being gathered, so no store call sits on the request path. The thread takes
//! everything queued in one go, writes it as one [`LogBatch`], and flushes when a reply waits
//! for durability; replies that queue up while a flush runs share the next one.
//!
//! Records of `async` structures wait up to [`ASYNC_GATHER`] (or until [`ASYNC_GATHER_BYTES`]
//! gathered) before they are written, so that a stream of them costs one store write per
//! period instead of one per record: `async` means durable after the store's background sync,
//! which runs far less often. A `sync` reply, a snapshot or a stop wakes the thread at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::store::{LogBatch, Store, StoreError};
use crate::structure::Facility;
use crate::wire::CfMessage;

/// Longest time an `async` record waits for others before the thread writes it.
pub(super) const ASYNC_GATHER: Duration = Duration::from_millis(5);

/// Gathered records above this size are written at once.
pub(super) const ASYNC_GATHER_BYTES: usize = 1024 * 1024;

/// A message to send once the log is durable up to `seq`.
#[derive(Debug)]
struct Held {
    seq: u64,
    to: mpsc::UnboundedSender<CfMessage>,
    message: CfMessage,
}

/// What the thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    /// Writing or flushing.
    Busy,
    /// Waiting with nothing queued: the first record wakes it.
    Idle,
    /// Letting `async` records gather: only a full batch or urgent work wakes it.
    Gathering,
}

#[derive(Debug)]
struct State {
    /// Records not yet written to the store.
    queued: LogBatch,
    /// The last batch written, whose buffer (grown to a period's records) the next one reuses.
    spare: Option<LogBatch>,
    held: Vec<Held>,
    /// A copy of the facility to save as the snapshot at a sequence number.
    snapshot: Option<(u64, Facility)>,
    /// Every record up to this one is flushed.
    durable: u64,
    activity: Activity,
    stopping: bool,
}

impl State {
    /// Work that must not wait for more records to gather.
    fn has_urgent_work(&self) -> bool {
        !self.held.is_empty()
            || self.snapshot.is_some()
            || self.stopping
            || self.queued.len_bytes() >= ASYNC_GATHER_BYTES
    }

    fn has_work_besides_stopping(&self) -> bool {
        !self.queued.is_empty() || self.snapshot.is_some()
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
    /// Length of the last snapshot image saved.
    last_image_len: AtomicU64,
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
                queued: LogBatch::new(durable + 1),
                spare: None,
                held: Vec::new(),
                snapshot: None,
                durable,
                activity: Activity::Busy,
                stopping: false,
            }),
            wake: Condvar::new(),
            failed,
            last_image_len: AtomicU64::new(0),
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

    /// Queues log record `seq`, the one after the previous record, encoding it; returns its
    /// encoded length.
    pub(super) fn append(&self, seq: u64, record: &impl Serialize) -> Result<usize, StoreError> {
        self.append_parts(seq, record, &[])
    }

    /// Queues log record `seq` made of the encoding of `head` followed by the bytes `tail`
    /// (see [`LogBatch::push_parts`]); returns its encoded length.
    pub(super) fn append_parts(
        &self,
        seq: u64,
        head: &impl Serialize,
        tail: &[u8],
    ) -> Result<usize, StoreError> {
        let mut state = self.shared.lock();
        let expected = state.queued.last_seq() + 1;
        if seq != expected {
            return Err(StoreError::Corrupt(format!(
                "log record {seq} appended where {expected} was due"
            )));
        }
        let bytes = state.queued.push_parts(head, tail)?;
        let wake = match state.activity {
            Activity::Busy => false,
            Activity::Idle => true,
            Activity::Gathering => state.has_urgent_work(),
        };
        if wake {
            self.shared.wake(&mut state);
        }
        Ok(bytes)
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
        self.shared.wake(&mut state);
    }

    /// Saves `facility`, as it was after record `seq`, as a snapshot (a snapshot still
    /// waiting is dropped).
    pub(super) fn save_snapshot(&self, seq: u64, facility: Facility) {
        let mut state = self.shared.lock();
        state.snapshot = Some((seq, facility));
        self.shared.wake(&mut state);
    }

    /// Length of the last snapshot image saved (0 before the first).
    pub(super) fn last_image_len(&self) -> u64 {
        self.shared.last_image_len.load(Ordering::Relaxed)
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
        self.shared.wake(&mut state);
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

    /// Wakes the thread if it waits.
    fn wake(&self, state: &mut State) {
        if state.activity != Activity::Busy {
            state.activity = Activity::Busy;
            self.wake.notify_one();
        }
    }

    /// Waits until there is work to do now: urgent work, or records that gathered for
    /// [`ASYNC_GATHER`].
    fn wait_for_work(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        loop {
            if state.has_urgent_work() {
                break;
            }
            if state.queued.is_empty() {
                state.activity = Activity::Idle;
                state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.activity = Activity::Gathering;
            let (woken, waited) = self
                .wake
                .wait_timeout(state, ASYNC_GATHER)
                .unwrap_or_else(|e| e.into_inner());
            state = woken;
            if waited.timed_out() {
                break;
            }
        }
        state.activity = Activity::Busy;
        state
    }
}

fn write_loop(shared: &Shared, store: &dyn Store) {
    // Every record up to this one is in the store (not necessarily flushed).
    let mut written = shared.lock().durable;
    // The buffer of the last snapshot image, kept for the next one: its pages are mapped
    // already, and mapping hundreds of megabytes anew costs more than serializing into them.
    let mut image = Vec::new();
    loop {
        let (records, must_flush, snapshot, stopping) = {
            let mut state = shared.wait_for_work();
            let must_flush = !state.held.is_empty() || state.snapshot.is_some() || state.stopping;
            let first = state.queued.last_seq() + 1;
            let next = match state.spare.take() {
                Some(mut spare) => {
                    spare.clear(first);
                    spare
                }
                None => LogBatch::new(first),
            };
            (
                std::mem::replace(&mut state.queued, next),
                must_flush,
                state.snapshot.take(),
                state.stopping,
            )
        };
        let snapshot_saved = snapshot.is_some();
        match write(store, &records, must_flush, snapshot, &mut image) {
            Ok(()) => {
                if snapshot_saved {
                    let len = u64::try_from(image.len()).unwrap_or(u64::MAX);
                    shared.last_image_len.store(len, Ordering::Relaxed);
                }
            }
            Err(e) => {
                tracing::error!("CF store failed: {e}");
                shared.failed.send_replace(Some(e.to_string()));
                return;
            }
        }
        if !records.is_empty() {
            written = records.last_seq();
        }
        shared.lock().spare = Some(records);
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

/// Writes the records, flushes if asked, and saves the snapshot, serialized into `image`.
fn write(
    store: &dyn Store,
    records: &LogBatch,
    flush: bool,
    snapshot: Option<(u64, Facility)>,
    image: &mut Vec<u8>,
) -> Result<(), StoreError> {
    if !records.is_empty() {
        store.append(records)?;
    }
    if flush {
        store.flush()?;
    }
    if let Some((seq, facility)) = snapshot {
        image.clear();
        *image = postcard::to_extend(&facility, std::mem::take(image))
            .map_err(|e| StoreError::Corrupt(format!("encoding a snapshot: {e}")))?;
        // The copy goes before the image is stored, not after: a lower peak of memory.
        drop(facility);
        store.save_snapshot(seq, image)?;
    }
    Ok(())
}
