//! What the IKE core asks of its surroundings: datagrams to send, SAs to install or remove.

use std::fmt;
use std::net::SocketAddrV4;
use std::time::Duration;

use super::IkeSa;
use super::config::Mode;
use crate::crypto::{EspKeys, EspSuite, IkeSuite, Role};
use crate::wire::{Identity, Ipv4Range, Message, NotifyType, Port4500, classify_port_4500};

/// One output of an IKE SA, drained with [`super::IkeSa::drain_actions`].
#[derive(Debug)]
pub enum Action {
    /// Send a UDP datagram (the non-ESP marker is already in `bytes` on port 4500).
    SendDatagram {
        /// Our address and port.
        from: SocketAddrV4,
        /// The peer's address and port.
        to: SocketAddrV4,
        /// The UDP payload.
        bytes: Vec<u8>,
    },
    /// The IKE SA is authenticated and usable.
    IkeSaEstablished(IkeSaSummary),
    /// Install a pair of ESP SAs and their selectors in the datapath.
    InstallChildSa(ChildSaInstall),
    /// Remove the ESP SAs of a CHILD SA.
    DeleteChildSa {
        /// Our inbound SPI.
        inbound_spi: u32,
        /// The peer's inbound (our outbound) SPI.
        outbound_spi: u32,
    },
    /// The peer sent INITIAL_CONTACT: it holds no other SA with us, so every other IKE SA
    /// between these identities is stale and should be removed silently (RFC 7296 §2.4).
    InitialContact {
        /// Our identity.
        local_id: Identity,
        /// The peer's identity.
        remote_id: Identity,
    },
    /// A rekey replaced this IKE SA (RFC 7296 §2.18): `new` carries on with new SPIs and keys
    /// and owns the CHILD SAs; this one is deleted next, without touching them.
    IkeSaRekeyed {
        /// (SPIi, SPIr) of the replaced IKE SA.
        old_spis: (u64, u64),
        /// The new IKE SA, to be run from now on in place of the old one.
        new: Box<IkeSa>,
    },
    /// The IKE SA is gone; its CHILD SAs were deleted by earlier actions.
    IkeSaClosed(CloseReason),
}

/// The identity of an established IKE SA, for displays and the SWSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaSummary {
    /// Whether we initiated it.
    pub role: Role,
    /// The initiator's SPI.
    pub spi_i: u64,
    /// The responder's SPI.
    pub spi_r: u64,
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
    /// Our identity.
    pub local_id: Identity,
    /// The peer's identity.
    pub remote_id: Identity,
    /// The negotiated algorithms.
    pub suite: IkeSuite,
    /// Whether IKE moved to port 4500 and ESP is UDP-encapsulated.
    pub udp_encapsulation: bool,
}

/// Everything the datapath needs to run one CHILD SA.
#[derive(Debug, Clone)]
pub struct ChildSaInstall {
    /// SPI of the SA we receive on.
    pub inbound_spi: u32,
    /// SPI of the SA we send on.
    pub outbound_spi: u32,
    /// The ESP algorithms.
    pub suite: EspSuite,
    /// Keys of the inbound SA.
    pub inbound_keys: EspKeys,
    /// Keys of the outbound SA.
    pub outbound_keys: EspKeys,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Our side's selector.
    pub local_ts: Ipv4Range,
    /// The peer's side's selector.
    pub remote_ts: Ipv4Range,
    /// Our address (outer source for tunnel mode, UDP source with encapsulation).
    pub local: SocketAddrV4,
    /// The peer's address.
    pub remote: SocketAddrV4,
    /// Whether ESP travels in UDP on port 4500 (RFC 3948).
    pub udp_encapsulation: bool,
    /// Lifetime after which the SA is rekeyed or expires.
    pub lifetime: Duration,
    /// The inbound SPI of the CHILD SA this one rekeys, if any.
    pub replaces: Option<u32>,
}

/// Why an IKE SA closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// We deleted it.
    DeletedLocally,
    /// The peer deleted it.
    DeletedByPeer,
    /// A rekey replaced it; its CHILD SAs live on in the new IKE SA.
    Rekeyed,
    /// The peer did not answer our retransmissions.
    PeerUnreachable,
    /// The peer sent an error notify, or we answered with one.
    Notify(NotifyType),
    /// The peer authenticated, but not as the configured identity.
    IdentityMismatch(Identity),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeletedLocally => f.write_str("deleted locally"),
            Self::DeletedByPeer => f.write_str("deleted by peer"),
            Self::Rekeyed => f.write_str("rekeyed"),
            Self::PeerUnreachable => f.write_str("peer unreachable"),
            Self::Notify(n) => write!(f, "{n}"),
            Self::IdentityMismatch(id) => write!(f, "unexpected peer identity {id}"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SendDatagram { from, to, bytes } => {
                write!(f, "send {from} -> {to} ")?;
                let ike = match classify_port_4500(bytes) {
                    Ok(Port4500::Ike(ike)) if to.port() == crate::wire::NAT_T_PORT => ike,
                    _ => bytes,
                };
                match Message::parse(ike) {
                    Ok(message) => write!(f, "{message}"),
                    Err(_) => write!(f, "{} bytes", bytes.len()),
                }
            }
            Self::IkeSaEstablished(s) => write!(
                f,
                "IKE SA established {:016x}_i {:016x}_r {} {} <-> {} {}{}",
                s.spi_i,
                s.spi_r,
                s.local_id,
                s.local,
                s.remote,
                s.remote_id,
                if s.udp_encapsulation { " NAT-T" } else { "" }
            ),
            Self::InstallChildSa(c) => write!(
                f,
                "install CHILD SA ESP in {:08x} out {:08x} {:?} {} === {}{}{}",
                c.inbound_spi,
                c.outbound_spi,
                c.mode,
                c.local_ts,
                c.remote_ts,
                if c.udp_encapsulation {
                    " UDP-encap"
                } else {
                    ""
                },
                c.replaces
                    .map(|old| format!(" replaces {old:08x}"))
                    .unwrap_or_default()
            ),
            Self::DeleteChildSa {
                inbound_spi,
                outbound_spi,
            } => {
                write!(
                    f,
                    "delete CHILD SA in {inbound_spi:08x} out {outbound_spi:08x}"
                )
            }
            Self::InitialContact {
                local_id,
                remote_id,
            } => {
                write!(
                    f,
                    "INITIAL_CONTACT: drop other IKE SAs {local_id} <-> {remote_id}"
                )
            }
            Self::IkeSaRekeyed { old_spis, new } => {
                let (spi_i, spi_r) = new.spis();
                write!(
                    f,
                    "IKE SA {:016x}_i {:016x}_r rekeyed to {spi_i:016x}_i {spi_r:016x}_r",
                    old_spis.0, old_spis.1
                )
            }
            Self::IkeSaClosed(reason) => write!(f, "IKE SA closed: {reason}"),
        }
    }
}
