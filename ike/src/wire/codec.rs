//! A bounds-checked reader over a byte slice and helpers to write length-prefixed items.

use super::Error;

/// Reads big-endian fields from a byte slice, failing with [`Error::Truncated`] instead of
/// panicking. `base` is the offset of the slice within the whole message, for error reports.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole buffer.
    #[cfg(test)]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self::at(buf, 0)
    }

    /// A reader over a slice that starts `base` bytes into the message.
    pub(crate) fn at(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Offset of the next byte within the message.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet read.
    pub(crate) fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.left() == 0
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let rest = &self.buf[self.pos..];
        let taken = rest.get(..n).ok_or(Error::Truncated {
            what,
            offset: self.offset(),
            need: n,
            have: rest.len(),
        })?;
        self.pos += n;
        Ok(taken)
    }

    /// Everything not yet read.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    /// A reader over the next `n` bytes, which this reader skips.
    pub(crate) fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, Error> {
        let base = self.offset();
        Ok(Reader::at(self.take(n, what)?, base))
    }

    /// A fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// One byte.
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A big-endian u16.
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Fails with [`Error::TrailingData`] if bytes are left.
    pub(crate) fn expect_end(&self, what: &'static str) -> Result<(), Error> {
        match self.left() {
            0 => Ok(()),
            len => Err(Error::TrailingData { what, len }),
        }
    }
}

/// Writes a two-byte length placeholder and returns its position, for [`patch_u16_len`].
pub(crate) fn u16_len_placeholder(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    at
}

/// Writes into the placeholder at `at` the number of bytes from `start` to the end of `out`.
pub(crate) fn patch_u16_len(
    out: &mut [u8],
    at: usize,
    start: usize,
    what: &'static str,
) -> Result<(), Error> {
    let len = out.len() - start;
    let field = u16::try_from(len).map_err(|_| Error::Oversized { what, len })?;
    out[at..at + 2].copy_from_slice(&field.to_be_bytes());
    Ok(())
}

/// Converts a count or length to the byte a field holds.
pub(crate) fn to_u8(n: usize, what: &'static str) -> Result<u8, Error> {
    u8::try_from(n).map_err(|_| Error::Oversized { what, len: n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_fields_in_order() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 0, 3]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(2));
        assert_eq!(r.array::<4>("c"), Ok([0, 0, 0, 3]));
        assert!(r.is_empty());
    }

    #[test]
    fn reports_truncation_with_offset_need_and_have() {
        let mut r = Reader::at(&[1, 2, 3], 10);
        r.u8("first").unwrap();
        assert_eq!(
            r.array::<4>("field"),
            Err(Error::Truncated {
                what: "field",
                offset: 11,
                need: 4,
                have: 2
            })
        );
    }

    #[test]
    fn sub_reader_keeps_message_offsets() {
        let mut r = Reader::new(&[9, 9, 1, 2, 3]);
        r.take(2, "skip").unwrap();
        let mut sub = r.sub(2, "sub").unwrap();
        assert_eq!(sub.offset(), 2);
        assert_eq!(
            sub.take(3, "x").unwrap_err(),
            Error::Truncated {
                what: "x",
                offset: 2,
                need: 3,
                have: 2
            }
        );
        assert_eq!(r.rest(), &[3]);
    }

    #[test]
    fn patches_length_and_refuses_oversize() {
        let mut out = vec![7];
        let at = u16_len_placeholder(&mut out);
        out.extend_from_slice(&[0; 5]);
        patch_u16_len(&mut out, at, 0, "item").unwrap();
        assert_eq!(&out[1..3], &[0, 8]);
        let mut big = vec![0u8; 70_000];
        assert!(matches!(
            patch_u16_len(&mut big, 0, 0, "item"),
            Err(Error::Oversized { .. })
        ));
    }

    #[test]
    fn rejects_trailing_bytes() {
        let r = Reader::new(&[1]);
        assert_eq!(
            r.expect_end("thing"),
            Err(Error::TrailingData {
                what: "thing",
                len: 1
            })
        );
    }
}
