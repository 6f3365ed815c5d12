//! Coupling services for the emulated sysplex: CF list structures with z/OS semantics, the CF
//! server (`cfsrv`), its connector client, and XCF group services built on list structures.
//!
//! ```text
//!  connector (stack) ── client ══ CF link (TCP, framed) ══ server ── structure model ── store (sled)
//!                          ▲                                  │
//!                          └──────── pushed events ◄──────────┘
//! ```
//!
//! The structure model ([`structure`]) is pure: a request goes in, a reply and events come out,
//! with no I/O. The server frames, authenticates, orders, persists and pushes events.

pub mod auth;
pub mod client;
pub mod display;
mod error;
pub mod server;
pub mod store;
pub mod structure;
pub mod wire;
pub mod xcf;

pub use error::Error;
