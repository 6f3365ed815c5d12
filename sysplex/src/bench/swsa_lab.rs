//! The embedded lab of `sysplex bench swsa`, no root: a CF on loopback (in-memory store), SYS1
//! owning the DVIPAs 198.51.100.10 and up under `IPSEC DVIPSEC`, SYS2 their `VIPABACKUP`, both
//! with an IPSec peer for every tunnel, and the remote peers: smoltcp stacks on the in-memory
//! LAN, each holding up to [`PEERS_PER_STACK`] peer addresses of 198.51.100.20–254 (as /32
//! beside its LAN address) and running one IKE daemon that starts a tunnel from each of them to
//! each DVIPA it is planned for. Every stack routes through [`gateway`], so none needs more
//! than a few neighbours.
//!
//! Why several remote stacks and several DVIPAs: a smoltcp interface holds at most 8 addresses
//! (`iface-max-addr-count-8`) and 64 neighbours, and 198.51.100.0/24 has 235 free peer
//! addresses; a plan for more tunnels than addresses gives each address a tunnel to each of
//! several DVIPAs (see [`Plan`]).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use cf::auth::Secret;
use cf::client::Client;
use cf::store::MemoryStore;
use ike::daemon::{IkeDaemon, Peer, ProposalFamily};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::echo::EchoServer;
use stacks::dvipa::model::DvipaStatus;
use stacks::dvipa::service::{self, DvipaHandle, DvipaServiceConfig};
use stacks::ipsec::IpsecService;
use stacks::lan::switch::EthernetSwitch;
use stacks::profile::{self, IpSecRule, Profile};
use stacks::stack::{Stack, StackConfig, StackHandle, XcfConfig};
use stacks::swsa::RestartStore;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::gateway;
use crate::Error;

/// The gateway every stack of the lab routes through.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The last octet of the first DVIPA.
const FIRST_DVIPA: u8 = 10;
/// DVIPAs at most: with the LAN address they fill the owner's 8 interface addresses.
pub const MAX_DVIPAS: usize = 7;
/// The last octet of the first peer address.
const FIRST_PEER: u8 = 20;
/// Peer addresses 198.51.100.20–254.
pub const PEER_ADDRESSES: usize = 235;
/// Peer addresses per remote stack (with its LAN address, the interface's 8).
pub const PEERS_PER_STACK: usize = 7;
/// The IKE pre-shared key of every tunnel.
const PSK: &[u8] = b"zsysplex-swsa-bench";
/// The sysplex secret.
const SECRET: &[u8] = b"swsa-bench-sysplex-secret";
/// The echo port of the LPARs.
pub const ECHO_PORT: u16 = 7;

/// Which tunnels the lab sets up: `peers` tunnels over `addresses` peer addresses and `dvipas`
/// DVIPAs; tunnel `i` runs from peer address `i mod addresses` to DVIPA `i div addresses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Tunnels (one IKE peer each).
    pub peers: usize,
    /// DVIPAs owned by SYS1.
    pub dvipas: usize,
    /// Peer addresses in use.
    pub addresses: usize,
}

impl Plan {
    /// The fewest DVIPAs that hold `peers` tunnels, the addresses spread evenly over them.
    ///
    /// # Errors
    /// [`Error::Lab`] for no peer or more than the lab's addresses and DVIPAs hold.
    pub fn for_peers(peers: usize) -> Result<Self, Error> {
        let most = PEER_ADDRESSES * MAX_DVIPAS;
        if peers == 0 || peers > most {
            return Err(Error::Lab(format!(
                "the SWSA lab holds 1 to {most} peers, not {peers}"
            )));
        }
        let dvipas = peers.div_ceil(PEER_ADDRESSES);
        Ok(Self {
            peers,
            dvipas,
            addresses: peers.div_ceil(dvipas),
        })
    }

    /// DVIPA `j` (198.51.100.10 + j).
    pub fn dvipa(j: usize) -> Ipv4Addr {
        Ipv4Addr::new(198, 51, 100, octet(FIRST_DVIPA, j))
    }

