//! CF link authentication: a challenge and response over the sysplex secret, sans-IO.
//!
//! ```text
//!  connector                                   CF
//!  Hello { sysname, jobname, nonce_c }  ──►
//!                                        ◄──   Challenge { nonce_s, proof_cf }
//!  Proof { proof_connector }            ──►    (checked; the link is now bound to sysname)
//!                                        ◄──   Welcome { link }
//! ```
//!
//! Both proofs are HMAC-SHA256 keyed with the secret over a role label, both nonces and the
//! names the connector gave, so neither side can replay the other's proof and a connector
//! cannot swap its sysname after the fact. The connector checks `proof_cf`, so it also knows
//! it reached a CF that holds the secret.

use std::fmt;
use std::path::Path;

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Length of a nonce and of a proof, in bytes.
pub const PROOF_LEN: usize = 32;

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// Why a link could not be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The secret is shorter than [`MIN_SECRET_LEN`].
    #[error("sysplex secret too short: {len} bytes, need at least {MIN_SECRET_LEN}")]
    SecretTooShort {
        /// Its length.
        len: usize,
    },
    /// A system or job name is not 1-8 characters of A-Z, 0-9, @, # and $, starting with a
    /// letter or national character.
    #[error("invalid {what} name {name:?}")]
    BadName {
        /// "system" or "job".
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// The peer's proof does not match: it does not hold the sysplex secret.
    #[error("authentication proof does not match the sysplex secret")]
    BadProof,
}

/// The sysplex secret shared by the CF and its connectors. Its bytes never appear in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from raw bytes, at least [`MIN_SECRET_LEN`] long.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, AuthError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(AuthError::SecretTooShort { len: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// The secret held in a file; one trailing newline is ignored.
    pub fn from_file(path: &Path) -> Result<Self, crate::Error> {
        let mut bytes = std::fs::read(path)?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        Ok(Self::new(bytes)?)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A fresh random value one side contributes to an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nonce(pub [u8; PROOF_LEN]);

impl Nonce {
    /// A nonce drawn from `rng` (the OS generator in servers and clients, a seeded one in tests).
    pub fn random(rng: &mut impl RngCore) -> Self {
        let mut bytes = [0; PROOF_LEN];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }
}

/// An HMAC-SHA256 proof of holding the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof(pub [u8; PROOF_LEN]);

/// Who a connector says it is, and the nonces of one exchange: what both proofs cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript<'a> {
    /// The system the connector runs on.
    pub sysname: &'a str,
    /// The connector's job name.
    pub jobname: &'a str,
    /// The connector's nonce.
    pub connector_nonce: Nonce,
    /// The CF's nonce.
    pub cf_nonce: Nonce,
}

/// The role a proof is made for; each gets its own label so one cannot stand for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Cf,
    Connector,
}

impl Transcript<'_> {
    /// The proof the CF sends in its challenge.
    pub fn cf_proof(&self, secret: &Secret) -> Proof {
        Proof(self.mac(secret, Role::Cf).finalize().into_bytes().into())
    }

    /// The proof the connector answers with.
    pub fn connector_proof(&self, secret: &Secret) -> Proof {
        Proof(
            self.mac(secret, Role::Connector)
                .finalize()
                .into_bytes()
                .into(),
        )
    }

    /// Checks the CF's proof (run by the connector), in constant time.
    pub fn verify_cf(&self, secret: &Secret, proof: &Proof) -> Result<(), AuthError> {
        self.mac(secret, Role::Cf)
            .verify_slice(&proof.0)
            .map_err(|_| AuthError::BadProof)
    }

    /// Checks the connector's proof (run by the CF), in constant time.
    pub fn verify_connector(&self, secret: &Secret, proof: &Proof) -> Result<(), AuthError> {
        self.mac(secret, Role::Connector)
            .verify_slice(&proof.0)
            .map_err(|_| AuthError::BadProof)
    }

    fn mac(&self, secret: &Secret, role: Role) -> Hmac<Sha256> {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&secret.0) else {
            unreachable!("HMAC accepts keys of any length")
        };
        mac.update(match role {
            Role::Cf => b"zsysplex CF link v1 cf\0",
            Role::Connector => b"zsysplex CF link v1 connector\0",
        });
        mac.update(&self.connector_nonce.0);
        mac.update(&self.cf_nonce.0);
        // Length-prefixed so that ("AB", "C") and ("A", "BC") differ.
        for name in [self.sysname, self.jobname] {
            mac.update(&[u8::try_from(name.len()).unwrap_or(u8::MAX)]);
            mac.update(name.as_bytes());
        }
        mac
    }
}

