//! The CF link frame decoder on arbitrary bytes, both directions: it must return a message,
//! "incomplete" or an error, never panic; a decoded message must encode and decode the same.

#![no_main]

use bytes::BytesMut;
use cf::wire::{CfMessage, ConnectorMessage, decode_frame, encode_frame};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fn round_trip<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut rest = data;
    while let Ok(Some((message, used))) = decode_frame::<T>(rest, MAX) {
        let mut buf = BytesMut::new();
        if encode_frame(&message, &mut buf, MAX).is_ok() {
            let again = decode_frame::<T>(&buf, MAX).ok().flatten().map(|(m, _)| m);
            assert_eq!(again.as_ref(), Some(&message));
        }
        rest = &rest[used..];
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ConnectorMessage>(data);
    round_trip::<CfMessage>(data);
});
