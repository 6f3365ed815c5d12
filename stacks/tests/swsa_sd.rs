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
use common::{Lpar, TestCf, remote_host, secret, start_cf, start_lpar_ipsec, until};
use ike::daemon::{ActivationMethod, IkeDaemon, Peer, ProposalFamily};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
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

fn host_address(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 50 + n)
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
    Some(
        (0..HOSTS)
            .map(|n| {
                Peer::host_to_host(DVIPA, host_address(n), PSK, ProposalFamily::AesGcm16X25519)
            })
            .collect(),
    )
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

/// Remote host `n` with its tunnel to the DVIPA.
async fn start_host(switch: &EthernetSwitch, n: u8) -> (StackHandle, IpsecService) {
    let host = remote_host(switch, n);
    let mut peer = Peer::host_to_host(host_address(n), DVIPA, PSK, ProposalFamily::AesGcm16X25519);
    peer.autoactivate = true;
    let seed = 50 + u64::from(n);
    let daemon = IkeDaemon::new(vec![peer], ChaCha20Rng::seed_from_u64(seed));
    let ipsec = IpsecService::start(&host, common::permit_all(), daemon, seed)
        .await
        .unwrap();
    (host, ipsec)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_streams_to_surviving_targets_live_through_takeover_and_takeback() {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let sys1 = start_sys1(&cf, &switch).await;
    let backup = format!("VIPABACKUP 200 MOVEABLE IMMEDIATE 255.255.255.255 {DVIPA}\n{DISTRIBUTE}");
    let mut sys2 = start_lpar_ipsec(
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
        hosts.push(start_host(&switch, n).await);
    }
    let link = Client::connect(cf.addr, &secret(), "CONSOLE", "CONSOLE")
        .await
        .unwrap();
    let console = RestartStore::connect(&link, "CONSOLE", None).await.unwrap();
    until("SYS1 distributes to three ready targets", || async {
        sys1.status_of(DVIPA).await == Some(DvipaStatus::Active)
            && (1..=3).all(|n| {
                sys1.dvipa
                    .distributor()
                    .candidates(DVIPA, 7)
                    .iter()
                    .any(|c| c.xcf == xcf(n) && c.available)
            })
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
    let target_of = |s: &Stream| routes.get(&s.local).copied().expect("routed by SYS1");
    let survivors: Vec<&Stream> = streams.iter().filter(|s| target_of(s) != xcf(1)).collect();
    assert_eq!(
        survivors.len(),
        STREAMS * 2 / 3,
        "ROUNDROBIN over three targets"
    );
    let all: Vec<&Stream> = streams.iter().collect();
    progressed(&all, &[0; STREAMS], 2).await;
    let esp_in = sys1.ipsec.as_ref().unwrap().state().counters.esp_in;
    assert!(esp_in > 0, "the hosts' traffic reaches SYS1 through ESP");

    // SYS1 dies mid-stream: SYS2 renegotiates the tunnels from EZBDVIPA and rebuilds the CRT.
    let mark = marks(&survivors);
    sys1.kill().await;
    renegotiated(&mut sys2).await;
    until("SYS2 distributes with the surviving routes", || {
        distributes(&sys2, survivors.len())
    })
    .await;
    until("SYS2's entries replace SYS1's", || async {
        owners(&console).await == owned_by("SYS2")
    })
    .await;
    progressed(&survivors, &mark, 3).await;
    assert!(sys2.ipsec.as_ref().unwrap().state().counters.esp_out > 0);

    // SYS1 comes back and takes the DVIPA, the tunnels and the CRT back, the streams running.
    let mark = marks(&survivors);
    let mut sys1 = start_sys1(&cf, &switch).await;
    renegotiated(&mut sys1).await;
    until("SYS1 distributes again with the surviving routes", || {
        distributes(&sys1, survivors.len())
    })
    .await;
    until("SYS1's entries replace SYS2's", || async {
        owners(&console).await == owned_by("SYS1")
    })
    .await;
    progressed(&survivors, &mark, 3).await;

    finish.store(true, Ordering::Relaxed);
    let mut completed = 0;
    for stream in streams {
        let target = target_of(&stream);
        match (target == xcf(1), stream.task.await.unwrap()) {
            (false, Outcome::Completed { bytes }) => {
                assert!(bytes >= 8 * CHUNK as u64);
                completed += 1;
            }
            (true, Outcome::Ended { bytes, .. }) => assert!(bytes > 0),
            (_, outcome) => panic!("stream to {target} ended as {outcome:?}"),
        }
    }
    assert_eq!(completed, STREAMS * 2 / 3);
    for (n, (_, ipsec)) in hosts.iter().enumerate() {
        let drops = ipsec.state().counters.drops.get(CLEAR_DROPPED).copied();
        assert_eq!(drops, None, "host {n} never got clear text from the DVIPA");
    }
    drop(sys3);
}
