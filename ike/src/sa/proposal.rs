//! Turning our suites into SA payloads and choosing among a peer's proposals (RFC 7296 §2.7).

use crate::crypto::ids::{DhGroup, EncrId, EsnId, IntegId, PrfId};
use crate::crypto::{Encryption, EspSuite, IkeSuite, Integrity, Prf};
use crate::wire::{Proposal, ProtocolId, SaPayload, Transform, TransformType};

fn encryption_transform(encryption: Encryption) -> Transform {
    Transform::with_key_length(
        TransformType::ENCR,
        encryption.transform_id().0,
        encryption.key_bits(),
    )
}

/// One IKE proposal for a suite; `spi` is empty in IKE_SA_INIT, 8 bytes for an IKE rekey.
pub(crate) fn ike_proposal(number: u8, suite: &IkeSuite, spi: Vec<u8>) -> Proposal {
    let mut transforms = vec![encryption_transform(suite.encryption)];
    transforms.push(Transform::new(
        TransformType::PRF,
        suite.prf.transform_id().0,
    ));
    if let Some(integrity) = suite.integrity {
        transforms.push(Transform::new(
            TransformType::INTEG,
            integrity.transform_id().0,
        ));
    }
    transforms.push(Transform::new(TransformType::DH, suite.dh.0));
    Proposal {
        number,
        protocol: ProtocolId::IKE,
        spi,
        transforms,
    }
}

/// What a CHILD SA's exchange does about Diffie-Hellman (RFC 7296 §1.2, §1.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildDh {
    /// IKE_AUTH: no key exchange; DH transforms in an offer are ignored and none is proposed.
    Ignored,
    /// CREATE_CHILD_SA: this group is proposed and required (`DhGroup::NONE`: no PFS, and an
    /// offer must then propose no group or NONE).
    Group(DhGroup),
}

/// One ESP proposal for a suite, with our inbound SPI, no ESN, and the DH group of `dh`.
pub(crate) fn esp_proposal(number: u8, suite: &EspSuite, spi: u32, dh: ChildDh) -> Proposal {
    let mut transforms = vec![encryption_transform(suite.encryption)];
    if let Some(integrity) = suite.integrity {
        transforms.push(Transform::new(
            TransformType::INTEG,
            integrity.transform_id().0,
        ));
    }
    if let ChildDh::Group(group) = dh
        && group != DhGroup::NONE
    {
        transforms.push(Transform::new(TransformType::DH, group.0));
    }
    transforms.push(Transform::new(TransformType::ESN, EsnId::NO_ESN.0));
    Proposal {
        number,
        protocol: ProtocolId::ESP,
        spi: spi.to_be_bytes().to_vec(),
        transforms,
    }
}

/// The SA payload offering every suite, numbered from 1.
pub(crate) fn offer<S>(suites: &[S], make: impl Fn(u8, &S) -> Proposal) -> SaPayload {
    let proposals = suites
        .iter()
        .zip(1u8..)
        .map(|(suite, number)| make(number, suite))
        .collect();
    SaPayload { proposals }
}

fn offers_encryption(p: &Proposal, encryption: Encryption) -> bool {
    p.transforms_of(TransformType::ENCR)
        .any(|t| Encryption::from_transform(EncrId(t.id), t.key_length()).ok() == Some(encryption))
}

fn offers_integrity(p: &Proposal, integrity: Option<Integrity>) -> bool {
    let mut offered = p.transforms_of(TransformType::INTEG).peekable();
    match integrity {
        // With AEAD, no INTEG transform or INTEG NONE.
        None => offered.peek().is_none() || offered.any(|t| t.id == IntegId::NONE.0),
        Some(i) => offered.any(|t| Integrity::from_transform(IntegId(t.id)).ok() == Some(i)),
    }
}

fn offers_prf(p: &Proposal, prf: Prf) -> bool {
    p.transforms_of(TransformType::PRF)
        .any(|t| Prf::from_transform(PrfId(t.id)).ok() == Some(prf))
}

fn offers_dh(p: &Proposal, dh: DhGroup) -> bool {
    p.transforms_of(TransformType::DH).any(|t| t.id == dh.0)
}

