//! Notify (RFC 7296 §3.10) and Delete (§3.11) payloads.

use std::fmt;

use super::codec::{Reader, to_u8};
use super::{Error, NotifyType, ProtocolId};

/// A Notify payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyPayload {
    /// The protocol of the SA the notify concerns (NONE when there is none).
    pub protocol: ProtocolId,
    /// The SPI of that SA, often empty.
    pub spi: Vec<u8>,
    /// The notify type.
    pub notify_type: NotifyType,
    /// Type-specific data (a NAT detection hash, a cookie...).
    pub data: Vec<u8>,
}

impl NotifyPayload {
    /// A notify about no SA in particular.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let protocol = ProtocolId(r.u8("notify protocol ID")?);
        let spi_size = usize::from(r.u8("notify SPI size")?);
        let notify_type = NotifyType(r.u16("notify type")?);
        let spi = r.take(spi_size, "notify SPI")?.to_vec();
        Ok(Self {
            protocol,
            spi,
            notify_type,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[self.protocol.0, to_u8(self.spi.len(), "notify SPI")?]);
        out.extend_from_slice(&self.notify_type.0.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

impl fmt::Display for NotifyPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "N({})", self.notify_type)
    }
}

/// A Delete payload: the IKE SA itself, or CHILD SAs by SPI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePayload {
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// Size of each SPI (0 for IKE, 4 for ESP/AH).
    pub spi_size: u8,
    /// The SPIs, each `spi_size` bytes.
    pub spis: Vec<Vec<u8>>,
}

impl DeletePayload {
    /// A delete of the IKE SA the message travels on.
    pub fn ike() -> Self {
        Self {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// A delete of CHILD SAs by their inbound SPIs.
    pub fn child(protocol: ProtocolId, spis: &[u32]) -> Self {
        Self {
            protocol,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    /// The SPIs as 32-bit ESP/AH SPIs, if they are all four bytes.
    pub fn child_spis(&self) -> Option<Vec<u32>> {
        self.spis
            .iter()
            .map(|s| {
                <[u8; 4]>::try_from(s.as_slice())
                    .ok()
                    .map(u32::from_be_bytes)
            })
            .collect()
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let protocol = ProtocolId(r.u8("delete protocol ID")?);
        let spi_size = r.u8("delete SPI size")?;
        let count = r.u16("number of SPIs")?;
        let spis = (0..count)
            .map(|_| {
                r.take(usize::from(spi_size), "deleted SPI")
                    .map(<[u8]>::to_vec)
            })
            .collect::<Result<Vec<_>, _>>()?;
        r.expect_end("delete payload")?;
        Ok(Self {
            protocol,
            spi_size,
            spis,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let count = u16::try_from(self.spis.len()).map_err(|_| Error::Oversized {
            what: "delete SPI list",
            len: self.spis.len(),
        })?;
        out.extend_from_slice(&[self.protocol.0, self.spi_size]);
        out.extend_from_slice(&count.to_be_bytes());
        for spi in &self.spis {
            if spi.len() != usize::from(self.spi_size) {
                return Err(Error::BadValue {
                    what: "deleted SPI size",
                });
            }
            out.extend_from_slice(spi);
        }
        Ok(())
    }
}

impl fmt::Display for DeletePayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "D({}", self.protocol)?;
        for spi in &self.spis {
            f.write_str(" ")?;
            spi.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_notify_with_spi_and_data() {
        let bytes = [3, 4, 0x40, 0x09, 0xc0, 0, 0, 1, 0xaa];
        let n = NotifyPayload::read(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(n.protocol, ProtocolId::ESP);
        assert_eq!(n.notify_type, NotifyType::REKEY_SA);
        assert_eq!(n.spi, [0xc0, 0, 0, 1]);
        assert_eq!(n.data, [0xaa]);
        let mut out = Vec::new();
        n.write(&mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn rejects_notify_spi_beyond_payload() {
        assert!(matches!(
            NotifyPayload::read(&mut Reader::new(&[3, 4, 0x40, 0x09, 0xc0])),
            Err(Error::Truncated {
                what: "notify SPI",
                need: 4,
                have: 1,
                ..
            })
        ));
    }

    #[test]
    fn round_trips_child_delete() {
        let d = DeletePayload::child(ProtocolId::ESP, &[0xc000_0001, 0xc000_0002]);
        let mut out = Vec::new();
        d.write(&mut out).unwrap();
        assert_eq!(out, [3, 4, 0, 2, 0xc0, 0, 0, 1, 0xc0, 0, 0, 2]);
        let back = DeletePayload::read(&mut Reader::new(&out)).unwrap();
        assert_eq!(back.child_spis(), Some(vec![0xc000_0001, 0xc000_0002]));
        assert_eq!(back.to_string(), "D(ESP c0000001 c0000002)");
    }

    #[test]
    fn rejects_delete_with_trailing_bytes() {
        assert_eq!(
            DeletePayload::read(&mut Reader::new(&[1, 0, 0, 0, 9])),
            Err(Error::TrailingData {
                what: "delete payload",
                len: 1
            })
        );
    }
}
