//! PROFILE.TCPIP parser: never panics; SYNTAXCHECK shows exactly the messages that
//! processing writes, and every message points at a line of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stacks::profile;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = profile::parse("FUZZ", &text);
    assert_eq!(profile::check("FUZZ", &text), parsed.messages);
    let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX);
    for message in &parsed.messages {
        assert!(message.line >= 1 && message.line <= lines.max(1), "{message}");
    }
});
