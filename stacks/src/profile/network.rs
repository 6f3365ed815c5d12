//! IPCONFIG, GLOBALCONFIG, HOME and INTERFACE: the stack's own addresses and sysplex options.

use std::net::Ipv4Addr;

use super::cursor::Operands;
use super::message::{Action, Message, MessageKind};
use super::model::{
    DynamicXcf, GlobalConfig, HomeEntry, Interface, IpConfig, PortBlock, SysplexMonitor,
};

/// Applies one IPCONFIG statement on top of `current`.
pub(crate) fn ipconfig(ops: &mut Operands<'_>, current: &IpConfig) -> Result<IpConfig, Message> {
    let mut config = current.clone();
    let mut toggles = Toggles::new("IPCONFIG");
    while let Some(token) = ops.next() {
        match token.upper.as_str() {
            "SYSPLEXROUTING" => {
                config.sysplex_routing = toggles.on("SYSPLEXROUTING", token.line)?
            }
            "NOSYSPLEXROUTING" => {
                config.sysplex_routing = toggles.off("SYSPLEXROUTING", token.line)?;
            }
            "SOURCEVIPA" => config.source_vipa = toggles.on("SOURCEVIPA", token.line)?,
            "NOSOURCEVIPA" => config.source_vipa = toggles.off("SOURCEVIPA", token.line)?,
            "IPSECURITY" => config.ipsecurity = true,
            "NODYNAMICXCF" => config.dynamic_xcf = None,
            "DYNAMICXCF" => config.dynamic_xcf = Some(dynamic_xcf(ops)?),
            _ => config.other.push(token.text.clone()),
        }
    }
    Ok(config)
}

/// `address mask cost` or `address/len cost`.
fn dynamic_xcf(ops: &mut Operands<'_>) -> Result<DynamicXcf, Message> {
    let (address, prefix_len) = if ops.peek().is_some_and(|t| t.text.contains('/')) {
        ops.ipv4_prefix()?
    } else {
        let address = ops.ipv4()?;
        (address, ops.mask()?)
    };
    let cost = ops.number(1, 254)?;
    Ok(DynamicXcf {
        address,
        prefix_len,
        cost,
    })
}

/// Applies one GLOBALCONFIG statement on top of `current`.
pub(crate) fn globalconfig(
    ops: &mut Operands<'_>,
    current: &GlobalConfig,
) -> Result<GlobalConfig, Message> {
    let mut config = current.clone();
    while let Some(token) = ops.next() {
        match token.upper.as_str() {
            "XCFGRPID" => config.xcf_group_id = Some(ops.number(2, 31)?),
            "SYSPLEXWLMPOLL" => config.sysplex_wlm_poll = Some(ops.number(1, 180)?),
            "EXPLICITBINDPORTRANGE" => {
                let first = ops.number(1024, 65535)?;
                let count = ops.number(1, 63488)?;
                config.explicit_bind_port_range = Some(PortBlock { first, count });
            }
            "SYSPLEXMONITOR" => sysplex_monitor(ops, &mut config.sysplex_monitor)?,
            _ => config.other.push(token.text.clone()),
        }
    }
    Ok(config)
}

/// The SYSPLEXMONITOR sub-options, up to the first operand that is not one.
fn sysplex_monitor(ops: &mut Operands<'_>, monitor: &mut SysplexMonitor) -> Result<(), Message> {
    let mut toggles = Toggles::new("SYSPLEXMONITOR");
    loop {
        let Some(token) = ops.peek() else {
            return Ok(());
        };
        let line = token.line;
        match token.upper.as_str() {
            "RECOVERY" => monitor.recovery = toggles.on("RECOVERY", line)?,
            "NORECOVERY" => monitor.recovery = toggles.off("RECOVERY", line)?,
            "DELAYJOIN" => monitor.delay_join = toggles.on("DELAYJOIN", line)?,
            "NODELAYJOIN" => monitor.delay_join = toggles.off("DELAYJOIN", line)?,
            "AUTOREJOIN" => monitor.auto_rejoin = toggles.on("AUTOREJOIN", line)?,
            "NOAUTOREJOIN" => monitor.auto_rejoin = toggles.off("AUTOREJOIN", line)?,
            "MONINTERFACE" => monitor.mon_interface = toggles.on("MONINTERFACE", line)?,
            "NOMONINTERFACE" => monitor.mon_interface = toggles.off("MONINTERFACE", line)?,
            "DYNROUTE" => monitor.dyn_route = toggles.on("DYNROUTE", line)?,
            "NODYNROUTE" => monitor.dyn_route = toggles.off("DYNROUTE", line)?,
            "TIMERSECS" => {
                ops.next();
                monitor.timer_secs = ops.number(10, 3600)?;
                continue;
            }
            _ => return Ok(()),
        }
        ops.next();
    }
}

