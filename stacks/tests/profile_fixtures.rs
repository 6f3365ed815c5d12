//! The PROFILE.TCPIP fixtures of `fixtures/profiles/`: parsed results and messages, as
//! snapshots; and a property test that the parser never panics.

use proptest::prelude::*;
use stacks::profile::{self, Action};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/profiles/",
            $name
        ))
    };
}

/// A lab profile parses with no message, and its parsed form is pinned by a snapshot.
fn clean(name: &str, text: &str) -> profile::Profile {
    let parsed = profile::parse(name, text);
    let texts: Vec<String> = parsed.messages.iter().map(ToString::to_string).collect();
    assert!(texts.is_empty(), "{name}: {texts:#?}");
    parsed.profile
}

#[test]
fn sd_primary_distributor() {
    let profile = clean("sd-primary.tcpip", fixture!("sd-primary.tcpip"));
    insta::assert_debug_snapshot!(profile);
}

#[test]
fn sd_backup_distributor() {
    let profile = clean("sd-backup.tcpip", fixture!("sd-backup.tcpip"));
    insta::assert_debug_snapshot!(profile);
}

#[test]
fn sd_target_only() {
    let profile = clean("sd-target.tcpip", fixture!("sd-target.tcpip"));
    assert!(profile.vipa_dynamic.defines.is_empty());
    assert!(profile.ipsec.as_ref().is_some_and(|i| !i.dvipsec));
    insta::assert_debug_snapshot!(profile);
}

#[test]
fn dvipa_owner_and_ranked_backups() {
    let owner = clean("dvipa-owner.tcpip", fixture!("dvipa-owner.tcpip"));
    let backup1 = clean("dvipa-backup1.tcpip", fixture!("dvipa-backup1.tcpip"));
    let backup2 = clean("dvipa-backup2.tcpip", fixture!("dvipa-backup2.tcpip"));
    let ranks: Vec<u8> = [&backup1, &backup2]
        .iter()
        .map(|p| p.vipa_dynamic.backups[0].rank)
        .collect();
    assert_eq!(ranks, [150, 50]);
    insta::assert_debug_snapshot!("dvipa_owner", owner);
    insta::assert_debug_snapshot!("dvipa_backup1", backup1);
    insta::assert_debug_snapshot!("dvipa_backup2", backup2);
}

#[test]
fn bad_profile_messages() {
    let parsed = profile::parse("'USER.TCPPARMS(BAD)'", fixture!("bad.tcpip"));
    let console: Vec<String> = parsed
        .messages
        .iter()
        .map(|m| format!("{m}    [{:?}]", m.action))
        .collect();
    insta::assert_debug_snapshot!("bad_messages", console);
    insta::assert_debug_snapshot!("bad_accepted", parsed.profile);
    assert_eq!(
        profile::check("'USER.TCPPARMS(BAD)'", fixture!("bad.tcpip")),
        parsed.messages,
        "SYNTAXCHECK shows the same messages"
    );
    assert!(
        parsed
            .messages
            .iter()
            .any(|m| m.action == Action::RestOfBlockIgnored)
    );
}

/// Words that steer generated profiles into the statement grammars.
const VOCABULARY: &[&str] = &[
    "VIPADYNAMIC",
    "ENDVIPADYNAMIC",
    "VIPADEFINE",
    "VIPABACKUP",
    "VIPARANGE",
    "VIPADELETE",
    "VIPADISTRIBUTE",
    "VIPAROUTE",
    "DEFINE",
    "DELETE",
    "MOVEABLE",
    "IMMEDIATE",
    "WHENIDLE",
    "DISTMETHOD",
    "HOTSTANDBY",
    "WEIGHTEDACTIVE",
    "ROUNDROBIN",
    "SERVERWLM",
    "BASEWLM",
    "PREFERRED",
    "BACKUP",
    "WEIGHT",
    "DESTIP",
    "ALL",
    "PORT",
    "SYSPLEXPORTS",
    "OPTLOCAL",
    "TIMEDAFFINITY",
    "AUTOSWITCHBACK",
    "NOHEALTHSWITCH",
    "IPCONFIG",
    "DYNAMICXCF",
    "HOME",
    "GLOBALCONFIG",
    "SYSPLEXMONITOR",
    "TIMERSECS",
    "XCFGRPID",
    "INTERFACE",
    "IPADDR",
    "IPSEC",
    "ENDIPSEC",
    "IPSECRULE",
    "PROTOCOL",
    "TCP",
    "DESTPORT",
    "*",
    "DVIPSEC",
    "BEGINROUTES",
    "255.255.255.0",
    "198.51.100.10",
    "203.0.113.1",
    "127.0.0.1",
    "192.0.2.1/24",
    "0",
    "1",
    "31",
    "254",
    "65535",
    "80-90",
    ";",
    "\n",
];

proptest! {
    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let parsed = profile::parse("P", &text);
        prop_assert_eq!(profile::check("P", &text), parsed.messages);
    }

    #[test]
    fn parser_never_panics_on_keyword_soup(
        words in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..80),
    ) {
        let text = words.join(" ");
        let parsed = profile::parse("P", &text);
        for message in &parsed.messages {
            prop_assert!(message.line >= 1);
        }
    }
}
