//! The takeover probe a Linux namespace runs (python3, root for its raw ICMP socket): it sends an
//! ICMP echo request every 2 ms and starts a non-blocking TCP connect every 5 ms to the service
//! address; once both have answered for 0.5 s plus a random part of a second (so the kill falls
//! anywhere between a peer's periodic adverts) it SIGKILLs the owner itself (so the kill and the
//! answers share one clock) and reports the time from the kill to the first echo reply
//! and the first accepted connection, each counted only for a request sent after the kill. A
//! command given (taking a dead node's link down) runs to completion just before the kill and
//! the clock starts after it, so answers the node gave meanwhile do not count.

use std::time::Duration;

use crate::Error;
use stacks::lan::netns::{Netns, Process};

/// How long the probe may take to warm up and then to see both answers.
const PATIENCE: Duration = Duration::from_secs(40);

/// The probe. argv: address, port, pids to SIGKILL (comma-separated), process groups to
/// SIGKILL, then the command to run just before the kill (optional). Prints `READY <pings>
/// <connects>`, then `RESULT <ping ms> <tcp ms>`; exits non-zero with a reason if it gives up.
const PROBE: &str = r#"
import os, random, select, signal, socket, struct, subprocess, sys, time
dst, port = sys.argv[1], int(sys.argv[2])
pids = [int(p) for p in sys.argv[3].split(",") if p]
groups = [int(p) for p in sys.argv[4].split(",") if p]
before = sys.argv[5:]
PING_EVERY, CONNECT_EVERY, ATTEMPT, GIVE_UP = 0.002, 0.005, 1.0, 30.0
WARM = 0.5 + random.random()
ident = os.getpid() & 0xFFFF
def checksum(b):
    total = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.setblocking(False)
poller = select.poll()
poller.register(icmp, select.POLLIN)
pings, conns = {}, {}
seq = 0
start = time.monotonic()
next_ping = next_conn = start
killed = first_ping = first_tcp = None
warm_ping = warm_tcp = 0
while True:
    now = time.monotonic()
    if now >= next_ping:
        seq = (seq + 1) & 0xFFFF
        body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"zsysplex-probe"
        try:
            icmp.sendto(body[:2] + struct.pack("!H", checksum(body)) + body[4:], (dst, 0))
        except OSError:
            pass
        pings[seq] = now
        next_ping = max(next_ping + PING_EVERY, now)
    if now >= next_conn:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((dst, port))
        conns[s.fileno()] = (s, now)
        poller.register(s, select.POLLOUT)
        next_conn = max(next_conn + CONNECT_EVERY, now)
    for fd, (s, t) in list(conns.items()):
        if now - t > ATTEMPT:
            poller.unregister(fd)
            s.close()
            del conns[fd]
    wait = max(0.0, min(next_ping, next_conn) - time.monotonic())
    events = poller.poll(wait * 1000)
    now = time.monotonic()
    for fd, ev in events:
        if fd == icmp.fileno():
            while True:
                try:
                    data, addr = icmp.recvfrom(2048)
                except BlockingIOError:
                    break
                ihl = (data[0] & 15) * 4
                if len(data) < ihl + 8:
                    continue
                kind, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
                if kind != 0 or rid != ident or addr[0] != dst:
                    continue
                sent = pings.pop(rseq, None)
                if sent is None:
                    continue
                if killed is None:
                    warm_ping += 1
                elif sent >= killed and first_ping is None:
                    first_ping = now - killed
        elif fd in conns:
            s, t = conns.pop(fd)
            poller.unregister(fd)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            s.close()
            if err != 0:
                continue
            if killed is None:
                warm_tcp += 1
            elif t >= killed and first_tcp is None:
                first_tcp = now - killed
    if killed is None and warm_ping >= 20 and warm_tcp >= 10 and now - start >= WARM:
        print("READY", warm_ping, warm_tcp, flush=True)
        if before:
            subprocess.run(before, check=True)
        killed = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for group in groups:
            os.killpg(group, signal.SIGKILL)
    if first_ping is not None and first_tcp is not None:
        print("RESULT %.3f %.3f" % (first_ping * 1000, first_tcp * 1000), flush=True)
        break
    if killed is None and now - start > GIVE_UP:
        print("NOT READY: %d echo replies, %d connections" % (warm_ping, warm_tcp), flush=True)
        sys.exit(2)
    if killed is not None and now - killed > GIVE_UP:
        print("GAVE UP: ping %s, tcp %s" % (first_ping, first_tcp), flush=True)
        sys.exit(1)
"#;

/// What to kill when the probe is warm.
#[derive(Debug, Default)]
pub(super) struct Victims {
    /// Processes to SIGKILL.
    pub pids: Vec<u32>,
    /// Process groups to SIGKILL.
    pub groups: Vec<u32>,
    /// A command to run to completion just before the kill.
    pub before: Vec<String>,
}

/// Milliseconds from the kill to the first answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Answered {
    /// To the first ICMP echo reply.
    pub ping_ms: f64,
    /// To the first accepted TCP connection.
    pub tcp_ms: f64,
}

/// Runs the probe in `ns` against `address:port`, killing `victims` once it is warm.
pub(super) fn run(
    ns: &Netns,
    address: &str,
    port: u16,
    victims: &Victims,
) -> Result<Answered, Error> {
    let join = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let (pids, groups, port) = (join(&victims.pids), join(&victims.groups), port.to_string());
    let mut args = vec!["python3", "-c", PROBE, address, &port, &pids, &groups];
    args.extend(victims.before.iter().map(String::as_str));
    let mut probe: Process = ns.spawn(&args)?;
    let line = probe.line_starting("RESULT", PATIENCE)?;
    parse_result(&line)
}

/// Parses `RESULT <ping ms> <tcp ms>`.
fn parse_result(line: &str) -> Result<Answered, Error> {
    let mut words = line.split_whitespace().skip(1).map(str::parse::<f64>);
    match (words.next(), words.next()) {
        (Some(Ok(ping_ms)), Some(Ok(tcp_ms))) => Ok(Answered { ping_ms, tcp_ms }),
        _ => Err(Error::Lab(format!("the probe printed {line:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_probe_result_and_refuses_anything_else() {
        assert_eq!(
            parse_result("RESULT 12.500 40.125").unwrap(),
            Answered {
                ping_ms: 12.5,
                tcp_ms: 40.125
            }
        );
        assert!(parse_result("RESULT 12.5").is_err());
        assert!(parse_result("RESULT x 1").is_err());
    }
}
