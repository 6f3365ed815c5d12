//! Interop of `ike::sa` with a real strongSwan 5.9.8 (kernel-libipsec) peer, run by the lab tool
//! `swan-peer` (in `scripts/`) in network namespaces this test creates
//! and removes.
//!
//! Our IKE SA first initiates to strongSwan (IKE_SA_INIT on 500, IKE_AUTH on 4500 with the
//! non-ESP marker, PSK, AES-GCM-16 + x25519, one CHILD SA), checks that strongSwan lists the
//! SA as established with its CHILD SA installed, then deletes it; then strongSwan initiates to
//! our responder. Needs root, iproute2 and strongSwan (charon, swanctl); skips otherwise.

use std::env;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ike::crypto::ids::DhGroup;
use ike::crypto::{AesKeySize, Encryption, EspSuite, IkeSuite, Integrity, Prf, SecretBytes};
use ike::sa::{Action, IkeSa, IkeSaConfig, Mode, RetransmitPolicy};
use ike::wire::{Identity, Ipv4Range};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const INNER: &str = "IKE_SA_INTEROP_ROLE";
const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SWAN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PSK: &str = "zsysplex-interop-secret";
const CHARON: &str = "/usr/lib/ipsec/charon";
const TEST_NAME: &str = "our_ike_sa_interoperates_with_strongswan";

/// The lab tool `swan-peer`, found from the crate's directory: `<repo>/scripts/swan-peer`.
fn swan_peer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/swan-peer")
}

/// Our policy: strongSwan's default proposals (AES-GCM-16, x25519), or with
/// `IKE_SA_INTEROP_SUITE=classic` aes256-sha256-modp2048 for IKE and aes256-sha256 for ESP.
fn config() -> IkeSaConfig {
    let gcm = Encryption::AesGcm16(AesKeySize::Aes128);
    let cbc = Encryption::AesCbc(AesKeySize::Aes256);
    let sha = Some(Integrity::HmacSha2_256_128);
    let classic = env::var("IKE_SA_INTEROP_SUITE").is_ok_and(|s| s == "classic");
    let (ike, esp) = if classic {
        (
            IkeSuite::new(cbc, sha, Prf::HmacSha2_256, DhGroup::MODP_2048),
            EspSuite::new(cbc, sha),
        )
    } else {
        (
            IkeSuite::new(gcm, None, Prf::HmacSha2_256, DhGroup::CURVE25519),
            EspSuite::new(gcm, None),
        )
    };
    IkeSaConfig {
        local_id: Identity::Ipv4(US),
        remote_id: Identity::Ipv4(SWAN),
        psk: SecretBytes::new(PSK.as_bytes().to_vec()),
        ike_suites: vec![ike.unwrap()],
        esp_suites: vec![esp.unwrap()],
        pfs: DhGroup::NONE,
        local_ts: Ipv4Range::host(US),
        remote_ts: Ipv4Range::host(SWAN),
        mode: Mode::Tunnel,
        force_udp_encapsulation: true,
        initial_contact: true,
        retransmit: RetransmitPolicy {
            first_timeout: Duration::from_millis(500),
            tries: 4,
        },
        dpd_interval: None,
        child_lifetime: Duration::from_secs(3600),
        child_rekey_time: None,
        ike_rekey_time: None,
    }
}

/// Our two UDP sockets (500 and 4500) inside the namespace, and the SA they serve.
struct Endpoint {
    sockets: [UdpSocket; 2],
    rng: ChaCha20Rng,
    established: bool,
    installs: usize,
    deletes: usize,
    closed: bool,
    successor: Option<Box<IkeSa>>,
}

impl Endpoint {
    fn bind() -> Self {
        let sockets = [500, 4500].map(|port| {
            let s = UdpSocket::bind(SocketAddrV4::new(US, port)).expect("bind IKE port");
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            s
        });
        let rng = ChaCha20Rng::from_entropy();
        Self {
            sockets,
            rng,
            established: false,
            installs: 0,
            deletes: 0,
            closed: false,
            successor: None,
        }
    }

