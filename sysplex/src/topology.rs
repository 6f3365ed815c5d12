//! The topology file (TOML): the coupling facility, the LPARs with their TCP/IP stacks, the LAN
//! and the remote hosts of a lab.
//!
//! ```toml
//! [sysplex]
//! name = "LABPLEX"
//! secret = "lab-sysplex-secret-0001"
//!
//! [cf]                       # no address: embedded on a loopback port
//! interval_ms = 3000
//!
//! [lan]                      # kind "memory" (in-memory switch) or "tap" (with bridge)
//! kind = "memory"
//!
//! [[lpar]]
//! sysname = "SYS1"
//! tcpname = "TCPCS"
//! profile = "../profiles/dvipa-owner.tcpip"   # relative to the topology file
//! apps = [{ kind = "echo", port = 7 }]
//!
//! [[remote]]
//! name = "CLIENT1"
//! address = "192.0.2.50/24"
//! on_link = ["198.51.100.250/24"]   # the DVIPA subnet, as for a router on the LAN
//! run = [{ kind = "echo-client", target = "198.51.100.30:7", connections = 2 }]
//! ```
//!
//! IPSec: an LPAR whose profile has `IPCONFIG IPSECURITY` needs `policy = "file"` (its Policy
//! Agent policy, for its IKE daemon); a remote host with `policy = "file"` is an IPSec host
//! that initiates the KeyExchangeRules of that file whose LocalSecurityEndpoint is its own
//! address (see [`crate::ipsec`]). `[sysplex] seed` seeds every IKE daemon of the lab.
//!
//! [`Topology::load`] reads the file, checks names, duplicates and the LAN settings, and parses
//! every profile (strictly: a profile error is a topology error, with its z/OS message) and
//! every policy (any problem is an error, with its line).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stacks::profile::{self, Profile};

use crate::Error;
use crate::ipsec::IpsecPolicy;

/// What is wrong with a topology file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// The file could not be read.
    #[error("cannot read topology file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a topology.
    #[error("topology file {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The TOML error, with its line and column.
        message: String,
    },
    /// The file parses but describes an impossible lab.
    #[error("topology file {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A profile named by an LPAR does not read or process cleanly.
    #[error("topology file {path}: LPAR {sysname}: profile {profile}: {message}")]
    Profile {
        /// The topology file.
        path: String,
        /// The LPAR.
        sysname: String,
        /// The profile file.
        profile: String,
        /// The read error or the profile's first error message.
        message: String,
    },
    /// The IPSec settings of an LPAR or remote host do not hold together: IPSECURITY without
    /// a policy (or the reverse), or a policy that does not read or parse.
    #[error("topology file {path}: {owner}: {message}")]
    Ipsec {
        /// The topology file.
        path: String,
        /// `LPAR SYS1` or `remote PEER1`.
        owner: String,
        /// What is wrong, with the file and line it is about.
        message: String,
    },
}

/// The sysplex-wide settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SysplexSection {
    /// The sysplex name (display only).
    pub name: String,
    /// The secret every CF link authenticates with (at least 16 bytes).
    pub secret: String,
    /// Seeds the lab's IKE daemons and security stages (default 0); see
    /// [`crate::ipsec::seed`].
    #[serde(default)]
    pub seed: u64,
}

/// The coupling facility.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CfSection {
    /// Where a separate CF server listens; none means embedded, in-process on loopback.
    pub address: Option<SocketAddr>,
    /// INTERVAL, in milliseconds: how long a silent system lives before it is partitioned.
    pub interval_ms: Option<u64>,
}

/// The LAN the stacks and remote hosts share.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LanSection {
    /// An in-memory Ethernet switch (embedded labs).
    #[default]
    Memory,
    /// TAP devices, one per LPAR, enslaved to a Linux bridge (one process per LPAR).
    Tap {
        /// The bridge the TAP devices are attached to.
        bridge: String,
    },
}

/// A built-in application an LPAR's stack runs.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum App {
    /// The echo server on `port` of every address of the stack.
    Echo {
        /// The TCP port.
        port: u16,
    },
    /// The checksummed stream sink on `port` of every address of the stack: checks every
    /// byte of each stream against the pattern seeded with the port number.
    StreamSink {
        /// The TCP port.
        port: u16,
    },
}