    /// Peer address `k` (198.51.100.20 + k).
    pub fn peer_address(k: usize) -> Ipv4Addr {
        Ipv4Addr::new(198, 51, 100, octet(FIRST_PEER, k))
    }

    /// The DVIPAs.
    pub fn dvipa_list(&self) -> Vec<Ipv4Addr> {
        (0..self.dvipas).map(Self::dvipa).collect()
    }

    /// Every tunnel: (DVIPA, peer address).
    pub fn tunnels(&self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        (0..self.peers)
            .map(|i| {
                (
                    Self::dvipa(i / self.addresses),
                    Self::peer_address(i % self.addresses),
                )
            })
            .collect()
    }

    /// Remote stacks needed.
    pub fn remote_stacks(&self) -> usize {
        self.addresses.div_ceil(PEERS_PER_STACK)
    }

    /// The peer addresses held by remote stack `s`.
    fn addresses_of(&self, s: usize) -> Vec<Ipv4Addr> {
        let first = s * PEERS_PER_STACK;
        (first..self.addresses.min(first + PEERS_PER_STACK))
            .map(Self::peer_address)
            .collect()
    }
}

/// `base + offset` as an address octet (the plan's bounds keep it within 255).
fn octet(base: u8, offset: usize) -> u8 {
    u8::try_from(usize::from(base) + offset).unwrap_or(u8::MAX)
}

/// One LPAR: its stack, echo server, IPSec and DVIPA service.
pub struct Lpar {
    /// The stack.
    pub stack: StackHandle,
    /// The DVIPA service (with its SWSA timeline).
    pub dvipa: DvipaHandle,
    /// IPSec.
    pub ipsec: IpsecService,
    _echo: EchoServer,
}

impl Lpar {
    /// SIGKILL-equivalent: the DVIPA service and CF link end and the stack stops at once.
    pub async fn kill(self) {
        self.dvipa.abort();
        self.stack.shutdown().await;
    }

    /// Whether this stack has `dvipa` Active.
    async fn has_active(&self, dvipa: Ipv4Addr) -> bool {
        self.dvipa.snapshot().await.is_ok_and(|m| {
            m.local()
                .iter()
                .any(|l| l.addr == dvipa && l.status == DvipaStatus::Active)
        })
    }

    /// Whether this stack knows `sysname` as the owner of `dvipa`.
    async fn knows_owner(&self, dvipa: Ipv4Addr, sysname: &str) -> bool {
        self.dvipa
            .snapshot()
            .await
            .is_ok_and(|m| m.owner_of(dvipa).is_some_and(|id| id.sysname == sysname))
    }
}

/// One remote stack and its IKE daemon.
pub struct Remote {
    /// The stack.
    pub stack: StackHandle,
    /// Its IPSec (its tasks end when it is dropped).
    _ipsec: IpsecService,
}

/// The running lab, SYS1 owning every DVIPA with all tunnels up and in EZBDVIPA.
pub struct SwsaLab {
    /// The plan it runs.
    pub plan: Plan,
    /// SYS1, the owner, until killed.
    pub sys1: Option<Lpar>,
    /// SYS2, the backup.
    pub sys2: Lpar,
    /// The remote stacks (the first holds the probe's address).
    pub remotes: Vec<Remote>,
    console: RestartStore,
    _console_link: Client,
    _gateway: AbortOnDrop,
    _cf: CfServer,
    _switch: EthernetSwitch,
}

/// How long the lab may take to come up.
const SETUP_PATIENCE: Duration = Duration::from_secs(120);

