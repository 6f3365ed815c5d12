//! The VIPADYNAMIC block: VIPADEFINE, VIPABACKUP, VIPARANGE, VIPADELETE, VIPADISTRIBUTE and
//! VIPAROUTE. A syntax error ignores the rest of the block, as z/OS does; the HOTSTANDBY
//! role checks reject only their statement.

use std::net::Ipv4Addr;

use super::cursor::{Operands, syntax_error_at};
use super::lexer::Token;
use super::message::{Action, Message, MessageKind};
use super::model::{
    Change, Destinations, DistMethod, GenericStatement, Moveable, PortRange, ProcWeights,
    RangeMoveable, ServerType, Target, Tier, VipaBackup, VipaDefine, VipaDefine6, VipaDelete,
    VipaDistribute, VipaDynamic, VipaRange, VipaRoute,
};

/// The statements a VIPADYNAMIC block may hold.
const STATEMENTS: &[&str] = &[
    "VIPADEFINE",
    "VIPABACKUP",
    "VIPARANGE",
    "VIPADELETE",
    "VIPADISTRIBUTE",
    "VIPAROUTE",
    "VIPASMPARMS",
];

/// The most BACKUP targets one HOTSTANDBY VIPADISTRIBUTE may list.
const MAX_HOTSTANDBY_BACKUPS: usize = 31;

/// Parses the block body `tokens` (between VIPADYNAMIC and ENDVIPADYNAMIC) into `vipa`,
/// appending messages.
pub(crate) fn block(tokens: &[Token], file: &str, vipa: &mut VipaDynamic, out: &mut Vec<Message>) {
    let mut start = 0;
    while let Some(keyword) = tokens.get(start) {
        if !STATEMENTS.contains(&keyword.upper.as_str()) {
            let mut message = syntax_error_at(file, keyword);
            message.action = Action::RestOfBlockIgnored;
            out.push(message);
            return;
        }
        let end = tokens
            .iter()
            .skip(start + 1)
            .position(|t| STATEMENTS.contains(&t.upper.as_str()))
            .map_or(tokens.len(), |offset| start + 1 + offset);
        let operands = tokens.get(start + 1..end).unwrap_or_default();
        let mut ops = Operands::new(keyword, operands, file);
        if let Err(mut message) = statement(keyword, &mut ops, vipa, out) {
            if matches!(message.kind, MessageKind::SyntaxError { .. }) {
                message.action = Action::RestOfBlockIgnored;
            }
            let stop = message.action == Action::RestOfBlockIgnored;
            out.push(message);
            if stop {
                return;
            }
        }
        start = end;
    }
}

/// Parses one statement into `vipa`.
fn statement(
    keyword: &Token,
    ops: &mut Operands<'_>,
    vipa: &mut VipaDynamic,
    out: &mut Vec<Message>,
) -> Result<(), Message> {
    let line = keyword.line;
    match keyword.upper.as_str() {
        "VIPADEFINE" => match define(ops, line)? {
            Define::V4(define) => vipa.defines.push(define),
            Define::V6(define) => vipa.defines6.push(define),
        },
        "VIPABACKUP" => vipa.backups.push(backup(ops, line)?),
        "VIPARANGE" => vipa.ranges.push(range(ops, line)?),
        "VIPADELETE" => {
            let address = not_loopback(ops.ipv4()?, "VIPADELETE", line)?;
            ops.finish()?;
            vipa.deletes.push(VipaDelete { line, address });
        }
        "VIPADISTRIBUTE" => vipa.distributes.push(distribute(ops, line, out)?),
        "VIPAROUTE" => vipa.routes.push(route(ops, line)?),
        _ => vipa.other.push(GenericStatement {
            keyword: keyword.upper.clone(),
            line,
            operands: ops.rest(),
        }),
    }
    Ok(())
}

/// EZZ0638I for the permanent loopback address.
fn not_loopback(
    address: Ipv4Addr,
    statement: &'static str,
    line: u32,
) -> Result<Ipv4Addr, Message> {
    if address == Ipv4Addr::LOCALHOST {
        Err(Message::new(
            MessageKind::LoopbackInVipa { statement },
            line,
            Action::StatementRejected,
        ))
    } else {
        Ok(address)
    }
}

/// One or more addresses up to the end of the statement.
fn address_list(
    ops: &mut Operands<'_>,
    statement: &'static str,
    line: u32,
) -> Result<Vec<Ipv4Addr>, Message> {
    let mut addresses = vec![not_loopback(ops.ipv4()?, statement, line)?];
    while !ops.is_empty() {
        addresses.push(not_loopback(ops.ipv4()?, statement, line)?);
    }
    Ok(addresses)
}

