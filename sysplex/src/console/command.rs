//! Parsing operator console lines: the z/OS commands a sysplex lab answers, and the few lab
//! actions a script needs.
//!
//! ```text
//! [RO sysname|*ALL,] V TCPIP,tcpname,SYSPLEX,DEACTIVATE|REACTIVATE,DVIPA=a | LEAVEGROUP | JOINGROUP
//! [RO sysname|*ALL,] D TCPIP,tcpname,NETSTAT,HOME|CONN|VIPADCFG|VIPADYN|VDPT|VCRT[,DETAIL]
//! [RO sysname|*ALL,] D TCPIP,tcpname,SYSPLEX,VIPADYN
//! [RO sysname|*ALL,] ipsec -k|-y|-f display [-p tcpname]
//! D XCF,GROUP[,grpname[,ALL]]          D XCF,STR[,STRNAME=name]
//! V XCF,sysname,OFFLINE                (partitions the system out: the lab kills the LPAR)
//! IPL sysname                          (the lab restarts a killed LPAR, as from the HMC)
//! SLEEP ms                             (scripts: let the sysplex settle)
//! * comment
//! ```
//!
//! Lines without `RO` go to the console's own system. `ipsec` is the z/OS UNIX command an
//! operator runs in the LPAR's shell; the lab's console routes it like the others. Errors are values: the z/OS response
//! (IEE305I for a command the console does not know, EZZ0059I for a bad VARY TCPIP).

use std::fmt;

use stacks::dvipa::command::{self as vary, VaryCommand};
use stacks::dvipa::service::Report;

use super::ipsec::IpsecDisplay;

/// Where a command runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The console's own system.
    Local,
    /// `RO sysname,`: one system.
    System(String),
    /// `RO *ALL,`: every active system.
    All,
}

/// A command for the TCP/IP stack of a system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpipCommand {
    /// `V TCPIP,tcpname,SYSPLEX,...`.
    Vary(VaryCommand),
    /// `D TCPIP,tcpname,NETSTAT,report`.
    Netstat(Report),
    /// `D TCPIP,tcpname,SYSPLEX,VIPADYN`.
    SysplexVipadyn,
    /// `ipsec -k|-y|-f display`.
    Ipsec(IpsecDisplay),
}

/// One console line, understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleCommand {
    /// A TCP/IP command to the stack `tcpname` (any stack when omitted) on the routed systems.
    Tcpip {
        /// Which systems.
        route: Route,
        /// The stack's procedure name, if given.
        tcpname: Option<String>,
        /// What to do.
        command: TcpipCommand,
    },
    /// `D XCF,GROUP[,grpname[,ALL]]`.
    XcfGroup {
        /// The group, if given.
        group: Option<String>,
        /// `ALL`: every member with its system and state.
        all: bool,
    },
    /// `D XCF,STR[,STRNAME=name]`.
    XcfStr {
        /// The structure, if given.
        strname: Option<String>,
    },
    /// `V XCF,sysname,OFFLINE`: the system leaves the sysplex (the lab kills the LPAR).
    Offline(String),
    /// `IPL sysname`: the lab starts the LPAR again.
    Ipl(String),
    /// `SLEEP ms`: wait.
    Sleep(u64),
    /// A blank or comment line.
    Nothing,
}

/// A line the console refuses, with the z/OS response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// IEE305I: the console does not know the command.
fn invalid(what: &str) -> Refused {
    Refused(format!("IEE305I {} COMMAND INVALID", what.trim()))
}

/// Parses one console line.
pub fn parse(line: &str) -> Result<ConsoleCommand, Refused> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('*') {
        return Ok(ConsoleCommand::Nothing);
    }
    let (verb, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(v, r)| (v, r.trim()));
    let verb = verb.to_ascii_uppercase();
    match verb.as_str() {
        "RO" | "ROUTE" => parse_routed(line, rest),
        "D" | "DISPLAY" => parse_display(line, rest, Route::Local),
        "V" | "VARY" => parse_vary(line, rest, Route::Local),
        "IPSEC" => parse_ipsec(line, rest, Route::Local),
        "IPL" => one_system(line, rest).map(ConsoleCommand::Ipl),
        "SLEEP" => rest
            .parse()
            .map(ConsoleCommand::Sleep)
            .map_err(|_| invalid(line)),
        _ => Err(invalid(&verb)),
    }
}

