//! The stack's connection to EZBDVIPA: writes, replaces and deletes its restart entries, reads
//! a DVIPA's entries and clears the consumed ones. Writes are pipelined: a batch of requests
//! is submitted at once and the answers are awaited in order (the structure is `sync`, so each
//! answer means the entry is on disk).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use cf::client::{Client, Connection, Pending};
use cf::structure::{
    ConDisp, ConName, Conditions, ConnectRequest, DeleteEntry, End, EntryType, KeySource, Leid,
    ListOp, Locator, MultiEntry, Reason, Reply, ReplyBody, StrDisp, StrName, WriteEntry,
};

use super::SwsaError;
use super::layout::{self, RESTART_LIST, StoredRecord};

/// Entries read or deleted per multi-entry request.
const BATCH: u32 = 500;

/// One change to this stack's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Write the entry of the record's tunnel (create, or replace the one written before).
    Put(Box<StoredRecord>),
    /// Delete this stack's entry of tunnel `Kn`.
    Remove(u32),
    /// Delete entries by LEID (consumed by a takeover).
    Clear(Vec<Leid>),
}

/// The outcome of one failed [`StoreOp`].
#[derive(Debug)]
pub struct StoreFailure {
    /// The tunnel whose entry was not written, for a failed put or remove.
    pub ike_tunnel: Option<u32>,
    /// What went wrong.
    pub error: SwsaError,
}

/// This stack's connection to EZBDVIPA.
#[derive(Debug)]
pub struct RestartStore {
    conn: Connection,
    /// The LEID of each entry this stack wrote, by `Kn`.
    leids: HashMap<u32, Leid>,
}

impl RestartStore {
    /// IXLCONN to EZBDVIPA (EZBDVIPA01tt with XCFGRPID tt) as connection `TCPIPsysname`,
    /// allocating the structure if this stack is the first.
    ///
    /// # Errors
    /// The CF link's error, or [`SwsaError::Cf`] when the CF refuses the connection.
    pub async fn connect(
        client: &Client,
        sysname: &str,
        xcf_group_id: Option<u8>,
    ) -> Result<Self, crate::Error> {
        let request = ConnectRequest {
            structure: layout::structure_name(xcf_group_id),
            conname: ConName::new(&format!("TCPIP{sysname}")),
            attrs: layout::attributes(),
            condisp: ConDisp::Delete,
            strdisp: StrDisp::Keep,
            vector_len: 0,
            jobname: client.jobname().to_owned(),
            asid: 0x0050,
        };
        match client.connect_structure(request).await? {
            Ok(conn) => Ok(Self {
                conn,
                leids: HashMap::new(),
            }),
            Err(reply) => Err(SwsaError::refused("IXLCONN", &reply).into()),
        }
    }

    /// The structure.
    pub fn structure(&self) -> &StrName {
        self.conn.structure()
    }

    /// Carries out `ops` in order, pipelined; returns the ones that failed.
    pub async fn apply(&mut self, ops: Vec<StoreOp>) -> Vec<StoreFailure> {
        let mut failures = Vec::new();
        let mut inflight: Vec<(Inflight, Pending)> = Vec::new();
        for op in ops {
            let depends = match &op {
                StoreOp::Put(stored) => inflight
                    .iter()
                    .any(|(f, _)| f.ike_tunnel() == Some(stored.ike_tunnel)),
                StoreOp::Remove(kn) => inflight.iter().any(|(f, _)| f.ike_tunnel() == Some(*kn)),
                StoreOp::Clear(_) => false,
            };
            if depends {
                self.settle(std::mem::take(&mut inflight), &mut failures)
                    .await;
            }
            match self.submit(op) {
                Ok(submitted) => inflight.extend(submitted),
                Err(failure) => failures.push(failure),
            }
        }
        self.settle(inflight, &mut failures).await;
        failures
    }