/// `IMMEDIATE|IMMED|WHENIDLE` after MOVEABLE.
fn moveable(ops: &mut Operands<'_>) -> Result<Moveable, Message> {
    if ops.eat("IMMEDIATE") || ops.eat("IMMED") {
        Ok(Moveable::Immediate)
    } else if ops.eat("WHENIDLE") {
        Ok(Moveable::WhenIdle)
    } else {
        Err(ops.syntax_error())
    }
}

/// An IPv4 or an IPv6 VIPADEFINE.
enum Define {
    V4(VipaDefine),
    V6(VipaDefine6),
}

fn define(ops: &mut Operands<'_>, line: u32) -> Result<Define, Message> {
    let mut define = VipaDefine {
        line,
        moveable: Moveable::Immediate,
        service_mgr: false,
        tier: None,
        cpc_scope: false,
        prefix_len: 32,
        addresses: Vec::new(),
    };
    loop {
        if ops.eat("TIER1") {
            define.tier = Some(Tier::Tier1);
        } else if ops.eat("TIER2") {
            define.tier = Some(Tier::Tier2);
        } else if ops.eat("CPCSCOPE") {
            define.cpc_scope = true;
        } else if ops.eat("MOVEABLE") {
            define.moveable = moveable(ops)?;
        } else if ops.eat("SERVICEMGR") {
            define.service_mgr = true;
        } else {
            break;
        }
    }
    if !ops.peek_mask() && ops.second_is_ipv6() {
        if define.moveable == Moveable::WhenIdle || define.tier.is_some() || define.cpc_scope {
            // IPv6 DVIPAs move only IMMEDIATE and have no tiers: stop at the address.
            return Err(ops.syntax_error());
        }
        let interface = ops.token()?.text.clone();
        let address = ops.ipv6()?;
        ops.finish()?;
        return Ok(Define::V6(VipaDefine6 {
            line,
            service_mgr: define.service_mgr,
            interface,
            address,
        }));
    }
    define.prefix_len = ops.mask()?;
    define.addresses = address_list(ops, "VIPADEFINE", line)?;
    Ok(Define::V4(define))
}

fn backup(ops: &mut Operands<'_>, line: u32) -> Result<VipaBackup, Message> {
    let rank = if ops.peek_number() {
        ops.number(1, 254)?
    } else {
        1
    };
    let moveable = if ops.eat("MOVEABLE") {
        Some(moveable(ops)?)
    } else {
        None
    };
    let service_mgr = ops.eat("SERVICEMGR");
    // MOVEABLE needs a mask; a plain backup may carry one.
    let prefix_len = if moveable.is_some() || ops.peek_mask() {
        Some(ops.mask()?)
    } else {
        None
    };
    let addresses = address_list(ops, "VIPABACKUP", line)?;
    Ok(VipaBackup {
        line,
        rank,
        moveable,
        service_mgr,
        prefix_len,
        addresses,
    })
}

fn change(ops: &mut Operands<'_>) -> Change {
    if ops.eat("DELETE") {
        Change::Delete
    } else {
        ops.eat("DEFINE");
        Change::Define
    }
}

fn range(ops: &mut Operands<'_>, line: u32) -> Result<VipaRange, Message> {
    let change = change(ops);
    let moveable = if ops.eat("MOVEABLE") {
        if ops.eat("NONDISRUPTIVE") {
            RangeMoveable::NonDisruptive
        } else if ops.eat("DISRUPTIVE") {
            RangeMoveable::Disruptive
        } else {
            return Err(ops.syntax_error());
        }
    } else {
        RangeMoveable::NonDisruptive
    };
    let prefix_len = ops.mask()?;
    let address = not_loopback(ops.ipv4()?, "VIPARANGE", line)?;
    let saf = if ops.eat("SAF") {
        Some(ops.token()?.text.clone())
    } else {
        None
    };
    ops.finish()?;
    Ok(VipaRange {
        line,
        change,
        moveable,
        prefix_len,
        address,
        saf,
    })
}

fn route(ops: &mut Operands<'_>, line: u32) -> Result<VipaRoute, Message> {
    let change = if ops.eat("DEFINE") {
        Change::Define
    } else if ops.eat("DELETE") {
        Change::Delete
    } else {
        return Err(ops.syntax_error());
    };
    let xcf = ops.ipv4()?;
    let target = ops.ipv4()?;
    ops.finish()?;
    Ok(VipaRoute {
        line,
        change,
        xcf,
        target,
    })
}

