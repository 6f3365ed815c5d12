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
use common::{Lpar, TestCf, host_address, secret, start_cf, start_lpar_ipsec, until};
use ike::daemon::shell::DaemonState;
use ike::daemon::{ActivationMethod, Peer};
use stacks::ipsec::{IpsecOptions, IpsecService};
use stacks::lan::switch::EthernetSwitch;
use stacks::profile::{self, Profile};
use stacks::stack::StackHandle;
use stacks::stack::tcp::Received;
use stacks::swsa::{RestartStore, StoredRecord, SwsaNote, display};

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
    dvipa_peers(1)
}

/// The DVIPA's side of the tunnels to hosts 0 to `hosts - 1`.
fn dvipa_peers(hosts: u8) -> Vec<Peer> {
    common::dvipa_peers(DVIPA, hosts, PSK)
}

async fn start_host(switch: &EthernetSwitch) -> (StackHandle, IpsecService) {
    start_host_n(switch, 0).await
}

/// Remote host `n`, which starts its tunnel to the DVIPA at once.
async fn start_host_n(switch: &EthernetSwitch, n: u8) -> (StackHandle, IpsecService) {
    common::ipsec_host(switch, n, DVIPA, PSK).await
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

/// The host and the console's view of EZBDVIPA: what every check looks from.
struct Outside {
    host: StackHandle,
    host_ipsec: IpsecService,
    link: Client,
    console: RestartStore,
}

/// SYS1 owning the DVIPA, SYS2 its backup, the host with its tunnel up and SYS1's entry in
/// EZBDVIPA.
struct Lab {
    cf: TestCf,
    switch: EthernetSwitch,
    sys1: Option<Lpar>,
    sys2: Lpar,
    outside: Outside,
}

async fn start_sys1(cf: &TestCf, switch: &EthernetSwitch) -> Lpar {
    start_lpar_ipsec(cf, switch, "SYS1", owner_profile(), Some(dvipa_peer())).await
}

async fn lab() -> Lab {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let sys1 = start_sys1(&cf, &switch).await;
    let sys2 = start_lpar_ipsec(&cf, &switch, "SYS2", backup_profile(), Some(dvipa_peer())).await;
    let (host, mut host_ipsec) = start_host(&switch).await;
    let (link, console) = console(&cf).await;
    host_ipsec.wait_for(|s| established(s, None)).await;
    until("SYS1's entry is in EZBDVIPA", || {
        entries_owned_by(&console, "SYS1")
    })
    .await;
    echo(&host, b"protected by SYS1").await;
    assert!(esp_in(&sys1) > 0);
    Lab {
        cf,
        switch,
        sys1: Some(sys1),
        sys2,
        outside: Outside {
            host,
            host_ipsec,
            link,
            console,
        },
    }
}

impl Lab {
    fn sys1(&mut self) -> &mut Lpar {
        self.sys1.as_mut().expect("SYS1 runs")
    }
}

impl Outside {
    /// Waits until `lpar` of `sysname` renegotiated the host's tunnel and stored its entry in
    /// place of the others, and the host holds that one tunnel only; then protected traffic
    /// reaches `lpar`.
    async fn taken_over_by(&self, lpar: &mut Lpar, sysname: &str) {
        renegotiated_by(lpar, sysname, &self.console).await;
        until("INITIAL_CONTACT leaves the host one tunnel", || async {
            let state = self.host_ipsec.daemon_state();
            state.ike_tunnels.iter().filter(|t| t.established).count() == 1
        })
        .await;
        let before = esp_in(lpar);
        echo(&self.host, b"protected by the new owner").await;
        assert!(esp_in(lpar) > before);
    }
}

/// Waits until `lpar` of `sysname` holds a renegotiated tunnel and its entry replaced the
/// others in EZBDVIPA.
async fn renegotiated_by(lpar: &mut Lpar, sysname: &str, console: &RestartStore) {
    lpar.ipsec
        .as_mut()
        .unwrap()
        .wait_for(|s| established(s, Some(ActivationMethod::Takeover)))
        .await;
    until(&format!("{sysname}'s entry replaces the others"), || {
        entries_owned_by(console, sysname)
    })
    .await;
}

/// Waits until the IKE of `lpar` holds no tunnel any more.
async fn tunnels_dropped(lpar: &Lpar) {
    let ipsec = lpar.ipsec.as_ref().unwrap();
    until(
        "the old owner's IKE dropped its tunnel on the DVIPA",
        || async { ipsec.daemon_state().ike_tunnels.is_empty() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_renegotiates_the_owners_tunnels_from_ezbdvipa_and_hands_them_back() {
    let mut lab = lab().await;
    let outside = &lab.outside;
    let before = display::render("EZBDVIPA", &entries(&outside.console).await);
    insta::assert_snapshot!("ezbdvipa_before_takeover", before);

    // SYS1 dies: SYS2 takes the DVIPA and its tunnels over.
    lab.sys1.take().expect("SYS1 runs").kill().await;
    lab.outside.taken_over_by(&mut lab.sys2, "SYS2").await;
    let outside = &lab.outside;
    let after = display::render("EZBDVIPA", &entries(&outside.console).await);
    insta::assert_snapshot!("ezbdvipa_after_takeover", after);
    let structure = outside.console.structure().clone();
    let dump = outside.link.dump(structure).await.unwrap();
    insta::assert_snapshot!("ezbdvipa_cf_dump_after_takeover", dump);
    let timeline = lab.sys2.dvipa.swsa_timeline();
    assert!(
        timeline
            .iter()
            .any(|(_, n)| matches!(n, SwsaNote::Renegotiated(h) if *h == HOST)),
        "{timeline:?}"
    );

    // SYS1 comes back and takes the DVIPA back at once; SYS2's IKE drops its tunnel.
    lab.sys1 = Some(start_sys1(&lab.cf, &lab.switch).await);
    let sys1 = lab.sys1.as_mut().expect("SYS1 runs");
    lab.outside.taken_over_by(sys1, "SYS1").await;
    tunnels_dropped(&lab.sys2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_transfer_moves_the_tunnels_through_ezbdvipa_and_back() {
    let mut lab = lab().await;
    let lines = lab
        .sys1()
        .dvipa
        .vary("V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.10")
        .await
        .unwrap();
    assert!(lines.iter().any(|l| l.starts_with("EZD1197I")), "{lines:?}");
    lab.outside.taken_over_by(&mut lab.sys2, "SYS2").await;
    tunnels_dropped(lab.sys1()).await;

    lab.sys1()
        .dvipa
        .vary("V TCPIP,TCPCS,SYSPLEX,REACTIVATE,DVIPA=198.51.100.10")
        .await
        .unwrap();
    let sys1 = lab.sys1.as_mut().expect("SYS1 runs");
    lab.outside.taken_over_by(sys1, "SYS1").await;
    tunnels_dropped(&lab.sys2).await;
}

/// The owners of the DVIPA's entries in EZBDVIPA, by peer.
async fn owners(console: &RestartStore) -> Vec<(Ipv4Addr, String)> {
    let mut owners: Vec<_> = entries(console)
        .await
        .into_iter()
        .map(|s| (s.remote(), s.owner))
        .collect();
    owners.sort();
    owners
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_backup_finishes_a_takeover_whose_backup_died_midway() {
    const HOSTS: u8 = 4;
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let peers = || Some(dvipa_peers(HOSTS));
    let sys1 = start_lpar_ipsec(&cf, &switch, "SYS1", owner_profile(), peers()).await;
    let sys2 = start_lpar_ipsec(&cf, &switch, "SYS2", backup_profile(), peers()).await;
    let third = profile(3, "VIPABACKUP 50 198.51.100.10");
    let mut sys3 = start_lpar_ipsec(&cf, &switch, "SYS3", third, peers()).await;
    let mut hosts = Vec::new();
    for n in 0..HOSTS {
        hosts.push(start_host_n(&switch, n).await);
    }
    let (_link, console) = console(&cf).await;
    until("SYS1's entries are in EZBDVIPA", || async {
        owners(&console).await.len() == usize::from(HOSTS)
    })
    .await;

    // SYS1 dies; SYS2 dies as soon as it starts reading EZBDVIPA for the takeover.
    sys1.kill().await;
    let sys2_timeline = || sys2.dvipa.swsa_timeline();
    until("SYS2 starts its takeover", || async {
        !sys2_timeline().is_empty()
    })
    .await;
    let sys2_read = sys2_timeline();
    sys2.kill().await;

    // SYS3 finishes the job: every peer renegotiated from whatever EZBDVIPA held.
    let ipsec = sys3.ipsec.as_mut().unwrap();
    let renegotiated = tokio::time::timeout(
        common::PATIENCE,
        ipsec.wait_for(|s| {
            s.ike_tunnels
                .iter()
                .filter(|t| t.established && t.activation == ActivationMethod::Takeover)
                .count()
                == usize::from(HOSTS)
        }),
    )
    .await;
    assert!(
        renegotiated.is_ok(),
        "SYS3 renegotiates every tunnel; its tunnels: {:#?}; SYS2's timeline: {:#?}; EZBDVIPA: {:#?}",
        ipsec.daemon_state().ike_tunnels,
        sys2_read,
        owners(&console).await
    );
    let expected: Vec<_> = (0..HOSTS)
        .map(|n| (host_address(n), "SYS3".to_owned()))
        .collect();
    until("SYS3 owns every entry", || async {
        owners(&console).await == expected
    })
    .await;
    for (n, (host, _)) in (0..HOSTS).zip(&hosts) {
        let stream = tokio::time::timeout(
            common::PATIENCE,
            host.connect_from("CLIENT", host_address(n), SocketAddrV4::new(DVIPA, 7)),
        )
        .await;
        assert!(
            matches!(stream, Ok(Ok(_))),
            "host {n} reaches the DVIPA on SYS3"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_answer_does_not_hold_the_others_back() {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let peers = || Some(dvipa_peers(2));
    let sys1 = start_lpar_ipsec(&cf, &switch, "SYS1", owner_profile(), peers()).await;
    let mut sys2 = start_lpar_ipsec(&cf, &switch, "SYS2", backup_profile(), peers()).await;
    let (_live_host, _live_ipsec) = start_host_n(&switch, 0).await;
    let (_silent_host, silent_ipsec) = start_host_n(&switch, 1).await;
    let (_link, console) = console(&cf).await;
    until("SYS1's entries are in EZBDVIPA", || async {
        owners(&console).await.len() == 2
    })
    .await;

    // Host 1's IKE stops answering; SYS1 dies.
    drop(silent_ipsec);
    sys1.kill().await;

    // SYS2 renegotiates with host 0 without waiting for host 1, whose entry stays in the CF.
    sys2.ipsec
        .as_mut()
        .unwrap()
        .wait_for(|s| {
            s.ike_tunnels
                .iter()
                .any(|t| t.established && t.activation == ActivationMethod::Takeover)
        })
        .await;
    let expected = vec![
        (host_address(0), "SYS2".to_owned()),
        (host_address(1), "SYS1".to_owned()),
    ];
    until(
        "host 0's entry is SYS2's, host 1's still SYS1's",
        || async { owners(&console).await == expected },
    )
    .await;
    let timeline = sys2.dvipa.swsa_timeline();
    assert!(
        !timeline
            .iter()
            .any(|(_, n)| *n == SwsaNote::Renegotiated(host_address(1))),
        "{timeline:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cf_that_does_not_answer_for_a_moment_delays_the_takeover_and_loses_nothing() {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let link = common::PausableLink::start(&cf).await;
    let sys1 = start_sys1(&cf, &switch).await;
    let mut sys2 = start_lpar_ipsec(
        link.addr,
        &switch,
        "SYS2",
        backup_profile(),
        Some(dvipa_peer()),
    )
    .await;
    let (host, mut host_ipsec) = start_host(&switch).await;
    let (_console_link, console) = console(&cf).await;
    host_ipsec.wait_for(|s| established(s, None)).await;
    until("SYS1's entry is in EZBDVIPA", || {
        entries_owned_by(&console, "SYS1")
    })
    .await;

    // SYS1 dies while SYS2's CF link carries nothing for a second.
    link.pause(true);
    sys1.kill().await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(
        entries_owned_by(&console, "SYS1").await,
        "nothing moved meanwhile"
    );
    link.pause(false);

    renegotiated_by(&mut sys2, "SYS2", &console).await;
    echo(&host, b"protected by SYS2 after the CF came back").await;
}

/// The `0x…` key fields of the Wireshark key tables in `dir`.
fn exported_keys(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    for table in [ike::daemon::ESP_TABLE, ike::daemon::IKEV2_TABLE] {
        let text = std::fs::read_to_string(dir.join(table)).expect("key table");
        for field in text.lines().flat_map(|l| l.split(',')) {
            let field = field.trim_matches('"');
            let hex = field.strip_prefix("0x").unwrap_or(field);
            // SPIs are 4 or 8 octets; keys are 16 octets or more.
            if hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                let octets = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex key"))
                    .collect();
                keys.push(octets);
            }
        }
    }
    keys
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_material_ever_reaches_ezbdvipa() {
    let dir = std::env::temp_dir().join(format!("swsa-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("key directory");
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let sys1 = start_sys1(&cf, &switch).await;
    let mut sys2 =
        start_lpar_ipsec(&cf, &switch, "SYS2", backup_profile(), Some(dvipa_peer())).await;
    let options = IpsecOptions {
        wireshark_keys: Some(dir.clone()),
        ..IpsecOptions::default()
    };
    let _host = common::ipsec_host_with(&switch, 0, DVIPA, PSK, options).await;
    let (_link, console) = console(&cf).await;
    until("SYS1's entry is in EZBDVIPA", || {
        entries_owned_by(&console, "SYS1")
    })
    .await;
    let mut stored = entries(&console).await;
    sys1.kill().await;
    renegotiated_by(&mut sys2, "SYS2", &console).await;
    stored.extend(entries(&console).await);
    // The host negotiated both tunnels, so its tables hold every key of both.
    let keys = exported_keys(&dir);
    std::fs::remove_dir_all(&dir).expect("cleanup");
    // Per tunnel: SK_ei, SK_er (AES-GCM needs no SK_a) and the two ESP keys.
    assert!(
        keys.len() >= 2 * 4,
        "IKE and ESP keys of both tunnels: {}",
        keys.len()
    );
    for entry in &stored {
        let data = entry.encode().unwrap();
        for key in &keys {
            assert!(!contains(&data, key), "a key in {}'s entry", entry.owner);
        }
        assert!(
            !contains(&data, PSK),
            "the shared key in {}'s entry",
            entry.owner
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_cf_refuses_gives_ezd0831i() {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    // The first connector allocates EZBDVIPA, with room for one entry only.
    let link = Client::connect(cf.addr, &secret(), "CONSOLE", "CONSOLE")
        .await
        .unwrap();
    let small = cf::structure::ConnectRequest {
        structure: stacks::swsa::layout::structure_name(None),
        conname: cf::structure::ConName::new("SMALL"),
        attrs: cf::structure::StructureAttrs {
            entry_count: 1,
            element_count: 16,
            ..stacks::swsa::layout::attributes()
        },
        condisp: cf::structure::ConDisp::Delete,
        strdisp: cf::structure::StrDisp::Keep,
        vector_len: 0,
        jobname: "CONSOLE".into(),
        asid: 0x0051,
    };
    let _small = link.connect_structure(small).await.unwrap().unwrap();
    let sys1 = start_lpar_ipsec(&cf, &switch, "SYS1", owner_profile(), Some(dvipa_peers(2))).await;
    let (_h0, _i0) = start_host_n(&switch, 0).await;
    let (_h1, _i1) = start_host_n(&switch, 1).await;
    until("EZD0831I for the tunnel that did not fit", || async {
        sys1.dvipa
            .console()
            .iter()
            .any(|l| l.starts_with("EZD0831I Tunnel takeover preparation failed for IKE tunnel"))
    })
    .await;
}
