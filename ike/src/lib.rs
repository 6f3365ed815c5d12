//! A sans-IO IKEv2 (RFC 7296) for the emulated sysplex: wire codec, crypto suites, IKE SA and
//! CHILD SA state machines, IPSec policy, and the sysplex-wide security association (SWSA)
//! restart records. Bytes in, bytes and actions out; the clock and the random source are
//! injected, so exchanges are reproducible in tests.

pub mod crypto;
pub mod daemon;
mod error;
pub mod policy;
pub mod sa;
pub mod swsa;
pub mod wire;

pub use error::Error;
