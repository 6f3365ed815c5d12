//! A scenario's timeline: what happened, when, and on which system, printed as a listing with
//! offsets from the start of the run.

use std::fmt;
use std::time::{Duration, Instant};

/// One line of a timeline.
#[derive(Debug, Clone)]
pub struct Moment {
    /// Time since the scenario started.
    pub at: Duration,
    /// The system (or `CF`, `LAB`) it happened on.
    pub source: String,
    /// What happened: a z/OS-style message or a plain sentence.
    pub text: String,
}

/// Collects moments, printing each as it happens when asked to.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    moments: Vec<Moment>,
    echo: bool,
}

impl Timeline {
    /// A timeline starting now; `echo` prints each moment to stdout as it is recorded.
    pub fn new(echo: bool) -> Self {
        Self {
            start: Instant::now(),
            moments: Vec::new(),
            echo,
        }
    }

    /// Records that `text` happened on `source` now.
    pub fn record(&mut self, source: &str, text: impl Into<String>) {
        let moment = Moment {
            at: self.start.elapsed(),
            source: source.to_owned(),
            text: text.into(),
        };
        if self.echo {
            println!("{moment}");
        }
        self.moments.push(moment);
    }

    /// Records that `text` happened on `source` at `at` (a moment measured elsewhere, such as
    /// a step a stack noted), in its place by time; not echoed.
    pub fn record_at(&mut self, at: Instant, source: &str, text: impl Into<String>) {
        let moment = Moment {
            at: at.saturating_duration_since(self.start),
            source: source.to_owned(),
            text: text.into(),
        };
        let place = self.moments.partition_point(|m| m.at <= moment.at);
        self.moments.insert(place, moment);
    }

    /// When the timeline started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Everything recorded so far, in order.
    pub fn moments(&self) -> &[Moment] {
        &self.moments
    }
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.at.as_secs_f64() * 1000.0;
        write!(f, "{millis:>10.3} ms  {:<8} {}", self.source, self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_measured_elsewhere_takes_its_place_by_time() {
        let mut timeline = Timeline::new(false);
        let early = timeline.start() + Duration::from_millis(1);
        std::thread::sleep(Duration::from_millis(5));
        timeline.record("SYS1", "later");
        timeline.record_at(early, "SYS2", "earlier");
        let texts: Vec<&str> = timeline.moments().iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["earlier", "later"]);
        assert_eq!(timeline.moments()[0].at, Duration::from_millis(1));
    }
}
