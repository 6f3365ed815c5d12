//! The state a CF link's tasks share: the requests in flight and the frames waiting for the
//! writer. The reading side matches answers to waiting requests, queued lock requests to
//! their completions, and fans events out to subscribers.
//!
//! Each request in flight has a slot in one table (a slab): the request id names the slot and
//! its generation, the slot holds the answer and the waker of the [`Pending`] handle. So a
//! request costs no allocation, channel or hashing of its own; taking its slot and queueing
//! its frame cost one hold of the lock, and the reader hands out a whole burst of answers
//! under one hold of it. A [`Batch`] takes the slots of all its requests under one hold, and
//! its answers under one hold per wake-up.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use futures::Stream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Notify, mpsc};

use super::Reader;
use super::outgoing::{Outgoing, SpinTarget, Taken, try_write};
use super::spin::{
    CompletionCounts, Conversion, DEFAULT_SYNC_THRESHOLD, SpinEnd, SpinGroup, spin_for_input,
};
use crate::Error;
use crate::structure::{ConToken, Event, Reply, ReplyBody, Ticket};
use crate::wire::{CfMessage, FrameError, LinkFailure, RequestId, decode_cf_message};

/// An event for one of the link's connections: what z/OS passes to the event exit.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorEvent {
    /// The connection told (its CONTOKEN).
    pub token: ConToken,
    /// What happened.
    pub event: Event,
}

/// A stream of the link's events; ends when the link closes.
#[derive(Debug)]
pub struct Events {
    queue: mpsc::UnboundedReceiver<ConnectorEvent>,
}

impl Events {
    /// The next event, or `None` once the link has closed.
    pub async fn recv(&mut self) -> Option<ConnectorEvent> {
        self.queue.recv().await
    }
}

impl Stream for Events {
    type Item = ConnectorEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnectorEvent>> {
        self.queue.poll_recv(cx)
    }
}

/// The answer to one request, before it is typed for the caller.
#[derive(Debug)]
pub(super) enum Answer {
    Reply(Reply),
    Text(String),
}

impl Answer {
    fn into_reply(self) -> Result<Reply, Error> {
        match self {
            Self::Reply(reply) => Ok(reply),
            Self::Text(_) => Err(Error::Protocol("text answer to a request".into())),
        }
    }

    pub(super) fn into_text(self) -> Result<String, Error> {
        match self {
            Self::Text(text) => Ok(text),
            Self::Reply(_) => Err(Error::Protocol("reply answer to a dump".into())),
        }
    }
}

/// Where a request's answer stands.
#[derive(Debug)]
enum Stage {
    /// The slot is free.
    Free,
    /// Sent, no answer yet.
    Waiting,
    /// The CF queued it (behind a held lock): its completion is the answer.
    Queued,
    /// Answered; the answer waits for its [`Pending`] handle.
    Done(Result<Answer, Error>),
}

/// One request in flight.
#[derive(Debug)]
struct Slot {
    /// Bumped each time the slot is taken, so a stale request id matches nothing.
    generation: u32,
    /// The connection the request was made under, to match a completion after a queued reply.
    token: Option<ConToken>,
    stage: Stage,
    /// The task awaiting the answer.
    waker: Option<Waker>,
    /// The [`Pending`] handle was dropped: the slot is freed when the answer comes.
    abandoned: bool,
}

/// The request id of slot `index` in `generation`.
fn request_id(index: u32, generation: u32) -> RequestId {
    RequestId((u64::from(generation) << 32) | u64::from(index))
}

/// The slot index and generation a request id names.
fn slot_of(id: RequestId) -> (usize, u32) {
    let index = usize::try_from(id.0 & 0xFFFF_FFFF).unwrap_or(usize::MAX);
    let generation = u32::try_from(id.0 >> 32).unwrap_or(u32::MAX);
    (index, generation)
}

/// The answer to a submitted request, once it comes: await it, or test it without waiting
/// (IXLFCOMP). A lock request queued by the CF completes when the lock is granted.
#[derive(Debug)]
pub struct Pending {
    inner: PendingInner,
}

#[derive(Debug)]
enum PendingInner {
    /// Waits in slot `index` of the link's table.
    Slot {
        dispatch: Arc<Dispatch>,
        index: usize,
        generation: u32,
    },
    /// Failed before it was sent.
    Failed(Option<Error>),
    /// The answer was taken.
    Taken,
}

