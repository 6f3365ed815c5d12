//! The algorithms an SA runs with, checked for consistency once at negotiation time.

use super::error::CryptoError;
use super::ids::{DhGroup, EncrId, IntegId};
use super::prf::Prf;

/// AES key size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AesKeySize {
    /// 128-bit key.
    Aes128,
    /// 256-bit key.
    Aes256,
}

impl AesKeySize {
    /// The size for a Key Length attribute, in bits.
    fn from_bits(bits: Option<u16>) -> Option<Self> {
        match bits {
            Some(128) => Some(Self::Aes128),
            Some(256) => Some(Self::Aes256),
            _ => None,
        }
    }

    /// Key length in bits (the Key Length attribute).
    pub fn bits(self) -> u16 {
        match self {
            Self::Aes128 => 128,
            Self::Aes256 => 256,
        }
    }

    /// Key length in octets.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes256 => 32,
        }
    }
}

/// Octets of salt at the end of an AES-GCM key (RFC 4106 §8.1, RFC 5282 §7.1).
pub const GCM_SALT_LEN: usize = 4;

/// An implemented encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// ENCR_AES_CBC (12), paired with an integrity algorithm.
    AesCbc(AesKeySize),
    /// ENCR_AES_GCM_16 (20), an AEAD with a 16-octet ICV.
    AesGcm16(AesKeySize),
}

impl Encryption {
    /// The algorithm for a proposed transform and its Key Length attribute (in bits).
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedEncryption`] for other algorithms or key lengths (AES-192 is
    /// not offered).
    pub fn from_transform(id: EncrId, key_bits: Option<u16>) -> Result<Self, CryptoError> {
        let size = AesKeySize::from_bits(key_bits);
        match (id, size) {
            (EncrId::ENCR_AES_CBC, Some(size)) => Ok(Self::AesCbc(size)),
            (EncrId::ENCR_AES_GCM_16, Some(size)) => Ok(Self::AesGcm16(size)),
            _ => Err(CryptoError::UnsupportedEncryption { id, key_bits }),
        }
    }

    /// The transform ID to propose.
    pub fn transform_id(self) -> EncrId {
        match self {
            Self::AesCbc(_) => EncrId::ENCR_AES_CBC,
            Self::AesGcm16(_) => EncrId::ENCR_AES_GCM_16,
        }
    }

    /// The Key Length attribute to propose, in bits.
    pub fn key_bits(self) -> u16 {
        self.key_size().bits()
    }

    /// The AES key size.
    pub fn key_size(self) -> AesKeySize {
        match self {
            Self::AesCbc(size) | Self::AesGcm16(size) => size,
        }
    }

    /// True for combined-mode (AEAD) ciphers, which take no integrity algorithm.
    pub fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16(_))
    }

    /// Octets of keying material taken for one direction: the key, plus the salt for GCM.
    pub fn key_material_len(self) -> usize {
        match self {
            Self::AesCbc(size) => size.key_len(),
            Self::AesGcm16(size) => size.key_len() + GCM_SALT_LEN,
        }
    }
}

/// An implemented integrity algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// AUTH_HMAC_SHA1_96 (2), kept for interoperability (RFC 8247 "MUST-").
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (12).
    HmacSha2_256_128,
    /// AUTH_HMAC_SHA2_384_192 (13).
    HmacSha2_384_192,
    /// AUTH_HMAC_SHA2_512_256 (14).
    HmacSha2_512_256,
}

impl Integrity {
    /// The algorithm for a proposed transform.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedIntegrity`] for other algorithms.
    pub fn from_transform(id: IntegId) -> Result<Self, CryptoError> {
        match id {
            IntegId::AUTH_HMAC_SHA1_96 => Ok(Self::HmacSha1_96),
            IntegId::AUTH_HMAC_SHA2_256_128 => Ok(Self::HmacSha2_256_128),
            IntegId::AUTH_HMAC_SHA2_384_192 => Ok(Self::HmacSha2_384_192),
            IntegId::AUTH_HMAC_SHA2_512_256 => Ok(Self::HmacSha2_512_256),
            other => Err(CryptoError::UnsupportedIntegrity(other)),
        }
    }

    /// The transform ID to propose.
    pub fn transform_id(self) -> IntegId {
        match self {
            Self::HmacSha1_96 => IntegId::AUTH_HMAC_SHA1_96,
            Self::HmacSha2_256_128 => IntegId::AUTH_HMAC_SHA2_256_128,
            Self::HmacSha2_384_192 => IntegId::AUTH_HMAC_SHA2_384_192,
            Self::HmacSha2_512_256 => IntegId::AUTH_HMAC_SHA2_512_256,
        }
    }

    /// Key length in octets: the hash output length (RFC 2404, RFC 4868 §2.1).
    pub fn key_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 20,
            Self::HmacSha2_256_128 => 32,
            Self::HmacSha2_384_192 => 48,
            Self::HmacSha2_512_256 => 64,
        }
    }

    /// Length of the truncated ICV in octets.
    pub fn icv_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 12,
            Self::HmacSha2_256_128 => 16,
            Self::HmacSha2_384_192 => 24,
            Self::HmacSha2_512_256 => 32,
        }
    }
}

