//! Behaviour tests of the [`Distributor`]: each DISTMETHOD against its definition, the CRT on
//! SYN, FIN and RST, target failure, takeover rebuild, timed affinity, OPTLOCAL, bad packets.

use std::net::{Ipv4Addr, SocketAddrV4};

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use smoltcp::time::Instant;

use super::{Deliver, Distributor, DropReason};
use crate::datapath::stage::Origin;
use crate::distributor::dpt::{DptKey, Health};
use crate::distributor::packet::tcp_packet;
use crate::distributor::signal::SdSignal;
use crate::distributor::target::TargetTable;
use crate::distributor::{DistConfig, display};
use crate::dvipa::model::{ActTime, ConnKey};
use crate::group_signal::{self, GroupSignal};
use crate::profile;

const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const T0: Instant = Instant::ZERO;

fn xcf(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, last)
}

fn server(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(DVIPA, port)
}

fn client(n: u32) -> SocketAddrV4 {
    let port = u16::try_from(1024 + n % 60_000).unwrap_or(1024);
    let host = u8::try_from(1 + n / 60_000 % 250).unwrap_or(1);
    SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, host), port)
}

fn conn(n: u32, port: u16) -> ConnKey {
    ConnKey {
        local: server(port),
        foreign: client(n),
    }
}

/// A distributor on SYS1 (XCF .1) for the one VIPADISTRIBUTE in `distribute`.
fn distributor(distribute: &str) -> Distributor {
    let text = format!(
        "VIPADYNAMIC\nVIPADEFINE MOVEABLE IMMEDIATE 255.255.255.0 {DVIPA}\n{distribute}\nENDVIPADYNAMIC\n"
    );
    let parsed = profile::parse("sd.tcpip", &text);
    let configs = DistConfig::from_profile(&parsed.profile.vipa_dynamic.distributes);
    assert_eq!(configs.len(), 1, "{text}");
    let mut sd = Distributor::new(xcf(1), configs);
    for target in 1..=4 {
        sd.target_joined(xcf(target));
    }
    sd
}

fn syn(sd: &mut Distributor, n: u32, port: u16) -> Deliver {
    sd.inbound(T0, Origin::Lan, &tcp_packet(client(n), server(port), "S"))
}

fn target_of(deliver: Deliver) -> Option<u8> {
    match deliver {
        Deliver::Local => Some(1),
        Deliver::Forward { xcf } => Some(xcf.octets()[3]),
        Deliver::Drop(_) => None,
    }
}

#[test]
fn round_robin_cycles_strictly_over_targets_with_ready_listeners() {
    let mut sd =
        distributor("VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL");
    sd.listeners(xcf(1), DVIPA, 80, 1);
    sd.listeners(xcf(2), DVIPA, 80, 2);
    sd.listeners(xcf(4), DVIPA, 80, 1);
    let picks: Vec<Option<u8>> = (0..7).map(|n| target_of(syn(&mut sd, n, 80))).collect();
    let expected: Vec<Option<u8>> = [1, 2, 4, 1, 2, 4, 1].into_iter().map(Some).collect();
    assert_eq!(picks, expected);
    assert_eq!(
        syn(&mut sd, 0, 80),
        Deliver::Local,
        "a retransmitted SYN keeps its target"
    );
    let totals: Vec<u64> = sd.dpt().iter().map(|(_, e)| e.total_conn).collect();
    assert_eq!(totals, vec![3, 2, 0, 2]);
}

#[test]
fn a_connection_request_without_a_ready_target_is_dropped() {
    let mut sd =
        distributor("VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL");
    assert_eq!(syn(&mut sd, 1, 80), Deliver::Drop(DropReason::NoTarget));
    assert!(sd.crt().is_empty());
    // Another port of the DVIPA is not distributed: the local stack gets it.
    assert_eq!(syn(&mut sd, 1, 81), Deliver::Local);
}

