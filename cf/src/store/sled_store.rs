//! The on-disk [`Store`]: a sled 0.34.7 database, with the log and the snapshot image in files
//! of their own beside it.
//!
//! The default tree holds the incarnation counter. The log is a chain of append-only segment
//! files ([`SegmentLog`]), the snapshot image one file ([`ImageFile`]): sled copied every log
//! batch and image several times (into its write buffer, its blob files, split nodes), the
//! largest cost of a write load. The log is durable at [`Store::flush`] and, for `async`
//! records, within `flush_every_ms` of being appended (the log's background sync).
//!
//! Databases of earlier versions kept the snapshot in the default tree (`snapshot-image`, and
//! `snapshot-seq`, the big-endian sequence number of the last record it includes) and the log
//! in tree `log-batches` (each [`LogBatch`] under the big-endian sequence number of its last
//! record). Both still load (such a snapshot when it is newer than the image file, the tree's
//! records before those of the segments), and the next snapshot removes them.

use std::path::Path;
use std::time::{Duration, Instant};

use super::image_file::ImageFile;
use super::segment_log::{SEGMENT_BYTES, SegmentLog};
use super::{LogBatch, Recovered, Snapshot, Store, StoreError, unbroken_after};

/// The snapshot image in the default tree, before the image file.
const SNAPSHOT_IMAGE_KEY: &[u8] = b"snapshot-image";
/// The sequence number of the snapshot in the default tree.
const SNAPSHOT_SEQ_KEY: &[u8] = b"snapshot-seq";
const INCARNATION_KEY: &[u8] = b"incarnation";
/// The log tree, before the segment files.
const LOG_TREE: &[u8] = b"log-batches";
/// The tree of the first format, one record per key.
const OLD_LOG_TREE: &[u8] = b"log";
/// The snapshot key of the first format (sequence number and image in one value).
const OLD_SNAPSHOT_KEY: &[u8] = b"snapshot";

/// How long [`SledStore::open`] waits for a database another handle is still closing.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// A [`Store`] in a sled database directory. Only one process may open it at a time.
#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
    segments: SegmentLog,
    image: ImageFile,
}

impl SledStore {
    /// Opens (or creates) the database in `dir`; appended log records are synced every
    /// `flush_every_ms` milliseconds (and at [`Store::flush`]).
    ///
    /// sled releases its file lock only once its background threads have let go of a closed
    /// database, so a reopen in the same process (a restarted CF) waits up to
    /// `LOCK_WAIT` for the lock before it reports the database as busy.
    pub fn open(dir: &Path, flush_every_ms: u64) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(flush_every_ms));
        let started = Instant::now();
        loop {
            match config.open() {
                Err(sled::Error::Io(e)) if is_lock_busy(&e) && started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                opened => return Self::from_db(opened?, dir, flush_every_ms),
            }
        }
    }

    fn from_db(db: sled::Db, dir: &Path, flush_every_ms: u64) -> Result<Self, StoreError> {
        let old_log = db.tree_names().iter().any(|name| name == OLD_LOG_TREE)
            && !db.open_tree(OLD_LOG_TREE)?.is_empty();
        if old_log || db.contains_key(OLD_SNAPSHOT_KEY)? {
            return Err(StoreError::Corrupt(
                "the database is in the format of an older cfsrv".into(),
            ));
        }
        let segments = SegmentLog::open(dir, SEGMENT_BYTES, Duration::from_millis(flush_every_ms))?;
        Ok(Self {
            db,
            segments,
            image: ImageFile::new(dir),
        })
    }

    /// The log tree of an earlier version, if the database has one.
    fn log_tree(&self) -> Result<Option<sled::Tree>, StoreError> {
        if self.db.tree_names().iter().any(|name| name == LOG_TREE) {
            Ok(Some(self.db.open_tree(LOG_TREE)?))
        } else {
            Ok(None)
        }
    }

    /// The records in the log tree of an earlier version after `after` and before `before`.
    fn tree_records(&self, after: u64, before: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let Some(tree) = self.log_tree()? else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        for item in tree.range((after + 1).to_be_bytes()..) {
            let (key, value) = item?;
            let last = seq_from_key(&key)?;
            let batch = LogBatch::decode(&value)?;
            if batch.last().map(|(seq, _)| *seq) != Some(last) {
                return Err(StoreError::Corrupt(format!(
                    "the log batch under {last} does not end with record {last}"
                )));
            }
            records.extend(batch.into_iter().filter(|(seq, _)| *seq < before));
        }
        Ok(records)
    }

    /// The snapshot an earlier version kept in the default tree, if any.
    fn snapshot_in_tree(&self) -> Result<Option<Snapshot>, StoreError> {
        match (
            self.db.get(SNAPSHOT_SEQ_KEY)?,
            self.db.get(SNAPSHOT_IMAGE_KEY)?,
        ) {
            (None, None) => Ok(None),
            (Some(seq), Some(image)) => Ok(Some(Snapshot {
                seq: seq_from_key(&seq)?,
                image: image.to_vec(),
            })),
            _ => Err(StoreError::Corrupt("snapshot without its sequence".into())),
        }
    }

    /// The newest snapshot: the image file's, or an earlier version's in the default tree.
    fn newest_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        match (self.image.seq()?, self.snapshot_in_tree()?) {
            (Some(file), Some(tree)) if file < tree.seq => Ok(Some(tree)),
            (None, Some(tree)) => Ok(Some(tree)),
            _ => self.image.load(),
        }
    }
}

