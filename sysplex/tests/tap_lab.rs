//! The per-process lab: `sysplex cf` and one `sysplex lpar` process per LPAR on TAP devices
//! in a Linux bridge, all inside a network namespace this test creates, plus a Linux host in a
//! second namespace on a veth into the bridge (both deleted, even on failure). The host pings
//! the DVIPA and holds TCP connections to its echo app; SIGKILL of the owner's process: the
//! highest-ranked backup takes the DVIPA over, the host's neighbour entry follows its gratuitous
//! ARP, and new connections reach the backup. Needs root, `ip` and `python3`; skips with a
//! message otherwise. A second, shorter test kills the owner right after the joins and checks only
//! that the highest-ranked backup takes over.
//!
//! ```text
//!   host netns: eth0 192.0.2.50/24, 198.51.100.0/24 on-link ──┐
//!   lab netns:  bridge zsysbr0 ───────────────────────────────┼── zsys1 (SYS1, 192.0.2.21)
//!                                                             ├── zsys2 (SYS2, 192.0.2.22)
//!                                                             └── zsys3 (SYS3, 192.0.2.23)
//!   DVIPA 198.51.100.30: owner SYS1, backups SYS2 (rank 150) and SYS3 (rank 50)
//! ```

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest the test waits for any one thing.
const PATIENCE: Duration = Duration::from_secs(20);

/// The DVIPA of the topology and the port of the LPARs' echo app.
const DVIPA: &str = "198.51.100.30";
const ECHO_PORT: &str = "7";
/// The host's LAN address; it reaches the DVIPA subnet on-link from it, as the stacks reach it
/// directly (they take no ARP from senders outside their subnet).
const HOST: &str = "192.0.2.50";
/// The LAN (home) addresses of SYS1, SYS2 and SYS3 in the fixture profiles.
const HOMES: [&str; 3] = ["192.0.2.21", "192.0.2.22", "192.0.2.23"];

/// ICMP echo for the host namespace (no `ping` binary needed): up to five requests, one a
/// second; exits 0 on the first reply.
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

/// A TCP client for the host namespace: connect, send the text, print what comes back.
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

/// Holds TCP connections for the host namespace: opens `count` connections and echoes one
/// text on each (`ECHO <i> <text>`), prints `HOLDING`, then, after a line on stdin, sends once
/// more on each and prints `CONN <i> ALIVE|RESET|CLOSED|SILENT|ERROR`.
const HOLDER: &str = r#"
import socket, sys
def echo(s, text):
    s.sendall(text)
    back = b""
    while len(back) < len(text):
        chunk = s.recv(100)
        if not chunk:
            break
        back += chunk
    return back
conns = [socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
         for _ in range(int(sys.argv[3]))]
for i, s in enumerate(conns):
    print("ECHO", i, echo(s, b"held-%d" % i).decode(), flush=True)
print("HOLDING", flush=True)
sys.stdin.readline()
for i, s in enumerate(conns):
    s.settimeout(3)
    try:
        back = echo(s, b"after-kill")
        print("CONN", i, "ALIVE" if back == b"after-kill" else "CLOSED", flush=True)
    except (ConnectionResetError, BrokenPipeError):
        print("CONN", i, "RESET", flush=True)
    except socket.timeout:
        print("CONN", i, "SILENT", flush=True)
    except OSError as e:
        print("CONN", i, "ERROR", e, flush=True)
print("DONE", flush=True)
"#;

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
    Command::new("python3")
        .arg("-V")
        .output()
        .map_err(|e| format!("no python3: {e}"))?;
    Ok(())
}

/// A network namespace, deleted when dropped, with a scratch directory (also deleted) that is
/// its processes' TMPDIR, so the LPARs' control sockets stay apart from other labs' on the
/// machine.
struct Netns(String, PathBuf);

