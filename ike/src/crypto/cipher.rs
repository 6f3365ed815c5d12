//! Encryption plus integrity of one direction of an SA, for the layout shared by the IKE SK
//! payload (RFC 7296 §3.14, RFC 5282) and ESP (RFC 4303, RFC 4106):
//!
//! ```text
//! | header (authenticated) | IV | ciphertext (padded plaintext) | ICV |
//! ```
//!
//! For AES-GCM the header is the AAD and the nonce is salt | IV. For AES-CBC the ICV is the
//! truncated HMAC of everything before it (encrypt-then-MAC). Padding is the caller's: the
//! IKE and ESP trailers differ.

use std::fmt;

use aes::{Aes128, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;

use super::error::CryptoError;
use super::suite::{AesKeySize, Encryption, GCM_SALT_LEN, Integrity};

/// IV octets of AES-GCM in IKE and ESP (RFC 4106 §3.1, RFC 5282 §3).
const GCM_IV_LEN: usize = 8;
/// ICV octets of ENCR_AES_GCM_16.
const GCM_ICV_LEN: usize = 16;
/// AES block and AES-CBC IV octets.
const AES_BLOCK_LEN: usize = 16;

/// Keys and algorithms for one direction of an IKE or ESP SA.
pub struct PacketCipher {
    kind: Kind,
}

enum Kind {
    Gcm {
        key: aead::LessSafeKey,
        salt: [u8; GCM_SALT_LEN],
    },
    Cbc {
        aes: CbcKey,
        mac: hmac::Key,
        integrity: Integrity,
    },
}

#[derive(Clone)]
enum CbcKey {
    Aes128(Aes128),
    Aes256(Aes256),
}

impl PacketCipher {
    /// Keys a cipher. `encr_key` is the encryption key material (with the 4-octet salt at its
    /// end for GCM); `integ_key` is empty for GCM.
    ///
    /// # Errors
    /// [`CryptoError::IntegrityMismatch`] when AEAD and integrity disagree,
    /// [`CryptoError::KeyLength`] when a key has the wrong length.
    pub fn new(
        encryption: Encryption,
        integrity: Option<Integrity>,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Self, CryptoError> {
        let mismatch = || CryptoError::IntegrityMismatch {
            encryption: encryption.transform_id(),
            integrity: integrity.map(Integrity::transform_id),
        };
        check_len(
            "encryption key",
            encryption.key_material_len(),
            encr_key.len(),
        )?;
        let kind = match (encryption, integrity) {
            (Encryption::AesGcm16(size), None) => {
                check_len("integrity key", 0, integ_key.len())?;
                let (key, salt) = encr_key.split_at(size.key_len());
                let algorithm = match size {
                    AesKeySize::Aes128 => &aead::AES_128_GCM,
                    AesKeySize::Aes256 => &aead::AES_256_GCM,
                };
                let unbound =
                    aead::UnboundKey::new(algorithm, key).map_err(|_| CryptoError::KeyLength {
                        what: "AES-GCM key",
                        need: size.key_len(),
                        have: key.len(),
                    })?;
                let salt = salt.try_into().map_err(|_| CryptoError::KeyLength {
                    what: "AES-GCM salt",
                    need: GCM_SALT_LEN,
                    have: salt.len(),
                })?;
                Kind::Gcm {
                    key: aead::LessSafeKey::new(unbound),
                    salt,
                }
            }
            (Encryption::AesCbc(size), Some(integrity)) => {
                check_len("integrity key", integrity.key_len(), integ_key.len())?;
                let key_error = |_| CryptoError::KeyLength {
                    what: "AES-CBC key",
                    need: size.key_len(),
                    have: encr_key.len(),
                };
                let aes = match size {
                    AesKeySize::Aes128 => {
                        CbcKey::Aes128(Aes128::new_from_slice(encr_key).map_err(key_error)?)
                    }
                    AesKeySize::Aes256 => {
                        CbcKey::Aes256(Aes256::new_from_slice(encr_key).map_err(key_error)?)
                    }
                };
                let mac = hmac::Key::new(hmac_algorithm(integrity), integ_key);
                Kind::Cbc {
                    aes,
                    mac,
                    integrity,
                }
            }
            _ => return Err(mismatch()),
        };
        Ok(Self { kind })
    }

    /// True for AES-GCM, whose IV must never repeat under a key but need not be unpredictable
    /// (a counter will do); AES-CBC needs an unpredictable IV.
    pub fn is_aead(&self) -> bool {
        matches!(self.kind, Kind::Gcm { .. })
    }

    /// Octets of IV after the header.
    pub fn iv_len(&self) -> usize {
        match self.kind {
            Kind::Gcm { .. } => GCM_IV_LEN,
            Kind::Cbc { .. } => AES_BLOCK_LEN,
        }
    }

    /// Octets of ICV at the end.
    pub fn icv_len(&self) -> usize {
        match &self.kind {
            Kind::Gcm { .. } => GCM_ICV_LEN,
            Kind::Cbc { integrity, .. } => integrity.icv_len(),
        }
    }

    /// The plaintext (with its padding) must be a multiple of this many octets: 16 for
    /// AES-CBC, 1 for AES-GCM (ESP adds its own 4-octet alignment).
    pub fn block_len(&self) -> usize {
        match self.kind {
            Kind::Gcm { .. } => 1,
            Kind::Cbc { .. } => AES_BLOCK_LEN,
        }
    }

    /// Encrypts and authenticates in place. On entry `packet` is header | IV | padded
    /// plaintext, with the IV already written; on return the plaintext is ciphertext and the
    /// ICV is appended.
    ///
    /// # Errors
    /// [`CryptoError::Truncated`] when `packet` is shorter than header plus IV,
    /// [`CryptoError::NotBlockAligned`] when the plaintext is not whole blocks.
    pub fn seal(&self, packet: &mut Vec<u8>, header_len: usize) -> Result<(), CryptoError> {
        let body_start = header_len + self.iv_len();
        if packet.len() < body_start {
            return Err(CryptoError::Truncated {
                what: "packet to seal",
                need: body_start,
                have: packet.len(),
            });
        }
        let plaintext_len = packet.len() - body_start;
        if !plaintext_len.is_multiple_of(self.block_len()) {
            return Err(CryptoError::NotBlockAligned {
                len: plaintext_len,
                block: self.block_len(),
            });
        }
        match &self.kind {
            Kind::Gcm { key, salt } => {
                let (head, body) = packet.split_at_mut(body_start);
                let (header, iv) = head.split_at(header_len);
                let tag = key
                    .seal_in_place_separate_tag(gcm_nonce(salt, iv)?, aead::Aad::from(header), body)
                    .map_err(|_| CryptoError::MessageTooLong { len: plaintext_len })?;
                packet.extend_from_slice(tag.as_ref());
            }
            Kind::Cbc {
                aes,
                mac,
                integrity,
            } => {
                let (head, body) = packet.split_at_mut(body_start);
                let iv = &head[header_len..];
                cbc_encrypt(aes, iv, body)?;
                let icv = hmac::sign(mac, packet);
                packet.extend_from_slice(&icv.as_ref()[..integrity.icv_len()]);
            }
        }
        Ok(())
    }

    /// Checks the ICV and decrypts in place. `packet` is header | IV | ciphertext | ICV;
    /// returns the padded plaintext, a slice of `packet`.
    ///
    /// # Errors
    /// [`CryptoError::Truncated`] or [`CryptoError::NotBlockAligned`] for bad lengths,
    /// [`CryptoError::BadIcv`] when the integrity check fails.
    pub fn open<'p>(
        &self,
        packet: &'p mut [u8],
        header_len: usize,
    ) -> Result<&'p mut [u8], CryptoError> {
        let body_start = header_len + self.iv_len();
        let need = body_start + self.block_len() + self.icv_len();
        if packet.len() < need {
            return Err(CryptoError::Truncated {
                what: "encrypted data",
                need,
                have: packet.len(),
            });
        }
        match &self.kind {
            Kind::Gcm { key, salt } => {
                let (head, body) = packet.split_at_mut(body_start);
                let (header, iv) = head.split_at(header_len);
                key.open_in_place(gcm_nonce(salt, iv)?, aead::Aad::from(header), body)
                    .map_err(|_| CryptoError::BadIcv)
            }
            Kind::Cbc {
                aes,
                mac,
                integrity,
            } => {
                let icv_start = packet.len() - integrity.icv_len();
                let ciphertext_len = icv_start - body_start;
                if !ciphertext_len.is_multiple_of(AES_BLOCK_LEN) {
                    return Err(CryptoError::NotBlockAligned {
                        len: ciphertext_len,
                        block: AES_BLOCK_LEN,
                    });
                }
                let (authenticated, icv) = packet.split_at_mut(icv_start);
                let expected = hmac::sign(mac, authenticated);
                let matches: bool = expected.as_ref()[..integrity.icv_len()].ct_eq(icv).into();
                if !matches {
                    return Err(CryptoError::BadIcv);
                }
                let (head, body) = authenticated.split_at_mut(body_start);
                cbc_decrypt(aes, &head[header_len..], body)?;
                Ok(body)
            }
        }
    }
}