#[test]
fn weighted_active_keeps_active_connections_in_the_ratio_of_the_weights() {
    let mut sd = distributor(
        "VIPADISTRIBUTE DEFINE DISTMETHOD WEIGHTEDACTIVE 198.51.100.10 PORT 80 \
         DESTIP 192.0.2.2 WEIGHT 10 192.0.2.3 WEIGHT 20 192.0.2.4 WEIGHT 30",
    );
    for target in 2..=4 {
        sd.listeners(xcf(target), DVIPA, 80, 1);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut open: Vec<(u32, Ipv4Addr)> = Vec::new();
    for n in 0..1000 {
        if let Deliver::Forward { xcf } = syn(&mut sd, n, 80) {
            open.push((n, xcf));
        }
        // Now and then a connection ends, anywhere.
        if rng.gen_bool(0.3) && !open.is_empty() {
            let (n, target) = open.swap_remove(rng.gen_range(0..open.len()));
            assert!(sd.connection_ended(T0, target, &conn(n, 80)));
        }
    }
    let active: Vec<u32> = (2..=4)
        .map(|t| {
            let key = DptKey {
                dvipa: DVIPA,
                port: 80,
                xcf: xcf(t),
            };
            let active = sd.dpt().get(&key).map_or(0, |e| e.active_conn);
            u32::try_from(active).unwrap()
        })
        .collect();
    let total: u32 = active.iter().sum();
    assert_eq!(usize::try_from(total).unwrap(), open.len());
    assert!(total > 600, "enough connections stay open to measure");
    for (share, weight) in active.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
        let share = f64::from(*share) / f64::from(total);
        assert!((share - weight).abs() < 0.02, "{active:?}");
    }
}

#[test]
fn hot_standby_uses_the_preferred_then_the_highest_backup_and_switches_back() {
    let mut sd = distributor(
        "VIPADISTRIBUTE DEFINE DISTMETHOD HOTSTANDBY 198.51.100.10 PORT 80 \
         DESTIP 192.0.2.2 PREFERRED 192.0.2.3 BACKUP 50 192.0.2.4 BACKUP 200",
    );
    for target in 2..=4 {
        sd.listeners(xcf(target), DVIPA, 80, 1);
    }
    assert_eq!(target_of(syn(&mut sd, 1, 80)), Some(2));
    assert_eq!(target_of(syn(&mut sd, 2, 80)), Some(2));
    // The preferred's server turns unhealthy (TSR 0): HEALTHSWITCH moves work to rank 200.
    let preferred = DptKey {
        dvipa: DVIPA,
        port: 80,
        xcf: xcf(2),
    };
    sd.set_health(
        preferred,
        Health {
            tsr: 0,
            ..Health::default()
        },
    );
    assert_eq!(target_of(syn(&mut sd, 3, 80)), Some(4));
    // Rank 200 loses its listener: rank 50.
    sd.listeners(xcf(4), DVIPA, 80, 0);
    assert_eq!(target_of(syn(&mut sd, 4, 80)), Some(3));
    assert_eq!(sd.active_standby(DVIPA, 80), Some(xcf(3)));
    // The preferred recovers: AUTOSWITCHBACK returns the work to it.
    sd.set_health(preferred, Health::default());
    assert_eq!(target_of(syn(&mut sd, 5, 80)), Some(2));
    // Existing connections stay where they are.
    assert_eq!(
        sd.inbound(T0, Origin::Lan, &tcp_packet(client(4), server(80), "A")),
        Deliver::Forward { xcf: xcf(3) }
    );
}

#[test]
fn hot_standby_without_autoswitchback_stays_on_the_backup() {
    let mut sd = distributor(
        "VIPADISTRIBUTE DEFINE DISTMETHOD HOTSTANDBY NOAUTOSWITCHBACK 198.51.100.10 PORT 80 \
         DESTIP 192.0.2.2 PREFERRED 192.0.2.3 BACKUP 50",
    );
    sd.listeners(xcf(3), DVIPA, 80, 1);
    assert_eq!(target_of(syn(&mut sd, 1, 80)), Some(3));
    sd.listeners(xcf(2), DVIPA, 80, 1);
    assert_eq!(target_of(syn(&mut sd, 2, 80)), Some(3));
    sd.target_down(xcf(3));
    assert_eq!(target_of(syn(&mut sd, 3, 80)), Some(2));
}

