//! TAP lab with a real strongSwan 5.9.8 (kernel-libipsec), as root: our stack on a TAP device
//! whose kernel side lives in a namespace where `swan-peer` (in `scripts/` of the
//! repository) runs charon.
//!
//! ```text
//!   netns: tap (192.0.2.2, charon, ipsec0, python) ══ TAP ══ our stack 192.0.2.1 (IKED, echo :7)
//! ```
//!
//! - Streams, one per role and proposal family (AES-GCM-16 with x25519; AES-CBC with
//!   HMAC-SHA2-256-128 and MODP-2048, there with PFS in MODP-2048): strongSwan initiates to
//!   our responder, or our stack initiates to strongSwan; a Python client in the namespace
//!   sends several MB over TCP through the tunnel to the echo server on our stack, paced over a
//!   few seconds, and checks the SHA-256 of what comes back. The initiator rekeys the CHILD SA
//!   and the IKE SA during the stream (short lifetimes), then deletes the IKE SA; the SAs go on
//!   both sides.
//! - Refusals, both ways: a wrong PSK ends with AUTHENTICATION_FAILED and a proposal mismatch
//!   with NO_PROPOSAL_CHOSEN, and nothing is installed in our SAD.
//! - With `tshark` installed, each stream is captured on the TAP device and dissected with the
//!   keys our stack exported for Wireshark: no malformed packet, IKE_AUTH and every ESP packet
//!   decrypted (skipped with a message without tshark).
//!
//! Cases run one at a time (they share the two CPUs). Skips (passing, with a message) without
//! root, /dev/net/tun, charon or the lab tool.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use ike::crypto::ids::DhGroup;
use ike::daemon::shell::DaemonState;
use ike::daemon::{DaemonInput, IkeDaemon, Peer, ProposalFamily};
use ike::sa::CloseReason;
use ike::wire::NotifyType;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::echo::EchoServer;
use stacks::ipsec::{IpsecOptions, IpsecService};
use stacks::lan::tap::TapPort;
use stacks::profile::IpSecRule;
use stacks::stack::{Stack, StackConfig, StackHandle};
use tokio::sync::Mutex;

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SWAN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PSK: &[u8] = b"zsysplex-swan-tap-lab";
/// The stream: MEGABYTES MiB paced over STREAM_SECONDS, longer than the rekey times below.
const MEGABYTES: u32 = 6;
const STREAM_SECONDS: &str = "4.5";

/// Sends MB MiB of random bytes to HOST:PORT, paced over SECONDS, and reads the echo in
/// parallel; prints the SHA-256 of both and exits 0 when they match.
const CLIENT: &str = r#"
import hashlib, os, socket, sys, threading, time
host, port, mb, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
data = os.urandom(mb << 20)
s = socket.create_connection((host, port), timeout=30)
def send():
    chunk, start = 1 << 16, time.monotonic()
    for i in range(0, len(data), chunk):
        delay = start + seconds * i / len(data) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        s.sendall(data[i:i + chunk])
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
back = hashlib.sha256()
n = 0
while n < len(data):
    chunk = s.recv(1 << 16)
    if not chunk:
        break
    back.update(chunk)
    n += len(chunk)
t.join()
sent = hashlib.sha256(data).hexdigest()
print(f"sent {len(data)} {sent}")
print(f"back {n} {back.hexdigest()}")
sys.exit(0 if n == len(data) and back.hexdigest() == sent else 1)
"#;

fn swan_peer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/swan-peer")
}

fn skip_reason() -> Option<String> {
    stacks::lan::netns::missing_strongswan(&swan_peer(), &[])
}

