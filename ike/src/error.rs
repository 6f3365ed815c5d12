//! The crate's error type.

/// Everything that can go wrong in the IKE core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {}
