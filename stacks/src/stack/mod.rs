//! The stack runtime: one TCP/IP stack (one emulated LPAR's TCPIP address space) on one tokio
//! task, owning a smoltcp `Interface` and its sockets behind a [`Datapath`].
//!
//! ```text
//!   StackHandle ──commands──▶ ┌──────────── stack task ────────────┐
//!   TcpStream  ◀──channels──▶ │ select! { LAN/XCF ingress,          │
//!   TcpListener               │           commands, app wake-ups,   │
//!                             │           sleep_until(poll_at) }    │
//!                             │ Interface::poll ⇄ Datapath ⇄ LAN/XCF│
//!                             └─────────────────────────────────────┘
//! ```
//!
//! Time comes from [`Clock`] (tokio's clock, so tests may pause it); the random seed of smoltcp
//! (initial sequence numbers) comes from the configuration.
//!
//! [`Stack::spawn`] runs the task on the caller's runtime, beside the applications (the
//! in-memory labs, where many stacks share a process). [`Stack::spawn_on_thread`] gives the
//! stack a thread and a single-threaded runtime of its own, as an LPAR's TCP/IP address space
//! has its own dispatcher: a stack on a TAP device then notices the device's readiness in its
//! own event loop while it runs, instead of the kernel waking another worker of a shared
//! runtime for every frame the sender queues, and applications run beside it on the others.

pub mod clock;
mod doorbell;
pub mod netstat;
pub mod ping;
pub mod tcp;
mod time_wait;
pub mod udp;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Cidr};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::Error;
use crate::datapath::addresses::{AddressBook, AddressRole, DvipaRole};
use crate::datapath::garp::GarpSchedule;
use crate::datapath::stage::{PacketStage, StageSlot};
use crate::datapath::xcf::XcfLink;
use crate::datapath::{Datapath, DatapathConfig, DatapathStats};
use crate::lan::LanPort;
pub use clock::Clock;
use netstat::ConnectionInfo;
use ping::{PingOutcome, Pings};
use tcp::{TcpConfig, TcpListener, TcpStream, TcpTable};
use udp::{UdpSocket, UdpTable};

/// Commands queued to a stack before its handle waits.
const COMMAND_QUEUE: usize = 64;

/// What can go wrong in a request to a stack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// The stack task has ended.
    #[error("the stack is not running")]
    Gone,
    /// The interface has no room for another address.
    #[error("no room for address {addr}: the interface holds at most {max} addresses")]
    AddressTableFull {
        /// The address that did not fit.
        addr: Ipv4Addr,
        /// The interface's capacity.
        max: usize,
    },
    /// A DVIPA cannot be a HOME address of the stack (z/OS: EZZ8307I).
    #[error("{addr} is already a HOME address")]
    AddressIsHome {
        /// The address.
        addr: Ipv4Addr,
    },
    /// The stack has no dynamic XCF link.
    #[error("the stack has no dynamic XCF link (no IPCONFIG DYNAMICXCF)")]
    NoXcfLink,
    /// A listener already holds the port.
    #[error("port {local} is already in use")]
    PortInUse {
        /// The local socket asked for.
        local: SocketAddrV4,
    },
    /// Every ephemeral port is in use.
    #[error("no ephemeral port left")]
    NoEphemeralPort,
    /// smoltcp refused the connection's endpoints.
    #[error("cannot connect to {remote}: {reason}")]
    Unaddressable {
        /// The remote socket.
        remote: SocketAddrV4,
        /// smoltcp's reason.
        reason: String,
    },
    /// The peer refused the connection (reset).
    #[error("connection to {remote} refused")]
    ConnectRefused {
        /// The remote socket.
        remote: SocketAddrV4,
    },
    /// The peer did not answer in time.
    #[error("connection to {remote} timed out")]
    ConnectTimedOut {
        /// The remote socket.
        remote: SocketAddrV4,
    },
}

