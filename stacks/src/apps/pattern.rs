//! The deterministic byte pattern of a lab stream and its running checksum.
//!
//! Byte `i` of the stream with seed `s` is byte `i % 8` (little-endian) of
//! `splitmix64(s + i / 8)`, so any offset can be generated or checked without the bytes before
//! it. The checksum is 64-bit FNV-1a over the bytes in order, taken a word at a time.

/// The byte pattern of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    seed: u64,
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Pattern {
    /// The pattern with this seed.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The byte at `offset`.
    pub fn byte_at(&self, offset: u64) -> u8 {
        let word = splitmix64(self.seed.wrapping_add(offset / 8)).to_le_bytes();
        // `offset % 8` is below 8, so the index is always in range.
        word[usize::try_from(offset % 8).unwrap_or(0)]
    }

    /// The pattern word holding byte `offset`, little-endian.
    fn word_at(&self, offset: u64) -> [u8; 8] {
        splitmix64(self.seed.wrapping_add(offset / 8)).to_le_bytes()
    }

    /// Fills `buf` with the bytes starting at `offset`, a word at a time.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let lead = lead_len(offset, buf.len());
        let (head, rest) = buf.split_at_mut(lead);
        for (at, byte) in (offset..).zip(head.iter_mut()) {
            *byte = self.byte_at(at);
        }
        let mut at = offset + u64::try_from(lead).unwrap_or(0);
        let mut words = rest.chunks_exact_mut(8);
        for word in &mut words {
            word.copy_from_slice(&self.word_at(at));
            at += 8;
        }
        let tail = words.into_remainder();
        let len = tail.len();
        tail.copy_from_slice(self.word_at(at).get(..len).unwrap_or_default());
    }

    /// The index in `bytes` of the first byte that differs from the pattern starting at
    /// `offset`, if any; compares a word at a time.
    pub fn first_difference(&self, offset: u64, bytes: &[u8]) -> Option<usize> {
        let lead = lead_len(offset, bytes.len());
        let (head, rest) = bytes.split_at(lead);
        (offset..)
            .zip(head)
            .position(|(at, b)| *b != self.byte_at(at))
            .or_else(|| {
                let at = offset + u64::try_from(lead).unwrap_or(0);
                self.first_difference_aligned(at, rest).map(|i| lead + i)
            })
    }

    /// [`Self::first_difference`] for an `offset` on a word boundary.
    fn first_difference_aligned(&self, offset: u64, bytes: &[u8]) -> Option<usize> {
        (offset..)
            .step_by(8)
            .zip(bytes.chunks(8))
            .enumerate()
            .find_map(|(n, (at, got))| {
                let want = self.word_at(at);
                got.iter()
                    .zip(want)
                    .position(|(got, want)| *got != want)
                    .map(|i| n * 8 + i)
            })
    }
}

/// Bytes [`Verifier::feed`] checks with one branch: eight words.
const BLOCK: usize = 64;

/// An 8-byte slice as a little-endian word.
fn le_word(word: &[u8]) -> u64 {
    <[u8; 8]>::try_from(word).map_or(0, u64::from_le_bytes)
}

/// How many of `len` bytes starting at `offset` come before the next word boundary.
fn lead_len(offset: u64, len: usize) -> usize {
    usize::try_from((8 - offset % 8) % 8).map_or(0, |n| n.min(len))
}

/// The FNV-1a offset basis and prime (64-bit).
const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// A running 64-bit FNV-1a checksum taken a little-endian 8-byte word at a time (a trailing
/// partial word byte by byte), so that it costs one multiply per word; the same however the
/// bytes are split across calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    hash: u64,
    /// Bytes of an unfinished word; the rest of the array is zero.
    pending: [u8; 8],
    pending_len: usize,
}

impl Default for Checksum {
    fn default() -> Self {
        Self {
            hash: FNV_OFFSET,
            pending: [0; 8],
            pending_len: 0,
        }
    }
}

fn fnv_word(hash: u64, word: &[u8]) -> u64 {
    (hash ^ le_word(word)).wrapping_mul(FNV_PRIME)
}

