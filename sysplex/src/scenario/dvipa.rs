//! The DVIPA scenario that `sysplex run dvipa` plays on a topology (by default
//! `fixtures/topologies/dvipa-lab.toml`): the LPARs start, remote echo clients hold connections
//! to the DVIPA, the owner is killed and the highest-ranked backup takes the DVIPA over, the
//! clients reconnect, the owner comes back and takes the DVIPA back as its MOVEABLE mode says
//! (IMMEDIATE: at once, the old holder Moving until its connections end; WHENIDLE: once they
//! have ended). The report holds the timeline with the z/OS messages, the displays before and
//! after, each client's outage and the verdict.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use stacks::dvipa::model::{ConfigRole, DvipaConfig, DvipaStatus, Moveable};
use stacks::dvipa::service::Report as Netstat;

use crate::Error;
use crate::clients::{EchoClient, Exchange};
use crate::lab::Lab;
use crate::timeline::Timeline;
use crate::topology::{RemoteRun, Topology};

pub use super::report::{Display, Entry};

/// The longest any step may take before the scenario gives up.
const PATIENCE: Duration = Duration::from_secs(15);

/// What one client saw over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct ClientOutcome {
    /// The client.
    pub name: String,
    /// Its outage across the takeover, in milliseconds (failed round trip to the first good
    /// one on a new connection).
    pub takeover_outage_ms: Option<f64>,
    /// The system that served its connection after the takeover.
    pub served_after_takeover: Option<String>,
    /// Bytes echoed back unchanged over the run.
    pub verified_bytes: u64,
}

/// Whether the run did what z/OS does.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The backup that should take over (the highest-ranked one).
    pub expected_takeover: String,
    /// The system that did.
    pub takeover_by: Option<String>,
    /// Every client reconnected after the takeover.
    pub clients_reconnected: bool,
    /// The takeover holder showed Moving after the owner came back (IMMEDIATE only).
    pub moving_seen: bool,
    /// The system holding the DVIPA at the end.
    pub final_owner: Option<String>,
    /// A new connection after the takeback was served by the owner.
    pub new_connection_on_owner: bool,
    /// All of the above as z/OS would have it.
    pub holds: bool,
}

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The DVIPA the scenario moves.
    pub dvipa: Ipv4Addr,
    /// Its VIPADEFINE owner.
    pub owner: String,
    /// Its takeback mode.
    pub moveable: String,
    /// The backups, highest rank first.
    pub backups: Vec<(String, u8)>,
    /// What happened.
    pub timeline: Vec<Entry>,
    /// The displays before the owner failed.
    pub before: Vec<Display>,
    /// The displays right after the takeover.
    pub after_takeover: Vec<Display>,
    /// The displays during the takeback (the old holder Moving), IMMEDIATE only.
    pub during_takeback: Vec<Display>,
    /// The displays at the end.
    pub after: Vec<Display>,
    /// Each client's outcome.
    pub clients: Vec<ClientOutcome>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The roles of the LPARs for the DVIPA the remote clients use.
struct Plan {
    dvipa: Ipv4Addr,
    owner: String,
    moveable: Moveable,
    backups: Vec<(String, u8)>,
    clients: Vec<(String, String, SocketAddrV4)>,
}

fn plan(topology: &Topology) -> Result<Plan, Error> {
    let mut clients = Vec::new();
    for remote in &topology.remotes {
        for run in &remote.section.run {
            let RemoteRun::EchoClient {
                target,
                connections,
            } = *run
            else {
                continue;
            };
            for n in 1..=connections {
                clients.push((
                    format!("{}#{n}", remote.section.name),
                    remote.section.name.clone(),
                    target,
                ));
            }
        }
    }
    let dvipa = *clients
        .first()
        .map(|(_, _, target)| target.ip())
        .ok_or_else(|| Error::Lab("the topology has no remote echo-client".to_owned()))?;
    let mut owner = None;
    let mut backups = Vec::new();
    for lpar in &topology.lpars {
        let config = DvipaConfig::from_profile(&lpar.profile.vipa_dynamic);
        match config.entry(dvipa).map(|e| e.role) {
            Some(ConfigRole::Define { moveable }) => {
                owner = Some((lpar.section.sysname.clone(), moveable));
            }
            Some(ConfigRole::Backup { rank, .. }) => {
                backups.push((lpar.section.sysname.clone(), rank));
            }
            None => {}
        }
    }
    let (owner, moveable) =
        owner.ok_or_else(|| Error::Lab(format!("no LPAR has a VIPADEFINE for {dvipa}")))?;
    backups.sort_by_key(|b| std::cmp::Reverse(b.1));
    if backups.is_empty() {
        return Err(Error::Lab(format!("no LPAR has a VIPABACKUP for {dvipa}")));
    }
    Ok(Plan {
        dvipa,
        owner,
        moveable,
        backups,
        clients,
    })
}

