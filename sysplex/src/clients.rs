//! Remote echo clients: each holds one connection to an echo server (normally on a DVIPA),
//! checks every round trip byte for byte, and reconnects when its connection breaks.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use bytes::Bytes;
use stacks::stack::StackHandle;
use stacks::stack::tcp::{Received, TcpReader, TcpWriter};

/// How long one round trip or connect may take before the connection counts as broken.
const ATTEMPT: Duration = Duration::from_millis(1500);

/// A client's open connection.
#[derive(Debug)]
struct Connection {
    reader: TcpReader,
    writer: TcpWriter,
    local: SocketAddrV4,
}

/// What a call to [`EchoClient::exchange`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// The open connection echoed the payload.
    Echoed,
    /// The connection had broken; a new one (from `local`) echoed the payload after `outage`.
    Reconnected {
        /// The new connection's local address.
        local: SocketAddrV4,
        /// From the failed round trip to the first good one on the new connection.
        outage: Duration,
        /// Connect attempts it took.
        attempts: u32,
    },
}

/// One echo client on a remote host.
#[derive(Debug)]
pub struct EchoClient {
    /// Its name in timelines (`CLIENT1#2`).
    pub name: String,
    host: StackHandle,
    source: Ipv4Addr,
    target: SocketAddrV4,
    connection: Option<Connection>,
    sent: u64,
    /// Bytes sent and echoed back unchanged.
    pub verified: u64,
}

impl EchoClient {
    /// A client of `target` on `host`, connecting from `source`, not yet connected.
    pub fn new(name: &str, host: StackHandle, source: Ipv4Addr, target: SocketAddrV4) -> Self {
        Self {
            name: name.to_owned(),
            host,
            source,
            target,
            connection: None,
            sent: 0,
            verified: 0,
        }
    }

    /// The local address of the open connection.
    pub fn local(&self) -> Option<SocketAddrV4> {
        self.connection.as_ref().map(|c| c.local)
    }

    /// Closes the connection (FIN) and waits for the server's close.
    pub async fn close(&mut self) {
        if let Some(Connection {
            mut reader, writer, ..
        }) = self.connection.take()
        {
            drop(writer);
            let _ = tokio::time::timeout(ATTEMPT, async {
                while let Received::Data(_) = reader.recv().await {}
            })
            .await;
        }
    }

    /// One round trip on the open connection; when it fails (or none is open) reconnects
    /// until a round trip succeeds or `patience` runs out.
    pub async fn exchange(&mut self, patience: Duration) -> Result<Exchange, String> {
        let started = Instant::now();
        if self.connection.is_some() {
            if self.round_trip().await.is_ok() {
                return Ok(Exchange::Echoed);
            }
            self.connection = None;
        }
        let mut attempts = 0;
        let mut last = String::from("no attempt");
        while started.elapsed() < patience {
            attempts += 1;
            match tokio::time::timeout(
                ATTEMPT,
                self.host.connect_from(&self.name, self.source, self.target),
            )
            .await
            {
                Ok(Ok(stream)) => {
                    let local = stream.local;
                    let (reader, writer) = stream.split();
                    self.connection = Some(Connection {
                        reader,
                        writer,
                        local,
                    });
                    if self.round_trip().await.is_ok() {
                        return Ok(Exchange::Reconnected {
                            local,
                            outage: started.elapsed(),
                            attempts,
                        });
                    }
                    self.connection = None;
                    last = "the new connection did not echo".to_owned();
                }
                Ok(Err(error)) => {
                    last = error.to_string();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => last = "connect timed out".to_owned(),
            }
        }
        Err(format!(
            "{} could not reach {} within {patience:?} ({attempts} attempts, last: {last})",
            self.name, self.target
        ))
    }

    /// Sends a numbered line and checks it comes back unchanged.
    async fn round_trip(&mut self) -> Result<(), ()> {
        let connection = self.connection.as_mut().ok_or(())?;
        self.sent += 1;
        let payload = format!("{} line {}\n", self.name, self.sent);
        connection
            .writer
            .send(Bytes::from(payload.clone()))
            .await
            .map_err(|_| ())?;
        let mut back = Vec::new();
        while back.len() < payload.len() {
            match tokio::time::timeout(ATTEMPT, connection.reader.recv()).await {
                Ok(Received::Data(data)) => back.extend_from_slice(&data),
                _ => return Err(()),
            }
        }
        if back != payload.as_bytes() {
            return Err(());
        }
        self.verified += u64::try_from(back.len()).unwrap_or(u64::MAX);
        Ok(())
    }
}
