//! TCP/IP stacks as emulated LPARs: a smoltcp interface per stack behind a datapath that owns
//! the LAN port and the dynamic XCF links, PROFILE.TCPIP, DVIPA ownership and the displays.

pub mod apps;
pub mod datapath;
pub mod distributor;
pub mod dvipa;
mod error;
pub mod esp;
pub mod group_signal;
pub mod ipsec;
pub mod lan;
pub mod netstat;
pub mod profile;
pub mod stack;
pub mod swsa;

pub use error::Error;
