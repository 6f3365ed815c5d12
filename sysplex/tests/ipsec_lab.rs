//! IPSec in the embedded lab, no privileges: the SWSA lab of `fixtures/topologies/swsa-lab.toml`
//! starts with IPSec on its three LPARs, both remote IPSec hosts negotiate their IKE and
//! CHILD SAs with SYS1 (the owner of the distributed DVIPA), a checksummed stream from each
//! crosses ESP to SYS1's sink with every byte verified, and the operator console's `ipsec`
//! displays show the tunnels. Then ten and a hundred hosts built in code do the same, and
//! the seeds make the SAs repeat. Real time (the lab's CF runs on loopback); every wait has a generous
//! bound so that a broken lab fails instead of hanging.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use ike::daemon::ActivationMethod;
use stacks::apps::stream::StreamEnd;
use sysplex::ipsec::wait_for_tunnels;
use sysplex::ipsec_hosts::IpsecHosts;
use sysplex::lab::Lab;
use sysplex::topology::{RemoteRun, Topology};

const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const PORT: u16 = 5001;
/// Far beyond what any step takes; only there to turn a hang into a failure.
const BOUND: Duration = Duration::from_secs(60);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {BOUND:?}"))
}

/// `topology` with the stream sink on SYS1 only: ROUNDROBIN picks only targets with a ready
/// listener, so every stream ends on the distributor itself.
fn sink_on_sys1_only(mut topology: Topology) -> Topology {
    for lpar in &mut topology.lpars {
        if lpar.section.sysname != "SYS1" {
            lpar.section.apps.clear();
        }
    }
    topology
}

/// Waits until every remote host and SYS1 have all their tunnels up.
async fn established(lab: &mut Lab) {
    let hosts = lab.remotes().len();
    for host in lab.remotes_mut() {
        let name = host.name.clone();
        bounded(&name, host.wait_for_tunnels())
            .await
            .expect("the host runs IPSec");
    }
    let sys1 = lab.lpar_mut("SYS1").expect("SYS1 runs");
    let ipsec = sys1.ipsec.as_mut().expect("SYS1 runs IPSec");
    bounded("SYS1's tunnels", wait_for_tunnels(ipsec, hosts)).await;
}

/// How many streams start together: the sink listens with a backlog of 8, so a larger burst
/// of SYNs is refused before it accepts them.
const WAVE: usize = 5;

/// Runs every host's stream (its `run` in the topology), [`WAVE`] at a time; checks both
/// ends' reports.
async fn streams_cross_esp(lab: &mut Lab) {
    let mut streams = Vec::new();
    for (host, remote) in lab.remotes().iter().zip(&lab.topology().remotes) {
        for run in &remote.section.run {
            if let RemoteRun::Stream { target, bytes } = *run {
                streams.push((host.stack.clone(), host.address, target, bytes));
            }
        }
    }
    assert_eq!(streams.len(), lab.remotes().len(), "one stream per host");
    let mut sent = Vec::new();
    for wave in streams.chunks(WAVE) {
        let sources: Vec<_> = wave
            .iter()
            .cloned()
            .map(|(stack, from, target, bytes)| {
                let source = tokio::spawn(async move {
                    sysplex::lab::run_stream(&stack, from, target, bytes).await
                });
                (bytes, source)
            })
            .collect();
        for (bytes, source) in sources {
            let report = bounded("a stream", source)
                .await
                .expect("the source task")
                .expect("the source connects");
            assert_eq!(report.bytes_sent, bytes);
            assert_eq!(report.end, StreamEnd::Closed);
            sent.push((report.bytes_sent, report.checksum));
        }
    }
    let sys1 = lab.lpar_mut("SYS1").expect("SYS1 runs");
    let sink = sys1.apps.sink(PORT).expect("SYS1's stream sink");
    let mut received = Vec::new();
    for _ in 0..sent.len() {
        let report = bounded("a sink report", sink.next_report())
            .await
            .expect("the sink runs");
        assert_eq!(report.bytes_verified, report.bytes_received);
        assert_eq!(report.first_mismatch, None);
        assert_eq!(report.end, StreamEnd::Closed);
        received.push((report.bytes_received, report.checksum));
    }
    sent.sort_unstable();
    received.sort_unstable();
    assert_eq!(received, sent, "every byte arrived, checked, on SYS1");
    let state = sys1.ipsec.as_ref().expect("SYS1 runs IPSec").state();
    let total: u64 = sent.iter().map(|(bytes, _)| bytes).sum();
    // At most 1360 payload bytes a segment at an IP MTU of 1400: that many ESP packets in.
    assert!(
        state.counters.esp_in >= total / 1360,
        "{:?}",
        state.counters
    );
    assert_eq!(
        state
            .counters
            .drops
            .get("clear traffic that policy protects"),
        None,
        "nothing of the hosts' came in clear"
    );
}

fn swsa_lab() -> Topology {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/swsa-lab.toml");
    Topology::load(&path).expect("the fixture loads")
}

