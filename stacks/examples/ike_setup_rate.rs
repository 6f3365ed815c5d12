//! IKE SAs set up per second by our responder (the IKE daemon of a stack on a TAP device) and
//! by a strongSwan 5.9.8 responder (charon with kernel-libipsec), against the same initiator
//! load, side by side in one run (as root): one load generator of ours, in a namespace of its
//! own, runs IKE_SA_INIT and IKE_AUTH with the pre-shared key (AES-GCM-16, x25519, one CHILD
//! SA each, NAT-T as kernel-libipsec needs) with WINDOW handshakes in flight, for SECONDS
//! against each responder. Prints IKE SAs per second of each and the ratio (goal: ours at
//! least as fast as strongSwan).
//!
//! ```text
//! cargo run --release -p stacks --example ike_setup_rate [SECONDS] [--window N]
//! ```
//!
//! Both responders sit behind the same Linux bridge in a namespace (ours through a TAP device,
//! charon's namespace through a veth), and both are told not to ask for cookies or block the
//! generator at this load (our half-open limit; charon's `cookie_threshold` and
//! `block_threshold`, with a larger `ikesa_table_size`). SAs are left in place, as clients
//! that stay connected. Without root or strongSwan it says why and stops.

#[path = "common/lab.rs"]
mod lab;

use std::collections::HashMap;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ike::daemon::{IkeDaemon, Peer, ProposalFamily};
use ike::sa::{Action, IkeSa, IkeSaConfig, RetransmitPolicy};
use ike::wire::{Header, Port4500, classify_port_4500};
use rand::SeedableRng;
use rand::rngs::StdRng;
use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::ipsec::IpsecService;
use stacks::lan::tap::TapPort;
use stacks::profile::IpSecRule;
use stacks::stack::{Stack, StackConfig};

const GENERATOR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OURS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const SWAN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const PSK: &[u8] = b"zsysplex-ike-rate";
/// Set in the generator's own process, which runs inside its namespace.
const TARGET_VAR: &str = "IKE_SETUP_RATE_TARGET";

/// The generator's configuration towards `target`: no INITIAL_CONTACT (the SAs coexist), a
/// short first retransmission.
fn initiator_config(target: Ipv4Addr) -> IkeSaConfig {
    let mut config =
        Peer::host_to_host(GENERATOR, target, PSK, ProposalFamily::AesGcm16X25519).config;
    config.initial_contact = false;
    config.retransmit = RetransmitPolicy {
        first_timeout: Duration::from_secs(1),
        tries: 2,
    };
    config
}

/// What one generator run counted.
struct Load {
    established: u64,
    failed: u64,
    seconds: f64,
}

