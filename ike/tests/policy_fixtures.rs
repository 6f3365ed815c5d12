//! The Policy Agent fixtures of `fixtures/policies/`: parsed policies and problems, as
//! snapshots; and a property test that the parser never panics.

use std::net::IpAddr;

use ike::policy::{self, FilterAction, Identity};
use proptest::prelude::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/policies/",
            $name
        ))
    };
}

fn address(text: &str) -> IpAddr {
    text.parse().expect("address literal")
}

#[test]
fn sysplex_distributor_policy() {
    let policy = policy::parse(fixture!("sd-distributor.conf")).expect("valid policy");
    let names: Vec<&str> = policy
        .filter_rules
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["Ike-Dvipa", "Ftp-Dvipa-Peer"],
        "IpFilterPolicy order"
    );
    let FilterAction::DynamicVpn(gold) = &policy.filter_rules[1].action else {
        panic!("the FTP rule is protected");
    };
    assert_eq!(gold.offers.len(), 2);
    let rule = policy
        .key_exchange_rule(address("198.51.100.10"), address("192.0.2.200"), None)
        .expect("a rule for the peer");
    assert_eq!(
        rule.remote.identity,
        Identity::Fqdn("peer.example.org".into())
    );
    insta::assert_debug_snapshot!(policy);
}

#[test]
fn dvipa_owner_tunnel_policy() {
    let policy = policy::parse(fixture!("dvipa-owner.conf")).expect("valid policy");
    let rule = &policy.key_exchange_rules[0];
    assert_eq!(
        rule.local.identity,
        Identity::KeyId(b"SYSPLEX-DVIPA30".to_vec())
    );
    assert_eq!(
        rule.shared_key.as_ref().map(|k| k.0.as_slice()),
        Some(&b"lab-secret-30"[..])
    );
    insta::assert_debug_snapshot!(policy);
}

#[test]
fn bad_policy_problems() {
    let error = policy::parse(fixture!("bad.conf")).expect_err("bad policy");
    let problems: Vec<String> = error.problems.iter().map(ToString::to_string).collect();
    insta::assert_debug_snapshot!(problems);
}

/// Words that steer generated files into the statement grammars.
const VOCABULARY: &[&str] = &[
    "IpFilterPolicy",
    "IpFilterRule",
    "IpFilterRuleRef",
    "IpService",
    "IpServiceRef",
    "IpAddr",
    "IpAddrSet",
    "Addr",
    "Prefix",
    "Range",
    "IpSourceAddr",
    "IpDestAddrRef",
    "IpDynVpnAction",
    "IpDynVpnActionRef",
    "IpDataOffer",
    "IpDataOfferRef",
    "HowToEncap",
    "Tunnel",
    "HowToEncrypt",
    "AES_GCM_16",
    "AES_CBC",
    "KeyLength",
    "256",
    "HowToAuth",
    "ESP",
    "HMAC_SHA2_256_128",
    "KeyExchangeRule",
    "KeyExchangeAction",
    "KeyExchangeActionRef",
    "KeyExchangeOffer",
    "KeyExchangeOfferRef",
    "HowToInitiate",
    "IKEv2",
    "HowToAuthMe",
    "PresharedKey",
    "DHGroup",
    "Group14",
    "Group31",
    "PseudoRandomFunction",
    "HMAC_SHA2_256",
    "LocalSecurityEndpoint",
    "RemoteSecurityEndpointRef",
    "Identity",
    "Fqdn",
    "KeyID",
    "Location",
    "SharedKey",
    "Ascii",
    "Hex",
    "A",
    "B",
    "198.51.100.10",
    "192.0.2.0/24",
    "All",
    "{",
    "}",
    "\n",
    "#",
];

proptest! {
    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = policy::parse(&text);
    }

    #[test]
    fn parser_never_panics_on_keyword_soup(
        words in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..120),
    ) {
        if let Err(error) = policy::parse(&words.join(" ")) {
            prop_assert!(!error.problems.is_empty());
        }
    }
}
