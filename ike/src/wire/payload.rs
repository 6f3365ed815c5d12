//! The payload chain: every payload type as a parsed value, and the walk over the
//! next-payload links (RFC 7296 §3.2), including the Encrypted payloads that end a chain.

use std::fmt;

use super::codec::{Reader, patch_u16_len};
use super::payload_header::{PAYLOAD_HEADER_LEN, PayloadHeader, PayloadHeaderRepr};
use super::{
    AuthMethod, DeletePayload, Error, Identity, NotifyPayload, PayloadType, SaPayload, TsPayload,
};

/// One IKEv2 payload, parsed. Types we do not implement are kept raw in [`Payload::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association.
    Sa(SaPayload),
    /// Key Exchange.
    Ke(KePayload),
    /// Initiator identity.
    IdI(Identity),
    /// Responder identity.
    IdR(Identity),
    /// Authentication.
    Auth(AuthPayload),
    /// Nonce data.
    Nonce(Vec<u8>),
    /// Notify.
    Notify(NotifyPayload),
    /// Delete.
    Delete(DeletePayload),
    /// Vendor ID data.
    VendorId(Vec<u8>),
    /// Initiator traffic selectors.
    TsI(TsPayload),
    /// Responder traffic selectors.
    TsR(TsPayload),
    /// Encrypted and authenticated (SK); must be the last payload.
    Encrypted(EncryptedPayload),
    /// One fragment of an encrypted message (SKF, RFC 7383); must be the last payload.
    EncryptedFragment(EncryptedFragment),
    /// Any other payload (CERT, CP, EAP, unknown types), kept raw.
    Other(RawPayload),
}

/// A Key Exchange payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KePayload {
    /// The Diffie-Hellman group number.
    pub dh_group: u16,
    /// The sender's public value.
    pub data: Vec<u8>,
}

/// An Authentication payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPayload {
    /// How `data` was computed.
    pub method: AuthMethod,
    /// The authentication data.
    pub data: Vec<u8>,
}

/// An Encrypted (SK) payload, still encrypted: IV, ciphertext, padding and ICV as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedPayload {
    /// Type of the first payload inside.
    pub first_inner: PayloadType,
    /// IV, encrypted inner payloads with padding, ICV.
    pub data: Vec<u8>,
}

/// An Encrypted Fragment (SKF) payload (RFC 7383 §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFragment {
    /// Number of this fragment, from 1.
    pub number: u16,
    /// Total number of fragments.
    pub total: u16,
    /// First inner payload type (in fragment 1 only; 0 in the others).
    pub first_inner: PayloadType,
    /// IV, encrypted fragment with padding, ICV.
    pub data: Vec<u8>,
}

/// A payload kept as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPayload {
    /// The payload type.
    pub payload_type: PayloadType,
    /// The critical bit as received.
    pub critical: bool,
    /// The body after the generic header.
    pub data: Vec<u8>,
}

