//! ESP (RFC 4303), sans-IO: the packet transform of the stack's IPSec datapath.
//!
//! ```text
//! outbound: inner IPv4 ──SecurityAssociation::encapsulate──▶ ESP ──udp_encapsulate──▶ UDP 4500
//! inbound:  UDP 4500 ──ike::wire::classify_port_4500──▶ ESP ──InboundSas::decapsulate──▶ inner
//! ```
//!
//! Keys come from IKE (`ike::crypto::ChildSaKeys`); the clock (`now`) and, for AES-CBC IVs,
//! the random source are passed in. Sequence numbers are 32 bits (no ESN, as strongSwan's
//! kernel-libipsec), with a 128-packet replay window.

mod error;
mod lifetime;
mod packet;
mod replay;
mod sa;
mod table;
mod udp;

pub use error::EspError;
pub use lifetime::{Lifetime, LifetimeStatus};
pub use packet::{ESP_HEADER_LEN, EspPacket, IPPROTO_ESP, Spi};
pub use replay::{REPLAY_WINDOW_SIZE, ReplayError, ReplayWindow};
pub use sa::{
    Decapsulated, Direction, IPPROTO_IPIP, IPPROTO_NONE, Mode, SaParameters, SecurityAssociation,
};
pub use table::InboundSas;
pub use udp::{NAT_KEEPALIVE, UDP_HEADER_LEN, udp_encapsulate, udp_header};
