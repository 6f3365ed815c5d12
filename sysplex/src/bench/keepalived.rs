//! The peer of the takeover benchmark: keepalived's VRRP with `advert_int 1`. Two namespaces
//! (MASTER priority 150, BACKUP priority 100) share VIP 203.0.113.100 on a bridge, each with a
//! small TCP listener on port 7; the [probe](super::probe) in a third namespace takes the
//! MASTER's link down and SIGKILLs its keepalived (the whole process group), as when the node
//! dies (killed alone, keepalived leaves the VIP configured and the node's kernel keeps
//! answering for it); the clock starts once the link is down.
//! A fresh set of namespaces for each run.
//!
//! ```text
//!   probe 203.0.113.50 ──┐
//!   bridge ──────────────┼── master 203.0.113.11 (keepalived, VIP 203.0.113.100)
//!                        └── backup 203.0.113.12 (keepalived)
//! ```

use std::time::Duration;

use super::probe::{self, Answered, Victims};
use crate::Error;
use stacks::lan::netns::{Netns, Process};

/// The VIP and the port of the listeners.
const VIP: &str = "203.0.113.100";
const PORT: u16 = 7;

/// How long keepalived may take to reach its first state.
const PATIENCE: Duration = Duration::from_secs(20);

/// Accepts and closes connections on the port given.
const LISTENER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(512)
print("LISTENING", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"#;

/// Whether keepalived is installed.
pub(super) fn installed() -> bool {
    std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok()
}

/// The keepalived configuration of one node.
fn config(state: &str, priority: u8) -> String {
    format!(
        "global_defs {{\n  router_id ZSYS{state}\n  enable_script_security\n}}\n\
         vrrp_instance ZSYSVIP {{\n  state {state}\n  interface eth0\n  virtual_router_id 51\n  \
         priority {priority}\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP}/24 dev eth0\n  }}\n}}\n"
    )
}

/// One VRRP node: its namespace, keepalived and listener (the processes go first).
struct Node {
    keepalived: Process,
    _listener: Process,
    ns: Netns,
}

impl Node {
    fn start(
        role: &str,
        bridge: &Netns,
        address: &str,
        state: &str,
        priority: u8,
        dir: &std::path::Path,
    ) -> Result<Self, Error> {
        let ns = Netns::create(role)?;
        let port_name = format!("z{role}");
        bridge.add_veth(&port_name, &ns, "eth0", address)?;
        bridge.enslave(&port_name, "zkabr")?;
        let mut listener = ns.spawn(&["python3", "-c", LISTENER, &PORT.to_string()])?;
        listener.expect("LISTENING", PATIENCE)?;
        let file = |suffix: &str| dir.join(format!("{role}.{suffix}"));
        std::fs::write(file("conf"), config(state, priority))?;
        let paths: Vec<String> = ["conf", "pid", "vrrp.pid", "checkers.pid"]
            .iter()
            .map(|s| file(s).to_string_lossy().into_owned())
            .collect();
        let keepalived = ns.spawn_group(&[
            "keepalived",
            "--dont-fork",
            "--log-console",
            "--vrrp",
            "--use-file",
            &paths[0],
            "--pid",
            &paths[1],
            "--vrrp_pid",
            &paths[2],
            "--checkers_pid",
            &paths[3],
        ])?;
        Ok(Self {
            keepalived,
            _listener: listener,
            ns,
        })
    }
}

/// One run: the namespaces, the two nodes, the probe, the kill; checks that the backup became
/// MASTER.
pub(super) fn run_once() -> Result<Answered, Error> {
    let dir = tempfile::tempdir()?;
    let bridge = Netns::create("kabr")?;
    bridge.add_bridge("zkabr")?;
    let mut master = Node::start("kam", &bridge, "203.0.113.11/24", "MASTER", 150, dir.path())?;
    let mut backup = Node::start("kab", &bridge, "203.0.113.12/24", "BACKUP", 100, dir.path())?;
    let prober = Netns::create("kap")?;
    bridge.add_veth("zkap", &prober, "eth0", "203.0.113.50/24")?;
    bridge.enslave("zkap", "zkabr")?;
    master
        .keepalived
        .expect("Entering MASTER STATE", PATIENCE)?;
    backup
        .keepalived
        .expect("Entering BACKUP STATE", PATIENCE)?;
    let victims = Victims {
        groups: vec![master.keepalived.pid()],
        before: ["ip", "-n", master.ns.name(), "link", "set", "eth0", "down"]
            .map(str::to_owned)
            .to_vec(),
        ..Victims::default()
    };
    let answered = probe::run(&prober, VIP, PORT, &victims)?;
    backup
        .keepalived
        .expect("Entering MASTER STATE", Duration::from_secs(5))?;
    Ok(answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configures_vrrp_with_one_second_adverts_and_the_vip() {
        let text = config("BACKUP", 100);
        assert!(text.contains("state BACKUP"));
        assert!(text.contains("priority 100"));
        assert!(text.contains("advert_int 1"));
        assert!(text.contains("203.0.113.100/24 dev eth0"));
    }
}