/// One LPAR: an MVS system with its TCP/IP stack.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LparSection {
    /// The MVS system name (`SYS1`).
    pub sysname: String,
    /// The TCP/IP stack's procedure name (`TCPCS`).
    #[serde(default = "default_tcpname")]
    pub tcpname: String,
    /// The PROFILE.TCPIP file, relative to the topology file.
    pub profile: PathBuf,
    /// The IPSec policy (Policy Agent format), relative to the topology file: needed, and
    /// only allowed, when the profile has `IPCONFIG IPSECURITY`.
    pub policy: Option<PathBuf>,
    /// The TAP device of this LPAR's LAN port (TAP LANs only).
    pub tap: Option<String>,
    /// Where the stack's dynamic XCF link binds (default: a free loopback port).
    pub xcf_bind: Option<SocketAddr>,
    /// The built-in applications.
    #[serde(default)]
    pub apps: Vec<App>,
}

fn default_tcpname() -> String {
    "TCPCS".to_owned()
}

/// What a remote host runs.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RemoteRun {
    /// Echo clients holding connections to `target` and reconnecting when they break.
    EchoClient {
        /// The echo server (normally a DVIPA).
        target: SocketAddrV4,
        /// How many connections to hold.
        #[serde(default = "one")]
        connections: u16,
    },
    /// One checksummed stream of `bytes` to a `stream-sink` at `target` (the pattern is
    /// seeded with the target's port).
    Stream {
        /// The sink (normally a DVIPA and port).
        target: SocketAddrV4,
        /// How many bytes to send.
        bytes: u64,
    },
}

fn one() -> u16 {
    1
}

/// A host outside the sysplex, on the same LAN.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RemoteSection {
    /// Its name in timelines.
    pub name: String,
    /// Its address and prefix length (`192.0.2.50/24`).
    pub address: String,
    /// Further subnets the host has an address on, so that they are on-link for it (as for a
    /// router on the LAN): it then follows the owners' gratuitous ARPs for DVIPAs there. It
    /// still connects from its first address.
    #[serde(default)]
    pub on_link: Vec<String>,
    /// Its default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Its IPSec policy (Policy Agent format, relative to the topology file): the host
    /// initiates the KeyExchangeRules whose LocalSecurityEndpoint is its address. One file
    /// may serve several hosts.
    pub policy: Option<PathBuf>,
    /// What it runs.
    #[serde(default)]
    pub run: Vec<RemoteRun>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    sysplex: SysplexSection,
    #[serde(default)]
    cf: CfSection,
    #[serde(default)]
    lan: LanSection,
    #[serde(default)]
    lpar: Vec<LparSection>,
    #[serde(default)]
    remote: Vec<RemoteSection>,
}

/// An LPAR with its processed profile.
#[derive(Debug, Clone)]
pub struct Lpar {
    /// The LPAR as the file describes it.
    pub section: LparSection,
    /// The profile, processed.
    pub profile: Profile,
    /// The profile file, resolved.
    pub profile_path: PathBuf,
    /// Its LAN address and prefix length (the first INTERFACE with an IPv4 address).
    pub lan_address: (Ipv4Addr, u8),
    /// Its IPSec policy when the profile has IPCONFIG IPSECURITY.
    pub ipsec: Option<IpsecPolicy>,
}

/// A remote host with its parsed address.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The host as the file describes it.
    pub section: RemoteSection,
    /// Its address.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Its further on-link addresses with their prefix lengths.
    pub on_link: Vec<(Ipv4Addr, u8)>,
    /// Its IPSec peers, when it has a policy.
    pub ipsec: Option<IpsecPolicy>,
}

/// A checked topology.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Sysplex name and secret.
    pub sysplex: SysplexSection,
    /// The CF.
    pub cf: CfSection,
    /// The LAN.
    pub lan: LanSection,
    /// The LPARs, in file order.
    pub lpars: Vec<Lpar>,
    /// The remote hosts, in file order.
    pub remotes: Vec<Remote>,
}

