//! Key derivation: SKEYSEED and the IKE SA keys (RFC 7296 §2.14), the rekeyed SKEYSEED
//! (§2.18) and CHILD SA keying material (§2.17).

use super::error::CryptoError;
use super::prf::Prf;
use super::secret::SecretBytes;
use super::sk::IkeCipher;
use super::suite::{EspSuite, IkeSuite, Integrity};

/// Which end of an IKE SA we are: the original initiator or responder (RFC 7296 §2.14; the
/// roles of an IKE SA follow the exchange that created it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sent the first IKE_SA_INIT (or the CREATE_CHILD_SA that rekeyed the IKE SA).
    Initiator,
    /// Answered it.
    Responder,
}

/// SKEYSEED = prf(Ni | Nr, g^ir) for a new IKE SA.
pub fn skeyseed(prf: Prf, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> SecretBytes {
    let key = SecretBytes::new([ni, nr].concat());
    SecretBytes::new(prf.prf(key.as_bytes(), g_ir))
}

/// SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) when rekeying an IKE SA (RFC 7296 §2.18),
/// with the nonces of the CREATE_CHILD_SA exchange.
pub fn rekey_skeyseed(prf: Prf, old_sk_d: &[u8], g_ir: &[u8], ni: &[u8], nr: &[u8]) -> SecretBytes {
    SecretBytes::new(prf.prf_parts(old_sk_d, &[g_ir, ni, nr]))
}

/// The seven keys of an IKE SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaKeys {
    /// Derives CHILD SA keys and the next SKEYSEED.
    pub sk_d: SecretBytes,
    /// Integrity key, initiator to responder (empty with AEAD).
    pub sk_ai: SecretBytes,
    /// Integrity key, responder to initiator (empty with AEAD).
    pub sk_ar: SecretBytes,
    /// Encryption key (with salt for GCM), initiator to responder.
    pub sk_ei: SecretBytes,
    /// Encryption key (with salt for GCM), responder to initiator.
    pub sk_er: SecretBytes,
    /// Authenticates the initiator's identity in AUTH.
    pub sk_pi: SecretBytes,
    /// Authenticates the responder's identity in AUTH.
    pub sk_pr: SecretBytes,
}

impl IkeSaKeys {
    /// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
    /// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), cut to the suite's key lengths.
    ///
    /// # Errors
    /// [`CryptoError::PrfPlusTooLong`] cannot happen with the implemented suites.
    pub fn derive(
        suite: &IkeSuite,
        skeyseed: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let seed = [ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()].concat();
        let material = suite
            .prf
            .prf_plus(skeyseed.as_bytes(), &seed, suite.key_material_len())?;
        let prf_len = suite.prf.key_len();
        let integ_len = suite.integrity.map_or(0, Integrity::key_len);
        let encr_len = suite.encryption.key_material_len();
        let mut taker = Taker::new(material.as_bytes());
        Ok(Self {
            sk_d: taker.take(prf_len),
            sk_ai: taker.take(integ_len),
            sk_ar: taker.take(integ_len),
            sk_ei: taker.take(encr_len),
            sk_er: taker.take(encr_len),
            sk_pi: taker.take(prf_len),
            sk_pr: taker.take(prf_len),
        })
    }

    /// The ciphers for SK payloads as `role`: (outbound, inbound).
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] if these keys were derived for another suite.
    pub fn ciphers(
        &self,
        suite: &IkeSuite,
        role: Role,
    ) -> Result<(IkeCipher, IkeCipher), CryptoError> {
        let initiator = IkeCipher::new(
            suite.encryption,
            suite.integrity,
            self.sk_ei.as_bytes(),
            self.sk_ai.as_bytes(),
        )?;
        let responder = IkeCipher::new(
            suite.encryption,
            suite.integrity,
            self.sk_er.as_bytes(),
            self.sk_ar.as_bytes(),
        )?;
        Ok(match role {
            Role::Initiator => (initiator, responder),
            Role::Responder => (responder, initiator),
        })
    }

    /// SK_p of the side whose AUTH payload is computed or checked (SK_pi for the initiator's
    /// AUTH, SK_pr for the responder's).
    pub fn sk_p(&self, signer: Role) -> &SecretBytes {
        match signer {
            Role::Initiator => &self.sk_pi,
            Role::Responder => &self.sk_pr,
        }
    }
}

/// The keys of one direction of an ESP SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspKeys {
    /// Encryption key (with the 4-octet salt at its end for AES-GCM).
    pub encryption: SecretBytes,
    /// Integrity key (empty with AES-GCM).
    pub integrity: SecretBytes,
}

