//! From statement blocks to the typed [`Policy`]: statement and parameter names checked,
//! `...Ref` parameters resolved to the global statements they name, values read and the
//! algorithm suites checked by the crypto layer.

use std::collections::HashMap;

use super::error::ProblemKind;
use super::model::{
    AddrSpec, AuthMethod, Connect, DataOffer, Direction, DynVpnAction, Encapsulation, FilterAction,
    FilterRule, HowToInitiate, HowToRespond, Identity, Initiation, KeyExchangeAction,
    KeyExchangeOffer, KeyExchangeRule, Policy, PortRange, Protocol, Refresh, Routing,
    SecurityEndpoint, Service, SharedKey,
};
use super::syntax::Node;
use super::values::{
    Problems, addr_range, addr_spec, addr_word, after_first_word, choice, number, range,
};
use crate::crypto::ids::DhGroup;
use crate::crypto::{AesKeySize, Encryption, EspSuite, IkeSuite, Integrity, Prf};

/// The statements of the supported subset, as z/OS spells them.
const STATEMENTS: &[&str] = &[
    "IpFilterPolicy",
    "KeyExchangePolicy",
    "IpFilterRule",
    "IpService",
    "IpAddr",
    "IpAddrSet",
    "IpGenericFilterAction",
    "IpDynVpnAction",
    "IpDataOffer",
    "KeyExchangeRule",
    "KeyExchangeAction",
    "KeyExchangeOffer",
    "LocalSecurityEndpoint",
    "RemoteSecurityEndpoint",
];

/// The statements that take no name and may appear once.
const POLICIES: &[&str] = &["IpFilterPolicy", "KeyExchangePolicy"];

/// Default RefreshLifetimeProposed of an IpDataOffer, minutes.
const DATA_LIFETIME_MINUTES: u32 = 240;
/// Default RefreshLifetimeProposed of a KeyExchangeOffer, minutes.
const IKE_LIFETIME_MINUTES: u32 = 480;

/// The canonical spelling of a statement keyword.
fn statement_kind(keyword: &str) -> Option<&'static str> {
    STATEMENTS
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(keyword))
}

/// Builds the policy from the top-level statements.
pub(crate) fn policy(top: &[Node], problems: &mut Problems) -> Policy {
    let mut builder = Builder {
        globals: HashMap::new(),
        problems,
    };
    builder.index(top);
    let filter_rules =
        builder.rule_list(top, "IpFilterPolicy", "IpFilterRule", Builder::filter_rule);
    let key_exchange_rules = builder.rule_list(
        top,
        "KeyExchangePolicy",
        "KeyExchangeRule",
        Builder::key_exchange_rule,
    );
    builder.validate_unreferenced(top);
    Policy {
        filter_rules,
        key_exchange_rules,
    }
}

/// Resolves and reads statements, recording problems.
struct Builder<'a, 'p> {
    /// Global statements by (kind, name).
    globals: HashMap<(&'static str, &'a str), &'a Node>,
    problems: &'p mut Problems,
}

/// A statement builder: the node and, for a global statement, its name.
type Build<'a, 'p, T> = fn(&mut Builder<'a, 'p>, &'a Node, Option<&'a str>) -> Option<T>;

impl<'a, 'p> Builder<'a, 'p> {
    /// Indexes the global statements; reports unknown, unnamed and duplicate ones.
    fn index(&mut self, top: &'a [Node]) {
        let mut policies: HashMap<&'static str, u32> = HashMap::new();
        for node in top {
            let Some(kind) = statement_kind(&node.keyword) else {
                self.problems.push(
                    node.line,
                    ProblemKind::UnknownStatement {
                        statement: node.keyword.clone(),
                    },
                );
                continue;
            };
            if POLICIES.contains(&kind) {
                if let Some(&first_line) = policies.get(kind) {
                    self.problems.push(
                        node.line,
                        ProblemKind::DuplicateName {
                            statement: kind,
                            name: String::new(),
                            first_line,
                        },
                    );
                }
                policies.entry(kind).or_insert(node.line);
                continue;
            }
            let Some(name) = self.name(node, kind) else {
                continue;
            };
            match self.globals.get(&(kind, name)) {
                Some(first) => self.problems.push(
                    node.line,
                    ProblemKind::DuplicateName {
                        statement: kind,
                        name: name.to_owned(),
                        first_line: first.line,
                    },
                ),
                None => {
                    self.globals.insert((kind, name), node);
                }
            }
        }
    }