impl Topology {
    /// Reads and checks the topology file at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&path.display().to_string(), &text, base)
    }

    /// Checks the topology `text` (named `file` in errors), reading profiles relative to
    /// `base`.
    pub fn parse(file: &str, text: &str, base: &Path) -> Result<Self, Error> {
        let raw: TopologyFile = toml::from_str(text).map_err(|e| TopologyError::Syntax {
            path: file.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |message: String| TopologyError::Invalid {
            path: file.to_owned(),
            message,
        };
        check_sections(&raw).map_err(invalid)?;
        let mut lpars = Vec::with_capacity(raw.lpar.len());
        for section in raw.lpar {
            lpars.push(load_lpar(file, base, section)?);
        }
        let mut remotes = Vec::with_capacity(raw.remote.len());
        for section in raw.remote {
            let (address, prefix_len) = parse_cidr(&section.address).ok_or_else(|| {
                invalid(format!(
                    "remote {}: address {:?} is not IPV4/PREFIXLEN",
                    section.name, section.address
                ))
            })?;
            let mut on_link = Vec::new();
            for text in &section.on_link {
                on_link.push(parse_cidr(text).ok_or_else(|| {
                    invalid(format!(
                        "remote {}: on_link address {text:?} is not IPV4/PREFIXLEN",
                        section.name
                    ))
                })?);
            }
            let ipsec = match &section.policy {
                Some(policy) => Some(
                    IpsecPolicy::load(&base.join(policy))
                        .and_then(|p| p.for_host(address))
                        .map_err(|message| TopologyError::Ipsec {
                            path: file.to_owned(),
                            owner: format!("remote {}", section.name),
                            message,
                        })?,
                ),
                None => None,
            };
            remotes.push(Remote {
                section,
                address,
                prefix_len,
                on_link,
                ipsec,
            });
        }
        Ok(Self {
            sysplex: raw.sysplex,
            cf: raw.cf,
            lan: raw.lan,
            lpars,
            remotes,
        })
    }

    /// The LPAR named `sysname`.
    pub fn lpar(&self, sysname: &str) -> Option<&Lpar> {
        self.lpars
            .iter()
            .find(|l| l.section.sysname.eq_ignore_ascii_case(sysname))
    }
}

/// The checks that need no file: names, duplicates, the secret, the LAN.
fn check_sections(raw: &TopologyFile) -> Result<(), String> {
    if raw.sysplex.secret.len() < 16 {
        return Err("sysplex.secret must be at least 16 characters".to_owned());
    }
    if raw.lpar.is_empty() {
        return Err("no [[lpar]]: a sysplex needs at least one system".to_owned());
    }
    let mut seen = BTreeSet::new();
    for lpar in &raw.lpar {
        if !is_zos_name(&lpar.sysname) {
            return Err(format!(
                "sysname {:?} is not a valid system name (1-8 of A-Z 0-9 $@#, not a digit first)",
                lpar.sysname
            ));
        }
        if !is_zos_name(&lpar.tcpname) {
            return Err(format!(
                "LPAR {}: tcpname {:?} is not a valid procedure name",
                lpar.sysname, lpar.tcpname
            ));
        }
        if !seen.insert(lpar.sysname.as_str()) {
            return Err(format!("sysname {} appears twice", lpar.sysname));
        }
        match (&raw.lan, &lpar.tap) {
            (LanSection::Tap { .. }, None) => {
                return Err(format!(
                    "LPAR {}: a TAP LAN needs `tap = \"device\"` on every LPAR",
                    lpar.sysname
                ));
            }
            (LanSection::Memory, Some(tap)) => {
                return Err(format!(
                    "LPAR {}: tap {tap:?} given but the LAN is in memory",
                    lpar.sysname
                ));
            }
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    for remote in &raw.remote {
        if remote.name.is_empty() || !names.insert(remote.name.as_str()) {
            return Err(format!(
                "remote name {:?} is empty or repeated",
                remote.name
            ));
        }
    }
    Ok(())
}

fn load_lpar(file: &str, base: &Path, section: LparSection) -> Result<Lpar, TopologyError> {
    let profile_path = base.join(&section.profile);
    let failed = |message: String| TopologyError::Profile {
        path: file.to_owned(),
        sysname: section.sysname.clone(),
        profile: profile_path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(&profile_path).map_err(|e| failed(e.to_string()))?;
    let name = profile_path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let profile = profile::parse(&name, &text)
        .into_strict()
        .map_err(|m| failed(m.to_string()))?;
    let lan_address = profile
        .interfaces
        .iter()
        .find_map(|i| match i.address {
            Some((std::net::IpAddr::V4(addr), len)) => Some((addr, len)),
            _ => None,
        })
        .ok_or_else(|| failed("no INTERFACE with an IPv4 address (the LAN port)".to_owned()))?;
    let ipsec = lpar_policy(base, &section, &profile, &profile_path, &text).map_err(|message| {
        TopologyError::Ipsec {
            path: file.to_owned(),
            owner: format!("LPAR {}", section.sysname),
            message,
        }
    })?;
    Ok(Lpar {
        section,
        profile,
        profile_path,
        lan_address,
        ipsec,
    })
}

/// The policy of an LPAR: read when its profile (`text`, from `profile_path`) has IPCONFIG
/// IPSECURITY, refused when only one of the two is there.
fn lpar_policy(
    base: &Path,
    section: &LparSection,
    profile: &Profile,
    profile_path: &Path,
    text: &str,
) -> Result<Option<IpsecPolicy>, String> {
    match (&section.policy, profile.ipconfig.ipsecurity) {
        (None, false) => Ok(None),
        (Some(policy), true) => IpsecPolicy::load(&base.join(policy)).map(Some),
        (None, true) => Err(format!(
            "profile {} line {}: IPCONFIG IPSECURITY, but the LPAR has no IPSec policy: give it \
             `policy = \"file\"` (Policy Agent format)",
            profile_path.display(),
            keyword_line(text, "IPSECURITY").unwrap_or(0)
        )),
        (Some(policy), false) => Err(format!(
            "policy {} given, but profile {} has no IPCONFIG IPSECURITY: the stack would not \
             use it",
            base.join(policy).display(),
            profile_path.display()
        )),
    }
}

/// The 1-based line of the first `keyword` (a whole word, any case, outside `;` comments)
/// of a profile.
fn keyword_line(text: &str, keyword: &str) -> Option<u32> {
    text.lines()
        .position(|line| {
            line.split(';')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .any(|word| word.eq_ignore_ascii_case(keyword))
        })
        .and_then(|index| u32::try_from(index + 1).ok())
}

/// Whether `name` is a z/OS system or procedure name.
pub fn is_zos_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= 8
        && (first.is_ascii_uppercase() || "$@#".contains(first))
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "$@#".contains(c))
}

/// `a.b.c.d/len` with len 0..=32.
fn parse_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, len) = text.split_once('/')?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((addr.parse().ok()?, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/profiles")
    }

    const GOOD: &str = r#"
        [sysplex]
        name = "LABPLEX"
        secret = "a-secret-of-enough-length"
        [[lpar]]
        sysname = "SYS1"
        profile = "dvipa-lab-sys1.tcpip"
        apps = [{ kind = "echo", port = 7 }]
        [[remote]]
        name = "CLIENT1"
        address = "192.0.2.50/24"
        on_link = ["198.51.100.250/24"]
        run = [{ kind = "echo-client", target = "198.51.100.30:7", connections = 2 }]
    "#;

    fn error_of(text: &str) -> String {
        Topology::parse("lab.toml", text, &profiles())
            .expect_err("the topology is refused")
            .to_string()
    }

    #[test]
    fn a_good_topology_loads_with_its_profile_and_defaults() {
        let topology = Topology::parse("lab.toml", GOOD, &profiles()).unwrap();
        assert_eq!(topology.cf, CfSection::default());
        assert_eq!(topology.lan, LanSection::Memory);
        let sys1 = topology.lpar("sys1").unwrap();
        assert_eq!(sys1.section.tcpname, "TCPCS");
        assert_eq!(sys1.lan_address, (Ipv4Addr::new(192, 0, 2, 21), 24));
        assert_eq!(sys1.section.apps, vec![App::Echo { port: 7 }]);
        assert_eq!(topology.remotes[0].address, Ipv4Addr::new(192, 0, 2, 50));
        assert_eq!(
            topology.remotes[0].on_link,
            vec![(Ipv4Addr::new(198, 51, 100, 250), 24)]
        );
        assert_eq!(
            topology.remotes[0].section.run,
            vec![RemoteRun::EchoClient {
                target: "198.51.100.30:7".parse().unwrap(),
                connections: 2
            }]
        );
    }

    #[test]
    fn toml_errors_name_the_file_and_line() {
        let message = error_of("[sysplex]\nname = \n");
        assert!(message.starts_with("topology file lab.toml:"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let message = error_of(&GOOD.replace("apps =", "colour = 1\napps ="));
        assert!(message.contains("unknown field `colour`"), "{message}");
    }

    #[test]
    fn duplicate_and_invalid_system_names_are_refused() {
        let twice = format!("{GOOD}\n[[lpar]]\nsysname = \"SYS1\"\nprofile = \"x\"\n");
        assert!(error_of(&twice).contains("sysname SYS1 appears twice"));
        let lower = GOOD.replace("\"SYS1\"", "\"sys1\"");
        assert!(error_of(&lower).contains("not a valid system name"));
    }

    #[test]
    fn a_tap_lan_needs_a_tap_device_per_lpar() {
        let tap = GOOD.replace(
            "[[lpar]]",
            "[lan]\nkind = \"tap\"\nbridge = \"br0\"\n[[lpar]]",
        );
        assert!(error_of(&tap).contains("needs `tap = \"device\"`"));
    }

    #[test]
    fn a_missing_or_bad_profile_is_reported_with_the_lpar() {
        let missing = GOOD.replace("dvipa-lab-sys1.tcpip", "nope.tcpip");
        let message = error_of(&missing);
        assert!(message.contains("LPAR SYS1: profile"), "{message}");
        let bad = GOOD.replace("dvipa-lab-sys1.tcpip", "bad.tcpip");
        let message = error_of(&bad);
        assert!(message.contains("EZZ"), "{message}");
    }

    #[test]
    fn ipsecurity_without_a_policy_names_the_profile_line() {
        let message = error_of(&GOOD.replace("dvipa-lab-sys1.tcpip", "dvipa-owner.tcpip"));
        assert!(message.contains("LPAR SYS1: profile "), "{message}");
        assert!(
            message.contains("dvipa-owner.tcpip line 3: IPCONFIG IPSECURITY"),
            "{message}"
        );
    }

    #[test]
    fn a_policy_without_ipsecurity_is_refused() {
        let text = GOOD.replace(
            "apps = [{ kind = \"echo\"",
            "policy = \"../policies/dvipa-owner.conf\"\n        apps = [{ kind = \"echo\"",
        );
        let message = error_of(&text);
        assert!(message.contains("has no IPCONFIG IPSECURITY"), "{message}");
    }

    #[test]
    fn a_bad_policy_is_refused_with_its_file_and_line() {
        let text = GOOD.replace(
            "profile = \"dvipa-lab-sys1.tcpip\"",
            "profile = \"dvipa-owner.tcpip\"\npolicy = \"../policies/bad.conf\"",
        );
        let message = error_of(&text);
        assert!(message.contains("LPAR SYS1: "), "{message}");
        assert!(message.contains("bad.conf line "), "{message}");
    }

    #[test]
    fn an_lpar_policy_gives_its_peers_and_a_host_policy_needs_a_rule_for_the_host() {
        let text = GOOD.replace(
            "profile = \"dvipa-lab-sys1.tcpip\"",
            "profile = \"dvipa-owner.tcpip\"\npolicy = \"../policies/dvipa-owner.conf\"",
        );
        let topology = Topology::parse("lab.toml", &text, &profiles()).unwrap();
        let ipsec = topology.lpars[0].ipsec.as_ref().expect("SYS1 runs IPSec");
        assert_eq!(ipsec.peers.len(), 1);
        assert_eq!(ipsec.peers[0].remote, Ipv4Addr::new(192, 0, 2, 201));
        assert!(topology.remotes[0].ipsec.is_none());
        let host = GOOD.replace(
            "on_link =",
            "policy = \"../policies/swsa-hosts.conf\"\n        on_link =",
        );
        let message = error_of(&host);
        assert!(message.contains("remote CLIENT1: policy "), "{message}");
        assert!(message.contains("192.0.2.50"), "{message}");
    }

    #[test]
    fn the_swsa_lab_loads_with_its_ipsec_lpars_and_hosts() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/swsa-lab.toml");
        let topology = Topology::load(&path).expect("the fixture loads");
        assert_eq!(topology.sysplex.seed, 1);
        let peers: Vec<usize> = topology
            .lpars
            .iter()
            .map(|l| l.ipsec.as_ref().map_or(0, |p| p.peers.len()))
            .collect();
        assert_eq!(peers, [2, 2, 0]);
        for remote in &topology.remotes {
            let ipsec = remote.ipsec.as_ref().expect("the host runs IPSec");
            assert_eq!(ipsec.peers.len(), 1);
            assert_eq!(ipsec.peers[0].local, remote.address);
            assert!(ipsec.peers[0].autoactivate);
        }
        assert_eq!(
            topology.remotes[0].section.run,
            vec![RemoteRun::Stream {
                target: "198.51.100.10:5001".parse().unwrap(),
                bytes: 4 << 20
            }]
        );
        assert_eq!(
            topology.lpars[0].section.apps,
            vec![App::StreamSink { port: 5001 }]
        );
    }

    #[test]
    fn a_bad_remote_address_is_refused() {
        let message = error_of(&GOOD.replace("192.0.2.50/24", "192.0.2.50"));
        assert!(message.contains("remote CLIENT1"), "{message}");
    }

    #[test]
    fn zos_names_follow_the_system_name_rules() {
        assert!(is_zos_name("SYS1"));
        assert!(is_zos_name("$TCP@#1"));
        assert!(!is_zos_name("1SYS"));
        assert!(!is_zos_name("SYSTEMNINE"));
        assert!(!is_zos_name(""));
    }
}