impl Checksum {
    /// Adds bytes, in stream order.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        if self.pending_len > 0 {
            let take = (8 - self.pending_len).min(rest.len());
            let (head, tail) = rest.split_at(take);
            if let Some(slot) = self
                .pending
                .get_mut(self.pending_len..self.pending_len + take)
            {
                slot.copy_from_slice(head);
            }
            self.pending_len += take;
            rest = tail;
            if self.pending_len < 8 {
                return;
            }
            self.hash = fnv_word(self.hash, &self.pending);
            self.pending = [0; 8];
            self.pending_len = 0;
        }
        let whole = rest.len() - rest.len() % 8;
        let (words, tail) = rest.split_at(whole);
        self.update_words(words);
        if let Some(slot) = self.pending.get_mut(..tail.len()) {
            slot.copy_from_slice(tail);
        }
        self.pending_len = tail.len();
    }

    /// Adds whole words, with no partial word pending (a trailing partial word is ignored).
    fn update_words(&mut self, words: &[u8]) {
        self.hash = words.chunks_exact(8).fold(self.hash, fnv_word);
    }

    /// The checksum so far.
    pub fn value(&self) -> u64 {
        self.pending
            .iter()
            .take(self.pending_len)
            .fold(self.hash, |hash, byte| {
                (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
            })
    }
}

/// Checks received bytes against a pattern, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    pattern: Pattern,
    received: u64,
    first_mismatch: Option<u64>,
    checksum: Checksum,
}

impl Verifier {
    /// A verifier expecting `pattern` from offset 0.
    pub fn new(pattern: Pattern) -> Self {
        Self {
            pattern,
            received: 0,
            first_mismatch: None,
            checksum: Checksum::default(),
        }
    }

