//! Cutting a TCP/IPv4 packet larger than the LAN's MTU into segments that fit.
//!
//! A LAN port with offload (see [`crate::lan::tap::TapOptions::offload`]) hands over a sender's
//! TSO super-packets whole, up to 64 KiB. smoltcp takes them as they are, but a stage that
//! forwards a packet over dynamic XCF or wraps it in ESP must not: a 64 KiB packet fits in no
//! XCF datagram and no ESP-in-UDP packet on a 1500-byte LAN. [`split_tcp`] cuts such a packet
//! the way the kernel's GSO would have: the same IP and TCP headers (options included) on
//! every piece, the sequence number advanced, IP identification counted up, FIN and PSH only
//! on the last piece, CWR only on the first, both checksums computed afresh.

use smoltcp::wire::{IpProtocol, Ipv4Packet, TcpPacket};

/// Why a packet cannot be cut.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// The IPv4 or TCP header does not parse.
    #[error("malformed {0} header")]
    Malformed(&'static str),
    /// Not TCP: only TCP super-packets are expected.
    #[error("an oversized {0} packet cannot be segmented")]
    NotTcp(IpProtocol),
    /// An IP fragment.
    #[error("an oversized IP fragment cannot be segmented")]
    Fragment,
    /// The headers alone fill the MTU.
    #[error("headers of {0} bytes leave no room in the MTU")]
    NoRoom(usize),
}

