//! UDP port 4500 framing (RFC 3948): IKE behind a 4-byte zero non-ESP marker, UDP-encapsulated
//! ESP, and 1-byte NAT keepalives, all on the same port.

use super::Error;

/// The non-ESP marker that precedes IKE messages on port 4500.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The IKE port.
pub const IKE_PORT: u16 = 500;

/// The NAT-T port, where IKE and ESP share one UDP flow.
pub const NAT_T_PORT: u16 = 4500;

const KEEPALIVE: u8 = 0xff;
const ESP_MIN_LEN: usize = 8;

/// What a datagram received on port 4500 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port4500<'a> {
    /// An IKE message, marker stripped.
    Ike(&'a [u8]),
    /// A UDP-encapsulated ESP packet, starting at the SPI.
    Esp(&'a [u8]),
    /// A NAT keepalive (one 0xFF byte), to be dropped.
    Keepalive,
}

/// Sorts a port-4500 datagram into IKE, ESP or keepalive.
pub fn classify_port_4500(datagram: &[u8]) -> Result<Port4500<'_>, Error> {
    match datagram {
        [KEEPALIVE] => Ok(Port4500::Keepalive),
        [0, 0, 0, 0, ike @ ..] => Ok(Port4500::Ike(ike)),
        esp if esp.len() >= ESP_MIN_LEN => Ok(Port4500::Esp(esp)),
        short => Err(Error::Truncated {
            what: "UDP-encapsulated ESP",
            offset: 0,
            need: ESP_MIN_LEN,
            have: short.len(),
        }),
    }
}

/// The IKE message prefixed by the non-ESP marker, for sending on port 4500.
pub fn with_non_esp_marker(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + NON_ESP_MARKER.len());
    out.extend_from_slice(&NON_ESP_MARKER);
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_marker_from_ike() {
        let framed = with_non_esp_marker(&[1, 2, 3]);
        assert_eq!(framed, [0, 0, 0, 0, 1, 2, 3]);
        assert_eq!(classify_port_4500(&framed), Ok(Port4500::Ike(&[1, 2, 3])));
    }

    #[test]
    fn recognises_esp_and_keepalive() {
        let esp = [0xc0, 0, 0, 1, 0, 0, 0, 1];
        assert_eq!(classify_port_4500(&esp), Ok(Port4500::Esp(&esp)));
        assert_eq!(classify_port_4500(&[0xff]), Ok(Port4500::Keepalive));
    }

    #[test]
    fn rejects_short_datagrams() {
        assert!(classify_port_4500(&[]).is_err());
        assert!(classify_port_4500(&[0xc0, 0, 0, 1]).is_err());
    }
}