impl Pending {
    /// A handle whose answer is `error`.
    fn failed(error: Error) -> Self {
        Self {
            inner: PendingInner::Failed(Some(error)),
        }
    }

    /// IXLFCOMP: the final reply if the request has completed, `None` while it has not
    /// (IXLRSNCODEREQNOTCOMP). After it returned `Some`, it returns `None` again.
    pub fn test(&mut self) -> Option<Result<Reply, Error>> {
        self.take(None)
            .map(|answer| answer.and_then(Answer::into_reply))
    }

    pub(super) async fn answer(mut self) -> Result<Answer, Error> {
        std::future::poll_fn(|cx| match self.take(Some(cx)) {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        })
        .await
    }

    /// The answer if it has come (and it was not taken before); otherwise remembers the
    /// waker of `cx` for when it comes.
    fn take(&mut self, cx: Option<&mut Context<'_>>) -> Option<Result<Answer, Error>> {
        let answer = match &mut self.inner {
            PendingInner::Taken => return None,
            PendingInner::Failed(error) => Err(error.take().unwrap_or(Error::LinkLost)),
            PendingInner::Slot {
                dispatch,
                index,
                generation,
            } => dispatch.state().take(*index, *generation, cx)?,
        };
        self.inner = PendingInner::Taken;
        Some(answer)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let PendingInner::Slot {
            dispatch,
            index,
            generation,
        } = &self.inner
        {
            dispatch.state().abandon(*index, *generation);
        }
    }
}

impl Future for Pending {
    type Output = Result<Reply, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if matches!(self.inner, PendingInner::Taken) {
            return Poll::Ready(Err(Error::Protocol("answer already taken".into())));
        }
        match self.take(Some(cx)) {
            Some(answer) => Poll::Ready(answer.and_then(Answer::into_reply)),
            None => Poll::Pending,
        }
    }
}

/// The answers to requests sent together ([`Client::submit_all`]), handed out in the order
/// the requests were made: a series of MODE=ASYNCTOKEN requests and their IXLFCOMPs.
///
/// The requests take their slots under one hold of the link's lock, and each wake-up takes
/// every answer that has come under one more, where separate [`Pending`] handles take the
/// lock once per request each way.
///
/// [`Client::submit_all`]: super::Client::submit_all
#[derive(Debug)]
pub struct Batch {
    dispatch: Arc<Dispatch>,
    /// The requests whose answers were not handed out yet, first to last.
    members: VecDeque<Member>,
}

/// One request of a [`Batch`].
#[derive(Debug)]
enum Member {
    /// Waits in slot `index` of the link's table.
    Waiting { index: usize, generation: u32 },
    /// Its answer, taken from the table (or its failure before it was sent).
    Answered(Result<Answer, Error>),
}

impl Batch {
    /// The final reply to the next request, once it comes; `None` after the last.
    pub async fn next(&mut self) -> Option<Result<Reply, Error>> {
        std::future::poll_fn(|cx| self.poll_answer(cx)).await
    }

    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Reply, Error>>> {
        if matches!(self.members.front(), Some(Member::Waiting { .. })) {
            let mut state = self.dispatch.state();
            // Only the first waiting request needs the waker: nothing is handed out before it.
            let mut cx = Some(cx);
            for member in &mut self.members {
                let Member::Waiting { index, generation } = *member else {
                    continue;
                };
                match state.take(index, generation, cx.take()) {
                    Some(answer) => *member = Member::Answered(answer),
                    None => break,
                }
            }
        }
        match self.members.pop_front() {
            None => Poll::Ready(None),
            Some(Member::Answered(answer)) => {
                Poll::Ready(Some(answer.and_then(Answer::into_reply)))
            }
            Some(waiting) => {
                self.members.push_front(waiting);
                Poll::Pending
            }
        }
    }
}

impl Stream for Batch {
    type Item = Result<Reply, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_answer(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.members.len(), Some(self.members.len()))
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if self
            .members
            .iter()
            .any(|m| matches!(m, Member::Waiting { .. }))
        {
            let mut state = self.dispatch.state();
            for member in &self.members {
                if let Member::Waiting { index, generation } = *member {
                    state.abandon(index, generation);
                }
            }
        }
    }
}

