//! Fuzzes what a TAP port with offload does with a read: the `virtio_net_hdr` parser, the
//! completion of a partial checksum, and the datapath's cutting of the oversized TCP/IPv4
//! packet behind it into MTU-sized pieces. The first two octets pick the MTU. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stacks::datapath::segment::split_tcp;
use stacks::lan::vnet::VnetHeader;

fuzz_target!(|data: &[u8]| {
    let Some((mtu, read)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Ok((header, frame)) = VnetHeader::parse(read) else {
        return;
    };
    let mut frame = frame.to_vec();
    if let Some(partial) = header.partial_checksum()
        && partial.complete(&mut frame).is_err()
    {
        return;
    }
    if let Some(packet) = frame.get(14..) {
        let _ = split_tcp(packet, usize::from(u16::from_be_bytes(*mtu)));
    }
});
