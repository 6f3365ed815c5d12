//! `sysplex bench swsa`: sysplex-wide security associations under load. In the embedded lab of
//! [`super::swsa_lab`] SYS1 owns the DVIPAs with N IKE tunnels up and in EZBDVIPA; it is killed
//! (SIGKILL-equivalent: DVIPA service, CF link and stack gone at once) and SYS2 takes the
//! DVIPAs over, reads EZBDVIPA and renegotiates every tunnel as initiator. From SYS2's SWSA
//! timeline: detection (kill to the first `Reading`), CF read (first `Reading` to the last
//! `Read`), renegotiation (first `Read` to the last `Renegotiated`, and each tunnel's own time
//! from the first `Read`, p50 and p99) and the total (kill to the last `Renegotiated`); from
//! the first tunnel's peer, which starts a TCP connection to the DVIPA's echo port every 5 ms,
//! the first protected byte (the first echo round trip through ESP on a connection opened
//! once SYS1's stack is gone). A fresh lab for each run.
//!
//! No peer is measured side by side: nothing else renegotiates IPSec tunnels from a
//! coupling facility, and setting the same tunnels up from scratch (by our IKE or by
//! strongSwan) is not a takeover. The anchors are published figures.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stacks::stack::StackHandle;
use stacks::stack::tcp::Received;
use stacks::swsa::SwsaNote;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::Summary;
use super::swsa_lab::{PEERS_PER_STACK, Plan, SwsaLab, established};
use super::swsa_swan::{self, SwanSection};
use crate::Error;

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The tunnel counts, one table row each.
    pub peers: Vec<usize>,
    /// Runs per count (and of the strongSwan lab).
    pub runs: usize,
    /// The `sysplex` binary the strongSwan lab starts (`cf`, `lpar`, `console`).
    pub binary: PathBuf,
}

/// The figures of one run, in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Kill to SYS2's first `Reading`.
    pub detection: f64,
    /// First `Reading` to the last `Read`.
    pub cf_read: f64,
    /// First `Read` to the last `Renegotiated`.
    pub renegotiation: f64,
    /// First `Read` to each `Renegotiated`.
    pub per_peer: Vec<f64>,
    /// Kill to the first echo round trip through ESP.
    pub first_byte: f64,
    /// Kill to the last `Renegotiated`.
    pub total: f64,
    /// Tunnels the daemon refused to renegotiate.
    pub refused: usize,
}

impl Sample {
    /// Detection to the first protected byte.
    pub fn first_byte_after_detection(&self) -> f64 {
        self.first_byte - self.detection
    }

    /// Detection to the last tunnel renegotiated.
    pub fn renegotiated_after_detection(&self) -> f64 {
        self.total - self.detection
    }
}

/// Milliseconds from `from` to `to`.
fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// The figures of one run from SYS2's timeline: `None` until it holds a `Read` for every one of
/// `dvipas` and a `Renegotiated` or `Refused` for each of `peers` tunnels.
pub fn figures(
    killed: Instant,
    timeline: &[(Instant, SwsaNote)],
    dvipas: &[Ipv4Addr],
    peers: usize,
    first_byte: Instant,
) -> Option<Sample> {
    let after: Vec<&(Instant, SwsaNote)> = timeline.iter().filter(|(t, _)| *t >= killed).collect();
    let reading = after
        .iter()
        .filter(|(_, n)| matches!(n, SwsaNote::Reading(d) if dvipas.contains(d)))
        .map(|(t, _)| *t)
        .min()?;
    let reads: Vec<Instant> = dvipas
        .iter()
        .map(|dvipa| {
            after
                .iter()
                .find(|(_, n)| matches!(n, SwsaNote::Read { dvipa: d, .. } if d == dvipa))
                .map(|(t, _)| *t)
        })
        .collect::<Option<_>>()?;
    let (first_read, last_read) = (*reads.iter().min()?, *reads.iter().max()?);
    let renegotiated: Vec<Instant> = after
        .iter()
        .filter(|(_, n)| matches!(n, SwsaNote::Renegotiated(_)))
        .map(|(t, _)| *t)
        .collect();
    let refused = after
        .iter()
        .filter(|(_, n)| matches!(n, SwsaNote::Refused(_)))
        .count();
    if renegotiated.len() + refused < peers {
        return None;
    }
    let last = renegotiated.iter().max().copied().unwrap_or(last_read);
    Some(Sample {
        detection: ms(killed, reading),
        cf_read: ms(reading, last_read),
        renegotiation: ms(first_read, last),
        per_peer: renegotiated.iter().map(|t| ms(first_read, *t)).collect(),
        first_byte: ms(killed, first_byte),
        total: ms(killed, last),
        refused,
    })
}

