//! The IKE daemon of one stack (z/OS IKED): many IKE SAs, their timers and cookies, and the
//! PF_KEY-like messages that tell the stack which CHILD SAs and dynamic filters to install.
//!
//! ```text
//!  stack ──DaemonInput (datagram on 500/4500, initiate, delete, takeover, delete local)──▶
//!  stack ◀──ToStack (send datagram, install/delete CHILD SA + filter, tunnel up/down,
//!                    SWSA restart record changed, takeover refused)── IkeDaemon (sans-IO)
//!                     shell::run drives it on a tokio task with the real clock
//! ```
//!
//! For sysplex-wide security associations the daemon reports the restart record of every IKE
//! tunnel as it changes, renegotiates the records a backup stack read from the CF
//! ([`IkeDaemon::take_over`]) and drops the SAs of a DVIPA leaving the stack
//! ([`IkeDaemon::delete_local`]).
//!
//! The core is sans-IO: time and randomness are passed in, so tests are reproducible. Tunnels
//! get z/OS IDs: `Kn` for IKE (phase 1) SAs and `Yn` for CHILD (phase 2) SAs, each with a
//! generation that grows by one at every rekey.

mod core;
mod from_policy;
mod message;
mod peer;
pub mod shell;
mod takeover;
mod wireshark;

pub use core::{DaemonStats, IkeDaemon, IkeTunnelView};
pub use from_policy::peers_from_policy;
pub use message::{DaemonInput, DynamicTunnel, ToStack};
pub use peer::{ActivationMethod, Peer, ProposalFamily};
pub use shell::{DaemonHandle, DaemonState};
pub use takeover::TakeoverRefusal;
pub use wireshark::{ESP_TABLE, IKEV2_TABLE, KeyTables, esp_sa_line, ikev2_line};
