//! The IPSEC block: DVIPSEC and the default IP filter rules (IPSECRULE). An error rejects
//! that rule; the block goes on.

use super::cursor::{Operands, split_prefix, syntax_error_at};
use super::lexer::Token;
use super::message::Message;
use super::model::{AddrMatch, GenericStatement, IpSec, IpSecRule, Routing, RuleProtocol};

/// The rule statements an IPSEC block may hold.
const RULES: &[&str] = &["IPSECRULE", "IPSEC6RULE", "IPSECICMPRULE"];

/// Parses an IPSEC block: `keyword` is IPSEC, `tokens` the body up to ENDIPSEC.
pub(crate) fn block(
    keyword: &Token,
    tokens: &[Token],
    file: &str,
    out: &mut Vec<Message>,
) -> IpSec {
    let mut ipsec = IpSec {
        line: keyword.line,
        ..IpSec::default()
    };
    let first_rule = tokens
        .iter()
        .position(|t| RULES.contains(&t.upper.as_str()))
        .unwrap_or(tokens.len());
    let mut options = Operands::new(keyword, tokens.get(..first_rule).unwrap_or_default(), file);
    if let Err(message) = block_options(&mut options, &mut ipsec) {
        out.push(message);
    }
    let mut start = first_rule;
    while let Some(rule_keyword) = tokens.get(start) {
        let end = tokens
            .iter()
            .skip(start + 1)
            .position(|t| RULES.contains(&t.upper.as_str()))
            .map_or(tokens.len(), |offset| start + 1 + offset);
        let operands = tokens.get(start + 1..end).unwrap_or_default();
        let mut ops = Operands::new(rule_keyword, operands, file);
        if rule_keyword.upper == "IPSECRULE" {
            match rule(&mut ops, rule_keyword.line) {
                Ok(rule) => ipsec.rules.push(rule),
                Err(message) => out.push(message),
            }
        } else {
            ipsec.other.push(GenericStatement {
                keyword: rule_keyword.upper.clone(),
                line: rule_keyword.line,
                operands: ops.rest(),
            });
        }
        start = end;
    }
    ipsec
}

/// `[DVIPSEC [DVLOCALFLTR]] [LOGENABLE|LOGDISABLE] [LOGIMPLICIT|NOLOGIMPLICIT]`.
fn block_options(ops: &mut Operands<'_>, ipsec: &mut IpSec) -> Result<(), Message> {
    while let Some(token) = ops.next() {
        match token.upper.as_str() {
            "DVIPSEC" => {
                ipsec.dvipsec = true;
                ipsec.dv_local_fltr = ops.eat("DVLOCALFLTR");
            }
            "LOGENABLE" => ipsec.log_enable = true,
            "LOGDISABLE" => ipsec.log_enable = false,
            "LOGIMPLICIT" => ipsec.log_implicit = true,
            "NOLOGIMPLICIT" => ipsec.log_implicit = false,
            _ => return Err(syntax_error_at(ops.file(), token)),
        }
    }
    Ok(())
}

/// `src dst [LOG|NOLOG] PROTOCOL p [SRCPORT n|*] [DESTPORT n|*] [ROUTING r]`.
fn rule(ops: &mut Operands<'_>, line: u32) -> Result<IpSecRule, Message> {
    let source = addr_match(ops)?;
    let destination = addr_match(ops)?;
    let log = if ops.eat("NOLOG") {
        false
    } else {
        ops.eat("LOG");
        true
    };
    ops.keyword("PROTOCOL")?;
    let protocol = protocol(ops)?;
    let mut rule = IpSecRule {
        line,
        source,
        destination,
        log,
        protocol,
        source_port: None,
        destination_port: None,
        routing: Routing::Local,
    };
    let ports_allowed = matches!(protocol, RuleProtocol::Tcp | RuleProtocol::Udp);
    loop {
        if ports_allowed && ops.eat("SRCPORT") {
            rule.source_port = port_or_any(ops)?;
        } else if ports_allowed && ops.eat("DESTPORT") {
            rule.destination_port = port_or_any(ops)?;
        } else if ops.eat("ROUTING") {
            rule.routing = if ops.eat("LOCAL") {
                Routing::Local
            } else if ops.eat("ROUTED") {
                Routing::Routed
            } else if ops.eat("EITHER") {
                Routing::Either
            } else {
                return Err(ops.syntax_error());
            };
        } else {
            ops.finish()?;
            return Ok(rule);
        }
    }
}

/// `*`, `a` or `a/len`.
fn addr_match(ops: &mut Operands<'_>) -> Result<AddrMatch, Message> {
    if ops.eat("*") {
        return Ok(AddrMatch::Any);
    }
    if ops.peek().is_some_and(|t| t.text.contains('/')) {
        let parsed = ops
            .peek()
            .and_then(|t| split_prefix(&t.text))
            .ok_or_else(|| ops.syntax_error())?;
        ops.next();
        return Ok(AddrMatch::Prefix(parsed.0, parsed.1));
    }
    Ok(AddrMatch::Prefix(ops.ipv4()?, 32))
}

fn protocol(ops: &mut Operands<'_>) -> Result<RuleProtocol, Message> {
    if ops.peek_number() {
        return Ok(RuleProtocol::Number(ops.number(0, 255)?));
    }
    let token = ops.token()?;
    match token.upper.as_str() {
        "*" => Ok(RuleProtocol::Any),
        "TCP" => Ok(RuleProtocol::Tcp),
        "UDP" => Ok(RuleProtocol::Udp),
        "ICMP" => Ok(RuleProtocol::Icmp),
        "OSPF" => Ok(RuleProtocol::Ospf),
        _ => Err(syntax_error_at(ops.file(), token)),
    }
}

fn port_or_any(ops: &mut Operands<'_>) -> Result<Option<u16>, Message> {
    if ops.eat("*") {
        Ok(None)
    } else {
        Ok(Some(ops.number(1, 65535)?))
    }
}
