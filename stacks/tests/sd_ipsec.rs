//! Secure traffic through the Sysplex Distributor, in process, no privileges: a CF on loopback,
//! SYS1 distributing 198.51.100.10 ports 7 and 5001 to SYS2 only and running IPSec with
//! `IPSEC DVIPSEC` (its IKE daemon answers on the DVIPA), SYS2 a target without IPSec, and a
//! remote host (a smoltcp stack with our IKE daemon as initiator, NAT-T on) on an in-memory
//! switch.
//!
//! The host streams checksummed TCP through ESP-in-UDP to a sink on SYS2 and runs echo rounds
//! with SYS2: SYS1 decrypts and forwards each packet over dynamic XCF marked protected, SYS2
//! returns every reply over XCF, and SYS1 protects it with its SA and sends it out of its LAN
//! port. Every byte is verified; no clear TCP from the DVIPA crosses the LAN (watched at the
//! switch, and at the host, whose policy would drop it); SYS1's ESP counters rose.

#[allow(dead_code)]
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use common::{Lpar, PATIENCE, inline_profile, start_cf, start_lpar_with, until};
use ike::daemon::shell::DaemonState;
use ike::daemon::{IkeDaemon, Peer, ProposalFamily};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Cidr, Ipv4Packet, UdpPacket,
};
use stacks::apps::pattern::Pattern;
use stacks::apps::stream::{SinkServer, StreamEnd, send_pattern};
use stacks::dvipa::model::DvipaStatus;
use stacks::ipsec::IpsecService;
use stacks::lan::switch::{EthernetSwitch, Mirror};
use stacks::profile;
use stacks::stack::tcp::Received;
use stacks::stack::{Stack, StackConfig, StackHandle};

const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const SINK_PORT: u16 = 5001;
const ECHO_PORT: u16 = 7;
const STREAM_BYTES: u64 = 1 << 20;
const ECHO_ROUNDS: u64 = 20;
const ECHO_CHUNK: usize = 1200;
/// SYS1's LAN MAC (the common lab derives it from its HOME address 192.0.2.21).
const SYS1_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, 21]);
const PSK: &[u8] = b"zsysplex-swsa-lab";

fn xcf(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, 10 + n)
}

/// SYS1: IPSECURITY, IPSEC DVIPSEC with a permit-all default rule, the distributed DVIPA.
fn sys1_profile() -> profile::Profile {
    let text = format!(
        "IPCONFIG IPSECURITY DYNAMICXCF {} 255.255.255.0 2\n\
         IPSEC DVIPSEC\n   IPSECRULE * * NOLOG PROTOCOL *\nENDIPSEC\n\
         INTERFACE OSAQDIO1 DEFINE IPAQENET PORTNAME OSAPRT1 IPADDR 192.0.2.21/24\n\
         VIPADYNAMIC\n\
         VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.255 {DVIPA}\n\
         VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN {DVIPA} PORT {ECHO_PORT} {SINK_PORT} \
         DESTIP {}\n\
         ENDVIPADYNAMIC\n",
        xcf(1),
        xcf(2),
    );
    profile::parse("sys1.tcpip", &text).into_strict().unwrap()
}

fn peer(local: Ipv4Addr, remote: Ipv4Addr, autoactivate: bool) -> Peer {
    let mut peer = Peer::host_to_host(local, remote, PSK, ProposalFamily::AesGcm16X25519);
    peer.autoactivate = autoactivate;
    peer
}

/// The remote host: 192.0.2.50 with the DVIPA subnet on-link (as a router on the LAN), and an
/// MTU that leaves room for the ESP-in-UDP overhead on a 1500-octet LAN.
fn remote_host(switch: &EthernetSwitch) -> StackHandle {
    let mut config = StackConfig::new(
        "HOST",
        EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, 50]),
        vec![
            Ipv4Cidr::new(HOST, 24),
            Ipv4Cidr::new(Ipv4Addr::new(198, 51, 100, 250), 24),
        ],
    );
    config.seed = 50;
    config.ip_mtu = 1400;
    Stack::spawn(config, Box::new(switch.port())).unwrap().0
}

fn up(state: &DaemonState) -> bool {
    state
        .ike_tunnels
        .iter()
        .any(|t| t.established && !t.dynamic_tunnels.is_empty())
}