    /// The checked name of a global statement.
    fn name(&mut self, node: &'a Node, kind: &'static str) -> Option<&'a str> {
        let Some(name) = node.values.first() else {
            self.problems
                .push(node.line, ProblemKind::MissingName { statement: kind });
            return None;
        };
        if name.is_empty()
            || name.chars().count() > 32
            || name.starts_with('-')
            || name.contains(',')
        {
            self.problems
                .push(node.line, ProblemKind::InvalidName { name: name.clone() });
            return None;
        }
        Some(name)
    }

    /// The rules in the policy statement's order, else every global rule in file order.
    fn rule_list<T>(
        &mut self,
        top: &'a [Node],
        policy: &'static str,
        rule: &'static str,
        build: Build<'a, 'p, T>,
    ) -> Vec<T> {
        let mut rules = Vec::new();
        let Some(policy_node) = top.iter().find(|n| n.is(policy)) else {
            for node in top.iter().filter(|n| n.is(rule)) {
                if let Some(name) = node.values.first() {
                    rules.extend(build(self, node, Some(name)));
                }
            }
            return rules;
        };
        let reference = format!("{rule}Ref");
        for item in body(policy_node) {
            if item.body.is_some() && item.is(rule) {
                rules.extend(build(self, item, inline_name(item)));
            } else if item.is(&reference) {
                rules.extend(self.reference(item, rule, build));
            } else {
                self.unknown_parameter(policy, item);
            }
        }
        rules
    }

    /// Builds every global statement once more, so that problems in statements no rule uses
    /// are reported too (problems found twice are merged later).
    fn validate_unreferenced(&mut self, top: &'a [Node]) {
        for node in top {
            let Some(kind) = statement_kind(&node.keyword) else {
                continue;
            };
            let name = node.values.first().map(String::as_str);
            match kind {
                "IpService" => drop(self.service(node, name)),
                "IpAddr" | "IpAddrSet" => drop(self.addr_statement(node, kind)),
                "IpGenericFilterAction" => drop(self.generic_action(node, name)),
                "IpDynVpnAction" => drop(self.dyn_vpn_action(node, name)),
                "IpDataOffer" => drop(self.data_offer(node, name)),
                "KeyExchangeAction" => drop(self.key_exchange_action(node, name)),
                "KeyExchangeOffer" => drop(self.key_exchange_offer(node, name)),
                "LocalSecurityEndpoint" | "RemoteSecurityEndpoint" => {
                    drop(self.endpoint(node, name));
                }
                _ => {}
            }
        }
    }

    /// Builds the global `kind` statement that the `...Ref` parameter `item` names.
    fn reference<T>(
        &mut self,
        item: &'a Node,
        kind: &'static str,
        build: Build<'a, 'p, T>,
    ) -> Option<T> {
        let target = self.lookup(item, kind)?;
        let name = target.values.first().map(String::as_str);
        build(self, target, name)
    }

    /// The global `kind` statement that `item` names.
    fn lookup(&mut self, item: &Node, kind: &'static str) -> Option<&'a Node> {
        let [name] = item.values.as_slice() else {
            return self.problems.invalid(item, "one statement name");
        };
        let found = self.globals.get(&(kind, name.as_str())).copied();
        if found.is_none() {
            self.problems.push(
                item.line,
                ProblemKind::UnknownReference {
                    parameter: item.keyword.clone(),
                    name: name.clone(),
                    statement: kind,
                },
            );
        }
        found
    }

    fn unknown_parameter(&mut self, statement: &'static str, item: &Node) {
        self.problems.push(
            item.line,
            ProblemKind::UnknownParameter {
                statement,
                parameter: item.keyword.clone(),
            },
        );
    }

    fn missing<T>(
        &mut self,
        node: &Node,
        statement: &'static str,
        parameter: &'static str,
    ) -> Option<T> {
        self.problems.push(
            node.line,
            ProblemKind::MissingParameter {
                statement,
                parameter,
            },
        );
        None
    }

    /// Records a second occurrence of a once-only parameter; true for the first.
    fn once(&mut self, seen: &mut Vec<String>, item: &Node) -> bool {
        self.once_in_slot(seen, &item.keyword.to_ascii_uppercase(), item)
    }

    /// Like [`Self::once`], for parameters that share one slot (`X` and `XRef`).
    fn once_in_slot(&mut self, seen: &mut Vec<String>, slot: &str, item: &Node) -> bool {
        let key = slot.to_owned();
        if seen.contains(&key) {
            self.problems.push(
                item.line,
                ProblemKind::Repeated {
                    parameter: item.keyword.clone(),
                },
            );
            false
        } else {
            seen.push(key);
            true
        }
    }

    fn filter_rule(&mut self, node: &'a Node, name: Option<&'a str>) -> Option<FilterRule> {
        const S: &str = "IpFilterRule";
        let mut seen = Vec::new();
        let mut source = None;
        let mut destination = None;
        let mut services = Vec::new();
        let mut action = None;
        let mut complete = true;
        for item in body(node) {
            let key = item.keyword.to_ascii_uppercase();
            let slot = match key.as_str() {
                "IPSERVICE" | "IPSERVICEREF" => None,
                k if k.starts_with("IPSOURCEADDR") => Some("SOURCE"),
                k if k.starts_with("IPDESTADDR") => Some("DESTINATION"),
                k if k.contains("ACTION") => Some("ACTION"),
                k => Some(k),
            };
            if slot.is_some_and(|slot| !self.once_in_slot(&mut seen, slot, item)) {
                complete = false;
                continue;
            }
            let value = match key.as_str() {
                "IPSERVICE" if item.body.is_some() => self
                    .service(item, inline_name(item))
                    .map(|s| services.push(s)),
                "IPSERVICEREF" => self
                    .reference(item, "IpService", Builder::service)
                    .map(|s| services.push(s)),
                "IPDYNVPNACTION" if item.body.is_some() => self
                    .dyn_vpn_action(item, None)
                    .map(|a| action = Some(FilterAction::DynamicVpn(a))),
                "IPDYNVPNACTIONREF" => self
                    .reference(item, "IpDynVpnAction", Builder::dyn_vpn_action)
                    .map(|a| action = Some(FilterAction::DynamicVpn(a))),
                "IPGENERICFILTERACTIONREF" => self
                    .reference(item, "IpGenericFilterAction", Builder::generic_action)
                    .map(|a| action = Some(a)),
                _ => match self.rule_address(item, &key) {
                    Some(Side::Source(spec)) => spec.map(|s| source = Some(s)),
                    Some(Side::Destination(spec)) => spec.map(|s| destination = Some(s)),
                    None => {
                        self.unknown_parameter(S, item);
                        None
                    }
                },
            };
            complete &= value.is_some();
        }
        if !complete {
            return None;
        }
        let line = node.line;
        let source = source.or_else(|| self.missing(node, S, "IpSourceAddr (or Range, Set, Ref)"));
        let destination =
            destination.or_else(|| self.missing(node, S, "IpDestAddr (or Range, Set, Ref)"));
        if services.is_empty() {
            self.missing::<()>(node, S, "IpService or IpServiceRef");
        }
        let action = action
            .or_else(|| self.missing(node, S, "IpGenericFilterActionRef or IpDynVpnActionRef"));
        if services.is_empty() {
            return None;
        }
        Some(FilterRule {
            name: name.map_or_else(|| format!("IpFilterRule@{line}"), str::to_owned),
            line,
            source: source?,
            destination: destination?,
            services,
            action: action?,
        })
    }

    /// The source or destination parameters of a filter rule.
    fn rule_address(&mut self, item: &'a Node, key: &str) -> Option<Side> {
        let (side, kind) = if let Some(kind) = key.strip_prefix("IPSOURCEADDR") {
            (true, kind)
        } else if let Some(kind) = key.strip_prefix("IPDESTADDR") {
            (false, kind)
        } else {
            return None;
        };
        let spec = match kind {
            "" | "SET" => addr_spec(item, self.problems),
            "RANGE" => match item.values.as_slice() {
                [first, last] => addr_range(first, last),
                _ => None,
            }
            .or_else(|| self.problems.invalid(item, "first and last address")),
            "REF" => self
                .lookup(item, "IpAddr")
                .and_then(|n| self.addr_statement(n, "IpAddr")),
            "SETREF" => self
                .lookup(item, "IpAddrSet")
                .and_then(|n| self.addr_statement(n, "IpAddrSet")),
            _ => return None,
        };
        Some(if side {
            Side::Source(spec)
        } else {
            Side::Destination(spec)
        })
    }

    /// IpAddr { Addr a } or IpAddrSet { Prefix a/len | Range a b }.
    fn addr_statement(&mut self, node: &'a Node, kind: &'static str) -> Option<AddrSpec> {
        let mut spec = None;
        let mut seen = Vec::new();
        for item in body(node) {
            if !self.once(&mut seen, item) {
                continue;
            }
            let key = item.keyword.to_ascii_uppercase();
            spec = match (kind, key.as_str()) {
                ("IpAddr", "ADDR") => match item.values.as_slice() {
                    [word] => addr_word(word).filter(|s| matches!(s, AddrSpec::Host(_))),
                    _ => None,
                }
                .or_else(|| self.problems.invalid(item, "one IP address")),
                ("IpAddrSet", "PREFIX") => match item.values.as_slice() {
                    [word] => addr_word(word).filter(|s| matches!(s, AddrSpec::Prefix(..))),
                    _ => None,
                }
                .or_else(|| self.problems.invalid(item, "address/len")),
                ("IpAddrSet", "RANGE") => match item.values.as_slice() {
                    [first, last] => addr_range(first, last),
                    _ => None,
                }
                .or_else(|| self.problems.invalid(item, "first and last address")),
                _ => {
                    self.unknown_parameter(kind, item);
                    return None;
                }
            };
        }
        spec.or_else(|| {
            let needed = if kind == "IpAddr" {
                "Addr"
            } else {
                "Prefix or Range"
            };
            self.missing(node, kind, needed)
        })
    }

    fn service(&mut self, node: &'a Node, _name: Option<&'a str>) -> Option<Service> {
        const S: &str = "IpService";
        let mut service = Service {
            protocol: Protocol::All,
            source_ports: PortRange::ANY,
            destination_ports: PortRange::ANY,
            direction: Direction::Bidirectional,
            connect: None,
            routing: Routing::Local,
            security_class: 0,
        };
        let mut ok = true;
        let mut seen = Vec::new();
        for item in body(node) {
            if !self.once(&mut seen, item) {
                ok = false;
                continue;
            }
            let key = item.keyword.to_ascii_uppercase();
            let read = match key.as_str() {
                "SOURCEPORTRANGE" | "DESTINATIONPORTRANGE" => range(
                    item,
                    0u16,
                    u16::MAX,
                    "a port or a first and last port",
                    self.problems,
                )
                .map(|(first, last)| {
                    let ports = PortRange { first, last };
                    if key == "SOURCEPORTRANGE" {
                        service.source_ports = ports;
                    } else {
                        service.destination_ports = ports;
                    }
                }),
                "PROTOCOL" => protocol(item, self.problems).map(|p| service.protocol = p),
                "DIRECTION" => direction(item, self.problems).map(|(d, c)| {
                    service.direction = d;
                    service.connect = c;
                }),
                "ROUTING" => choice(
                    item,
                    &[
                        ("Local", Routing::Local),
                        ("Routed", Routing::Routed),
                        ("Either", Routing::Either),
                    ],
                    "Local, Routed or Either",
                    self.problems,
                )
                .map(|r| service.routing = r),
                "SECURITYCLASS" => number(item, 0, 0, 255, "0-255", self.problems)
                    .map(|c| service.security_class = c),
                _ => {
                    self.unknown_parameter(S, item);
                    None
                }
            };
            ok &= read.is_some();
        }
        ok.then_some(service)
    }

    fn generic_action(&mut self, node: &'a Node, _name: Option<&'a str>) -> Option<FilterAction> {
        const S: &str = "IpGenericFilterAction";
        let mut permit = None;
        let mut log = true;
        let mut ok = true;
        let mut seen = Vec::new();
        for item in body(node) {
            if !self.once(&mut seen, item) {
                ok = false;
                continue;
            }
            let read = match item.keyword.to_ascii_uppercase().as_str() {
                "IPFILTERACTION" => match item.values.first().map(|v| v.to_ascii_uppercase()) {
                    Some(v) if v == "PERMIT" && item.values.len() == 1 => {
                        permit = Some(true);
                        Some(())
                    }
                    Some(v) if v == "DENY" && item.values.len() == 1 => {
                        permit = Some(false);
                        Some(())
                    }
                    Some(v) if v == "IPSEC" => self
                        .problems
                        .unsupported(item, "Permit or Deny; IPSec via IpDynVpnActionRef"),
                    _ => self.problems.invalid(item, "Permit, Deny or IPSec"),
                },
                "IPFILTERLOGGING" => choice(
                    item,
                    &[("Yes", true), ("No", false)],
                    "Yes or No",
                    self.problems,
                )
                .map(|l| log = l),
                _ => {
                    self.unknown_parameter(S, item);
                    None
                }
            };
            ok &= read.is_some();
        }
        if !ok {
            return None;
        }
        let permit = permit.or_else(|| self.missing(node, S, "IpFilterAction"))?;
        Some(if permit {
            FilterAction::Permit { log }
        } else {
            FilterAction::Deny { log }
        })
    }

    fn dyn_vpn_action(&mut self, node: &'a Node, name: Option<&'a str>) -> Option<DynVpnAction> {
        const S: &str = "IpDynVpnAction";
        let mut action = DynVpnAction {
            name: name.map_or_else(|| format!("IpDynVpnAction@{}", node.line), str::to_owned),
            pfs: DhGroup::NONE,
            initiation: Initiation::Either,
            offers: Vec::new(),
        };
        let mut ok = true;
        let mut seen = Vec::new();
        for item in body(node) {
            let key = item.keyword.to_ascii_uppercase();
            let listed = key == "IPDATAOFFER" || key == "IPDATAOFFERREF";
            if !listed && !self.once(&mut seen, item) {
                ok = false;
                continue;
            }
            let read = match key.as_str() {
                "IPDATAOFFER" if item.body.is_some() => self
                    .data_offer(item, inline_name(item))
                    .map(|o| action.offers.push(o)),
                "IPDATAOFFERREF" => self
                    .reference(item, "IpDataOffer", Builder::data_offer)
                    .map(|o| action.offers.push(o)),
                "PFS" => pfs(item, self.problems).map(|g| action.pfs = g),
                "INITIATION" => choice(
                    item,
                    &[
                        ("Either", Initiation::Either),
                        ("LocalOnly", Initiation::LocalOnly),
                        ("RemoteOnly", Initiation::RemoteOnly),
                    ],
                    "Either, LocalOnly or RemoteOnly",
                    self.problems,
                )
                .map(|i| action.initiation = i),
                _ => {
                    self.unknown_parameter(S, item);
                    None
                }
            };
            ok &= read.is_some();
        }
        if ok && action.offers.is_empty() {
            return self.missing(node, S, "IpDataOffer or IpDataOfferRef");
        }
        ok.then_some(action)
    }

    fn data_offer(&mut self, node: &'a Node, name: Option<&'a str>) -> Option<DataOffer> {
        const S: &str = "IpDataOffer";
        let mut encapsulation = Encapsulation::Transport;
        let mut encryption = Encryption::AesCbc(AesKeySize::Aes128);
        let mut auth: Option<&Node> = None;
        let mut refresh = Refresh::new(DATA_LIFETIME_MINUTES);
        let mut ok = true;
        let mut seen = Vec::new();
        for item in body(node) {
            if !self.once(&mut seen, item) {
                ok = false;
                continue;
            }
            let read = match item.keyword.to_ascii_uppercase().as_str() {
                "HOWTOENCAP" => choice(
                    item,
                    &[
                        ("Transport", Encapsulation::Transport),
                        ("Tunnel", Encapsulation::Tunnel),
                    ],
                    "Transport or Tunnel",
                    self.problems,
                )
                .map(|e| encapsulation = e),
                "HOWTOENCRYPT" => how_to_encrypt(item, self.problems).map(|e| encryption = e),
                "HOWTOAUTH" => {
                    auth = Some(item);
                    Some(())
                }
                key => match self.refresh(item, key, &mut refresh) {
                    Some(read) => read,
                    None => {
                        self.unknown_parameter(S, item);
                        None
                    }
                },
            };
            ok &= read.is_some();
        }
        let integrity = match auth {
            Some(item) => esp_integrity(item, self.problems),
            None if encryption.is_aead() => Some(None),
            None if !ok => None,
            None => {
                ok = false;
                self.missing(node, S, "HowToAuth ESP with an integrity algorithm")
            }
        };
        let integrity = integrity?;
        if !ok {
            return None;
        }
        let suite = EspSuite::new(encryption, integrity)
            .map_err(|e| self.problems.push(node.line, ProblemKind::Crypto(e)))
            .ok()?;
        Some(DataOffer {
            name: name.map(str::to_owned),
            encapsulation,
            suite,
            refresh,
        })
    }

    /// The Refresh* parameters; `None` when `key` is not one (the caller reports it),
    /// `Some(None)` when its value is invalid.
    fn refresh(&mut self, item: &Node, key: &str, refresh: &mut Refresh) -> Option<Option<()>> {
        const MINUTES: &str = "minutes 1-65535";
        const KILOBYTES: &str = "kilobytes 1-4294967295";
        Some(match key {
            "REFRESHLIFETIMEPROPOSED" => number(item, 0, 1, 65535, MINUTES, self.problems)
                .map(|m| refresh.lifetime_minutes = m),
            "REFRESHLIFETIMEACCEPTED" => range(item, 1, 65535, MINUTES, self.problems)
                .map(|r| refresh.lifetime_accepted = Some(r)),
            "REFRESHLIFESIZEPROPOSED" => {
                number(item, 0, 1, u64::from(u32::MAX), KILOBYTES, self.problems)
                    .map(|k| refresh.lifesize_kb = Some(k))
            }
            "REFRESHLIFESIZEACCEPTED" => {
                range(item, 1, u64::from(u32::MAX), KILOBYTES, self.problems)
                    .map(|r| refresh.lifesize_accepted = Some(r))
            }
            _ => return None,
        })
    }

    fn key_exchange_rule(
        &mut self,
        node: &'a Node,
        name: Option<&'a str>,
    ) -> Option<KeyExchangeRule> {
        const S: &str = "KeyExchangeRule";
        let mut local = None;
        let mut remote = None;
        let mut action = None;
        let mut shared_key = None;
        let mut ok = true;
        let mut seen = Vec::new();
        for item in body(node) {
            let key = item.keyword.to_ascii_uppercase();
            let slot = key.trim_end_matches("REF").to_owned();
            if !self.once_in_slot(&mut seen, &slot, item) {
                ok = false;
                continue;
            }
            let inline = item.body.is_some();
            let read = match (key.as_str(), inline) {
                ("LOCALSECURITYENDPOINT", true) => self
                    .endpoint(item, inline_name(item))
                    .map(|e| local = Some(e)),
                ("LOCALSECURITYENDPOINTREF", false) => self
                    .reference(item, "LocalSecurityEndpoint", Builder::endpoint)
                    .map(|e| local = Some(e)),
                ("REMOTESECURITYENDPOINT", true) => self
                    .endpoint(item, inline_name(item))
                    .map(|e| remote = Some(e)),
                ("REMOTESECURITYENDPOINTREF", false) => self
                    .reference(item, "RemoteSecurityEndpoint", Builder::endpoint)
                    .map(|e| remote = Some(e)),
                ("KEYEXCHANGEACTION", true) => self
                    .key_exchange_action(item, inline_name(item))
                    .map(|a| action = Some(a)),
                ("KEYEXCHANGEACTIONREF", false) => self
                    .reference(item, "KeyExchangeAction", Builder::key_exchange_action)
                    .map(|a| action = Some(a)),
                ("SHAREDKEY", false) => shared(item, self.problems).map(|k| shared_key = Some(k)),
                _ => {
                    self.unknown_parameter(S, item);
                    None
                }
            };
            ok &= read.is_some();
        }
        if !ok {
            return None;
        }
        let local = local.or_else(|| self.missing(node, S, "LocalSecurityEndpoint(Ref)"));
        let remote = remote.or_else(|| self.missing(node, S, "RemoteSecurityEndpoint(Ref)"));
        let action = action.or_else(|| self.missing(node, S, "KeyExchangeAction(Ref)"));
        let (local, remote, action) = (local?, remote?, action?);
        let uses_psk = action.auth_me == AuthMethod::PresharedKey
            || action
                .offers
                .iter()
                .any(|o| o.auth_peers == AuthMethod::PresharedKey);
        if uses_psk && shared_key.is_none() {
            return self.missing(
                node,
                S,
                "SharedKey (the action authenticates with PresharedKey)",
            );
        }
        Some(KeyExchangeRule {
            name: name.map_or_else(|| format!("KeyExchangeRule@{}", node.line), str::to_owned),
            line: node.line,
            local,
            remote,
            action,
            shared_key,
        })
    }

    fn endpoint(&mut self, node: &'a Node, name: Option<&'a str>) -> Option<SecurityEndpoint> {
        let statement = statement_kind(&node.keyword).unwrap_or("LocalSecurityEndpoint");
        let mut identity = None;
        let mut location = Vec::new();
        let mut ca_label = None;
        let mut ok = true;
        let mut seen = Vec::new();
        for item in body(node) {
            let key = item.keyword.to_ascii_uppercase();
            if key != "LOCATION" && !self.once(&mut seen, item) {
                ok = false;
                continue;
            }
            let read = match key.as_str() {
                "IDENTITY" => identity_value(item, self.problems).map(|i| identity = Some(i)),
                "LOCATION" => addr_spec(item, self.problems).map(|l| location.push(l)),
                "CALABEL" if !item.rest.is_empty() => {
                    ca_label = Some(item.rest.clone());
                    Some(())
                }
                _ => {
                    self.unknown_parameter(statement, item);
                    None
                }
            };
            ok &= read.is_some();
        }
        if !ok {
            return None;
        }
        let identity = identity.or_else(|| self.missing(node, statement, "Identity"))?;
        Some(SecurityEndpoint {
            name: name.map(str::to_owned),
            identity,
            location,
            ca_label,
        })
    }

    fn key_exchange_action(
        &mut self,
        node: &'a Node,
        name: Option<&'a str>,
    ) -> Option<KeyExchangeAction> {
        const S: &str = "KeyExchangeAction";
        let mut action = KeyExchangeAction {
            name: name.map_or_else(|| format!("KeyExchangeAction@{}", node.line), str::to_owned),
            initiate: HowToInitiate::Main,
            respond_ikev1: HowToRespond::Either,
            allow_nat: false,
            auth_me: AuthMethod::DigitalSignature,
            reauth_interval_minutes: 0,
            offers: Vec::new(),
        };
        let mut offers: Vec<(&'a Node, Option<&'a str>)> = Vec::new();
        let mut ok = true;
        let mut seen = Vec::new();
        for item in body(node) {
            let key = item.keyword.to_ascii_uppercase();
            let listed = key == "KEYEXCHANGEOFFER" || key == "KEYEXCHANGEOFFERREF";
            if !listed && !self.once(&mut seen, item) {
                ok = false;
                continue;
            }
            let read = match key.as_str() {
                "KEYEXCHANGEOFFER" if item.body.is_some() => {
                    offers.push((item, inline_name(item)));
                    Some(())
                }
                "KEYEXCHANGEOFFERREF" => self
                    .lookup(item, "KeyExchangeOffer")
                    .map(|n| offers.push((n, n.values.first().map(String::as_str)))),
                "HOWTOINITIATE" => choice(
                    item,
                    &[
                        ("Main", HowToInitiate::Main),
                        ("Aggressive", HowToInitiate::Aggressive),
                        ("IKEv2", HowToInitiate::Ikev2),
                        ("DoNot", HowToInitiate::DoNot),
                    ],
                    "Main, Aggressive, IKEv2 or DoNot",
                    self.problems,
                )
                .map(|i| action.initiate = i),
                "HOWTORESPONDIKEV1" | "HOWTORESPOND" => choice(
                    item,
                    &[
                        ("Main", HowToRespond::Main),
                        ("Aggressive", HowToRespond::Aggressive),
                        ("Either", HowToRespond::Either),
                    ],
                    "Main, Aggressive or Either",
                    self.problems,
                )
                .map(|r| action.respond_ikev1 = r),
                "ALLOWNAT" => choice(
                    item,
                    &[("Yes", true), ("No", false)],
                    "Yes or No",
                    self.problems,
                )
                .map(|a| action.allow_nat = a),
                "HOWTOAUTHME" => auth_method(item, self.problems).map(|m| action.auth_me = m),
                "REAUTHINTERVAL" => number(item, 0, 0, 65535, "minutes 0-65535", self.problems)
                    .map(|m| action.reauth_interval_minutes = m),
                _ => {
                    self.unknown_parameter(S, item);
                    None
                }
            };
            ok &= read.is_some();
        }
        if ok && offers.is_empty() {
            return self.missing(node, S, "KeyExchangeOffer or KeyExchangeOfferRef");
        }
        for (offer, offer_name) in offers {
            match self.key_exchange_offer_for(offer, offer_name, action.auth_me) {
                Some(o) => action.offers.push(o),
                None => ok = false,
            }
        }
        ok.then_some(action)
    }

    fn key_exchange_offer(
        &mut self,
        node: &'a Node,
        name: Option<&'a str>,
    ) -> Option<KeyExchangeOffer> {
        self.key_exchange_offer_for(node, name, AuthMethod::PresharedKey)
    }

    /// A KeyExchangeOffer whose HowToAuthPeers defaults to the action's HowToAuthMe.
    fn key_exchange_offer_for(
        &mut self,
        node: &'a Node,
        name: Option<&'a str>,
        auth_me: AuthMethod,
    ) -> Option<KeyExchangeOffer> {
        const S: &str = "KeyExchangeOffer";
        let mut encryption = Encryption::AesCbc(AesKeySize::Aes128);
        let mut integrity: Option<Integrity> = None;
        let mut prf: Option<Prf> = None;
        let mut dh: Option<DhGroup> = None;
        let mut auth_peers = auth_me;
        let mut refresh = Refresh::new(IKE_LIFETIME_MINUTES);
        let mut ok = true;
        let mut seen = Vec::new();
        for item in body(node) {
            if !self.once(&mut seen, item) {
                ok = false;
                continue;
            }
            let read = match item.keyword.to_ascii_uppercase().as_str() {
                "HOWTOENCRYPT" => how_to_encrypt(item, self.problems).map(|e| encryption = e),
                "HOWTOAUTHMSGS" => auth_msgs(item, self.problems).map(|i| integrity = Some(i)),
                "PSEUDORANDOMFUNCTION" => pseudo_random(item, self.problems).map(|p| prf = Some(p)),
                "DHGROUP" => dh_group(item, self.problems).map(|g| dh = Some(g)),
                "HOWTOAUTHPEERS" => auth_method(item, self.problems).map(|m| auth_peers = m),
                key => match self.refresh(item, key, &mut refresh) {
                    Some(read) => read,
                    None => {
                        self.unknown_parameter(S, item);
                        None
                    }
                },
            };
            ok &= read.is_some();
        }
        if !ok {
            return None;
        }
        let prf = prf.or_else(|| integrity.map(prf_of)).or_else(|| {
            self.missing(
                node,
                S,
                "PseudoRandomFunction (no HowToAuthMsgs to derive it from)",
            )
        });
        let dh = dh.or_else(|| self.missing(node, S, "DHGroup"));
        let suite = IkeSuite::new(encryption, integrity, prf?, dh?)
            .map_err(|e| self.problems.push(node.line, ProblemKind::Crypto(e)))
            .ok()?;
        Some(KeyExchangeOffer {
            name: name.map(str::to_owned),
            suite,
            auth_peers,
            refresh,
        })
    }
}