    /// Takes the next received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        let lead = lead_len(self.received, bytes.len());
        let (head, rest) = bytes.split_at(lead);
        let (words, tail) = rest.split_at(rest.len() - rest.len() % 8);
        self.feed_unaligned(head);
        self.feed_words(words);
        self.feed_unaligned(tail);
    }

    /// Takes bytes that start or end off a word boundary: compares, then sums.
    fn feed_unaligned(&mut self, bytes: &[u8]) {
        if self.first_mismatch.is_none()
            && let Some(index) = self.pattern.first_difference(self.received, bytes)
        {
            self.first_mismatch = Some(self.received + u64::try_from(index).unwrap_or(u64::MAX));
        }
        self.received += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.checksum.update(bytes);
    }

    /// Takes whole words at a word boundary (where the checksum has no partial word either),
    /// a block of eight words at a time: compares the block with one branch, then sums it (two
    /// short loops keep the checksum's serial multiply chain apart from the pattern's).
    fn feed_words(&mut self, bytes: &[u8]) {
        let start = self.received;
        let mut counter = self.pattern.seed.wrapping_add(start / 8);
        for (n, block) in bytes.chunks(BLOCK).enumerate() {
            let mut differs = 0;
            for word in block.chunks_exact(8).map(le_word) {
                differs |= word ^ splitmix64(counter);
                counter = counter.wrapping_add(1);
            }
            self.checksum.update_words(block);
            if differs != 0 && self.first_mismatch.is_none() {
                let block_start = start + u64::try_from(n * BLOCK).unwrap_or(u64::MAX);
                self.first_mismatch = self
                    .pattern
                    .first_difference_aligned(block_start, block)
                    .map(|i| block_start + u64::try_from(i).unwrap_or(u64::MAX));
            }
        }
        self.received += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    }

    /// Bytes received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes received that match the pattern: everything before the first mismatch.
    pub fn verified(&self) -> u64 {
        self.first_mismatch.unwrap_or(self.received)
    }

    /// The offset of the first byte that did not match, if any.
    pub fn first_mismatch(&self) -> Option<u64> {
        self.first_mismatch
    }

    /// The checksum of everything received.
    pub fn checksum(&self) -> u64 {
        self.checksum.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn different_seeds_give_different_streams() {
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        Pattern::new(1).fill(0, &mut a);
        Pattern::new(2).fill(0, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn finds_the_first_changed_byte() {
        let pattern = Pattern::new(7);
        let mut bytes = [0u8; 100];
        pattern.fill(0, &mut bytes);
        bytes[42] ^= 0x01;
        let mut verifier = Verifier::new(pattern);
        verifier.feed(&bytes);
        assert_eq!(verifier.first_mismatch(), Some(42));
        assert_eq!((verifier.received(), verifier.verified()), (100, 42));
    }

    #[test]
    fn fnv1a_of_a_known_string() {
        let mut checksum = Checksum::default();
        checksum.update(b"a");
        assert_eq!(checksum.value(), 0xAF63_DC4C_8601_EC8C);
    }

    #[test]
    fn takes_whole_words_with_one_multiply_each_however_split() {
        let word = u64::from_le_bytes(*b"abcdefgh");
        let expected = (FNV_OFFSET ^ word).wrapping_mul(FNV_PRIME);
        let mut whole = Checksum::default();
        whole.update(b"abcdefgh");
        let mut split = Checksum::default();
        split.update(b"abc");
        split.update(b"defgh");
        assert_eq!((whole.value(), split.value()), (expected, expected));
        assert_eq!(whole, split);
    }

    proptest! {
        #[test]
        fn fill_at_any_offset_matches_byte_at(seed: u64, offset in 0u64..1_000_000, len in 0usize..64) {
            let pattern = Pattern::new(seed);
            let mut bytes = vec![0u8; len];
            pattern.fill(offset, &mut bytes);
            for (at, byte) in (offset..).zip(&bytes) {
                prop_assert_eq!(*byte, pattern.byte_at(at));
            }
        }

        #[test]
        fn first_difference_finds_the_one_changed_byte_at_any_offset(
            seed: u64, offset in 0u64..1_000_000, len in 1usize..300, flip in 0usize..300,
        ) {
            let pattern = Pattern::new(seed);
            let mut bytes = vec![0u8; len];
            pattern.fill(offset, &mut bytes);
            prop_assert_eq!(pattern.first_difference(offset, &bytes), None);
            let flip = flip % len;
            bytes[flip] ^= 0x80;
            prop_assert_eq!(pattern.first_difference(offset, &bytes), Some(flip));
        }

        #[test]
        fn any_chunking_verifies_and_sums_the_same(seed: u64, len in 0usize..2000, cut in 0usize..2000) {
            let pattern = Pattern::new(seed);
            let mut bytes = vec![0u8; len];
            pattern.fill(0, &mut bytes);
            let cut = cut.min(len);
            let mut verifier = Verifier::new(pattern);
            verifier.feed(&bytes[..cut]);
            let mut tail = vec![0u8; len - cut];
            pattern.fill(u64::try_from(cut).unwrap(), &mut tail);
            verifier.feed(&tail);
            let mut whole = Checksum::default();
            whole.update(&bytes);
            prop_assert_eq!(verifier.verified(), u64::try_from(len).unwrap());
            prop_assert_eq!(verifier.checksum(), whole.value());
        }

        #[test]
        fn any_chunking_finds_the_first_of_two_changed_bytes_and_sums_what_came(
            seed: u64, len in 1usize..2000, cuts in proptest::collection::vec(0usize..2000, 0..4),
            flips in (0usize..2000, 0usize..2000),
        ) {
            let pattern = Pattern::new(seed);
            let mut bytes = vec![0u8; len];
            pattern.fill(0, &mut bytes);
            let (first, second) = (flips.0 % len, flips.1 % len);
            bytes[first] ^= 0x10;
            bytes[second] ^= 0x01;
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut % len).collect();
            cuts.extend([0, len]);
            cuts.sort_unstable();
            let mut verifier = Verifier::new(pattern);
            for pair in cuts.windows(2) {
                verifier.feed(&bytes[pair[0]..pair[1]]);
            }
            let mut whole = Checksum::default();
            whole.update(&bytes);
            prop_assert_eq!(verifier.first_mismatch(), Some(u64::try_from(first.min(second)).unwrap()));
            prop_assert_eq!(verifier.received(), u64::try_from(len).unwrap());
            prop_assert_eq!(verifier.checksum(), whole.value());
        }
    }
}
