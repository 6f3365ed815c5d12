//! The operator's `VARY TCPIP,procname,SYSPLEX,...` commands that move DVIPAs.

use std::fmt;
use std::net::Ipv4Addr;

/// A `V TCPIP,,SYSPLEX` command the DVIPA manager carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaryCommand {
    /// `DEACTIVATE,DVIPA=a`: give the DVIPA up (a backup takes over) or stop backing it up.
    Deactivate(Ipv4Addr),
    /// `REACTIVATE,DVIPA=a`: make the stack eligible for the DVIPA again.
    Reactivate(Ipv4Addr),
    /// `LEAVEGROUP`: drop every DVIPA and leave the sysplex group, keeping the configuration.
    LeaveGroup,
    /// `JOINGROUP`: join the group again and reapply the configuration.
    JoinGroup,
}

impl VaryCommand {
    /// The command words as console messages print them (`DEACTIVATE,DVIPA`).
    pub fn words(self) -> &'static str {
        match self {
            Self::Deactivate(_) => "DEACTIVATE,DVIPA",
            Self::Reactivate(_) => "REACTIVATE,DVIPA",
            Self::LeaveGroup => "LEAVEGROUP",
            Self::JoinGroup => "JOINGROUP",
        }
    }
}

/// A parsed `VARY TCPIP` command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaryTcpip {
    /// The procname operand (the stack's name), `None` when omitted (`V TCPIP,,...`).
    pub procname: Option<String>,
    /// What to do.
    pub command: VaryCommand,
}

/// Why a command line was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandError(String);

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommandError {}

/// Whether `word` is `keyword` or an abbreviation of it at least `min` characters long (the
/// capital letters of `SYSplex`, `DEACTivate`...).
fn matches(word: &str, keyword: &str, min: usize) -> bool {
    let word = word.to_ascii_uppercase();
    word.len() >= min && keyword.starts_with(&word)
}

/// Parses `V TCPIP,procname,SYSPLEX,DEACTIVATE,DVIPA=a` (and REACTIVATE, LEAVEGROUP,
/// JOINGROUP), with `VARY` or `V` and the documented abbreviations.
pub fn parse(line: &str) -> Result<VaryTcpip, CommandError> {
    let bad = |what: &str| CommandError(format!("EZZ0059I {what}: {}", line.trim()));
    let line = line.trim();
    let (verb, rest) = line
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("INCOMPLETE COMMAND"))?;
    if !matches(verb, "VARY", 1) {
        return Err(bad("UNKNOWN COMMAND"));
    }
    let operands: Vec<&str> = rest.trim().split(',').map(str::trim).collect();
    let [tcpip, procname, sysplex, action, more @ ..] = operands.as_slice() else {
        return Err(bad("INCOMPLETE COMMAND"));
    };
    if !tcpip.eq_ignore_ascii_case("TCPIP") || !matches(sysplex, "SYSPLEX", 3) {
        return Err(bad("UNSUPPORTED COMMAND"));
    }
    let dvipa = |more: &[&str]| -> Result<Ipv4Addr, CommandError> {
        let [operand] = more else {
            return Err(bad("DVIPA= REQUIRED"));
        };
        let (key, value) = operand
            .split_once('=')
            .ok_or_else(|| bad("DVIPA= REQUIRED"))?;
        if !key.eq_ignore_ascii_case("DVIPA") {
            return Err(bad("DVIPA= REQUIRED"));
        }
        value.parse().map_err(|_| bad("INVALID DVIPA ADDRESS"))
    };
    let command = if matches(action, "DEACTIVATE", 5) {
        VaryCommand::Deactivate(dvipa(more)?)
    } else if matches(action, "REACTIVATE", 5) {
        VaryCommand::Reactivate(dvipa(more)?)
    } else if matches(action, "LEAVEGROUP", 5) && more.is_empty() {
        VaryCommand::LeaveGroup
    } else if matches(action, "JOINGROUP", 4) && more.is_empty() {
        VaryCommand::JoinGroup
    } else {
        return Err(bad("UNSUPPORTED SYSPLEX OPTION"));
    };
    let procname = (!procname.is_empty()).then(|| procname.to_ascii_uppercase());
    Ok(VaryTcpip { procname, command })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_deactivate_with_abbreviations() {
        let parsed = parse("V TCPIP,TCPCS,SYSPLEX,DEACT,DVIPA=198.51.100.30").unwrap();
        assert_eq!(parsed.procname.as_deref(), Some("TCPCS"));
        assert_eq!(
            parsed.command,
            VaryCommand::Deactivate(Ipv4Addr::new(198, 51, 100, 30))
        );
        let parsed = parse("vary tcpip,,sys,reactivate,dvipa=198.51.100.30").unwrap();
        assert_eq!(parsed.procname, None);
        assert!(matches!(parsed.command, VaryCommand::Reactivate(_)));
    }

    #[test]
    fn parses_group_commands() {
        assert_eq!(
            parse("V TCPIP,TCPCS,SYSPLEX,LEAVEGROUP").unwrap().command,
            VaryCommand::LeaveGroup
        );
        assert_eq!(
            parse("V TCPIP,TCPCS,SYSPLEX,JOINGROUP").unwrap().command,
            VaryCommand::JoinGroup
        );
    }

    #[test]
    fn refuses_malformed_commands() {
        for line in [
            "",
            "V",
            "V TCPIP,TCPCS,SYSPLEX,DEACTIVATE",
            "V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=1.2.3",
            "V TCPIP,TCPCS,OBEYFILE,X",
            "D TCPIP,TCPCS,SYSPLEX,LEAVEGROUP",
            "V TCPIP,TCPCS,SYSPLEX,LEAVEGROUP,X",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
    }
}
