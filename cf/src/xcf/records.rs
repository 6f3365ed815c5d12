//! What XCF keeps in its list structure, and how it is encoded in entry data: system records
//! (heartbeats), member records (the group state), and inbox items (group events and
//! messages). Entries can be written by any connector, so decoding checks everything and
//! returns an error instead of trusting the bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::XcfError;
use super::names::{GroupName, MemberName};
use crate::structure::{ListNumber, SysName, Tod};

/// Longest user state (IXCSETUS USTATE), in bytes.
pub const MAX_USER_STATE: usize = 32;

/// A member token (IXCJOIN MEMTOKEN): unique for one incarnation of a member in the sysplex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberToken(pub [u8; 8]);

impl MemberToken {
    /// The token of the `join`th join through the CF connection with connection sequence
    /// number `connection` (unique in the facility).
    pub(crate) fn new(connection: u32, join: u32) -> Self {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&connection.to_be_bytes());
        bytes[4..].copy_from_slice(&join.to_be_bytes());
        Self(bytes)
    }
}

impl fmt::Display for MemberToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, chunk) in self.0.chunks(4).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            for byte in chunk {
                write!(f, "{byte:02X}")?;
            }
        }
        Ok(())
    }
}

/// A member's state, as IXCQUERY reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    /// Joined (IXCJOIN): can send, receive and be monitored.
    Active,
    /// Quiesced (IXCQUIES): still defined but no longer sending or receiving; the name stays
    /// taken until the member joins again.
    Quiesced,
    /// Ended without leaving: its system failed or was partitioned. The name stays taken
    /// until the member joins again.
    Failed,
    /// Not in the group: it left (IXCLEAVE). Only events carry this state.
    NotDefined,
}

impl MemberState {
    /// The word displays use.
    pub fn display_word(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Quiesced => "QUIESCED",
            Self::Failed => "FAILED",
            Self::NotDefined => "NOT-DEFINED",
        }
    }
}

/// One member of one group: the IXCQUERY member information.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// The group.
    pub group: GroupName,
    /// The member name.
    pub member: MemberName,
    /// The system it runs on.
    pub system: SysName,
    /// The job that joined it.
    pub jobname: String,
    /// Its member token.
    pub token: MemberToken,
    /// Active, Quiesced or Failed.
    pub state: MemberState,
    /// Its user state (IXCSETUS), at most [`MAX_USER_STATE`] bytes.
    pub user_state: Vec<u8>,
    /// When it joined.
    pub joined_at: Tod,
    /// When its state or user state last changed.
    pub changed_at: Tod,
    /// The list holding its signals, while it is active.
    pub inbox: Option<ListNumber>,
}

/// A system in the sysplex and its status updates (the couple data set's heartbeat).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemRecord {
    /// SYSNAME.
    pub system: SysName,
    /// When XCF on the system connected to the structure.
    pub connected_at: Tod,
    /// Its last status update (heartbeat).
    pub last_update: Tod,
}

/// What happened to a member, as the group user routine is told (IXCYGEPL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupEventKind {
    /// The member joined (GEMSTATE, new state Active).
    Joined,
    /// The member left (GEMSTATE, new state Not-defined).
    Left,
    /// The member quiesced (GEMSTATE, new state Quiesced).
    Quiesced,
    /// The member failed (GEMSTATE, new state Failed): its system failed or was partitioned.
    Failed,
    /// The member changed its user state (GEUSTATE).
    UserStateChanged,
}

/// IXCYGEPL event codes.
pub mod codes {
    /// GEMSTATE: a member's state changed.
    pub const GEMSTATE: u8 = 1;
    /// GEUSTATE: a member's user state changed.
    pub const GEUSTATE: u8 = 2;
}

/// A group event: the input of a member's group user routine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEvent {
    /// What happened.
    pub kind: GroupEventKind,
    /// The group.
    pub group: GroupName,
    /// The member it happened to.
    pub member: MemberName,
    /// That member's system.
    pub system: SysName,
    /// That member's token.
    pub token: MemberToken,
    /// Its state after the event.
    pub state: MemberState,
    /// Its user state after the event.
    pub user_state: Vec<u8>,
    /// When it happened.
    pub at: Tod,
}

impl GroupEvent {
    /// The IXCYGEPL event code: [`codes::GEMSTATE`] or [`codes::GEUSTATE`].
    pub fn code(&self) -> u8 {
        match self.kind {
            GroupEventKind::UserStateChanged => codes::GEUSTATE,
            GroupEventKind::Joined
            | GroupEventKind::Left
            | GroupEventKind::Quiesced
            | GroupEventKind::Failed => codes::GEMSTATE,
        }
    }
}