/// What the reader, the writer and the senders share.
#[derive(Debug)]
pub(super) struct Dispatch {
    state: Mutex<State>,
    /// Wakes the writer: frames arrived in an empty buffer, or the link closes.
    outgoing_ready: Notify,
    /// The link's socket, for callers to write their frames themselves (none in unit tests,
    /// where the frames stay in the buffer).
    socket: Option<Arc<OwnedWriteHalf>>,
}

#[derive(Debug)]
struct State {
    /// Request frames waiting for the writer.
    outgoing: Outgoing,
    slots: Vec<Slot>,
    /// Free slots, the last freed first (its memory is the warmest).
    free: Vec<usize>,
    /// Slots of requests the CF queued, by connection and ticket.
    queued: HashMap<(ConToken, Ticket), usize>,
    /// Completions that overtook their queued reply.
    early: HashMap<(ConToken, Ticket), Reply>,
    subscribers: Vec<mpsc::UnboundedSender<ConnectorEvent>>,
    /// The subscription holding events from the start of the link, for the first taker.
    first: Option<Events>,
    /// Why the link closed, once it has.
    closed: Option<Option<LinkFailure>>,
    /// The links whose requests in flight keep this link from spinning.
    group: SpinGroup,
    /// Which requests the link spins for, and how they completed.
    conversion: Conversion,
}

/// A request given its slot.
struct Opened {
    index: usize,
    generation: u32,
    /// The writer task must be woken to send it, unless the caller does.
    wake_writer: bool,
    /// Requests in flight in the link's spin group, this one included.
    in_flight: usize,
}

impl State {
    /// Takes a free slot for a request made under connection `token` (if any) and has
    /// `encode` append the request's frame, with the slot's request id, to what the writer
    /// sends next.
    fn open(
        &mut self,
        token: Option<ConToken>,
        encode: impl FnOnce(RequestId, &mut BytesMut) -> Result<(), FrameError>,
    ) -> Result<Opened, Error> {
        if self.closed.is_some() {
            return Err(Error::LinkLost);
        }
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                token: None,
                stage: Stage::Free,
                waker: None,
                abandoned: false,
            });
            self.slots.len() - 1
        });
        let Some(slot) = self.slots.get_mut(index) else {
            return Err(Error::LinkLost);
        };
        let generation = slot.generation.wrapping_add(1);
        let id = request_id(u32::try_from(index).unwrap_or(u32::MAX), generation);
        match self.outgoing.queue(|frames| encode(id, frames)) {
            Ok(wake_writer) => {
                slot.generation = generation;
                slot.token = token;
                slot.stage = Stage::Waiting;
                Ok(Opened {
                    index,
                    generation,
                    wake_writer,
                    in_flight: self.group.sent(),
                })
            }
            Err(e) => {
                // No frame carries the id: the slot goes back as it was.
                self.free.push(index);
                Err(e)
            }
        }
    }

    /// The answer of the request in slot `index` of `generation` if it has come (and frees
    /// the slot); otherwise remembers the waker of `cx` for when it comes.
    fn take(
        &mut self,
        index: usize,
        generation: u32,
        cx: Option<&mut Context<'_>>,
    ) -> Option<Result<Answer, Error>> {
        let Some(slot) = self
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
        else {
            // Cannot happen: a slot is reused only after its handle let go of it.
            return Some(Err(Error::LinkLost));
        };
        if !matches!(slot.stage, Stage::Done(_)) {
            if let Some(cx) = cx
                && !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
            {
                slot.waker = Some(cx.waker().clone());
            }
            return None;
        }
        let Stage::Done(answer) = std::mem::replace(&mut slot.stage, Stage::Free) else {
            return None;
        };
        self.release(index);
        Some(answer)
    }

    /// Nobody waits for the request in slot `index` of `generation` any more: its slot is
    /// freed now if it was answered, or else when the answer comes.
    fn abandon(&mut self, index: usize, generation: u32) {
        let Some(slot) = self
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
        else {
            return;
        };
        match slot.stage {
            Stage::Done(_) => {
                slot.stage = Stage::Free;
                self.release(index);
            }
            Stage::Waiting | Stage::Queued => {
                slot.abandoned = true;
                slot.waker = None;
            }
            Stage::Free => {}
        }
    }

    /// Returns a slot whose stage is already `Free` to the free list.
    fn release(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.waker = None;
            slot.abandoned = false;
            self.free.push(index);
            self.group.finished(1);
        }
    }

    /// Has the writer spin for the `requests` just sent, the last of them `opened`, if they
    /// are all the requests in flight in the group and the link's heuristic lets them.
    fn spin_if_alone(&mut self, opened: &Opened, requests: usize) {
        let others = opened.in_flight.saturating_sub(requests);
        if self.conversion.try_spin(requests, others) {
            let target = SpinTarget {
                index: opened.index,
                generation: opened.generation,
                requests,
            };
            self.outgoing.spin_for(target);
        }
    }

    /// Whether the request in slot `index` of `generation` no longer waits for its reply
    /// (it was answered, perhaps taken, or queued by the CF), or the link has closed.
    fn answered(&self, index: usize, generation: u32) -> bool {
        self.closed.is_some()
            || self
                .slots
                .get(index)
                .is_none_or(|s| s.generation != generation || !matches!(s.stage, Stage::Waiting))
    }

    /// The slot of request `id` if it waits for its reply.
    fn waiting(&mut self, id: RequestId) -> Option<usize> {
        let (index, generation) = slot_of(id);
        self.slots
            .get(index)
            .filter(|s| s.generation == generation && matches!(s.stage, Stage::Waiting))
            .map(|_| index)
    }

    /// Stores the answer of slot `index` (or frees the slot if nobody waits for it any more);
    /// returns the waker to wake once the lock is released.
    fn complete(&mut self, index: usize, answer: Result<Answer, Error>) -> Option<Waker> {
        let slot = self.slots.get_mut(index)?;
        if slot.abandoned {
            slot.stage = Stage::Free;
            self.release(index);
            return None;
        }
        slot.stage = Stage::Done(answer);
        slot.waker.take()
    }
}