/// The `p`th percentile (1–100) of `samples`, nearest rank; `None` when there are none.
pub fn percentile(samples: &[f64], p: usize) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p * sorted.len()).div_ceil(100);
    sorted.get(rank.saturating_sub(1)).copied()
}

/// The figures of one tunnel count.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The lab's layout.
    pub plan: Plan,
    /// Runs tried.
    pub tried: usize,
    /// The completed runs.
    pub samples: Vec<Sample>,
}

impl Row {
    fn summary(&self, figure: impl Fn(&Sample) -> f64) -> Option<Summary> {
        let values: Vec<f64> = self.samples.iter().map(figure).collect();
        Summary::of(&values)
    }

    fn per_peer(&self, p: usize) -> Option<f64> {
        let all: Vec<f64> = self
            .samples
            .iter()
            .flat_map(|s| s.per_peer.iter().copied())
            .collect();
        percentile(&all, p)
    }
}

/// The benchmark's tables.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// One row per tunnel count.
    pub rows: Vec<Row>,
    /// The strongSwan lab (root).
    pub swan: SwanSection,
}

/// Runs every tunnel count `options.runs` times, each on a fresh lab, then the strongSwan lab's
/// SIGKILL case as often (root; skipped otherwise); failed runs are reported on standard error
/// and left out of the figures.
///
/// # Errors
/// [`Error::Lab`] for a tunnel count the lab cannot hold.
pub async fn run(options: &Options) -> Result<Report, Error> {
    let mut rows = Vec::new();
    for &peers in &options.peers {
        let plan = Plan::for_peers(peers)?;
        let mut samples = Vec::new();
        for n in 1..=options.runs {
            match run_once(plan).await {
                Ok(sample) => {
                    eprintln!(
                        "{peers} peers, run {n}: detection {:.1} ms, CF read {:.1} ms, \
                         renegotiation {:.1} ms, first byte {:.1} ms, total {:.1} ms",
                        sample.detection,
                        sample.cf_read,
                        sample.renegotiation,
                        sample.first_byte,
                        sample.total
                    );
                    samples.push(sample);
                }
                Err(error) => eprintln!("{peers} peers, run {n} failed: {error}"),
            }
        }
        rows.push(Row {
            plan,
            tried: options.runs,
            samples,
        });
    }
    let swan = swsa_swan::run(options.binary.clone(), options.runs).await?;
    Ok(Report { rows, swan })
}

/// How long a run may wait for the takeover after the kill.
const PATIENCE: Duration = Duration::from_secs(60);
/// Time between two connects of the probe.
const CONNECT_EVERY: Duration = Duration::from_millis(2);
/// How long one of the probe's connects, or its echo, may wait: a SYN lost before the new
/// tunnel is up would only come back with the retransmission, so a new connect is better.
const ATTEMPT: Duration = Duration::from_millis(200);
/// Connects in flight at most (more than [`ATTEMPT`] / [`CONNECT_EVERY`], so the probe never
/// pauses).
const CONNECTS_IN_FLIGHT: usize = 128;
/// How long the check before the kill may wait.
const WARM_UP: Duration = Duration::from_secs(5);
/// What the probe sends and expects back.
const PAYLOAD: &[u8] = b"protected by SWSA";

async fn run_once(plan: Plan) -> Result<Sample, Error> {
    let started = Instant::now();
    let mut lab = SwsaLab::start(plan).await?;
    eprintln!(
        "{} peers: lab up in {} ms ({} DVIPAs, {} peer addresses on {} remote stacks)",
        plan.peers,
        started.elapsed().as_millis(),
        plan.dvipas,
        plan.addresses,
        plan.remote_stacks()
    );
    let measured = measure(&mut lab).await;
    lab.shutdown().await;
    measured
}

