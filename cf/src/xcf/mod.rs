//! XCF group services on a CF list structure: members join and leave groups, see each other's
//! joins, leaves, failures and user states in one order, and send each other messages.
//!
//! z/OS can signal through CF list structures (the IXC* signalling structures); here one list
//! structure, [`XCF_STRUCTURE`] (`IXCGRPSVCS`), holds all of XCF's sysplex-wide state:
//!
//! ```text
//!  list 0         systems: one entry per system, its last status update (heartbeat)
//!  list 1         members: one entry per member of every group, keyed by group name
//!                 (Active, Quiesced or Failed, user state, member token, system, join time)
//!  lists 2..514   inboxes: one per active member; group events and messages, FIFO
//!  lock 0         XCF serialization: held while a join, leave, user state change or
//!                 failure cleanup reads the members and writes the events
//! ```
//!
//! Each system's XCF is one connector ([`Xcf`]), named after the system (CONNAME = SYSNAME).
//! It monitors the inboxes of its members with its list notification vector (MONITOR_LIST,
//! DRIVEEXIT=YES): when an inbox goes empty→nonempty the CF drives the list transition exit,
//! XCF tests the vector and moves the inbox items to the member ([`Member::recv`]); nothing
//! polls. Group events are written under the serialization lock, so every member sees them
//! in the same order; messages go straight to the target's inbox, so two members' messages
//! arrive in the order they were sent (DELIVERMSG=ORDERED per sender-target pair).
//!
//! **Failure detection** has two paths, both ending in the CF failing the system's
//! connection, which every other XCF hears as a failed-connection event and answers by
//! marking the system's members Failed (with GEMSTATE events to the rest of each group):
//! 1. a system whose CF link drops (a stack that dies) is failed at once;
//! 2. a system whose status updates stop (a stack that hangs) is partitioned after INTERVAL:
//!    the CF fences it, refusing its later requests ([`XcfError::Fenced`]), so a hung system
//!    cannot keep writing after its work moved.
//!
//! INTERVAL is the CF's setting ([`crate::server::Config::interval`], `cfsrv --interval`),
//! told to every connector when its link opens; XCF updates its status four times per
//! INTERVAL. On z/OS the effective failure detection interval is the larger of the user
//! INTERVAL (COUPLExx) and the one derived from the spin loop timeouts, typically **165 s**
//! ([`crate::server::ZOS_DEFAULT_INTERVAL`]); labs use a few seconds
//! ([`crate::server::LAB_DEFAULT_INTERVAL`], 3 s) so a hung stack is partitioned quickly.
//!
//! Not modelled: the Created member state (IXCCREAT) and IXCDELET, member status
//! monitoring (status exits, GEMSUMSE), responses to messages (CANREPLY), messages over 61 KB.

mod cfops;
mod display;
mod error;
mod group;
mod names;
mod records;
mod service;

use std::time::Duration;

pub use display::{display_group, display_group_members, display_groups};
pub use error::XcfError;
pub use names::{GroupName, MemberName};
pub use records::{
    GroupEvent, GroupEventKind, MAX_USER_STATE, MemberRecord, MemberState, MemberToken, Message,
    SystemRecord, codes, decode_any,
};
pub use service::{Member, MemberEvent, Xcf};

use crate::structure::StrName;

/// The name of the XCF structure.
pub const XCF_STRUCTURE: &str = "IXCGRPSVCS";

/// Largest message (IXCMSGO), in bytes: 61 KB, as XCF allows without GT61KMSG.
pub const MAX_MESSAGE: usize = 62_464;

/// Most members the structure holds at once (one inbox list each).
pub const MAX_MEMBERS: u32 = 512;

/// How XCF on one system runs.
#[derive(Clone, Debug)]
pub struct XcfConfig {
    /// The XCF structure.
    pub structure: StrName,
    /// How often XCF updates its status (heartbeats); `None`: four times per INTERVAL.
    pub status_update: Option<Duration>,
}

impl Default for XcfConfig {
    fn default() -> Self {
        Self {
            structure: StrName::new(XCF_STRUCTURE).expect("IXCGRPSVCS is a valid structure name"),
            status_update: None,
        }
    }
}