/// Whether sled could not take the database's file lock (another handle holds it).
fn is_lock_busy(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::WouldBlock
        || error.to_string().contains("could not acquire lock")
}

fn seq_from_key(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

impl Store for SledStore {
    fn append(&self, batch: &LogBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.segments.append(batch)
    }

    fn save_snapshot(&self, seq: u64, image: &[u8]) -> Result<(), StoreError> {
        // The snapshot is on disk before the records it replaces go. Segments that end after
        // `seq` stay whole; loading skips their records up to `seq`. The snapshot covers every
        // record an earlier version logged in its tree: no later record went there.
        self.image.save(seq, image)?;
        let mut older = sled::Batch::default();
        let mut removed = false;
        if self.db.contains_key(SNAPSHOT_SEQ_KEY)? {
            older.remove(SNAPSHOT_SEQ_KEY);
            older.remove(SNAPSHOT_IMAGE_KEY);
            self.db.apply_batch(older)?;
            removed = true;
        }
        if self.log_tree()?.is_some() {
            self.db.drop_tree(LOG_TREE)?;
            removed = true;
        }
        if removed {
            self.db.flush()?;
        }
        self.segments.drop_covered(seq)
    }

    fn load(&self) -> Result<Recovered, StoreError> {
        let snapshot = self.newest_snapshot()?;
        let after = snapshot.as_ref().map_or(0, |s| s.seq);
        let in_segments = self.segments.load()?;
        let segments_start = in_segments.first().map_or(u64::MAX, |(seq, _)| *seq);
        let segments_end = in_segments.last().map(|(seq, _)| *seq);
        let mut records = self.tree_records(after, segments_start)?;
        records.extend(in_segments);
        let log = unbroken_after(after, records.into_iter());
        let recovered = log.last().map_or(after, |(seq, _)| *seq);
        if let Some(end) = segments_end.filter(|end| *end > recovered) {
            return Err(StoreError::Corrupt(format!(
                "log records after {recovered} are missing (the log goes on to {end})"
            )));
        }
        Ok(Recovered { snapshot, log })
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.segments.flush()
    }

    fn next_incarnation(&self) -> Result<u64, StoreError> {
        let previous = match self.db.get(INCARNATION_KEY)? {
            None => 0,
            Some(value) => seq_from_key(&value)?,
        };
        let next = previous + 1;
        self.db.insert(INCARNATION_KEY, &next.to_be_bytes())?;
        self.db.flush()?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sled_store_behaves_like_a_store_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 500).unwrap();
        super::super::tests::behaves_like_a_store(store, |store| {
            drop(store);
            SledStore::open(dir.path(), 500).unwrap()
        });
    }

    #[test]
    fn a_snapshot_kept_in_the_tree_loads_until_a_newer_image_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path(), 500).unwrap();
            store.append(&batch_of(1..=3)).unwrap();
            store.db.insert(SNAPSHOT_IMAGE_KEY, b"tree-image").unwrap();
            store
                .db
                .insert(SNAPSHOT_SEQ_KEY, &2u64.to_be_bytes())
                .unwrap();
            store.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), 500).unwrap();
        let loaded = store.load().unwrap();
        let snapshot = loaded.snapshot.unwrap();
        assert_eq!(
            (snapshot.seq, snapshot.image.as_slice()),
            (2, &b"tree-image"[..])
        );
        assert_eq!(loaded.log.len(), 1);

        store.save_snapshot(3, b"file-image").unwrap();
        assert!(!store.db.contains_key(SNAPSHOT_IMAGE_KEY).unwrap());
        let loaded = store.load().unwrap();
        let snapshot = loaded.snapshot.unwrap();
        assert_eq!(
            (snapshot.seq, snapshot.image.as_slice()),
            (3, &b"file-image"[..])
        );
        assert!(loaded.log.is_empty());
    }

    fn batch_of(seqs: std::ops::RangeInclusive<u64>) -> LogBatch {
        let mut batch = LogBatch::new(*seqs.start());
        for seq in seqs {
            batch.push(&seq).unwrap();
        }
        batch
    }

    #[test]
    fn a_log_tree_of_an_earlier_version_loads_until_the_next_snapshot_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let tree = db.open_tree(LOG_TREE).unwrap();
            for batch in [batch_of(1..=2), batch_of(3..=4)] {
                tree.insert(batch.last_seq().to_be_bytes(), batch.as_bytes())
                    .unwrap();
            }
            db.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), 500).unwrap();
        assert_eq!(seqs(&store.load().unwrap()), [1, 2, 3, 4]);
        store.append(&batch_of(5..=6)).unwrap();
        store.flush().unwrap();
        drop(store);

        let store = SledStore::open(dir.path(), 500).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(seqs(&loaded), [1, 2, 3, 4, 5, 6]);
        assert_eq!(loaded.log[0].1, postcard::to_allocvec(&1u64).unwrap());
        store.save_snapshot(6, b"image-at-6").unwrap();
        assert!(store.log_tree().unwrap().is_none());
        drop(store);

        let store = SledStore::open(dir.path(), 500).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.snapshot.map(|s| s.seq), Some(6));
        assert!(loaded.log.is_empty());
    }

    #[test]
    fn a_missing_segment_is_an_error_not_a_shorter_log() {
        let dir = tempfile::tempdir().unwrap();
        for seqs in [1..=2, 3..=4, 5..=6] {
            let store = SledStore::open(dir.path(), 500).unwrap();
            store.append(&batch_of(seqs)).unwrap();
            store.flush().unwrap();
        }
        std::fs::remove_file(super::super::segment_log::segment_path(dir.path(), 3)).unwrap();
        let store = SledStore::open(dir.path(), 500).unwrap();
        let error = store.load().unwrap_err();
        assert!(error.to_string().contains("missing"), "{error}");
    }

    fn seqs(recovered: &Recovered) -> Vec<u64> {
        recovered.log.iter().map(|(seq, _)| *seq).collect()
    }

    #[test]
    fn a_log_in_the_old_format_is_refused_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let old = db.open_tree(OLD_LOG_TREE).unwrap();
            old.insert(1u64.to_be_bytes(), b"record".as_slice())
                .unwrap();
            db.flush().unwrap();
        }
        let refused = SledStore::open(dir.path(), 500).unwrap_err();
        assert!(refused.to_string().contains("older cfsrv"), "{refused}");
    }
}
