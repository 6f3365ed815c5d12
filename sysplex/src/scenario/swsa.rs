//! The sysplex-wide security associations scenarios `sysplex run swsa` (the default) and
//! `sysplex run swsa-planned` play on the SWSA lab (`fixtures/topologies/swsa-lab.toml`) with
//! N remote IPSec hosts built by [`IpsecHosts`]: a CF, SYS1 the primary distributor of
//! 198.51.100.10 port 5001 and a target, SYS2 its backup distributor and a target, SYS3 a
//! target; every host negotiates its IKE and CHILD SAs with the DVIPA (SYS1 answers and keeps
//! their restart information in EZBDVIPA) and runs paced checksummed TCP streams through ESP,
//! which SYS1 spreads by ROUNDROBIN over the three targets.
//!
//! - [`Cause::Failure`]: SYS1 dies mid-stream. SYS2 sees its XCF member fail, takes the DVIPA
//!   over, reads the restart entries, renegotiates every tunnel as initiator (ActivationMethod
//!   Takeover) and rebuilds the CRT: streams to SYS2 and SYS3 go on, those to SYS1 end.
//! - [`Cause::Planned`]: `V TCPIP,TCPCS,SYSPLEX,DEACTIVATE` on SYS1 hands the DVIPA to SYS2
//!   the same way, SYS1's own connections routed through SYS2, so every stream goes on; then
//!   `REACTIVATE` takes it all back.
//!
//! The report holds the timeline (the z/OS messages, the SWSA steps each stack noted, the
//! first protected byte after each move), the EZBDVIPA contents and the displays at each
//! stage, the takeover figures, each stream's outcome and outage (the longest gap in its
//! arrivals), and the verdict.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cf::structure::StrName;
use ike::daemon::ActivationMethod;
use serde::Serialize;
use stacks::apps::stream::StreamEnd;
use stacks::dvipa::model::{ConfigRole, DvipaConfig, DvipaStatus};
use stacks::swsa::{StoredRecord, SwsaNote};
use tokio::time::Instant;

use super::report::{self, Display, Entry, millis};
use crate::Error;
use crate::ipsec_hosts::IpsecHosts;
use crate::lab::{Lab, stream_seed};
use crate::streams::{Board, PacedSource, SourceEnd, WatchedSink};
use crate::timeline::Timeline;
use crate::topology::{App, Topology};

/// The longest any wait may take before the scenario gives up on it.
const PATIENCE: Duration = Duration::from_secs(30);
/// How often waits look again.
const POLL: Duration = Duration::from_millis(20);
/// The drop counter of traffic a host's policy wants protected that came in clear.
const CLEAR_DROPPED: &str = "clear traffic that policy protects";
/// Streams at least, so that ROUNDROBIN gives every target some with few peers.
const MIN_STREAMS: usize = 6;
/// Arrivals every stream shows before the DVIPA moves, and after each move.
const PROGRESS: usize = 3;

/// What moves the DVIPA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cause {
    /// The primary distributor's LPAR dies.
    Failure,
    /// DEACTIVATE on the primary, then REACTIVATE.
    Planned,
}

impl Cause {
    /// The scenario's name for `sysplex run`.
    pub fn scenario(self) -> &'static str {
        match self {
            Self::Failure => "swsa",
            Self::Planned => "swsa-planned",
        }
    }
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct Options {
    /// What moves the DVIPA.
    pub cause: Cause,
    /// Remote IPSec hosts (1 to [`crate::ipsec_hosts::MAX_HOSTS`]).
    pub peers: usize,
    /// Bytes each stream sends per pace.
    pub chunk: usize,
    /// The pace of every stream (the resolution of its outage).
    pub pace: Duration,
}

impl Options {
    /// `peers` hosts, 1 KiB every 20 ms per stream.
    pub fn new(cause: Cause, peers: usize) -> Self {
        Self {
            cause,
            peers,
            chunk: 1024,
            pace: Duration::from_millis(20),
        }
    }

    /// Streams per peer: enough for [`MIN_STREAMS`] in all.
    pub fn streams_per_peer(&self) -> usize {
        MIN_STREAMS.div_ceil(self.peers.max(1))
    }
}

/// The contents of EZBDVIPA and the displays at one stage of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// What the stage is (`before`, `after-takeover`, `after-takeback`).
    pub name: String,
    /// Its title in the listing.
    pub title: String,
    /// The DVIPA's restart entries, as [`stacks::swsa::display::render`] shows them.
    pub ezbdvipa: String,
    /// The restart entries' owners, by peer.
    pub owners: Vec<(Ipv4Addr, String)>,
    /// The operator displays.
    pub displays: Vec<Display>,
}

