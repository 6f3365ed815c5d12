//! `sysplex`: runs the emulated sysplex.
//!
//! ```text
//! sysplex run [SCENARIO] [--peers N] [--topology F] [--json]
//!                                                  play a scenario embedded (no root): default
//!                                                  swsa (--peers: swsa, swsa-planned)
//! sysplex scenarios                                list the scenarios
//! sysplex console --topology F [--script FILE]     start the lab embedded, read operator commands
//! sysplex console --topology F --attach [--script FILE] [--control-dir D]
//!                                                  send them to the `sysplex lpar` processes
//! sysplex lpar --topology F --sysname SYS1 [--control-dir D]
//!                                                  one LPAR on its TAP device (CF by address),
//!                                                  commands on D/SYS1.sock
//!                                                  (D defaults to $TMPDIR/zsysplex-<plexname>)
//! sysplex cf --topology F                           the CF server the TAP lab's LPARs use
//! sysplex bench takeover [--runs N]                 DVIPA takeover time against keepalived
//! sysplex bench throughput [--mebibytes M]          TCP over TAP against Linux over veth
//! sysplex bench swsa [--peers 1,10,100,1000] [--runs N]
//!                                                  SWSA takeover of N IKE tunnels, timed
//! ```

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sysplex::scenario::{self, SCENARIOS};
use sysplex::topology::Topology;

