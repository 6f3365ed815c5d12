//! The operator console of an embedded lab: parses a line ([`command`]), runs it on the lab's
//! systems and answers with the z/OS responses, each prefixed by the system that wrote it.

pub mod command;
pub mod control;
pub mod ipsec;

use std::time::Duration;

use stacks::dvipa::service::DvipaHandle;
use stacks::ipsec::IpsecService;

use crate::Error;
use crate::lab::Lab;
use command::{ConsoleCommand, Route, TcpipCommand};

/// What the TCP/IP commands of one LPAR run against.
#[derive(Debug, Clone, Copy)]
pub struct LparView<'a> {
    /// Its DVIPA service (VARY, NETSTAT, SYSPLEX displays).
    pub dvipa: &'a DvipaHandle,
    /// Its IPSec (`ipsec` displays), when its profile has IPSECURITY.
    pub ipsec: Option<&'a IpsecService>,
    /// Whether its profile has IPSEC DVIPSEC.
    pub dvipsec: bool,
}

impl<'a> LparView<'a> {
    /// The view of a running LPAR of the embedded lab.
    pub fn of(lpar: &'a crate::lab::RunningLpar, dvipsec: bool) -> Self {
        Self {
            dvipa: &lpar.dvipa,
            ipsec: lpar.ipsec.as_ref(),
            dvipsec,
        }
    }
}

/// The console's own system: the first LPAR of the topology that is running.
fn own_system(lab: &Lab) -> Option<String> {
    lab.topology()
        .lpars
        .iter()
        .map(|l| l.section.sysname.clone())
        .find(|name| lab.lpar(name).is_some())
}

/// Runs one console line on `lab`; returns the response lines (`SYS1  EZD1197I ...`). A
/// refused line answers with its z/OS message; lab failures are errors.
pub async fn execute(lab: &mut Lab, line: &str) -> Result<Vec<String>, Error> {
    let command = match command::parse(line) {
        Ok(command) => command,
        Err(refused) => return Ok(vec![refused.0]),
    };
    let mut out = Vec::new();
    match command {
        ConsoleCommand::Nothing => {}
        ConsoleCommand::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        ConsoleCommand::Offline(sysname) => match lab.kill(&sysname).await {
            Ok(()) => out.push(format!(
                "IXC101I SYSPLEX PARTITIONING IN PROGRESS FOR {sysname} REQUESTED BY OPERATOR"
            )),
            Err(_) => out.push(format!(
                "IXC313I SYSTEM {sysname} IS NOT ACTIVE IN THE SYSPLEX"
            )),
        },
        ConsoleCommand::Ipl(sysname) => match lab.ipl(&sysname).await {
            Ok(()) => out.push(format!("{sysname} IPLED: TCP/IP STACK STARTED")),
            Err(Error::Lab(why)) => out.push(why),
            Err(other) => return Err(other),
        },
        ConsoleCommand::XcfGroup { group, all } => {
            out.extend(lines(&lab.display_xcf_group(group.as_deref(), all).await?));
        }
        ConsoleCommand::XcfStr { strname } => match lab.display_xcf_str(strname.as_deref()).await {
            Ok(text) => out.extend(lines(&text)),
            Err(Error::Lab(why)) => out.push(why),
            Err(other) => return Err(other),
        },
        ConsoleCommand::Tcpip {
            route,
            tcpname,
            command,
        } => {
            let systems: Vec<String> = match route {
                Route::Local => own_system(lab).into_iter().collect(),
                Route::System(name) => vec![name],
                Route::All => lab.running().map(|(name, _)| name.to_owned()).collect(),
            };
            if systems.is_empty() {
                out.push("IEE341I NO SYSTEM IS ACTIVE TO RUN THE COMMAND".to_owned());
            }
            for sysname in systems {
                let Some(lpar) = lab.lpar(&sysname) else {
                    out.push(format!("IEE341I {sysname} NOT ACTIVE"));
                    continue;
                };
                let dvipsec = lab
                    .topology()
                    .lpar(&sysname)
                    .is_some_and(|l| l.profile.ipsec.as_ref().is_some_and(|i| i.dvipsec));
                let view = LparView::of(lpar, dvipsec);
                out.extend(
                    execute_on_lpar(&sysname, view, tcpname.as_deref(), command.clone()).await?,
                );
            }
        }
    }
    Ok(out)
}

/// Runs a TCP/IP command on the stack of the LPAR `sysname` (the one `lpar` shows), as the
/// embedded console and an LPAR's control socket ([`control`]) both do: the response lines
/// prefixed by `sysname`, or IEE341I when `tcpname` names another stack.
pub async fn execute_on_lpar(
    sysname: &str,
    lpar: LparView<'_>,
    tcpname: Option<&str>,
    command: TcpipCommand,
) -> Result<Vec<String>, Error> {
    if let Some(name) = tcpname
        && name != lpar.dvipa.id().tcpname
    {
        return Ok(vec![format!("{sysname}  IEE341I TCPIP {name} NOT ACTIVE")]);
    }
    let response = tcpip(lpar, command).await?;
    Ok(response
        .into_iter()
        .map(|l| format!("{sysname}  {l}"))
        .collect())
}

/// Runs a TCP/IP command on one stack.
async fn tcpip(lpar: LparView<'_>, command: TcpipCommand) -> Result<Vec<String>, Error> {
    let dvipa = lpar.dvipa;
    Ok(match command {
        TcpipCommand::Vary(vary) => dvipa.command(vary).await?,
        TcpipCommand::Netstat(report) => lines(&dvipa.netstat(report).await?),
        TcpipCommand::SysplexVipadyn => lines(&dvipa.display_sysplex_vipadyn().await?),
        TcpipCommand::Ipsec(which) => {
            let tcpname = &dvipa.id().tcpname;
            match lpar.ipsec {
                Some(service) => {
                    let now = crate::lab::tod_now().0 / 1_000_000;
                    lines(&ipsec::render(which, tcpname, lpar.dvipsec, service, now))
                }
                None => vec![format!(
                    "IPSECURITY IS NOT ACTIVE ON TCPIP STACK {tcpname}: NO IPSEC DATA TO DISPLAY"
                )],
            }
        }
    })
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}
