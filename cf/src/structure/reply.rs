//! What applying a request gives back: the reply to the requester and the deliveries (events
//! and completions) the server pushes to connectors.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::attrs::StructureAttrs;
use super::codes::{Reason, ReturnCode};
use super::conn::ConnState;
use super::entry::EntryControls;
use super::ids::{Authority, ConId, ConName, ConToken, EntryKey, LinkId, ListNumber, SysName};
use super::ids::{StrName, Ticket};
use super::list::{ListControls, RestartToken};

/// The result of one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The answer to the requester.
    pub reply: Reply,
    /// Events and completions for connectors (the requester's own included), in order.
    pub deliveries: Vec<Delivery>,
}

impl Outcome {
    /// An outcome with no deliveries.
    pub fn reply(reply: Reply) -> Self {
        Self {
            reply,
            deliveries: Vec::new(),
        }
    }
}

/// Return code, reason code and answer area.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The return code.
    pub rc: ReturnCode,
    /// The reason code.
    pub reason: Reason,
    /// The answer area.
    pub body: ReplyBody,
}

impl Reply {
    /// RC 0 with an answer.
    pub fn ok(body: ReplyBody) -> Self {
        Self {
            rc: ReturnCode::Ok,
            reason: Reason::None,
            body,
        }
    }

    /// RC 4 with a reason and an answer.
    pub fn warning(reason: Reason, body: ReplyBody) -> Self {
        Self {
            rc: ReturnCode::Warning,
            reason,
            body,
        }
    }

    /// A failure with no answer: RC 8 for parameter reasons, RC 0C otherwise.
    pub fn refused(reason: Reason) -> Self {
        Self::refused_with(reason, ReplyBody::None)
    }

    /// A failure with an answer (the current authority, the failing entry's controls).
    pub fn refused_with(reason: Reason, body: ReplyBody) -> Self {
        let rc = if (0x0800..0x0C00).contains(&reason.value()) {
            ReturnCode::ParmError
        } else {
            ReturnCode::EnvError
        };
        Self { rc, reason, body }
    }

    /// Whether the request was done (RC 0 or 4).
    pub fn is_success(&self) -> bool {
        matches!(self.rc, ReturnCode::Ok | ReturnCode::Warning)
    }
}

/// The answer area of a reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReplyBody {
    /// Nothing to answer.
    None,
    /// IXLYCONA: the new connection (boxed, as it is rare and large: see [`Reply`]'s size).
    Connected(Box<Connected>),
    /// One entry's controls, with its data and adjunct when read.
    Entry(EntryAnswer),
    /// Entries of a multi-entry request.
    Entries(EntryBatch),
    /// The current list authority (after a failed authority compare).
    Authority(Authority),
    /// A list's controls (boxed, as they are rare and large).
    ListControls(Box<ListControls>),
    /// The lock holder (TEST, HELDBY, a refused lock request), if any.
    LockHolder(Option<ConId>),
    /// The request waits in a lock queue; a [`Delivery::Completion`] with this ticket ends it.
    Queued(Ticket),
    /// EMCs dequeued from the event queue, and how many remain queued.
    EventQueue {
        /// The EMCs, oldest first.
        emcs: Vec<EmcAnswer>,
        /// How many remain.
        remaining: u32,
    },
    /// The notification vector, one bool per bit.
    Vector(Vec<bool>),
    /// The systems a Fence or Expire request partitioned out of the sysplex.
    Systems(Vec<SysName>),
}

/// IXLYCONA: what a connector learns on connect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connected {
    /// The structure.
    pub structure: StrName,
    /// The connect token for later requests.
    pub token: ConToken,
    /// The connection name (generated when omitted).
    pub conname: ConName,
    /// The CONID.
    pub conid: ConId,
    /// The connection version.
    pub version: u32,
    /// The structure's attributes as allocated.
    pub attrs: StructureAttrs,
    /// Whether this connect allocated the structure.
    pub allocated: bool,
    /// The notification vector length, rounded up to a multiple of 32.
    pub vector_len: u32,
}

