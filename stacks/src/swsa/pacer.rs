//! Paces a takeover's renegotiations: at most [`WINDOW`] records are handed to the IKE daemon
//! without an answer, the rest wait their turn. Handing a thousand records over at once makes
//! the daemon start a thousand IKE SAs in one go; their answers then arrive faster than it can
//! compute the key exchanges, overflow the IKE sockets' buffers, and every lost answer costs
//! the tunnel a retransmission (4 s). A slot frees when the tunnel comes up or is refused, or
//! after [`SLOT_HELD`] without news, so a peer that does not answer holds nobody back for long.
//!
//! [`Window`] decides (sans-IO, clock injected); [`Pacer`] runs it on a task of its own.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use ike::daemon::DaemonInput;
use ike::swsa::RestartRecord;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Renegotiations started and not yet answered, at most.
pub const WINDOW: usize = 64;
/// How long a renegotiation without news holds its slot.
pub const SLOT_HELD: Duration = Duration::from_millis(500);

/// The pacing state: the records waiting and when each unanswered renegotiation started.
#[derive(Debug, Default)]
pub struct Window {
    waiting: VecDeque<RestartRecord>,
    started: VecDeque<Instant>,
}

impl Window {
    /// Queues records to renegotiate.
    pub fn push(&mut self, records: Vec<RestartRecord>) {
        self.waiting.extend(records);
    }

    /// One renegotiation was answered (its tunnel is up, or it was refused): frees the oldest
    /// slot.
    pub fn answered(&mut self) {
        self.started.pop_front();
    }

    /// Drops the waiting records of `dvipa` (this stack no longer owns it).
    pub fn forget(&mut self, dvipa: Ipv4Addr) {
        self.waiting
            .retain(|r| *r.phase1.local_endpoint.ip() != dvipa);
    }

    /// The records to start at `now`: as many as free slots allow, oldest first.
    pub fn take(&mut self, now: Instant) -> Vec<RestartRecord> {
        while self.started.front().is_some_and(|t| now >= *t + SLOT_HELD) {
            self.started.pop_front();
        }
        let room = WINDOW.saturating_sub(self.started.len());
        let count = room.min(self.waiting.len());
        self.started.extend(std::iter::repeat_n(now, count));
        self.waiting.drain(..count).collect()
    }

    /// When a slot frees by itself, if records are waiting for one.
    pub fn next_release(&self) -> Option<Instant> {
        if self.waiting.is_empty() {
            return None;
        }
        self.started.front().map(|t| *t + SLOT_HELD)
    }
}

/// What the pacer task is told.
#[derive(Debug)]
enum PacerInput {
    Records(Vec<RestartRecord>),
    Answered,
    Forget(Ipv4Addr),
}

/// A [`Window`] on its own task, handing records to the daemon as slots free.
#[derive(Debug)]
pub(crate) struct Pacer {
    inbox: mpsc::UnboundedSender<PacerInput>,
    task: JoinHandle<()>,
}

impl Pacer {
    /// Starts the pacer in front of `daemon`.
    pub(crate) fn start(daemon: mpsc::Sender<DaemonInput>) -> Self {
        let (inbox, rx) = mpsc::unbounded_channel();
        Self {
            inbox,
            task: tokio::spawn(run(daemon, rx)),
        }
    }

    /// Queues records to renegotiate.
    pub(crate) fn renegotiate(&self, records: Vec<RestartRecord>) {
        let _ = self.inbox.send(PacerInput::Records(records));
    }

    /// A renegotiated tunnel came up or a record was refused.
    pub(crate) fn answered(&self) {
        let _ = self.inbox.send(PacerInput::Answered);
    }

    /// Drops the waiting records of `dvipa`.
    pub(crate) fn forget(&self, dvipa: Ipv4Addr) {
        let _ = self.inbox.send(PacerInput::Forget(dvipa));
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(daemon: mpsc::Sender<DaemonInput>, mut inbox: mpsc::UnboundedReceiver<PacerInput>) {
    let mut window = Window::default();
    loop {
        let batch = window.take(Instant::now());
        if !batch.is_empty() && daemon.send(DaemonInput::Takeover(batch)).await.is_err() {
            tracing::warn!("IKE daemon gone: SWSA renegotiations dropped");
            return;
        }
        let release = window.next_release();
        tokio::select! {
            input = inbox.recv() => match input {
                Some(PacerInput::Records(records)) => window.push(records),
                Some(PacerInput::Answered) => window.answered(),
                Some(PacerInput::Forget(dvipa)) => window.forget(dvipa),
                None => return,
            },
            () = sleep_until(release), if release.is_some() => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swsa::layout::test_record;

    const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    const OTHER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);

    fn records(dvipa: Ipv4Addr, count: u8) -> Vec<RestartRecord> {
        (0..count)
            .map(|n| test_record(dvipa, Ipv4Addr::new(192, 0, 2, n), u32::from(n)))
            .collect()
    }

    #[test]
    fn starts_a_window_at_once_and_one_more_per_answer() {
        let mut window = Window::default();
        window.push(records(DVIPA, 100));
        let now = Instant::now();
        assert_eq!(window.take(now).len(), WINDOW);
        assert!(window.take(now).is_empty());
        window.answered();
        window.answered();
        assert_eq!(window.take(now).len(), 2);
    }

    #[test]
    fn a_slot_without_news_frees_itself_after_the_hold_time() {
        let mut window = Window::default();
        window.push(records(DVIPA, 100));
        let start = Instant::now();
        window.take(start);
        assert_eq!(window.next_release(), Some(start + SLOT_HELD));
        assert!(window.take(start + SLOT_HELD / 2).is_empty());
        assert_eq!(window.take(start + SLOT_HELD).len(), 100 - WINDOW);
        assert_eq!(window.next_release(), None);
    }

    #[test]
    fn records_of_a_dvipa_given_up_are_not_started() {
        let mut window = Window::default();
        window.push(records(DVIPA, 100));
        window.push(records(OTHER, 3));
        let now = Instant::now();
        window.take(now);
        window.forget(DVIPA);
        for _ in 0..WINDOW {
            window.answered();
        }
        let rest = window.take(now);
        assert_eq!(rest.len(), 3);
        assert!(rest.iter().all(|r| *r.phase1.local_endpoint.ip() == OTHER));
    }
}