fn has_tshark() -> bool {
    ["tshark", "dumpcap"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One case at a time: the lab cases share two CPUs with everything else.
fn one_at_a_time() -> &'static Mutex<()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(()))
}

/// The namespace, strongSwan's state and the capture of one case; removed on drop, also when
/// the test fails.
struct Netns {
    name: String,
    dir: PathBuf,
    capture: Option<Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut capture) = self.capture.take() {
            let _ = capture.kill();
            let _ = capture.wait();
        }
        let _ = Command::new(swan_peer())
            .args(["down", "swan"])
            .env("SWAN_LAB_DIR", &self.dir)
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One case: the namespace with strongSwan's side of the TAP device, our stack with IPSec
/// (exporting its keys) and the echo server.
struct Lab {
    ipsec: IpsecService,
    echo: EchoServer,
    _stack: StackHandle,
    netns: Netns,
}

impl Lab {
    /// Sets up a case named `tag` (two characters) with our side configured as `peer`.
    async fn up(tag: &str, peer: Peer) -> Self {
        let id = std::process::id();
        let netns = Netns {
            name: format!("zs{tag}{id}"),
            dir: std::env::temp_dir().join(format!("ipsec-swan-{tag}-{id}")),
            capture: None,
        };
        let ns = netns.name.clone();
        run(Command::new("ip").args(["netns", "add", &ns]));
        std::fs::create_dir_all(netns.dir.join("keys")).expect("state dir");
        let port = TapPort::open(&ns).expect("TAP device opens");
        let tap = port.name().to_owned();
        run(Command::new("ip").args(["link", "set", &tap, "netns", &ns]));
        let ns_run = |args: &[&str]| {
            run(Command::new("ip").args(["netns", "exec", &ns]).args(args));
        };
        ns_run(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns_run(&["ip", "link", "set", "lo", "up"]);
        ns_run(&["ip", "addr", "add", "192.0.2.2/24", "dev", &tap]);
        ns_run(&["ip", "link", "set", &tap, "up"]);

        let mut config = StackConfig::new(
            "TCPCS",
            EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, 0x01]),
            vec![Ipv4Cidr::new(US, 24)],
        );
        // libipsec's TUN MTU, so ESP-in-UDP fits the 1500-octet link.
        config.ip_mtu = 1400;
        let (stack, _task) = Stack::spawn(config, Box::new(port)).expect("stack starts");
        let rules = vec![IpSecRule::permit_all()];
        let daemon = IkeDaemon::new(vec![peer], ChaCha20Rng::seed_from_u64(1));
        let options = IpsecOptions {
            seed: 1,
            wireshark_keys: Some(netns.dir.join("keys")),
        };
        let ipsec = IpsecService::start_with(&stack, rules, daemon, options)
            .await
            .expect("IPSec starts");
        let echo = EchoServer::start(&stack, SocketAddrV4::new(US, 7))
            .await
            .expect("echo starts");
        Self {
            ipsec,
            echo,
            _stack: stack,
            netns,
        }
    }

    fn swan_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(swan_peer());
        command.args(args).env("SWAN_LAB_DIR", &self.netns.dir);
        command
    }

    /// A `swan-peer` command that must succeed; its output.
    fn swan(&self, args: &[&str]) -> String {
        run(&mut self.swan_command(args))
    }

    /// A `swan-peer` command that may fail.
    fn swan_try(&self, args: &[&str]) -> Output {
        self.swan_command(args).output().expect("swan-peer runs")
    }

    /// Starts charon in the namespace with `family`'s proposals, PFS in group `pfs`
    /// (`DhGroup::NONE` for none), `psk` and `extra` options.
    fn swan_up(&self, (family, pfs): (ProposalFamily, DhGroup), psk: &[u8], extra: &[&str]) {
        let (ike, esp) = family.strongswan_proposals();
        let esp = match pfs {
            DhGroup::NONE => esp.to_owned(),
            DhGroup::MODP_2048 => format!("{esp}-modp2048"),
            DhGroup::CURVE25519 => format!("{esp}-curve25519"),
            other => panic!("no strongSwan name for {other:?} here"),
        };
        let psk = String::from_utf8_lossy(psk);
        let mut args = vec![
            "up",
            "swan",
            "--ns",
            &self.netns.name,
            "--local",
            "192.0.2.2",
            "--remote",
            "192.0.2.1",
            "--psk",
            &psk,
            "--proposal",
            ike,
            "--esp",
            &esp,
            "--mobike",
            "no",
        ];
        args.extend_from_slice(extra);
        self.swan(&args);
    }

    fn charon_log(&self) -> String {
        std::fs::read_to_string(self.netns.dir.join("swan/charon.log")).unwrap_or_default()
    }

    fn pcap(&self) -> PathBuf {
        self.netns.dir.join("tap.pcapng")
    }

    /// Starts capturing on the TAP device (needs dumpcap); waits until the capture runs.
    async fn start_capture(&mut self) {
        let pcap = self.pcap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns.name, "dumpcap", "-q", "-i"])
            .arg(&self.netns.name)
            .arg("-w")
            .arg(&pcap)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dumpcap starts");
        self.netns.capture = Some(child);
        for _ in 0..100 {
            if std::fs::metadata(&pcap).is_ok_and(|m| m.len() > 0) {
                // The file header is written just before packets are taken.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dumpcap did not start");
    }

    /// Stops the capture (SIGINT, so dumpcap writes everything out).
    fn stop_capture(&mut self) {
        if let Some(mut capture) = self.netns.capture.take() {
            run(Command::new("kill").args(["-INT", &capture.id().to_string()]));
            let _ = capture.wait();
        }
    }

    /// The paced echo stream from the namespace to our stack; panics unless every byte came
    /// back unchanged.
    async fn stream(&self) {
        let ns = self.netns.name.clone();
        let client = tokio::task::spawn_blocking(move || {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "python3",
                    "-c",
                    CLIENT,
                    "192.0.2.1",
                    "7",
                ])
                .arg(MEGABYTES.to_string())
                .arg(STREAM_SECONDS)
                .output()
                .expect("client runs")
        });
        let output = tokio::time::timeout(Duration::from_secs(60), client)
            .await
            .expect("the transfer ends")
            .expect("client task");
        eprintln!(
            "client:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            let sad = self.ipsec.state().sad.children().to_vec();
            panic!(
                "the echoed bytes differ or stop; ours {:?}\n{sad:?}\n{:?}\nstrongSwan's log:\n{}",
                self.ipsec.daemon_state(),
                self.ipsec.state().counters,
                self.charon_log()
            );
        }
        assert_eq!(self.echo.stats().bytes(), u64::from(MEGABYTES) << 20);
    }

    /// Waits until the SAD is empty (the daemon's deletes reach it after its state).
    async fn sad_empties(&self) {
        for _ in 0..100 {
            if self.ipsec.state().sad.children().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "SAs left in our SAD: {:?}\nours {:?}",
            self.ipsec.state().sad.children(),
            self.ipsec.daemon_state()
        );
    }

    async fn wait_for(&mut self, what: &str, condition: impl Fn(&DaemonState) -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(15), self.ipsec.wait_for(condition));
        if waited.await.is_err() {
            panic!(
                "{what}: not reached; ours {:?}\nstrongSwan's log:\n{}",
                self.ipsec.daemon_state(),
                self.charon_log()
            );
        }
    }
}

