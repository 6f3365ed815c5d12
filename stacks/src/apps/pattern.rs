//! The deterministic byte pattern of a lab stream and its running checksum.
//!
//! Byte `i` of the stream with seed `s` is byte `i % 8` (little-endian) of
//! `splitmix64(s + i / 8)`, so any offset can be generated or checked without the bytes before
//! it. The checksum is 64-bit FNV-1a over the bytes in order.

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

    /// Fills `buf` with the bytes starting at `offset`, a word at a time.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut at = offset;
        let mut rest = buf;
        while !rest.is_empty() {
            let word = splitmix64(self.seed.wrapping_add(at / 8)).to_le_bytes();
            let start = usize::try_from(at % 8).unwrap_or(0);
            let take = (8 - start).min(rest.len());
            let (head, tail) = rest.split_at_mut(take);
            head.copy_from_slice(&word[start..start + take]);
            rest = tail;
            at += u64::try_from(take).unwrap_or(8);
        }
    }
}

/// A running 64-bit FNV-1a checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum(u64);

impl Default for Checksum {
    fn default() -> Self {
        Self(0xCBF2_9CE4_8422_2325)
    }
}

impl Checksum {
    /// Adds bytes, in stream order.
    pub fn update(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01B3);
        }
    }

    /// The checksum so far.
    pub fn value(&self) -> u64 {
        self.0
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
        if self.first_mismatch.is_none() {
            let mut expected = vec![0u8; bytes.len()];
            self.pattern.fill(self.received, &mut expected);
            if let Some(index) = expected
                .iter()
                .zip(bytes)
                .position(|(want, got)| want != got)
            {
                self.first_mismatch =
                    Some(self.received + u64::try_from(index).unwrap_or(u64::MAX));
            }
        }
        self.received += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.checksum.update(bytes);
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
    }
}
