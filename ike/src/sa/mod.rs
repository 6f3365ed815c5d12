//! IKE SAs: the RFC 7296 state machine, its configuration, its actions, and responder cookies.
//!
//! ```text
//!   datagram ──▶ IkeSa::handle_datagram ──▶ parse ─▶ decrypt ─▶ state handler ─▶ set_state
//!   now      ──▶ IkeSa::handle_timeout  ──▶ retransmit / give up / liveness
//!   commands ──▶ delete, delete_child, create_child, rekey_child, check_liveness
//!                                  │
//!                                  ▼
//!                     IkeSa::drain_actions: SendDatagram, IkeSaEstablished, InstallChildSa,
//!                     DeleteChildSa, InitialContact, IkeSaClosed
//! ```

mod action;
mod config;
mod cookie;
mod error;
mod ike_sa;
mod natd;
mod payloads;
mod proposal;
mod state;
#[cfg(test)]
pub(crate) mod tests;

pub use action::{Action, ChildSaInstall, CloseReason, IkeSaSummary};
pub use config::{IkeSaConfig, Mode, RetransmitPolicy};
pub use cookie::{CookieCheck, CookieJar};
pub use error::SaError;
pub use ike_sa::{ChildSa, IkeSa, Received};
