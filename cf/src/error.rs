//! The crate's error type.

/// Everything that can go wrong in the coupling services outside the structure model, whose
/// expected outcomes (a failed compare, a full list) are return and reason codes, not errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on the CF link or the store.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The store failed.
    #[error("CF store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A frame could not be read or written.
    #[error("CF link: {0}")]
    Frame(#[from] crate::wire::FrameError),
    /// Authentication failed, or a secret or name is unusable.
    #[error("CF link authentication: {0}")]
    Auth(#[from] crate::auth::AuthError),
    /// The CF closed the link, saying why.
    #[error("CF closed the link: {0}")]
    LinkClosed(crate::wire::LinkFailure),
    /// The link broke without a word from the CF.
    #[error("CF link lost")]
    LinkLost,
    /// The CF refused a request without carrying it out.
    #[error("CF refused the request: {0}")]
    Refused(crate::wire::Refusal),
    /// The peer broke the link protocol (an unexpected message).
    #[error("CF link protocol violation: {0}")]
    Protocol(String),
    /// The server stopped because of a failure.
    #[error("CF server stopped: {0}")]
    Stopped(String),
    /// An XCF group service failed.
    #[error("XCF: {0}")]
    Xcf(#[from] crate::xcf::XcfError),
}
