//! The `virtio_net_hdr` that a TAP device opened with `IFF_VNET_HDR` puts before every frame,
//! and what a port must do with it.
//!
//! With offload on (`TUNSETOFFLOAD` with `TUN_F_CSUM | TUN_F_TSO4`) the kernel hands the port
//! TCP segments of up to 64 KiB (one TSO super-packet of the sender, `gso_type` TCPV4) and
//! frames whose transport checksum is only partial (`VIRTIO_NET_HDR_F_NEEDS_CSUM`: the field
//! holds the pseudo-header sum; the sum from `csum_start` to the end must still be added).
//! [`VnetHeader::parse`] reads the 10-byte legacy header (in the host's byte order, as the tun
//! driver writes it on a host without `TUNSETVNETLE`/`BE`), [`PartialChecksum::complete`]
//! finishes a partial checksum for a packet that leaves the stack that took it in, and
//! [`VnetHeader::PLAIN`] is the header of a frame the port sends (no GSO, checksums complete).

use std::fmt;

/// The size of the legacy header (`struct virtio_net_hdr`), set with `TUNSETVNETHDRSZ`.
pub const VNET_HEADER_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` is partial.
pub const FLAG_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the kernel has checked the checksum.
pub const FLAG_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_F_RSC_INFO`: coalescing counts in the checksum fields (never on a TAP).
pub const FLAG_RSC_INFO: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN`, or'ed into a GSO type.
const GSO_ECN: u8 = 0x80;

/// What a frame is as far as segmentation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoKind {
    /// One ordinary frame (`VIRTIO_NET_HDR_GSO_NONE`).
    None,
    /// A TCP/IPv4 super-segment to be cut at `gso_size` (`VIRTIO_NET_HDR_GSO_TCPV4`).
    TcpV4,
    /// A TCP/IPv6 super-segment (`VIRTIO_NET_HDR_GSO_TCPV6`).
    TcpV6,
    /// A UDP super-datagram (`VIRTIO_NET_HDR_GSO_UDP` or `_UDP_L4`).
    Udp,
}

/// One parsed `virtio_net_hdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VnetHeader {
    /// `VIRTIO_NET_HDR_F_*` flags.
    pub flags: u8,
    /// The GSO type, without the ECN bit.
    pub gso: GsoKind,
    /// Whether the sender set `VIRTIO_NET_HDR_GSO_ECN` (CWR on the first segment only).
    pub ecn: bool,
    /// Bytes of the Ethernet, IP and transport headers (a hint).
    pub hdr_len: u16,
    /// The segment size of a GSO frame.
    pub gso_size: u16,
    /// Where the checksummed part starts (with `NEEDS_CSUM`).
    pub csum_start: u16,
    /// Where in that part the checksum field is (with `NEEDS_CSUM`).
    pub csum_offset: u16,
}

/// Why a header or the frame behind it is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VnetError {
    /// Fewer bytes than a header.
    #[error("{0} bytes are too short for a virtio_net_hdr")]
    Truncated(usize),
    /// A GSO type this port does not know.
    #[error("unknown virtio_net_hdr GSO type {0:#04x}")]
    UnknownGso(u8),
    /// A GSO type this end never offered the kernel.
    #[error("GSO type {0:?} was not offered")]
    NotOffered(GsoKind),
    /// A GSO frame without a segment size.
    #[error("GSO frame with a zero gso_size")]
    ZeroGsoSize,
    /// The checksum field lies outside the frame.
    #[error("checksum at {start}+{offset} outside a {len}-byte frame")]
    ChecksumOutside {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// The frame's length.
        len: usize,
    },
}

impl VnetHeader {
    /// The header of a frame this port sends: no GSO, every checksum complete.
    pub const PLAIN: [u8; VNET_HEADER_LEN] = [0; VNET_HEADER_LEN];