/// One entry in an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryAnswer {
    /// The entry's controls.
    pub controls: EntryControls,
    /// The data entry, when read. In the CF it shares the entry's own bytes; on a connector
    /// it shares the buffer the reply was read into, with the other replies of its burst, so
    /// data kept long is best copied out (`Bytes::copy_from_slice`).
    pub data: Option<Bytes>,
    /// The adjunct, when read from a structure with adjuncts.
    #[serde(with = "serde_bytes")]
    pub adjunct: Option<Box<[u8]>>,
}

// A reply is moved a few times on its way from the decoder to the caller that awaits it; at
// 128 bytes or less each move is a few inline copies rather than a call of `memmove`.
const _: () = assert!(std::mem::size_of::<Reply>() <= 128);

/// Entries of a multi-entry request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryBatch {
    /// The entries read (or deleted), in list order.
    pub entries: Vec<EntryAnswer>,
    /// Where to resume when the request ended early (RC 4 Timeout or BufferFull).
    pub restart: Option<RestartToken>,
}

/// An event monitor control taken off an event queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmcAnswer {
    /// The monitored list.
    pub list: ListNumber,
    /// The monitored key.
    pub key: EntryKey,
    /// The user data given on MONITOR_SUBLIST.
    pub user_data: [u8; 16],
}

/// Something the server pushes to a connector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Delivery {
    /// An event for the connector's event exit.
    Event {
        /// The connection told.
        to: Recipient,
        /// What happened.
        event: Event,
    },
    /// The completion of a queued request.
    Completion {
        /// The connection that issued the request.
        to: Recipient,
        /// The ticket given in its [`ReplyBody::Queued`] reply.
        ticket: Ticket,
        /// The request's final reply.
        reply: Reply,
    },
    /// A console message (IXC585E, IXC586I).
    Console {
        /// The message id and text.
        text: String,
    },
}

/// The connection a delivery is for, and the link it goes out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The CF link.
    pub link: LinkId,
    /// The connection.
    pub token: ConToken,
}

/// An event-exit event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Another connector connected.
    NewConnection {
        /// Its name.
        conname: ConName,
        /// Its CONID.
        conid: ConId,
        /// Its system.
        system: SysName,
    },
    /// A connection that existed before this connector connected (the burst after connect).
    ExistingConnection {
        /// Its name.
        conname: ConName,
        /// Its CONID.
        conid: ConId,
        /// Its state.
        state: ConnState,
    },
    /// The dummy record ending the Existing Connection burst.
    ExistingConnectionsEnd,
    /// A connection disconnected normally.
    Disconnected {
        /// Its name.
        conname: ConName,
        /// Its CONID.
        conid: ConId,
    },
    /// A connection failed (its link dropped, or its system was fenced).
    FailedConnection {
        /// Its name.
        conname: ConName,
        /// Its CONID.
        conid: ConId,
        /// Whether it stays as failed-persistent (CONDISP=KEEP).
        persistent: bool,
    },
    /// A failed-persistent connection was released or reconnected elsewhere.
    ConnectionReleased {
        /// Its name.
        conname: ConName,
        /// Its CONID.
        conid: ConId,
    },
    /// List transition exit: a monitored list with DRIVEEXIT went empty→nonempty (which one is
    /// not said; test the vector).
    ListTransition,
    /// The connector's event queue went empty→nonempty.
    EventQueueTransition,
    /// Notify exit: another connection waits for a lock this connection holds.
    LockContention {
        /// The lock index.
        index: u32,
        /// The waiting connection.
        requester: ConId,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_pick_the_return_code_from_the_reason_range() {
        assert_eq!(
            Reply::refused(Reason::BadListNumber).rc,
            ReturnCode::ParmError
        );
        assert_eq!(Reply::refused(Reason::StrFull).rc, ReturnCode::EnvError);
        assert!(!Reply::refused(Reason::NoEntry).is_success());
        assert!(Reply::warning(Reason::Timeout, ReplyBody::None).is_success());
    }

    #[test]
    fn shared_entry_data_encodes_as_the_byte_strings_logs_and_snapshots_hold() {
        let data = vec![0, 1, 0x80, 0xFF];
        assert_eq!(
            postcard::to_allocvec(&Some(Bytes::from(data.clone()))).unwrap(),
            postcard::to_allocvec(&Some(serde_bytes::ByteBuf::from(data))).unwrap()
        );
    }
}
