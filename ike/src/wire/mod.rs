//! The IKEv2 wire format (RFC 7296 §3, RFC 7383 fragments, RFC 3948 port-4500 framing).
//!
//! Fixed headers are zero-copy views ([`Header`], [`PayloadHeader`]) with parsed `Repr`s, in the
//! style of smoltcp; the payload chain and its substructures are read with a bounds-checked
//! reader, in the style of rustls. Everything is parsed before anything acts on it: a
//! [`Message`] either parses completely or yields an [`Error`] that names what and where.
//! Protocol numbers are open newtypes, so unknown values, unknown notifies and unknown
//! non-critical payloads survive a round trip. Emitting a parsed message gives back its bytes,
//! which matters because the IKE_SA_INIT messages are signed by AUTH.
//!
//! No parser in this module panics on any input; `fuzz/fuzz_targets/ike_message.rs` checks it.

mod codec;
mod error;
#[cfg(test)]
mod fixtures;
mod header;
mod ident;
mod message;
mod natt;
mod notify;
mod numbers;
mod payload;
mod payload_header;
#[cfg(test)]
mod proptests;
mod sa;
mod ts;

pub use error::Error;
pub use header::{Flags, HEADER_LEN, Header, HeaderRepr, MAJOR_VERSION};
pub use ident::Identity;
pub use message::Message;
pub use natt::{
    IKE_PORT, NAT_T_PORT, NON_ESP_MARKER, Port4500, classify_port_4500, with_non_esp_marker,
};
pub use notify::{DeletePayload, NotifyPayload};
pub use numbers::{
    AttributeType, AuthMethod, ExchangeType, IdType, NotifyType, PayloadType, ProtocolId,
    TransformType, TsType,
};
pub use payload::{
    AuthPayload, EncryptedFragment, EncryptedPayload, KePayload, Payload, RawPayload, emit_chain,
    parse_chain,
};
pub use payload_header::{PAYLOAD_HEADER_LEN, PayloadHeader, PayloadHeaderRepr};
pub use sa::{Attribute, Proposal, SaPayload, Transform};
pub use ts::{Ipv4Range, TrafficSelector, TsPayload};
