//! Names, identifiers and tokens of the CF model: structure, connection and system names, CONID,
//! CONTOKEN, LEID, entry keys and names, the time of day.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A CF link, numbered by the server when the link is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkId(pub u64);

/// Time of day in microseconds, injected by the caller (the model never reads a clock).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Tod(pub u64);

/// Checks a z/OS name: 1..=`max` characters, upper-case letter or `$@#` first, then letters,
/// digits and `$@#_`.
fn valid_zos_name(name: &str, max: usize) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= max
        && (first.is_ascii_uppercase() || "$@#".contains(first))
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "$@#_".contains(c))
}

macro_rules! zos_name {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(String);

        impl $name {
            /// Longest name allowed.
            pub const MAX_LEN: usize = $max;

            /// Checks and wraps a name; `None` when it is not a valid z/OS name of this kind.
            pub fn new(name: &str) -> Option<Self> {
                valid_zos_name(name, $max).then(|| Self(name.to_owned()))
            }

            /// Whether the name (perhaps deserialized unchecked) follows the z/OS rules.
            pub fn is_valid(&self) -> bool {
                valid_zos_name(&self.0, $max)
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

zos_name!(
    /// A structure name (STRNAME): up to 16 characters.
    StrName,
    16
);
zos_name!(
    /// A connection name (CONNAME): up to 16 characters.
    ConName,
    16
);
zos_name!(
    /// A system name (SYSNAME): up to 8 characters.
    SysName,
    8
);

/// A connection identifier (CONID), 1..=MAXCONN, unique among a structure's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConId(pub u8);

impl fmt::Display for ConId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X}", self.0)
    }
}

/// A connect token (CONTOKEN), valid from connect until disconnect or failure.
///
/// Made of the structure's allocation number, a facility-wide connection sequence number, the
/// CONID and the connection version, so it is unique in the sysplex and deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConToken(pub [u8; 16]);

impl ConToken {
    /// Builds a token from its parts.
    pub fn new(structure: u32, sequence: u32, conid: ConId, version: u32) -> Self {
        let mut bytes = [0u8; 16];
        bytes[0..4].copy_from_slice(&structure.to_be_bytes());
        bytes[4..8].copy_from_slice(&sequence.to_be_bytes());
        bytes[8..12].copy_from_slice(&u32::from(conid.0).to_be_bytes());
        bytes[12..16].copy_from_slice(&version.to_be_bytes());
        Self(bytes)
    }

    /// The CONID the token was made for (`None` for bytes no [`ConToken::new`] gives).
    pub fn conid(&self) -> Option<ConId> {
        let [.., a, b, c, d, _, _, _, _] = self.0;
        u8::try_from(u32::from_be_bytes([a, b, c, d]))
            .ok()
            .map(ConId)
    }
}

impl fmt::Display for ConToken {
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

/// A list number (list header index), 0..LISTHEADERS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListNumber(pub u32);

/// A list entry identifier (LEID), 12 bytes. System LEIDs are never reused while the structure
/// lives; user LEIDs (ENTRYIDTYPE=USER) are unique while in use.
/// Its hash is in the `entry_map` module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Leid(pub [u8; 12]);

impl Leid {
    /// The system-assigned LEID with sequence number `n`.
    pub fn system(n: u64) -> Self {
        let mut bytes = [0u8; 12];
        bytes[4..12].copy_from_slice(&n.to_be_bytes());
        Self(bytes)
    }
}

impl fmt::Display for Leid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

/// A 16-byte entry key; keyed lists keep their entries in ascending key order (the order of
/// the bytes, compared as one big-endian number: no call of `memcmp` per comparison).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntryKey(pub [u8; 16]);

impl Ord for EntryKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        u128::from_be_bytes(self.0).cmp(&u128::from_be_bytes(other.0))
    }
}

impl PartialOrd for EntryKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl EntryKey {
    /// The highest key (all ones), the default MAXLISTKEY.
    pub const MAX: Self = Self([0xFF; 16]);

    /// The key one higher, or `None` past the highest key.
    pub fn checked_inc(self) -> Option<Self> {
        u128::from_be_bytes(self.0)
            .checked_add(1)
            .map(|v| Self(v.to_be_bytes()))
    }
}

impl fmt::Display for EntryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

/// A 16-byte entry name, unique within the structure while in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryName(pub [u8; 16]);

impl fmt::Display for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

/// A 16-byte list authority value (starts at zero).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Authority(pub [u8; 16]);

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

/// Identifies a request queued in the CF (an unconditional lock request waiting its turn); the
/// later [`crate::structure::Delivery::Completion`] carries the same ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ticket(pub u64);

fn hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02X}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_zos_structure_names_and_rejects_others() {
        assert!(StrName::new("EZBDVIPA").is_some());
        assert!(StrName::new("IXC_DEFAULT_1").is_some());
        assert!(StrName::new("$SYS@#").is_some());
        assert!(StrName::new("").is_none());
        assert!(StrName::new("1ABC").is_none());
        assert!(StrName::new("lower").is_none());
        assert!(StrName::new("ABCDEFGHIJKLMNOPQ").is_none());
        assert!(SysName::new("SYS00001").is_some());
        assert!(SysName::new("SYS000012").is_none());
    }

    #[test]
    fn contoken_displays_as_four_hex_words() {
        let token = ConToken::new(2, 0x7F50, ConId(3), 1);
        assert_eq!(token.to_string(), "00000002 00007F50 00000003 00000001");
        assert_eq!(token.conid(), Some(ConId(3)));
        assert_eq!(ConToken([0xFF; 16]).conid(), None);
    }

    proptest::proptest! {
        #[test]
        fn entry_keys_order_as_their_bytes(a in proptest::prelude::any::<[u8; 16]>(), b in proptest::prelude::any::<[u8; 16]>()) {
            proptest::prop_assert_eq!(EntryKey(a).cmp(&EntryKey(b)), a.cmp(&b));
        }
    }

    #[test]
    fn entry_key_increment_stops_at_the_highest_key() {
        assert_eq!(EntryKey::MAX.checked_inc(), None);
        let mut one = [0u8; 16];
        one[15] = 1;
        assert_eq!(EntryKey::default().checked_inc(), Some(EntryKey(one)));
    }
}
