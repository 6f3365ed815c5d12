//! What every scenario's report is made of: console displays as the operator saw them, the
//! timeline as a list of entries, and their printing as a listing.

use serde::Serialize;

use crate::lab::Lab;
use crate::timeline::Timeline;

/// One display, as the console printed it.
#[derive(Debug, Clone, Serialize)]
pub struct Display {
    /// The command (`RO SYS1,D TCPIP,TCPCS,NETSTAT,VIPADYN`).
    pub command: String,
    /// The response.
    pub text: String,
}

impl Display {
    /// Runs `command` on the lab's operator console and keeps its response (a failure to run
    /// it is the response).
    pub async fn of(lab: &mut Lab, command: &str) -> Self {
        let text = match crate::console::execute(lab, command).await {
            Ok(lines) => lines.join("\n"),
            Err(error) => error.to_string(),
        };
        Self {
            command: command.to_owned(),
            text,
        }
    }
}

/// One timeline line.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Milliseconds since the scenario started.
    pub at_ms: f64,
    /// The system (or `LAB`, a client's name).
    pub source: String,
    /// What happened.
    pub text: String,
}

/// The timeline's moments as report entries, to the microsecond.
pub fn entries(timeline: &Timeline) -> Vec<Entry> {
    timeline
        .moments()
        .iter()
        .map(|m| Entry {
            at_ms: millis(m.at),
            source: m.source.clone(),
            text: m.text.clone(),
        })
        .collect()
}

/// A duration in milliseconds, to the microsecond.
pub fn millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The listing of `sections` of displays, each under its title.
pub fn listing(sections: &[(&str, &[Display])]) -> String {
    let mut out = String::new();
    for (title, displays) in sections {
        out.push_str(&format!("\n=== {title}\n"));
        for display in *displays {
            out.push_str(&format!(
                "\n{}\n{}\n",
                display.command,
                display.text.trim_end()
            ));
        }
    }
    out
}

/// The listing of timeline entries, as [`crate::timeline::Moment`] prints.
pub fn timeline_listing(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| format!("{:>10.3} ms  {:<8} {}\n", e.at_ms, e.source, e.text))
        .collect()
}