async fn measure(lab: &mut SwsaLab) -> Result<Sample, Error> {
    let (host, source, target) = lab.probe_route()?;
    echo(&host, source, target, WARM_UP)
        .await
        .map_err(|why| Error::Lab(format!("no echo through SYS1 before the kill: {why}")))?;
    let sys1 = lab
        .sys1
        .take()
        .ok_or_else(|| Error::Lab("SYS1 is not running".into()))?;
    let (tx, mut answers) = mpsc::unbounded_channel();
    let killed = Instant::now();
    sys1.kill().await;
    // Only connections opened once SYS1's stack is gone count: it answers for the few
    // milliseconds its shutdown takes after its DVIPA service and CF link are gone.
    let prober = tokio::spawn(probe(host, source, target, tx));
    let dvipas = lab.plan.dvipa_list();
    let outcome = async {
        let mut first_byte = None;
        loop {
            if first_byte.is_none()
                && let Ok(at) = answers.try_recv()
            {
                first_byte = Some(at);
            }
            if let Some(at) = first_byte {
                let timeline = lab.sys2.dvipa.swsa_timeline();
                if let Some(sample) = figures(killed, &timeline, &dvipas, lab.plan.peers, at) {
                    return Ok(sample);
                }
            }
            if killed.elapsed() > PATIENCE {
                let timeline = lab.sys2.dvipa.swsa_timeline();
                let renegotiated = timeline
                    .iter()
                    .filter(|(_, n)| matches!(n, SwsaNote::Renegotiated(_)))
                    .count();
                return Err(Error::Lab(format!(
                    "takeover not done {PATIENCE:?} after the kill: {renegotiated} of {} \
                     tunnels renegotiated ({} up on SYS2), first byte {}",
                    lab.plan.peers,
                    established(&lab.sys2.ipsec),
                    if first_byte.is_some() {
                        "through"
                    } else {
                        "not through"
                    }
                )));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    .await;
    prober.abort();
    outcome
}

/// Starts a connect from `source` to `target` every [`CONNECT_EVERY`] (at most
/// [`CONNECTS_IN_FLIGHT`] at once); sends when each completed an echo round trip.
async fn probe(
    host: StackHandle,
    source: Ipv4Addr,
    target: SocketAddrV4,
    tx: mpsc::UnboundedSender<Instant>,
) {
    let mut ticker = tokio::time::interval(CONNECT_EVERY);
    let in_flight = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    loop {
        ticker.tick().await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            continue;
        };
        let (host, tx) = (host.clone(), tx.clone());
        tokio::spawn(async move {
            if echo(&host, source, target, ATTEMPT).await.is_ok() {
                let _ = tx.send(Instant::now());
            }
            drop(permit);
        });
    }
}

/// One connection from `source` to `target` and one echo round trip on it, each step within
/// `patience`.
async fn echo(
    host: &StackHandle,
    source: Ipv4Addr,
    target: SocketAddrV4,
    patience: Duration,
) -> Result<(), String> {
    let connect = host.connect_from("PROBE", source, target);
    let stream = match tokio::time::timeout(patience, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(_) => return Err("connect timed out".into()),
    };
    let (mut reader, mut writer) = stream.split();
    writer
        .send(Bytes::from_static(PAYLOAD))
        .await
        .map_err(|e| e.to_string())?;
    let mut back = Vec::new();
    while back.len() < PAYLOAD.len() {
        match tokio::time::timeout(patience, reader.recv()).await {
            Ok(Received::Data(data)) => back.extend_from_slice(&data),
            Ok(other) => return Err(format!("echo ended: {other:?}")),
            Err(_) => return Err("echo timed out".into()),
        }
    }
    if back == PAYLOAD {
        Ok(())
    } else {
        Err("echo garbled".into())
    }
}

fn cell(summary: Option<Summary>) -> String {
    summary.map_or_else(
        || "-".to_owned(),
        |s| format!("{:.1} ({:.1}-{:.1})", s.median, s.min, s.max),
    )
}

fn value(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

/// The goal for a row, if the issue sets one for its tunnel count: what, the bound, the
/// figure it applies to.
fn goal(row: &Row) -> Option<(&'static str, f64, Option<Summary>)> {
    match row.plan.peers {
        1 => Some((
            "first byte <= 100 ms after detection",
            100.0,
            row.summary(Sample::first_byte_after_detection),
        )),
        1000 => Some((
            "all renegotiated <= 1000 ms after detection",
            1000.0,
            row.summary(Sample::renegotiated_after_detection),
        )),
        _ => None,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "SWSA takeover, embedded lab: SIGKILL of SYS1 to SYS2 renegotiating every tunnel \
             from EZBDVIPA; milliseconds, median (min-max) of the completed runs"
        )?;
        writeln!(
            f,
            "{:>5} {:>11} {:>5}  {:<20} {:<20} {:<22} {:>8} {:>8}  total",
            "peers",
            "DVIPAs/addr",
            "runs",
            "detection",
            "CF read",
            "renegotiation",
            "peer p50",
            "peer p99",
        )?;
        for row in &self.rows {
            writeln!(
                f,
                "{:>5} {:>11} {:>5}  {:<20} {:<20} {:<22} {:>8} {:>8}  {}",
                row.plan.peers,
                format!("{}/{}", row.plan.dvipas, row.plan.addresses),
                format!("{}/{}", row.samples.len(), row.tried),
                cell(row.summary(|s| s.detection)),
                cell(row.summary(|s| s.cf_read)),
                cell(row.summary(|s| s.renegotiation)),
                value(row.per_peer(50)),
                value(row.per_peer(99)),
                cell(row.summary(|s| s.total)),
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:>5}  {:<22} {:<22} {:<24}  goal",
            "peers", "first byte from kill", "from detection", "all renegotiated (det.)"
        )?;
        for row in &self.rows {
            let verdict = match goal(row) {
                Some((what, bound, Some(s))) => {
                    let met = if s.median <= bound { "met" } else { "MISSED" };
                    format!("{what}: {met} (median)")
                }
                Some((what, _, None)) => format!("{what}: no figure"),
                None => "-".to_owned(),
            };
            writeln!(
                f,
                "{:>5}  {:<22} {:<22} {:<24}  {verdict}",
                row.plan.peers,
                cell(row.summary(|s| s.first_byte)),
                cell(row.summary(Sample::first_byte_after_detection)),
                cell(row.summary(Sample::renegotiated_after_detection)),
            )?;
        }
        let refused: usize = self
            .rows
            .iter()
            .flat_map(|r| r.samples.iter().map(|s| s.refused))
            .sum();
        if refused > 0 {
            writeln!(f, "tunnels refused by SYS2's IKE daemon: {refused}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "layout: tunnel i runs from peer address 198.51.100.(20 + i mod A) to DVIPA \
             198.51.100.(10 + i div A) (DVIPAs/addr = D/A: D DVIPAs, A addresses); peers on \
             remote stacks of {PEERS_PER_STACK} addresses, one IKE daemon each, every stack \
             behind one gateway; AES-128-GCM, X25519, PSK, UDP-encapsulated ESP"
        )?;
        writeln!(
            f,
            "per peer: from SYS2's first Read of EZBDVIPA to that tunnel's Renegotiated, all \
             runs pooled; first byte: first echo round trip through ESP on a TCP connection \
             opened once SYS1's stack is gone (a new connect every 2 ms, each given 200 ms)"
        )?;
        writeln!(
            f,
            "anchors (published figures, NOT measured here): strongSwan HA plugin 1000-3000 ms \
             with IKE/ESP state synchronised beforehand; keepalived about 3600 ms only to move \
             an address"
        )?;
        writeln!(
            f,
            "no side-by-side peer: no other implementation renegotiates IPSec tunnels from a \
             CF, and setting the same tunnels up from scratch is not the same thing"
        )?;
        writeln!(f)?;
        let one_peer = self.rows.iter().find(|r| r.plan.peers == 1);
        self.swan.render(one_peer, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::swan_lab::{Stall, Timing};

    const D1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    const D2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);
    const P: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn timeline(base: Instant) -> Vec<(Instant, SwsaNote)> {
        let read = |dvipa| SwsaNote::Read {
            dvipa,
            entries: 1,
            peers: 1,
        };
        vec![
            (base, SwsaNote::Renegotiated(P)),
            (at(base, 20), SwsaNote::Reading(D1)),
            (at(base, 21), SwsaNote::Reading(D2)),
            (at(base, 25), read(D1)),
            (at(base, 30), read(D2)),
            (at(base, 45), SwsaNote::Renegotiated(P)),
            (at(base, 65), SwsaNote::Renegotiated(P)),
        ]
    }

    #[test]
    fn figures_split_the_takeover_at_the_timeline_notes_after_the_kill() {
        let base = Instant::now();
        let killed = at(base, 10);
        let sample = figures(killed, &timeline(base), &[D1, D2], 2, at(base, 50)).unwrap();
        assert_eq!(sample.detection, 10.0);
        assert_eq!(sample.cf_read, 10.0);
        assert_eq!(sample.renegotiation, 40.0);
        assert_eq!(sample.per_peer, vec![20.0, 40.0]);
        assert_eq!(sample.first_byte, 40.0);
        assert_eq!(sample.first_byte_after_detection(), 30.0);
        assert_eq!(sample.total, 55.0);
        assert_eq!(sample.renegotiated_after_detection(), 45.0);
    }

    #[test]
    fn figures_wait_for_every_dvipa_read_and_every_tunnel() {
        let base = Instant::now();
        let killed = at(base, 10);
        let notes = timeline(base);
        assert_eq!(figures(killed, &notes, &[D1, D2], 3, at(base, 50)), None);
        let missing_read = &notes[..4];
        assert_eq!(
            figures(killed, missing_read, &[D1, D2], 0, at(base, 50)),
            None
        );
    }

    #[test]
    fn percentile_takes_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50), Some(50.0));
        assert_eq!(percentile(&samples, 99), Some(99.0));
        assert_eq!(percentile(&[7.0], 99), Some(7.0));
        assert_eq!(percentile(&[3.0, 1.0], 50), Some(1.0));
        assert_eq!(percentile(&[], 50), None);
    }

    fn sample(detection: f64, first_byte: f64, total: f64) -> Sample {
        Sample {
            detection,
            cf_read: 1.5,
            renegotiation: total - detection - 1.5,
            per_peer: vec![total - detection - 1.5],
            first_byte,
            total,
            refused: 0,
        }
    }

    #[test]
    fn the_table_shows_each_count_the_goals_and_the_anchors_as_published() {
        let report = Report {
            rows: vec![
                Row {
                    plan: Plan::for_peers(1).unwrap(),
                    tried: 2,
                    samples: vec![sample(3.0, 40.0, 42.0), sample(5.0, 60.0, 61.0)],
                },
                Row {
                    plan: Plan::for_peers(1000).unwrap(),
                    tried: 1,
                    samples: vec![sample(4.0, 300.0, 2004.0)],
                },
                Row {
                    plan: Plan::for_peers(10).unwrap(),
                    tried: 1,
                    samples: Vec::new(),
                },
            ],
            swan: SwanSection {
                tried: 4,
                samples: vec![
                    swan_timing(30.0, 300.0, 410.0),
                    swan_timing(50.0, 350.0, 390.0),
                    Timing {
                        stalls: Vec::new(),
                        ..swan_timing(10.0, 12.0, 0.0)
                    },
                ],
                version: Some("Linux strongSwan 5.9.8".to_owned()),
                skipped: None,
            },
        };
        insta::assert_snapshot!(report.to_string());
    }

    fn swan_timing(takeover: f64, child: f64, resumed: f64) -> Timing {
        Timing {
            takeover,
            child_logged: Some(child),
            renegotiated: child + 20.0,
            first_protected: Some(child + 30.0),
            stalls: vec![
                Stall {
                    stream: 0,
                    stalled: -40.0,
                    resumed,
                },
                Stall {
                    stream: 1,
                    stalled: -10.0,
                    resumed: resumed + 100.0,
                },
            ],
        }
    }

    #[test]
    fn without_root_the_strongswan_lab_says_why_it_was_skipped() {
        let report = Report {
            rows: Vec::new(),
            swan: SwanSection {
                tried: 3,
                samples: Vec::new(),
                version: None,
                skipped: Some("it needs root (network namespaces and TAP devices)".to_owned()),
            },
        };
        let text = report.to_string();
        assert!(
            text.contains("strongSwan lab (root)")
                && text.ends_with("skipped: it needs root (network namespaces and TAP devices)\n"),
            "{text}"
        );
    }
}
