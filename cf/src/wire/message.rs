//! The messages of the CF link, one per frame.
//!
//! A link opens with the handshake of [`crate::auth`] (Hello, Challenge, Proof, Welcome).
//! After that the connector sends requests, each with its own [`RequestId`], and the CF
//! answers each once, in any order, and pushes events and deferred completions in between.
//! A [`CfMessage::Closing`] is the CF's last word before it closes the link.

use std::fmt;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use super::codec::{Appender, FrameError, encode_frame, encode_frame_with};
use super::fast::{self, Input};
use crate::auth::{Nonce, Proof};
use crate::structure::{ConToken, Event, LinkId, Reply, Request, StrName, Ticket};

/// Version of this protocol; a Hello with another one is refused.
pub const PROTOCOL_VERSION: u16 = 1;

/// Chosen by the connector for each request; the answer carries it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// The first message of a link: who is connecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the connector.
    pub version: u16,
    /// The system the connector runs on (SYSNAME).
    pub sysname: String,
    /// The connector's job name.
    pub jobname: String,
    /// The connector's nonce.
    pub nonce: Nonce,
}

/// A message from a connector to the CF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConnectorMessage {
    /// Opens the handshake.
    Hello(Hello),
    /// Answers the CF's challenge.
    Proof(Proof),
    /// A structure request (XES service), answered by [`CfMessage::Reply`].
    Request {
        /// The request's id.
        id: RequestId,
        /// The request.
        request: Request,
    },
    /// A deterministic dump of one structure, answered by [`CfMessage::Text`].
    Dump {
        /// The request's id.
        id: RequestId,
        /// The structure.
        structure: StrName,
    },
}

/// The variant index postcard gives [`ConnectorMessage::Request`] (a test keeps it true).
const REQUEST_VARIANT: u32 = 2;

/// A [`ConnectorMessage::Request`] that borrows its request: it encodes to the same bytes, so a
/// connector encodes a request without first moving it into a message.
#[derive(Debug, Clone, Copy)]
pub struct RequestFrame<'a> {
    /// The request's id.
    pub id: RequestId,
    /// The request.
    pub request: &'a Request,
}

impl RequestFrame<'_> {
    /// Appends the frame of this request to `dst` (the bytes of its message), by hand for the
    /// hot requests; refuses a body larger than `max`.
    pub fn encode(&self, dst: &mut BytesMut, max: usize) -> Result<(), FrameError> {
        let hot = fast::takes_request(self.request).then_some(|out: &mut Appender<'_>| {
            fast::put_request(out, self.request);
        });
        encode_with_id(self, (REQUEST_VARIANT, self.id), hot, dst, max)
    }
}

impl Serialize for RequestFrame<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let variant = ("ConnectorMessage", REQUEST_VARIANT, "Request");
        serialize_with_id(serializer, variant, self.id, ("request", self.request))
    }
}

