//! Requests to the CF: IXLCONN / IXLDISC, IXLLSTE / IXLLSTM / IXLLSTC list operations, lock
//! operations, monitoring, and the requests the server issues itself (link drop, fencing,
//! heartbeats, failure detection).

use serde::{Deserialize, Serialize};

use super::attrs::{ConDisp, StrDisp, StructureAttrs};
use super::ids::{Authority, ConId, ConName, ConToken, EntryKey, EntryName, Leid, ListNumber};
use super::ids::{StrName, SysName};
use super::list::RestartToken;

/// One request, applied by [`crate::structure::Facility::apply`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// IXLCONN: connect to a structure, allocating it on first connect.
    Connect(ConnectRequest),
    /// IXLDISC: disconnect normally; peers get a Disconnected event.
    Disconnect {
        /// The connection's token.
        token: ConToken,
    },
    /// IXLEERSP DISCFAILCONN,RELEASECONN=YES: a peer releases a failed-persistent connection.
    ReleaseConnection {
        /// The releasing peer's token.
        token: ConToken,
        /// The failed-persistent connection to release.
        conname: ConName,
    },
    /// A list structure operation under a connection.
    List {
        /// The connection's token.
        token: ConToken,
        /// The operation.
        op: ListOp,
    },
    /// SETXCF FORCE,STRUCTURE: free a structure with no active connections (failed-persistent
    /// ones are removed with it).
    Force {
        /// The structure to free.
        structure: StrName,
    },
    /// Server-issued: the CF link `ctx.link` closed; its connections fail.
    LinkDropped,
    /// Server-issued: partition `system` out of the sysplex; its connections fail and its
    /// later requests are refused with RC 0C Fenced.
    Fence {
        /// The system to fence.
        system: SysName,
    },
    /// The system `ctx.system` is alive at `ctx.now`.
    Heartbeat,
    /// Server-issued failure detection: fence every system whose last heartbeat is older than
    /// `interval` microseconds at `ctx.now`.
    Expire {
        /// The failure detection interval (INTERVAL), in microseconds.
        interval: u64,
    },
}

impl Request {
    /// Whether the request leaves the facility unchanged (so the server need not log it).
    pub fn is_read_only(&self) -> bool {
        match self {
            Self::List { op, .. } => op.is_read_only(),
            _ => false,
        }
    }
}

/// IXLCONN parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectRequest {
    /// The structure.
    pub structure: StrName,
    /// The connection name; generated when omitted. Required for CONDISP=KEEP.
    pub conname: Option<ConName>,
    /// Attributes to allocate with; later connectors get the structure's (only ENTRYIDTYPE
    /// must match).
    pub attrs: StructureAttrs,
    /// What happens to this connection when it fails.
    pub condisp: ConDisp,
    /// What happens to the structure when its last connection goes (first connect decides).
    pub strdisp: StrDisp,
    /// Bits in this connector's list notification vector (VECTORLEN), rounded up to 32.
    pub vector_len: u32,
    /// The connector's job name, for displays.
    pub jobname: String,
    /// The connector's address space id, for displays.
    pub asid: u16,
}

/// A list structure operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ListOp {
    /// IXLLSTE WRITE.
    Write(WriteEntry),
    /// IXLLSTE READ.
    Read(ReadEntry),
    /// IXLLSTE MOVE (optionally with READ or WRITE).
    Move(MoveEntry),
    /// IXLLSTE DELETE (optionally READ first: read-and-delete).
    Delete(DeleteEntry),
    /// IXLLSTM READ_LIST: read many entries of one list.
    ReadList(MultiEntry),
    /// IXLLSTM DELETE_LIST: delete many entries of one list.
    DeleteList(MultiEntry),
    /// IXLLSTE LOCK: a lock operation alone.
    Lock(LockRequest),
    /// IXLLSTC READ_LCONTROLS.
    ReadListControls {
        /// The list.
        list: ListNumber,
    },
    /// IXLLSTC WRITE_LCONTROLS.
    WriteListControls(WriteListControls),
    /// IXLLSTC MONITOR_LIST: bind a list to a notification vector bit, or stop.
    MonitorList(MonitorList),
    /// IXLLSTC MONITOR_SUBLIST: create or delete the EMC of (connector, list, key).
    MonitorSublist(MonitorSublist),
    /// IXLLSTC DEQ_EVENTQ: take up to `max` EMCs off the connector's event queue.
    DeqEventQueue {
        /// Most EMCs to dequeue.
        max: u32,
    },
    /// IXLVECTR TESTLISTSTATE: the connector's notification vector bits.
    ReadVector,
}

impl ListOp {
    /// Whether the operation changes nothing.
    pub fn is_read_only(&self) -> bool {
        match self {
            Self::Read(read) => read.cursor.is_none() && read.conditions.is_read_only(),
            Self::ReadList(multi) => multi.lock.is_none(),
            Self::ReadListControls { .. } | Self::ReadVector => true,
            Self::Lock(lock) => matches!(lock.oper, LockOper::Test { .. } | LockOper::HeldBy),
            _ => false,
        }
    }
}

