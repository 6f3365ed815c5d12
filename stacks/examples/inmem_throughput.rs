//! TCP throughput between two stacks on the in-memory switch, with the checksummed stream apps:
//! `cargo run --release -p stacks --example inmem_throughput [MEBIBYTES] [BUFFER_KIB]`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::stream::{SinkServer, run_source};
use stacks::lan::switch::EthernetSwitch;
use stacks::stack::{Stack, StackConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), stacks::Error> {
    let mut args = std::env::args().skip(1);
    let mebibytes: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let buffer_kib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let switch = EthernetSwitch::new();
    let spawn = |name: &str, last: u8, addr: Ipv4Addr| {
        let mut config = StackConfig::new(
            name,
            EthernetAddress([2, 0, 0x5e, 0, 0, last]),
            vec![Ipv4Cidr::new(addr, 24)],
        );
        config.tcp.buffer_size = buffer_kib * 1024;
        Stack::spawn(config, Box::new(switch.port())).map(|(handle, _task)| handle)
    };
    let sender = spawn("TCPCSA", 0x0a, Ipv4Addr::new(192, 0, 2, 11))?;
    let receiver = spawn("TCPCSB", 0x0b, Ipv4Addr::new(192, 0, 2, 12))?;
    let sink_at = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 12), 5001);
    let mut sink = SinkServer::start(&receiver, sink_at, 7).await?;
    let total = mebibytes << 20;
    let started = Instant::now();
    let sent = run_source(&sender, sink_at, 7, total).await?;
    let received = sink.next_report().await.expect("the sink reports");
    let seconds = started.elapsed().as_secs_f64();
    let verified = received.bytes_verified == total && received.checksum == sent.checksum;
    #[allow(clippy::cast_precision_loss)]
    let mbits = (total as f64) * 8.0 / seconds / 1e6;
    println!(
        "{mebibytes} MiB in {seconds:.3} s = {mbits:.0} Mbit/s (socket buffers {buffer_kib} KiB, verified: {verified})"
    );
    Ok(())
}
