//! The facility owner: applies requests in one order, logs the mutating ones, routes the
//! deliveries to links, and takes snapshots. Held under a std mutex, never across `.await`.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::flusher::Flusher;
use super::schedule::SnapshotSchedule;
use crate::store::{Recovered, StoreError};
use crate::structure::{
    Ctx, Delivery, Durability, Facility, LinkId, Reply, ReplyBody, Request, SysName, Tod,
};
use crate::wire::CfMessage;

/// One log record: a mutating request and the context it was applied in (owned when read
/// back, borrowed when written). Postcard encodes a struct as its fields one after the other,
/// so a record is the context's encoding followed by the request's.
#[derive(Debug, Serialize, Deserialize)]
struct Record<C, R> {
    ctx: C,
    request: R,
}

/// The outbound queue of a link.
pub(super) type Outbound = mpsc::UnboundedSender<CfMessage>;

/// The result of applying one request.
#[derive(Debug)]
pub(super) struct Applied {
    /// The reply to the requester.
    pub reply: Reply,
    /// The log record written, and whether the reply must wait for it to be flushed.
    pub logged: Option<(u64, Durability)>,
}

/// The facility and everything ordered with it.
#[derive(Debug)]
pub(super) struct Core {
    facility: Facility,
    seq: u64,
    snapshots: SnapshotSchedule,
    links: HashMap<LinkId, Outbound>,
    /// The highest link number given so far (the CF's own requests carry it).
    last_link: LinkId,
}

/// The current time of day in microseconds since the Unix epoch.
pub(super) fn now() -> Tod {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    Tod(micros)
}

/// Rebuilds the facility from what the store holds: the snapshot, then the log replayed.
pub(super) fn recover(recovered: Recovered) -> Result<(Facility, u64), StoreError> {
    let mut facility = match &recovered.snapshot {
        Some(snapshot) => postcard::from_bytes(&snapshot.image)
            .map_err(|e| StoreError::Corrupt(format!("snapshot {}: {e}", snapshot.seq)))?,
        None => Facility::default(),
    };
    for (seq, bytes) in &recovered.log {
        let record: Record<Ctx, Request> = postcard::from_bytes(bytes)
            .map_err(|e| StoreError::Corrupt(format!("log record {seq}: {e}")))?;
        let _ = facility.apply(&record.ctx, record.request);
    }
    Ok((facility, recovered.last_seq()))
}

impl Core {
    /// A core around a recovered facility whose log ends at `seq`; a snapshot is taken after
    /// at least `snapshot_every` records (see [`SnapshotSchedule`]).
    pub(super) fn new(facility: Facility, seq: u64, snapshot_every: u64) -> Self {
        Self {
            facility,
            seq,
            snapshots: SnapshotSchedule::new(snapshot_every),
            links: HashMap::new(),
            last_link: LinkId(0),
        }
    }

    /// Links that have active connections in the facility.
    pub(super) fn connected_links(&self) -> Vec<LinkId> {
        let mut links: Vec<LinkId> = self
            .facility
            .structures
            .values()
            .flat_map(|s| s.conns.active())
            .map(|c| c.link)
            .collect();
        links.sort_unstable();
        links.dedup();
        links
    }

    /// Notes a link number given out (they only grow).
    pub(super) fn link_given(&mut self, link: LinkId) {
        self.last_link = self.last_link.max(link);
    }

    /// The context of a request the CF issues itself: the highest link number so far.
    pub(super) fn cf_ctx(&self, system: &SysName) -> Ctx {
        Ctx {
            link: self.last_link,
            system: system.clone(),
            now: now(),
        }
    }

    /// The facility, for read-only uses (dumps, displays).
    pub(super) fn facility(&self) -> &Facility {
        &self.facility
    }

    /// Registers the outbound queue of an authenticated link.
    pub(super) fn attach(&mut self, link: LinkId, outbound: Outbound) {
        self.links.insert(link, outbound);
    }

    /// Forgets a link's outbound queue.
    pub(super) fn detach(&mut self, link: LinkId) {
        self.links.remove(&link);
    }