    /// Reads the header at the start of `bytes`; returns it and the frame behind it.
    pub fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), VnetError> {
        let (head, frame) = bytes
            .split_first_chunk::<VNET_HEADER_LEN>()
            .ok_or(VnetError::Truncated(bytes.len()))?;
        let [flags, gso_type, h0, h1, s0, s1, c0, c1, o0, o1] = *head;
        let gso = match gso_type & !GSO_ECN {
            0 => GsoKind::None,
            1 => GsoKind::TcpV4,
            3 | 5 => GsoKind::Udp,
            4 => GsoKind::TcpV6,
            _ => return Err(VnetError::UnknownGso(gso_type)),
        };
        let header = Self {
            flags,
            gso,
            ecn: gso_type & GSO_ECN != 0,
            hdr_len: u16::from_ne_bytes([h0, h1]),
            gso_size: u16::from_ne_bytes([s0, s1]),
            csum_start: u16::from_ne_bytes([c0, c1]),
            csum_offset: u16::from_ne_bytes([o0, o1]),
        };
        if header.gso != GsoKind::None && header.gso_size == 0 {
            return Err(VnetError::ZeroGsoSize);
        }
        Ok((header, frame))
    }

    /// Whether the frame's transport checksum is partial.
    pub fn needs_checksum(&self) -> bool {
        self.flags & FLAG_NEEDS_CSUM != 0 && self.flags & FLAG_RSC_INFO == 0
    }

    /// The frame's partial checksum, if it has one.
    pub fn partial_checksum(&self) -> Option<PartialChecksum> {
        self.needs_checksum().then_some(PartialChecksum {
            start: self.csum_start,
            offset: self.csum_offset,
        })
    }

    /// Whether the kernel has checked the frame's transport checksum.
    pub fn data_valid(&self) -> bool {
        self.flags & FLAG_DATA_VALID != 0
    }
}

impl fmt::Display for VnetHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flags {:#04x} gso {:?}{} size {} csum {}+{}",
            self.flags,
            self.gso,
            if self.ecn { "+ECN" } else { "" },
            self.gso_size,
            self.csum_start,
            self.csum_offset
        )
    }
}

/// A local sender's partial transport checksum (Linux's `CHECKSUM_PARTIAL`): the field
/// `offset` bytes after byte `start` holds the pseudo-header sum, and the one's complement sum
/// of the bytes from `start` to the end is still to be folded in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialChecksum {
    /// Where the summed part starts (`csum_start`).
    pub start: u16,
    /// Where in that part the field is (`csum_offset`).
    pub offset: u16,
}

impl PartialChecksum {
    /// The same checksum in the bytes behind the first `skipped` (a frame's packet behind its
    /// Ethernet header), if it starts there.
    pub fn behind(self, skipped: usize) -> Option<Self> {
        let skipped = u16::try_from(skipped).ok()?;
        Some(Self {
            start: self.start.checked_sub(skipped)?,
            offset: self.offset,
        })
    }

    /// The range of the field in `len` bytes, or why it is not in them.
    fn field(self, len: usize) -> Result<std::ops::Range<usize>, VnetError> {
        let at = usize::from(self.start) + usize::from(self.offset);
        if at + 2 > len {
            return Err(VnetError::ChecksumOutside {
                start: self.start,
                offset: self.offset,
                len,
            });
        }
        Ok(at..at + 2)
    }

    /// Checks that the field lies inside `len` bytes.
    pub fn check_within(self, len: usize) -> Result<(), VnetError> {
        self.field(len).map(|_| ())
    }

    /// Finishes the checksum in `bytes`: the one's complement sum from `start` to the end,
    /// which includes the pseudo-header sum already in the field, complemented into the field
    /// (0 becomes 0xffff, as the kernel's `skb_checksum_help` writes it, so that UDP never
    /// reads it as "no checksum").
    pub fn complete(self, bytes: &mut [u8]) -> Result<(), VnetError> {
        let field = self.field(bytes.len())?;
        let folded = !ones_complement_sum(&bytes[usize::from(self.start)..]);
        let value = if folded == 0 { 0xffff } else { folded };
        bytes[field].copy_from_slice(&value.to_be_bytes());
        Ok(())
    }
}

