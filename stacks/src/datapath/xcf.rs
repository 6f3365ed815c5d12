//! Dynamic XCF links: IP packets forwarded between the stacks of a sysplex.
//!
//! On z/OS, `IPCONFIG DYNAMICXCF` gives every stack an XCF address and a link (`EZAXCFnn`) to
//! each partner; the Sysplex Distributor forwards inbound packets of distributed connections
//! over them. Here a link is a UDP socket per stack (its XCF endpoint, on loopback within one
//! host), and each datagram carries one IPv4 packet behind a short header:
//!
//! ```text
//!  0      4       5      6              10
//!  +------+-------+------+--------------+----------------------+
//!  | ZXCF | ver 1 | kind | sender XCF   | IPv4 packet ...      |
//!  +------+-------+------+--------------+----------------------+
//! ```

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
    pub const SENDER: Range<usize> = 6..10;
    pub const PACKET: usize = 10;
}

/// The first bytes of every XCF link datagram.
pub const MAGIC: [u8; 4] = *b"ZXCF";

/// The datagram format version this code speaks.
pub const VERSION: u8 = 1;

/// Largest datagram read from a link.
const MAX_DATAGRAM: usize = 65_535;

/// What an XCF datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XcfKind {
    /// An inbound IPv4 packet forwarded to the stack that owns its connection.
    ForwardedPacket,
}

impl XcfKind {
    fn code(self) -> u8 {
        match self {
            Self::ForwardedPacket => 0x01,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0x01 => Some(Self::ForwardedPacket),
            _ => None,
        }
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
        let kind = XcfKind::from_code(code).ok_or(XcfMalformed::UnknownKind(code))?;
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
        let mut bytes = Vec::with_capacity(self.buffer_len());
        bytes.extend_from_slice(&MAGIC);
        bytes.push(VERSION);
        bytes.push(self.kind.code());
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

    /// Sends one IPv4 packet to the stack with XCF address `to`, without waiting.
    pub fn send(&self, to: Ipv4Addr, packet: &[u8]) -> io::Result<XcfSend> {
        let Some(endpoint) = self.partners.get(&to) else {
            return Ok(XcfSend::NoLink);
        };
        let datagram = XcfDatagram {
            kind: XcfKind::ForwardedPacket,
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

    #[test]
    fn emits_and_parses_a_forwarded_packet() {
        let packet = [0x45, 0, 0, 20];
        let bytes = XcfDatagram {
            kind: XcfKind::ForwardedPacket,
            sender: SENDER,
            packet: &packet,
        }
        .emit();
        assert_eq!(
            &bytes[..10],
            &[b'Z', b'X', b'C', b'F', 1, 1, 198, 51, 100, 1]
        );
        let parsed = XcfDatagram::parse(&bytes).unwrap();
        assert_eq!(parsed.sender, SENDER);
        assert_eq!(parsed.packet, &packet);
    }

    #[test]
    fn rejects_truncated_header() {
        assert_eq!(
            XcfDatagram::parse(b"ZXCF\x01"),
            Err(XcfMalformed::Truncated { need: 10, have: 5 })
        );
    }

    #[test]
    fn rejects_bad_magic_version_and_kind() {
        assert_eq!(
            XcfDatagram::parse(b"ZXCG\x01\x01\0\0\0\0"),
            Err(XcfMalformed::BadMagic)
        );
        assert_eq!(
            XcfDatagram::parse(b"ZXCF\x02\x01\0\0\0\0"),
            Err(XcfMalformed::UnsupportedVersion(2))
        );
        assert_eq!(
            XcfDatagram::parse(b"ZXCF\x01\x09\0\0\0\0"),
            Err(XcfMalformed::UnknownKind(9))
        );
    }

    #[tokio::test]
    async fn carries_a_packet_between_two_links_on_loopback() {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut a = XcfLink::bind(SENDER, loopback).unwrap();
        let mut b = XcfLink::bind(Ipv4Addr::new(198, 51, 100, 2), loopback).unwrap();
        a.add_partner(b.address(), b.endpoint().unwrap());
        assert_eq!(
            a.send(Ipv4Addr::new(198, 51, 100, 9), b"x").unwrap(),
            XcfSend::NoLink
        );
        assert_eq!(a.send(b.address(), b"packet").unwrap(), XcfSend::Sent);
        let bytes = std::future::poll_fn(|cx| b.poll_recv(cx)).await.unwrap();
        let datagram = XcfDatagram::parse(&bytes).unwrap();
        assert_eq!((datagram.sender, datagram.packet), (SENDER, &b"packet"[..]));
        b.remove_partner(SENDER);
    }

    proptest! {
        #[test]
        fn parse_inverts_emit(sender: [u8; 4], packet in proptest::collection::vec(any::<u8>(), 0..200)) {
            let datagram = XcfDatagram { kind: XcfKind::ForwardedPacket, sender: Ipv4Addr::from(sender), packet: &packet };
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
