//! The console messages that profile processing writes, with the z/OS message IDs and texts
//! of IP Messages Volume 4 (EZZ). A message is a value: profile processing goes on after it.

use std::fmt;
use std::net::IpAddr;

/// What profile processing did about the condition a message reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The statement was accepted; part of it was ignored (a warning).
    Warning,
    /// One entry (an address of a list) was ignored; the rest of the statement was applied.
    EntryIgnored,
    /// The statement was rejected; processing went on with the next statement.
    StatementRejected,
    /// The statement and the rest of its VIPADYNAMIC block were ignored.
    RestOfBlockIgnored,
}

/// The condition a message reports, with the values its text shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// EZZ0401I: a token that the statement grammar does not allow at that place.
    SyntaxError {
        /// The profile data set or file name.
        file: String,
        /// The token where parsing stopped.
        token: String,
    },
    /// EZZ0165I: DESTIP ALL on a VIPADISTRIBUTE with DISTMETHOD HOTSTANDBY.
    DestIpAllWithHotStandby,
    /// EZZ0826I: HOTSTANDBY without any PREFERRED or BACKUP target.
    HotStandbyRolesMissing,
    /// EZZ0827I: HOTSTANDBY without exactly one PREFERRED and at least one BACKUP.
    HotStandbyRolesInvalid,
    /// EZZ0829I: HOTSTANDBY with more than 31 BACKUP targets.
    HotStandbyTooManyBackups,
    /// EZZ0799I: WEIGHT on a VIPADISTRIBUTE whose DISTMETHOD is not WEIGHTEDACTIVE.
    WeightIgnored,
    /// EZZ0831I: a keyword that is valid only with DISTMETHOD HOTSTANDBY.
    KeywordNeedsHotStandby {
        /// The keyword (PREFERRED, BACKUP, AUTOSWITCHBACK, HEALTHSWITCH or their NO forms).
        keyword: String,
    },
    /// EZZ8307I: a VIPADEFINE or VIPABACKUP address already in HOME or IPCONFIG DYNAMICXCF.
    AlreadyDefined {
        /// The rejected address.
        address: IpAddr,
    },
    /// EZZ9654I: an IPv6 VIPADEFINE rejected for the reason the previous message gives.
    VipaDefineRejected {
        /// The DVIPA interface name of the statement.
        interface: String,
    },
    /// EZZ0638I: the permanent loopback address on a VIPADYNAMIC statement.
    LoopbackInVipa {
        /// The statement (VIPADEFINE, VIPABACKUP, VIPARANGE, VIPADELETE, VIPADISTRIBUTE).
        statement: &'static str,
    },
    /// EZZ0344I: the permanent loopback address in the HOME list.
    LoopbackInHome,
    /// EZZ0707I: two mutually exclusive keywords on one statement.
    MutuallyExclusive {
        /// The first keyword.
        first: &'static str,
        /// The second keyword.
        second: &'static str,
        /// The statement that carries both.
        statement: &'static str,
    },
}

impl MessageKind {
    /// The z/OS message ID.
    pub fn id(&self) -> &'static str {
        match self {
            Self::SyntaxError { .. } => "EZZ0401I",
            Self::DestIpAllWithHotStandby => "EZZ0165I",
            Self::HotStandbyRolesMissing => "EZZ0826I",
            Self::HotStandbyRolesInvalid => "EZZ0827I",
            Self::HotStandbyTooManyBackups => "EZZ0829I",
            Self::WeightIgnored => "EZZ0799I",
            Self::KeywordNeedsHotStandby { .. } => "EZZ0831I",
            Self::AlreadyDefined { .. } => "EZZ8307I",
            Self::VipaDefineRejected { .. } => "EZZ9654I",
            Self::LoopbackInVipa { .. } => "EZZ0638I",
            Self::LoopbackInHome => "EZZ0344I",
            Self::MutuallyExclusive { .. } => "EZZ0707I",
        }
    }
}

/// One console message of profile processing (also what `V TCPIP,,SYNTAXCHECK` shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The condition and the values in the text.
    pub kind: MessageKind,
    /// The profile line the message is about (1-based).
    pub line: u32,
    /// What processing did about it.
    pub action: Action,
}

impl Message {
    /// A message about `line`.
    pub fn new(kind: MessageKind, line: u32, action: Action) -> Self {
        Self { kind, line, action }
    }

