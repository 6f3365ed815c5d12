//! Persistence of the CF: a log of mutating requests plus periodic snapshots of the facility.
//!
//! The store deals in opaque bytes and sequence numbers; the server decides what a record and a
//! snapshot image are. [`SledStore`] keeps them on disk (a sled 0.34.7 database with log
//! segment files and the snapshot image beside it; one process at a time), [`MemoryStore`] in
//! memory for tests, where a clone of it survives a simulated restart.
//!
//! Log records are numbered 1, 2, 3, ... in the order the facility applied them and reach the
//! store in [`LogBatch`]es of consecutive records. A snapshot taken at sequence `n` holds the
//! effect of records `1..=n`; loading returns the newest snapshot and the unbroken run of
//! records after it.

mod batch;
mod image_file;
mod memory;
mod segment;
mod segment_log;
mod sled_store;

pub use batch::LogBatch;
pub use memory::MemoryStore;
pub use segment::{ParsedSegment, parse_segment};
pub use sled_store::SledStore;

/// Why the store failed. Any of these stops the server: it cannot promise durability any more.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled reported an error.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value is not what the store wrote.
    #[error("store corrupt: {0}")]
    Corrupt(String),
    /// A log segment or the snapshot image file could not be read or written.
    #[error("store file: {0}")]
    Io(#[from] std::io::Error),
    /// The log writer failed earlier (its error, as text).
    #[error("log writer failed: {0}")]
    Failed(String),
}

/// A snapshot image and the sequence number of the last log record it includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Last record included.
    pub seq: u64,
    /// The serialized facility.
    pub image: Vec<u8>,
}

/// What [`Store::load`] finds: the newest snapshot and the log records after it, in order and
/// without gaps (a record after a gap is ignored: it can only be an unacknowledged one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The newest snapshot, if one was taken.
    pub snapshot: Option<Snapshot>,
    /// `(seq, record)` for every record after the snapshot.
    pub log: Vec<(u64, Vec<u8>)>,
}

impl Recovered {
    /// The sequence number of the last record recovered (0 when the store is empty).
    pub fn last_seq(&self) -> u64 {
        self.log
            .last()
            .map(|(seq, _)| *seq)
            .or_else(|| self.snapshot.as_ref().map(|s| s.seq))
            .unwrap_or(0)
    }
}

/// Where the CF keeps its log and snapshots.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Appends a batch of log records, the one after the previous batch. They are durable only
    /// after a later [`Store::flush`] returns (or the backend's own background flush ran).
    fn append(&self, batch: &LogBatch) -> Result<(), StoreError>;

    /// Replaces the snapshot with one taken at `seq`, and drops log records up to `seq`.
    fn save_snapshot(&self, seq: u64, image: &[u8]) -> Result<(), StoreError>;

    /// The snapshot and log tail, as described on [`Recovered`].
    fn load(&self) -> Result<Recovered, StoreError>;

    /// Makes everything appended so far durable. Blocks; call it off the async runtime.
    fn flush(&self) -> Result<(), StoreError>;

    /// Counts server starts on this store and returns the new count, durably, so that
    /// identifiers made from it never repeat across restarts.
    fn next_incarnation(&self) -> Result<u64, StoreError>;
}

/// Takes the unbroken run of records after `after` from an ordered sequence of records.
fn unbroken_after(
    after: u64,
    records: impl Iterator<Item = (u64, Vec<u8>)>,
) -> Vec<(u64, Vec<u8>)> {
    let mut expect = after + 1;
    let mut log = Vec::new();
    for (seq, record) in records {
        if seq < expect {
            continue;
        }
        if seq != expect {
            break;
        }
        log.push((seq, record));
        expect += 1;
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the same behaviour checks on any store; `reopen` simulates a restart.
    pub(super) fn behaves_like_a_store<S: Store>(store: S, reopen: impl Fn(S) -> S) {
        assert_eq!(store.load().unwrap(), Recovered::default());
        assert_eq!(store.next_incarnation().unwrap(), 1);
        store.append(&batch(1..=2)).unwrap();
        store.append(&batch(3..=5)).unwrap();
        // The snapshot covers the second batch in part: the rest of it stays.
        store.save_snapshot(4, b"image-at-4").unwrap();
        store.append(&batch(6..=6)).unwrap();
        store.flush().unwrap();

        let store = reopen(store);
        let loaded = store.load().unwrap();
        assert_eq!(
            loaded.snapshot,
            Some(Snapshot {
                seq: 4,
                image: b"image-at-4".to_vec()
            })
        );
        let seqs: Vec<u64> = loaded.log.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [5, 6]);
        assert_eq!(loaded.log[1].1, record(6));
        assert_eq!(loaded.last_seq(), 6);
        assert_eq!(store.next_incarnation().unwrap(), 2);
    }

    /// The record with sequence number `seq`, as a batch holds it.
    fn record(seq: u64) -> Vec<u8> {
        postcard::to_allocvec(&format!("r{seq}")).unwrap()
    }

    fn batch(seqs: std::ops::RangeInclusive<u64>) -> LogBatch {
        let mut batch = LogBatch::new(*seqs.start());
        for seq in seqs {
            batch.push(&format!("r{seq}")).unwrap();
        }
        batch
    }

    #[test]
    fn records_after_a_gap_are_ignored() {
        let records = [(1, vec![1]), (2, vec![2]), (4, vec![4])].into_iter();
        assert_eq!(unbroken_after(0, records), [(1, vec![1]), (2, vec![2])]);
    }

    #[test]
    fn records_covered_by_the_snapshot_are_skipped() {
        let records = [(2, vec![2]), (3, vec![3]), (4, vec![4])].into_iter();
        assert_eq!(unbroken_after(2, records), [(3, vec![3]), (4, vec![4])]);
    }

    #[test]
    fn an_empty_store_recovers_nothing() {
        assert_eq!(Recovered::default().last_seq(), 0);
    }
}
