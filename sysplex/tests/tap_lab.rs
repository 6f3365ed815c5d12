//! The per-process lab: `sysplex cf` and one `sysplex lpar` process per LPAR on TAP devices
//! in a Linux bridge, all inside a network namespace this test creates, plus a Linux host in a
//! second namespace on a veth into the bridge (both deleted, even on failure). The host pings
//! the DVIPA and holds TCP connections to its echo app; SIGKILL of the owner's process: the
//! highest-ranked backup takes the DVIPA over, the host's neighbour entry follows its gratuitous
//! ARP, and new connections reach the backup. Needs root, `ip` and `python3`; skips with a
//! message otherwise. A second, shorter test kills the owner right after the joins and checks only
//! that the highest-ranked backup takes over.
//!
//! ```text
//!   host netns: eth0 192.0.2.50/24, 198.51.100.0/24 on-link ──┐
//!   lab netns:  bridge zsysbr0 ───────────────────────────────┼── zsys1 (SYS1, 192.0.2.21)
//!                                                             ├── zsys2 (SYS2, 192.0.2.22)
//!                                                             └── zsys3 (SYS3, 192.0.2.23)
//!   DVIPA 198.51.100.30: owner SYS1, backups SYS2 (rank 150) and SYS3 (rank 50)
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stacks::lan::netns::{Netns, missing_prerequisite};
use sysplex::tap_lab::{HostSpec, TapLab};

/// The longest the test waits for any one thing.
const PATIENCE: Duration = Duration::from_secs(20);

/// The DVIPA of the topology and the port of the LPARs' echo app.
const DVIPA: &str = "198.51.100.30";
const ECHO_PORT: u16 = 7;
/// The host's LAN address; it reaches the DVIPA subnet on-link from it, as the stacks reach it
/// directly (they take no ARP from senders outside their subnet).
const HOST: &str = "192.0.2.50";
/// The LAN (home) addresses of SYS1, SYS2 and SYS3 in the fixture profiles.
const HOMES: [&str; 3] = ["192.0.2.21", "192.0.2.22", "192.0.2.23"];

/// Holds TCP connections for the host namespace: opens `count` connections and echoes one
/// text on each (`ECHO <i> <text>`), prints `HOLDING`, then, after a line on stdin, sends once
/// more on each and prints `CONN <i> ALIVE|RESET|CLOSED|SILENT|ERROR`.
const HOLDER: &str = r#"
import socket, sys
def echo(s, text):
    s.sendall(text)
    back = b""
    while len(back) < len(text):
        chunk = s.recv(100)
        if not chunk:
            break
        back += chunk
    return back
conns = [socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
         for _ in range(int(sys.argv[3]))]
for i, s in enumerate(conns):
    print("ECHO", i, echo(s, b"held-%d" % i).decode(), flush=True)
print("HOLDING", flush=True)
sys.stdin.readline()
for i, s in enumerate(conns):
    s.settimeout(3)
    try:
        back = echo(s, b"after-kill")
        print("CONN", i, "ALIVE" if back == b"after-kill" else "CLOSED", flush=True)
    except (ConnectionResetError, BrokenPipeError):
        print("CONN", i, "RESET", flush=True)
    except socket.timeout:
        print("CONN", i, "SILENT", flush=True)
    except OSError as e:
        print("CONN", i, "ERROR", e, flush=True)
print("DONE", flush=True)
"#;

/// Echoes `text` over a new TCP connection from the host to the DVIPA's echo app.
fn echo_from_host(host: &Netns, text: &str) -> String {
    host.echo(DVIPA, ECHO_PORT, text)
        .expect("runs the echo client")
        .unwrap_or_else(|| panic!("the host's new connection to {DVIPA} port {ECHO_PORT} failed"))
}

/// SIGKILL of SYS1's process: SYS2 (rank 150), not SYS3 (rank 50), takes the DVIPA over.
fn kill_owner_and_see_the_top_backup_take_over(lab: &mut TapLab) {
    lab.lpar("SYS1").unwrap().kill().expect("SIGKILL SYS1");
    lab.lpar("SYS2")
        .unwrap()
        .expect(
            "EZZ8301I VIPA 198.51.100.30 TAKEN OVER FROM TCPCS ON SYS1",
            PATIENCE,
        )
        .expect("SYS2 takes over");
    let sys3 = lab.lpar("SYS3").unwrap().drain();
    assert!(
        !sys3.iter().any(|l| l.contains("EZZ8301I")),
        "the rank 50 backup took over: {sys3:#?}"
    );
}

