//! The CF link frame decoder on arbitrary bytes, both directions: it must return a message,
//! "incomplete" or an error, never panic; a decoded message must encode and decode the same.
//! The CF's own decoder of connector messages and the connector's decoder of CF messages (both
//! with hand-written paths for the hot messages) must agree with it, the CF's handing back
//! request bytes that decode to the same request; a request or reply encoded from a borrowed
//! frame (`RequestFrame::encode`, `ReplyFrame::encode`, by hand for the hot ones) must give the
//! bytes of its message.

#![no_main]

use bytes::{Bytes, BytesMut};
use cf::structure::Request;
use cf::wire::{
    CfMessage, ConnectorMessage, ReplyFrame, RequestFrame, decode_cf_message,
    decode_connector_message, decode_frame, encode_frame, frame_body,
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

/// The frame body `encode` appends to a fresh buffer (`None` if it refuses).
fn encoded(
    encode: impl FnOnce(&mut BytesMut) -> Result<(), cf::wire::FrameError>,
) -> Option<Vec<u8>> {
    let mut buf = BytesMut::new();
    encode(&mut buf).ok()?;
    Some(buf[cf::wire::HEADER_LEN..].to_vec())
}

/// Both sides' decoders agree with the plain one, the request bytes the CF's hands back (what
/// the CF logs) decode to the same request, and the borrowed frames encode as their messages.
fn decoders_and_encoders_agree(data: &[u8]) {
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
                encoded(|buf| frame.encode(buf, MAX)),
                postcard::to_allocvec(message).ok()
            );
        }
        let plain = postcard::from_bytes::<CfMessage>(body).ok();
        assert_eq!(plain, decode_cf_message(&Bytes::copy_from_slice(body)).ok());
        if let Some(message @ CfMessage::Reply { id, reply }) = &plain {
            let frame = ReplyFrame { id: *id, reply };
            assert_eq!(
                encoded(|buf| frame.encode(buf, MAX)),
                postcard::to_allocvec(message).ok()
            );
        }
        rest = &rest[used..];
    }
}

fuzz_target!(|data: &[u8]| {
    decoders_and_encoders_agree(data);
    round_trip::<ConnectorMessage>(data);
    round_trip::<CfMessage>(data);
});