    fn send(&mut self, sa: &mut IkeSa) {
        for action in sa.drain_actions() {
            eprintln!("ours: {action}");
            match action {
                Action::SendDatagram { from, to, bytes } => {
                    let socket = &self.sockets[usize::from(from.port() == 4500)];
                    socket.send_to(&bytes, to).expect("send");
                }
                Action::IkeSaEstablished(_) => self.established = true,
                Action::InstallChildSa(_) => self.installs += 1,
                Action::DeleteChildSa { .. } => self.deletes += 1,
                Action::IkeSaClosed(_) => self.closed = true,
                Action::IkeSaRekeyed { new, .. } => self.successor = Some(new),
                Action::InitialContact { .. } => {}
            }
        }
    }

    /// One datagram from either socket, if any arrives within the read timeouts.
    fn receive(&self) -> Option<(SocketAddrV4, SocketAddrV4, Vec<u8>)> {
        for (socket, port) in self.sockets.iter().zip([500, 4500]) {
            let mut buf = vec![0; 65536];
            if let Ok((n, std::net::SocketAddr::V4(src))) = socket.recv_from(&mut buf) {
                buf.truncate(n);
                return Some((src, SocketAddrV4::new(US, port), buf));
            }
        }
        None
    }

    /// Runs the SA until `done` or the deadline.
    fn pump(&mut self, sa: &mut IkeSa, done: impl Fn(&Self, &IkeSa) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            self.send(sa);
            if done(self, sa) {
                return true;
            }
            if let Some((src, dst, bytes)) = self.receive()
                && let Err(e) = sa.handle_datagram(Instant::now(), &mut self.rng, src, dst, &bytes)
            {
                eprintln!("ours: dropped datagram from {src}: {e}");
            }
            if sa.poll_timeout().is_some_and(|t| Instant::now() >= t) {
                sa.handle_timeout(Instant::now(), &mut self.rng).unwrap();
            }
        }
        false
    }
}

/// Inside namespace A: initiate to strongSwan, then delete the SA again.
fn run_initiator() {
    let mut ep = Endpoint::bind();
    let (local, remote) = (SocketAddrV4::new(US, 500), SocketAddrV4::new(SWAN, 500));
    let mut sa = IkeSa::initiate(config(), Instant::now(), &mut ep.rng, local, remote).unwrap();
    assert!(
        ep.pump(&mut sa, |ep, _| ep.established && ep.installs == 1),
        "no SA with strongSwan"
    );
    assert_eq!(sa.local().port(), 4500, "IKE did not float to 4500");
    // Let the outer test look at strongSwan's SA list before we delete ours.
    std::fs::write(env::var("IKE_SA_INTEROP_FLAG").unwrap(), b"up").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // CHILD SA rekey: a new CHILD SA, then the old one deleted.
    let old_child = sa.children()[0].inbound_spi;
    sa.rekey_child(Instant::now(), &mut ep.rng, old_child)
        .unwrap();
    let rekeyed = ep.pump(&mut sa, |ep, _| ep.installs == 2 && ep.deletes == 1);
    assert!(rekeyed, "CHILD SA rekey with strongSwan failed");
    assert!(sa.children().iter().all(|c| c.inbound_spi != old_child));
    // IKE SA rekey: the old SA is deleted, the new one answers a liveness check.
    sa.rekey_ike(Instant::now(), &mut ep.rng).unwrap();
    assert!(
        ep.pump(&mut sa, |ep, _| ep.closed),
        "IKE SA rekey with strongSwan failed"
    );
    let mut sa = *ep.successor.take().expect("no new IKE SA");
    ep.closed = false;
    assert_eq!(sa.children().len(), 1);
    sa.check_liveness(Instant::now(), &mut ep.rng).unwrap();
    let answered = ep.pump(&mut sa, |_, sa| sa.poll_timeout().is_none());
    assert!(
        answered && sa.is_established(),
        "no liveness answer on the new IKE SA"
    );
    sa.delete(Instant::now(), &mut ep.rng).unwrap();
    assert!(
        ep.pump(&mut sa, |ep, _| ep.closed),
        "strongSwan did not answer our delete"
    );
}

