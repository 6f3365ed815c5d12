//! What can be wrong with an IKEv2 message on the wire, and the notify that answers it.

use super::{NotifyType, PayloadType};

/// A malformed or unsupported IKEv2 message. Each variant says what was being read and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes were left than the item needs.
    #[error("{what} truncated at offset {offset}: need {need} bytes, have {have}")]
    Truncated {
        /// The item being read.
        what: &'static str,
        /// Offset of the item within the buffer being read.
        offset: usize,
        /// Bytes the item needs.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// A length field holds a value below the item's minimum or beyond its container.
    #[error("{what} has bad length {length} at offset {offset}")]
    BadLength {
        /// The item whose length is wrong.
        what: &'static str,
        /// Offset of the item.
        offset: usize,
        /// The length found.
        length: usize,
    },
    /// The IKE header carries a major version other than 2.
    #[error("unsupported IKE version {major}.{minor}")]
    UnsupportedVersion {
        /// Major version found.
        major: u8,
        /// Minor version found.
        minor: u8,
    },
    /// Bytes were left over after the item ended.
    #[error("{len} trailing bytes after {what}")]
    TrailingData {
        /// The item after which bytes remained.
        what: &'static str,
        /// How many bytes remained.
        len: usize,
    },
    /// A payload chain is inconsistent (payload after SK, last-substructure flag, counts).
    #[error("bad payload chain: {detail}")]
    BadChain {
        /// What is inconsistent.
        detail: &'static str,
    },
    /// A payload type we do not know was sent with the critical bit set (RFC 7296 §2.5).
    #[error("unsupported critical payload {payload_type}")]
    UnsupportedCriticalPayload {
        /// The unknown payload's type.
        payload_type: PayloadType,
    },
    /// A field holds a value its type does not allow.
    #[error("bad value in {what}")]
    BadValue {
        /// The field.
        what: &'static str,
    },
    /// An item is too long to be encoded in its length field.
    #[error("{what} too long to encode: {len} bytes")]
    Oversized {
        /// The item.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

impl Error {
    /// The error notify a responder sends back for this error (RFC 7296 §2.21 and §3.10.1).
    pub fn notify_type(&self) -> NotifyType {
        match self {
            Error::UnsupportedCriticalPayload { .. } => NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            Error::UnsupportedVersion { .. } => NotifyType::INVALID_MAJOR_VERSION,
            _ => NotifyType::INVALID_SYNTAX,
        }
    }
}
