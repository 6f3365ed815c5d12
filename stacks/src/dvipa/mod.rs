//! The DVIPA manager: each stack's part in moving dynamic VIPAs around the sysplex.
//!
//! - [`model`]: configurations, stack identities, statuses, origins, times.
//! - [`core`]: the sans-IO manager (events in, actions out) with the takeover, takeback and
//!   command rules.
//! - [`messages`]: the console messages (EZZ8301I and friends).
//! - [`command`]: parsing `V TCPIP,procname,SYSPLEX,...`.
//! - [`forward`]: the owner's packet stage for connections left on a Moving holder.
//! - [`service`]: the async shell: XCF group membership and the stack's datapath.

pub mod command;
pub mod core;
pub mod forward;
pub mod messages;
pub mod model;
pub mod service;