/// The dynamic XCF side of a stack (`IPCONFIG DYNAMICXCF`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XcfConfig {
    /// The stack's XCF address.
    pub address: Ipv4Addr,
    /// The UDP endpoint of its XCF link (port 0 picks one).
    pub bind: SocketAddr,
}

/// How to build a stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackConfig {
    /// The TCP/IP stack's name (its procedure name, e.g. `TCPCS`).
    pub name: String,
    /// The MAC address of its LAN interface.
    pub mac: EthernetAddress,
    /// Its HOME addresses on the LAN, with their subnet prefixes.
    pub home: Vec<Ipv4Cidr>,
    /// The default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// The dynamic XCF link, if the stack has one.
    pub xcf: Option<XcfConfig>,
    /// The IP MTU of the LAN.
    pub ip_mtu: usize,
    /// Gratuitous ARPs sent when the stack takes an address.
    pub garp: GarpSchedule,
    /// Whether the stack follows gratuitous ARPs it hears, as a Linux host does.
    pub learn_gratuitous_arp: bool,
    /// TCP buffers and ports.
    pub tcp: TcpConfig,
    /// The seed of smoltcp's random numbers (initial sequence numbers).
    pub seed: u64,
}

impl StackConfig {
    /// A stack called `name` with MAC `mac` and HOME addresses `home`, and defaults elsewhere.
    pub fn new(name: &str, mac: EthernetAddress, home: Vec<Ipv4Cidr>) -> Self {
        Self {
            name: name.to_owned(),
            mac,
            home,
            gateway: None,
            xcf: None,
            ip_mtu: 1500,
            garp: GarpSchedule::default(),
            learn_gratuitous_arp: true,
            tcp: TcpConfig::default(),
            seed: 0,
        }
    }
}

enum Command {
    ActivateDvipa {
        addr: Ipv4Addr,
        reply: oneshot::Sender<Result<(), StackError>>,
    },
    HoldAsTarget {
        addr: Ipv4Addr,
        reply: oneshot::Sender<Result<(), StackError>>,
    },
    DeactivateDvipa {
        addr: Ipv4Addr,
        reply: oneshot::Sender<Option<DvipaRole>>,
    },
    AddXcfPartner {
        xcf: Ipv4Addr,
        endpoint: SocketAddr,
        reply: oneshot::Sender<Result<(), StackError>>,
    },
    InstallStage {
        slot: StageSlot,
        stage: Box<dyn PacketStage>,
        reply: oneshot::Sender<()>,
    },
    Listen {
        owner: String,
        local: SocketAddrV4,
        backlog: usize,
        reply: oneshot::Sender<Result<TcpListener, StackError>>,
    },
    Connect {
        owner: String,
        local: Option<Ipv4Addr>,
        remote: SocketAddrV4,
        reply: oneshot::Sender<Result<TcpStream, StackError>>,
    },
    UdpBind {
        owner: String,
        local: SocketAddrV4,
        reply: oneshot::Sender<Result<UdpSocket, StackError>>,
    },
    Ping {
        dst: Ipv4Addr,
        timeout: std::time::Duration,
        reply: oneshot::Sender<PingOutcome>,
    },
    Connections {
        reply: oneshot::Sender<Vec<ConnectionInfo>>,
    },
    Stats {
        reply: oneshot::Sender<DatapathStats>,
    },
    Addresses {
        reply: oneshot::Sender<AddressBook>,
    },
    Shutdown,
}

/// A handle on a running stack; cheap to clone. The stack runs until [`StackHandle::shutdown`]
/// or until its task is aborted (a stack that dies).
#[derive(Clone, Debug)]
pub struct StackHandle {
    name: String,
    mac: EthernetAddress,
    xcf_endpoint: Option<SocketAddr>,
    clock: Clock,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::ActivateDvipa { .. } => "ActivateDvipa",
            Self::HoldAsTarget { .. } => "HoldAsTarget",
            Self::DeactivateDvipa { .. } => "DeactivateDvipa",
            Self::AddXcfPartner { .. } => "AddXcfPartner",
            Self::InstallStage { .. } => "InstallStage",
            Self::Listen { .. } => "Listen",
            Self::Connect { .. } => "Connect",
            Self::UdpBind { .. } => "UdpBind",
            Self::Ping { .. } => "Ping",
            Self::Connections { .. } => "Connections",
            Self::Stats { .. } => "Stats",
            Self::Addresses { .. } => "Addresses",
            Self::Shutdown => "Shutdown",
        };
        f.write_str(name)
    }
}

