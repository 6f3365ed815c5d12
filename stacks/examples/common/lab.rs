//! Network namespaces and strongSwan peers for the benchmark commands that run strongSwan
//! beside our stacks (as root): a bridge in a namespace of its own is the link; strongSwan's
//! namespaces join it with veths, our stacks with TAP devices. Everything this creates is
//! removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use ike::daemon::ProposalFamily;

/// An error of the lab, as text (what failed and its output).
pub type LabError = String;

/// Why the strongSwan column cannot run here, if it cannot.
pub fn skip_reason() -> Option<String> {
    stacks::lan::netns::missing_strongswan(&swan_peer(), &[])
}

/// The lab tool `swan-peer`, in `scripts/`.
pub fn swan_peer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/swan-peer")
}

/// The `swan-peer up` options of a host-to-host peer in namespace `ns` (`local` to `remote`,
/// pre-shared key `psk`, `family`'s proposals, no MOBIKE, quiet), before any role option.
pub fn peer_options(
    ns: &str,
    local: &str,
    remote: &str,
    psk: &[u8],
    family: ProposalFamily,
) -> Vec<String> {
    let (ike, esp) = family.strongswan_proposals();
    let psk = String::from_utf8_lossy(psk);
    [
        "--ns",
        ns,
        "--local",
        local,
        "--remote",
        remote,
        "--psk",
        &psk,
        "--proposal",
        ike,
        "--esp",
        esp,
        "--mobike",
        "no",
        "--debug",
        "0",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs `command`; its standard output, or what went wrong.
pub fn run(command: &mut Command) -> Result<String, LabError> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Moves the device `device` (a TAP of ours) into namespace `link` onto its bridge `br0`.
pub fn attach(link: &str, device: &str) -> Result<(), LabError> {
    run(Command::new("ip").args(["link", "set", device, "netns", link]))?;
    let exec = |args: &[&str]| run(Command::new("ip").args(["netns", "exec", link]).args(args));
    exec(&["ip", "link", "set", device, "master", "br0"])?;
    exec(&["ip", "link", "set", device, "up"])?;
    Ok(())
}

/// The namespaces and strongSwan peers of one measurement, named after `prefix` and the
/// process ID; all removed on drop.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    /// strongSwan's state (`SWAN_LAB_DIR`).
    pub swan_dir: PathBuf,
    swans: Vec<String>,
}

impl Lab {
    /// A lab whose names start with `prefix` (two or three characters) and whose link is a
    /// bridge `br0` in the namespace [`Lab::link`].
    pub fn new(prefix: &str) -> Result<Self, LabError> {
        let prefix = format!("{prefix}{}", std::process::id());
        let mut lab = Self {
            swan_dir: std::env::temp_dir().join(format!("swan-{prefix}")),
            prefix,
            namespaces: Vec::new(),
            swans: Vec::new(),
        };
        let link = lab.namespace("l")?;
        lab.exec(&link, &["ip", "link", "add", "br0", "type", "bridge"])?;
        lab.exec(&link, &["ip", "link", "set", "br0", "up"])?;
        Ok(lab)
    }

    /// The name of the namespace `suffix` of this lab.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// The namespace holding the bridge.
    pub fn link(&self) -> String {
        self.name("l")
    }

    /// Creates namespace `suffix` with its loopback up and IPv6 off; its name.
    pub fn namespace(&mut self, suffix: &str) -> Result<String, LabError> {
        let name = self.name(suffix);
        run(Command::new("ip").args(["netns", "add", &name]))?;
        self.namespaces.push(name.clone());
        self.exec(&name, &["ip", "link", "set", "lo", "up"])?;
        self.exec(
            &name,
            &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
        )?;
        Ok(name)
    }

    /// Runs `args` in namespace `ns`.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Result<String, LabError> {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    /// Creates namespace `suffix` joined to the bridge by a veth with `address` (CIDR).
    pub fn host(&mut self, suffix: &str, address: &str) -> Result<String, LabError> {
        let ns = self.namespace(suffix)?;
        let (inside, outside) = (format!("{ns}i"), format!("{ns}o"));
        let link = self.link();
        run(Command::new("ip").args([
            "link", "add", &inside, "netns", &ns, "type", "veth", "peer", "name", &outside,
            "netns", &link,
        ]))?;
        self.exec(&link, &["ip", "link", "set", &outside, "master", "br0"])?;
        self.exec(&link, &["ip", "link", "set", &outside, "up"])?;
        self.exec(&ns, &["ip", "addr", "add", address, "dev", &inside])?;
        self.exec(&ns, &["ip", "link", "set", &inside, "up"])?;
        Ok(ns)
    }

    /// Runs `swan-peer` with `args` against this lab's state.
    pub fn swan(&self, args: &[&str]) -> Result<String, LabError> {
        run(Command::new(swan_peer())
            .args(args)
            .env("SWAN_LAB_DIR", &self.swan_dir))
    }

    /// Starts strongSwan peer `name` (`swan-peer up name ...`); it is stopped on drop.
    pub fn swan_up(&mut self, name: &str, args: &[&str]) -> Result<(), LabError> {
        std::fs::create_dir_all(&self.swan_dir).map_err(|e| e.to_string())?;
        self.swans.push(name.to_owned());
        let mut all = vec!["up", name];
        all.extend_from_slice(args);
        self.swan(&all).map(|_| ())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for name in &self.swans {
            let _ = self.swan(&["down", name]);
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.swan_dir);
    }
}