/// A keyword that needs DISTMETHOD HOTSTANDBY, with its line, for EZZ0831I.
struct HotStandbyKeyword {
    keyword: String,
    line: u32,
}

fn distribute(
    ops: &mut Operands<'_>,
    line: u32,
    out: &mut Vec<Message>,
) -> Result<VipaDistribute, Message> {
    let change = change(ops);
    let mut sysplex_ports = false;
    let mut timed_affinity = None;
    let mut opt_local = None;
    let mut method = DistMethod::BaseWlm { proc_type: None };
    let mut switches: Vec<HotStandbyKeyword> = Vec::new();
    let mut auto_switch_back = true;
    let mut health_switch = true;
    while !ops.peek_ipv4() {
        let token = ops.token()?;
        match token.upper.as_str() {
            "SYSPLEXPORTS" => sysplex_ports = true,
            "TIMEDAFFINITY" => timed_affinity = Some(ops.number(1, 99_999)?),
            "OPTLOCAL" => {
                opt_local = Some(if ops.peek_number() {
                    ops.number(0, 16)?
                } else {
                    1
                });
            }
            "DISTMETHOD" => method = dist_method(ops)?,
            "AUTOSWITCHBACK" | "NOAUTOSWITCHBACK" => {
                auto_switch_back = token.upper == "AUTOSWITCHBACK";
                switches.push(HotStandbyKeyword {
                    keyword: token.upper.clone(),
                    line: token.line,
                });
            }
            "HEALTHSWITCH" | "NOHEALTHSWITCH" => {
                health_switch = token.upper == "HEALTHSWITCH";
                switches.push(HotStandbyKeyword {
                    keyword: token.upper.clone(),
                    line: token.line,
                });
            }
            _ => return Err(syntax_error_at_token(ops, token)),
        }
    }
    if let DistMethod::HotStandby { .. } = method {
        method = DistMethod::HotStandby {
            auto_switch_back,
            health_switch,
        };
    }
    let address = not_loopback(ops.ipv4()?, "VIPADISTRIBUTE", line)?;
    let ports = if ops.eat("PORT") {
        port_list(ops)?
    } else {
        Vec::new()
    };
    let destip_line = ops.peek().map_or(line, |t| t.line);
    ops.keyword("DESTIP")?;
    let destinations = if ops.eat("ALL") {
        ops.finish()?;
        Destinations::All
    } else {
        Destinations::Listed(targets(ops, line, &mut switches)?)
    };
    let mut distribute = VipaDistribute {
        line,
        change,
        sysplex_ports,
        timed_affinity,
        opt_local,
        method,
        address,
        ports,
        destinations,
    };
    check_roles(&mut distribute, &switches, destip_line, out)?;
    Ok(distribute)
}

/// EZZ0401I at a token already consumed.
fn syntax_error_at_token(ops: &Operands<'_>, token: &Token) -> Message {
    syntax_error_at(ops.file(), token)
}

fn dist_method(ops: &mut Operands<'_>) -> Result<DistMethod, Message> {
    let token = ops.token()?;
    match token.upper.as_str() {
        "BASEWLM" => {
            let proc_type = if ops.eat("PROCTYPE") {
                ops.keyword("CP")?;
                let cp = ops.number(0, 99)?;
                ops.keyword("ZAAP")?;
                let zaap = ops.number(0, 99)?;
                ops.keyword("ZIIP")?;
                let ziip = ops.number(0, 99)?;
                Some(ProcWeights { cp, zaap, ziip })
            } else {
                None
            };
            Ok(DistMethod::BaseWlm { proc_type })
        }
        "ROUNDROBIN" => Ok(DistMethod::RoundRobin),
        "SERVERWLM" => {
            let mut proc_x_cost = None;
            let mut il_weighting = None;
            loop {
                if ops.eat("PROCXCOST") {
                    ops.keyword("ZAAP")?;
                    let zaap = ops.number(1, 99)?;
                    ops.keyword("ZIIP")?;
                    let ziip = ops.number(1, 99)?;
                    proc_x_cost = Some(ProcWeights { cp: 0, zaap, ziip });
                } else if ops.eat("ILWEIGHTING") {
                    il_weighting = Some(ops.number(0, 3)?);
                } else {
                    break;
                }
            }
            Ok(DistMethod::ServerWlm {
                proc_x_cost,
                il_weighting,
            })
        }
        "WEIGHTEDACTIVE" => Ok(DistMethod::WeightedActive),
        "HOTSTANDBY" => Ok(DistMethod::HotStandby {
            auto_switch_back: true,
            health_switch: true,
        }),
        _ => Err(syntax_error_at_token(ops, token)),
    }
}