fn one_system(line: &str, rest: &str) -> Result<String, Refused> {
    let name = rest.to_ascii_uppercase();
    if crate::topology::is_zos_name(&name) {
        Ok(name)
    } else {
        Err(invalid(line))
    }
}

/// `RO sysname|*ALL,command`.
fn parse_routed(line: &str, rest: &str) -> Result<ConsoleCommand, Refused> {
    let (target, command) = rest.split_once(',').ok_or_else(|| invalid(line))?;
    let target = target.trim().to_ascii_uppercase();
    let route = if target == "*ALL" {
        Route::All
    } else if crate::topology::is_zos_name(&target) {
        Route::System(target)
    } else {
        return Err(invalid(line));
    };
    let command = command.trim();
    let (verb, rest) = command
        .split_once(char::is_whitespace)
        .ok_or_else(|| invalid(command))?;
    match verb.to_ascii_uppercase().as_str() {
        "D" | "DISPLAY" => parse_display(command, rest.trim(), route),
        "V" | "VARY" => parse_vary(command, rest.trim(), route),
        "IPSEC" => parse_ipsec(command, rest.trim(), route),
        _ => Err(invalid(command)),
    }
}

fn operands(rest: &str) -> Vec<String> {
    rest.split(',')
        .map(|o| o.trim().to_ascii_uppercase())
        .collect()
}

fn tcpname(operand: &str) -> Option<String> {
    (!operand.is_empty()).then(|| operand.to_owned())
}

/// `D TCPIP,...` and `D XCF,...`.
fn parse_display(line: &str, rest: &str, route: Route) -> Result<ConsoleCommand, Refused> {
    let ops = operands(rest);
    let words: Vec<&str> = ops.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["TCPIP", name, "NETSTAT" | "N", report, modifiers @ ..] => {
            let detail = match modifiers {
                [] => false,
                ["DETAIL"] => true,
                _ => return Err(invalid(line)),
            };
            let report = match *report {
                "HOME" => Report::Home,
                "CONN" => Report::Conn,
                "VIPADCFG" | "VDCFG" => Report::VipaDcfg,
                "VIPADYN" | "VDYN" => Report::VipaDyn,
                "VDPT" => Report::Vdpt(detail),
                "VCRT" => Report::Vcrt(detail),
                other => {
                    return Err(Refused(format!(
                        "EZZ0059I UNSUPPORTED NETSTAT OPTION {other}: {line}"
                    )));
                }
            };
            Ok(ConsoleCommand::Tcpip {
                route,
                tcpname: tcpname(name),
                command: TcpipCommand::Netstat(report),
            })
        }
        ["TCPIP", name, "SYSPLEX", "VIPADYN"] => Ok(ConsoleCommand::Tcpip {
            route,
            tcpname: tcpname(name),
            command: TcpipCommand::SysplexVipadyn,
        }),
        ["XCF", "GROUP" | "GRP" | "G"] if route == Route::Local => Ok(ConsoleCommand::XcfGroup {
            group: None,
            all: false,
        }),
        ["XCF", "GROUP" | "GRP" | "G", group, tail @ ..] if route == Route::Local => {
            let all = match tail {
                [] => false,
                ["ALL"] => true,
                _ => return Err(invalid(line)),
            };
            Ok(ConsoleCommand::XcfGroup {
                group: Some((*group).to_owned()),
                all,
            })
        }
        ["XCF", "STR" | "STRUCTURE"] if route == Route::Local => {
            Ok(ConsoleCommand::XcfStr { strname: None })
        }
        ["XCF", "STR" | "STRUCTURE", name] if route == Route::Local => {
            let strname = name
                .strip_prefix("STRNAME=")
                .or_else(|| name.strip_prefix("STRNM="))
                .filter(|n| !n.is_empty())
                .ok_or_else(|| invalid(line))?;
            Ok(ConsoleCommand::XcfStr {
                strname: Some(strname.to_owned()),
            })
        }
        _ => Err(invalid(line)),
    }
}

