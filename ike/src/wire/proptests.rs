//! Property tests: every generated message survives `parse(emit(m)) == m`, and no byte string
//! makes the parser panic.

use std::net::Ipv4Addr;

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn transform() -> impl Strategy<Value = Transform> {
    let attribute = prop_oneof![
        (0u16..0x8000, any::<u16>()).prop_map(|(t, value)| Attribute::Tv {
            attribute_type: AttributeType(t),
            value
        }),
        (0u16..0x8000, bytes(6)).prop_map(|(t, value)| Attribute::Tlv {
            attribute_type: AttributeType(t),
            value
        }),
    ];
    (1u8..6, any::<u16>(), vec(attribute, 0..3)).prop_map(|(t, id, attributes)| Transform {
        transform_type: TransformType(t),
        id,
        attributes,
    })
}

fn sa() -> impl Strategy<Value = SaPayload> {
    let proposal = (
        any::<u8>(),
        1u8..4,
        prop_oneof![Just(0usize), Just(4), Just(8)],
        vec(transform(), 0..5),
    )
        .prop_flat_map(|(number, protocol, spi_len, transforms)| {
            vec(any::<u8>(), spi_len).prop_map(move |spi| Proposal {
                number,
                protocol: ProtocolId(protocol),
                spi,
                transforms: transforms.clone(),
            })
        });
    vec(proposal, 1..3).prop_map(|proposals| SaPayload { proposals })
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Identity::Ipv4(Ipv4Addr::from(o))),
        "[a-z0-9.]{0,20}".prop_map(Identity::Fqdn),
        "[a-z]{1,8}@[a-z.]{1,10}".prop_map(Identity::Rfc822),
        bytes(12).prop_map(Identity::KeyId),
        (
            prop_oneof![Just(5u8), Just(9), Just(10), Just(200)],
            bytes(12)
        )
            .prop_map(|(t, data)| Identity::Other {
                id_type: IdType(t),
                data
            }),
    ]
}

fn ts() -> impl Strategy<Value = TsPayload> {
    let selector = prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>()
        )
            .prop_map(|(ip_protocol, start_port, end_port, a, b)| {
                TrafficSelector::Ipv4(Ipv4Range {
                    ip_protocol,
                    start_port,
                    end_port,
                    start_addr: a.into(),
                    end_addr: b.into(),
                })
            }),
        (8u8..7 + 100, vec(any::<u8>(), 1..20)).prop_map(|(t, data)| TrafficSelector::Other {
            ts_type: TsType(t),
            data
        }),
    ];
    vec(selector, 0..3).prop_map(|selectors| TsPayload { selectors })
}

fn plain_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        (any::<u16>(), bytes(40))
            .prop_map(|(dh_group, data)| Payload::Ke(KePayload { dh_group, data })),
        identity().prop_map(Payload::IdI),
        identity().prop_map(Payload::IdR),
        (any::<u8>(), bytes(32)).prop_map(|(m, data)| Payload::Auth(AuthPayload {
            method: AuthMethod(m),
            data
        })),
        bytes(40).prop_map(Payload::Nonce),
        (0u8..4, bytes(8), any::<u16>(), bytes(20)).prop_map(|(p, spi, t, data)| {
            Payload::Notify(NotifyPayload {
                protocol: ProtocolId(p),
                spi,
                notify_type: NotifyType(t),
                data,
            })
        }),
        (0u8..4, 0u8..9, 0usize..4).prop_flat_map(|(p, size, n)| {
            vec(vec(any::<u8>(), usize::from(size)), n).prop_map(move |spis| {
                Payload::Delete(DeletePayload {
                    protocol: ProtocolId(p),
                    spi_size: size,
                    spis,
                })
            })
        }),
        bytes(20).prop_map(Payload::VendorId),
        ts().prop_map(Payload::TsI),
        ts().prop_map(Payload::TsR),
        (
            prop_oneof![Just(37u8), Just(38), Just(47), Just(48)],
            any::<bool>(),
            bytes(20)
        )
            .prop_map(|(t, critical, data)| {
                Payload::Other(RawPayload {
                    payload_type: PayloadType(t),
                    critical,
                    data,
                })
            }),
        (60u8..=255, bytes(20)).prop_map(|(t, data)| {
            Payload::Other(RawPayload {
                payload_type: PayloadType(t),
                critical: false,
                data,
            })
        }),
    ]
}

fn last_payload() -> impl Strategy<Value = Option<Payload>> {
    prop_oneof![
        Just(None),
        (any::<u8>(), bytes(48)).prop_map(|(first, data)| {
            Some(Payload::Encrypted(EncryptedPayload {
                first_inner: PayloadType(first),
                data,
            }))
        }),
        (any::<u16>(), any::<u16>(), any::<u8>(), bytes(48)).prop_map(
            |(number, total, first, data)| {
                Some(Payload::EncryptedFragment(EncryptedFragment {
                    number,
                    total,
                    first_inner: PayloadType(first),
                    data,
                }))
            }
        ),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<u64>(),
        any::<u64>(),
        0u8..16,
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
        vec(plain_payload(), 0..6),
        last_payload(),
    )
        .prop_map(
            |(ispi, rspi, minor, exchange, flags, message_id, mut payloads, last)| {
                payloads.extend(last);
                Message {
                    header: HeaderRepr {
                        initiator_spi: ispi,
                        responder_spi: rspi,
                        minor_version: minor,
                        exchange_type: ExchangeType(exchange),
                        flags: Flags(flags),
                        message_id,
                    },
                    payloads,
                }
            },
        )
}

proptest! {
    #[test]
    fn parse_inverts_emit(message in message()) {
        let bytes = message.emit().unwrap();
        prop_assert_eq!(Message::parse(&bytes).unwrap(), message);
    }

    #[test]
    fn rejects_every_truncated_message(message in message(), cut in any::<prop::sample::Index>()) {
        let bytes = message.emit().unwrap();
        let truncated = &bytes[..cut.index(bytes.len())];
        prop_assert!(Message::parse(truncated).is_err());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in bytes(300)) {
        if let Ok(message) = Message::parse(&bytes) {
            prop_assert_eq!(Message::parse(&message.emit().unwrap()).unwrap(), message);
        }
    }
}