impl StackHandle {
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| StackError::Gone)?;
        Ok(answer.await.map_err(|_| StackError::Gone)?)
    }

    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MAC address of the stack's LAN interface.
    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    /// The UDP endpoint of the stack's XCF link, to publish to its partners.
    pub fn xcf_endpoint(&self) -> Option<SocketAddr> {
        self.xcf_endpoint
    }

    /// The stack's clock (the time its packet stages see).
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Activates a DVIPA here as its owner: added to HOME, answered in ARP, announced with
    /// gratuitous ARP.
    pub async fn activate_dvipa(&self, addr: Ipv4Addr) -> Result<(), Error> {
        Ok(self
            .ask(|reply| Command::ActivateDvipa { addr, reply })
            .await??)
    }

    /// Holds a DVIPA as a Sysplex Distributor target: accepted, never answered in ARP.
    pub async fn hold_as_target(&self, addr: Ipv4Addr) -> Result<(), Error> {
        Ok(self
            .ask(|reply| Command::HoldAsTarget { addr, reply })
            .await??)
    }

    /// Gives a DVIPA up; returns the role it had, `None` if the stack did not hold it.
    /// Connections on it end (their applications see [`tcp::Received::Reset`]).
    pub async fn deactivate_dvipa(&self, addr: Ipv4Addr) -> Result<Option<DvipaRole>, Error> {
        self.ask(|reply| Command::DeactivateDvipa { addr, reply })
            .await
    }

    /// Records the XCF link endpoint of the partner stack with XCF address `xcf`.
    pub async fn add_xcf_partner(&self, xcf: Ipv4Addr, endpoint: SocketAddr) -> Result<(), Error> {
        Ok(self
            .ask(|reply| Command::AddXcfPartner {
                xcf,
                endpoint,
                reply,
            })
            .await??)
    }

    /// Installs a stage of the packet walk (IPSec, Sysplex Distributor).
    pub async fn install_stage(
        &self,
        slot: StageSlot,
        stage: Box<dyn PacketStage>,
    ) -> Result<(), Error> {
        self.ask(|reply| Command::InstallStage { slot, stage, reply })
            .await
    }

    /// Listens on `local` (0.0.0.0 for every address) for application `owner`.
    pub async fn listen(
        &self,
        owner: &str,
        local: SocketAddrV4,
        backlog: usize,
    ) -> Result<TcpListener, Error> {
        let owner = owner.to_owned();
        Ok(self
            .ask(|reply| Command::Listen {
                owner,
                local,
                backlog,
                reply,
            })
            .await??)
    }

    /// Opens a connection to `remote` for application `owner`, from the address the stack picks.
    pub async fn connect(&self, owner: &str, remote: SocketAddrV4) -> Result<TcpStream, Error> {
        let owner = owner.to_owned();
        Ok(self
            .ask(|reply| Command::Connect {
                owner,
                local: None,
                remote,
                reply,
            })
            .await??)
    }

    /// Opens a connection to `remote` from the local address `local` (e.g. a DVIPA).
    pub async fn connect_from(
        &self,
        owner: &str,
        local: Ipv4Addr,
        remote: SocketAddrV4,
    ) -> Result<TcpStream, Error> {
        let owner = owner.to_owned();
        Ok(self
            .ask(|reply| Command::Connect {
                owner,
                local: Some(local),
                remote,
                reply,
            })
            .await??)
    }

    /// Binds a UDP socket of application `owner` to `local` (0.0.0.0 for every address),
    /// e.g. IKE's 500 and 4500.
    pub async fn udp_bind(&self, owner: &str, local: SocketAddrV4) -> Result<UdpSocket, Error> {
        let owner = owner.to_owned();
        Ok(self
            .ask(|reply| Command::UdpBind {
                owner,
                local,
                reply,
            })
            .await??)
    }

    /// Sends one ICMP echo request to `dst` and waits up to `timeout` for the reply.
    pub async fn ping(
        &self,
        dst: Ipv4Addr,
        timeout: std::time::Duration,
    ) -> Result<PingOutcome, Error> {
        self.ask(|reply| Command::Ping {
            dst,
            timeout,
            reply,
        })
        .await
    }

    /// The TCP listeners and connections and the UDP sockets of the stack, in connection
    /// number order (NETSTAT CONN data).
    pub async fn connections(&self) -> Result<Vec<ConnectionInfo>, Error> {
        self.ask(|reply| Command::Connections { reply }).await
    }

    /// The datapath's counters.
    pub async fn datapath_stats(&self) -> Result<DatapathStats, Error> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// The addresses the stack holds and their roles.
    pub async fn addresses(&self) -> Result<AddressBook, Error> {
        self.ask(|reply| Command::Addresses { reply }).await
    }

    /// Stops the stack. Its connections vanish without a FIN or RST, as when a stack dies.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}

