//! Sysplex Distributor takeover: how long a backup distributor takes to rebuild its CRT and DPT
//! from the targets' answers, for 1,000, 10,000 and 100,000 connections (goal: 100,000 in
//! under 200 ms). The primary routes the connections (SYN decisions, timed too), four targets
//! record them, each answers the backup (postcard over XCF), and the backup decodes the answers
//! and rebuilds. A command, not a test:
//!
//! ```text
//! cargo run --release -p stacks --example crt_rebuild [connections ...]
//! ```

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use stacks::datapath::stage::Origin;
use stacks::distributor::signal::SdSignal;
use stacks::distributor::{Deliver, DistConfig, Distributor, TargetTable};
use stacks::group_signal::{GroupSignal, decode, encode};
use stacks::profile;

const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const PORT: u16 = 8000;
const TARGETS: u8 = 4;
const RUNS: usize = 3;

fn xcf(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, last)
}

/// A 40-octet IPv4 TCP SYN from client number `n` to the DVIPA (checksums left 0: the
/// distributor does not check them).
fn syn(n: u32) -> Vec<u8> {
    let host = u8::try_from(n / 60_000 % 250 + 1).unwrap_or(1);
    let src = [203, 0, 113, host];
    let sport = u16::try_from(1024 + n % 60_000).unwrap_or(1024);
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&40u16.to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&DVIPA.octets());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&PORT.to_be_bytes());
    p[32] = 0x50;
    p[33] = 0x02;
    p
}

fn distributor(me: Ipv4Addr) -> Result<Distributor, Box<dyn std::error::Error>> {
    let text = format!(
        "VIPADYNAMIC\nVIPADEFINE MOVEABLE IMMEDIATE 255.255.255.0 {DVIPA}\n\
         VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN {DVIPA} PORT {PORT} DESTIP ALL\n\
         ENDVIPADYNAMIC\n"
    );
    let profile = profile::parse("crt_rebuild.tcpip", &text).into_strict()?;
    Ok(Distributor::new(
        me,
        DistConfig::from_profile(&profile.vipa_dynamic.distributes),
    ))
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<u32> = std::env::args()
        .skip(1)
        .map(|n| n.parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    println!(
        "{:>12} {:>14} {:>14} {:>11} {:>12} {:>11}",
        "connections", "SYN/s routed", "answer bytes", "decode ms", "rebuild ms", "total ms"
    );
    for &n in &sizes {
        let primary_xcf = xcf(1);
        let mut primary = distributor(primary_xcf)?;
        let mut targets: Vec<TargetTable> = (0..TARGETS).map(|_| TargetTable::default()).collect();
        for (i, table) in (2..).zip(targets.iter_mut()) {
            let report = table.set_listeners(DVIPA, PORT, 1);
            primary.apply(smoltcp::time::Instant::ZERO, xcf(i), &report);
        }
        let packets: Vec<Vec<u8>> = (0..n).map(syn).collect();
        let started = Instant::now();
        let decisions: Vec<Deliver> = packets
            .iter()
            .map(|p| primary.inbound(smoltcp::time::Instant::ZERO, Origin::Lan, p))
            .collect();
        let routing = started.elapsed();
        for (packet, decision) in packets.iter().zip(&decisions) {
            if let Deliver::Forward { xcf: to } = decision {
                let i = usize::from(to.octets()[3] - 2);
                targets[i].on_inbound(Some(primary_xcf), packet);
            }
        }
        // The primary fails; the backup (XCF .9) queries the targets.
        let backup_xcf = xcf(9);
        let messages: Vec<(Ipv4Addr, Vec<u8>)> = (2..)
            .zip(targets.iter_mut())
            .map(|(i, t)| {
                (
                    xcf(i),
                    encode(&GroupSignal::Distributor(SdSignal::Answer(
                        t.answer(DVIPA, backup_xcf),
                    ))),
                )
            })
            .collect();
        let bytes: usize = messages.iter().map(|(_, m)| m.len()).sum();
        let mut best: Option<(Duration, Duration)> = None;
        let mut rebuilt = None;
        for _ in 0..RUNS {
            let mut backup = distributor(backup_xcf)?;
            let started = Instant::now();
            let answers = messages
                .iter()
                .map(|(from, m)| match decode(m) {
                    Ok(GroupSignal::Distributor(SdSignal::Answer(a))) => Ok((*from, a)),
                    other => Err(format!("not an answer: {other:?}")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let decoded = started.elapsed();
            let stats = backup.rebuild(DVIPA, &answers);
            let total = started.elapsed();
            let times = (decoded, total - decoded);
            if best.is_none_or(|(d, r)| times.0 + times.1 < d + r) {
                best = Some(times);
            }
            rebuilt = Some((backup, stats));
        }
        let (Some((decode_time, rebuild_time)), Some((backup, stats))) = (best, rebuilt) else {
            continue;
        };
        let routed = primary.crt().len();
        if usize::try_from(n).ok() != Some(routed)
            || stats.connections != routed
            || backup.crt().len() != routed
            || primary
                .crt()
                .iter()
                .any(|(conn, route)| backup.crt().get(conn).map(|r| r.xcf) != Some(route.xcf))
        {
            return Err(format!("rebuild of {n} differs from the primary's CRT").into());
        }
        println!(
            "{n:>12} {:>14.0} {bytes:>14} {:>11} {:>12} {:>11}",
            f64::from(n) / routing.as_secs_f64(),
            ms(decode_time),
            ms(rebuild_time),
            ms(decode_time + rebuild_time)
        );
    }
    Ok(())
}
