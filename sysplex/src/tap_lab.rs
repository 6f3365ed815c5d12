//! The per-process TAP lab (root): `sysplex cf` and one `sysplex lpar` process per LPAR of a TAP
//! topology, their TAP devices on the topology's bridge inside a network namespace of their
//! own, and optionally a Linux host in a second namespace on a veth into the bridge. Everything
//! goes when the lab is dropped, also on failure.
//!
//! ```text
//!   host netns: eth0 <address>, <on_link> routes ──┐
//!   lab netns:  bridge (topology [lan]) ────────────┼── TAP of LPAR 1 (`sysplex lpar`)
//!               CF on its loopback address          └── TAP of LPAR n
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::Error;
use crate::topology::{LanSection, Topology};
use stacks::lan::netns::{Netns, Process};

/// How long the lab waits for the CF to listen and for each LPAR to join its XCF group.
const PATIENCE: Duration = Duration::from_secs(20);

/// The Linux host on the lab's LAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// Its address with prefix (`192.0.2.50/24`).
    pub address: String,
    /// Subnets it reaches on-link from that address (a DVIPA subnet, as for a router).
    pub on_link: Vec<String>,
}

/// A running per-process TAP lab.
#[derive(Debug)]
pub struct TapLab {
    // Processes first: they go before the namespaces they run in.
    /// The LPAR processes by system name.
    pub lpars: BTreeMap<String, Process>,
    /// The CF server process.
    pub cf: Process,
    /// The host's namespace, its interface `eth0`.
    pub host: Option<Netns>,
    /// The lab's namespace (bridge, TAP devices, the CF's loopback).
    pub lab: Netns,
}

impl TapLab {
    /// Starts the lab of the TAP topology at `topology` with the `sysplex` binary `binary`:
    /// the namespace, bridge and TAP devices, the host if `host`, the CF, then the first LPAR
    /// (waiting for it to join the stacks' XCF group, so it comes up as the owner of what it
    /// defines) and the others (waiting for their joins).
    pub fn start(
        binary: &Path,
        topology: &Path,
        role: &str,
        host: Option<&HostSpec>,
    ) -> Result<Self, Error> {
        let parsed = Topology::load(topology)?;
        let LanSection::Tap { bridge } = &parsed.lan else {
            return Err(Error::Lab(format!("{} has no TAP LAN", topology.display())));
        };
        let cf_address = parsed
            .cf
            .address
            .ok_or_else(|| Error::Lab(format!("{} has no [cf] address", topology.display())))?;
        let lab = Netns::create(role)?;
        lab.add_bridge(bridge)?;
        for lpar in &parsed.lpars {
            let tap = lpar.section.tap.as_deref().ok_or_else(|| {
                Error::Lab(format!("LPAR {} has no TAP device", lpar.section.sysname))
            })?;
            lab.add_tap(tap, bridge)?;
        }
        let host = match host {
            Some(spec) => Some(attach_host(&lab, bridge, role, spec)?),
            None => None,
        };
        let (binary, topology) = (path_str(binary)?, path_str(topology)?);
        let mut cf = lab.spawn(&[binary, "cf", "--topology", topology])?;
        cf.expect(&format!("CF listening on {cf_address}"), PATIENCE)?;
        let mut lpars = BTreeMap::new();
        for lpar in &parsed.lpars {
            let sysname = lpar.section.sysname.clone();
            let process = lab.spawn(&[
                binary,
                "lpar",
                "--topology",
                topology,
                "--sysname",
                &sysname,
            ])?;
            lpars.insert(sysname.clone(), process);
            if lpars.len() == 1 {
                joined(&mut lpars, &sysname)?;
            }
        }
        for lpar in parsed.lpars.iter().skip(1) {
            joined(&mut lpars, &lpar.section.sysname)?;
        }
        Ok(Self {
            lpars,
            cf,
            host,
            lab,
        })
    }

    /// The process of LPAR `sysname`.
    pub fn lpar(&mut self, sysname: &str) -> Result<&mut Process, Error> {
        self.lpars
            .get_mut(sysname)
            .ok_or_else(|| Error::Lab(format!("no LPAR {sysname} in the lab")))
    }
}

/// Waits for LPAR `sysname` to join the stacks' XCF group (EZD1176I).
fn joined(lpars: &mut BTreeMap<String, Process>, sysname: &str) -> Result<(), Error> {
    let process = lpars
        .get_mut(sysname)
        .ok_or_else(|| Error::Lab(format!("no LPAR {sysname} in the lab")))?;
    process.expect("EZD1176I", PATIENCE)?;
    Ok(())
}

/// A host namespace with `eth0` on a veth into `bridge`.
fn attach_host(lab: &Netns, bridge: &str, role: &str, spec: &HostSpec) -> Result<Netns, Error> {
    let host = Netns::create(&format!("{role}h"))?;
    lab.add_veth("zsyshost", &host, "eth0", &spec.address)?;
    lab.enslave("zsyshost", bridge)?;
    let source = spec.address.split('/').next().unwrap_or_default();
    for subnet in &spec.on_link {
        host.exec(&[
            "ip", "route", "add", subnet, "dev", "eth0", "scope", "link", "src", source,
        ])?;
    }
    Ok(host)
}

fn path_str(path: &Path) -> Result<&str, Error> {
    path.to_str()
        .ok_or_else(|| Error::Lab(format!("{} is not UTF-8", path.display())))
}

/// The `CONN i port` lines of a lab stream source: each stream's local port, by stream number.
pub fn stream_ports(lines: &[String]) -> BTreeMap<usize, u16> {
    lines
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next()? == "CONN").then_some(())?;
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}

/// A `NETSTAT VCRT` display's routes as client port -> DestXCF.
pub fn vcrt_routes(lines: &[String]) -> BTreeMap<u16, String> {
    let mut routes = BTreeMap::new();
    let mut source_port = None;
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "Source:") {
            source_port = words
                .get(i + 1)
                .and_then(|s| s.rsplit("..").next())
                .and_then(|p| p.parse().ok());
        }
        if let Some(i) = words.iter().position(|w| *w == "DestXCF:")
            && let (Some(port), Some(xcf)) = (source_port.take(), words.get(i + 1))
        {
            routes.insert(port, (*xcf).to_owned());
        }
    }
    routes
}
