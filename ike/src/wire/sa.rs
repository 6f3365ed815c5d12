//! The Security Association payload (RFC 7296 §3.3): proposals, transforms, attributes.

use std::fmt;

use super::codec::{Reader, patch_u16_len, to_u8, u16_len_placeholder};
use super::{AttributeType, Error, ProtocolId, TransformType};

const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;
const LAST: u8 = 0;
const ATTRIBUTE_TV: u16 = 0x8000;

/// An SA payload: the proposals, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaPayload {
    /// The proposals, numbered from 1.
    pub proposals: Vec<Proposal>,
}

/// One proposal: a protocol, its SPI and the transforms offered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (1 for the first; a reply echoes the number it accepted).
    pub number: u8,
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// The sender's SPI: empty in IKE_SA_INIT, 8 bytes for an IKE rekey, 4 for ESP/AH.
    pub spi: Vec<u8>,
    /// The transforms.
    pub transforms: Vec<Transform>,
}

/// One transform: a type, an algorithm ID and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Encryption, PRF, integrity, DH or ESN.
    pub transform_type: TransformType,
    /// The algorithm ID within the type (IANA "IKEv2 Transform Attribute" registries).
    pub id: u16,
    /// The attributes (usually none, or a key length).
    pub attributes: Vec<Attribute>,
}

/// A transform attribute, in type/value (TV) or type/length/value (TLV) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// A two-byte value (AF bit set); `attribute_type` holds the low 15 bits.
    Tv {
        /// The attribute type.
        attribute_type: AttributeType,
        /// The value.
        value: u16,
    },
    /// A variable-length value.
    Tlv {
        /// The attribute type.
        attribute_type: AttributeType,
        /// The value.
        value: Vec<u8>,
    },
}

impl SaPayload {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut proposals = Vec::new();
        loop {
            let start = r.offset();
            let last = r.u8("proposal last-substructure")?;
            r.u8("proposal reserved")?;
            let length = usize::from(r.u16("proposal length")?);
            let body_len = length
                .checked_sub(4)
                .filter(|&n| n >= 4)
                .ok_or(Error::BadLength {
                    what: "proposal",
                    offset: start,
                    length,
                })?;
            let mut body = r.sub(body_len, "proposal")?;
            proposals.push(Proposal::read(&mut body)?);
            body.expect_end("proposal")?;
            match last {
                LAST => break,
                MORE_PROPOSALS if !r.is_empty() => continue,
                MORE_PROPOSALS => {
                    return Err(Error::BadChain {
                        detail: "proposal says more follow",
                    });
                }
                _ => {
                    return Err(Error::BadValue {
                        what: "proposal last-substructure",
                    });
                }
            }
        }
        r.expect_end("SA payload")?;
        Ok(Self { proposals })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        for (i, proposal) in self.proposals.iter().enumerate() {
            let last = if i + 1 == self.proposals.len() {
                LAST
            } else {
                MORE_PROPOSALS
            };
            let start = out.len();
            out.extend_from_slice(&[last, 0]);
            let at = u16_len_placeholder(out);
            proposal.write(out)?;
            patch_u16_len(out, at, start, "proposal")?;
        }
        Ok(())
    }
}

