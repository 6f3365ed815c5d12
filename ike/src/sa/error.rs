//! Why an IKE SA could not act on an input or a command.

use crate::crypto::CryptoError;
use crate::wire;

/// A datagram the IKE SA could not use, or a command it cannot carry out now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaError {
    /// The datagram is not a well-formed IKEv2 message.
    #[error(transparent)]
    Wire(#[from] wire::Error),
    /// Key exchange, key derivation or SK payload protection failed (a bad ICV lands here).
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// The message is well formed but breaks the exchange's rules (a payload missing...).
    #[error("protocol: {0}")]
    Protocol(&'static str),
    /// The command needs an established SA with no request of ours outstanding.
    #[error("IKE SA is {state}, not ready for {command}")]
    NotReady {
        /// The SA's state.
        state: String,
        /// The refused command.
        command: &'static str,
    },
    /// No CHILD SA with this inbound SPI.
    #[error("no CHILD SA with inbound SPI {0:08x}")]
    UnknownChildSa(u32),
}