#[test]
fn base_wlm_follows_system_weights_changed_at_run_time() {
    let mut sd =
        distributor("VIPADISTRIBUTE DEFINE DISTMETHOD BASEWLM 198.51.100.10 PORT 80 DESTIP ALL");
    sd.listeners(xcf(2), DVIPA, 80, 1);
    sd.listeners(xcf(3), DVIPA, 80, 1);
    sd.set_system_weight(xcf(2), 3);
    sd.set_system_weight(xcf(3), 1);
    let count = |sd: &mut Distributor, from: u32, target: u8| {
        (from..from + 400)
            .filter(|n| target_of(syn(sd, *n, 80)) == Some(target))
            .count()
    };
    assert_eq!(count(&mut sd, 0, 2), 300);
    sd.set_system_weight(xcf(2), 1);
    sd.set_system_weight(xcf(3), 4);
    assert_eq!(count(&mut sd, 1000, 3), 320);
    // TSR scales the weight: a TSR of 0 takes the target out while others have weight.
    sd.set_health(
        DptKey {
            dvipa: DVIPA,
            port: 80,
            xcf: xcf(3),
        },
        Health {
            tsr: 0,
            ..Health::default()
        },
    );
    assert_eq!(count(&mut sd, 2000, 2), 400);
}

#[test]
fn server_wlm_uses_the_server_weights_reported_by_targets() {
    let mut sd =
        distributor("VIPADISTRIBUTE DEFINE DISTMETHOD SERVERWLM 198.51.100.10 PORT 80 DESTIP ALL");
    sd.listeners(xcf(2), DVIPA, 80, 1);
    sd.listeners(xcf(3), DVIPA, 80, 1);
    sd.set_system_weight(xcf(2), 50);
    sd.set_system_weight(xcf(3), 50);
    let weight = SdSignal::ServerWeight {
        dvipa: DVIPA,
        port: 80,
        weight: 9,
    };
    assert!(sd.apply(T0, xcf(2), &weight));
    assert_eq!(
        sd.wlm_weight(&DptKey {
            dvipa: DVIPA,
            port: 80,
            xcf: xcf(2)
        }),
        9
    );
    let to_two = (0..590)
        .filter(|n| target_of(syn(&mut sd, *n, 80)) == Some(2))
        .count();
    assert_eq!(to_two, 90);
}

#[test]
fn quiesce_stops_new_connections_but_not_existing_ones_and_resume_undoes_it() {
    let mut sd =
        distributor("VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL");
    sd.listeners(xcf(2), DVIPA, 80, 1);
    sd.listeners(xcf(3), DVIPA, 80, 1);
    assert_eq!(target_of(syn(&mut sd, 1, 80)), Some(2));
    assert!(sd.apply(T0, xcf(2), &SdSignal::Quiesce { port: Some(80) }));
    let picks: Vec<Option<u8>> = (2..5).map(|n| target_of(syn(&mut sd, n, 80))).collect();
    assert_eq!(picks, vec![Some(3); 3]);
    assert_eq!(
        sd.inbound(T0, Origin::Lan, &tcp_packet(client(1), server(80), "A")),
        Deliver::Forward { xcf: xcf(2) }
    );
    sd.apply(T0, xcf(2), &SdSignal::Resume { port: None });
    assert_eq!(target_of(syn(&mut sd, 5, 80)), Some(2));
}

