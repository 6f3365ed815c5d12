//! The fixed 28-byte IKE header (RFC 7296 §3.1): a zero-copy view and its parsed summary.

use std::fmt;

use super::{Error, ExchangeType, PayloadType};

mod field {
    use std::ops::Range;

    pub(super) const INITIATOR_SPI: Range<usize> = 0..8;
    pub(super) const RESPONDER_SPI: Range<usize> = 8..16;
    pub(super) const NEXT_PAYLOAD: usize = 16;
    pub(super) const VERSION: usize = 17;
    pub(super) const EXCHANGE_TYPE: usize = 18;
    pub(super) const FLAGS: usize = 19;
    pub(super) const MESSAGE_ID: Range<usize> = 20..24;
    pub(super) const LENGTH: Range<usize> = 24..28;
}

/// Length of the IKE header.
pub const HEADER_LEN: usize = field::LENGTH.end;

/// The only major version we speak.
pub const MAJOR_VERSION: u8 = 2;

/// The IKE header flags byte. Reserved bits are kept, so they survive a round trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Flags(pub u8);

impl Flags {
    /// Set by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// The sender can speak a higher major version.
    pub const VERSION: u8 = 0x10;
    /// The message is a response.
    pub const RESPONSE: u8 = 0x20;

    /// Flags for a message from the original initiator (`initiator`) that is or is not a response.
    pub fn new(initiator: bool, response: bool) -> Self {
        let mut bits = 0;
        if initiator {
            bits |= Self::INITIATOR;
        }
        if response {
            bits |= Self::RESPONSE;
        }
        Self(bits)
    }

    /// Whether the I (original initiator) flag is set.
    pub fn initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }

    /// Whether the R (response) flag is set.
    pub fn response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }

    /// Whether the V (higher version) flag is set.
    pub fn version(self) -> bool {
        self.0 & Self::VERSION != 0
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = if self.initiator() { "I" } else { "-" };
        let v = if self.version() { "V" } else { "-" };
        let r = if self.response() { "R" } else { "-" };
        write!(f, "{i}{v}{r}")
    }
}

/// A zero-copy view of an IKE header. No accessor panics once [`Header::check_len`] passed.
#[derive(Debug, Clone)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking that it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Fails unless the buffer holds at least the 28 header bytes.
    pub fn check_len(&self) -> Result<(), Error> {
        let have = self.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::Truncated {
                what: "IKE header",
                offset: 0,
                need: HEADER_LEN,
                have,
            });
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u64_at(&self, range: std::ops::Range<usize>) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.buffer.as_ref()[range]);
        u64::from_be_bytes(bytes)
    }

    /// The IKE SA initiator's SPI.
    pub fn initiator_spi(&self) -> u64 {
        self.u64_at(field::INITIATOR_SPI)
    }

    /// The IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
    pub fn responder_spi(&self) -> u64 {
        self.u64_at(field::RESPONDER_SPI)
    }

    /// Type of the first payload.
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }

    /// Major version (high nibble of the version byte).
    pub fn major_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] >> 4
    }

    /// Minor version (low nibble of the version byte).
    pub fn minor_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] & 0x0f
    }

    /// The exchange type.
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.buffer.as_ref()[field::EXCHANGE_TYPE])
    }

    /// The flags byte.
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }

    /// The message ID.
    pub fn message_id(&self) -> u32 {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(&self.buffer.as_ref()[field::MESSAGE_ID]);
        u32::from_be_bytes(bytes)
    }

    /// Length of the whole message, header included.
    pub fn length(&self) -> u32 {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(&self.buffer.as_ref()[field::LENGTH]);
        u32::from_be_bytes(bytes)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    /// Sets the initiator's SPI.
    pub fn set_initiator_spi(&mut self, spi: u64) {
        self.buffer.as_mut()[field::INITIATOR_SPI].copy_from_slice(&spi.to_be_bytes());
    }

    /// Sets the responder's SPI.
    pub fn set_responder_spi(&mut self, spi: u64) {
        self.buffer.as_mut()[field::RESPONDER_SPI].copy_from_slice(&spi.to_be_bytes());
    }

    /// Sets the first payload's type.
    pub fn set_next_payload(&mut self, next: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = next.0;
    }

    /// Sets major and minor version (each a nibble; higher bits are dropped).
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.buffer.as_mut()[field::VERSION] = (major << 4) | (minor & 0x0f);
    }

    /// Sets the exchange type.
    pub fn set_exchange_type(&mut self, exchange: ExchangeType) {
        self.buffer.as_mut()[field::EXCHANGE_TYPE] = exchange.0;
    }

    /// Sets the flags byte.
    pub fn set_flags(&mut self, flags: Flags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0;
    }

    /// Sets the message ID.
    pub fn set_message_id(&mut self, id: u32) {
        self.buffer.as_mut()[field::MESSAGE_ID].copy_from_slice(&id.to_be_bytes());
    }

    /// Sets the whole message's length.
    pub fn set_length(&mut self, length: u32) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&length.to_be_bytes());
    }
}

