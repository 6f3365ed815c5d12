//! Paced checksummed TCP streams whose progress is watched: a remote host sends a chunk of
//! the deterministic [`Pattern`] every pace until told to finish, and a sink on each LPAR
//! checks every byte as it arrives and notes when it arrived, so a scenario sees each
//! stream's progress live, the longest gap in it (its outage across a takeover), and at the
//! end both ends' byte counts and checksums.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use stacks::apps::pattern::{Checksum, Pattern, Verifier};
use stacks::apps::stream::{SINK_OWNER, SOURCE_OWNER, StreamEnd};
use stacks::stack::StackHandle;
use stacks::stack::tcp::{Received, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Error;

/// How long a finished source waits for the sink's FIN before it counts the stream as lost.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// Connections the sink lets wait for acceptance.
const BACKLOG: usize = 256;

/// What a sink saw of one stream, live.
#[derive(Debug, Clone)]
pub struct Arrivals {
    /// The system whose sink receives it.
    pub target: String,
    /// Bytes received.
    pub received: u64,
    /// Bytes received that matched the pattern, in order.
    pub verified: u64,
    /// The offset of the first wrong byte, if any.
    pub first_mismatch: Option<u64>,
    /// The checksum of the bytes received.
    pub checksum: u64,
    /// When each batch of bytes arrived.
    pub times: Vec<Instant>,
    /// How the stream ended at the sink, once it has.
    pub end: Option<StreamEnd>,
}

impl Arrivals {
    /// The longest time between two arrivals, and when it ended.
    pub fn longest_gap(&self) -> Option<(Duration, Instant)> {
        self.times
            .windows(2)
            .map(|w| (w[1] - w[0], w[1]))
            .max_by_key(|(gap, _)| *gap)
    }

    /// The first arrival after `after`.
    pub fn first_after(&self, after: Instant) -> Option<Instant> {
        self.times.iter().copied().find(|t| *t > after)
    }
}

/// Every sink's view of every stream, by the stream's source socket (the host's side).
pub type Board = Arc<Mutex<BTreeMap<SocketAddrV4, Arrivals>>>;

fn lock(board: &Board) -> std::sync::MutexGuard<'_, BTreeMap<SocketAddrV4, Arrivals>> {
    board.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A sink on one LPAR's stack: checks the streams it accepts against the pattern and posts
/// their arrivals on the [`Board`]. Stops when dropped (or when its stack dies).
#[derive(Debug)]
pub struct WatchedSink {
    task: JoinHandle<()>,
}

impl WatchedSink {
    /// Listens on every address of `stack` (the LPAR `sysname`) at `port`, checking against
    /// the pattern `seed`.
    pub async fn start(
        stack: &StackHandle,
        sysname: &str,
        port: u16,
        seed: u64,
        board: Board,
    ) -> Result<Self, Error> {
        let local = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
        let mut listener = stack.listen(SINK_OWNER, local, BACKLOG).await?;
        let sysname = sysname.to_owned();
        let task = tokio::spawn(async move {
            while let Some(stream) = listener.accept().await {
                tokio::spawn(receive(stream, sysname.clone(), seed, board.clone()));
            }
        });
        Ok(Self { task })
    }
}

impl Drop for WatchedSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Receives one stream, posting every arrival.
async fn receive(stream: TcpStream, target: String, seed: u64, board: Board) {
    let from = stream.foreign;
    let (mut reader, writer) = stream.split();
    let mut verifier = Verifier::new(Pattern::new(seed));
    lock(&board).insert(
        from,
        Arrivals {
            target,
            received: 0,
            verified: 0,
            first_mismatch: None,
            checksum: Checksum::default().value(),
            times: Vec::new(),
            end: None,
        },
    );
    let end = loop {
        match reader.recv().await {
            Received::Data(data) => {
                verifier.feed(&data);
                if let Some(arrivals) = lock(&board).get_mut(&from) {
                    arrivals.received = verifier.received();
                    arrivals.verified = verifier.verified();
                    arrivals.first_mismatch = verifier.first_mismatch();
                    arrivals.checksum = verifier.checksum();
                    arrivals.times.push(Instant::now());
                }
            }
            Received::Closed => break StreamEnd::Closed,
            Received::Reset => break StreamEnd::Reset,
        }
    };
    drop(writer);
    if let Some(arrivals) = lock(&board).get_mut(&from) {
        arrivals.end = Some(end);
    }
}

/// How a source ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SourceEnd {
    /// It sent its last byte, closed, and the sink closed too.
    Closed,
    /// The connection was reset (or refused a send).
    Reset,
    /// The sink did not close within its patience after the last byte.
    Lost,
}

