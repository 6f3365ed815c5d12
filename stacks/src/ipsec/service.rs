//! IPSec on a running stack: installs the security stage, runs the IKE daemon on its own
//! task, binds the daemon's UDP 500 and 4500 on each local IKE address, and carries the
//! daemon's PF_KEY-like messages to the SAD.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use ike::daemon::shell::{self, DaemonState};
use ike::daemon::{ActivationMethod, DaemonInput, IkeDaemon, Peer, ToStack};
use rand::{CryptoRng, RngCore};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::spd::{ProtectRule, Spd};
use super::stage::{IpsecStage, IpsecState, SadChange};
use crate::Error;
use crate::datapath::stage::StageSlot;
use crate::profile::IpSecRule;
use crate::stack::StackHandle;
use crate::stack::udp::UdpSocket;
use crate::swsa::{SwsaEvent, SwsaLink};

/// Datagrams queued to one IKE socket task.
const SEND_QUEUE: usize = 64;

/// The protect rules for the configured tunnels: each peer's selectors.
pub fn protect_rules(peers: &[Peer]) -> Vec<ProtectRule> {
    peers
        .iter()
        .map(|p| ProtectRule {
            name: p.names.dyn_vpn_rule.clone(),
            local: p.config.local_ts,
            remote: p.config.remote_ts,
        })
        .collect()
}

/// How IPSec runs on a stack, beyond its policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpsecOptions {
    /// Seeds the security stage's random source (AES-CBC IVs).
    pub seed: u64,
    /// Where to write the keys of every IKE SA and ESP SA for Wireshark
    /// (`ikev2_decryption_table`, `esp_sa`); `None`, the default, exports nothing.
    pub wireshark_keys: Option<PathBuf>,
}

/// IPSec running on one stack.
#[derive(Debug)]
pub struct IpsecService {
    state: Arc<Mutex<IpsecState>>,
    daemon: watch::Receiver<DaemonState>,
    input: mpsc::Sender<DaemonInput>,
    swsa: SwsaSender,
    tasks: Vec<JoinHandle<()>>,
}

/// Where the dispatcher sends the daemon's SWSA events, once the stack's SWSA side asked.
type SwsaSender = Arc<Mutex<Option<mpsc::UnboundedSender<SwsaEvent>>>>;

impl IpsecService {
    /// Starts IPSec on `stack`: the SPD from the profile's `rules` and the daemon's peers,
    /// the security stage (seeded with `seed`), the daemon and its sockets.
    ///
    /// # Errors
    /// The stack's, when it is gone or a port is taken.
    pub async fn start<R>(
        stack: &StackHandle,
        rules: Vec<IpSecRule>,
        daemon: IkeDaemon<R>,
        seed: u64,
    ) -> Result<Self, Error>
    where
        R: RngCore + CryptoRng + Send + 'static,
    {
        let options = IpsecOptions {
            seed,
            ..IpsecOptions::default()
        };
        Self::start_with(stack, rules, daemon, options).await
    }

    /// [`IpsecService::start`] with `options`.
    ///
    /// # Errors
    /// The stack's, when it is gone or a port is taken.
    pub async fn start_with<R>(
        stack: &StackHandle,
        rules: Vec<IpSecRule>,
        daemon: IkeDaemon<R>,
        options: IpsecOptions,
    ) -> Result<Self, Error>
    where
        R: RngCore + CryptoRng + Send + 'static,
    {
        let spd = Spd::new(rules, protect_rules(daemon.peers()));
        let state = Arc::new(Mutex::new(IpsecState::new(spd)));
        let stage = IpsecStage::new(state.clone(), options.seed);
        stack
            .install_stage(StageSlot::Security, Box::new(stage))
            .await?;
        let locals: BTreeSet<Ipv4Addr> = daemon.peers().iter().map(|p| p.local).collect();
        let mut sockets = Vec::new();
        for local in locals {
            for port in [ike::wire::IKE_PORT, ike::wire::NAT_T_PORT] {
                let local = SocketAddrV4::new(local, port);
                sockets.push(stack.udp_bind("IKED", local).await?);
            }
        }
        let handle = match options.wireshark_keys {
            Some(dir) => shell::spawn_exporting_keys(daemon, dir),
            None => shell::spawn(daemon),
        };
        let swsa = SwsaSender::default();
        let mut senders = HashMap::new();
        let mut tasks = vec![handle.task];
        for socket in sockets {
            let (tx, rx) = mpsc::channel(SEND_QUEUE);
            senders.insert(socket.local, tx);
            tasks.push(tokio::spawn(socket_task(socket, rx, handle.input.clone())));
        }
        tasks.push(tokio::spawn(dispatch(
            handle.output,
            senders,
            state.clone(),
            swsa.clone(),
        )));
        Ok(Self {
            state,
            daemon: handle.state,
            input: handle.input,
            swsa,
            tasks,
        })
    }

