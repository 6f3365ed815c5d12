//! Sysplex-wide security associations on the in-memory LAN, no privileges: SYS1 owns DVIPA
//! 198.51.100.10 under IPSEC DVIPSEC and answers a remote host's IKE on it; SYS2 is its
//! backup with the same IPSec policy. SYS1 keeps the restart information of the tunnel in
//! EZBDVIPA; when it dies, SYS2 takes the DVIPA over, reads the entry, renegotiates the tunnel
//! with the host as initiator (ActivationMethod Takeover, INITIAL_CONTACT), stores its own entry
//! and clears SYS1's; protected traffic to the DVIPA flows again. When SYS1 comes back it
//! takes the DVIPA back (MOVEABLE IMMEDIATE) the same way and SYS2's IKE drops its tunnel.
//! Real time; every wait is a generous bound.

#[allow(dead_code)]
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};

use bytes::Bytes;
use cf::client::Client;
use common::{Lpar, TestCf, remote_host, secret, start_cf, start_lpar_ipsec, until};
use ike::daemon::shell::DaemonState;
use ike::daemon::{ActivationMethod, IkeDaemon, Peer, ProposalFamily};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use stacks::ipsec::IpsecService;
use stacks::lan::switch::EthernetSwitch;
use stacks::profile::{self, Profile};
use stacks::stack::StackHandle;
use stacks::stack::tcp::Received;
use stacks::swsa::{RestartStore, StoredRecord, display};

const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const PSK: &[u8] = b"zsysplex-swsa-lab";

fn profile(n: u8, vipadynamic: &str) -> Profile {
    let text = format!(
        "IPCONFIG IPSECURITY DYNAMICXCF 203.0.113.1{n} 255.255.255.0 2\n\
         INTERFACE OSAQDIO1 DEFINE IPAQENET PORTNAME OSAPRT1 IPADDR 192.0.2.2{n}/24\n\
         IPSEC DVIPSEC\n IPSECRULE * * NOLOG PROTOCOL *\nENDIPSEC\n\
         VIPADYNAMIC\n{vipadynamic}\nENDVIPADYNAMIC\n"
    );
    profile::parse("swsa", &text).into_strict().unwrap()
}

fn owner_profile() -> Profile {
    profile(
        1,
        "VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.0 198.51.100.10",
    )
}

fn backup_profile() -> Profile {
    profile(2, "VIPABACKUP 100 198.51.100.10")
}

/// The DVIPA's side of the tunnel to the host, as every distributing stack's policy has it.
fn dvipa_peer() -> Vec<Peer> {
    vec![Peer::host_to_host(
        DVIPA,
        HOST,
        PSK,
        ProposalFamily::AesGcm16X25519,
    )]
}

async fn start_host(switch: &EthernetSwitch) -> (StackHandle, IpsecService) {
    let host = remote_host(switch, 0);
    let mut peer = Peer::host_to_host(HOST, DVIPA, PSK, ProposalFamily::AesGcm16X25519);
    peer.autoactivate = true;
    let daemon = IkeDaemon::new(vec![peer], ChaCha20Rng::seed_from_u64(50));
    let ipsec = IpsecService::start(&host, common::permit_all(), daemon, 50)
        .await
        .unwrap();
    (host, ipsec)
}

fn established(state: &DaemonState, activation: Option<ActivationMethod>) -> bool {
    state.ike_tunnels.iter().any(|t| {
        t.established
            && !t.dynamic_tunnels.is_empty()
            && activation.is_none_or(|a| t.activation == a)
    })
}

/// The restart entries of the DVIPA, as the console reads them.
async fn entries(console: &RestartStore) -> Vec<StoredRecord> {
    console
        .read(DVIPA)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, stored)| stored)
        .collect()
}

async fn entries_owned_by(console: &RestartStore, owner: &str) -> bool {
    let entries = entries(console).await;
    entries.len() == 1 && entries[0].owner == owner
}

