//! Framing of CF link messages: a 4-byte big-endian length, then the postcard encoding of one
//! message. Sans-IO ([`decode_frame`], [`encode_frame`]); [`super::FrameReader`] reads them
//! from a link.

use bytes::{BufMut, BytesMut};
use postcard::ser_flavors::Flavor;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Length of the frame header (the body length), in bytes.
pub const HEADER_LEN: usize = 4;

/// Default largest frame body: room for a multi-entry reply of 64 KiB entries.
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header announces a body larger than the link allows.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced body length.
        len: usize,
        /// The link's maximum.
        max: usize,
    },
    /// The body is not a valid message.
    #[error("malformed frame body: {0}")]
    Malformed(#[from] postcard::Error),
    /// The link failed underneath.
    #[error("link I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Decodes one frame from the start of `buf`: `Ok(None)` while it is incomplete (a partial
/// frame is normal), else the message and the number of bytes it took.
pub fn decode_frame<T: DeserializeOwned>(
    buf: &[u8],
    max: usize,
) -> Result<Option<(T, usize)>, FrameError> {
    let Some((body, used)) = frame_body(buf, max)? else {
        return Ok(None);
    };
    let message = postcard::from_bytes(body)?;
    Ok(Some((message, used)))
}

/// The body of the frame at the start of `buf` and the number of bytes the frame takes;
/// `Ok(None)` while it is incomplete.
pub fn frame_body(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some((header, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let len = usize::try_from(u32::from_be_bytes(*header)).unwrap_or(usize::MAX);
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(rest.get(..len).map(|body| (body, HEADER_LEN + len)))
}

/// Appends the frame of `message` to `dst`; refuses a body larger than `max`.
pub fn encode_frame<T: Serialize>(
    message: &T,
    dst: &mut BytesMut,
    max: usize,
) -> Result<(), FrameError> {
    encode_frame_with(dst, max, |out| {
        postcard::serialize_with_flavor(message, out)
    })
}

/// Appends a frame whose body `body` appends through the [`Appender`] it is given; refuses a
/// body larger than `max`, leaving `dst` as it was.
pub(super) fn encode_frame_with(
    dst: &mut BytesMut,
    max: usize,
    body: impl FnOnce(&mut Appender<'_>) -> postcard::Result<()>,
) -> Result<(), FrameError> {
    let start = dst.len();
    dst.put_u32(0);
    let written = {
        let mut out = Appender::new(dst);
        let written = body(&mut out);
        out.append_staged();
        written
    };
    let len = dst.len() - start - HEADER_LEN;
    let checked = written.map_err(FrameError::from).and_then(|()| {
        u32::try_from(len)
            .ok()
            .filter(|_| len <= max)
            .ok_or(FrameError::TooLarge { len, max })
    });
    match checked {
        Ok(len) => {
            dst[start..start + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
            Ok(())
        }
        Err(e) => {
            dst.truncate(start);
            Err(e)
        }
    }
}

/// Bytes an [`Appender`] gathers before it appends them.
const STAGE: usize = 128;

/// Postcard output appended to a `BytesMut` (through `io::Write` every field would cost a call
/// of its own). Postcard writes fixed arrays such as LEIDs and small integers a byte at a time,
/// and a single byte appended to a `BytesMut` costs a `memmove` call: bytes are gathered in a
/// small buffer and appended together. The hand-written encoders of [`super::fast`] write
/// through it too. It is lent to the encoder by reference, so its buffer is never moved.
pub(super) struct Appender<'a> {
    dst: &'a mut BytesMut,
    staged: [u8; STAGE],
    len: usize,
}

impl<'a> Appender<'a> {
    fn new(dst: &'a mut BytesMut) -> Self {
        Self {
            dst,
            staged: [0; STAGE],
            len: 0,
        }
    }

    fn append_staged(&mut self) {
        self.dst.extend_from_slice(&self.staged[..self.len]);
        self.len = 0;
    }

    /// Appends one byte.
    #[inline(always)]
    pub(super) fn push(&mut self, byte: u8) {
        if self.len == STAGE {
            self.append_staged();
        }
        self.staged[self.len] = byte;
        self.len += 1;
    }

    /// Appends bytes.
    #[inline]
    pub(super) fn extend(&mut self, data: &[u8]) {
        match self.staged.get_mut(self.len..self.len + data.len()) {
            Some(room) => {
                room.copy_from_slice(data);
                self.len += data.len();
            }
            None => {
                self.append_staged();
                self.dst.extend_from_slice(data);
            }
        }
    }
}

impl Flavor for &mut Appender<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.extend(data);
        Ok(())
    }

    #[inline(always)]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.push(data);
        Ok(())
    }

    /// Nothing to do: [`encode_frame_with`] appends what is staged.
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Sample {
        Ping(u64),
        Data { id: u32, bytes: Vec<u8> },
    }

    fn frame(sample: &Sample) -> BytesMut {
        let mut buf = BytesMut::new();
        encode_frame(sample, &mut buf, DEFAULT_MAX_FRAME).unwrap();
        buf
    }

    #[test]
    fn a_frame_is_a_length_then_postcard() {
        let buf = frame(&Sample::Data {
            id: 0x81,
            bytes: vec![0xAA, 0xBB],
        });
        // variant 1, id 0x81 as varint 81 01, length 2, bytes.
        assert_eq!(&buf[..], [0, 0, 0, 6, 1, 0x81, 0x01, 2, 0xAA, 0xBB]);
    }

    #[test]
    fn an_incomplete_frame_is_not_an_error() {
        let buf = frame(&Sample::Ping(7));
        for cut in 0..buf.len() {
            let got = decode_frame::<Sample>(&buf[..cut], DEFAULT_MAX_FRAME).unwrap();
            assert!(got.is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn an_oversized_header_is_refused_before_the_body_arrives() {
        let buf = [0, 1, 0, 0];
        assert!(matches!(
            decode_frame::<Sample>(&buf, 1024),
            Err(FrameError::TooLarge {
                len: 65536,
                max: 1024
            })
        ));
    }

    #[test]
    fn a_garbage_body_is_malformed() {
        let buf = [0, 0, 0, 2, 9, 9];
        assert!(matches!(
            decode_frame::<Sample>(&buf, 1024),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn encoding_refuses_a_message_above_the_maximum_and_leaves_the_buffer() {
        let mut buf = BytesMut::from(&b"keep"[..]);
        let big = Sample::Data {
            id: 1,
            bytes: vec![0; 100],
        };
        assert!(matches!(
            encode_frame(&big, &mut buf, 64),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(&buf[..], b"keep");
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(id in any::<u32>(), bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let sample = Sample::Data { id, bytes };
            let buf = frame(&sample);
            let (back, used) = decode_frame::<Sample>(&buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
            prop_assert_eq!(back, sample);
            prop_assert_eq!(used, buf.len());
        }

        #[test]
        fn a_body_is_the_postcard_encoding_whatever_mix_of_bytes_and_slices(
            bytewise in proptest::collection::vec(any::<u8>(), 0..300),
            slice in proptest::collection::vec(any::<u8>(), 0..300),
            id in any::<u64>(),
        ) {
            let value = (bytewise, serde_bytes::ByteBuf::from(slice), id);
            let mut buf = BytesMut::new();
            encode_frame(&value, &mut buf, DEFAULT_MAX_FRAME).unwrap();
            let body = postcard::to_allocvec(&value).unwrap();
            prop_assert_eq!(&buf[HEADER_LEN..], body.as_slice());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_frame::<Sample>(&bytes, 32);
        }
    }
}