impl Netns {
    /// Creates `zsys-<role>-<pid>` with its loopback up and IPv6 off (no stray traffic).
    fn create(role: &str) -> Self {
        let name = format!("zsys-{role}-{}", std::process::id());
        let scratch = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&scratch).expect("creates the scratch directory");
        run(&["ip", "netns", "add", &name]);
        let ns = Self(name, scratch);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command in the namespace; whether it succeeded, and its standard output.
    fn output(&self, args: &[&str]) -> (bool, String) {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .expect("runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    /// Pings `to` with [`PING`]; whether a reply came.
    fn ping(&self, to: &str) -> bool {
        self.output(&["python3", "-c", PING, to]).0
    }

    /// The link-layer address of the neighbour entry for `addr`, if it has one.
    fn neighbour_mac(&self, addr: &str) -> Option<String> {
        let (_, out) = self.output(&["ip", "neigh", "show", addr]);
        let mut words = out.split_whitespace();
        words.find(|w| *w == "lladdr")?;
        words.next().map(str::to_owned)
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
            .env("TMPDIR", &self.1)
            .stdin(Stdio::piped())
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
        let _ = std::fs::remove_dir_all(&self.1);
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
        self.wait_for(needle, |l| l.contains(needle));
    }

    /// Waits for an output line starting with `prefix` and returns it.
    fn line_starting(&mut self, prefix: &str) -> String {
        self.wait_for(prefix, |l| l.starts_with(prefix))
    }

    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if let Some(line) = self.seen.iter().find(|l| wanted(l)) {
                return line.clone();
            }
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(line);
            }
        }
        panic!("no line with {what:?}; output: {:#?}", self.seen);
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

/// Puts a veth from the host namespace (`eth0`, [`HOST`]/24, the DVIPA subnet on-link from
/// [`HOST`]) into the lab's bridge.
fn attach_host(lab: &Netns, host: &Netns) {
    lab.exec(&[
        "ip", "link", "add", "zsyshost", "type", "veth", "peer", "name", "eth0", "netns", &host.0,
    ]);
    lab.exec(&["ip", "link", "set", "zsyshost", "master", "zsysbr0", "up"]);
    host.exec(&["ip", "addr", "add", &format!("{HOST}/24"), "dev", "eth0"]);
    host.exec(&["ip", "link", "set", "eth0", "up"]);
    host.exec(&[
        "ip",
        "route",
        "add",
        "198.51.100.0/24",
        "dev",
        "eth0",
        "scope",
        "link",
        "src",
        HOST,
    ]);
}

/// Echoes `text` over a new TCP connection from the host to the DVIPA's echo app.
fn echo_from_host(host: &Netns, text: &str) -> String {
    let (ok, out) = host.output(&["python3", "-c", ECHO_CLIENT, DVIPA, ECHO_PORT, text]);
    assert!(
        ok,
        "the host's new connection to {DVIPA} port {ECHO_PORT} failed"
    );
    out
}

#[test]
fn sigkill_of_the_owner_process_moves_the_dvipa_and_the_linux_host_follows() {
    if let Err(why) = can_run() {
        eprintln!("skipping the TAP lab test: {why}");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_sysplex");
    let topology =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/dvipa-tap-lab.toml");
    let topology = topology.to_str().expect("a UTF-8 path");
    let ns = Netns::create("tap");
    let host = Netns::create("host");
    ns.exec(&["ip", "link", "add", "zsysbr0", "type", "bridge"]);
    ns.exec(&["ip", "link", "set", "zsysbr0", "up"]);
    for tap in ["zsys1", "zsys2", "zsys3"] {
        ns.exec(&["ip", "tuntap", "add", "dev", tap, "mode", "tap"]);
        ns.exec(&["ip", "link", "set", tap, "master", "zsysbr0", "up"]);
    }
    attach_host(&ns, &host);
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

    // The host learns each LPAR's MAC from its home address, then reaches the DVIPA on SYS1.
    let macs: Vec<String> = HOMES
        .iter()
        .map(|home| {
            assert!(host.ping(home), "the host cannot ping {home}");
            host.neighbour_mac(home)
                .unwrap_or_else(|| panic!("no neighbour entry for {home}"))
        })
        .collect();
    assert!(
        macs[0] != macs[1] && macs[1] != macs[2] && macs[0] != macs[2],
        "the LPARs share a MAC: {macs:?}"
    );
    assert!(host.ping(DVIPA), "the host cannot ping the DVIPA {DVIPA}");
    assert_eq!(echo_from_host(&host, "to SYS1"), "to SYS1");
    let owner_mac = host
        .neighbour_mac(DVIPA)
        .expect("a neighbour entry for the DVIPA");
    assert_eq!(owner_mac, macs[0], "the DVIPA is not on SYS1's MAC");
    let mut held = host.spawn(&["python3", "-c", HOLDER, DVIPA, ECHO_PORT, "2"]);
    held.expect("HOLDING");
    for i in 0..2 {
        assert_eq!(
            held.line_starting(&format!("ECHO {i} ")),
            format!("ECHO {i} held-{i}")
        );
    }

    sys1.child.kill().expect("SIGKILL SYS1");
    sys2.expect("EZZ8301I VIPA 198.51.100.30 TAKEN OVER FROM TCPCS ON SYS1");
    assert!(
        !sys3.drain().iter().any(|l| l.contains("EZZ8301I")),
        "the rank 50 backup took over: {:#?}",
        sys3.seen
    );

    // SYS2's gratuitous ARPs move the host's existing neighbour entry: the host sends nothing
    // meanwhile, so it does not resolve the DVIPA afresh. (Linux ignores them within
    // `locktime`, 1 s, of the last update; the stack repeats them.)
    let started = Instant::now();
    let mut now_mac = Some(owner_mac.clone());
    while now_mac.as_ref() != Some(&macs[1]) && started.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(200));
        now_mac = host.neighbour_mac(DVIPA);
    }
    assert_eq!(
        now_mac.as_ref(),
        Some(&macs[1]),
        "the host's neighbour entry for {DVIPA} did not move to SYS2 (SYS1 {}, SYS3 {})",
        macs[0],
        macs[2]
    );
    eprintln!(
        "host neighbour entry for {DVIPA} moved to SYS2 after {:?}",
        started.elapsed()
    );

    // The connections held to SYS1 are gone: SYS2 resets them or nothing answers.
    held.child
        .stdin
        .as_mut()
        .expect("the holder's stdin")
        .write_all(b"go\n")
        .expect("tells the holder to send");
    held.expect("DONE");
    for i in 0..2 {
        let outcome = held.line_starting(&format!("CONN {i} "));
        assert!(
            !outcome.ends_with("ALIVE"),
            "a connection to the killed owner still echoes: {outcome}"
        );
        eprintln!("held connection after the takeover: {outcome}");
    }

    assert!(host.ping(DVIPA), "the host cannot ping the DVIPA on SYS2");
    assert_eq!(echo_from_host(&host, "to SYS2"), "to SYS2");
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
    let ns = Netns::create("sk");
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
