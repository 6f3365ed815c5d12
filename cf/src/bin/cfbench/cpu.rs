//! CPU time used by one side of the benchmark: its server process and this process (the
//! clients), read from `/proc`, so that each cell can say how much CPU an operation costs
//! whatever else the machine is running.

use std::time::Duration;

/// Length of a clock tick in `/proc/<pid>/stat` (USER_HZ is 100 on Linux).
const TICK: Duration = Duration::from_millis(10);

/// The processes whose CPU time a side uses.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    pids: Vec<String>,
}

impl CpuMeter {
    /// This process, and the server process `server` when it runs apart.
    pub fn new(server: Option<u32>) -> Self {
        let mut pids = vec!["self".to_owned()];
        pids.extend(server.map(|pid| pid.to_string()));
        Self { pids }
    }

    /// CPU time (user and system) the processes used so far; `None` where `/proc` cannot tell.
    pub fn used(&self) -> Option<Duration> {
        self.pids.iter().map(|pid| process_cpu(pid)).sum()
    }

    /// CPU time used since `start` (an earlier [`CpuMeter::used`]).
    pub fn since(&self, start: Option<Duration>) -> Option<Duration> {
        Some(self.used()?.saturating_sub(start?))
    }
}

/// utime + stime of a process.
fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = stat.rsplit_once(')')?.1;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u32 = fields.next()?.parse().ok()?;
    let stime: u32 = fields.next()?.parse().ok()?;
    Some(TICK * utime + TICK * stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_some_cpu_time_by_now() {
        let meter = CpuMeter::new(None);
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        assert!(meter.used().is_some_and(|used| used > Duration::ZERO));
    }
}
