//! The client's reading side: matches answers to waiting requests, queued lock requests to
//! their completions, and fans events out to subscribers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, oneshot};

use super::Reader;
use crate::Error;
use crate::structure::{ConToken, Event, Reply, ReplyBody, Ticket};
use crate::wire::{CfMessage, LinkFailure, RequestId};

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

/// The sending half of a [`Pending`] answer, kept until the answer arrives.
#[derive(Debug)]
pub(super) struct Waiter {
    /// The connection the request was made under, to match a completion after a queued reply.
    token: Option<ConToken>,
    answer: oneshot::Sender<Result<Answer, Error>>,
}

impl Waiter {
    /// A waiter and the caller's handle on it.
    pub(super) fn new(token: Option<ConToken>) -> (Self, Pending) {
        let (answer, receiver) = oneshot::channel();
        (
            Self { token, answer },
            Pending {
                receiver,
                taken: false,
            },
        )
    }

    pub(super) fn fail(self, error: Error) {
        let _ = self.answer.send(Err(error));
    }

    fn complete(self, answer: Answer) {
        let _ = self.answer.send(Ok(answer));
    }
}

/// The answer to a submitted request, once it comes: await it, or test it without waiting
/// (IXLFCOMP). A lock request queued by the CF completes when the lock is granted.
#[derive(Debug)]
pub struct Pending {
    receiver: oneshot::Receiver<Result<Answer, Error>>,
    taken: bool,
}

impl Pending {
    /// IXLFCOMP: the final reply if the request has completed, `None` while it has not
    /// (IXLRSNCODEREQNOTCOMP). After it returned `Some`, it returns `None` again.
    pub fn test(&mut self) -> Option<Result<Reply, Error>> {
        if self.taken {
            return None;
        }
        match self.receiver.try_recv() {
            Ok(answer) => {
                self.taken = true;
                Some(answer.and_then(Answer::into_reply))
            }
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => {
                self.taken = true;
                Some(Err(Error::LinkLost))
            }
        }
    }

    pub(super) async fn answer(self) -> Result<Answer, Error> {
        self.receiver.await.unwrap_or(Err(Error::LinkLost))
    }
}

impl Future for Pending {
    type Output = Result<Reply, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.taken {
            return Poll::Ready(Err(Error::Protocol("answer already taken".into())));
        }
        Pin::new(&mut self.receiver).poll(cx).map(|answer| {
            self.taken = true;
            answer
                .unwrap_or(Err(Error::LinkLost))
                .and_then(Answer::into_reply)
        })
    }
}

/// What the reader shares with the senders.
#[derive(Debug)]
pub(super) struct Dispatch {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    waiting: HashMap<RequestId, Waiter>,
    queued: HashMap<(ConToken, Ticket), Waiter>,
    /// Completions that overtook their queued reply.
    early: HashMap<(ConToken, Ticket), Reply>,
    subscribers: Vec<mpsc::UnboundedSender<ConnectorEvent>>,
    /// The subscription holding events from the start of the link, for the first taker.
    first: Option<Events>,
    /// Why the link closed, once it has.
    closed: Option<Option<LinkFailure>>,
}

impl Default for Dispatch {
    fn default() -> Self {
        let (sender, queue) = mpsc::unbounded_channel();
        Self {
            state: Mutex::new(State {
                waiting: HashMap::new(),
                queued: HashMap::new(),
                early: HashMap::new(),
                subscribers: vec![sender],
                first: Some(Events { queue }),
                closed: None,
            }),
        }
    }
}

impl Dispatch {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a waiter for request `id`; gives it back when the link has closed.
    pub(super) fn expect(&self, id: RequestId, waiter: Waiter) -> Result<(), Waiter> {
        let mut state = self.state();
        if state.closed.is_some() {
            return Err(waiter);
        }
        state.waiting.insert(id, waiter);
        Ok(())
    }

    /// Fails one waiting request.
    pub(super) fn fail_one(&self, id: RequestId, error: Error) {
        if let Some(waiter) = self.state().waiting.remove(&id) {
            waiter.fail(error);
        }
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

    fn handle(&self, message: CfMessage) -> Result<(), Option<LinkFailure>> {
        let mut state = self.state();
        match message {
            CfMessage::Reply { id, reply } => {
                let Some(waiter) = state.waiting.remove(&id) else {
                    return Ok(());
                };
                match (&reply.body, waiter.token) {
                    (ReplyBody::Queued(ticket), Some(token)) => {
                        let key = (token, *ticket);
                        match state.early.remove(&key) {
                            Some(final_reply) => waiter.complete(Answer::Reply(final_reply)),
                            None => {
                                state.queued.insert(key, waiter);
                            }
                        }
                    }
                    _ => waiter.complete(Answer::Reply(reply)),
                }
            }
            CfMessage::Text { id, text } => {
                if let Some(waiter) = state.waiting.remove(&id) {
                    waiter.complete(Answer::Text(text));
                }
            }
            CfMessage::Refused { id, refusal } => {
                if let Some(waiter) = state.waiting.remove(&id) {
                    waiter.fail(Error::Refused(refusal));
                }
            }
            CfMessage::Completion {
                token,
                ticket,
                reply,
            } => match state.queued.remove(&(token, ticket)) {
                Some(waiter) => waiter.complete(Answer::Reply(reply)),
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
        let mut state = self.state();
        let error = || match &failure {
            Some(failure) => Error::LinkClosed(failure.clone()),
            None => Error::LinkLost,
        };
        for (_, waiter) in state.waiting.drain() {
            waiter.fail(error());
        }
        for (_, waiter) in state.queued.drain() {
            waiter.fail(error());
        }
        state.subscribers.clear();
        state.closed = Some(failure);
    }
}

/// Reads the CF's messages until the link closes.
pub(super) async fn read_loop(mut reader: Reader, dispatch: std::sync::Arc<Dispatch>) {
    let failure = loop {
        match reader.next().await {
            Ok(None) | Err(_) => break None,
            Ok(Some(message)) => {
                if let Err(failure) = dispatch.handle(message) {
                    break failure;
                }
            }
        }
    };
    if let Some(failure) = &failure {
        tracing::info!("CF closed the link: {failure}");
    }
    dispatch.close(failure);
}
