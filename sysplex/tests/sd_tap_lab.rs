//! The Sysplex Distributor with one process per LPAR on TAP devices in a Linux bridge (root),
//! and a Linux host namespace as the client: SYS1 distributes 198.51.100.10 port 7 by
//! ROUNDROBIN to all three stacks, SYS2 is its backup distributor, SYS3 a target. The host
//! holds 30 checksummed echo streams to the DVIPA; SIGKILL of SYS1's process: SYS2 takes the
//! DVIPA over, rebuilds its CRT from the targets, and every stream routed to SYS2 or SYS3 goes
//! on with every byte verified, while those SYS1 served end. SYS1 starts again and takes the
//! DVIPA back (MOVEABLE IMMEDIATE) with the streams running; they go on through it too. Needs
//! root, `ip` and `python3`; skips with a message otherwise.
//!
//! ```text
//!   host netns: eth0 192.0.2.50/24, 198.51.100.0/24 on-link ──┐
//!   lab netns:  bridge zsysbr0 ───────────────────────────────┼── zsys1 (SYS1, distributor)
//!                                                             ├── zsys2 (SYS2, backup)
//!                                                             └── zsys3 (SYS3, target)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stacks::lan::netns::{Process, missing_prerequisite};
use sysplex::tap_lab::{HostSpec, TapLab, stream_ports, vcrt_routes};

const PATIENCE: Duration = Duration::from_secs(20);
const STREAMS: usize = 30;

/// Checksummed echo streams for the host namespace: opens `count` connections to the DVIPA,
/// prints `CONN <i> <local port>`, then streams 1 KiB rounds on each (every echo compared)
/// until stdin says `MARK` (prints `MARKED` and counts from there) and `STOP`; then prints
/// `RESULT <i> OK|RESET|SILENT|CORRUPT <bytes since MARK>`.
const STREAMER: &str = r#"
import hashlib, socket, sys, threading, time
dst, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stop = threading.Event()
done = {}
rounds = [0] * count
marks = [0] * count
conns = [socket.create_connection((dst, port), timeout=5) for _ in range(count)]
for i, s in enumerate(conns):
    print("CONN", i, s.getsockname()[1], flush=True)
def stream(i, s):
    try:
        while not stop.is_set():
            data = hashlib.sha256(b"%d-%d" % (i, rounds[i])).digest() * 32
            s.sendall(data)
            back = b""
            while len(back) < len(data):
                chunk = s.recv(len(data) - len(back))
                if not chunk:
                    done[i] = "RESET"
                    return
                back += chunk
            if back != data:
                done[i] = "CORRUPT"
                return
            rounds[i] += 1
            time.sleep(0.02)
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):
            pass
        done[i] = "OK"
    except (ConnectionResetError, BrokenPipeError):
        done[i] = "RESET"
    except socket.timeout:
        done[i] = "SILENT"
threads = [threading.Thread(target=stream, args=(i, s)) for i, s in enumerate(conns)]
for t in threads:
    t.start()
print("STREAMING", flush=True)
for line in sys.stdin:
    if line.strip() == "MARK":
        marks = list(rounds)
        print("MARKED", flush=True)
    elif line.strip() == "STOP":
        break
stop.set()
for t in threads:
    t.join()
for i in range(count):
    print("RESULT", i, done.get(i, "SILENT"), (rounds[i] - marks[i]) * 1024, flush=True)
print("DONE", flush=True)
"#;

