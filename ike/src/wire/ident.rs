//! Identification payloads IDi and IDr (RFC 7296 §3.5).

use std::fmt;
use std::net::Ipv4Addr;

use super::codec::Reader;
use super::{Error, IdType};

/// An IKE identity, as carried in IDi/IDr and matched against policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Identity {
    /// ID_IPV4_ADDR: a single IPv4 address.
    Ipv4(Ipv4Addr),
    /// ID_FQDN: a domain name, e.g. `mvs1.example.com`.
    Fqdn(String),
    /// ID_RFC822_ADDR: an e-mail style address.
    Rfc822(String),
    /// ID_KEY_ID: opaque bytes.
    KeyId(Vec<u8>),
    /// Any other type, or a known one whose bytes we could not read as such, kept raw.
    Other {
        /// The ID type.
        id_type: IdType,
        /// The identification data.
        data: Vec<u8>,
    },
}

impl Identity {
    /// The ID type on the wire.
    pub fn id_type(&self) -> IdType {
        match self {
            Self::Ipv4(_) => IdType::ID_IPV4_ADDR,
            Self::Fqdn(_) => IdType::ID_FQDN,
            Self::Rfc822(_) => IdType::ID_RFC822_ADDR,
            Self::KeyId(_) => IdType::ID_KEY_ID,
            Self::Other { id_type, .. } => *id_type,
        }
    }

    /// The identification data on the wire.
    pub fn data(&self) -> Vec<u8> {
        match self {
            Self::Ipv4(addr) => addr.octets().to_vec(),
            Self::Fqdn(name) | Self::Rfc822(name) => name.as_bytes().to_vec(),
            Self::KeyId(data) | Self::Other { data, .. } => data.clone(),
        }
    }

    /// The ID payload body without the generic header (ID type, 3 reserved bytes, data):
    /// the "RestOfIDPayload" that AUTH covers (RFC 7296 §2.15).
    pub fn payload_body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let id_type = IdType(r.u8("ID type")?);
        r.take(3, "ID reserved")?;
        let data = r.rest();
        let text = || std::str::from_utf8(data).ok().map(str::to_owned);
        let known = match id_type {
            IdType::ID_IPV4_ADDR => <[u8; 4]>::try_from(data).ok().map(|o| Self::Ipv4(o.into())),
            IdType::ID_FQDN => text().map(Self::Fqdn),
            IdType::ID_RFC822_ADDR => text().map(Self::Rfc822),
            IdType::ID_KEY_ID => Some(Self::KeyId(data.to_vec())),
            _ => None,
        };
        Ok(known.unwrap_or_else(|| Self::Other {
            id_type,
            data: data.to_vec(),
        }))
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.id_type().0, 0, 0, 0]);
        out.extend_from_slice(&self.data());
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(addr) => write!(f, "{addr}"),
            Self::Fqdn(name) | Self::Rfc822(name) => f.write_str(name),
            Self::KeyId(data) => {
                f.write_str("keyid:")?;
                data.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Self::Other { id_type, data } => write!(f, "{id_type}:{} bytes", data.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(id: &Identity) -> Identity {
        Identity::read(&mut Reader::new(&id.payload_body())).unwrap()
    }

    #[test]
    fn parses_ipv4_identity() {
        let bytes = [1, 0, 0, 0, 192, 0, 2, 10];
        let id = Identity::read(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(id, Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 10)));
        assert_eq!(id.payload_body(), bytes);
    }

    #[test]
    fn round_trips_each_known_type() {
        for id in [
            Identity::Fqdn("mvs1.example.com".into()),
            Identity::Rfc822("ops@example.com".into()),
            Identity::KeyId(vec![1, 2, 3]),
            Identity::Other {
                id_type: IdType::ID_DER_ASN1_DN,
                data: vec![0x30, 0],
            },
        ] {
            assert_eq!(round_trip(&id), id);
        }
    }

    #[test]
    fn keeps_malformed_ipv4_identity_raw() {
        let bytes = [1, 0, 0, 0, 192, 0, 2];
        let id = Identity::read(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(
            id,
            Identity::Other {
                id_type: IdType::ID_IPV4_ADDR,
                data: vec![192, 0, 2]
            }
        );
        assert_eq!(id.payload_body(), bytes);
    }

    #[test]
    fn rejects_truncated_header() {
        assert!(matches!(
            Identity::read(&mut Reader::new(&[2, 0, 0])),
            Err(Error::Truncated {
                what: "ID reserved",
                ..
            })
        ));
    }
}
