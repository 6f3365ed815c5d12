//! The claims end to end, in process, no privileges: a CF on loopback, SYS1 distributing
//! 198.51.100.10 port 7 by ROUNDROBIN to every stack and a target itself, SYS2 its backup
//! distributor and a target, SYS3 a target only; SYS1 and SYS2 run IPSec under DVIPSEC with
//! the same policy, SYS3 none. Two remote hosts (smoltcp stacks with our IKE as initiator)
//! hold checksummed echo streams to the DVIPA through ESP: SYS1 decrypts and forwards, the
//! targets return their replies over dynamic XCF and SYS1 protects them.
//!
//! SYS1 dies mid-stream: SYS2 takes the DVIPA over, reads the hosts' restart entries from
//! EZBDVIPA, renegotiates their tunnels (ActivationMethod Takeover), rebuilds the CRT from the
//! targets, and routes and protects all the DVIPA's traffic: every stream to SYS2 or SYS3 goes
//! on with every byte verified, and no clear text from the DVIPA ever reaches a host. SYS1
//! comes back and takes the DVIPA, its tunnels and its CRT back with the streams running.

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cf::client::Client;
use common::echo_stream::{CHUNK, Outcome, Stream, open_stream, progressed};
use common::{Lpar, TestCf, host_address, secret, start_cf, start_lpar_ipsec, until};
use ike::daemon::{ActivationMethod, Peer};
use stacks::dvipa::model::DvipaStatus;
use stacks::ipsec::IpsecService;
use stacks::lan::switch::EthernetSwitch;
use stacks::profile::{self, Profile};
use stacks::stack::StackHandle;
use stacks::swsa::RestartStore;

const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const ECHO: SocketAddrV4 = SocketAddrV4::new(DVIPA, 7);
const HOSTS: u8 = 2;
const STREAMS: usize = 24;
const PSK: &[u8] = b"zsysplex-swsa-lab";
const DISTRIBUTE: &str =
    "VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 7 DESTIP ALL";
/// The drop counter of traffic a host's policy wants protected but that came in clear.
const CLEAR_DROPPED: &str = "clear traffic that policy protects";

fn xcf(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, 10 + n)
}

/// SYS`n`'s profile: LAN 192.0.2.2n, XCF 203.0.113.1n, `ipsec` adds IPSECURITY and DVIPSEC.
fn profile(n: u8, ipsec: bool, vipadynamic: &str) -> Profile {
    let (ipsecurity, block) = if ipsec {
        (
            "IPSECURITY",
            "IPSEC DVIPSEC\n IPSECRULE * * NOLOG PROTOCOL *\nENDIPSEC\n",
        )
    } else {
        ("", "")
    };
    let text = format!(
        "IPCONFIG {ipsecurity} DYNAMICXCF 203.0.113.1{n} 255.255.255.0 2\n{block}\
         INTERFACE OSAQDIO1 DEFINE IPAQENET PORTNAME OSAPRT1 IPADDR 192.0.2.2{n}/24\n\
         VIPADYNAMIC\n{vipadynamic}\nENDVIPADYNAMIC\n"
    );
    profile::parse("swsa-sd", &text).into_strict().unwrap()
}

/// The distributors' side of the hosts' tunnels.
fn dvipa_peers() -> Option<Vec<Peer>> {
    Some(common::dvipa_peers(DVIPA, HOSTS, PSK))
}

async fn start_sys1(cf: &TestCf, switch: &EthernetSwitch) -> Lpar {
    let vipadynamic =
        format!("VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.255 {DVIPA}\n{DISTRIBUTE}");
    start_lpar_ipsec(
        cf,
        switch,
        "SYS1",
        profile(1, true, &vipadynamic),
        dvipa_peers(),
    )
    .await
}

/// The owners of the DVIPA's entries in EZBDVIPA, by peer.
async fn owners(console: &RestartStore) -> Vec<(Ipv4Addr, String)> {
    let mut owners: Vec<_> = console
        .read(DVIPA)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, s)| (s.remote(), s.owner))
        .collect();
    owners.sort();
    owners
}

fn owned_by(sysname: &str) -> Vec<(Ipv4Addr, String)> {
    (0..HOSTS)
        .map(|n| (host_address(n), sysname.to_owned()))
        .collect()
}