    /// Applies `request`; logs it first when it can change the facility; routes the deliveries.
    /// A failure detection pass that finds nobody overdue changes nothing and is not logged.
    ///
    /// `received` is the encoding the request was decoded from, if it came that way unchanged:
    /// the log record then takes those bytes instead of encoding the request again (a record
    /// is the context's encoding followed by the request's, see [`Record`]).
    // Inlined into the link's request handling, like `Facility::apply` below it: the request
    // moves down to the structure without a copy at each layer.
    #[inline]
    pub(super) fn apply(
        &mut self,
        ctx: &Ctx,
        request: Request,
        received: Option<&[u8]>,
        flusher: &Flusher,
    ) -> Result<Applied, StoreError> {
        if let Request::Expire { .. } = request {
            return self.apply_expiry(ctx, request, flusher);
        }
        let logged = if request.is_read_only() {
            None
        } else {
            let durability = durability_of(&self.facility, ctx, &request);
            let bytes = match received {
                Some(encoded) => flusher.append_parts(self.seq + 1, ctx, encoded)?,
                None => flusher.append(
                    self.seq + 1,
                    &Record {
                        ctx,
                        request: &request,
                    },
                )?,
            };
            self.seq += 1;
            self.snapshots.logged(bytes);
            Some((self.seq, durability))
        };
        let outcome = self.facility.apply(ctx, request);
        for delivery in outcome.deliveries {
            self.route(delivery);
        }
        if logged.is_some() && self.snapshots.due(flusher.last_image_len()) {
            self.snapshot(flusher);
        }
        Ok(Applied {
            reply: outcome.reply,
            logged,
        })
    }

    /// Runs failure detection; logs the pass only when it fenced somebody.
    fn apply_expiry(
        &mut self,
        ctx: &Ctx,
        request: Request,
        flusher: &Flusher,
    ) -> Result<Applied, StoreError> {
        let outcome = self.facility.apply(ctx, request.clone());
        let fenced =
            !matches!(&outcome.reply.body, ReplyBody::Systems(systems) if systems.is_empty());
        let logged = if fenced {
            let bytes = flusher.append(
                self.seq + 1,
                &Record {
                    ctx,
                    request: &request,
                },
            )?;
            self.seq += 1;
            self.snapshots.logged(bytes);
            Some((self.seq, Durability::Async))
        } else {
            None
        };
        for delivery in outcome.deliveries {
            self.route(delivery);
        }
        Ok(Applied {
            reply: outcome.reply,
            logged,
        })
    }

    /// Whether any active connection is on `link`.
    pub(super) fn has_connections(&self, link: LinkId) -> bool {
        self.facility
            .structures
            .values()
            .flat_map(|s| s.conns.active())
            .any(|c| c.link == link)
    }

    /// Hands a copy of the facility as it is now to the log thread, which serializes and
    /// saves it while requests go on. The copy shares every entry's data with the facility,
    /// so it costs the entries' controls, not their bytes.
    fn snapshot(&mut self, flusher: &Flusher) {
        self.snapshots.taken();
        flusher.save_snapshot(self.seq, self.facility.clone());
    }

    /// Hands the facility itself to the log thread as the last snapshot of this run.
    pub(super) fn last_snapshot(self, flusher: &Flusher) {
        flusher.save_snapshot(self.seq, self.facility);
    }

    fn route(&self, delivery: Delivery) {
        let (link, message) = match delivery {
            Delivery::Event { to, event } => (
                to.link,
                CfMessage::Event {
                    token: to.token,
                    event,
                },
            ),
            Delivery::Completion { to, ticket, reply } => (
                to.link,
                CfMessage::Completion {
                    token: to.token,
                    ticket,
                    reply,
                },
            ),
            Delivery::Console { text } => {
                tracing::warn!(target: "console", "{text}");
                return;
            }
        };
        // A link that is gone has had (or is about to have) its LinkDropped applied.
        if let Some(outbound) = self.links.get(&link) {
            let _ = outbound.send(message);
        }
    }
}

/// How durable a request's effect must be before its reply: what its structure asked for.
/// Heartbeats are `async` (they are frequent and a lost one is repeated); requests the CF
/// issues itself have no requester waiting, so theirs does not matter.
fn durability_of(facility: &Facility, ctx: &Ctx, request: &Request) -> Durability {
    let of_token = |token| {
        facility
            .find_token(ctx.link, token)
            .map(|(s, _)| s.attrs.durability)
            .unwrap_or(Durability::Async)
    };
    match request {
        Request::Connect(connect) => facility
            .structure(&connect.structure)
            .map_or(connect.attrs.durability, |s| s.attrs.durability),
        Request::List { token, .. }
        | Request::Disconnect { token }
        | Request::ReleaseConnection { token, .. } => of_token(*token),
        Request::Force { .. } => Durability::Sync,
        Request::Heartbeat
        | Request::LinkDropped
        | Request::Fence { .. }
        | Request::Expire { .. } => Durability::Async,
    }
}