/// One peer's tunnel renegotiated by the new owner.
#[derive(Debug, Clone, Serialize)]
pub struct Renegotiation {
    /// The peer.
    pub peer: Ipv4Addr,
    /// From the cause to its IKE and CHILD SAs up, in milliseconds.
    pub after_ms: f64,
}

/// One move of the DVIPA and its SAs, measured from its cause (the kill, or the command).
#[derive(Debug, Clone, Serialize)]
pub struct Takeover {
    /// What moved it (`SYS1 killed`, `DEACTIVATE on SYS1`).
    pub cause: String,
    /// The system expected to take the DVIPA.
    pub expected_by: String,
    /// The system that did.
    pub by: Option<String>,
    /// To the new owner activating the DVIPA and starting to read EZBDVIPA (for a failure:
    /// detecting it), in milliseconds.
    pub detection_ms: Option<f64>,
    /// The read of the DVIPA's restart entries, in milliseconds.
    pub cf_read_ms: Option<f64>,
    /// Restart entries read.
    pub entries_read: usize,
    /// Peers handed to the IKE daemon.
    pub peers_to_renegotiate: usize,
    /// Each peer renegotiated, in the order they came up.
    pub renegotiated: Vec<Renegotiation>,
    /// Peers whose restart entry the daemon refused.
    pub refused: Vec<Ipv4Addr>,
    /// To the last peer renegotiated, in milliseconds.
    pub all_renegotiated_ms: Option<f64>,
    /// To the first byte at a target's sink after the new owner had its first SA (the first
    /// byte through its ESP), in milliseconds.
    pub first_protected_byte_ms: Option<f64>,
    /// Tunnels the new owner holds with ActivationMethod Takeover.
    pub takeover_tunnels: usize,
}

/// What one stream did.
#[derive(Debug, Clone, Serialize)]
pub struct StreamOutcome {
    /// `PEERn#k`.
    pub name: String,
    /// The host's side of the connection.
    pub source: SocketAddrV4,
    /// The target whose sink received it.
    pub target: String,
    /// Whether its target outlived the run (its stream must complete).
    pub target_survived: bool,
    /// Bytes the host sent.
    pub bytes_sent: u64,
    /// Bytes the sink received.
    pub bytes_received: u64,
    /// Bytes the sink found as the pattern says, in order.
    pub bytes_verified: u64,
    /// The sink's checksum equals the host's.
    pub checksums_match: bool,
    /// How the host's side ended.
    pub end: SourceEnd,
    /// Every byte sent arrived, verified, and both sides closed.
    pub completed: bool,
    /// The longest gap between two arrivals at the sink, in milliseconds.
    pub outage_ms: Option<f64>,
}

/// Whether the run did what z/OS does.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Every move was made by the expected system, which renegotiated every peer.
    pub takeovers_complete: bool,
    /// The streams reached all three targets.
    pub spread_over_targets: bool,
    /// Streams to targets that lived.
    pub surviving_streams: usize,
    /// Of those, completed with every byte verified.
    pub surviving_completed: usize,
    /// Streams to the target that died.
    pub lost_streams: usize,
    /// Of those, ended early (reset or silent), as they must.
    pub lost_ended: usize,
    /// No host received clear text its policy protects.
    pub no_clear_text: bool,
    /// EZBDVIPA holds one entry per peer, owned by the final owner.
    pub ezbdvipa_moved: bool,
    /// The longest outage of a surviving stream, in milliseconds.
    pub longest_outage_ms: Option<f64>,
    /// All of the above as z/OS would have it.
    pub holds: bool,
}

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `swsa` or `swsa-planned`.
    pub scenario: String,
    /// The distributed DVIPA.
    pub dvipa: Ipv4Addr,
    /// Its distributed port.
    pub port: u16,
    /// Remote IPSec hosts.
    pub peers: usize,
    /// The primary distributor.
    pub distributor: String,
    /// The backup distributor.
    pub backup: String,
    /// The SWSA structure.
    pub structure: String,
    /// What happened.
    pub timeline: Vec<Entry>,
    /// EZBDVIPA and the displays before the first move and after each.
    pub stages: Vec<Stage>,
    /// Each move's figures.
    pub takeovers: Vec<Takeover>,
    /// Each stream's outcome.
    pub streams: Vec<StreamOutcome>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The systems' roles for the DVIPA.
struct Roles {
    distributor: String,
    backup: String,
    tcpname: String,
    structure: StrName,
}