/// Which side of a filter rule an address parameter sets.
enum Side {
    Source(Option<AddrSpec>),
    Destination(Option<AddrSpec>),
}

impl Refresh {
    fn new(lifetime_minutes: u32) -> Self {
        Self {
            lifetime_minutes,
            lifetime_accepted: None,
            lifesize_kb: None,
            lifesize_accepted: None,
        }
    }
}

/// The name an inline statement was given, if any.
fn inline_name(node: &Node) -> Option<&str> {
    node.values.first().map(String::as_str)
}

/// The body of a statement block (empty for a parameter).
fn body(node: &Node) -> &[Node] {
    node.body.as_deref().unwrap_or_default()
}

fn protocol(item: &Node, problems: &mut Problems) -> Option<Protocol> {
    const EXPECTED: &str = "All, TCP, UDP, ICMP or a protocol number";
    let [word] = item.values.as_slice() else {
        return problems.invalid(item, EXPECTED);
    };
    let named = [
        ("All", Protocol::All),
        ("TCP", Protocol::Tcp),
        ("UDP", Protocol::Udp),
        ("ICMP", Protocol::Icmp),
    ];
    if let Some(&(_, p)) = named.iter().find(|(n, _)| n.eq_ignore_ascii_case(word)) {
        return Some(p);
    }
    number(item, 0, 0u8, 255, EXPECTED, problems).map(|n| match n {
        6 => Protocol::Tcp,
        17 => Protocol::Udp,
        1 => Protocol::Icmp,
        n => Protocol::Number(n),
    })
}

