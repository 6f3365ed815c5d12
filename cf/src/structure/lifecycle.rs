//! Connections coming and going: IXLCONN (allocating on first connect, reconnecting
//! failed-persistent connections), IXLDISC, failure (link drop, fencing), release of
//! failed-persistent connections, SETXCF FORCE, and freeing structures with STRDISP=DELETE.

use super::attrs::{ConDisp, StrDisp};
use super::codes::Reason;
use super::conn::{ConnState, Connection};
use super::facility::{Ctx, Facility};
use super::ids::{ConId, ConName, ConToken, LinkId, StrName};
use super::instance::ListStructure;
use super::reply::{Connected, Delivery, Event, Outcome, Recipient, Reply, ReplyBody};
use super::request::ConnectRequest;

/// Longest notification vector a connector may ask for, in bits.
pub const MAX_VECTOR_LEN: u32 = 65_536;

impl Facility {
    /// IXLCONN.
    pub(crate) fn connect(&mut self, ctx: &Ctx, c: ConnectRequest) -> Outcome {
        match self.try_connect(ctx, c) {
            Ok(outcome) => outcome,
            Err(reason) => Outcome::reply(Reply::refused(reason)),
        }
    }

    fn try_connect(&mut self, ctx: &Ctx, c: ConnectRequest) -> Result<Outcome, Reason> {
        if !c.structure.is_valid() || c.conname.as_ref().is_some_and(|n| !n.is_valid()) {
            return Err(Reason::BadName);
        }
        if c.condisp == ConDisp::Keep && c.conname.is_none() {
            return Err(Reason::BadParmList);
        }
        if c.vector_len > MAX_VECTOR_LEN {
            return Err(Reason::BadAttribute);
        }
        let allocated = match self.structures.get(&c.structure) {
            Some(existing) if existing.attrs.entry_id_type != c.attrs.entry_id_type => {
                return Err(Reason::AttrMismatch);
            }
            Some(_) => false,
            None => {
                let allocation = self.next_allocation.wrapping_add(1);
                let attrs = c.attrs.allocate()?;
                let new =
                    ListStructure::new(c.structure.clone(), attrs, c.strdisp, allocation, ctx.now);
                self.structures.insert(c.structure.clone(), new);
                self.next_allocation = allocation;
                true
            }
        };
        let name = c.structure.clone();
        let result = self.add_connection(ctx, c, allocated);
        if result.is_err() && allocated {
            self.structures.remove(&name);
            self.next_allocation = self.next_allocation.wrapping_sub(1);
        }
        result
    }

    fn add_connection(
        &mut self,
        ctx: &Ctx,
        c: ConnectRequest,
        allocated: bool,
    ) -> Result<Outcome, Reason> {
        let sequence = self.next_connection.wrapping_add(1);
        let structure = self
            .structures
            .get_mut(&c.structure)
            .ok_or(Reason::NoStructure)?;
        let previous = c.conname.as_ref().and_then(|n| structure.conns.by_name(n));
        let (conid, reconnect) = match previous {
            Some(p) if p.state == ConnState::Active => return Err(Reason::ConNameInUse),
            Some(p) => (p.conid, true),
            None => (
                structure
                    .conns
                    .free_conid(structure.attrs.max_conn)
                    .ok_or(Reason::MaxConnections)?,
                false,
            ),
        };
        let conname = match c.conname {
            Some(name) => name,
            None => generated_conname(structure, sequence),
        };
        let version = structure.conns.next_version(conid);
        let token = ConToken::new(structure.allocation, sequence, conid, version);
        let vector_len = c.vector_len.div_ceil(32) * 32;
        let mut out = Vec::new();
        for other in structure.conns.iter().filter(|o| o.conid != conid) {
            let event = Event::ExistingConnection {
                conname: other.conname.clone(),
                conid: other.conid,
                state: other.state,
            };
            out.push((token, event));
        }
        out.push((token, Event::ExistingConnectionsEnd));
        let peers: Vec<ConId> = structure.conns.active().map(|p| p.conid).collect();
        structure.conns.insert(Connection {
            conname: conname.clone(),
            conid,
            version,
            token,
            link: ctx.link,
            system: ctx.system.clone(),
            jobname: c.jobname,
            asid: c.asid,
            condisp: c.condisp,
            state: ConnState::Active,
            connected_at: ctx.now,
            vector: vec![false; usize::try_from(vector_len).unwrap_or(0)],
        });
        let to = Recipient {
            link: ctx.link,
            token,
        };
        let mut deliveries: Vec<Delivery> = out
            .into_iter()
            .map(|(_, event)| Delivery::Event { to, event })
            .collect();
        for peer in peers.into_iter().filter(|p| *p != conid) {
            let event = Event::NewConnection {
                conname: conname.clone(),
                conid,
                system: ctx.system.clone(),
            };
            structure.event_to(peer, event, &mut deliveries);
        }
        let connected = Connected {
            structure: c.structure.clone(),
            token,
            conname,
            conid,
            version,
            attrs: structure.attrs.clone(),
            allocated,
            vector_len,
        };
        self.next_connection = sequence;
        let reply = if reconnect {
            Reply::warning(
                Reason::ConaReconnected,
                ReplyBody::Connected(Box::new(connected)),
            )
        } else {
            Reply::ok(ReplyBody::Connected(Box::new(connected)))
        };
        Ok(Outcome { reply, deliveries })
    }