/// One echo round trip to the DVIPA from the host (ESP both ways).
async fn echo(host: &StackHandle, payload: &'static [u8]) {
    let stream = tokio::time::timeout(
        common::PATIENCE,
        host.connect_from("CLIENT", HOST, SocketAddrV4::new(DVIPA, 7)),
    )
    .await
    .expect("connects in time")
    .expect("connects");
    let (mut reader, mut writer) = stream.split();
    writer.send(Bytes::from_static(payload)).await.unwrap();
    let mut back = Vec::new();
    while back.len() < payload.len() {
        match tokio::time::timeout(common::PATIENCE, reader.recv()).await {
            Ok(Received::Data(data)) => back.extend_from_slice(&data),
            other => panic!("echo ended early: {other:?}"),
        }
    }
    assert_eq!(back, payload);
}

fn esp_in(lpar: &Lpar) -> u64 {
    lpar.ipsec.as_ref().unwrap().state().counters.esp_in
}

async fn console(cf: &TestCf) -> (Client, RestartStore) {
    let client = Client::connect(cf.addr, &secret(), "CONSOLE", "CONSOLE")
        .await
        .unwrap();
    let store = RestartStore::connect(&client, "CONSOLE", None)
        .await
        .unwrap();
    (client, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_renegotiates_the_owners_tunnels_from_ezbdvipa_and_hands_them_back() {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let sys1 = start_lpar_ipsec(&cf, &switch, "SYS1", owner_profile(), Some(dvipa_peer())).await;
    let mut sys2 =
        start_lpar_ipsec(&cf, &switch, "SYS2", backup_profile(), Some(dvipa_peer())).await;
    let (host, mut host_ipsec) = start_host(&switch).await;
    let (link, console) = console(&cf).await;

    // SYS1 answers the host's IKE on the DVIPA and stores the tunnel's restart entry.
    host_ipsec.wait_for(|s| established(s, None)).await;
    until("SYS1's entry is in EZBDVIPA", || {
        entries_owned_by(&console, "SYS1")
    })
    .await;
    echo(&host, b"protected by SYS1").await;
    assert!(esp_in(&sys1) > 0);
    let before = display::render("EZBDVIPA", &entries(&console).await);
    insta::assert_snapshot!("ezbdvipa_before_takeover", before);

    // SYS1 dies: SYS2 takes the DVIPA and its tunnels over.
    sys1.kill().await;
    sys2.ipsec
        .as_mut()
        .unwrap()
        .wait_for(|s| established(s, Some(ActivationMethod::Takeover)))
        .await;
    until("SYS2's entry replaces SYS1's", || {
        entries_owned_by(&console, "SYS2")
    })
    .await;
    echo(&host, b"protected by SYS2 after the takeover").await;
    assert!(esp_in(&sys2) > 0);
    let host_state = host_ipsec.daemon_state();
    let live: Vec<_> = host_state
        .ike_tunnels
        .iter()
        .filter(|t| t.established)
        .collect();
    assert_eq!(
        live.len(),
        1,
        "INITIAL_CONTACT replaced the host's SAs with SYS1: {live:?}"
    );
    let after = display::render("EZBDVIPA", &entries(&console).await);
    insta::assert_snapshot!("ezbdvipa_after_takeover", after);
    let dump = link.dump(console.structure().clone()).await.unwrap();
    insta::assert_snapshot!("ezbdvipa_cf_dump_after_takeover", dump);
    let timeline = sys2.dvipa.swsa_timeline();
    assert!(
        timeline
            .iter()
            .any(|(_, n)| matches!(n, stacks::swsa::SwsaNote::Renegotiated(h) if *h == HOST)),
        "{timeline:?}"
    );

    // SYS1 comes back and takes the DVIPA back at once; SYS2's IKE drops its tunnel.
    let sys1 = start_lpar_ipsec(&cf, &switch, "SYS1", owner_profile(), Some(dvipa_peer())).await;
    until("SYS1's entry replaces SYS2's", || {
        entries_owned_by(&console, "SYS1")
    })
    .await;
    let sys2_ipsec = sys2.ipsec.as_ref().unwrap();
    until("SYS2's IKE dropped its tunnel on the DVIPA", || async {
        sys2_ipsec.daemon_state().ike_tunnels.is_empty()
    })
    .await;
    echo(&host, b"protected by SYS1 again").await;
    assert!(esp_in(&sys1) > 0);
}