/// The keys of a CHILD SA: one ESP SA each way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaKeys {
    /// For the SA carrying data from the initiator to the responder.
    pub initiator_to_responder: EspKeys,
    /// For the SA carrying data from the responder to the initiator.
    pub responder_to_initiator: EspKeys,
}

impl ChildSaKeys {
    /// KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) with PFS
    /// (RFC 7296 §2.17). Keys for initiator-to-responder traffic come first; within each
    /// direction the encryption key precedes the integrity key.
    ///
    /// # Errors
    /// [`CryptoError::PrfPlusTooLong`] cannot happen with the implemented suites.
    pub fn derive(
        prf: Prf,
        sk_d: &[u8],
        suite: &EspSuite,
        pfs_g_ir: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<Self, CryptoError> {
        let seed = [pfs_g_ir.unwrap_or_default(), ni, nr].concat();
        let keymat = prf.prf_plus(sk_d, &seed, 2 * suite.direction_key_len())?;
        let encr_len = suite.encryption.key_material_len();
        let integ_len = suite.integrity.map_or(0, Integrity::key_len);
        let mut taker = Taker::new(keymat.as_bytes());
        let mut direction = || EspKeys {
            encryption: taker.take(encr_len),
            integrity: taker.take(integ_len),
        };
        let initiator_to_responder = direction();
        let responder_to_initiator = direction();
        Ok(Self {
            initiator_to_responder,
            responder_to_initiator,
        })
    }

    /// The keys as `role`: (outbound, inbound).
    pub fn by_direction(&self, role: Role) -> (&EspKeys, &EspKeys) {
        match role {
            Role::Initiator => (&self.initiator_to_responder, &self.responder_to_initiator),
            Role::Responder => (&self.responder_to_initiator, &self.initiator_to_responder),
        }
    }
}

/// Cuts consecutive keys from keying material whose length the caller computed to fit.
struct Taker<'a> {
    rest: &'a [u8],
}

impl<'a> Taker<'a> {
    fn new(material: &'a [u8]) -> Self {
        Self { rest: material }
    }

