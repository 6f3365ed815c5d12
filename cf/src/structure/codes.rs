//! Return and reason codes, as IXLYCON names them.
//!
//! Return codes and the reason codes 0402, 0404, 0409, 040E, 040F, 0801 and 0804 are z/OS's
//! values. The others keep z/OS's equate names (IXLRSNCODExxx) with values this emulator
//! assigns in the same `xxxx08yy` / `xxxx0Cyy` ranges; the names are what programs test.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An IXLRETCODE value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReturnCode {
    /// 0, IXLRETCODEOK.
    Ok,
    /// 4, IXLRETCODEWARNING: done, with something to note (a restart token, a reconnection).
    Warning,
    /// 8, IXLRETCODEPARMERROR: the request is wrong.
    ParmError,
    /// 0C, IXLRETCODEENVERROR: the request is right but the state does not allow it.
    EnvError,
    /// 10, IXLRETCODECOMPERROR: an error in the CF itself.
    CompError,
}

impl ReturnCode {
    /// The numeric return code.
    pub fn value(self) -> u32 {
        match self {
            Self::Ok => 0,
            Self::Warning => 4,
            Self::ParmError => 8,
            Self::EnvError => 0x0C,
            Self::CompError => 0x10,
        }
    }
}

impl fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X}", self.value())
    }
}

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $equate:literal;)*) => {
        /// An IXLRSNCODE reason, named as in IXLYCON.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum Reason {
            $($(#[$doc])* $name,)*
        }

        impl Reason {
            /// Every reason in the order of its declaration, which numbers it on the wire.
            pub(crate) const ALL: &'static [Reason] = &[$(Self::$name,)*];

            /// The reason code's low halfword, as in `xxxx0409`.
            pub fn value(self) -> u16 {
                match self { $(Self::$name => $value,)* }
            }

            /// The IXLYCON equate symbol.
            pub fn equate(self) -> &'static str {
                match self { $(Self::$name => $equate,)* }
            }
        }
    };
}