fn roles(topology: &Topology, dvipa: Ipv4Addr) -> Result<Roles, Error> {
    let mut distributor = None;
    let mut backups = Vec::new();
    for lpar in &topology.lpars {
        match DvipaConfig::from_profile(&lpar.profile.vipa_dynamic)
            .entry(dvipa)
            .map(|e| e.role)
        {
            Some(ConfigRole::Define { .. }) => distributor = Some(lpar),
            Some(ConfigRole::Backup { rank, .. }) => backups.push((rank, lpar)),
            None => {}
        }
    }
    let distributor =
        distributor.ok_or_else(|| Error::Lab(format!("no LPAR has a VIPADEFINE for {dvipa}")))?;
    backups.sort_by_key(|(rank, _)| std::cmp::Reverse(*rank));
    let backup = backups
        .first()
        .map(|(_, l)| l.section.sysname.clone())
        .ok_or_else(|| Error::Lab(format!("no LPAR has a VIPABACKUP for {dvipa}")))?;
    Ok(Roles {
        distributor: distributor.section.sysname.clone(),
        backup,
        tcpname: distributor.section.tcpname.clone(),
        structure: stacks::swsa::layout::structure_name(distributor.profile.global.xcf_group_id),
    })
}

/// One stream as the scenario keeps it.
struct Stream {
    name: String,
    source: PacedSource,
}

/// The scenario's running state.
struct Run {
    lab: Lab,
    timeline: Timeline,
    hosts: IpsecHosts,
    roles: Roles,
    board: Board,
    streams: Vec<Stream>,
}

impl Run {
    /// Records the console messages the systems wrote since the last call.
    fn messages(&mut self) {
        for (system, line) in self.lab.new_messages() {
            self.timeline.record(&system, line);
        }
    }

