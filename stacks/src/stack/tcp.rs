//! TCP for applications: listeners and connections on the stack's smoltcp sockets, handed to
//! applications as channel-based handles.
//!
//! The stack task owns every socket. An application holds a [`TcpListener`] or a [`TcpStream`]
//! (split into a [`TcpReader`] and a [`TcpWriter`]); data moves through bounded channels, and
//! the stack moves it between the channels and the sockets only while both sides have room, so
//! a slow reader closes the TCP window and a slow network blocks the writer.
//!
//! smoltcp scans every socket of a set on each poll and each received segment, so the table
//! keeps the stack's set small: a connection that reaches TIME_WAIT leaves it to wait in
//! [`super::time_wait`] with empty buffers, and the buffers of connections that ended or went
//! to wait are kept, up to [`SPARE_BUFFERS`] pairs, for new sockets instead of allocating and
//! zeroing new ones (a stack closing thousands of connections a second would otherwise hold
//! a pair for each for the whole of TIME_WAIT).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::sync::Arc;

use bytes::Bytes;
use smoltcp::iface::{Context, SocketHandle, SocketSet};
use smoltcp::socket::{Socket, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};
use tokio::sync::{Notify, mpsc, oneshot};

use super::StackError;
use super::doorbell::Doorbell;
use super::netstat::{ConnId, ConnState, ConnectionInfo, TcpState};
use super::time_wait::{TimeWaitSockets, Waiting};
use crate::datapath::time_wait::{TcpTuple, TimeWaitFilter};

/// Chunks queued from the stack to an application: with [`READ_CHUNK`], at most 256 KiB
/// beyond the TCP window.
const TO_APP_CHUNKS: usize = 4;

/// The largest chunk the stack hands an application at once: a sender's super-packet moves in
/// one piece, and a reader that keeps up is woken once for it.
const READ_CHUNK: usize = 64 * 1024;

/// Chunks queued from an application to the stack.
const FROM_APP_CHUNKS: usize = 16;

/// Buffer pairs (receive, send) of ended connections kept for new sockets, at most.
pub const SPARE_BUFFERS: usize = 256;

/// What a [`TcpReader`] got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// Bytes, in order.
    Data(Bytes),
    /// The peer closed its side (FIN) after everything it sent.
    Closed,
    /// The connection ended without a FIN: reset, timed out, its address was released, or the
    /// stack went away. Data may be missing.
    Reset,
}

/// The receiving half of a connection.
#[derive(Debug)]
pub struct TcpReader {
    rx: mpsc::Receiver<Received>,
    bell: Arc<Doorbell>,
    ended: Option<Received>,
}

impl TcpReader {
    /// The next bytes, or how the connection ended (repeated on later calls).
    pub async fn recv(&mut self) -> Received {
        if let Some(end) = &self.ended {
            return end.clone();
        }
        let received = self.rx.recv().await.unwrap_or(Received::Reset);
        self.bell.ring();
        if !matches!(received, Received::Data(_)) {
            self.ended = Some(received.clone());
        }
        received
    }
}

impl Drop for TcpReader {
    fn drop(&mut self) {
        // Closed before the stack looks, so that it cannot find the channel merely full.
        self.rx.close();
        self.bell.ring_always();
    }
}

/// Why a [`TcpWriter`] could not send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the connection is gone")]
pub struct ConnectionGone;

/// The sending half of a connection; dropping it closes the sending side (FIN).
#[derive(Debug)]
pub struct TcpWriter {
    /// Taken when the writer is dropped, so that the channel is closed before the stack looks.
    tx: Option<mpsc::Sender<Bytes>>,
    bell: Arc<Doorbell>,
}

impl TcpWriter {
    /// Queues bytes for sending, waiting while the connection has no room.
    pub async fn send(&mut self, data: Bytes) -> Result<(), ConnectionGone> {
        let tx = self.tx.as_ref().ok_or(ConnectionGone)?;
        tx.send(data).await.map_err(|_| ConnectionGone)?;
        self.bell.ring();
        Ok(())
    }
}

impl Drop for TcpWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        self.bell.ring_always();
    }
}

