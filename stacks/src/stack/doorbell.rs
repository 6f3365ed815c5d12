//! A wake-up that an application's end of a connection channel gives the stack only when the
//! stack asked for one.
//!
//! The stack moves data between a socket and the channels of its application without waiting:
//! it stops when the channel to the application is full or the one from it is empty, and goes
//! on when something wakes it. If the application woke the stack after every chunk it took or
//! gave, every chunk would cost a wake-up across threads (in a VM, an inter-processor
//! interrupt each), even while the stack is running anyway. Instead the stack *arms* the
//! doorbell when it finds a channel full or empty and then looks once more; the application
//! *rings* it after each chunk, which wakes the stack only if it was armed.
//!
//! Neither side can miss the other: the stack arms before its second look, the application
//! takes or gives its chunk before it rings, and a full fence on each side orders the flag
//! against the channel's own atomics (the store-then-load pattern of Dekker's algorithm).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};

use tokio::sync::Notify;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Doorbell {
    armed: AtomicBool,
    stack: Arc<Notify>,
}

impl Doorbell {
    /// A doorbell that wakes the stack through `stack`.
    pub(crate) fn new(stack: Arc<Notify>) -> Arc<Self> {
        Arc::new(Self {
            armed: AtomicBool::new(false),
            stack,
        })
    }

    /// The stack waits for the other side: the next [`Doorbell::ring`] wakes it. The stack
    /// must look at the channel again after this.
    pub(crate) fn arm(&self) {
        self.armed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// The application took or gave a chunk: wakes the stack if it waits for that.
    pub(crate) fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::Relaxed) {
            self.stack.notify_one();
        }
    }

    /// Wakes the stack whether or not it waits (the application's end went away).
    pub(crate) fn ring_always(&self) {
        self.armed.store(false, Ordering::Relaxed);
        self.stack.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ring_wakes_the_stack_only_once_armed() {
        let stack = Arc::new(Notify::new());
        let bell = Doorbell::new(stack.clone());
        bell.ring();
        let woken = tokio::time::timeout(std::time::Duration::ZERO, stack.notified()).await;
        assert!(woken.is_err(), "an unarmed ring must not wake the stack");
        bell.arm();
        bell.ring();
        stack.notified().await;
        bell.ring();
        let again = tokio::time::timeout(std::time::Duration::ZERO, stack.notified()).await;
        assert!(again.is_err(), "one arming, one wake-up");
    }

    #[tokio::test]
    async fn ring_always_wakes_an_unarmed_stack() {
        let stack = Arc::new(Notify::new());
        let bell = Doorbell::new(stack.clone());
        bell.ring_always();
        stack.notified().await;
    }
}
