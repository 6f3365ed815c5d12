//! The entries of a structure by LEID, in a hash map whose hash keeps LEIDs with neighbouring
//! sequence numbers in neighbouring buckets.
//!
//! Entries are written, moved and deleted mostly in LEID order (a list used as a queue takes
//! them at one end in the order they were written), so a hash that spreads every LEID at
//! random turns each of those requests into a cache and TLB miss in a table of many megabytes.
//! [`LeidHasher`] places each run of [`RUN`] consecutive sequence numbers on consecutive
//! buckets (the run itself at a well mixed place) and mixes the tag bits the table compares
//! first, so locality costs neither spread nor probe length.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::entry::Entry;
use super::ids::Leid;

/// The entries of a structure by LEID: only ever looked up, never walked (list order lives in
/// each list). The hasher has fixed keys, so the same requests give the same snapshot image.
///
/// Entries are boxed: a slot (LEID and pointer) is then 24 bytes instead of 136, so the table
/// of a structure with a million entries takes 24 MB instead of 136, and growing it moves and
/// faults in a fifth as much memory (with the entries inline, rehashing and faulting in the
/// growing table took about a tenth of the link task's time in a pipelined write load).
pub(crate) type EntryMap = HashMap<Leid, Box<Entry>, BuildHasherDefault<LeidHasher>>;

/// Consecutive sequence numbers hashed next to each other.
const RUN: u64 = 64;

/// The hash bits the table keeps as a tag in its control bytes (the top seven).
const TAG_BITS: u64 = 0xFE00_0000_0000_0000;

impl Hash for Leid {
    /// The four leading bytes, then the last eight as a big-endian number (the sequence
    /// number of a system LEID): equal LEIDs give equal words.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [a, b, c, d, rest @ ..] = self.0;
        state.write_u32(u32::from_be_bytes([a, b, c, d]));
        state.write_u64(u64::from_be_bytes(rest));
    }
}

/// A hasher with fixed keys for LEIDs: everything before the last 64-bit word written is
/// mixed into a base, and the last word keeps its order within runs of [`RUN`]. Keys come
/// from the CF itself or from authenticated connectors, so no flooding resistance is needed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LeidHasher {
    base: u64,
    last: u64,
}

impl LeidHasher {
    fn add(&mut self, word: u64) {
        self.base = (self.base.rotate_left(23) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// splitmix64's finalizer: every input bit reaches the low and the high bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Hasher for LeidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        let previous = std::mem::replace(&mut self.last, n);
        self.add(previous);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(u64::try_from(n).unwrap_or(u64::MAX));
    }

    fn finish(&self) -> u64 {
        let base = mix(self.base);
        let run_start = mix(base ^ (self.last / RUN));
        let place = run_start.wrapping_add(self.last % RUN);
        let tag = mix(base ^ self.last);
        (place & !TAG_BITS) | (tag & TAG_BITS)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    fn hash(leid: Leid) -> u64 {
        BuildHasherDefault::<LeidHasher>::default().hash_one(leid)
    }

    #[test]
    fn sequential_leids_spread_over_low_and_high_hash_bits() {
        let hashes: Vec<u64> = (1..=1024u64).map(|n| hash(Leid::system(n))).collect();
        // Random hashes fill about 63% of 1024 buckets; a weak mix fills far fewer.
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        assert!(buckets.len() > 550, "{} buckets", buckets.len());
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(tags.len() > 100, "{} tags", tags.len());
    }

    #[test]
    fn a_run_of_leids_takes_consecutive_buckets() {
        let first = hash(Leid::system(RUN * 5)) & !TAG_BITS;
        for i in 1..RUN {
            let h = hash(Leid::system(RUN * 5 + i)) & !TAG_BITS;
            assert_eq!(h, first.wrapping_add(i) & !TAG_BITS, "LEID {i} of the run");
        }
    }

    #[test]
    fn leids_apart_only_in_their_leading_bytes_spread() {
        let buckets: HashSet<u64> = (0..1024u32)
            .map(|prefix| {
                let mut bytes = [0u8; 12];
                bytes[..4].copy_from_slice(&prefix.to_be_bytes());
                hash(Leid(bytes)) & 1023
            })
            .collect();
        assert!(buckets.len() > 550, "{} buckets", buckets.len());
    }

    #[test]
    fn leids_apart_only_in_high_sequence_bits_spread() {
        let buckets: HashSet<u64> = (0..1024u64)
            .map(|n| hash(Leid::system(n << 40)) & 1023)
            .collect();
        assert!(buckets.len() > 550, "{} buckets", buckets.len());
    }

    #[test]
    fn the_leid_hash_is_the_same_every_time() {
        assert_eq!(hash(Leid::system(7)), hash(Leid::system(7)));
        assert_ne!(hash(Leid::system(7)), hash(Leid::system(8)));
    }
}