/// `n` or `n-m` entries up to DESTIP.
fn port_list(ops: &mut Operands<'_>) -> Result<Vec<PortRange>, Message> {
    let mut ports = Vec::new();
    while !ops.peek_is("DESTIP") {
        let token = ops.token()?;
        let range = match token.text.split_once('-') {
            Some((first, last)) => port(first).zip(port(last)),
            None => port(&token.text).map(|p| (p, p)),
        };
        match range {
            Some((first, last)) if first <= last => ports.push(PortRange { first, last }),
            _ => return Err(syntax_error_at_token(ops, token)),
        }
    }
    if ports.is_empty() {
        return Err(ops.syntax_error());
    }
    Ok(ports)
}

/// A port number 1..=65535.
fn port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|p| *p != 0)
}

/// `xcf [WEIGHT w | PREFERRED | BACKUP rank] ...`.
fn targets(
    ops: &mut Operands<'_>,
    line: u32,
    switches: &mut Vec<HotStandbyKeyword>,
) -> Result<Vec<Target>, Message> {
    let mut targets = Vec::new();
    loop {
        let xcf = not_loopback(ops.ipv4()?, "VIPADISTRIBUTE", line)?;
        let mut target = Target {
            xcf,
            weight: None,
            server_type: None,
        };
        if ops.eat("WEIGHT") {
            target.weight = Some(ops.number(1, 100)?);
        } else if let Some(token) = ops.peek().filter(|t| t.upper == "PREFERRED") {
            switches.push(HotStandbyKeyword {
                keyword: token.upper.clone(),
                line: token.line,
            });
            ops.next();
            target.server_type = Some(ServerType::Preferred);
        } else if let Some(token) = ops.peek().filter(|t| t.upper == "BACKUP") {
            switches.push(HotStandbyKeyword {
                keyword: token.upper.clone(),
                line: token.line,
            });
            ops.next();
            target.server_type = Some(ServerType::Backup(ops.number(1, 254)?));
        }
        targets.push(target);
        if ops.is_empty() {
            return Ok(targets);
        }
    }
}

/// The DISTMETHOD-dependent checks: EZZ0831I, EZZ0165I, EZZ0826I/0827I/0829I, EZZ0799I.
fn check_roles(
    distribute: &mut VipaDistribute,
    switches: &[HotStandbyKeyword],
    destip_line: u32,
    out: &mut Vec<Message>,
) -> Result<(), Message> {
    let hot_standby = matches!(distribute.method, DistMethod::HotStandby { .. });
    if let Some(first) = switches.first().filter(|_| !hot_standby) {
        return Err(Message::new(
            MessageKind::KeywordNeedsHotStandby {
                keyword: first.keyword.clone(),
            },
            first.line,
            Action::RestOfBlockIgnored,
        ));
    }
    let rejected = |kind| {
        Err(Message::new(
            kind,
            distribute.line,
            Action::StatementRejected,
        ))
    };
    if hot_standby && distribute.change == Change::Define {
        let Destinations::Listed(targets) = &distribute.destinations else {
            return Err(Message::new(
                MessageKind::DestIpAllWithHotStandby,
                destip_line,
                Action::StatementRejected,
            ));
        };
        let preferred = targets
            .iter()
            .filter(|t| t.server_type == Some(ServerType::Preferred))
            .count();
        let backups = targets
            .iter()
            .filter(|t| matches!(t.server_type, Some(ServerType::Backup(_))))
            .count();
        let without_role = targets.iter().any(|t| t.server_type.is_none());
        if preferred == 0 && backups == 0 {
            return rejected(MessageKind::HotStandbyRolesMissing);
        }
        if preferred != 1 || backups == 0 || without_role {
            return rejected(MessageKind::HotStandbyRolesInvalid);
        }
        if backups > MAX_HOTSTANDBY_BACKUPS {
            return rejected(MessageKind::HotStandbyTooManyBackups);
        }
    }
    let weighted_active = distribute.method == DistMethod::WeightedActive;
    if let Destinations::Listed(targets) = &mut distribute.destinations
        && !weighted_active
        && targets.iter().any(|t| t.weight.is_some())
    {
        out.push(Message::new(
            MessageKind::WeightIgnored,
            distribute.line,
            Action::Warning,
        ));
        for target in targets.iter_mut() {
            target.weight = None;
        }
    }
    Ok(())
}