    /// The SPD, SAD and counters (for displays and tests).
    pub fn state(&self) -> MutexGuard<'_, IpsecState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The daemon's latest published state: IKE tunnels, restart records, counters.
    pub fn daemon_state(&self) -> DaemonState {
        self.daemon.borrow().clone()
    }

    /// Waits until the daemon publishes a state that satisfies `condition`.
    pub async fn wait_for(&mut self, condition: impl Fn(&DaemonState) -> bool) -> DaemonState {
        if let Ok(state) = self.daemon.wait_for(|s| condition(s)).await {
            return state.clone();
        }
        self.daemon.borrow().clone()
    }

    /// The link for the stack's sysplex-wide security associations
    /// ([`crate::dvipa::service::DvipaServiceConfig::swsa`]): from now on the daemon's record
    /// changes, takeover tunnels and refusals go to it. A second call replaces the first link.
    pub fn swsa_link(&self) -> SwsaLink {
        let (sender, events) = mpsc::unbounded_channel();
        *self.swsa.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender.clone());
        SwsaLink {
            daemon: self.input.clone(),
            sender,
            events,
        }
    }

    /// Hands a command to the daemon.
    ///
    /// # Errors
    /// [`crate::stack::StackError::Gone`] when the daemon has ended.
    pub async fn command(&self, input: DaemonInput) -> Result<(), Error> {
        self.input
            .send(input)
            .await
            .map_err(|_| Error::from(crate::stack::StackError::Gone))
    }
}

impl Drop for IpsecService {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Moves datagrams between one IKE socket and the daemon. The daemon's datagrams are sent
/// at all times, even while a received datagram waits for room in the daemon's input:
/// otherwise the daemon (waiting to hand out its output), the dispatcher (waiting for this
/// task to take a datagram to send) and this task (waiting for the daemon to take one) wait
/// on each other for good once hundreds of IKE SAs start at once.
async fn socket_task(
    mut socket: UdpSocket,
    mut outgoing: mpsc::Receiver<(SocketAddrV4, Vec<u8>)>,
    daemon: mpsc::Sender<DaemonInput>,
) {
    let local = socket.local;
    let mut waiting: Option<DaemonInput> = None;
    loop {
        tokio::select! {
            permit = daemon.reserve(), if waiting.is_some() => {
                let (Ok(permit), Some(input)) = (permit, waiting.take()) else { return };
                permit.send(input);
            }
            received = socket.recv_from(), if waiting.is_none() => {
                let Some(datagram) = received else { return };
                let to = SocketAddrV4::new(datagram.to.unwrap_or(*local.ip()), local.port());
                waiting = Some(DaemonInput::Datagram {
                    from: datagram.from,
                    to,
                    bytes: datagram.data.to_vec(),
                });
            }
            sent = outgoing.recv() => {
                let Some((to, bytes)) = sent else { return };
                if socket.send_to(Bytes::from(bytes), to).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Hands an event to the stack's SWSA side, when it has one.
fn to_swsa(swsa: &SwsaSender, event: SwsaEvent) {
    if let Some(sender) = swsa.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        let _ = sender.send(event);
    }
}

/// Carries out the daemon's messages: datagrams to the sockets, SA changes to the SAD.
async fn dispatch(
    mut output: mpsc::Receiver<ToStack>,
    senders: HashMap<SocketAddrV4, mpsc::Sender<(SocketAddrV4, Vec<u8>)>>,
    state: Arc<Mutex<IpsecState>>,
    swsa: SwsaSender,
) {
    while let Some(message) = output.recv().await {
        tracing::debug!(%message, "from IKED");
        let change = match message {
            ToStack::SendDatagram { from, to, bytes } => {
                match senders.get(&from) {
                    Some(sender) => {
                        let _ = sender.send((to, bytes)).await;
                    }
                    None => tracing::warn!(%from, "IKED sends from an address it has no socket on"),
                }
                continue;
            }
            ToStack::InstallChildSa { tunnel, install } => SadChange::Install(tunnel, install),
            ToStack::DeleteChildSa { inbound_spi, .. } => SadChange::Delete(inbound_spi),
            ToStack::IkeTunnelDown { .. } => continue,
            ToStack::IkeTunnelUp {
                summary,
                activation,
                ..
            } => {
                to_swsa(
                    &swsa,
                    SwsaEvent::TunnelUp {
                        local: *summary.local.ip(),
                        remote: *summary.remote.ip(),
                        takeover: activation == ActivationMethod::Takeover,
                    },
                );
                continue;
            }
            ToStack::RestartRecordChanged {
                ike_tunnel,
                local,
                record,
            } => {
                to_swsa(
                    &swsa,
                    SwsaEvent::RecordChanged {
                        ike_tunnel,
                        local,
                        record,
                    },
                );
                continue;
            }
            ToStack::TakeoverRefused { remote, reason } => {
                to_swsa(
                    &swsa,
                    SwsaEvent::Refused {
                        remote: *remote.ip(),
                        reason,
                    },
                );
                continue;
            }
        };
        let now = tokio::time::Instant::now().into_std();
        state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .apply(now, change);
    }
}