impl Default for Dispatch {
    /// A link with no socket in a spin group of its own, spinning up to the default threshold.
    fn default() -> Self {
        Self::new(None, SpinGroup::isolated(), DEFAULT_SYNC_THRESHOLD)
    }
}

impl Drop for Dispatch {
    fn drop(&mut self) {
        let state = self.state();
        state.group.finished(state.slots.len() - state.free.len());
    }
}

impl Dispatch {
    /// A link over `socket` in spin group `group` whose synchronous requests spin up to
    /// `sync_threshold`.
    pub(super) fn new(
        socket: Option<Arc<OwnedWriteHalf>>,
        group: SpinGroup,
        sync_threshold: Duration,
    ) -> Self {
        let (sender, queue) = mpsc::unbounded_channel();
        Self {
            state: Mutex::new(State {
                outgoing: Outgoing::default(),
                slots: Vec::new(),
                free: Vec::new(),
                queued: HashMap::new(),
                early: HashMap::new(),
                subscribers: vec![sender],
                first: Some(Events { queue }),
                closed: None,
                group,
                conversion: Conversion::new(sync_threshold),
            }),
            outgoing_ready: Notify::new(),
            socket,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one request made under connection `token` (if any): `encode` appends its frame
    /// with the request id it is given. The handle fails at once when the link has closed or
    /// the frame could not be encoded. A synchronous request (`sync`: the caller waits for
    /// it) spins for its answer if the link's heuristic lets it.
    pub(super) fn send(
        self: &Arc<Self>,
        token: Option<ConToken>,
        sync: bool,
        encode: impl FnOnce(RequestId, &mut BytesMut) -> Result<(), FrameError>,
    ) -> Pending {
        let (opened, direct) = {
            let mut state = self.state();
            let opened = state.open(token, encode);
            if let Ok(opened) = &opened
                && sync
            {
                state.spin_if_alone(opened, 1);
            }
            (opened, self.take_for_caller(&mut state))
        };
        self.write_or_wake(direct, opened.as_ref().is_ok_and(|o| o.wake_writer));
        match opened {
            Ok(opened) => Pending {
                inner: PendingInner::Slot {
                    dispatch: Arc::clone(self),
                    index: opened.index,
                    generation: opened.generation,
                },
            },
            Err(e) => Pending::failed(e),
        }
    }

    /// Sends several requests as [`Dispatch::send`] does, under one hold of the lock; if they
    /// are all the requests in flight in the link's group, the link spins for their answers
    /// as for a synchronous request's.
    pub(super) fn send_all<E>(
        self: &Arc<Self>,
        requests: impl IntoIterator<Item = (Option<ConToken>, E)>,
    ) -> Batch
    where
        E: FnOnce(RequestId, &mut BytesMut) -> Result<(), FrameError>,
    {
        let mut wake_writer = false;
        let (members, direct) = {
            let mut state = self.state();
            let mut last = None;
            let mut sent = 0;
            let members = requests
                .into_iter()
                .map(|(token, encode)| match state.open(token, encode) {
                    Ok(opened) => {
                        wake_writer |= opened.wake_writer;
                        sent += 1;
                        let member = Member::Waiting {
                            index: opened.index,
                            generation: opened.generation,
                        };
                        last = Some(opened);
                        member
                    }
                    Err(e) => Member::Answered(Err(e)),
                })
                .collect();
            // A burst that is all the work in flight completes synchronously if it can.
            if let Some(last) = last
                && last.in_flight == sent
            {
                state.spin_if_alone(&last, sent);
            }
            (members, self.take_for_caller(&mut state))
        };
        self.write_or_wake(direct, wake_writer);
        Batch {
            dispatch: Arc::clone(self),
            members,
        }
    }

    /// The gathered frames, if the caller is to write them itself (see
    /// [`Outgoing::take_for_caller`]).
    fn take_for_caller(&self, state: &mut State) -> Option<BytesMut> {
        self.socket.as_ref()?;
        state.outgoing.take_for_caller()
    }

    /// After frames were queued: writes `direct` (from [`Dispatch::take_for_caller`]) from the
    /// calling task, with one non-blocking write, and leaves what the socket did not take to
    /// the writer task; or wakes the writer task if `wake_writer`.
    fn write_or_wake(&self, direct: Option<BytesMut>, wake_writer: bool) {
        let (Some(frames), Some(socket)) = (direct, &self.socket) else {
            if wake_writer {
                self.outgoing_ready.notify_one();
            }
            return;
        };
        // A failed socket leaves everything to the writer task, which closes the link.
        let written = try_write(socket, &frames).unwrap_or(0);
        if self.state().outgoing.written_by_caller(frames, written) {
            self.outgoing_ready.notify_one();
        }
    }

    /// Waits until the writer has something to do.
    pub(super) async fn outgoing_ready(&self) {
        self.outgoing_ready.notified().await;
    }

    /// Swaps the frames gathered for the writer into `frames`.
    pub(super) fn take_outgoing(&self, frames: &mut BytesMut) -> Taken {
        self.state().outgoing.take(frames)
    }

    /// Spins until the request `target` names has its answer, the link has input, other
    /// requests go into flight in the link's group, or the sync threshold has passed; the
    /// link's heuristic learns which.
    pub(super) fn spin_for_answer(&self, socket: &OwnedWriteHalf, target: SpinTarget) {
        let threshold = self.state().conversion.threshold();
        let end = spin_for_input(socket, threshold, || {
            let state = self.state();
            if state.answered(target.index, target.generation) {
                Some(SpinEnd::Answered)
            } else if state.group.in_flight() > target.requests {
                Some(SpinEnd::OtherWork)
            } else {
                None
            }
        });
        self.state().conversion.spun(end, target.requests);
    }

    /// How the link's requests that were to complete synchronously completed.
    pub(super) fn completion_counts(&self) -> CompletionCounts {
        self.state().conversion.counts()
    }

    /// Refuses further requests; the writer sends what is queued and shuts the socket down.
    pub(super) fn close_outgoing(&self) {
        self.state().outgoing.close();
        self.outgoing_ready.notify_one();
    }

    /// A new subscription to the link's events.
    pub(super) fn subscribe(&self) -> Events {
        let mut state = self.state();
        if let Some(first) = state.first.take() {
            return first;
        }
        let (sender, queue) = mpsc::unbounded_channel();
        if state.closed.is_none() {
            state.subscribers.push(sender);
        }
        Events { queue }
    }

    /// Hands out one message; the wakers of the answered requests go to `wake`.
    fn handle(
        state: &mut State,
        message: CfMessage,
        wake: &mut Vec<Waker>,
    ) -> Result<(), Option<LinkFailure>> {
        let mut done = |state: &mut State, index: usize, answer: Result<Answer, Error>| {
            wake.extend(state.complete(index, answer));
        };
        match message {
            CfMessage::Reply { id, reply } => {
                let Some(index) = state.waiting(id) else {
                    return Ok(());
                };
                let token = state.slots.get(index).and_then(|s| s.token);
                match (&reply.body, token) {
                    (ReplyBody::Queued(ticket), Some(token)) => {
                        let key = (token, *ticket);
                        match state.early.remove(&key) {
                            Some(final_reply) => done(state, index, Ok(Answer::Reply(final_reply))),
                            None => {
                                if let Some(slot) = state.slots.get_mut(index) {
                                    slot.stage = Stage::Queued;
                                }
                                state.queued.insert(key, index);
                            }
                        }
                    }
                    _ => done(state, index, Ok(Answer::Reply(reply))),
                }
            }
            CfMessage::Text { id, text } => {
                if let Some(index) = state.waiting(id) {
                    done(state, index, Ok(Answer::Text(text)));
                }
            }
            CfMessage::Refused { id, refusal } => {
                if let Some(index) = state.waiting(id) {
                    done(state, index, Err(Error::Refused(refusal)));
                }
            }
            CfMessage::Completion {
                token,
                ticket,
                reply,
            } => match state.queued.remove(&(token, ticket)) {
                Some(index) => done(state, index, Ok(Answer::Reply(reply))),
                None => {
                    state.early.insert((token, ticket), reply);
                }
            },
            CfMessage::Event { token, event } => {
                let event = ConnectorEvent { token, event };
                state
                    .subscribers
                    .retain(|subscriber| subscriber.send(event.clone()).is_ok());
            }
            CfMessage::Closing(failure) => return Err(Some(failure)),
            CfMessage::Challenge { .. } | CfMessage::Welcome { .. } => return Err(None),
        }
        Ok(())
    }

    /// Fails everything still waiting and ends the event streams.
    fn close(&self, failure: Option<LinkFailure>) {
        let mut wake = Vec::new();
        {
            let mut state = self.state();
            let error = || match &failure {
                Some(failure) => Error::LinkClosed(failure.clone()),
                None => Error::LinkLost,
            };
            let open: Vec<usize> = (0..state.slots.len())
                .filter(|&i| {
                    state
                        .slots
                        .get(i)
                        .is_some_and(|s| matches!(s.stage, Stage::Waiting | Stage::Queued))
                })
                .collect();
            for index in open {
                wake.extend(state.complete(index, Err(error())));
            }
            state.queued.clear();
            state.subscribers.clear();
            state.closed = Some(failure);
        }
        wake.into_iter().for_each(Waker::wake);
    }
}

/// Reads the CF's messages until the link closes; every message already read is handed out
/// under one hold of the lock, and the answered requests' tasks are woken after it.
pub(super) async fn read_loop(mut reader: Reader, dispatch: Arc<Dispatch>) {
    let mut wake = Vec::new();
    let failure = 'link: loop {
        if !matches!(reader.ready().await, Ok(true)) {
            break None;
        }
        let Ok(frames) = reader.take_frames() else {
            break None;
        };
        let mut state = dispatch.state();
        let ended = frames
            .map(|body| match decode_cf_message(&body) {
                Ok(message) => Dispatch::handle(&mut state, message, &mut wake),
                Err(_) => Err(None),
            })
            .find(Result::is_err)
            .unwrap_or(Ok(()));
        drop(state);
        wake.drain(..).for_each(Waker::wake);
        if let Err(failure) = ended {
            break 'link failure;
        }
    };
    if let Some(failure) = &failure {
        tracing::info!("CF closed the link: {failure}");
    }
    dispatch.close(failure);
}

#[cfg(test)]
mod tests {
    use futures::{FutureExt, StreamExt};