impl Payload {
    /// The payload's type.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::SA,
            Self::Ke(_) => PayloadType::KE,
            Self::IdI(_) => PayloadType::IDI,
            Self::IdR(_) => PayloadType::IDR,
            Self::Auth(_) => PayloadType::AUTH,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::N,
            Self::Delete(_) => PayloadType::D,
            Self::VendorId(_) => PayloadType::V,
            Self::TsI(_) => PayloadType::TSI,
            Self::TsR(_) => PayloadType::TSR,
            Self::Encrypted(_) => PayloadType::SK,
            Self::EncryptedFragment(_) => PayloadType::SKF,
            Self::Other(raw) => raw.payload_type,
        }
    }

    /// A short tag in the style of strongSwan's message logs (`SA`, `KE`, `N(COOKIE)`).
    pub fn tag(&self) -> String {
        match self {
            Self::Sa(_) => "SA".into(),
            Self::Ke(_) => "KE".into(),
            Self::IdI(_) => "IDi".into(),
            Self::IdR(_) => "IDr".into(),
            Self::Auth(_) => "AUTH".into(),
            Self::Nonce(_) => "No".into(),
            Self::Notify(n) => n.to_string(),
            Self::Delete(_) => "D".into(),
            Self::VendorId(_) => "V".into(),
            Self::TsI(_) => "TSi".into(),
            Self::TsR(_) => "TSr".into(),
            Self::Encrypted(_) => "SK".into(),
            Self::EncryptedFragment(f) => format!("SKF({}/{})", f.number, f.total),
            Self::Other(raw) => raw.payload_type.to_string(),
        }
    }

    /// Reads one payload body of type `kind` (the generic header already consumed).
    fn read(
        kind: PayloadType,
        header: PayloadHeaderRepr,
        r: &mut Reader<'_>,
    ) -> Result<Self, Error> {
        let payload = match kind {
            PayloadType::SA => Self::Sa(SaPayload::read(r)?),
            PayloadType::KE => {
                let dh_group = r.u16("KE DH group")?;
                r.take(2, "KE reserved")?;
                Self::Ke(KePayload {
                    dh_group,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::IDI => Self::IdI(Identity::read(r)?),
            PayloadType::IDR => Self::IdR(Identity::read(r)?),
            PayloadType::AUTH => {
                let method = AuthMethod(r.u8("AUTH method")?);
                r.take(3, "AUTH reserved")?;
                Self::Auth(AuthPayload {
                    method,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::NONCE => Self::Nonce(r.rest().to_vec()),
            PayloadType::N => Self::Notify(NotifyPayload::read(r)?),
            PayloadType::D => Self::Delete(DeletePayload::read(r)?),
            PayloadType::V => Self::VendorId(r.rest().to_vec()),
            PayloadType::TSI => Self::TsI(TsPayload::read(r)?),
            PayloadType::TSR => Self::TsR(TsPayload::read(r)?),
            PayloadType::SK => Self::Encrypted(EncryptedPayload {
                first_inner: header.next_payload,
                data: r.rest().to_vec(),
            }),
            PayloadType::SKF => Self::EncryptedFragment(EncryptedFragment {
                number: r.u16("fragment number")?,
                total: r.u16("total fragments")?,
                first_inner: header.next_payload,
                data: r.rest().to_vec(),
            }),
            other if !other.is_recognised() && header.critical => {
                return Err(Error::UnsupportedCriticalPayload {
                    payload_type: other,
                });
            }
            other => Self::Other(RawPayload {
                payload_type: other,
                critical: header.critical,
                data: r.rest().to_vec(),
            }),
        };
        r.expect_end("payload")?;
        Ok(payload)
    }

    /// Writes the payload body (without the generic header).
    fn write(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Self::Sa(sa) => sa.write(out)?,
            Self::Ke(ke) => {
                out.extend_from_slice(&ke.dh_group.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ke.data);
            }
            Self::IdI(id) | Self::IdR(id) => id.write(out),
            Self::Auth(auth) => {
                out.extend_from_slice(&[auth.method.0, 0, 0, 0]);
                out.extend_from_slice(&auth.data);
            }
            Self::Nonce(data) | Self::VendorId(data) => out.extend_from_slice(data),
            Self::Notify(n) => n.write(out)?,
            Self::Delete(d) => d.write(out)?,
            Self::TsI(ts) | Self::TsR(ts) => ts.write(out)?,
            Self::Encrypted(sk) => out.extend_from_slice(&sk.data),
            Self::EncryptedFragment(skf) => {
                out.extend_from_slice(&skf.number.to_be_bytes());
                out.extend_from_slice(&skf.total.to_be_bytes());
                out.extend_from_slice(&skf.data);
            }
            Self::Other(raw) => out.extend_from_slice(&raw.data),
        }
        Ok(())
    }

    /// The value of the header's next-payload field when `following` comes next.
    fn next_field(&self, following: Option<&Payload>) -> PayloadType {
        match self {
            Self::Encrypted(sk) => sk.first_inner,
            Self::EncryptedFragment(skf) => skf.first_inner,
            _ => following.map_or(PayloadType::NONE, Payload::payload_type),
        }
    }

    fn critical(&self) -> bool {
        matches!(self, Self::Other(raw) if raw.critical)
    }
}

/// Parses a whole payload chain that starts with a payload of type `first` and must end
/// exactly at the end of `bytes`. `base` is the offset of `bytes` in the message, for errors.
pub fn parse_chain(first: PayloadType, bytes: &[u8], base: usize) -> Result<Vec<Payload>, Error> {
    let mut r = Reader::at(bytes, base);
    let mut payloads = Vec::new();
    let mut kind = first;
    while kind != PayloadType::NONE {
        let start = r.offset();
        let next_payload = PayloadType(r.u8("payload next-payload")?);
        let critical = r.u8("payload flags")? & 0x80 != 0;
        let length = r.u16("payload length")?;
        let body_len =
            usize::from(length)
                .checked_sub(PAYLOAD_HEADER_LEN)
                .ok_or(Error::BadLength {
                    what: "payload",
                    offset: start,
                    length: usize::from(length),
                })?;
        let mut body = r.sub(body_len, "payload body")?;
        let header = PayloadHeaderRepr {
            next_payload,
            critical,
            length,
        };
        let payload = Payload::read(kind, header, &mut body)?;
        let ends_chain = matches!(
            payload,
            Payload::Encrypted(_) | Payload::EncryptedFragment(_)
        );
        payloads.push(payload);
        if ends_chain {
            if !r.is_empty() {
                return Err(Error::BadChain {
                    detail: "payload after an encrypted payload",
                });
            }
            break;
        }
        kind = next_payload;
    }
    r.expect_end("payload chain")?;
    Ok(payloads)
}

/// Writes a payload chain and returns the type of its first payload (NONE when empty).
pub fn emit_chain(payloads: &[Payload], out: &mut Vec<u8>) -> Result<PayloadType, Error> {
    for (i, payload) in payloads.iter().enumerate() {
        let following = payloads.get(i + 1);
        if following.is_some()
            && matches!(
                payload,
                Payload::Encrypted(_) | Payload::EncryptedFragment(_)
            )
        {
            return Err(Error::BadChain {
                detail: "payload after an encrypted payload",
            });
        }
        let start = out.len();
        out.extend_from_slice(&[0; PAYLOAD_HEADER_LEN]);
        payload.write(out)?;
        patch_u16_len(out, start + 2, start, "payload")?;
        let mut header = PayloadHeader::new_unchecked(&mut out[start..start + PAYLOAD_HEADER_LEN]);
        header.set_next_payload(payload.next_field(following));
        header.set_critical(payload.critical());
    }
    Ok(payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type))
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sa(sa) => {
                f.write_str("SA")?;
                sa.proposals.iter().try_for_each(|p| write!(f, " [{p}]"))
            }
            Self::Ke(ke) => write!(f, "KE group {} ({} bytes)", ke.dh_group, ke.data.len()),
            Self::IdI(id) => write!(f, "IDi {id}"),
            Self::IdR(id) => write!(f, "IDr {id}"),
            Self::Auth(a) => write!(f, "AUTH {} ({} bytes)", a.method, a.data.len()),
            Self::Nonce(n) => write!(f, "No ({} bytes)", n.len()),
            Self::Notify(n) => write!(f, "{n} ({} bytes)", n.data.len()),
            Self::Delete(d) => write!(f, "{d}"),
            Self::VendorId(v) => write!(f, "V ({} bytes)", v.len()),
            Self::TsI(ts) | Self::TsR(ts) => {
                f.write_str(if matches!(self, Self::TsI(_)) {
                    "TSi"
                } else {
                    "TSr"
                })?;
                ts.selectors.iter().try_for_each(|s| write!(f, " {s}"))
            }
            Self::Encrypted(sk) => write!(f, "SK {} ({} bytes)", sk.first_inner, sk.data.len()),
            Self::EncryptedFragment(skf) => {
                write!(
                    f,
                    "SKF {}/{} ({} bytes)",
                    skf.number,
                    skf.total,
                    skf.data.len()
                )
            }
            Self::Other(raw) => write!(f, "{} ({} bytes)", raw.payload_type, raw.data.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::NotifyType;
    use super::*;

    fn chain() -> Vec<Payload> {
        vec![
            Payload::Nonce(vec![7; 16]),
            Payload::Notify(NotifyPayload::new(NotifyType::COOKIE, vec![1, 2])),
            Payload::Encrypted(EncryptedPayload {
                first_inner: PayloadType::IDI,
                data: vec![9; 24],
            }),
        ]
    }

    #[test]
    fn round_trips_a_chain_ending_in_sk() {
        let mut out = Vec::new();
        let first = emit_chain(&chain(), &mut out).unwrap();
        assert_eq!(first, PayloadType::NONCE);
        // The SK header's next-payload field names the first inner payload.
        assert_eq!(out[4 + 16 + 10], PayloadType::IDI.0);
        assert_eq!(parse_chain(first, &out, 0).unwrap(), chain());
    }

    #[test]
    fn rejects_unknown_critical_payload() {
        let bytes = [0, 0x80, 0, 5, 0xff];
        let err = parse_chain(PayloadType(200), &bytes, 28).unwrap_err();
        assert_eq!(
            err,
            Error::UnsupportedCriticalPayload {
                payload_type: PayloadType(200)
            }
        );
        assert_eq!(err.notify_type(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
    }

    #[test]
    fn keeps_unknown_non_critical_payload() {
        let bytes = [0, 0, 0, 5, 0xff];
        let payloads = parse_chain(PayloadType(200), &bytes, 28).unwrap();
        let raw = RawPayload {
            payload_type: PayloadType(200),
            critical: false,
            data: vec![0xff],
        };
        assert_eq!(payloads, [Payload::Other(raw)]);
    }

    #[test]
    fn ignores_critical_bit_on_recognised_payloads() {
        let bytes = [0, 0x80, 0, 6, 0xab, 0xcd];
        assert_eq!(
            parse_chain(PayloadType::V, &bytes, 0).unwrap(),
            [Payload::VendorId(vec![0xab, 0xcd])]
        );
    }

    #[test]
    fn rejects_bytes_after_the_encrypted_payload() {
        let mut out = Vec::new();
        let first = emit_chain(&chain(), &mut out).unwrap();
        out.push(0);
        assert_eq!(
            parse_chain(first, &out, 0),
            Err(Error::BadChain {
                detail: "payload after an encrypted payload"
            })
        );
    }

    #[test]
    fn rejects_bytes_after_the_last_payload() {
        assert_eq!(
            parse_chain(PayloadType::V, &[0, 0, 0, 4, 1], 0),
            Err(Error::TrailingData {
                what: "payload chain",
                len: 1
            })
        );
    }

    #[test]
    fn reports_length_below_header_with_offset() {
        assert_eq!(
            parse_chain(PayloadType::V, &[0, 0, 0, 2], 28),
            Err(Error::BadLength {
                what: "payload",
                offset: 28,
                length: 2
            })
        );
    }
}
