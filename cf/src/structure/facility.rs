//! The whole coupling facility as a pure state machine: structures by name, the systems that
//! use them, fencing and failure detection. Every request goes through [`Facility::apply`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::codes::Reason;
use super::ids::{ConId, ConToken, LinkId, StrName, SysName, Tod};
use super::instance::ListStructure;
use super::reply::{Delivery, Outcome, Reply, ReplyBody};
use super::request::{ListOp, Request};

/// Who sent a request and when: the server fills it in for every request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ctx {
    /// The CF link the request came on. The server numbers links in increasing order; for a
    /// server-issued Fence or Expire it passes the highest link number given so far.
    pub link: LinkId,
    /// The system the link authenticated as.
    pub system: SysName,
    /// The time of day.
    pub now: Tod,
}

/// The identity of the CF, as displays show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CfIdentity {
    /// CFNAME.
    pub name: String,
    /// TYPE.MFG.PLANT.SEQUENCE.
    pub node: String,
    /// PARTITION (hex).
    pub partition: u8,
    /// CPCID (hex).
    pub cpcid: u8,
}

impl Default for CfIdentity {
    fn default() -> Self {
        Self {
            name: "CF01".into(),
            node: "SIMDEV.IBM.ZS.0000000CF001".into(),
            partition: 0x0F,
            cpcid: 0x00,
        }
    }
}

/// What the CF knows about a system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// Time of its last heartbeat.
    pub last_heartbeat: Tod,
    /// Whether it is partitioned (until it heartbeats on a newer link).
    pub fenced: bool,
    /// Requests from links up to this one are refused with Fenced.
    pub fenced_through: Option<LinkId>,
}

/// The coupling facility.
///
/// Its encoding (snapshots) is its fields in order, without `fenced_bound`, which is
/// derived from the systems again when one is decoded (`FacilityImage`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "FacilityImage")]
pub struct Facility {
    pub(crate) cf: CfIdentity,
    pub(crate) structures: BTreeMap<StrName, ListStructure>,
    pub(crate) systems: BTreeMap<SysName, SystemStatus>,
    pub(crate) next_allocation: u32,
    pub(crate) next_connection: u32,
    pub(crate) next_ticket: u64,
    /// The highest `fenced_through` of any system: a request on a newer link is not fenced,
    /// whoever sent it (the check every request makes, without looking its system up).
    #[serde(skip)]
    fenced_bound: Option<LinkId>,
}

/// A facility as encoded: every field of [`Facility`] but the derived one.
#[derive(Deserialize)]
struct FacilityImage {
    cf: CfIdentity,
    structures: BTreeMap<StrName, ListStructure>,
    systems: BTreeMap<SysName, SystemStatus>,
    next_allocation: u32,
    next_connection: u32,
    next_ticket: u64,
}

impl From<FacilityImage> for Facility {
    fn from(image: FacilityImage) -> Self {
        let fenced_bound = image
            .systems
            .values()
            .filter_map(|s| s.fenced_through)
            .max();
        Self {
            cf: image.cf,
            structures: image.structures,
            systems: image.systems,
            next_allocation: image.next_allocation,
            next_connection: image.next_connection,
            next_ticket: image.next_ticket,
            fenced_bound,
        }
    }
}

impl Default for Facility {
    fn default() -> Self {
        Self::new(CfIdentity::default())
    }
}

impl Facility {
    /// An empty CF.
    pub fn new(cf: CfIdentity) -> Self {
        Self {
            cf,
            structures: BTreeMap::new(),
            systems: BTreeMap::new(),
            next_allocation: 0,
            next_connection: 0,
            next_ticket: 1,
            fenced_bound: None,
        }
    }

    /// The CF's identity.
    pub fn identity(&self) -> &CfIdentity {
        &self.cf
    }

    /// Allocated structures, by name.
    pub fn structures(&self) -> impl Iterator<Item = &ListStructure> {
        self.structures.values()
    }

    /// The structure `name`, if allocated.
    pub fn structure(&self, name: &StrName) -> Option<&ListStructure> {
        self.structures.get(name)
    }

    /// Systems that heartbeat or were fenced, by name.
    pub fn systems(&self) -> impl Iterator<Item = (&SysName, &SystemStatus)> {
        self.systems.iter()
    }

    /// Applies one request. Deterministic: the same requests in the same order from the same
    /// state give the same outcomes.
    // Inlined, with `dispatch` and `list_op`, into the server's request path: a request moves
    // down to `run` without a copy at each layer.
    #[inline]
    pub fn apply(&mut self, ctx: &Ctx, request: Request) -> Outcome {
        let server_issued = matches!(
            request,
            Request::LinkDropped
                | Request::Fence { .. }
                | Request::Expire { .. }
                | Request::Force { .. }
        );
        if !server_issued && self.is_fenced(ctx) {
            return Outcome::reply(Reply::refused(Reason::Fenced));
        }
        // A list operation checks its own structure's threshold (the only one it can change).
        let check_all = !request.is_read_only() && !matches!(request, Request::List { .. });
        let mut outcome = self.dispatch(ctx, request);
        if check_all {
            for structure in self.structures.values_mut() {
                structure.check_full_threshold(&self.cf.name, &mut outcome.deliveries);
            }
        }
        outcome
    }