/// Which end of a list (or of an equal-key sublist).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum End {
    /// The head (LIFO insertion).
    Head,
    /// The tail (FIFO insertion).
    Tail,
}

/// Key comparison for KEYPOS locates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyCompare {
    /// The sublist of exactly this key.
    Equal,
    /// The sublist of the highest key not above this one.
    LessOrEqual,
    /// The sublist of the lowest key not below this one.
    GreaterOrEqual,
}

/// How a request finds its entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Locator {
    /// ENTRYID: by LEID.
    Leid(Leid),
    /// ENTRYNAME: by name.
    Name(EntryName),
    /// CURSOR: the entry the list's cursor designates.
    Cursor {
        /// The list.
        list: ListNumber,
    },
    /// UNKEYPOS: the head or tail entry of a list.
    Position {
        /// The list.
        list: ListNumber,
        /// Which end.
        end: End,
    },
    /// KEYPOS: the head or tail entry of the sublist found by a key comparison.
    Key {
        /// The list.
        list: ListNumber,
        /// The key compared with.
        key: EntryKey,
        /// How it is compared.
        compare: KeyCompare,
        /// Which end of the sublist.
        end: End,
    },
}

/// ENTRYTYPE of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryType {
    /// Create an entry.
    New,
    /// Replace the located entry; NoEntry when there is none.
    Old,
    /// Replace the located entry, or create one when there is none.
    Any,
}

/// Where the entry key of a written or moved entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeySource {
    /// Keep the entry's key (zero for a new entry).
    Keep,
    /// This key.
    Explicit(EntryKey),
    /// The target list's LISTKEY, then bump LISTKEY if `increment` (LISTKEYINC); refused with
    /// MaxListKey when the key would pass MAXLISTKEY.
    ListKey {
        /// LISTKEYINC.
        increment: bool,
    },
}

/// AUTHCOMP / VERSCOMP comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compare {
    /// Passes when the current value equals the given one.
    Equal,
    /// Passes when the current value is less than or equal to the given one.
    LessOrEqual,
}

impl Compare {
    /// Whether `current` passes against `given`.
    pub fn passes<T: Ord>(self, current: &T, given: &T) -> bool {
        match self {
            Self::Equal => current == given,
            Self::LessOrEqual => current <= given,
        }
    }
}

/// A list authority compare, with NEWAUTH applied only on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityCheck {
    /// How to compare.
    pub compare: Compare,
    /// The value compared with (AUTHCOMP).
    pub value: Authority,
    /// The authority to set on success (NEWAUTH).
    pub new: Option<Authority>,
}

/// An entry version compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionCompare {
    /// How to compare.
    pub compare: Compare,
    /// The version compared with.
    pub value: u64,
}

/// An entry version update on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionUpdate {
    /// Set the version.
    Set(u64),
    /// Add one.
    Increment,
    /// Subtract one.
    Decrement,
}

/// The filters and the joined lock operation of a single-entry request; all must pass or
/// nothing changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    /// Compare the authority of the entry's list (of the target list for a new entry).
    pub authority: Option<AuthorityCheck>,
    /// Compare the entry's version.
    pub version: Option<VersionCompare>,
    /// Update the entry's version on success.
    pub version_update: Option<VersionUpdate>,
    /// A lock operation joined to the entry operation (LOCKINDEX, LOCKOPER).
    pub lock: Option<LockRequest>,
}

impl Conditions {
    /// Whether the conditions change nothing by themselves.
    fn is_read_only(&self) -> bool {
        self.authority.is_none_or(|a| a.new.is_none())
            && self.version_update.is_none()
            && self
                .lock
                .as_ref()
                .is_none_or(|l| matches!(l.oper, LockOper::Test { .. } | LockOper::HeldBy))
    }
}

/// IXLLSTE WRITE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WriteEntry {
    /// NEW, OLD or ANY.
    pub entry_type: EntryType,
    /// The list a new entry goes to.
    pub list: ListNumber,
    /// The entry to replace (OLD, ANY).
    pub locator: Option<Locator>,
    /// The name of a new entry (named structures).
    pub name: Option<EntryName>,
    /// The LEID of a new entry (ENTRYIDTYPE=USER).
    pub leid: Option<Leid>,
    /// The entry key.
    pub key: KeySource,
    /// Where a new (or re-keyed) entry goes in its list or sublist.
    pub end: End,
    /// The data entry.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// The adjunct area (64 bytes; structures with ADJUNCT only).
    #[serde(with = "serde_bytes")]
    pub adjunct: Option<Vec<u8>>,
    /// Filters and lock.
    pub conditions: Conditions,
}

/// How a read moves the list cursor (CURSORUPDTYPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CursorUpdate {
    /// The cursor designates the entry after the one read (0 past the end).
    Next,
    /// The cursor designates the entry read.
    Current,
}