fn offers_no_esn(p: &Proposal) -> bool {
    let mut esn = p.transforms_of(TransformType::ESN).peekable();
    esn.peek().is_none() || esn.any(|t| t.id == EsnId::NO_ESN.0)
}

/// Whether `p` offers everything `suite` needs.
fn ike_matches(p: &Proposal, suite: &IkeSuite) -> bool {
    p.protocol == ProtocolId::IKE
        && offers_encryption(p, suite.encryption)
        && offers_integrity(p, suite.integrity)
        && offers_prf(p, suite.prf)
        && offers_dh(p, suite.dh)
}

/// Whether `p` offers the DH group `dh` asks for.
fn offers_child_dh(p: &Proposal, dh: ChildDh) -> bool {
    match dh {
        ChildDh::Ignored => true,
        ChildDh::Group(DhGroup::NONE) => {
            let mut offered = p.transforms_of(TransformType::DH).peekable();
            offered.peek().is_none() || offered.any(|t| t.id == DhGroup::NONE.0)
        }
        ChildDh::Group(group) => offers_dh(p, group),
    }
}

fn esp_matches(p: &Proposal, suite: &EspSuite, dh: ChildDh) -> bool {
    p.protocol == ProtocolId::ESP
        && p.child_spi().is_some()
        && offers_encryption(p, suite.encryption)
        && offers_integrity(p, suite.integrity)
        && offers_child_dh(p, dh)
        && offers_no_esn(p)
}

/// The first of the peer's proposals (in its order) that one of our suites satisfies, with that
/// suite, preferring suites whose DH group is the one the peer's KE payload already uses (so no
/// INVALID_KE_PAYLOAD round trip is needed). Used by a responder.
pub(crate) fn choose_ike<'a>(
    offered: &'a SaPayload,
    ours: &[IkeSuite],
    ke_group: DhGroup,
) -> Option<(&'a Proposal, IkeSuite)> {
    let first = |same_group: bool| {
        offered.proposals.iter().find_map(|p| {
            ours.iter()
                .find(|s| (!same_group || s.dh == ke_group) && ike_matches(p, s))
                .map(|s| (p, *s))
        })
    };
    first(true).or_else(|| first(false))
}

/// As [`choose_ike`], for ESP.
pub(crate) fn choose_esp<'a>(
    offered: &'a SaPayload,
    ours: &[EspSuite],
    dh: ChildDh,
) -> Option<(&'a Proposal, EspSuite)> {
    offered
        .proposals
        .iter()
        .find_map(|p| ours.iter().find(|s| esp_matches(p, s, dh)).map(|s| (p, *s)))
}

/// The suite a responder's single-proposal answer accepted, if it is one of ours
/// (RFC 7296 §3.3.6: the reply must contain exactly one proposal, taken from the offer).
pub(crate) fn accepted_ike(reply: &SaPayload, ours: &[IkeSuite]) -> Option<IkeSuite> {
    match reply.proposals.as_slice() {
        [p] => ours.iter().find(|s| ike_matches(p, s)).copied(),
        _ => None,
    }
}