/// What the scenario waits for.
enum Condition {
    /// The DVIPA is Active on this system only, and every running system says so.
    ActiveEverywhereOn(String),
    /// The DVIPA is Active on exactly one system.
    ActiveSomewhere,
    /// The owner took the DVIPA back and the holder keeps it Moving.
    MovingTo {
        /// The VIPADEFINE owner.
        owner: String,
        /// The old holder.
        holder: String,
    },
}

/// The scenario's running state.
struct Run {
    lab: Lab,
    timeline: Timeline,
    dvipa: Ipv4Addr,
}

impl Run {
    /// Records the console messages the systems wrote since the last call.
    fn messages(&mut self) {
        for (system, line) in self.lab.new_messages() {
            self.timeline.record(&system, line);
        }
    }

    async fn status(&self, sysname: &str) -> Option<DvipaStatus> {
        let manager = self.lab.lpar(sysname)?.dvipa.snapshot().await.ok()?;
        manager
            .local()
            .iter()
            .find(|l| l.addr == self.dvipa)
            .map(|l| l.status)
    }

    /// The system where the DVIPA is Active, if exactly one.
    async fn active_on(&self) -> Option<String> {
        let mut active = Vec::new();
        for (name, _) in self.lab.running() {
            if self.status(name).await == Some(DvipaStatus::Active) {
                active.push(name.to_owned());
            }
        }
        (active.len() == 1).then(|| active.remove(0))
    }

    /// Whether every running system names `sysname` as the owner.
    async fn all_agree(&self, sysname: &str) -> bool {
        for (_, lpar) in self.lab.running() {
            let Ok(manager) = lpar.dvipa.snapshot().await else {
                return false;
            };
            if manager.owner_of(self.dvipa).map(|id| id.sysname).as_deref() != Some(sysname) {
                return false;
            }
        }
        true
    }

    /// Whether `condition` holds now.
    async fn holds(&self, condition: &Condition) -> bool {
        match condition {
            Condition::ActiveEverywhereOn(sysname) => {
                self.active_on().await.as_deref() == Some(sysname.as_str())
                    && self.all_agree(sysname).await
            }
            Condition::ActiveSomewhere => self.active_on().await.is_some(),
            Condition::MovingTo { owner, holder } => {
                self.status(owner).await == Some(DvipaStatus::Active)
                    && self.status(holder).await == Some(DvipaStatus::Moving)
            }
        }
    }

