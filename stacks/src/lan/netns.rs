//! Linux network namespaces and child processes for the labs and benchmarks that need root:
//! namespaces with unique names, deleted when dropped (also on failure); commands and processes
//! run inside them; a child's output lines read as they come; ICMP echo from a namespace.
//!
//! Everything shells out to `ip` (iproute2) and `python3`, so the library itself stays free of
//! unsafe system calls. What a lab creates inside its own namespaces (bridges, TAP devices,
//! veths) goes away with them.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why a namespace command or lab process failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A command could not be started or its I/O failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A command failed, or a process did not print what was awaited.
    #[error("{0}")]
    Failed(String),
}

/// Namespaces made by this process so far (keeps names unique across threads).
static CREATED: AtomicU32 = AtomicU32::new(0);

/// ICMP echo without a `ping` binary: up to five requests, one a second; exits 0 on the first
/// reply.
const PING: &str = r#"
import socket, struct, sys
dst = sys.argv[1]
def checksum(b):
    total = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(1)
for seq in range(1, 6):
    body = struct.pack("!BBHHH", 8, 0, 0, 0x5A53, seq) + b"zsysplex"
    s.sendto(body[:2] + struct.pack("!H", checksum(body)) + body[4:], (dst, 0))
    try:
        while True:
            data, addr = s.recvfrom(1500)
            ihl = (data[0] & 15) * 4
            kind, _, _, ident, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if kind == 0 and ident == 0x5A53 and addr[0] == dst:
                print("reply from", dst, "seq", seq)
                sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
"#;

/// A TCP client: connects, sends the text, prints what comes back.
const ECHO_CLIENT: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
text = sys.argv[3].encode()
s.sendall(text)
back = b""
while len(back) < len(text):
    chunk = s.recv(100)
    if not chunk:
        break
    back += chunk
s.close()
sys.stdout.write(back.decode())
"#;

/// Why a namespace lab cannot run here (not root, or a command missing), or `None`.
pub fn missing_prerequisite(commands: &[&str]) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|line| line.split_whitespace().take(2).eq(["Uid:", "0"]));
    if !root {
        return Some("it needs root (network namespaces and TAP devices)".to_owned());
    }
    for command in commands {
        let probe = if *command == "ip" { "-V" } else { "--version" };
        if Command::new(command).arg(probe).output().is_err() {
            return Some(format!("it needs the `{command}` command"));
        }
    }
    None
}

/// Where strongSwan's charon is installed (Debian's strongswan-charon).
pub const CHARON: &str = "/usr/lib/ipsec/charon";

/// Why a strongSwan lab cannot run here, if it cannot: root and TUN for namespaces and
/// kernel-libipsec, `ip` and `commands`, charon, and the lab tool `swan_peer`.
pub fn missing_strongswan(swan_peer: &Path, commands: &[&str]) -> Option<String> {
    let mut needed = vec!["ip", "swanctl"];
    needed.extend_from_slice(commands);
    if let Some(why) = missing_prerequisite(&needed) {
        return Some(why);
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".to_owned());
    }
    if !Path::new(CHARON).exists() {
        return Some(format!(
            "no strongSwan ({CHARON}; apt-get install strongswan-charon strongswan-swanctl \
             libcharon-extra-plugins)"
        ));
    }
    if !swan_peer.exists() {
        return Some(format!("no lab tool at {}", swan_peer.display()));
    }
    None
}

