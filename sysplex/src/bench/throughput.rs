//! `sysplex bench throughput`: one TCP stream from a Linux host to the stream sink on one of our
//! stacks over a TAP device, side by side with Linux to Linux over a veth pair, with the same
//! sender, in the same run (root). The sender (python3) `sendfile`s a file of the lab's
//! checksummed pattern; our sink checks every byte against the pattern, the Linux receiver
//! (python3, `recv_into` a 1 MiB buffer) checks the stream's CRC-32 against the file's. The time runs from the established connection to the
//! receiver's FIN after the last byte. The same MTU on both paths (1500 unless told). Anchor: smoltcp's README shows
//! 3.7–7.9 Gbit/s over TAP; the aim is at least half of the veth figure.
//!
//! ```text
//!   ours:   sender netns: TAP 192.0.2.1/24 ──fd── our stack 192.0.2.2 (sink on port 5001)
//!   linux:  sender netns: veth 198.51.100.1/24 ── receiver netns: veth 198.51.100.2/24
//! ```

use std::fmt;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use stacks::apps::pattern::Pattern;
use stacks::apps::stream::SinkServer;
use stacks::lan::tap::{TapOptions, TapPort};
use stacks::stack::{Stack, StackConfig};

use super::Summary;
use crate::Error;
use stacks::lan::netns::{Netns, Process, missing_prerequisite};

/// The pattern seed of the stream.
const SEED: u64 = 0x5A53_5953;
/// The sink's port.
const PORT: u16 = 5001;
/// How long one transfer may take.
const PATIENCE: Duration = Duration::from_secs(120);

/// Sends a file over one connection, waits for the receiver's FIN, prints `SENT <bytes>
/// <seconds>` (from the established connection to that FIN).
const SENDER: &str = r#"
import os, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=120)
started = time.monotonic()
with open(sys.argv[3], "rb") as f:
    sent = s.sendfile(f)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print("SENT", sent, "%.6f" % (time.monotonic() - started), flush=True)
"#;

/// Receives one connection, checks the CRC-32 of the stream against the file's (computed before
/// it listens), prints `RECEIVED <bytes> verified|MISMATCH`.
const RECEIVER: &str = r#"
import socket, sys, zlib
port, path = int(sys.argv[1]), sys.argv[2]
want, size = 0, 0
with open(path, "rb") as f:
    while True:
        block = f.read(1 << 20)
        if not block:
            break
        want, size = zlib.crc32(block, want), size + len(block)
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", port))
l.listen(1)
print("LISTENING", flush=True)
c, _ = l.accept()
buf = bytearray(1 << 20)
view = memoryview(buf)
got, crc = 0, 0
while True:
    n = c.recv_into(buf)
    if n == 0:
        break
    crc = zlib.crc32(view[:n], crc)
    got += n
c.close()
print("RECEIVED", got, "verified" if crc == want and got == size else "MISMATCH", flush=True)
"#;

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Bytes per transfer, in MiB.
    pub mebibytes: u64,
    /// Transfers per path.
    pub runs: usize,
    /// Our stack's TCP buffers, in KiB.
    pub buffer_kib: usize,
    /// The IP MTU of both paths (the TAP device and our stack; both ends of the veth).
    pub mtu: u16,
    /// Whether our TAP device takes checksum and TCP segmentation offload (see
    /// [`TapOptions::offload`]); the veth pair has it either way, as Linux sets it up.
    pub offload: bool,
}

/// The figures of one path.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    /// What it is.
    pub name: String,
    /// Gbit/s over the runs.
    pub gbits: Option<Summary>,
    /// CPU seconds our process spent per GiB received (user and system time of every thread,
    /// the stack's and the sink's), over the runs; `None` for Linux's path, whose work is in
    /// the kernel.
    pub cpu_per_gib: Option<Summary>,
    /// Runs whose every byte arrived unchanged, of those tried.
    pub verified: usize,
    /// Runs tried.
    pub tried: usize,
}