/// Inside namespace A: wait for strongSwan's IKE_SA_INIT and answer it, then follow the
/// CHILD SA and IKE SA rekeys strongSwan starts. Each step is reported with a flag file.
fn run_responder() {
    let flag = |step: &str| {
        let path = PathBuf::from(env::var("IKE_SA_INTEROP_FLAG").unwrap()).with_extension(step);
        std::fs::write(path, b"").unwrap();
    };
    let mut ep = Endpoint::bind();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sa = loop {
        assert!(Instant::now() < deadline, "strongSwan never initiated");
        if let Some((src, dst, bytes)) = ep.receive() {
            match IkeSa::respond(config(), Instant::now(), &mut ep.rng, src, dst, &bytes) {
                Ok(sa) => break sa,
                Err(e) => eprintln!("ours: not an IKE_SA_INIT request from {src}: {e}"),
            }
        }
    };
    let up = ep.pump(&mut sa, |ep, _| ep.established && ep.installs == 1);
    assert!(up, "strongSwan did not finish");
    flag("up");
    let rekeyed = ep.pump(&mut sa, |ep, _| ep.installs == 2 && ep.deletes == 1);
    assert!(rekeyed, "strongSwan's CHILD SA rekey did not complete");
    flag("child");
    assert!(
        ep.pump(&mut sa, |ep, _| ep.closed),
        "strongSwan's IKE SA rekey did not complete"
    );
    let mut sa = *ep.successor.take().expect("no new IKE SA");
    assert_eq!(
        (sa.children().len(), ep.deletes),
        (1, 1),
        "CHILD SA lost in the IKE rekey"
    );
    sa.check_liveness(Instant::now(), &mut ep.rng).unwrap();
    let answered = ep.pump(&mut sa, |_, sa| sa.poll_timeout().is_none());
    assert!(
        answered && sa.is_established(),
        "no liveness answer on the new IKE SA"
    );
    flag("ike");
}

/// The namespaces, the strongSwan peer and its state directory; removed on drop.
struct Lab {
    ns_a: String,
    ns_b: String,
    dir: PathBuf,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

impl Lab {
    fn up() -> Self {
        let id = std::process::id();
        let lab = Self {
            ns_a: format!("ikwa{id}"),
            ns_b: format!("ikwb{id}"),
            dir: env::temp_dir().join(format!("ike-sa-interop-{id}")),
        };
        let (a, b) = (&lab.ns_a, &lab.ns_b);
        run(Command::new("ip").args(["netns", "add", a]));
        run(Command::new("ip").args(["netns", "add", b]));
        let (va, vb) = (format!("{a}0"), format!("{b}0"));
        run(Command::new("ip").args([
            "link", "add", &va, "netns", a, "type", "veth", "peer", "name", &vb, "netns", b,
        ]));
        run(Command::new("ip").args(["-n", a, "addr", "add", "192.0.2.1/24", "dev", &va]));
        run(Command::new("ip").args(["-n", b, "addr", "add", "192.0.2.2/24", "dev", &vb]));
        for (ns, dev) in [(a, &va), (b, &vb)] {
            run(Command::new("ip").args(["-n", ns, "link", "set", "lo", "up"]));
            run(Command::new("ip").args(["-n", ns, "link", "set", dev, "up"]));
        }
        lab
    }

    fn swan(&self, args: &[&str]) -> String {
        run(Command::new(swan_peer())
            .args(args)
            .env("SWAN_LAB_DIR", &self.dir))
    }

