//! The in-process sysplex lab shared by the end-to-end tests: a CF served on loopback, LPARs
//! (a stack, an echo server on port 7 and the DVIPA service) on an in-memory switch, and remote
//! hosts made of a smoltcp stack.

pub mod echo_stream;

use std::future::Future;
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
use stacks::dvipa::model::{ActTime, DvipaStatus};
use stacks::dvipa::service::{self, DvipaHandle, DvipaServiceConfig};
use stacks::ipsec::{IpsecOptions, IpsecService};
use stacks::lan::switch::EthernetSwitch;
use stacks::profile::IpSecRule;
use stacks::profile::{self, Profile};
use stacks::stack::{Stack, StackConfig, StackHandle, XcfConfig};
use tokio::sync::oneshot;

/// The longest any one wait lasts.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// The time every display is stamped with: 2026-11-22 07:55:24 UTC.
/// The LAN address of the first remote host.
pub const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
pub const DISPLAY_TIME: ActTime = ActTime(1_795_334_124);

pub fn secret() -> Secret {
    Secret::new(*b"test-sysplex-secret-0001").unwrap()
}

/// A CF on a loopback port, stopped when dropped.
#[derive(Debug)]
pub struct TestCf {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl From<&TestCf> for SocketAddr {
    fn from(cf: &TestCf) -> Self {
        cf.addr
    }
}

pub async fn start_cf() -> TestCf {
    start_cf_with(Duration::from_secs(60)).await
}

/// A CF whose failure detection interval is `interval`.
pub async fn start_cf_with(interval: Duration) -> TestCf {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = cf::server::Config::new(secret());
    config.interval = interval;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(cf::server::run(
        listener,
        Arc::new(MemoryStore::new()),
        config,
        async {
            let _ = stopped.await;
        },
    ));
    TestCf { addr, _stop: stop }
}

pub fn fixture(name: &str) -> Profile {
    let path = format!("{}/../fixtures/profiles/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    profile::parse(name, &text).into_strict().unwrap()
}

/// One emulated LPAR: its stack, its echo server, its DVIPA service and perhaps IPSec.
pub struct Lpar {
    pub stack: StackHandle,
    pub dvipa: DvipaHandle,
    pub ipsec: Option<IpsecService>,
    _echo: EchoServer,
}

pub async fn start_lpar(cf: &TestCf, switch: &EthernetSwitch, sysname: &str, file: &str) -> Lpar {
    start_lpar_with(cf, switch, sysname, fixture(file)).await
}

/// A small inline profile: LAN address 192.0.2.2n, XCF address 203.0.113.1n, and the given
/// VIPADYNAMIC statements.
pub fn inline_profile(n: u8, vipadynamic: &str) -> Profile {
    let text = format!(
        "IPCONFIG DYNAMICXCF 203.0.113.1{n} 255.255.255.0 2\n\
         INTERFACE OSAQDIO1 DEFINE IPAQENET PORTNAME OSAPRT1 IPADDR 192.0.2.2{n}/24\n\
         VIPADYNAMIC\n{vipadynamic}\nENDVIPADYNAMIC\n"
    );
    profile::parse("inline", &text).into_strict().unwrap()
}

pub async fn start_lpar_with(
    cf: &TestCf,
    switch: &EthernetSwitch,
    sysname: &str,
    profile: Profile,
) -> Lpar {
    start_lpar_ipsec(cf, switch, sysname, profile, None).await
}

/// [`start_lpar_with`], with IPSec for `peers` (the profile's IPSECRULEs, a daemon seeded by
/// the LAN address) linked to the DVIPA service for sysplex-wide security associations.
pub async fn start_lpar_ipsec(
    cf: impl Into<SocketAddr>,
    switch: &EthernetSwitch,
    sysname: &str,
    profile: Profile,
    peers: Option<Vec<Peer>>,
) -> Lpar {
    let (addr, len) = match profile.interfaces[0].address {
        Some((std::net::IpAddr::V4(addr), len)) => (addr, len),
        other => panic!("no IPv4 interface address: {other:?}"),
    };
    let last = addr.octets()[3];
    let mac = EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, last]);
    let mut config = StackConfig::new("TCPCS", mac, vec![Ipv4Cidr::new(addr, len)]);
    config.seed = u64::from(last);
    config.xcf = profile.ipconfig.dynamic_xcf.map(|x| XcfConfig {
        address: x.address,
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    });
    let (stack, _task) = Stack::spawn(config, Box::new(switch.port())).unwrap();
    let echo = EchoServer::start(&stack, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7))
        .await
        .unwrap();
    let client = Client::connect(cf.into(), &secret(), sysname, "TCPCS")
        .await
        .unwrap();
    let ipsec = match peers {
        Some(peers) => {
            let rules = profile
                .ipsec
                .as_ref()
                .map(|i| i.rules.clone())
                .unwrap_or_default();
            let daemon = IkeDaemon::new(peers, ChaCha20Rng::seed_from_u64(u64::from(last)));
            let service = IpsecService::start(&stack, rules, daemon, u64::from(last))
                .await
                .unwrap();
            Some(service)
        }
        None => None,
    };
    let mut service_config = DvipaServiceConfig::new(sysname, profile);
    service_config.clock = Arc::new(|| DISPLAY_TIME);
    service_config.check_every = Duration::from_millis(50);
    service_config.swsa = ipsec.as_ref().map(IpsecService::swsa_link);
    let dvipa = service::start(client, stack.clone(), service_config)
        .await
        .unwrap();
    Lpar {
        stack,
        dvipa,
        ipsec,
        _echo: echo,
    }
}

