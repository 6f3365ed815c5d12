#![no_main]
//! The operator console's command parser answers any line with a command or a z/OS message,
//! never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let _ = sysplex::console::command::parse(&line);
});