    /// IXLDISC.
    pub(crate) fn disconnect(&mut self, ctx: &Ctx, token: ConToken) -> Outcome {
        let Some((name, conid)) = self
            .find_token(ctx.link, token)
            .map(|(s, conid)| (s.name.clone(), conid))
        else {
            return Outcome::reply(Reply::refused(Reason::NotAuthorized));
        };
        let mut out = Vec::new();
        if let Some(structure) = self.structures.get_mut(&name)
            && let Some(gone) = structure.conns.remove(conid)
        {
            structure.detach(conid, &mut self.next_ticket, &mut out);
            structure.tell_peers(
                Event::Disconnected {
                    conname: gone.conname,
                    conid,
                },
                &mut out,
            );
        }
        self.free_if_unused(&name);
        Outcome {
            reply: Reply::ok(ReplyBody::None),
            deliveries: out,
        }
    }

    /// IXLEERSP RELEASECONN=YES: a peer releases a failed-persistent connection.
    pub(crate) fn release(&mut self, ctx: &Ctx, token: ConToken, conname: &ConName) -> Outcome {
        let Some(name) = self
            .find_token(ctx.link, token)
            .map(|(s, _)| s.name.clone())
        else {
            return Outcome::reply(Reply::refused(Reason::NotAuthorized));
        };
        let mut out = Vec::new();
        let Some(structure) = self.structures.get_mut(&name) else {
            return Outcome::reply(Reply::refused(Reason::NotAuthorized));
        };
        let target = structure
            .conns
            .by_name(conname)
            .filter(|c| c.state == ConnState::FailedPersistent)
            .map(|c| c.conid);
        let Some(conid) = target else {
            return Outcome::reply(Reply::refused(Reason::NoConnection));
        };
        structure.conns.remove(conid);
        structure.tell_peers(
            Event::ConnectionReleased {
                conname: conname.clone(),
                conid,
            },
            &mut out,
        );
        self.free_if_unused(&name);
        Outcome {
            reply: Reply::ok(ReplyBody::None),
            deliveries: out,
        }
    }

    /// SETXCF FORCE,STRUCTURE: frees a structure that has no active connections.
    pub(crate) fn force(&mut self, name: &StrName) -> Outcome {
        let reply = match self.structures.get(name) {
            None => Reply::refused(Reason::NoStructure),
            Some(s) if s.conns.active().next().is_some() => Reply::refused(Reason::StillConnected),
            Some(_) => {
                self.structures.remove(name);
                Reply::ok(ReplyBody::None)
            }
        };
        Outcome::reply(reply)
    }

    /// A CF link closed: every connection on it fails.
    pub(crate) fn link_dropped(&mut self, link: LinkId) -> Outcome {
        let mut out = Vec::new();
        self.fail_where(|c| c.link == link, &mut out);
        Outcome {
            reply: Reply::ok(ReplyBody::None),
            deliveries: out,
        }
    }

    /// Fails every active connection matching `failing`.
    pub(crate) fn fail_where(
        &mut self,
        failing: impl Fn(&Connection) -> bool,
        out: &mut Vec<Delivery>,
    ) {
        let names: Vec<StrName> = self.structures.keys().cloned().collect();
        for name in names {
            let Some(structure) = self.structures.get_mut(&name) else {
                continue;
            };
            let victims: Vec<ConId> = structure
                .conns
                .active()
                .filter(|c| failing(c))
                .map(|c| c.conid)
                .collect();
            for conid in victims {
                structure.fail(conid, &mut self.next_ticket, out);
            }
            self.free_if_unused(&name);
        }
    }

    /// Frees a STRDISP=DELETE structure with no connections left.
    fn free_if_unused(&mut self, name: &StrName) {
        if self
            .structures
            .get(name)
            .is_some_and(|s| s.strdisp == StrDisp::Delete && s.conns.is_empty())
        {
            self.structures.remove(name);
        }
    }
}

impl ListStructure {
    /// Fails a connection: failed-persistent under CONDISP=KEEP, gone otherwise.
    fn fail(&mut self, conid: ConId, tickets: &mut u64, out: &mut Vec<Delivery>) {
        let Some(connection) = self.conns.get_mut(conid) else {
            return;
        };
        let persistent = connection.condisp == ConDisp::Keep;
        let conname = connection.conname.clone();
        if persistent {
            connection.state = ConnState::FailedPersistent;
            connection.vector.clear();
        } else {
            self.conns.remove(conid);
        }
        self.detach(conid, tickets, out);
        self.tell_peers(
            Event::FailedConnection {
                conname,
                conid,
                persistent,
            },
            out,
        );
    }

    /// Drops a leaving connection's monitors, EMCs and lock waits, and frees its locks for
    /// the next waiters.
    fn detach(&mut self, conid: ConId, tickets: &mut u64, out: &mut Vec<Delivery>) {
        self.monitors.forget(conid);
        self.locks.forget_waiters(conid);
        for index in self.locks.release_all(conid) {
            self.release_lock(index, tickets, out);
        }
    }

    /// Sends `event` to every active connection.
    fn tell_peers(&self, event: Event, out: &mut Vec<Delivery>) {
        for peer in self.conns.active() {
            self.event_to(peer.conid, event.clone(), out);
        }
    }
}

/// A CONNAME for a connector that gave none: unique within the structure.
fn generated_conname(structure: &ListStructure, sequence: u32) -> ConName {
    let mut n = sequence;
    loop {
        if let Some(name) = ConName::new(&format!("IXL{n:08X}"))
            && structure.conns.by_name(&name).is_none()
        {
            return name;
        }
        n = n.wrapping_add(1);
    }
}