/// The benchmark's table.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The options it ran with.
    pub options: Options,
    /// Ours, then Linux's; empty when skipped.
    pub paths: Vec<Path>,
    /// Why it did not run, if it did not.
    pub skipped: Option<String>,
}

/// Runs both paths `options.runs` times.
pub async fn run(options: Options) -> Result<Report, Error> {
    if let Some(why) = missing_prerequisite(&["ip", "python3"]) {
        eprintln!("skipping the throughput benchmark: {why}");
        return Ok(Report {
            options,
            paths: Vec::new(),
            skipped: Some(why),
        });
    }
    let file = pattern_file(options.mebibytes << 20)?;
    let path = file.path().to_string_lossy().into_owned();
    let mut ours = Vec::new();
    let mut linux = Vec::new();
    for n in 1..=options.runs {
        let outcome = over_tap(&path, options).await;
        note("ours over TAP", n, outcome, &mut ours);
        let outcome = tokio::task::spawn_blocking({
            let path = path.clone();
            let mtu = options.mtu;
            move || over_veth(&path, mtu)
        })
        .await
        .map_err(|e| Error::Lab(format!("the veth run: {e}")))?;
        note("Linux over veth", n, outcome, &mut linux);
    }
    Ok(Report {
        options,
        paths: vec![
            summarize(
                "Linux -> our stack over TAP (stream sink)",
                options.runs,
                &ours,
            ),
            summarize("Linux -> Linux over veth", options.runs, &linux),
        ],
        skipped: None,
    })
}

/// A file of `bytes` bytes of the pattern, in /dev/shm when there is one.
fn pattern_file(bytes: u64) -> Result<tempfile::NamedTempFile, Error> {
    let shm = std::path::Path::new("/dev/shm");
    let mut file = if shm.is_dir() {
        tempfile::NamedTempFile::new_in(shm)?
    } else {
        tempfile::NamedTempFile::new()?
    };
    let pattern = Pattern::new(SEED);
    let mut chunk = vec![0u8; 1 << 20];
    let mut offset = 0;
    while offset < bytes {
        let len = usize::try_from(bytes - offset).map_or(chunk.len(), |n| n.min(chunk.len()));
        let part = chunk.get_mut(..len).unwrap_or_default();
        pattern.fill(offset, part);
        file.write_all(part)?;
        offset += u64::try_from(len).unwrap_or(u64::MAX);
    }
    file.flush()?;
    Ok(file)
}

/// What one transfer measured.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Transfer {
    bytes: u64,
    seconds: f64,
    /// Every byte arrived unchanged.
    verified: bool,
    /// CPU time this process spent from the start of the sink to its report.
    cpu: Option<Duration>,
}

