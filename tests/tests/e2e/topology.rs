//! The topology file: the fixture lab loads and uses only documentation addresses; broken
//! files are refused with messages that say where and what.

use std::net::Ipv4Addr;
use std::path::Path;

use sysplex::topology::{LanSection, Topology};

fn documentation(addr: Ipv4Addr) -> bool {
    matches!(
        addr.octets(),
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _]
    )
}

#[test]
fn the_dvipa_lab_loads_with_three_lpars_and_documentation_addresses() {
    let topology = Topology::load(&super::dvipa_lab()).expect("the fixture loads");
    assert_eq!(topology.lan, LanSection::Memory);
    let names: Vec<&str> = topology
        .lpars
        .iter()
        .map(|l| l.section.sysname.as_str())
        .collect();
    assert_eq!(names, ["SYS1", "SYS2", "SYS3"]);
    for lpar in &topology.lpars {
        assert!(documentation(lpar.lan_address.0), "{:?}", lpar.lan_address);
    }
    for remote in &topology.remotes {
        assert!(documentation(remote.address));
        assert!(remote.on_link.iter().all(|(a, _)| documentation(*a)));
    }
}

#[test]
fn broken_topologies_are_refused_with_clear_messages() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/profiles");
    let cases = [
        ("[sysplex\n", "topology file bad.toml:"),
        (
            "[sysplex]\nname = \"P\"\nsecret = \"short\"\n",
            "sysplex.secret must be at least 16 characters",
        ),
        (
            "[sysplex]\nname = \"P\"\nsecret = \"long-enough-secret-1\"\n",
            "no [[lpar]]",
        ),
        (
            "[sysplex]\nname = \"P\"\nsecret = \"long-enough-secret-1\"\n\
             [[lpar]]\nsysname = \"SYS1\"\nprofile = \"missing.tcpip\"\n",
            "LPAR SYS1: profile",
        ),
        (
            "[sysplex]\nname = \"P\"\nsecret = \"long-enough-secret-1\"\n\
             [[lpar]]\nsysname = \"SYS1\"\nprofile = \"dvipa-owner.tcpip\"\n\
             apps = [{ kind = \"ftp\", port = 21 }]\n",
            "unknown variant `ftp`",
        ),
    ];
    for (text, expected) in cases {
        let error = Topology::parse("bad.toml", text, &base)
            .expect_err(text)
            .to_string();
        assert!(error.contains(expected), "{text}: {error}");
    }
}

#[test]
fn a_missing_topology_file_names_the_path() {
    let error = Topology::load(Path::new("/nonexistent/lab.toml"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("/nonexistent/lab.toml"), "{error}");
}
