//! The 4-byte generic payload header (RFC 7296 §3.2): next payload, critical bit, length.

use std::fmt;

use super::{Error, PayloadType};

mod field {
    pub(super) const NEXT_PAYLOAD: usize = 0;
    pub(super) const FLAGS: usize = 1;
    pub(super) const LENGTH: std::ops::Range<usize> = 2..4;
}

/// Length of the generic payload header.
pub const PAYLOAD_HEADER_LEN: usize = field::LENGTH.end;

const CRITICAL: u8 = 0x80;

/// A zero-copy view of a generic payload header. No accessor panics once
/// [`PayloadHeader::check_len`] passed.
#[derive(Debug, Clone)]
pub struct PayloadHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PayloadHeader<T> {
    /// Wraps a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking that it holds the header and the whole payload.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Fails unless the buffer holds the header, and the length field covers at least the
    /// header and no more than the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let have = self.buffer.as_ref().len();
        if have < PAYLOAD_HEADER_LEN {
            return Err(Error::Truncated {
                what: "payload header",
                offset: 0,
                need: PAYLOAD_HEADER_LEN,
                have,
            });
        }
        let length = usize::from(self.length());
        if length < PAYLOAD_HEADER_LEN {
            return Err(Error::BadLength {
                what: "payload",
                offset: 0,
                length,
            });
        }
        if length > have {
            return Err(Error::Truncated {
                what: "payload",
                offset: 0,
                need: length,
                have,
            });
        }
        Ok(())
    }

    /// Type of the payload after this one (for SK and SKF: of the first inner payload).
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }

    /// Whether the critical bit is set.
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & CRITICAL != 0
    }

    /// Length of the payload, header included.
    pub fn length(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::LENGTH.start], b[field::LENGTH.start + 1]])
    }

    /// The payload body after the header, as far as the length field says.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[PAYLOAD_HEADER_LEN..usize::from(self.length())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PayloadHeader<T> {
    /// Sets the next payload's type.
    pub fn set_next_payload(&mut self, next: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = next.0;
    }

    /// Sets or clears the critical bit; the reserved bits are written as zero.
    pub fn set_critical(&mut self, critical: bool) {
        self.buffer.as_mut()[field::FLAGS] = if critical { CRITICAL } else { 0 };
    }

    /// Sets the payload length, header included.
    pub fn set_length(&mut self, length: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&length.to_be_bytes());
    }
}

/// The parsed generic payload header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadHeaderRepr {
    /// Type of the next payload.
    pub next_payload: PayloadType,
    /// The critical bit.
    pub critical: bool,
    /// Length of the payload, header included.
    pub length: u16,
}

impl PayloadHeaderRepr {
    /// Parses a checked header.
    pub fn parse<T: AsRef<[u8]>>(header: &PayloadHeader<T>) -> Result<Self, Error> {
        header.check_len()?;
        Ok(Self {
            next_payload: header.next_payload(),
            critical: header.critical(),
            length: header.length(),
        })
    }

    /// Bytes the header takes.
    pub fn buffer_len(&self) -> usize {
        PAYLOAD_HEADER_LEN
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut PayloadHeader<T>) {
        header.set_next_payload(self.next_payload);
        header.set_critical(self.critical);
        header.set_length(self.length);
    }
}

impl fmt::Display for PayloadHeaderRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = if self.critical { " critical" } else { "" };
        write!(
            f,
            "payload len={} next={}{c}",
            self.length, self.next_payload
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static BYTES: [u8; 8] = [0x28, 0x80, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef];

    fn repr() -> PayloadHeaderRepr {
        PayloadHeaderRepr {
            next_payload: PayloadType::NONCE,
            critical: true,
            length: 8,
        }
    }

    #[test]
    fn test_deconstruct() {
        let header = PayloadHeader::new_checked(&BYTES[..]).unwrap();
        assert_eq!(header.next_payload(), PayloadType::NONCE);
        assert!(header.critical());
        assert_eq!(header.length(), 8);
        assert_eq!(header.body(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xffu8; 8];
        bytes[4..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let mut header = PayloadHeader::new_unchecked(&mut bytes[..]);
        header.set_next_payload(PayloadType::NONCE);
        header.set_critical(true);
        header.set_length(8);
        assert_eq!(bytes, BYTES);
    }

    #[test]
    fn test_check_len() {
        assert!(matches!(
            PayloadHeader::new_checked(&BYTES[..3]),
            Err(Error::Truncated {
                need: 4,
                have: 3,
                ..
            })
        ));
        assert!(matches!(
            PayloadHeader::new_checked(&BYTES[..7]),
            Err(Error::Truncated {
                what: "payload",
                need: 8,
                have: 7,
                ..
            })
        ));
        assert!(matches!(
            PayloadHeader::new_checked(&[0u8, 0, 0, 3][..]),
            Err(Error::BadLength { length: 3, .. })
        ));
    }

    #[test]
    fn test_parse() {
        let header = PayloadHeader::new_checked(&BYTES[..]).unwrap();
        assert_eq!(PayloadHeaderRepr::parse(&header).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let mut bytes = BYTES;
        bytes[..4].fill(0);
        repr().emit(&mut PayloadHeader::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, BYTES);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), 4);
    }
}
