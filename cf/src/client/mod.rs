//! The connector side of a CF link: what a stack uses in place of the XES macros.
//!
//! A [`Client`] is one authenticated CF link for one job on one system. It is cheap to clone
//! and usable from many tasks at once: requests are pipelined on the link and each waits for
//! its own answer. [`Client::connect_structure`] (IXLCONN) gives a [`Connection`], whose
//! methods are the list services (IXLLSTE, IXLLSTM, IXLLSTC) under that connection's CONTOKEN.
//!
//! Every call comes in two forms, as XES offers synchronous and asynchronous modes: the
//! `async fn` waits for the answer (MODE=SYNCSUSPEND), and [`Client::submit`] returns a
//! [`Pending`] answer at once, to be tested or awaited later (MODE=ASYNCTOKEN with IXLFCOMP).
//! [`Client::submit_all`] sends several requests at once and hands out their answers in order.
//! A lock request queued behind a held lock completes when the CF grants it; both forms wait.
//!
//! A waited-for request that is the only one in flight completes synchronously, as on z/OS:
//! the link spins for its answer instead of sleeping, up to the sync threshold, and is
//! converted to asynchronous after that. So does a burst from [`Client::submit_all`] that is
//! all the work in flight ([`LinkOptions`], [`Client::completion_counts`]).
//!
//! Events for the link's connections (the event exit's input) arrive on [`Client::events`].
//! Errors are nested, as in sled: the outer `Result` says whether the CF link worked, the
//! [`Reply`] inside carries the CF's return and reason codes.

mod connection;
mod dispatch;
mod outgoing;
mod spin;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rand::rngs::OsRng;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, ToSocketAddrs};

pub use self::connection::Connection;
use self::dispatch::Dispatch;
pub use self::dispatch::{Batch, ConnectorEvent, Events, Pending};
pub use self::spin::{CompletionCounts, DEFAULT_SYNC_THRESHOLD, SpinGroup};
use crate::Error;
use crate::auth::{self, Nonce, Secret, Transcript};
use crate::structure::{ConToken, ConnectRequest, LinkId, Reply, ReplyBody, Request, StrName};
use crate::wire::{
    CfMessage, ConnectorMessage, DEFAULT_MAX_FRAME, FrameReader, Hello, PROTOCOL_VERSION,
    RequestFrame, encode_frame,
};

/// The reading half of a CF link, connector side.
type Reader = FrameReader<tokio::net::tcp::OwnedReadHalf, CfMessage>;

/// An authenticated CF link. Clones share the link; it closes when the last clone is dropped,
/// and the CF then fails the link's connections.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dispatch: Arc<Dispatch>,
    link: LinkId,
    sysname: String,
    jobname: String,
    interval: Duration,
    reader: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
        self.dispatch.close_outgoing();
    }
}

/// How a link completes requests synchronously.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// How long the link spins for the answer to requests that are to complete synchronously
    /// before they are converted to asynchronous; zero never spins.
    pub sync_threshold: Duration,
    /// The links whose requests in flight keep this link from spinning (by default every
    /// link of the process).
    pub spin_group: SpinGroup,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            sync_threshold: DEFAULT_SYNC_THRESHOLD,
            spin_group: SpinGroup::process(),
        }
    }
}

impl Client {
    /// Opens a CF link to `addr` and authenticates as job `jobname` on system `sysname` with
    /// the sysplex secret (and checks that the CF holds it too).
    pub async fn connect(
        addr: impl ToSocketAddrs,
        secret: &Secret,
        sysname: &str,
        jobname: &str,
    ) -> Result<Self, Error> {
        Self::connect_with(addr, secret, sysname, jobname, LinkOptions::default()).await
    }

    /// [`Client::connect`] with other [`LinkOptions`] than the default.
    pub async fn connect_with(
        addr: impl ToSocketAddrs,
        secret: &Secret,
        sysname: &str,
        jobname: &str,
        options: LinkOptions,
    ) -> Result<Self, Error> {
        auth::check_name("system", sysname)?;
        auth::check_name("job", jobname)?;
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        let (read, mut write) = socket.into_split();
        let mut reader = Reader::new(read, DEFAULT_MAX_FRAME);

        let hello = Hello {
            version: PROTOCOL_VERSION,
            sysname: sysname.to_owned(),
            jobname: jobname.to_owned(),
            nonce: Nonce::random(&mut OsRng),
        };
        let mut buf = BytesMut::new();
        encode_frame(
            &ConnectorMessage::Hello(hello.clone()),
            &mut buf,
            DEFAULT_MAX_FRAME,
        )?;
        write.write_all(&buf).await?;
        let CfMessage::Challenge { nonce, proof } = next_handshake_message(&mut reader).await?
        else {
            return Err(Error::Protocol("expected a challenge".into()));
        };
        let transcript = Transcript {
            sysname,
            jobname,
            connector_nonce: hello.nonce,
            cf_nonce: nonce,
        };
        transcript.verify_cf(secret, &proof)?;
        buf.clear();
        encode_frame(
            &ConnectorMessage::Proof(transcript.connector_proof(secret)),
            &mut buf,
            DEFAULT_MAX_FRAME,
        )?;
        write.write_all(&buf).await?;
        let CfMessage::Welcome { link, interval_ms } = next_handshake_message(&mut reader).await?
        else {
            return Err(Error::Protocol("expected a welcome".into()));
        };

        let write = Arc::new(write);
        let dispatch = Arc::new(Dispatch::new(
            Some(Arc::clone(&write)),
            options.spin_group,
            options.sync_threshold,
        ));
        let reader = tokio::spawn(dispatch::read_loop(reader, Arc::clone(&dispatch)));
        tokio::spawn(outgoing::write_loop(write, Arc::clone(&dispatch)));
        Ok(Self {
            inner: Arc::new(Inner {
                dispatch,
                link,
                sysname: sysname.to_owned(),
                jobname: jobname.to_owned(),
                interval: Duration::from_millis(interval_ms),
                reader: reader.abort_handle(),
            }),
        })
    }