fn direction(item: &Node, problems: &mut Problems) -> Option<(Direction, Option<Connect>)> {
    const EXPECTED: &str = "Bidirectional, Inbound or Outbound [InboundConnect|OutboundConnect]";
    let words: Vec<String> = item.values.iter().map(|w| w.to_ascii_uppercase()).collect();
    let direction = match words.first().map(String::as_str) {
        Some("BIDIRECTIONAL") => Direction::Bidirectional,
        Some("INBOUND") => Direction::Inbound,
        Some("OUTBOUND") => Direction::Outbound,
        _ => return problems.invalid(item, EXPECTED),
    };
    let connect = match words.get(1).map(String::as_str) {
        None => None,
        Some("INBOUNDCONNECT") => Some(Connect::Inbound),
        Some("OUTBOUNDCONNECT") => Some(Connect::Outbound),
        Some(_) => return problems.invalid(item, EXPECTED),
    };
    if words.len() > 2 {
        return problems.invalid(item, EXPECTED);
    }
    Some((direction, connect))
}

/// HowToEncrypt: `AES_CBC|AES_GCM_16 [KeyLength 128|256]` or `AES`.
fn how_to_encrypt(item: &Node, problems: &mut Problems) -> Option<Encryption> {
    const SUPPORTED: &str = "AES_CBC or AES_GCM_16 with KeyLength 128 or 256";
    let words: Vec<String> = item.values.iter().map(|w| w.to_ascii_uppercase()).collect();
    let size = match words.get(1..).unwrap_or_default() {
        [] => AesKeySize::Aes128,
        [k, bits] if k == "KEYLENGTH" && bits == "128" => AesKeySize::Aes128,
        [k, bits] if k == "KEYLENGTH" && bits == "256" => AesKeySize::Aes256,
        _ => return problems.invalid(item, SUPPORTED),
    };
    match words.first().map(String::as_str) {
        Some("AES") if words.len() == 1 => Some(Encryption::AesCbc(AesKeySize::Aes128)),
        Some("AES_CBC") => Some(Encryption::AesCbc(size)),
        Some("AES_GCM_16") => Some(Encryption::AesGcm16(size)),
        Some("DES" | "3DES" | "DONOT" | "NULL" | "AES_GMAC_16") => {
            problems.unsupported(item, SUPPORTED)
        }
        _ => problems.invalid(item, SUPPORTED),
    }
}

