//! One CF link: the handshake, then requests in and replies, events and completions out.
//!
//! One task serves the link. Woken by a request, it handles every whole request already read
//! (a pipelined burst) under one hold of the facility lock and with one time of day, encodes
//! each reply straight into its output buffer, and writes the buffer with one call. Messages
//! from elsewhere (events and completions for this link's connections, `sync` replies released
//! after a flush) arrive on the link's outbound queue and go into the same buffer.

use std::sync::Arc;

use bytes::BytesMut;
use rand::rngs::OsRng;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};

use super::Shared;
use super::core::{Core, Outbound, now};
use crate::auth::{self, Nonce, Transcript};
use crate::structure::{Ctx, Durability, LinkId, Reply, Request, StrName, SysName, dump_structure};
use crate::wire::{
    CfMessage, ConnectorMessage, FrameError, FrameReader, Hello, LinkFailure, PROTOCOL_VERSION,
    Refusal, ReplyFrame, RequestId, decode_connector_message, encode_frame,
};

/// Output buffered beyond this is written before further waiting requests are handled.
const WRITE_BATCH: usize = 256 * 1024;

type Reader = FrameReader<tokio::net::tcp::OwnedReadHalf, ConnectorMessage>;

/// Who an authenticated link speaks for.
#[derive(Debug, Clone)]
struct Identity {
    system: SysName,
    jobname: String,
}

/// The sending side of a link: an output buffer over the socket.
#[derive(Debug)]
struct Writer {
    socket: OwnedWriteHalf,
    out: BytesMut,
    max_frame: usize,
}

impl Writer {
    /// Adds a message to the output; a reply too large for a frame becomes a refusal.
    fn queue(&mut self, message: &CfMessage) {
        match message {
            CfMessage::Reply { id, reply } => self.queue_reply(*id, reply),
            _ => {
                if let Err(e) = encode_frame(message, &mut self.out, self.max_frame) {
                    tracing::warn!("cannot send a message: {e}");
                }
            }
        }
    }

