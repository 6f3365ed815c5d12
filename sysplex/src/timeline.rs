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