/// Checks a system or job name: 1-8 characters of A-Z, 0-9, @, # and $, not starting with a
/// digit, as z/OS spells SYSNAME and job names.
pub fn check_name(what: &'static str, name: &str) -> Result<(), AuthError> {
    let national = |c: u8| matches!(c, b'@' | b'#' | b'$');
    let ok = (1..=8).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || national(c))
        && !name.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if ok {
        Ok(())
    } else {
        Err(AuthError::BadName {
            what,
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn transcript<'a>(sysname: &'a str, rng: &mut ChaCha8Rng) -> Transcript<'a> {
        Transcript {
            sysname,
            jobname: "TCPIP",
            connector_nonce: Nonce::random(rng),
            cf_nonce: Nonce::random(rng),
        }
    }

    fn secret() -> Secret {
        Secret::new(*b"sysplex-secret-0123").unwrap()
    }

    #[test]
    fn proofs_made_with_the_secret_verify() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t = transcript("SYS1", &mut rng);
        assert_eq!(t.verify_cf(&secret(), &t.cf_proof(&secret())), Ok(()));
        assert_eq!(
            t.verify_connector(&secret(), &t.connector_proof(&secret())),
            Ok(())
        );
    }

    #[test]
    fn a_wrong_secret_is_refused() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let t = transcript("SYS1", &mut rng);
        let other = Secret::new(*b"another-secret-4567").unwrap();
        assert_eq!(
            t.verify_connector(&secret(), &t.connector_proof(&other)),
            Err(AuthError::BadProof)
        );
    }

    #[test]
    fn the_cf_proof_cannot_stand_for_the_connector_proof() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let t = transcript("SYS1", &mut rng);
        assert_eq!(
            t.verify_connector(&secret(), &t.cf_proof(&secret())),
            Err(AuthError::BadProof)
        );
    }

    #[test]
    fn a_proof_is_bound_to_the_sysname_and_nonces() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let t = transcript("SYS1", &mut rng);
        let proof = t.connector_proof(&secret());
        let renamed = Transcript {
            sysname: "SYS2",
            ..t.clone()
        };
        let fresh = Transcript {
            cf_nonce: Nonce::random(&mut rng),
            ..t
        };
        assert_eq!(
            renamed.verify_connector(&secret(), &proof),
            Err(AuthError::BadProof)
        );
        assert_eq!(
            fresh.verify_connector(&secret(), &proof),
            Err(AuthError::BadProof)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            Secret::new(*b"short"),
            Err(AuthError::SecretTooShort { len: 5 })
        );
    }

    #[test]
    fn secret_debug_hides_the_bytes() {
        assert_eq!(format!("{:?}", secret()), "Secret(..)");
    }

    #[test]
    fn zos_names_are_checked() {
        for good in ["SYS1", "TCPIPA", "@SYS#$", "A2345678"] {
            assert_eq!(check_name("system", good), Ok(()), "{good}");
        }
        for bad in ["", "sys1", "1SYS", "TOOLONGXX", "SYS-1", "SYS 1"] {
            assert!(check_name("system", bad).is_err(), "{bad:?}");
        }
    }
}
