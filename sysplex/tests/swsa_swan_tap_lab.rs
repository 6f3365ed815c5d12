//! Sysplex-wide security associations against a real strongSwan 5.9.8 peer (root), in the lab
//! of [`sysplex::bench::swan_lab`] (shared with `sysplex bench swsa`): three `sysplex lpar`
//! processes on TAP devices in a Linux bridge and charon (kernel-libipsec, by
//! `scripts/swan-peer`) as PEER1 of the distributors' policy in a namespace on the bridge.
//! strongSwan initiates to SYS1, the distributor.
//!
//! Two checksummed streams go from the strongSwan namespace through ESP to the stream sinks on
//! port 5001; SYS1 distributes them by ROUNDROBIN to SYS2 and SYS3, the only stacks with the
//! sink. Mid-stream the DVIPA moves to SYS2:
//! - SIGKILL of SYS1's process: SYS2 takes the DVIPA over (EZZ8301I), reads SYS1's restart
//!   entries from EZBDVIPA and renegotiates with strongSwan as initiator with INITIAL_CONTACT;
//!   strongSwan replaces its IKE and CHILD SAs (new SPIs in `swanctl --list-sas`, the old ones
//!   gone) and both streams complete: each sink verified every byte against the pattern.
//! - The planned transfer, `V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.10` on SYS1: the
//!   same, SYS1 alive.
//!
//! The takeover message, strongSwan's new SAs and the streams' stalls are printed with their
//! times from the move (run with `--nocapture`). Needs root, `ip`, `python3`, strongSwan's
//! charon and the `swan-peer` tool; skips with a message otherwise.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use sysplex::bench::swan_lab::{
    Move, STREAM_BYTES, STREAMS, SinkReport, child_bytes, move_mid_stream, skip_reason,
};

/// One lab at a time: each runs four processes and charon on two shared CPUs.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Moves the DVIPA from SYS1 to SYS2 `how`, mid-stream, and checks that strongSwan's SAs are
/// renegotiated by SYS2 and that every byte of both streams reached its sink.
fn move_and_check(how: Move) {
    if let Some(why) = skip_reason() {
        eprintln!("skipping the SWSA strongSwan TAP lab: {why}");
        return;
    }
    let _turn = one_at_a_time();
    let outcome = move_mid_stream(Path::new(env!("CARGO_BIN_EXE_sysplex")), how)
        .unwrap_or_else(|e| panic!("the strongSwan lab ({how:?}): {e}"));
    let (before_listing, before) = &outcome.before;
    assert_eq!(
        (before.ike.len(), before.child.len()),
        (1, 2),
        "one IKE SA and one CHILD SA (in and out) with SYS1: {before_listing}"
    );
    assert_eq!(
        outcome.targets.values().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["203.0.113.12".to_owned(), "203.0.113.13".to_owned()]),
        "ROUNDROBIN sends one stream to each stack with the sink: {:?}",
        outcome.targets
    );
    if how == Move::Deactivate {
        eprintln!("{}", outcome.deactivated.join("\n"));
    }
    eprintln!("{}", outcome.taken);

    // strongSwan replaced its SAs with SYS2's (INITIAL_CONTACT): new SPIs, the old ones gone
    // (move_mid_stream waited for that).
    let (after_listing, after) = &outcome.after;
    eprintln!("strongSwan after the move:\n{after_listing}");
    assert!(
        after.ike.is_disjoint(&before.ike) && after.child.is_disjoint(&before.child),
        "strongSwan's SAs were replaced: before {before:?}, after {after:?}"
    );
    assert!(
        outcome.log.contains("received INITIAL_CONTACT")
            || outcome.log.contains("destroying duplicate IKE_SA"),
        "SYS2 initiated with INITIAL_CONTACT:\n{}",
        outcome.log
    );
    assert!(
        outcome
            .display
            .iter()
            .any(|l| l.contains("ActivationMethod") && l.contains("Takeover")),
        "SYS2's tunnel shows ActivationMethod Takeover: {:#?}",
        outcome.display
    );

    // Both streams complete and each sink verified every byte.
    eprintln!("source:\n{}", outcome.source.join("\n"));
    for i in 0..STREAMS {
        assert!(
            outcome.finished(i),
            "stream {i} to {} did not finish: {:#?}",
            outcome.targets[&i],
            outcome.source
        );
    }
    // The rest of the streams went through SYS2's new SAs both ways (the sinks' ACKs come
    // back in ESP), and strongSwan holds only those.
    let (listing, last) = &outcome.last;
    assert_eq!(last, after, "no other SA since the move: {listing}");
    let (esp_in, esp_out) = child_bytes(listing);
    assert!(
        esp_in > 0 && esp_out > 0,
        "the streams used the new CHILD SA: {listing}"
    );

    for (sysname, reports) in &outcome.sinks {
        assert_eq!(reports.len(), 1, "{sysname}'s sink reports: {reports:?}");
        assert_eq!(
            reports[0],
            SinkReport {
                end: "Closed".to_owned(),
                received: STREAM_BYTES,
                verified: STREAM_BYTES,
                mismatch: "NONE".to_owned(),
            },
            "every byte received and verified by {sysname}"
        );
    }
    assert_eq!(outcome.sinks.len(), 2, "SYS2's and SYS3's sinks reported");

    // The timeline for the benchmark table: the stalls of the streams (no byte acknowledged
    // for 30 ms or more with data in flight) that began before strongSwan had its new SAs
    // and ended after the move began.
    let timing = &outcome.timing;
    let stalls: Vec<String> = timing
        .stalls
        .iter()
        .map(|s| {
            format!(
                "stream {} to {}: {:+} -> {:+} ms",
                s.stream,
                outcome.targets.get(&s.stream).map_or("?", String::as_str),
                s.stalled,
                s.resumed
            )
        })
        .collect();
    eprintln!(
        "timeline ({how:?}, from the move): SYS2's EZZ8301I seen +{:.0} ms, strongSwan logs its \
         new CHILD SA +{} ms, its new SAs listed +{:.0} ms, bytes both ways on them +{} ms, stalls across the move (last byte \
         acknowledged -> acknowledged again): {stalls:?}",
        timing.takeover,
        timing
            .child_logged
            .map_or_else(|| "?".to_owned(), |at| format!("{at:.0}")),
        timing.renegotiated,
        timing
            .first_protected
            .map_or_else(|| "?".to_owned(), |at| format!("{at:.0}")),
    );
}

#[test]
fn sigkill_of_the_distributor_strongswan_gets_new_sas_and_the_streams_lose_no_byte() {
    move_and_check(Move::Kill);
}

#[test]
fn planned_transfer_strongswan_gets_new_sas_and_the_streams_lose_no_byte() {
    move_and_check(Move::Deactivate);
}