fn established(state: &DaemonState) -> bool {
    state
        .ike_tunnels
        .iter()
        .any(|t| t.established && !t.dynamic_tunnels.is_empty())
}

/// What tshark made of a capture, given our exported keys.
#[derive(Debug, Default)]
struct Dissection {
    frames: usize,
    malformed: usize,
    ike: usize,
    ike_auth_decrypted: usize,
    /// IKE messages after IKE_SA_INIT (SK payloads), and how many of them tshark decrypted.
    ike_encrypted: usize,
    ike_decrypted: usize,
    esp: usize,
    esp_decrypted: usize,
    esp_icv_bad: usize,
}

fn dissect(pcap: &Path, keys: &Path) -> Dissection {
    let text = run(Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", keys)
        .arg("-r")
        .arg(pcap)
        .args([
            "-o",
            "esp.enable_encryption_decode:TRUE",
            "-o",
            "esp.enable_authentication_check:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.protocols",
            "-e",
            "isakmp.auth.method",
            "-e",
            "esp.icv_bad",
            "-e",
            "isakmp.exchangetype",
            "-e",
            "isakmp.enc.decrypted",
        ]));
    let mut d = Dissection::default();
    for line in text.lines() {
        let mut fields = line.split('|');
        let protocols = fields.next().unwrap_or_default();
        let auth = fields.next().unwrap_or_default();
        let icv_bad = fields.next().unwrap_or_default();
        let exchange = fields.next().unwrap_or_default();
        let decrypted = fields.next().unwrap_or_default();
        d.frames += 1;
        d.malformed += usize::from(protocols.contains("_ws.malformed"));
        d.ike += usize::from(protocols.contains("isakmp"));
        d.ike_auth_decrypted += usize::from(!auth.is_empty());
        d.esp += usize::from(protocols.contains(":esp"));
        d.esp_decrypted += usize::from(protocols.contains(":esp:ip"));
        d.esp_icv_bad += usize::from(icv_bad == "1" || icv_bad == "True");
        // 34 is IKE_SA_INIT, the only exchange without an SK payload.
        d.ike_encrypted += usize::from(!exchange.is_empty() && exchange != "34");
        d.ike_decrypted += usize::from(!decrypted.is_empty());
    }
    d
}