    use super::*;
    use crate::structure::{Reason, ReturnCode};

    fn reply(reason: Reason) -> Reply {
        Reply {
            rc: ReturnCode::Warning,
            reason,
            body: ReplyBody::None,
        }
    }

    /// Takes a slot as a request would (queueing no frame): its id and handle.
    fn expect(dispatch: &Arc<Dispatch>, token: Option<ConToken>) -> (RequestId, Pending) {
        let mut sent = None;
        let pending = dispatch.send(token, false, |id, _| {
            sent = Some(id);
            Ok(())
        });
        (sent.expect("a slot was taken"), pending)
    }

    fn deliver(dispatch: &Dispatch, message: CfMessage) -> Vec<Waker> {
        let mut wake = Vec::new();
        Dispatch::handle(&mut dispatch.state(), message, &mut wake).unwrap();
        wake
    }

    fn answer(dispatch: &Dispatch, id: RequestId, reason: Reason) {
        deliver(
            dispatch,
            CfMessage::Reply {
                id,
                reply: reply(reason),
            },
        );
    }

    #[test]
    fn answers_reach_their_requests_in_any_order() {
        let dispatch = Arc::new(Dispatch::default());
        let (first, mut first_pending) = expect(&dispatch, None);
        let (second, mut second_pending) = expect(&dispatch, None);
        assert_ne!(first, second);
        assert!(first_pending.test().is_none());
        answer(&dispatch, second, Reason::NoEntry);
        answer(&dispatch, first, Reason::ListFull);
        assert_eq!(
            first_pending.test().unwrap().unwrap().reason,
            Reason::ListFull
        );
        assert_eq!(
            second_pending.test().unwrap().unwrap().reason,
            Reason::NoEntry
        );
        assert!(first_pending.test().is_none(), "taken once");
    }

