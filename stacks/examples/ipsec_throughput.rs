//! ESP throughput of one TCP stream between two stacks on the in-memory switch, each with
//! IPSec (its IKE daemon, AES-128-GCM ESP in UDP 4500 as with strongSwan's kernel-libipsec),
//! with the checksummed stream apps; `--clear` runs the same stream without IPSec:
//! `cargo run --release -p stacks --example ipsec_throughput [MEBIBYTES] [--clear]
//! [--wireshark-keys DIR]`.
//! Compare with `shared/labs/swan-peer-verify/t3-perf.sh` (strongSwan to strongSwan).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Instant;

use ike::daemon::{IkeDaemon, Peer, ProposalFamily};
use rand::SeedableRng;
use rand::rngs::StdRng;
use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::stream::{SinkServer, run_source};
use stacks::ipsec::{IpsecOptions, IpsecService};
use stacks::lan::switch::EthernetSwitch;
use stacks::profile::{AddrMatch, IpSecRule, Routing, RuleProtocol};
use stacks::stack::{Stack, StackConfig, StackHandle};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);

async fn ipsec(
    stack: &StackHandle,
    local: Ipv4Addr,
    remote: Ipv4Addr,
    initiator: bool,
    wireshark_keys: Option<PathBuf>,
) -> Result<IpsecService, stacks::Error> {
    let rules = vec![IpSecRule {
        line: 1,
        source: AddrMatch::Any,
        destination: AddrMatch::Any,
        log: false,
        protocol: RuleProtocol::Any,
        source_port: None,
        destination_port: None,
        routing: Routing::Local,
    }];
    let mut peer = Peer::host_to_host(
        local,
        remote,
        b"zsysplex-benchmark",
        ProposalFamily::AesGcm16X25519,
    );
    peer.autoactivate = initiator;
    let daemon = IkeDaemon::new(vec![peer], StdRng::from_entropy());
    let options = IpsecOptions {
        seed: u64::from(initiator),
        wireshark_keys,
    };
    IpsecService::start_with(stack, rules, daemon, options).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), stacks::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let clear = args.iter().any(|a| a == "--clear");
    let mebibytes: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(256);
    // --wireshark-keys DIR: the receiver's keys (ikev2_decryption_table, esp_sa) for Wireshark.
    let keys = args
        .iter()
        .position(|a| a == "--wireshark-keys")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let switch = EthernetSwitch::new();
    let spawn = |name: &str, last: u8, addr: Ipv4Addr| {
        let mut config = StackConfig::new(
            name,
            EthernetAddress([2, 0, 0x5e, 0, 0, last]),
            vec![Ipv4Cidr::new(addr, 24)],
        );
        // libipsec's TUN MTU, so ESP-in-UDP fits a 1500-octet LAN.
        config.ip_mtu = 1400;
        Stack::spawn(config, Box::new(switch.port())).map(|(handle, _task)| handle)
    };
    let sender = spawn("TCPCSA", 0x0a, A)?;
    let receiver = spawn("TCPCSB", 0x0b, B)?;
    let mut services = Vec::new();
    if !clear {
        services.push(ipsec(&receiver, B, A, false, keys).await?);
        let mut initiator = ipsec(&sender, A, B, true, None).await?;
        initiator
            .wait_for(|s| s.ike_tunnels.iter().any(|t| t.established))
            .await;
        services.push(initiator);
    }
    let sink_at = SocketAddrV4::new(B, 5001);
    let mut sink = SinkServer::start(&receiver, sink_at, 7).await?;
    let total = mebibytes << 20;
    let started = Instant::now();
    let sent = run_source(&sender, sink_at, 7, total).await?;
    let received = sink.next_report().await;
    let seconds = started.elapsed().as_secs_f64();
    let verified =
        received.is_some_and(|r| r.bytes_verified == total && r.checksum == sent.checksum);
    #[allow(clippy::cast_precision_loss)]
    let gbits = (total as f64) * 8.0 / seconds / 1e9;
    let esp: u64 = services.iter().map(|s| s.state().counters.esp_in).sum();
    println!(
        "{} {mebibytes} MiB in {seconds:.3} s = {gbits:.3} Gbit/s (ESP packets received {esp}, verified: {verified})",
        if clear {
            "clear"
        } else {
            "ESP AES-128-GCM in UDP"
        }
    );
    Ok(())
}