    /// Adds the reply to request `id` to the output (a refusal if it is too large for a frame).
    fn queue_reply(&mut self, id: RequestId, reply: &Reply) {
        if let Err(e) = (ReplyFrame { id, reply }).encode(&mut self.out, self.max_frame) {
            tracing::warn!("cannot send a reply: {e}");
            let refusal = CfMessage::Refused {
                id,
                refusal: Refusal::ReplyTooLarge,
            };
            let _ = encode_frame(&refusal, &mut self.out, self.max_frame);
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.socket.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Writes what is left, then closes the sending side.
    async fn close(mut self) {
        if self.flush().await.is_ok() {
            let _ = self.socket.shutdown().await;
        }
    }
}

/// What woke the link.
#[derive(Debug)]
enum Wakeup {
    /// A whole frame is read (`Ok(false)`: the peer closed the link between frames).
    Frame(Result<bool, FrameError>),
    Pushed(CfMessage),
    Shutdown,
}

/// Serves one accepted connection until it closes, fails, or the server shuts down.
pub(super) async fn serve(
    shared: Arc<Shared>,
    socket: TcpStream,
    link: LinkId,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let (read, write) = socket.into_split();
    let max_frame = shared.config.max_frame;
    let mut reader = Reader::new(read, max_frame);
    let mut writer = Writer {
        socket: write,
        out: BytesMut::with_capacity(64 * 1024),
        max_frame,
    };

    let handshake = tokio::select! {
        result = tokio::time::timeout(shared.config.handshake_timeout, handshake(&mut reader, &mut writer, &shared, link)) => {
            result.unwrap_or(Err(Some(LinkFailure::NotAuthenticated)))
        }
        _ = shutdown.wait_for(|stop| *stop) => Err(Some(LinkFailure::Shutdown)),
    };
    let identity = match handshake {
        Ok(identity) => identity,
        Err(failure) => {
            if let Some(failure) = failure {
                tracing::info!(link = link.0, "link refused: {failure}");
                writer.queue(&CfMessage::Closing(failure));
            }
            writer.close().await;
            return;
        }
    };
    tracing::debug!(link = link.0, system = %identity.system, job = identity.jobname, "link authenticated");
    let (outbound, mut queue) = mpsc::unbounded_channel();
    shared.core().attach(link, outbound.clone());
    let from = Requester {
        identity: &identity,
        outbound: &outbound,
    };
    // The context of this link's requests; each burst gives it the time of day.
    let mut ctx = Ctx {
        link,
        system: identity.system.clone(),
        now: now(),
    };

    // One wait for the shutdown, kept across wake-ups (a new one would register anew each time).
    let stopping = shutdown.wait_for(|stop| *stop);
    tokio::pin!(stopping);
    let failure = loop {
        let wakeup = tokio::select! {
            biased;
            _ = &mut stopping => Wakeup::Shutdown,
            Some(message) = queue.recv() => Wakeup::Pushed(message),
            ready = reader.ready() => Wakeup::Frame(ready),
        };
        match wakeup {
            Wakeup::Shutdown => break Some(LinkFailure::Shutdown),
            Wakeup::Pushed(message) => writer.queue(&message),
            Wakeup::Frame(Ok(false)) => break None,
            Wakeup::Frame(Err(e)) => break failure_of(e),
            Wakeup::Frame(Ok(true)) => {
                ctx.now = now();
                if let Err(failure) = handle_burst(&shared, &from, &ctx, &mut reader, &mut writer) {
                    break failure;
                }
            }
        }
        while let Ok(message) = queue.try_recv() {
            writer.queue(&message);
        }
        if writer.flush().await.is_err() {
            break None;
        }
    };

    if let Some(failure) = &failure {
        tracing::info!(link = link.0, system = %identity.system, "closing link: {failure}");
        writer.queue(&CfMessage::Closing(failure.clone()));
    }
    {
        let mut core = shared.core();
        core.detach(link);
        if failure != Some(LinkFailure::Shutdown) && core.has_connections(link) {
            tracing::debug!(link = link.0, system = %identity.system, "link dropped: failing its connections");
            ctx.now = now();
            if let Err(e) = core.apply(&ctx, Request::LinkDropped, None, &shared.flusher) {
                drop(core);
                shared.store_failed(&e);
            }
        }
    }
    writer.close().await;
}

/// Runs the handshake; `Err(None)` when the peer went away without a word.
async fn handshake(
    reader: &mut Reader,
    writer: &mut Writer,
    shared: &Shared,
    link: LinkId,
) -> Result<Identity, Option<LinkFailure>> {
    let hello = match next_message(reader).await? {
        ConnectorMessage::Hello(hello) => hello,
        _ => return Err(Some(LinkFailure::NotAuthenticated)),
    };
    let identity = check_hello(&hello).map_err(Some)?;
    let transcript = Transcript {
        sysname: &hello.sysname,
        jobname: &hello.jobname,
        connector_nonce: hello.nonce,
        cf_nonce: Nonce::random(&mut OsRng),
    };
    writer.queue(&CfMessage::Challenge {
        nonce: transcript.cf_nonce,
        proof: transcript.cf_proof(&shared.config.secret),
    });
    writer.flush().await.map_err(|_| None)?;
    let proof = match next_message(reader).await? {
        ConnectorMessage::Proof(proof) => proof,
        _ => return Err(Some(LinkFailure::NotAuthenticated)),
    };
    transcript
        .verify_connector(&shared.config.secret, &proof)
        .map_err(|_| Some(LinkFailure::BadProof))?;
    writer.queue(&CfMessage::Welcome {
        link,
        interval_ms: u64::try_from(shared.config.interval.as_millis()).unwrap_or(u64::MAX),
    });
    writer.flush().await.map_err(|_| None)?;
    Ok(identity)
}

async fn next_message(reader: &mut Reader) -> Result<ConnectorMessage, Option<LinkFailure>> {
    reader.next().await.map_err(failure_of)?.ok_or(None)
}

fn check_hello(hello: &Hello) -> Result<Identity, LinkFailure> {
    if hello.version != PROTOCOL_VERSION {
        return Err(LinkFailure::BadHello(format!(
            "protocol version {} (CF speaks {PROTOCOL_VERSION})",
            hello.version
        )));
    }
    let bad = |e: auth::AuthError| LinkFailure::BadHello(e.to_string());
    auth::check_name("system", &hello.sysname).map_err(bad)?;
    auth::check_name("job", &hello.jobname).map_err(bad)?;
    let system = SysName::new(&hello.sysname)
        .ok_or_else(|| LinkFailure::BadHello(format!("invalid system name {:?}", hello.sysname)))?;
    Ok(Identity {
        system,
        jobname: hello.jobname.clone(),
    })
}

/// The link failure a frame error means; `None` for a link that simply broke.
fn failure_of(error: FrameError) -> Option<LinkFailure> {
    match error {
        FrameError::TooLarge { len, max } => Some(LinkFailure::FrameTooLarge {
            len: u64::try_from(len).unwrap_or(u64::MAX),
            max: u64::try_from(max).unwrap_or(u64::MAX),
        }),
        FrameError::Malformed(_) => Some(LinkFailure::Malformed),
        FrameError::Io(_) => None,
    }
}

/// The link a burst of requests came on.
struct Requester<'a> {
    identity: &'a Identity,
    outbound: &'a Outbound,
}

/// Handles every whole message already read (at least one), under one hold of the facility
/// lock and in the context `ctx`, queueing the replies on `writer` (up to [`WRITE_BATCH`]
/// bytes of them; the rest wait for the next turn).
fn handle_burst(
    shared: &Shared,
    from: &Requester<'_>,
    ctx: &Ctx,
    reader: &mut Reader,
    writer: &mut Writer,
) -> Result<(), Option<LinkFailure>> {
    let mut core = shared.core();
    loop {
        let outcome = reader.try_next_body(|body| {
            let (message, received) =
                decode_connector_message(body).map_err(|_| Some(LinkFailure::Malformed))?;
            match message {
                ConnectorMessage::Request { id, request } => {
                    let arrived = Arrived { id, received };
                    handle_request(&mut core, shared, from, ctx, arrived, request, writer)?;
                }
                ConnectorMessage::Dump { id, structure } => {
                    writer.queue(&dump(&core, id, &structure));
                }
                ConnectorMessage::Hello(_) | ConnectorMessage::Proof(_) => {
                    return Err(Some(LinkFailure::NotAuthenticated));
                }
            }
            Ok(())
        });
        match outcome.map_err(failure_of)? {
            Some(result) => result?,
            None => return Ok(()),
        }
        if writer.out.len() >= WRITE_BATCH {
            return Ok(());
        }
    }
}

/// A request's id and the bytes it was decoded from.
struct Arrived<'a> {
    id: RequestId,
    received: Option<&'a [u8]>,
}