#[test]
fn the_crt_follows_syn_fin_rst_and_the_targets_end_reports() {
    let mut sd =
        distributor("VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL");
    sd.listeners(xcf(2), DVIPA, 80, 1);
    let key = DptKey {
        dvipa: DVIPA,
        port: 80,
        xcf: xcf(2),
    };
    let active = |sd: &Distributor| sd.dpt().get(&key).map(|e| e.active_conn);
    syn(&mut sd, 1, 80);
    syn(&mut sd, 2, 80);
    assert_eq!(sd.crt().len(), 2);
    assert_eq!(active(&sd), Some(2));
    // RST: the entry goes, after the RST is forwarded.
    let rst = sd.inbound(T0, Origin::Lan, &tcp_packet(client(1), server(80), "R"));
    assert_eq!(rst, Deliver::Forward { xcf: xcf(2) });
    assert_eq!(sd.crt().get(&conn(1, 80)), None);
    assert_eq!(active(&sd), Some(1));
    // FIN: marked; the last ACK still reaches the target; the target's report removes it.
    sd.inbound(T0, Origin::Lan, &tcp_packet(client(2), server(80), "F"));
    assert!(sd.crt().get(&conn(2, 80)).is_some_and(|r| r.client_fin));
    assert_eq!(
        sd.inbound(T0, Origin::Lan, &tcp_packet(client(2), server(80), "A")),
        Deliver::Forward { xcf: xcf(2) }
    );
    assert!(
        !sd.connection_ended(T0, xcf(3), &conn(2, 80)),
        "only the target can end it"
    );
    let ended = over_xcf(SdSignal::ConnectionEnded(conn(2, 80)));
    assert!(sd.apply(T0, xcf(2), &ended));
    assert!(sd.crt().is_empty());
    assert_eq!(active(&sd), Some(0));
    // A segment of no routed connection goes to the local stack, which resets it.
    assert_eq!(
        sd.inbound(T0, Origin::Lan, &tcp_packet(client(9), server(80), "A")),
        Deliver::Local
    );
}

#[test]
fn a_failed_target_loses_its_connections_and_its_dpt_entries() {
    let mut sd =
        distributor("VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL");
    sd.listeners(xcf(2), DVIPA, 80, 1);
    sd.listeners(xcf(3), DVIPA, 80, 1);
    for n in 0..10 {
        syn(&mut sd, n, 80);
    }
    assert_eq!(sd.target_down(xcf(2)), 5);
    assert_eq!(sd.crt().len(), 5);
    assert!(sd.crt().iter().all(|(_, r)| r.xcf == xcf(3)));
    assert!(sd.dpt().iter().all(|(k, _)| k.xcf != xcf(2)));
    assert_eq!(target_of(syn(&mut sd, 20, 80)), Some(3));
}