/// The folded 16-bit one's complement sum (RFC 1071) of `data`, big-endian words, a trailing
/// odd byte padded with zero. The sum does not depend on byte order (RFC 1071 §2(B)), so it adds
/// 32-bit words in the machine's order into a 64-bit accumulator (which carries can only
/// overflow after 4 GiB) and puts the folded result in network order once: a loop the compiler
/// vectorizes with baseline SSE2, where a byte swap per word kept it scalar.
pub fn ones_complement_sum(data: &[u8]) -> u16 {
    let (words, rest) = data.as_chunks::<4>();
    let mut sum: u64 = words
        .iter()
        .map(|word| u64::from(u32::from_ne_bytes(*word)))
        .sum();
    let mut last = [0; 4];
    last[..rest.len()].copy_from_slice(rest);
    sum += u64::from(u32::from_ne_bytes(last));
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    u16::from_be(u16::try_from(sum).unwrap_or(0xffff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header_bytes(flags: u8, gso: u8, gso_size: u16, start: u16, offset: u16) -> Vec<u8> {
        let mut bytes = vec![flags, gso];
        for value in [54u16, gso_size, start, offset] {
            bytes.extend_from_slice(&value.to_ne_bytes());
        }
        bytes
    }

    #[test]
    fn parses_a_tcpv4_gso_header_and_returns_the_frame_behind_it() {
        let mut bytes = header_bytes(FLAG_NEEDS_CSUM, 0x81, 1448, 34, 16);
        bytes.extend_from_slice(b"frame");
        let (header, frame) = VnetHeader::parse(&bytes).unwrap();
        assert_eq!(header.gso, GsoKind::TcpV4);
        assert!(header.ecn);
        assert!(header.needs_checksum());
        assert_eq!(
            (header.gso_size, header.csum_start, header.csum_offset),
            (1448, 34, 16)
        );
        assert_eq!(frame, b"frame");
    }

    #[test]
    fn refuses_short_headers_unknown_gso_types_and_zero_segment_sizes() {
        assert_eq!(VnetHeader::parse(&[0; 9]), Err(VnetError::Truncated(9)));
        assert_eq!(
            VnetHeader::parse(&header_bytes(0, 2, 1448, 0, 0)),
            Err(VnetError::UnknownGso(2))
        );
        assert_eq!(
            VnetHeader::parse(&header_bytes(0, 1, 0, 0, 0)),
            Err(VnetError::ZeroGsoSize)
        );
    }

    #[test]
    fn the_plain_header_parses_as_no_gso_and_no_checksum_work() {
        let (header, frame) = VnetHeader::parse(&VnetHeader::PLAIN).unwrap();
        assert_eq!(header.gso, GsoKind::None);
        assert!(!header.needs_checksum());
        assert!(frame.is_empty());
    }

    #[test]
    fn a_checksum_field_past_the_frame_is_an_error() {
        let (header, _) = VnetHeader::parse(&header_bytes(FLAG_NEEDS_CSUM, 0, 0, 10, 8)).unwrap();
        let mut frame = [0u8; 19];
        assert!(matches!(
            header.partial_checksum().unwrap().complete(&mut frame),
            Err(VnetError::ChecksumOutside { len: 19, .. })
        ));
        let (header, _) =
            VnetHeader::parse(&header_bytes(FLAG_NEEDS_CSUM, 0, 0, u16::MAX, u16::MAX)).unwrap();
        assert!(
            header
                .partial_checksum()
                .unwrap()
                .complete(&mut frame)
                .is_err()
        );
    }

    /// A TCP/IPv4 frame from smoltcp with a correct checksum.
    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        use smoltcp::phy::ChecksumCapabilities;
        use smoltcp::wire::*;
        let src = Ipv4Address::new(192, 0, 2, 1);
        let dst = Ipv4Address::new(192, 0, 2, 2);
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 5001,
            control: TcpControl::Psh,
            seq_number: TcpSeqNumber(7),
            ack_number: Some(TcpSeqNumber(9)),
            window_len: 512,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        };
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut bytes = vec![0u8; 14 + ip.buffer_len() + tcp.buffer_len()];
        let caps = ChecksumCapabilities::default();
        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[14..]);
        ip.emit(&mut packet, &caps);
        tcp.emit(
            &mut TcpPacket::new_unchecked(packet.payload_mut()),
            &src.into(),
            &dst.into(),
            &caps,
        );
        bytes
    }

    proptest! {
        #[test]
        fn completing_a_partial_tcp_checksum_gives_the_full_one(
            payload in proptest::collection::vec(any::<u8>(), 0..3000)
        ) {
            let whole = tcp_frame(&payload);
            // What a sender with checksum offload hands over: the field holds the pseudo-header
            // sum (not complemented).
            let mut partial = whole.clone();
            let pseudo = {
                let mut pseudo = Vec::new();
                pseudo.extend_from_slice(&whole[26..34]);
                pseudo.extend_from_slice(&[0, 6]);
                let len = u16::try_from(whole.len() - 34).unwrap();
                pseudo.extend_from_slice(&len.to_be_bytes());
                ones_complement_sum(&pseudo)
            };
            partial[50..52].copy_from_slice(&pseudo.to_be_bytes());
            let mut bytes = header_bytes(FLAG_NEEDS_CSUM, 0, 0, 34, 16);
            bytes.extend_from_slice(&partial);
            let (header, _) = VnetHeader::parse(&bytes).unwrap();
            header.partial_checksum().unwrap().complete(&mut partial).unwrap();
            prop_assert_eq!(partial, whole);
        }

        #[test]
        fn the_sum_matches_smoltcps_on_any_data(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert_eq!(
                ones_complement_sum(&data),
                smoltcp::wire::checksum::data(&data)
            );
        }

        #[test]
        fn parsing_and_completing_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((header, frame)) = VnetHeader::parse(&bytes)
                && let Some(partial) = header.partial_checksum()
            {
                let _ = partial.complete(&mut frame.to_vec());
            }
        }
    }
}
