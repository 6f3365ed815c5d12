//! The Encrypted (SK) payload body of IKEv2 (RFC 7296 §3.14, RFC 5282 for AES-GCM):
//! IV | encrypted(inner payloads | padding | pad length) | ICV.
//!
//! The associated data is everything the ICV covers before the IV: the IKE header through the
//! SK payload's generic header (or the Encrypted Fragment header, RFC 7383). Its length fields
//! must already hold their final values, so [`IkeCipher::sealed_len`] tells the caller the body
//! length before sealing.

use rand::{CryptoRng, RngCore};

use super::cipher::PacketCipher;
use super::error::CryptoError;
use super::suite::{Encryption, Integrity};

/// Protects SK payloads in one direction of an IKE SA (SK_ei/SK_ai outbound for the
/// initiator, SK_er/SK_ar for the responder).
#[derive(Debug)]
pub struct IkeCipher {
    cipher: PacketCipher,
}

impl IkeCipher {
    /// Keys the cipher; `integ_key` is empty with AES-GCM.
    ///
    /// # Errors
    /// As [`PacketCipher::new`].
    pub fn new(
        encryption: Encryption,
        integrity: Option<Integrity>,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Self, CryptoError> {
        Ok(Self {
            cipher: PacketCipher::new(encryption, integrity, encr_key, integ_key)?,
        })
    }

    /// Octets of padding for `plaintext_len` octets of inner payloads. Zero-length padding is
    /// used where the cipher allows it.
    fn padding_len(&self, plaintext_len: usize) -> usize {
        let block = self.cipher.block_len();
        (block - (plaintext_len + 1) % block) % block
    }

    /// Length of the SK payload body (IV, ciphertext and ICV) that [`IkeCipher::seal`] makes
    /// from `plaintext_len` octets of inner payloads.
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        self.cipher.iv_len()
            + plaintext_len
            + self.padding_len(plaintext_len)
            + 1
            + self.cipher.icv_len()
    }

    /// Encrypts the inner payloads into an SK payload body, with a fresh IV from `rng`.
    ///
    /// # Errors
    /// [`CryptoError::MessageTooLong`] only for absurd lengths.
    pub fn seal<R: RngCore + CryptoRng>(
        &self,
        associated: &[u8],
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        let padding = self.padding_len(plaintext.len());
        let mut packet = Vec::with_capacity(associated.len() + self.sealed_len(plaintext.len()));
        packet.extend_from_slice(associated);
        let iv_start = packet.len();
        packet.resize(iv_start + self.cipher.iv_len(), 0);
        rng.fill_bytes(&mut packet[iv_start..]);
        packet.extend_from_slice(plaintext);
        packet.resize(packet.len() + padding, 0);
        let pad_len = u8::try_from(padding).map_err(|_| CryptoError::MessageTooLong {
            len: plaintext.len(),
        })?;
        packet.push(pad_len);
        self.cipher.seal(&mut packet, associated.len())?;
        packet.drain(..associated.len());
        Ok(packet)
    }

    /// Checks and decrypts an SK payload body, returning the inner payloads without padding.
    ///
    /// # Errors
    /// [`CryptoError::Truncated`], [`CryptoError::NotBlockAligned`] or
    /// [`CryptoError::BadPadding`] for malformed bodies, [`CryptoError::BadIcv`] when the
    /// integrity check fails.
    pub fn open(&self, associated: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut packet = [associated, sealed].concat();
        let plaintext = self.cipher.open(&mut packet, associated.len())?;
        let Some((&pad_len, padded)) = plaintext.split_last() else {
            return Err(CryptoError::Truncated {
                what: "SK payload plaintext",
                need: 1,
                have: 0,
            });
        };
        let pad_len = usize::from(pad_len);
        let inner_len = padded
            .len()
            .checked_sub(pad_len)
            .ok_or(CryptoError::BadPadding {
                pad_len,
                available: padded.len(),
            })?;
        Ok(padded[..inner_len].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::crypto::suite::AesKeySize;

    fn ciphers() -> Vec<IkeCipher> {
        vec![
            IkeCipher::new(
                Encryption::AesGcm16(AesKeySize::Aes128),
                None,
                &[1; 20],
                &[],
            )
            .unwrap(),
            IkeCipher::new(
                Encryption::AesGcm16(AesKeySize::Aes256),
                None,
                &[2; 36],
                &[],
            )
            .unwrap(),
            IkeCipher::new(
                Encryption::AesCbc(AesKeySize::Aes256),
                Some(Integrity::HmacSha2_256_128),
                &[3; 32],
                &[4; 32],
            )
            .unwrap(),
        ]
    }

    proptest! {
        #[test]
        fn open_recovers_what_seal_protected(
            associated in proptest::collection::vec(any::<u8>(), 0..40),
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            seed in any::<u64>(),
        ) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            for cipher in ciphers() {
                let sealed = cipher.seal(&associated, &plaintext, &mut rng).unwrap();
                prop_assert_eq!(sealed.len(), cipher.sealed_len(plaintext.len()));
                prop_assert_eq!(cipher.open(&associated, &sealed).unwrap(), plaintext.clone());
            }
        }

        #[test]
        fn open_never_panics_on_garbage(
            associated in proptest::collection::vec(any::<u8>(), 0..40),
            sealed in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            for cipher in ciphers() {
                prop_assert!(cipher.open(&associated, &sealed).is_err());
            }
        }
    }

    #[test]
    fn cbc_pads_to_whole_blocks_and_gcm_does_not_pad() {
        let [gcm, _, cbc] = <[IkeCipher; 3]>::try_from(ciphers()).unwrap();
        // GCM: 8 IV + 10 payload + 0 padding + 1 pad length + 16 ICV.
        assert_eq!(gcm.sealed_len(10), 35);
        // CBC: 16 IV + 10 payload + 5 padding + 1 pad length + 16 ICV.
        assert_eq!(cbc.sealed_len(10), 48);
        assert_eq!(cbc.sealed_len(15), 48);
        assert_eq!(cbc.sealed_len(16), 64);
    }

    #[test]
    fn changed_associated_data_fails_the_integrity_check() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for cipher in ciphers() {
            let sealed = cipher.seal(b"IKE header", b"payloads", &mut rng).unwrap();
            assert_eq!(
                cipher.open(b"IKE headex", &sealed),
                Err(CryptoError::BadIcv)
            );
        }
    }

    #[test]
    fn a_pad_length_beyond_the_plaintext_is_refused() {
        let cipher = PacketCipher::new(
            Encryption::AesGcm16(AesKeySize::Aes128),
            None,
            &[1; 20],
            &[],
        )
        .unwrap();
        let mut packet = [&b"hdr"[..], &[0; 8], b"ab", &[200]].concat();
        cipher.seal(&mut packet, 3).unwrap();
        let ike = IkeCipher::new(
            Encryption::AesGcm16(AesKeySize::Aes128),
            None,
            &[1; 20],
            &[],
        )
        .unwrap();
        assert_eq!(
            ike.open(b"hdr", &packet[3..]),
            Err(CryptoError::BadPadding {
                pad_len: 200,
                available: 2
            })
        );
    }
}
