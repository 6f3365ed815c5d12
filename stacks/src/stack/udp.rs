//! UDP for applications (the IKE daemon's ports 500 and 4500, lab tools): datagram sockets on
//! the stack's smoltcp UDP sockets, handed to applications as channel-based handles.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use bytes::Bytes;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};
use tokio::sync::{Notify, mpsc};

use super::StackError;
use super::netstat::{ConnId, ConnState, ConnectionInfo};
use super::tcp::ConnectionGone;

/// Datagrams queued between the stack and an application, each way.
const CHANNEL_DATAGRAMS: usize = 64;

/// Datagrams a smoltcp UDP socket buffers, each way.
const SOCKET_DATAGRAMS: usize = 64;

/// Payload bytes a smoltcp UDP socket buffers, each way.
const SOCKET_BYTES: usize = 256 * 1024;

/// A datagram received on a [`UdpSocket`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Who sent it.
    pub from: SocketAddrV4,
    /// The local address it was sent to (which DVIPA, for a socket bound to every address).
    pub to: Option<Ipv4Addr>,
    /// The payload.
    pub data: Bytes,
}

/// A UDP socket of the stack; dropping it closes it.
#[derive(Debug)]
pub struct UdpSocket {
    /// The local socket it is bound to (0.0.0.0 for every address).
    pub local: SocketAddrV4,
    rx: mpsc::Receiver<Datagram>,
    tx: mpsc::Sender<(SocketAddrV4, Bytes)>,
    wake: Arc<Notify>,
}

impl UdpSocket {
    /// The next datagram; `None` once the stack is gone.
    pub async fn recv_from(&mut self) -> Option<Datagram> {
        let datagram = self.rx.recv().await;
        self.wake.notify_one();
        datagram
    }

    /// Queues a datagram to `to`, waiting while the socket has no room.
    pub async fn send_to(&self, data: Bytes, to: SocketAddrV4) -> Result<(), ConnectionGone> {
        let result = self.tx.send((to, data)).await.map_err(|_| ConnectionGone);
        self.wake.notify_one();
        result
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

#[derive(Debug)]
struct Entry {
    conn_id: ConnId,
    owner: String,
    local: SocketAddrV4,
    bytes_in: u64,
    bytes_out: u64,
    handle: SocketHandle,
    to_app: mpsc::Sender<Datagram>,
    from_app: mpsc::Receiver<(SocketAddrV4, Bytes)>,
    pending: Option<(SocketAddrV4, Bytes)>,
}

/// The stack's UDP sockets.
#[derive(Debug)]
pub(crate) struct UdpTable {
    wake: Arc<Notify>,
    entries: Vec<Entry>,
}

fn ipv4(addr: IpAddress) -> Option<Ipv4Addr> {
    match addr {
        IpAddress::Ipv4(addr) => Some(addr),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

impl UdpTable {
    pub(crate) fn new(wake: Arc<Notify>) -> Self {
        Self {
            wake,
            entries: Vec::new(),
        }
    }

    /// Binds a socket to `local` (0.0.0.0 for every address).
    pub(crate) fn bind(
        &mut self,
        sockets: &mut SocketSet<'static>,
        conn_id: ConnId,
        owner: &str,
        local: SocketAddrV4,
    ) -> Result<UdpSocket, StackError> {
        let buffer = || {
            udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; SOCKET_DATAGRAMS],
                vec![0; SOCKET_BYTES],
            )
        };
        let mut socket = udp::Socket::new(buffer(), buffer());
        let addr = (!local.ip().is_unspecified()).then(|| IpAddress::Ipv4(*local.ip()));
        let taken = self.entries.iter().any(|e| {
            let bound = sockets.get::<udp::Socket>(e.handle).endpoint();
            bound.port == local.port()
                && (bound.addr.is_none() || addr.is_none() || bound.addr == addr)
        });
        if local.port() == 0
            || taken
            || socket
                .bind(IpListenEndpoint {
                    addr,
                    port: local.port(),
                })
                .is_err()
        {
            return Err(StackError::PortInUse { local });
        }
        let handle = sockets.add(socket);
        let (to_app, rx) = mpsc::channel(CHANNEL_DATAGRAMS);
        let (tx, from_app) = mpsc::channel(CHANNEL_DATAGRAMS);
        self.entries.push(Entry {
            conn_id,
            owner: owner.to_owned(),
            local,
            bytes_in: 0,
            bytes_out: 0,
            handle,
            to_app,
            from_app,
            pending: None,
        });
        Ok(UdpSocket {
            local,
            rx,
            tx,
            wake: self.wake.clone(),
        })
    }

    /// Moves datagrams between sockets and applications; true if any was queued for sending.
    pub(crate) fn service(&mut self, sockets: &mut SocketSet<'static>) -> bool {
        let mut queued = false;
        self.entries.retain_mut(|entry| {
            let socket = sockets.get_mut::<udp::Socket>(entry.handle);
            if entry.to_app.is_closed() {
                sockets.remove(entry.handle);
                return false;
            }
            while socket.can_recv() {
                let Ok(permit) = entry.to_app.try_reserve() else {
                    break;
                };
                let Ok((data, meta)) = socket.recv() else {
                    break;
                };
                let Some(from) = ipv4(meta.endpoint.addr) else {
                    continue;
                };
                let to = meta.local_address.and_then(ipv4);
                let from = SocketAddrV4::new(from, meta.endpoint.port);
                entry.bytes_in += u64::try_from(data.len()).unwrap_or(u64::MAX);
                permit.send(Datagram {
                    from,
                    to,
                    data: Bytes::copy_from_slice(data),
                });
            }
            while socket.can_send() {
                let Some((to, data)) = entry
                    .pending
                    .take()
                    .or_else(|| entry.from_app.try_recv().ok())
                else {
                    break;
                };
                match socket
                    .send_slice(&data, IpEndpoint::new(IpAddress::Ipv4(*to.ip()), to.port()))
                {
                    Ok(()) => {
                        entry.bytes_out += u64::try_from(data.len()).unwrap_or(u64::MAX);
                        queued = true;
                    }
                    Err(udp::SendError::BufferFull) => {
                        entry.pending = Some((to, data));
                        break;
                    }
                    // Unaddressable: dropped, as a kernel drops a datagram it cannot route.
                    Err(udp::SendError::Unaddressable) => {}
                }
            }
            true
        });
        queued
    }

    /// The listing lines of the UDP sockets.
    pub(crate) fn connections(&self) -> Vec<ConnectionInfo> {
        let foreign = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        let line = |e: &Entry| ConnectionInfo {
            conn_id: e.conn_id,
            owner: e.owner.clone(),
            local: e.local,
            foreign,
            state: ConnState::Udp,
            bytes_in: e.bytes_in,
            bytes_out: e.bytes_out,
        };
        self.entries.iter().map(line).collect()
    }
}
