//! An echo server (RFC 862 behaviour on any port): every byte received goes back.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::task::JoinHandle;

use crate::Error;
use crate::stack::StackHandle;
use crate::stack::tcp::{Received, TcpStream};

/// The job name echo connections show in the connection listing.
pub const OWNER: &str = "ECHOSRV";

/// Counters of an echo server.
#[derive(Debug, Default)]
pub struct EchoStats {
    connections: AtomicU64,
    bytes: AtomicU64,
}

impl EchoStats {
    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Bytes echoed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// A running echo server; stops when dropped.
#[derive(Debug)]
pub struct EchoServer {
    /// Where it listens.
    pub local: SocketAddrV4,
    stats: Arc<EchoStats>,
    task: JoinHandle<()>,
}

impl EchoServer {
    /// Starts an echo server on `local` (0.0.0.0 for every address of the stack).
    pub async fn start(stack: &StackHandle, local: SocketAddrV4) -> Result<Self, Error> {
        let mut listener = stack.listen(OWNER, local, 8).await?;
        let stats = Arc::new(EchoStats::default());
        let counters = stats.clone();
        let task = tokio::spawn(async move {
            while let Some(stream) = listener.accept().await {
                counters.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(echo(stream, counters.clone()));
            }
        });
        Ok(Self { local, stats, task })
    }

    /// The server's counters.
    pub fn stats(&self) -> &EchoStats {
        &self.stats
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(stream: TcpStream, stats: Arc<EchoStats>) {
    let (mut reader, mut writer) = stream.split();
    while let Received::Data(data) = reader.recv().await {
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if writer.send(data).await.is_err() {
            return;
        }
        stats.bytes.fetch_add(len, Ordering::Relaxed);
    }
}
