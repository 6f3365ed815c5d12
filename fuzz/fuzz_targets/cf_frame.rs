//! The CF link frame decoder on arbitrary bytes, both directions: it must return a message,
//! "incomplete" or an error, never panic; a decoded message must encode and decode the same.
//! The CF's own decoder of connector messages must agree with it and hand back request bytes
//! that decode to the same request; a request or reply encoded from a borrowed frame
//! (`RequestFrame`, `ReplyFrame`) must give the bytes of its message.

#![no_main]

use bytes::BytesMut;
use cf::structure::Request;
use cf::wire::{
    CfMessage, ConnectorMessage, ReplyFrame, RequestFrame, decode_connector_message, decode_frame,
    encode_frame, frame_body,
};
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

/// The CF's decoder of connector messages agrees with the plain one, and the request bytes it
/// hands back (what the CF logs) decode to the same request.
fn server_decode_agrees(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((body, used))) = frame_body(rest, MAX) {
        let plain = postcard::from_bytes::<ConnectorMessage>(body).ok();
        let server = decode_connector_message(body).ok();
        assert_eq!(plain.as_ref(), server.as_ref().map(|(m, _)| m));
        if let Some((message @ ConnectorMessage::Request { id, request }, received)) = &server {
            let received = received.expect("a request comes with its bytes");
            assert_eq!(
                postcard::from_bytes::<Request>(received).ok().as_ref(),
                Some(request)
            );
            let frame = RequestFrame { id: *id, request };
            assert_eq!(
                postcard::to_allocvec(&frame).ok(),
                postcard::to_allocvec(message).ok()
            );
        }
        if let Ok(message) = postcard::from_bytes::<CfMessage>(body)
            && let CfMessage::Reply { id, reply } = &message
        {
            let frame = ReplyFrame { id: *id, reply };
            assert_eq!(
                postcard::to_allocvec(&frame).ok(),
                postcard::to_allocvec(&message).ok()
            );
        }
        rest = &rest[used..];
    }
}

fuzz_target!(|data: &[u8]| {
    server_decode_agrees(data);
    round_trip::<ConnectorMessage>(data);
    round_trip::<CfMessage>(data);
});