/// As [`accepted_ike`], for ESP: the suite and the peer's SPI.
pub(crate) fn accepted_esp(
    reply: &SaPayload,
    ours: &[EspSuite],
    dh: ChildDh,
) -> Option<(EspSuite, u32)> {
    match reply.proposals.as_slice() {
        [p] => ours
            .iter()
            .find(|s| esp_matches(p, s, dh))
            .and_then(|s| Some((*s, p.child_spi()?))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::AesKeySize;

    fn gcm_x25519() -> IkeSuite {
        IkeSuite::new(
            Encryption::AesGcm16(AesKeySize::Aes128),
            None,
            Prf::HmacSha2_256,
            DhGroup::CURVE25519,
        )
        .unwrap()
    }

    fn cbc_modp2048() -> IkeSuite {
        IkeSuite::new(
            Encryption::AesCbc(AesKeySize::Aes256),
            Some(Integrity::HmacSha2_256_128),
            Prf::HmacSha2_256,
            DhGroup::MODP_2048,
        )
        .unwrap()
    }

    #[test]
    fn responder_takes_the_initiators_first_acceptable_proposal() {
        let offer = offer(&[gcm_x25519(), cbc_modp2048()], |n, s| {
            ike_proposal(n, s, vec![])
        });
        let (p, suite) =
            choose_ike(&offer, &[cbc_modp2048(), gcm_x25519()], DhGroup::CURVE25519).unwrap();
        assert_eq!((p.number, suite), (1, gcm_x25519()));
        let (p, suite) = choose_ike(&offer, &[cbc_modp2048()], DhGroup::CURVE25519).unwrap();
        assert_eq!((p.number, suite), (2, cbc_modp2048()));
    }

    #[test]
    fn prefers_the_suite_whose_group_the_ke_payload_uses() {
        let offer = offer(&[gcm_x25519(), cbc_modp2048()], |n, s| {
            ike_proposal(n, s, vec![])
        });
        let ours = [gcm_x25519(), cbc_modp2048()];
        let (p, suite) = choose_ike(&offer, &ours, DhGroup::MODP_2048).unwrap();
        assert_eq!((p.number, suite), (2, cbc_modp2048()));
        let (p, suite) = choose_ike(&offer, &ours, DhGroup::ECP_256).unwrap();
        assert_eq!((p.number, suite), (1, gcm_x25519()));
    }

    #[test]
    fn no_common_suite_chooses_nothing() {
        let offer = offer(&[gcm_x25519()], |n, s| ike_proposal(n, s, vec![]));
        assert!(choose_ike(&offer, &[cbc_modp2048()], DhGroup::MODP_2048).is_none());
    }

    #[test]
    fn esp_with_only_esn_is_refused() {
        let suite = EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None).unwrap();
        let mut p = esp_proposal(1, &suite, 0xc000_0001, ChildDh::Ignored);
        let sa = SaPayload {
            proposals: vec![p.clone()],
        };
        let chosen = choose_esp(&sa, &[suite], ChildDh::Ignored);
        assert_eq!(chosen.map(|(p, _)| p.number), Some(1));
        p.transforms
            .retain(|t| t.transform_type != TransformType::ESN);
        p.transforms
            .push(Transform::new(TransformType::ESN, EsnId::ESN.0));
        let sa = SaPayload { proposals: vec![p] };
        assert!(choose_esp(&sa, &[suite], ChildDh::Ignored).is_none());
    }

    #[test]
    fn esp_with_pfs_matches_only_where_the_group_is_asked_for() {
        let suite = EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None).unwrap();
        let pfs = ChildDh::Group(DhGroup::CURVE25519);
        let with_pfs = SaPayload {
            proposals: vec![esp_proposal(1, &suite, 0xc000_0001, pfs)],
        };
        let without = SaPayload {
            proposals: vec![esp_proposal(
                1,
                &suite,
                0xc000_0001,
                ChildDh::Group(DhGroup::NONE),
            )],
        };
        // IKE_AUTH ignores the group; CREATE_CHILD_SA wants exactly the configured one.
        assert!(choose_esp(&with_pfs, &[suite], ChildDh::Ignored).is_some());
        assert!(choose_esp(&with_pfs, &[suite], pfs).is_some());
        assert!(choose_esp(&with_pfs, &[suite], ChildDh::Group(DhGroup::MODP_2048)).is_none());
        assert!(choose_esp(&with_pfs, &[suite], ChildDh::Group(DhGroup::NONE)).is_none());
        assert!(choose_esp(&without, &[suite], ChildDh::Group(DhGroup::NONE)).is_some());
        assert!(choose_esp(&without, &[suite], pfs).is_none());
        assert!(accepted_esp(&with_pfs, &[suite], pfs).is_some());
    }

    #[test]
    fn reply_must_hold_exactly_one_of_our_proposals() {
        let suite = gcm_x25519();
        let one = SaPayload {
            proposals: vec![ike_proposal(1, &suite, vec![])],
        };
        assert_eq!(accepted_ike(&one, &[suite]), Some(suite));
        let two = offer(&[suite, suite], |n, s| ike_proposal(n, s, vec![]));
        assert_eq!(accepted_ike(&two, &[suite]), None);
    }
}
