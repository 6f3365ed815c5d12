//! Dynamic XCF link datagrams: parsing never panics, and what parses emits back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stacks::datapath::xcf::XcfDatagram;

fuzz_target!(|data: &[u8]| {
    if let Ok(datagram) = XcfDatagram::parse(data) {
        assert_eq!(datagram.emit(), data);
    }
});
