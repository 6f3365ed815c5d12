//! The SWSA side of a stack's DVIPA service: the [`SwsaCore`] fed by the DVIPA activations,
//! the IKE daemon's record changes and the CF's answers; the CF work on a task of its own
//! (writes are pipelined and never hold up the DVIPA service); renegotiations and tunnel drops
//! handed to the daemon.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};

use cf::client::Client;
use ike::daemon::DaemonInput;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::core::{SwsaAction, SwsaCore, SwsaEvent, SwsaNote};
use super::pacer::Pacer;
use super::store::{RestartStore, StoreOp};

/// What ties a stack's SWSA to its IPSec: the daemon's input, and the channel on which the
/// daemon's record changes, takeover tunnels and refusals arrive (see
/// [`crate::ipsec::IpsecService::swsa_link`]).
#[derive(Debug)]
pub struct SwsaLink {
    /// Commands to the IKE daemon.
    pub daemon: mpsc::Sender<DaemonInput>,
    /// Where events for the SWSA core are sent (the IPSec dispatcher, the CF task).
    pub sender: mpsc::UnboundedSender<SwsaEvent>,
    /// Where they arrive.
    pub events: mpsc::UnboundedReceiver<SwsaEvent>,
}

/// How often a takeover's read of EZBDVIPA is tried.
const READ_ATTEMPTS: u32 = 20;
/// The pause between two tries.
const READ_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// The SWSA signal between the stacks of the TCP/IP XCF group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SwsaSignal {
    /// The stack on system `by` took the IKE tunnels of `dvipa` over; the old owner's IKE
    /// drops what it still holds there.
    TakenOver {
        /// The DVIPA.
        dvipa: Ipv4Addr,
        /// The new owner's system.
        by: String,
    },
}

/// The steps of SWSA takeovers on one stack, with when they happened.
pub type SwsaTimeline = Arc<Mutex<Vec<(Instant, SwsaNote)>>>;

/// What the DVIPA service must do for the SWSA side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellWork {
    /// Write a console message.
    Console(String),
    /// Send a signal to every other stack of the group.
    Broadcast(SwsaSignal),
}

/// A request to the CF task.
#[derive(Debug)]
enum StoreRequest {
    Apply(Vec<StoreOp>),
    Read(Ipv4Addr),
}

/// The SWSA side of one DVIPA service.
#[derive(Debug)]
pub(crate) struct SwsaShell {
    core: SwsaCore,
    sysname: String,
    daemon: mpsc::Sender<DaemonInput>,
    events: mpsc::UnboundedReceiver<SwsaEvent>,
    store: mpsc::UnboundedSender<StoreRequest>,
    timeline: SwsaTimeline,
    store_task: JoinHandle<()>,
    pacer: Pacer,
}

impl SwsaShell {
    /// Connects the stack of `sysname` to EZBDVIPA (XCFGRPID `xcf_group_id`) on `client`
    /// and starts the CF task.
    pub(crate) async fn start(
        client: &Client,
        sysname: &str,
        xcf_group_id: Option<u8>,
        link: SwsaLink,
        timeline: SwsaTimeline,
    ) -> Result<Self, crate::Error> {
        let store = RestartStore::connect(client, sysname, xcf_group_id).await?;
        let (requests, inbox) = mpsc::unbounded_channel();
        let store_task = tokio::spawn(run_store(store, inbox, link.sender));
        Ok(Self {
            core: SwsaCore::new(sysname),
            sysname: sysname.to_owned(),
            pacer: Pacer::start(link.daemon.clone()),
            daemon: link.daemon,
            events: link.events,
            store: requests,
            timeline,
            store_task,
        })
    }

    /// The next event from IPSec or the CF task (pending forever once both are gone).
    pub(crate) async fn next_event(&mut self) -> SwsaEvent {
        match self.events.recv().await {
            Some(event) => event,
            None => std::future::pending().await,
        }
    }

