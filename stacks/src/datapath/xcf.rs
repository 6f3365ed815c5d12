//! Dynamic XCF links: IP packets forwarded between the stacks of a sysplex.
//!
//! On z/OS, `IPCONFIG DYNAMICXCF` gives every stack an XCF address and a link (`EZAXCFnn`) to
//! each partner; the Sysplex Distributor forwards inbound packets of distributed connections
//! over them. Here a link is a UDP socket per stack (its XCF endpoint, on loopback within one
//! host), and each datagram carries one IPv4 packet behind a short header:
//!
//! ```text
//!  0      4       5      6       7              11
//!  +------+-------+------+-------+--------------+----------------------+
//!  | ZXCF | ver 2 | kind | flags | sender XCF   | IPv4 packet ...      |
//!  +------+-------+------+-------+--------------+----------------------+
//! ```
//!
//! Kind 1 is an inbound packet a distributor forwards to a target; its flag `0x01` says the
//! distributor decrypted it from ESP (the connection is protected). Kind 2 is an outbound
//! packet of a protected connection that a target returns to its distributor, which protects
//! it and sends it out of its LAN port; it carries no flag. Other flag bits are errors.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

/// Offsets of the datagram header.
mod field {
    use std::ops::Range;

    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: usize = 4;
    pub const KIND: usize = 5;
    pub const FLAGS: usize = 6;
    pub const SENDER: Range<usize> = 7..11;
    pub const PACKET: usize = 11;
}

/// The first bytes of every XCF link datagram.
pub const MAGIC: [u8; 4] = *b"ZXCF";

/// The datagram format version this code speaks.
pub const VERSION: u8 = 2;

/// Kind codes.
const KIND_FORWARDED: u8 = 0x01;
const KIND_RETURNED: u8 = 0x02;

/// Flag of a forwarded packet: the distributor decrypted it from ESP.
const FLAG_PROTECTED: u8 = 0x01;

/// Largest datagram read from a link.
const MAX_DATAGRAM: usize = 65_535;

/// What an XCF datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XcfKind {
    /// An inbound IPv4 packet a distributor forwards to the stack that owns its connection.
    Forwarded {
        /// The distributor decrypted it from ESP: the connection is protected.
        protected: bool,
    },
    /// An outbound IPv4 packet of a protected connection, returned by a target to its
    /// distributor for IPSec processing and the LAN.
    Returned,
}

impl XcfKind {
    fn codes(self) -> (u8, u8) {
        match self {
            Self::Forwarded { protected } => {
                (KIND_FORWARDED, if protected { FLAG_PROTECTED } else { 0 })
            }
            Self::Returned => (KIND_RETURNED, 0),
        }
    }

    fn from_codes(kind: u8, flags: u8) -> Result<Self, XcfMalformed> {
        let allowed = match kind {
            KIND_FORWARDED => FLAG_PROTECTED,
            KIND_RETURNED => 0,
            _ => return Err(XcfMalformed::UnknownKind(kind)),
        };
        if flags & !allowed != 0 {
            return Err(XcfMalformed::UnknownFlags { kind, flags });
        }
        Ok(match kind {
            KIND_FORWARDED => Self::Forwarded {
                protected: flags & FLAG_PROTECTED != 0,
            },
            _ => Self::Returned,
        })
    }
}

/// Why a datagram is not a valid XCF datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XcfMalformed {
    /// Shorter than the header.
    #[error("XCF datagram truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// Does not start with `ZXCF`.
    #[error("not an XCF datagram (bad magic)")]
    BadMagic,
    /// A version this code does not speak.
    #[error("XCF datagram version {0} not supported")]
    UnsupportedVersion(u8),
    /// A kind this code does not know.
    #[error("XCF datagram kind {0:#04x} unknown")]
    UnknownKind(u8),
    /// Flag bits the kind does not define.
    #[error("XCF datagram kind {kind:#04x} has unknown flags {flags:#04x}")]
    UnknownFlags {
        /// The kind code.
        kind: u8,
        /// The flags byte.
        flags: u8,
    },
}

/// One parsed XCF datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XcfDatagram<'a> {
    /// What it carries.
    pub kind: XcfKind,
    /// The XCF address of the sending stack.
    pub sender: Ipv4Addr,
    /// The IPv4 packet.
    pub packet: &'a [u8],
}

