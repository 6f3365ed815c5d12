//! Traffic selector payloads TSi and TSr (RFC 7296 §3.13).

use std::fmt;
use std::net::Ipv4Addr;

use super::codec::{Reader, to_u8};
use super::{Error, TsType};

/// A TSi or TSr payload: the selectors, any of which matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsPayload {
    /// The traffic selectors.
    pub selectors: Vec<TrafficSelector>,
}

/// One traffic selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE.
    Ipv4(Ipv4Range),
    /// Any other type, kept raw (bytes after the type and length fields).
    Other {
        /// The selector type.
        ts_type: TsType,
        /// The rest of the selector.
        data: Vec<u8>,
    },
}

/// An IPv4 traffic selector: protocol, port range, address range (all inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Ipv4Range {
    /// IP protocol number, 0 for any.
    pub ip_protocol: u8,
    /// First port.
    pub start_port: u16,
    /// Last port (65535 with start 0 for any).
    pub end_port: u16,
    /// First address.
    pub start_addr: Ipv4Addr,
    /// Last address.
    pub end_addr: Ipv4Addr,
}

const IPV4_SELECTOR_LEN: u16 = 16;

impl Ipv4Range {
    /// A selector for one host, any protocol and port.
    pub fn host(addr: Ipv4Addr) -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: addr,
            end_addr: addr,
        }
    }

    /// Whether `other` lies wholly within this selector.
    pub fn contains(&self, other: &Ipv4Range) -> bool {
        (self.ip_protocol == 0 || self.ip_protocol == other.ip_protocol)
            && self.start_port <= other.start_port
            && other.end_port <= self.end_port
            && self.start_addr <= other.start_addr
            && other.end_addr <= self.end_addr
    }

    /// The intersection of two selectors, if they overlap (RFC 7296 §2.9 narrowing).
    pub fn intersect(&self, other: &Ipv4Range) -> Option<Ipv4Range> {
        let ip_protocol = match (self.ip_protocol, other.ip_protocol) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let start_port = self.start_port.max(other.start_port);
        let end_port = self.end_port.min(other.end_port);
        let start_addr = self.start_addr.max(other.start_addr);
        let end_addr = self.end_addr.min(other.end_addr);
        (start_port <= end_port && start_addr <= end_addr).then_some(Ipv4Range {
            ip_protocol,
            start_port,
            end_port,
            start_addr,
            end_addr,
        })
    }
}

impl TsPayload {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let count = r.u8("number of TSs")?;
        r.take(3, "TS reserved")?;
        let mut selectors = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let start = r.offset();
            let ts_type = TsType(r.u8("TS type")?);
            let ip_protocol = r.u8("TS IP protocol")?;
            let length = usize::from(r.u16("selector length")?);
            let body_len = length.checked_sub(4).ok_or(Error::BadLength {
                what: "traffic selector",
                offset: start,
                length,
            })?;
            let mut body = r.sub(body_len, "traffic selector")?;
            let selector = if ts_type == TsType::TS_IPV4_ADDR_RANGE {
                if length != usize::from(IPV4_SELECTOR_LEN) {
                    return Err(Error::BadLength {
                        what: "IPv4 selector",
                        offset: start,
                        length,
                    });
                }
                TrafficSelector::Ipv4(Ipv4Range {
                    ip_protocol,
                    start_port: body.u16("start port")?,
                    end_port: body.u16("end port")?,
                    start_addr: body.array::<4>("start address")?.into(),
                    end_addr: body.array::<4>("end address")?.into(),
                })
            } else {
                let mut data = vec![ip_protocol];
                data.extend_from_slice(body.rest());
                TrafficSelector::Other { ts_type, data }
            };
            selectors.push(selector);
        }
        r.expect_end("TS payload")?;
        Ok(Self { selectors })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[to_u8(self.selectors.len(), "TS count")?, 0, 0, 0]);
        for selector in &self.selectors {
            match selector {
                TrafficSelector::Ipv4(range) => {
                    out.extend_from_slice(&[TsType::TS_IPV4_ADDR_RANGE.0, range.ip_protocol]);
                    out.extend_from_slice(&IPV4_SELECTOR_LEN.to_be_bytes());
                    out.extend_from_slice(&range.start_port.to_be_bytes());
                    out.extend_from_slice(&range.end_port.to_be_bytes());
                    out.extend_from_slice(&range.start_addr.octets());
                    out.extend_from_slice(&range.end_addr.octets());
                }
                TrafficSelector::Other { ts_type, data } => {
                    let (ip_protocol, rest) = data.split_first().ok_or(Error::BadValue {
                        what: "raw selector without IP protocol byte",
                    })?;
                    let len = u16::try_from(rest.len() + 4).map_err(|_| Error::Oversized {
                        what: "selector",
                        len: rest.len(),
                    })?;
                    out.extend_from_slice(&[ts_type.0, *ip_protocol]);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(rest);
                }
            }
        }
        Ok(())
    }

    /// The IPv4 selectors, skipping others.
    pub fn ipv4(&self) -> impl Iterator<Item = &Ipv4Range> {
        self.selectors.iter().filter_map(|s| match s {
            TrafficSelector::Ipv4(range) => Some(range),
            TrafficSelector::Other { .. } => None,
        })
    }
}

