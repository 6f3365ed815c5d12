//! The byte format of a log segment file, and its parser (no I/O here).
//!
//! ```text
//! magic "CFLOGSG1" | first seq (u64 BE)
//! frame: batch length (u32 BE) | CRC-32 of length and batch (u32 BE) | batch ([`LogBatch`] bytes)
//! frame ...
//! ```
//!
//! Frames are only ever appended, one `write` each, so after a crash only the end of the newest
//! segment can be damaged: a frame cut short by the end of the file, a frame whose bytes did
//! not all reach the disk (its checksum fails and nothing but zeros, space the file system
//! allocated for writes that never landed, follows it), or a frame that fails its checksum and
//! ends exactly at the end of the file. Such a torn tail is dropped, and so are the zeros the log
//! keeps ahead of the frames of the segment it writes. A bad frame anywhere else is
//! corruption: an error, never silently skipped.
//!
//! [`LogBatch`]: super::LogBatch

use super::StoreError;

/// Length of the segment header.
pub(super) const HEADER_LEN: usize = 16;
/// Length of a frame's header (batch length and checksum).
pub(super) const FRAME_HEADER_LEN: usize = 8;
const MAGIC: &[u8; 8] = b"CFLOGSG1";

/// The header of a segment whose first record is `first_seq`.
pub(super) fn header(first_seq: u64) -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&first_seq.to_be_bytes());
    header
}

/// The frame header for an encoded batch.
pub(super) fn frame_header(batch: &[u8]) -> Result<[u8; FRAME_HEADER_LEN], StoreError> {
    let len = u32::try_from(batch.len())
        .map_err(|_| StoreError::Corrupt("log batch above 4 GiB".into()))?;
    let mut header = [0; FRAME_HEADER_LEN];
    header[..4].copy_from_slice(&len.to_be_bytes());
    header[4..].copy_from_slice(&checksum(len, batch).to_be_bytes());
    Ok(header)
}

fn checksum(len: u32, batch: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len.to_be_bytes());
    hasher.update(batch);
    hasher.finalize()
}

/// What a segment file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSegment<'a> {
    /// The encoded batches of its whole frames, in order.
    pub batches: Vec<&'a [u8]>,
    /// Bytes up to the end of the last whole frame (0 when not even the header is whole).
    pub valid_len: usize,
    /// Bytes of a torn tail after `valid_len` (only in the newest segment).
    pub torn: usize,
}

/// Parses the bytes of a segment whose file name says it starts at `first_seq`; `newest` when
/// it is the last segment, the only one that may end in a torn tail.
pub fn parse_segment(
    bytes: &[u8],
    first_seq: u64,
    newest: bool,
) -> Result<ParsedSegment<'_>, StoreError> {
    let corrupt = |at: usize, why: &str| {
        StoreError::Corrupt(format!(
            "log segment {first_seq}: {why} at byte {at} of {}",
            bytes.len()
        ))
    };
    let torn = |at: usize| ParsedSegment {
        batches: Vec::new(),
        valid_len: at,
        torn: bytes.len() - at,
    };
    let Some(head) = bytes.get(..HEADER_LEN) else {
        return if newest {
            Ok(torn(0))
        } else {
            Err(corrupt(0, "header cut short"))
        };
    };
    if head != header(first_seq) {
        return if newest && all_zero(bytes) {
            Ok(torn(0))
        } else {
            Err(corrupt(0, "not the header of this segment"))
        };
    }
    let mut parsed = torn(HEADER_LEN);
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        match frame_at(bytes, at) {
            Ok(batch) => {
                parsed.batches.push(batch);
                at += FRAME_HEADER_LEN + batch.len();
            }
            Err(bad) => {
                let tail = newest && (bad.reaches_end || all_zero(&bytes[at..]));
                if !tail {
                    return Err(corrupt(at, bad.why));
                }
                break;
            }
        }
    }
    parsed.valid_len = at;
    parsed.torn = bytes.len() - at;
    Ok(parsed)
}

/// Why the frame at some offset is not whole.
struct BadFrame {
    why: &'static str,
    /// The frame, as its header states it, takes the rest of the file or more.
    reaches_end: bool,
}

