//! The embedded lab: every LPAR a set of tasks in this process (its stack, its applications,
//! its DVIPA service joined to XCF), the LAN an in-memory switch, the CF server in-process on a
//! loopback port, and the remote hosts as small stacks on the same switch. LPARs with
//! IPCONFIG IPSECURITY and remote hosts with a policy run IPSec ([`crate::ipsec`]); the
//! remote hosts initiate their IKE tunnels when the lab starts.
//!
//! Killing an LPAR drops its stack and its CF link at once, as when a system dies: the other
//! stacks see its XCF member fail.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use cf::auth::Secret;
use cf::client::Client;
use cf::store::MemoryStore;
use cf::structure::{StrName, Tod};
use cf::xcf::{GroupName, Xcf};
use ike::daemon::shell::DaemonState;
use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::echo::EchoServer;
use stacks::apps::pattern::Pattern;
use stacks::apps::stream::{SOURCE_OWNER, SinkServer, StreamReport, send_pattern};
use stacks::dvipa::service::{self, DvipaHandle, DvipaServiceConfig};
use stacks::ipsec::IpsecService;
use stacks::lan::switch::EthernetSwitch;
use stacks::stack::{Stack, StackConfig, StackHandle, XcfConfig};
use stacks::swsa::StoredRecord;
use tokio::sync::oneshot;

use crate::Error;
use crate::ipsec::{self, IPSEC_IP_MTU, SeedUse};
use crate::topology::{App, LanSection, Lpar, Remote, Topology};

/// The system name of the console's own CF link (its XCF queries for displays).
pub const CONSOLE_SYSTEM: &str = "CONSOLE";

/// The CF the lab uses.
#[derive(Debug)]
struct CfLink {
    address: SocketAddr,
    /// The embedded CF's store (for D XCF,STR); `None` for a CF given by address.
    store: Option<Arc<MemoryStore>>,
    /// Stops the embedded CF and waits for it.
    stop: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

/// A running LPAR.
#[derive(Debug)]
pub struct RunningLpar {
    /// Its TCP/IP stack.
    pub stack: StackHandle,
    /// Its DVIPA service.
    pub dvipa: DvipaHandle,
    /// IPSec, when its profile has IPCONFIG IPSECURITY.
    pub ipsec: Option<IpsecService>,
    /// Its built-in applications.
    pub apps: LparApps,
    /// Console lines already handed out by [`Lab::new_messages`].
    seen: usize,
}

/// The built-in applications of an LPAR ([`App`]), running.
#[derive(Debug, Default)]
pub struct LparApps {
    _echo: Vec<EchoServer>,
    sinks: BTreeMap<u16, SinkServer>,
}

impl LparApps {
    /// Starts `apps` on `stack`, each on every address of the stack.
    pub async fn start(stack: &StackHandle, apps: &[App]) -> Result<Self, Error> {
        let mut running = Self::default();
        for app in apps {
            let any = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
            match *app {
                App::Echo { port } => running
                    ._echo
                    .push(EchoServer::start(stack, any(port)).await?),
                App::StreamSink { port } => {
                    let sink = SinkServer::start(stack, any(port), stream_seed(port)).await?;
                    running.sinks.insert(port, sink);
                }
            }
        }
        Ok(running)
    }

    /// The stream sink on `port`, to read the report of each stream it received.
    pub fn sink(&mut self, port: u16) -> Option<&mut SinkServer> {
        self.sinks.get_mut(&port)
    }