    /// Waits until `condition` holds, recording messages meanwhile; false after [`PATIENCE`].
    async fn until(&mut self, condition: Condition) -> bool {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            let done = self.holds(&condition).await;
            self.messages();
            if done {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    /// The system whose stack has a connection from `local`.
    async fn served_by(&self, local: Option<SocketAddrV4>) -> Option<String> {
        let local = local?;
        for (name, lpar) in self.lab.running() {
            if let Ok(connections) = lpar.stack.connections().await
                && connections.iter().any(|c| c.foreign == local)
            {
                return Some(name.to_owned());
            }
        }
        None
    }

    /// Exchanges a line on every client; records reconnections. Returns each client's
    /// outcome (`None`: it gave up).
    async fn exchange_all(&mut self, clients: &mut [EchoClient]) -> Vec<Option<Exchange>> {
        let mut outcomes = Vec::new();
        for client in clients.iter_mut() {
            let outcome = client.exchange(PATIENCE).await;
            self.messages();
            match &outcome {
                Ok(Exchange::Echoed) => {}
                Ok(Exchange::Reconnected {
                    local,
                    outage,
                    attempts,
                }) => {
                    let server = self.served_by(Some(*local)).await;
                    self.timeline.record(
                        &client.name,
                        format!(
                            "connected from {local} to {} after {:.0} ms ({attempts} \
                             attempts), served by {}",
                            self.dvipa,
                            outage.as_secs_f64() * 1000.0,
                            server.as_deref().unwrap_or("?")
                        ),
                    );
                }
                Err(why) => self.timeline.record(&client.name, why.clone()),
            }
            outcomes.push(outcome.ok());
        }
        outcomes
    }

    async fn displays(&mut self, systems: &[String], group: &str) -> Vec<Display> {
        let mut out = Vec::new();
        for sysname in systems {
            let Some(lpar) = self.lab.lpar(sysname) else {
                continue;
            };
            let tcpname = lpar.dvipa.id().tcpname.clone();
            for (word, report) in [
                ("HOME", Netstat::Home),
                ("VIPADCFG", Netstat::VipaDcfg),
                ("VIPADYN", Netstat::VipaDyn),
            ] {
                let text = match lpar.dvipa.netstat(report).await {
                    Ok(text) => text,
                    Err(error) => error.to_string(),
                };
                out.push(Display {
                    command: format!("RO {sysname},D TCPIP,{tcpname},NETSTAT,{word}"),
                    text,
                });
            }
        }
        let text = match self.lab.display_xcf_group(Some(group), true).await {
            Ok(text) => text,
            Err(error) => error.to_string(),
        };
        out.push(Display {
            command: format!("D XCF,GROUP,{group},ALL"),
            text,
        });
        out
    }
}

/// Runs the scenario on the topology at `path`, printing the timeline as it goes when `echo`.
pub async fn run(path: &Path, echo: bool) -> Result<Report, Error> {
    let topology = Topology::load(path)?;
    let plan = plan(&topology)?;
    let systems: Vec<String> = topology
        .lpars
        .iter()
        .map(|l| l.section.sysname.clone())
        .collect();
    let mut timeline = Timeline::new(echo);
    timeline.record(
        "LAB",
        format!(
            "sysplex {}: {} LPARs, CF embedded on loopback, in-memory LAN; DVIPA {} owned by {} \
             (MOVEABLE {}), backups {}",
            topology.sysplex.name,
            topology.lpars.len(),
            plan.dvipa,
            plan.owner,
            plan.moveable.netstat_word().to_ascii_uppercase(),
            plan.backups
                .iter()
                .map(|(s, r)| format!("{s} rank {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let lab = Lab::start(topology).await?;
    let mut run = Run {
        lab,
        timeline,
        dvipa: plan.dvipa,
    };
    let group = run
        .lab
        .lpar(&plan.owner)
        .map(|l| l.dvipa.group().to_owned())
        .unwrap_or_default();
    for sysname in &systems {
        run.timeline.record(
            sysname,
            format!("IPL complete: TCP/IP stack started, joined XCF group {group}"),
        );
    }
    let owner = plan.owner.clone();
    if !run
        .until(Condition::ActiveEverywhereOn(owner.clone()))
        .await
    {
        return Err(Error::Lab(format!(
            "{owner} never activated {}",
            plan.dvipa
        )));
    }
    run.timeline
        .record("LAB", format!("{} is Active on {owner}", plan.dvipa));
    let before = run.displays(&systems, &group).await;

    let mut clients = Vec::new();
    for (name, host, target) in &plan.clients {
        let Some(remote) = run.lab.remotes().iter().find(|r| r.name == *host) else {
            continue;
        };
        clients.push(EchoClient::new(
            name,
            remote.stack.clone(),
            remote.address,
            *target,
        ));
    }
    run.exchange_all(&mut clients).await;
    run.exchange_all(&mut clients).await;

    // The owner dies.
    run.lab.kill(&owner).await?;
    run.timeline.record(
        &owner,
        "LPAR killed: TCP/IP stack and CF link dropped (a dead system)",
    );
    let took = run.until(Condition::ActiveSomewhere).await;
    let takeover_by = if took { run.active_on().await } else { None };
    run.timeline.record(
        "LAB",
        format!(
            "{} is Active on {}",
            plan.dvipa,
            takeover_by.as_deref().unwrap_or("no system")
        ),
    );
    let outcomes = run.exchange_all(&mut clients).await;
    let mut results = Vec::new();
    for (client, outcome) in clients.iter().zip(&outcomes) {
        let served = run.served_by(client.local()).await;
        results.push(ClientOutcome {
            name: client.name.clone(),
            takeover_outage_ms: match outcome {
                Some(Exchange::Reconnected { outage, .. }) => Some(outage.as_secs_f64() * 1000.0),
                _ => None,
            },
            served_after_takeover: served,
            verified_bytes: 0,
        });
    }
    let clients_reconnected = !results.is_empty()
        && results.iter().all(|r| {
            r.takeover_outage_ms.is_some()
                && r.served_after_takeover.is_some()
                && r.served_after_takeover == takeover_by
        });
    let live: Vec<String> = systems.iter().filter(|s| **s != owner).cloned().collect();
    let after_takeover = run.displays(&live, &group).await;

    // The owner comes back.
    run.lab.ipl(&owner).await?;
    run.timeline.record(
        &owner,
        format!("IPL complete: TCP/IP stack started, joined XCF group {group}"),
    );
    let holder = takeover_by.clone().unwrap_or_default();
    let mut moving_seen = false;
    let mut during_takeback = Vec::new();
    if plan.moveable == Moveable::Immediate {
        moving_seen = run
            .until(Condition::MovingTo {
                owner: owner.clone(),
                holder: holder.clone(),
            })
            .await;
        if moving_seen {
            run.timeline.record(
                "LAB",
                format!("{} is Active on {owner} and Moving on {holder}", plan.dvipa),
            );
        }
        if let Some(lpar) = run.lab.lpar(&holder) {
            for (command, text) in [
                (
                    format!("RO {holder},D TCPIP,TCPCS,NETSTAT,VIPADYN"),
                    lpar.dvipa.netstat(Netstat::VipaDyn).await,
                ),
                (
                    format!("RO {holder},D TCPIP,TCPCS,SYSPLEX,VIPADYN"),
                    lpar.dvipa.display_sysplex_vipadyn().await,
                ),
            ] {
                let text = text.unwrap_or_else(|e| e.to_string());
                during_takeback.push(Display { command, text });
            }
        }
        // The connections left on the holder still work, through the owner and XCF.
        let outcomes = run.exchange_all(&mut clients).await;
        let forwarded = run
            .lab
            .lpar(&owner)
            .map_or(0, |l| l.dvipa.forwarded_connections());
        let echoed = outcomes
            .iter()
            .filter(|o| matches!(o, Some(Exchange::Echoed)))
            .count();
        run.timeline.record(
            "LAB",
            format!(
                "{echoed} of {} old connections still echo; {owner} forwards {forwarded} \
                 connections to {holder} over dynamic XCF",
                clients.len()
            ),
        );
    }
    for client in &mut clients {
        client.close().await;
        run.timeline.record(&client.name, "connection closed");
    }
    run.until(Condition::ActiveEverywhereOn(owner.clone()))
        .await;
    let final_owner = run.active_on().await;
    run.timeline.record(
        "LAB",
        format!(
            "{} is Active on {}",
            plan.dvipa,
            final_owner.as_deref().unwrap_or("no single system")
        ),
    );
    let mut new_connection_on_owner = false;
    if let Some(first) = clients.first_mut()
        && let Ok(Exchange::Reconnected { local, .. }) = first.exchange(PATIENCE).await
    {
        let served = run.served_by(Some(local)).await;
        run.timeline.record(
            &first.name,
            format!(
                "new connection from {local} served by {}",
                served.as_deref().unwrap_or("?")
            ),
        );
        new_connection_on_owner = served.as_deref() == Some(owner.as_str());
        first.close().await;
    }
    run.messages();
    let after = run.displays(&systems, &group).await;
    for (result, client) in results.iter_mut().zip(&clients) {
        result.verified_bytes = client.verified;
    }
    let expected_takeover = plan
        .backups
        .first()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let holds = takeover_by.as_deref() == Some(expected_takeover.as_str())
        && clients_reconnected
        && (moving_seen || plan.moveable == Moveable::WhenIdle)
        && final_owner.as_deref() == Some(owner.as_str())
        && new_connection_on_owner;
    let verdict = Verdict {
        expected_takeover,
        takeover_by,
        clients_reconnected,
        moving_seen,
        final_owner,
        new_connection_on_owner,
        holds,
    };
    run.timeline.record(
        "LAB",
        format!("verdict: {}", if verdict.holds { "HOLDS" } else { "FAILS" }),
    );
    let timeline = super::report::entries(&run.timeline);
    Ok(Report {
        dvipa: plan.dvipa,
        owner: plan.owner,
        moveable: plan.moveable.netstat_word().to_owned(),
        backups: plan.backups,
        timeline,
        before,
        after_takeover,
        during_takeback,
        after,
        clients: results,
        verdict,
    })
}

/// The default topology of the scenario, in the source tree.
pub fn default_topology() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/dvipa-lab.toml")
}