/// One transfer from a Linux sender to our stack's sink over a TAP device.
async fn over_tap(path: &str, options: Options) -> Result<Transfer, Error> {
    let sender = Netns::create("tput")?;
    let tap = format!("zst{}", std::process::id() % 100_000);
    let mtu = options.mtu.to_string();
    let home = Ipv4Addr::new(192, 0, 2, 2);
    let mut config = StackConfig::new(
        "TCPCS",
        EthernetAddress([0x02, 0, 192, 0, 2, 2]),
        vec![Ipv4Cidr::new(home, 24)],
    );
    config.tcp.buffer_size = options.buffer_kib * 1024;
    config.ip_mtu = usize::from(options.mtu);
    // As `sysplex lpar` runs it: the stack on a thread of its own, the sink on the runtime.
    let offload = options.offload;
    let device = tap.clone();
    let (stack, thread) = Stack::spawn_on_thread(config, move || {
        TapPort::open_with(&device, TapOptions { offload })
    })?;
    let transfer = async {
        stacks::lan::netns::run(&["ip", "link", "set", &tap, "netns", sender.name()])?;
        sender.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", &tap])?;
        sender.exec(&["ip", "link", "set", &tap, "mtu", &mtu, "up"])?;
        let cpu_before = process_cpu();
        let mut sink = SinkServer::start(&stack, SocketAddrV4::new(home, PORT), SEED).await?;
        let mut process = sender.spawn(&[
            "python3",
            "-c",
            SENDER,
            "192.0.2.2",
            &PORT.to_string(),
            path,
        ])?;
        let sent = tokio::task::spawn_blocking(move || process.line_starting("SENT", PATIENCE))
            .await
            .map_err(|e| Error::Lab(format!("the TAP sender: {e}")))?;
        let (bytes, seconds) = parse_sent(&sent?)?;
        let report = tokio::time::timeout(Duration::from_secs(5), sink.next_report())
            .await
            .ok()
            .flatten()
            .ok_or_else(|| Error::Lab("the sink did not report".to_owned()))?;
        let cpu = process_cpu()
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        let verified = report.bytes_verified == bytes && report.first_mismatch.is_none();
        Ok(Transfer {
            bytes,
            seconds,
            verified,
            cpu,
        })
    }
    .await;
    stack.shutdown().await;
    // The TAP device goes with the stack's thread; the next run makes one of the same name.
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    transfer
}

/// User and system time of every thread of this process so far, from `/proc/self/stat` (in
/// clock ticks of 10 ms: USER_HZ is 100 on Linux).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // utime and stime are the 14th and 15th fields; the 2nd, the command, may hold spaces.
    let mut after_command = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let mut ticks = || after_command.next()?.parse::<u64>().ok();
    let ticks = ticks()?.checked_add(ticks()?)?;
    Some(Duration::from_millis(10).saturating_mul(u32::try_from(ticks).ok()?))
}

/// One transfer from a Linux sender to a Linux receiver over a veth pair.
fn over_veth(path: &str, mtu: u16) -> Result<Transfer, Error> {
    let sender = Netns::create("vsnd")?;
    let receiver = Netns::create("vrcv")?;
    sender.add_veth("zsvs", &receiver, "eth0", "198.51.100.2/24")?;
    sender.exec(&["ip", "addr", "add", "198.51.100.1/24", "dev", "zsvs"])?;
    let mtu = mtu.to_string();
    sender.exec(&["ip", "link", "set", "zsvs", "mtu", &mtu])?;
    receiver.exec(&["ip", "link", "set", "eth0", "mtu", &mtu])?;
    let mut listener = receiver.spawn(&["python3", "-c", RECEIVER, &PORT.to_string(), path])?;
    listener.expect("LISTENING", PATIENCE)?;
    let mut process: Process = sender.spawn(&[
        "python3",
        "-c",
        SENDER,
        "198.51.100.2",
        &PORT.to_string(),
        path,
    ])?;
    let (bytes, seconds) = parse_sent(&process.line_starting("SENT", PATIENCE)?)?;
    let received = listener.line_starting("RECEIVED", PATIENCE)?;
    Ok(Transfer {
        bytes,
        seconds,
        verified: received.ends_with(" verified"),
        cpu: None,
    })
}

/// Parses `SENT <bytes> <seconds>`.
fn parse_sent(line: &str) -> Result<(u64, f64), Error> {
    let mut words = line.split_whitespace().skip(1);
    match (
        words.next().map(str::parse::<u64>),
        words.next().map(str::parse::<f64>),
    ) {
        (Some(Ok(bytes)), Some(Ok(seconds))) if seconds > 0.0 => Ok((bytes, seconds)),
        _ => Err(Error::Lab(format!("the sender printed {line:?}"))),
    }
}