impl fmt::Display for Ipv4Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start_addr == self.end_addr {
            write!(f, "{}/32", self.start_addr)?;
        } else {
            write!(f, "{}-{}", self.start_addr, self.end_addr)?;
        }
        if self.ip_protocol != 0 || self.start_port != 0 || self.end_port != u16::MAX {
            write!(
                f,
                "[{}/{}-{}]",
                self.ip_protocol, self.start_port, self.end_port
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(range) => write!(f, "{range}"),
            Self::Other { ts_type, data } => write!(f, "{ts_type}:{} bytes", data.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TS_BYTES: [u8; 20] = [
        1, 0, 0, 0, // one selector
        7, 6, 0, 16, // IPv4 range, TCP, length 16
        0, 0, 0xff, 0xff, // ports 0-65535
        192, 0, 2, 0, 192, 0, 2, 255,
    ];

    fn ts() -> TsPayload {
        TsPayload {
            selectors: vec![TrafficSelector::Ipv4(Ipv4Range {
                ip_protocol: 6,
                start_port: 0,
                end_port: 65535,
                start_addr: Ipv4Addr::new(192, 0, 2, 0),
                end_addr: Ipv4Addr::new(192, 0, 2, 255),
            })],
        }
    }

    #[test]
    fn parses_and_emits_ipv4_range() {
        assert_eq!(TsPayload::read(&mut Reader::new(&TS_BYTES)).unwrap(), ts());
        let mut out = Vec::new();
        ts().write(&mut out).unwrap();
        assert_eq!(out, TS_BYTES);
        assert_eq!(
            ts().selectors[0].to_string(),
            "192.0.2.0-192.0.2.255[6/0-65535]"
        );
    }

    #[test]
    fn rejects_every_truncation() {
        for len in 0..TS_BYTES.len() {
            assert!(
                TsPayload::read(&mut Reader::new(&TS_BYTES[..len])).is_err(),
                "{len}"
            );
        }
    }

    #[test]
    fn rejects_ipv4_selector_with_wrong_length() {
        let mut bytes = TS_BYTES.to_vec();
        bytes[7] = 20;
        bytes.extend_from_slice(&[0; 4]);
        assert!(matches!(
            TsPayload::read(&mut Reader::new(&bytes)),
            Err(Error::BadLength {
                what: "IPv4 selector",
                length: 20,
                ..
            })
        ));
    }

    #[test]
    fn keeps_ipv6_selectors_raw() {
        let raw = TsPayload {
            selectors: vec![TrafficSelector::Other {
                ts_type: TsType::TS_IPV6_ADDR_RANGE,
                data: vec![17, 1, 2, 3, 4],
            }],
        };
        let mut out = Vec::new();
        raw.write(&mut out).unwrap();
        assert_eq!(TsPayload::read(&mut Reader::new(&out)).unwrap(), raw);
    }

    #[test]
    fn narrows_to_the_intersection() {
        let wide = Ipv4Range {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: Ipv4Addr::new(192, 0, 2, 0),
            end_addr: Ipv4Addr::new(192, 0, 2, 255),
        };
        let host = Ipv4Range {
            ip_protocol: 17,
            ..Ipv4Range::host(Ipv4Addr::new(192, 0, 2, 7))
        };
        assert_eq!(wide.intersect(&host), Some(host));
        assert!(wide.contains(&host));
        let other = Ipv4Range::host(Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(wide.intersect(&other), None);
    }
}
