//! The thin tokio shell around [`IkeDaemon`]: inputs from a channel, messages for the stack to
//! another, the timers on tokio's clock (so tests may pause it), and a watch of the tunnels
//! and restart records for displays and SWSA.

use std::path::PathBuf;
use std::time::Instant;

use rand::{CryptoRng, RngCore};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::core::{DaemonStats, IkeDaemon, IkeTunnelView};
use super::message::{DaemonInput, ToStack};
use crate::sa::CloseReason;
use crate::swsa::RestartRecord;

/// What the shell publishes after every step.
#[derive(Debug, Clone, Default)]
pub struct DaemonState {
    /// The IKE tunnels (`ipsec -k display`).
    pub ike_tunnels: Vec<IkeTunnelView>,
    /// The SWSA restart record of every IKE tunnel that has one, with its `Kn` number.
    pub restart_records: Vec<(u32, RestartRecord)>,
    /// The counters.
    pub stats: DaemonStats,
    /// The IKE tunnel generations that closed, oldest first (the last [`CLOSED_KEPT`]): `Kn`,
    /// generation and why, such as the notify a refused negotiation ended with.
    pub closed: Vec<(u32, u32, CloseReason)>,
}

/// How many closed IKE tunnel generations [`DaemonState::closed`] keeps.
pub const CLOSED_KEPT: usize = 64;

/// Under a steady stream of inputs the state is published at least this often; otherwise
/// whenever the daemon has caught up with its inputs.
const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// The stack's side of a running daemon.
#[derive(Debug)]
pub struct DaemonHandle {
    /// Datagrams and commands for the daemon.
    pub input: mpsc::Sender<DaemonInput>,
    /// Messages from the daemon.
    pub output: mpsc::Receiver<ToStack>,
    /// The latest published state.
    pub state: watch::Receiver<DaemonState>,
    /// The daemon's task; it ends when `input` is dropped.
    pub task: JoinHandle<()>,
}

/// Inputs and outputs queued each way.
const QUEUE: usize = 256;

/// Spawns `daemon` on a tokio task (inside a runtime) and starts its autoactivated tunnels.
pub fn spawn<R>(daemon: IkeDaemon<R>) -> DaemonHandle
where
    R: RngCore + CryptoRng + Send + 'static,
{
    start(daemon, None)
}

/// [`spawn`], with the keys of every IKE SA and ESP SA written for Wireshark into `dir`
/// (`ikev2_decryption_table` and `esp_sa`, emptied now, rewritten after each new SA).
pub fn spawn_exporting_keys<R>(mut daemon: IkeDaemon<R>, dir: PathBuf) -> DaemonHandle
where
    R: RngCore + CryptoRng + Send + 'static,
{
    daemon.record_keys();
    start(daemon, Some(dir))
}

fn start<R>(daemon: IkeDaemon<R>, key_dir: Option<PathBuf>) -> DaemonHandle
where
    R: RngCore + CryptoRng + Send + 'static,
{
    let (input, input_rx) = mpsc::channel(QUEUE);
    let (output_tx, output) = mpsc::channel(QUEUE);
    let (state_tx, state) = watch::channel(DaemonState::default());
    let task = tokio::spawn(run(daemon, input_rx, output_tx, state_tx, key_dir));
    DaemonHandle {
        input,
        output,
        state,
        task,
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn run<R: RngCore + CryptoRng>(
    mut daemon: IkeDaemon<R>,
    mut input: mpsc::Receiver<DaemonInput>,
    output: mpsc::Sender<ToStack>,
    state: watch::Sender<DaemonState>,
    key_dir: Option<PathBuf>,
) {
    daemon.start(now());
    // Lines already in the files; `None` forces the first write (which empties old files).
    let mut keys_written = None;
    let mut closed = Vec::new();
    let mut published: Option<Instant> = None;
    loop {
        if let (Some(dir), Some(tables)) = (&key_dir, daemon.key_tables())
            && keys_written != Some(tables.len())
        {
            if let Err(error) = tables.write(dir) {
                tracing::warn!(%error, dir = %dir.display(), "key export failed");
            }
            keys_written = Some(tables.len());
        }
        for message in daemon.drain() {
            if let ToStack::IkeTunnelDown {
                id,
                generation,
                reason,
            } = &message
            {
                if closed.len() == CLOSED_KEPT {
                    closed.remove(0);
                }
                closed.push((*id, *generation, reason.clone()));
            }
            if output.send(message).await.is_err() {
                return;
            }
        }
        // Building the views costs one pass over every IKE SA: under load (more inputs
        // already queued) it is done once per PUBLISH_EVERY rather than after every datagram.
        let time = now();
        if input.is_empty() || published.is_none_or(|at| time >= at + PUBLISH_EVERY) {
            state.send_replace(DaemonState {
                ike_tunnels: daemon.ike_tunnels(),
                restart_records: daemon.restart_records(),
                stats: daemon.stats(),
                closed: closed.clone(),
            });
            published = Some(time);
        }
        let deadline = daemon.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = input.recv() => match received {
                Some(message) => daemon.handle(now(), message),
                None => return,
            },
            () = sleep => daemon.handle_timeout(now()),
        }
    }
}
