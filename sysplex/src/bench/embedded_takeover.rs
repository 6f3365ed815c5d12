//! DVIPA takeover in the embedded lab (as `sysplex run` runs it) of
//! `fixtures/topologies/dvipa-lan-lab.toml`: the lab of `dvipa-lab.toml` with the DVIPA in the
//! LAN subnet (192.0.2.30), because the remote host's stack picks its pings' source address by
//! subnet and the LPARs could not answer its DVIPA-subnet address. The remote host CLIENT1, a
//! smoltcp stack on the in-memory LAN, pings the DVIPA every 2 ms and connects to its echo port
//! every 5 ms; once both answer, the lab kills the owner SYS1 as it does in the scenario (its
//! stack and CF link dropped at once). The figures
//! are the time from the kill to the first echo reply and the first accepted connection for
//! requests sent after it; the connection must be SYS2's. A fresh lab for each run.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use stacks::stack::StackHandle;
use stacks::stack::ping::PingOutcome;
use stacks::stack::tcp::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::probe::Answered;
use crate::Error;
use crate::lab::Lab;
use crate::topology::Topology;

/// The DVIPA of the fixture topology and the port of its echo app.
const DVIPA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 30);
const ECHO_PORT: u16 = 7;
/// Its VIPADEFINE owner and highest-ranked backup.
const OWNER: &str = "SYS1";
const BACKUP: &str = "SYS2";
/// Time between echo requests and between connects.
const PING_EVERY: Duration = Duration::from_millis(2);
const CONNECT_EVERY: Duration = Duration::from_millis(5);
/// How long one echo request or connect may wait for its answer.
const ATTEMPT: Duration = Duration::from_secs(1);
/// Connects in flight at most (each holds a socket on the remote host).
const CONNECTS_IN_FLIGHT: usize = 64;
/// How long a run may wait for the owner to activate, the probe to warm up, the answers.
const PATIENCE: Duration = Duration::from_secs(30);

/// The fixture topology, in the source tree.
pub(super) fn topology() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/dvipa-lan-lab.toml")
}

/// An answer the remote host got: when its request went out and when the answer came.
enum Answer {
    Ping {
        sent: Instant,
        at: Instant,
    },
    Tcp {
        sent: Instant,
        at: Instant,
        stream: TcpStream,
    },
}

/// One run on a fresh lab of the topology at `path`.
pub(super) async fn run_once(path: &Path) -> Result<Answered, Error> {
    let mut lab = Lab::start(Topology::load(path)?).await?;
    let measured = measure(&mut lab).await;
    lab.shutdown().await;
    measured
}

async fn measure(lab: &mut Lab) -> Result<Answered, Error> {
    owner_active(lab).await?;
    let remote = lab
        .remotes()
        .first()
        .ok_or_else(|| Error::Lab("the topology has no remote host".to_owned()))?;
    let (host, source) = (remote.stack.clone(), remote.address);
    let (tx, mut answers) = mpsc::unbounded_channel();
    let pinger = tokio::spawn(ping_loop(host.clone(), tx.clone()));
    let connector = tokio::spawn(connect_loop(host, source, tx));
    let outcome = async {
        let started = Instant::now();
        let (mut pings, mut connects) = (0, 0);
        while pings < 20 || connects < 10 || started.elapsed() < Duration::from_millis(500) {
            match tokio::time::timeout_at(started + PATIENCE, answers.recv()).await {
                Ok(Some(Answer::Ping { .. })) => pings += 1,
                Ok(Some(Answer::Tcp { .. })) => connects += 1,
                _ => {
                    return Err(Error::Lab(format!(
                        "the probe did not warm up: {pings} echo replies, {connects} connections"
                    )));
                }
            }
        }
        let killed = Instant::now();
        lab.kill(OWNER).await?;
        let (mut ping_ms, mut tcp) = (None, None);
        while ping_ms.is_none() || tcp.is_none() {
            let since = |at: Instant| (at - killed).as_secs_f64() * 1000.0;
            match tokio::time::timeout_at(killed + PATIENCE, answers.recv()).await {
                Ok(Some(Answer::Ping { sent, at })) if sent >= killed => {
                    ping_ms.get_or_insert(since(at));
                }
                Ok(Some(Answer::Tcp { sent, at, stream })) if sent >= killed => {
                    tcp.get_or_insert((since(at), stream));
                }
                Ok(Some(_)) => {}
                _ => {
                    return Err(Error::Lab(format!(
                        "no answer on the backup within {PATIENCE:?} (echo reply: {}, \
                         connection: {})",
                        ping_ms.is_some(),
                        tcp.is_some()
                    )));
                }
            }
        }
        Ok((ping_ms, tcp))
    }
    .await;
    pinger.abort();
    connector.abort();
    let (Some(ping_ms), Some((tcp_ms, stream))) = outcome? else {
        return Err(Error::Lab("the probe ended without answers".to_owned()));
    };
    let backup = lab
        .lpar(BACKUP)
        .ok_or_else(|| Error::Lab(format!("{BACKUP} is not running")))?;
    let served = backup
        .stack
        .connections()
        .await?
        .iter()
        .any(|c| c.foreign == stream.local);
    if !served {
        return Err(Error::Lab(format!(
            "the first connection after the kill ({}) is not {BACKUP}'s",
            stream.local
        )));
    }
    Ok(Answered { ping_ms, tcp_ms })
}

/// Waits until the owner has the DVIPA Active.
async fn owner_active(lab: &Lab) -> Result<(), Error> {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if let Some(lpar) = lab.lpar(OWNER)
            && let Ok(manager) = lpar.dvipa.snapshot().await
            && manager
                .local()
                .iter()
                .any(|l| l.addr == DVIPA && l.status == stacks::dvipa::model::DvipaStatus::Active)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(Error::Lab(format!("{OWNER} never activated {DVIPA}")))
}

/// Sends an echo request every [`PING_EVERY`], each waiting for its own reply.
async fn ping_loop(host: StackHandle, tx: mpsc::UnboundedSender<Answer>) {
    let mut ticker = tokio::time::interval(PING_EVERY);
    loop {
        ticker.tick().await;
        let (host, tx) = (host.clone(), tx.clone());
        tokio::spawn(async move {
            let sent = Instant::now();
            if let Ok(PingOutcome::Reply { .. }) = host.ping(DVIPA, ATTEMPT).await {
                let _ = tx.send(Answer::Ping {
                    sent,
                    at: Instant::now(),
                });
            }
        });
    }
}

/// Starts a connect every [`CONNECT_EVERY`] (at most [`CONNECTS_IN_FLIGHT`] at once).
async fn connect_loop(host: StackHandle, source: Ipv4Addr, tx: mpsc::UnboundedSender<Answer>) {
    let mut ticker = tokio::time::interval(CONNECT_EVERY);
    let in_flight = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let target = SocketAddrV4::new(DVIPA, ECHO_PORT);
    loop {
        ticker.tick().await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            continue;
        };
        let (host, tx) = (host.clone(), tx.clone());
        tokio::spawn(async move {
            let sent = Instant::now();
            let connect = host.connect_from("PROBE", source, target);
            if let Ok(Ok(stream)) = tokio::time::timeout(ATTEMPT, connect).await {
                let at = Instant::now();
                let _ = tx.send(Answer::Tcp { sent, at, stream });
            }
            drop(permit);
        });
    }
}
