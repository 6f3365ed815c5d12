//! ESP throughput of one TCP stream through our stacks (AES-128-GCM ESP in UDP 4500, as with
//! strongSwan's kernel-libipsec), side by side in the same run with strongSwan 5.9.8 to
//! strongSwan (kernel-libipsec, the same proposals) over the same kind of link: a Linux
//! bridge in a network namespace, which our two stacks reach through TAP devices and the two
//! strongSwan namespaces through veths. Prints Gbit/s of each and the ratio (goal: ours at
//! least 4x strongSwan's userspace ESP).
//!
//! ```text
//! cargo run --release -p stacks --example ipsec_throughput [MEBIBYTES] [--clear] [--memory]
//!                                                          [--wireshark-keys DIR]
//! ```
//!
//! Ours: the checksummed stream apps from one stack to the other, both running IPSec (their
//! IKE daemons negotiate first), each stack on a thread and runtime of its own as each
//! strongSwan peer is a process of its own; 1 MiB TCP buffers. strongSwan: `iperf3 -n MEBIBYTES` from one namespace to the
//! other through `ipsec0`, the receiver's rate. Without root (or without strongSwan or
//! iperf3) the strongSwan column is skipped with a message and ours runs on the in-memory
//! switch; `--memory` asks for that; `--clear` runs ours without IPSec; `--wireshark-keys DIR`
//! writes the receiving stack's keys for Wireshark.

#[path = "common/lab.rs"]
mod lab;

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ike::daemon::{IkeDaemon, Peer, ProposalFamily};
use rand::SeedableRng;
use rand::rngs::StdRng;
use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::stream::{SinkServer, run_source};
use stacks::ipsec::{IpsecOptions, IpsecService};
use stacks::lan::LanPort;
use stacks::lan::switch::EthernetSwitch;
use stacks::lan::tap::TapPort;
use stacks::profile::IpSecRule;
use stacks::stack::{Stack, StackConfig, StackHandle};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const PSK: &[u8] = b"zsysplex-benchmark";
/// TCP socket buffers of our stacks (window scaling), as Linux autotunes its own for iperf3.
const TCP_BUFFER: usize = 1 << 20;

async fn ipsec(
    stack: &StackHandle,
    local: Ipv4Addr,
    remote: Ipv4Addr,
    initiator: bool,
    wireshark_keys: Option<PathBuf>,
) -> Result<IpsecService, stacks::Error> {
    let rules = vec![IpSecRule::permit_all()];
    let mut peer = Peer::host_to_host(local, remote, PSK, ProposalFamily::AesGcm16X25519);
    peer.autoactivate = initiator;
    let daemon = IkeDaemon::new(vec![peer], StdRng::from_entropy());
    let options = IpsecOptions {
        seed: u64::from(initiator),
        wireshark_keys,
    };
    IpsecService::start_with(stack, rules, daemon, options).await
}

/// Where our two stacks are plugged in.
#[derive(Clone)]
enum Link {
    /// The in-memory switch.
    Memory(EthernetSwitch),
    /// TAP devices named after the first field, on the bridge of the namespace in the second.
    Tap(String, String),
}

impl Link {
    /// A port for stack `name`; inside the runtime that will poll it.
    fn port(&self, name: &str) -> Result<Box<dyn LanPort>, Box<dyn Error>> {
        match self {
            Self::Memory(switch) => Ok(Box::new(switch.port())),
            Self::Tap(prefix, link) => {
                let port = TapPort::open(&format!("{prefix}{name}"))?;
                lab::attach(link, port.name())?;
                Ok(Box::new(port))
            }
        }
    }
}

fn spawn_stack(
    link: &Link,
    name: &str,
    last: u8,
    addr: Ipv4Addr,
) -> Result<StackHandle, Box<dyn Error>> {
    let mut config = StackConfig::new(
        name,
        EthernetAddress([2, 0, 0x5e, 0, 0, last]),
        vec![Ipv4Cidr::new(addr, 24)],
    );
    // libipsec's TUN MTU, so ESP-in-UDP fits a 1500-octet LAN.
    config.ip_mtu = 1400;
    config.tcp.buffer_size = TCP_BUFFER;
    let port = link.port(&format!("t{last}"))?;
    Ok(Stack::spawn(config, port).map(|(handle, _task)| handle)?)
}