#[test]
fn a_backup_distributor_rebuilds_the_crt_and_dpt_from_the_targets_answers() {
    let statement =
        "VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 81 DESTIP ALL";
    let mut primary = distributor(statement);
    let mut targets: Vec<TargetTable> = (0..4).map(|_| TargetTable::default()).collect();
    for (i, table) in targets.iter_mut().enumerate() {
        let me = xcf(u8::try_from(i + 1).unwrap());
        for port in [80, 81] {
            let report = table.set_listeners(DVIPA, port, 1);
            primary.apply(T0, me, &report);
        }
    }
    // Connections flow; each target records what the primary forwards to it.
    let mut local = 0;
    for n in 0..300 {
        let port = if n % 2 == 0 { 80 } else { 81 };
        let packet = tcp_packet(client(n), server(port), "S");
        match primary.inbound(T0, Origin::Lan, &packet) {
            Deliver::Forward { xcf: to } => {
                let i = usize::from(to.octets()[3] - 1);
                targets[i].on_inbound(Some(xcf(1)), &packet);
            }
            Deliver::Local => local += 1,
            Deliver::Drop(reason) => panic!("dropped: {reason:?}"),
        }
    }
    // The primary (XCF .1, a target too) fails; its own connections die with it.
    let survivors: Vec<(ConnKey, Ipv4Addr)> = primary
        .crt()
        .iter()
        .filter(|(_, r)| r.xcf != xcf(1))
        .map(|(c, r)| (*c, r.xcf))
        .collect();
    // Round robin over four targets per port: a quarter of each port's 150 stayed local.
    assert_eq!(local, 76);
    assert_eq!(survivors.len(), 300 - local);
    let mut backup = distributor(statement);
    let answers: Vec<(Ipv4Addr, _)> = targets
        .iter_mut()
        .enumerate()
        .skip(1)
        .map(|(i, t)| (xcf(u8::try_from(i + 1).unwrap()), t.answer(DVIPA, xcf(2))))
        .collect();
    let answers: Vec<(Ipv4Addr, _)> = answers
        .into_iter()
        .map(|(from, a)| match over_xcf(SdSignal::Answer(a)) {
            SdSignal::Answer(a) => (from, a),
            other => panic!("answer does not round-trip: {other:?}"),
        })
        .collect();
    let stats = backup.rebuild(DVIPA, &answers);
    assert_eq!(stats.connections, 224);
    assert_eq!(stats.listeners, 6);
    assert_eq!(stats.skipped, 0);
    let mut rebuilt: Vec<(ConnKey, Ipv4Addr)> =
        backup.crt().iter().map(|(c, r)| (*c, r.xcf)).collect();
    rebuilt.sort_unstable();
    let mut expected = survivors;
    expected.sort_unstable();
    assert_eq!(rebuilt, expected);
    for (key, entry) in backup.dpt().iter() {
        let old = primary.dpt().get(key).copied().unwrap_or_default();
        if key.xcf != xcf(1) {
            assert_eq!(
                (entry.ready, entry.active_conn),
                (old.ready, old.active_conn),
                "{key:?}"
            );
            assert_eq!(entry.total_conn, 0, "TotalConn restarts at 0");
        }
    }
    // The targets' ends now go to the backup.
    let (conn, to) = expected[0];
    let i = usize::from(to.octets()[3] - 1);
    let (addressee, ended) = targets[i].connection_closed(&conn).unwrap();
    assert_eq!(addressee, xcf(2));
    assert!(backup.apply(T0, to, &ended));
}

#[test]
fn timed_affinity_keeps_a_client_on_its_target_until_the_time_runs_out() {
    let mut sd = distributor(
        "VIPADISTRIBUTE DEFINE TIMEDAFFINITY 60 DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL",
    );
    sd.listeners(xcf(2), DVIPA, 80, 1);
    sd.listeners(xcf(3), DVIPA, 80, 1);
    let same_client = |n: u16| SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 5000 + n);
    let at = |secs| Instant::from_secs(secs);
    let connect = |sd: &mut Distributor, n: u16, now: Instant| {
        target_of(sd.inbound(
            now,
            Origin::Lan,
            &tcp_packet(same_client(n), server(80), "S"),
        ))
    };
    assert_eq!(connect(&mut sd, 1, at(0)), Some(2));
    assert_eq!(connect(&mut sd, 2, at(1)), Some(2));
    let ended = |n: u16| ConnKey {
        local: server(80),
        foreign: same_client(n),
    };
    sd.connection_ended(at(10), xcf(2), &ended(1));
    sd.connection_ended(at(20), xcf(2), &ended(2));
    let vcrt = display::vcrt("TCPCS", ActTime(0), at(30), &sd, true);
    assert!(vcrt.contains("Source:  203.0.113.9..0"), "{vcrt}");
    assert!(
        vcrt.contains("TimAff: 060  AffConn: 0000  Expires: 050"),
        "{vcrt}"
    );
    assert_eq!(connect(&mut sd, 3, at(79)), Some(2));
    sd.connection_ended(at(80), xcf(2), &ended(3));
    // 60 s after the last connection ended the affinity is gone: round robin resumes.
    assert_eq!(connect(&mut sd, 4, at(140)), Some(3));
}