    #[inline]
    fn dispatch(&mut self, ctx: &Ctx, request: Request) -> Outcome {
        match request {
            Request::Connect(connect) => self.connect(ctx, connect),
            Request::Disconnect { token } => self.disconnect(ctx, token),
            Request::ReleaseConnection { token, conname } => self.release(ctx, token, &conname),
            Request::List { token, op } => self.list_op(ctx, token, op),
            Request::Force { structure } => self.force(&structure),
            Request::LinkDropped => self.link_dropped(ctx.link),
            Request::Fence { system } => {
                let mut out = Vec::new();
                self.fence(ctx, &system, &mut out);
                Outcome {
                    reply: Reply::ok(ReplyBody::Systems(vec![system])),
                    deliveries: out,
                }
            }
            Request::Heartbeat => {
                let status = self
                    .systems
                    .entry(ctx.system.clone())
                    .or_insert(SystemStatus {
                        last_heartbeat: ctx.now,
                        fenced: false,
                        fenced_through: None,
                    });
                status.last_heartbeat = ctx.now;
                status.fenced = false;
                Outcome::reply(Reply::ok(ReplyBody::None))
            }
            Request::Expire { interval } => self.expire(ctx, interval),
        }
    }

    fn is_fenced(&self, ctx: &Ctx) -> bool {
        if self.fenced_bound.is_none_or(|bound| ctx.link > bound) {
            return false;
        }
        self.systems
            .get(&ctx.system)
            .and_then(|s| s.fenced_through)
            .is_some_and(|through| ctx.link <= through)
    }

    /// Fences every system whose heartbeat is older than `interval` at `ctx.now`.
    fn expire(&mut self, ctx: &Ctx, interval: u64) -> Outcome {
        let overdue: Vec<SysName> = self
            .systems
            .iter()
            .filter(|(_, s)| !s.fenced && ctx.now.0.saturating_sub(s.last_heartbeat.0) > interval)
            .map(|(name, _)| name.clone())
            .collect();
        let mut out = Vec::new();
        for system in &overdue {
            out.push(Delivery::Console {
                text: format!(
                    "IXC105I SYSPLEX PARTITIONING HAS COMPLETED FOR {system}\n \
                     - PRIMARY REASON: SYSTEM STATUS UPDATE MISSING"
                ),
            });
            self.fence(ctx, system, &mut out);
        }
        Outcome {
            reply: Reply::ok(ReplyBody::Systems(overdue)),
            deliveries: out,
        }
    }

    /// Partitions `system`: its connections fail and its links up to `ctx.link` (and any link
    /// it has connections on) are refused from now on.
    fn fence(&mut self, ctx: &Ctx, system: &SysName, out: &mut Vec<Delivery>) {
        let newest_conn_link = self
            .structures
            .values()
            .flat_map(|s| s.conns.iter())
            .filter(|c| &c.system == system)
            .map(|c| c.link)
            .max();
        let status = self.systems.entry(system.clone()).or_insert(SystemStatus {
            last_heartbeat: ctx.now,
            fenced: true,
            fenced_through: None,
        });
        status.fenced = true;
        status.fenced_through = [status.fenced_through, Some(ctx.link), newest_conn_link]
            .into_iter()
            .flatten()
            .max();
        self.fenced_bound = self.fenced_bound.max(status.fenced_through);
        self.fail_where(|c| &c.system == system, out);
    }

    /// A list operation changes only its own structure, so only that one's usage is checked
    /// against its full threshold afterwards.
    #[inline]
    fn list_op(&mut self, ctx: &Ctx, token: ConToken, op: ListOp) -> Outcome {
        let mutating = !op.is_read_only();
        let cfname = &self.cf.name;
        let found = self.structures.values_mut().find_map(|s| {
            let conid = s
                .conns
                .by_token(token)
                .filter(|c| c.link == ctx.link)?
                .conid;
            Some((s, conid))
        });
        let Some((structure, conid)) = found else {
            return Outcome::reply(Reply::refused(Reason::NotAuthorized));
        };
        let mut out = Vec::new();
        let reply = structure.run(conid, op, &mut self.next_ticket, &mut out);
        if mutating {
            structure.check_full_threshold(cfname, &mut out);
        }
        Outcome {
            reply,
            deliveries: out,
        }
    }

    /// The structure and CONID of an active connection with `token` on `link`.
    pub(crate) fn find_token(
        &self,
        link: LinkId,
        token: ConToken,
    ) -> Option<(&ListStructure, ConId)> {
        self.structures.values().find_map(|s| {
            s.conns
                .by_token(token)
                .filter(|c| c.link == link)
                .map(|c| (s, c.conid))
        })
    }
}