/// The pieces of `packet` (an IPv4 packet) that each fit in `ip_mtu` bytes; `packet` itself,
/// cut to its IP total length, when it already fits.
pub fn split_tcp(packet: &[u8], ip_mtu: usize) -> Result<Vec<Vec<u8>>, SegmentError> {
    let ip = Ipv4Packet::new_checked(packet).map_err(|_| SegmentError::Malformed("IPv4"))?;
    let total = usize::from(ip.total_len());
    let whole = packet.get(..total).ok_or(SegmentError::Malformed("IPv4"))?;
    if total <= ip_mtu {
        return Ok(vec![whole.to_vec()]);
    }
    if ip.next_header() != IpProtocol::Tcp {
        return Err(SegmentError::NotTcp(ip.next_header()));
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(SegmentError::Fragment);
    }
    let ip_header_len = usize::from(ip.header_len());
    let tcp = TcpPacket::new_checked(ip.payload()).map_err(|_| SegmentError::Malformed("TCP"))?;
    let headers_len = ip_header_len + usize::from(tcp.header_len());
    let mss = ip_mtu
        .checked_sub(headers_len)
        .filter(|mss| *mss > 0)
        .ok_or(SegmentError::NoRoom(headers_len))?;
    let headers = whole
        .get(..headers_len)
        .ok_or(SegmentError::Malformed("TCP"))?;
    let payload = whole
        .get(headers_len..)
        .ok_or(SegmentError::Malformed("TCP"))?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let (seq, ident) = (tcp.seq_number(), ip.ident());
    let (fin, psh, cwr) = (tcp.fin(), tcp.psh(), tcp.cwr());
    let count = payload.len().div_ceil(mss);
    let mut pieces = Vec::with_capacity(count);
    for (index, chunk) in payload.chunks(mss).enumerate() {
        let (first, last) = (index == 0, index + 1 == count);
        let mut piece = Vec::with_capacity(headers_len + chunk.len());
        piece.extend_from_slice(headers);
        piece.extend_from_slice(chunk);
        let len = u16::try_from(piece.len()).map_err(|_| SegmentError::Malformed("IPv4"))?;
        let offset = index * mss;
        let mut ip = Ipv4Packet::new_unchecked(&mut piece[..]);
        ip.set_total_len(len);
        ip.set_ident(ident.wrapping_add(u16::try_from(index).unwrap_or(u16::MAX)));
        ip.fill_checksum();
        let mut tcp = TcpPacket::new_unchecked(&mut piece[ip_header_len..]);
        tcp.set_seq_number(seq + offset);
        tcp.set_fin(fin && last);
        tcp.set_psh(psh && last);
        tcp.set_cwr(cwr && first);
        tcp.fill_checksum(&src.into(), &dst.into());
        pieces.push(piece);
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        Ipv4Address, Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber, TcpTimestampRepr,
    };

    const SRC: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
    const DST: Ipv4Address = Ipv4Address::new(192, 0, 2, 2);

    fn tcp_packet(payload: &[u8], control: TcpControl) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 5001,
            control,
            seq_number: TcpSeqNumber(1000),
            ack_number: Some(TcpSeqNumber(9)),
            window_len: 512,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: Some(TcpTimestampRepr::new(5, 6)),
            payload,
        };
        let ip = Ipv4Repr {
            src_addr: SRC,
            dst_addr: DST,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut bytes = vec![0u8; ip.buffer_len() + tcp.buffer_len()];
        let caps = ChecksumCapabilities::default();
        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        ip.emit(&mut packet, &caps);
        tcp.emit(
            &mut TcpPacket::new_unchecked(packet.payload_mut()),
            &SRC.into(),
            &DST.into(),
            &caps,
        );
        bytes
    }

    /// Payload, sequence number and flags of a piece, after checking both checksums.
    fn read(piece: &[u8]) -> (Vec<u8>, TcpSeqNumber, bool, bool) {
        let ip = Ipv4Packet::new_checked(piece).unwrap();
        assert!(ip.verify_checksum());
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum(&SRC.into(), &DST.into()));
        let repr = TcpRepr::parse(
            &tcp,
            &SRC.into(),
            &DST.into(),
            &ChecksumCapabilities::default(),
        )
        .unwrap();
        assert!(repr.timestamp.is_some(), "options on every piece");
        (
            tcp.payload().to_vec(),
            tcp.seq_number(),
            tcp.fin(),
            tcp.psh(),
        )
    }

    #[test]
    fn a_packet_that_fits_is_left_whole_without_trailing_padding() {
        let mut packet = tcp_packet(b"small", TcpControl::Psh);
        let whole = packet.clone();
        packet.extend_from_slice(&[0; 6]);
        assert_eq!(split_tcp(&packet, 1500).unwrap(), vec![whole]);
    }

    #[test]
    fn only_the_last_piece_carries_fin_and_psh() {
        let payload = vec![7u8; 4000];
        let pieces = split_tcp(&tcp_packet(&payload, TcpControl::Fin), 1500).unwrap();
        assert_eq!(pieces.len(), 3);
        let flags: Vec<(bool, bool)> = pieces.iter().map(|p| (read(p).2, read(p).3)).collect();
        assert_eq!(flags, vec![(false, false), (false, false), (true, false)]);
        assert!(pieces.iter().all(|p| p.len() <= 1500));
    }

    #[test]
    fn refuses_what_it_cannot_cut() {
        let mut udp = tcp_packet(&[0; 2000], TcpControl::None);
        Ipv4Packet::new_unchecked(&mut udp[..]).set_next_header(IpProtocol::Udp);
        assert_eq!(
            split_tcp(&udp, 1500),
            Err(SegmentError::NotTcp(IpProtocol::Udp))
        );
        let packet = tcp_packet(&[0; 2000], TcpControl::None);
        assert_eq!(split_tcp(&packet, 52), Err(SegmentError::NoRoom(52)));
        assert!(split_tcp(&packet[..30], 1500).is_err());
    }

    proptest! {
        #[test]
        fn the_pieces_carry_the_payload_in_order_at_the_right_sequence_numbers(
            len in 0usize..9000,
            mtu in 100usize..1600,
        ) {
            let payload: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let pieces = split_tcp(&tcp_packet(&payload, TcpControl::Psh), mtu).unwrap();
            let mut joined = Vec::new();
            for piece in &pieces {
                prop_assert!(piece.len() <= mtu);
                let (data, seq, _, _) = read(piece);
                prop_assert_eq!(seq, TcpSeqNumber(1000) + joined.len());
                joined.extend_from_slice(&data);
            }
            prop_assert_eq!(joined, payload);
        }

        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..3000), mtu in 0usize..2000) {
            let _ = split_tcp(&bytes, mtu);
        }
    }
}