reasons! {
    /// No reason (return code 0).
    None = 0x0000, "";
    /// 0402: a synchronous request is completed later (an unconditional lock request queued).
    Asynch = 0x0402, "IXLRSNCODEASYNCH";
    /// 0404: not all data fitted in the answer.
    MoreData = 0x0404, "IXLRSNCODEMOREDATA";
    /// 0409: a multi-entry request ended early; a restart token is returned.
    Timeout = 0x0409, "IXLRSNCODETIMEOUT";
    /// 040E: LOCKOPER=TEST found the lock not held by the connection named.
    LockNotHeld = 0x040E, "IXLRSNCODELOCKNOTHELD";
    /// 040F: the answer buffer filled up; a restart token is returned.
    BufferFull = 0x040F, "IXLRSNCODEBUFFERFULL";
    /// A failed-persistent connection was reconnected under its CONNAME (RC 4).
    ConaReconnected = 0x0410, "IXLRSNCODECONARECONNECTED";
    /// 0801: the parameter list is wrong.
    BadParmList = 0x0801, "IXLRSNCODEBADPARMLIST";
    /// 0804: a version number that is not supported.
    BadVersion = 0x0804, "IXLRSNCODEBADVERSION#";
    /// The list number is not below LISTHEADERS.
    BadListNumber = 0x0810, "IXLRSNCODEBADLISTNUMBER";
    /// The lock index is not below LOCKENTRIES, or the structure has no lock table.
    BadLockIndex = 0x0811, "IXLRSNCODEBADLOCKINDEX";
    /// The data is longer than MAXELEMNUM elements, or the adjunct is not 64 bytes.
    BadBufSize = 0x0812, "IXLRSNCODEBADBUFSIZE";
    /// An attribute on connect is out of range.
    BadAttribute = 0x0813, "IXLRSNCODEBADATTRIBUTE";
    /// A structure or connection name that is not a valid z/OS name.
    BadName = 0x0814, "IXLRSNCODEBADNAME";
    /// The request needs an option the structure was not allocated with (keys, names, adjunct).
    NotSupported = 0x0815, "IXLRSNCODENOTSUPPORTED";
    /// The notification vector bit is beyond VECTORLEN.
    BadVectorIndex = 0x0816, "IXLRSNCODEBADVECTORINDEX";
    /// The located entry does not exist.
    NoEntry = 0x0C01, "IXLRSNCODENOENTRY";
    /// An entry with that name (or user LEID) already exists.
    DupEntry = 0x0C02, "IXLRSNCODEDUPENTRY";
    /// The list authority compare failed; the current authority is returned.
    BadListAuth = 0x0C03, "IXLRSNCODEBADLISTAUTH";
    /// The entry version compare failed; the entry's controls are returned.
    BadEntryVersion = 0x0C04, "IXLRSNCODEVERSIONCOMP";
    /// Assigning LISTKEY (or LISTKEYINC) would pass MAXLISTKEY; nothing was done.
    MaxListKey = 0x0C05, "IXLRSNCODEMAXLISTKEY";
    /// The structure has no free entries, elements or EMCs.
    StrFull = 0x0C06, "IXLRSNCODESTRFULL";
    /// The list is at its limit of entries or elements.
    ListFull = 0x0C07, "IXLRSNCODELISTFULL";
    /// The lock is held (conditional SET or NOTHELD), or held by another (HELDBY).
    LockHeld = 0x0C08, "IXLRSNCODELOCKCOND";
    /// RESET of a lock the connection does not hold.
    LockNotOwned = 0x0C09, "IXLRSNCODELOCKNOTOWNED";
    /// The cursor is 0 (unset) or its entry is gone.
    CursorNotSet = 0x0C0A, "IXLRSNCODENOCURSOR";
    /// The CONTOKEN is unknown, dead, or belongs to another link.
    NotAuthorized = 0x0C0B, "IXLRSNCODEBADCONTOKEN";
    /// The requesting system has been partitioned out of the sysplex (fenced).
    Fenced = 0x0C0C, "IXLRSNCODESYSFENCED";
    /// The connect names an ENTRYIDTYPE (or other fixed attribute) unlike the structure's.
    AttrMismatch = 0x0C0D, "IXLRSNCODEATTRMISMATCH";
    /// The CONNAME is in use by an active connection.
    ConNameInUse = 0x0C0E, "IXLRSNCODECONNAMEINUSE";
    /// All CONIDs (MAXCONN) are in use.
    MaxConnections = 0x0C0F, "IXLRSNCODEMAXCONN";
    /// The structure is not allocated.
    NoStructure = 0x0C10, "IXLRSNCODENOSTRUCTURE";
    /// The named connection is not failed-persistent (release) or does not exist.
    NoConnection = 0x0C11, "IXLRSNCODENOCONN";
    /// The monitor (list or sublist) is not started.
    NotMonitored = 0x0C12, "IXLRSNCODENOTMONITORED";
    /// The structure still has active connections (FORCE).
    StillConnected = 0x0C13, "IXLRSNCODESTRCONNECTED";
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_codes_have_zos_values() {
        let values: Vec<u32> = [
            ReturnCode::Ok,
            ReturnCode::Warning,
            ReturnCode::ParmError,
            ReturnCode::EnvError,
            ReturnCode::CompError,
        ]
        .map(ReturnCode::value)
        .to_vec();
        assert_eq!(values, [0, 4, 8, 0x0C, 0x10]);
        assert_eq!(ReturnCode::EnvError.to_string(), "0C");
    }

    #[test]
    fn documented_reason_codes_keep_their_zos_values() {
        assert_eq!(Reason::Timeout.to_string(), "0409");
        assert_eq!(Reason::LockNotHeld.value(), 0x040E);
        assert_eq!(Reason::BadParmList.equate(), "IXLRSNCODEBADPARMLIST");
    }
}