    /// The reports of the streams that ended on the sinks since the last call, one line each
    /// for the LPAR's log: `STRMSINK <port> <Closed|Reset> RECEIVED <n> VERIFIED <n>
    /// MISMATCH <offset|NONE> CHECKSUM <hex>`.
    pub fn ended_streams(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        for (port, sink) in &mut self.sinks {
            while let Some(report) = sink.try_report() {
                lines.push(format!(
                    "STRMSINK {port} {:?} RECEIVED {} VERIFIED {} MISMATCH {} CHECKSUM {:016X}",
                    report.end,
                    report.bytes_received,
                    report.bytes_verified,
                    report
                        .first_mismatch
                        .map_or_else(|| "NONE".to_owned(), |at| at.to_string()),
                    report.checksum
                ));
            }
        }
        lines
    }
}

/// The pattern seed of the checksummed streams to and from `port`.
pub fn stream_seed(port: u16) -> u64 {
    u64::from(port)
}

/// A remote host on the lab LAN.
#[derive(Debug)]
pub struct RemoteHost {
    /// Its name.
    pub name: String,
    /// Its stack.
    pub stack: StackHandle,
    /// The address it connects from (its first).
    pub address: Ipv4Addr,
    /// IPSec, when the topology gives it a policy.
    pub ipsec: Option<IpsecService>,
}

impl RemoteHost {
    /// Starts the stack of the remote host `remote`, the `index`th of the topology, on
    /// `lan`; its IPSec waits for [`RemoteHost::start_ipsec`].
    pub fn start(
        remote: &Remote,
        index: usize,
        lan: Box<dyn stacks::lan::LanPort>,
    ) -> Result<Self, Error> {
        let mut addresses = vec![Ipv4Cidr::new(remote.address, remote.prefix_len)];
        addresses.extend(remote.on_link.iter().map(|&(a, len)| Ipv4Cidr::new(a, len)));
        let mut config = StackConfig::new(&remote.section.name, mac(remote.address), addresses);
        config.gateway = remote.section.gateway;
        config.seed = 1000 + u64::try_from(index).unwrap_or(0);
        if remote.ipsec.is_some() {
            config.ip_mtu = IPSEC_IP_MTU;
        }
        let (stack, _task) = Stack::spawn(config, lan)?;
        Ok(Self {
            name: remote.section.name.clone(),
            stack,
            address: remote.address,
            ipsec: None,
        })
    }

    /// Starts the host's IPSec when `remote` (the `index`th remote of the topology) has a
    /// policy: its daemon, seeded from `topology_seed`, initiates every tunnel of the policy
    /// at once. Nothing when it runs already or has no policy.
    pub async fn start_ipsec(
        &mut self,
        remote: &Remote,
        index: usize,
        topology_seed: u64,
    ) -> Result<(), Error> {
        let (None, Some(policy)) = (&self.ipsec, &remote.ipsec) else {
            return Ok(());
        };
        let service = ipsec::start(
            &self.stack,
            // A remote host lets pass in clear what its policy does not protect, as a Linux
            // host with strongSwan does.
            vec![stacks::profile::IpSecRule::permit_all()],
            policy,
            ipsec::seed(topology_seed, SeedUse::HostIke, index, 0),
            ipsec::seed(topology_seed, SeedUse::HostStage, index, 0),
        )
        .await?;
        self.ipsec = Some(service);
        Ok(())
    }

