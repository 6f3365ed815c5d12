//! Signals from the stacks of the XCF group and operator command lines: decoding never panics,
//! a decoded signal re-encodes to bytes that decode to the same signal, and the V TCPIP parser
//! never panics on any line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stacks::dvipa::command;
use stacks::group_signal;

fuzz_target!(|data: &[u8]| {
    if let Ok(signal) = group_signal::decode(data) {
        assert_eq!(group_signal::decode(&group_signal::encode(&signal)), Ok(signal));
    }
    let _ = command::parse(&String::from_utf8_lossy(data));
});
