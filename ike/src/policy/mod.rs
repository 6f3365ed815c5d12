//! The IPSec policy a stack and its IKE daemon run with, read from a z/OS Policy Agent
//! (pagent) style file: the IpFilterRule, IpService, IpAddr, IpAddrSet,
//! IpGenericFilterAction, IpDynVpnAction, IpDataOffer, KeyExchangeRule, KeyExchangeAction,
//! KeyExchangeOffer, LocalSecurityEndpoint, RemoteSecurityEndpoint, IpFilterPolicy and
//! KeyExchangePolicy statements, with SharedKey on the KeyExchangeRule.
//!
//! ```text
//! text ─▶ syntax (blocks, `#` comments, line numbers) ─▶ build (refs resolved,
//!         values read, suites checked by crate::crypto) ─▶ Policy | PolicyError
//! ```
//!
//! Unlike PROFILE.TCPIP, a policy with any problem is refused as a whole (as the Policy
//! Agent fails a policy), and every problem found is reported with its line.

mod build;
mod error;
mod model;
mod syntax;
mod values;

pub use error::{PolicyError, Problem, ProblemKind};
pub use model::*;

/// Parses a policy file.
///
/// # Errors
/// [`PolicyError`] with every problem found: structure, unknown statements or
/// parameters, invalid or unsupported values, unknown references, missing parameters,
/// inconsistent algorithm suites.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let top = syntax::parse(text).map_err(|problems| PolicyError { problems })?;
    let mut problems = values::Problems::default();
    let policy = build::policy(&top, &mut problems);
    let mut problems = problems.0;
    if problems.is_empty() {
        return Ok(policy);
    }
    problems.sort_by_key(|p| p.line);
    problems.dedup();
    Err(PolicyError { problems })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::crypto::ids::DhGroup;
    use crate::crypto::{AesKeySize, Encryption, Integrity, Prf};

    const BASE: &str = "\
KeyExchangeOffer Ike-Gcm
{
  HowToEncrypt AES_GCM_16 KeyLength 256
  PseudoRandomFunction HMAC_SHA2_256
  DHGroup Group31
  HowToAuthPeers PresharedKey
  RefreshLifetimeProposed 240
}
KeyExchangeAction Kx
{
  HowToInitiate IKEv2
  HowToAuthMe PresharedKey
  KeyExchangeOfferRef Ike-Gcm
  KeyExchangeOffer
  {
    HowToEncrypt AES_CBC KeyLength 128
    HowToAuthMsgs SHA2_256
    DHGroup Group14
  }
}
LocalSecurityEndpoint Dvipa
{
  Identity IpAddr 198.51.100.10
  Location 198.51.100.10
}
RemoteSecurityEndpoint Peer
{
  Identity Fqdn peer.example.org
  Location 192.0.2.200
}
KeyExchangeRule ToPeer
{
  LocalSecurityEndpointRef Dvipa
  RemoteSecurityEndpointRef Peer
  KeyExchangeActionRef Kx
  SharedKey Ascii lab secret
}
";

    fn problems(text: &str) -> Vec<(u32, ProblemKind)> {
        parse(text)
            .expect_err("policy has problems")
            .problems
            .into_iter()
            .map(|p| (p.line, p.kind))
            .collect()
    }

    #[test]
    fn key_exchange_rule_resolves_endpoints_action_and_offers() {
        let policy = parse(BASE).expect("valid policy");
        let rule = &policy.key_exchange_rules[0];
        assert_eq!(rule.name, "ToPeer");
        assert_eq!(
            rule.remote.identity,
            Identity::Fqdn("peer.example.org".into())
        );
        assert_eq!(rule.action.initiate, HowToInitiate::Ikev2);
        let offers = &rule.action.offers;
        assert_eq!(offers[0].name.as_deref(), Some("Ike-Gcm"));
        assert_eq!(
            offers[0].suite.encryption,
            Encryption::AesGcm16(AesKeySize::Aes256)
        );
        assert_eq!(offers[0].suite.integrity, None);
        assert_eq!(offers[0].suite.dh, DhGroup::CURVE25519);
        assert_eq!(offers[0].refresh.lifetime_minutes, 240);
        assert_eq!(offers[1].name, None);
        assert_eq!(offers[1].suite.integrity, Some(Integrity::HmacSha2_256_128));
        assert_eq!(
            offers[1].suite.prf,
            Prf::HmacSha2_256,
            "derived from HowToAuthMsgs"
        );
        assert_eq!(
            offers[1].auth_peers,
            AuthMethod::PresharedKey,
            "from HowToAuthMe"
        );
        assert_eq!(offers[1].refresh.lifetime_minutes, 480);
        assert_eq!(rule.shared_key, Some(SharedKey(b"lab secret".to_vec())));
    }

    #[test]
    fn key_exchange_rule_lookup_by_location_and_identity() {
        let policy = parse(BASE).expect("valid policy");
        let local: IpAddr = "198.51.100.10".parse().expect("address");
        let peer: IpAddr = "192.0.2.200".parse().expect("address");
        let other: IpAddr = "192.0.2.201".parse().expect("address");
        assert!(policy.key_exchange_rule(local, peer, None).is_some());
        assert!(policy.key_exchange_rule(local, other, None).is_none());
        let wrong = Identity::Fqdn("intruder.example.org".into());
        assert!(
            policy
                .key_exchange_rule(local, peer, Some(&wrong))
                .is_none()
        );
    }

    #[test]
    fn unknown_reference_is_reported_with_its_line() {
        let text = BASE.replace("KeyExchangeActionRef Kx", "KeyExchangeActionRef Kx2");
        assert_eq!(
            problems(&text),
            [(
                35,
                ProblemKind::UnknownReference {
                    parameter: "KeyExchangeActionRef".into(),
                    name: "Kx2".into(),
                    statement: "KeyExchangeAction",
                }
            )]
        );
    }

    #[test]
    fn shared_key_is_required_for_presharedkey() {
        let text = BASE.replace("  SharedKey Ascii lab secret\n", "");
        assert!(matches!(
            problems(&text).as_slice(),
            [(31, ProblemKind::MissingParameter { parameter, .. })] if parameter.starts_with("SharedKey")
        ));
    }

    #[test]
    fn unsupported_algorithms_name_what_is_supported() {
        let text = BASE.replace("DHGroup Group14", "DHGroup Group5");
        assert!(matches!(
            problems(&text).as_slice(),
            [(
                18,
                ProblemKind::Unsupported {
                    supported: "Group14 or Group31",
                    ..
                }
            )]
        ));
        let des = BASE.replace("HowToEncrypt AES_CBC KeyLength 128", "HowToEncrypt DES");
        assert!(matches!(
            problems(&des).as_slice(),
            [(16, ProblemKind::Unsupported { .. })]
        ));
    }

    #[test]
    fn aead_with_integrity_is_refused_by_the_crypto_layer() {
        let text = BASE.replace(
            "  PseudoRandomFunction HMAC_SHA2_256\n",
            "  PseudoRandomFunction HMAC_SHA2_256\n  HowToAuthMsgs SHA2_256\n",
        );
        assert!(matches!(
            problems(&text).as_slice(),
            [(1, ProblemKind::Crypto(_))]
        ));
    }

    #[test]
    fn duplicate_names_and_unknown_parameters_are_errors() {
        let text = format!(
            "{BASE}RemoteSecurityEndpoint Peer\n{{\n  Identity Fqdn x\n  Colour blue\n}}\n"
        );
        assert_eq!(
            problems(&text),
            [
                (
                    38,
                    ProblemKind::DuplicateName {
                        statement: "RemoteSecurityEndpoint",
                        name: "Peer".into(),
                        first_line: 26
                    }
                ),
                (
                    41,
                    ProblemKind::UnknownParameter {
                        statement: "RemoteSecurityEndpoint",
                        parameter: "Colour".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn filter_policy_orders_rules_and_inline_rules_get_system_names() {
        let text = "\
IpGenericFilterAction Permit
{
  IpFilterAction Permit
  IpFilterLogging No
}
IpFilterRule Second
{
  IpSourceAddr All
  IpDestAddr All
  IpService
  {
    Protocol UDP
    DestinationPortRange 500
  }
  IpGenericFilterActionRef Permit
}
IpFilterPolicy
{
  IpFilterRule
  {
    IpSourceAddrRange 192.0.2.1 192.0.2.9
    IpDestAddrSet 198.51.100.0/24
    IpService
    {
      Protocol TCP
      Direction Inbound InboundConnect
    }
    IpGenericFilterActionRef Permit
  }
  IpFilterRuleRef Second
}
";
        let policy = parse(text).expect("valid policy");
        let names: Vec<&str> = policy
            .filter_rules
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["IpFilterRule@19", "Second"]);
        let service = &policy.filter_rules[1].services[0];
        assert_eq!(
            service.destination_ports,
            PortRange {
                first: 500,
                last: 500
            }
        );
        assert_eq!(
            policy.filter_rules[0].services[0].connect,
            Some(Connect::Inbound)
        );
        assert_eq!(
            policy.filter_rules[0].action,
            FilterAction::Permit { log: false }
        );
    }

    #[test]
    fn problems_in_unreferenced_statements_are_reported_once() {
        let text = format!("{BASE}IpDataOffer Unused\n{{\n  HowToEncap Sideways\n}}\n");
        assert!(matches!(
            problems(&text).as_slice(),
            [(40, ProblemKind::InvalidValue { .. })]
        ));
    }
}
