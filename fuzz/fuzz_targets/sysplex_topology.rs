#![no_main]
//! The topology file parser refuses any text with an error, never a panic (profiles are
//! looked up under a directory that does not exist, so every LPAR fails cleanly too).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sysplex::topology::Topology::parse(
            "fuzz.toml",
            text,
            std::path::Path::new("/nonexistent-fuzz-base"),
        );
    }
});