/// A running stack: spawn it with [`Stack::spawn`].
pub struct Stack {
    name: String,
    clock: Clock,
    iface: Interface,
    sockets: SocketSet<'static>,
    datapath: Datapath,
    tcp: TcpTable,
    udp: UdpTable,
    pings: Pings,
    commands: mpsc::Receiver<Command>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("name", &self.name)
            .field("datapath", &self.datapath)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// Builds the stack on LAN port `lan` and starts its task; must be called inside a tokio
    /// runtime. The task returns when the stack is shut down, or with the LAN error that ended it.
    pub fn spawn(
        config: StackConfig,
        lan: Box<dyn LanPort>,
    ) -> Result<(StackHandle, JoinHandle<Result<(), Error>>), Error> {
        let (stack, handle) = Self::build(config, lan)?;
        Ok((handle, tokio::spawn(stack.run())))
    }

    /// Starts the stack on a thread of its own, named after it, in a single-threaded runtime
    /// of its own; `open_lan` opens its LAN port there (a port registers with the runtime it is
    /// opened in). The thread returns when the stack is shut down, or with the error that
    /// ended it. Its time is the real clock: a test that pauses tokio's clock keeps its stacks
    /// on its own runtime with [`Stack::spawn`].
    pub fn spawn_on_thread<P, F>(
        config: StackConfig,
        open_lan: F,
    ) -> Result<(StackHandle, std::thread::JoinHandle<Result<(), Error>>), Error>
    where
        P: LanPort + 'static,
        F: FnOnce() -> std::io::Result<P> + Send + 'static,
    {
        let (started, handle) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(format!("stack-{}", config.name))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let built = open_lan()
                        .map_err(Error::from)
                        .and_then(|lan| Self::build(config, Box::new(lan)));
                    match built {
                        Ok((stack, handle)) => {
                            let _ = started.send(Ok(handle));
                            stack.run().await
                        }
                        Err(error) => {
                            let _ = started.send(Err(error));
                            Ok(())
                        }
                    }
                })
            })?;
        match handle.recv() {
            Ok(Ok(handle)) => Ok((handle, thread)),
            Ok(Err(error)) => Err(error),
            // The thread ended before it built the stack: its runtime could not start.
            Err(_) => Err(match thread.join() {
                Ok(Err(error)) => error,
                _ => StackError::Gone.into(),
            }),
        }
    }

    /// Builds the stack on LAN port `lan`, and the handle to it, in the current runtime.
    fn build(config: StackConfig, lan: Box<dyn LanPort>) -> Result<(Self, StackHandle), Error> {
        let clock = Clock::start();
        let now = clock.now();
        let datapath_config = DatapathConfig {
            mac: config.mac,
            ip_mtu: config.ip_mtu,
            garp: config.garp,
            learn_gratuitous_arp: config.learn_gratuitous_arp,
        };
        let mut datapath = Datapath::new(datapath_config, config.home.clone(), lan);
        if let Some(xcf) = config.xcf {
            datapath.attach_xcf(XcfLink::bind(xcf.address, xcf.bind)?);
        }
        let xcf_endpoint = datapath.xcf().map(XcfLink::endpoint).transpose()?;
        let mut iface_config = Config::new(HardwareAddress::Ethernet(config.mac));
        iface_config.random_seed = config.seed;
        let mut iface = Interface::new(iface_config, &mut datapath, now);
        if let Some(gateway) = config.gateway {
            // Only fails when the route table is full, and it is empty here.
            let _ = iface.routes_mut().add_default_ipv4_route(gateway);
        }
        for home in &config.home {
            datapath.announce(home.address(), now);
        }
        let wake = Arc::new(Notify::new());
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let mut stack = Self {
            name: config.name.clone(),
            clock,
            iface,
            sockets: SocketSet::new(Vec::new()),
            datapath,
            tcp: TcpTable::new(config.tcp.clone(), wake.clone()),
            udp: UdpTable::new(wake.clone()),
            pings: Pings::default(),
            commands,
            wake,
        };
        if let Some(addr) = stack.sync_interface_addresses() {
            return Err(StackError::AddressTableFull {
                addr,
                max: smoltcp::config::IFACE_MAX_ADDR_COUNT,
            }
            .into());
        }
        let handle = StackHandle {
            name: config.name,
            mac: config.mac,
            xcf_endpoint,
            clock,
            commands: commands_tx,
        };
        Ok((stack, handle))
    }

    /// Makes the interface carry exactly the addresses of the book, keeping the neighbours
    /// smoltcp forgets on the change; returns the first address that did not fit.
    fn sync_interface_addresses(&mut self) -> Option<Ipv4Addr> {
        let now = self.clock.now();
        let cidrs = self.datapath.addresses().interface_cidrs();
        let mut overflow = None;
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            for cidr in cidrs {
                if let Err(IpCidr::Ipv4(cidr)) = addrs.push(cidr) {
                    overflow.get_or_insert(cidr.address());
                }
            }
        });
        self.datapath.restore_neighbours(now);
        overflow
    }

    async fn run(mut self) -> Result<(), Error> {
        tracing::debug!(stack = %self.name, "stack started");
        let mut commands_open = true;
        loop {
            let now = self.clock.now();
            self.datapath.poll_timers(now);
            self.iface.poll(now, &mut self.datapath, &mut self.sockets);
            let moved = self
                .tcp
                .service(now, &mut self.sockets, self.datapath.time_wait_mut())
                | self.udp.service(&mut self.sockets)
                | self.pings.service(now, &mut self.sockets);
            if moved {
                self.iface.poll(now, &mut self.datapath, &mut self.sockets);
            }
            if self.datapath.has_time_wait_frames() {
                let touched = self.datapath.time_wait_mut().take_touched();
                let waiting = self.tcp.check_out_time_wait(touched);
                self.iface
                    .poll(now, &mut self.datapath.time_wait_device(), waiting);
                self.tcp.check_in_time_wait(self.datapath.time_wait_mut());
            }
            let deadline = [
                self.iface.poll_at(now, &self.sockets),
                self.datapath.poll_at(),
                self.pings.poll_at(),
                self.tcp.poll_at(),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = match deadline {
                Some(at) => tokio::time::sleep_until(self.clock.to_tokio(at)),
                None => tokio::time::sleep(std::time::Duration::from_secs(3600)),
            };
            let clock = self.clock;
            tokio::select! {
                biased;
                command = self.commands.recv(), if commands_open => match command {
                    Some(Command::Shutdown) => break,
                    Some(command) => self.handle(command),
                    None => commands_open = false,
                },
                ingress = std::future::poll_fn(|cx| self.datapath.poll_ingress(cx, clock.now())) => {
                    if let Err(error) = ingress {
                        tracing::warn!(stack = %self.name, %error, "LAN port failed; stack stops");
                        return Err(error.into());
                    }
                }
                () = self.wake.notified() => {}
                () = sleep => {}
            }
        }
        tracing::debug!(stack = %self.name, "stack stopped");
        Ok(())
    }

    fn handle(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            Command::ActivateDvipa { addr, reply } => {
                let _ = reply.send(self.take_dvipa(addr, DvipaRole::Advertised));
            }
            Command::HoldAsTarget { addr, reply } => {
                let _ = reply.send(self.take_dvipa(addr, DvipaRole::Target));
            }
            Command::DeactivateDvipa { addr, reply } => {
                let role = self.datapath.release(addr);
                if role.is_some() {
                    self.sync_interface_addresses();
                }
                let _ = reply.send(role);
            }
            Command::AddXcfPartner {
                xcf,
                endpoint,
                reply,
            } => {
                let added = self.datapath.add_xcf_partner(xcf, endpoint);
                let _ = reply.send(if added {
                    Ok(())
                } else {
                    Err(StackError::NoXcfLink)
                });
            }
            Command::InstallStage { slot, stage, reply } => {
                self.datapath.install_stage(slot, stage);
                let _ = reply.send(());
            }
            Command::Listen {
                owner,
                local,
                backlog,
                reply,
            } => {
                let _ = reply.send(self.tcp.listen(&mut self.sockets, &owner, local, backlog));
            }
            Command::Connect {
                owner,
                local,
                remote,
                reply,
            } => {
                let cx = self.iface.context();
                self.tcp
                    .connect(cx, &mut self.sockets, now, &owner, local, remote, reply);
            }
            Command::UdpBind {
                owner,
                local,
                reply,
            } => {
                let conn_id = self.tcp.allocate_conn_id();
                let _ = reply.send(self.udp.bind(&mut self.sockets, conn_id, &owner, local));
            }
            Command::Ping {
                dst,
                timeout,
                reply,
            } => {
                self.pings
                    .start(&mut self.sockets, now, dst, Clock::duration(timeout), reply);
            }
            Command::Connections { reply } => {
                let mut listing = self.tcp.connections(&self.sockets);
                listing.extend(self.udp.connections());
                listing.sort_by_key(|line| line.conn_id);
                let _ = reply.send(listing);
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.datapath.stats().clone());
            }
            Command::Addresses { reply } => {
                let _ = reply.send(self.datapath.addresses().clone());
            }
            Command::Shutdown => {}
        }
    }

    fn take_dvipa(&mut self, addr: Ipv4Addr, role: DvipaRole) -> Result<(), StackError> {
        let book = self.datapath.addresses();
        let previous = match book.role(addr) {
            Some(AddressRole::Home) => return Err(StackError::AddressIsHome { addr }),
            Some(AddressRole::Dvipa(previous)) => Some(previous),
            None => None,
        };
        match role {
            DvipaRole::Advertised => self.datapath.advertise(addr, self.clock.now()),
            DvipaRole::Target => self.datapath.hold_as_target(addr),
        }
        if let Some(overflow) = self.sync_interface_addresses() {
            match previous {
                Some(DvipaRole::Advertised) => self.datapath.advertise(addr, self.clock.now()),
                Some(DvipaRole::Target) => self.datapath.hold_as_target(addr),
                None => {
                    self.datapath.release(addr);
                }
            }
            self.sync_interface_addresses();
            return Err(StackError::AddressTableFull {
                addr: overflow,
                max: smoltcp::config::IFACE_MAX_ADDR_COUNT,
            });
        }
        tracing::info!(stack = %self.name, %addr, ?role, "DVIPA taken");
        Ok(())
    }
}
