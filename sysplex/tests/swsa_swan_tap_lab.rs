//! Sysplex-wide security associations against a real strongSwan 5.9.8 peer (root): three
//! `sysplex lpar` processes on TAP devices in a Linux bridge
//! (`fixtures/topologies/swsa-swan-tap-lab.toml`), and a Linux namespace at 192.0.2.101 on the
//! bridge where charon (kernel-libipsec, by `scripts/swan-peer`) is PEER1 of the
//! distributors' policy: identity peer1.example.org, its shared key, AES-GCM-16-256 with x25519,
//! ESP tunnel mode to the DVIPA 198.51.100.10. strongSwan initiates to SYS1, the distributor.
//!
//! Two checksummed streams (the lab's pattern, seeded with the port) go from the strongSwan
//! namespace through ESP to the stream sinks on port 5001; SYS1 distributes them by ROUNDROBIN
//! to SYS2 and SYS3, the only stacks with the sink. Mid-stream the DVIPA moves to SYS2:
//! - SIGKILL of SYS1's process: SYS2 takes the DVIPA over (EZZ8301I), reads SYS1's restart
//!   entries from EZBDVIPA and renegotiates with strongSwan as initiator with INITIAL_CONTACT;
//!   strongSwan replaces its IKE and CHILD SAs (new SPIs in `swanctl --list-sas`, the old ones
//!   gone) and both streams complete: each sink verified every byte against the pattern.
//! - The planned transfer, `V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.10` on SYS1: the
//!   same, SYS1 alive.
//!
//! The kill, the takeover message, strongSwan's new SAs and the first acknowledged byte after
//! the outage are printed with their times (run with `--nocapture`). Needs root, `ip`,
//! `python3`, strongSwan's charon and the `swan-peer` tool; skips with a message otherwise.
//!
//! ```text
//!   swan netns: eth0 192.0.2.101, charon, ipsec0, source ──┐
//!   lab netns:  bridge zsysbr0 ────────────────────────────┼── zsys1 (SYS1, distributor, IKE)
//!                                                          ├── zsys2 (SYS2, backup, sink)
//!                                                          └── zsys3 (SYS3, target, sink)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stacks::lan::netns::{Process, missing_prerequisite};
use sysplex::tap_lab::{HostSpec, TapLab};

const PATIENCE: Duration = Duration::from_secs(20);
const DVIPA: &str = "198.51.100.10";
const SINK_PORT: &str = "5001";
const STREAMS: usize = 2;
/// Bytes per stream, paced over `STREAM_SECONDS` so the move falls in the middle.
const STREAM_BYTES: u64 = 3 << 20;
const STREAM_SECONDS: &str = "6";
const CHARON: &str = "/usr/lib/ipsec/charon";

/// The pattern source: opens `count` connections to DST:PORT from the namespace, prints
/// `CONN <i> <local port>`, sends `total` bytes of the lab's stream pattern (byte `n` is byte
/// `n % 8`, little-endian, of splitmix64(port + n / 8)) on each, paced over `seconds`, then
/// closes and waits for the sink's FIN: `FINISHED <i> OK|RESET <bytes sent>`. A monitor reads
/// each socket's bytes acknowledged (TCP_INFO) every 10 ms; after a stall of 100 ms or more
/// with data in flight it prints `RESUMED <i> <last progress> <progress again>` (Unix times).
const SOURCE: &str = r#"
import socket, struct, sys, threading, time
dst, port, count, total, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
M = (1 << 64) - 1
def splitmix(x):
    z = (x + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
words = (total + 7) // 8
pattern = struct.pack("<%dQ" % words, *[splitmix((port + w) & M) for w in range(words)])[:total]
CHUNK = 4096
lock = threading.Lock()
def say(*words):
    with lock:
        print(*words, flush=True)
conns = [socket.create_connection((dst, port), timeout=30) for _ in range(count)]
for i, s in enumerate(conns):
    print("CONN", i, s.getsockname()[1], flush=True)
sent = [0] * count
done = [False] * count
def acked(s):
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("<Q", info, 120)[0] if len(info) >= 128 else 0
def monitor():
    last = [(time.time(), 0)] * count
    while not all(done):
        time.sleep(0.01)
        now = time.time()
        for i, s in enumerate(conns):
            if done[i]:
                continue
            try:
                a = acked(s)
            except OSError:
                continue
            at, before = last[i]
            if a != before:
                if now - at >= 0.03 and sent[i] > before:
                    say("RESUMED", i, "%.3f" % at, "%.3f" % now)
                last[i] = (now, a)
            elif sent[i] <= before:
                last[i] = (now, a)
def stream(i, s):
    start = time.monotonic()
    try:
        for off in range(0, total, CHUNK):
            delay = start + seconds * off / total - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            s.sendall(pattern[off:off + CHUNK])
            sent[i] = off + len(pattern[off:off + CHUNK])
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):
            pass
        say("FINISHED", i, "OK", sent[i])
    except OSError as e:
        say("FINISHED", i, "RESET", sent[i], e)
    done[i] = True
