//! Reading frames from a CF link: one buffer per link, refilled with room for a whole
//! pipelined burst each time, so that a burst the peer wrote at once is read at once.
//! [`FrameReader::take_frames`] hands a burst's frames out together, for what is decoded from
//! them to share.

use std::marker::PhantomData;

use bytes::{Buf, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::codec::{FrameError, HEADER_LEN, decode_frame, frame_body};

/// Whole frames taking at least this many bytes are split off the read buffer when taken;
/// fewer are copied out of it. A split leaves the buffer shared until the frames are dropped,
/// so the next read takes a new one: worth it for a burst of large replies, whose copy costs
/// more, but not for a reply or two.
const SPLIT_FROM: usize = 64 * 1024;

/// Room a read always has in the buffer: a pipelined burst of 32 entries of 4 KiB (about
/// 133 KB of frames) fits in it, so the burst takes one `read`, not two or three.
const READ_ROOM: usize = 256 * 1024;

/// Reads messages of type `In` from `io`, refusing frames larger than the link allows.
#[derive(Debug)]
pub struct FrameReader<R, In> {
    io: R,
    buf: BytesMut,
    max_frame: usize,
    messages: PhantomData<fn() -> In>,
}

impl<R: AsyncRead + Unpin, In: DeserializeOwned> FrameReader<R, In> {
    /// A reader of frames up to `max_frame` bytes.
    pub fn new(io: R, max_frame: usize) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(READ_ROOM),
            max_frame,
            messages: PhantomData,
        }
    }

    /// The next message already read, without waiting: `Ok(None)` when no whole frame waits.
    pub fn try_next(&mut self) -> Result<Option<In>, FrameError> {
        match decode_frame(&self.buf, self.max_frame)? {
            Some((message, used)) => {
                self.buf.advance(used);
                Ok(Some(message))
            }
            None => Ok(None),
        }
    }

    /// The next whole frame already read, without waiting, handed to `decode` as its body:
    /// `Ok(None)` when no whole frame waits. The frame is consumed whatever `decode` returns.
    pub fn try_next_body<T>(
        &mut self,
        decode: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, FrameError> {
        let Some((body, used)) = frame_body(&self.buf, self.max_frame)? else {
            return Ok(None);
        };
        let decoded = decode(body);
        self.buf.advance(used);
        Ok(Some(decoded))
    }

    /// Every whole frame already read, taken out of the read buffer together (split off it
    /// from 64 KiB, else copied): what is decoded from them may keep slices of them (a
    /// reply's large entry data does), and a kept slice keeps its burst's buffer alive. Stops
    /// before a frame larger than the link allows, whose error the next call returns.
    pub fn take_frames(&mut self) -> Result<Frames, FrameError> {
        let mut span = 0;
        while let Some(rest) = self.buf.get(span..) {
            match frame_body(rest, self.max_frame) {
                Ok(Some((_, used))) => span += used,
                Ok(None) => break,
                Err(error) if span == 0 => return Err(error),
                Err(_) => break,
            }
        }
        let rest = if span >= SPLIT_FROM {
            self.buf.split_to(span).freeze()
        } else {
            let copy = Bytes::copy_from_slice(&self.buf[..span]);
            self.buf.advance(span);
            copy
        };
        Ok(Frames { rest })
    }

    /// Waits until a whole frame is read (it is left in the buffer); `Ok(false)` when the peer
    /// closed between frames. Cancel-safe.
    pub async fn ready(&mut self) -> Result<bool, FrameError> {
        loop {
            if frame_body(&self.buf, self.max_frame)?.is_some() {
                return Ok(true);
            }
            if self.fill().await? == 0 {
                if self.buf.is_empty() {
                    return Ok(false);
                }
                return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// The next message, reading as needed; `Ok(None)` when the peer closed between frames.
    /// Cancel-safe: a message is taken from the buffer only when it is returned.
    pub async fn next(&mut self) -> Result<Option<In>, FrameError> {
        loop {
            if let Some(message) = self.try_next()? {
                return Ok(Some(message));
            }
            if self.fill().await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Reads once into the buffer, after making room for a burst or the rest of a frame.
    async fn fill(&mut self) -> std::io::Result<usize> {
        let frame_rest = self.buf.first_chunk::<HEADER_LEN>().map_or(0, |header| {
            let len = usize::try_from(u32::from_be_bytes(*header)).unwrap_or(usize::MAX);
            (HEADER_LEN + len.min(self.max_frame)).saturating_sub(self.buf.len())
        });
        self.buf.reserve(frame_rest.max(READ_ROOM));
        self.io.read_buf(&mut self.buf).await
    }
}

/// Whole frames taken from a link together ([`FrameReader::take_frames`]): yields each
/// frame's body, a slice of the one buffer that holds them all.
#[derive(Debug)]
pub struct Frames {
    rest: Bytes,
}

impl Iterator for Frames {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        // Every frame here was checked against the link's maximum when it was taken.
        let (_, used) = frame_body(&self.rest, usize::MAX).ok()??;
        let mut frame = self.rest.split_to(used);
        frame.advance(HEADER_LEN);
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::wire::{DEFAULT_MAX_FRAME, encode_frame};

    fn frames(values: &[u32]) -> BytesMut {
        let mut buf = BytesMut::new();
        for value in values {
            encode_frame(value, &mut buf, DEFAULT_MAX_FRAME).unwrap();
        }
        buf
    }

    #[tokio::test]
    async fn pipelined_frames_come_out_in_order_from_one_read() {
        let (mut peer, io) = tokio::io::duplex(1 << 20);
        peer.write_all(&frames(&[1, 2, 3])).await.unwrap();
        let mut reader = FrameReader::<_, u32>::new(io, DEFAULT_MAX_FRAME);
        assert_eq!(reader.next().await.unwrap(), Some(1));
        assert_eq!(reader.try_next().unwrap(), Some(2));
        assert_eq!(reader.try_next().unwrap(), Some(3));
        assert_eq!(reader.try_next().unwrap(), None);
        drop(peer);
        assert_eq!(reader.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn whole_frames_are_taken_together_and_a_partial_one_is_left() {
        let (mut peer, io) = tokio::io::duplex(1 << 20);
        let sent = frames(&[1, 2, 3]);
        peer.write_all(&sent[..sent.len() - 1]).await.unwrap();
        let mut reader = FrameReader::<_, u32>::new(io, DEFAULT_MAX_FRAME);
        assert!(reader.ready().await.unwrap());
        let bodies: Vec<u32> = reader
            .take_frames()
            .unwrap()
            .map(|body| postcard::from_bytes(&body).unwrap())
            .collect();
        assert_eq!(bodies, [1, 2]);
        assert_eq!(reader.take_frames().unwrap().count(), 0);
        peer.write_all(&sent[sent.len() - 1..]).await.unwrap();
        assert_eq!(reader.next().await.unwrap(), Some(3));
    }

    #[tokio::test]
    async fn frames_before_an_oversized_one_are_taken_and_it_is_refused_next() {
        let (mut peer, io) = tokio::io::duplex(1 << 20);
        let mut sent = frames(&[5]);
        sent.extend_from_slice(&[0, 1, 0, 0]);
        peer.write_all(&sent).await.unwrap();
        let mut reader = FrameReader::<_, u32>::new(io, 1024);
        assert!(reader.ready().await.unwrap());
        assert_eq!(reader.take_frames().unwrap().count(), 1);
        assert!(matches!(
            reader.take_frames(),
            Err(FrameError::TooLarge { len: 65536, .. })
        ));
    }

    #[tokio::test]
    async fn a_frame_split_across_reads_is_put_together() {
        let (mut peer, io) = tokio::io::duplex(16);
        let big = frames(&[7; 40]);
        let writer = tokio::spawn(async move {
            for chunk in big.chunks(5) {
                peer.write_all(chunk).await.unwrap();
            }
        });
        let mut reader = FrameReader::<_, u32>::new(io, DEFAULT_MAX_FRAME);
        for _ in 0..40 {
            assert_eq!(reader.next().await.unwrap(), Some(7));
        }
        writer.await.unwrap();
        assert_eq!(reader.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_link_closed_inside_a_frame_is_an_error() {
        let (mut peer, io) = tokio::io::duplex(1024);
        let whole = frames(&[0xFFFF_FFFF]);
        peer.write_all(&whole[..whole.len() - 1]).await.unwrap();
        drop(peer);
        let mut reader = FrameReader::<_, u32>::new(io, DEFAULT_MAX_FRAME);
        assert!(matches!(reader.next().await, Err(FrameError::Io(_))));
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_from_its_header() {
        let (mut peer, io) = tokio::io::duplex(1024);
        peer.write_all(&[0, 1, 0, 0]).await.unwrap();
        let mut reader = FrameReader::<_, u32>::new(io, 1024);
        assert!(matches!(
            reader.next().await,
            Err(FrameError::TooLarge { len: 65536, .. })
        ));
    }
}
