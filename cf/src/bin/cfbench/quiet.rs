//! Waiting for a quiet machine before the next slice of a phase. Both servers leave background
//! work behind a slice that changed data: the CF's log thread may still serialize and store a
//! snapshot of hundreds of megabytes, redis may still rewrite its append-only file in a child,
//! and the kernel writes back what either wrote. On a small machine that work takes a CPU from
//! whichever slice comes next, the other side's as often as its own, so each slice starts once
//! the machine's CPUs are idle again.

use std::time::{Duration, Instant};

/// Length of one look at the machine.
const WINDOW: Duration = Duration::from_millis(200);

/// Share of the CPUs' time that must be idle over one window.
const IDLE_SHARE: f64 = 0.9;

/// Longest wait: background work that outlasts it is timed in the next phase after all.
const LIMIT: Duration = Duration::from_secs(20);

/// How long the waits took over a table.
#[derive(Debug, Default)]
pub struct Quiet {
    waits: u32,
    /// Waits that took longer than one window: background work was running.
    busy: u32,
    longest: Duration,
    gave_up: u32,
}

impl Quiet {
    /// Waits until the machine's CPUs were idle over one window (at most [`LIMIT`]).
    pub async fn wait(&mut self) {
        let started = Instant::now();
        let quiet = loop {
            match idle_share_over(WINDOW).await {
                Some(idle) if idle < IDLE_SHARE => {}
                _ => break true,
            }
            if started.elapsed() >= LIMIT {
                break false;
            }
        };
        let waited = started.elapsed();
        self.waits += 1;
        if waited > WINDOW * 2 {
            self.busy += 1;
        }
        self.gave_up += u32::from(!quiet);
        self.longest = self.longest.max(waited);
    }

    /// One line on the waits, for the end of a table.
    pub fn summary(&self) -> String {
        format!(
            "waited for a quiet machine after {} slices: background work ran after {}, the longest wait {:.1} s{}",
            self.waits,
            self.busy,
            self.longest.as_secs_f64(),
            if self.gave_up > 0 {
                format!(
                    ", {} waits gave up after {} s",
                    self.gave_up,
                    LIMIT.as_secs()
                )
            } else {
                String::new()
            }
        )
    }
}

/// The share of the CPUs' time spent idle over `window`; `None` where `/proc/stat` cannot
/// tell.
async fn idle_share_over(window: Duration) -> Option<f64> {
    let before = cpu_times()?;
    tokio::time::sleep(window).await;
    let after = cpu_times()?;
    let idle = after.idle.checked_sub(before.idle)?;
    let total = after.total.checked_sub(before.total)?;
    (total > 0).then(|| idle as f64 / total as f64)
}

/// The machine's CPU time, in clock ticks.
struct CpuTimes {
    idle: u64,
    /// Every state but steal (time the hypervisor gave to others is not this machine's).
    total: u64,
}

/// The first line of `/proc/stat`: `cpu user nice system idle iowait irq softirq steal ...`;
/// time waiting for I/O is not idle (a flush still runs).
fn cpu_times() -> Option<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_line(stat.lines().next()?)
}

fn parse_cpu_line(line: &str) -> Option<CpuTimes> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let ticks: Vec<u64> = fields
        .take(7)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [_user, _nice, _system, idle, ..] = ticks[..] else {
        return None;
    };
    Some(CpuTimes {
        idle,
        total: ticks.iter().sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_and_total_ticks_come_from_the_first_seven_states() {
        let times = parse_cpu_line("cpu  100 5 50 800 20 3 2 40 0 0").unwrap();
        assert_eq!(times.idle, 800);
        assert_eq!(times.total, 980);
    }

    #[test]
    fn another_line_is_not_taken() {
        assert!(parse_cpu_line("cpu0 1 2 3 4 5 6 7").is_none());
        assert!(parse_cpu_line("cpu 1 2 x 4 5 6 7").is_none());
        assert!(parse_cpu_line("cpu 1 2 3").is_none());
    }
}
