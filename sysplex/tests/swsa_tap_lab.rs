//! IPSec in the `sysplex lpar` processes (root): the SWSA lab on TAP devices in a Linux bridge
//! (`fixtures/topologies/swsa-tap-lab.toml`) with a Linux host namespace at 192.0.2.150, in the
//! range the distributor's policy protects. Each LPAR process runs IPSec from its profile and
//! policy: the host's ping to SYS1's home address passes in clear (an IPSECRULE permits ICMP),
//! its ping to the DVIPA does not (policy says it must travel in ESP, and the host has no SA),
//! and the attached console's `ipsec -f display` shows SYS1's filters. Needs root, `ip` and
//! `python3`; skips with a message otherwise.

use std::path::PathBuf;
use std::time::Duration;

use stacks::lan::netns::missing_prerequisite;
use sysplex::tap_lab::{HostSpec, TapLab};

const PATIENCE: Duration = Duration::from_secs(20);

fn root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

#[test]
fn lpar_processes_enforce_their_ipsec_policy_and_display_it() {
    if let Some(why) = missing_prerequisite(&["ip", "python3"]) {
        eprintln!("skipping the SWSA TAP lab: {why}");
        return;
    }
    if !root() {
        eprintln!("skipping the SWSA TAP lab: not root");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_sysplex");
    let topology =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/swsa-tap-lab.toml");
    let host = HostSpec {
        address: "192.0.2.150/24".to_owned(),
        on_link: vec!["198.51.100.0/24".to_owned()],
    };
    let lab =
        TapLab::start(binary.as_ref(), &topology, "swsa", Some(&host)).expect("the TAP lab starts");
    let host = lab.host.as_ref().expect("the host namespace");
    assert!(
        host.ping("192.0.2.21").expect("pings"),
        "ICMP to SYS1's home address is permitted in clear"
    );
    assert!(
        !host.ping("198.51.100.10").expect("pings"),
        "ICMP to the DVIPA is protected: never in clear"
    );

    let script = std::env::temp_dir().join(format!("zsys-swsa-script-{}", std::process::id()));
    std::fs::write(
        &script,
        "RO SYS1,ipsec -f display\nRO SYS1,ipsec -k display\n",
    )
    .expect("writes the console script");
    let mut console = lab
        .lab
        .spawn(&[
            binary,
            "console",
            "--topology",
            topology.to_str().expect("a UTF-8 path"),
            "--attach",
            "--script",
            script.to_str().expect("a UTF-8 path"),
        ])
        .expect("starts the console");
    console
        .expect("Primary:  IKE tunnel", PATIENCE)
        .expect("the console answers");
    // The -f display ends with "10 entries selected", which a search for the end of the -k
    // display would find first.
    let ike_end = console.expect("SYS1  0 entries selected", PATIENCE);
    let lines = console.drain().join("\n");
    let _ = std::fs::remove_file(&script);
    assert!(
        ike_end.is_ok(),
        "no IKE tunnel without peers on the LAN: {lines}"
    );
    assert!(lines.contains("SYS1  Primary:  Filter"), "{lines}");
    assert!(lines.contains("DVIPSec:  Yes"), "{lines}");
}
