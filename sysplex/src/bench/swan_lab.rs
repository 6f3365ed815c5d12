//! The strongSwan TAP lab (root), shared by the test `swsa_swan_tap_lab` and `sysplex bench
//! swsa`: three `sysplex lpar` processes on TAP devices in a Linux bridge
//! (`fixtures/topologies/swsa-swan-tap-lab.toml`), and a Linux namespace at 192.0.2.101 on the
//! bridge where a real strongSwan charon (kernel-libipsec, by `scripts/swan-peer`) is PEER1 of
//! the distributors' policy: identity peer1.example.org, its shared key, AES-GCM-16-256 with
//! x25519, ESP tunnel mode to the DVIPA 198.51.100.10. strongSwan initiates to SYS1.
//!
//! [`move_mid_stream`] starts two paced checksummed streams from the strongSwan namespace
//! through ESP to the stream sinks on port 5001 (SYS1 distributes them by ROUNDROBIN to SYS2
//! and SYS3), moves the DVIPA to SYS2 mid-stream ([`Move`]: SIGKILL of SYS1 or DEACTIVATE),
//! waits for SYS2's EZZ8301I, for strongSwan's SAs to be replaced and for the streams to end,
//! and returns what it saw ([`Outcome`]) with the times from the move ([`Timing`]). Judging the
//! outcome is the caller's.
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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stacks::lan::netns::{CHARON, Process, missing_strongswan};

use crate::Error;
use crate::tap_lab::{HostSpec, TapLab, stream_ports, vcrt_routes};

const PATIENCE: Duration = Duration::from_secs(20);
/// The DVIPA strongSwan's tunnel ends at.
pub const DVIPA: &str = "198.51.100.10";
const SINK_PORT: &str = "5001";
/// The streams of a run.
pub const STREAMS: usize = 2;
/// Bytes per stream, paced over `STREAM_SECONDS` so the move falls in the middle.
pub const STREAM_BYTES: u64 = 3 << 20;
const STREAM_SECONDS: &str = "6";
/// How long the streams run before the move.
const BEFORE_MOVE: Duration = Duration::from_millis(2000);

/// The pattern source: opens `count` connections to DST:PORT from the namespace, prints
/// `CONN <i> <local port>`, sends `total` bytes of the lab's stream pattern (byte `n` is byte
/// `n % 8`, little-endian, of splitmix64(port + n / 8)) on each, paced over `seconds`, then
/// closes and waits for the sink's FIN: `FINISHED <i> OK|RESET <bytes sent>`. A monitor reads
/// each socket's bytes acknowledged (TCP_INFO) every 10 ms; after a stall of 30 ms or more
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
fn swan_peer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/swan-peer")
}

/// The lab's topology, in the source tree.
pub fn topology() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/swsa-swan-tap-lab.toml")
}

/// Why the lab cannot run here (not root, a command or strongSwan missing), if it cannot.
pub fn skip_reason() -> Option<String> {
    missing_strongswan(&swan_peer(), &["python3"])
}

/// charon's version line (`Linux strongSwan 5.9.8`), if it runs.
pub fn peer_version() -> Option<String> {
    let output = Command::new(CHARON).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.lines().next()?.trim().to_owned()).filter(|v| !v.is_empty())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `swanctl --list-sas` of the charon whose `swan-peer` state is in `dir`.