/// HowToAuth of an IpDataOffer: `ESP [algorithm]`; `Some(None)` is no integrity (AEAD).
fn esp_integrity(item: &Node, problems: &mut Problems) -> Option<Option<Integrity>> {
    const SUPPORTED: &str = "ESP HMAC_SHA2_256_128, HMAC_SHA2_384_192 or HMAC_SHA2_512_256";
    let words: Vec<String> = item.values.iter().map(|w| w.to_ascii_uppercase()).collect();
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["ESP"] => Some(None),
        ["ESP", "HMAC_SHA2_256_128"] => Some(Some(Integrity::HmacSha2_256_128)),
        ["ESP", "HMAC_SHA2_384_192"] => Some(Some(Integrity::HmacSha2_384_192)),
        ["ESP", "HMAC_SHA2_512_256"] => Some(Some(Integrity::HmacSha2_512_256)),
        ["AH", ..]
        | [
            "ESP",
            "HMAC_MD5" | "HMAC_SHA1" | "AES128_XCBC_96" | "AES_GMAC_128" | "AES_GMAC_256",
        ] => problems.unsupported(item, SUPPORTED),
        _ => problems.invalid(item, SUPPORTED),
    }
}

/// HowToAuthMsgs of a KeyExchangeOffer.
fn auth_msgs(item: &Node, problems: &mut Problems) -> Option<Integrity> {
    const SUPPORTED: &str = "SHA2_256, SHA2_384 or SHA2_512";
    let [word] = item.values.as_slice() else {
        return problems.invalid(item, SUPPORTED);
    };
    match word.to_ascii_uppercase().as_str() {
        "SHA2_256" | "SHA2_256_128" => Some(Integrity::HmacSha2_256_128),
        "SHA2_384" | "SHA2_384_192" => Some(Integrity::HmacSha2_384_192),
        "SHA2_512" | "SHA2_512_256" => Some(Integrity::HmacSha2_512_256),
        "MD5" | "SHA1" | "AES128_XCBC_96" => problems.unsupported(item, SUPPORTED),
        _ => problems.invalid(item, SUPPORTED),
    }
}

