//! The sysplex crate's error.

use crate::topology::TopologyError;

/// What can go wrong running a lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The topology file is unusable.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A coupling facility operation failed.
    #[error(transparent)]
    Cf(#[from] cf::Error),
    /// A stack operation failed.
    #[error(transparent)]
    Stack(#[from] stacks::Error),
    /// A network namespace command or lab process failed.
    #[error(transparent)]
    Namespace(#[from] stacks::lan::netns::LabError),
    /// An I/O operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The lab is not in the state an operation needs.
    #[error("{0}")]
    Lab(String),
}
