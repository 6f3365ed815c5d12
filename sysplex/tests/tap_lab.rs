//! The per-process lab: `sysplex cf` and one `sysplex lpar` process per LPAR on TAP devices
//! in a Linux bridge, all inside a network namespace this test creates (and deletes, even on
//! failure). SIGKILL of the owner's process: the highest-ranked backup takes the DVIPA over.
//! Needs root and `ip`; skips with a message otherwise.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest the test waits for any one thing.
const PATIENCE: Duration = Duration::from_secs(20);

fn can_run() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root".to_owned());
    }
    Command::new("ip")
        .arg("-V")
        .output()
        .map_err(|e| format!("no ip command: {e}"))?;
    Ok(())
}

/// A network namespace, deleted when dropped.
struct Netns(String);

impl Netns {
    fn create() -> Self {
        let name = format!("zsys-tap-{}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        Self(name)
    }

    fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.0];
        full.extend_from_slice(args);
        run(&full);
    }

    fn spawn(&self, args: &[&str]) -> Process {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        Process::new(child)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect("runs");
    assert!(status.success(), "{args:?} failed");
}

/// A child process whose output lines arrive on a channel; killed when dropped.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    fn new(mut child: Child) -> Self {
        let (tx, lines) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for an output line containing `needle`.
    fn expect(&mut self, needle: &str) {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if self.seen.iter().any(|l| l.contains(needle)) {
                return;
            }
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(line);
            }
        }
        panic!("no line with {needle:?}; output: {:#?}", self.seen);
    }

    fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigkill_of_the_owner_process_moves_the_dvipa_to_the_top_backup() {
    if let Err(why) = can_run() {
        eprintln!("skipping the TAP lab test: {why}");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_sysplex");
    let topology =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/dvipa-tap-lab.toml");
    let topology = topology.to_str().expect("a UTF-8 path");
    let ns = Netns::create();
    ns.exec(&["ip", "link", "set", "lo", "up"]);
    ns.exec(&["ip", "link", "add", "zsysbr0", "type", "bridge"]);
    ns.exec(&["ip", "link", "set", "zsysbr0", "up"]);
    for tap in ["zsys1", "zsys2", "zsys3"] {
        ns.exec(&["ip", "tuntap", "add", "dev", tap, "mode", "tap"]);
        ns.exec(&["ip", "link", "set", tap, "master", "zsysbr0", "up"]);
    }
    let mut cf = ns.spawn(&[binary, "cf", "--topology", topology]);
    cf.expect("CF listening on 127.0.0.1:7420");
    let lpar =
        |sysname: &str| ns.spawn(&[binary, "lpar", "--topology", topology, "--sysname", sysname]);
    let mut sys1 = lpar("SYS1");
    sys1.expect("EZD1176I TCPCS HAS SUCCESSFULLY JOINED THE TCP/IP SYSPLEX GROUP EZBTCP22");
    let mut sys2 = lpar("SYS2");
    let mut sys3 = lpar("SYS3");
    sys2.expect("EZD1176I");
    sys3.expect("EZD1176I");

    sys1.child.kill().expect("SIGKILL SYS1");
    sys2.expect("EZZ8301I VIPA 198.51.100.30 TAKEN OVER FROM TCPCS ON SYS1");
    assert!(
        !sys3.drain().iter().any(|l| l.contains("EZZ8301I")),
        "the rank 50 backup took over: {:#?}",
        sys3.seen
    );
}