    /// Reads every entry of `dvipa`; entries that do not decode are skipped with a warning.
    ///
    /// # Errors
    /// The CF link's error, or [`SwsaError::Cf`] when the CF refuses the read.
    pub async fn read(&self, dvipa: Ipv4Addr) -> Result<Vec<(Leid, StoredRecord)>, crate::Error> {
        let mut entries = Vec::new();
        let mut restart = None;
        loop {
            let multi = MultiEntry {
                list: RESTART_LIST,
                keys: Some(layout::dvipa_keys(dvipa)),
                version: None,
                lock: None,
                limit: BATCH,
                restart,
            };
            let reply = self.conn.read_list(multi).await?;
            let ReplyBody::Entries(batch) = checked("READ_LIST", reply)?.body else {
                return Ok(entries);
            };
            for entry in batch.entries {
                let data = entry.data.unwrap_or_default();
                match StoredRecord::decode(&data) {
                    Ok(stored) => entries.push((entry.controls.leid, stored)),
                    Err(error) => {
                        tracing::warn!(leid = %entry.controls.leid, %error, "EZBDVIPA entry skipped");
                    }
                }
            }
            match batch.restart {
                Some(token) => restart = Some(token),
                None => return Ok(entries),
            }
        }
    }

    fn submit(&mut self, op: StoreOp) -> Result<Vec<(Inflight, Pending)>, StoreFailure> {
        match op {
            StoreOp::Put(stored) => {
                let kn = stored.ike_tunnel;
                let data = stored.encode().map_err(|error| StoreFailure {
                    ike_tunnel: Some(kn),
                    error,
                })?;
                let (entry_type, locator, key) = match self.leids.get(&kn) {
                    Some(leid) => (EntryType::Old, Some(Locator::Leid(*leid)), KeySource::Keep),
                    None => (EntryType::New, None, KeySource::Explicit(stored.key())),
                };
                let write = WriteEntry {
                    entry_type,
                    list: RESTART_LIST,
                    locator,
                    name: None,
                    leid: None,
                    key,
                    end: End::Tail,
                    data,
                    adjunct: None,
                    conditions: Conditions::default(),
                };
                let pending = self.conn.submit(ListOp::Write(write));
                Ok(vec![(Inflight::Put(kn), pending)])
            }
            StoreOp::Remove(kn) => Ok(self
                .leids
                .remove(&kn)
                .map(|leid| (Inflight::Remove(kn), self.delete(leid)))
                .into_iter()
                .collect()),
            StoreOp::Clear(leids) => Ok(leids
                .into_iter()
                .map(|leid| (Inflight::Clear, self.delete(leid)))
                .collect()),
        }
    }

    fn delete(&self, leid: Leid) -> Pending {
        self.conn.submit(ListOp::Delete(DeleteEntry {
            locator: Locator::Leid(leid),
            read: false,
            conditions: Conditions::default(),
        }))
    }

    async fn settle(
        &mut self,
        inflight: Vec<(Inflight, Pending)>,
        failures: &mut Vec<StoreFailure>,
    ) {
        for (what, pending) in inflight {
            let outcome = match pending.await {
                Ok(reply) => Ok(reply),
                Err(error) => Err(SwsaError::Link(error.to_string())),
            };
            let ike_tunnel = what.ike_tunnel();
            match (what, outcome) {
                (Inflight::Put(kn), Ok(reply)) if reply.is_success() => {
                    if let ReplyBody::Entry(entry) = reply.body {
                        self.leids.insert(kn, entry.controls.leid);
                    }
                }
                // An entry another stack already cleared is gone, as wanted.
                (Inflight::Remove(_) | Inflight::Clear, Ok(reply))
                    if reply.is_success() || reply.reason == Reason::NoEntry => {}
                (what, Ok(reply)) => {
                    if let (Inflight::Put(kn), Reason::NoEntry) = (what, reply.reason) {
                        // Cleared under us: the next write creates it again.
                        self.leids.remove(&kn);
                    }
                    failures.push(StoreFailure {
                        ike_tunnel,
                        error: SwsaError::refused(what.request(), &reply),
                    });
                }
                (_, Err(error)) => failures.push(StoreFailure { ike_tunnel, error }),
            }
        }
    }
}

/// A submitted request and what it was for.
#[derive(Debug, Clone, Copy)]
enum Inflight {
    Put(u32),
    Remove(u32),
    Clear,
}

impl Inflight {
    fn ike_tunnel(self) -> Option<u32> {
        match self {
            Self::Put(kn) | Self::Remove(kn) => Some(kn),
            Self::Clear => None,
        }
    }

    fn request(self) -> &'static str {
        match self {
            Self::Put(_) => "WRITE",
            Self::Remove(_) | Self::Clear => "DELETE",
        }
    }
}

/// The reply if the CF did the request.
fn checked(request: &'static str, reply: Reply) -> Result<Reply, SwsaError> {
    if reply.is_success() {
        Ok(reply)
    } else {
        Err(SwsaError::refused(request, &reply))
    }
}
