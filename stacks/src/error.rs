//! The crate's error type.

/// Everything that can go wrong in a stack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a LAN port or an XCF link.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An ESP packet that could not be protected or was not accepted.
    #[error("ESP: {0}")]
    Esp(#[from] crate::esp::EspError),
    /// A request to a running stack failed.
    #[error(transparent)]
    Stack(#[from] crate::stack::StackError),
    /// The coupling facility or XCF failed.
    #[error("CF: {0}")]
    Cf(#[from] cf::Error),
    /// A request to a stack's DVIPA service failed.
    #[error(transparent)]
    Dvipa(#[from] crate::dvipa::service::DvipaError),
    /// A PROFILE.TCPIP statement was rejected (the z/OS console message).
    #[error("{0}")]
    Profile(#[from] crate::profile::Message),
    /// Sysplex-wide security associations: EZBDVIPA could not be used.
    #[error("SWSA: {0}")]
    Swsa(#[from] crate::swsa::SwsaError),
}
