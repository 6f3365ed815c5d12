//! The crate's error type.

/// Everything that can go wrong in the IKE core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed or unsupported IKEv2 message.
    #[error("IKE wire: {0}")]
    Wire(#[from] crate::wire::Error),
    /// A crypto failure: unsupported transform, bad key length, failed integrity check.
    #[error("IKE crypto: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    /// An IKE SA could not use a datagram or carry out a command.
    #[error("IKE SA: {0}")]
    Sa(#[from] crate::sa::SaError),
    /// A policy file that cannot be used.
    #[error("IPSec policy: {0}")]
    Policy(#[from] crate::policy::PolicyError),
}
