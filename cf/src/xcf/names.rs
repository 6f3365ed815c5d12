//! XCF names: group names (GRPNAME, up to 8 characters) and member names (MEMNAME, up to 16).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::XcfError;

/// Checks an XCF name: 1..=`max` characters, an upper-case letter or `$@#` first, then
/// letters, digits and `$@#_`.
fn valid(name: &str, max: usize) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= max
        && (first.is_ascii_uppercase() || "$@#".contains(first))
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "$@#_".contains(c))
}

macro_rules! xcf_name {
    ($(#[$doc:meta])* $name:ident, $max:expr, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(String);

        impl $name {
            /// Longest name allowed.
            pub const MAX_LEN: usize = $max;

            /// Checks and wraps a name.
            pub fn new(name: &str) -> Result<Self, XcfError> {
                if valid(name, $max) {
                    Ok(Self(name.to_owned()))
                } else {
                    Err(XcfError::BadName {
                        kind: $kind,
                        name: name.to_owned(),
                    })
                }
            }

            /// Whether the name (perhaps decoded unchecked) follows the rules.
            pub fn is_valid(&self) -> bool {
                valid(&self.0, $max)
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name padded with blanks to its full length, as XCF passes it.
            pub(crate) fn padded(&self) -> [u8; $max] {
                let mut bytes = [b' '; $max];
                for (slot, byte) in bytes.iter_mut().zip(self.0.bytes()) {
                    *slot = byte;
                }
                bytes
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

xcf_name!(
    /// An XCF group name (IXCJOIN GRPNAME), e.g. `EZBTCPCS`.
    GroupName,
    8,
    "group"
);
xcf_name!(
    /// An XCF member name (IXCJOIN MEMNAME), unique within its group, e.g. `SYSATCPCS`.
    MemberName,
    16,
    "member"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_xcf_group_and_member_names() {
        assert!(GroupName::new("EZBTCPCS").is_ok());
        assert!(GroupName::new("SYS$GRP").is_ok());
        assert!(MemberName::new("SYSATCPCS").is_ok());
        assert!(MemberName::new("ABCDEFGHIJKLMNOP").is_ok());
    }

    #[test]
    fn refuses_names_too_long_lower_case_or_starting_with_a_digit() {
        assert!(GroupName::new("EZBTCPCS1").is_err());
        assert!(GroupName::new("ezbtcpcs").is_err());
        assert!(GroupName::new("").is_err());
        assert!(MemberName::new("1STACK").is_err());
        assert!(MemberName::new("ABCDEFGHIJKLMNOPQ").is_err());
    }

    #[test]
    fn pads_names_with_blanks() {
        let group = GroupName::new("EZBT").unwrap();
        assert_eq!(&group.padded(), b"EZBT    ");
    }
}