threads = [threading.Thread(target=stream, args=(i, s)) for i, s in enumerate(conns)]
watch = threading.Thread(target=monitor)
watch.start()
for t in threads:
    t.start()
for t in threads:
    t.join()
watch.join()
print("DONE", flush=True)
"#;

/// One lab at a time: each runs four processes and charon on two shared CPUs.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn swan_peer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/swan-peer")
}

/// Why the lab cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    if let Some(why) = missing_prerequisite(&["ip", "python3", "swanctl"]) {
        return Some(why);
    }
    if !Path::new(CHARON).exists() {
        return Some(format!(
            "no strongSwan ({CHARON}; apt-get install strongswan-charon strongswan-swanctl \
             libcharon-extra-plugins)"
        ));
    }
    if !swan_peer().exists() {
        return Some(format!("no lab tool at {}", swan_peer().display()));
    }
    None
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// strongSwan's charon in the host namespace, run by `swan-peer` with its state in a directory
/// of its own; stopped and removed when dropped (before the namespace goes).
struct Swan {
    dir: PathBuf,
}

impl Swan {
    /// Starts charon in `ns` as PEER1 of the DVIPA and initiates its tunnel.
    fn up(ns: &str) -> Self {
        let swan = Self {
            dir: std::env::temp_dir().join(format!("zsys-swan-{}-{ns}", std::process::id())),
        };
        std::fs::create_dir_all(&swan.dir).expect("strongSwan's state directory");
        swan.run(&[
            "up",
            "swan",
            "--ns",
            ns,
            "--local",
            "192.0.2.101",
            "--remote",
            DVIPA,
            "--local-id",
            "peer1.example.org",
            "--remote-id",
            DVIPA,
            "--psk",
            "swsa-peer1-secret",
            "--proposal",
            "aes256gcm16-prfsha256-x25519",
            "--esp",
            "aes256gcm16",
            "--mobike",
            "no",
            "--initiate",
        ]);
        swan
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(swan_peer());
        command.args(args).env("SWAN_LAB_DIR", &self.dir);
        command
    }

