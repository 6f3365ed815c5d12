//! Dynamic XCF link datagrams: parsing never panics, and what parses emits back to the same
//! bytes. What parses is then walked as the receiving stack would: a forwarded packet (clear
//! or marked protected) through a target's distributor stage, whose outbound side then sees
//! the same bytes as a reply; a returned packet through a distributor's check.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use smoltcp::time::Instant;
use stacks::datapath::stage::{Origin, StageSlot, Stages};
use stacks::datapath::xcf::{XcfDatagram, XcfKind};
use stacks::distributor::{DistConfig, Distributor, DistributorStage, SharedSd};
use stacks::dvipa::forward::ForwardTable;
use stacks::profile;

const PROFILE: &str = "VIPADYNAMIC\n\
    VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.0 198.51.100.10\n\
    VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 80 DESTIP ALL\n\
    ENDVIPADYNAMIC\n";

fuzz_target!(|data: &[u8]| {
    let Ok(datagram) = XcfDatagram::parse(data) else {
        return;
    };
    assert_eq!(datagram.emit(), data);
    let parsed = profile::parse("fuzz.tcpip", PROFILE);
    let configs = DistConfig::from_profile(&parsed.profile.vipa_dynamic.distributes);
    let shared = SharedSd::default();
    {
        let mut state = shared.lock();
        state.local_xcf = Some(Ipv4Addr::new(192, 0, 2, 1));
        state.distributor = Some(Distributor::new(Ipv4Addr::new(192, 0, 2, 1), configs));
    }
    let mut stages = Stages::default();
    stages.install(
        StageSlot::Distributor,
        Box::new(DistributorStage::new(ForwardTable::default(), shared)),
    );
    let packet = datagram.packet.to_vec();
    match datagram.kind {
        XcfKind::Forwarded { protected } => {
            let origin = Origin::Xcf(datagram.sender);
            let _ = if protected {
                stages.inbound_protected(Instant::ZERO, origin, packet.clone())
            } else {
                stages.inbound(Instant::ZERO, origin, packet.clone())
            };
            let _ = stages.outbound(Instant::ZERO, packet);
        }
        XcfKind::Returned => {
            let _ = stages.returned(Instant::ZERO, datagram.sender, packet);
        }
    }
});
