//! XCF structure entries on arbitrary bytes: any connector can write the XCF structure, so
//! decoding a member record, system record or inbox item must return a value or an error,
//! never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cf::xcf::decode_any(data);
});