/// `ipsec -k|-y|-f display [-p tcpname]`, the options in any order.
fn parse_ipsec(line: &str, rest: &str, route: Route) -> Result<ConsoleCommand, Refused> {
    let mut which = None;
    let mut display = false;
    let mut tcpname = None;
    let mut words = rest.split_whitespace();
    while let Some(word) = words.next() {
        let option = match word {
            "-k" => Some(IpsecDisplay::IkeTunnels),
            "-y" => Some(IpsecDisplay::DynamicTunnels),
            "-f" => Some(IpsecDisplay::Filters),
            "display" if !display => {
                display = true;
                None
            }
            "-p" if tcpname.is_none() => {
                let name = words.next().map(str::to_ascii_uppercase);
                tcpname = Some(
                    name.filter(|n| crate::topology::is_zos_name(n))
                        .ok_or_else(|| invalid(line))?,
                );
                None
            }
            _ => return Err(invalid(line)),
        };
        if let Some(option) = option
            && which.replace(option).is_some()
        {
            return Err(invalid(line));
        }
    }
    match (which, display) {
        (Some(which), true) => Ok(ConsoleCommand::Tcpip {
            route,
            tcpname,
            command: TcpipCommand::Ipsec(which),
        }),
        _ => Err(invalid(line)),
    }
}

