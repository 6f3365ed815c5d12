//! A checksummed stream source and sink: the source sends a deterministic byte pattern, the sink
//! checks every byte against it, and both keep a running checksum, so that a lab can prove that
//! no byte was lost or changed end to end.

use std::net::SocketAddrV4;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::pattern::{Checksum, Pattern, Verifier};
use crate::Error;
use crate::stack::StackHandle;
use crate::stack::tcp::{Received, TcpReader, TcpWriter};

/// The job name of stream sources in the connection listing.
pub const SOURCE_OWNER: &str = "STRMSRC";

/// The job name of stream sinks in the connection listing.
pub const SINK_OWNER: &str = "STRMSINK";

/// Bytes per chunk the source hands to the stack.
const CHUNK: usize = 8 * 1024;

/// How a stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Closed with FIN after the last byte.
    Closed,
    /// Reset or lost before a FIN.
    Reset,
}

/// What one end of a stream saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamReport {
    /// The pattern seed.
    pub seed: u64,
    /// Bytes sent (the source).
    pub bytes_sent: u64,
    /// Bytes received (the sink).
    pub bytes_received: u64,
    /// Bytes received that matched the pattern, in order (the sink).
    pub bytes_verified: u64,
    /// The offset of the first wrong byte, if any (the sink).
    pub first_mismatch: Option<u64>,
    /// The [`Checksum`] of the bytes sent (source) or received (sink).
    pub checksum: u64,
    /// How the stream ended.
    pub end: StreamEnd,
}

/// Sends `total` bytes of `pattern` on `writer`, then closes; `reader` waits for the peer's FIN.
pub async fn send_pattern(
    mut reader: TcpReader,
    mut writer: TcpWriter,
    pattern: Pattern,
    total: u64,
) -> StreamReport {
    let mut checksum = Checksum::default();
    let mut sent = 0u64;
    let mut end = StreamEnd::Closed;
    while sent < total {
        let len = usize::try_from(total - sent).unwrap_or(CHUNK).min(CHUNK);
        let mut chunk = vec![0u8; len];
        pattern.fill(sent, &mut chunk);
        checksum.update(&chunk);
        if writer.send(Bytes::from(chunk)).await.is_err() {
            end = StreamEnd::Reset;
            break;
        }
        sent += u64::try_from(len).unwrap_or(u64::MAX);
    }
    drop(writer);
    if end == StreamEnd::Closed {
        // The sink sends nothing back; wait for its FIN, which follows our last byte.
        loop {
            match reader.recv().await {
                Received::Data(_) => {}
                Received::Closed => break,
                Received::Reset => {
                    end = StreamEnd::Reset;
                    break;
                }
            }
        }
    }
    StreamReport {
        seed: pattern.seed(),
        bytes_sent: sent,
        bytes_received: 0,
        bytes_verified: 0,
        first_mismatch: None,
        checksum: checksum.value(),
        end,
    }
}

/// Receives a pattern stream on `reader` until it ends, checking every byte; closes `writer`
/// after the peer's FIN.
pub async fn receive_pattern(
    mut reader: TcpReader,
    writer: TcpWriter,
    pattern: Pattern,
) -> StreamReport {
    let mut verifier = Verifier::new(pattern);
    let end = loop {
        match reader.recv().await {
            Received::Data(data) => verifier.feed(&data),
            Received::Closed => break StreamEnd::Closed,
            Received::Reset => break StreamEnd::Reset,
        }
    };
    drop(writer);
    StreamReport {
        seed: pattern.seed(),
        bytes_sent: 0,
        bytes_received: verifier.received(),
        bytes_verified: verifier.verified(),
        first_mismatch: verifier.first_mismatch(),
        checksum: verifier.checksum(),
        end,
    }
}

/// Connects from `stack` to a sink at `remote` and sends `total` bytes of the pattern `seed`.
pub async fn run_source(
    stack: &StackHandle,
    remote: SocketAddrV4,
    seed: u64,
    total: u64,
) -> Result<StreamReport, Error> {
    let stream = stack.connect(SOURCE_OWNER, remote).await?;
    let (reader, writer) = stream.split();
    Ok(send_pattern(reader, writer, Pattern::new(seed), total).await)
}

/// A stream sink server: checks every stream it accepts against the pattern `seed` and reports
/// each when it ends. Stops when dropped.
#[derive(Debug)]
pub struct SinkServer {
    /// Where it listens.
    pub local: SocketAddrV4,
    reports: mpsc::UnboundedReceiver<StreamReport>,
    task: JoinHandle<()>,
}

impl SinkServer {
    /// Starts a sink on `local` (0.0.0.0 for every address of the stack).
    pub async fn start(stack: &StackHandle, local: SocketAddrV4, seed: u64) -> Result<Self, Error> {
        let mut listener = stack.listen(SINK_OWNER, local, 8).await?;
        let (tx, reports) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(stream) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (reader, writer) = stream.split();
                    let _ = tx.send(receive_pattern(reader, writer, Pattern::new(seed)).await);
                });
            }
        });
        Ok(Self {
            local,
            reports,
            task,
        })
    }

    /// The report of the next stream that ends.
    pub async fn next_report(&mut self) -> Option<StreamReport> {
        self.reports.recv().await
    }

    /// The report of a stream that has ended, if one is waiting (does not wait).
    pub fn try_report(&mut self) -> Option<StreamReport> {
        self.reports.try_recv().ok()
    }
}

impl Drop for SinkServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
