//! Why an ESP packet was not protected or not accepted.

use ike::crypto::CryptoError;

use super::packet::Spi;
use super::replay::ReplayError;

/// An ESP failure. Each is a reason to drop one packet (and count it), never to panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EspError {
    /// Shorter than the ESP header, or than IV plus ICV.
    #[error("truncated ESP packet: need {need} octets, got {have}")]
    Truncated {
        /// Minimum length.
        need: usize,
        /// Length received.
        have: usize,
    },
    /// No inbound SA has this SPI.
    #[error("no SA for SPI {0}")]
    UnknownSpi(Spi),
    /// The sequence number was replayed or is too old.
    #[error("replay check: {0}")]
    Replay(#[from] ReplayError),
    /// The ICV (or GCM tag) did not verify.
    #[error("ICV check failed")]
    BadIcv,
    /// The decrypted trailer is inconsistent: the pad length exceeds the payload, or the
    /// padding is not 1, 2, 3, ... (RFC 4303 §2.4).
    #[error("bad ESP trailer")]
    BadTrailer,
    /// The packet to protect is not an IPv4 packet.
    #[error("not an IPv4 packet")]
    NotIpv4,
    /// The SA is past its hard lifetime.
    #[error("SA {0} expired")]
    Expired(Spi),
    /// All 2^32 - 1 sequence numbers are used (no ESN); the SA must be rekeyed.
    #[error("SA {0} sequence numbers exhausted")]
    SequenceExhausted(Spi),
    /// An inbound SA asked to encapsulate, or an outbound one to decapsulate.
    #[error("SA {0} used in the wrong direction")]
    WrongDirection(Spi),
    /// Keys or lengths the cipher refused.
    #[error("ESP crypto: {0}")]
    Crypto(CryptoError),
}

impl From<CryptoError> for EspError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::BadIcv => Self::BadIcv,
            CryptoError::Truncated { need, have, .. } => Self::Truncated { need, have },
            other => Self::Crypto(other),
        }
    }
}
