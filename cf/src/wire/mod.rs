//! The CF link protocol: framing ([`codec`], [`reader`]) and the messages each side sends
//! ([`message`]).
//!
//! Every request carries a [`RequestId`] chosen by the connector, so requests can be pipelined
//! and answered out of order; events and deferred completions arrive on the same link.

pub mod codec;
mod fast;
pub mod message;
pub mod reader;

pub use codec::{
    DEFAULT_MAX_FRAME, FrameError, HEADER_LEN, decode_frame, encode_frame, frame_body,
};
pub use message::*;
pub use reader::FrameReader;
