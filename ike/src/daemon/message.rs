//! The messages between the daemon and its stack, in the spirit of PF_KEY (RFC 2367): the
//! stack hands in datagrams and commands; the daemon hands back datagrams to send and the
//! SAs and dynamic filters to install or remove.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::peer::ActivationMethod;
use crate::sa::{ChildSaInstall, CloseReason, IkeSaSummary};
use crate::swsa::RestartRecord;

/// The identity of a CHILD SA in displays: `Yn`, its generation and its IKE tunnel `Kn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DynamicTunnel {
    /// The `Yn` number.
    pub id: u32,
    /// 1 for the first SA of the tunnel, one more at every rekey.
    pub generation: u32,
    /// The `Kn` number of the IKE SA that negotiated it.
    pub ike_tunnel: u32,
    /// How the tunnel came to be.
    pub activation: ActivationMethod,
}

/// What the daemon asks of its stack.
#[derive(Debug)]
pub enum ToStack {
    /// Send a UDP datagram (on 4500 the non-ESP marker is in `bytes`).
    SendDatagram {
        /// Our address and port.
        from: SocketAddrV4,
        /// The peer's address and port.
        to: SocketAddrV4,
        /// The UDP payload.
        bytes: Vec<u8>,
    },
    /// Install a CHILD SA pair and its dynamic filter; with `install.replaces` the new pair
    /// takes over the old one's traffic (the old pair is deleted by a later message).
    InstallChildSa {
        /// `Yn`, generation, `Kn`.
        tunnel: DynamicTunnel,
        /// Keys, SPIs, selectors, mode, encapsulation, lifetime.
        install: Box<ChildSaInstall>,
    },
    /// Remove a CHILD SA pair and its dynamic filter.
    DeleteChildSa {
        /// Our inbound SPI.
        inbound_spi: u32,
        /// Our outbound SPI.
        outbound_spi: u32,
    },
    /// An IKE tunnel is established (first time, or a new generation after a rekey).
    IkeTunnelUp {
        /// `Kn`.
        id: u32,
        /// Its generation.
        generation: u32,
        /// SPIs, endpoints, identities, algorithms.
        summary: IkeSaSummary,
        /// How the tunnel came to be (`Takeover` for an SWSA renegotiation).
        activation: ActivationMethod,
    },
    /// An IKE tunnel generation is gone.
    IkeTunnelDown {
        /// `Kn`.
        id: u32,
        /// Its generation.
        generation: u32,
        /// Why.
        reason: CloseReason,
    },
    /// The SWSA restart record of IKE tunnel `Kn` changed: it was established (its first
    /// CHILD SA installed), a CHILD SA was added, rekeyed or deleted, or the IKE SA was
    /// rekeyed; `None` when the tunnel is gone. The record holds no key material; its
    /// generation grows by one at every change.
    RestartRecordChanged {
        /// `Kn`.
        ike_tunnel: u32,
        /// Our IKE address (the DVIPA for a distributed tunnel).
        local: Ipv4Addr,
        /// The new record, or `None` once the tunnel is gone.
        record: Option<Box<RestartRecord>>,
    },
    /// A restart record handed in for takeover is not renegotiated.
    TakeoverRefused {
        /// The record's remote IKE endpoint.
        remote: SocketAddrV4,
        /// Why, for the operator.
        reason: String,
    },
}

impl fmt::Display for ToStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SendDatagram { from, to, bytes } => {
                write!(f, "send {from} -> {to} {} bytes", bytes.len())
            }
            Self::InstallChildSa { tunnel, install } => write!(
                f,
                "install Y{}.{} (K{}) in {:08x} out {:08x} {} === {}",
                tunnel.id,
                tunnel.generation,
                tunnel.ike_tunnel,
                install.inbound_spi,
                install.outbound_spi,
                install.local_ts,
                install.remote_ts
            ),
            Self::DeleteChildSa {
                inbound_spi,
                outbound_spi,
            } => write!(f, "delete in {inbound_spi:08x} out {outbound_spi:08x}"),
            Self::IkeTunnelUp {
                id,
                generation,
                activation,
                ..
            } => write!(f, "K{id}.{generation} up ({activation})"),
            Self::IkeTunnelDown {
                id,
                generation,
                reason,
            } => write!(f, "K{id}.{generation} down: {reason}"),
            Self::RestartRecordChanged {
                ike_tunnel,
                local,
                record: Some(record),
            } => write!(f, "K{ike_tunnel} on {local}: {record}"),
            Self::RestartRecordChanged {
                ike_tunnel,
                local,
                record: None,
            } => write!(f, "K{ike_tunnel} on {local}: SWSA record gone"),
            Self::TakeoverRefused { remote, reason } => {
                write!(f, "takeover to {remote} refused: {reason}")
            }
        }
    }
}

/// What the stack hands to the daemon.
#[derive(Debug)]
pub enum DaemonInput {
    /// A UDP datagram that arrived on port 500, or on 4500 with the non-ESP marker.
    Datagram {
        /// The peer's address and port.
        from: SocketAddrV4,
        /// Our address and port.
        to: SocketAddrV4,
        /// The UDP payload.
        bytes: Vec<u8>,
    },
    /// Start the IKE tunnel to the peer at this index of the daemon's peer list.
    Initiate(usize),
    /// Delete IKE tunnel `Kn` (DELETE sent to the peer) and its CHILD SAs.
    DeleteIkeTunnel(u32),
    /// Rekey the CHILD SA whose inbound SPI this is.
    RekeyChild(u32),
    /// SWSA takeover: renegotiate every restart record as initiator with INITIAL_CONTACT,
    /// marking the new tunnels `Takeover` (see [`super::IkeDaemon::take_over`]).
    Takeover(Vec<RestartRecord>),
    /// Remove every IKE SA on this local address (a DVIPA leaving the stack) with its CHILD
    /// SAs; with `notify_peers` each peer gets an INFORMATIONAL DELETE first (see
    /// [`super::IkeDaemon::delete_local`]).
    DeleteLocal {
        /// The address leaving.
        local: Ipv4Addr,
        /// Whether to tell the peers (planned transfer) or drop the SAs silently.
        notify_peers: bool,
    },
}
