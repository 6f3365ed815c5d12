//! The on-disk [`Store`], on sled 0.34.7.
//!
//! Tree `log-batches` maps the big-endian sequence number of a batch's last record to the
//! [`LogBatch`]; the default tree holds the incarnation counter. The snapshot image is a file
//! of its own in the same directory ([`ImageFile`]). sled flushes in the background every
//! `flush_every_ms` (the `async` durability); [`Store::flush`] forces it.
//!
//! Databases of earlier versions kept the snapshot in the default tree (`snapshot-image`, and
//! `snapshot-seq`, the big-endian sequence number of the last record it includes): such a
//! snapshot is still loaded when it is newer than the image file, and the next snapshot
//! removes it.

use std::path::Path;
use std::time::{Duration, Instant};

use super::image_file::ImageFile;
use super::{LogBatch, Recovered, Snapshot, Store, StoreError, unbroken_after};

/// The snapshot image in the default tree, before the image file.
const SNAPSHOT_IMAGE_KEY: &[u8] = b"snapshot-image";
/// The sequence number of the snapshot in the default tree.
const SNAPSHOT_SEQ_KEY: &[u8] = b"snapshot-seq";
const INCARNATION_KEY: &[u8] = b"incarnation";
const LOG_TREE: &[u8] = b"log-batches";
/// The tree of the first format, one record per key.
const OLD_LOG_TREE: &[u8] = b"log";
/// The snapshot key of the first format (sequence number and image in one value).
const OLD_SNAPSHOT_KEY: &[u8] = b"snapshot";

/// How long [`SledStore::open`] waits for a database another handle is still closing.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// A [`Store`] in a sled database directory. Only one process may open it at a time.
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    log: sled::Tree,
    image: ImageFile,
}

impl SledStore {
    /// Opens (or creates) the database in `dir`, with sled's background flush every
    /// `flush_every_ms` milliseconds.
    ///
    /// sled releases its file lock only once its background threads have let go of a closed
    /// database, so a reopen in the same process (a restarted CF) waits up to
    /// [`LOCK_WAIT`] for the lock before it reports the database as busy.
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
                opened => return Self::from_db(opened?, dir),
            }
        }
    }

    fn from_db(db: sled::Db, dir: &Path) -> Result<Self, StoreError> {
        let old_log = db.tree_names().iter().any(|name| name == OLD_LOG_TREE)
            && !db.open_tree(OLD_LOG_TREE)?.is_empty();
        if old_log || db.contains_key(OLD_SNAPSHOT_KEY)? {
            return Err(StoreError::Corrupt(
                "the database is in the format of an older cfsrv".into(),
            ));
        }
        let log = db.open_tree(LOG_TREE)?;
        Ok(Self {
            db,
            log,
            image: ImageFile::new(dir),
        })
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
        if !batch.is_empty() {
            self.log
                .insert(batch.last_seq().to_be_bytes(), batch.as_bytes())?;
        }
        Ok(())
    }

    fn save_snapshot(&self, seq: u64, image: &[u8]) -> Result<(), StoreError> {
        // The snapshot is on disk before the records it replaces go. Batches that end after
        // `seq` stay whole; loading skips their records up to `seq`.
        self.image.save(seq, image)?;
        if self.db.contains_key(SNAPSHOT_SEQ_KEY)? {
            let mut older = sled::Batch::default();
            older.remove(SNAPSHOT_SEQ_KEY);
            older.remove(SNAPSHOT_IMAGE_KEY);
            self.db.apply_batch(older)?;
        }
        let mut batch = sled::Batch::default();
        for key in self.log.range(..=seq.to_be_bytes()).keys() {
            batch.remove(key?);
        }
        self.log.apply_batch(batch)?;
        Ok(())
    }

    fn load(&self) -> Result<Recovered, StoreError> {
        let snapshot = self.newest_snapshot()?;
        let after = snapshot.as_ref().map_or(0, |s| s.seq);
        let mut records = Vec::new();
        for item in self.log.range((after + 1).to_be_bytes()..) {
            let (key, value) = item?;
            let last = seq_from_key(&key)?;
            let batch = LogBatch::decode(&value)?;
            if batch.last().map(|(seq, _)| *seq) != Some(last) {
                return Err(StoreError::Corrupt(format!(
                    "the log batch under {last} does not end with record {last}"
                )));
            }
            records.extend(batch);
        }
        Ok(Recovered {
            snapshot,
            log: unbroken_after(after, records.into_iter()),
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
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
