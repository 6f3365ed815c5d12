//! Diffie-Hellman for IKE_SA_INIT and PFS: group 31 (Curve25519, RFC 8031) and group 14
//! (2048-bit MODP, RFC 3526 §3). Private values come from the caller's RNG, so seeded tests
//! are reproducible.

use std::fmt;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U512, U2048};
use rand::{CryptoRng, RngCore};
use x25519_dalek::{PublicKey, StaticSecret};

use super::error::CryptoError;
use super::ids::DhGroup;
use super::secret::SecretBytes;

/// Octets of a Curve25519 public value and shared secret.
const CURVE25519_LEN: usize = 32;

/// Octets of a MODP-2048 public value and shared secret (the length of the prime).
const MODP_2048_LEN: usize = 256;

/// Octets of a MODP-2048 private exponent: 512 bits, above the 320 that RFC 3526 §8
/// estimates for this group.
const MODP_2048_EXPONENT_LEN: usize = 64;

/// The prime of the 2048-bit MODP group: 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }.
const MODP_2048_PRIME: Odd<U2048> = Odd::<U2048>::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
));

/// Montgomery parameters of the MODP-2048 prime, computed at compile time.
const MODP_2048_PARAMS: FixedMontyParams<{ U2048::LIMBS }> =
    FixedMontyParams::new_vartime(MODP_2048_PRIME);

/// True for the groups implemented here (14 and 31).
pub fn is_supported(group: DhGroup) -> bool {
    matches!(group, DhGroup::MODP_2048 | DhGroup::CURVE25519)
}

/// Our side of one Diffie-Hellman exchange: the private value and its public value.
pub struct DhPrivateKey {
    secret: Secret,
    public: Vec<u8>,
}

enum Secret {
    Curve25519(StaticSecret),
    Modp2048 { exponent: SecretBytes },
}

impl DhPrivateKey {
    /// Draws a private value for `group` from `rng`.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedDhGroup`] for groups other than 14 and 31.
    pub fn generate<R: RngCore + CryptoRng>(
        group: DhGroup,
        rng: &mut R,
    ) -> Result<Self, CryptoError> {
        match group {
            DhGroup::CURVE25519 => {
                let mut bytes = [0u8; CURVE25519_LEN];
                rng.fill_bytes(&mut bytes);
                Ok(Self::curve25519_from_bytes(bytes))
            }
            DhGroup::MODP_2048 => {
                let mut bytes = [0u8; MODP_2048_EXPONENT_LEN];
                rng.fill_bytes(&mut bytes);
                // The top bit keeps the exponent away from tiny values.
                bytes[0] |= 0x80;
                Ok(Self::modp2048_from_exponent(bytes))
            }
            other => Err(CryptoError::UnsupportedDhGroup(other)),
        }
    }