async fn console(lab: &mut Lab, line: &str) -> String {
    sysplex::console::execute(lab, line)
        .await
        .expect("the command runs")
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_remote_hosts_negotiate_with_sys1_and_stream_through_esp_to_it() {
    let mut lab = Lab::start(sink_on_sys1_only(swsa_lab()))
        .await
        .expect("the lab starts");
    established(&mut lab).await;

    let sys1 = lab.lpar("SYS1").expect("SYS1 runs");
    let ike = sys1
        .ipsec
        .as_ref()
        .expect("IPSec")
        .daemon_state()
        .ike_tunnels;
    let mut remotes: Vec<Ipv4Addr> = ike.iter().map(|t| *t.remote.ip()).collect();
    remotes.sort_unstable();
    assert_eq!(
        remotes,
        [Ipv4Addr::new(192, 0, 2, 101), Ipv4Addr::new(192, 0, 2, 102)]
    );
    assert!(ike.iter().all(|t| *t.local.ip() == DVIPA));
    assert!(ike.iter().all(|t| t.activation == ActivationMethod::Remote));
    for backup in ["SYS2", "SYS3"] {
        let lpar = lab.lpar(backup).expect("runs");
        let state = lpar.ipsec.as_ref().expect("IPSec").daemon_state();
        assert!(state.ike_tunnels.is_empty(), "{backup} negotiates nothing");
    }

    streams_cross_esp(&mut lab).await;

    let y = console(&mut lab, "RO SYS1,ipsec -y display").await;
    assert!(y.contains("SYS1  CS V2R1 ipsec  Stack Name: TCPCS"), "{y}");
    assert!(y.contains("DVIPSec:  Yes"), "{y}");
    assert_eq!(
        y.matches("TunnelID:                       Y").count(),
        2,
        "{y}"
    );
    assert!(
        y.contains("LocalDynVpnRuleName:            Dvipa-Hosts"),
        "{y}"
    );
    assert!(
        y.contains("LocalEndPoint:                  198.51.100.10"),
        "{y}"
    );
    assert!(
        y.contains("RemoteEndPoint:                 192.0.2.101"),
        "{y}"
    );
    assert!(
        y.contains("RemoteEndPoint:                 192.0.2.102"),
        "{y}"
    );
    assert!(y.contains("2 entries selected"), "{y}");
    let k = console(&mut lab, "RO SYS1,ipsec -p TCPCS -k display").await;
    assert!(
        k.contains("RemoteID:                       peer1.example.org"),
        "{k}"
    );
    assert!(
        k.contains("KeyExchangeRuleName:            Dvipa-Peer2"),
        "{k}"
    );
    assert_eq!(
        k.matches("Role:                           Responder")
            .count(),
        2,
        "{k}"
    );
    let f = console(&mut lab, "RO SYS1,ipsec -f display").await;
    assert!(f.contains("SYS1  "), "{f}");
    assert!(f.contains("192.0.2.101"), "{f}");
    let backup = console(&mut lab, "RO SYS2,ipsec -y display").await;
    assert!(backup.contains("0 entries selected"), "{backup}");
    let other = console(&mut lab, "RO SYS1,ipsec -p TCPOTHER -y display").await;
    assert_eq!(other, "SYS1  IEE341I TCPIP TCPOTHER NOT ACTIVE");
    lab.shutdown().await;
}

/// A lab of `count` hosts built in code, each streaming `bytes`: every host's tunnel comes
/// up on SYS1 and every stream crosses ESP to it.
async fn built_hosts_each_get_their_tunnel_and_stream(count: usize, bytes: u64) {
    let mut hosts = IpsecHosts::new(count);
    hosts.stream_bytes = bytes;
    let topology = sink_on_sys1_only(hosts.swsa_lab().expect("the lab builds"));
    let mut lab = Lab::start(topology).await.expect("the lab starts");
    established(&mut lab).await;
    let sys1 = lab.lpar("SYS1").expect("SYS1 runs");
    let ipsec = sys1.ipsec.as_ref().expect("IPSec");
    assert_eq!(ipsec.state().sad.children().len(), count);
    let mut remotes: Vec<_> = ipsec
        .daemon_state()
        .ike_tunnels
        .iter()
        .map(|t| *t.remote.ip())
        .collect();
    remotes.sort_unstable();
    let hosts: Vec<_> = (1..=count).map(IpsecHosts::address).collect();
    assert_eq!(remotes, hosts, "one IKE tunnel per host");
    streams_cross_esp(&mut lab).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_hosts_built_in_code_each_get_their_tunnel_and_stream() {
    built_hosts_each_get_their_tunnel_and_stream(10, 256 << 10).await;
}

/// More hosts than smoltcp's neighbor cache held before (64): SYS1 must keep every host's
/// MAC, since it learns them only from their gratuitous ARPs and sends one ARP request a
/// second at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_hosts_built_in_code_each_get_their_tunnel_and_stream() {
    built_hosts_each_get_their_tunnel_and_stream(100, 64 << 10).await;
}

/// The SPIs (IKE and ESP) SYS1 and the host negotiated in a one-host lab seeded `seed`.
async fn spis(seed: u64) -> (Vec<u64>, Vec<u32>) {
    let mut hosts = IpsecHosts::new(1);
    hosts.stream_bytes = 0;
    let mut topology = hosts.swsa_lab().expect("the lab builds");
    topology.sysplex.seed = seed;
    let mut lab = Lab::start(topology).await.expect("the lab starts");
    established(&mut lab).await;
    let sys1 = lab.lpar("SYS1").expect("SYS1 runs");
    let ipsec = sys1.ipsec.as_ref().expect("IPSec");
    let ike = ipsec.daemon_state().ike_tunnels;
    let cookies = ike.iter().flat_map(|t| [t.spis.0, t.spis.1]).collect();
    let esp = ipsec
        .state()
        .sad
        .children()
        .iter()
        .flat_map(|c| [c.inbound_spi, c.outbound_spi])
        .collect();
    lab.shutdown().await;
    (cookies, esp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topology_seed_fixes_every_spi_of_the_lab() {
    let first = spis(7).await;
    assert_eq!(spis(7).await, first, "the same seed, the same SAs");
    assert_ne!(spis(8).await, first, "another seed, other SAs");
}