    /// The z/OS message ID, e.g. `EZZ0165I`.
    pub fn id(&self) -> &'static str {
        self.kind.id()
    }

    /// Whether the message reports more than a warning.
    pub fn is_error(&self) -> bool {
        self.action != Action::Warning
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        write!(f, "{} ", self.id())?;
        match &self.kind {
            MessageKind::SyntaxError { file, token } => {
                write!(
                    f,
                    "SYNTAX ERROR IN FILE: {file} ON LINE: {line} AT: '{token}'"
                )
            }
            MessageKind::DestIpAllWithHotStandby => write!(
                f,
                "VIPADISTRIBUTE PARAMETER DESTIP ALL ON LINE {line} \
                 CANNOT BE SPECIFIED WHEN DISTMETHOD IS HOTSTANDBY"
            ),
            MessageKind::HotStandbyRolesMissing => f.write_str(
                "PREFERRED AND BACKUP PARAMETERS ARE REQUIRED ON THE VIPADISTRIBUTE \
                 STATEMENT WHEN DISTMETHOD IS HOTSTANDBY",
            ),
            MessageKind::HotStandbyRolesInvalid => f.write_str(
                "EXACTLY ONE PREFERRED AND AT LEAST ONE BACKUP ARE REQUIRED \
                 ON THE VIPADISTRIBUTE STATEMENT WHEN DISTMETHOD IS HOTSTANDBY",
            ),
            MessageKind::HotStandbyTooManyBackups => f.write_str(
                "MORE THAN 31 BACKUPS WERE SPECIFIED ON THE VIPADISTRIBUTE \
                 STATEMENT WHEN DISTMETHOD IS HOTSTANDBY",
            ),
            MessageKind::WeightIgnored => {
                f.write_str("VIPADISTRIBUTE WEIGHT IGNORED WHEN DISTMETHOD IS NOT WEIGHTEDACTIVE")
            }
            MessageKind::KeywordNeedsHotStandby { keyword } => write!(
                f,
                "VIPADISTRIBUTE {keyword} ON LINE {line} \
                 IS NOT VALID BECAUSE THE SPECIFIED DISTMETHOD IS NOT HOTSTANDBY"
            ),
            MessageKind::AlreadyDefined { address } => write!(f, "{address} IS ALREADY DEFINED"),
            MessageKind::VipaDefineRejected { interface } => {
                write!(f, "VIPADEFINE {interface} WAS REJECTED")
            }
            MessageKind::LoopbackInVipa { statement } => write!(
                f,
                "PERMANENT LOOPBACK ADDRESS 127.0.0.1 SPECIFIED ON LINE {line} \
                 CANNOT BE USED IN A {statement} STATEMENT"
            ),
            MessageKind::LoopbackInHome => write!(
                f,
                "Permanent loopback address 127.0.0.1 specified on line {line} \
                 cannot be added to the HOME list"
            ),
            MessageKind::MutuallyExclusive {
                first,
                second,
                statement,
            } => write!(
                f,
                "{first} AND {second} ARE MUTUALLY EXCLUSIVE ON SAME {statement} STATEMENT \
                 - STATEMENT IS IGNORED"
            ),
        }
    }
}

impl std::error::Error for Message {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destip_all_text_names_the_line() {
        let message = Message::new(
            MessageKind::DestIpAllWithHotStandby,
            12,
            Action::StatementRejected,
        );
        assert_eq!(
            message.to_string(),
            "EZZ0165I VIPADISTRIBUTE PARAMETER DESTIP ALL ON LINE 12 \
             CANNOT BE SPECIFIED WHEN DISTMETHOD IS HOTSTANDBY"
        );
    }

    #[test]
    fn syntax_error_quotes_the_token() {
        let kind = MessageKind::SyntaxError {
            file: "SYS1.TCPPARMS(PROF1)".into(),
            token: "WEIGHTX".into(),
        };
        let message = Message::new(kind, 7, Action::StatementRejected);
        assert_eq!(
            message.to_string(),
            "EZZ0401I SYNTAX ERROR IN FILE: SYS1.TCPPARMS(PROF1) ON LINE: 7 AT: 'WEIGHTX'"
        );
    }

    #[test]
    fn weight_ignored_is_only_a_warning() {
        let message = Message::new(MessageKind::WeightIgnored, 3, Action::Warning);
        assert!(!message.is_error());
        assert_eq!(message.id(), "EZZ0799I");
    }
}