impl Proposal {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let number = r.u8("proposal number")?;
        let protocol = ProtocolId(r.u8("protocol ID")?);
        let spi_size = usize::from(r.u8("SPI size")?);
        let count = r.u8("number of transforms")?;
        let spi = r.take(spi_size, "proposal SPI")?.to_vec();
        let mut transforms = Vec::with_capacity(usize::from(count));
        let mut more = count > 0;
        while more {
            let start = r.offset();
            let last = r.u8("transform last-substructure")?;
            r.u8("transform reserved")?;
            let length = usize::from(r.u16("transform length")?);
            let body_len = length
                .checked_sub(4)
                .filter(|&n| n >= 4)
                .ok_or(Error::BadLength {
                    what: "transform",
                    offset: start,
                    length,
                })?;
            let mut body = r.sub(body_len, "transform")?;
            transforms.push(Transform::read(&mut body)?);
            more = match last {
                LAST => false,
                MORE_TRANSFORMS => true,
                _ => {
                    return Err(Error::BadValue {
                        what: "transform last-substructure",
                    });
                }
            };
        }
        if transforms.len() != usize::from(count) {
            return Err(Error::BadChain {
                detail: "transform count differs from transforms",
            });
        }
        Ok(Self {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(to_u8(self.spi.len(), "proposal SPI")?);
        out.push(to_u8(self.transforms.len(), "transform count")?);
        out.extend_from_slice(&self.spi);
        for (i, transform) in self.transforms.iter().enumerate() {
            let last = if i + 1 == self.transforms.len() {
                LAST
            } else {
                MORE_TRANSFORMS
            };
            let start = out.len();
            out.extend_from_slice(&[last, 0]);
            let at = u16_len_placeholder(out);
            transform.write(out)?;
            patch_u16_len(out, at, start, "transform")?;
        }
        Ok(())
    }

    /// The SPI as a 32-bit ESP/AH SPI, when it is four bytes long.
    pub fn child_spi(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }

    /// The SPI as a 64-bit IKE SPI, when it is eight bytes long (IKE SA rekey).
    pub fn ike_spi(&self) -> Option<u64> {
        <[u8; 8]>::try_from(self.spi.as_slice())
            .ok()
            .map(u64::from_be_bytes)
    }

    /// The transforms of one type, in order.
    pub fn transforms_of(&self, kind: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms
            .iter()
            .filter(move |t| t.transform_type == kind)
    }
}

impl Transform {
    /// A transform without attributes.
    pub fn new(transform_type: TransformType, id: u16) -> Self {
        Self {
            transform_type,
            id,
            attributes: Vec::new(),
        }
    }

    /// A transform with a key length attribute (bits).
    pub fn with_key_length(transform_type: TransformType, id: u16, bits: u16) -> Self {
        let key_length = Attribute::Tv {
            attribute_type: AttributeType::KEY_LENGTH,
            value: bits,
        };
        Self {
            transform_type,
            id,
            attributes: vec![key_length],
        }
    }

    /// The key length attribute, in bits, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Tv {
                attribute_type: AttributeType::KEY_LENGTH,
                value,
            } => Some(*value),
            _ => None,
        })
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let transform_type = TransformType(r.u8("transform type")?);
        r.u8("transform reserved")?;
        let id = r.u16("transform ID")?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            attributes.push(Attribute::read(r)?);
        }
        Ok(Self {
            transform_type,
            id,
            attributes,
        })
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[self.transform_type.0, 0]);
        out.extend_from_slice(&self.id.to_be_bytes());
        for attribute in &self.attributes {
            attribute.write(out)?;
        }
        Ok(())
    }
}

