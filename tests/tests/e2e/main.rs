//! End-to-end tests of the sysplex runner: the DVIPA scenario's verdict, the operator console
//! on an embedded lab, and the topology file's errors. In process, no privileges.

mod console;
mod dvipa;
mod topology;

use std::path::PathBuf;

/// The fixture topology of the DVIPA lab.
fn dvipa_lab() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/dvipa-lab.toml")
}