/// `V TCPIP,...,SYSPLEX,...` and `V XCF,sysname,OFFLINE`.
fn parse_vary(line: &str, rest: &str, route: Route) -> Result<ConsoleCommand, Refused> {
    let ops = operands(rest);
    match ops.first().map(String::as_str) {
        Some("TCPIP") => {
            let parsed = vary::parse(line).map_err(|e| Refused(e.to_string()))?;
            Ok(ConsoleCommand::Tcpip {
                route,
                tcpname: parsed.procname,
                command: TcpipCommand::Vary(parsed.command),
            })
        }
        Some("XCF") if route == Route::Local => match ops.as_slice() {
            [_, system, offline]
                if offline == "OFFLINE" && crate::topology::is_zos_name(system) =>
            {
                Ok(ConsoleCommand::Offline(system.clone()))
            }
            _ => Err(invalid(line)),
        },
        _ => Err(invalid(line)),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 30);

    #[test]
    fn vary_tcpip_sysplex_commands_parse_with_their_stack() {
        assert_eq!(
            parse("V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.30"),
            Ok(ConsoleCommand::Tcpip {
                route: Route::Local,
                tcpname: Some("TCPCS".to_owned()),
                command: TcpipCommand::Vary(VaryCommand::Deactivate(DVIPA)),
            })
        );
        assert_eq!(
            parse("ro sys2,v tcpip,,sysplex,joingroup"),
            Ok(ConsoleCommand::Tcpip {
                route: Route::System("SYS2".to_owned()),
                tcpname: None,
                command: TcpipCommand::Vary(VaryCommand::JoinGroup),
            })
        );
    }

    #[test]
    fn netstat_displays_parse_with_abbreviations() {
        for (line, report) in [
            ("D TCPIP,TCPCS,NETSTAT,HOME", Report::Home),
            ("D TCPIP,TCPCS,N,CONN", Report::Conn),
            ("DISPLAY TCPIP,TCPCS,NETSTAT,VDCFG", Report::VipaDcfg),
            ("d tcpip,tcpcs,netstat,vipadyn", Report::VipaDyn),
            ("D TCPIP,TCPCS,NETSTAT,VDPT", Report::Vdpt(false)),
            ("D TCPIP,TCPCS,N,VCRT,DETAIL", Report::Vcrt(true)),
        ] {
            assert_eq!(
                parse(line),
                Ok(ConsoleCommand::Tcpip {
                    route: Route::Local,
                    tcpname: Some("TCPCS".to_owned()),
                    command: TcpipCommand::Netstat(report),
                }),
                "{line}"
            );
        }
        assert_eq!(
            parse("RO *ALL,D TCPIP,,SYSPLEX,VIPADYN"),
            Ok(ConsoleCommand::Tcpip {
                route: Route::All,
                tcpname: None,
                command: TcpipCommand::SysplexVipadyn,
            })
        );
    }

    #[test]
    fn xcf_displays_parse() {
        assert_eq!(
            parse("D XCF,GROUP,EZBTCPCS"),
            Ok(ConsoleCommand::XcfGroup {
                group: Some("EZBTCPCS".to_owned()),
                all: false
            })
        );
        assert_eq!(
            parse("D XCF,GRP,EZBTCP22,ALL"),
            Ok(ConsoleCommand::XcfGroup {
                group: Some("EZBTCP22".to_owned()),
                all: true
            })
        );
        assert_eq!(
            parse("D XCF,STR"),
            Ok(ConsoleCommand::XcfStr { strname: None })
        );
        assert_eq!(
            parse("D XCF,STR,STRNAME=EZBDVIPA"),
            Ok(ConsoleCommand::XcfStr {
                strname: Some("EZBDVIPA".to_owned())
            })
        );
    }

    #[test]
    fn lab_actions_and_comments_parse() {
        assert_eq!(
            parse("V XCF,SYS1,OFFLINE"),
            Ok(ConsoleCommand::Offline("SYS1".to_owned()))
        );
        assert_eq!(
            parse("ipl sys1"),
            Ok(ConsoleCommand::Ipl("SYS1".to_owned()))
        );
        assert_eq!(parse("SLEEP 250"), Ok(ConsoleCommand::Sleep(250)));
        assert_eq!(parse("  "), Ok(ConsoleCommand::Nothing));
        assert_eq!(parse("* kill the owner"), Ok(ConsoleCommand::Nothing));
    }

    #[test]
    fn ipsec_displays_parse_with_their_stack_and_route() {
        for (line, which) in [
            ("ipsec -k display", IpsecDisplay::IkeTunnels),
            ("ipsec -y display", IpsecDisplay::DynamicTunnels),
            ("IPSEC -f display", IpsecDisplay::Filters),
        ] {
            assert_eq!(
                parse(line),
                Ok(ConsoleCommand::Tcpip {
                    route: Route::Local,
                    tcpname: None,
                    command: TcpipCommand::Ipsec(which),
                }),
                "{line}"
            );
        }
        assert_eq!(
            parse("RO SYS2,ipsec -p tcpcs -y display"),
            Ok(ConsoleCommand::Tcpip {
                route: Route::System("SYS2".to_owned()),
                tcpname: Some("TCPCS".to_owned()),
                command: TcpipCommand::Ipsec(IpsecDisplay::DynamicTunnels),
            })
        );
        for line in [
            "ipsec -k",
            "ipsec display",
            "ipsec -k -y display",
            "ipsec -k display display",
            "ipsec -k display -p",
            "ipsec -k display -p 1BAD",
            "ipsec -x display",
        ] {
            let refused = parse(line).expect_err(line);
            assert!(refused.0.starts_with("IEE305I"), "{line}: {refused}");
        }
    }

    #[test]
    fn unknown_commands_get_iee305i() {
        assert_eq!(
            parse("FROB X"),
            Err(Refused("IEE305I FROB COMMAND INVALID".to_owned()))
        );
        for line in [
            "D XCF,FOO",
            "D XCF,STR,NAME=X",
            "D XCF,GROUP,EZBTCPCS,SOME",
            "D TCPIP,TCPCS,FROB,HOME",
            "V XCF,SYS1,ONLINE",
            "RO SYS1",
            "RO SYS1,D XCF,STR",
            "IPL 1SYS",
            "SLEEP soon",
        ] {
            let refused = parse(line).expect_err(line);
            assert!(refused.0.starts_with("IEE305I"), "{line}: {refused}");
        }
    }

    #[test]
    fn bad_tcpip_commands_get_the_stack_messages() {
        let refused = parse("V TCPIP,TCPCS,SYSPLEX,DEACTIVATE").unwrap_err();
        assert!(refused.0.starts_with("EZZ0059I"), "{refused}");
        let refused = parse("D TCPIP,TCPCS,NETSTAT,ROUTE").unwrap_err();
        assert!(refused.0.starts_with("EZZ0059I"), "{refused}");
    }
}