/// Dissects the case's capture with tshark, when it was taken, and checks it.
fn check_capture(lab: &mut Lab) {
    if lab.netns.capture.is_none() {
        eprintln!("skipped: tshark/dumpcap absent, no dissection check (apt-get install tshark)");
        return;
    }
    lab.stop_capture();
    let keys = lab.netns.dir.join("keys");
    let d = dissect(&lab.pcap(), &keys);
    eprintln!("tshark: {d:?}");
    assert_eq!(d.malformed, 0, "malformed packets in the capture");
    assert!(d.ike >= 4, "IKE_SA_INIT and IKE_AUTH dissected: {d:?}");
    assert!(d.ike_auth_decrypted >= 2, "IKE_AUTH decrypted: {d:?}");
    assert_eq!(
        d.ike_decrypted, d.ike_encrypted,
        "every IKE message after IKE_SA_INIT decrypted, rekeyed IKE SAs included: {d:?}"
    );
    assert!(d.esp > 4000, "the stream went through ESP: {d:?}");
    assert_eq!(d.esp_decrypted, d.esp, "every ESP packet decrypted: {d:?}");
    assert_eq!(d.esp_icv_bad, 0, "ICVs checked good: {d:?}");
}

fn host_peer(family: ProposalFamily, psk: &[u8]) -> Peer {
    Peer::host_to_host(US, SWAN, psk, family)
}

/// strongSwan initiates with short rekey times, streams through our ESP while it rekeys the
/// CHILD SA (with PFS in group `pfs`, unless NONE) and the IKE SA, then deletes the IKE SA.
async fn strongswan_initiates(tag: &str, family: ProposalFamily, pfs: DhGroup) {
    let Some(_turn) = lab_turn().await else {
        return;
    };
    let mut peer = host_peer(family, PSK);
    peer.config.pfs = pfs;
    let mut lab = Lab::up(tag, peer).await;
    if has_tshark() {
        lab.start_capture().await;
    }
    lab.swan_up(
        (family, pfs),
        PSK,
        // Rekeys at exactly 2 s (CHILD) and 3 s (IKE), well before the SAs expire.
        &[
            "--rekey-time",
            "3s",
            "--conn-opt",
            "over_time=10s",
            "--conn-opt",
            "rand_time=0s",
            "--child-rekey-time",
            "2s",
            "--child-opt",
            "life_time=10s",
            "--child-opt",
            "rand_time=0s",
            "--initiate",
        ],
    );
    lab.wait_for("our tunnel up", established).await;
    lab.stream().await;
    let state = lab.ipsec.daemon_state();
    let children = lab.ipsec.state().sad.children().to_vec();
    eprintln!("ours: {:?}\n{children:?}", state.ike_tunnels);
    assert!(
        state.ike_tunnels.iter().any(|t| t.generation >= 2),
        "strongSwan rekeyed the IKE SA: {:?}",
        state.ike_tunnels
    );
    assert!(
        children.iter().all(|c| c.tunnel.generation >= 2),
        "strongSwan rekeyed the CHILD SA: {children:?}"
    );
    assert!(
        lab.charon_log().contains("rekeying"),
        "rekeys in charon.log"
    );
    pfs_was_used(&lab, pfs);

    lab.swan(&["ctl", "swan", "--terminate", "--ike", "swan"]);
    lab.wait_for("our tunnels gone", |s| s.ike_tunnels.is_empty())
        .await;
    lab.sad_empties().await;
    assert!(
        lab.ipsec
            .daemon_state()
            .closed
            .iter()
            .any(|(_, _, reason)| *reason == CloseReason::DeletedByPeer),
        "{:?}",
        lab.ipsec.daemon_state().closed
    );
    check_capture(&mut lab);
}

