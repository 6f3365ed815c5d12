//! TAP lab with a real strongSwan 5.9.8 (kernel-libipsec), as root: our stack on a TAP device
//! whose kernel side lives in a namespace where `swan-peer` (in `shared/labs/` beside the
//! repository) runs charon. strongSwan initiates to our IKE daemon (IKE_SA_INIT on 500,
//! IKE_AUTH on 4500, PSK, AES-GCM-16 + x25519), then a Python client in its namespace sends
//! several MB of random bytes over TCP through the tunnel to the echo server on our stack and
//! checks the SHA-256 of what comes back. Skips (passing, with a message) without root,
//! /dev/net/tun, charon or the lab tool.
//!
//! ```text
//!   swan netns: tap (192.0.2.2, charon, ipsec0) ══ TAP ══ our stack 192.0.2.1 (IKED, echo :7)
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ike::crypto::ids::DhGroup;
use ike::crypto::{AesKeySize, Encryption, EspSuite, IkeSuite, Prf, SecretBytes};
use ike::daemon::{IkeDaemon, Peer};
use ike::sa::{IkeSaConfig, Mode, RetransmitPolicy};
use ike::swsa::PolicyNames;
use ike::wire::{Identity, Ipv4Range};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::echo::EchoServer;
use stacks::ipsec::IpsecService;
use stacks::lan::tap::TapPort;
use stacks::profile::{AddrMatch, IpSecRule, Routing, RuleProtocol};
use stacks::stack::{Stack, StackConfig};

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SWAN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PSK: &str = "zsysplex-swan-tap-lab";
const CHARON: &str = "/usr/lib/ipsec/charon";
const MEGABYTES: u32 = 8;

/// Sends MB megabytes of random bytes to HOST:PORT and reads the echo in parallel; prints the
/// SHA-256 of both and exits 0 when they match.
const CLIENT: &str = r#"
import hashlib, os, socket, sys, threading
host, port, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(mb << 20)
s = socket.create_connection((host, port), timeout=30)
def send():
    s.sendall(data)
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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/labs/swan-peer")
}

fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !status
        .lines()
        .any(|line| line.split_whitespace().take(2).eq(["Uid:", "0"]))
    {
        return Some("not root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    if !Path::new(CHARON).exists() {
        return Some(format!("no strongSwan ({CHARON})"));
    }
    if !swan_peer().exists() {
        return Some(format!("no lab tool at {}", swan_peer().display()));
    }
    None
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

/// The namespace and strongSwan state of one run; removed on drop, also when the test fails.
struct Lab {
    ns: String,
    dir: PathBuf,
}

impl Lab {
    fn swan(&self, args: &[&str]) -> String {
        run(Command::new(swan_peer())
            .args(args)
            .env("SWAN_LAB_DIR", &self.dir))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(swan_peer())
            .args(["down", "swan"])
            .env("SWAN_LAB_DIR", &self.dir)
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn host(addr: Ipv4Addr) -> Ipv4Range {
    Ipv4Range {
        ip_protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr: addr,
        end_addr: addr,
    }
}

fn responder_peer() -> Peer {
    let ike = IkeSuite::new(
        Encryption::AesGcm16(AesKeySize::Aes128),
        None,
        Prf::HmacSha2_256,
        DhGroup::CURVE25519,
    )
    .expect("IKE suite");
    let esp = EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None).expect("ESP suite");
    Peer {
        local: US,
        remote: SWAN,
        config: IkeSaConfig {
            local_id: Identity::Ipv4(US),
            remote_id: Identity::Ipv4(SWAN),
            psk: SecretBytes::new(PSK.as_bytes().to_vec()),
            ike_suites: vec![ike],
            esp_suites: vec![esp],
            local_ts: host(US),
            remote_ts: host(SWAN),
            mode: Mode::Tunnel,
            force_udp_encapsulation: true,
            initial_contact: false,
            retransmit: RetransmitPolicy::STRONGSWAN,
            dpd_interval: None,
            child_lifetime: Duration::from_secs(3600),
            child_rekey_time: None,
            ike_rekey_time: None,
        },
        names: PolicyNames {
            key_exchange_rule: "SwanRule".into(),
            key_exchange_action: "SwanKxAction".into(),
            dyn_vpn_rule: "SwanDynRule".into(),
            vpn_action: "SwanVpnAction".into(),
        },
        autoactivate: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strongswan_sends_megabytes_through_our_esp_to_the_echo_server() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason} (strongSwan TAP lab)");
        return;
    }
    let id = std::process::id();
    let lab = Lab {
        ns: format!("zisw{id}"),
        dir: std::env::temp_dir().join(format!("ipsec-swan-{id}")),
    };
    run(Command::new("ip").args(["netns", "add", &lab.ns]));
    std::fs::create_dir_all(&lab.dir).expect("state dir");
    let port = TapPort::open(&format!("zisw{id}")).expect("TAP device opens");
    let tap = port.name().to_owned();
    run(Command::new("ip").args(["link", "set", &tap, "netns", &lab.ns]));
    let ns_run = |args: &[&str]| {
        run(Command::new("ip")
            .args(["netns", "exec", &lab.ns])
            .args(args));
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
    config.ip_mtu = 1400;
    let (stack, _task) = Stack::spawn(config, Box::new(port)).expect("stack starts");
    let rules = vec![IpSecRule {
        line: 1,
        source: AddrMatch::Any,
        destination: AddrMatch::Any,
        log: false,
        protocol: RuleProtocol::Any,
        source_port: None,
        destination_port: None,
        routing: Routing::Local,
    }];
    let daemon = IkeDaemon::new(vec![responder_peer()], ChaCha20Rng::seed_from_u64(1));
    let mut ipsec = IpsecService::start(&stack, rules, daemon, 1)
        .await
        .expect("IPSec starts");
    let echo = EchoServer::start(&stack, SocketAddrV4::new(US, 7))
        .await
        .expect("echo starts");

    lab.swan(&[
        "up",
        "swan",
        "--ns",
        &lab.ns,
        "--local",
        "192.0.2.2",
        "--remote",
        "192.0.2.1",
        "--psk",
        PSK,
        "--mobike",
        "no",
        "--initiate",
    ]);
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        ipsec.wait_for(|s| s.ike_tunnels.iter().any(|t| t.established)),
    )
    .await
    .expect("our IKE tunnel comes up");
    eprintln!("ours: {:?}", state.ike_tunnels);
    eprintln!("strongSwan:\n{}", lab.swan(&["sas", "swan"]));

    let ns = lab.ns.clone();
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
            .output()
            .expect("client runs")
    });
    let output = tokio::time::timeout(Duration::from_secs(120), client)
        .await
        .expect("the transfer ends")
        .expect("client task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "client:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the echoed bytes differ or stop");
    assert_eq!(echo.stats().bytes(), u64::from(MEGABYTES) << 20);
    let counters = ipsec.state().counters.clone();
    eprintln!("ours: {counters:?}");
    assert!(
        counters.esp_in > u64::from(MEGABYTES) * 700,
        "the data came in ESP"
    );
    assert!(
        counters.esp_out > u64::from(MEGABYTES) * 700,
        "the echo left in ESP"
    );
    let sas = lab.swan(&["sas", "swan"]);
    eprintln!("strongSwan after:\n{sas}");
    assert!(sas.contains("INSTALLED, TUNNEL-in-UDP"), "{sas}");
}
