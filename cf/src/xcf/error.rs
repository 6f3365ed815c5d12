//! Why an XCF group service failed.

use super::names::{GroupName, MemberName};
use crate::structure::{Reason, ReturnCode, SysName};

/// An XCF group service refused or failed; wrapped by [`crate::Error::Xcf`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XcfError {
    /// A group or member name that XCF does not accept.
    #[error("invalid XCF {kind} name {name:?}")]
    BadName {
        /// "group" or "member".
        kind: &'static str,
        /// The name given.
        name: String,
    },
    /// IXCJOIN of a member name that is active in the group.
    #[error("member {member} is already active in group {group}")]
    MemberExists {
        /// The group.
        group: GroupName,
        /// The member.
        member: MemberName,
    },
    /// The member is not active in the group (it left, failed, or never joined).
    #[error("member {member} is not active in group {group}")]
    NotActive {
        /// The group.
        group: GroupName,
        /// The member.
        member: MemberName,
    },
    /// Every inbox list of the XCF structure is taken (IXC700E: too many members).
    #[error("XCF structure full: all {members} member inboxes are in use")]
    NoInbox {
        /// How many members the structure holds.
        members: usize,
    },
    /// IXCSETUS with more than 32 bytes of user state.
    #[error("user state of {len} bytes exceeds 32")]
    UserStateTooLarge {
        /// Its length.
        len: usize,
    },
    /// IXCMSGO of a message over 62 464 bytes (61 KB).
    #[error("message of {len} bytes exceeds the XCF limit of 62464 bytes")]
    MessageTooLarge {
        /// Its length.
        len: usize,
    },
    /// This system was partitioned out of the sysplex: the CF refuses its requests (IXC220W).
    #[error("system partitioned out of the sysplex; the CF fences its requests")]
    Fenced,
    /// XCF is already connected to the structure on this system.
    #[error("XCF is already active on system {0}")]
    AlreadyActive(SysName),
    /// The CF refused a request XCF made.
    #[error("CF request failed: RC {rc} reason {reason}")]
    Cf {
        /// The return code.
        rc: ReturnCode,
        /// The reason code.
        reason: Reason,
    },
    /// An entry of the XCF structure does not hold a valid record.
    #[error("{0}")]
    Corrupt(String),
}