impl Lpar {
    /// Kills the LPAR's stack: the stack stops and its CF link drops.
    pub async fn kill(self) {
        self.dvipa.abort();
        self.stack.shutdown().await;
    }

    /// This stack's status for `dvipa`.
    pub async fn status_of(&self, dvipa: Ipv4Addr) -> Option<DvipaStatus> {
        let manager = self.dvipa.snapshot().await.unwrap();
        manager
            .local()
            .iter()
            .find(|l| l.addr == dvipa)
            .map(|l| l.status)
    }

    /// The system that owns `dvipa`, as this stack knows it.
    pub async fn owner_of(&self, dvipa: Ipv4Addr) -> Option<String> {
        let manager = self.dvipa.snapshot().await.unwrap();
        manager.owner_of(dvipa).map(|id| id.sysname)
    }
}

/// The remote host at [`HOST`].
pub fn host(switch: &EthernetSwitch) -> StackHandle {
    remote_host(switch, 0)
}

/// Remote host number `n`: LAN address 192.0.2.(50+n).
pub fn remote_host(switch: &EthernetSwitch, n: u8) -> StackHandle {
    let lan = Ipv4Addr::new(192, 0, 2, 50 + n);
    let mut config = StackConfig::new(
        "HOST",
        EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, 50 + n]),
        // The DVIPA subnet is on-link for the host (as for a router on the LAN), so it follows
        // the owners' gratuitous ARPs for the DVIPA; it connects from its LAN address, which
        // the stacks reach directly.
        vec![
            Ipv4Cidr::new(lan, 24),
            Ipv4Cidr::new(Ipv4Addr::new(198, 51, 100, 250 - n), 24),
        ],
    );
    config.seed = u64::from(50 + n);
    Stack::spawn(config, Box::new(switch.port())).unwrap().0
}

/// Waits until `check` holds; panics after the patience bound.
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(PATIENCE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting until {what}");
}

/// A TCP relay on a loopback port in front of the CF that can stop carrying bytes for a
/// while, as a CF that does not answer for a moment.
pub struct PausableLink {
    pub addr: SocketAddr,
    paused: tokio::sync::watch::Sender<bool>,
}

impl PausableLink {
    pub async fn start(cf: &TestCf) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (paused, watch) = tokio::sync::watch::channel(false);
        let target = cf.addr;
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (a_read, a_write) = inbound.into_split();
                let (b_read, b_write) = outbound.into_split();
                tokio::spawn(relay(a_read, b_write, watch.clone()));
                tokio::spawn(relay(b_read, a_write, watch.clone()));
            }
        });
        Self { addr, paused }
    }

    /// Stops or resumes carrying bytes.
    pub fn pause(&self, paused: bool) {
        let _ = self.paused.send(paused);
    }
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut paused: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 || paused.wait_for(|p| !p).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// The LAN address of remote host `n` (as [`remote_host`] gives it).
pub fn host_address(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 50 + n)
}

/// Remote host `n` running our IKE as initiator of a host-to-host tunnel to `dvipa` with the
/// shared key `psk` (AES-GCM, x25519), with `options` (its seed is overridden by the host's).
pub async fn ipsec_host_with(
    switch: &EthernetSwitch,
    n: u8,
    dvipa: Ipv4Addr,
    psk: &[u8],
    mut options: IpsecOptions,
) -> (StackHandle, IpsecService) {
    let host = remote_host(switch, n);
    let mut peer = Peer::host_to_host(host_address(n), dvipa, psk, ProposalFamily::AesGcm16X25519);
    peer.autoactivate = true;
    let seed = 50 + u64::from(n);
    let daemon = IkeDaemon::new(vec![peer], ChaCha20Rng::seed_from_u64(seed));
    options.seed = seed;
    let ipsec = IpsecService::start_with(&host, vec![IpSecRule::permit_all()], daemon, options)
        .await
        .unwrap();
    (host, ipsec)
}

/// [`ipsec_host_with`] with the default options.
pub async fn ipsec_host(
    switch: &EthernetSwitch,
    n: u8,
    dvipa: Ipv4Addr,
    psk: &[u8],
) -> (StackHandle, IpsecService) {
    ipsec_host_with(switch, n, dvipa, psk, IpsecOptions::default()).await
}

/// The distributing stack's side of the tunnels to hosts 0 to `hosts - 1`.
pub fn dvipa_peers(dvipa: Ipv4Addr, hosts: u8, psk: &[u8]) -> Vec<Peer> {
    (0..hosts)
        .map(|n| Peer::host_to_host(dvipa, host_address(n), psk, ProposalFamily::AesGcm16X25519))
        .collect()
}

/// Whether `lpar` owns `dvipa` and distributes `port` to every stack of `targets` (by XCF
/// address), each with a ready listener.
pub async fn distributes_to(lpar: &Lpar, dvipa: Ipv4Addr, port: u16, targets: &[Ipv4Addr]) -> bool {
    lpar.status_of(dvipa).await == Some(DvipaStatus::Active)
        && targets.iter().all(|xcf| {
            lpar.dvipa
                .distributor()
                .candidates(dvipa, port)
                .iter()
                .any(|c| c.xcf == *xcf && c.available)
        })
}
