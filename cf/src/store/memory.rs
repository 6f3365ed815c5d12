//! An in-memory [`Store`] for tests: clones share the same contents, so dropping a server and
//! starting another on a clone is a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{LogBatch, Recovered, Snapshot, Store, StoreError, unbroken_after};

/// A [`Store`] held in memory; everything appended is "durable" at once.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Contents>>,
}

#[derive(Debug, Default)]
struct Contents {
    log: BTreeMap<u64, Vec<u8>>,
    snapshot: Option<Snapshot>,
    incarnation: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn contents(&self) -> MutexGuard<'_, Contents> {
        // A panic elsewhere while holding the lock leaves consistent contents: every update
        // below is a single map or field assignment.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn append(&self, batch: &LogBatch) -> Result<(), StoreError> {
        let records = LogBatch::decode(batch.as_bytes())?;
        self.contents().log.extend(records);
        Ok(())
    }

    fn save_snapshot(&self, seq: u64, image: &[u8]) -> Result<(), StoreError> {
        let mut contents = self.contents();
        contents.snapshot = Some(Snapshot {
            seq,
            image: image.to_vec(),
        });
        contents.log = contents.log.split_off(&(seq + 1));
        Ok(())
    }

    fn load(&self) -> Result<Recovered, StoreError> {
        let contents = self.contents();
        let after = contents.snapshot.as_ref().map_or(0, |s| s.seq);
        let log = unbroken_after(after, contents.log.iter().map(|(s, r)| (*s, r.clone())));
        Ok(Recovered {
            snapshot: contents.snapshot.clone(),
            log,
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn next_incarnation(&self) -> Result<u64, StoreError> {
        let mut contents = self.contents();
        contents.incarnation += 1;
        Ok(contents.incarnation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_behaves_like_a_store_across_restarts() {
        super::super::tests::behaves_like_a_store(MemoryStore::new(), |s| s.clone());
    }
}