    /// Waits until `check` holds, recording messages meanwhile; false after [`PATIENCE`],
    /// with a line saying what did not happen.
    async fn until(&mut self, what: &str, check: impl AsyncFn(&Self) -> bool) -> bool {
        let started = Instant::now();
        loop {
            let done = check(self).await;
            self.messages();
            if done {
                return true;
            }
            if started.elapsed() > PATIENCE {
                self.timeline
                    .record("LAB", format!("gave up after {PATIENCE:?}: {what}"));
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn dvipa(&self) -> Ipv4Addr {
        self.hosts.dvipa
    }

    async fn status(&self, sysname: &str) -> Option<DvipaStatus> {
        let manager = self.lab.lpar(sysname)?.dvipa.snapshot().await.ok()?;
        manager
            .local()
            .iter()
            .find(|l| l.addr == self.dvipa())
            .map(|l| l.status)
    }

    /// The running system where the DVIPA is Active, if exactly one.
    async fn active_on(&self) -> Option<String> {
        let mut active = Vec::new();
        for (name, _) in self.lab.running() {
            if self.status(name).await == Some(DvipaStatus::Active) {
                active.push(name.to_owned());
            }
        }
        (active.len() == 1).then(|| active.remove(0))
    }

    /// Whether `sysname` distributes the DVIPA with its CRT rebuilt to `routes` connections
    /// and `targets` ready targets.
    async fn distributes(&self, sysname: &str, routes: usize, targets: usize) -> bool {
        let Some(lpar) = self.lab.lpar(sysname) else {
            return false;
        };
        let distributor = lpar.dvipa.distributor();
        self.status(sysname).await == Some(DvipaStatus::Active)
            && !distributor.is_rebuilding(self.dvipa())
            && distributor.crt().len() == routes
            && distributor
                .candidates(self.dvipa(), self.hosts.port)
                .iter()
                .filter(|c| c.available)
                .count()
                == targets
    }

    /// Tunnels `sysname` holds established on the DVIPA with `activation`.
    fn tunnels(&self, sysname: &str, activation: ActivationMethod) -> usize {
        self.lab
            .lpar(sysname)
            .and_then(|l| l.ipsec.as_ref())
            .map_or(0, |ipsec| {
                ipsec
                    .daemon_state()
                    .ike_tunnels
                    .iter()
                    .filter(|t| {
                        t.established && t.activation == activation && *t.local.ip() == self.dvipa()
                    })
                    .count()
            })
    }

    async fn restart_entries(&self) -> Vec<StoredRecord> {
        self.lab
            .restart_entries(&self.roles.structure, self.dvipa())
            .await
            .unwrap_or_default()
    }

    /// The owners of the DVIPA's restart entries, by peer.
    async fn owners(&self) -> Vec<(Ipv4Addr, String)> {
        self.restart_entries()
            .await
            .into_iter()
            .map(|s| (s.remote(), s.owner))
            .collect()
    }

    /// Whether EZBDVIPA holds exactly one entry per peer, each owned by `sysname`.
    async fn entries_owned_by(&self, sysname: &str) -> bool {
        let owners = self.owners().await;
        owners.len() == self.hosts.count && owners.iter().all(|(_, o)| o == sysname)
    }

    /// Arrivals so far of each stream, by source.
    fn arrivals(&self) -> BTreeMap<SocketAddrV4, usize> {
        let board = self.board.lock().unwrap_or_else(|e| e.into_inner());
        board.iter().map(|(k, a)| (*k, a.times.len())).collect()
    }

    /// Whether every stream whose target is not `lost` shows [`PROGRESS`] more arrivals than
    /// in `mark`.
    fn progressed(&self, mark: &BTreeMap<SocketAddrV4, usize>, lost: Option<&str>) -> bool {
        let board = self.board.lock().unwrap_or_else(|e| e.into_inner());
        self.streams
            .iter()
            .all(|s| match board.get(&s.source.local) {
                Some(a) if Some(a.target.as_str()) == lost => true,
                Some(a) => {
                    a.times.len() >= mark.get(&s.source.local).copied().unwrap_or(0) + PROGRESS
                }
                None => false,
            })
    }

    /// Streams whose target is not `lost`.
    fn routed_streams(&self, lost: Option<&str>) -> usize {
        let board = self.board.lock().unwrap_or_else(|e| e.into_inner());
        self.streams
            .iter()
            .filter(|s| board.get(&s.source.local).map(|a| a.target.as_str()) != lost)
            .count()
    }

    /// EZBDVIPA and the displays of `sysname` now.
    async fn stage(&mut self, name: &str, title: &str, sysname: &str) -> Stage {
        let entries = self.restart_entries().await;
        let ezbdvipa = stacks::swsa::display::render(self.roles.structure.as_str(), &entries);
        let owners = entries
            .iter()
            .map(|s| (s.remote(), s.owner.clone()))
            .collect();
        let tcpname = self.roles.tcpname.clone();
        let mut displays = vec![
            Display::of(
                &mut self.lab,
                &format!("D XCF,STR,STRNAME={}", self.roles.structure.as_str()),
            )
            .await,
        ];
        for command in [
            format!("RO {sysname},ipsec -p {tcpname} -k display"),
            format!("RO {sysname},ipsec -p {tcpname} -y display"),
            format!("RO {sysname},D TCPIP,{tcpname},NETSTAT,VIPADYN"),
            format!("RO {sysname},D TCPIP,{tcpname},NETSTAT,VCRT"),
        ] {
            displays.push(Display::of(&mut self.lab, &command).await);
        }
        Stage {
            name: name.to_owned(),
            title: title.to_owned(),
            ezbdvipa,
            owners,
            displays,
        }
    }

    /// Waits until `by` holds the DVIPA after `cause` (at `since`): it renegotiated every
    /// peer, distributes every stream not routed to `lost` over the `targets` ready targets,
    /// owns every entry of EZBDVIPA, and the streams made progress through it. Records the
    /// SWSA steps `by` noted and the first protected byte, and returns the figures.
    async fn takeover(
        &mut self,
        cause: &str,
        since: Instant,
        by: &str,
        lost: Option<&str>,
        targets: usize,
    ) -> Takeover {
        let mark = self.arrivals();
        let peers = self.hosts.count;
        let routes = self.routed_streams(lost);
        let done = self
            .until(
                &format!("{by} renegotiated every tunnel and distributes every stream"),
                async |run| {
                    run.tunnels(by, ActivationMethod::Takeover) == peers
                        && run.distributes(by, routes, targets).await
                        && run.progressed(&mark, lost)
                },
            )
            .await;
        if done {
            self.until(
                &format!("{by}'s restart entries replace the others in EZBDVIPA"),
                async |run| run.entries_owned_by(by).await,
            )
            .await;
        }
        let taken_by = self.active_on().await;
        let notes: Vec<(Instant, SwsaNote)> = taken_by
            .as_deref()
            .and_then(|s| self.lab.lpar(s))
            .map(|l| l.dvipa.swsa_timeline())
            .unwrap_or_default()
            .into_iter()
            .filter(|(at, _)| *at >= since)
            .collect();
        let source = taken_by.clone().unwrap_or_else(|| "?".to_owned());
        let structure = self.roles.structure.as_str().to_owned();
        let after = |at: Instant| millis(at - since);
        let mut figures = Takeover {
            cause: cause.to_owned(),
            expected_by: by.to_owned(),
            by: taken_by.clone(),
            detection_ms: None,
            cf_read_ms: None,
            entries_read: 0,
            peers_to_renegotiate: 0,
            renegotiated: Vec::new(),
            refused: Vec::new(),
            all_renegotiated_ms: None,
            first_protected_byte_ms: None,
            takeover_tunnels: taken_by
                .as_deref()
                .map_or(0, |s| self.tunnels(s, ActivationMethod::Takeover)),
        };
        let mut reading = None;
        for (at, note) in &notes {
            let text = match note {
                SwsaNote::Reading(dvipa) => {
                    if reading.is_none() {
                        reading = Some(*at);
                        figures.detection_ms = Some(after(*at));
                    }
                    format!(
                        "SWSA: {dvipa} active here ({cause}); reading its restart entries \
                         from {structure}"
                    )
                }
                SwsaNote::Read {
                    dvipa,
                    entries,
                    peers,
                } => {
                    if figures.cf_read_ms.is_none() {
                        figures.cf_read_ms = reading.map(|r| millis(*at - r));
                        figures.entries_read = *entries;
                        figures.peers_to_renegotiate = *peers;
                    }
                    format!(
                        "SWSA: read {entries} restart entries of {dvipa}; IKE renegotiates \
                         with {peers} peers as initiator (same identities, INITIAL_CONTACT)"
                    )
                }
                SwsaNote::Renegotiated(peer) => {
                    figures.renegotiated.push(Renegotiation {
                        peer: *peer,
                        after_ms: after(*at),
                    });
                    format!(
                        "SWSA: IKE and CHILD SAs with {peer} renegotiated \
                         (ActivationMethod Takeover)"
                    )
                }
                SwsaNote::Refused(peer) => {
                    figures.refused.push(*peer);
                    format!("SWSA: IKE refused the restart entry of {peer}")
                }
            };
            self.timeline.record_at(at.into_std(), &source, text);
        }
        figures.all_renegotiated_ms = figures.renegotiated.last().map(|r| r.after_ms);
        // Nothing passes the new owner's ESP before it holds an SA with a peer; what arrives
        // earlier in a planned transfer was still on its way through the old owner.
        let first_sa = notes
            .iter()
            .find_map(|(at, note)| matches!(note, SwsaNote::Renegotiated(_)).then_some(*at));
        if let Some(first_sa) = first_sa
            && let Some((at, name, target)) = self.first_byte_after(first_sa)
        {
            figures.first_protected_byte_ms = Some(after(at));
            self.timeline.record_at(
                at.into_std(),
                &target,
                format!("first protected byte after the takeover ({name}, through {source}'s ESP)"),
            );
        }
        self.timeline.record(
            "LAB",
            format!(
                "{} is Active on {source}: {} tunnels with ActivationMethod Takeover",
                self.dvipa(),
                figures.takeover_tunnels
            ),
        );
        figures
    }

    /// The first arrival at any sink after `after`: when, the stream, the target.
    fn first_byte_after(&self, after: Instant) -> Option<(Instant, String, String)> {
        let board = self.board.lock().unwrap_or_else(|e| e.into_inner());
        self.streams
            .iter()
            .filter_map(|s| {
                let arrivals = board.get(&s.source.local)?;
                let at = arrivals.first_after(after)?;
                Some((at, s.name.clone(), arrivals.target.clone()))
            })
            .min_by_key(|(at, _, _)| *at)
    }
}

/// The SWSA lab with `options.peers` hosts; the scenario runs its own watched sinks on the
/// DVIPA port instead of the topology's.
pub fn topology(options: &Options) -> Result<(Topology, IpsecHosts), Error> {
    let mut hosts = IpsecHosts::new(options.peers);
    hosts.stream_bytes = 0;
    let mut topology = hosts.swsa_lab()?;
    for lpar in &mut topology.lpars {
        lpar.section
            .apps
            .retain(|app| !matches!(app, App::StreamSink { port } if *port == hosts.port));
    }
    Ok((topology, hosts))
}

/// Runs the scenario `options` asks for.
pub async fn run(options: &Options) -> Result<Report, Error> {
    let (topology, hosts) = topology(options)?;
    let roles = roles(&topology, hosts.dvipa)?;
    let systems: Vec<String> = topology
        .lpars
        .iter()
        .map(|l| l.section.sysname.clone())
        .collect();
    let mut timeline = Timeline::new(false);
    timeline.record(
        "LAB",
        format!(
            "sysplex {}: CF embedded on loopback, {} LPARs on an in-memory LAN; {} distributes \
             {}:{} by ROUNDROBIN to {}, backup distributor {}; {} remote IPSec hosts \
             (smoltcp + IKEv2, AES-GCM ESP tunnel mode)",
            topology.sysplex.name,
            systems.len(),
            roles.distributor,
            hosts.dvipa,
            hosts.port,
            systems.join(", "),
            roles.backup,
            hosts.count
        ),
    );
    let lab = Lab::start(topology).await?;
    let mut run = Run {
        lab,
        timeline,
        hosts,
        roles,
        board: Board::default(),
        streams: Vec::new(),
    };
    let result = play(&mut run, options, &systems).await;
    let Run { lab, .. } = run;
    lab.shutdown().await;
    result
}

async fn play(run: &mut Run, options: &Options, systems: &[String]) -> Result<Report, Error> {
    let dvipa = run.dvipa();
    let port = run.hosts.port;
    let peers = run.hosts.count;
    let distributor = run.roles.distributor.clone();
    let backup = run.roles.backup.clone();
    let mut sinks = Vec::new();
    for sysname in systems {
        let lpar = run
            .lab
            .lpar(sysname)
            .ok_or_else(|| Error::Lab(format!("{sysname} did not start")))?;
        sinks.push(
            WatchedSink::start(
                &lpar.stack,
                sysname,
                port,
                stream_seed(port),
                run.board.clone(),
            )
            .await?,
        );
        run.timeline.record(
            sysname,
            format!("IPL complete; stream sink listening on port {port}"),
        );
    }
    let targets = systems.len();
    if !run
        .until(
            &format!("{distributor} distributes to {targets} ready targets"),
            async |run| run.distributes(&distributor, 0, targets).await,
        )
        .await
    {
        return Err(Error::Lab(format!(
            "{distributor} never distributed {dvipa}"
        )));
    }
    for host in run.lab.remotes_mut() {
        let name = host.name.clone();
        tokio::time::timeout(PATIENCE, host.wait_for_tunnels())
            .await
            .map_err(|_| Error::Lab(format!("{name}'s tunnel did not come up")))??;
    }
    if !run
        .until(
            &format!("{distributor} holds every tunnel and stored it in EZBDVIPA"),
            async |run| {
                run.tunnels(&distributor, ActivationMethod::Remote) == peers
                    && run.entries_owned_by(&distributor).await
            },
        )
        .await
    {
        return Err(Error::Lab(format!(
            "{distributor} did not store {peers} tunnels in {}",
            run.roles.structure.as_str()
        )));
    }
    run.timeline.record(
        &distributor,
        format!(
            "{peers} IKE tunnels up on {dvipa} (responder, ActivationMethod Remote); \
             {} holds {peers} restart entries",
            run.roles.structure.as_str()
        ),
    );

    // The streams, spread by ROUNDROBIN.
    let finish = Arc::new(AtomicBool::new(false));
    let per_peer = options.streams_per_peer();
    let target = SocketAddrV4::new(dvipa, port);
    for k in 1..=per_peer {
        for index in 0..peers {
            let host = &run.lab.remotes()[index];
            let name = format!("{}#{k}", host.name);
            let source = tokio::time::timeout(
                PATIENCE,
                PacedSource::start(
                    &host.stack,
                    host.address,
                    target,
                    stream_seed(port),
                    options.chunk,
                    options.pace,
                    finish.clone(),
                ),
            )
            .await
            .map_err(|_| Error::Lab(format!("{name} did not connect to {target}")))??;
            run.streams.push(Stream { name, source });
        }
    }
    let none = BTreeMap::new();
    if !run
        .until("every stream flows", async |run| {
            run.progressed(&none, None)
        })
        .await
    {
        return Err(Error::Lab("the streams did not flow".to_owned()));
    }
    let spread = {
        let board = run.board.lock().unwrap_or_else(|e| e.into_inner());
        let mut spread: BTreeMap<String, usize> = BTreeMap::new();
        for stream in &run.streams {
            if let Some(a) = board.get(&stream.source.local) {
                *spread.entry(a.target.clone()).or_default() += 1;
            }
        }
        spread
    };
    run.timeline.record(
        "LAB",
        format!(
            "{} checksummed streams through ESP ({} bytes every {} ms each), spread {}",
            run.streams.len(),
            options.chunk,
            options.pace.as_millis(),
            spread
                .iter()
                .map(|(s, n)| format!("{n} to {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let mut stages = vec![
        run.stage(
            "before",
            &format!("Before ({distributor} owns {dvipa})"),
            &distributor,
        )
        .await,
    ];
    let mut takeovers = Vec::new();
    let lost = match options.cause {
        Cause::Failure => {
            let since = Instant::now();
            run.lab.kill(&distributor).await?;
            run.timeline.record_at(
                since.into_std(),
                &distributor,
                "LPAR killed mid-stream: TCP/IP stack, IKE and CF link gone (a dead system)",
            );
            let cause = format!("{distributor} killed");
            takeovers.push(
                run.takeover(&cause, since, &backup, Some(&distributor), targets - 1)
                    .await,
            );
            stages.push(
                run.stage(
                    "after-takeover",
                    &format!("After the takeover ({backup} owns {dvipa})"),
                    &backup,
                )
                .await,
            );
            Some(distributor.clone())
        }
        Cause::Planned => {
            let tcpname = run.roles.tcpname.clone();
            for (verb, from, to, name) in [
                ("DEACTIVATE", &distributor, &backup, "after-transfer"),
                ("REACTIVATE", &distributor, &distributor, "after-takeback"),
            ] {
                let command = format!("RO {from},V TCPIP,{tcpname},SYSPLEX,{verb},DVIPA={dvipa}");
                let since = Instant::now();
                run.timeline.record("LAB", format!("operator: {command}"));
                let response = Display::of(&mut run.lab, &command).await;
                for line in response.text.lines() {
                    run.timeline.record("LAB", format!("response: {line}"));
                }
                let cause = format!("{verb} on {from}");
                takeovers.push(run.takeover(&cause, since, to, None, targets).await);
                if verb == "DEACTIVATE" {
                    run.until(
                        &format!("{from}'s IKE deleted its tunnels on {dvipa}"),
                        async |run| {
                            run.tunnels(from, ActivationMethod::Remote) == 0
                                && run.tunnels(from, ActivationMethod::Takeover) == 0
                        },
                    )
                    .await;
                    run.timeline.record(
                        from,
                        format!("IKE holds no tunnel on {dvipa} (deleted after the transfer)"),
                    );
                }
                let title = format!("After {verb} ({to} owns {dvipa})");
                stages.push(run.stage(name, &title, to).await);
            }
            None
        }
    };

    // The streams end: every one whose target lived completes.
    let mark = run.arrivals();
    run.until("the streams go on", async |run| {
        run.progressed(&mark, lost.as_deref())
    })
    .await;
    finish.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for stream in std::mem::take(&mut run.streams) {
        let local = stream.source.local;
        sent.push((stream.name, local, stream.source.ended().await?));
    }
    let sources = sent.iter().map(|(_, l, _)| *l).collect::<Vec<_>>();
    run.until("every sink saw its stream end", async |run| {
        let board = run.board.lock().unwrap_or_else(|e| e.into_inner());
        sources.iter().all(|l| {
            board
                .get(l)
                .is_none_or(|a| a.end.is_some() || Some(a.target.as_str()) == lost.as_deref())
        })
    })
    .await;
    let streams = outcomes(&run.board, &sent, lost.as_deref());
    let verdict = verdict(run, &streams, &takeovers, &stages, lost.is_some(), targets);
    let ended = match lost.as_deref() {
        Some(dead) => format!(
            "{} of {} streams to {dead} ended",
            verdict.lost_ended, verdict.lost_streams
        ),
        None => "no target died".to_owned(),
    };
    run.timeline.record(
        "LAB",
        format!(
            "{} of {} streams to surviving targets completed, every byte verified; {ended}; \
             longest outage {}",
            verdict.surviving_completed,
            verdict.surviving_streams,
            verdict
                .longest_outage_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms"))
        ),
    );
    run.timeline.record(
        "LAB",
        format!("verdict: {}", if verdict.holds { "HOLDS" } else { "FAILS" }),
    );
    drop(sinks);
    Ok(Report {
        scenario: options.cause.scenario().to_owned(),
        dvipa,
        port,
        peers,
        distributor,
        backup,
        structure: run.roles.structure.as_str().to_owned(),
        timeline: report::entries(&run.timeline),
        stages,
        takeovers,
        streams,
        verdict,
    })
}

/// Each stream's outcome from both ends.
fn outcomes(
    board: &Board,
    sent: &[(String, SocketAddrV4, crate::streams::Sent)],
    lost: Option<&str>,
) -> Vec<StreamOutcome> {
    let board = board.lock().unwrap_or_else(|e| e.into_inner());
    sent.iter()
        .map(|(name, local, sent)| {
            let arrivals = board.get(local);
            let target = arrivals.map_or_else(|| "-".to_owned(), |a| a.target.clone());
            let received = arrivals.map_or(0, |a| a.received);
            let verified = arrivals.map_or(0, |a| a.verified);
            let checksums_match = arrivals.is_some_and(|a| a.checksum == sent.checksum);
            let completed = sent.end == SourceEnd::Closed
                && arrivals.is_some_and(|a| {
                    a.end == Some(StreamEnd::Closed) && a.first_mismatch.is_none()
                })
                && received == sent.bytes
                && verified == sent.bytes
                && checksums_match;
            StreamOutcome {
                name: name.clone(),
                source: *local,
                target_survived: Some(target.as_str()) != lost,
                target,
                bytes_sent: sent.bytes,
                bytes_received: received,
                bytes_verified: verified,
                checksums_match,
                end: sent.end,
                completed,
                outage_ms: arrivals
                    .and_then(|a| a.longest_gap())
                    .map(|(gap, _)| millis(gap)),
            }
        })
        .collect()
}

fn verdict(
    run: &Run,
    streams: &[StreamOutcome],
    takeovers: &[Takeover],
    stages: &[Stage],
    failure: bool,
    targets: usize,
) -> Verdict {
    let peers = run.hosts.count;
    let takeovers_complete = !takeovers.is_empty()
        && takeovers.iter().all(|t| {
            t.by.as_deref() == Some(t.expected_by.as_str())
                && t.takeover_tunnels == peers
                && t.renegotiated.len() >= peers
                && t.refused.is_empty()
        });
    let mut reached: Vec<&str> = streams.iter().map(|s| s.target.as_str()).collect();
    reached.sort_unstable();
    reached.dedup();
    let surviving: Vec<&StreamOutcome> = streams.iter().filter(|s| s.target_survived).collect();
    let lost: Vec<&StreamOutcome> = streams.iter().filter(|s| !s.target_survived).collect();
    let surviving_completed = surviving.iter().filter(|s| s.completed).count();
    let lost_ended = lost
        .iter()
        .filter(|s| !s.completed && s.end != SourceEnd::Closed)
        .count();
    let no_clear_text = run.lab.remotes().iter().all(|h| {
        h.ipsec
            .as_ref()
            .is_some_and(|i| !i.state().counters.drops.contains_key(CLEAR_DROPPED))
    });
    let final_owner = takeovers.last().map(|t| t.expected_by.as_str());
    let ezbdvipa_moved = stages.last().is_some_and(|s| {
        s.owners.len() == peers
            && s.owners
                .iter()
                .all(|(_, o)| Some(o.as_str()) == final_owner)
    });
    let longest_outage_ms = surviving
        .iter()
        .filter_map(|s| s.outage_ms)
        .max_by(f64::total_cmp);
    let holds = takeovers_complete
        && reached.len() == targets
        && !surviving.is_empty()
        && surviving_completed == surviving.len()
        && (failure != lost.is_empty())
        && lost_ended == lost.len()
        && no_clear_text
        && ezbdvipa_moved;
    Verdict {
        takeovers_complete,
        spread_over_targets: reached.len() == targets,
        surviving_streams: surviving.len(),
        surviving_completed,
        lost_streams: lost.len(),
        lost_ended,
        no_clear_text,
        ezbdvipa_moved,
        longest_outage_ms,
        holds,
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1} ms"))
}

impl Report {
    /// The report as `sysplex run` prints it.
    pub fn listing(&self) -> String {
        let mut out = String::from("=== Timeline\n");
        out.push_str(&report::timeline_listing(&self.timeline));
        for stage in &self.stages {
            out.push_str(&format!(
                "\n=== {}: restart entries in {}\n{}",
                stage.title, self.structure, stage.ezbdvipa
            ));
            out.push_str(&report::listing(&[(
                &format!("{}: displays", stage.title),
                &stage.displays,
            )]));
        }
        out.push_str("\n=== Takeover figures (from each cause)\n");
        for t in &self.takeovers {
            let first = t.renegotiated.first().map(|r| r.after_ms);
            out.push_str(&format!(
                "{} -> {}: detection {}, CF read {} ({} entries, {} peers), renegotiation \
                 first {} last {} ({} of {} peers), first protected byte {}\n",
                t.cause,
                t.by.as_deref().unwrap_or("no system"),
                ms(t.detection_ms),
                ms(t.cf_read_ms),
                t.entries_read,
                t.peers_to_renegotiate,
                ms(first),
                ms(t.all_renegotiated_ms),
                t.renegotiated.len(),
                self.peers,
                ms(t.first_protected_byte_ms)
            ));
        }
        out.push_str("\n=== Streams\n");
        for s in &self.streams {
            out.push_str(&format!(
                "{:<10} {:<21} to {:<5} {:<9} sent {:>8} verified {:>8} outage {:>9}\n",
                s.name,
                s.source.to_string(),
                s.target,
                if s.completed {
                    "completed".to_owned()
                } else {
                    format!("{:?}", s.end).to_lowercase()
                },
                s.bytes_sent,
                s.bytes_verified,
                ms(s.outage_ms)
            ));
        }
        let v = &self.verdict;
        out.push_str(&format!(
            "\n=== Verdict: {}\n",
            if v.holds { "HOLDS" } else { "FAILS" }
        ));
        out.push_str(&format!(
            "takeovers by the expected systems, every peer renegotiated: {}\n\
             streams spread over every target: {}\n\
             streams to surviving targets completed, every byte verified: {} of {}\n\
             streams to a target that died ended: {} of {}\n\
             no clear text at any host: {}\n\
             {} holds one entry per peer, owned by the final owner: {}\n\
             longest outage of a surviving stream: {}\n",
            v.takeovers_complete,
            v.spread_over_targets,
            v.surviving_completed,
            v.surviving_streams,
            v.lost_ended,
            v.lost_streams,
            v.no_clear_text,
            self.structure,
            v.ezbdvipa_moved,
            ms(v.longest_outage_ms)
        ));
        out
    }
}
