//! Synchronous completion, as XES does it: a request the caller waits for (MODE=SYNCSUSPEND)
//! that is the only one in flight is completed synchronously: after sending it, the link's
//! writer polls the socket for the answer instead of letting the runtime sleep, as a z/OS CPU
//! spins on a synchronous CF request. So is a burst of requests sent together
//! ([`super::Client::submit_all`]) when it is all the work in flight: XES too may complete a
//! MODE=ASYNCTOKEN request synchronously. A spin not answered within the sync threshold is
//! converted to asynchronous (the runtime sleeps until the answer comes), and after a
//! conversion the link skips spinning for a while (dynamic request conversion), so a slow
//! structure (one flushed before each reply) costs little spinning.
//!
//! On a loopback link the answer comes in a fraction of what waking a sleeping thread costs,
//! so a spinning request completes in less time and less CPU time than a sleeping one.

use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use socket2::SockRef;
use tokio::net::tcp::OwnedWriteHalf;

/// How long a synchronous request spins by default before it is converted to asynchronous.
pub const DEFAULT_SYNC_THRESHOLD: Duration = Duration::from_micros(100);

/// Most spins a link skips, after repeated conversions.
const MAX_SKIP: u32 = 64;

/// Links that share the CPUs a spin would hold: requests spin only while they are all the
/// requests in flight on all of them. The default group is the whole process.
#[derive(Debug, Clone)]
pub struct SpinGroup {
    in_flight: Arc<AtomicUsize>,
}

static PROCESS: LazyLock<SpinGroup> = LazyLock::new(SpinGroup::isolated);

impl SpinGroup {
    /// A group of its own (links in it do not see the process's other requests).
    pub fn isolated() -> Self {
        Self {
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The group of every link that names no other: the whole process.
    pub fn process() -> Self {
        PROCESS.clone()
    }

    /// A request of the group was sent; returns how many are in flight now.
    pub(super) fn sent(&self) -> usize {
        self.in_flight.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Requests of the group in flight.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// `count` requests of the group were answered or given up.
    pub(super) fn finished(&self, count: usize) {
        self.in_flight.fetch_sub(count, Ordering::Relaxed);
    }
}

/// How a link's requests completed (RMF's SYNC and changed-to-ASYNC counts): every request a
/// caller waited for, and every request of a burst that was all the work in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompletionCounts {
    /// Answered while the link spun for them.
    pub sync: u64,
    /// Converted to asynchronous: a waited-for request made while others were in flight, or
    /// requests not answered within the sync threshold, or sent while the link was skipping
    /// spins after conversions.
    pub converted: u64,
}

/// One link's synchronous-request heuristic: its threshold, its backoff after conversions,
/// and its counts.
#[derive(Debug)]
pub(super) struct Conversion {
    threshold: Duration,
    /// Spins still to skip.
    skip: u32,
    /// Conversions in a row after a spin; the skip doubles with each.
    streak: u32,
    counts: CompletionCounts,
}

impl Conversion {
    /// Spins up to `threshold` (zero: never spin).
    pub(super) fn new(threshold: Duration) -> Self {
        Self {
            threshold,
            skip: 0,
            streak: 0,
            counts: CompletionCounts::default(),
        }
    }

    /// Decides for `requests` just sent together that are to complete synchronously if they
    /// can, with `others` in flight in the group beside them: `true` when the link is to spin
    /// for them. Requests that are not count as converted.
    pub(super) fn try_spin(&mut self, requests: usize, others: usize) -> bool {
        if self.threshold.is_zero() || others > 0 {
            self.counts.converted += requests as u64;
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            self.counts.converted += requests as u64;
            return false;
        }
        true
    }

    /// How long a spin may last.
    pub(super) fn threshold(&self) -> Duration {
        self.threshold
    }

    /// Records how a spin for `requests` ended.
    pub(super) fn spun(&mut self, end: SpinEnd, requests: usize) {
        let requests = requests as u64;
        match end {
            SpinEnd::Answered => {
                self.counts.sync += requests;
                self.streak = 0;
            }
            SpinEnd::OtherWork => self.counts.converted += requests,
            SpinEnd::TimedOut => {
                self.counts.converted += requests;
                self.streak = (self.streak + 1).min(MAX_SKIP.ilog2());
                self.skip = 1 << self.streak;
            }
        }
    }

    pub(super) fn counts(&self) -> CompletionCounts {
        self.counts
    }
}

/// How a spin ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SpinEnd {
    /// The link had input, or the answer was taken on another thread: completed synchronously.
    Answered,
    /// Other requests went into flight: converted, as if they had been there first.
    OtherWork,
    /// No answer within the threshold: converted, and the link backs off.
    TimedOut,
}

/// Polls `socket` for input until some is there, `check` ends the spin, or `threshold` has
/// passed.
pub(super) fn spin_for_input(
    socket: &OwnedWriteHalf,
    threshold: Duration,
    mut check: impl FnMut() -> Option<SpinEnd>,
) -> SpinEnd {
    let socket = SockRef::from(socket.as_ref());
    let mut byte = [MaybeUninit::uninit()];
    let start = Instant::now();
    loop {
        // Ok(0) is the end of the stream and an error other than WouldBlock a failed link:
        // the reader sees both at once.
        match socket.peek(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => return SpinEnd::Answered,
        }
        if let Some(end) = check() {
            return end;
        }
        if start.elapsed() >= threshold {
            return SpinEnd::TimedOut;
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_requests_spin_and_those_among_others_are_converted() {
        let mut conversion = Conversion::new(DEFAULT_SYNC_THRESHOLD);
        assert!(conversion.try_spin(1, 0));
        conversion.spun(SpinEnd::Answered, 1);
        assert!(!conversion.try_spin(1, 1));
        // A burst that others joined in flight while it spun is converted, with no backoff.
        assert!(conversion.try_spin(4, 0));
        conversion.spun(SpinEnd::OtherWork, 4);
        assert!(conversion.try_spin(4, 0));
        conversion.spun(SpinEnd::Answered, 4);
        assert_eq!(
            conversion.counts(),
            CompletionCounts {
                sync: 5,
                converted: 5
            }
        );
    }

    #[test]
    fn a_zero_threshold_never_spins() {
        let mut conversion = Conversion::new(Duration::ZERO);
        assert!(!conversion.try_spin(1, 0));
        assert_eq!(conversion.counts().converted, 1);
    }

    #[test]
    fn conversions_in_a_row_skip_ever_more_spins_up_to_a_limit() {
        let mut conversion = Conversion::new(DEFAULT_SYNC_THRESHOLD);
        let mut skipped = Vec::new();
        assert!(conversion.try_spin(1, 0));
        for _ in 0..9 {
            conversion.spun(SpinEnd::TimedOut, 1);
            let mut skips = 0;
            while !conversion.try_spin(1, 0) {
                skips += 1;
            }
            skipped.push(skips);
        }
        assert_eq!(skipped, [2, 4, 8, 16, 32, 64, 64, 64, 64]);
        // An answer in time ends the streak: the next conversion skips two again.
        conversion.spun(SpinEnd::Answered, 1);
        assert!(conversion.try_spin(1, 0));
        conversion.spun(SpinEnd::TimedOut, 1);
        assert!(!conversion.try_spin(1, 0));
        assert!(!conversion.try_spin(1, 0));
        assert!(conversion.try_spin(1, 0));
    }
}
