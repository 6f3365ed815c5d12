//! The CF log batch decoder on arbitrary bytes (what the store hands back at recovery): it
//! must return records or an error, never panic; decoded records must batch up to the same
//! bytes.

#![no_main]

use cf::store::LogBatch;
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
});
