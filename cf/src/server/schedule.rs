//! When to take the next snapshot of the facility.
//!
//! A snapshot copies the facility's entry controls while requests wait, and the log thread
//! serializes and stores the copy, so its cost grows with the facility. It is due once at least
//! `every` records were logged since the last one *and* those records take at least
//! [`LOG_PER_IMAGE`] times as many bytes as the last snapshot's image:
//! snapshots then cost a bounded amount per logged byte however large the facility is, and
//! recovery replays at most about that many images' worth of log.

/// Logged bytes per byte of the last image before the next snapshot. Serializing and storing an
/// image costs several times more per byte than logging (measured with `perf` under cfbench:
/// at 1, snapshots took over a third of the CF's CPU time in a write load), so the log may grow
/// to a few images before it is folded into a new one.
pub(super) const LOG_PER_IMAGE: u64 = 4;

/// Counts what was logged since the last snapshot.
#[derive(Debug)]
pub(super) struct SnapshotSchedule {
    every: u64,
    records: u64,
    log_bytes: u64,
}

impl SnapshotSchedule {
    /// A schedule asking for at least `every` records between snapshots (and at least one).
    pub(super) fn new(every: u64) -> Self {
        Self {
            every: every.max(1),
            records: 0,
            log_bytes: 0,
        }
    }

    /// A record of `bytes` was logged.
    pub(super) fn logged(&mut self, bytes: usize) {
        self.records += 1;
        self.log_bytes = self
            .log_bytes
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
    }

    /// Whether a snapshot is due, the last image saved having taken `image_bytes`.
    pub(super) fn due(&self, image_bytes: u64) -> bool {
        self.records >= self.every && self.log_bytes >= image_bytes.saturating_mul(LOG_PER_IMAGE)
    }

    /// A snapshot was taken.
    pub(super) fn taken(&mut self) {
        self.records = 0;
        self.log_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_snapshot_comes_after_the_record_count() {
        let mut schedule = SnapshotSchedule::new(3);
        schedule.logged(10);
        schedule.logged(10);
        assert!(!schedule.due(0));
        schedule.logged(10);
        assert!(schedule.due(0));
    }

    #[test]
    fn a_large_image_waits_for_its_multiple_of_logged_bytes() {
        let mut schedule = SnapshotSchedule::new(2);
        schedule.taken();
        let needed = 10 * LOG_PER_IMAGE;
        for _ in 1..needed {
            schedule.logged(100);
        }
        assert!(
            !schedule.due(1000),
            "one record short of {LOG_PER_IMAGE} images logged"
        );
        schedule.logged(100);
        assert!(schedule.due(1000));
    }

    #[test]
    fn a_small_image_waits_for_the_record_count() {
        let mut schedule = SnapshotSchedule::new(5);
        schedule.taken();
        for _ in 0..4 {
            schedule.logged(100);
        }
        assert!(!schedule.due(10));
        schedule.logged(100);
        assert!(schedule.due(10));
    }
}