/// Records one transfer (a failure on standard error).
fn note(path: &str, n: usize, outcome: Result<Transfer, Error>, runs: &mut Vec<Transfer>) {
    match outcome {
        Ok(transfer) => {
            let Transfer { bytes, seconds, .. } = transfer;
            let cpu = cpu_per_gib(&transfer)
                .map(|cpu| format!(", CPU {cpu:.2} s/GiB"))
                .unwrap_or_default();
            eprintln!(
                "{path} run {n}: {bytes} bytes in {seconds:.3} s = {:.2} Gbit/s{cpu}{}",
                gbit_per_s(bytes, seconds),
                if transfer.verified {
                    ""
                } else {
                    " (NOT verified)"
                }
            );
            runs.push(transfer);
        }
        Err(error) => eprintln!("{path} run {n} failed: {error}"),
    }
}

#[allow(clippy::cast_precision_loss)]
fn gbit_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 * 8.0 / seconds / 1e9
}

/// CPU seconds per GiB of a transfer, if its CPU time was measured.
#[allow(clippy::cast_precision_loss)]
fn cpu_per_gib(transfer: &Transfer) -> Option<f64> {
    let cpu = transfer.cpu?;
    (transfer.bytes > 0).then(|| cpu.as_secs_f64() * f64::from(1u32 << 30) / transfer.bytes as f64)
}

fn summarize(name: &str, tried: usize, runs: &[Transfer]) -> Path {
    let gbits: Vec<f64> = runs
        .iter()
        .map(|t| gbit_per_s(t.bytes, t.seconds))
        .collect();
    let cpu: Vec<f64> = runs.iter().filter_map(cpu_per_gib).collect();
    Path {
        name: name.to_owned(),
        gbits: Summary::of(&gbits),
        cpu_per_gib: Summary::of(&cpu),
        verified: runs.iter().filter(|t| t.verified).count(),
        tried,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.options;
        writeln!(
            f,
            "TCP throughput: one stream of {} MiB from a Linux sender (python3 sendfile), MTU \
             {}, our TCP buffers {} KiB, TAP offload {}; Gbit/s, median (min-max) of {} runs",
            o.mebibytes,
            o.mtu,
            o.buffer_kib,
            if o.offload { "on" } else { "off" },
            o.runs
        )?;
        if let Some(why) = &self.skipped {
            return writeln!(f, "skipped: {why}");
        }
        writeln!(
            f,
            "{:<44} {:<22} {:<22} verified",
            "path", "Gbit/s", "our CPU s/GiB"
        )?;
        let range = |summary: Option<Summary>| {
            summary.map_or_else(
                || "-".to_owned(),
                |s| format!("{:.2} ({:.2}-{:.2})", s.median, s.min, s.max),
            )
        };
        for path in &self.paths {
            writeln!(
                f,
                "{:<44} {:<22} {:<22} {}/{}",
                path.name,
                range(path.gbits),
                range(path.cpu_per_gib),
                path.verified,
                path.tried
            )?;
        }
        let medians: Vec<Option<f64>> = self
            .paths
            .iter()
            .map(|p| p.gbits.map(|s| s.median))
            .collect();
        let ratio = match medians.as_slice() {
            [Some(ours), Some(linux)] if *linux > 0.0 => format!("{:.2}", ours / linux),
            _ => "-".to_owned(),
        };
        writeln!(
            f,
            "{:<44} {ratio:<22} (aim: at least 0.50)",
            "ratio ours / Linux veth"
        )?;
        writeln!(
            f,
            "anchor: smoltcp's README shows 3.7-7.9 Gbit/s over TAP (i5-13500H)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sender_line_and_refuses_a_zero_time() {
        assert_eq!(parse_sent("SENT 1024 0.5").unwrap(), (1024, 0.5));
        assert!(parse_sent("SENT 1024 0").is_err());
        assert!(parse_sent("SENT x 1").is_err());
    }

    #[test]
    fn a_gigabit_is_125_million_bytes_a_second() {
        assert!((gbit_per_s(125_000_000, 1.0) - 1.0).abs() < 1e-9);
    }
}