impl SwsaLab {
    /// Starts the lab for `plan` and waits until every tunnel is up and in EZBDVIPA.
    ///
    /// # Errors
    /// [`Error::Lab`] when it does not come up in time, or what a part reports.
    pub async fn start(plan: Plan) -> Result<Self, Error> {
        let secret = Secret::new(SECRET).map_err(|e| Error::Lab(e.to_string()))?;
        let cf = CfServer::start(secret.clone()).await?;
        let switch = EthernetSwitch::new();
        let gateway = AbortOnDrop(gateway::spawn(&switch, GATEWAY));
        let dvipas = plan.dvipa_list();
        let tunnels = plan.tunnels();
        let lpar_peers: Vec<Peer> = tunnels
            .iter()
            .map(|(dvipa, peer)| Peer::host_to_host(*dvipa, *peer, PSK, FAMILY))
            .collect();
        let owner = vipadynamic(&dvipas, "VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.0");
        let sys1 = start_lpar(&cf, &secret, &switch, 1, &owner, lpar_peers.clone()).await?;
        let backup = vipadynamic(&dvipas, "VIPABACKUP 100");
        let sys2 = start_lpar(&cf, &secret, &switch, 2, &backup, lpar_peers).await?;
        let deadline = Instant::now() + SETUP_PATIENCE;
        for dvipa in &dvipas {
            wait_until(deadline, &format!("SYS1 activates {dvipa}"), || {
                sys1.has_active(*dvipa)
            })
            .await?;
            wait_until(deadline, &format!("SYS2 backs up {dvipa}"), || {
                sys2.knows_owner(*dvipa, "SYS1")
            })
            .await?;
        }
        let mut remotes = Vec::new();
        for s in 0..plan.remote_stacks() {
            remotes.push(start_remote(&switch, &plan, s, &tunnels).await?);
        }
        let console_link = Client::connect(cf.addr, &secret, "CONSOLE", "CONSOLE").await?;
        let console = RestartStore::connect(&console_link, "CONSOLE", None).await?;
        let lab = Self {
            plan,
            sys1: Some(sys1),
            sys2,
            remotes,
            console,
            _console_link: console_link,
            _gateway: gateway,
            _cf: cf,
            _switch: switch,
        };
        lab.wait_for_tunnels(deadline).await?;
        Ok(lab)
    }

    /// Waits until SYS1 holds every tunnel and EZBDVIPA an entry for each.
    async fn wait_for_tunnels(&self, deadline: Instant) -> Result<(), Error> {
        let sys1 = self
            .sys1
            .as_ref()
            .ok_or_else(|| Error::Lab("SYS1 is not running".into()))?;
        let peers = self.plan.peers;
        wait_until(deadline, &format!("SYS1 holds {peers} tunnels"), || async {
            established(&sys1.ipsec) >= peers
        })
        .await
        .map_err(|e| Error::Lab(format!("{e} (it holds {})", established(&sys1.ipsec))))?;
        wait_until(deadline, &format!("EZBDVIPA holds {peers} entries"), || {
            self.entries_owned_by("SYS1")
        })
        .await
    }

    /// Whether every entry of EZBDVIPA, one per tunnel, is `owner`'s.
    async fn entries_owned_by(&self, owner: &str) -> bool {
        let mut count = 0;
        for dvipa in self.plan.dvipa_list() {
            match self.console.read(dvipa).await {
                Ok(entries) if entries.iter().all(|(_, s)| s.owner == owner) => {
                    count += entries.len();
                }
                _ => return false,
            }
        }
        count == self.plan.peers
    }

    /// The probe's route: the stack and address of the first tunnel's peer (on the first
    /// remote stack) and the echo port of its DVIPA.
    pub fn probe_route(&self) -> Result<(StackHandle, Ipv4Addr, SocketAddrV4), Error> {
        let stack = self
            .remotes
            .first()
            .map(|r| r.stack.clone())
            .ok_or_else(|| Error::Lab("the lab has no remote stack".into()))?;
        Ok((
            stack,
            Plan::peer_address(0),
            SocketAddrV4::new(Plan::dvipa(0), ECHO_PORT),
        ))
    }

    /// Stops every stack; the CF and the gateway stop when the lab is dropped.
    pub async fn shutdown(mut self) {
        if let Some(sys1) = self.sys1.take() {
            sys1.kill().await;
        }
        for remote in &self.remotes {
            remote.stack.shutdown().await;
        }
        self.sys2.dvipa.abort();
        self.sys2.stack.shutdown().await;
    }
}