fn list_sas(dir: &Path) -> Result<String, Error> {
    let state = dir.join("swan");
    let output = Command::new("swanctl")
        .arg("--list-sas")
        .arg("--uri")
        .arg(format!("unix://{}", state.join("charon.vici").display()))
        .env("STRONGSWAN_CONF", state.join("strongswan.conf"))
        .output()
        .map_err(|e| Error::Lab(format!("swanctl does not run: {e}")))?;
    if !output.status.success() {
        return Err(Error::Lab(format!(
            "swanctl --list-sas failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// strongSwan's SAs after the move, as [`Swan::watch_for_new_sas`] saw them.
struct NewSas {
    /// When the first listing with only new SAs was taken, from the move.
    listed_at: Duration,
    /// That listing.
    listing: String,
    /// Its SAs.
    sas: SwanSas,
    /// When the new CHILD SA first showed bytes both ways, from the move.
    protected_at: Option<Duration>,
}

/// strongSwan's charon in the host namespace, run by `swan-peer` with its state in a directory
/// of its own; stopped and removed when dropped (before the namespace goes).
struct Swan {
    dir: PathBuf,
}

impl Swan {
    /// Starts charon in `ns` as PEER1 of the DVIPA and initiates its tunnel.
    fn up(ns: &str) -> Result<Self, Error> {
        let swan = Self {
            dir: std::env::temp_dir().join(format!("zsys-swan-{}-{ns}", std::process::id())),
        };
        std::fs::create_dir_all(&swan.dir)
            .map_err(|e| Error::Lab(format!("strongSwan's state directory: {e}")))?;
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
        ])?;
        Ok(swan)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(swan_peer());
        command.args(args).env("SWAN_LAB_DIR", &self.dir);
        command
    }

    /// A `swan-peer` command that must succeed; its standard output.
    fn run(&self, args: &[&str]) -> Result<String, Error> {
        let output = self
            .command(args)
            .output()
            .map_err(|e| Error::Lab(format!("swan-peer does not run: {e}")))?;
        if !output.status.success() {
            return Err(Error::Lab(format!(
                "swan-peer {args:?} failed: {}{}\ncharon's log:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                self.log()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `swanctl --list-sas` (straight to charon's VICI socket, without the script: polled).
    fn sas(&self) -> Result<String, Error> {
        list_sas(&self.dir)
    }

    /// Polls `swanctl --list-sas` every 10 ms from now on, in a thread, until strongSwan holds
    /// one IKE SA and one CHILD SA disjoint from `before`, then until the new CHILD SA has
    /// counted bytes both ways (each for `PATIENCE` from `moved`).
    fn watch_for_new_sas(
        &self,
        before: SwanSas,
        moved: Instant,
    ) -> std::thread::JoinHandle<Result<NewSas, Error>> {
        let dir = self.dir.clone();
        std::thread::spawn(move || {
            let (listed_at, listing, sas) = loop {
                let listing = list_sas(&dir)?;
                let polled = moved.elapsed();
                let now = swan_sas(&listing);
                if now.ike.len() == 1
                    && now.child.len() == 2
                    && now.ike.is_disjoint(&before.ike)
                    && now.child.is_disjoint(&before.child)
                {
                    break (polled, listing, now);
                }
                if moved.elapsed() >= PATIENCE {
                    return Err(Error::Lab(format!(
                        "strongSwan's SAs were not replaced: before {before:?}, now {now:?}\n\
                         {listing}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            let (mut latest, mut at) = (listing.clone(), listed_at);
            let protected_at = loop {
                let (inbound, outbound) = child_bytes(&latest);
                if inbound > 0 && outbound > 0 {
                    break Some(at);
                }
                if moved.elapsed() >= PATIENCE {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(10));
                latest = list_sas(&dir)?;
                at = moved.elapsed();
            };
            Ok(NewSas {
                listed_at,
                listing,
                sas,
                protected_at,
            })
        })
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwanSas {
    /// The SPI pairs of the ESTABLISHED IKE SAs (`<spi_i>_i <spi_r>_r`).
    pub ike: BTreeSet<String>,
    /// The inbound and outbound SPIs of the INSTALLED CHILD SAs.
    pub child: BTreeSet<String>,
}

/// The SAs of the `swanctl --list-sas` listing `listing`.
pub fn swan_sas(listing: &str) -> SwanSas {
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
pub fn child_bytes(listing: &str) -> (u64, u64) {
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

/// How the DVIPA leaves SYS1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
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
    binary: PathBuf,
    topology: String,
}

impl SwanLab {
    fn start(binary: &Path) -> Result<Self, Error> {
        let topology = topology();
        let host = HostSpec {
            address: "192.0.2.101/24".to_owned(),
            on_link: vec!["198.51.100.0/24".to_owned()],
        };
        let lab = TapLab::start(binary, &topology, "swan", Some(&host))?;
        let topology = path_str(&topology)?.to_owned();
        let swan = Swan::up(lab.host.as_ref().ok_or_else(no_host)?.name())?;
        let lab = Self {
            swan,
            lab,
            binary: binary.to_owned(),
            topology,
        };
        lab.ready_targets(2)?;
        Ok(lab)
    }

    /// Runs console `commands` attached to the lab and returns every line it printed once a
    /// line with `last_line` came.
    fn console(&self, commands: &[&str], last_line: &str) -> Result<Vec<String>, Error> {
        let script = std::env::temp_dir().join(format!(
            "zsys-swan-script-{}-{}",
            std::process::id(),
            self.lab.lab.name()
        ));
        std::fs::write(&script, commands.join("\n") + "\n")
            .map_err(|e| Error::Lab(format!("the console script: {e}")))?;
        let spawned = self.lab.lab.spawn(&[
            path_str(&self.binary)?,
            "console",
            "--topology",
            &self.topology,
            "--attach",
            "--script",
            path_str(&script)?,
        ]);
        let answered = spawned.map_err(Error::from).and_then(|mut console| {
            let answered = console.expect(last_line, PATIENCE);
            let lines = console.drain().to_vec();
            answered
                .map(|_| lines)
                .map_err(|e| Error::Lab(format!("the console answers {commands:?}: {e}")))
        });
        let _ = std::fs::remove_file(&script);
        answered
    }

    /// Waits until SYS1 has `count` targets with a ready listener on the sink's port.
    fn ready_targets(&self, count: usize) -> Result<(), Error> {
        let mut ready = 0;
        for _ in 0..40 {
            let lines = self.console(
                &[
                    "RO SYS1,D TCPIP,TCPCS,NETSTAT,VDPT",
                    "RO SYS1,D TCPIP,TCPCS,NETSTAT,VIPADYN",
                ],
                "Dynamic VIPA:",
            )?;
            ready = lines
                .iter()
                .filter(|l| l.contains("Rdy:") && !l.contains("Rdy: 000"))
                .count();
            if ready == count {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(Error::Lab(format!(
            "SYS1 has {ready} ready targets, not {count}"
        )))
    }

    /// Starts the streams; returns the source and the target (DestXCF) of each stream.
    fn start_streams(&self) -> Result<(Process, BTreeMap<usize, String>), Error> {
        let host = self.lab.host.as_ref().ok_or_else(no_host)?;
        let mut source = host.spawn(&[
            "python3",
            "-c",
            SOURCE,
            DVIPA,
            SINK_PORT,
            &STREAMS.to_string(),
            &STREAM_BYTES.to_string(),
            STREAM_SECONDS,
        ])?;
        source
            .expect(&format!("CONN {}", STREAMS - 1), PATIENCE)
            .map_err(|e| Error::Lab(format!("the streams connect: {e}\n{}", self.swan.log())))?;
        let ports = stream_ports(source.drain());
        let routes = vcrt_routes(&self.console(
            &[
                "RO SYS1,D TCPIP,TCPCS,NETSTAT,VCRT",
                "RO SYS1,D TCPIP,TCPCS,NETSTAT,VIPADYN",
            ],
            "Dynamic VIPA:",
        )?);
        let targets = ports
            .iter()
            .map(|(i, port)| (*i, routes.get(port).cloned().unwrap_or_default()))
            .collect();
        Ok((source, targets))
    }
}

fn no_host() -> Error {
    Error::Lab("the lab has no host namespace".to_owned())
}

fn path_str(path: &Path) -> Result<&str, Error> {
    path.to_str()
        .ok_or_else(|| Error::Lab(format!("{} is not UTF-8", path.display())))
}

/// A sink's report: how the connection ended, bytes received and verified, the mismatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkReport {
    /// How the connection ended (`Closed`).
    pub end: String,
    /// Bytes received.
    pub received: u64,
    /// Bytes verified against the pattern.
    pub verified: u64,
    /// The first mismatch, or `NONE`.
    pub mismatch: String,
}

/// The STRMSINK reports among an LPAR's output lines.
pub fn sink_reports(lines: &[String]) -> Vec<SinkReport> {
    lines
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
                ] => Some(SinkReport {
                    end: (*end).to_owned(),
                    received: received.parse().ok()?,
                    verified: verified.parse().ok()?,
                    mismatch: (*mismatch).to_owned(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// A stall of a stream across the move: no byte acknowledged with data in flight.
#[derive(Clone, Debug, PartialEq)]
pub struct Stall {
    /// The stream.
    pub stream: usize,
    /// Its last acknowledgement before the stall, milliseconds from the move (negative: before).
    pub stalled: f64,
    /// Its first acknowledgement after, milliseconds from the move.
    pub resumed: f64,
}

/// The stalls of the source's `RESUMED` lines that ended after the move (at Unix time `moved`)
/// and began before strongSwan had its new SAs (`renegotiated` milliseconds after it).
pub fn stalls(source_lines: &[String], moved: f64, renegotiated: f64) -> Vec<Stall> {
    let ms = |at: f64| ((at - moved) * 1000.0).round();
    source_lines
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next()? == "RESUMED").then_some(())?;
            let stream: usize = words.next()?.parse().ok()?;
            let stalled = ms(words.next()?.parse().ok()?);
            let resumed = ms(words.next()?.parse().ok()?);
            (resumed > 0.0 && stalled <= renegotiated).then_some(Stall {
                stream,
                stalled,
                resumed,
            })
        })
        .collect()
}

/// The times of a move, from the move.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// SYS2's EZZ8301I seen on its output, milliseconds (`sysplex lpar` prints each console
    /// message as it is written).
    pub takeover: f64,
    /// charon's log line of the new CHILD SA (the log polled every 2 ms), milliseconds.
    pub child_logged: Option<f64>,
    /// strongSwan lists the new SAs and not the old ones (`swanctl`, polled every 10 ms from
    /// the move, beside the wait for EZZ8301I).
    pub renegotiated: f64,
    /// strongSwan's new CHILD SA has counted bytes both ways (`swanctl`, polled every 10 ms
    /// on from [`Self::renegotiated`]): the first protected round trip through SYS2.
    pub first_protected: Option<f64>,
    /// The streams' stalls across the move.
    pub stalls: Vec<Stall>,
}

impl Timing {
    /// The first acknowledgement of a stalled stream after the move: the first protected
    /// byte through the new SAs, milliseconds.
    pub fn first_resumed(&self) -> Option<f64> {
        self.stalls.iter().map(|s| s.resumed).min_by(f64::total_cmp)
    }

    /// The last stalled stream's first acknowledgement after the move, milliseconds.
    pub fn last_resumed(&self) -> Option<f64> {
        self.stalls.iter().map(|s| s.resumed).max_by(f64::total_cmp)
    }
}

/// What a move mid-stream showed.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// strongSwan's SAs before the streams (listing, parsed).
    pub before: (String, SwanSas),
    /// The target (SYS1's DestXCF) of each stream.
    pub targets: BTreeMap<usize, String>,
    /// The console's lines of the DEACTIVATE, for [`Move::Deactivate`].
    pub deactivated: Vec<String>,
    /// SYS2's takeover message.
    pub taken: String,
    /// strongSwan's SAs once replaced (listing, parsed).
    pub after: (String, SwanSas),
    /// SYS2's `ipsec -y display`.
    pub display: Vec<String>,
    /// The source's lines once its streams ended.
    pub source: Vec<String>,
    /// strongSwan's SAs at the end (listing, parsed).
    pub last: (String, SwanSas),
    /// The sink reports of SYS2 and SYS3 by system name.
    pub sinks: BTreeMap<String, Vec<SinkReport>>,
    /// charon's log at the end.
    pub log: String,
    /// The times.
    pub timing: Timing,
}

impl Outcome {
    /// Whether stream `i` finished with every byte sent and acknowledged.
    pub fn finished(&self, i: usize) -> bool {
        self.source
            .contains(&format!("FINISHED {i} OK {STREAM_BYTES}"))
    }
}

fn listed(swan: &Swan) -> Result<(String, SwanSas), Error> {
    let listing = swan.sas()?;
    let sas = swan_sas(&listing);
    Ok((listing, sas))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Starts the lab with the `sysplex` binary `binary`, the streams, and moves the DVIPA from
/// SYS1 to SYS2 `how` mid-stream; waits for SYS2's takeover, strongSwan's new SAs (new SPIs,
/// the old ones gone) and the end of the streams. The lab goes when it returns.
///
/// # Errors
/// [`Error::Lab`] or [`Error::Namespace`] when a step does not happen within its patience.
pub fn move_mid_stream(binary: &Path, how: Move) -> Result<Outcome, Error> {
    let mut lab = SwanLab::start(binary)?;
    let before = listed(&lab.swan)?;
    let (mut source, targets) = lab.start_streams()?;
    std::thread::sleep(BEFORE_MOVE);

    let new_child_logged = lab.swan.watch_for_new_child();
    let move_time = unix_now();
    let moved = Instant::now();
    let new_sas = lab.swan.watch_for_new_sas(before.1.clone(), moved);
    let deactivated = match how {
        Move::Kill => {
            lab.lab.lpar("SYS1")?.kill()?;
            Vec::new()
        }
        Move::Deactivate => lab.console(
            &["RO SYS1,V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.10"],
            "EZD1197I",
        )?,
    };
    let taken = lab.lab.lpar("SYS2")?.expect(
        "EZZ8301I VIPA 198.51.100.10 TAKEN OVER FROM TCPCS ON SYS1",
        PATIENCE,
    )?;
    let takeover = moved.elapsed();

    let new_sas = new_sas
        .join()
        .map_err(|_| Error::Lab("the SA watcher panicked".to_owned()))?
        .map_err(|e| Error::Lab(format!("{e}\ncharon's log:\n{}", lab.swan.log())))?;
    let (renegotiated, after) = (new_sas.listed_at, (new_sas.listing, new_sas.sas));
    let child_logged = new_child_logged
        .join()
        .map_err(|_| Error::Lab("the log watcher panicked".to_owned()))?
        .map(|at| millis(at.saturating_duration_since(moved)));
    let display = lab.console(&["RO SYS2,ipsec -y display"], "entries selected")?;

    source.expect("DONE", Duration::from_secs(40))?;
    let source = source.drain().to_vec();
    let last = listed(&lab.swan)?;
    let mut sinks = BTreeMap::new();
    for sysname in ["SYS2", "SYS3"] {
        let process = lab.lab.lpar(sysname)?;
        let _ = process.expect("STRMSINK", PATIENCE);
        sinks.insert(sysname.to_owned(), sink_reports(process.drain()));
    }
    let renegotiated = millis(renegotiated);
    let timing = Timing {
        takeover: millis(takeover),
        child_logged,
        renegotiated,
        first_protected: new_sas.protected_at.map(millis),
        stalls: stalls(&source, move_time, renegotiated),
    };
    Ok(Outcome {
        before,
        targets,
        deactivated,
        taken,
        after,
        display,
        source,
        last,
        sinks,
        log: lab.swan.log(),
        timing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
swan: #2, ESTABLISHED, IKEv2, 1a2b3c4d5e6f7a8b_i 0102030405060708_r*
  local  'peer1.example.org' @ 192.0.2.101[4500]
  remote '198.51.100.10' @ 198.51.100.10[4500]
  AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519
  swan: #2, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256
    in  c1a2b3c4,   1234 bytes,    10 packets,     0s ago
    out 01020304,   5678 bytes,    12 packets,     0s ago
    local  192.0.2.101/32
    remote 198.51.100.10/32
";

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_listing_gives_the_ike_spi_pair_the_child_spis_and_their_bytes() {
        let sas = swan_sas(LISTING);
        assert_eq!(
            sas.ike,
            BTreeSet::from(["1a2b3c4d5e6f7a8b_i 0102030405060708_r*".to_owned()])
        );
        assert_eq!(
            sas.child,
            BTreeSet::from(["in c1a2b3c4".to_owned(), "out 01020304".to_owned()])
        );
        assert_eq!(child_bytes(LISTING), (1234, 5678));
        assert_eq!(swan_sas("no SAs"), SwanSas::default());
    }

    #[test]
    fn the_vcrt_maps_each_client_port_to_its_destxcf() {
        let vcrt = lines(
            "  Dest: 198.51.100.10..5001\n    Source: 192.0.2.101..40001\n    DestXCF: 203.0.113.12\n\
             \x20 Dest: 198.51.100.10..5001\n    Source: 192.0.2.101..40002\n    DestXCF: 203.0.113.13\n\
             \x20   Source: 192.0.2.101..garbage\n    DestXCF: 203.0.113.14",
        );
        assert_eq!(
            vcrt_routes(&vcrt),
            BTreeMap::from([
                (40001, "203.0.113.12".to_owned()),
                (40002, "203.0.113.13".to_owned())
            ])
        );
    }

    #[test]
    fn a_sink_report_is_read_from_its_words_and_a_short_one_is_ignored() {
        let output = lines(
            "SYS2 STRMSINK 40001 Closed RECEIVED 3145728 VERIFIED 3145728 MISMATCH NONE\n\
             SYS2 STRMSINK 40002 Closed RECEIVED many\n\
             something else",
        );
        assert_eq!(
            sink_reports(&output),
            vec![SinkReport {
                end: "Closed".to_owned(),
                received: 3_145_728,
                verified: 3_145_728,
                mismatch: "NONE".to_owned(),
            }]
        );
    }

    #[test]
    fn only_stalls_across_the_move_count_and_the_first_and_last_resume_are_found() {
        let source = lines(
            "CONN 0 40001\n\
             RESUMED 0 99.000 99.500\n\
             RESUMED 0 100.010 100.250\n\
             RESUMED 1 99.990 100.300\n\
             RESUMED 1 101.500 101.600\n\
             RESUMED x 1 2",
        );
        let timing = Timing {
            takeover: 20.0,
            child_logged: Some(150.0),
            renegotiated: 200.0,
            first_protected: Some(210.0),
            stalls: stalls(&source, 100.0, 200.0),
        };
        assert_eq!(
            timing.stalls,
            vec![
                Stall {
                    stream: 0,
                    stalled: 10.0,
                    resumed: 250.0
                },
                Stall {
                    stream: 1,
                    stalled: -10.0,
                    resumed: 300.0
                },
            ]
        );
        assert_eq!(timing.first_resumed(), Some(250.0));
        assert_eq!(timing.last_resumed(), Some(300.0));
    }
}
