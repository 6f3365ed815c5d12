//! A whole IKEv2 message: header plus payload chain, parsed completely before anyone acts on it.

use std::fmt;

use super::header::{HEADER_LEN, Header, HeaderRepr};
use super::{
    EncryptedPayload, Error, NotifyPayload, NotifyType, Payload, PayloadType, emit_chain,
    parse_chain,
};

/// A parsed IKEv2 message. Emitting it yields the bytes it was parsed from (for messages whose
/// reserved fields were zero and whose recognised payloads had no critical bit set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header, less the first-payload type and length, which follow from `payloads`.
    pub header: HeaderRepr,
    /// The payloads in order; an SK or SKF payload can only be last.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parses one message that fills `bytes` exactly (one UDP datagram, marker stripped).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let view = Header::new_checked(bytes)?;
        let header = HeaderRepr::parse(&view)?;
        let length = usize::try_from(view.length()).map_err(|_| Error::BadValue {
            what: "IKE message length",
        })?;
        if length < HEADER_LEN {
            return Err(Error::BadLength {
                what: "IKE message",
                offset: 0,
                length,
            });
        }
        let body = bytes.get(HEADER_LEN..length).ok_or(Error::Truncated {
            what: "IKE message",
            offset: 0,
            need: length,
            have: bytes.len(),
        })?;
        if bytes.len() > length {
            return Err(Error::TrailingData {
                what: "IKE message",
                len: bytes.len() - length,
            });
        }
        let payloads = parse_chain(view.next_payload(), body, HEADER_LEN)?;
        Ok(Self { header, payloads })
    }

    /// The message's bytes.
    pub fn emit(&self) -> Result<Vec<u8>, Error> {
        let mut out = vec![0; HEADER_LEN];
        let first = emit_chain(&self.payloads, &mut out)?;
        let length = u32::try_from(out.len()).map_err(|_| Error::Oversized {
            what: "IKE message",
            len: out.len(),
        })?;
        self.header.emit(
            &mut Header::new_unchecked(&mut out[..HEADER_LEN]),
            first,
            length,
        );
        Ok(out)
    }

    /// The first notify of type `notify_type`, if any.
    pub fn notify(&self, notify_type: NotifyType) -> Option<&NotifyPayload> {
        self.notifies().find(|n| n.notify_type == notify_type)
    }

    /// All notifies, in order.
    pub fn notifies(&self) -> impl Iterator<Item = &NotifyPayload> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }

    /// The Encrypted payload, if the message has one.
    pub fn encrypted(&self) -> Option<&EncryptedPayload> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Encrypted(sk) => Some(sk),
            _ => None,
        })
    }

    /// The types of the payloads, in order.
    pub fn payload_types(&self) -> Vec<PayloadType> {
        self.payloads.iter().map(Payload::payload_type).collect()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.header.is_response() {
            "response"
        } else {
            "request"
        };
        write!(
            f,
            "{} {kind} {} [",
            self.header.exchange_type, self.header.message_id
        )?;
        for payload in &self.payloads {
            write!(f, " {}", payload.tag())?;
        }
        f.write_str(" ]")
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ExchangeType, Flags, KePayload};
    use super::*;

    fn message() -> Message {
        Message {
            header: HeaderRepr {
                initiator_spi: 0x1111_2222_3333_4444,
                responder_spi: 0,
                minor_version: 0,
                exchange_type: ExchangeType::IKE_SA_INIT,
                flags: Flags::new(true, false),
                message_id: 0,
            },
            payloads: vec![
                Payload::Ke(KePayload {
                    dh_group: 31,
                    data: vec![5; 32],
                }),
                Payload::Nonce(vec![6; 32]),
                Payload::Notify(NotifyPayload::new(
                    NotifyType::NAT_DETECTION_SOURCE_IP,
                    vec![1; 20],
                )),
            ],
        }
    }

    #[test]
    fn round_trips_and_sets_length_and_first_payload() {
        let bytes = message().emit().unwrap();
        assert_eq!(bytes.len(), 28 + 40 + 36 + 28);
        assert_eq!(bytes[16], PayloadType::KE.0);
        assert_eq!(
            u32::from_be_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
            132
        );
        assert_eq!(Message::parse(&bytes).unwrap(), message());
    }

    #[test]
    fn rejects_every_truncation() {
        let bytes = message().emit().unwrap();
        for len in 0..bytes.len() {
            assert!(Message::parse(&bytes[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn rejects_length_field_beyond_datagram_and_trailing_bytes() {
        let mut bytes = message().emit().unwrap();
        bytes.push(0);
        assert_eq!(
            Message::parse(&bytes),
            Err(Error::TrailingData {
                what: "IKE message",
                len: 1
            })
        );
        bytes[27] += 2;
        assert!(matches!(
            Message::parse(&bytes),
            Err(Error::Truncated {
                what: "IKE message",
                ..
            })
        ));
    }

    #[test]
    fn rejects_length_field_below_header() {
        let mut bytes = message().emit().unwrap();
        bytes[24..28].copy_from_slice(&20u32.to_be_bytes());
        bytes.truncate(28);
        assert!(matches!(
            Message::parse(&bytes),
            Err(Error::BadLength { length: 20, .. })
        ));
    }

    #[test]
    fn displays_like_a_strongswan_log_line() {
        assert_eq!(
            message().to_string(),
            "IKE_SA_INIT request 0 [ KE No N(NAT_DETECTION_SOURCE_IP) ]"
        );
    }

    #[test]
    fn finds_notifies_by_type() {
        let m = message();
        assert!(m.notify(NotifyType::NAT_DETECTION_SOURCE_IP).is_some());
        assert!(m.notify(NotifyType::COOKIE).is_none());
    }
}