fn check_len(what: &'static str, need: usize, have: usize) -> Result<(), CryptoError> {
    if need == have {
        Ok(())
    } else {
        Err(CryptoError::KeyLength { what, need, have })
    }
}

fn gcm_nonce(salt: &[u8; GCM_SALT_LEN], iv: &[u8]) -> Result<aead::Nonce, CryptoError> {
    let mut nonce = [0u8; aead::NONCE_LEN];
    nonce[..GCM_SALT_LEN].copy_from_slice(salt);
    let iv_part = nonce
        .get_mut(GCM_SALT_LEN..)
        .filter(|part| part.len() == iv.len())
        .ok_or(CryptoError::Truncated {
            what: "AES-GCM IV",
            need: GCM_IV_LEN,
            have: iv.len(),
        })?;
    iv_part.copy_from_slice(iv);
    Ok(aead::Nonce::assume_unique_for_key(nonce))
}

fn cbc_encrypt(key: &CbcKey, iv: &[u8], body: &mut [u8]) -> Result<(), CryptoError> {
    let len = body.len();
    let aligned = |_| CryptoError::NotBlockAligned {
        len,
        block: AES_BLOCK_LEN,
    };
    let iv_error = |_| CryptoError::Truncated {
        what: "AES-CBC IV",
        need: AES_BLOCK_LEN,
        have: iv.len(),
    };
    match key {
        CbcKey::Aes128(aes) => cbc::Encryptor::<Aes128>::inner_iv_slice_init(aes.clone(), iv)
            .map_err(iv_error)?
            .encrypt_padded::<NoPadding>(body, len)
            .map(|_| ())
            .map_err(aligned),
        CbcKey::Aes256(aes) => cbc::Encryptor::<Aes256>::inner_iv_slice_init(aes.clone(), iv)
            .map_err(iv_error)?
            .encrypt_padded::<NoPadding>(body, len)
            .map(|_| ())
            .map_err(aligned),
    }
}