    /// Waits until every tunnel of the host's policy is up (IKE SA and CHILD SA, the CHILD
    /// SAs installed in its SAD); returns its daemon's state then. A host without IPSec is an
    /// error.
    pub async fn wait_for_tunnels(&mut self) -> Result<DaemonState, Error> {
        let Some(service) = self.ipsec.as_mut() else {
            return Err(Error::Lab(format!("remote {} runs no IPSec", self.name)));
        };
        // One protect rule per peer of its policy.
        let count = service.state().spd.protect.len();
        Ok(ipsec::wait_for_tunnels(service, count).await)
    }
}

/// Sends one checksummed stream of `bytes` from `stack`'s address `from` to the sink at
/// `target` (the pattern seeded with [`stream_seed`] of its port); returns the source's
/// report. From its first address a remote host's traffic matches its IPSec policy even when
/// the target's subnet is on-link on a second one.
pub async fn run_stream(
    stack: &StackHandle,
    from: Ipv4Addr,
    target: SocketAddrV4,
    bytes: u64,
) -> Result<StreamReport, Error> {
    let (reader, writer) = stack
        .connect_from(SOURCE_OWNER, from, target)
        .await?
        .split();
    let pattern = Pattern::new(stream_seed(target.port()));
    Ok(send_pattern(reader, writer, pattern, bytes).await)
}

/// A running embedded lab.
#[derive(Debug)]
pub struct Lab {
    topology: Topology,
    secret: Secret,
    cf: CfLink,
    switch: EthernetSwitch,
    lpars: BTreeMap<String, RunningLpar>,
    /// How many times each LPAR was IPLed (the start count of its seeds).
    ipls: BTreeMap<String, u64>,
    remotes: Vec<RemoteHost>,
    console: Xcf,
    _console_link: Client,
}

impl Lab {
    /// Starts the lab of `topology`: the CF (embedded unless it has an address), the remote
    /// hosts' stacks, every LPAR in file order, then the remote hosts' IPSec (so that their
    /// first IKE_SA_INIT finds the DVIPAs active). The LAN must be in memory.
    pub async fn start(topology: Topology) -> Result<Self, Error> {
        if let LanSection::Tap { bridge } = &topology.lan {
            return Err(Error::Lab(format!(
                "the embedded lab runs on an in-memory LAN; this topology uses TAP devices on \
                 {bridge} (start `sysplex lpar` per LPAR instead)"
            )));
        }
        let secret = Secret::new(topology.sysplex.secret.as_bytes())
            .map_err(|e| Error::Lab(format!("sysplex secret: {e}")))?;
        let cf = start_cf(&topology, &secret).await?;
        let console_link = Client::connect(cf.address, &secret, CONSOLE_SYSTEM, "CONSOLE").await?;
        let console = Xcf::connect(&console_link).await?;
        let switch = EthernetSwitch::new();
        let mut remotes = Vec::new();
        for (index, remote) in topology.remotes.iter().enumerate() {
            remotes.push(RemoteHost::start(remote, index, Box::new(switch.port()))?);
        }
        let mut lab = Self {
            topology,
            secret,
            cf,
            switch,
            lpars: BTreeMap::new(),
            ipls: BTreeMap::new(),
            remotes,
            console,
            _console_link: console_link,
        };
        let names: Vec<String> = lab
            .topology
            .lpars
            .iter()
            .map(|l| l.section.sysname.clone())
            .collect();
        for name in names {
            lab.ipl(&name).await?;
        }
        let seed = lab.topology.sysplex.seed;
        for (index, (host, remote)) in lab
            .remotes
            .iter_mut()
            .zip(&lab.topology.remotes)
            .enumerate()
        {
            host.start_ipsec(remote, index, seed).await?;
        }
        Ok(lab)
    }

    /// The topology the lab runs.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The remote hosts.
    pub fn remotes(&self) -> &[RemoteHost] {
        &self.remotes
    }

    /// The remote hosts, to wait for their tunnels.
    pub fn remotes_mut(&mut self) -> &mut [RemoteHost] {
        &mut self.remotes
    }

    /// The LPAR `sysname` if it is running.
    pub fn lpar(&self, sysname: &str) -> Option<&RunningLpar> {
        self.lpars.get(sysname)
    }

    /// The LPAR `sysname` if it is running, to read its stream sinks or wait on its IPSec.
    pub fn lpar_mut(&mut self, sysname: &str) -> Option<&mut RunningLpar> {
        self.lpars.get_mut(sysname)
    }

    /// The running LPARs, by system name.
    pub fn running(&self) -> impl Iterator<Item = (&str, &RunningLpar)> {
        self.lpars.iter().map(|(n, l)| (n.as_str(), l))
    }

    /// Starts (IPLs) the LPAR `sysname`: its stack from its profile, IPSec when the profile
    /// has IPSECURITY, its applications, its CF link and its DVIPA service joined to the
    /// stacks' XCF group.
    pub async fn ipl(&mut self, sysname: &str) -> Result<(), Error> {
        if self.lpars.contains_key(sysname) {
            return Err(Error::Lab(format!("{sysname} is already active")));
        }
        let (index, lpar) = self
            .topology
            .lpars
            .iter()
            .enumerate()
            .find(|(_, l)| l.section.sysname == sysname)
            .ok_or_else(|| Error::Lab(format!("no LPAR {sysname} in the topology")))?;
        let stack = spawn_stack(lpar, index, Box::new(self.switch.port()))?;
        let ipl = self.ipls.entry(sysname.to_owned()).or_insert(0);
        let ipsec = start_ipsec(&stack, lpar, index, self.topology.sysplex.seed, *ipl).await?;
        *ipl += 1;
        let apps = LparApps::start(&stack, &lpar.section.apps).await?;
        let client = Client::connect(
            self.cf.address,
            &self.secret,
            sysname,
            &lpar.section.tcpname,
        )
        .await?;
        let mut config = DvipaServiceConfig::new(sysname, lpar.profile.clone());
        config.check_every = Duration::from_millis(50);
        config.swsa = ipsec.as_ref().map(IpsecService::swsa_link);
        let dvipa = service::start(client, stack.clone(), config).await?;
        self.lpars.insert(
            sysname.to_owned(),
            RunningLpar {
                stack,
                dvipa,
                ipsec,
                apps,
                seen: 0,
            },
        );
        Ok(())
    }

