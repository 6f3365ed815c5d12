//! UDP encapsulation of ESP (RFC 3948). Demultiplexing of port 4500 (non-ESP marker,
//! keepalives) lives in [`ike::wire::classify_port_4500`]; this adds what the datapath sends.

/// The one-octet payload of a NAT-keepalive datagram (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];

/// Octets of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;

/// A UDP datagram (header and payload) carrying an ESP packet from `source_port` to
/// `destination_port` (4500 on both sides unless a NAT rewrote them). The checksum is zero,
/// as RFC 3948 §3.1 says senders SHOULD send it for UDP-encapsulated ESP over IPv4; `None` if
/// the datagram would exceed 65535 octets.
pub fn udp_encapsulate(source_port: u16, destination_port: u16, esp: &[u8]) -> Option<Vec<u8>> {
    let header = udp_header(source_port, destination_port, esp.len())?;
    let mut datagram = Vec::with_capacity(UDP_HEADER_LEN + esp.len());
    datagram.extend_from_slice(&header);
    datagram.extend_from_slice(esp);
    Some(datagram)
}

/// The UDP header of [`udp_encapsulate`] alone, for an ESP packet of `esp_len` octets that
/// the caller places after it; `None` if the datagram would exceed 65535 octets.
pub fn udp_header(source_port: u16, destination_port: u16, esp_len: usize) -> Option<[u8; 8]> {
    let length = u16::try_from(UDP_HEADER_LEN + esp_len).ok()?;
    let [s0, s1] = source_port.to_be_bytes();
    let [d0, d1] = destination_port.to_be_bytes();
    let [l0, l1] = length.to_be_bytes();
    Some([s0, s1, d0, d1, l0, l1, 0, 0])
}

#[cfg(test)]
mod tests {
    use ike::wire::{NAT_T_PORT, Port4500, classify_port_4500};

    use super::*;

    #[test]
    fn builds_a_zero_checksum_udp_header() {
        let esp = [0xc0, 0, 0, 1, 0, 0, 0, 7, 0xaa];
        let datagram = udp_encapsulate(NAT_T_PORT, 4501, &esp).unwrap();
        assert_eq!(
            datagram[..8],
            [0x11, 0x94, 0x11, 0x95, 0x00, 0x11, 0x00, 0x00]
        );
        assert_eq!(
            classify_port_4500(&datagram[8..]).unwrap(),
            Port4500::Esp(&esp[..])
        );
    }

    #[test]
    fn keepalive_is_recognised_by_the_port_4500_demultiplexer() {
        assert_eq!(
            classify_port_4500(&NAT_KEEPALIVE).unwrap(),
            Port4500::Keepalive
        );
    }

    #[test]
    fn refuses_an_oversized_datagram() {
        assert!(udp_encapsulate(4500, 4500, &vec![0; 65_528]).is_none());
        assert!(udp_encapsulate(4500, 4500, &vec![0; 65_527]).is_some());
    }
}
