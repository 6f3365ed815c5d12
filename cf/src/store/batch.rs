//! A run of consecutive log records in one byte string: what the log writer hands the store in
//! one call, and what [`super::SledStore`] keeps under one key.
//!
//! ```text
//! first seq (u64 BE) | len (u32 BE) record | len (u32 BE) record | ...
//! ```
//!
//! Records are numbered from the first one on, so the byte string carries no further numbers.

use serde::Serialize;

use super::StoreError;

/// Length of the batch header (the first record's sequence number).
const HEADER_LEN: usize = 8;
/// Length of each record's length prefix.
const LEN_LEN: usize = 4;

/// Consecutive log records framed back to back, each encoded in place as it is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBatch {
    first_seq: u64,
    count: u64,
    bytes: Vec<u8>,
}

impl LogBatch {
    /// An empty batch whose first record will be `first_seq`.
    pub fn new(first_seq: u64) -> Self {
        let mut bytes = Vec::with_capacity(4096);
        bytes.extend_from_slice(&first_seq.to_be_bytes());
        Self {
            first_seq,
            count: 0,
            bytes,
        }
    }

    /// Empties the batch for records from `first_seq` on, keeping its buffer.
    pub fn clear(&mut self, first_seq: u64) {
        self.bytes.clear();
        self.bytes.extend_from_slice(&first_seq.to_be_bytes());
        self.first_seq = first_seq;
        self.count = 0;
    }

    /// Appends the postcard encoding of the next record and returns its length; on an error
    /// the batch is unchanged.
    pub fn push(&mut self, record: &impl Serialize) -> Result<usize, StoreError> {
        self.push_parts(record, &[])
    }

    /// Appends a record made of the postcard encoding of `head` followed by `tail`, bytes
    /// already encoded (a record whose last field arrived encoded); returns its length. On an
    /// error the batch is unchanged.
    pub fn push_parts(&mut self, head: &impl Serialize, tail: &[u8]) -> Result<usize, StoreError> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&[0; LEN_LEN]);
        let written = postcard::to_io(head, &mut self.bytes)
            .map(|_| ())
            .map_err(|e| StoreError::Corrupt(format!("encoding a log record: {e}")));
        if written.is_ok() {
            self.bytes.extend_from_slice(tail);
        }
        let encoded = written.and_then(|()| {
            u32::try_from(self.bytes.len() - start - LEN_LEN)
                .map_err(|_| StoreError::Corrupt("log record above 4 GiB".into()))
        });
        match encoded {
            Ok(len) => {
                self.bytes[start..start + LEN_LEN].copy_from_slice(&len.to_be_bytes());
                self.count += 1;
                Ok(self.bytes.len() - start)
            }
            Err(e) => {
                self.bytes.truncate(start);
                Err(e)
            }
        }
    }

    /// Sequence number of the first record.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Sequence number of the last record (`first_seq - 1` when empty).
    pub fn last_seq(&self) -> u64 {
        self.first_seq.saturating_add(self.count).saturating_sub(1)
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes held (header included).
    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The encoded batch.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The records of an encoded batch, numbered, or why it is not one.
    pub fn decode(bytes: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let corrupt = |why: &str| StoreError::Corrupt(format!("log batch: {why}"));
        let (header, mut rest) = bytes
            .split_first_chunk::<HEADER_LEN>()
            .ok_or_else(|| corrupt("shorter than its header"))?;
        let mut seq = u64::from_be_bytes(*header);
        let mut records = Vec::new();
        while let Some((len, after)) = rest.split_first_chunk::<LEN_LEN>() {
            let len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
            let record = after
                .get(..len)
                .ok_or_else(|| corrupt("record cut short"))?;
            records.push((seq, record.to_vec()));
            seq = seq
                .checked_add(1)
                .ok_or_else(|| corrupt("sequence overflow"))?;
            rest = &after[len..];
        }
        if !rest.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn batch_of(first: u64, records: &[Vec<u8>]) -> LogBatch {
        let mut batch = LogBatch::new(first);
        for record in records {
            batch.push(&serde_bytes::Bytes::new(record)).unwrap();
        }
        batch
    }

    fn postcard_bytes(record: &[u8]) -> Vec<u8> {
        postcard::to_allocvec(&serde_bytes::Bytes::new(record)).unwrap()
    }

    #[test]
    fn a_batch_numbers_its_records_from_the_first() {
        let batch = batch_of(41, &[b"a".to_vec(), b"bc".to_vec()]);
        assert_eq!(batch.first_seq(), 41);
        assert_eq!(batch.last_seq(), 42);
        assert_eq!(
            LogBatch::decode(batch.as_bytes()).unwrap(),
            [(41, postcard_bytes(b"a")), (42, postcard_bytes(b"bc"))]
        );
    }

    #[test]
    fn a_record_in_parts_is_the_record_encoded_whole() {
        let mut whole = LogBatch::new(1);
        whole.push(&(7u64, "SYS1", vec![1u8, 2, 3])).unwrap();
        let mut parts = LogBatch::new(1);
        let tail = postcard::to_allocvec(&vec![1u8, 2, 3]).unwrap();
        parts.push_parts(&(7u64, "SYS1"), &tail).unwrap();
        assert_eq!(parts, whole);
    }

    #[test]
    fn a_cleared_batch_is_a_new_one() {
        let mut batch = batch_of(3, &[vec![1; 100]]);
        batch.clear(4);
        assert_eq!(batch, LogBatch::new(4));
        assert!(batch.bytes.capacity() >= 100);
    }

    #[test]
    fn an_empty_batch_ends_before_it_starts() {
        let batch = LogBatch::new(7);
        assert!(batch.is_empty());
        assert_eq!(batch.last_seq(), 6);
        assert_eq!(LogBatch::decode(batch.as_bytes()).unwrap(), []);
    }

    #[test]
    fn a_cut_batch_is_corrupt() {
        let batch = batch_of(1, &[vec![9; 10]]);
        let bytes = batch.as_bytes();
        for cut in 1..bytes.len() {
            if cut == HEADER_LEN {
                continue; // just the header: a valid empty batch
            }
            assert!(
                LogBatch::decode(&bytes[..cut]).is_err(),
                "cut at {cut} decoded"
            );
        }
    }

    proptest! {
        #[test]
        fn decode_inverts_push(first in 1..u64::MAX / 2, records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8)) {
            let batch = batch_of(first, &records);
            let decoded = LogBatch::decode(batch.as_bytes()).unwrap();
            let expected: Vec<(u64, Vec<u8>)> = (first..)
                .zip(records.iter().map(|r| postcard_bytes(r)))
                .collect();
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = LogBatch::decode(&bytes);
        }
    }
}
