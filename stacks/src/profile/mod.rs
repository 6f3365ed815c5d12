//! PROFILE.TCPIP: the configuration a stack starts with (and that `V TCPIP,,OBEYFILE`
//! applies), parsed into a typed [`Profile`] plus the console [`Message`]s that z/OS would
//! write while processing it.
//!
//! ```text
//! text ─▶ lexer (tokens + line numbers, `;` comments) ─▶ statements ─▶ Profile
//!                                                          └──────────▶ Vec<Message>
//! ```
//!
//! Processing never stops at an error: as on z/OS, a message rejects one address, one
//! statement, or the rest of a VIPADYNAMIC block, and processing goes on. [`check`] is
//! `V TCPIP,,SYNTAXCHECK`: the same messages, nothing applied. Both are pure functions.
//!
//! Emulated: IPCONFIG (DYNAMICXCF, SYSPLEXROUTING, SOURCEVIPA, IPSECURITY), GLOBALCONFIG
//! (XCFGRPID, SYSPLEXMONITOR, SYSPLEXWLMPOLL, EXPLICITBINDPORTRANGE), HOME, INTERFACE
//! DEFINE, VIPADYNAMIC (VIPADEFINE for IPv4 and IPv6, VIPABACKUP, VIPARANGE, VIPADELETE,
//! VIPADISTRIBUTE, VIPAROUTE), IPSEC (DVIPSEC, IPSECRULE). Every other z/OS statement is
//! kept as written, and so are IPCONFIG and GLOBALCONFIG operands outside that subset
//! (they are not checked).
//!
//! Message IDs and texts follow IP Messages Volume 4. Value ranges not confirmed in IBM
//! text (DYNAMICXCF cost 1-254, XCFGRPID 2-31, TIMERSECS 10-3600, SYSPLEXWLMPOLL 1-180,
//! WEIGHT 1-100, TIMEDAFFINITY 1-99999, OPTLOCAL 0-16 defaulting to 1) are this emulation's
//! choices.

mod cursor;
mod ipsec;
mod lexer;
mod message;
mod model;
mod network;
mod vipadynamic;

use std::collections::BTreeSet;
use std::net::IpAddr;

pub use message::{Action, Message, MessageKind};
pub use model::*;

use cursor::{Operands, syntax_error_at};
use lexer::{Token, tokenize};

/// The statements that start a new statement (besides the block statements).
const STATEMENTS: &[&str] = &[
    "ARPAGE",
    "ATMARPSV",
    "ATMLIS",
    "ATMPVC",
    "DEVICE",
    "GATEWAY",
    "GLOBALCONFIG",
    "HOME",
    "INCLUDE",
    "INTERFACE",
    "IPCONFIG",
    "IPCONFIG6",
    "ITRACE",
    "LINK",
    "NETMONITOR",
    "PKTTRACE",
    "PORT",
    "PORTRANGE",
    "PRIMARYINTERFACE",
    "SACONFIG",
    "SMFCONFIG",
    "SMFPARMS",
    "SOMAXCONN",
    "START",
    "STOP",
    "TCPCONFIG",
    "TRANSLATE",
    "UDPCONFIG",
];

/// Block statements and the keyword that ends each.
const BLOCKS: &[(&str, &str)] = &[
    ("VIPADYNAMIC", "ENDVIPADYNAMIC"),
    ("IPSEC", "ENDIPSEC"),
    ("BEGINROUTES", "ENDROUTES"),
    ("AUTOLOG", "ENDAUTOLOG"),
    ("NETACCESS", "ENDNETACCESS"),
    ("SRCIP", "ENDSRCIP"),
    ("BSDROUTINGPARMS", "ENDBSDROUTINGPARMS"),
    ("DEFADDRTABLE", "ENDDEFADDRTABLE"),
];

/// What DELETE may delete when it is a statement of its own.
const DELETE_TARGETS: &[&str] = &[
    "DEVICE",
    "LINK",
    "PORT",
    "PORTRANGE",
    "ATMARPSV",
    "ATMLIS",
    "ATMPVC",
];