impl<'a> XcfDatagram<'a> {
    /// Parses a received datagram; the packet inside is not checked here.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, XcfMalformed> {
        let truncated = XcfMalformed::Truncated {
            need: field::PACKET,
            have: bytes.len(),
        };
        let header = bytes.get(..field::PACKET).ok_or(truncated)?;
        if header.get(field::MAGIC) != Some(&MAGIC[..]) {
            return Err(XcfMalformed::BadMagic);
        }
        let version = header.get(field::VERSION).copied().ok_or(truncated)?;
        if version != VERSION {
            return Err(XcfMalformed::UnsupportedVersion(version));
        }
        let code = header.get(field::KIND).copied().ok_or(truncated)?;
        let flags = header.get(field::FLAGS).copied().ok_or(truncated)?;
        let kind = XcfKind::from_codes(code, flags)?;
        let sender: [u8; 4] = header
            .get(field::SENDER)
            .and_then(|s| s.try_into().ok())
            .ok_or(truncated)?;
        let packet = bytes.get(field::PACKET..).ok_or(truncated)?;
        Ok(Self {
            kind,
            sender: Ipv4Addr::from(sender),
            packet,
        })
    }

    /// The length of the emitted datagram.
    pub fn buffer_len(&self) -> usize {
        field::PACKET + self.packet.len()
    }

    /// The datagram's bytes.
    pub fn emit(&self) -> Vec<u8> {
        let (kind, flags) = self.kind.codes();
        let mut bytes = Vec::with_capacity(self.buffer_len());
        bytes.extend_from_slice(&MAGIC);
        bytes.push(VERSION);
        bytes.push(kind);
        bytes.push(flags);
        bytes.extend_from_slice(&self.sender.octets());
        bytes.extend_from_slice(self.packet);
        bytes
    }
}

/// What became of a packet sent over XCF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XcfSend {
    /// Handed to the link.
    Sent,
    /// No link to that XCF address is known.
    NoLink,
    /// The socket had no room; dropped, as a full link would.
    Dropped,
}

/// This stack's end of the dynamic XCF links: its XCF address, its UDP endpoint and the
/// endpoints of its partners.
#[derive(Debug)]
pub struct XcfLink {
    address: Ipv4Addr,
    socket: UdpSocket,
    /// The same socket, for sends that go straight to the kernel (tokio's `try_send_to` says
    /// `WouldBlock` until its reactor has seen the socket writable once).
    sender: std::net::UdpSocket,
    partners: BTreeMap<Ipv4Addr, SocketAddr>,
    buffer: Vec<u8>,
}

impl XcfLink {
    /// Opens the link of the stack with XCF address `address` on UDP endpoint `bind` (port 0
    /// picks one). Must be called inside a tokio runtime.
    pub fn bind(address: Ipv4Addr, bind: SocketAddr) -> io::Result<Self> {
        let socket = std::net::UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        let sender = socket.try_clone()?;
        let socket = UdpSocket::from_std(socket)?;
        Ok(Self {
            address,
            socket,
            sender,
            partners: BTreeMap::new(),
            buffer: vec![0; MAX_DATAGRAM],
        })
    }

