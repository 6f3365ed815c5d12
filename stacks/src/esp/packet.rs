//! The ESP header (RFC 4303 §2): SPI and sequence number, then the protected body.

use std::fmt;

use super::error::EspError;

mod field {
    use std::ops::{Range, RangeFrom};

    pub const SPI: Range<usize> = 0..4;
    pub const SEQUENCE: Range<usize> = 4..8;
    pub const BODY: RangeFrom<usize> = 8..;
}

/// Octets of the ESP header (SPI and sequence number), the associated data of the ICV.
pub const ESP_HEADER_LEN: usize = field::BODY.start;

/// IP protocol number of ESP.
pub const IPPROTO_ESP: u8 = 50;

/// Security Parameter Index of an ESP SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

/// A read-only view of an ESP packet whose header is known to be present.
#[derive(Debug, Clone, Copy)]
pub struct EspPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    /// Wraps a buffer after checking it holds the 8-octet header.
    ///
    /// # Errors
    /// [`EspError::Truncated`] when it does not.
    pub fn new_checked(buffer: T) -> Result<Self, EspError> {
        let have = buffer.as_ref().len();
        if have < ESP_HEADER_LEN {
            return Err(EspError::Truncated {
                need: ESP_HEADER_LEN,
                have,
            });
        }
        Ok(Self { buffer })
    }

    /// The SPI.
    pub fn spi(&self) -> Spi {
        Spi(self.word(field::SPI.start))
    }

    /// The sequence number.
    pub fn sequence_number(&self) -> u32 {
        self.word(field::SEQUENCE.start)
    }

    /// The protected body: IV, ciphertext and ICV.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::BODY]
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn word(&self, at: usize) -> u32 {
        let bytes = self.buffer.as_ref();
        // new_checked guarantees the 8 header octets.
        u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }
}

impl<T: AsRef<[u8]>> fmt::Display for EspPacket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ESP spi={} seq={} len={}",
            self.spi(),
            self.sequence_number(),
            self.as_bytes().len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: [u8; 12] = [
        0xc0, 0xff, 0xee, 0x01, 0x00, 0x00, 0x01, 0x02, 0xaa, 0xbb, 0xcc, 0xdd,
    ];

    #[test]
    fn deconstructs_header_and_body() {
        let packet = EspPacket::new_checked(&PACKET[..]).unwrap();
        assert_eq!(packet.spi(), Spi(0xc0ff_ee01));
        assert_eq!(packet.sequence_number(), 0x102);
        assert_eq!(packet.body(), [0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(packet.to_string(), "ESP spi=0xc0ffee01 seq=258 len=12");
    }

    #[test]
    fn rejects_truncated_header() {
        for len in 0..ESP_HEADER_LEN {
            assert_eq!(
                EspPacket::new_checked(&PACKET[..len]).unwrap_err(),
                EspError::Truncated { need: 8, have: len }
            );
        }
        assert!(
            EspPacket::new_checked(&PACKET[..8])
                .unwrap()
                .body()
                .is_empty()
        );
    }
}
