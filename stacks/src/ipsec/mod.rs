//! IPSec in the stack: the SPD (IPSECRULE static filters, protected selectors, dynamic
//! filters), the SAD over [`crate::esp`], the security stage of the packet walk, the glue to
//! the IKE daemon ([`ike::daemon`]), and the `ipsec` displays.

pub mod display;
pub mod flow;
pub mod sad;
pub mod service;
pub mod spd;
pub mod stage;

pub use sad::{ChildCounters, ChildEntry, Sad};
pub use service::{IpsecOptions, IpsecService, protect_rules};
pub use spd::{ClearVerdict, ProtectRule, Spd, Way};
pub use stage::{IpsecCounters, IpsecStage, IpsecState, SadChange};