    #[test]
    fn a_dropped_handle_frees_its_slot_and_its_old_id_matches_nothing() {
        let dispatch = Arc::new(Dispatch::default());
        let (old, pending) = expect(&dispatch, None);
        drop(pending);
        answer(&dispatch, old, Reason::NoEntry);
        let (new, mut pending) = expect(&dispatch, None);
        assert_eq!(slot_of(new).0, slot_of(old).0, "the freed slot is reused");
        assert_ne!(new, old);
        answer(&dispatch, old, Reason::NoEntry);
        assert!(
            pending.test().is_none(),
            "a stale id answered the new request"
        );
        answer(&dispatch, new, Reason::ListFull);
        assert_eq!(pending.test().unwrap().unwrap().reason, Reason::ListFull);
        assert_eq!(dispatch.state().slots.len(), 1);
    }

    #[test]
    fn a_queued_request_ends_with_its_completion_whichever_comes_first() {
        let token = ConToken([7; 16]);
        for completion_first in [false, true] {
            let dispatch = Arc::new(Dispatch::default());
            let (id, mut pending) = expect(&dispatch, Some(token));
            let queued = CfMessage::Reply {
                id,
                reply: Reply::warning(Reason::Asynch, ReplyBody::Queued(Ticket(3))),
            };
            let completion = CfMessage::Completion {
                token,
                ticket: Ticket(3),
                reply: reply(Reason::LockNotHeld),
            };
            if completion_first {
                deliver(&dispatch, completion.clone());
                deliver(&dispatch, queued.clone());
            } else {
                deliver(&dispatch, queued.clone());
                assert!(pending.test().is_none(), "done before its completion");
                deliver(&dispatch, completion.clone());
            }
            assert_eq!(pending.test().unwrap().unwrap().reason, Reason::LockNotHeld);
        }
    }

