//! `sysplex bench takeover`: the time from SIGKILL of a DVIPA's owner to the first answered
//! ping and the first accepted TCP connection on the backup, in the embedded lab and in the
//! per-process TAP lab, side by side with keepalived (VRRP, `advert_int 1`) killed the same way;
//! median, least and greatest of N runs and the ratio keepalived / ours. Anchors: keepalived
//! with 1 s adverts needs about 3.6 s (3 × advert_int + skew, counted from the last advert heard,
//! so 2.6–3.6 s after a kill at a random moment); strongSwan HA aims at 1–3 s; the goal for a
//! dead process is under 100 ms.

use std::fmt;
use std::path::PathBuf;

use super::Summary;
use super::probe::Answered;
use super::{embedded_takeover, keepalived, tap_takeover};
use crate::Error;
use stacks::lan::netns::missing_prerequisite;

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Runs per lab.
    pub runs: usize,
    /// The `sysplex` binary the TAP lab starts (`cf`, `lpar`).
    pub binary: PathBuf,
}

/// The figures of one lab.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What ran.
    pub lab: String,
    /// Runs that completed, of those tried.
    pub completed: usize,
    /// Runs tried.
    pub tried: usize,
    /// Milliseconds to the first echo reply.
    pub ping: Option<Summary>,
    /// Milliseconds to the first accepted connection.
    pub tcp: Option<Summary>,
    /// Why the lab did not run, if it did not.
    pub skipped: Option<String>,
}

/// The benchmark's table.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Ours: the embedded lab, the TAP lab.
    pub ours: Vec<Row>,
    /// keepalived.
    pub peer: Row,
}

/// Runs every lab `options.runs` times (each run on a fresh lab); failed runs are reported on
/// standard error and left out of the figures.
pub async fn run(options: &Options) -> Result<Report, Error> {
    let embedded = embedded_takeover::topology();
    let mut samples = Vec::new();
    for n in 1..=options.runs {
        note(
            "embedded",
            n,
            embedded_takeover::run_once(&embedded).await,
            &mut samples,
        );
    }
    let embedded_row = row(
        "zsysplex embedded lab (in-memory LAN)",
        options.runs,
        &samples,
        None,
    );
    let tap_row = blocking_lab(
        "zsysplex TAP lab (sysplex lpar processes)",
        options,
        missing_prerequisite(&["ip", "python3"]),
        {
            let binary = options.binary.clone();
            move || tap_takeover::run_once(&binary, &tap_takeover::topology())
        },
    )
    .await?;
    let peer = blocking_lab(
        "keepalived VRRP, advert_int 1",
        options,
        missing_prerequisite(&["ip", "python3"]).or_else(keepalived_missing),
        keepalived::run_once,
    )
    .await?;
    Ok(Report {
        ours: vec![embedded_row, tap_row],
        peer,
    })
}

/// Runs a lab whose runs block (processes in namespaces) on a blocking thread, unless `skip`.
async fn blocking_lab(
    name: &str,
    options: &Options,
    skip: Option<String>,
    once: impl Fn() -> Result<Answered, Error> + Send + 'static,
) -> Result<Row, Error> {
    if let Some(why) = skip {
        eprintln!("skipping {name}: {why}");
        return Ok(row(name, options.runs, &[], Some(why)));
    }
    let runs = options.runs;
    let label = name.to_owned();
    let samples = tokio::task::spawn_blocking(move || {
        let mut samples = Vec::new();
        for n in 1..=runs {
            note(&label, n, once(), &mut samples);
        }
        samples
    })
    .await
    .map_err(|e| Error::Lab(format!("{name}: {e}")))?;
    Ok(row(name, runs, &samples, None))
}

/// Installs keepalived with apt-get when it is missing; why it is still missing, if it is.
fn keepalived_missing() -> Option<String> {
    if keepalived::installed() {
        return None;
    }
    eprintln!("keepalived is missing: apt-get install -y keepalived");
    let installed = std::process::Command::new("apt-get")
        .args(["install", "-y", "keepalived"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    (!installed || !keepalived::installed())
        .then(|| "keepalived is not installed and apt-get could not install it".to_owned())
}

/// Records one run's outcome (a failure on standard error).
fn note(lab: &str, n: usize, outcome: Result<Answered, Error>, samples: &mut Vec<Answered>) {
    match outcome {
        Ok(answered) => {
            eprintln!(
                "{lab} run {n}: first echo reply {:.1} ms, first connection {:.1} ms",
                answered.ping_ms, answered.tcp_ms
            );
            samples.push(answered);
        }
        Err(error) => eprintln!("{lab} run {n} failed: {error}"),
    }
}

fn row(lab: &str, tried: usize, samples: &[Answered], skipped: Option<String>) -> Row {
    let pings: Vec<f64> = samples.iter().map(|a| a.ping_ms).collect();
    let tcps: Vec<f64> = samples.iter().map(|a| a.tcp_ms).collect();
    Row {
        lab: lab.to_owned(),
        completed: samples.len(),
        tried,
        ping: Summary::of(&pings),
        tcp: Summary::of(&tcps),
        skipped,
    }
}

fn cell(summary: Option<Summary>) -> String {
    summary.map_or_else(
        || "-".to_owned(),
        |s| format!("{:.1} ({:.1}-{:.1})", s.median, s.min, s.max),
    )
}

fn ratio(peer: Option<Summary>, ours: Option<Summary>) -> String {
    match (peer, ours) {
        (Some(p), Some(o)) if o.median > 0.0 => format!("{:.0}x", p.median / o.median),
        _ => "-".to_owned(),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "DVIPA takeover: SIGKILL of the owner to the first answer from the backup, \
             milliseconds, median (min-max)"
        )?;
        writeln!(
            f,
            "{:<44} {:>6}  {:<26} {:<26}",
            "lab", "runs", "first ping reply", "first TCP accept"
        )?;
        for row in self.ours.iter().chain([&self.peer]) {
            match &row.skipped {
                Some(why) => writeln!(f, "{:<44} {:>6}  skipped: {why}", row.lab, "-")?,
                None => writeln!(
                    f,
                    "{:<44} {:>6}  {:<26} {:<26}",
                    row.lab,
                    format!("{}/{}", row.completed, row.tried),
                    cell(row.ping),
                    cell(row.tcp)
                )?,
            }
        }
        for ours in &self.ours {
            writeln!(
                f,
                "{:<44} {:>6}  {:<26} {:<26}",
                format!(
                    "ratio keepalived / {}",
                    ours.lab.split(" (").next().unwrap_or("")
                ),
                "",
                ratio(self.peer.ping, ours.ping),
                ratio(self.peer.tcp, ours.tcp)
            )?;
        }
        writeln!(
            f,
            "anchors: keepalived advert_int 1 about 3600 ms from its last advert (2600-3600 ms \
             from a kill); strongSwan HA 1000-3000 ms; goal for a dead process under 100 ms"
        )
    }
}