fn cbc_decrypt(key: &CbcKey, iv: &[u8], body: &mut [u8]) -> Result<(), CryptoError> {
    let len = body.len();
    let aligned = |_| CryptoError::NotBlockAligned {
        len,
        block: AES_BLOCK_LEN,
    };
    let iv_error = |_| CryptoError::Truncated {
        what: "AES-CBC IV",
        need: AES_BLOCK_LEN,
        have: iv.len(),
    };
    match key {
        CbcKey::Aes128(aes) => cbc::Decryptor::<Aes128>::inner_iv_slice_init(aes.clone(), iv)
            .map_err(iv_error)?
            .decrypt_padded::<NoPadding>(body)
            .map(|_| ())
            .map_err(aligned),
        CbcKey::Aes256(aes) => cbc::Decryptor::<Aes256>::inner_iv_slice_init(aes.clone(), iv)
            .map_err(iv_error)?
            .decrypt_padded::<NoPadding>(body)
            .map(|_| ())
            .map_err(aligned),
    }
}

fn hmac_algorithm(integrity: Integrity) -> hmac::Algorithm {
    match integrity {
        Integrity::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Integrity::HmacSha2_256_128 => hmac::HMAC_SHA256,
        Integrity::HmacSha2_384_192 => hmac::HMAC_SHA384,
        Integrity::HmacSha2_512_256 => hmac::HMAC_SHA512,
    }
}