/// The IKE tunnels of `ipsec` that are up with a CHILD SA.
pub fn established(ipsec: &IpsecService) -> usize {
    ipsec
        .daemon_state()
        .ike_tunnels
        .iter()
        .filter(|t| t.established && !t.dynamic_tunnels.is_empty())
        .count()
}

/// The proposals of every tunnel (strongSwan's default).
const FAMILY: ProposalFamily = ProposalFamily::AesGcm16X25519;

/// One statement per DVIPA.
fn vipadynamic(dvipas: &[Ipv4Addr], statement: &str) -> String {
    dvipas
        .iter()
        .map(|d| format!("{statement} {d}\n"))
        .collect()
}

/// The profile of LPAR `n` (LAN 192.0.2.2n, XCF 203.0.113.1n) with `IPSEC DVIPSEC`.
fn lpar_profile(n: u8, vipadynamic: &str) -> Result<Profile, Error> {
    let text = format!(
        "IPCONFIG IPSECURITY DYNAMICXCF 203.0.113.1{n} 255.255.255.0 2\n\
         INTERFACE OSAQDIO1 DEFINE IPAQENET PORTNAME OSAPRT1 IPADDR 192.0.2.2{n}/24\n\
         IPSEC DVIPSEC\n IPSECRULE * * NOLOG PROTOCOL *\nENDIPSEC\n\
         VIPADYNAMIC\n{vipadynamic}ENDVIPADYNAMIC\n"
    );
    profile::parse("SWSABNCH", &text)
        .into_strict()
        .map_err(|m| Error::Lab(format!("bench profile: {m}")))
}

async fn start_lpar(
    cf: &CfServer,
    secret: &Secret,
    switch: &EthernetSwitch,
    n: u8,
    vipadynamic: &str,
    peers: Vec<Peer>,
) -> Result<Lpar, Error> {
    let profile = lpar_profile(n, vipadynamic)?;
    let sysname = format!("SYS{n}");
    let last = 20 + n;
    let lan = Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, last), 24);
    let mac = EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, last]);
    let mut config = StackConfig::new("TCPCS", mac, vec![lan]);
    config.seed = u64::from(last);
    config.gateway = Some(GATEWAY);
    config.xcf = profile.ipconfig.dynamic_xcf.map(|x| XcfConfig {
        address: x.address,
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    });
    let (stack, _task) = Stack::spawn(config, Box::new(switch.port()))?;
    let echo =
        EchoServer::start(&stack, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, ECHO_PORT)).await?;
    let client = Client::connect(cf.addr, secret, &sysname, "TCPCS").await?;
    let rules = profile
        .ipsec
        .as_ref()
        .map(|i| i.rules.clone())
        .unwrap_or_default();
    let daemon = IkeDaemon::new(peers, ChaCha20Rng::seed_from_u64(u64::from(last)));
    let ipsec = IpsecService::start(&stack, rules, daemon, u64::from(last)).await?;
    let mut service_config = DvipaServiceConfig::new(&sysname, profile);
    service_config.swsa = Some(ipsec.swsa_link());
    let dvipa = service::start(client, stack.clone(), service_config).await?;
    Ok(Lpar {
        stack,
        dvipa,
        ipsec,
        _echo: echo,
    })
}

