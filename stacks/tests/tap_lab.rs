//! TAP lab, as root: two stacks on TAP devices bridged, in a lab network namespace, with a Linux
//! "host" namespace. The host pings a stack, talks to its echo server over TCP, then sees a
//! DVIPA move from stack A to stack B: its neighbour entry follows the gratuitous ARP, and a new
//! connection reaches B. A second test puts a stack on a TAP device with offload straight into
//! the host namespace: the host's TSO super-packets reach the stream sink whole and verified.
//! Skips (passing, with a message) without root or /dev/net/tun.
//!
//! ```text
//!   host netns: veth 192.0.2.50 ──┐
//!   lab netns:  bridge br0 ───────┼── TAP A (stack A, 192.0.2.11)
//!                                 └── TAP B (stack B, 192.0.2.12)    DVIPA 192.0.2.100
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::echo::EchoServer;
use stacks::apps::pattern::Pattern;
use stacks::apps::stream::SinkServer;
use stacks::lan::netns::{self, Netns, missing_prerequisite};
use stacks::lan::tap::{TapOptions, TapPort};
use stacks::stack::{Stack, StackConfig, StackHandle};

const A_HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const B_HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const HOST: &str = "192.0.2.50/24";
const DVIPA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

fn skip_reason() -> Option<String> {
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".to_owned());
    }
    missing_prerequisite(&["ip", "python3"])
}

/// The lab namespace with its bridge `br0`, and the host namespace on a veth into it; both
/// deleted on drop, also when the test fails.
struct Namespaces {
    lab: Netns,
    host: Netns,
}

fn namespaces() -> Namespaces {
    let lab = Netns::create("tlab").expect("lab namespace");
    let host = Netns::create("thost").expect("host namespace");
    lab.add_bridge("br0").expect("bridge");
    lab.add_veth("tohost", &host, "eth0", HOST).expect("veth");
    lab.enslave("tohost", "br0").expect("veth on the bridge");
    Namespaces { lab, host }
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
    netns::run(&["ip", "link", "set", port.name(), "netns", ns.lab.name()]).expect("TAP moves");
    ns.lab
        .enslave(port.name(), "br0")
        .expect("TAP on the bridge");
    let config = StackConfig::new(name, mac, vec![Ipv4Cidr::new(home, 24)]);
    Stack::spawn(config, Box::new(port))
        .expect("stack starts")
        .0
}

fn echo_from_host(ns: &Namespaces, to: Ipv4Addr, text: &str) -> String {
    ns.host
        .echo(&to.to_string(), 7, text)
        .expect("runs")
        .expect("echo client failed")
}

fn host_neighbour(ns: &Namespaces, addr: Ipv4Addr) -> Option<String> {
    ns.host.neighbour_mac(&addr.to_string()).expect("ip neigh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_host_talks_to_stacks_on_tap_and_follows_a_dvipa_move() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipping the TAP lab test: {reason}");
        return;
    }
    let tag = format!("{:05}", std::process::id() % 100_000);
    let ns = namespaces();
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

    assert!(
        ns.host.ping(&A_HOME.to_string()).expect("ping runs"),
        "host cannot ping stack A"
    );
    assert_eq!(echo_from_host(&ns, A_HOME, "hello A"), "hello A");

    a.activate_dvipa(DVIPA).await.unwrap();
    assert_eq!(echo_from_host(&ns, DVIPA, "to A"), "to A");
    assert_eq!(
        host_neighbour(&ns, DVIPA).as_deref(),
        Some("02:00:5e:00:00:0a")
    );
    assert_eq!(echo_a.stats().connections(), 2);

    a.deactivate_dvipa(DVIPA).await.unwrap();
    b.activate_dvipa(DVIPA).await.unwrap();
    // Linux follows a gratuitous ARP for an existing entry, except within `locktime` (1 s) of
    // the last update; the repeated bursts (2 s, 4 s) cover that. Give up after 15 s.
    let moved_at = std::time::Instant::now();
    let mut neighbour = None;
    for _ in 0..75 {
        neighbour = host_neighbour(&ns, DVIPA);
        if neighbour.as_deref() == Some("02:00:5e:00:00:0b") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        neighbour.as_deref(),
        Some("02:00:5e:00:00:0b"),
        "host neighbour entry did not follow"
    );
    eprintln!(
        "host neighbour entry for {DVIPA} followed the move after {:?}",
        moved_at.elapsed()
    );
    assert_eq!(echo_from_host(&ns, DVIPA, "to B"), "to B");
    assert_eq!(
        (echo_a.stats().connections(), echo_b.stats().connections()),
        (2, 1)
    );
}

/// Sends a file over one connection with `sendfile`, waits for the receiver's FIN, prints `SENT
/// <bytes>`.
const SENDER: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
with open(sys.argv[3], "rb") as f:
    sent = s.sendfile(f)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print("SENT", sent, flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_with_offload_takes_linux_super_packets_whole_and_every_byte_verifies() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipping the TAP offload test: {reason}");
        return;
    }
    const SEED: u64 = 0x00FF_10AD;
    const BYTES: u64 = 16 << 20;
    let home = Ipv4Addr::new(192, 0, 2, 2);
    let path = std::env::temp_dir().join(format!("zsysplex-offload-{}", std::process::id()));
    let mut data = vec![0u8; usize::try_from(BYTES).unwrap()];
    Pattern::new(SEED).fill(0, &mut data);
    std::fs::write(&path, &data).unwrap();
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _file = Remove(path.clone());

    let host = Netns::create("toff").expect("host namespace");
    let tap = format!("zdto{:05}", std::process::id() % 100_000);
    let port = TapPort::open_with(&tap, TapOptions { offload: true }).expect("TAP opens");
    netns::run(&["ip", "link", "set", port.name(), "netns", host.name()]).expect("TAP moves");
    host.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", &tap])
        .unwrap();
    host.exec(&["ip", "link", "set", &tap, "up"]).unwrap();
    let config = StackConfig::new(
        "TCPCSO",
        EthernetAddress([0x02, 0, 0x5e, 0, 0, 0x0c]),
        vec![Ipv4Cidr::new(home, 24)],
    );
    let (stack, _task) = Stack::spawn(config, Box::new(port)).expect("stack starts");
    let mut sink = SinkServer::start(&stack, SocketAddrV4::new(home, 5001), SEED)
        .await
        .unwrap();

    assert!(
        host.ping("192.0.2.2").expect("ping runs"),
        "no ARP or ICMP through the offload port"
    );
    let mut sender = host
        .spawn(&[
            "python3",
            "-c",
            SENDER,
            "192.0.2.2",
            "5001",
            &path.to_string_lossy(),
        ])
        .unwrap();
    let sent =
        tokio::task::spawn_blocking(move || sender.line_starting("SENT", Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("the sender finished");
    assert_eq!(sent, format!("SENT {BYTES}"));
    let report = sink.next_report().await.expect("a sink report");
    assert_eq!(report.bytes_verified, BYTES);
    assert_eq!(report.first_mismatch, None);
    let frames = stack.datapath_stats().await.unwrap().lan_frames_in;
    let segments = BYTES / 1460;
    eprintln!("{BYTES} bytes arrived in {frames} frames ({segments} MSS-sized segments)");
    assert!(
        frames < segments / 2,
        "{frames} frames for {segments} segments: the kernel did not hand over super-packets"
    );
    stack.shutdown().await;
}
