//! Byte fixtures from `fixtures/ike/` (built from the RFC layouts, see its README): each parses
//! to the expected fields and emits back to the same bytes.

use std::net::Ipv4Addr;

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/ike/",
            $name
        ))
    };
}

fn parse_and_reemit(bytes: &[u8]) -> Message {
    let message = Message::parse(bytes).unwrap();
    assert_eq!(message.emit().unwrap(), bytes, "emit differs from fixture");
    message
}

#[test]
fn parses_strongswan_style_sa_init_request() {
    let m = parse_and_reemit(fixture!("sa_init_request_gcm_x25519.bin"));
    assert_eq!(m.header.exchange_type, ExchangeType::IKE_SA_INIT);
    assert!(m.header.flags.initiator() && !m.header.is_response());
    assert_eq!(m.header.responder_spi, 0);
    let Payload::Sa(sa) = &m.payloads[0] else {
        panic!("first payload is {}", m.payloads[0])
    };
    assert_eq!(
        sa.proposals[0].to_string(),
        "#1 IKE ENCR:20/128 PRF:5 DH:31"
    );
    let Payload::Ke(ke) = &m.payloads[1] else {
        panic!("no KE")
    };
    assert_eq!((ke.dh_group, ke.data.len()), (31, 32));
    assert!(m.notify(NotifyType::NAT_DETECTION_SOURCE_IP).is_some());
    assert!(
        m.notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
            .is_some()
    );
    assert_eq!(
        m.notify(NotifyType::SIGNATURE_HASH_ALGORITHMS)
            .map(|n| n.data.clone()),
        Some(vec![0, 2, 0, 3, 0, 4])
    );
    assert_eq!(
        m.to_string(),
        "IKE_SA_INIT request 0 [ SA KE No N(NAT_DETECTION_SOURCE_IP) \
         N(NAT_DETECTION_DESTINATION_IP) N(IKEV2_FRAGMENTATION_SUPPORTED) \
         N(SIGNATURE_HASH_ALGORITHMS) ]"
    );
}

#[test]
fn parses_cookie_response() {
    let m = parse_and_reemit(fixture!("sa_init_response_cookie.bin"));
    assert!(m.header.is_response());
    assert_eq!(m.notify(NotifyType::COOKIE).map(|n| n.data.len()), Some(32));
}

#[test]
fn parses_cbc_modp2048_response() {
    let m = parse_and_reemit(fixture!("sa_init_response_cbc_modp2048.bin"));
    let Payload::Sa(sa) = &m.payloads[0] else {
        panic!("no SA")
    };
    let p = &sa.proposals[0];
    assert_eq!(
        p.transforms_of(TransformType::ENCR)
            .next()
            .and_then(Transform::key_length),
        Some(256)
    );
    assert_eq!(
        p.transforms_of(TransformType::DH).next().map(|t| t.id),
        Some(14)
    );
    assert!(matches!(&m.payloads[1], Payload::Ke(ke) if ke.data.len() == 256));
    assert_eq!(
        m.payloads.last(),
        Some(&Payload::VendorId(b"strongSwan-test".to_vec()))
    );
}

#[test]
fn parses_ike_auth_with_encrypted_payload() {
    let m = parse_and_reemit(fixture!("ike_auth_request_sk.bin"));
    assert_eq!(m.header.exchange_type, ExchangeType::IKE_AUTH);
    assert_eq!(m.header.message_id, 1);
    let sk = m.encrypted().unwrap();
    assert_eq!((sk.first_inner, sk.data.len()), (PayloadType::IDI, 96));
}

#[test]
fn parses_ike_auth_inner_chain() {
    let bytes = fixture!("ike_auth_inner_psk.bin");
    let payloads = parse_chain(PayloadType::IDI, bytes, 0).unwrap();
    let mut out = Vec::new();
    assert_eq!(emit_chain(&payloads, &mut out).unwrap(), PayloadType::IDI);
    assert_eq!(out, bytes);
    assert_eq!(
        payloads[0],
        Payload::IdI(Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert!(
        matches!(&payloads[1], Payload::Notify(n) if n.notify_type == NotifyType::INITIAL_CONTACT)
    );
    assert!(matches!(&payloads[2], Payload::Auth(a) if a.method == AuthMethod::SHARED_KEY_MIC));
    let Payload::Sa(sa) = &payloads[3] else {
        panic!("no SA")
    };
    assert_eq!(sa.proposals[0].child_spi(), Some(0xc000_0001));
    let Payload::TsR(tsr) = &payloads[5] else {
        panic!("no TSr")
    };
    assert_eq!(tsr.selectors[0].to_string(), "198.51.100.0-198.51.100.255");
}

#[test]
fn parses_encrypted_fragment() {
    let m = parse_and_reemit(fixture!("informational_fragment_1_of_2.bin"));
    let Payload::EncryptedFragment(f) = &m.payloads[0] else {
        panic!("no SKF")
    };
    assert_eq!(
        (f.number, f.total, f.first_inner, f.data.len()),
        (1, 2, PayloadType::D, 40)
    );
}

#[test]
fn refuses_unknown_critical_payload() {
    let err = Message::parse(fixture!("sa_init_unknown_critical.bin")).unwrap_err();
    assert_eq!(
        err,
        Error::UnsupportedCriticalPayload {
            payload_type: PayloadType(200)
        }
    );
    assert_eq!(err.notify_type(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
}

#[test]
fn parses_a_real_strongswan_sa_init_request_and_emits_it_unchanged() {
    let m = parse_and_reemit(fixture!("strongswan_5.9.8_sa_init_request.bin"));
    assert_eq!(
        m.to_string(),
        "IKE_SA_INIT request 0 [ SA KE No N(NAT_DETECTION_SOURCE_IP) \
         N(NAT_DETECTION_DESTINATION_IP) N(IKEV2_FRAGMENTATION_SUPPORTED) \
         N(SIGNATURE_HASH_ALGORITHMS) N(REDIRECT_SUPPORTED) ]"
    );
    let Payload::Sa(sa) = &m.payloads[0] else {
        panic!("no SA")
    };
    assert_eq!(
        sa.proposals[0].to_string(),
        "#1 IKE ENCR:20/128 PRF:5 DH:31"
    );
    assert!(matches!(&m.payloads[1], Payload::Ke(ke) if ke.dh_group == 31 && ke.data.len() == 32));
}
