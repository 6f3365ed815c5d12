//! What can go wrong in the crypto layer.

use super::ids::{DhGroup, EncrId, IntegId, PrfId};

/// A crypto failure: an unsupported transform, a wrong length, or data that fails its check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The encryption algorithm (with this key length, in bits) is not implemented.
    #[error("unsupported encryption algorithm {id} with key length {key_bits:?}")]
    UnsupportedEncryption {
        /// The proposed algorithm.
        id: EncrId,
        /// The Key Length attribute, if any.
        key_bits: Option<u16>,
    },
    /// The integrity algorithm is not implemented.
    #[error("unsupported integrity algorithm {0}")]
    UnsupportedIntegrity(IntegId),
    /// The pseudorandom function is not implemented.
    #[error("unsupported PRF {0}")]
    UnsupportedPrf(PrfId),
    /// The Diffie-Hellman group is not implemented.
    #[error("unsupported Diffie-Hellman group {0}")]
    UnsupportedDhGroup(DhGroup),
    /// An AEAD cipher came with an integrity algorithm, or a plain cipher without one.
    #[error("encryption algorithm {encryption} cannot be combined with integrity {integrity:?}")]
    IntegrityMismatch {
        /// The encryption algorithm.
        encryption: EncrId,
        /// The integrity algorithm, if any.
        integrity: Option<IntegId>,
    },
    /// Key material of the wrong length.
    #[error("{what}: key material must be {need} octets, got {have}")]
    KeyLength {
        /// Which key.
        what: &'static str,
        /// Expected length.
        need: usize,
        /// Length given.
        have: usize,
    },
    /// Encrypted data shorter than IV plus ICV, or plaintext shorter than its trailer.
    #[error("truncated {what}: need at least {need} octets, got {have}")]
    Truncated {
        /// What was truncated.
        what: &'static str,
        /// Minimum length.
        need: usize,
        /// Length given.
        have: usize,
    },
    /// Ciphertext that is not a whole number of cipher blocks.
    #[error("ciphertext of {len} octets is not a multiple of the {block}-octet block")]
    NotBlockAligned {
        /// Ciphertext length.
        len: usize,
        /// Cipher block length.
        block: usize,
    },
    /// A message too long for the cipher to seal.
    #[error("message of {len} octets is too long to encrypt")]
    MessageTooLong {
        /// Plaintext length.
        len: usize,
    },
    /// The integrity check value (or AEAD tag) does not match.
    #[error("integrity check failed")]
    BadIcv,
    /// The pad length octet points before the start of the plaintext.
    #[error("pad length {pad_len} exceeds the {available} octets before it")]
    BadPadding {
        /// The pad length octet.
        pad_len: usize,
        /// Octets available for padding.
        available: usize,
    },
    /// The peer's Diffie-Hellman public value is malformed or degenerate.
    #[error("invalid Diffie-Hellman public value for {group}: {reason}")]
    InvalidPublicValue {
        /// The group.
        group: DhGroup,
        /// Why it was refused.
        reason: &'static str,
    },
    /// prf+ was asked for more than 255 PRF blocks (RFC 7296 §2.13).
    #[error("prf+ cannot produce {requested} octets (at most {max})")]
    PrfPlusTooLong {
        /// Octets requested.
        requested: usize,
        /// The limit for this PRF.
        max: usize,
    },
}