/// The batch of the frame at `at`.
fn frame_at(bytes: &[u8], at: usize) -> Result<&[u8], BadFrame> {
    let rest = &bytes[at..];
    let cut = |why| BadFrame {
        why,
        reaches_end: true,
    };
    let (header, after) = rest
        .split_first_chunk::<FRAME_HEADER_LEN>()
        .ok_or_else(|| cut("frame header cut short"))?;
    let (len, sum) = header.split_at(4);
    let len = u32::from_be_bytes(len.try_into().map_err(|_| cut("frame header"))?);
    let sum = u32::from_be_bytes(sum.try_into().map_err(|_| cut("frame header"))?);
    let size = usize::try_from(len).unwrap_or(usize::MAX);
    let batch = after.get(..size).ok_or_else(|| cut("frame cut short"))?;
    if checksum(len, batch) != sum {
        return Err(BadFrame {
            why: "batch checksum mismatch",
            reaches_end: size == after.len(),
        });
    }
    Ok(batch)
}

/// Whether `bytes` are all zeros (space allocated for writes that never landed, or the zeros
/// the log keeps ahead of its frames).
pub(super) fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn segment(first_seq: u64, batches: &[&[u8]]) -> Vec<u8> {
        let mut bytes = header(first_seq).to_vec();
        for batch in batches {
            bytes.extend_from_slice(&frame_header(batch).unwrap());
            bytes.extend_from_slice(batch);
        }
        bytes
    }

    #[test]
    fn whole_frames_read_back_in_order() {
        let bytes = segment(5, &[b"first batch", b"", b"third"]);
        let parsed = parse_segment(&bytes, 5, false).unwrap();
        assert_eq!(parsed.batches, [&b"first batch"[..], b"", b"third"]);
        assert_eq!((parsed.valid_len, parsed.torn), (bytes.len(), 0));
    }

    #[test]
    fn a_tail_cut_anywhere_is_dropped_in_the_newest_segment_only() {
        let bytes = segment(1, &[b"kept", b"cut off"]);
        let kept = HEADER_LEN + FRAME_HEADER_LEN + 4;
        for cut in kept..bytes.len() {
            let parsed = parse_segment(&bytes[..cut], 1, true).unwrap();
            assert_eq!(parsed.batches, [&b"kept"[..]], "cut at {cut}");
            assert_eq!((parsed.valid_len, parsed.torn), (kept, cut - kept));
            assert_eq!(parse_segment(&bytes[..cut], 1, false).is_err(), cut > kept);
        }
        for cut in 0..HEADER_LEN {
            let parsed = parse_segment(&bytes[..cut], 1, true).unwrap();
            assert_eq!((parsed.batches.len(), parsed.valid_len), (0, 0));
        }
    }

    #[test]
    fn a_last_frame_that_never_reached_the_disk_is_a_torn_tail() {
        let mut bytes = segment(1, &[b"kept", b"lost batch"]);
        let last = HEADER_LEN + FRAME_HEADER_LEN + 4;
        bytes[last + FRAME_HEADER_LEN + 2] ^= 0x40;
        let parsed = parse_segment(&bytes, 1, true).unwrap();
        assert_eq!(parsed.batches, [&b"kept"[..]]);
        bytes[last..].fill(0);
        bytes.extend_from_slice(&[0; 4096]);
        let parsed = parse_segment(&bytes, 1, true).unwrap();
        assert_eq!((parsed.batches.len(), parsed.valid_len), (1, last));
    }

    #[test]
    fn a_bad_frame_before_others_is_corruption() {
        let mut bytes = segment(1, &[b"first", b"middle", b"last"]);
        let middle = HEADER_LEN + FRAME_HEADER_LEN + 5;
        bytes[middle + FRAME_HEADER_LEN] ^= 1;
        let error = parse_segment(&bytes, 1, true).unwrap_err();
        assert!(error.to_string().contains("checksum"), "{error}");
    }

    #[test]
    fn a_header_of_another_segment_is_corruption() {
        let bytes = segment(7, &[b"batch"]);
        assert!(parse_segment(&bytes, 8, true).is_err());
        assert!(parse_segment(&[0; HEADER_LEN + 3], 8, true).is_ok());
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96), newest: bool) {
            let _ = parse_segment(&bytes, 1, newest);
            let mut framed = header(1).to_vec();
            framed.extend_from_slice(&bytes);
            let _ = parse_segment(&framed, 1, newest);
        }
    }
}
