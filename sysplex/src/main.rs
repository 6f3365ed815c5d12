//! `sysplex`: runs the emulated sysplex.

fn main() {}