/// Checks that an AEAD cipher comes alone and any other cipher with an integrity algorithm.
fn check_integrity(
    encryption: Encryption,
    integrity: Option<Integrity>,
) -> Result<(), CryptoError> {
    if encryption.is_aead() == integrity.is_none() {
        Ok(())
    } else {
        Err(CryptoError::IntegrityMismatch {
            encryption: encryption.transform_id(),
            integrity: integrity.map(Integrity::transform_id),
        })
    }
}

/// The algorithms of one IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    /// Encryption of the SK payload.
    pub encryption: Encryption,
    /// Integrity of the SK payload; `None` with an AEAD cipher.
    pub integrity: Option<Integrity>,
    /// The PRF for key derivation and AUTH.
    pub prf: Prf,
    /// The Diffie-Hellman group of IKE_SA_INIT.
    pub dh: DhGroup,
}

impl IkeSuite {
    /// A consistent IKE suite.
    ///
    /// # Errors
    /// [`CryptoError::IntegrityMismatch`] when AEAD and integrity disagree,
    /// [`CryptoError::UnsupportedDhGroup`] for a group other than 14 or 31.
    pub fn new(
        encryption: Encryption,
        integrity: Option<Integrity>,
        prf: Prf,
        dh: DhGroup,
    ) -> Result<Self, CryptoError> {
        check_integrity(encryption, integrity)?;
        if !super::dh::is_supported(dh) {
            return Err(CryptoError::UnsupportedDhGroup(dh));
        }
        Ok(Self {
            encryption,
            integrity,
            prf,
            dh,
        })
    }

    /// Octets of keying material for SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr.
    pub fn key_material_len(&self) -> usize {
        let integ = self.integrity.map_or(0, Integrity::key_len);
        3 * self.prf.key_len() + 2 * integ + 2 * self.encryption.key_material_len()
    }
}

/// The algorithms of one ESP CHILD SA (no ESN: strongSwan's kernel-libipsec refuses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspSuite {
    /// Encryption.
    pub encryption: Encryption,
    /// Integrity; `None` with an AEAD cipher.
    pub integrity: Option<Integrity>,
}

impl EspSuite {
    /// A consistent ESP suite.
    ///
    /// # Errors
    /// [`CryptoError::IntegrityMismatch`] when AEAD and integrity disagree.
    pub fn new(encryption: Encryption, integrity: Option<Integrity>) -> Result<Self, CryptoError> {
        check_integrity(encryption, integrity)?;
        Ok(Self {
            encryption,
            integrity,
        })
    }

    /// Octets of keying material for one direction: encryption key (with salt) then
    /// integrity key.
    pub fn direction_key_len(&self) -> usize {
        self.encryption.key_material_len() + self.integrity.map_or(0, Integrity::key_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_key_material_includes_the_salt() {
        let gcm128 = Encryption::from_transform(EncrId::ENCR_AES_GCM_16, Some(128)).unwrap();
        assert_eq!(gcm128, Encryption::AesGcm16(AesKeySize::Aes128));
        assert_eq!(gcm128.key_material_len(), 20);
        assert_eq!(
            Encryption::AesGcm16(AesKeySize::Aes256).key_material_len(),
            36
        );
        assert_eq!(
            Encryption::AesCbc(AesKeySize::Aes256).key_material_len(),
            32
        );
    }

    #[test]
    fn aes_without_a_supported_key_length_is_refused() {
        assert!(Encryption::from_transform(EncrId::ENCR_AES_CBC, None).is_err());
        assert!(Encryption::from_transform(EncrId::ENCR_AES_CBC, Some(192)).is_err());
        assert!(Encryption::from_transform(EncrId::ENCR_3DES, None).is_err());
    }

    #[test]
    fn aead_with_integrity_is_refused() {
        let gcm = Encryption::AesGcm16(AesKeySize::Aes128);
        let cbc = Encryption::AesCbc(AesKeySize::Aes256);
        assert!(EspSuite::new(gcm, Some(Integrity::HmacSha2_256_128)).is_err());
        assert!(EspSuite::new(cbc, None).is_err());
        assert!(EspSuite::new(gcm, None).is_ok());
        assert!(EspSuite::new(cbc, Some(Integrity::HmacSha2_256_128)).is_ok());
    }

    #[test]
    fn ike_suite_key_material_adds_up() {
        // aes256-sha256-modp2048: 3 * 32 (d, pi, pr) + 2 * 32 (ai, ar) + 2 * 32 (ei, er).
        let suite = IkeSuite::new(
            Encryption::AesCbc(AesKeySize::Aes256),
            Some(Integrity::HmacSha2_256_128),
            Prf::HmacSha2_256,
            DhGroup::MODP_2048,
        )
        .unwrap();
        assert_eq!(suite.key_material_len(), 224);
        // aes128gcm16-prfsha256-x25519: 3 * 32 + 2 * 20.
        let suite = IkeSuite::new(
            Encryption::AesGcm16(AesKeySize::Aes128),
            None,
            Prf::HmacSha2_256,
            DhGroup::CURVE25519,
        )
        .unwrap();
        assert_eq!(suite.key_material_len(), 136);
    }

    #[test]
    fn ike_suite_refuses_unimplemented_groups() {
        let result = IkeSuite::new(
            Encryption::AesGcm16(AesKeySize::Aes128),
            None,
            Prf::HmacSha2_256,
            DhGroup::ECP_256,
        );
        assert_eq!(
            result,
            Err(CryptoError::UnsupportedDhGroup(DhGroup::ECP_256))
        );
    }
}
