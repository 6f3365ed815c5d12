//! One CF link: the handshake, then requests in and replies, events and completions out.
//!
//! The reading side runs in the link's task; a writer task drains the link's outbound queue,
//! batching every message already queued into one socket write.

use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt;
use rand::rngs::OsRng;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::FramedRead;

use super::Shared;
use super::core::{Outbound, now};
use crate::auth::{self, Nonce, Transcript};
use crate::structure::{Ctx, Durability, LinkId, Request, StrName, SysName, dump_structure};
use crate::wire::{
    CfMessage, ConnectorMessage, FrameError, Hello, LinkFailure, MessageCodec, PROTOCOL_VERSION,
    Refusal, RequestId, encode_frame,
};

/// Largest batch of queued messages written to the socket at once.
const WRITE_BATCH: usize = 256 * 1024;

type Reader = FramedRead<tokio::net::tcp::OwnedReadHalf, MessageCodec<ConnectorMessage, CfMessage>>;

/// Who an authenticated link speaks for.
#[derive(Debug, Clone)]
struct Identity {
    system: SysName,
    jobname: String,
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
    let mut reader = FramedRead::new(read, MessageCodec::new(shared.config.max_frame));
    let (outbound, queue) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(write, queue, shared.config.max_frame));

    let handshake = tokio::select! {
        result = tokio::time::timeout(shared.config.handshake_timeout, handshake(&mut reader, &outbound, &shared, link)) => {
            result.unwrap_or(Err(Some(LinkFailure::NotAuthenticated)))
        }
        _ = shutdown.wait_for(|stop| *stop) => Err(Some(LinkFailure::Shutdown)),
    };
    let identity = match handshake {
        Ok(identity) => identity,
        Err(failure) => {
            if let Some(failure) = failure {
                tracing::info!(link = link.0, "link refused: {failure}");
                let _ = outbound.send(CfMessage::Closing(failure));
            }
            drop(outbound);
            let _ = writer.await;
            return;
        }
    };
    tracing::debug!(link = link.0, system = %identity.system, job = identity.jobname, "link authenticated");
    shared.core().attach(link, outbound.clone());

    let failure = loop {
        let frame = tokio::select! {
            frame = reader.next() => frame,
            _ = shutdown.wait_for(|stop| *stop) => break Some(LinkFailure::Shutdown),
        };
        let message = match frame {
            None => break None,
            Some(Err(e)) => break failure_of(e),
            Some(Ok(message)) => message,
        };
        match message {
            ConnectorMessage::Request { id, request } => {
                if let Err(failure) =
                    handle_request(&shared, link, &identity, &outbound, id, request)
                {
                    break Some(failure);
                }
            }
            ConnectorMessage::Dump { id, structure } => {
                let _ = outbound.send(dump(&shared, id, &structure));
            }
            ConnectorMessage::Hello(_) | ConnectorMessage::Proof(_) => {
                break Some(LinkFailure::NotAuthenticated);
            }
        }
    };

    if let Some(failure) = &failure {
        tracing::info!(link = link.0, system = %identity.system, "closing link: {failure}");
        let _ = outbound.send(CfMessage::Closing(failure.clone()));
    }
    {
        let mut core = shared.core();
        core.detach(link);
        if failure != Some(LinkFailure::Shutdown) {
            let ctx = Ctx {
                link,
                system: identity.system.clone(),
                now: now(),
            };
            if let Err(e) = core.apply(&ctx, Request::LinkDropped, &shared.flusher) {
                drop(core);
                shared.store_failed(&e);
            }
        }
    }
    drop(outbound);
    let _ = writer.await;
}

/// Runs the handshake; `Err(None)` when the peer went away without a word.
async fn handshake(
    reader: &mut Reader,
    outbound: &Outbound,
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
    let _ = outbound.send(CfMessage::Challenge {
        nonce: transcript.cf_nonce,
        proof: transcript.cf_proof(&shared.config.secret),
    });
    let proof = match next_message(reader).await? {
        ConnectorMessage::Proof(proof) => proof,
        _ => return Err(Some(LinkFailure::NotAuthenticated)),
    };
    transcript
        .verify_connector(&shared.config.secret, &proof)
        .map_err(|_| Some(LinkFailure::BadProof))?;
    let _ = outbound.send(CfMessage::Welcome {
        link,
        interval_ms: u64::try_from(shared.config.interval.as_millis()).unwrap_or(u64::MAX),
    });
    Ok(identity)
}

async fn next_message(reader: &mut Reader) -> Result<ConnectorMessage, Option<LinkFailure>> {
    match reader.next().await {
        None => Err(None),
        Some(Err(e)) => Err(failure_of(e)),
        Some(Ok(message)) => Ok(message),
    }
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

/// Applies one request and queues its reply (after the flush, for a `sync` structure).
fn handle_request(
    shared: &Shared,
    link: LinkId,
    identity: &Identity,
    outbound: &Outbound,
    id: RequestId,
    mut request: Request,
) -> Result<(), LinkFailure> {
    match &mut request {
        Request::LinkDropped | Request::Fence { .. } | Request::Expire { .. } => {
            let _ = outbound.send(CfMessage::Refused {
                id,
                refusal: Refusal::ServerOnly,
            });
            return Ok(());
        }
        // The job name on the connection is the one the link authenticated with.
        Request::Connect(connect) => connect.jobname.clone_from(&identity.jobname),
        _ => {}
    }
    let ctx = Ctx {
        link,
        system: identity.system.clone(),
        now: now(),
    };
    let applied = shared.core().apply(&ctx, request, &shared.flusher);
    let applied = match applied {
        Ok(applied) => applied,
        Err(e) => {
            shared.store_failed(&e);
            return Err(LinkFailure::StoreFailed);
        }
    };
    let reply = CfMessage::Reply {
        id,
        reply: applied.reply,
    };
    match applied.logged {
        Some((seq, Durability::Sync)) => {
            shared
                .flusher
                .send_when_durable(seq, outbound.clone(), reply)
        }
        _ => {
            let _ = outbound.send(reply);
        }
    }
    Ok(())
}

fn dump(shared: &Shared, id: RequestId, structure: &StrName) -> CfMessage {
    let text = shared
        .core()
        .facility()
        .structure(structure)
        .map(dump_structure);
    match text {
        Some(text) => CfMessage::Text { id, text },
        None => CfMessage::Refused {
            id,
            refusal: Refusal::NoSuchStructure,
        },
    }
}

/// Writes queued messages, batching all that are ready into one write; ends when every
/// sender is gone (the link is closing) or the socket fails.
async fn write_loop(
    mut socket: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<CfMessage>,
    max_frame: usize,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while let Some(message) = queue.recv().await {
        encode(&message, &mut buf, max_frame);
        while buf.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(message) => encode(&message, &mut buf, max_frame),
                Err(_) => break,
            }
        }
        if socket.write_all(&buf).await.is_err() {
            return;
        }
        buf.clear();
    }
    let _ = socket.shutdown().await;
}

/// Encodes a message; a reply too large for a frame becomes a refusal of its request.
fn encode(message: &CfMessage, buf: &mut BytesMut, max_frame: usize) {
    if let Err(e) = encode_frame(message, buf, max_frame) {
        tracing::warn!("cannot send a message: {e}");
        if let CfMessage::Reply { id, .. } = message {
            let refusal = CfMessage::Refused {
                id: *id,
                refusal: Refusal::ReplyTooLarge,
            };
            let _ = encode_frame(&refusal, buf, max_frame);
        }
    }
}