/// The load generator (inside its namespace): keeps `window` IKE SAs negotiating with
/// `target` for `seconds`; prints `established N failed M seconds S`.
fn generate(target: Ipv4Addr, seconds: f64, window: usize) -> Result<(), Box<dyn Error>> {
    let mut rng = StdRng::from_entropy();
    let config = initiator_config(target);
    let sockets = [500, 4500].map(|port| UdpSocket::bind(SocketAddrV4::new(GENERATOR, port)));
    let [ike, natt] = sockets;
    let sockets = [ike?, natt?];
    let (tx, rx) = mpsc::channel();
    for socket in &sockets {
        let socket = socket.try_clone()?;
        let SocketAddr::V4(to) = socket.local_addr()? else {
            return Err("the generator's sockets are IPv4".into());
        };
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0; 65_536];
            while let Ok((len, SocketAddr::V4(from))) = socket.recv_from(&mut buffer) {
                let datagram = buffer.get(..len).unwrap_or_default().to_vec();
                if tx.send((from, to, datagram)).is_err() {
                    return;
                }
            }
        });
    }
    let mut sas: HashMap<u64, IkeSa> = HashMap::new();
    let (mut established, mut failed) = (0u64, 0u64);
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let local = SocketAddrV4::new(GENERATOR, 500);
    let remote = SocketAddrV4::new(target, 500);
    let mut settle = |sa: &mut IkeSa| -> Result<bool, Box<dyn Error>> {
        let mut done = false;
        for action in sa.drain_actions() {
            match action {
                Action::SendDatagram { from, to, bytes } => {
                    let socket = &sockets[usize::from(from.port() == 4500)];
                    socket.send_to(&bytes, to)?;
                }
                Action::IkeSaEstablished(_) => {
                    established += 1;
                    done = true;
                }
                Action::IkeSaClosed(_) => {
                    failed += 1;
                    done = true;
                }
                _ => {}
            }
        }
        Ok(done)
    };
    while Instant::now() < until {
        while sas.len() < window {
            let mut sa = IkeSa::initiate(config.clone(), Instant::now(), &mut rng, local, remote)?;
            settle(&mut sa)?;
            sas.insert(sa.spis().0, sa);
        }
        let next = sas.values().filter_map(IkeSa::poll_timeout).min();
        let wait = next
            .map_or(Duration::from_millis(10), |at| {
                at.saturating_duration_since(Instant::now())
            })
            .min(until.saturating_duration_since(Instant::now()));
        if let Ok((from, to, datagram)) = rx.recv_timeout(wait) {
            let ike = match (to.port(), classify_port_4500(&datagram)) {
                (4500, Ok(Port4500::Ike(ike))) => ike,
                (4500, _) => continue,
                _ => &datagram[..],
            };
            let Ok(header) = Header::new_checked(ike) else {
                continue;
            };
            let spi = header.initiator_spi();
            if let Some(sa) = sas.get_mut(&spi) {
                let _ = sa.handle_datagram(Instant::now(), &mut rng, from, to, &datagram);
                if settle(sa)? {
                    sas.remove(&spi);
                }
            }
        }
        let now = Instant::now();
        let due: Vec<u64> = sas
            .iter()
            .filter(|(_, sa)| sa.poll_timeout().is_some_and(|at| at <= now))
            .map(|(spi, _)| *spi)
            .collect();
        for spi in due {
            if let Some(sa) = sas.get_mut(&spi) {
                sa.handle_timeout(now, &mut rng)?;
                if settle(sa)? {
                    sas.remove(&spi);
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("established {established} failed {failed} seconds {seconds:.3}");
    Ok(())
}

/// Runs the generator in namespace `ns` against `target`.
fn load(ns: &str, target: Ipv4Addr, seconds: f64, window: usize) -> Result<Load, Box<dyn Error>> {
    let output = lab::run(
        Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(std::env::current_exe()?)
            .arg(seconds.to_string())
            .args(["--window", &window.to_string()])
            .env(TARGET_VAR, target.to_string()),
    )?;
    let words: Vec<&str> = output.split_whitespace().collect();
    let number = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .ok_or_else(|| format!("no '{key}' in the generator's report: {output}"))
    };
    Ok(Load {
        established: number("established")?.parse()?,
        failed: number("failed")?.parse()?,
        seconds: number("seconds")?.parse()?,
    })
}

#[allow(clippy::cast_precision_loss)]
fn rate(load: &Load) -> f64 {
    load.established as f64 / load.seconds
}

async fn measure(seconds: f64, window: usize) -> Result<(Load, Load), Box<dyn Error>> {
    let mut lab = lab::Lab::new("zi")?;
    let generator = lab.host("g", "192.0.2.1/24")?;

    // Our responder: a stack on a TAP device on the bridge, with its IKE daemon.
    let port = TapPort::open(&lab.name("t"))?;
    lab::attach(&lab.link(), port.name())?;
    let mut config = StackConfig::new(
        "TCPCS",
        EthernetAddress([2, 0, 0x5e, 0, 0, 0x0b]),
        vec![Ipv4Cidr::new(OURS, 24)],
    );
    config.ip_mtu = 1400;
    let (stack, _task) = Stack::spawn(config, Box::new(port))?;
    let peer = Peer::host_to_host(OURS, GENERATOR, PSK, ProposalFamily::AesGcm16X25519);
    let mut daemon = IkeDaemon::new(vec![peer], StdRng::from_entropy());
    daemon.set_half_open_limit(10 * window);
    let rules = vec![IpSecRule::permit_all()];
    let ipsec = IpsecService::start(&stack, rules, daemon, 1).await?;
    let ns = generator.clone();
    let ours = tokio::task::spawn_blocking(move || {
        load(&ns, OURS, seconds, window).map_err(|e| e.to_string())
    })
    .await??;
    let tunnels = ipsec.daemon_state().ike_tunnels.len();
    eprintln!("ours: {tunnels} IKE SAs held at the end");
    drop(ipsec);

    // strongSwan's responder, in a namespace of its own on the same bridge.
    let swan = lab.host("s", "192.0.2.12/24")?;
    let limit = (10 * window).to_string();
    let block = format!("block_threshold={limit}");
    let cookie = format!("cookie_threshold={limit}");
    let mut options = lab::peer_options(
        &swan,
        "192.0.2.12",
        "192.0.2.1",
        PSK,
        ProposalFamily::AesGcm16X25519,
    );
    for option in [block.as_str(), &cookie, "ikesa_table_size=4096"] {
        options.extend(["--charon-opt".to_owned(), option.to_owned()]);
    }
    options.push("--respond".to_owned());
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    lab.swan_up("S", &options)?;
    let ns = generator.clone();
    let strongswan = tokio::task::spawn_blocking(move || {
        load(&ns, SWAN, seconds, window).map_err(|e| e.to_string())
    })
    .await??;
    let listed = lab.swan(&["sas", "S"])?;
    eprintln!(
        "strongSwan: {} IKE SAs held at the end",
        listed.matches("ESTABLISHED").count()
    );
    // Killed rather than stopped: a clean stop would send a DELETE for each of its SAs and
    // wait for the generator, which is gone.
    lab.swan(&["kill", "S"])?;
    Ok((ours, strongswan))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let window: usize = args
        .iter()
        .position(|a| a == "--window")
        .and_then(|i| args.get(i + 1))
        .and_then(|w| w.parse().ok())
        .unwrap_or(16);
    if let Ok(target) = std::env::var(TARGET_VAR) {
        return generate(target.parse()?, seconds, window);
    }
    if let Some(reason) = lab::skip_reason() {
        eprintln!("skipped: {reason} (the responders run in network namespaces)");
        return Ok(());
    }
    let (ours, swan) = measure(seconds, window).await?;
    println!(
        "IKE SAs set up per second (IKE_SA_INIT + IKE_AUTH, PSK, AES-GCM-16 + x25519, one CHILD SA each), {window} in flight, {seconds} s each:"
    );
    println!("| responder | established | failed | seconds | IKE SAs/s |");
    println!("|---|---|---|---|---|");
    for (name, load) in [
        ("our IKE daemon (stack on TAP)", &ours),
        ("strongSwan 5.9.8 charon (veth)", &swan),
    ] {
        println!(
            "| {name} | {} | {} | {:.3} | {:.0} |",
            load.established,
            load.failed,
            load.seconds,
            rate(load)
        );
    }
    println!(
        "| ratio ours / strongSwan | | | | {:.2} (goal: at least 1) |",
        rate(&ours) / rate(&swan)
    );
    Ok(())
}
