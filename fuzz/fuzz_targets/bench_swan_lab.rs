//! The strongSwan lab's readers of outside text (`swanctl --list-sas`, the LPARs' STRMSINK
//! lines, the stream source's RESUMED lines): any text never panics, and what they read is
//! shaped as documented.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sysplex::bench::swan_lab::{child_bytes, sink_reports, stalls, swan_sas};

fuzz_target!(|text: &str| {
    let sas = swan_sas(text);
    assert!(
        sas.child
            .iter()
            .all(|spi| spi.starts_with("in ") || spi.starts_with("out "))
    );
    let _ = child_bytes(text);
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let _ = sink_reports(&lines);
    assert!(
        stalls(&lines, 0.0, 100.0)
            .iter()
            .all(|s| s.resumed > 0.0 && s.stalled <= 100.0)
    );
});
