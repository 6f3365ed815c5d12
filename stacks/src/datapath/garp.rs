//! When to send gratuitous ARP for an address the stack has just taken: a burst at once and
//! repeated bursts after, as keepalived does on becoming master, so that a neighbour that
//! ignored the first burst (Linux ignores updates within `locktime`, 1 s, of the last one) or
//! lost a frame still follows.

use std::net::Ipv4Addr;

use smoltcp::time::{Duration, Instant};

/// How many gratuitous ARPs to send and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GarpSchedule {
    /// Frames in each burst.
    pub burst: u8,
    /// Bursts after the first one.
    pub repeats: u8,
    /// Time between bursts.
    pub interval: Duration,
}

impl Default for GarpSchedule {
    /// Three at once, then three more after 2 s and after 4 s.
    fn default() -> Self {
        Self {
            burst: 3,
            repeats: 2,
            interval: Duration::from_secs(2),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Announcement {
    addr: Ipv4Addr,
    bursts_left: u8,
    next_at: Instant,
}

/// The pending announcements of one stack.
#[derive(Clone, Debug, Default)]
pub struct GarpTimers {
    schedule: GarpSchedule,
    pending: Vec<Announcement>,
}

impl GarpTimers {
    /// No announcement pending, bursts as `schedule` says.
    pub fn new(schedule: GarpSchedule) -> Self {
        Self {
            schedule,
            pending: Vec::new(),
        }
    }

    /// Starts announcing `addr` at `now`, replacing an announcement of it in progress.
    pub fn announce(&mut self, addr: Ipv4Addr, now: Instant) {
        self.cancel(addr);
        if self.schedule.burst > 0 {
            self.pending.push(Announcement {
                addr,
                bursts_left: self.schedule.repeats.saturating_add(1),
                next_at: now,
            });
        }
    }

    /// Stops announcing `addr` (it was released).
    pub fn cancel(&mut self, addr: Ipv4Addr) {
        self.pending.retain(|a| a.addr != addr);
    }

    /// The addresses to send a burst for at `now`, each as many times as a burst has frames.
    pub fn due(&mut self, now: Instant) -> Vec<Ipv4Addr> {
        let mut due = Vec::new();
        for announcement in &mut self.pending {
            if announcement.next_at <= now {
                due.extend(std::iter::repeat_n(
                    announcement.addr,
                    usize::from(self.schedule.burst),
                ));
                announcement.bursts_left -= 1;
                announcement.next_at = now + self.schedule.interval;
            }
        }
        self.pending.retain(|a| a.bursts_left > 0);
        due
    }

    /// When the next burst is due.
    pub fn poll_at(&self) -> Option<Instant> {
        self.pending.iter().map(|a| a.next_at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DVIPA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

    fn at(secs: u64) -> Instant {
        Instant::from_secs(i64::try_from(secs).unwrap())
    }

    #[test]
    fn sends_a_burst_at_once_and_repeats_it() {
        let mut timers = GarpTimers::new(GarpSchedule::default());
        timers.announce(DVIPA, at(10));
        assert_eq!(timers.due(at(10)), vec![DVIPA; 3]);
        assert!(timers.due(at(11)).is_empty());
        assert_eq!(timers.poll_at(), Some(at(12)));
        assert_eq!(timers.due(at(12)).len(), 3);
        assert_eq!(timers.due(at(14)).len(), 3);
        assert_eq!(timers.poll_at(), None);
        assert!(timers.due(at(20)).is_empty());
    }

    #[test]
    fn cancelling_stops_the_repeats() {
        let mut timers = GarpTimers::new(GarpSchedule::default());
        timers.announce(DVIPA, at(0));
        timers.due(at(0));
        timers.cancel(DVIPA);
        assert_eq!(timers.poll_at(), None);
    }

    #[test]
    fn announcing_again_restarts_the_schedule() {
        let mut timers = GarpTimers::new(GarpSchedule {
            burst: 1,
            repeats: 0,
            interval: Duration::from_secs(1),
        });
        timers.announce(DVIPA, at(0));
        timers.announce(DVIPA, at(5));
        assert!(timers.due(at(4)).is_empty());
        assert_eq!(timers.due(at(5)), vec![DVIPA]);
        assert_eq!(timers.poll_at(), None);
    }
}
