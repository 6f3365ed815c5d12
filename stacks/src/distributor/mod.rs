//! The Sysplex Distributor, sans IO: the distributing stack's DPT and CRT, target selection by
//! DISTMETHOD, the routing decision for each inbound packet to a distributed DVIPA and port, the
//! targets' side, takeover rebuild from target answers, and NETSTAT VDPT and VCRT.
//!
//! - [`config`]: the VIPADISTRIBUTEs in effect.
//! - [`dpt`]: the destination port table.
//! - [`crt`]: the connection routing table and timed affinities.
//! - [`select`]: one pure function per DISTMETHOD.
//! - [`packet`]: reading the IPv4 and TCP headers of inbound packets.
//! - [`core`]: the [`Distributor`]: reports in, [`Deliver`] decisions out, rebuild.
//! - [`target`]: a target stack's own CRT, its reports and its answer.
//! - [`signal`]: the XCF messages between targets and distributors, and their encoding.
//! - [`display`]: NETSTAT VDPT and VCRT.
//! - [`stage`]: the datapath stage around the distributor and the target table.
//! - [`agent`]: the stack's part as distributor and target, sans-IO (events in, actions out).

pub mod agent;
pub mod config;
pub mod core;
pub mod crt;
pub mod display;
pub mod dpt;
pub mod packet;
pub mod select;
pub mod signal;
pub mod stage;
pub mod target;

pub use self::core::{Deliver, Distributor, DropReason, RebuildStats};
pub use agent::{SdAction, SdAgent, SdEvent};
pub use config::DistConfig;
pub use signal::{ListenerReport, SdSignal, TargetAnswer};
pub use stage::{DistributorStage, SharedSd};
pub use target::TargetTable;