    fn inner(&self, role: &str, suite: &str, flag: &Path) -> Child {
        let exe = env::current_exe().unwrap();
        Command::new("ip")
            .args(["netns", "exec", &self.ns_a])
            .arg(exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(INNER, role)
            .env("IKE_SA_INTEROP_SUITE", suite)
            .env("IKE_SA_INTEROP_FLAG", flag)
            .spawn()
            .expect("spawn inner test")
    }

    fn wait_for(flag: &Path, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(25);
        while !flag.exists() {
            assert!(Instant::now() < deadline, "our side did not come up");
            if let Ok(Some(status)) = child.try_wait() {
                panic!("our side exited early: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(swan_peer())
            .args(["down", "swan"])
            .env("SWAN_LAB_DIR", &self.dir)
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns_a])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns_b])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn our_ike_sa_interoperates_with_strongswan() {
    match env::var(INNER).as_deref() {
        Ok("initiator") => return run_initiator(),
        Ok("responder") => return run_responder(),
        _ => {}
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let swan_peer = swan_peer();
    if !swan_peer.exists() {
        eprintln!(
            "skipped: the lab tool {} is absent (scripts/swan-peer)",
            swan_peer.display()
        );
        return;
    }
    if !root || !Path::new(CHARON).exists() {
        eprintln!("skipped: needs root and {CHARON} (strongSwan 5.9 interop)");
        return;
    }
    let lab = Lab::up();
    std::fs::create_dir_all(&lab.dir).unwrap();
    let up = [
        "up",
        "swan",
        "--ns",
        &lab.ns_b,
        "--local",
        "192.0.2.2",
        "--remote",
        "192.0.2.1",
        "--psk",
        PSK,
        "--respond",
        "--mobike",
        "no",
    ];
    lab.swan(&up);

    // 1. We initiate.
    let flag = lab.dir.join("initiator.up");
    let mut ours = lab.inner("initiator", "default", &flag);
    Lab::wait_for(&flag, &mut ours);
    let sas = lab.swan(&["sas", "swan"]);
    eprintln!("strongSwan:\n{sas}");
    assert!(
        sas.contains("ESTABLISHED"),
        "strongSwan has no established IKE SA:\n{sas}"
    );
    assert!(
        sas.contains("INSTALLED, TUNNEL-in-UDP"),
        "no CHILD SA in strongSwan:\n{sas}"
    );
    assert!(
        sas.contains("AES_GCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519"),
        "{sas}"
    );
    assert!(ours.wait().unwrap().success(), "our initiator failed");

    // 2. strongSwan initiates to our responder, then rekeys the CHILD SA and the IKE SA.
    let flag = lab.dir.join("responder");
    let mut ours = lab.inner("responder", "default", &flag);
    std::thread::sleep(Duration::from_millis(300));
    lab.swan(&["initiate", "swan"]);
    Lab::wait_for(&flag.with_extension("up"), &mut ours);
    let sas = lab.swan(&["sas", "swan"]);
    eprintln!("strongSwan:\n{sas}");
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED, TUNNEL-in-UDP"),
        "{sas}"
    );
    lab.swan(&["ctl", "swan", "--rekey", "--child", "swan"]);
    Lab::wait_for(&flag.with_extension("child"), &mut ours);
    lab.swan(&["ctl", "swan", "--rekey", "--ike", "swan"]);
    Lab::wait_for(&flag.with_extension("ike"), &mut ours);
    assert!(ours.wait().unwrap().success(), "our responder failed");
    let sas = lab.swan(&["sas", "swan"]);
    eprintln!("strongSwan after its rekeys:\n{sas}");
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED, TUNNEL-in-UDP"),
        "{sas}"
    );

    // 3. The classic suite: AES-CBC-256 + HMAC-SHA2-256-128 in SK payloads and ESP, MODP-2048.
    lab.swan(&["down", "swan"]);
    let mut classic = up.to_vec();
    classic.extend([
        "--proposal",
        "aes256-sha256-modp2048",
        "--esp",
        "aes256-sha256",
    ]);
    lab.swan(&classic);
    let flag = lab.dir.join("classic.up");
    let mut ours = lab.inner("initiator", "classic", &flag);
    Lab::wait_for(&flag, &mut ours);
    let sas = lab.swan(&["sas", "swan"]);
    eprintln!("strongSwan:\n{sas}");
    assert!(
        sas.contains("AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"),
        "{sas}"
    );
    assert!(sas.contains("ESP:AES_CBC-256/HMAC_SHA2_256_128"), "{sas}");
    assert!(
        ours.wait().unwrap().success(),
        "our initiator failed with the classic suite"
    );
}
