//! The CF log batch decoder and log segment parser on arbitrary bytes (what the store reads
//! back at recovery): they must return records or an error, never panic; decoded records must
//! batch up to the same bytes, and a parsed segment must account for every byte.

#![no_main]

use cf::store::{LogBatch, parse_segment};
use libfuzzer_sys::fuzz_target;

/// A record already encoded: written back as its bytes, unchanged.
struct Encoded<'a>(&'a [u8]);

impl serde::Serialize for Encoded<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for byte in self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

fuzz_target!(|data: &[u8]| {
    check_segment(data);
    check_batch(data);
});

/// The bytes as a segment file (named after the sequence number its header would hold), as
/// the newest segment and as an older one.
fn check_segment(data: &[u8]) {
    let first = data
        .get(8..16)
        .and_then(|seq| seq.try_into().ok())
        .map_or(1, u64::from_be_bytes);
    for newest in [false, true] {
        let Ok(parsed) = parse_segment(data, first, newest) else {
            continue;
        };
        assert_eq!(parsed.valid_len + parsed.torn, data.len());
        assert!(newest || parsed.torn == 0, "a torn tail in an older segment");
        if parsed.valid_len > 0 {
            let framed: usize = parsed.batches.iter().map(|b| 8 + b.len()).sum();
            assert_eq!(16 + framed, parsed.valid_len);
        } else {
            assert!(parsed.batches.is_empty());
        }
    }
}

fn check_batch(data: &[u8]) {
    let Ok(records) = LogBatch::decode(data) else {
        return;
    };
    let Some(first) = data.first_chunk::<8>().map(|seq| u64::from_be_bytes(*seq)) else {
        panic!("a batch without a header decoded");
    };
    let mut batch = LogBatch::new(first);
    for (i, (seq, record)) in (0u64..).zip(&records) {
        assert_eq!(*seq, first.wrapping_add(i));
        batch.push(&Encoded(record)).expect("a record re-encodes");
    }
    assert_eq!(batch.as_bytes(), data);
}
