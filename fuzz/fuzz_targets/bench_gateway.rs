//! The SWSA benchmark's gateway on frames from the LAN: handling any bytes never panics, and
//! whatever it sends back is a whole Ethernet frame from the gateway's MAC.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use smoltcp::wire::EthernetFrame;
use sysplex::bench::gateway::{GATEWAY_MAC, Router, Verdict};

fuzz_target!(|frames: Vec<Vec<u8>>| {
    let mut router = Router::new(Ipv4Addr::new(192, 0, 2, 1));
    for frame in frames {
        if let Verdict::Send(bytes) = router.handle(&frame) {
            let sent = EthernetFrame::new_checked(&bytes[..]).expect("a whole frame");
            assert_eq!(sent.src_addr(), GATEWAY_MAC);
        }
    }
});
