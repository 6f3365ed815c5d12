//! The client's writing side: callers encode their request frames straight into one buffer,
//! kept under the same lock as the table of requests in flight (so taking a request's slot and
//! queueing its frame cost one hold of one lock), and a single writer task writes whatever has
//! gathered with one `write` call: a pipelined burst costs one system call and no allocation
//! per request. After writing requests that are to complete synchronously, the writer spins
//! for their answers (see [`super::spin`]).

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use super::dispatch::Dispatch;
use crate::Error;
use crate::wire::FrameError;

/// A write buffer grown beyond this is not kept for reuse.
const KEEP_CAPACITY: usize = 1024 * 1024;

/// Request frames waiting for the writer.
#[derive(Debug, Default)]
pub(super) struct Outgoing {
    frames: BytesMut,
    /// No more frames are taken (the client is gone or the socket failed).
    closed: bool,
    /// The requests among `frames` that are to complete synchronously.
    spin: Option<SpinTarget>,
}

/// Requests the writer spins for once they are written: the slot of the last, and how many
/// there are.
#[derive(Debug, Clone, Copy)]
pub(super) struct SpinTarget {
    pub(super) index: usize,
    pub(super) generation: u32,
    pub(super) requests: usize,
}

impl Outgoing {
    /// Has `encode` append a frame to the buffer; `Ok(true)` when the writer must be woken to
    /// send it (the buffer was empty).
    pub(super) fn queue(
        &mut self,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), FrameError>,
    ) -> Result<bool, Error> {
        if self.closed {
            return Err(Error::LinkLost);
        }
        let was_empty = self.frames.is_empty();
        encode(&mut self.frames)?;
        Ok(was_empty)
    }

    /// The requests whose frames were queued last are to complete synchronously.
    pub(super) fn spin_for(&mut self, target: SpinTarget) {
        self.spin = Some(target);
    }

    /// Refuses further frames; the writer sends what is queued and shuts the socket down.
    pub(super) fn close(&mut self) {
        self.closed = true;
    }

    /// Swaps the gathered frames into `frames` (whose old contents were written).
    pub(super) fn take(&mut self, frames: &mut BytesMut) -> Taken {
        frames.clear();
        if frames.capacity() > KEEP_CAPACITY {
            *frames = BytesMut::new();
        }
        std::mem::swap(&mut self.frames, frames);
        match (frames.is_empty(), self.closed) {
            (false, _) => Taken::Frames(self.spin.take()),
            (true, false) => Taken::Nothing,
            (true, true) => Taken::Closed,
        }
    }
}

/// What the writer found.
pub(super) enum Taken {
    /// Frames to write, and the requests among them to spin for once they are written.
    Frames(Option<SpinTarget>),
    /// Nothing yet: wait for the next wake-up.
    Nothing,
    /// Nothing, and nothing more will come.
    Closed,
}

/// Writes the gathered frames until the client closes or the socket fails.
pub(super) async fn write_loop(mut socket: OwnedWriteHalf, dispatch: Arc<Dispatch>) {
    let mut frames = BytesMut::new();
    loop {
        dispatch.outgoing_ready().await;
        loop {
            match dispatch.take_outgoing(&mut frames) {
                Taken::Closed => {
                    let _ = socket.shutdown().await;
                    return;
                }
                Taken::Nothing => break,
                Taken::Frames(spin) => {
                    if socket.write_all(&frames).await.is_err() {
                        dispatch.close_outgoing();
                        return;
                    }
                    if let Some(target) = spin {
                        dispatch.spin_for_answer(&socket, target);
                    }
                }
            }
        }
    }
}
