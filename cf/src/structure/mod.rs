//! The pure model of a coupling facility holding list structures, as XES presents them to
//! connectors (IXLCONN, IXLLSTE, IXLLSTM, IXLLSTC): no I/O, no clock, no randomness.
//!
//! ```text
//!   Request + Ctx ──► Facility::apply ──► Outcome { reply, deliveries }
//!                        │
//!                        ├─ structures by name ── ListStructure
//!                        │     lists (List: controls + entries in key/sublist order)
//!                        │     entries (LEID → Entry), names, lock table, monitors, EMCs
//!                        │     connections (CONTOKEN, CONNAME, CONID, version, state)
//!                        └─ systems (heartbeats, fencing)
//! ```
//!
//! The server gives every request a [`Ctx`] (link, system, time), sends the reply back,
//! pushes the deliveries, and logs the requests that are not [`Request::is_read_only`]: replaying
//! them in order on a snapshot (the facility serializes with serde) rebuilds the same state.
//! Refused requests change nothing.
//!
//! ```
//! use cf::structure::*;
//!
//! let mut cf = Facility::default();
//! let ctx = Ctx { link: LinkId(1), system: SysName::new("SYS1").unwrap(), now: Tod(0) };
//! let connect = Request::Connect(ConnectRequest {
//!     structure: StrName::new("EZBDVIPA").unwrap(),
//!     conname: ConName::new("TCPIPSYS1"),
//!     attrs: StructureAttrs::default(),
//!     condisp: ConDisp::Keep,
//!     strdisp: StrDisp::Keep,
//!     vector_len: 32,
//!     jobname: "TCPIP".into(),
//!     asid: 0x40,
//! });
//! let ReplyBody::Connected(conn) = cf.apply(&ctx, connect).reply.body else { panic!() };
//! let write = ListOp::Write(WriteEntry {
//!     entry_type: EntryType::New,
//!     list: ListNumber(0),
//!     locator: None,
//!     name: None,
//!     leid: None,
//!     key: KeySource::Explicit(EntryKey([1; 16])),
//!     end: End::Tail,
//!     data: b"restart record".to_vec(),
//!     adjunct: None,
//!     conditions: Conditions::default(),
//! });
//! let outcome = cf.apply(&ctx, Request::List { token: conn.token, op: write });
//! assert_eq!(outcome.reply.rc, ReturnCode::Ok);
//! ```

mod attrs;
mod codes;
mod conn;
mod controls;
mod dispatch;
mod dump;
mod entry;
mod entry_map;
mod facility;
mod full;
mod ids;
mod instance;
mod lifecycle;
mod list;
mod lock;
mod monitor;
mod multi;
mod ops;
mod reply;
mod request;

pub use attrs::{
    ADJUNCT_BYTES, ConDisp, Durability, EntryIdType, ListCntlType, MAX_CONNECTIONS, MAX_DATA_BYTES,
    MAX_LIST_HEADERS, RefOption, StrDisp, StructureAttrs,
};
pub use codes::{Reason, ReturnCode};
pub use conn::{ConnState, Connection, Connections};
pub use dump::dump_structure;
pub use entry::{Entry, EntryControls};
pub use facility::{CfIdentity, Ctx, Facility, SystemStatus};
pub use ids::{
    Authority, ConId, ConName, ConToken, EntryKey, EntryName, Leid, LinkId, ListNumber, StrName,
    SysName, Ticket, Tod,
};
pub use instance::ListStructure;
pub use lifecycle::MAX_VECTOR_LEN;
pub use list::{List, ListControls, Position, RestartToken};
pub use lock::{LockTable, Waiter};
pub use monitor::{Emc, ListMonitor, Monitors};
pub use reply::{
    Connected, Delivery, EmcAnswer, EntryAnswer, EntryBatch, Event, Outcome, Recipient, Reply,
    ReplyBody,
};
pub use request::{
    AuthorityCheck, Compare, Conditions, ConnectRequest, CursorUpdate, DeleteEntry, End, EntryType,
    KeyCompare, KeySource, ListOp, Locator, LockOper, LockRequest, MonitorAction, MonitorList,
    MonitorSublist, MoveEntry, MultiEntry, ReadEntry, Request, VersionCompare, VersionUpdate,
    WriteEntry, WriteListControls,
};

#[cfg(test)]
mod tests;