/// Whether `lpar` distributes the DVIPA to all three targets, its CRT rebuilt with `routes`.
async fn distributes(lpar: &Lpar, routes: usize) -> bool {
    let distributor = lpar.dvipa.distributor();
    lpar.status_of(DVIPA).await == Some(DvipaStatus::Active)
        && !distributor.is_rebuilding(DVIPA)
        && distributor.crt().len() == routes
}

/// Waits until `lpar` holds a renegotiated tunnel to every host.
async fn renegotiated(lpar: &mut Lpar) {
    lpar.ipsec
        .as_mut()
        .unwrap()
        .wait_for(|s| {
            s.ike_tunnels
                .iter()
                .filter(|t| t.established && t.activation == ActivationMethod::Takeover)
                .count()
                == usize::from(HOSTS)
        })
        .await;
}

fn marks(streams: &[&Stream]) -> Vec<u64> {
    streams
        .iter()
        .map(|s| s.rounds.load(Ordering::Relaxed))
        .collect()
}

/// The hosts with their tunnels, the console's view of EZBDVIPA, and the streams running.
struct Outside {
    hosts: Vec<(StackHandle, IpsecService)>,
    _link: Client,
    console: RestartStore,
    finish: Arc<AtomicBool>,
    streams: Vec<Stream>,
    /// The target each stream was routed to, by the host's side of the connection.
    routes: BTreeMap<SocketAddrV4, Ipv4Addr>,
}

/// The three LPARs, SYS1 distributing, and the outside.
struct Lab {
    cf: TestCf,
    switch: EthernetSwitch,
    sys1: Option<Lpar>,
    sys2: Lpar,
    _sys3: Lpar,
    outside: Outside,
}

async fn lab() -> Lab {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let sys1 = start_sys1(&cf, &switch).await;
    let backup = format!("VIPABACKUP 200 MOVEABLE IMMEDIATE 255.255.255.255 {DVIPA}\n{DISTRIBUTE}");
    let sys2 = start_lpar_ipsec(
        &cf,
        &switch,
        "SYS2",
        profile(2, true, &backup),
        dvipa_peers(),
    )
    .await;
    let sys3 = start_lpar_ipsec(&cf, &switch, "SYS3", profile(3, false, ""), None).await;
    let mut hosts = Vec::new();
    for n in 0..HOSTS {
        hosts.push(common::ipsec_host(&switch, n, DVIPA, PSK).await);
    }
    let link = Client::connect(cf.addr, &secret(), "CONSOLE", "CONSOLE")
        .await
        .unwrap();
    let console = RestartStore::connect(&link, "CONSOLE", None).await.unwrap();
    let targets = [xcf(1), xcf(2), xcf(3)];
    until("SYS1 distributes to three ready targets", || {
        common::distributes_to(&sys1, DVIPA, 7, &targets)
    })
    .await;
    until("SYS1 stored the hosts' tunnels in EZBDVIPA", || async {
        owners(&console).await == owned_by("SYS1")
    })
    .await;

    // Streams from both hosts through ESP, spread by ROUNDROBIN over the three targets.
    let finish = Arc::new(AtomicBool::new(false));
    let mut streams = Vec::new();
    for id in 0..STREAMS {
        let n = u8::try_from(id % usize::from(HOSTS)).unwrap();
        let (host, _) = &hosts[usize::from(n)];
        streams.push(open_stream(host, host_address(n), ECHO, id, finish.clone()).await);
    }
    let routes: BTreeMap<SocketAddrV4, Ipv4Addr> = sys1
        .dvipa
        .distributor()
        .crt()
        .iter()
        .map(|(conn, route)| (conn.foreign, route.xcf))
        .collect();
    let all: Vec<&Stream> = streams.iter().collect();
    progressed(&all, &[0; STREAMS], 2).await;
    let esp_in = sys1.ipsec.as_ref().unwrap().state().counters.esp_in;
    assert!(esp_in > 0, "the hosts' traffic reaches SYS1 through ESP");
    Lab {
        cf,
        switch,
        sys1: Some(sys1),
        sys2,
        _sys3: sys3,
        outside: Outside {
            hosts,
            _link: link,
            console,
            finish,
            streams,
            routes,
        },
    }
}

impl Outside {
    fn target_of(&self, stream: &Stream) -> Ipv4Addr {
        self.routes
            .get(&stream.local)
            .copied()
            .expect("routed by SYS1")
    }