/// An open TCP connection.
#[derive(Debug)]
pub struct TcpStream {
    /// The connection number.
    pub conn_id: ConnId,
    /// The local socket.
    pub local: SocketAddrV4,
    /// The foreign socket.
    pub foreign: SocketAddrV4,
    /// The receiving half.
    pub reader: TcpReader,
    /// The sending half.
    pub writer: TcpWriter,
}

impl TcpStream {
    /// Splits the stream into its halves.
    pub fn split(self) -> (TcpReader, TcpWriter) {
        (self.reader, self.writer)
    }
}

/// A listening socket; dropping it stops listening.
#[derive(Debug)]
pub struct TcpListener {
    /// The connection number of the listener.
    pub conn_id: ConnId,
    /// The local socket it listens on (0.0.0.0 for every address).
    pub local: SocketAddrV4,
    rx: mpsc::Receiver<TcpStream>,
    wake: Arc<Notify>,
}

impl TcpListener {
    /// The next established connection; `None` once the stack is gone.
    pub async fn accept(&mut self) -> Option<TcpStream> {
        let stream = self.rx.recv().await;
        self.wake.notify_one();
        stream
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        // Closed before the stack looks, so that it cannot find the queue merely full.
        self.rx.close();
        self.wake.notify_one();
    }
}

/// Sizes and limits of the stack's TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// Receive and send buffer of each socket, in bytes.
    pub buffer_size: usize,
    /// Ephemeral ports for outgoing connections.
    pub ephemeral_ports: RangeInclusive<u16>,
    /// How long an outgoing connection may stay unanswered.
    pub connect_timeout: Duration,
    /// How long a connection closed here first stays in TIME_WAIT before its socket is freed
    /// (smoltcp would keep it 10 s; every socket kept costs every poll of the stack).
    pub time_wait: Duration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            buffer_size: 64 * 1024,
            ephemeral_ports: 49152..=65535,
            connect_timeout: Duration::from_secs(10),
            time_wait: Duration::from_secs(1),
        }
    }
}

#[derive(Debug)]
struct Listener {
    conn_id: ConnId,
    owner: String,
    local: SocketAddrV4,
    backlog: usize,
    listening: Vec<SocketHandle>,
    accept: mpsc::Sender<TcpStream>,
}

#[derive(Debug)]
enum Phase {
    /// An outgoing connection waiting for its handshake.
    Connecting {
        reply: oneshot::Sender<Result<TcpStream, StackError>>,
        started: Instant,
        remote: SocketAddrV4,
    },
    /// An incoming connection not yet handed to its listener.
    Embryonic { listener: ConnId },
    /// Handed to the application.
    Open(AppSide),
    /// Ended; the socket goes at once.
    Finished,
}

#[derive(Debug)]
struct AppSide {
    to_app: Option<mpsc::Sender<Received>>,
    /// Rung by the reader when it took a chunk.
    to_app_bell: Arc<Doorbell>,
    from_app: mpsc::Receiver<Bytes>,
    /// Rung by the writer when it gave a chunk.
    from_app_bell: Arc<Doorbell>,
    pending: Option<Bytes>,
    fin_sent: bool,
    /// The peer's FIN was seen; the reader gets `Closed`, even if the socket has closed since.
    fin_seen: bool,
}

#[derive(Debug)]
struct Connection {
    conn_id: ConnId,
    owner: String,
    handle: SocketHandle,
    /// The local port (the listener's for an accepted connection).
    local_port: u16,
    phase: Phase,
    bytes_in: u64,
    bytes_out: u64,
}

/// What becomes of a connection after it was serviced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// It stays in the stack's socket set.
    Keep,
    /// It ended: its socket goes.
    Remove,
    /// It waits out TIME_WAIT in the TIME_WAIT set.
    TimeWait,
}

/// What the table keeps about a connection in TIME_WAIT.
#[derive(Debug)]
struct Ended {
    conn_id: ConnId,
    owner: String,
    local_port: u16,
    bytes_in: u64,
    bytes_out: u64,
}

/// The stack's TCP listeners and connections.
#[derive(Debug)]
pub(crate) struct TcpTable {
    config: TcpConfig,
    wake: Arc<Notify>,
    listeners: Vec<Listener>,
    connections: Vec<Connection>,
    time_wait: TimeWaitSockets<Ended>,
    /// Connections (in TIME_WAIT too) by local port.
    local_ports: HashMap<u16, usize>,
    spare: Vec<(tcp::SocketBuffer<'static>, tcp::SocketBuffer<'static>)>,
    next_conn: u32,
    next_port: u16,
}