    #[test]
    fn closing_fails_what_waits_and_what_comes_after() {
        let dispatch = Arc::new(Dispatch::default());
        let (_, mut pending) = expect(&dispatch, None);
        dispatch.close(Some(LinkFailure::Shutdown));
        assert!(matches!(
            pending.test(),
            Some(Err(Error::LinkClosed(LinkFailure::Shutdown)))
        ));
        let mut late = dispatch.send(None, false, |_, _| {
            panic!("a frame queued after the link closed")
        });
        assert!(matches!(late.test(), Some(Err(Error::LinkLost))));
    }

    #[test]
    fn a_frame_that_cannot_be_encoded_fails_its_request_and_frees_its_slot() {
        let dispatch = Arc::new(Dispatch::default());
        let mut refused = dispatch.send(None, false, |_, _| {
            Err(FrameError::TooLarge { len: 2, max: 1 })
        });
        assert!(matches!(
            refused.test(),
            Some(Err(Error::Frame(FrameError::TooLarge { .. })))
        ));
        let (_, mut pending) = expect(&dispatch, None);
        assert_eq!(dispatch.state().slots.len(), 1, "the slot was reused");
        assert!(pending.test().is_none());
    }

    /// Sends `n` requests as one batch (queueing no frames); the encoder of request
    /// `refused` (if any) fails. The ids of the requests sent, and the batch.
    fn expect_all(
        dispatch: &Arc<Dispatch>,
        n: usize,
        refused: Option<usize>,
    ) -> (Vec<RequestId>, Batch) {
        let sent = std::cell::RefCell::new(Vec::new());
        let batch = dispatch.send_all((0..n).map(|i| {
            let sent = &sent;
            let encode = move |id, _: &mut BytesMut| {
                if Some(i) == refused {
                    return Err(FrameError::TooLarge { len: 2, max: 1 });
                }
                sent.borrow_mut().push(id);
                Ok(())
            };
            (None, encode)
        }));
        (sent.into_inner(), batch)
    }

