//! The z/OS console messages of DVIPA movement and of `V TCPIP,,SYSPLEX` commands.
//!
//! Texts follow the IP Messages volume as far as research could verify them: EZZ8301I (takeover
//! after a failure or a deactivation), EZZ8302I (taken back by the returning owner), EZZ8303I
//! (given back by the holder), EZD1197I (SYSPLEX command completed). The texts of the refusals
//! and of the group join/leave messages are reconstructed and may differ in wording from z/OS.

use std::fmt;
use std::net::Ipv4Addr;

use super::model::StackId;

/// One console message of the DVIPA manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleMessage {
    /// EZZ8301I: this stack took the DVIPA over from a stack that failed, left the group or
    /// deactivated it.
    TakenOver {
        /// The DVIPA.
        addr: Ipv4Addr,
        /// The stack that held it.
        from: StackId,
    },
    /// EZZ8302I: this stack, the DVIPA's VIPADEFINE owner, took it back.
    TakenBack {
        /// The DVIPA.
        addr: Ipv4Addr,
        /// The stack that held it.
        from: StackId,
    },
    /// EZZ8303I: this stack gave the DVIPA back to its VIPADEFINE owner.
    GivenTo {
        /// The DVIPA.
        addr: Ipv4Addr,
        /// The owner.
        to: StackId,
    },
    /// EZD1197I: a `V TCPIP,,SYSPLEX` command completed.
    CommandCompleted {
        /// The command word (`DEACTIVATE,DVIPA`, `REACTIVATE,DVIPA`, `LEAVEGROUP`,
        /// `JOINGROUP`).
        command: &'static str,
    },
    /// EZD1198I: a `V TCPIP,,SYSPLEX` command failed, with the reason.
    CommandFailed {
        /// The command word.
        command: &'static str,
        /// Why, in console words.
        reason: String,
    },
    /// EZD1176I: the stack joined its sysplex group.
    JoinedGroup {
        /// The stack's name.
        tcpname: String,
        /// The XCF group.
        group: String,
    },
    /// EZD1175I: the stack left its sysplex group.
    LeftGroup {
        /// The stack's name.
        tcpname: String,
        /// The XCF group.
        group: String,
    },
}

impl ConsoleMessage {
    /// The message ID.
    pub fn id(&self) -> &'static str {
        match self {
            Self::TakenOver { .. } => "EZZ8301I",
            Self::TakenBack { .. } => "EZZ8302I",
            Self::GivenTo { .. } => "EZZ8303I",
            Self::CommandCompleted { .. } => "EZD1197I",
            Self::CommandFailed { .. } => "EZD1198I",
            Self::JoinedGroup { .. } => "EZD1176I",
            Self::LeftGroup { .. } => "EZD1175I",
        }
    }
}

impl fmt::Display for ConsoleMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id();
        match self {
            Self::TakenOver { addr, from } => write!(f, "{id} VIPA {addr} TAKEN OVER FROM {from}"),
            Self::TakenBack { addr, from } => write!(f, "{id} VIPA {addr} TAKEN FROM {from}"),
            Self::GivenTo { addr, to } => write!(f, "{id} VIPA {addr} GIVEN TO {to}"),
            Self::CommandCompleted { command } => write!(
                f,
                "{id} THE VARY TCPIP,,SYSPLEX,{command} COMMAND COMPLETED SUCCESSFULLY"
            ),
            Self::CommandFailed { command, reason } => write!(
                f,
                "{id} THE VARY TCPIP,,SYSPLEX,{command} COMMAND FAILED: {reason}"
            ),
            Self::JoinedGroup { tcpname, group } => write!(
                f,
                "{id} {tcpname} HAS SUCCESSFULLY JOINED THE TCP/IP SYSPLEX GROUP {group}"
            ),
            Self::LeftGroup { tcpname, group } => {
                write!(
                    f,
                    "{id} {tcpname} HAS LEFT THE TCP/IP SYSPLEX GROUP {group}"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_takeover_message_with_stack_and_system() {
        let message = ConsoleMessage::TakenOver {
            addr: Ipv4Addr::new(198, 51, 100, 30),
            from: StackId::new("SYS1", "TCPCS"),
        };
        assert_eq!(
            message.to_string(),
            "EZZ8301I VIPA 198.51.100.30 TAKEN OVER FROM TCPCS ON SYS1"
        );
    }

    #[test]
    fn prints_command_completion() {
        let message = ConsoleMessage::CommandCompleted {
            command: "DEACTIVATE,DVIPA",
        };
        assert_eq!(
            message.to_string(),
            "EZD1197I THE VARY TCPIP,,SYSPLEX,DEACTIVATE,DVIPA COMMAND COMPLETED SUCCESSFULLY"
        );
    }
}