/// The PRF that goes with an integrity algorithm's hash.
fn prf_of(integrity: Integrity) -> Prf {
    match integrity {
        Integrity::HmacSha2_256_128 => Prf::HmacSha2_256,
        Integrity::HmacSha2_384_192 => Prf::HmacSha2_384,
        Integrity::HmacSha2_512_256 => Prf::HmacSha2_512,
        Integrity::HmacSha1_96 => Prf::HmacSha1,
    }
}

fn pseudo_random(item: &Node, problems: &mut Problems) -> Option<Prf> {
    const SUPPORTED: &str = "HMAC_SHA2_256, HMAC_SHA2_384, HMAC_SHA2_512 or HMAC_SHA1";
    let [word] = item.values.as_slice() else {
        return problems.invalid(item, SUPPORTED);
    };
    match word.to_ascii_uppercase().as_str() {
        "HMAC_SHA2_256" => Some(Prf::HmacSha2_256),
        "HMAC_SHA2_384" => Some(Prf::HmacSha2_384),
        "HMAC_SHA2_512" => Some(Prf::HmacSha2_512),
        "HMAC_SHA1" => Some(Prf::HmacSha1),
        "HMAC_MD5" | "AES128_XCBC" => problems.unsupported(item, SUPPORTED),
        _ => problems.invalid(item, SUPPORTED),
    }
}