    fn curve25519_from_bytes(bytes: [u8; CURVE25519_LEN]) -> Self {
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret).as_bytes().to_vec();
        Self {
            secret: Secret::Curve25519(secret),
            public,
        }
    }

    fn modp2048_from_exponent(bytes: [u8; MODP_2048_EXPONENT_LEN]) -> Self {
        let exponent = U512::from_be_slice(&bytes);
        let generator = FixedMontyForm::new(&U2048::from_u8(2), &MODP_2048_PARAMS);
        let public = generator
            .pow(&exponent)
            .retrieve()
            .to_be_bytes()
            .as_slice()
            .to_vec();
        Self {
            secret: Secret::Modp2048 {
                exponent: SecretBytes::new(bytes.to_vec()),
            },
            public,
        }
    }

    /// The group.
    pub fn group(&self) -> DhGroup {
        match self.secret {
            Secret::Curve25519(_) => DhGroup::CURVE25519,
            Secret::Modp2048 { .. } => DhGroup::MODP_2048,
        }
    }

    /// Our public value, as the Key Exchange Data of a KE payload (RFC 7296 §3.4; MODP values
    /// are padded with leading zeros to the length of the prime).
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// The shared secret g^ir from the peer's public value (big-endian, full length).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicValue`] when the value has the wrong length, is outside
    /// 1 < y < p-1 (MODP), or gives the all-zero Curve25519 secret (RFC 8031 §2.3).
    pub fn shared_secret(&self, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        match &self.secret {
            Secret::Curve25519(secret) => {
                let bytes: [u8; CURVE25519_LEN] = peer_public
                    .try_into()
                    .map_err(|_| invalid(DhGroup::CURVE25519, "public value is not 32 octets"))?;
                let shared = secret.diffie_hellman(&PublicKey::from(bytes));
                if !shared.was_contributory() {
                    return Err(invalid(DhGroup::CURVE25519, "shared secret is all zeros"));
                }
                Ok(SecretBytes::from(shared.as_bytes().as_slice()))
            }
            Secret::Modp2048 { exponent } => {
                if peer_public.len() != MODP_2048_LEN {
                    return Err(invalid(
                        DhGroup::MODP_2048,
                        "public value is not 256 octets",
                    ));
                }
                let y = U2048::from_be_slice(peer_public);
                let p_minus_1 = MODP_2048_PRIME.get().wrapping_sub(&U2048::ONE);
                if y <= U2048::ONE || y >= p_minus_1 {
                    return Err(invalid(
                        DhGroup::MODP_2048,
                        "public value outside 1 < y < p-1",
                    ));
                }
                let exponent = U512::from_be_slice(exponent.as_bytes());
                let shared = FixedMontyForm::new(&y, &MODP_2048_PARAMS)
                    .pow(&exponent)
                    .retrieve();
                Ok(SecretBytes::from(shared.to_be_bytes().as_slice()))
            }
        }
    }
}

fn invalid(group: DhGroup, reason: &'static str) -> CryptoError {
    CryptoError::InvalidPublicValue { group, reason }
}