/// What the receiving stack reports: the sink's (bytes verified, checksum), if it saw the
/// stream end, and the ESP packets taken in.
type Received = (Option<(u64, u64)>, u64);

/// The receiving stack, on a thread and runtime of its own (each strongSwan peer is a process
/// of its own too): IPSec as responder and the sink; sends `ready` once listening, then
/// returns the sink's bytes verified and checksum, and the ESP packets it took in.
fn receiver(
    link: Link,
    clear: bool,
    keys: Option<PathBuf>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) -> std::thread::JoinHandle<Result<Received, String>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let setup = async {
                let stack = spawn_stack(&link, "TCPCSB", 0x0b, B)?;
                let service = if clear {
                    None
                } else {
                    Some(ipsec(&stack, B, A, false, keys).await?)
                };
                let sink = SinkServer::start(&stack, SocketAddrV4::new(B, 5001), 7).await?;
                Ok::<_, Box<dyn Error>>((stack, service, sink))
            };
            let (_stack, service, mut sink) = match setup.await {
                Ok(parts) => parts,
                Err(error) => {
                    let _ = ready.send(Err(error.to_string()));
                    return Err(error.to_string());
                }
            };
            let _ = ready.send(Ok(()));
            let report = sink.next_report().await;
            let esp = service.map_or(0, |s| s.state().counters.esp_in);
            Ok((report.map(|r| (r.bytes_verified, r.checksum)), esp))
        })
    })
}

/// One stream of `mebibytes` through our two stacks; Gbit/s and a line of detail.
async fn ours(
    link: &Link,
    mebibytes: u64,
    clear: bool,
    keys: Option<PathBuf>,
) -> Result<(f64, String), Box<dyn Error>> {
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let far = receiver(link.clone(), clear, keys, ready_tx);
    ready.recv()??;
    let sender = spawn_stack(link, "TCPCSA", 0x0a, A)?;
    let mut service = None;
    if !clear {
        let mut initiator = ipsec(&sender, A, B, true, None).await?;
        let up = initiator.wait_for(|s| s.ike_tunnels.iter().any(|t| t.established));
        tokio::time::timeout(Duration::from_secs(10), up)
            .await
            .map_err(|_| "our IKE SA did not come up")?;
        service = Some(initiator);
    }
    let sink_at = SocketAddrV4::new(B, 5001);
    let total = mebibytes << 20;
    let started = Instant::now();
    let sent = run_source(&sender, sink_at, 7, total).await?;
    let (received, esp) = tokio::task::spawn_blocking(move || far.join())
        .await?
        .map_err(|_| "the receiving stack's thread panicked")??;
    let seconds = started.elapsed().as_secs_f64();
    if received != Some((total, sent.checksum)) {
        return Err("our stream arrived incomplete or changed".into());
    }
    drop(service);
    Ok((
        gbits(total, seconds),
        format!("{mebibytes} MiB in {seconds:.3} s, checksum verified, {esp} ESP packets in"),
    ))
}

#[allow(clippy::cast_precision_loss)]
fn gbits(bytes: u64, seconds: f64) -> f64 {
    (bytes as f64) * 8.0 / seconds / 1e9
}