/// strongSwan's log shows a CHILD SA negotiated with the DH group `pfs`, if one is asked for.
fn pfs_was_used(lab: &Lab, pfs: DhGroup) {
    let group = match pfs {
        DhGroup::NONE => return,
        DhGroup::MODP_2048 => "/MODP_2048/",
        DhGroup::CURVE25519 => "/CURVE_25519/",
        other => panic!("no strongSwan name for {other:?} here"),
    };
    let log = lab.charon_log();
    assert!(
        log.lines()
            .any(|l| l.contains("selected proposal: ESP:") && l.contains(group)),
        "a CHILD SA with PFS in {group} in charon.log"
    );
}

/// Our stack initiates with short rekey times, the stream runs while we rekey the CHILD SA
/// (with PFS in group `pfs`, unless NONE) and the IKE SA, then we delete the IKE SA and
/// strongSwan has none left.
async fn we_initiate(tag: &str, family: ProposalFamily, pfs: DhGroup) {
    let Some(_turn) = lab_turn().await else {
        return;
    };
    let mut peer = host_peer(family, PSK);
    peer.config.pfs = pfs;
    peer.config.child_rekey_time = Some(Duration::from_millis(1500));
    peer.config.ike_rekey_time = Some(Duration::from_millis(2500));
    peer.config.child_lifetime = Duration::from_secs(30);
    let mut lab = Lab::up(tag, peer).await;
    if has_tshark() {
        lab.start_capture().await;
    }
    lab.swan_up((family, pfs), PSK, &["--respond"]);
    lab.ipsec
        .command(DaemonInput::Initiate(0))
        .await
        .expect("daemon runs");
    lab.wait_for("our tunnel up", established).await;
    lab.stream().await;
    let state = lab.ipsec.daemon_state();
    let children = lab.ipsec.state().sad.children().to_vec();
    eprintln!("ours: {:?}\n{children:?}", state.ike_tunnels);
    assert!(
        state.ike_tunnels.iter().any(|t| t.generation >= 2),
        "we rekeyed the IKE SA: {:?}",
        state.ike_tunnels
    );
    assert!(
        children.iter().all(|c| c.tunnel.generation >= 2),
        "we rekeyed the CHILD SA: {children:?}"
    );
    let sas = lab.swan(&["sas", "swan"]);
    eprintln!("strongSwan:\n{sas}");
    assert!(sas.contains("INSTALLED, TUNNEL-in-UDP"), "{sas}");
    pfs_was_used(&lab, pfs);

    lab.ipsec
        .command(DaemonInput::DeleteIkeTunnel(1))
        .await
        .expect("daemon runs");
    lab.wait_for("our tunnels gone", |s| s.ike_tunnels.is_empty())
        .await;
    lab.sad_empties().await;
    let sas = lab.swan(&["sas", "swan"]);
    assert!(!sas.contains("ESTABLISHED"), "strongSwan kept: {sas}");
    assert!(
        lab.charon_log().contains("received DELETE for IKE_SA"),
        "our DELETE reached strongSwan"
    );
    check_capture(&mut lab);
}