    /// This stack's XCF address.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The UDP endpoint partners send to (what the stack publishes in its XCF member state).
    pub fn endpoint(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Records (or moves) the link endpoint of the partner with XCF address `xcf`.
    pub fn add_partner(&mut self, xcf: Ipv4Addr, endpoint: SocketAddr) {
        self.partners.insert(xcf, endpoint);
    }

    /// Forgets a partner (it left the group).
    pub fn remove_partner(&mut self, xcf: Ipv4Addr) {
        self.partners.remove(&xcf);
    }

    /// Sends one IPv4 packet of `kind` to the stack with XCF address `to`, without waiting.
    pub fn send(&self, to: Ipv4Addr, kind: XcfKind, packet: &[u8]) -> io::Result<XcfSend> {
        let Some(endpoint) = self.partners.get(&to) else {
            return Ok(XcfSend::NoLink);
        };
        let datagram = XcfDatagram {
            kind,
            sender: self.address,
            packet,
        }
        .emit();
        match self.sender.send_to(&datagram, *endpoint) {
            Ok(_) => Ok(XcfSend::Sent),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(XcfSend::Dropped),
            Err(error) => Err(error),
        }
    }

    /// Polls for the next datagram (raw; parse it with [`XcfDatagram::parse`]).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Bytes>> {
        let mut buf = ReadBuf::new(&mut self.buffer);
        ready!(self.socket.poll_recv_from(cx, &mut buf))?;
        Poll::Ready(Ok(Bytes::copy_from_slice(buf.filled())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SENDER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const FORWARDED: XcfKind = XcfKind::Forwarded { protected: false };

    #[test]
    fn emits_and_parses_each_kind() {
        let packet = [0x45, 0, 0, 20];
        for (kind, code, flags) in [
            (FORWARDED, 1, 0),
            (XcfKind::Forwarded { protected: true }, 1, 1),
            (XcfKind::Returned, 2, 0),
        ] {
            let bytes = XcfDatagram {
                kind,
                sender: SENDER,
                packet: &packet,
            }
            .emit();
            assert_eq!(
                &bytes[..11],
                &[b'Z', b'X', b'C', b'F', 2, code, flags, 198, 51, 100, 1]
            );
            let parsed = XcfDatagram::parse(&bytes).unwrap();
            assert_eq!(parsed.kind, kind);
            assert_eq!(parsed.sender, SENDER);
            assert_eq!(parsed.packet, &packet);
        }
    }

    #[test]
    fn rejects_truncated_header() {
        assert_eq!(
            XcfDatagram::parse(b"ZXCF\x02"),
            Err(XcfMalformed::Truncated { need: 11, have: 5 })
        );
    }

    #[test]
    fn rejects_bad_magic_version_kind_and_flags() {
        assert_eq!(
            XcfDatagram::parse(b"ZXCG\x02\x01\0\0\0\0\0"),
            Err(XcfMalformed::BadMagic)
        );
        assert_eq!(
            XcfDatagram::parse(b"ZXCF\x01\x01\0\0\0\0\0"),
            Err(XcfMalformed::UnsupportedVersion(1))
        );
        assert_eq!(
            XcfDatagram::parse(b"ZXCF\x02\x09\0\0\0\0\0"),
            Err(XcfMalformed::UnknownKind(9))
        );
        assert_eq!(
            XcfDatagram::parse(b"ZXCF\x02\x01\x02\0\0\0\0"),
            Err(XcfMalformed::UnknownFlags { kind: 1, flags: 2 })
        );
        assert_eq!(
            XcfDatagram::parse(b"ZXCF\x02\x02\x01\0\0\0\0"),
            Err(XcfMalformed::UnknownFlags { kind: 2, flags: 1 }),
            "a returned packet carries no protection flag"
        );
    }

    #[tokio::test]
    async fn carries_a_packet_between_two_links_on_loopback() {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut a = XcfLink::bind(SENDER, loopback).unwrap();
        let mut b = XcfLink::bind(Ipv4Addr::new(198, 51, 100, 2), loopback).unwrap();
        a.add_partner(b.address(), b.endpoint().unwrap());
        assert_eq!(
            a.send(Ipv4Addr::new(198, 51, 100, 9), FORWARDED, b"x")
                .unwrap(),
            XcfSend::NoLink
        );
        assert_eq!(
            a.send(b.address(), XcfKind::Returned, b"packet").unwrap(),
            XcfSend::Sent
        );
        let bytes = std::future::poll_fn(|cx| b.poll_recv(cx)).await.unwrap();
        let datagram = XcfDatagram::parse(&bytes).unwrap();
        assert_eq!(
            (datagram.kind, datagram.sender, datagram.packet),
            (XcfKind::Returned, SENDER, &b"packet"[..])
        );
        b.remove_partner(SENDER);
    }

    fn any_kind() -> impl Strategy<Value = XcfKind> {
        prop_oneof![
            any::<bool>().prop_map(|protected| XcfKind::Forwarded { protected }),
            Just(XcfKind::Returned),
        ]
    }

    proptest! {
        #[test]
        fn parse_inverts_emit(
            kind in any_kind(),
            sender: [u8; 4],
            packet in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let datagram = XcfDatagram { kind, sender: Ipv4Addr::from(sender), packet: &packet };
            let bytes = datagram.emit();
            prop_assert_eq!(bytes.len(), datagram.buffer_len());
            prop_assert_eq!(XcfDatagram::parse(&bytes), Ok(datagram));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = XcfDatagram::parse(&bytes);
        }
    }
}
