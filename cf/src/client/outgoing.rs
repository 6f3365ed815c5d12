//! The client's writing side: callers encode their request frames straight into one shared
//! buffer, and a single writer task writes whatever has gathered with one `write` call, so a
//! pipelined burst costs one system call and no allocation per request.

use std::sync::{Mutex, MutexGuard};

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

use crate::Error;
use crate::wire::FrameError;

/// A write buffer grown beyond this is not kept for reuse.
const KEEP_CAPACITY: usize = 1024 * 1024;

/// Request frames waiting for the writer.
#[derive(Debug, Default)]
pub(super) struct Outgoing {
    state: Mutex<State>,
    /// Wakes the writer: frames arrived in an empty buffer, or the link closes.
    ready: Notify,
}

#[derive(Debug, Default)]
struct State {
    frames: BytesMut,
    /// No more frames are taken (the client is gone or the socket failed).
    closed: bool,
}

impl Outgoing {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every update below leaves the state whole, even if a caller panicked meanwhile.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Has `encode` append a frame to the buffer and makes sure the writer will send it.
    pub(super) fn queue(
        &self,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), FrameError>,
    ) -> Result<(), Error> {
        let mut state = self.state();
        if state.closed {
            return Err(Error::LinkLost);
        }
        let was_empty = state.frames.is_empty();
        encode(&mut state.frames)?;
        drop(state);
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Refuses further frames; the writer sends what is queued and shuts the socket down.
    pub(super) fn close(&self) {
        self.state().closed = true;
        self.ready.notify_one();
    }

    /// Swaps the gathered frames into `frames` (whose old contents were written).
    fn take(&self, frames: &mut BytesMut) -> Taken {
        frames.clear();
        if frames.capacity() > KEEP_CAPACITY {
            *frames = BytesMut::new();
        }
        let mut state = self.state();
        std::mem::swap(&mut state.frames, frames);
        match (frames.is_empty(), state.closed) {
            (false, _) => Taken::Frames,
            (true, false) => Taken::Nothing,
            (true, true) => Taken::Closed,
        }
    }
}

/// What the writer found.
enum Taken {
    /// Frames to write.
    Frames,
    /// Nothing yet: wait for the next wake-up.
    Nothing,
    /// Nothing, and nothing more will come.
    Closed,
}

/// Writes the gathered frames until the client closes or the socket fails.
pub(super) async fn write_loop(mut socket: OwnedWriteHalf, outgoing: std::sync::Arc<Outgoing>) {
    let mut frames = BytesMut::new();
    loop {
        outgoing.ready.notified().await;
        loop {
            match outgoing.take(&mut frames) {
                Taken::Closed => {
                    let _ = socket.shutdown().await;
                    return;
                }
                Taken::Nothing => break,
                Taken::Frames => {
                    if socket.write_all(&frames).await.is_err() {
                        outgoing.close();
                        return;
                    }
                }
            }
        }
    }
}