/// The result of processing a profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// What was accepted.
    pub profile: Profile,
    /// The messages, in the order processing wrote them.
    pub messages: Vec<Message>,
}

impl Parsed {
    /// The profile if no message is more than a warning, else the first error message.
    pub fn into_strict(self) -> Result<Profile, Message> {
        match self.messages.into_iter().find(Message::is_error) {
            Some(message) => Err(message),
            None => Ok(self.profile),
        }
    }
}

/// Processes the profile `text`; `file` is the data set or file name messages show.
pub fn parse(file: &str, text: &str) -> Parsed {
    let tokens = tokenize(text);
    let mut parsed = Parsed::default();
    let mut index = 0;
    while let Some(keyword) = tokens.get(index) {
        index = if let Some(&(_, end)) = BLOCKS.iter().find(|(start, _)| *start == keyword.upper) {
            block(&tokens, index, end, file, &mut parsed)
        } else if starts_statement(&tokens, index) {
            // DELETE's operand (DEVICE, LINK, ...) is itself a statement keyword.
            let operands_from = if keyword.upper == "DELETE" {
                index + 2
            } else {
                index + 1
            };
            let end = next_statement(&tokens, operands_from);
            let operands = tokens.get(index + 1..end).unwrap_or_default();
            statement(keyword, operands, file, &mut parsed);
            end
        } else {
            parsed.messages.push(syntax_error_at(file, keyword));
            next_statement(&tokens, index + 1)
        };
    }
    reject_home_addresses(&mut parsed);
    parsed
}

/// `V TCPIP,,SYNTAXCHECK`: the messages [`parse`] writes for `text`, nothing applied.
pub fn check(file: &str, text: &str) -> Vec<Message> {
    parse(file, text).messages
}

/// Whether the token at `index` starts a statement.
fn starts_statement(tokens: &[Token], index: usize) -> bool {
    let Some(token) = tokens.get(index) else {
        return false;
    };
    let upper = token.upper.as_str();
    if upper == "DELETE" {
        return tokens
            .get(index + 1)
            .is_some_and(|t| DELETE_TARGETS.contains(&t.upper.as_str()));
    }
    STATEMENTS.contains(&upper) || BLOCKS.iter().any(|(start, _)| *start == upper)
}

/// The index of the first statement start at or after `from`.
fn next_statement(tokens: &[Token], from: usize) -> usize {
    (from..tokens.len())
        .find(|&i| starts_statement(tokens, i))
        .unwrap_or(tokens.len())
}

/// A block statement at `index`; returns the index after its end keyword.
fn block(tokens: &[Token], index: usize, end: &str, file: &str, parsed: &mut Parsed) -> usize {
    let Some(keyword) = tokens.get(index) else {
        return tokens.len();
    };
    let Some(offset) = tokens.iter().skip(index + 1).position(|t| t.upper == end) else {
        // No end keyword: the block runs to the end of the profile and is rejected.
        let last = tokens.last().unwrap_or(keyword);
        parsed.messages.push(syntax_error_at(file, last));
        return tokens.len();
    };
    let body = tokens
        .get(index + 1..index + 1 + offset)
        .unwrap_or_default();
    match keyword.upper.as_str() {
        "VIPADYNAMIC" => vipadynamic::block(
            body,
            file,
            &mut parsed.profile.vipa_dynamic,
            &mut parsed.messages,
        ),
        "IPSEC" => {
            let ipsec = ipsec::block(keyword, body, file, &mut parsed.messages);
            match &mut parsed.profile.ipsec {
                Some(existing) => {
                    existing.dvipsec = ipsec.dvipsec;
                    existing.dv_local_fltr = ipsec.dv_local_fltr;
                    existing.log_enable = ipsec.log_enable;
                    existing.log_implicit = ipsec.log_implicit;
                    existing.rules.extend(ipsec.rules);
                    existing.other.extend(ipsec.other);
                }
                None => parsed.profile.ipsec = Some(ipsec),
            }
        }
        _ => {
            let mut operands: Vec<String> = body.iter().map(|t| t.text.clone()).collect();
            operands.push(end.to_owned());
            parsed.profile.other.push(GenericStatement {
                keyword: keyword.upper.clone(),
                line: keyword.line,
                operands,
            });
        }
    }
    index + 2 + offset
}