#[test]
fn optlocal_keeps_a_request_from_a_target_stack_on_that_stack() {
    let mut sd = distributor(
        "VIPADISTRIBUTE DEFINE OPTLOCAL 0 DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL",
    );
    sd.listeners(xcf(2), DVIPA, 80, 1);
    sd.listeners(xcf(3), DVIPA, 80, 1);
    for n in 0..3 {
        let packet = tcp_packet(client(n), server(80), "S");
        assert_eq!(
            sd.inbound(T0, Origin::Xcf(xcf(3)), &packet),
            Deliver::Forward { xcf: xcf(3) }
        );
    }
    // A request from a stack with no ready listener is distributed as usual.
    let packet = tcp_packet(client(9), server(80), "S");
    assert_eq!(
        sd.inbound(T0, Origin::Xcf(xcf(4)), &packet),
        Deliver::Forward { xcf: xcf(2) }
    );
}

#[test]
fn fragments_and_garbage_to_a_distributed_dvipa_are_dropped() {
    let mut sd =
        distributor("VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL");
    let mut packet = tcp_packet(client(1), server(80), "S");
    packet[6] = 0x20; // more fragments
    assert_eq!(
        sd.inbound(T0, Origin::Lan, &packet),
        Deliver::Drop(DropReason::Fragment)
    );
    assert_eq!(
        sd.inbound(T0, Origin::Lan, &[0x45, 0]),
        Deliver::Drop(DropReason::Malformed)
    );
}

proptest! {
    #[test]
    fn arbitrary_packets_never_panic_and_keep_the_counts_consistent(
        packets in proptest::collection::vec(
            (0u32..8, prop_oneof![Just("S"), Just("A"), Just("F"), Just("R")], 0usize..48, any::<u8>(), 0usize..49),
            0..40,
        ),
    ) {
        let mut sd = distributor(
            "VIPADISTRIBUTE DEFINE DISTMETHOD WEIGHTEDACTIVE 198.51.100.10 PORT 80 DESTIP ALL",
        );
        sd.listeners(xcf(2), DVIPA, 80, 1);
        sd.listeners(xcf(3), DVIPA, 80, 1);
        for (n, flags, index, value, cut) in packets {
            let mut packet = tcp_packet(client(n), server(80), flags);
            if let Some(byte) = packet.get_mut(index) {
                *byte ^= value;
            }
            packet.truncate(cut.max(1));
            let _ = sd.inbound(T0, Origin::Lan, &packet);
        }
        let active: u64 = sd.dpt().iter().map(|(_, e)| e.active_conn).sum();
        prop_assert_eq!(usize::try_from(active).unwrap(), sd.crt().len());
    }
}

#[test]
fn vdpt_and_vcrt_displays() {
    let mut sd = distributor(
        "VIPADISTRIBUTE DEFINE DISTMETHOD HOTSTANDBY 198.51.100.10 PORT 21 \
         DESTIP 192.0.2.2 PREFERRED 192.0.2.3 BACKUP 50",
    );
    sd.listeners(xcf(2), DVIPA, 21, 1);
    sd.listeners(xcf(3), DVIPA, 21, 2);
    sd.set_system_weight(xcf(2), 12);
    sd.set_health(
        DptKey {
            dvipa: DVIPA,
            port: 21,
            xcf: xcf(3),
        },
        Health {
            tsr: 75,
            tcsr: 100,
            cer: 75,
            sef: 100,
            abnorm: 0,
            health: 100,
        },
    );
    for n in 0..2 {
        syn(&mut sd, n, 21);
    }
    let time = ActTime(1_795_334_124);
    insta::assert_snapshot!("vdpt_hotstandby", display::vdpt("TCPCS", time, &sd, false));
    insta::assert_snapshot!(
        "vdpt_hotstandby_detail",
        display::vdpt("TCPCS", time, &sd, true)
    );
    insta::assert_snapshot!("vcrt", display::vcrt("TCPCS", time, T0, &sd, false));
    insta::assert_snapshot!("vcrt_detail", display::vcrt("TCPCS", time, T0, &sd, true));
}

/// A signal as it arrives after a trip through an XCF message.
fn over_xcf(signal: SdSignal) -> SdSignal {
    match group_signal::decode(&group_signal::encode(&GroupSignal::Distributor(signal))) {
        Ok(GroupSignal::Distributor(signal)) => signal,
        other => panic!("signal does not round-trip: {other:?}"),
    }
}