/// Remote stack `s`: LAN address 192.0.2.(100+s), its peer addresses as /32, and an IKE
/// daemon that starts every tunnel of those addresses at once.
async fn start_remote(
    switch: &EthernetSwitch,
    plan: &Plan,
    s: usize,
    tunnels: &[(Ipv4Addr, Ipv4Addr)],
) -> Result<Remote, Error> {
    let index = u8::try_from(s).map_err(|_| Error::Lab(format!("no room for stack {s}")))?;
    let last = index
        .checked_add(100)
        .ok_or_else(|| Error::Lab(format!("no LAN address for stack {s}")))?;
    let addresses = plan.addresses_of(s);
    let mut home = vec![Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, last), 24)];
    home.extend(addresses.iter().map(|a| Ipv4Cidr::new(*a, 32)));
    let mac = EthernetAddress([0x02, 0x00, 0x5e, 0x01, 0x00, last]);
    let mut config = StackConfig::new("PEER", mac, home);
    config.gateway = Some(GATEWAY);
    config.seed = remote_seed(last);
    let (stack, _task) = Stack::spawn(config, Box::new(switch.port()))?;
    let peers: Vec<Peer> = tunnels
        .iter()
        .filter(|(_, peer)| addresses.contains(peer))
        .map(|(dvipa, peer)| {
            let mut p = Peer::host_to_host(*peer, *dvipa, PSK, FAMILY);
            p.autoactivate = true;
            p
        })
        .collect();
    let daemon = IkeDaemon::new(peers, ChaCha20Rng::seed_from_u64(remote_seed(last)));
    let ipsec = IpsecService::start(
        &stack,
        vec![IpSecRule::permit_all()],
        daemon,
        remote_seed(last),
    )
    .await?;
    Ok(Remote {
        stack,
        _ipsec: ipsec,
    })
}

/// The seed of remote stack 192.0.2.`last` (stack, IKE daemon, security stage).
fn remote_seed(last: u8) -> u64 {
    1000 + u64::from(last)
}

/// Polls `check` every 10 ms until it holds or `deadline` passes.
async fn wait_until<F, Fut>(deadline: Instant, what: &str, mut check: F) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while !check().await {
        if Instant::now() >= deadline {
            return Err(Error::Lab(format!("gave up waiting until {what}")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// A task aborted when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The CF on a loopback port, in memory; stopped when dropped.
struct CfServer {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl CfServer {
    async fn start(secret: Secret) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let config = cf::server::Config::new(secret);
        let (stop, stopped) = oneshot::channel::<()>();
        let store: Arc<dyn cf::store::Store> = Arc::new(MemoryStore::new());
        tokio::spawn(async move {
            if let Err(error) = cf::server::run(listener, store, config, async {
                let _ = stopped.await;
            })
            .await
            {
                tracing::error!("bench CF ended: {error}");
            }
        });
        Ok(Self { addr, _stop: stop })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_uses_one_dvipa_while_the_addresses_last_then_spreads_evenly() {
        let small = Plan::for_peers(100).unwrap();
        assert_eq!((small.dvipas, small.addresses), (1, 100));
        assert_eq!(small.remote_stacks(), 15);
        let large = Plan::for_peers(1000).unwrap();
        assert_eq!((large.dvipas, large.addresses), (5, 200));
        let tunnels = large.tunnels();
        assert_eq!(tunnels.len(), 1000);
        let mut distinct = tunnels.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 1000);
        assert_eq!(tunnels[0], (Plan::dvipa(0), Plan::peer_address(0)));
        assert_eq!(tunnels[999], (Plan::dvipa(4), Plan::peer_address(199)));
        assert_eq!(
            Plan::peer_address(PEER_ADDRESSES - 1),
            Ipv4Addr::new(198, 51, 100, 254)
        );
    }

    #[test]
    fn a_plan_beyond_the_lab_is_refused() {
        assert!(Plan::for_peers(0).is_err());
        assert!(Plan::for_peers(PEER_ADDRESSES * MAX_DVIPAS).is_ok());
        assert!(Plan::for_peers(PEER_ADDRESSES * MAX_DVIPAS + 1).is_err());
    }

    #[test]
    fn every_peer_address_sits_on_exactly_one_remote_stack() {
        let plan = Plan::for_peers(1000).unwrap();
        let held: Vec<Ipv4Addr> = (0..plan.remote_stacks())
            .flat_map(|s| plan.addresses_of(s))
            .collect();
        assert_eq!(held, (0..200).map(Plan::peer_address).collect::<Vec<_>>());
        assert!((0..plan.remote_stacks()).all(|s| plan.addresses_of(s).len() <= PEERS_PER_STACK));
    }
}