/// Starts the lab of the fixture topology, with the Linux host if `with_host`.
fn start_lab(role: &str, with_host: bool) -> Option<TapLab> {
    if let Some(why) = missing_prerequisite(&["ip", "python3"]) {
        eprintln!("skipping the TAP lab test: {why}");
        return None;
    }
    let topology =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/dvipa-tap-lab.toml");
    let host = HostSpec {
        address: format!("{HOST}/24"),
        on_link: vec!["198.51.100.0/24".to_owned()],
    };
    let lab = TapLab::start(
        env!("CARGO_BIN_EXE_sysplex").as_ref(),
        &topology,
        role,
        with_host.then_some(&host),
    )
    .expect("the TAP lab starts");
    Some(lab)
}

#[test]
fn sigkill_of_the_owner_process_moves_the_dvipa_and_the_linux_host_follows() {
    let Some(mut lab) = start_lab("tap", true) else {
        return;
    };
    let host = lab.host.take().expect("the lab has a host");

    // The host learns each LPAR's MAC from its home address, then reaches the DVIPA on SYS1.
    let macs: Vec<String> = HOMES
        .iter()
        .map(|home| {
            assert!(
                host.ping(home).expect("pings"),
                "the host cannot ping {home}"
            );
            host.neighbour_mac(home)
                .expect("reads the neighbour table")
                .unwrap_or_else(|| panic!("no neighbour entry for {home}"))
        })
        .collect();
    assert!(
        macs[0] != macs[1] && macs[1] != macs[2] && macs[0] != macs[2],
        "the LPARs share a MAC: {macs:?}"
    );
    assert!(
        host.ping(DVIPA).expect("pings"),
        "the host cannot ping the DVIPA {DVIPA}"
    );
    assert_eq!(echo_from_host(&host, "to SYS1"), "to SYS1");
    let owner_mac = host
        .neighbour_mac(DVIPA)
        .expect("reads the neighbour table")
        .expect("a neighbour entry for the DVIPA");
    assert_eq!(owner_mac, macs[0], "the DVIPA is not on SYS1's MAC");
    let mut held = host
        .spawn(&["python3", "-c", HOLDER, DVIPA, &ECHO_PORT.to_string(), "2"])
        .expect("starts the holder");
    held.expect("HOLDING", PATIENCE)
        .expect("the holder connects");
    for i in 0..2 {
        assert_eq!(
            held.line_starting(&format!("ECHO {i} "), PATIENCE)
                .expect("an echo line"),
            format!("ECHO {i} held-{i}")
        );
    }

    kill_owner_and_see_the_top_backup_take_over(&mut lab);

    // SYS2's gratuitous ARPs move the host's existing neighbour entry: the host sends nothing
    // meanwhile, so it does not resolve the DVIPA afresh. (Linux ignores them within
    // `locktime`, 1 s, of the last update; the stack repeats them.)
    let started = Instant::now();
    let mut now_mac = Some(owner_mac.clone());
    while now_mac.as_ref() != Some(&macs[1]) && started.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(200));
        now_mac = host
            .neighbour_mac(DVIPA)
            .expect("reads the neighbour table");
    }
    assert_eq!(
        now_mac.as_ref(),
        Some(&macs[1]),
        "the host's neighbour entry for {DVIPA} did not move to SYS2 (SYS1 {}, SYS3 {})",
        macs[0],
        macs[2]
    );
    eprintln!(
        "host neighbour entry for {DVIPA} moved to SYS2 after {:?}",
        started.elapsed()
    );

    // The connections held to SYS1 are gone: SYS2 resets them or nothing answers.
    held.send_line("go").expect("tells the holder to send");
    held.expect("DONE", PATIENCE).expect("the holder finishes");
    for i in 0..2 {
        let outcome = held
            .line_starting(&format!("CONN {i} "), PATIENCE)
            .expect("an outcome line");
        assert!(
            !outcome.ends_with("ALIVE"),
            "a connection to the killed owner still echoes: {outcome}"
        );
        eprintln!("held connection after the takeover: {outcome}");
    }

    assert!(
        host.ping(DVIPA).expect("pings"),
        "the host cannot ping the DVIPA on SYS2"
    );
    assert_eq!(echo_from_host(&host, "to SYS2"), "to SYS2");
    drop(held);
    drop(host);
}

#[test]
fn sigkill_of_the_owner_process_moves_the_dvipa_to_the_top_backup() {
    let Some(mut lab) = start_lab("sk", false) else {
        return;
    };
    kill_owner_and_see_the_top_backup_take_over(&mut lab);
}