/// Serializes the struct variant `(enum, index, name)` of a message with the fields `id` and
/// `field`, as serde's derive would.
fn serialize_with_id<S: serde::Serializer, T: Serialize>(
    serializer: S,
    (message, index, name): (&'static str, u32, &'static str),
    id: RequestId,
    (field, value): (&'static str, &T),
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStructVariant;
    let mut variant = serializer.serialize_struct_variant(message, index, name, 2)?;
    variant.serialize_field("id", &id)?;
    variant.serialize_field(field, value)?;
    variant.end()
}

/// Decodes a connector message from a frame body (a request of a hot shape by hand, see
/// the `fast` module; the same as `postcard::from_bytes`); for a request, also hands back the
/// bytes its [`Request`] was decoded from, which decode to exactly that request again (what
/// the CF logs instead of encoding the request anew).
pub fn decode_connector_message(
    body: &[u8],
) -> Result<(ConnectorMessage, Option<&[u8]>), postcard::Error> {
    let mut input = Input::new(body);
    if input.variant() == Some(REQUEST_VARIANT)
        && let Some(id) = input.u64()
    {
        let rest = input.rest();
        let (request, after) = match input.request() {
            Some(request) => (request, input.rest()),
            None => postcard::take_from_bytes::<Request>(rest)?,
        };
        let used = rest.len() - after.len();
        let message = ConnectorMessage::Request {
            id: RequestId(id),
            request,
        };
        return Ok((message, rest.get(..used)));
    }
    Ok((postcard::from_bytes(body)?, None))
}

/// Decodes a CF message from a frame body (a reply of a hot shape by hand, see
/// the `fast` module); the same as `postcard::from_bytes`. A hot reply's entry data of 1 KiB or
/// more is a slice of `body`, not a copy.
pub fn decode_cf_message(body: &Bytes) -> Result<CfMessage, postcard::Error> {
    let mut input = Input::new(body);
    if input.variant() == Some(REPLY_VARIANT)
        && let Some(id) = input.u64()
        && let Some(reply) = input.reply(body)
    {
        return Ok(CfMessage::Reply {
            id: RequestId(id),
            reply,
        });
    }
    postcard::from_bytes(body)
}

/// A message from the CF to a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CfMessage {
    /// The CF's nonce and its proof of holding the secret.
    Challenge {
        /// The CF's nonce.
        nonce: Nonce,
        /// HMAC over the transcript, role CF.
        proof: Proof,
    },
    /// The link is authenticated.
    Welcome {
        /// The number the CF gave the link.
        link: LinkId,
        /// The failure detection interval (INTERVAL), in milliseconds: a system must send a
        /// heartbeat more often than this or be partitioned.
        interval_ms: u64,
    },
    /// The answer to a request.
    Reply {
        /// The request answered.
        id: RequestId,
        /// Its reply.
        reply: Reply,
    },
    /// The text answer to a dump.
    Text {
        /// The request answered.
        id: RequestId,
        /// The text.
        text: String,
    },
    /// A request the CF will not carry out; the link stays up.
    Refused {
        /// The request refused.
        id: RequestId,
        /// Why.
        refusal: Refusal,
    },
    /// An event for one of this link's connections (the event exit's input).
    Event {
        /// The connection told.
        token: ConToken,
        /// What happened.
        event: Event,
    },
    /// The final reply of an earlier request that was queued (say, behind a held lock).
    Completion {
        /// The connection the request was made under.
        token: ConToken,
        /// The ticket of its queued reply.
        ticket: Ticket,
        /// The final reply.
        reply: Reply,
    },
    /// The CF closes the link after this message.
    Closing(LinkFailure),
}

/// The variant index postcard gives [`CfMessage::Reply`] (a test keeps it true).
const REPLY_VARIANT: u32 = 2;

/// A [`CfMessage::Reply`] that borrows its reply: it encodes to the same bytes, so the CF
/// encodes a reply where it lies instead of moving it into a message first.
#[derive(Debug, Clone, Copy)]
pub struct ReplyFrame<'a> {
    /// The request answered.
    pub id: RequestId,
    /// Its reply.
    pub reply: &'a Reply,
}

impl ReplyFrame<'_> {
    /// Appends the frame of this reply to `dst` (the bytes of its message), by hand for the
    /// hot replies; refuses a body larger than `max`.
    pub fn encode(&self, dst: &mut BytesMut, max: usize) -> Result<(), FrameError> {
        let hot = fast::takes_reply(self.reply).then_some(|out: &mut Appender<'_>| {
            fast::put_reply(out, self.reply);
        });
        encode_with_id(self, (REPLY_VARIANT, self.id), hot, dst, max)
    }
}

/// Appends the frame of `frame`, a message of variant `index` whose first field is `id`: by
/// hand with `hot` appending what follows the id, or all of it through postcard.
fn encode_with_id(
    frame: &impl Serialize,
    (index, id): (u32, RequestId),
    hot: Option<impl FnOnce(&mut Appender<'_>)>,
    dst: &mut BytesMut,
    max: usize,
) -> Result<(), FrameError> {
    let Some(put) = hot else {
        return encode_frame(frame, dst, max);
    };
    encode_frame_with(dst, max, |out| {
        fast::put_head(out, index, id.0);
        put(out);
        Ok(())
    })
}

impl Serialize for ReplyFrame<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let variant = ("CfMessage", REPLY_VARIANT, "Reply");
        serialize_with_id(serializer, variant, self.id, ("reply", self.reply))
    }
}