    fn take(&mut self, len: usize) -> SecretBytes {
        let (key, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        SecretBytes::from(key)
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;
    use crate::crypto::ids::DhGroup;
    use crate::crypto::suite::{AesKeySize, Encryption};

    // NIST CAVP SP 800-135 IKEv2 KDF vector (HMAC-SHA1), as in libreswan's
    // lib/libswan/ike_alg_test_prf.c ("CAVP: IKEv2 key derivation with HMAC-SHA1").
    const NI: [u8; 8] = hex!("32b50d5f4a3763f3");
    const NR: [u8; 8] = hex!("9206a04b26564cb1");
    const GIR: [u8; 32] = hex!("4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52");
    const GIR_NEW: [u8; 32] =
        hex!("863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330");
    const SPI_I: u64 = 0x34c9e7c188868785;
    const SPI_R: u64 = 0x3ff77d760d2b2199;
    const SKEYSEED: [u8; 20] = hex!("a9a7b222b59f8f48645f28a1db5b5f5d7479cba7");
    const SKEYSEED_REKEY: [u8; 20] = hex!("63e81194946ebd05df7df5ebf5d8750056bf1f1d");
    const DKM: [u8; 132] = hex!(
        "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002"
        "a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a"
        "5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119"
        "8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435"
        "a7a56cc4"
    );

    // A suite whose key material is exactly the 132-octet DKM of the vector:
    // SK_d 20 | SK_ai 20 | SK_ar 20 | SK_ei 16 | SK_er 16 | SK_pi 20 | SK_pr 20.
    fn sha1_suite() -> IkeSuite {
        IkeSuite::new(
            Encryption::AesCbc(AesKeySize::Aes128),
            Some(Integrity::HmacSha1_96),
            Prf::HmacSha1,
            DhGroup::MODP_2048,
        )
        .unwrap()
    }

    #[test]
    fn skeyseed_matches_cavp() {
        assert_eq!(skeyseed(Prf::HmacSha1, &NI, &NR, &GIR).as_bytes(), SKEYSEED);
    }

    #[test]
    fn ike_sa_keys_split_the_cavp_dkm_in_rfc_order() {
        let suite = sha1_suite();
        assert_eq!(suite.key_material_len(), DKM.len());
        let keys = IkeSaKeys::derive(
            &suite,
            &SecretBytes::from(&SKEYSEED[..]),
            &NI,
            &NR,
            SPI_I,
            SPI_R,
        )
        .unwrap();
        let joined = [
            keys.sk_d.as_bytes(),
            keys.sk_ai.as_bytes(),
            keys.sk_ar.as_bytes(),
            keys.sk_ei.as_bytes(),
            keys.sk_er.as_bytes(),
            keys.sk_pi.as_bytes(),
            keys.sk_pr.as_bytes(),
        ]
        .concat();
        assert_eq!(joined, DKM);
        assert_eq!(keys.sk_d.as_bytes(), &DKM[..20]);
        assert_eq!(keys.sk_ei.as_bytes(), &DKM[60..76]);
        assert_eq!(keys.sk_pr.as_bytes(), &DKM[112..]);
    }

    #[test]
    fn rekeyed_skeyseed_matches_cavp() {
        let rekeyed = rekey_skeyseed(Prf::HmacSha1, &DKM[..20], &GIR_NEW, &NI, &NR);
        assert_eq!(rekeyed.as_bytes(), SKEYSEED_REKEY);
    }

    // NIST CAVP IKEv2 KDF vector (HMAC-SHA1) with CHILD SA keying material, as in Cisco's
    // libacvp/fips_kdf_ikev2.c test_ikev2_kdf(): Ni | Nr given as 16 octets, g^ir 128 octets.
    const CISCO_NI_NR: [u8; 16] = hex!("3651fef5c9c35e93c09a8b90a3f04d59");
    const CISCO_GIR: [u8; 128] = hex!(
        "d084a30166a50fb7325c3960874a839449ef9741c2f4f947d0201dd8c1269273"
        "d79509f37e3ca3eb4fa2fe2a28254e289cd3f34dad4eb4df1a07685a4b8a94fa"
        "61e2491f7598b3ce65547ff133b3f63d1ac4175eaa695033f3cedb026a6873a3"
        "6455172a8540b8a5d23a0143bed0390ee49b168269d75fffee9fb62be965993c"
    );
    const CISCO_GIR_NEW: [u8; 128] = hex!(
        "52f00ab174c25d5b7139ae5ff4e8e9eddee5992d2e36adf8a559ffd90dab1442"
        "e4fbe429d320c0f33552a17d1557fa41ea70e8fb916c4fa27ed52b5f8ebd8461"
        "afa78f1159159a64055ac5f6319e29c28eae58cbc6847770f32c3fed1d047504"
        "84f854790f95e9ec01bc5bc461f24966462e359511329305038e94deb6dd42c2"
    );
    const CISCO_SPI_I: u64 = 0x8e5c3ae507221684;
    const CISCO_SPI_R: u64 = 0xb1f201bb155c3acd;
    const CISCO_SKEYSEED: [u8; 20] = hex!("cd2e8050137832245f1dbacc6e4f0a92f94d45d6");
    const CISCO_DKM: [u8; 132] = hex!(
        "6f1b12cad3cbe097b35430356d869d54cddb0198ec859174d53ceb92dddedbe2"
        "436db69f60977c58fa63bbb667f8d36920b109baae8f6c61a9ac49feda018432"
        "25d080ec5539d5881a25521ffb2a0a91874a9c0a27fcc2d717eb8963a9e3a89c"
        "7ab264757284c28cf8c3ca40576f4220b052b1fb8e9ad60ba3c80557323331a8"
        "cbb89f20"
    );
    const CISCO_DKM_CHILD: [u8; 132] = hex!(
        "4727dc0ef94eb326ce131cf282fb652faa638ad0ddae3786a11bcc0309876009"
        "f8c485de011ad962c5b1ca8a41ff8145445749079c5686e26ffebbc342f06981"
        "f3da745e11ca0976424d1f8caec623d59dc7186deb20a27b411d1dcb70a36544"
        "0bf7de905088b0692e8addc094e18d1939bdb67e89798ca6b239e2ccb81c2409"
        "dac0106c"
    );
    const CISCO_DKM_CHILD_PFS: [u8; 132] = hex!(
        "b109c21ad4c0797768c1cec9e63554681e48f224bca7f23c20c4ea7041983451"
        "e9aa1d5408656c8a975ff1b9d9a12c75ffeb64bdecb30174664cccb4e14f1c37"
        "7b7f6d1525af77c7092aac3e47f917ebae8297fb5539d2008ce830823a09cc19"
        "7361d4a289c72745f6ce9fefe812be5bf55b3200fbb82e41a4a40877d3fe106d"
        "b909707b"
    );
    const CISCO_SKEYSEED_REKEY: [u8; 20] = hex!("3b03bce748c96d5e8306918d2ff89b68f0648da3");

    #[test]
    fn child_sa_keymat_matches_cavp_with_and_without_pfs() {
        let (ni, nr) = CISCO_NI_NR.split_at(8);
        assert_eq!(
            skeyseed(Prf::HmacSha1, ni, nr, &CISCO_GIR).as_bytes(),
            CISCO_SKEYSEED
        );
        let seed = [
            &CISCO_NI_NR[..],
            &CISCO_SPI_I.to_be_bytes(),
            &CISCO_SPI_R.to_be_bytes(),
        ]
        .concat();
        let dkm = Prf::HmacSha1.prf_plus(&CISCO_SKEYSEED, &seed, 132).unwrap();
        assert_eq!(dkm.as_bytes(), CISCO_DKM);
        let sk_d = &CISCO_DKM[..20];

        // aes128-sha1: 16 + 20 octets each way, taken from the front of KEYMAT.
        let esp = EspSuite::new(
            Encryption::AesCbc(AesKeySize::Aes128),
            Some(Integrity::HmacSha1_96),
        )
        .unwrap();
        for (pfs, expected) in [
            (None, CISCO_DKM_CHILD),
            (Some(&CISCO_GIR_NEW[..]), CISCO_DKM_CHILD_PFS),
        ] {
            let keys = ChildSaKeys::derive(Prf::HmacSha1, sk_d, &esp, pfs, ni, nr).unwrap();
            assert_eq!(
                keys.initiator_to_responder.encryption.as_bytes(),
                &expected[..16]
            );
            assert_eq!(
                keys.initiator_to_responder.integrity.as_bytes(),
                &expected[16..36]
            );
            assert_eq!(
                keys.responder_to_initiator.encryption.as_bytes(),
                &expected[36..52]
            );
            assert_eq!(
                keys.responder_to_initiator.integrity.as_bytes(),
                &expected[52..72]
            );
        }
        assert_eq!(
            rekey_skeyseed(Prf::HmacSha1, sk_d, &CISCO_GIR_NEW, ni, nr).as_bytes(),
            CISCO_SKEYSEED_REKEY
        );
    }

    #[test]
    fn gcm_keys_carry_their_salt_and_no_integrity_key() {
        let suite = IkeSuite::new(
            Encryption::AesGcm16(AesKeySize::Aes128),
            None,
            Prf::HmacSha2_256,
            DhGroup::CURVE25519,
        )
        .unwrap();
        let keys = IkeSaKeys::derive(
            &suite,
            &SecretBytes::from(&[7u8; 32][..]),
            b"Ni",
            b"Nr",
            1,
            2,
        )
        .unwrap();
        assert_eq!(keys.sk_d.len(), 32);
        assert!(keys.sk_ai.is_empty() && keys.sk_ar.is_empty());
        assert_eq!(keys.sk_ei.len(), 20);
        assert_eq!(keys.sk_pr.len(), 32);
        let esp = EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes256), None).unwrap();
        let child = ChildSaKeys::derive(
            Prf::HmacSha2_256,
            keys.sk_d.as_bytes(),
            &esp,
            None,
            b"Ni",
            b"Nr",
        )
        .unwrap();
        assert_eq!(child.initiator_to_responder.encryption.len(), 36);
        assert!(child.responder_to_initiator.integrity.is_empty());
    }

