//! DVIPA takeover in the per-process TAP lab: the fixture topology
//! `fixtures/topologies/dvipa-tap-lab.toml` (SYS1 owns DVIPA 198.51.100.30, SYS2 backs it up at
//! rank 150, SYS3 at rank 50), a Linux host on the bridge running the [probe](super::probe),
//! which SIGKILLs SYS1's `sysplex lpar` process. A fresh lab for each run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::probe::{self, Answered, Victims};
use crate::Error;
use crate::tap_lab::{HostSpec, TapLab};

/// The DVIPA of the fixture topology and the port of its echo app.
const DVIPA: &str = "198.51.100.30";
const ECHO_PORT: u16 = 7;
/// Its VIPADEFINE owner and highest-ranked backup.
const OWNER: &str = "SYS1";
const BACKUP: &str = "SYS2";

/// The fixture topology, in the source tree.
pub(super) fn topology() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/dvipa-tap-lab.toml")
}

/// One run: the lab, the probe, the kill; checks that the top backup took the DVIPA over.
pub(super) fn run_once(binary: &Path, topology: &Path) -> Result<Answered, Error> {
    let host = HostSpec {
        address: "192.0.2.50/24".to_owned(),
        on_link: vec!["198.51.100.0/24".to_owned()],
    };
    let mut lab = TapLab::start(binary, topology, "tko", Some(&host))?;
    let victims = Victims {
        pids: vec![lab.lpar(OWNER)?.pid()],
        ..Victims::default()
    };
    let host = lab
        .host
        .as_ref()
        .ok_or_else(|| Error::Lab("the lab has no host".to_owned()))?;
    let answered = probe::run(host, DVIPA, ECHO_PORT, &victims)?;
    lab.lpar(BACKUP)?.expect(
        &format!("EZZ8301I VIPA {DVIPA} TAKEN OVER FROM TCPCS ON {OWNER}"),
        Duration::from_secs(5),
    )?;
    Ok(answered)
}