/// The lab's turn, or `None` (with a message) when the lab cannot run here.
async fn lab_turn() -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason} (strongSwan TAP lab)");
        return None;
    }
    Some(one_at_a_time().lock().await)
}

/// Both ways, a negotiation strongSwan and our stack cannot agree on: strongSwan initiating
/// must get `notify` from us, and our initiation must get it from strongSwan (strongSwan logs
/// its short name `short`); nothing reaches our SAD.
async fn refused_both_ways(
    tag: &str,
    ours: Peer,
    swan: (ProposalFamily, &[u8]),
    notify: NotifyType,
    short: &str,
) {
    let Some(_turn) = lab_turn().await else {
        return;
    };
    let mut lab = Lab::up(tag, ours).await;
    lab.swan_up((swan.0, DhGroup::NONE), swan.1, &["--respond"]);
    let output = lab.swan_try(&["initiate", "swan", "5"]);
    assert!(!output.status.success(), "strongSwan's initiation failed");
    lab.wait_for("our side refused", |s| !s.closed.is_empty())
        .await;
    let log = lab.charon_log();
    assert!(
        log.contains(&format!("N({short})")) && log.contains(&format!("received {notify}")),
        "strongSwan got {notify} from us:\n{log}"
    );
    let refused = CloseReason::Notify(notify);
    assert_eq!(lab.ipsec.daemon_state().closed[0].2, refused);

    lab.ipsec
        .command(DaemonInput::Initiate(0))
        .await
        .expect("daemon runs");
    lab.wait_for("strongSwan refused ours", |s| s.closed.len() >= 2)
        .await;
    let state = lab.ipsec.daemon_state();
    assert_eq!(state.closed[1].2, refused, "{:?}", state.closed);
    assert!(state.ike_tunnels.is_empty(), "{:?}", state.ike_tunnels);
    lab.sad_empties().await;
    let log = lab.charon_log();
    assert_eq!(
        log.matches(&format!("N({short})")).count(),
        2,
        "strongSwan sent {notify} to us:\n{log}"
    );
    assert!(lab.swan(&["sas", "swan"]).trim().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strongswan_initiates_aes_gcm_rekeys_during_the_stream_and_deletes() {
    strongswan_initiates("ig", ProposalFamily::AesGcm16X25519, DhGroup::NONE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strongswan_initiates_aes_cbc_modp_rekeys_with_pfs_during_the_stream_and_deletes() {
    strongswan_initiates(
        "ic",
        ProposalFamily::AesCbcSha256Modp2048,
        DhGroup::MODP_2048,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_stack_initiates_aes_gcm_rekeys_during_the_stream_and_deletes() {
    we_initiate("wg", ProposalFamily::AesGcm16X25519, DhGroup::NONE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_stack_initiates_aes_cbc_modp_rekeys_with_pfs_during_the_stream_and_deletes() {
    we_initiate(
        "wc",
        ProposalFamily::AesCbcSha256Modp2048,
        DhGroup::MODP_2048,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_psk_is_refused_with_authentication_failed_both_ways() {
    let family = ProposalFamily::AesGcm16X25519;
    refused_both_ways(
        "pk",
        host_peer(family, PSK),
        (family, b"not-the-lab-secret"),
        NotifyType::AUTHENTICATION_FAILED,
        "AUTH_FAILED",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_mismatch_is_refused_with_no_proposal_chosen_both_ways() {
    refused_both_ways(
        "np",
        host_peer(ProposalFamily::AesGcm16X25519, PSK),
        (ProposalFamily::AesCbcSha256Modp2048, PSK),
        NotifyType::NO_PROPOSAL_CHOSEN,
        "NO_PROP",
    )
    .await;
}