    /// The streams not routed to the target `lost` (all of them with `None`).
    fn streams_except(&self, lost: Option<Ipv4Addr>) -> Vec<&Stream> {
        self.streams
            .iter()
            .filter(|s| Some(self.target_of(s)) != lost)
            .collect()
    }

    /// Waits until `lpar` of `sysname` renegotiated every tunnel, distributes with a route
    /// for each of `streams`, owns every entry of EZBDVIPA, and the streams made progress
    /// through its ESP.
    async fn taken_over_by(&self, lpar: &mut Lpar, sysname: &str, lost: Option<Ipv4Addr>) {
        let streams = self.streams_except(lost);
        renegotiated(lpar).await;
        until(&format!("{sysname} distributes with every route"), || {
            distributes(lpar, streams.len())
        })
        .await;
        until(
            &format!("{sysname}'s entries replace the others"),
            || async { owners(&self.console).await == owned_by(sysname) },
        )
        .await;
        // Progress from here on goes through the new owner's ESP (a takeback can be done
        // before any packet of the streams needed it).
        let mark = marks(&streams);
        progressed(&streams, &mark, 3).await;
        assert!(lpar.ipsec.as_ref().unwrap().state().counters.esp_out > 0);
    }

    /// Ends the streams: those not routed to `lost` completed, the others ended early; no
    /// host ever got clear text from the DVIPA.
    async fn finish(self, lost: Option<Ipv4Addr>) {
        self.finish.store(true, Ordering::Relaxed);
        let survivors = self.streams_except(lost).len();
        let mut completed = 0;
        for stream in self.streams {
            let target = self
                .routes
                .get(&stream.local)
                .copied()
                .expect("routed by SYS1");
            match (Some(target) == lost, stream.task.await.unwrap()) {
                (false, Outcome::Completed { bytes }) => {
                    assert!(bytes >= 8 * CHUNK as u64);
                    completed += 1;
                }
                (true, Outcome::Ended { bytes, .. }) => assert!(bytes > 0),
                (_, outcome) => panic!("stream to {target} ended as {outcome:?}"),
            }
        }
        assert_eq!(completed, survivors);
        for (n, (_, ipsec)) in self.hosts.iter().enumerate() {
            let drops = ipsec.state().counters.drops.get(CLEAR_DROPPED).copied();
            assert_eq!(drops, None, "host {n} never got clear text from the DVIPA");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_streams_to_surviving_targets_live_through_takeover_and_takeback() {
    let mut lab = lab().await;
    let lost = Some(xcf(1));
    let survivors = lab.outside.streams_except(lost).len();
    assert_eq!(survivors, STREAMS * 2 / 3, "ROUNDROBIN over three targets");

    // SYS1 dies mid-stream: SYS2 renegotiates the tunnels from EZBDVIPA and rebuilds the CRT.
    lab.sys1.take().expect("SYS1 runs").kill().await;
    lab.outside.taken_over_by(&mut lab.sys2, "SYS2", lost).await;

    // SYS1 comes back and takes the DVIPA, the tunnels and the CRT back, the streams running.
    let mut sys1 = start_sys1(&lab.cf, &lab.switch).await;
    lab.outside.taken_over_by(&mut sys1, "SYS1", lost).await;
    lab.outside.finish(lost).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_transfer_keeps_every_secure_stream_even_those_the_first_stack_serves() {
    let mut lab = lab().await;
    let sys1 = lab.sys1.as_mut().expect("SYS1 runs");

    // DEACTIVATE hands the DVIPA to SYS2: SYS1's own connections become distributed ones
    // routed through SYS2, which restarts the tunnels from EZBDVIPA.
    let lines = sys1
        .dvipa
        .vary("V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.10")
        .await
        .unwrap();
    assert!(lines.iter().any(|l| l.starts_with("EZD1197I")), "{lines:?}");
    lab.outside.taken_over_by(&mut lab.sys2, "SYS2", None).await;
    let sys1_ipsec = sys1.ipsec.as_ref().unwrap();
    until("SYS1's IKE deleted its tunnels on the DVIPA", || async {
        sys1_ipsec.daemon_state().ike_tunnels.is_empty()
    })
    .await;

    // REACTIVATE: SYS1 takes everything back the same way.
    sys1.dvipa
        .vary("V TCPIP,TCPCS,SYSPLEX,REACTIVATE,DVIPA=198.51.100.10")
        .await
        .unwrap();
    lab.outside.taken_over_by(sys1, "SYS1", None).await;
    lab.outside.finish(None).await;
}