/// A one-statement keyword with its operands.
fn statement(keyword: &Token, operands: &[Token], file: &str, parsed: &mut Parsed) {
    let mut ops = Operands::new(keyword, operands, file);
    let profile = &mut parsed.profile;
    let result = match keyword.upper.as_str() {
        "IPCONFIG" => network::ipconfig(&mut ops, &profile.ipconfig).map(|c| profile.ipconfig = c),
        "GLOBALCONFIG" => {
            network::globalconfig(&mut ops, &profile.global).map(|c| profile.global = c)
        }
        "HOME" => network::home(&mut ops).map(|entries| profile.home.extend(entries)),
        "INTERFACE" if operands.get(1).is_some_and(|t| t.upper == "DEFINE") => {
            network::interface(&mut ops, keyword.line).map(|i| profile.interfaces.push(i))
        }
        _ => {
            profile.other.push(GenericStatement {
                keyword: keyword.upper.clone(),
                line: keyword.line,
                operands: ops.rest(),
            });
            Ok(())
        }
    };
    if let Err(message) = result {
        parsed.messages.push(message);
    }
}

/// EZZ8307I: VIPADEFINE and VIPABACKUP addresses that are already HOME addresses (HOME,
/// INTERFACE IPADDR) or the DYNAMICXCF address are dropped from their lists. VIPADYNAMIC is
/// processed once the stack has joined the sysplex, after the rest of the profile, so the
/// check runs over the whole profile.
fn reject_home_addresses(parsed: &mut Parsed) {
    let profile = &mut parsed.profile;
    let mut home: BTreeSet<IpAddr> = profile.home.iter().map(|h| IpAddr::V4(h.address)).collect();
    home.extend(
        profile
            .interfaces
            .iter()
            .filter_map(|i| i.address.map(|(a, _)| a)),
    );
    home.extend(profile.ipconfig.dynamic_xcf.map(|x| IpAddr::V4(x.address)));
    let messages = &mut parsed.messages;
    let mut already = |address: IpAddr, line: u32| {
        let duplicate = home.contains(&address);
        if duplicate {
            messages.push(Message::new(
                MessageKind::AlreadyDefined { address },
                line,
                Action::EntryIgnored,
            ));
        }
        duplicate
    };
    let vipa = &mut profile.vipa_dynamic;
    for define in &mut vipa.defines {
        let line = define.line;
        define.addresses.retain(|a| !already(IpAddr::V4(*a), line));
    }
    for backup in &mut vipa.backups {
        let line = backup.line;
        backup.addresses.retain(|a| !already(IpAddr::V4(*a), line));
    }
    // An IPv6 VIPADEFINE has one address: losing it rejects the statement (EZZ9654I).
    let mut rejected = Vec::new();
    vipa.defines6.retain(|define| {
        let duplicate = already(IpAddr::V6(define.address), define.line);
        if duplicate {
            rejected.push(Message::new(
                MessageKind::VipaDefineRejected {
                    interface: define.interface.clone(),
                },
                define.line,
                Action::StatementRejected,
            ));
        }
        !duplicate
    });
    vipa.defines.retain(|d| !d.addresses.is_empty());
    vipa.backups.retain(|b| !b.addresses.is_empty());
    let messages = &mut parsed.messages;
    for message in rejected {
        let at = messages
            .iter()
            .rposition(|m| m.line == message.line)
            .map_or(messages.len(), |i| i + 1);
        messages.insert(at, message);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ids(messages: &[Message]) -> Vec<(&'static str, u32, Action)> {
        messages
            .iter()
            .map(|m| (m.id(), m.line, m.action))
            .collect()
    }

    #[test]
    fn statements_span_lines_and_keywords_ignore_case() {
        let parsed = parse(
            "PROF",
            "ipconfig sysplexrouting\n  dynamicxcf 203.0.113.1\n 255.255.255.0 1 ; xcf\nHome 192.0.2.11 LAN1\n",
        );
        assert!(parsed.messages.is_empty(), "{:?}", parsed.messages);
        let xcf = parsed.profile.ipconfig.dynamic_xcf.expect("dynamic xcf");
        assert_eq!(xcf.address, Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(xcf.prefix_len, 24);
        assert!(parsed.profile.ipconfig.sysplex_routing);
        assert_eq!(parsed.profile.home.len(), 1);
    }

    #[test]
    fn unknown_statement_is_a_syntax_error_and_processing_goes_on() {
        let parsed = parse("PROF", "FROBNICATE 1 2\nHOME 192.0.2.11 LAN1\n");
        assert_eq!(
            ids(&parsed.messages),
            [("EZZ0401I", 1, Action::StatementRejected)]
        );
        assert_eq!(parsed.profile.home.len(), 1);
    }

    #[test]
    fn syntax_error_ignores_the_rest_of_the_vipadynamic_block() {
        let text = "VIPADYNAMIC\n VIPADEFINE 255.255.255.0 198.51.100.10\n \
                    VIPABACKUP 300 198.51.100.20\n VIPADEFINE 255.255.255.0 198.51.100.30\n\
                    ENDVIPADYNAMIC\nHOME 192.0.2.11 LAN1\n";
        let parsed = parse("PROF", text);
        assert_eq!(
            ids(&parsed.messages),
            [("EZZ0401I", 3, Action::RestOfBlockIgnored)]
        );
        let defines = &parsed.profile.vipa_dynamic.defines;
        assert_eq!(defines.len(), 1);
        assert!(parsed.profile.vipa_dynamic.backups.is_empty());
        assert_eq!(
            parsed.profile.home.len(),
            1,
            "processing goes on after the block"
        );
    }

    #[test]
    fn destip_all_with_hotstandby_rejects_only_that_statement() {
        let text = "VIPADYNAMIC\n VIPADISTRIBUTE DISTMETHOD HOTSTANDBY 198.51.100.10 PORT 80\n \
                    DESTIP ALL\n VIPADEFINE 255.255.255.0 198.51.100.10\nENDVIPADYNAMIC\n";
        let parsed = parse("PROF", text);
        assert_eq!(
            ids(&parsed.messages),
            [("EZZ0165I", 3, Action::StatementRejected)]
        );
        assert_eq!(parsed.profile.vipa_dynamic.defines.len(), 1);
        assert!(parsed.profile.vipa_dynamic.distributes.is_empty());
    }

    #[test]
    fn hotstandby_needs_one_preferred_and_a_backup() {
        let base = "VIPADYNAMIC\nVIPADISTRIBUTE DISTMETHOD HOTSTANDBY 198.51.100.10 PORT 80 DESTIP";
        let missing = parse(
            "P",
            &format!("{base} 203.0.113.1 203.0.113.2\nENDVIPADYNAMIC"),
        );
        assert_eq!(missing.messages[0].id(), "EZZ0826I");
        let two = parse(
            "P",
            &format!("{base} 203.0.113.1 PREFERRED 203.0.113.2 PREFERRED\nENDVIPADYNAMIC"),
        );
        assert_eq!(two.messages[0].id(), "EZZ0827I");
        let good = parse(
            "P",
            &format!("{base} 203.0.113.1 PREFERRED 203.0.113.2 BACKUP 50\nENDVIPADYNAMIC"),
        );
        assert!(good.messages.is_empty(), "{:?}", good.messages);
        let DistMethod::HotStandby {
            auto_switch_back,
            health_switch,
        } = good.profile.vipa_dynamic.distributes[0].method
        else {
            panic!("not hot standby");
        };
        assert!(auto_switch_back && health_switch, "defaults are yes");
    }

    #[test]
    fn more_than_31_backups_are_rejected() {
        let mut text = String::from(
            "VIPADYNAMIC\nVIPADISTRIBUTE DISTMETHOD HOTSTANDBY 198.51.100.10 DESTIP 203.0.113.1 PREFERRED\n",
        );
        for host in 2..=33 {
            text.push_str(&format!(" 203.0.113.{host} BACKUP {host}\n"));
        }
        text.push_str("ENDVIPADYNAMIC\n");
        assert_eq!(check("P", &text)[0].id(), "EZZ0829I");
    }

    #[test]
    fn hotstandby_keyword_with_another_method_ignores_the_rest_of_the_block() {
        let text = "VIPADYNAMIC\nVIPADISTRIBUTE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80\n\
                    DESTIP 203.0.113.1 PREFERRED\nVIPADEFINE 255.255.255.0 198.51.100.11\nENDVIPADYNAMIC";
        let parsed = parse("P", text);
        assert_eq!(
            ids(&parsed.messages),
            [("EZZ0831I", 3, Action::RestOfBlockIgnored)]
        );
        assert_eq!(
            parsed.messages[0].to_string(),
            "EZZ0831I VIPADISTRIBUTE PREFERRED ON LINE 3 IS NOT VALID BECAUSE THE SPECIFIED \
             DISTMETHOD IS NOT HOTSTANDBY"
        );
        assert!(parsed.profile.vipa_dynamic.defines.is_empty());
    }

    #[test]
    fn weight_is_kept_only_for_weightedactive() {
        let text = "VIPADYNAMIC\nVIPADISTRIBUTE DISTMETHOD SERVERWLM 198.51.100.10 PORT 80 \
                    DESTIP 203.0.113.1 WEIGHT 20\nVIPADISTRIBUTE DISTMETHOD WEIGHTEDACTIVE \
                    198.51.100.11 PORT 81 DESTIP 203.0.113.1 WEIGHT 20\nENDVIPADYNAMIC";
        let parsed = parse("P", text);
        assert_eq!(ids(&parsed.messages), [("EZZ0799I", 2, Action::Warning)]);
        let weights: Vec<Option<u8>> = parsed
            .profile
            .vipa_dynamic
            .distributes
            .iter()
            .map(|d| match &d.destinations {
                Destinations::Listed(t) => t[0].weight,
                Destinations::All => None,
            })
            .collect();
        assert_eq!(weights, [None, Some(20)]);
    }

    #[test]
    fn vipadefine_address_already_in_home_is_dropped_alone() {
        let text = "HOME 192.0.2.11 LAN1\nIPCONFIG DYNAMICXCF 203.0.113.1/24 1\nVIPADYNAMIC\n\
                    VIPADEFINE 255.255.255.0 198.51.100.10 192.0.2.11\nVIPABACKUP 10 203.0.113.1\n\
                    ENDVIPADYNAMIC\n";
        let parsed = parse("P", text);
        let texts: Vec<String> = parsed.messages.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "EZZ8307I 192.0.2.11 IS ALREADY DEFINED",
                "EZZ8307I 203.0.113.1 IS ALREADY DEFINED"
            ]
        );
        let vipa = &parsed.profile.vipa_dynamic;
        assert_eq!(vipa.defines[0].addresses, [Ipv4Addr::new(198, 51, 100, 10)]);
        assert!(
            vipa.backups.is_empty(),
            "a backup left with no address is dropped"
        );
    }

    #[test]
    fn ipv6_vipadefine_takes_an_interface_name_and_one_address() {
        let text = "INTERFACE OSA6 DEFINE IPAQENET6 PORTNAME P6 IPADDR 2001:db8::11/64\n\
                    VIPADYNAMIC\nVIPADEFINE MOVEABLE IMMEDIATE DVIPA6A 2001:db8:100::10\n\
                    VIPADEFINE DVIPA6B 2001:db8::11\nENDVIPADYNAMIC\n";
        let parsed = parse("P", text);
        let texts: Vec<String> = parsed.messages.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "EZZ8307I 2001:db8::11 IS ALREADY DEFINED",
                "EZZ9654I VIPADEFINE DVIPA6B WAS REJECTED"
            ]
        );
        let defines6 = &parsed.profile.vipa_dynamic.defines6;
        assert_eq!(defines6.len(), 1);
        assert_eq!(defines6[0].interface, "DVIPA6A");
        assert_eq!(
            parsed.profile.interfaces[0].address,
            Some(("2001:db8::11".parse().expect("address"), 64))
        );
    }

    #[test]
    fn ipv6_vipadefine_moves_only_immediate() {
        let text =
            "VIPADYNAMIC\nVIPADEFINE MOVEABLE WHENIDLE DVIPA6A 2001:db8:100::10\nENDVIPADYNAMIC";
        let messages = check("P", text);
        assert_eq!(
            ids(&messages),
            [("EZZ0401I", 2, Action::RestOfBlockIgnored)]
        );
        assert!(messages[0].to_string().ends_with("AT: 'DVIPA6A'"));
    }

    #[test]
    fn loopback_is_refused_in_home_and_vipadynamic() {
        let text = "HOME 127.0.0.1 LOOPBACK\nVIPADYNAMIC\nVIPARANGE 255.255.255.0 127.0.0.1\n\
                    VIPADEFINE 255.255.255.0 198.51.100.10\nENDVIPADYNAMIC";
        let parsed = parse("P", text);
        assert_eq!(
            ids(&parsed.messages),
            [
                ("EZZ0344I", 1, Action::StatementRejected),
                ("EZZ0638I", 3, Action::StatementRejected)
            ]
        );
        assert_eq!(
            parsed.profile.vipa_dynamic.defines.len(),
            1,
            "only the VIPARANGE is lost"
        );
    }

    #[test]
    fn contradicting_toggles_are_mutually_exclusive() {
        let messages = check("P", "IPCONFIG SOURCEVIPA NOSOURCEVIPA\n");
        assert_eq!(
            messages[0].to_string(),
            "EZZ0707I SOURCEVIPA AND NOSOURCEVIPA ARE MUTUALLY EXCLUSIVE ON SAME IPCONFIG \
             STATEMENT - STATEMENT IS IGNORED"
        );
    }

    #[test]
    fn missing_block_end_rejects_the_block() {
        let parsed = parse("P", "VIPADYNAMIC\nVIPADEFINE 255.255.255.0 198.51.100.10\n");
        assert_eq!(
            ids(&parsed.messages),
            [("EZZ0401I", 2, Action::StatementRejected)]
        );
        assert!(parsed.profile.vipa_dynamic.defines.is_empty());
    }

    #[test]
    fn other_statements_are_kept_as_written() {
        let text = "PORT 20 TCP OMVS NOAUTOLOG\n 21 TCP FTPD1\nBEGINROUTES\n ROUTE DEFAULT \
                    192.0.2.1 OSA1 MTU 1492\nENDROUTES\nDELETE LINK OLDLINK\nSTART OSA1\n";
        let parsed = parse("P", text);
        assert!(parsed.messages.is_empty(), "{:?}", parsed.messages);
        let keywords: Vec<&str> = parsed
            .profile
            .other
            .iter()
            .map(|s| s.keyword.as_str())
            .collect();
        assert_eq!(keywords, ["PORT", "BEGINROUTES", "DELETE", "START"]);
        assert_eq!(parsed.profile.other[0].operands.len(), 7);
    }

    #[test]
    fn strict_mode_fails_on_the_first_error_only() {
        assert!(parse("P", "HOME 192.0.2.11 LAN1").into_strict().is_ok());
        let error = parse("P", "HOME 192.0.2.11")
            .into_strict()
            .expect_err("no link name");
        assert_eq!(error.id(), "EZZ0401I");
    }

    #[test]
    fn check_matches_the_messages_of_parse() {
        let text = "VIPADYNAMIC\nVIPABACKUP 0 198.51.100.10\nENDVIPADYNAMIC\n";
        assert_eq!(check("P", text), parse("P", text).messages);
    }
}
