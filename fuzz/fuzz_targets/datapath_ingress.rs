//! A frame from the LAN through a stack's datapath (ARP policy, IPv4 classification) and on
//! into smoltcp, as the stack runtime polls it: never panics, whatever the bytes.
#![no_main]

use std::io;
use std::net::Ipv4Addr;
use std::task::{Context, Poll};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, Ipv4Cidr};
use stacks::datapath::{Datapath, DatapathConfig};
use stacks::lan::{LanFrame, LanPort, SendOutcome};

/// A LAN port that never receives and swallows what is sent.
#[derive(Debug)]
struct Sink;

impl LanPort for Sink {
    fn poll_recv(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<LanFrame>> {
        Poll::Pending
    }
    fn send(&mut self, _frame: Bytes) -> io::Result<SendOutcome> {
        Ok(SendOutcome::Sent)
    }
}

fuzz_target!(|data: &[u8]| {
    let mac = EthernetAddress([0x02, 0, 0x5e, 0, 0, 0x0a]);
    let home = Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 11), 24);
    let mut datapath = Datapath::new(DatapathConfig::new(mac), vec![home], Box::new(Sink));
    datapath.advertise(Ipv4Addr::new(192, 0, 2, 100), Instant::ZERO);
    datapath.hold_as_target(Ipv4Addr::new(192, 0, 2, 101));
    let mut iface = Interface::new(Config::new(HardwareAddress::Ethernet(mac)), &mut datapath, Instant::ZERO);
    let cidrs = datapath.addresses().interface_cidrs();
    iface.update_ip_addrs(|addrs| {
        for cidr in cidrs {
            let _ = addrs.push(cidr);
        }
    });
    let mut sockets = SocketSet::new(Vec::new());
    datapath.ingress_frame(Instant::ZERO, Bytes::copy_from_slice(data));
    iface.poll(Instant::ZERO, &mut datapath, &mut sockets);
});