/// The parsed IKE header, without the two fields a message derives from its payloads
/// (next payload and length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderRepr {
    /// The initiator's SPI.
    pub initiator_spi: u64,
    /// The responder's SPI, zero until the responder chose one.
    pub responder_spi: u64,
    /// Minor version (we send 0; others are accepted per RFC 7296 §2.5).
    pub minor_version: u8,
    /// The exchange type.
    pub exchange_type: ExchangeType,
    /// The flags.
    pub flags: Flags,
    /// The message ID.
    pub message_id: u32,
}

impl HeaderRepr {
    /// Parses a checked header, refusing major versions other than 2.
    pub fn parse<T: AsRef<[u8]>>(header: &Header<T>) -> Result<Self, Error> {
        header.check_len()?;
        if header.major_version() != MAJOR_VERSION {
            return Err(Error::UnsupportedVersion {
                major: header.major_version(),
                minor: header.minor_version(),
            });
        }
        Ok(Self {
            initiator_spi: header.initiator_spi(),
            responder_spi: header.responder_spi(),
            minor_version: header.minor_version(),
            exchange_type: header.exchange_type(),
            flags: header.flags(),
            message_id: header.message_id(),
        })
    }

    /// Bytes the header takes on the wire.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, with the first payload's type and the message length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        header: &mut Header<T>,
        next_payload: PayloadType,
        length: u32,
    ) {
        header.set_initiator_spi(self.initiator_spi);
        header.set_responder_spi(self.responder_spi);
        header.set_next_payload(next_payload);
        header.set_version(MAJOR_VERSION, self.minor_version);
        header.set_exchange_type(self.exchange_type);
        header.set_flags(self.flags);
        header.set_message_id(self.message_id);
        header.set_length(length);
    }

    /// Whether the message is a response (R flag).
    pub fn is_response(&self) -> bool {
        self.flags.response()
    }
}

impl fmt::Display for HeaderRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} SPIs {:016x}_i {:016x}_r [{}]",
            self.exchange_type,
            if self.is_response() {
                "response"
            } else {
                "request"
            },
            self.message_id,
            self.initiator_spi,
            self.responder_spi,
            self.flags,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HEADER_BYTES: [u8; 28] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // initiator SPI
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // responder SPI
        0x21, 0x20, 0x22, 0x08, // SA, 2.0, IKE_SA_INIT, I
        0x00, 0x00, 0x00, 0x00, // message ID
        0x00, 0x00, 0x01, 0x20, // length 288
    ];

    fn repr() -> HeaderRepr {
        HeaderRepr {
            initiator_spi: 0x0102_0304_0506_0708,
            responder_spi: 0,
            minor_version: 0,
            exchange_type: ExchangeType::IKE_SA_INIT,
            flags: Flags::new(true, false),
            message_id: 0,
        }
    }

    #[test]
    fn test_deconstruct() {
        let header = Header::new_checked(&HEADER_BYTES[..]).unwrap();
        assert_eq!(header.initiator_spi(), 0x0102_0304_0506_0708);
        assert_eq!(header.responder_spi(), 0);
        assert_eq!(header.next_payload(), PayloadType::SA);
        assert_eq!(header.major_version(), 2);
        assert_eq!(header.minor_version(), 0);
        assert_eq!(header.exchange_type(), ExchangeType::IKE_SA_INIT);
        assert!(header.flags().initiator());
        assert!(!header.flags().response());
        assert_eq!(header.message_id(), 0);
        assert_eq!(header.length(), 288);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 28];
        let mut header = Header::new_unchecked(&mut bytes[..]);
        header.set_initiator_spi(0x0102_0304_0506_0708);
        header.set_responder_spi(0);
        header.set_next_payload(PayloadType::SA);
        header.set_version(2, 0);
        header.set_exchange_type(ExchangeType::IKE_SA_INIT);
        header.set_flags(Flags::new(true, false));
        header.set_message_id(0);
        header.set_length(288);
        assert_eq!(bytes, HEADER_BYTES);
    }

    #[test]
    fn test_check_len() {
        assert_eq!(
            Header::new_checked(&HEADER_BYTES[..27]).unwrap_err(),
            Error::Truncated {
                what: "IKE header",
                offset: 0,
                need: 28,
                have: 27
            }
        );
        assert!(Header::new_checked(&HEADER_BYTES[..]).is_ok());
    }

    #[test]
    fn test_parse() {
        let header = Header::new_checked(&HEADER_BYTES[..]).unwrap();
        assert_eq!(HeaderRepr::parse(&header).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0u8; 28];
        repr().emit(
            &mut Header::new_unchecked(&mut bytes[..]),
            PayloadType::SA,
            288,
        );
        assert_eq!(bytes, HEADER_BYTES);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), HEADER_BYTES.len());
    }

    #[test]
    fn rejects_major_version_other_than_two() {
        let mut bytes = HEADER_BYTES;
        bytes[17] = 0x30;
        let err = HeaderRepr::parse(&Header::new_unchecked(&bytes[..])).unwrap_err();
        assert_eq!(err, Error::UnsupportedVersion { major: 3, minor: 0 });
        assert_eq!(
            err.notify_type(),
            super::super::NotifyType::INVALID_MAJOR_VERSION
        );
    }

    #[test]
    fn displays_as_one_log_line() {
        assert_eq!(
            repr().to_string(),
            "IKE_SA_INIT request 0 SPIs 0102030405060708_i 0000000000000000_r [I--]"
        );
    }
}