    #[test]
    fn a_batch_hands_out_answers_in_the_order_of_its_requests() {
        let dispatch = Arc::new(Dispatch::default());
        let (ids, mut batch) = expect_all(&dispatch, 3, Some(1));
        let [first, third] = ids[..] else {
            panic!("two requests sent: {ids:?}");
        };
        answer(&dispatch, third, Reason::NoEntry);
        assert!(
            batch.next().now_or_never().is_none(),
            "handed out before the first answer came"
        );
        answer(&dispatch, first, Reason::ListFull);
        let mut next = || batch.next().now_or_never().expect("answered");
        assert_eq!(next().unwrap().unwrap().reason, Reason::ListFull);
        assert!(matches!(
            next(),
            Some(Err(Error::Frame(FrameError::TooLarge { .. })))
        ));
        assert_eq!(next().unwrap().unwrap().reason, Reason::NoEntry);
        assert!(next().is_none());
        let state = dispatch.state();
        assert_eq!(
            state.free.len(),
            state.slots.len(),
            "every slot is free again"
        );
    }

    #[test]
    fn a_dropped_batch_frees_its_slots_as_their_answers_come() {
        let dispatch = Arc::new(Dispatch::default());
        let (ids, batch) = expect_all(&dispatch, 2, None);
        answer(&dispatch, ids[0], Reason::NoEntry);
        drop(batch);
        assert_eq!(dispatch.state().free.len(), 1, "the answered slot is free");
        answer(&dispatch, ids[1], Reason::NoEntry);
        assert_eq!(
            dispatch.state().free.len(),
            2,
            "and the other once answered"
        );
        let (new, _batch) = expect_all(&dispatch, 2, None);
        assert_eq!(dispatch.state().slots.len(), 2, "the slots were reused");
        assert!(new.iter().all(|id| !ids.contains(id)), "with new ids");
    }

    #[tokio::test]
    async fn an_awaited_batch_wakes_its_task_when_its_next_answer_comes() {
        let dispatch = Arc::new(Dispatch::default());
        let (ids, batch) = expect_all(&dispatch, 2, None);
        let waiting = tokio::spawn(batch.map(|reply| reply.unwrap().reason).collect::<Vec<_>>());
        tokio::task::yield_now().await;
        let wake = deliver(
            &dispatch,
            CfMessage::Reply {
                id: ids[1],
                reply: reply(Reason::NoEntry),
            },
        );
        assert!(wake.is_empty(), "the task waits for the first answer");
        let wake = deliver(
            &dispatch,
            CfMessage::Reply {
                id: ids[0],
                reply: reply(Reason::ListFull),
            },
        );
        assert_eq!(wake.len(), 1, "the awaiting task's waker");
        wake.into_iter().for_each(Waker::wake);
        assert_eq!(waiting.await.unwrap(), [Reason::ListFull, Reason::NoEntry]);
    }

    #[tokio::test]
    async fn an_awaited_answer_wakes_its_task() {
        let dispatch = Arc::new(Dispatch::default());
        let (id, pending) = expect(&dispatch, None);
        let waiting = tokio::spawn(pending);
        tokio::task::yield_now().await;
        let wake = deliver(
            &dispatch,
            CfMessage::Reply {
                id,
                reply: reply(Reason::NoEntry),
            },
        );
        assert_eq!(wake.len(), 1, "the awaiting task's waker");
        wake.into_iter().for_each(Waker::wake);
        assert_eq!(waiting.await.unwrap().unwrap().reason, Reason::NoEntry);
    }
}