/// What the switch saw leave from the DVIPA.
#[derive(Debug, Default)]
struct FromDvipa {
    /// Clear TCP segments with the DVIPA as source.
    clear_tcp: AtomicU64,
    /// ESP (in UDP 4500) packets with the DVIPA as source, sent from SYS1's MAC.
    esp_from_sys1: AtomicU64,
    /// ESP packets with the DVIPA as source, sent from any other MAC.
    esp_from_others: AtomicU64,
}

/// Counts, for as long as the switch runs, the frames from the DVIPA the mirror copies.
fn watch(mut mirror: Mirror) -> Arc<FromDvipa> {
    let seen = Arc::new(FromDvipa::default());
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Some(frame) = mirror.recv().await {
            let Ok(eth) = EthernetFrame::new_checked(&frame[..]) else {
                continue;
            };
            if eth.ethertype() != EthernetProtocol::Ipv4 {
                continue;
            }
            let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
                continue;
            };
            if ip.src_addr() != DVIPA {
                continue;
            }
            let esp = match ip.next_header() {
                IpProtocol::Tcp => {
                    counts.clear_tcp.fetch_add(1, Ordering::Relaxed);
                    false
                }
                IpProtocol::IpSecEsp => true,
                IpProtocol::Udp => UdpPacket::new_checked(ip.payload()).is_ok_and(|udp| {
                    udp.src_port() == 4500 && !udp.payload().starts_with(&[0, 0, 0, 0])
                }),
                _ => false,
            };
            if esp && eth.src_addr() == SYS1_MAC {
                counts.esp_from_sys1.fetch_add(1, Ordering::Relaxed);
            } else if esp {
                counts.esp_from_others.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    seen
}

/// Rounds of [`ECHO_CHUNK`] bytes to the echo server on the DVIPA, each echoed and compared.
async fn echo_rounds(host: &StackHandle) -> u64 {
    let stream = tokio::time::timeout(
        PATIENCE,
        host.connect_from("CLIENT", HOST, SocketAddrV4::new(DVIPA, ECHO_PORT)),
    )
    .await
    .expect("echo connects in time")
    .expect("echo connects");
    let (mut reader, mut writer) = stream.split();
    let mut verified = 0;
    for round in 0..ECHO_ROUNDS {
        let data: Vec<u8> = (0..ECHO_CHUNK)
            .map(|i| u8::try_from((i as u64 * 7 + round) % 251).unwrap())
            .collect();
        writer.send(Bytes::from(data.clone())).await.expect("sends");
        let mut back = Vec::with_capacity(ECHO_CHUNK);
        while back.len() < ECHO_CHUNK {
            match tokio::time::timeout(PATIENCE, reader.recv()).await {
                Ok(Received::Data(more)) => back.extend_from_slice(&more),
                other => panic!("echo round {round}: {other:?}"),
            }
        }
        assert_eq!(back, data, "echo round {round} differs");
        verified += ECHO_CHUNK as u64;
    }
    verified
}

async fn distributes_to_sys2(sys1: &Lpar) -> bool {
    sys1.status_of(DVIPA).await == Some(DvipaStatus::Active)
        && [ECHO_PORT, SINK_PORT].iter().all(|port| {
            sys1.dvipa
                .distributor()
                .candidates(DVIPA, *port)
                .iter()
                .any(|c| c.xcf == xcf(2) && c.available)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_through_esp_to_a_target_comes_back_protected_through_the_distributor() {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let from_dvipa = watch(switch.mirror());
    let host = remote_host(&switch);
    let sys1_profile = sys1_profile();
    let rules = sys1_profile.ipsec.clone().expect("IPSEC block").rules;
    let sys1 = start_lpar_with(&cf, &switch, "SYS1", sys1_profile).await;
    let sys2 = start_lpar_with(&cf, &switch, "SYS2", inline_profile(2, "")).await;
    let mut sink = SinkServer::start(
        &sys2.stack,
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, SINK_PORT),
        7,
    )
    .await
    .expect("sink starts on SYS2");
    until("SYS1 distributes both ports to SYS2", || {
        distributes_to_sys2(&sys1)
    })
    .await;

    // IKE: SYS1 answers on the DVIPA, the host initiates.
    let sys1_daemon = IkeDaemon::new(
        vec![peer(DVIPA, HOST, false)],
        ChaCha20Rng::seed_from_u64(21),
    );
    let mut sys1_ipsec = IpsecService::start(&sys1.stack, rules, sys1_daemon, 21)
        .await
        .expect("IPSec starts on SYS1");
    let host_daemon = IkeDaemon::new(
        vec![peer(HOST, DVIPA, true)],
        ChaCha20Rng::seed_from_u64(50),
    );
    let mut host_ipsec = IpsecService::start(
        &host,
        vec![stacks::profile::IpSecRule::permit_all()],
        host_daemon,
        50,
    )
    .await
    .expect("IPSec starts on the host");
    tokio::time::timeout(PATIENCE, host_ipsec.wait_for(up))
        .await
        .expect("the host's tunnel comes up");
    tokio::time::timeout(PATIENCE, sys1_ipsec.wait_for(up))
        .await
        .expect("SYS1's tunnel comes up");

    // The checksummed stream to the sink on SYS2, and echo rounds with SYS2.
    let stream = tokio::time::timeout(
        PATIENCE,
        host.connect_from("STRMSRC", HOST, SocketAddrV4::new(DVIPA, SINK_PORT)),
    )
    .await
    .expect("the source connects in time")
    .expect("the source connects");
    let (reader, writer) = stream.split();
    let source = tokio::spawn(send_pattern(reader, writer, Pattern::new(7), STREAM_BYTES));
    let echoed = echo_rounds(&host).await;
    let sent = tokio::time::timeout(PATIENCE * 3, source)
        .await
        .expect("the stream ends in time")
        .expect("source task");
    let received = tokio::time::timeout(PATIENCE, sink.next_report())
        .await
        .expect("the sink reports in time")
        .expect("sink report");
    assert_eq!(sent.bytes_sent, STREAM_BYTES);
    assert_eq!(received.bytes_received, STREAM_BYTES);
    assert_eq!(received.bytes_verified, STREAM_BYTES);
    assert_eq!(received.first_mismatch, None);
    assert_eq!(received.checksum, sent.checksum);
    assert_eq!(received.end, StreamEnd::Closed);
    assert_eq!(echoed, ECHO_ROUNDS * ECHO_CHUNK as u64);

    // SYS2 returned its replies over XCF; SYS1 protected them and sent them out (the last
    // closing segments may still be on their way).
    until("SYS1 sent out every packet SYS2 returned", || async {
        let returned = sys2.stack.datapath_stats().await.unwrap().xcf_returned_out;
        let sys1_stats = sys1.stack.datapath_stats().await.unwrap();
        sys1_stats.xcf_returned_in == returned && sys1_stats.returned_sent == returned
    })
    .await;
    let sys2_stats = sys2.stack.datapath_stats().await.unwrap();
    let sys1_stats = sys1.stack.datapath_stats().await.unwrap();
    // At least one echoed chunk per round, and the sink's acknowledgements.
    assert!(sys2_stats.xcf_returned_out > ECHO_ROUNDS, "{sys2_stats:?}");
    assert_eq!(sys1_stats.returned_no_next_hop, 0, "{sys1_stats:?}");
    assert!(sys1_stats.stage_drops.is_empty(), "{sys1_stats:?}");
    let counters = sys1_ipsec.state().counters.clone();
    assert!(counters.esp_in > STREAM_BYTES / 1400, "{counters:?}");
    assert!(counters.esp_out >= sys1_stats.returned_sent, "{counters:?}");

    // No clear TCP from the DVIPA on the LAN: the host's policy would have dropped it, and the
    // switch saw only ESP from the DVIPA, all of it from SYS1.
    let host_counters = host_ipsec.state().counters.clone();
    assert_eq!(
        host_counters
            .drops
            .get("clear traffic that policy protects"),
        None,
        "{host_counters:?}"
    );
    // The last packets SYS1 sent may still be on their way to the host.
    until("the host took in every protected reply", || async {
        host_ipsec.state().counters.esp_in >= sys1_stats.returned_sent
    })
    .await;
    until("the mirror caught up", || async {
        from_dvipa.esp_from_sys1.load(Ordering::Relaxed) >= sys1_stats.returned_sent
    })
    .await;
    assert_eq!(from_dvipa.clear_tcp.load(Ordering::Relaxed), 0);
    assert_eq!(from_dvipa.esp_from_others.load(Ordering::Relaxed), 0);
    drop(sys2);
    drop(sys1);
}
