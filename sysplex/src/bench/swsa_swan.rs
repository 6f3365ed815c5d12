//! The strongSwan part of `sysplex bench swsa` (root): the SIGKILL case of the
//! [strongSwan lab](super::swan_lab) N times, a fresh lab each run, timed from the kill: SYS2's
//! takeover message, charon's log line of its new CHILD SA, strongSwan listing only the new SAs,
//! and the first and last stalled stream acknowledged again (the first protected byte through
//! the new SAs). A run counts when both streams finished and both sinks verified every byte.

use std::fmt;
use std::path::PathBuf;

use super::Summary;
use super::swan_lab::{self, Move, Outcome, STREAM_BYTES, STREAMS, Timing};
use super::swsa::{Row, Sample};
use crate::Error;

/// The strongSwan lab's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct SwanSection {
    /// Runs tried.
    pub tried: usize,
    /// The completed runs' times.
    pub samples: Vec<Timing>,
    /// charon's version line (`charon --version`), when it ran.
    pub version: Option<String>,
    /// Why it did not run, if it did not.
    pub skipped: Option<String>,
}

/// Runs the SIGKILL case `runs` times with the `sysplex` binary `binary` on a blocking thread;
/// skipped without root or strongSwan. Failed runs are reported on standard error.
///
/// # Errors
/// [`Error::Lab`] when the blocking thread fails.
pub async fn run(binary: PathBuf, runs: usize) -> Result<SwanSection, Error> {
    if let Some(why) = swan_lab::skip_reason() {
        eprintln!("skipping the strongSwan lab: {why}");
        return Ok(SwanSection {
            tried: runs,
            samples: Vec::new(),
            version: None,
            skipped: Some(why),
        });
    }
    let version = swan_lab::peer_version();
    let samples = tokio::task::spawn_blocking(move || {
        let mut samples = Vec::new();
        for n in 1..=runs {
            match swan_lab::move_mid_stream(&binary, Move::Kill).and_then(intact) {
                Ok(timing) => {
                    eprintln!(
                        "strongSwan lab, run {n}: EZZ8301I {:.1} ms, new CHILD SA logged {}, \
                         SAs listed {:.1} ms, first protected round trip {}, streams \
                         stalled >= 30 ms resume {}",
                        timing.takeover,
                        optional(timing.child_logged),
                        timing.renegotiated,
                        optional(timing.first_protected),
                        optional(timing.last_resumed())
                    );
                    samples.push(timing);
                }
                Err(error) => eprintln!("strongSwan lab, run {n} failed: {error}"),
            }
        }
        samples
    })
    .await
    .map_err(|e| Error::Lab(format!("the strongSwan lab: {e}")))?;
    Ok(SwanSection {
        tried: runs,
        samples,
        version,
        skipped: None,
    })
}

/// The times of a run whose streams finished and whose sinks verified every byte.
fn intact(outcome: Outcome) -> Result<Timing, Error> {
    let finished = (0..STREAMS).all(|i| outcome.finished(i));
    let verified = outcome.sinks.values().flatten().count() == STREAMS
        && outcome
            .sinks
            .values()
            .flatten()
            .all(|r| r.verified == STREAM_BYTES && r.mismatch == "NONE");
    if finished && verified {
        Ok(outcome.timing)
    } else {
        Err(Error::Lab(format!(
            "the streams did not arrive whole: source {:?}, sinks {:?}",
            outcome.source, outcome.sinks
        )))
    }
}

fn optional(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1} ms"))
}

fn cell(values: &[f64]) -> String {
    Summary::of(values).map_or_else(
        || "-".to_owned(),
        |s| format!("{:.1} ({:.1}-{:.1})", s.median, s.min, s.max),
    )
}

impl SwanSection {
    fn column(&self, figure: impl Fn(&Timing) -> Option<f64>) -> String {
        let values: Vec<f64> = self.samples.iter().filter_map(figure).collect();
        cell(&values)
    }

    /// The table, with the embedded lab's one-tunnel `row` beside it if there is one.
    pub fn render(&self, embedded: Option<&Row>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "SWSA takeover, strongSwan lab (root): three sysplex lpar processes on TAP, a real \
             strongSwan charon as PEER1 in a namespace, two paced streams through ESP; SIGKILL of \
             SYS1; milliseconds from the kill, median (min-max) of the completed runs"
        )?;
        if let Some(why) = &self.skipped {
            return writeln!(f, "skipped: {why}");
        }
        writeln!(
            f,
            "{:<20} {:>4}  {:<20} {:<20} {:<20} {:<20} streams resume (stalled)",
            "lab",
            "runs",
            "takeover msg",
            "peer's new CHILD SA",
            "peer lists new SAs",
            "first protected",
        )?;
        let stalled = self
            .samples
            .iter()
            .filter(|t| t.last_resumed().is_some())
            .count();
        writeln!(
            f,
            "{:<20} {:>4}  {:<20} {:<20} {:<20} {:<20} {} ({stalled} of {} runs)",
            "strongSwan, 1 peer",
            format!("{}/{}", self.samples.len(), self.tried),
            self.column(|t| Some(t.takeover)),
            self.column(|t| t.child_logged),
            self.column(|t| Some(t.renegotiated)),
            self.column(|t| t.first_protected),
            self.column(Timing::last_resumed),
            self.samples.len(),
        )?;
        if let Some(row) = embedded {
            let of = |figure: fn(&Sample) -> f64| {
                cell(&row.samples.iter().map(figure).collect::<Vec<_>>())
            };
            writeln!(
                f,
                "{:<20} {:>4}  {:<20} {:<20} {:<20} {:<20} -",
                "embedded, 1 peer",
                format!("{}/{}", row.samples.len(), row.tried),
                of(|s| s.detection),
                of(|s| s.total),
                "-",
                of(|s| s.first_byte),
            )?;
        }
        if let Some(version) = &self.version {
            writeln!(f, "peer: {version} (kernel-libipsec, by scripts/swan-peer)")?;
        }
        writeln!(
            f,
            "strongSwan: takeover msg = SYS2's EZZ8301I as read from its process's output \
             (`sysplex lpar` prints each console message as it is written); new CHILD SA = charon's log line \"CHILD_SA ... established with \
             SPIs\" (log polled every 2 ms); lists new SAs = swanctl --list-sas shows only new \
             IKE and CHILD SPIs (polled every 10 ms); first protected = the new CHILD SA has \
             counted bytes in and out (swanctl, polled every 10 ms); streams resume = the last \
             stream that stalled (no byte acknowledged for 30 ms or more, kernel TCP_INFO \
             sampled every 10 ms) acknowledged again, over the runs where one stalled"
        )?;
        writeln!(
            f,
            "embedded (same columns): detection (first Reading), last tunnel Renegotiated, \
             first echo round trip through ESP (a new connect every 2 ms)"
        )
    }
}
