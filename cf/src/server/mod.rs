//! The CF server: accepts CF links on a TCP listener, authenticates them, applies their
//! requests to the facility in one order, persists the mutating ones, and pushes events.
//!
//! ```text
//!  link task (per connector) ──► Core (Mutex: facility, log seq, link queues) ──► log batch
//!   reads a burst, applies it          │ deliveries                               │
//!   under one lock, writes the  ◄── outbound queue ◄─┘     flusher thread: store writes,
//!   replies with one call                                  group commit, snapshots ──► Store
//! ```
//!
//! Failure detection runs beside the links: a link that closes fails its connections at once
//! (LinkDropped), and a timer fences every system whose heartbeat is older than INTERVAL.

mod core;
mod flusher;
mod link;
mod schedule;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use self::core::{Core, recover};
use self::flusher::Flusher;
use crate::Error;
use crate::auth::Secret;
use crate::store::{Store, StoreError};
use crate::structure::{LinkId, Request, SysName};
use crate::wire::DEFAULT_MAX_FRAME;

/// The z/OS default effective failure detection interval: with the default spin loop settings
/// (SPINTIME=40, three spin recovery actions) XCF derives SPINFDI = (3+1) × 40 + 5 = 165 s, and
/// the effective INTERVAL is the larger of that and the configured USERINTERVAL.
pub const ZOS_DEFAULT_INTERVAL: Duration = Duration::from_secs(165);

/// The failure detection interval labs use by default, so a hung stack is partitioned quickly.
pub const LAB_DEFAULT_INTERVAL: Duration = Duration::from_secs(3);

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The sysplex secret links authenticate with.
    pub secret: Secret,
    /// INTERVAL: a system whose last heartbeat is older than this is partitioned and fenced.
    pub interval: Duration,
    /// Largest frame accepted or sent.
    pub max_frame: usize,
    /// Fewest log records between snapshots; a snapshot also waits until the log since the
    /// last one is four times as large as its image, so that big facilities are not
    /// re-serialized often.
    pub snapshot_every: u64,
    /// Most links at once; further connections wait to be accepted.
    pub max_links: usize,
    /// Time a new link has to complete the handshake.
    pub handshake_timeout: Duration,
    /// The system name the CF's own requests (fence, expiry) carry.
    pub cf_system: SysName,
}

impl Config {
    /// Lab defaults around a secret: INTERVAL 3 s, 4 MiB frames, at least 100 000 records
    /// between snapshots, 1024 links, 10 s to authenticate.
    pub fn new(secret: Secret) -> Self {
        Self {
            secret,
            interval: LAB_DEFAULT_INTERVAL,
            max_frame: DEFAULT_MAX_FRAME,
            snapshot_every: 100_000,
            max_links: 1024,
            handshake_timeout: Duration::from_secs(10),
            cf_system: SysName::new("CF01").expect("CF01 is a valid system name"),
        }
    }
}

/// How long links get to close at shutdown before they are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the link tasks share.
#[derive(Debug)]
struct Shared {
    core: Mutex<Core>,
    flusher: Flusher,
    config: Config,
    /// Set to stop the server (shutdown, or a store failure).
    stop: watch::Sender<bool>,
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, Core> {
        // Nothing panics while holding the lock on purpose; if something did, the facility is
        // still the one the log describes up to the last appended record.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store_failed(&self, error: &StoreError) {
        tracing::error!("CF store failed: {error}; stopping");
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| error.to_string());
        self.stop.send_replace(true);
    }
}

