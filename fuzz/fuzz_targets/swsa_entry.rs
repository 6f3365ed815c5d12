//! EZBDVIPA restart entries read from the CF: decoding never panics, and a decoded entry
//! re-encodes to bytes that decode to the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stacks::swsa::StoredRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(stored) = StoredRecord::decode(data) {
        let bytes = stored.encode().expect("a decoded entry encodes");
        assert_eq!(StoredRecord::decode(&bytes), Ok(stored));
    }
});