#[derive(Debug, Parser)]
#[command(version, about = "The emulated z/OS Parallel Sysplex network")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play a scenario embedded: every system in this process, the CF on loopback.
    Run {
        /// The scenario (see `sysplex scenarios`).
        #[arg(default_value = "swsa")]
        scenario: String,
        /// Remote IPSec hosts (swsa, swsa-planned; 1 to 154, default 2).
        #[arg(long)]
        peers: Option<usize>,
        /// The topology file (dvipa; default fixtures/topologies/dvipa-lab.toml).
        #[arg(long)]
        topology: Option<PathBuf>,
        /// Print the report as one JSON document instead of the listing.
        #[arg(long)]
        json: bool,
    },
    /// List the scenarios.
    Scenarios,
    /// Start the lab embedded and run operator commands from stdin or a script.
    Console {
        /// The topology file.
        #[arg(long)]
        topology: PathBuf,
        /// Read the commands from this file instead of stdin.
        #[arg(long)]
        script: Option<PathBuf>,
        /// Start no lab: send the commands to the `sysplex lpar` processes' control sockets.
        #[arg(long)]
        attach: bool,
        /// The directory of the control sockets (default $TMPDIR/zsysplex-<plexname>).
        #[arg(long, requires = "attach")]
        control_dir: Option<PathBuf>,
    },
    /// Run one LPAR on its TAP device, with the CF given by address in the topology.
    Lpar {
        /// The topology file (TAP LAN, CF address).
        #[arg(long)]
        topology: PathBuf,
        /// The LPAR to run.
        #[arg(long)]
        sysname: String,
        /// The directory of its control socket `<SYSNAME>.sock` (default
        /// $TMPDIR/zsysplex-<plexname>).
        #[arg(long)]
        control_dir: Option<PathBuf>,
        /// Open the TAP device with checksum and TCP segmentation offload (a sender's
        /// super-packets arrive whole; the datapath cuts them for the stages that forward or
        /// encrypt).
        #[arg(long)]
        tap_offload: bool,
    },
    /// Run the CF server of a topology on its address (in-memory store).
    Cf {
        /// The topology file (its `[cf] address`).
        #[arg(long)]
        topology: PathBuf,
    },
    /// Run a benchmark: our figure and a peer's side by side, one table (the parts that need
    /// root are skipped without it).
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// DVIPA takeover time after SIGKILL of the owner (embedded lab, TAP lab) against keepalived.
    Takeover {
        /// Runs per lab.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// TCP throughput from a Linux host to our stack over TAP against Linux to Linux over veth.
    Throughput {
        /// MiB per transfer.
        #[arg(long, default_value_t = 256)]
        mebibytes: u64,
        /// Transfers per path.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Our stack's TCP buffers, in KiB (256: a 64 KiB window holds one super-packet of the
        /// sender, and then the stream stops and waits for every window update).
        #[arg(long, default_value_t = 256)]
        buffer_kib: usize,
        /// The IP MTU of both paths.
        #[arg(long, default_value_t = 1500)]
        mtu: u16,
        /// Open our TAP device without checksum and segmentation offload.
        #[arg(long)]
        no_offload: bool,
    },
    /// Sysplex-wide security associations: the backup renegotiating the owner's IKE tunnels
    /// from EZBDVIPA after SIGKILL of the owner, timed per phase (embedded lab), and against a
    /// real strongSwan peer in the TAP lab (root; skipped otherwise).
    Swsa {
        /// The tunnel counts, one row each.
        #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
        peers: Vec<usize>,
        /// Runs per count (and of the strongSwan lab).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let command = Cli::parse().command;
    runtime_for(&command)?.block_on(run(command))
}

/// The runtime a command runs on. An LPAR's stack runs on a thread of its own
/// ([`stacks::stack::Stack::spawn_on_thread`]); what else the process does (its applications,
/// the CF link, the console) runs on one more thread, as the throughput benchmark measures it:
/// on a runtime of several workers, every wake-up of an application by the stack woke one
/// idle worker, which woke another to look for more work. Everything else runs many systems
/// in one process and takes a worker per core.
fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    match command {
        Command::Lpar { .. } | Command::Bench(Bench::Throughput { .. }) => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Scenarios => {
            for (name, what) in SCENARIOS {
                println!("{name:<12} {what}");
            }
        }
        Command::Run {
            scenario,
            peers,
            topology,
            json,
        } => match scenario.as_str() {
            "swsa" | "swsa-planned" => {
                if topology.is_some() {
                    bail!("{scenario} builds its lab from swsa-lab.toml and --peers");
                }
                let cause = if scenario == "swsa" {
                    scenario::swsa::Cause::Failure
                } else {
                    scenario::swsa::Cause::Planned
                };
                run_swsa(cause, peers.unwrap_or(2), json).await?;
            }
            _ if peers.is_some() => bail!("--peers is for swsa and swsa-planned"),
            "dvipa" => run_dvipa(topology, json).await?,
            "cf-demo" => {
                if json {
                    bail!("cf-demo has no JSON report");
                }
                println!("=== Timeline");
                let report = scenario::cf_demo::run(true).await?;
                println!("\n=== Dump of {}", scenario::cf_demo::STRUCTURE);
                print!("{}", report.dump);
            }
            other => bail!("no scenario {other:?}: see `sysplex scenarios`"),
        },
        Command::Console {
            topology,
            script,
            attach: false,
            ..
        } => console(topology, script).await?,
        Command::Console {
            topology,
            script,
            attach: true,
            control_dir,
        } => attached_console(topology, script, control_dir).await?,
        Command::Lpar {
            topology,
            sysname,
            control_dir,
            tap_offload,
        } => lpar(topology, &sysname, control_dir, tap_offload).await?,
        Command::Cf { topology } => cf_server(topology).await?,
        Command::Bench(Bench::Takeover { runs }) => {
            let options = sysplex::bench::takeover::Options {
                runs,
                binary: std::env::current_exe()?,
            };
            print!("{}", sysplex::bench::takeover::run(&options).await?);
        }
        Command::Bench(Bench::Throughput {
            mebibytes,
            runs,
            buffer_kib,
            mtu,
            no_offload,
        }) => {
            let options = sysplex::bench::throughput::Options {
                mebibytes,
                runs,
                buffer_kib,
                mtu,
                offload: !no_offload,
            };
            print!("{}", sysplex::bench::throughput::run(options).await?);
        }
        Command::Bench(Bench::Swsa { peers, runs }) => {
            let options = sysplex::bench::swsa::Options {
                peers,
                runs,
                binary: std::env::current_exe()?,
            };
            print!("{}", sysplex::bench::swsa::run(&options).await?);
        }
    }
    Ok(())
}

async fn run_swsa(cause: scenario::swsa::Cause, peers: usize, json: bool) -> anyhow::Result<()> {
    let options = scenario::swsa::Options::new(cause, peers);
    if !json {
        eprintln!(
            "{}: {peers} peers, {} streams; the report follows when the run ends",
            cause.scenario(),
            peers * options.streams_per_peer()
        );
    }
    let report = scenario::swsa::run(&options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.listing());
    }
    if !report.verdict.holds {
        bail!("the {} scenario's verdict does not hold", cause.scenario());
    }
    Ok(())
}