/// IXLLSTE READ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadEntry {
    /// The entry.
    pub locator: Locator,
    /// How to move the list cursor.
    pub cursor: Option<CursorUpdate>,
    /// Filters and lock.
    pub conditions: Conditions,
}

/// IXLLSTE MOVE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoveEntry {
    /// The entry.
    pub locator: Locator,
    /// The target list.
    pub to: ListNumber,
    /// Where it goes in the target list or sublist.
    pub end: End,
    /// Its key in the target list.
    pub key: KeySource,
    /// Return the entry's data (MOVE with READ).
    pub read: bool,
    /// Replace the entry's data and adjunct (MOVE with WRITE).
    pub write: Option<(Vec<u8>, Option<Vec<u8>>)>,
    /// Filters and lock.
    pub conditions: Conditions,
}

/// IXLLSTE DELETE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteEntry {
    /// The entry.
    pub locator: Locator,
    /// Return the entry's data first (read-and-delete).
    pub read: bool,
    /// Filters and lock.
    pub conditions: Conditions,
}

/// IXLLSTM READ_LIST / DELETE_LIST over one list, in list order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiEntry {
    /// The list.
    pub list: ListNumber,
    /// Only entries with keys in this inclusive range.
    pub keys: Option<(EntryKey, EntryKey)>,
    /// Only entries whose version passes (others are skipped).
    pub version: Option<VersionCompare>,
    /// A lock the whole request depends on (NOTHELD or HELDBY).
    pub lock: Option<LockRequest>,
    /// Most entries to process before ending early with a restart token.
    pub limit: u32,
    /// Where to resume.
    pub restart: Option<RestartToken>,
}

/// LOCKOPER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockOper {
    /// Obtain the lock.
    Set,
    /// Release the lock (the requester must hold it).
    Reset,
    /// Test whether `owner` holds the lock (LOCKCOMP): LockNotHeld warning otherwise.
    Test {
        /// The connection assumed to hold it.
        owner: ConId,
    },
    /// Proceed only while no other connection holds the lock.
    NotHeld,
    /// Proceed only while the requester holds the lock.
    HeldBy,
}

/// A lock table operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    /// The lock table entry (LOCKINDEX).
    pub index: u32,
    /// The operation.
    pub oper: LockOper,
    /// Conditional requests fail on a held lock; unconditional SET and NOTHELD queue FIFO.
    pub conditional: bool,
}

/// IXLLSTC WRITE_LCONTROLS. The authority is always compared (default zeros).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WriteListControls {
    /// The list.
    pub list: ListNumber,
    /// Authority compare and NEWAUTH.
    pub authority: AuthorityCheck,
    /// New list limit (entries or elements).
    pub limit: Option<u32>,
    /// New description (32 bytes).
    pub description: Option<[u8; 32]>,
    /// New LISTKEY.
    pub list_key: Option<EntryKey>,
    /// New MAXLISTKEY.
    pub max_list_key: Option<EntryKey>,
    /// Set the cursor to this entry (which must be in the list), or to 0.
    pub cursor: Option<Option<Leid>>,
}

/// Start or stop a monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MonitorAction {
    /// Start (or change) monitoring.
    Start,
    /// Stop monitoring.
    Stop,
}

/// IXLLSTC MONITOR_LIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorList {
    /// The list.
    pub list: ListNumber,
    /// Start or stop.
    pub action: MonitorAction,
    /// The notification vector bit (VECTORINDEX).
    pub bit: u32,
    /// Drive the list transition exit on empty→nonempty (DRIVEEXIT=YES).
    pub drive_exit: bool,
}

/// IXLLSTC MONITOR_SUBLIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorSublist {
    /// The list.
    pub list: ListNumber,
    /// The sublist key.
    pub key: EntryKey,
    /// Start or stop.
    pub action: MonitorAction,
    /// User data carried by the EMC.
    pub user_data: [u8; 16],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_without_side_effects_are_read_only() {
        let read = ListOp::Read(ReadEntry {
            locator: Locator::Leid(Leid::system(1)),
            cursor: None,
            conditions: Conditions::default(),
        });
        assert!(read.is_read_only());
        let moving_cursor = ListOp::Read(ReadEntry {
            locator: Locator::Cursor {
                list: ListNumber(0),
            },
            cursor: Some(CursorUpdate::Next),
            conditions: Conditions::default(),
        });
        assert!(!moving_cursor.is_read_only());
        assert!(!Request::Heartbeat.is_read_only());
    }

    #[test]
    fn compare_less_or_equal_passes_on_smaller_values() {
        assert!(Compare::LessOrEqual.passes(&1, &2));
        assert!(Compare::LessOrEqual.passes(&2, &2));
        assert!(!Compare::LessOrEqual.passes(&3, &2));
        assert!(!Compare::Equal.passes(&1, &2));
    }
}