/// Applies one request and queues its reply on `writer`, unless the reply waits for the log
/// flush (a `sync` structure): then it comes through the link's outbound queue.
fn handle_request(
    core: &mut Core,
    shared: &Shared,
    from: &Requester<'_>,
    ctx: &Ctx,
    arrived: Arrived<'_>,
    mut request: Request,
    writer: &mut Writer,
) -> Result<(), LinkFailure> {
    let Arrived { id, mut received } = arrived;
    match &mut request {
        Request::LinkDropped | Request::Fence { .. } | Request::Expire { .. } => {
            writer.queue(&CfMessage::Refused {
                id,
                refusal: Refusal::ServerOnly,
            });
            return Ok(());
        }
        // The job name on the connection is the one the link authenticated with (so the
        // request is logged as changed, not as received).
        Request::Connect(connect) => {
            connect.jobname.clone_from(&from.identity.jobname);
            received = None;
        }
        _ => {}
    }
    let applied = match core.apply(ctx, request, received, &shared.flusher) {
        Ok(applied) => applied,
        Err(e) => {
            shared.store_failed(&e);
            return Err(LinkFailure::StoreFailed);
        }
    };
    match applied.logged {
        Some((seq, Durability::Sync)) => {
            let reply = CfMessage::Reply {
                id,
                reply: applied.reply,
            };
            shared
                .flusher
                .send_when_durable(seq, from.outbound.clone(), reply);
        }
        _ => writer.queue_reply(id, &applied.reply),
    }
    Ok(())
}

fn dump(core: &Core, id: RequestId, structure: &StrName) -> CfMessage {
    let text = core.facility().structure(structure).map(dump_structure);
    match text {
        Some(text) => CfMessage::Text { id, text },
        None => CfMessage::Refused {
            id,
            refusal: Refusal::NoSuchStructure,
        },
    }
}
