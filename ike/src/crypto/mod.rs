//! The crypto of IKEv2 and ESP, from maintained crates (ring for AES-GCM and HMAC, RustCrypto
//! for AES-CBC, x25519-dalek, crypto-bigint for MODP).
//!
//! ```text
//! DhPrivateKey ──g^ir──▶ skeyseed() ──▶ IkeSaKeys::derive() ──▶ IkeCipher (SK payloads)
//!                                            │ SK_d                  SK_pi/SK_pr ──▶ auth
//!                                            ▼
//!                                  ChildSaKeys::derive() ──▶ EspKeys ──▶ PacketCipher (ESP)
//! ```
//!
//! Randomness (DH private values, IVs) always comes from the caller's RNG.

pub mod auth;
mod cipher;
pub mod dh;
mod error;
pub mod ids;
mod keys;
mod prf;
mod secret;
mod sk;
mod suite;

pub use cipher::PacketCipher;
pub use dh::DhPrivateKey;
pub use error::CryptoError;
pub use keys::{ChildSaKeys, EspKeys, IkeSaKeys, Role, rekey_skeyseed, skeyseed};
pub use prf::Prf;
pub use secret::SecretBytes;
pub use sk::IkeCipher;
pub use suite::{AesKeySize, Encryption, EspSuite, GCM_SALT_LEN, IkeSuite, Integrity};