/// One `iperf3` stream of `mebibytes` between two strongSwan peers; Gbit/s and a line of detail.
fn strongswan(mebibytes: u64) -> Result<(f64, String), Box<dyn Error>> {
    let mut lab = lab::Lab::new("zs")?;
    let a = lab.host("a", "192.0.2.1/24")?;
    let b = lab.host("b", "192.0.2.2/24")?;
    let up = |lab: &mut lab::Lab, name: &str, ns: &str, local: &str, remote: &str, role: &str| {
        let mut options = lab::peer_options(ns, local, remote, PSK, ProposalFamily::AesGcm16X25519);
        options.push(role.to_owned());
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        lab.swan_up(name, &options)
    };
    up(&mut lab, "B", &b, "192.0.2.2", "192.0.2.1", "--respond")?;
    up(&mut lab, "A", &a, "192.0.2.1", "192.0.2.2", "--initiate")?;
    let mut server = Command::new("ip")
        .args(["netns", "exec", &b, "iperf3", "-s", "-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    let bytes = format!("{mebibytes}M");
    let report = lab.exec(&a, &["iperf3", "-c", "192.0.2.2", "-n", &bytes, "-J"]);
    let _ = server.kill();
    let _ = server.wait();
    let report = report?;
    let bits = received_bits_per_second(&report)
        .ok_or_else(|| format!("no receiver rate in iperf3's report:\n{report}"))?;
    let sas = lab.swan(&["sas", "A"])?;
    if !sas.contains("ESP:AES_GCM_16-128") {
        return Err(format!("strongSwan's CHILD SA is not AES-GCM-16-128:\n{sas}").into());
    }
    Ok((
        bits / 1e9,
        format!("{mebibytes} MiB by iperf3 through ipsec0, ESP:AES_GCM_16-128 in UDP"),
    ))
}

/// The receiver's `bits_per_second` in iperf3's JSON report (`end.sum_received`).
fn received_bits_per_second(json: &str) -> Option<f64> {
    let rest = &json[json.find("\"sum_received\"")?..];
    let rest = &rest[rest.find("\"bits_per_second\"")? + "\"bits_per_second\"".len()..];
    let number: String = rest
        .trim_start_matches([':', ' ', '\t'])
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        .collect();
    number.parse().ok()
}

fn iperf3_missing() -> bool {
    Command::new("iperf3")
        .arg("--version")
        .output()
        .map_or(true, |o| !o.status.success())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let clear = args.iter().any(|a| a == "--clear");
    let memory = args.iter().any(|a| a == "--memory");
    let mebibytes: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(256);
    // --wireshark-keys DIR: the receiver's keys (ikev2_decryption_table, esp_sa) for Wireshark.
    let keys = args
        .iter()
        .position(|a| a == "--wireshark-keys")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let skip = if memory {
        Some("--memory".to_owned())
    } else if clear {
        Some("--clear".to_owned())
    } else if let Some(reason) = lab::skip_reason() {
        Some(reason)
    } else if iperf3_missing() {
        Some("no iperf3 (apt-get install iperf3)".to_owned())
    } else {
        None
    };
    let what = if clear {
        "clear"
    } else {
        "ESP AES-128-GCM in UDP"
    };
    let Some(reason) = skip else {
        let bridge = lab::Lab::new("zo")?;
        let link = Link::Tap(bridge.name("t"), bridge.link());
        let (ours_gbits, ours_detail) = ours(&link, mebibytes, false, keys).await?;
        drop(bridge);
        let (swan_gbits, swan_detail) = strongswan(mebibytes)?;
        println!("One TCP stream, {what}, over a Linux bridge in a namespace:");
        println!("| path | link | Gbit/s | detail |");
        println!("|---|---|---|---|");
        println!("| our stacks (smoltcp, userspace ESP) | TAP | {ours_gbits:.3} | {ours_detail} |");
        println!("| strongSwan 5.9.8 kernel-libipsec | veth | {swan_gbits:.3} | {swan_detail} |");
        println!(
            "| ratio ours / strongSwan | | {:.2} | goal: at least 4 |",
            ours_gbits / swan_gbits
        );
        return Ok(());
    };
    eprintln!("strongSwan side by side skipped: {reason}; ours on the in-memory switch only");
    let link = Link::Memory(EthernetSwitch::new());
    let (gbits, detail) = ours(&link, mebibytes, clear, keys).await?;
    println!("our stacks, {what}, in-memory switch: {gbits:.3} Gbit/s ({detail})");
    Ok(())
}