    /// The number the CF gave this link.
    pub fn link(&self) -> LinkId {
        self.inner.link
    }

    /// The system this link authenticated as.
    pub fn sysname(&self) -> &str {
        &self.inner.sysname
    }

    /// The job this link authenticated as.
    pub fn jobname(&self) -> &str {
        &self.inner.jobname
    }

    /// The CF's failure detection interval: heartbeat more often than this.
    pub fn interval(&self) -> Duration {
        self.inner.interval
    }

    /// IXLCONN: connects to a structure, allocating it with `connect.attrs` if it does not
    /// exist. `Ok(Err(reply))` when the CF refuses the connection (return and reason code).
    pub async fn connect_structure(
        &self,
        connect: ConnectRequest,
    ) -> Result<Result<Connection, Reply>, Error> {
        let reply = self.call(Request::Connect(connect)).await?;
        match reply.body {
            ReplyBody::Connected(connected) if reply.is_success() => Ok(Ok(Connection::new(
                self.clone(),
                *connected,
                reply.rc,
                reply.reason,
            ))),
            _ => Ok(Err(reply)),
        }
    }

    /// Sends any request and waits for its final reply (MODE=SYNCSUSPEND); completed
    /// synchronously when it is the only request in flight.
    pub async fn call(&self, request: Request) -> Result<Reply, Error> {
        self.send(request, true).await
    }

    /// Sends any request and returns at once (MODE=ASYNCTOKEN); the [`Pending`] answer is
    /// tested with [`Pending::test`] (IXLFCOMP) or awaited.
    pub fn submit(&self, request: Request) -> Pending {
        self.send(request, false)
    }

    fn send(&self, request: Request, sync: bool) -> Pending {
        self.inner
            .dispatch
            .send(request_token(&request), sync, |id, frames| {
                RequestFrame {
                    id,
                    request: &request,
                }
                .encode(frames, DEFAULT_MAX_FRAME)
            })
    }

    /// How this link's requests that were to complete synchronously completed: spun for, or
    /// converted.
    pub fn completion_counts(&self) -> CompletionCounts {
        self.inner.dispatch.completion_counts()
    }

    /// Sends several requests at once, as a series of MODE=ASYNCTOKEN requests; the
    /// [`Batch`] hands out their final replies in order. Cheaper than one [`Client::submit`]
    /// per request: the link's lock is taken once to send them all.
    pub fn submit_all(&self, requests: impl IntoIterator<Item = Request>) -> Batch {
        // Gathered first, so no caller code runs while the link's lock is held.
        let requests: Vec<Request> = requests.into_iter().collect();
        self.inner.dispatch.send_all(requests.iter().map(|request| {
            (request_token(request), move |id, frames: &mut BytesMut| {
                RequestFrame { id, request }.encode(frames, DEFAULT_MAX_FRAME)
            })
        }))
    }

    /// The system is alive: a heartbeat, which must reach the CF more often than
    /// [`Client::interval`] or the system is partitioned and fenced.
    pub async fn heartbeat(&self) -> Result<Reply, Error> {
        self.call(Request::Heartbeat).await
    }

    /// Sends a heartbeat every `period` until the returned guard is dropped (or the link
    /// closes), as XCF updates its couple data set.
    pub fn keep_alive(&self, period: Duration) -> KeepAlive {
        let client = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            loop {
                ticks.tick().await;
                let Some(inner) = client.upgrade() else {
                    return;
                };
                let pending = Client { inner }.submit(Request::Heartbeat);
                if pending.await.is_err() {
                    return;
                }
            }
        });
        KeepAlive { task }
    }

    /// SETXCF FORCE,STRUCTURE: frees a structure with no active connections.
    pub async fn force(&self, structure: StrName) -> Result<Reply, Error> {
        self.call(Request::Force { structure }).await
    }

    /// A deterministic dump of a structure (as `cfsrv dump` prints it).
    pub async fn dump(&self, structure: StrName) -> Result<String, Error> {
        let pending = self.inner.dispatch.send(None, false, |id, frames| {
            let dump = ConnectorMessage::Dump { id, structure };
            encode_frame(&dump, frames, DEFAULT_MAX_FRAME)
        });
        pending.answer().await?.into_text()
    }

    /// The events for this link's connections from now on (and, for the first caller, from
    /// the start of the link). Each call gets its own stream of every event.
    pub fn events(&self) -> Events {
        self.inner.dispatch.subscribe()
    }
}

/// The connection a request is made under, if any (for matching its completion).
fn request_token(request: &Request) -> Option<ConToken> {
    match request {
        Request::List { token, .. }
        | Request::Disconnect { token }
        | Request::ReleaseConnection { token, .. } => Some(*token),
        _ => None,
    }
}

/// Sends heartbeats until dropped; see [`Client::keep_alive`].
#[derive(Debug)]
pub struct KeepAlive {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn next_handshake_message(reader: &mut Reader) -> Result<CfMessage, Error> {
    match reader.next().await? {
        None => Err(Error::LinkLost),
        Some(CfMessage::Closing(failure)) => Err(Error::LinkClosed(failure)),
        Some(message) => Ok(message),
    }
}
