//! Sysplex Distributor end to end, in process, no privileges: a CF on loopback, three LPARs on
//! an in-memory switch (SYS1 distributes 198.51.100.10 port 7 by ROUNDROBIN to every stack and
//! is a target itself, SYS2 is its backup distributor and a target, SYS3 is a target only) and
//! two remote hosts holding 100 checksummed echo streams to the DVIPA.
//!
//! SYS1 dies mid-stream: SYS2 takes the DVIPA over, rebuilds its CRT from the targets' answers,
//! and every stream routed to SYS2 or SYS3 goes on with every byte verified, while those SYS1
//! served end (reset by SYS2 when the client sends again). SYS1 comes back and takes the DVIPA back (MOVEABLE IMMEDIATE) with the streams
//! still running: it rebuilds the CRT from the answers the same way.

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::echo_stream::{CHUNK, Outcome, Stream, open_stream, progressed};
use common::{Lpar, inline_profile, remote_host, start_cf, start_lpar_with, until};
use stacks::dvipa::model::DvipaStatus;
use stacks::dvipa::service::Report;
use stacks::lan::switch::EthernetSwitch;

const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const ECHO: SocketAddrV4 = SocketAddrV4::new(DVIPA, 7);
const STREAMS: usize = 100;

fn xcf(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, 10 + n)
}

const DISTRIBUTE: &str =
    "VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 7 DESTIP ALL";

async fn start_sys1(cf: &common::TestCf, switch: &EthernetSwitch) -> Lpar {
    let vipadynamic =
        format!("VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.255 {DVIPA}\n{DISTRIBUTE}");
    start_lpar_with(cf, switch, "SYS1", inline_profile(1, &vipadynamic)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_to_surviving_targets_live_through_takeover_and_takeback() {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let hosts = [remote_host(&switch, 0), remote_host(&switch, 1)];
    let sys1 = start_sys1(&cf, &switch).await;
    let backup = format!("VIPABACKUP 200 MOVEABLE IMMEDIATE 255.255.255.255 {DVIPA}\n{DISTRIBUTE}");
    let sys2 = start_lpar_with(&cf, &switch, "SYS2", inline_profile(2, &backup)).await;
    let sys3 = start_lpar_with(&cf, &switch, "SYS3", inline_profile(3, "")).await;
    let targets = [xcf(1), xcf(2), xcf(3)];
    until("SYS1 distributes to three ready targets", || {
        common::distributes_to(&sys1, DVIPA, 7, &targets)
    })
    .await;

    // 100 streams from two remote hosts, spread by ROUNDROBIN.
    let finish = Arc::new(AtomicBool::new(false));
    let mut streams = Vec::new();
    for id in 0..STREAMS {
        let n = u8::try_from(id % 2).unwrap();
        let from = Ipv4Addr::new(192, 0, 2, 50 + n);
        streams.push(open_stream(&hosts[usize::from(n)], from, ECHO, id, finish.clone()).await);
    }
    let routes: BTreeMap<SocketAddrV4, Ipv4Addr> = sys1
        .dvipa
        .distributor()
        .crt()
        .iter()
        .map(|(conn, route)| (conn.foreign, route.xcf))
        .collect();
    let target_of = |s: &Stream| routes.get(&s.local).copied().expect("routed by SYS1");
    let mut per_target = BTreeMap::new();
    for stream in &streams {
        *per_target.entry(target_of(stream)).or_insert(0) += 1;
    }
    assert_eq!(
        per_target.values().copied().collect::<Vec<_>>(),
        [34, 33, 33],
        "ROUNDROBIN spreads the streams evenly: {per_target:?}"
    );
    let all: Vec<&Stream> = streams.iter().collect();
    progressed(&all, &vec![0; STREAMS], 2).await;
    eprintln!("{}", sys1.dvipa.netstat(Report::Vdpt(false)).await.unwrap());

    // SYS1 dies mid-stream: SYS2 takes over and rebuilds the CRT from SYS2's and SYS3's answers.
    let survivors: Vec<&Stream> = streams.iter().filter(|s| target_of(s) != xcf(1)).collect();
    let mark: Vec<u64> = survivors
        .iter()
        .map(|s| s.rounds.load(Ordering::Relaxed))
        .collect();
    sys1.kill().await;
    until(
        "SYS2 distributes the DVIPA with the surviving routes",
        || async {
            let distributor = sys2.dvipa.distributor();
            sys2.status_of(DVIPA).await == Some(DvipaStatus::Active)
                && !distributor.is_rebuilding(DVIPA)
                && distributor.crt().len() == survivors.len()
        },
    )
    .await;
    assert!(
        sys2.dvipa
            .console()
            .iter()
            .any(|l| l.starts_with("EZZ8301I VIPA 198.51.100.10 TAKEN OVER FROM TCPCS ON SYS1")),
        "{:?}",
        sys2.dvipa.console()
    );
    progressed(&survivors, &mark, 3).await;
    eprintln!("{}", sys2.dvipa.netstat(Report::Vcrt(false)).await.unwrap());

    // SYS1 comes back and takes the DVIPA back at once, the streams still running: it rebuilds
    // the CRT from the targets' answers in turn.
    let mark: Vec<u64> = survivors
        .iter()
        .map(|s| s.rounds.load(Ordering::Relaxed))
        .collect();
    let sys1 = start_sys1(&cf, &switch).await;
    until(
        "SYS1 distributes again with the surviving routes",
        || async {
            let distributor = sys1.dvipa.distributor();
            sys1.status_of(DVIPA).await == Some(DvipaStatus::Active)
                && !distributor.is_rebuilding(DVIPA)
                && distributor.crt().len() == survivors.len()
        },
    )
    .await;
    progressed(&survivors, &mark, 3).await;

    // New connections are distributed again, SYS1 included.
    let late = open_stream(&hosts[0], common::HOST, ECHO, STREAMS, finish.clone()).await;
    progressed(&[&late], &[0], 1).await;

    finish.store(true, Ordering::Relaxed);
    let mut completed = 0;
    for stream in streams {
        let target = target_of(&stream);
        let outcome = stream.task.await.unwrap();
        match (target == xcf(1), &outcome) {
            (false, Outcome::Completed { bytes }) => {
                assert!(*bytes >= 6 * CHUNK as u64);
                completed += 1;
            }
            // Reset by the new distributor's stack when the client sent again, or silent when
            // SYS1 had acknowledged everything before it died.
            (true, Outcome::Ended { bytes, why }) => {
                assert!(
                    *bytes > 0 && (why.contains("Reset") || why.contains("Elapsed")),
                    "{bytes} {why}"
                );
            }
            _ => panic!("stream to {target} ended as {outcome:?}"),
        }
    }
    assert_eq!(completed, survivors_count(&per_target));
    assert!(matches!(
        late.task.await.unwrap(),
        Outcome::Completed { .. }
    ));
    drop(sys3);
}

fn survivors_count(per_target: &BTreeMap<Ipv4Addr, usize>) -> usize {
    per_target
        .iter()
        .filter(|(xcf_address, _)| **xcf_address != xcf(1))
        .map(|(_, n)| n)
        .sum()
}