/// `GroupN`: a group the crypto layer implements.
fn group(item: &Node, word: &str, problems: &mut Problems) -> Option<DhGroup> {
    let number = word
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("group"))
        .and_then(|_| word.get(5..))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u16>().ok());
    match number {
        Some(n) if crate::crypto::dh::is_supported(DhGroup(n)) => Some(DhGroup(n)),
        Some(_) => problems.unsupported(item, "Group14 or Group31"),
        None => problems.invalid(item, "GroupN"),
    }
}

fn dh_group(item: &Node, problems: &mut Problems) -> Option<DhGroup> {
    match item.values.as_slice() {
        [word] => group(item, word, problems),
        _ => problems.invalid(item, "GroupN"),
    }
}

/// Pfs: `None` or a group.
fn pfs(item: &Node, problems: &mut Problems) -> Option<DhGroup> {
    match item.values.as_slice() {
        [word] if word.eq_ignore_ascii_case("none") => Some(DhGroup::NONE),
        [word] if word.eq_ignore_ascii_case("phaseone") => {
            problems.unsupported(item, "None, Group14 or Group31")
        }
        [word] => group(item, word, problems),
        _ => problems.invalid(item, "None or GroupN"),
    }
}

fn auth_method(item: &Node, problems: &mut Problems) -> Option<AuthMethod> {
    choice(
        item,
        &[
            ("PresharedKey", AuthMethod::PresharedKey),
            ("RsaSignature", AuthMethod::RsaSignature),
            ("ECDSA-256", AuthMethod::Ecdsa256),
            ("ECDSA-384", AuthMethod::Ecdsa384),
            ("ECDSA-521", AuthMethod::Ecdsa521),
            ("DigitalSignature", AuthMethod::DigitalSignature),
        ],
        "PresharedKey, RsaSignature, ECDSA-256, ECDSA-384, ECDSA-521 or DigitalSignature",
        problems,
    )
}

