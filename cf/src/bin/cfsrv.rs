//! `cfsrv`: the coupling facility server, and an offline dump of its store.
//!
//! ```text
//! cfsrv serve --listen 127.0.0.1:0 --db DIR --secret-file FILE [--interval SECS] [--threads N]
//! cfsrv dump --db DIR --structure NAME
//! ```
//!
//! `serve` prints the address it listens on as the first line of its standard output.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use cf::auth::Secret;
use cf::server::{self, Config};
use cf::store::SledStore;
use cf::structure::StrName;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(version, about = "Coupling facility server for the emulated sysplex")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve CF links.
    Serve {
        /// Address to listen on (port 0: any free port, printed on stdout).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// The sled database directory.
        #[arg(long)]
        db: PathBuf,
        /// File holding the sysplex secret (at least 16 bytes).
        #[arg(long)]
        secret_file: PathBuf,
        /// Failure detection INTERVAL in seconds (z/OS default: 165; lab default: 3).
        #[arg(long, default_value_t = 3.0)]
        interval: f64,
        /// Period of the log's background sync in milliseconds (the `async` durability).
        #[arg(long, default_value_t = 500)]
        flush_ms: u64,
        /// Fewest log records between snapshots of the facility (a snapshot also waits until
        /// the log since the last one is four times as large as its image).
        #[arg(long, default_value_t = 100_000)]
        snapshot_every: u64,
        /// Runtime worker threads (1: a single-threaded runtime).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Print a deterministic dump of one structure from the store (the server must be down).
    Dump {
        /// The sled database directory.
        #[arg(long)]
        db: PathBuf,
        /// The structure name.
        #[arg(long)]
        structure: String,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            listen,
            db,
            secret_file,
            interval,
            flush_ms,
            snapshot_every,
            threads,
        } => {
            let runtime = match threads {
                0 | 1 => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?,
                n => tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(n)
                    .enable_all()
                    .build()?,
            };
            runtime.block_on(serve(
                &listen,
                &db,
                &secret_file,
                Tuning {
                    interval,
                    flush_ms,
                    snapshot_every,
                },
            ))
        }
        Command::Dump { db, structure } => dump(&db, &structure),
    }
}

/// The server settings given on the command line.
#[derive(Debug)]
struct Tuning {
    interval: f64,
    flush_ms: u64,
    snapshot_every: u64,
}

async fn serve(
    listen: &str,
    db: &std::path::Path,
    secret_file: &std::path::Path,
    tuning: Tuning,
) -> anyhow::Result<()> {
    let secret = Secret::from_file(secret_file)
        .with_context(|| format!("reading the secret from {}", secret_file.display()))?;
    let interval = Duration::try_from_secs_f64(tuning.interval).context("--interval")?;
    let store = SledStore::open(db, tuning.flush_ms)
        .with_context(|| format!("opening the store {}", db.display()))?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    println!("{}", listener.local_addr()?);
    let mut config = Config::new(secret);
    config.interval = interval;
    config.snapshot_every = tuning.snapshot_every;
    server::run(listener, Arc::new(store), config, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn dump(db: &std::path::Path, structure: &str) -> anyhow::Result<()> {
    let Some(name) = StrName::new(structure) else {
        bail!("{structure:?} is not a structure name");
    };
    let store = SledStore::open(db, 500).with_context(|| {
        format!(
            "opening the store {} (is cfsrv still running?)",
            db.display()
        )
    })?;
    let facility = server::recover_facility(&store)?;
    match facility.structure(&name).map(cf::structure::dump_structure) {
        Some(text) => {
            print!("{text}");
            Ok(())
        }
        None => bail!("structure {name} is not allocated"),
    }
}
