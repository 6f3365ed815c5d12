//! The emulated sysplex: a topology file, the embedded lab runner (every LPAR a set of tasks,
//! an in-memory LAN, the CF in-process), its operator console, and the scenarios that drive a
//! lab and print what happened.
//!
//! - [`topology`]: the TOML topology file.
//! - [`lab`]: the embedded runner: start, kill and re-IPL LPARs.
//! - [`console`]: operator commands (`V TCPIP,...`, `D TCPIP,...,NETSTAT,...`, `D XCF,...`,
//!   `ipsec -k|-y|-f display`).
//! - [`clients`]: remote echo clients that reconnect.
//! - [`ipsec`]: IPSec of the LPARs (IPCONFIG IPSECURITY + policy) and remote IPSec hosts.
//! - [`ipsec_hosts`]: N remote IPSec hosts and both sides' policies built in code.
//! - [`scenario`]: `swsa` (SWSA takeover, the default), `swsa-planned`, `dvipa` (takeover and
//!   takeback) and `cf-demo`.
//! - [`streams`]: paced checksummed streams whose arrivals a scenario watches.
//! - [`tap_lab`]: the per-process TAP lab (root), in network namespaces of
//!   [`stacks::lan::netns`].
//! - [`bench`]: the benchmarks `sysplex bench` runs (DVIPA takeover time, TCP over TAP).

pub mod bench;
pub mod clients;
pub mod console;
mod error;
pub mod ipsec;
pub mod ipsec_hosts;
pub mod lab;
pub mod scenario;
pub mod streams;
pub mod tap_lab;
pub mod timeline;
pub mod topology;

pub use error::Error;