impl fmt::Debug for DhPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhPrivateKey")
            .field("group", &self.group())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    // RFC 7748 §6.1.
    const ALICE_PRIVATE: [u8; 32] =
        hex!("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const ALICE_PUBLIC: [u8; 32] =
        hex!("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    const BOB_PRIVATE: [u8; 32] =
        hex!("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    const BOB_PUBLIC: [u8; 32] =
        hex!("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const SHARED: [u8; 32] =
        hex!("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

    #[test]
    fn curve25519_matches_rfc7748_section_6_1() {
        let alice = DhPrivateKey::curve25519_from_bytes(ALICE_PRIVATE);
        let bob = DhPrivateKey::curve25519_from_bytes(BOB_PRIVATE);
        assert_eq!(alice.public_value(), ALICE_PUBLIC);
        assert_eq!(bob.public_value(), BOB_PUBLIC);
        assert_eq!(alice.shared_secret(&BOB_PUBLIC).unwrap().as_bytes(), SHARED);
        assert_eq!(bob.shared_secret(&ALICE_PUBLIC).unwrap().as_bytes(), SHARED);
    }

    #[test]
    fn curve25519_refuses_an_all_zero_shared_secret() {
        let alice = DhPrivateKey::curve25519_from_bytes(ALICE_PRIVATE);
        // The point of order 1 (u = 0) and the order-8 point u = 1 give an all-zero secret.
        for low_order in [
            [0u8; 32],
            hex!("0100000000000000000000000000000000000000000000000000000000000000"),
        ] {
            assert!(matches!(
                alice.shared_secret(&low_order),
                Err(CryptoError::InvalidPublicValue {
                    group: DhGroup::CURVE25519,
                    ..
                })
            ));
        }
    }

    #[test]
    fn curve25519_refuses_a_short_public_value() {
        let alice = DhPrivateKey::curve25519_from_bytes(ALICE_PRIVATE);
        assert!(alice.shared_secret(&BOB_PUBLIC[..31]).is_err());
    }

    #[test]
    fn modp2048_public_value_matches_an_independent_computation() {
        // 2^x mod p for x = 0x80 followed by 63 octets 0x01, computed with Python's pow().
        let mut exponent = [0x01u8; MODP_2048_EXPONENT_LEN];
        exponent[0] = 0x80;
        let key = DhPrivateKey::modp2048_from_exponent(exponent);
        assert_eq!(key.public_value().len(), MODP_2048_LEN);
        assert_eq!(key.public_value(), MODP_2048_PUBLIC_OF_TEST_EXPONENT);
    }

    #[test]
    fn modp2048_peers_agree_on_a_full_length_secret() {
        let mut rng = ChaCha20Rng::seed_from_u64(14);
        let initiator = DhPrivateKey::generate(DhGroup::MODP_2048, &mut rng).unwrap();
        let responder = DhPrivateKey::generate(DhGroup::MODP_2048, &mut rng).unwrap();
        let a = initiator.shared_secret(responder.public_value()).unwrap();
        let b = responder.shared_secret(initiator.public_value()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), MODP_2048_LEN);
    }

    #[test]
    fn modp2048_refuses_degenerate_public_values() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let key = DhPrivateKey::generate(DhGroup::MODP_2048, &mut rng).unwrap();
        let p = MODP_2048_PRIME.get().to_be_bytes().as_slice().to_vec();
        let p_minus_1 = MODP_2048_PRIME
            .get()
            .wrapping_sub(&U2048::ONE)
            .to_be_bytes()
            .as_slice()
            .to_vec();
        let mut one = vec![0u8; MODP_2048_LEN];
        one[MODP_2048_LEN - 1] = 1;
        for bad in [
            vec![0u8; MODP_2048_LEN],
            one,
            p_minus_1,
            p,
            vec![0xff; MODP_2048_LEN],
        ] {
            assert!(matches!(
                key.shared_secret(&bad),
                Err(CryptoError::InvalidPublicValue {
                    group: DhGroup::MODP_2048,
                    ..
                })
            ));
        }
        assert!(key.shared_secret(&[2u8; 255]).is_err());
        let mut two = vec![0u8; MODP_2048_LEN];
        two[MODP_2048_LEN - 1] = 2;
        assert!(key.shared_secret(&two).is_ok());
    }

    #[test]
    fn generation_is_reproducible_from_a_seed() {
        let a = DhPrivateKey::generate(DhGroup::CURVE25519, &mut ChaCha20Rng::seed_from_u64(7))
            .unwrap();
        let b = DhPrivateKey::generate(DhGroup::CURVE25519, &mut ChaCha20Rng::seed_from_u64(7))
            .unwrap();
        assert_eq!(a.public_value(), b.public_value());
        assert_eq!(a.group(), DhGroup::CURVE25519);
        assert!(
            DhPrivateKey::generate(DhGroup::ECP_256, &mut ChaCha20Rng::seed_from_u64(7)).is_err()
        );
    }

    const MODP_2048_PUBLIC_OF_TEST_EXPONENT: [u8; MODP_2048_LEN] = hex!(
        "b25fb1962c952c23e54e023ec39f02da70005dbc30ed68e49db454aec49c1a4b"
        "dda759e3e9dc7ecd4deaa1fb6a83bb19be1db2ed14830246b21548a3d48728c5"
        "8f3e03ea207d81893b5b3dcc6014f52930ac3e47dae5e793eae3097347452f5b"
        "d6834196805e2594015ef65170d56369a101cbc6655f84d70ba7931c7dfc1975"
        "b2718aa6131dec16a06326fd91a66245b764eed623db99c1341a8ec32fe539a1"
        "63907c9c9f05da08e2a83e43928f9841ea30419e06a40cb314e3e5d6eafa837a"
        "781f62a41263206312c216b3590d079f9eb8fd903347abf1224e6f36a855f224"
        "0e6d650bba318ea8a449d0547197731272207771f562b3deb8fbd7af6a142890"
    );
}