/// What a source sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Bytes handed to the connection.
    pub bytes: u64,
    /// Their checksum.
    pub checksum: u64,
    /// How it ended.
    pub end: SourceEnd,
}

/// One paced stream from a remote host.
#[derive(Debug)]
pub struct PacedSource {
    /// The host's side of the connection (the key of its [`Board`] entry).
    pub local: SocketAddrV4,
    task: JoinHandle<Sent>,
}

impl PacedSource {
    /// Connects from `from` on `stack` to `target` and sends `chunk` bytes of the pattern
    /// `seed` every `pace` until `finish` is set, then closes.
    pub async fn start(
        stack: &StackHandle,
        from: Ipv4Addr,
        target: SocketAddrV4,
        seed: u64,
        chunk: usize,
        pace: Duration,
        finish: Arc<AtomicBool>,
    ) -> Result<Self, Error> {
        let stream = stack.connect_from(SOURCE_OWNER, from, target).await?;
        let local = stream.local;
        let (mut reader, mut writer) = stream.split();
        let pattern = Pattern::new(seed);
        let task = tokio::spawn(async move {
            let mut checksum = Checksum::default();
            let mut sent = 0u64;
            let mut ticks = tokio::time::interval(pace);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !finish.load(Ordering::Relaxed) {
                ticks.tick().await;
                let mut bytes = vec![0u8; chunk];
                pattern.fill(sent, &mut bytes);
                checksum.update(&bytes);
                if writer.send(Bytes::from(bytes)).await.is_err() {
                    return Sent {
                        bytes: sent,
                        checksum: checksum.value(),
                        end: SourceEnd::Reset,
                    };
                }
                sent += u64::try_from(chunk).unwrap_or(u64::MAX);
            }
            drop(writer);
            let end = tokio::time::timeout(CLOSE_PATIENCE, async {
                loop {
                    match reader.recv().await {
                        Received::Data(_) => {}
                        Received::Closed => return SourceEnd::Closed,
                        Received::Reset => return SourceEnd::Reset,
                    }
                }
            })
            .await
            .unwrap_or(SourceEnd::Lost);
            Sent {
                bytes: sent,
                checksum: checksum.value(),
                end,
            }
        });
        Ok(Self { local, task })
    }

    /// Waits for the source to end (after its `finish` was set, or a reset).
    pub async fn ended(self) -> Result<Sent, Error> {
        self.task
            .await
            .map_err(|e| Error::Lab(format!("stream source from {}: {e}", self.local)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrivals(offsets_ms: &[u64]) -> (Instant, Arrivals) {
        let start = Instant::now();
        let times = offsets_ms
            .iter()
            .map(|ms| start + Duration::from_millis(*ms))
            .collect();
        let arrivals = Arrivals {
            target: "SYS2".to_owned(),
            received: 0,
            verified: 0,
            first_mismatch: None,
            checksum: 0,
            times,
            end: None,
        };
        (start, arrivals)
    }

    #[test]
    fn the_longest_gap_is_the_widest_space_between_two_arrivals() {
        let (start, a) = arrivals(&[0, 20, 40, 340, 360]);
        assert_eq!(
            a.longest_gap(),
            Some((
                Duration::from_millis(300),
                start + Duration::from_millis(340)
            ))
        );
        let (_, one) = arrivals(&[5]);
        assert_eq!(one.longest_gap(), None);
    }

    #[test]
    fn the_first_arrival_after_a_moment_skips_earlier_ones() {
        let (start, a) = arrivals(&[0, 20, 340]);
        assert_eq!(
            a.first_after(start + Duration::from_millis(20)),
            Some(start + Duration::from_millis(340))
        );
        assert_eq!(a.first_after(start + Duration::from_millis(400)), None);
    }
}
