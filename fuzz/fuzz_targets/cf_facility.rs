#![no_main]
//! Drives a fresh CF model with a postcard-encoded sequence of requests, each preceded by a
//! selector byte choosing the link, the system and how far the clock moves: `apply` must never
//! panic, and a snapshot round trip must give back the same state.

use cf::structure::{Ctx, Facility, LinkId, Request, SysName, Tod};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let systems = ["SYS1", "SYS2"].map(|name| SysName::new(name).expect("valid system name"));
    let mut facility = Facility::default();
    let mut now = 0u64;
    let mut rest = data;
    while let Some((&selector, tail)) = rest.split_first() {
        let Ok((request, tail)) = postcard::take_from_bytes::<Request>(tail) else {
            break;
        };
        rest = tail;
        now += u64::from(selector & 0x0F) * 1_000_000;
        let system = systems[usize::from(selector >> 7)].clone();
        let ctx = Ctx {
            link: LinkId(u64::from((selector >> 4) & 0x07)),
            system,
            now: Tod(now),
        };
        let _ = facility.apply(&ctx, request);
    }
    let bytes = postcard::to_stdvec(&facility).expect("a facility always serializes");
    let back: Facility = postcard::from_bytes(&bytes).expect("a snapshot always deserializes");
    assert_eq!(back, facility);
});