    /// Kills the LPAR `sysname`: its DVIPA service and CF link end and its stack stops, with
    /// no FIN or RST for its connections.
    pub async fn kill(&mut self, sysname: &str) -> Result<(), Error> {
        let lpar = self
            .lpars
            .remove(sysname)
            .ok_or_else(|| Error::Lab(format!("{sysname} is not active")))?;
        // The stack stops first, so that it answers nothing the others do once they see its
        // CF link drop.
        lpar.stack.shutdown().await;
        lpar.dvipa.abort();
        Ok(())
    }

    /// Stops the lab: kills every LPAR, closes the console's CF link, then stops the embedded
    /// CF and waits for it.
    pub async fn shutdown(mut self) {
        let names: Vec<String> = self.lpars.keys().cloned().collect();
        for name in names {
            let _ = self.kill(&name).await;
        }
        let Self {
            cf,
            console,
            _console_link,
            ..
        } = self;
        drop(console);
        drop(_console_link);
        if let Some((stop, task)) = cf.stop {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// The console messages each running LPAR wrote since the last call, as (sysname, line).
    pub fn new_messages(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, lpar) in &mut self.lpars {
            let console = lpar.dvipa.console();
            for line in console.iter().skip(lpar.seen) {
                out.push((name.clone(), line.clone()));
            }
            lpar.seen = console.len();
        }
        out
    }

    /// `D XCF,GROUP[,grpname[,ALL]]` (IXC331I, IXC332I, IXC333I).
    pub async fn display_xcf_group(&self, group: Option<&str>, all: bool) -> Result<String, Error> {
        display_xcf_group(&self.console, group, all).await
    }

    /// `D XCF,STR[,STRNAME=name]` (IXC359I, IXC360I) from the embedded CF's store.
    pub async fn display_xcf_str(&self, strname: Option<&str>) -> Result<String, Error> {
        let Some(store) = self.cf.store.clone() else {
            return Err(Error::Lab(format!(
                "the CF at {} is not embedded: display its structures with its own tools",
                self.cf.address
            )));
        };
        let name = strname
            .map(|n| {
                StrName::new(n)
                    .ok_or_else(|| Error::Lab(format!("IXC307I {n} IS NOT A VALID STRUCTURE NAME")))
            })
            .transpose()?;
        let facility =
            tokio::task::spawn_blocking(move || cf::server::recover_facility(store.as_ref()))
                .await
                .map_err(|e| Error::Lab(format!("reading the CF store: {e}")))??;
        let now = tod_now();
        Ok(match name {
            None => cf::display::display_structures(&facility, now),
            Some(name) => cf::display::display_structure(&facility, &name, now),
        })
    }

    /// The restart entries of `dvipa` in the SWSA structure `structure` (EZBDVIPA or
    /// EZBDVIPA01tt), in key order (peer, then owner), read from the embedded CF's store as a
    /// dump would: no connection to the structure. Empty when it is not allocated.
    pub async fn restart_entries(
        &self,
        structure: &StrName,
        dvipa: Ipv4Addr,
    ) -> Result<Vec<StoredRecord>, Error> {
        let Some(store) = self.cf.store.clone() else {
            return Err(Error::Lab(format!(
                "the CF at {} is not embedded: read {structure} with its own tools",
                self.cf.address
            )));
        };
        let facility =
            tokio::task::spawn_blocking(move || cf::server::recover_facility(store.as_ref()))
                .await
                .map_err(|e| Error::Lab(format!("reading the CF store: {e}")))??;
        let Some(instance) = facility.structure(structure) else {
            return Ok(Vec::new());
        };
        let mut entries = Vec::new();
        for list in instance.lists() {
            for leid in list.order.values() {
                let Some(entry) = instance.entry(*leid) else {
                    continue;
                };
                let stored = StoredRecord::decode(&entry.data)
                    .map_err(|e| Error::Lab(format!("{structure} entry {leid}: {e}")))?;
                if stored.dvipa() == dvipa {
                    entries.push(stored);
                }
            }
        }
        Ok(entries)
    }
}

/// `D XCF,GROUP[,grpname[,ALL]]` (IXC331I, IXC332I, IXC333I) as `xcf` (a console's XCF link)
/// sees the sysplex.
pub async fn display_xcf_group(xcf: &Xcf, group: Option<&str>, all: bool) -> Result<String, Error> {
    let now = tod_now();
    let members = xcf.query_all().await?;
    Ok(match group {
        None => cf::xcf::display_groups(&members, now),
        Some(name) => {
            let group = GroupName::new(name).map_err(cf::Error::from)?;
            if all {
                cf::xcf::display_group_members(&group, &members, now)
            } else {
                cf::xcf::display_group(&group, &members, now)
            }
        }
    })
}

/// Starts the embedded CF, or uses the one the topology names.
async fn start_cf(topology: &Topology, secret: &Secret) -> Result<CfLink, Error> {
    if let Some(address) = topology.cf.address {
        return Ok(CfLink {
            address,
            store: None,
            stop: None,
        });
    }
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let address = listener.local_addr()?;
    let mut config = cf::server::Config::new(secret.clone());
    if let Some(ms) = topology.cf.interval_ms {
        config.interval = Duration::from_millis(ms);
    }
    let store = Arc::new(MemoryStore::new());
    let (stop, stopped) = oneshot::channel::<()>();
    let served: Arc<dyn cf::store::Store> = store.clone();
    let task = tokio::spawn(async move {
        if let Err(error) = cf::server::run(listener, served, config, async {
            let _ = stopped.await;
        })
        .await
        {
            tracing::error!("embedded CF ended: {error}");
        }
    });
    Ok(CfLink {
        address,
        store: Some(store),
        stop: Some((stop, task)),
    })
}

/// Starts IPSec on `stack` for `lpar` (the `index`th of the topology, started `ipl` times
/// before) when its profile has IPSECURITY: its IPSECRULEs and its policy's peers, the seeds
/// made of `topology_seed`, the index and the IPL count.
pub async fn start_ipsec(
    stack: &StackHandle,
    lpar: &Lpar,
    index: usize,
    topology_seed: u64,
    ipl: u64,
) -> Result<Option<IpsecService>, Error> {
    let Some(policy) = &lpar.ipsec else {
        return Ok(None);
    };
    let rules = lpar
        .profile
        .ipsec
        .as_ref()
        .map(|i| i.rules.clone())
        .unwrap_or_default();
    let service = ipsec::start(
        stack,
        rules,
        policy,
        ipsec::seed(topology_seed, SeedUse::LparIke, index, ipl),
        ipsec::seed(topology_seed, SeedUse::LparStage, index, ipl),
    )
    .await?;
    Ok(Some(service))
}

/// Spawns the stack of `lpar` (the `index`th of the topology) on `lan`, on the current runtime.
pub fn spawn_stack(
    lpar: &Lpar,
    index: usize,
    lan: Box<dyn stacks::lan::LanPort>,
) -> Result<StackHandle, Error> {
    Ok(Stack::spawn(stack_config(lpar, index), lan)?.0)
}

/// The configuration of the stack of `lpar` (the `index`th of the topology); a stack that runs
/// IPSec gets [`IPSEC_IP_MTU`].
pub fn stack_config(lpar: &Lpar, index: usize) -> StackConfig {
    let (address, len) = lpar.lan_address;
    let mut config = StackConfig::new(
        &lpar.section.tcpname,
        mac(address),
        vec![Ipv4Cidr::new(address, len)],
    );
    config.seed = u64::try_from(index).unwrap_or(0) + 1;
    if lpar.ipsec.is_some() {
        config.ip_mtu = IPSEC_IP_MTU;
    }
    config.xcf = lpar.profile.ipconfig.dynamic_xcf.map(|x| XcfConfig {
        address: x.address,
        bind: lpar
            .section
            .xcf_bind
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
    });
    config
}

/// A locally administered MAC made of the LAN address: 02:00:a:b:c:d.
fn mac(address: Ipv4Addr) -> EthernetAddress {
    let [a, b, c, d] = address.octets();
    EthernetAddress([0x02, 0x00, a, b, c, d])
}

/// Now, as a CF time of day (microseconds since the epoch).
pub fn tod_now() -> Tod {
    Tod(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)))
}