/// A signal received by a member (IXCMSGI).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sending member.
    pub from: MemberName,
    /// The sender's system.
    pub system: SysName,
    /// The sender's token.
    pub token: MemberToken,
    /// The message.
    pub data: Vec<u8>,
}

/// One entry of a member's inbox list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum InboxItem {
    /// A group event for the member.
    Event(GroupEvent),
    /// A message for the member incarnation with token `to`.
    Message {
        /// The addressee's token (a message for an earlier incarnation is dropped).
        to: MemberToken,
        /// The message.
        message: Message,
    },
}

/// Encodes a record as entry data.
pub(crate) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Encoding records of owned strings and vectors into a Vec cannot fail.
    postcard::to_allocvec(record).unwrap_or_default()
}

/// A record whose contents can be checked after decoding.
pub trait Checked: Sized + for<'de> Deserialize<'de> {
    /// Whether the decoded names and sizes are acceptable.
    fn is_sound(&self) -> bool;

    /// Decodes entry data written by any connector.
    fn decode(bytes: &[u8]) -> Result<Self, XcfError> {
        let record: Self = postcard::from_bytes(bytes)
            .map_err(|e| XcfError::Corrupt(format!("undecodable XCF record: {e}")))?;
        if record.is_sound() {
            Ok(record)
        } else {
            Err(XcfError::Corrupt("XCF record with invalid contents".into()))
        }
    }
}

impl Checked for MemberRecord {
    fn is_sound(&self) -> bool {
        self.group.is_valid()
            && self.member.is_valid()
            && self.system.is_valid()
            && self.user_state.len() <= MAX_USER_STATE
            && (self.inbox.is_some() == (self.state == MemberState::Active))
    }
}

impl Checked for SystemRecord {
    fn is_sound(&self) -> bool {
        self.system.is_valid()
    }
}

impl Checked for InboxItem {
    fn is_sound(&self) -> bool {
        match self {
            Self::Event(e) => {
                e.group.is_valid()
                    && e.member.is_valid()
                    && e.system.is_valid()
                    && e.user_state.len() <= MAX_USER_STATE
            }
            Self::Message { message, .. } => {
                message.from.is_valid()
                    && message.system.is_valid()
                    && message.data.len() <= super::MAX_MESSAGE
            }
        }
    }
}

/// Decodes arbitrary bytes as each kind of XCF record (for fuzzing: must never panic).
pub fn decode_any(bytes: &[u8]) -> [bool; 3] {
    [
        MemberRecord::decode(bytes).is_ok(),
        SystemRecord::decode(bytes).is_ok(),
        InboxItem::decode(bytes).is_ok(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> MemberRecord {
        MemberRecord {
            group: GroupName::new("EZBTCPCS").unwrap(),
            member: MemberName::new("SYSATCPCS").unwrap(),
            system: SysName::new("SYSA").unwrap(),
            jobname: "TCPCS".into(),
            token: MemberToken::new(1, 1),
            state: MemberState::Active,
            user_state: vec![1, 2],
            joined_at: Tod(5),
            changed_at: Tod(5),
            inbox: Some(ListNumber(2)),
        }
    }

    #[test]
    fn member_records_round_trip() {
        let r = record();
        assert_eq!(MemberRecord::decode(&encode(&r)).unwrap(), r);
    }

    #[test]
    fn refuses_records_with_invalid_names_or_state() {
        let mut r = record();
        r.inbox = None;
        assert!(MemberRecord::decode(&encode(&r)).is_err());
        let bad = MemberRecord {
            user_state: vec![0; MAX_USER_STATE + 1],
            ..record()
        };
        assert!(MemberRecord::decode(&encode(&bad)).is_err());
        assert!(MemberRecord::decode(b"\xff\xff\xff").is_err());
    }

    #[test]
    fn event_codes_follow_ixcygepl() {
        let event = GroupEvent {
            kind: GroupEventKind::UserStateChanged,
            group: GroupName::new("EZBTCPCS").unwrap(),
            member: MemberName::new("SYSATCPCS").unwrap(),
            system: SysName::new("SYSA").unwrap(),
            token: MemberToken::new(1, 1),
            state: MemberState::Active,
            user_state: vec![],
            at: Tod(0),
        };
        assert_eq!(event.code(), codes::GEUSTATE);
        let joined = GroupEvent {
            kind: GroupEventKind::Joined,
            ..event
        };
        assert_eq!(joined.code(), codes::GEMSTATE);
    }

    #[test]
    fn member_token_displays_as_two_hex_words() {
        assert_eq!(MemberToken::new(0x7F, 3).to_string(), "0000007F 00000003");
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(0u8.., 0..256)
        ) {
            let _ = decode_any(&bytes);
        }
    }
}
