//! Sysplex Distributor input from outside: inbound packets to a distributed DVIPA, on the
//! distributor and on a target (the routing decision and the CRT bookkeeping never panic, and
//! ActiveConn always equals the CRT size). Signals from XCF peers: the `group_signal` target.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use stacks::datapath::stage::Origin;
use stacks::distributor::packet::{Inbound, outbound_segment, parse};
use stacks::distributor::{DistConfig, Distributor, TargetTable};
use stacks::profile;

const PROFILE: &str = "VIPADYNAMIC\n\
    VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.0 198.51.100.10\n\
    VIPADISTRIBUTE DEFINE TIMEDAFFINITY 30 DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL\n\
    ENDVIPADYNAMIC\n";

fuzz_target!(|data: &[u8]| {
    let parsed = profile::parse("fuzz.tcpip", PROFILE);
    let configs = DistConfig::from_profile(&parsed.profile.vipa_dynamic.distributes);
    let mut sd = Distributor::new(Ipv4Addr::new(192, 0, 2, 1), configs);
    let dvipa = Ipv4Addr::new(198, 51, 100, 10);
    sd.listeners(Ipv4Addr::new(192, 0, 2, 2), dvipa, 80, 1);
    sd.listeners(Ipv4Addr::new(192, 0, 2, 3), dvipa, 80, 1);
    let mut table = TargetTable::default();
    // The input is a sequence of packets, each preceded by its length (odd: it arrived
    // protected).
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (packet, tail) = tail.split_at(len);
        let _ = sd.inbound(smoltcp::time::Instant::ZERO, Origin::Lan, packet);
        let protected = len % 2 == 1;
        if let Ok(Inbound::Tcp(segment)) = parse(packet) {
            let _ = table.on_segment(Some(Ipv4Addr::new(192, 0, 2, 1)), &segment, protected);
        }
        if let Some(segment) = outbound_segment(packet) {
            let _ = table.protected_route(&segment);
        }
        let _ = table.on_outbound(packet);
        rest = tail;
    }
    let active: u64 = sd.dpt().iter().map(|(_, e)| e.active_conn).sum();
    assert_eq!(usize::try_from(active).ok(), Some(sd.crt().len()));
});