fn can_run() -> Result<(), String> {
    match missing_prerequisite(&["ip", "python3"]) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Runs console `commands` attached to the lab and returns every line it printed; the last
/// command's output is awaited by `last_line`.
fn console(
    lab: &TapLab,
    binary: &str,
    topology: &str,
    commands: &[&str],
    last_line: &str,
) -> Vec<String> {
    let script = std::env::temp_dir().join(format!("zsys-sd-script-{}", std::process::id()));
    std::fs::write(&script, commands.join("\n") + "\n").expect("writes the console script");
    let script_path = script.to_str().expect("a UTF-8 path");
    let mut console: Process = lab
        .lab
        .spawn(&[
            binary,
            "console",
            "--topology",
            topology,
            "--attach",
            "--script",
            script_path,
        ])
        .expect("starts the console");
    console
        .expect(last_line, PATIENCE)
        .expect("the console answers");
    let lines = console.drain().to_vec();
    let _ = std::fs::remove_file(&script);
    lines
}

#[test]
fn sigkill_of_the_distributor_keeps_streams_to_surviving_targets() {
    if let Err(why) = can_run() {
        eprintln!("skipping the Sysplex Distributor TAP lab: {why}");
        return;
    }
    if std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout != b"0\n")
        .unwrap_or(true)
    {
        eprintln!("skipping the Sysplex Distributor TAP lab: not root");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_sysplex");
    let topology =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/sd-tap-lab.toml");
    let host = HostSpec {
        address: "192.0.2.50/24".to_owned(),
        on_link: vec!["198.51.100.0/24".to_owned()],
    };
    let mut lab =
        TapLab::start(Path::new(binary), &topology, "sd", Some(&host)).expect("starts the lab");
    let topology = topology.to_str().expect("a UTF-8 path");

    // SYS1 distributes to three targets with a ready listener each.
    let display = |lab: &TapLab, report: &str| {
        let command = format!("RO SYS1,D TCPIP,TCPCS,NETSTAT,{report}");
        let sentinel = "RO SYS1,D TCPIP,TCPCS,NETSTAT,VIPADYN";
        console(
            lab,
            binary,
            topology,
            &[&command, sentinel],
            "Dynamic VIPA:",
        )
    };
    let ready_targets = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("Rdy:") && !l.contains("Rdy: 000"))
            .count()
    };
    let mut ready = 0;
    for _ in 0..40 {
        ready = ready_targets(&display(&lab, "VDPT"));
        if ready == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(ready, 3, "SYS1 never had three ready targets");

    // The host's streams, and where SYS1 routed each (its VCRT).
    let host = lab.host.as_ref().expect("the host namespace");
    let mut streamer = host
        .spawn(&[
            "python3",
            "-c",
            STREAMER,
            "198.51.100.10",
            "7",
            &STREAMS.to_string(),
        ])
        .expect("starts the streams");
    streamer
        .expect("STREAMING", PATIENCE)
        .expect("the streams start");
    let ports = stream_ports(streamer.drain());
    assert_eq!(ports.len(), STREAMS);
    let routes = vcrt_routes(&display(&lab, "VCRT"));
    let target: BTreeMap<usize, String> = ports
        .iter()
        .map(|(i, port)| (*i, routes.get(port).cloned().unwrap_or_default()))
        .collect();
    let mut spread = BTreeMap::new();
    for xcf in target.values() {
        *spread.entry(xcf.clone()).or_insert(0) += 1;
    }
    assert_eq!(
        spread,
        BTreeMap::from([
            ("203.0.113.11".to_owned(), 10),
            ("203.0.113.12".to_owned(), 10),
            ("203.0.113.13".to_owned(), 10),
        ]),
        "ROUNDROBIN spreads the streams evenly"
    );

    // SIGKILL of the distributor's process mid-stream: SYS2 takes over.
    std::thread::sleep(Duration::from_secs(1));
    lab.lpar("SYS1")
        .expect("SYS1")
        .kill()
        .expect("SIGKILL SYS1");
    lab.lpar("SYS2")
        .expect("SYS2")
        .expect(
            "EZZ8301I VIPA 198.51.100.10 TAKEN OVER FROM TCPCS ON SYS1",
            PATIENCE,
        )
        .expect("SYS2 takes the DVIPA over");
    std::thread::sleep(Duration::from_secs(2));

    // SYS1 starts again and takes the DVIPA back at once (MOVEABLE IMMEDIATE), the streams
    // still running; from then on they must still make progress.
    let mut sys1 = lab
        .lab
        .spawn(&[binary, "lpar", "--topology", topology, "--sysname", "SYS1"])
        .expect("restarts SYS1");
    sys1.expect(
        "EZZ8302I VIPA 198.51.100.10 TAKEN FROM TCPCS ON SYS2",
        PATIENCE,
    )
    .expect("SYS1 takes the DVIPA back");
    std::thread::sleep(Duration::from_secs(1));
    streamer.send_line("MARK").expect("marks");
    streamer.expect("MARKED", PATIENCE).expect("marked");
    std::thread::sleep(Duration::from_secs(2));
    streamer.send_line("STOP").expect("stops");
    streamer
        .expect("DONE", PATIENCE)
        .expect("the streams report");
    let results: BTreeMap<usize, (String, u64)> = streamer
        .drain()
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next()? == "RESULT").then_some(())?;
            let i = words.next()?.parse().ok()?;
            let status = words.next()?.to_owned();
            let bytes = words.next()?.parse().ok()?;
            Some((i, (status, bytes)))
        })
        .collect();
    assert_eq!(results.len(), STREAMS);
    eprintln!("after the takeback: {results:?}");
    for (i, (status, bytes_after_takeback)) in &results {
        if target[i] == "203.0.113.11" {
            assert!(
                status == "RESET" || status == "SILENT",
                "stream {i} to the killed distributor ended {status}"
            );
        } else {
            assert_eq!(status, "OK", "stream {i} to {} ended {status}", target[i]);
            assert!(
                *bytes_after_takeback > 0,
                "stream {i} to {} made no progress after the takeback",
                target[i]
            );
        }
    }
}