impl Attribute {
    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let word = r.u16("attribute type")?;
        let attribute_type = AttributeType(word & !ATTRIBUTE_TV);
        if word & ATTRIBUTE_TV != 0 {
            Ok(Self::Tv {
                attribute_type,
                value: r.u16("attribute value")?,
            })
        } else {
            let len = usize::from(r.u16("attribute length")?);
            Ok(Self::Tlv {
                attribute_type,
                value: r.take(len, "attribute value")?.to_vec(),
            })
        }
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Self::Tv {
                attribute_type,
                value,
            } => {
                out.extend_from_slice(&(attribute_type.0 | ATTRIBUTE_TV).to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            Self::Tlv {
                attribute_type,
                value,
            } => {
                if attribute_type.0 & ATTRIBUTE_TV != 0 {
                    return Err(Error::BadValue {
                        what: "attribute type above 15 bits",
                    });
                }
                let len = u16::try_from(value.len()).map_err(|_| Error::Oversized {
                    what: "attribute",
                    len: value.len(),
                })?;
                out.extend_from_slice(&attribute_type.0.to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transform_type, self.id)?;
        if let Some(bits) = self.key_length() {
            write!(f, "/{bits}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.number, self.protocol)?;
        if !self.spi.is_empty() {
            f.write_str(" spi=")?;
            for b in &self.spi {
                write!(f, "{b:02x}")?;
            }
        }
        for t in &self.transforms {
            write!(f, " {t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One ESP proposal, SPI 0x11223344: ENCR_AES_CBC/256, AUTH_HMAC_SHA2_256_128, ESN none.
    static ESP_PROPOSAL: [u8; 40] = [
        0x00, 0x00, 0x00, 0x28, // last proposal, length 40
        0x01, 0x03, 0x04, 0x03, // #1, ESP, SPI size 4, 3 transforms
        0x11, 0x22, 0x33, 0x44, // SPI
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0c, 0x80, 0x0e, 0x01,
        0x00, // ENCR 12 /256
        0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x0c, // INTEG 12
        0x00, 0x00, 0x00, 0x08, 0x05, 0x00, 0x00, 0x00, // ESN 0
    ];

    fn esp_sa() -> SaPayload {
        SaPayload {
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::ESP,
                spi: vec![0x11, 0x22, 0x33, 0x44],
                transforms: vec![
                    Transform::with_key_length(TransformType::ENCR, 12, 256),
                    Transform::new(TransformType::INTEG, 12),
                    Transform::new(TransformType::ESN, 0),
                ],
            }],
        }
    }

    #[test]
    fn parses_esp_proposal_with_key_length() {
        let sa = SaPayload::read(&mut Reader::new(&ESP_PROPOSAL)).unwrap();
        assert_eq!(sa, esp_sa());
        assert_eq!(sa.proposals[0].child_spi(), Some(0x1122_3344));
        assert_eq!(sa.proposals[0].transforms[0].key_length(), Some(256));
        assert_eq!(
            sa.proposals[0].to_string(),
            "#1 ESP spi=11223344 ENCR:12/256 INTEG:12 ESN:0"
        );
    }

    #[test]
    fn emits_the_same_bytes() {
        let mut out = Vec::new();
        esp_sa().write(&mut out).unwrap();
        assert_eq!(out, ESP_PROPOSAL);
    }

    #[test]
    fn rejects_every_truncation() {
        for len in 0..ESP_PROPOSAL.len() {
            assert!(
                SaPayload::read(&mut Reader::new(&ESP_PROPOSAL[..len])).is_err(),
                "{len}"
            );
        }
    }

    #[test]
    fn rejects_transform_count_mismatch() {
        let mut bytes = ESP_PROPOSAL;
        bytes[7] = 4;
        assert_eq!(
            SaPayload::read(&mut Reader::new(&bytes)),
            Err(Error::BadChain {
                detail: "transform count differs from transforms"
            })
        );
    }

    #[test]
    fn rejects_proposal_that_claims_a_successor_it_lacks() {
        let mut bytes = ESP_PROPOSAL;
        bytes[0] = MORE_PROPOSALS;
        assert!(matches!(
            SaPayload::read(&mut Reader::new(&bytes)),
            Err(Error::BadChain { .. })
        ));
    }

    #[test]
    fn keeps_tlv_attributes() {
        let mut t = Transform::new(TransformType::ENCR, 1000);
        t.attributes.push(Attribute::Tlv {
            attribute_type: AttributeType(99),
            value: vec![1, 2],
        });
        let sa = SaPayload {
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::IKE,
                spi: vec![],
                transforms: vec![t],
            }],
        };
        let mut out = Vec::new();
        sa.write(&mut out).unwrap();
        assert_eq!(SaPayload::read(&mut Reader::new(&out)).unwrap(), sa);
    }
}