/// Runs the CF on `listener` until `shutdown` completes (or the store fails): recovers the
/// facility from `store`, fails the links of the previous run, then serves links.
pub async fn run(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: Config,
    shutdown: impl Future,
) -> Result<(), Error> {
    let incarnation = blocking(&store, |s| s.next_incarnation()).await?;
    let recovered = blocking(&store, |s| s.load()).await?;
    let (facility, seq) = tokio::task::spawn_blocking(move || recover(recovered))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    tracing::info!(seq, incarnation, "CF facility recovered");
    let (flusher, mut flusher_failed) = Flusher::start(Arc::clone(&store), seq)?;
    let (stop, stopped) = watch::channel(false);
    let shared = Arc::new(Shared {
        core: Mutex::new(Core::new(facility, seq, config.snapshot_every)),
        flusher,
        config,
        stop,
        failure: Mutex::new(None),
    });
    shared.core().link_given(LinkId(incarnation << 32));
    fail_previous_links(&shared)?;

    let mut tasks = JoinSet::new();
    tasks.spawn(expiry_loop(Arc::clone(&shared), stopped.clone()));
    let permits = Arc::new(Semaphore::new(shared.config.max_links));
    let mut next_link = 1u64;
    let mut stopped_accepting = stopped.clone();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.map_err(std::io::Error::other)?,
            _ = &mut shutdown => break,
            _ = stopped_accepting.wait_for(|stop| *stop) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
            _ = stopped_accepting.wait_for(|stop| *stop) => break,
            failed = flusher_failed.wait_for(Option::is_some) => {
                let why = failed.ok().and_then(|f| f.clone()).unwrap_or_default();
                shared.store_failed(&StoreError::Failed(why));
                break;
            }
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        while tasks.try_join_next().is_some() {}
        let link = LinkId((incarnation << 32) | next_link);
        next_link += 1;
        shared.core().link_given(link);
        tracing::debug!(link = link.0, %peer, "CF link accepted");
        let shared = Arc::clone(&shared);
        let stopped = stopped.clone();
        tasks.spawn(async move {
            link::serve(shared, socket, link, stopped).await;
            drop(permit);
        });
    }

    shared.stop.send_replace(true);
    // A link whose peer stopped reading cannot finish its last write; do not wait forever.
    let joined = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if joined.is_err() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    let failure = shared
        .failure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let Ok(shared) = Arc::try_unwrap(shared) else {
        unreachable!("every task holding the shared state has ended")
    };
    let Shared { core, flusher, .. } = shared;
    let core = core.into_inner().unwrap_or_else(|e| e.into_inner());
    if failure.is_none() {
        core.last_snapshot(&flusher);
    }
    tokio::task::spawn_blocking(move || flusher.stop())
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))?;
    match failure {
        Some(failure) => Err(Error::Stopped(failure)),
        None => Ok(()),
    }
}

/// Fails the connections of links from the previous run: those links are gone.
fn fail_previous_links(shared: &Shared) -> Result<(), StoreError> {
    let mut core = shared.core();
    for link in core.connected_links() {
        core.link_given(link);
        let mut ctx = core.cf_ctx(&shared.config.cf_system);
        ctx.link = link;
        core.apply(&ctx, Request::LinkDropped, None, &shared.flusher)?;
    }
    Ok(())
}

/// Fences systems whose heartbeat is older than INTERVAL, checking four times per INTERVAL
/// (not right after the CF itself stalled).
async fn expiry_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let interval = shared.config.interval;
    let period = (interval / 4).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let micros = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
    let mut last_tick = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        // A check that comes a period late means the CF itself was not running: the status
        // updates it could not take meanwhile are no sign of a hung system. Judge next time.
        let late = last_tick.elapsed() > 2 * period;
        last_tick = tokio::time::Instant::now();
        if late {
            tracing::debug!("expiry check skipped: the CF itself ran late");
            continue;
        }
        let applied = {
            let mut core = shared.core();
            let ctx = core.cf_ctx(&shared.config.cf_system);
            core.apply(
                &ctx,
                Request::Expire { interval: micros },
                None,
                &shared.flusher,
            )
        };
        if let Err(e) = applied {
            shared.store_failed(&e);
            return;
        }
    }
}

async fn blocking<T: Send + 'static>(
    store: &Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Error> {
    let store = Arc::clone(store);
    let result = tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))?;
    Ok(result?)
}

/// The facility as the store describes it (snapshot plus log), for offline tools.
pub fn recover_facility(store: &dyn Store) -> Result<crate::structure::Facility, Error> {
    Ok(recover(store.load()?)?.0)
}