/// Why a request was refused without closing the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Refusal {
    /// No structure of that name is allocated.
    NoSuchStructure,
    /// Only the CF itself may issue this request (link drop, fence, expiry).
    ServerOnly,
    /// The reply would not fit in a frame; ask for fewer entries.
    ReplyTooLarge,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchStructure => f.write_str("no such structure"),
            Self::ServerOnly => f.write_str("request reserved to the CF"),
            Self::ReplyTooLarge => f.write_str("reply too large for a frame"),
        }
    }
}

/// Why the CF closes a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LinkFailure {
    /// A frame larger than the link allows.
    FrameTooLarge {
        /// Announced length.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// A frame that does not decode.
    Malformed,
    /// A request before the handshake finished, or a handshake message out of place.
    NotAuthenticated,
    /// The connector's proof does not match the sysplex secret.
    BadProof,
    /// The Hello was not acceptable (version, names).
    BadHello(String),
    /// The CF is shutting down.
    Shutdown,
    /// The CF's store failed; it stops.
    StoreFailed,
}

impl fmt::Display for LinkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            Self::Malformed => f.write_str("malformed frame"),
            Self::NotAuthenticated => f.write_str("link not authenticated"),
            Self::BadProof => f.write_str("authentication failed"),
            Self::BadHello(why) => write!(f, "hello refused: {why}"),
            Self::Shutdown => f.write_str("CF shutting down"),
            Self::StoreFailed => f.write_str("CF store failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::{ConToken, ListNumber, ListOp};

    #[test]
    fn a_request_decodes_with_the_bytes_of_its_request() {
        let request = Request::List {
            token: ConToken([5; 16]),
            op: ListOp::ReadListControls {
                list: ListNumber(300),
            },
        };
        let message = ConnectorMessage::Request {
            id: RequestId(1 << 40),
            request: request.clone(),
        };
        let mut body = postcard::to_allocvec(&message).unwrap();
        body.extend_from_slice(b"trailing");
        let (decoded, raw) = decode_connector_message(&body).unwrap();
        assert_eq!(decoded, message);
        assert_eq!(
            raw,
            Some(postcard::to_allocvec(&request).unwrap().as_slice())
        );
    }

    #[test]
    fn borrowed_frames_encode_as_their_messages() {
        let request = Request::List {
            token: ConToken([5; 16]),
            op: ListOp::ReadListControls {
                list: ListNumber(300),
            },
        };
        let id = RequestId(u64::MAX - 3);
        let owned = ConnectorMessage::Request {
            id,
            request: request.clone(),
        };
        assert_eq!(
            postcard::to_allocvec(&RequestFrame {
                id,
                request: &request
            })
            .unwrap(),
            postcard::to_allocvec(&owned).unwrap()
        );
        let reply = crate::structure::Reply::refused(crate::structure::Reason::NoEntry);
        let owned = CfMessage::Reply {
            id,
            reply: reply.clone(),
        };
        assert_eq!(
            postcard::to_allocvec(&ReplyFrame { id, reply: &reply }).unwrap(),
            postcard::to_allocvec(&owned).unwrap()
        );
    }

    #[test]
    fn other_messages_decode_without_request_bytes() {
        let message = ConnectorMessage::Dump {
            id: RequestId(3),
            structure: crate::structure::StrName::new("EZBDVIPA").unwrap(),
        };
        let body = postcard::to_allocvec(&message).unwrap();
        assert_eq!(decode_connector_message(&body).unwrap(), (message, None));
    }

    #[test]
    fn a_cut_request_is_malformed() {
        let message = ConnectorMessage::Request {
            id: RequestId(9),
            request: Request::Heartbeat,
        };
        let body = postcard::to_allocvec(&message).unwrap();
        assert!(decode_connector_message(&body[..body.len() - 1]).is_err());
    }
}