    /// A `swan-peer` command that must succeed; its standard output.
    fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("swan-peer runs");
        assert!(
            output.status.success(),
            "swan-peer {args:?} failed: {}{}\ncharon's log:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `swanctl --list-sas` (straight to charon's VICI socket, without the script: polled).
    fn sas(&self) -> String {
        let state = self.dir.join("swan");
        let output = Command::new("swanctl")
            .arg("--list-sas")
            .arg("--uri")
            .arg(format!("unix://{}", state.join("charon.vici").display()))
            .env("STRONGSWAN_CONF", state.join("strongswan.conf"))
            .output()
            .expect("swanctl runs");
        assert!(
            output.status.success(),
            "swanctl --list-sas failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Watches charon's log from now on, in a thread, for the line of a CHILD SA established:
    /// when it came (looked for every 2 ms, for `PATIENCE`).
    fn watch_for_new_child(&self) -> std::thread::JoinHandle<Option<Instant>> {
        let path = self.dir.join("swan/charon.log");
        let from = self.log().len();
        std::thread::spawn(move || {
            let started = Instant::now();
            while started.elapsed() < PATIENCE {
                let log = std::fs::read(&path).unwrap_or_default();
                let new = String::from_utf8_lossy(log.get(from..).unwrap_or_default());
                if new
                    .lines()
                    .any(|l| l.contains("CHILD_SA") && l.contains("established with SPIs"))
                {
                    return Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            None
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("swan/charon.log")).unwrap_or_default()
    }
}

impl Drop for Swan {
    fn drop(&mut self) {
        let _ = self.command(&["down", "swan"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The SAs of a `swanctl --list-sas` listing.
#[derive(Debug, Default, PartialEq, Eq)]
struct SwanSas {
    /// The SPI pairs of the ESTABLISHED IKE SAs (`<spi_i>_i <spi_r>_r`).
    ike: BTreeSet<String>,
    /// The inbound and outbound SPIs of the INSTALLED CHILD SAs.
    child: BTreeSet<String>,
}

fn swan_sas(listing: &str) -> SwanSas {
    let mut sas = SwanSas::default();
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.contains("ESTABLISHED") {
            let spis: Vec<&str> = words
                .iter()
                .filter(|w| w.contains("_i") || w.contains("_r"))
                .copied()
                .collect();
            sas.ike.insert(spis.join(" "));
        }
        if let [direction @ ("in" | "out"), spi, ..] = words.as_slice() {
            sas.child
                .insert(format!("{direction} {}", spi.trim_end_matches(',')));
        }
    }
    sas
}

/// The bytes in and out of the CHILD SAs of a `swanctl --list-sas` listing.
fn child_bytes(listing: &str) -> (u64, u64) {
    let (mut inbound, mut outbound) = (0, 0);
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [direction @ ("in" | "out"), _spi, bytes, "bytes,", ..] = words.as_slice() {
            let bytes: u64 = bytes.parse().unwrap_or(0);
            match *direction {
                "in" => inbound += bytes,
                _ => outbound += bytes,
            }
        }
    }
    (inbound, outbound)
}

/// Runs console `commands` attached to the lab and returns every line it printed once a line
/// with `last_line` came.
fn console(lab: &TapLab, topology: &str, commands: &[&str], last_line: &str) -> Vec<String> {
    let script = std::env::temp_dir().join(format!(
        "zsys-swan-script-{}-{}",
        std::process::id(),
        lab.lab.name()
    ));
    std::fs::write(&script, commands.join("\n") + "\n").expect("writes the console script");
    let mut console: Process = lab
        .lab
        .spawn(&[
            env!("CARGO_BIN_EXE_sysplex"),
            "console",
            "--topology",
            topology,
            "--attach",
            "--script",
            script.to_str().expect("a UTF-8 path"),
        ])
        .expect("starts the console");
    let answered = console.expect(last_line, PATIENCE);
    let lines = console.drain().to_vec();
    let _ = std::fs::remove_file(&script);
    answered.unwrap_or_else(|e| panic!("the console answers {commands:?}: {e}"));
    lines
}

/// The VCRT of SYS1 as client port -> DestXCF.
fn routes(lines: &[String]) -> BTreeMap<u16, String> {
    let mut routes = BTreeMap::new();
    let mut source_port = None;
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "Source:") {
            source_port = words
                .get(i + 1)
                .and_then(|s| s.rsplit("..").next())
                .and_then(|p| p.parse().ok());
        }
        if let Some(i) = words.iter().position(|w| *w == "DestXCF:")
            && let (Some(port), Some(xcf)) = (source_port.take(), words.get(i + 1))
        {
            routes.insert(port, (*xcf).to_owned());
        }
    }
    routes
}

/// How the DVIPA leaves SYS1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    /// SIGKILL of SYS1's process.
    Kill,
    /// `V TCPIP,TCPCS,SYSPLEX,DEACTIVATE` on SYS1.
    Deactivate,
}

/// The lab with strongSwan's tunnel up and SYS1 distributing to SYS2 and SYS3.
struct SwanLab {
    // strongSwan goes before the namespaces it runs in.
    swan: Swan,
    lab: TapLab,
    topology: String,
}

impl SwanLab {
    fn start() -> Self {
        let topology = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/topologies/swsa-swan-tap-lab.toml");
        let host = HostSpec {
            address: "192.0.2.101/24".to_owned(),
            on_link: vec!["198.51.100.0/24".to_owned()],
        };
        let lab = TapLab::start(
            Path::new(env!("CARGO_BIN_EXE_sysplex")),
            &topology,
            "swan",
            Some(&host),
        )
        .expect("the TAP lab starts");
        let topology = topology.to_str().expect("a UTF-8 path").to_owned();
        let swan = Swan::up(lab.host.as_ref().expect("the host namespace").name());
        let lab = Self {
            swan,
            lab,
            topology,
        };
        lab.ready_targets(2);
        lab
    }

    fn console(&self, commands: &[&str], last_line: &str) -> Vec<String> {
        console(&self.lab, &self.topology, commands, last_line)
    }

    /// Waits until SYS1 has `count` targets with a ready listener on the sink's port.
    fn ready_targets(&self, count: usize) {
        let mut ready = 0;
        for _ in 0..40 {
            let lines = self.console(
                &[
                    "RO SYS1,D TCPIP,TCPCS,NETSTAT,VDPT",
                    "RO SYS1,D TCPIP,TCPCS,NETSTAT,VIPADYN",
                ],
                "Dynamic VIPA:",
            );
            ready = lines
                .iter()
                .filter(|l| l.contains("Rdy:") && !l.contains("Rdy: 000"))
                .count();
            if ready == count {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("SYS1 has {ready} ready targets, not {count}");
    }

    /// Starts the streams; returns the source and the target (DestXCF) of each stream.
    fn start_streams(&self) -> (Process, BTreeMap<usize, String>) {
        let host = self.lab.host.as_ref().expect("the host namespace");
        let mut source = host
            .spawn(&[
                "python3",
                "-c",
                SOURCE,
                DVIPA,
                SINK_PORT,
                &STREAMS.to_string(),
                &STREAM_BYTES.to_string(),
                STREAM_SECONDS,
            ])
            .expect("starts the source");
        source
            .expect(&format!("CONN {}", STREAMS - 1), PATIENCE)
            .unwrap_or_else(|e| panic!("the streams connect: {e}\n{}", self.swan.log()));
        let ports: BTreeMap<usize, u16> = source
            .drain()
            .iter()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                (words.next()? == "CONN").then_some(())?;
                Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
            })
            .collect();
        let routes = routes(&self.console(
            &[
                "RO SYS1,D TCPIP,TCPCS,NETSTAT,VCRT",
                "RO SYS1,D TCPIP,TCPCS,NETSTAT,VIPADYN",
            ],
            "Dynamic VIPA:",
        ));
        let targets: BTreeMap<usize, String> = ports
            .iter()
            .map(|(i, port)| (*i, routes.get(port).cloned().unwrap_or_default()))
            .collect();
        assert_eq!(
            targets.values().cloned().collect::<BTreeSet<_>>(),
            BTreeSet::from(["203.0.113.12".to_owned(), "203.0.113.13".to_owned()]),
            "ROUNDROBIN sends one stream to each stack with the sink: {routes:?} {ports:?}"
        );
        (source, targets)
    }
}

/// The sink reports SYS`n` printed: (end, received, verified, mismatch).
fn sink_reports(process: &mut Process) -> Vec<(String, u64, u64, String)> {
    process
        .drain()
        .iter()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "STRMSINK")?;
            match words.get(at..)? {
                [
                    _,
                    _,
                    end,
                    "RECEIVED",
                    received,
                    "VERIFIED",
                    verified,
                    "MISMATCH",
                    mismatch,
                    ..,
                ] => Some((
                    (*end).to_owned(),
                    received.parse().ok()?,
                    verified.parse().ok()?,
                    (*mismatch).to_owned(),
                )),
                _ => None,
            }
        })
        .collect()
}

/// Moves the DVIPA from SYS1 to SYS2 `how`, mid-stream, and checks that strongSwan's SAs are
/// renegotiated by SYS2 and that every byte of both streams reached its sink.
fn move_mid_stream(how: Move) {
    if let Some(why) = skip_reason() {
        eprintln!("skipping the SWSA strongSwan TAP lab: {why}");
        return;
    }
    let _turn = one_at_a_time();
    let mut lab = SwanLab::start();
    let before = swan_sas(&lab.swan.sas());
    assert_eq!(
        (before.ike.len(), before.child.len()),
        (1, 2),
        "one IKE SA and one CHILD SA (in and out) with SYS1: {}",
        lab.swan.sas()
    );
    let (mut source, targets) = lab.start_streams();
    std::thread::sleep(Duration::from_millis(2000));

    let new_child_logged = lab.swan.watch_for_new_child();
    let kill_time = unix_now();
    let moved = Instant::now();
    match how {
        Move::Kill => lab
            .lab
            .lpar("SYS1")
            .expect("SYS1")
            .kill()
            .expect("SIGKILL SYS1"),
        Move::Deactivate => {
            let lines = lab.console(
                &["RO SYS1,V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.10"],
                "EZD1197I",
            );
            eprintln!("{}", lines.join("\n"));
        }
    }
    let taken = lab
        .lab
        .lpar("SYS2")
        .expect("SYS2")
        .expect(
            "EZZ8301I VIPA 198.51.100.10 TAKEN OVER FROM TCPCS ON SYS1",
            PATIENCE,
        )
        .expect("SYS2 takes the DVIPA over");
    let takeover = moved.elapsed();
    eprintln!("{taken}");

    // strongSwan replaces its SAs with SYS2's (INITIAL_CONTACT): new SPIs, the old ones gone.
    let (renegotiated, after) = loop {
        let listing = lab.swan.sas();
        let after = swan_sas(&listing);
        if after.ike.len() == 1
            && after.child.len() == 2
            && after.ike.is_disjoint(&before.ike)
            && after.child.is_disjoint(&before.child)
        {
            eprintln!("strongSwan after the move:\n{listing}");
            break (moved.elapsed(), after);
        }
        assert!(
            moved.elapsed() < PATIENCE,
            "strongSwan's SAs were not replaced: before {before:?}, now {after:?}\n{listing}\n\
             charon's log:\n{}",
            lab.swan.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let logged = new_child_logged
        .join()
        .expect("the log watcher")
        .map(|at| at.saturating_duration_since(moved));
    let log = lab.swan.log();
    assert!(
        log.contains("received INITIAL_CONTACT") || log.contains("destroying duplicate IKE_SA"),
        "SYS2 initiated with INITIAL_CONTACT:\n{log}"
    );
    let display = lab.console(&["RO SYS2,ipsec -y display"], "entries selected");
    assert!(
        display
            .iter()
            .any(|l| l.contains("ActivationMethod") && l.contains("Takeover")),
        "SYS2's tunnel shows ActivationMethod Takeover: {display:#?}"
    );

    // Both streams complete and each sink verified every byte.
    source
        .expect("DONE", Duration::from_secs(40))
        .expect("the streams end");
    let lines = source.drain().to_vec();
    eprintln!("source:\n{}", lines.join("\n"));
    for i in 0..STREAMS {
        let finished = format!("FINISHED {i} OK {STREAM_BYTES}");
        assert!(
            lines.contains(&finished),
            "stream {i} to {} did not finish: {lines:#?}",
            targets[&i]
        );
    }
    // The rest of the streams went through SYS2's new SAs both ways (the sinks' ACKs come
    // back in ESP), and strongSwan holds only those.
    let listing = lab.swan.sas();
    let last = swan_sas(&listing);
    assert_eq!(last, after, "no other SA since the move: {listing}");
    let (esp_in, esp_out) = child_bytes(&listing);
    assert!(
        esp_in > 0 && esp_out > 0,
        "the streams used the new CHILD SA: {listing}"
    );

    let mut reports = Vec::new();
    for sysname in ["SYS2", "SYS3"] {
        let process = lab.lab.lpar(sysname).expect("the LPAR");
        let _ = process.expect("STRMSINK", PATIENCE);
        let theirs = sink_reports(process);
        assert_eq!(theirs.len(), 1, "{sysname}'s sink reports: {theirs:?}");
        reports.extend(theirs);
    }
    for report in &reports {
        assert_eq!(
            report,
            &(
                "Closed".to_owned(),
                STREAM_BYTES,
                STREAM_BYTES,
                "NONE".to_owned()
            ),
            "every byte received and verified"
        );
    }

    // The timeline for the benchmark table: the stalls of the streams (no byte acknowledged
    // for 30 ms or more with data in flight) that began before strongSwan had its new SAs
    // and ended after the move began.
    let ms = |at: f64| ((at - kill_time) * 1000.0).round();
    let renegotiated_ms = f64::from(u32::try_from(renegotiated.as_millis()).unwrap_or(u32::MAX));
    let stalls: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next()? == "RESUMED").then_some(())?;
            let stream: usize = words.next()?.parse().ok()?;
            let stalled: f64 = words.next()?.parse().ok()?;
            let again: f64 = words.next()?.parse().ok()?;
            (ms(again) > 0.0 && ms(stalled) <= renegotiated_ms).then(|| {
                format!(
                    "stream {stream} to {}: {:+} -> {:+} ms",
                    targets.get(&stream).map_or("?", String::as_str),
                    ms(stalled),
                    ms(again)
                )
            })
        })
        .collect();
    eprintln!(
        "timeline ({how:?}, from the move): SYS2's EZZ8301I seen +{} ms, strongSwan logs its \
         new CHILD SA +{} ms, its new SAs listed +{} ms, stalls across the move (last byte \
         acknowledged -> acknowledged again): {stalls:?}",
        takeover.as_millis(),
        logged.map_or_else(|| "?".to_owned(), |at| at.as_millis().to_string()),
        renegotiated.as_millis(),
    );
}

#[test]
fn sigkill_of_the_distributor_strongswan_gets_new_sas_and_the_streams_lose_no_byte() {
    move_mid_stream(Move::Kill);
}

#[test]
fn planned_transfer_strongswan_gets_new_sas_and_the_streams_lose_no_byte() {
    move_mid_stream(Move::Deactivate);
}
