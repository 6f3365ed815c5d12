//! TAP lab, as root: two stacks on TAP devices bridged, in a lab network namespace, with a Linux
//! "host" namespace. The host pings a stack, talks to its echo server over TCP, then sees a
//! DVIPA move from stack A to stack B: its neighbour entry follows the gratuitous ARP, and a new
//! connection reaches B. Skips (passing, with a message) without root or /dev/net/tun.
//!
//! ```text
//!   host netns: veth 192.0.2.50 ──┐
//!   lab netns:  bridge br0 ───────┼── TAP A (stack A, 192.0.2.11)
//!                                 └── TAP B (stack B, 192.0.2.12)    DVIPA 192.0.2.100
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command as SyncCommand;
use std::time::Duration;

use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::echo::EchoServer;
use stacks::lan::tap::TapPort;
use stacks::stack::{Stack, StackConfig, StackHandle};
use tokio::process::Command;

const A_HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const B_HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const HOST: &str = "192.0.2.50/24";
const DVIPA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

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

fn skip_reason() -> Option<&'static str> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|line| line.split_whitespace().take(2).eq(["Uid:", "0"]));
    if !root {
        return Some("not root");
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun");
    }
    if SyncCommand::new("ip").arg("-V").output().is_err() {
        return Some("no `ip` command");
    }
    None
}

/// Runs a command to completion; panics with its output if it fails.
fn run(args: &[&str]) {
    let output = SyncCommand::new(args[0])
        .args(&args[1..])
        .output()
        .expect("command runs");
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The namespaces of one lab run; deleted on drop, also when the test fails.
struct Namespaces {
    lab: String,
    host: String,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [&self.lab, &self.host] {
            let _ = SyncCommand::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn namespaces(tag: &str) -> Namespaces {
    let ns = Namespaces {
        lab: format!("zdlab{tag}"),
        host: format!("zdhost{tag}"),
    };
    run(&["ip", "netns", "add", &ns.lab]);
    run(&["ip", "netns", "add", &ns.host]);
    for name in [&ns.lab, &ns.host] {
        run(&[
            "ip",
            "netns",
            "exec",
            name,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
        ]);
        run(&["ip", "-n", name, "link", "set", "lo", "up"]);
    }
    run(&["ip", "-n", &ns.lab, "link", "add", "br0", "type", "bridge"]);
    run(&["ip", "-n", &ns.lab, "link", "set", "br0", "up"]);
    run(&[
        "ip", "-n", &ns.lab, "link", "add", "tohost", "type", "veth", "peer", "name", "eth0",
        "netns", &ns.host,
    ]);
    run(&[
        "ip", "-n", &ns.lab, "link", "set", "tohost", "master", "br0", "up",
    ]);
    run(&["ip", "-n", &ns.host, "addr", "add", HOST, "dev", "eth0"]);
    run(&["ip", "-n", &ns.host, "link", "set", "eth0", "up"]);
    ns
}

/// Starts a stack on a new TAP device, moved into the lab namespace and put on its bridge.
fn tap_stack(
    ns: &Namespaces,
    tap: &str,
    name: &str,
    mac: EthernetAddress,
    home: Ipv4Addr,
) -> StackHandle {
    let port = TapPort::open(tap).expect("TAP device opens");
    run(&["ip", "link", "set", port.name(), "netns", &ns.lab]);
    run(&[
        "ip",
        "-n",
        &ns.lab,
        "link",
        "set",
        port.name(),
        "master",
        "br0",
        "up",
    ]);
    let config = StackConfig::new(name, mac, vec![Ipv4Cidr::new(home, 24)]);
    Stack::spawn(config, Box::new(port))
        .expect("stack starts")
        .0
}

async fn in_host(ns: &Namespaces, args: &[&str]) -> (bool, String) {
    let output = Command::new("ip")
        .args(["netns", "exec", &ns.host])
        .args(args)
        .output()
        .await
        .expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

async fn echo_from_host(ns: &Namespaces, to: Ipv4Addr, text: &str) -> String {
    let (ok, out) = in_host(
        ns,
        &["python3", "-c", ECHO_CLIENT, &to.to_string(), "7", text],
    )
    .await;
    assert!(ok, "echo client failed");
    out
}

async fn host_neighbour(ns: &Namespaces, addr: Ipv4Addr) -> String {
    in_host(ns, &["ip", "neigh", "show", &addr.to_string()])
        .await
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_host_talks_to_stacks_on_tap_and_follows_a_dvipa_move() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipping the TAP lab test: {reason} (it needs root, /dev/net/tun and iproute2)");
        return;
    }
    let tag = format!("{:05}", std::process::id() % 100_000);
    let ns = namespaces(&tag);
    let (mac_a, mac_b) = (
        EthernetAddress([0x02, 0, 0x5e, 0, 0, 0x0a]),
        EthernetAddress([0x02, 0, 0x5e, 0, 0, 0x0b]),
    );
    let a = tap_stack(&ns, &format!("zdta{tag}"), "TCPCSA", mac_a, A_HOME);
    let b = tap_stack(&ns, &format!("zdtb{tag}"), "TCPCSB", mac_b, B_HOME);
    let echo_a = EchoServer::start(&a, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7))
        .await
        .unwrap();
    let echo_b = EchoServer::start(&b, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7))
        .await
        .unwrap();

    let (pinged, out) = in_host(&ns, &["python3", "-c", PING, &A_HOME.to_string()]).await;
    assert!(pinged, "host cannot ping stack A: {out}");
    assert_eq!(echo_from_host(&ns, A_HOME, "hello A").await, "hello A");

    a.activate_dvipa(DVIPA).await.unwrap();
    assert_eq!(echo_from_host(&ns, DVIPA, "to A").await, "to A");
    assert!(
        host_neighbour(&ns, DVIPA)
            .await
            .contains("02:00:5e:00:00:0a")
    );
    assert_eq!(echo_a.stats().connections(), 2);

    a.deactivate_dvipa(DVIPA).await.unwrap();
    b.activate_dvipa(DVIPA).await.unwrap();
    // Linux follows a gratuitous ARP for an existing entry, except within `locktime` (1 s) of
    // the last update; the repeated bursts (2 s, 4 s) cover that. Give up after 15 s.
    let moved_at = std::time::Instant::now();
    let mut neighbour = String::new();
    for _ in 0..75 {
        neighbour = host_neighbour(&ns, DVIPA).await;
        if neighbour.contains("02:00:5e:00:00:0b") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        neighbour.contains("02:00:5e:00:00:0b"),
        "host neighbour entry did not follow: {neighbour}"
    );
    eprintln!(
        "host neighbour entry for {DVIPA} followed the move after {:?}",
        moved_at.elapsed()
    );
    assert_eq!(echo_from_host(&ns, DVIPA, "to B").await, "to B");
    assert_eq!(
        (echo_a.stats().connections(), echo_b.stats().connections()),
        (2, 1)
    );
}