/// `Identity IpAddr a | Fqdn n | UserFqdn u | KeyID k | X500dn dn`.
fn identity_value(item: &Node, problems: &mut Problems) -> Option<Identity> {
    const EXPECTED: &str = "IpAddr, Fqdn, UserFqdn, KeyID or X500dn and a value";
    let kind = item.values.first().map(|w| w.to_ascii_uppercase());
    let value = after_first_word(item);
    let single = item.values.get(1).filter(|_| item.values.len() == 2);
    let identity = match (kind.as_deref(), single) {
        (Some("IPADDR"), Some(word)) => word.parse().ok().map(Identity::IpAddr),
        (Some("FQDN"), Some(word)) => Some(Identity::Fqdn(word.clone())),
        (Some("USERFQDN"), Some(word)) if word.contains('@') => {
            Some(Identity::UserFqdn(word.clone()))
        }
        (Some("KEYID"), Some(word)) => Some(Identity::KeyId(word.as_bytes().to_vec())),
        (Some("X500DN"), _) if !value.is_empty() => Some(Identity::X500Dn(value.to_owned())),
        _ => None,
    };
    identity.or_else(|| problems.invalid(item, EXPECTED))
}

/// `SharedKey Ascii text | Hex digits`.
fn shared(item: &Node, problems: &mut Problems) -> Option<SharedKey> {
    const EXPECTED: &str = "Ascii text or Hex digits";
    let value = after_first_word(item);
    let kind = item.values.first().map(|w| w.to_ascii_uppercase());
    let bytes = match kind.as_deref() {
        Some("ASCII") if !value.is_empty() => Some(value.as_bytes().to_vec()),
        Some("HEX") => hex(value.trim_start_matches("0x").trim_start_matches("0X")),
        Some("EBCDIC") => return problems.unsupported(item, "Ascii or Hex"),
        _ => None,
    };
    bytes
        .map(SharedKey)
        .or_else(|| problems.invalid(item, EXPECTED))
}

/// Pairs of hex digits.
fn hex(digits: &str) -> Option<Vec<u8>> {
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect()
}