impl fmt::Debug for PacketCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match &self.kind {
            Kind::Gcm { key, .. } if key.algorithm() == &aead::AES_128_GCM => "AES-GCM-16-128",
            Kind::Gcm { .. } => "AES-GCM-16-256",
            Kind::Cbc {
                aes: CbcKey::Aes128(_),
                ..
            } => "AES-CBC-128",
            Kind::Cbc {
                aes: CbcKey::Aes256(_),
                ..
            } => "AES-CBC-256",
        };
        f.debug_struct("PacketCipher")
            .field("cipher", &name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 4 and 16:
    // IV cafebabefacedbaddecaf888 = salt cafebabe | explicit IV facedbaddecaf888.
    const GCM_AAD: [u8; 20] = hex!("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const GCM_SALT: [u8; 4] = hex!("cafebabe");
    const GCM_IV: [u8; 8] = hex!("facedbaddecaf888");
    const GCM_PLAINTEXT: [u8; 60] = hex!(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    );
    const GCM_KEY_128: [u8; 16] = hex!("feffe9928665731c6d6a8f9467308308");
    const GCM_CIPHERTEXT_128: [u8; 60] = hex!(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
    );
    const GCM_TAG_128: [u8; 16] = hex!("5bc94fbc3221a5db94fae95ae7121a47");
    const GCM_CIPHERTEXT_256: [u8; 60] = hex!(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
    );
    const GCM_TAG_256: [u8; 16] = hex!("76fc6ece0f4e1768cddf8853bb2d551b");

    fn gcm(size: AesKeySize) -> PacketCipher {
        let mut key = GCM_KEY_128.to_vec();
        if size == AesKeySize::Aes256 {
            key.extend_from_slice(&GCM_KEY_128);
        }
        key.extend_from_slice(&GCM_SALT);
        PacketCipher::new(Encryption::AesGcm16(size), None, &key, &[]).unwrap()
    }

    fn gcm_packet() -> Vec<u8> {
        [&GCM_AAD[..], &GCM_IV, &GCM_PLAINTEXT].concat()
    }

    #[test]
    fn aes_gcm_seal_matches_gcm_spec_test_cases_4_and_16() {
        for (size, ciphertext, tag) in [
            (AesKeySize::Aes128, GCM_CIPHERTEXT_128, GCM_TAG_128),
            (AesKeySize::Aes256, GCM_CIPHERTEXT_256, GCM_TAG_256),
        ] {
            let mut packet = gcm_packet();
            gcm(size).seal(&mut packet, GCM_AAD.len()).unwrap();
            assert_eq!(packet, [&GCM_AAD[..], &GCM_IV, &ciphertext, &tag].concat());
            let plaintext = gcm(size).open(&mut packet, GCM_AAD.len()).unwrap();
            assert_eq!(plaintext, GCM_PLAINTEXT);
        }
    }

    #[test]
    fn aes_gcm_open_rejects_a_changed_header_iv_body_or_tag() {
        let cipher = gcm(AesKeySize::Aes128);
        let mut sealed = gcm_packet();
        cipher.seal(&mut sealed, GCM_AAD.len()).unwrap();
        for index in [0, GCM_AAD.len(), GCM_AAD.len() + 8, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[index] ^= 0x01;
            assert_eq!(
                cipher.open(&mut altered, GCM_AAD.len()),
                Err(CryptoError::BadIcv)
            );
        }
    }

    #[test]
    fn aes_gcm_open_rejects_short_input_without_panicking() {
        let cipher = gcm(AesKeySize::Aes128);
        for len in 0..GCM_AAD.len() + 8 + 1 + 16 {
            let mut short = vec![0u8; len];
            assert!(matches!(
                cipher.open(&mut short, GCM_AAD.len()),
                Err(CryptoError::Truncated { .. })
            ));
        }
    }

    // RFC 3602 §4 case 3 (AES-128) and NIST SP 800-38A F.2.5 (AES-256); the ICVs are
    // HMAC-SHA-256 of IV | ciphertext under key 0x0b * 32, truncated to 16 octets, computed
    // with Python's hmac module.
    #[test]
    fn aes_cbc_encrypts_like_rfc3602_and_sp800_38a_then_macs() {
        let cases = [
            (
                AesKeySize::Aes128,
                hex!("6c3ea0477630ce21a2ce334aa746c2cd").to_vec(),
                hex!("c782dc4c098c66cbd9cd27d825682c81"),
                b"This is a 48-byte message (exactly 3 AES blocks)".to_vec(),
                hex!(
                    "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5"
                    "021c19216bad525c8579695d83ba2684"
                )
                .to_vec(),
                hex!("30f97a78ae13012a1626f250404f407e"),
            ),
            (
                AesKeySize::Aes256,
                hex!("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4").to_vec(),
                hex!("000102030405060708090a0b0c0d0e0f"),
                hex!(
                    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
                )
                .to_vec(),
                hex!(
                    "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
                    "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
                )
                .to_vec(),
                hex!("360d8b31861b3a138d9e2089a0e78fc3"),
            ),
        ];
        for (size, key, iv, plaintext, ciphertext, icv) in cases {
            let cipher = PacketCipher::new(
                Encryption::AesCbc(size),
                Some(Integrity::HmacSha2_256_128),
                &key,
                &[0x0b; 32],
            )
            .unwrap();
            let mut packet = [&iv[..], &plaintext].concat();
            cipher.seal(&mut packet, 0).unwrap();
            assert_eq!(packet, [&iv[..], &ciphertext, &icv].concat());
            assert_eq!(cipher.open(&mut packet, 0).unwrap(), &plaintext[..]);
        }
    }

    fn cbc_cipher() -> PacketCipher {
        PacketCipher::new(
            Encryption::AesCbc(AesKeySize::Aes128),
            Some(Integrity::HmacSha2_256_128),
            &[7; 16],
            &[9; 32],
        )
        .unwrap()
    }

    #[test]
    fn aes_cbc_open_checks_the_icv_over_header_iv_and_ciphertext() {
        let cipher = cbc_cipher();
        let mut sealed = [&b"HEADER"[..], &[1; 16], &[2; 32]].concat();
        cipher.seal(&mut sealed, 6).unwrap();
        for index in [0, 6, 22, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[index] ^= 0x80;
            assert_eq!(cipher.open(&mut altered, 6), Err(CryptoError::BadIcv));
        }
    }

    #[test]
    fn aes_cbc_refuses_unaligned_data() {
        let cipher = cbc_cipher();
        let mut unaligned = [&[1u8; 16][..], &[2; 20]].concat();
        assert!(matches!(
            cipher.seal(&mut unaligned, 0),
            Err(CryptoError::NotBlockAligned { .. })
        ));
        let mut short_body = vec![0u8; 16 + 20 + 16];
        assert!(matches!(
            cipher.open(&mut short_body, 0),
            Err(CryptoError::NotBlockAligned { .. })
        ));
        let mut too_short = vec![0u8; 16 + 16];
        assert!(matches!(
            cipher.open(&mut too_short, 0),
            Err(CryptoError::Truncated { .. })
        ));
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        let gcm = Encryption::AesGcm16(AesKeySize::Aes128);
        assert!(matches!(
            PacketCipher::new(gcm, None, &[0; 16], &[]),
            Err(CryptoError::KeyLength { .. })
        ));
        let cbc = Encryption::AesCbc(AesKeySize::Aes256);
        let integrity = Some(Integrity::HmacSha2_256_128);
        assert!(matches!(
            PacketCipher::new(cbc, integrity, &[0; 32], &[0; 20]),
            Err(CryptoError::KeyLength { .. })
        ));
        assert!(matches!(
            PacketCipher::new(cbc, None, &[0; 32], &[]),
            Err(CryptoError::IntegrityMismatch { .. })
        ));
    }
}
