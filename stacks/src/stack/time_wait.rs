//! The sockets of connections waiting out TIME_WAIT, kept out of every smoltcp socket set.
//!
//! smoltcp scans every socket of a set on each poll and each received segment, and finds room
//! for a new socket by a scan too, so thousands of connections in TIME_WAIT would cost every
//! poll of the stack. They wait here instead, by connection; when the datapath has kept aside
//! segments for some of them (see [`crate::datapath::time_wait`]), those few are checked out
//! into a small set of their own, polled, and checked back in, so TIME_WAIT still behaves as
//! smoltcp makes it (a retransmitted FIN is acknowledged, a RST ends it).

use std::collections::{HashMap, VecDeque};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};

use crate::datapath::time_wait::TcpTuple;

/// A socket waiting out TIME_WAIT, with what its owner keeps about the connection.
#[derive(Debug)]
pub(crate) struct Waiting<T> {
    /// The socket, in TIME_WAIT.
    pub socket: tcp::Socket<'static>,
    /// When it began to wait.
    pub since: Instant,
    /// The owner's record of the connection.
    pub record: T,
    serial: u64,
}

/// The sockets in TIME_WAIT, by connection.
#[derive(Debug)]
pub(crate) struct TimeWaitSockets<T> {
    waiting: HashMap<TcpTuple, Waiting<T>>,
    /// Connections by the time they began to wait, oldest first; an entry whose serial no
    /// longer matches was ended early.
    order: VecDeque<(Instant, TcpTuple, u64)>,
    next_serial: u64,
    poll_set: SocketSet<'static>,
    checked_out: Vec<(TcpTuple, SocketHandle, Instant, T, u64)>,
}

impl<T> Default for TimeWaitSockets<T> {
    fn default() -> Self {
        Self {
            waiting: HashMap::new(),
            order: VecDeque::new(),
            next_serial: 0,
            poll_set: SocketSet::new(Vec::new()),
            checked_out: Vec::new(),
        }
    }
}

impl<T> TimeWaitSockets<T> {
    /// Lets connection `tuple`'s `socket` wait from `now`; gives back the one it replaces.
    pub(crate) fn park(
        &mut self,
        tuple: TcpTuple,
        socket: tcp::Socket<'static>,
        now: Instant,
        record: T,
    ) -> Option<Waiting<T>> {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.order.push_back((now, tuple, serial));
        self.waiting.insert(
            tuple,
            Waiting {
                socket,
                since: now,
                record,
                serial,
            },
        )
    }

    /// Takes out the next connection that has waited `wait` at `now`.
    pub(crate) fn pop_expired(
        &mut self,
        now: Instant,
        wait: Duration,
    ) -> Option<(TcpTuple, Waiting<T>)> {
        // Only entries due are looked up: the table is large, and this runs on every turn of
        // the stack.
        while let Some(&(since, tuple, serial)) = self.order.front() {
            if now - since < wait {
                return None;
            }
            self.order.pop_front();
            if self.waiting.get(&tuple).is_some_and(|w| w.serial == serial) {
                return self.waiting.remove(&tuple).map(|w| (tuple, w));
            }
            // Ended early: the entry was stale.
        }
        None
    }

    /// When the oldest entry is due (a connection that ended early only wakes the stack for
    /// nothing).
    pub(crate) fn next_expiry(&self, wait: Duration) -> Option<Instant> {
        self.order.front().map(|(since, _, _)| *since + wait)
    }

    /// Moves the sockets of `tuples` (those still waiting) into the set to poll, and gives it.
    pub(crate) fn check_out(
        &mut self,
        tuples: impl IntoIterator<Item = TcpTuple>,
    ) -> &mut SocketSet<'static> {
        for tuple in tuples {
            if let Some(waiting) = self.waiting.remove(&tuple) {
                let handle = self.poll_set.add(waiting.socket);
                self.checked_out.push((
                    tuple,
                    handle,
                    waiting.since,
                    waiting.record,
                    waiting.serial,
                ));
            }
        }
        &mut self.poll_set
    }

    /// Takes the polled sockets back; those no longer in TIME_WAIT (a RST ended them) go to
    /// `ended`.
    pub(crate) fn check_in(&mut self, mut ended: impl FnMut(TcpTuple, Waiting<T>)) {
        for (tuple, handle, since, record, serial) in self.checked_out.drain(..) {
            let smoltcp::socket::Socket::Tcp(socket) = self.poll_set.remove(handle) else {
                continue;
            };
            let waiting = Waiting {
                socket,
                since,
                record,
                serial,
            };
            if waiting.socket.state() == tcp::State::TimeWait {
                self.waiting.insert(tuple, waiting);
            } else {
                ended(tuple, waiting);
            }
        }
    }

    /// Every waiting connection, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TcpTuple, &Waiting<T>)> {
        self.waiting.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn tuple(port: u16) -> TcpTuple {
        TcpTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 50), port),
            foreign: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 22), 7),
        }
    }

    fn socket() -> tcp::Socket<'static> {
        tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64]),
            tcp::SocketBuffer::new(vec![0; 64]),
        )
    }

    const WAIT: Duration = Duration::from_secs(1);

    #[test]
    fn connections_leave_oldest_first_once_they_have_waited() {
        let mut sockets = TimeWaitSockets::default();
        sockets.park(tuple(1), socket(), Instant::from_millis(0), "first");
        sockets.park(tuple(2), socket(), Instant::from_millis(300), "second");
        assert_eq!(sockets.next_expiry(WAIT), Some(Instant::from_millis(1000)));
        assert!(
            sockets
                .pop_expired(Instant::from_millis(999), WAIT)
                .is_none()
        );
        let (gone, waiting) = sockets
            .pop_expired(Instant::from_millis(1000), WAIT)
            .unwrap();
        assert_eq!((gone, waiting.record), (tuple(1), "first"));
        assert!(
            sockets
                .pop_expired(Instant::from_millis(1000), WAIT)
                .is_none()
        );
        assert_eq!(sockets.next_expiry(WAIT), Some(Instant::from_millis(1300)));
        assert_eq!(sockets.iter().count(), 1);
    }

    #[test]
    fn a_socket_checked_out_and_closed_ends_and_its_timer_goes_with_it() {
        let mut sockets = TimeWaitSockets::default();
        sockets.park(tuple(1), socket(), Instant::from_millis(0), "closed");
        sockets.park(tuple(2), socket(), Instant::from_millis(10), "kept");
        let set = sockets.check_out([tuple(1), tuple(3)]);
        assert_eq!(
            set.iter().count(),
            1,
            "only waiting connections are checked out"
        );
        let mut ended = Vec::new();
        // A fresh socket is CLOSED, not TIME_WAIT: it counts as ended.
        sockets.check_in(|tuple, waiting| ended.push((tuple, waiting.record)));
        assert_eq!(ended, vec![(tuple(1), "closed")]);
        assert!(
            sockets
                .pop_expired(Instant::from_millis(1000), WAIT)
                .is_none()
        );
        assert_eq!(sockets.next_expiry(WAIT), Some(Instant::from_millis(1010)));
        let (gone, _) = sockets.pop_expired(Instant::from_secs(5), WAIT).unwrap();
        assert_eq!(gone, tuple(2));
        assert!(sockets.pop_expired(Instant::from_secs(5), WAIT).is_none());
    }
}
