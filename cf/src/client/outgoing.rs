//! The client's writing side: callers encode their request frames straight into one buffer,
//! kept under the same lock as the table of requests in flight (so taking a request's slot and
//! queueing its frame cost one hold of one lock). A caller that finds nobody writing writes
//! the gathered frames itself, with one non-blocking `write` call; what it cannot write at
//! once (the socket's buffer is full), frames gathered while someone writes, and requests that
//! are to complete synchronously go to the link's writer task, which writes whatever has
//! gathered with one call: a pipelined burst costs one system call and no allocation per
//! request. After writing requests that are to complete synchronously, the writer spins for
//! their answers (see [`super::spin`]).

use std::io::ErrorKind;
use std::net::Shutdown;
use std::sync::Arc;

use bytes::BytesMut;
use socket2::SockRef;
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
    /// Who is writing frames taken from the buffer: nobody else may write until it is done.
    writing: Option<Writer>,
}

/// Who writes a link's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    /// A caller, with the frames it gathered and found nobody writing.
    Caller,
    /// The link's writer task.
    Task,
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
    /// Has `encode` append a frame to the buffer; `Ok(true)` when the writer task must be
    /// woken to send it unless the caller does (the buffer was empty and nobody writes).
    pub(super) fn queue(
        &mut self,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), FrameError>,
    ) -> Result<bool, Error> {
        if self.closed {
            return Err(Error::LinkLost);
        }
        let was_empty = self.frames.is_empty();
        encode(&mut self.frames)?;
        Ok(was_empty && self.writing.is_none())
    }

    /// The requests whose frames were queued last are to complete synchronously.
    pub(super) fn spin_for(&mut self, target: SpinTarget) {
        self.spin = Some(target);
    }

    /// Refuses further frames; the writer sends what is queued and shuts the socket down.
    pub(super) fn close(&mut self) {
        self.closed = true;
    }

    /// The gathered frames, for a caller to write itself: when nobody writes, no request
    /// among them is to complete synchronously (the writer task spins for those), and the link
    /// is open. The caller then writes until it hands back with [`Outgoing::written_by_caller`].
    pub(super) fn take_for_caller(&mut self) -> Option<BytesMut> {
        if self.writing.is_some() || self.spin.is_some() || self.closed || self.frames.is_empty() {
            return None;
        }
        self.writing = Some(Writer::Caller);
        Some(self.frames.split())
    }

    /// The caller wrote the first `written` bytes of `frames` (from
    /// [`Outgoing::take_for_caller`]); the rest goes before what gathered meanwhile. `true` when
    /// the writer task must be woken: frames are left, or the link closed meanwhile.
    pub(super) fn written_by_caller(&mut self, mut frames: BytesMut, written: usize) -> bool {
        self.writing = None;
        if written < frames.len() {
            let mut rest = frames.split_off(written);
            rest.extend_from_slice(&self.frames);
            self.frames = rest;
        }
        !self.frames.is_empty() || self.closed
    }

    /// Swaps the gathered frames into `frames` (whose old contents were written) for the writer
    /// task; nothing while a caller writes (it wakes the task when it is done).
    pub(super) fn take(&mut self, frames: &mut BytesMut) -> Taken {
        frames.clear();
        if frames.capacity() > KEEP_CAPACITY {
            *frames = BytesMut::new();
        }
        if self.writing == Some(Writer::Caller) {
            return Taken::Nothing;
        }
        std::mem::swap(&mut self.frames, frames);
        self.writing = (!frames.is_empty()).then_some(Writer::Task);
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

/// Writes as much of `frames` as the socket takes now: `Ok(0)` when it takes nothing.
pub(super) fn try_write(socket: &OwnedWriteHalf, frames: &[u8]) -> std::io::Result<usize> {
    match socket.try_write(frames) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(0),
        written => written,
    }
}

/// Writes the frames callers left to it until the client closes or the socket fails.
pub(super) async fn write_loop(socket: Arc<OwnedWriteHalf>, dispatch: Arc<Dispatch>) {
    let mut frames = BytesMut::new();
    loop {
        dispatch.outgoing_ready().await;
        loop {
            match dispatch.take_outgoing(&mut frames) {
                Taken::Closed => {
                    let _ = SockRef::from(socket.as_ref().as_ref()).shutdown(Shutdown::Write);
                    return;
                }
                Taken::Nothing => break,
                Taken::Frames(spin) => {
                    if write_all(&socket, &frames).await.is_err() {
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

/// Writes all of `frames`, waiting for room in the socket's buffer as needed.
async fn write_all(socket: &OwnedWriteHalf, mut frames: &[u8]) -> std::io::Result<()> {
    while !frames.is_empty() {
        socket.writable().await?;
        let written = try_write(socket, frames)?;
        frames = frames.get(written..).unwrap_or_default();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(outgoing: &mut Outgoing, frame: &[u8]) -> bool {
        outgoing
            .queue(|frames| {
                frames.extend_from_slice(frame);
                Ok(())
            })
            .expect("open")
    }

    fn take(outgoing: &mut Outgoing) -> Option<Vec<u8>> {
        let mut frames = BytesMut::new();
        match outgoing.take(&mut frames) {
            Taken::Frames(_) => Some(frames.to_vec()),
            Taken::Nothing | Taken::Closed => None,
        }
    }

    #[test]
    fn a_caller_that_finds_nobody_writing_writes_and_hands_the_rest_to_the_task() {
        let mut outgoing = Outgoing::default();
        assert!(queue(&mut outgoing, b"one"));
        let mine = outgoing.take_for_caller().expect("nobody writes");
        assert_eq!(&mine[..], b"one");
        // Frames gathered while the caller writes wake nobody and go to nobody else.
        assert!(!queue(&mut outgoing, b"two"));
        assert!(outgoing.take_for_caller().is_none());
        assert_eq!(take(&mut outgoing), None);
        // The socket took two bytes: the rest goes first, and the task is to be woken.
        assert!(outgoing.written_by_caller(mine, 2));
        assert_eq!(take(&mut outgoing).as_deref(), Some(&b"etwo"[..]));
    }

    #[test]
    fn nobody_writes_beside_the_task_nor_frames_it_is_to_spin_for() {
        let mut outgoing = Outgoing::default();
        queue(&mut outgoing, b"one");
        assert_eq!(take(&mut outgoing).as_deref(), Some(&b"one"[..]));
        assert!(!queue(&mut outgoing, b"two"));
        assert!(outgoing.take_for_caller().is_none());
        assert_eq!(take(&mut outgoing).as_deref(), Some(&b"two"[..]));
        assert_eq!(take(&mut outgoing), None);

        let target = SpinTarget {
            index: 0,
            generation: 1,
            requests: 1,
        };
        assert!(queue(&mut outgoing, b"three"));
        outgoing.spin_for(target);
        assert!(outgoing.take_for_caller().is_none());
        assert_eq!(take(&mut outgoing).as_deref(), Some(&b"three"[..]));
    }

    #[test]
    fn a_link_closed_while_a_caller_writes_wakes_the_task_to_shut_it_down() {
        let mut outgoing = Outgoing::default();
        queue(&mut outgoing, b"one");
        let mine = outgoing.take_for_caller().expect("nobody writes");
        outgoing.close();
        assert!(outgoing.written_by_caller(mine, 3));
        assert!(matches!(outgoing.take(&mut BytesMut::new()), Taken::Closed));
    }
}
