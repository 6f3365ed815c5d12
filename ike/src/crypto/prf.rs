//! The IKEv2 pseudorandom functions and prf+ (RFC 7296 §2.13).

use ring::hmac;

use super::error::CryptoError;
use super::ids::PrfId;
use super::secret::SecretBytes;

/// Most PRF blocks prf+ may produce: its counter octet runs from 0x01 to 0xff.
const PRF_PLUS_MAX_BLOCKS: usize = 255;

/// A negotiated PRF. All are HMACs, so keys of any length are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA1 (2): kept for interoperability (RFC 8247 "MUST-").
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha2_256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha2_384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha2_512,
}

impl Prf {
    /// The PRF for a proposed transform ID.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedPrf`] for anything but the HMAC PRFs above.
    pub fn from_transform(id: PrfId) -> Result<Self, CryptoError> {
        match id {
            PrfId::PRF_HMAC_SHA1 => Ok(Self::HmacSha1),
            PrfId::PRF_HMAC_SHA2_256 => Ok(Self::HmacSha2_256),
            PrfId::PRF_HMAC_SHA2_384 => Ok(Self::HmacSha2_384),
            PrfId::PRF_HMAC_SHA2_512 => Ok(Self::HmacSha2_512),
            other => Err(CryptoError::UnsupportedPrf(other)),
        }
    }

    /// The transform ID to propose.
    pub fn transform_id(self) -> PrfId {
        match self {
            Self::HmacSha1 => PrfId::PRF_HMAC_SHA1,
            Self::HmacSha2_256 => PrfId::PRF_HMAC_SHA2_256,
            Self::HmacSha2_384 => PrfId::PRF_HMAC_SHA2_384,
            Self::HmacSha2_512 => PrfId::PRF_HMAC_SHA2_512,
        }
    }

    /// Output length in octets.
    pub fn output_len(self) -> usize {
        self.algorithm().digest_algorithm().output_len()
    }

    /// Preferred key length: the output length for HMAC PRFs (RFC 7296 §2.13). This is the
    /// length of SK_d, SK_pi and SK_pr.
    pub fn key_len(self) -> usize {
        self.output_len()
    }

    /// prf(key, data).
    pub fn prf(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        self.prf_parts(key, &[data])
    }

    /// prf(key, part1 | part2 | ...), without building the concatenation.
    pub fn prf_parts(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let key = hmac::Key::new(self.algorithm(), key);
        let mut context = hmac::Context::with_key(&key);
        for part in parts {
            context.update(part);
        }
        context.sign().as_ref().to_vec()
    }

    /// prf+(key, seed) truncated to `len` octets (RFC 7296 §2.13):
    /// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
    ///
    /// # Errors
    /// [`CryptoError::PrfPlusTooLong`] when `len` needs more than 255 PRF blocks.
    pub fn prf_plus(self, key: &[u8], seed: &[u8], len: usize) -> Result<SecretBytes, CryptoError> {
        let max = PRF_PLUS_MAX_BLOCKS * self.output_len();
        if len > max {
            return Err(CryptoError::PrfPlusTooLong {
                requested: len,
                max,
            });
        }
        let key = hmac::Key::new(self.algorithm(), key);
        let mut output = Vec::with_capacity(len + self.output_len());
        let mut previous: Option<hmac::Tag> = None;
        for counter in 1..=u8::MAX {
            if output.len() >= len {
                break;
            }
            let mut context = hmac::Context::with_key(&key);
            if let Some(tag) = &previous {
                context.update(tag.as_ref());
            }
            context.update(seed);
            context.update(&[counter]);
            let tag = context.sign();
            output.extend_from_slice(tag.as_ref());
            previous = Some(tag);
        }
        output.truncate(len);
        Ok(SecretBytes::new(output))
    }

    fn algorithm(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::HmacSha2_256 => hmac::HMAC_SHA256,
            Self::HmacSha2_384 => hmac::HMAC_SHA384,
            Self::HmacSha2_512 => hmac::HMAC_SHA512,
        }
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    // RFC 4231 §4.2-§4.8, HMAC-SHA-256 results.
    #[test]
    fn hmac_sha2_256_matches_rfc4231_test_cases() {
        let prf = Prf::HmacSha2_256;
        assert_eq!(
            prf.prf(&[0x0b; 20], b"Hi There"),
            hex!("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            prf.prf(b"Jefe", b"what do ya want for nothing?"),
            hex!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(
            prf.prf(&[0xaa; 20], &[0xdd; 50]),
            hex!("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe")
        );
        let key: Vec<u8> = (0x01..=0x19).collect();
        assert_eq!(
            prf.prf(&key, &[0xcd; 50]),
            hex!("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b")
        );
        assert_eq!(
            prf.prf(&[0x0c; 20], b"Test With Truncation")[..16],
            hex!("a3b6167473100ee06e0c796c2955552b")
        );
        assert_eq!(
            prf.prf(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            hex!("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
        assert_eq!(
            prf.prf(
                &[0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the \
                  HMAC algorithm."
            ),
            hex!("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")
        );
    }

    #[test]
    fn prf_parts_equals_prf_of_the_concatenation() {
        let prf = Prf::HmacSha2_256;
        assert_eq!(
            prf.prf_parts(b"Jefe", &[b"what do ya ", b"want for nothing?"]),
            prf.prf(b"Jefe", b"what do ya want for nothing?")
        );
    }

    #[test]
    fn prf_plus_first_block_is_prf_of_seed_and_one() {
        let prf = Prf::HmacSha2_256;
        let out = prf.prf_plus(b"key", b"seed", 40).unwrap();
        assert_eq!(out.len(), 40);
        assert_eq!(out.as_bytes()[..32], prf.prf(b"key", b"seed\x01")[..]);
        let t1 = prf.prf(b"key", b"seed\x01");
        let t2 = prf.prf_parts(b"key", &[&t1, b"seed", &[2]]);
        assert_eq!(out.as_bytes()[32..], t2[..8]);
    }

    #[test]
    fn prf_plus_refuses_more_than_255_blocks() {
        let prf = Prf::HmacSha2_256;
        assert!(prf.prf_plus(b"k", b"s", 255 * 32).is_ok());
        assert_eq!(
            prf.prf_plus(b"k", b"s", 255 * 32 + 1).unwrap_err(),
            CryptoError::PrfPlusTooLong {
                requested: 255 * 32 + 1,
                max: 255 * 32
            }
        );
    }

    #[test]
    fn only_hmac_prfs_are_supported() {
        assert_eq!(
            Prf::from_transform(PrfId::PRF_HMAC_SHA2_256),
            Ok(Prf::HmacSha2_256)
        );
        assert_eq!(
            Prf::from_transform(PrfId::PRF_AES128_XCBC),
            Err(CryptoError::UnsupportedPrf(PrfId::PRF_AES128_XCBC))
        );
        for prf in [
            Prf::HmacSha1,
            Prf::HmacSha2_256,
            Prf::HmacSha2_384,
            Prf::HmacSha2_512,
        ] {
            assert_eq!(Prf::from_transform(prf.transform_id()), Ok(prf));
        }
        assert_eq!(Prf::HmacSha2_384.key_len(), 48);
    }
}
