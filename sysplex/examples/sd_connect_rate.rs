//! New TCP connections per second through the Sysplex Distributor to remote targets, and
//! straight to one stack, in the same run on the embedded lab of
//! `fixtures/topologies/sd-bench.toml` (SYS1 distributes 198.51.100.10 port 7 by ROUNDROBIN to
//! SYS2 and SYS3 over dynamic XCF; four remote hosts on the in-memory LAN).
//!
//! Each remote host runs the same number of workers (1 by default); a worker connects, waits
//! for the connection to be established, closes it and waits for the server's FIN, over and
//! over for the measuring window. Connections per second count established connections; a
//! connection refused (the echo server's backlog of 8 full) is counted apart and retried, and
//! so is a connect the host had no ephemeral port for (all 16,384 taken, mostly by connections
//! waiting out the host's 1 s TIME_WAIT), retried after 1 ms.
//!
//! ```sh
//! cargo run --release -p sysplex --example sd_connect_rate [WORKERS_PER_HOST] [SECONDS]
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stacks::stack::tcp::Received;
use stacks::stack::{StackError, StackHandle};
use sysplex::lab::Lab;
use sysplex::topology::Topology;

const DVIPA: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 7);
const SYS2: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 22), 7);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let workers: usize = args.next().map_or(Ok(1), |a| a.parse())?;
    let seconds: f64 = args.next().map_or(Ok(2.0), |a| a.parse())?;
    let window = Duration::from_secs_f64(seconds);
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/sd-bench.toml");
    let lab = Lab::start(Topology::load(&path)?).await?;
    let sys1 = lab.lpar("SYS1").ok_or_else(|| anyhow::anyhow!("no SYS1"))?;
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let candidates = sys1.dvipa.distributor().candidates(*DVIPA.ip(), 7);
            if candidates.len() == 2 && candidates.iter().all(|c| c.available) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if ready.is_err() {
        anyhow::bail!("SYS1 did not get two ready targets");
    }
    let hosts: Vec<(StackHandle, Ipv4Addr)> = lab
        .remotes()
        .iter()
        .map(|r| (r.stack.clone(), r.address))
        .collect();

    println!(
        "New connections per second, {} hosts x {workers} workers, {seconds} s each, in-memory LAN",
        hosts.len()
    );
    println!();
    println!(
        "{:<44} {:>12} {:>8} {:>8} {:>10} {:>10}",
        "path", "connections", "refused", "no port", "seconds", "conn/s"
    );
    let straight = measure(&hosts, workers, SYS2, window).await?;
    print_row("straight to SYS2 (192.0.2.22:7)", straight);
    let distributed = measure(&hosts, workers, DVIPA, window).await?;
    print_row("via SYS1's distributor (198.51.100.10:7)", distributed);
    println!();
    println!(
        "ratio distributed / straight: {:.2}   (goal >= 0.8; absolute goal >= 20000 conn/s)",
        distributed.rate() / straight.rate()
    );
    let sys1 = lab.lpar("SYS1").ok_or_else(|| anyhow::anyhow!("no SYS1"))?;
    let dpt = sys1.dvipa.distributor();
    for candidate in dpt.candidates(*DVIPA.ip(), 7) {
        println!(
            "  target {}: {} connections now active",
            candidate.xcf, candidate.active
        );
    }
    lab.shutdown().await;
    Ok(())
}

#[derive(Clone, Copy)]
struct Measured {
    connections: u64,
    refused: u64,
    no_port: u64,
    elapsed: Duration,
}

impl Measured {
    fn rate(self) -> f64 {
        self.connections as f64 / self.elapsed.as_secs_f64()
    }
}

fn print_row(path: &str, m: Measured) {
    println!(
        "{path:<44} {:>12} {:>8} {:>8} {:>10.2} {:>10.0}",
        m.connections,
        m.refused,
        m.no_port,
        m.elapsed.as_secs_f64(),
        m.rate()
    );
}

/// Runs `workers` connect-and-close loops per host against `target` for `window`.
async fn measure(
    hosts: &[(StackHandle, Ipv4Addr)],
    workers: usize,
    target: SocketAddrV4,
    window: Duration,
) -> anyhow::Result<Measured> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let no_port = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (stack, address) in hosts {
        for _ in 0..workers {
            let (stack, address) = (stack.clone(), *address);
            let (stop, count) = (stop.clone(), count.clone());
            let (refused, no_port) = (refused.clone(), no_port.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let stream = match stack.connect_from("BENCH", address, target).await {
                        Ok(stream) => stream,
                        Err(stacks::Error::Stack(StackError::ConnectRefused { .. })) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::task::yield_now().await;
                            continue;
                        }
                        // Every ephemeral port is taken, most by connections in TIME_WAIT:
                        // the host itself, not the path, is at its limit.
                        Err(stacks::Error::Stack(StackError::NoEphemeralPort)) => {
                            no_port.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                        Err(error) => return Err(error.into()),
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                    let (mut reader, writer) = stream.split();
                    drop(writer);
                    while let Received::Data(_) = reader.recv().await {}
                }
                anyhow::Ok(())
            }));
        }
    }
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let connections = count.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    let no_port = no_port.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    // Let the closes drain and the clients' TIME_WAIT (1 s) end, so the next path starts with
    // no socket left from this one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok(Measured {
        connections,
        refused,
        no_port,
        elapsed,
    })
}
