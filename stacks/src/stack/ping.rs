//! ICMP echo from the stack (`PING`), on smoltcp ICMP sockets.

use std::net::Ipv4Addr;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::icmp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress};
use tokio::sync::oneshot;

/// The bytes carried in each echo request.
const PAYLOAD: &[u8] = b"zsysplex ping";

/// Time between echo requests of one ping until a reply comes (a stack drops an echo reply it
/// cannot address yet, so the first request after an ARP cache flush may go unanswered).
const RESEND_EVERY: Duration = Duration::from_secs(1);

/// How a ping ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingOutcome {
    /// An echo reply came back after this round trip.
    Reply {
        /// Round-trip time, by the stack's clock.
        rtt: std::time::Duration,
    },
    /// No reply before the deadline.
    Timeout,
}

#[derive(Debug)]
struct Ping {
    handle: SocketHandle,
    ident: u16,
    dst: Ipv4Addr,
    /// When each request went out; index = sequence number - 1.
    sent_at: Vec<Instant>,
    deadline: Instant,
    reply: oneshot::Sender<PingOutcome>,
}

/// The stack's pings in flight.
#[derive(Debug, Default)]
pub(crate) struct Pings {
    pending: Vec<Ping>,
    next_ident: u16,
}

impl Pings {
    /// Starts a ping of `dst` that gives up at `now + timeout`.
    pub(crate) fn start(
        &mut self,
        sockets: &mut SocketSet<'static>,
        now: Instant,
        dst: Ipv4Addr,
        timeout: Duration,
        reply: oneshot::Sender<PingOutcome>,
    ) {
        self.next_ident = self.next_ident.wrapping_add(1);
        let ident = self.next_ident;
        let rx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
        let tx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
        let mut socket = icmp::Socket::new(rx, tx);
        if socket.bind(icmp::Endpoint::Ident(ident)).is_err() {
            let _ = reply.send(PingOutcome::Timeout);
            return;
        }
        let handle = sockets.add(socket);
        self.pending.push(Ping {
            handle,
            ident,
            dst,
            sent_at: Vec::new(),
            deadline: now + timeout,
            reply,
        });
    }

    /// Sends queued requests, matches replies and expires pings; true if a request was queued.
    pub(crate) fn service(&mut self, now: Instant, sockets: &mut SocketSet<'static>) -> bool {
        let mut queued = false;
        let pending = std::mem::take(&mut self.pending);
        for mut ping in pending {
            let socket = sockets.get_mut::<icmp::Socket>(ping.handle);
            let resend_due = ping
                .sent_at
                .last()
                .is_none_or(|last| now >= *last + RESEND_EVERY);
            if resend_due && socket.can_send() {
                let seq_no = u16::try_from(ping.sent_at.len() + 1).unwrap_or(u16::MAX);
                let request = Icmpv4Repr::EchoRequest {
                    ident: ping.ident,
                    seq_no,
                    data: PAYLOAD,
                };
                if let Ok(buffer) = socket.send(request.buffer_len(), IpAddress::Ipv4(ping.dst)) {
                    request.emit(
                        &mut Icmpv4Packet::new_unchecked(buffer),
                        &ChecksumCapabilities::default(),
                    );
                    ping.sent_at.push(now);
                    queued = true;
                }
            }
            let mut answered = None;
            while let Ok((bytes, from)) = socket.recv() {
                let Ok(packet) = Icmpv4Packet::new_checked(bytes) else {
                    continue;
                };
                let Ok(repr) = Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default()) else {
                    continue;
                };
                if let Icmpv4Repr::EchoReply { ident, seq_no, .. } = repr
                    && ident == ping.ident
                    && from == IpAddress::Ipv4(ping.dst)
                    && let Some(sent) = usize::from(seq_no)
                        .checked_sub(1)
                        .and_then(|i| ping.sent_at.get(i))
                {
                    answered = Some(std::time::Duration::from_micros(
                        (now - *sent).total_micros(),
                    ));
                }
            }
            let outcome = match answered {
                Some(rtt) => Some(PingOutcome::Reply { rtt }),
                None if now >= ping.deadline => Some(PingOutcome::Timeout),
                None => None,
            };
            match outcome {
                Some(outcome) => {
                    sockets.remove(ping.handle);
                    let _ = ping.reply.send(outcome);
                }
                None => self.pending.push(ping),
            }
        }
        queued
    }

    /// When a ping next resends or gives up.
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        let next = |p: &Ping| {
            p.sent_at
                .last()
                .map_or(p.deadline, |last| p.deadline.min(*last + RESEND_EVERY))
        };
        self.pending.iter().map(next).min()
    }
}
