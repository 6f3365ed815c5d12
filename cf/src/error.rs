//! The crate's error type.

/// Everything that can go wrong in the coupling services outside the structure model, whose
/// expected outcomes (a failed compare, a full list) are return and reason codes, not errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on the CF link or the store.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