/// Runs a command to completion; an error with its standard error if it fails.
pub fn run(args: &[&str]) -> Result<(), LabError> {
    let (program, rest) = args
        .split_first()
        .ok_or_else(|| LabError::Failed("an empty command".to_owned()))?;
    let output = Command::new(program).args(rest).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LabError::Failed(format!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// A network namespace with its loopback up and IPv6 off, plus a scratch directory that is its
/// processes' TMPDIR (so control sockets stay apart from other labs'); both deleted when
/// dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
    scratch: PathBuf,
}

impl Netns {
    /// Creates `zsys-<role>-<pid>-<n>`.
    pub fn create(role: &str) -> Result<Self, LabError> {
        let n = CREATED.fetch_add(1, Ordering::Relaxed);
        let name = format!("zsys-{role}-{}-{n}", std::process::id());
        let scratch = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&scratch)?;
        run(&["ip", "netns", "add", &name])?;
        let ns = Self { name, scratch };
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command in the namespace; an error if it fails.
    pub fn exec(&self, args: &[&str]) -> Result<(), LabError> {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command in the namespace: whether it succeeded, and its standard output.
    pub fn output(&self, args: &[&str]) -> Result<(bool, String), LabError> {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()?;
        Ok((
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ))
    }

    /// Starts a process in the namespace (`ip netns exec` replaces itself with it, so the
    /// child's pid is the process's), with piped standard streams.
    pub fn spawn(&self, args: &[&str]) -> Result<Process, LabError> {
        self.spawn_with(args, false)
    }

    /// Like [`Netns::spawn`], the process leading a new process group that is killed as a whole
    /// (for daemons that fork helpers).
    pub fn spawn_group(&self, args: &[&str]) -> Result<Process, LabError> {
        self.spawn_with(args, true)
    }

    fn spawn_with(&self, args: &[&str], group: bool) -> Result<Process, LabError> {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name])
            .args(args)
            .env("TMPDIR", &self.scratch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if group {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        Ok(Process::new(command.spawn()?, group))
    }

    /// Adds a bridge and brings it up.
    pub fn add_bridge(&self, bridge: &str) -> Result<(), LabError> {
        run(&[
            "ip", "-n", &self.name, "link", "add", bridge, "type", "bridge",
        ])?;
        run(&["ip", "-n", &self.name, "link", "set", bridge, "up"])
    }

    /// Adds a TAP device on `bridge` and brings it up.
    pub fn add_tap(&self, tap: &str, bridge: &str) -> Result<(), LabError> {
        run(&[
            "ip", "-n", &self.name, "tuntap", "add", "dev", tap, "mode", "tap",
        ])?;
        self.enslave(tap, bridge)
    }

    /// Puts `device` on `bridge` and brings it up.
    pub fn enslave(&self, device: &str, bridge: &str) -> Result<(), LabError> {
        run(&[
            "ip", "-n", &self.name, "link", "set", device, "master", bridge, "up",
        ])
    }

    /// Adds a veth pair: `local` here, `peer` in `other` with `address` (CIDR), both up.
    pub fn add_veth(
        &self,
        local: &str,
        other: &Netns,
        peer: &str,
        address: &str,
    ) -> Result<(), LabError> {
        run(&[
            "ip",
            "-n",
            &self.name,
            "link",
            "add",
            local,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            &other.name,
        ])?;
        run(&["ip", "-n", &self.name, "link", "set", local, "up"])?;
        run(&["ip", "-n", &other.name, "addr", "add", address, "dev", peer])?;
        run(&["ip", "-n", &other.name, "link", "set", peer, "up"])
    }

    /// Pings `to` from the namespace (up to five requests); whether a reply came.
    pub fn ping(&self, to: &str) -> Result<bool, LabError> {
        Ok(self.output(&["python3", "-c", PING, to])?.0)
    }

    /// Sends `text` over a new TCP connection to `to`:`port` from the namespace (an echo
    /// server's client); what came back, or `None` when the connection failed.
    pub fn echo(&self, to: &str, port: u16, text: &str) -> Result<Option<String>, LabError> {
        let port = port.to_string();
        let (ok, back) = self.output(&["python3", "-c", ECHO_CLIENT, to, &port, text])?;
        Ok(ok.then_some(back))
    }

    /// The link-layer address of the namespace's neighbour entry for `addr`, if it has one.
    pub fn neighbour_mac(&self, addr: &str) -> Result<Option<String>, LabError> {
        let (_, out) = self.output(&["ip", "neigh", "show", addr])?;
        let mut words = out.split_whitespace();
        Ok(words
            .find(|w| *w == "lladdr")
            .and_then(|_| words.next())
            .map(str::to_owned))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// A child process whose output lines (stdout and stderr) arrive as they are written; killed
/// (with its process group, if it leads one) when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    group: bool,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    fn new(mut child: Child, group: bool) -> Self {
        let (tx, lines) = mpsc::channel();
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
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
            group,
            lines,
            seen: Vec::new(),
        }
    }

    /// The process id (the process group id too, for [`Netns::spawn_group`]).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL (to the group, if it leads one) and reaps the process.
    pub fn kill(&mut self) -> Result<(), LabError> {
        if self.group {
            run(&["kill", "-KILL", "--", &format!("-{}", self.child.id())])?;
        } else {
            self.child.kill()?;
        }
        self.child.wait()?;
        Ok(())
    }

    /// Writes a line to the process's standard input.
    pub fn send_line(&mut self, line: &str) -> Result<(), LabError> {
        let stdin = self
            .child
            .stdin
            .as_mut()
            .ok_or_else(|| LabError::Failed("the process has no standard input".to_owned()))?;
        stdin.write_all(format!("{line}\n").as_bytes())?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits up to `patience` for an output line containing `needle` and returns it.
    pub fn expect(&mut self, needle: &str, patience: Duration) -> Result<String, LabError> {
        self.wait_for(needle, patience, |l| l.contains(needle))
    }

    /// Waits up to `patience` for an output line starting with `prefix` and returns it.
    pub fn line_starting(&mut self, prefix: &str, patience: Duration) -> Result<String, LabError> {
        self.wait_for(prefix, patience, |l| l.starts_with(prefix))
    }

    fn wait_for(
        &mut self,
        what: &str,
        patience: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, LabError> {
        let started = Instant::now();
        loop {
            if let Some(line) = self.seen.iter().find(|l| wanted(l)) {
                return Ok(line.clone());
            }
            let left = patience.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(LabError::Failed(format!(
                    "no line with {what:?} within {patience:?}; output: {:#?}",
                    self.seen
                )));
            }
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(LabError::Failed(format!(
                        "the process ended without a line with {what:?}; output: {:#?}",
                        self.seen
                    )));
                }
            }
        }
    }

    /// Every output line so far.
    pub fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .output();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