/// The entries of one HOME statement: `address link` pairs.
pub(crate) fn home(ops: &mut Operands<'_>) -> Result<Vec<HomeEntry>, Message> {
    let mut entries = Vec::new();
    while !ops.is_empty() {
        let line = ops.peek().map_or(ops.line(), |t| t.line);
        let address = ops.ipv4()?;
        if address == Ipv4Addr::LOCALHOST {
            return Err(Message::new(
                MessageKind::LoopbackInHome,
                line,
                Action::StatementRejected,
            ));
        }
        let link = ops.token()?.text.clone();
        entries.push(HomeEntry {
            address,
            link,
            line,
        });
    }
    if entries.is_empty() {
        return Err(ops.syntax_error());
    }
    Ok(entries)
}

/// `INTERFACE name DEFINE type [PORTNAME p] [IPADDR a[/len]] ...`.
pub(crate) fn interface(ops: &mut Operands<'_>, line: u32) -> Result<Interface, Message> {
    let name = ops.token()?.text.clone();
    ops.keyword("DEFINE")?;
    let kind = ops.token()?.upper.clone();
    let mut interface = Interface {
        name,
        kind,
        port_name: None,
        address: None,
        other: Vec::new(),
        line,
    };
    while let Some(token) = ops.next() {
        match token.upper.as_str() {
            "PORTNAME" => interface.port_name = Some(ops.token()?.text.clone()),
            "IPADDR" => interface.address = Some(ops.ip_prefix()?),
            _ => interface.other.push(token.text.clone()),
        }
    }
    Ok(interface)
}

/// Catches `X` and `NOX` on the same statement (EZZ0707I).
struct Toggles {
    statement: &'static str,
    seen: Vec<(&'static str, bool)>,
}

impl Toggles {
    fn new(statement: &'static str) -> Self {
        Self {
            statement,
            seen: Vec::new(),
        }
    }

    fn on(&mut self, keyword: &'static str, line: u32) -> Result<bool, Message> {
        self.set(keyword, true, line)
    }

    fn off(&mut self, keyword: &'static str, line: u32) -> Result<bool, Message> {
        self.set(keyword, false, line)
    }

    fn set(&mut self, keyword: &'static str, value: bool, line: u32) -> Result<bool, Message> {
        if self.seen.iter().any(|&(k, v)| k == keyword && v != value) {
            return Err(Message::new(
                MessageKind::MutuallyExclusive {
                    first: keyword,
                    second: negated(keyword),
                    statement: self.statement,
                },
                line,
                Action::StatementRejected,
            ));
        }
        self.seen.push((keyword, value));
        Ok(value)
    }
}

/// The `NO` form of a toggle keyword.
fn negated(keyword: &'static str) -> &'static str {
    match keyword {
        "SYSPLEXROUTING" => "NOSYSPLEXROUTING",
        "SOURCEVIPA" => "NOSOURCEVIPA",
        "RECOVERY" => "NORECOVERY",
        "DELAYJOIN" => "NODELAYJOIN",
        "AUTOREJOIN" => "NOAUTOREJOIN",
        "MONINTERFACE" => "NOMONINTERFACE",
        "DYNROUTE" => "NODYNROUTE",
        _ => "NO",
    }
}