fn v4(endpoint: Option<IpEndpoint>) -> SocketAddrV4 {
    match endpoint {
        Some(IpEndpoint {
            addr: IpAddress::Ipv4(addr),
            port,
        }) => SocketAddrV4::new(addr, port),
        None => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
    }
}

impl TcpTable {
    pub(crate) fn new(config: TcpConfig, wake: Arc<Notify>) -> Self {
        let next_port = *config.ephemeral_ports.start();
        Self {
            config,
            wake,
            listeners: Vec::new(),
            connections: Vec::new(),
            time_wait: TimeWaitSockets::default(),
            local_ports: HashMap::new(),
            spare: Vec::new(),
            next_conn: 1,
            next_port,
        }
    }

    /// A new connection number (shared by every kind of socket of the stack).
    pub(crate) fn allocate_conn_id(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn = self.next_conn.wrapping_add(1).max(1);
        id
    }

    /// A new closed socket, with spare buffers or new ones of the configured size.
    fn socket(&mut self) -> tcp::Socket<'static> {
        let (rx, tx) = self.spare.pop().unwrap_or_else(|| {
            (
                tcp::SocketBuffer::new(vec![0; self.config.buffer_size]),
                tcp::SocketBuffer::new(vec![0; self.config.buffer_size]),
            )
        });
        tcp::Socket::new(rx, tx)
    }

    /// Takes the buffers of `socket` for new sockets when it holds no data (closed, or in
    /// TIME_WAIT with its data read), leaving it empty ones.
    fn reclaim_buffers(&mut self, socket: &mut tcp::Socket<'static>) {
        if self.spare.len() >= SPARE_BUFFERS
            || socket.recv_capacity() != self.config.buffer_size
            || socket.send_capacity() != self.config.buffer_size
        {
            return;
        }
        let empty = || tcp::SocketBuffer::new(Vec::new());
        if let Ok(buffers) = socket.replace_buffers(empty(), empty()) {
            self.spare.push(buffers);
        }
    }

    /// Keeps the buffers of an ended connection's socket (taken out of its set) for reuse.
    fn recycle(&mut self, socket: Socket<'static>) {
        if let Socket::Tcp(mut socket) = socket {
            // Out of every set: closing it here sends nothing.
            socket.abort();
            self.reclaim_buffers(&mut socket);
        }
    }

    /// Counts a connection on local port `port`.
    fn hold_port(&mut self, port: u16) {
        *self.local_ports.entry(port).or_default() += 1;
    }

    /// Forgets a connection on local port `port`.
    fn release_port(&mut self, port: u16) {
        if let Some(count) = self.local_ports.get_mut(&port) {
            *count -= 1;
            if *count == 0 {
                self.local_ports.remove(&port);
            }
        }
    }

    fn listening_socket(
        &mut self,
        local: SocketAddrV4,
    ) -> Result<tcp::Socket<'static>, StackError> {
        let mut socket = self.socket();
        socket.set_timeout(None);
        let addr = (!local.ip().is_unspecified()).then(|| IpAddress::Ipv4(*local.ip()));
        socket
            .listen(IpListenEndpoint {
                addr,
                port: local.port(),
            })
            .map_err(|_| StackError::PortInUse { local })?;
        Ok(socket)
    }

    /// Starts listening on `local` with `backlog` connections in handshake or waiting.
    pub(crate) fn listen(
        &mut self,
        sockets: &mut SocketSet<'static>,
        owner: &str,
        local: SocketAddrV4,
        backlog: usize,
    ) -> Result<TcpListener, StackError> {
        let clash = |other: SocketAddrV4| {
            other.port() == local.port()
                && (other.ip() == local.ip()
                    || other.ip().is_unspecified()
                    || local.ip().is_unspecified())
        };
        if local.port() == 0 || self.listeners.iter().any(|l| clash(l.local)) {
            return Err(StackError::PortInUse { local });
        }
        let backlog = backlog.max(1);
        let mut listening = Vec::with_capacity(backlog);
        for _ in 0..backlog {
            listening.push(sockets.add(self.listening_socket(local)?));
        }
        let (accept, rx) = mpsc::channel(backlog);
        let conn_id = self.allocate_conn_id();
        self.listeners.push(Listener {
            conn_id,
            owner: owner.to_owned(),
            local,
            backlog,
            listening,
            accept,
        });
        Ok(TcpListener {
            conn_id,
            local,
            rx,
            wake: self.wake.clone(),
        })
    }

    fn ephemeral_port(&mut self) -> Option<u16> {
        let range = self.config.ephemeral_ports.clone();
        let span = usize::from(range.end() - range.start()) + 1;
        let in_use = |port: u16| {
            self.listeners.iter().any(|l| l.local.port() == port)
                || self.local_ports.contains_key(&port)
        };
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port >= *range.end() {
                *range.start()
            } else {
                port + 1
            };
            if !in_use(port) {
                return Some(port);
            }
        }
        None
    }

    /// Opens a connection to `remote`, from `local_ip` or the address smoltcp picks; `reply`
    /// gets the stream once established.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn connect(
        &mut self,
        cx: &mut Context,
        sockets: &mut SocketSet<'static>,
        now: Instant,
        owner: &str,
        local_ip: Option<Ipv4Addr>,
        remote: SocketAddrV4,
        reply: oneshot::Sender<Result<TcpStream, StackError>>,
    ) {
        let Some(port) = self.ephemeral_port() else {
            let _ = reply.send(Err(StackError::NoEphemeralPort));
            return;
        };
        let mut socket = self.socket();
        socket.set_timeout(Some(self.config.connect_timeout));
        let local = IpListenEndpoint {
            addr: local_ip.map(IpAddress::Ipv4),
            port,
        };
        if let Err(error) =
            socket.connect(cx, (IpAddress::Ipv4(*remote.ip()), remote.port()), local)
        {
            self.recycle(Socket::Tcp(socket));
            let _ = reply.send(Err(StackError::Unaddressable {
                remote,
                reason: error.to_string(),
            }));
            return;
        }
        let handle = sockets.add(socket);
        let conn_id = self.allocate_conn_id();
        let phase = Phase::Connecting {
            reply,
            started: now,
            remote,
        };
        self.hold_port(port);
        self.connections.push(Connection {
            conn_id,
            owner: owner.to_owned(),
            handle,
            local_port: port,
            phase,
            bytes_in: 0,
            bytes_out: 0,
        });
    }

    /// Hands the connection to an application: the stream, and the phase it leaves.
    fn open_stream(&self, conn: &mut Connection, socket: &mut tcp::Socket) -> (TcpStream, Phase) {
        socket.set_timeout(None);
        let (to_app, app_rx) = mpsc::channel(TO_APP_CHUNKS);
        let (app_tx, from_app) = mpsc::channel(FROM_APP_CHUNKS);
        let to_app_bell = Doorbell::new(self.wake.clone());
        let from_app_bell = Doorbell::new(self.wake.clone());
        let app = AppSide {
            to_app: Some(to_app),
            to_app_bell: to_app_bell.clone(),
            from_app,
            from_app_bell: from_app_bell.clone(),
            pending: None,
            fin_sent: false,
            fin_seen: false,
        };
        let old = std::mem::replace(&mut conn.phase, Phase::Open(app));
        let stream = TcpStream {
            conn_id: conn.conn_id,
            local: v4(socket.local_endpoint()),
            foreign: v4(socket.remote_endpoint()),
            reader: TcpReader {
                rx: app_rx,
                bell: to_app_bell,
                ended: None,
            },
            writer: TcpWriter {
                tx: Some(app_tx),
                bell: from_app_bell,
            },
        };
        (stream, old)
    }

    /// Moves data and connections along after smoltcp ran; true if anything moved that smoltcp
    /// must act on (another poll is due).
    /// Connections reaching TIME_WAIT move to the TIME_WAIT set, their segments kept aside by
    /// `filter`; those that waited [`TcpConfig::time_wait`] go.
    pub(crate) fn service(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'static>,
        filter: &mut TimeWaitFilter,
    ) -> bool {
        let mut progress = self.service_listeners(sockets);
        let mut connections = std::mem::take(&mut self.connections);
        let mut kept = Vec::with_capacity(connections.len());
        for mut conn in connections.drain(..) {
            let socket = sockets.get_mut::<tcp::Socket>(conn.handle);
            match self.service_connection(now, &mut conn, socket, &mut progress) {
                Next::Keep => kept.push(conn),
                Next::Remove => {
                    self.release_port(conn.local_port);
                    let socket = sockets.remove(conn.handle);
                    self.recycle(socket);
                }
                Next::TimeWait => self.park(now, conn, sockets, filter),
            }
        }
        kept.append(&mut self.connections);
        self.connections = kept;
        self.expire_time_wait(now, filter);
        progress
    }

    /// Moves a connection in TIME_WAIT out of the stack's set to wait.
    fn park(
        &mut self,
        now: Instant,
        conn: Connection,
        sockets: &mut SocketSet<'static>,
        filter: &mut TimeWaitFilter,
    ) {
        let Socket::Tcp(mut socket) = sockets.remove(conn.handle) else {
            self.release_port(conn.local_port);
            return;
        };
        self.reclaim_buffers(&mut socket);
        let tuple = TcpTuple {
            local: v4(socket.local_endpoint()),
            foreign: v4(socket.remote_endpoint()),
        };
        let record = Ended {
            conn_id: conn.conn_id,
            owner: conn.owner,
            local_port: conn.local_port,
            bytes_in: conn.bytes_in,
            bytes_out: conn.bytes_out,
        };
        filter.insert(tuple);
        if let Some(replaced) = self.time_wait.park(tuple, socket, now, record) {
            // Cannot happen (smoltcp lets one socket have a connection), but stay counted.
            self.release_port(replaced.record.local_port);
            self.recycle(Socket::Tcp(replaced.socket));
        }
    }

    /// Ends the TIME_WAIT of the connections that waited long enough.
    fn expire_time_wait(&mut self, now: Instant, filter: &mut TimeWaitFilter) {
        while let Some((tuple, waiting)) = self.time_wait.pop_expired(now, self.config.time_wait) {
            self.unpark(tuple, waiting, filter);
        }
    }

    /// Forgets a connection that was in TIME_WAIT.
    fn unpark(&mut self, tuple: TcpTuple, waiting: Waiting<Ended>, filter: &mut TimeWaitFilter) {
        filter.remove(&tuple);
        self.release_port(waiting.record.local_port);
        self.recycle(Socket::Tcp(waiting.socket));
    }

    /// Moves the sockets in TIME_WAIT of connections `tuples` into a set to poll with the
    /// segments kept aside for them; [`TcpTable::check_in_time_wait`] takes them back.
    pub(crate) fn check_out_time_wait(&mut self, tuples: Vec<TcpTuple>) -> &mut SocketSet<'static> {
        self.time_wait.check_out(tuples)
    }

    /// Takes back the sockets polled; the connections a segment ended (a RST) go.
    pub(crate) fn check_in_time_wait(&mut self, filter: &mut TimeWaitFilter) {
        let mut ended = Vec::new();
        self.time_wait
            .check_in(|tuple, waiting| ended.push((tuple, waiting)));
        for (tuple, waiting) in ended {
            self.unpark(tuple, waiting, filter);
        }
    }

    /// When the oldest connection in TIME_WAIT is due to go.
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        self.time_wait.next_expiry(self.config.time_wait)
    }

    fn service_listeners(&mut self, sockets: &mut SocketSet<'static>) -> bool {
        let mut progress = false;
        let mut listeners = std::mem::take(&mut self.listeners);
        listeners.retain_mut(|listener| {
            if listener.accept.is_closed() {
                for handle in listener.listening.drain(..) {
                    let socket = sockets.remove(handle);
                    self.recycle(socket);
                }
                return false;
            }
            let waiting = self
                .connections
                .iter()
                .filter(|c| matches!(c.phase, Phase::Embryonic { listener: id } if id == listener.conn_id))
                .count();
            let mut engaged = Vec::new();
            listener.listening.retain(|handle| {
                let listening = sockets.get::<tcp::Socket>(*handle).state() == tcp::State::Listen;
                if !listening {
                    engaged.push(*handle);
                }
                listening
            });
            for handle in engaged {
                progress = true;
                let conn_id = self.allocate_conn_id();
                let phase = Phase::Embryonic { listener: listener.conn_id };
                let owner = listener.owner.clone();
                let local_port = listener.local.port();
                self.hold_port(local_port);
                self.connections.push(Connection { conn_id, owner, handle, local_port, phase, bytes_in: 0, bytes_out: 0 });
            }
            let room = listener.backlog.saturating_sub(waiting);
            while listener.listening.len() < room {
                match self.listening_socket(listener.local) {
                    Ok(socket) => listener.listening.push(sockets.add(socket)),
                    Err(_) => break,
                }
            }
            true
        });
        self.listeners = listeners;
        progress
    }

    /// Services one connection: what becomes of it.
    fn service_connection(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        socket: &mut tcp::Socket,
        progress: &mut bool,
    ) -> Next {
        let state = socket.state();
        match &conn.phase {
            Phase::Connecting {
                started, remote, ..
            } => {
                let (started, remote) = (*started, *remote);
                match state {
                    tcp::State::Established | tcp::State::CloseWait => {
                        let (stream, old) = self.open_stream(conn, socket);
                        if let Phase::Connecting { reply, .. } = old
                            && let Err(Ok(stream)) = reply.send(Ok(stream))
                        {
                            // The caller gave up waiting: close the connection it never saw.
                            drop(stream);
                        }
                        *progress |= self.move_data(conn, socket);
                        Next::Keep
                    }
                    tcp::State::Closed => {
                        let error = if now - started >= self.config.connect_timeout {
                            StackError::ConnectTimedOut { remote }
                        } else {
                            StackError::ConnectRefused { remote }
                        };
                        if let Phase::Connecting { reply, .. } =
                            std::mem::replace(&mut conn.phase, Phase::Finished)
                        {
                            let _ = reply.send(Err(error));
                        }
                        Next::Remove
                    }
                    _ => Next::Keep,
                }
            }
            Phase::Embryonic { listener } => {
                let listener = *listener;
                match state {
                    tcp::State::Established | tcp::State::CloseWait => {
                        let accept = self
                            .listeners
                            .iter()
                            .find(|l| l.conn_id == listener)
                            .map(|l| l.accept.clone());
                        match accept.as_ref().map(mpsc::Sender::try_reserve) {
                            Some(Ok(permit)) => {
                                let (stream, _) = self.open_stream(conn, socket);
                                permit.send(stream);
                                *progress |= self.move_data(conn, socket);
                            }
                            Some(Err(mpsc::error::TrySendError::Full(()))) => {}
                            None | Some(Err(mpsc::error::TrySendError::Closed(()))) => {
                                socket.abort();
                                *progress = true;
                            }
                        }
                        Next::Keep
                    }
                    tcp::State::Closed => Next::Remove,
                    _ => Next::Keep,
                }
            }
            Phase::Open(_) => {
                *progress |= self.move_data(conn, socket);
                let Phase::Open(app) = &conn.phase else {
                    return Next::Remove;
                };
                // A closed socket stays until its reader has been told how it ended.
                let telling = app.to_app.is_some();
                match socket.state() {
                    _ if telling => Next::Keep,
                    tcp::State::TimeWait => Next::TimeWait,
                    tcp::State::Closed => Next::Remove,
                    _ => Next::Keep,
                }
            }
            Phase::Finished => Next::Remove,
        }
    }

    /// Moves bytes between the socket and the application; true if smoltcp has work from it.
    fn move_data(&mut self, conn: &mut Connection, socket: &mut tcp::Socket) -> bool {
        let Phase::Open(app) = &mut conn.phase else {
            return false;
        };
        let mut progress = false;
        // Peer to application.
        loop {
            if !socket.can_recv() {
                break;
            }
            let Some(to_app) = &app.to_app else {
                // The application dropped its reader: discard what arrives.
                if let Ok(n) = socket.recv(|buf| (buf.len(), buf.len())) {
                    conn.bytes_in += u64::try_from(n).unwrap_or(u64::MAX);
                    progress = true;
                }
                continue;
            };
            let Ok(permit) = reserve_or_arm(to_app, &app.to_app_bell) else {
                if to_app.is_closed() {
                    app.to_app = None;
                    continue;
                }
                break;
            };
            let Ok(chunk) = socket.recv(|buf| {
                let n = buf.len().min(READ_CHUNK);
                (n, Bytes::copy_from_slice(&buf[..n]))
            }) else {
                break;
            };
            conn.bytes_in += u64::try_from(chunk.len()).unwrap_or(u64::MAX);
            permit.send(Received::Data(chunk));
            progress = true;
        }
        let state = socket.state();
        let fin_received = matches!(
            state,
            tcp::State::CloseWait
                | tcp::State::LastAck
                | tcp::State::Closing
                | tcp::State::TimeWait
        );
        app.fin_seen |= fin_received;
        if app.fin_seen && socket.recv_queue() == 0 {
            let delivered = match &app.to_app {
                Some(to_app) => match reserve_or_arm(to_app, &app.to_app_bell) {
                    Ok(permit) => {
                        permit.send(Received::Closed);
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(())) => true,
                    Err(mpsc::error::TrySendError::Full(())) => false,
                },
                None => false,
            };
            if delivered {
                app.to_app = None;
            }
        } else if state == tcp::State::Closed && !app.fin_seen {
            // Ended without a FIN: dropping the sender tells the reader it was reset.
            app.to_app = None;
        }
        // Application to peer.
        while socket.can_send() {
            let chunk = match app.pending.take() {
                Some(chunk) => chunk,
                None => match recv_or_arm(&mut app.from_app, &app.from_app_bell) {
                    Some(chunk) => chunk,
                    None => break,
                },
            };
            let Ok(sent) = socket.send_slice(&chunk) else {
                break;
            };
            conn.bytes_out += u64::try_from(sent).unwrap_or(u64::MAX);
            progress |= sent > 0;
            if sent < chunk.len() {
                app.pending = Some(chunk.slice(sent..));
                break;
            }
        }
        if !app.fin_sent
            && app.pending.is_none()
            && app.from_app.is_closed()
            && app.from_app.is_empty()
        {
            socket.close();
            app.fin_sent = true;
            progress = true;
        }
        if state == tcp::State::Closed {
            app.from_app.close();
        }
        progress
    }

    /// The listing of listeners and connections, in connection number order.
    pub(crate) fn connections(&self, sockets: &SocketSet<'static>) -> Vec<ConnectionInfo> {
        let listeners = self.listeners.iter().map(|l| ConnectionInfo {
            conn_id: l.conn_id,
            owner: l.owner.clone(),
            local: l.local,
            foreign: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            state: ConnState::Tcp(TcpState::Listen),
            bytes_in: 0,
            bytes_out: 0,
        });
        let connections = self.connections.iter().map(|c| {
            let socket = sockets.get::<tcp::Socket>(c.handle);
            ConnectionInfo {
                conn_id: c.conn_id,
                owner: c.owner.clone(),
                local: v4(socket.local_endpoint()),
                foreign: v4(socket.remote_endpoint()),
                state: ConnState::Tcp(socket.state().into()),
                bytes_in: c.bytes_in,
                bytes_out: c.bytes_out,
            }
        });
        let time_wait = self
            .time_wait
            .iter()
            .map(|(tuple, waiting)| ConnectionInfo {
                conn_id: waiting.record.conn_id,
                owner: waiting.record.owner.clone(),
                local: tuple.local,
                foreign: tuple.foreign,
                state: ConnState::Tcp(waiting.socket.state().into()),
                bytes_in: waiting.record.bytes_in,
                bytes_out: waiting.record.bytes_out,
            });
        let mut all: Vec<ConnectionInfo> = listeners.chain(connections).chain(time_wait).collect();
        all.sort_by_key(|info| info.conn_id);
        all
    }
}

/// Room for one chunk to the application; when there is none, arms `bell` (the reader rings
/// it when it takes a chunk) and looks once more.
fn reserve_or_arm<'a>(
    to_app: &'a mpsc::Sender<Received>,
    bell: &Doorbell,
) -> Result<mpsc::Permit<'a, Received>, mpsc::error::TrySendError<()>> {
    match to_app.try_reserve() {
        Err(mpsc::error::TrySendError::Full(())) => {
            bell.arm();
            to_app.try_reserve()
        }
        reserved => reserved,
    }
}

/// The application's next chunk; when there is none, arms `bell` (the writer rings it when it
/// gives a chunk) and looks once more.
fn recv_or_arm(from_app: &mut mpsc::Receiver<Bytes>, bell: &Doorbell) -> Option<Bytes> {
    match from_app.try_recv() {
        Err(mpsc::error::TryRecvError::Empty) => {
            bell.arm();
            from_app.try_recv().ok()
        }
        received => received.ok(),
    }
}