    #[test]
    fn initiator_outbound_cipher_is_responder_inbound_cipher() {
        let suite = IkeSuite::new(
            Encryption::AesCbc(AesKeySize::Aes256),
            Some(Integrity::HmacSha2_256_128),
            Prf::HmacSha2_256,
            DhGroup::MODP_2048,
        )
        .unwrap();
        let keys = IkeSaKeys::derive(
            &suite,
            &SecretBytes::from(&[9u8; 32][..]),
            b"Ni",
            b"Nr",
            1,
            2,
        )
        .unwrap();
        let (initiator_out, initiator_in) = keys.ciphers(&suite, Role::Initiator).unwrap();
        let (responder_out, responder_in) = keys.ciphers(&suite, Role::Responder).unwrap();
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(5);
        let request = initiator_out
            .seal(b"hdr", b"IKE_AUTH request", &mut rng)
            .unwrap();
        assert_eq!(
            responder_in.open(b"hdr", &request).unwrap(),
            b"IKE_AUTH request"
        );
        let response = responder_out
            .seal(b"hdr", b"IKE_AUTH response", &mut rng)
            .unwrap();
        assert_eq!(
            initiator_in.open(b"hdr", &response).unwrap(),
            b"IKE_AUTH response"
        );
        assert!(initiator_in.open(b"hdr", &request).is_err());
    }
}
