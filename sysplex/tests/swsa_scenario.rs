//! The SWSA scenarios `sysplex run` plays, embedded, no privileges: with 1, 10 and 100 remote
//! IPSec hosts the distributor dies mid-stream and every stream to a surviving target
//! completes with every byte verified while those to the dead one end; the planned transfer
//! keeps every stream; EZBDVIPA before and after, seeded, is exact (and holds no key
//! material); `--json` prints one document with the report's fields. Real time (the CF on
//! loopback): every wait in the scenario is bounded, so a broken lab fails instead of hanging.

use std::net::Ipv4Addr;
use std::time::Duration;

use sysplex::scenario::swsa::{self, Cause, Options, Report};
use sysplex::streams::SourceEnd;
use tokio::sync::Mutex;

/// One lab at a time: the machine is small, and a lab's timing is what it measures.
static ONE_LAB: Mutex<()> = Mutex::const_new(());

async fn play(options: Options) -> Report {
    let _alone = ONE_LAB.lock().await;
    let report = swsa::run(&options).await.expect("the scenario runs");
    if !report.verdict.holds {
        panic!("the verdict fails:\n{}", report.listing());
    }
    report
}

/// What every failure run must show with `peers` hosts.
fn the_takeover_kept_every_surviving_stream(report: &Report, peers: usize) {
    assert_eq!(report.scenario, "swsa");
    assert_eq!(report.peers, peers);
    let [takeover] = report.takeovers.as_slice() else {
        panic!("one takeover: {:?}", report.takeovers);
    };
    assert_eq!(takeover.cause, "SYS1 killed");
    assert_eq!(takeover.by.as_deref(), Some("SYS2"));
    assert_eq!(takeover.entries_read, peers);
    assert_eq!(takeover.peers_to_renegotiate, peers);
    assert_eq!(takeover.takeover_tunnels, peers);
    let mut renegotiated: Vec<Ipv4Addr> = takeover.renegotiated.iter().map(|r| r.peer).collect();
    renegotiated.sort_unstable();
    let hosts: Vec<Ipv4Addr> = (1..=peers)
        .map(sysplex::ipsec_hosts::IpsecHosts::address)
        .collect();
    assert_eq!(renegotiated, hosts, "every peer renegotiated once");
    for figure in [
        takeover.detection_ms,
        takeover.cf_read_ms,
        takeover.all_renegotiated_ms,
        takeover.first_protected_byte_ms,
    ] {
        assert!(figure.is_some(), "{takeover:?}");
    }

    assert_eq!(report.streams.len(), peers.max(6).div_ceil(peers) * peers);
    for target in ["SYS1", "SYS2", "SYS3"] {
        assert!(
            report.streams.iter().any(|s| s.target == target),
            "ROUNDROBIN reaches {target}"
        );
    }
    for stream in &report.streams {
        if stream.target == "SYS1" {
            assert!(!stream.target_survived);
            assert!(!stream.completed, "{stream:?}");
            assert_ne!(stream.end, SourceEnd::Closed, "{stream:?}");
            assert!(stream.bytes_verified > 0, "it flowed before: {stream:?}");
        } else {
            assert!(stream.target_survived);
            assert!(stream.completed, "{stream:?}");
            assert!(stream.checksums_match);
            assert!(stream.bytes_sent > 0);
            assert_eq!(stream.bytes_verified, stream.bytes_sent, "{stream:?}");
            assert_eq!(stream.bytes_received, stream.bytes_sent, "{stream:?}");
            assert!(stream.outage_ms.is_some());
        }
    }
    let v = &report.verdict;
    assert_eq!(v.surviving_completed, v.surviving_streams);
    assert_eq!(v.lost_ended, v.lost_streams);
    assert!(v.lost_streams > 0 && v.no_clear_text && v.ezbdvipa_moved);

    let [before, after] = report.stages.as_slice() else {
        panic!("two stages: {:?}", report.stages);
    };
    let sys1: Vec<_> = hosts.iter().map(|h| (*h, "SYS1".to_owned())).collect();
    let sys2: Vec<_> = hosts.iter().map(|h| (*h, "SYS2".to_owned())).collect();
    assert_eq!(before.owners, sys1);
    assert_eq!(after.owners, sys2);
    let y = &after.displays[2];
    assert_eq!(y.command, "RO SYS2,ipsec -p TCPCS -y display");
    assert_eq!(
        y.text
            .matches("ActivationMethod:               Takeover")
            .count(),
        peers,
        "{}",
        y.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_survives_the_distributor_death_and_ezbdvipa_moves_exactly() {
    let report = play(Options::new(Cause::Failure, 1)).await;
    the_takeover_kept_every_surviving_stream(&report, 1);
    // Seeded SPIs: the entries are the same on every run, and hold no key material.
    insta::assert_snapshot!("ezbdvipa_before_the_failure", report.stages[0].ezbdvipa);
    insta::assert_snapshot!("ezbdvipa_after_the_takeover", report.stages[1].ezbdvipa);
    let listing = report.listing();
    for heading in [
        "=== Timeline",
        "EZZ8301I VIPA 198.51.100.10 TAKEN OVER FROM TCPCS ON SYS1",
        "first protected byte after the takeover",
        "D XCF,STR,STRNAME=EZBDVIPA0124",
        "RO SYS2,D TCPIP,TCPCS,NETSTAT,VCRT",
        "=== Takeover figures",
        "=== Verdict: HOLDS",
    ] {
        assert!(listing.contains(heading), "{heading}:\n{listing}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_peers_survive_the_distributor_death() {
    let report = play(Options::new(Cause::Failure, 10)).await;
    the_takeover_kept_every_surviving_stream(&report, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_peers_survive_the_distributor_death() {
    let mut options = Options::new(Cause::Failure, 100);
    options.chunk = 256;
    options.pace = Duration::from_millis(50);
    let report = play(options).await;
    the_takeover_kept_every_surviving_stream(&report, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planned_transfer_and_takeback_keep_every_stream() {
    let report = play(Options::new(Cause::Planned, 2)).await;
    assert_eq!(report.scenario, "swsa-planned");
    let moves: Vec<(&str, Option<&str>)> = report
        .takeovers
        .iter()
        .map(|t| (t.cause.as_str(), t.by.as_deref()))
        .collect();
    assert_eq!(
        moves,
        [
            ("DEACTIVATE on SYS1", Some("SYS2")),
            ("REACTIVATE on SYS1", Some("SYS1"))
        ]
    );
    assert!(report.takeovers.iter().all(|t| t.takeover_tunnels == 2));
    assert!(report.streams.iter().any(|s| s.target == "SYS1"));
    for stream in &report.streams {
        assert!(stream.completed, "{stream:?}");
        assert_eq!(stream.bytes_verified, stream.bytes_sent);
    }
    assert_eq!(report.verdict.lost_streams, 0);
    let owners: Vec<Vec<&str>> = report
        .stages
        .iter()
        .map(|s| s.owners.iter().map(|(_, o)| o.as_str()).collect())
        .collect();
    assert_eq!(
        owners,
        [["SYS1", "SYS1"], ["SYS2", "SYS2"], ["SYS1", "SYS1"]]
    );
}

#[tokio::test]
async fn json_is_one_document_with_the_report() {
    let _alone = ONE_LAB.lock().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sysplex"))
        .args(["run", "--json", "--peers", "1"])
        .output()
        .await
        .expect("sysplex runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    assert_eq!(report["scenario"], "swsa");
    assert_eq!(report["dvipa"], "198.51.100.10");
    assert_eq!(report["peers"], 1);
    assert_eq!(report["verdict"]["holds"], true);
    assert!(report["timeline"].as_array().is_some_and(|t| !t.is_empty()));
    let stages = report["stages"].as_array().expect("stages");
    assert_eq!(stages[0]["name"], "before");
    assert_eq!(stages[1]["name"], "after-takeover");
    assert!(
        stages[1]["ezbdvipa"]
            .as_str()
            .is_some_and(|t| t.contains("Owner: SYS2"))
    );
    let takeover = &report["takeovers"][0];
    for field in [
        "detection_ms",
        "cf_read_ms",
        "all_renegotiated_ms",
        "first_protected_byte_ms",
    ] {
        assert!(takeover[field].is_f64(), "{field}: {takeover}");
    }
    assert!(
        report["streams"]
            .as_array()
            .is_some_and(|s| s.iter().all(|s| s["bytes_verified"].is_u64()))
    );
}