async fn run_dvipa(topology: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let path = topology.unwrap_or_else(scenario::dvipa::default_topology);
    if !json {
        println!("=== Timeline");
    }
    let report = scenario::dvipa::run(&path, !json).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            scenario::report::listing(&[
                ("Before the owner fails", &report.before),
                ("After the takeover", &report.after_takeover),
                ("During the takeback", &report.during_takeback),
                ("After the takeback", &report.after),
            ])
        );
        println!("\n=== Clients");
        for client in &report.clients {
            println!(
                "{:<12} outage {:>8} ms  served after takeover by {:<6} {} bytes verified",
                client.name,
                client
                    .takeover_outage_ms
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0}")),
                client.served_after_takeover.as_deref().unwrap_or("-"),
                client.verified_bytes
            );
        }
        let v = &report.verdict;
        println!("\n=== Verdict: {}", if v.holds { "HOLDS" } else { "FAILS" });
        println!(
            "takeover by {} (expected {}), clients reconnected: {}, Moving seen: {}, final owner {}, \
             new connection on the owner: {}",
            v.takeover_by.as_deref().unwrap_or("-"),
            v.expected_takeover,
            v.clients_reconnected,
            v.moving_seen,
            v.final_owner.as_deref().unwrap_or("-"),
            v.new_connection_on_owner
        );
    }
    if !report.verdict.holds {
        bail!("the dvipa scenario's verdict does not hold");
    }
    Ok(())
}

/// The console's input: the script's lines, or stdin's.
fn console_input(
    script: Option<PathBuf>,
) -> anyhow::Result<Box<dyn Iterator<Item = std::io::Result<String>>>> {
    Ok(match script {
        Some(path) => {
            let file = std::fs::File::open(&path)
                .with_context(|| format!("opening script {}", path.display()))?;
            Box::new(std::io::BufReader::new(file).lines())
        }
        None => Box::new(std::io::stdin().lock().lines()),
    })
}

async fn attached_console(
    topology: PathBuf,
    script: Option<PathBuf>,
    control_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let topology = Topology::load(&topology)?;
    let dir = control_dir.unwrap_or_else(|| sysplex::console::control::default_dir(&topology));
    let mut console = sysplex::console::control::AttachedConsole::new(topology, dir);
    for line in console_input(script)? {
        let line = line?;
        if !line.trim().is_empty() && !line.trim_start().starts_with('*') {
            println!("> {}", line.trim());
        }
        for response in console.execute(&line).await? {
            println!("{response}");
        }
    }
    Ok(())
}

async fn console(topology: PathBuf, script: Option<PathBuf>) -> anyhow::Result<()> {
    let topology = Topology::load(&topology)?;
    let mut lab = sysplex::lab::Lab::start(topology).await?;
    let lines = console_input(script)?;
    // Reading stdin blocks; the lab's tasks run on the runtime's other threads meanwhile.
    for line in lines {
        let line = line?;
        for (system, message) in lab.new_messages() {
            println!("{system:<8} {message}");
        }
        if !line.trim().is_empty() && !line.trim_start().starts_with('*') {
            println!("> {}", line.trim());
        }
        let responses = sysplex::console::execute(&mut lab, &line).await?;
        for response in &responses {
            println!("{response}");
        }
        // Let what the command set going show up before the next line; a command's own
        // response is not repeated.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for (system, message) in lab.new_messages() {
            if !responses.contains(&format!("{system}  {message}")) {
                println!("{system:<8} {message}");
            }
        }
    }
    lab.shutdown().await;
    Ok(())
}

