//! The emulated sysplex: scenarios that drive a lab and print what happened.
//!
//! Until the TCP/IP stacks join, the one scenario is the coupling facility demonstration
//! ([`scenario::cf_demo`]): a CF server on loopback, two connectors on two systems, list
//! writes, monitoring, lock contention, a failed connection, a dump and the displays.

pub mod scenario;
pub mod timeline;