    /// Runs one event through the core, carries out its actions and returns what the DVIPA
    /// service must do.
    pub(crate) async fn feed(&mut self, event: SwsaEvent) -> Vec<ShellWork> {
        let mut work = Vec::new();
        let mut ops = Vec::new();
        match &event {
            SwsaEvent::TunnelUp { takeover: true, .. } | SwsaEvent::Refused { .. } => {
                self.pacer.answered();
            }
            SwsaEvent::Released(dvipa) => self.pacer.forget(*dvipa),
            SwsaEvent::TakenOverElsewhere { dvipa, by } if *by != self.sysname => {
                self.pacer.forget(*dvipa);
            }
            _ => {}
        }
        for action in self.core.handle(event) {
            match action {
                SwsaAction::Put(stored) => ops.push(StoreOp::Put(stored)),
                SwsaAction::Remove { ike_tunnel } => ops.push(StoreOp::Remove(ike_tunnel)),
                SwsaAction::Clear(leids) => ops.push(StoreOp::Clear(leids)),
                SwsaAction::Read(dvipa) => {
                    self.flush(&mut ops);
                    let _ = self.store.send(StoreRequest::Read(dvipa));
                }
                SwsaAction::Renegotiate(records) => self.pacer.renegotiate(records),
                SwsaAction::DropTunnels(dvipa) => {
                    self.command(DaemonInput::DeleteLocal {
                        local: dvipa,
                        notify_peers: false,
                    })
                    .await;
                }
                SwsaAction::AnnounceTakeover(dvipa) => {
                    work.push(ShellWork::Broadcast(SwsaSignal::TakenOver {
                        dvipa,
                        by: self.sysname.clone(),
                    }));
                }
                SwsaAction::Console(line) => work.push(ShellWork::Console(line)),
                SwsaAction::Note(note) => {
                    self.timeline
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((Instant::now(), note));
                }
            }
        }
        self.flush(&mut ops);
        work
    }

    fn flush(&self, ops: &mut Vec<StoreOp>) {
        if !ops.is_empty() {
            let _ = self.store.send(StoreRequest::Apply(std::mem::take(ops)));
        }
    }

    async fn command(&self, input: DaemonInput) {
        if self.daemon.send(input).await.is_err() {
            tracing::warn!(sysname = %self.sysname, "IKE daemon gone: SWSA command dropped");
        }
    }
}

impl Drop for SwsaShell {
    fn drop(&mut self) {
        self.store_task.abort();
    }
}

/// Reads the entries of `dvipa`, retrying while the CF does not answer (a CF that is away
/// for a moment delays the takeover but loses nothing); none after [`READ_ATTEMPTS`].
async fn read_patiently(
    store: &RestartStore,
    dvipa: Ipv4Addr,
) -> Vec<(cf::structure::Leid, super::StoredRecord)> {
    for attempt in 1..=READ_ATTEMPTS {
        match store.read(dvipa).await {
            Ok(entries) => return entries,
            Err(error) => {
                tracing::warn!(%dvipa, %error, attempt, "EZBDVIPA not read");
                tokio::time::sleep(READ_RETRY).await;
            }
        }
    }
    Vec::new()
}

/// The CF task: carries out writes in batches (every write queued meanwhile goes in one
/// pipelined batch) and reads, in order, and reports failures and reads as events.
async fn run_store(
    mut store: RestartStore,
    mut inbox: mpsc::UnboundedReceiver<StoreRequest>,
    events: mpsc::UnboundedSender<SwsaEvent>,
) {
    let mut next = inbox.recv().await;
    while let Some(request) = next.take() {
        match request {
            StoreRequest::Read(dvipa) => {
                let entries = read_patiently(&store, dvipa).await;
                let _ = events.send(SwsaEvent::EntriesRead { dvipa, entries });
            }
            StoreRequest::Apply(mut ops) => {
                loop {
                    match inbox.try_recv() {
                        Ok(StoreRequest::Apply(more)) => ops.extend(more),
                        Ok(read) => {
                            next = Some(read);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                for failure in store.apply(ops).await {
                    tracing::warn!(error = %failure.error, "EZBDVIPA write failed");
                    let _ = events.send(SwsaEvent::WriteFailed {
                        ike_tunnel: failure.ike_tunnel,
                        reason: failure.error.to_string(),
                    });
                }
            }
        }
        if next.is_none() {
            next = inbox.recv().await;
        }
    }
}