async fn lpar(
    topology: PathBuf,
    sysname: &str,
    control_dir: Option<PathBuf>,
    tap_offload: bool,
) -> anyhow::Result<()> {
    let topology = Topology::load(&topology)?;
    let Some(cf) = topology.cf.address else {
        bail!("`sysplex lpar` needs the CF's address in the topology ([cf] address)");
    };
    let (index, lpar) = topology
        .lpars
        .iter()
        .enumerate()
        .find(|(_, l)| l.section.sysname == sysname)
        .with_context(|| format!("no LPAR {sysname} in the topology"))?;
    let tap = lpar
        .section
        .tap
        .as_deref()
        .context("`sysplex lpar` needs a TAP LAN (`tap = \"device\"` on the LPAR)")?;
    let options = stacks::lan::tap::TapOptions {
        offload: tap_offload,
    };
    let device = tap.to_owned();
    // The stack runs on a thread of its own: the LPAR's TCP/IP address space.
    let (stack, _thread) =
        stacks::stack::Stack::spawn_on_thread(sysplex::lab::stack_config(lpar, index), move || {
            stacks::lan::tap::TapPort::open_with(&device, options)
        })
        .with_context(|| format!("starting the stack on TAP device {tap} (needs root)"))?;
    // One process is one IPL: its seeds are those of the embedded lab's first IPL.
    let ipsec = sysplex::lab::start_ipsec(&stack, lpar, index, topology.sysplex.seed, 0).await?;
    let mut apps = sysplex::lab::LparApps::start(&stack, &lpar.section.apps).await?;
    let secret = cf::auth::Secret::new(topology.sysplex.secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("sysplex secret: {e}"))?;
    let client = cf::client::Client::connect(cf, &secret, sysname, &lpar.section.tcpname).await?;
    let mut config = stacks::dvipa::service::DvipaServiceConfig::new(sysname, lpar.profile.clone());
    config.swsa = ipsec.as_ref().map(stacks::ipsec::IpsecService::swsa_link);
    let dvipa = stacks::dvipa::service::start(client, stack.clone(), config).await?;
    let view = sysplex::console::LparView {
        dvipa: &dvipa,
        ipsec: ipsec.as_ref(),
        dvipsec: lpar.profile.ipsec.as_ref().is_some_and(|i| i.dvipsec),
    };
    let dir = control_dir.unwrap_or_else(|| sysplex::console::control::default_dir(&topology));
    let path = sysplex::console::control::socket_path(&dir, sysname);
    // Without its control socket the LPAR still runs; only `console --attach` cannot reach it.
    let control = match sysplex::console::control::ControlSocket::bind(&path).await {
        Ok(control) => Some(control),
        Err(error) => {
            eprintln!("{sysname}: no control socket ({error}): `console --attach` cannot reach it");
            None
        }
    };
    eprintln!(
        "{sysname} {} started on {tap}, joined XCF group {}, commands on {}",
        lpar.section.tcpname,
        dvipa.group(),
        control.as_ref().map_or_else(
            || "no control socket".to_owned(),
            |c| c.path().display().to_string()
        )
    );
    let watch = async {
        let mut console = dvipa.console_updates();
        let mut seen = 0;
        loop {
            // Console messages go out as they are written; ended streams and the service's
            // end are looked at every 100 ms.
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = console.changed() => {}
                () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
            }
            let lines = console.borrow_and_update().clone();
            for line in lines.iter().skip(seen) {
                println!("{sysname:<8} {line}");
            }
            seen = lines.len();
            for line in apps.ended_streams() {
                println!("{sysname:<8} {line}");
            }
            if dvipa.is_finished() {
                bail!("{sysname}: the DVIPA service ended");
            }
        }
    };
    let ended = tokio::select! {
        ended = watch => ended,
        served = async {
            match &control {
                Some(control) => control.serve(sysname, view).await,
                None => std::future::pending().await,
            }
        } => served.context("control socket"),
    };
    drop(control);
    drop(apps);
    drop(ipsec);
    ended
}

async fn cf_server(topology: PathBuf) -> anyhow::Result<()> {
    let topology = Topology::load(&topology)?;
    let Some(address) = topology.cf.address else {
        bail!("the topology has no [cf] address: its CF runs embedded");
    };
    let secret = cf::auth::Secret::new(topology.sysplex.secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("sysplex secret: {e}"))?;
    let mut config = cf::server::Config::new(secret);
    if let Some(ms) = topology.cf.interval_ms {
        config.interval = std::time::Duration::from_millis(ms);
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    eprintln!("CF listening on {address}");
    cf::server::run(
        listener,
        Arc::new(cf::store::MemoryStore::new()),
        config,
        tokio::signal::ctrl_c(),
    )
    .await?;
    Ok(())
}
