//! Checksummed echo streams for the end-to-end tests: rounds of bytes sent, echoed and
//! compared, until told to finish; each reports how it ended.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use stacks::stack::StackHandle;
use stacks::stack::tcp::Received;

use super::{PATIENCE, until};

/// The bytes per round.
pub const CHUNK: usize = 1024;

/// The bytes of round `round` of stream `stream`: deterministic, different for every round.
pub fn chunk(stream: usize, round: u64) -> Vec<u8> {
    let mut state = (stream as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ round;
    (0..CHUNK)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// How one stream ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every round echoed intact, then closed cleanly.
    Completed { bytes: u64 },
    /// The connection ended early (reset, closed, or silent past the patience bound).
    Ended { bytes: u64, why: String },
}

/// One echo stream: rounds of [`CHUNK`] bytes, each echoed and compared, until `finish`.
pub struct Stream {
    pub local: SocketAddrV4,
    pub rounds: Arc<AtomicU64>,
    pub task: tokio::task::JoinHandle<Outcome>,
}

pub async fn open_stream(
    host: &StackHandle,
    from: Ipv4Addr,
    to: SocketAddrV4,
    id: usize,
    finish: Arc<AtomicBool>,
) -> Stream {
    let stream = tokio::time::timeout(PATIENCE, host.connect_from("CLIENT", from, to))
        .await
        .expect("connects in time")
        .expect("connects");
    let local = stream.local;
    let (mut reader, mut writer) = stream.split();
    let rounds = Arc::new(AtomicU64::new(0));
    let counter = rounds.clone();
    let task = tokio::spawn(async move {
        let mut bytes = 0u64;
        let mut round = 0u64;
        while !finish.load(Ordering::Relaxed) {
            let data = chunk(id, round);
            if let Err(e) = writer.send(Bytes::from(data.clone())).await {
                // The stack dropped the connection meanwhile: its reading half says why.
                let why = loop {
                    match tokio::time::timeout(PATIENCE, reader.recv()).await {
                        Ok(Received::Data(_)) => {}
                        other => break format!("send: {e}, after {other:?}"),
                    }
                };
                return Outcome::Ended { bytes, why };
            }
            let mut back = Vec::with_capacity(CHUNK);
            while back.len() < CHUNK {
                match tokio::time::timeout(PATIENCE, reader.recv()).await {
                    Ok(Received::Data(more)) => back.extend_from_slice(&more),
                    other => {
                        return Outcome::Ended {
                            bytes,
                            why: format!("{other:?}"),
                        };
                    }
                }
            }
            assert_eq!(back, data, "stream {id} round {round}: echo differs");
            bytes += CHUNK as u64;
            round += 1;
            counter.store(round, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(writer);
        loop {
            match tokio::time::timeout(PATIENCE, reader.recv()).await {
                Ok(Received::Data(_)) => {}
                Ok(Received::Closed) => return Outcome::Completed { bytes },
                other => {
                    return Outcome::Ended {
                        bytes,
                        why: format!("at close: {other:?}"),
                    };
                }
            }
        }
    });
    Stream {
        local,
        rounds,
        task,
    }
}

/// Waits until every stream in `streams` has made `more` rounds beyond `since`.
pub async fn progressed(streams: &[&Stream], since: &[u64], more: u64) {
    until("the streams made progress", || async {
        streams
            .iter()
            .zip(since)
            .all(|(s, start)| s.rounds.load(Ordering::Relaxed) >= start + more)
    })
    .await;
}
