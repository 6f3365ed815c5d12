//! The data the DVIPA manager works on: each stack's VIPADEFINE / VIPABACKUP configuration as
//! exchanged over XCF, the identity of a stack in the sysplex, statuses, origins and times.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use crate::profile::{self, VipaDynamic};

/// When a returning VIPADEFINE owner takes its DVIPA back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Moveable {
    /// MOVEABLE IMMEDIATE: at once; the old holder keeps its connections (Moving).
    Immediate,
    /// MOVEABLE WHENIDLE: once the holder has no connections to the DVIPA.
    WhenIdle,
}

impl Moveable {
    /// The word NETSTAT VIPADCFG prints (`Immediate`, `WhenIdle`).
    pub fn netstat_word(self) -> &'static str {
        match self {
            Self::Immediate => "Immediate",
            Self::WhenIdle => "WhenIdle",
        }
    }
}

impl From<profile::Moveable> for Moveable {
    fn from(moveable: profile::Moveable) -> Self {
        match moveable {
            profile::Moveable::Immediate => Self::Immediate,
            profile::Moveable::WhenIdle => Self::WhenIdle,
        }
    }
}

/// How a stack is configured for one DVIPA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigRole {
    /// VIPADEFINE: the normal owner.
    Define {
        /// The takeback mode.
        moveable: Moveable,
    },
    /// VIPABACKUP: takes over when the owner goes; higher ranks first.
    Backup {
        /// 1..=254.
        rank: u8,
        /// With MOVEABLE the backup also activates the DVIPA at startup when it is active
        /// nowhere else.
        moveable: Option<Moveable>,
    },
}

impl ConfigRole {
    /// The rank in the takeover order: VIPADEFINE ranks above every backup (255, as
    /// `D TCPIP,,SYSPLEX,VIPADYN` shows it).
    pub fn rank(self) -> u8 {
        match self {
            Self::Define { .. } => 255,
            Self::Backup { rank, .. } => rank,
        }
    }
}

/// One configured DVIPA of a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DvipaEntry {
    /// The DVIPA.
    pub addr: Ipv4Addr,
    /// Its subnet prefix length (from the statement's mask; 32 when none was coded).
    pub prefix_len: u8,
    /// VIPADEFINE or VIPABACKUP.
    pub role: ConfigRole,
}

/// A stack's DVIPA configuration (its VIPADEFINE and VIPABACKUP lists), as exchanged over
/// XCF. An address appears once: a later statement for the same address replaces an earlier
/// one, and VIPADELETE removes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DvipaConfig {
    /// The entries in address order.
    pub entries: Vec<DvipaEntry>,
}

impl DvipaConfig {
    /// The IPv4 VIPADEFINE / VIPABACKUP configuration of a profile's VIPADYNAMIC blocks.
    pub fn from_profile(vipa: &VipaDynamic) -> Self {
        let mut entries = std::collections::BTreeMap::new();
        for define in &vipa.defines {
            for addr in &define.addresses {
                let role = ConfigRole::Define {
                    moveable: define.moveable.into(),
                };
                entries.insert(*addr, (define.line, define.prefix_len, role));
            }
        }
        for backup in &vipa.backups {
            for addr in &backup.addresses {
                let role = ConfigRole::Backup {
                    rank: backup.rank,
                    moveable: backup.moveable.map(Moveable::from),
                };
                let prefix = backup.prefix_len.unwrap_or(32);
                let later = entries
                    .get(addr)
                    .is_none_or(|(line, _, _)| *line < backup.line);
                if later {
                    entries.insert(*addr, (backup.line, prefix, role));
                }
            }
        }
        for delete in &vipa.deletes {
            entries.remove(&delete.address);
        }
        Self {
            entries: entries
                .into_iter()
                .map(|(addr, (_, prefix_len, role))| DvipaEntry {
                    addr,
                    prefix_len,
                    role,
                })
                .collect(),
        }
    }

    /// The entry for `addr`, if configured.
    pub fn entry(&self, addr: Ipv4Addr) -> Option<&DvipaEntry> {
        self.entries.iter().find(|entry| entry.addr == addr)
    }
}

/// A TCP/IP stack of the sysplex: its XCF member name and the names consoles print.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StackId {
    /// The XCF member name: the MVS system name followed by the TCP/IP name (`SYS1TCPCS`).
    pub member: String,
    /// The TCP/IP stack's name (`TCPCS`).
    pub tcpname: String,
    /// The MVS system name (`SYS1`).
    pub sysname: String,
}

impl StackId {
    /// The stack `tcpname` on system `sysname`, with the member name XCF uses.
    pub fn new(sysname: &str, tcpname: &str) -> Self {
        Self {
            member: format!("{sysname}{tcpname}"),
            tcpname: tcpname.to_owned(),
            sysname: sysname.to_owned(),
        }
    }
}

impl fmt::Display for StackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ON {}", self.tcpname, self.sysname)
    }
}

/// The status of a DVIPA on one stack (NETSTAT VIPADYN `Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DvipaStatus {
    /// Owned and advertised here.
    Active,
    /// Configured as a backup (or a VIPADEFINE waiting for its holder to give it back).
    Backup,
    /// Given back to its owner; kept here only for connections that were open then.
    Moving,
    /// Deactivated by `V TCPIP,,SYSPLEX,DEACTIVATE`.
    Deactivated,
}

impl DvipaStatus {
    /// The word NETSTAT VIPADYN prints.
    pub fn netstat_word(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Backup => "Backup",
            Self::Moving => "Moving",
            Self::Deactivated => "Deactivated",
        }
    }

    /// The word `D TCPIP,,SYSPLEX,VIPADYN` prints.
    pub fn console_word(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Backup => "BACKUP",
            Self::Moving => "MOVING",
            Self::Deactivated => "DEACTIVATED",
        }
    }
}

/// How a stack came to hold a DVIPA (NETSTAT VIPADYN `Origin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// From its VIPADEFINE.
    VipaDefine,
    /// From its VIPABACKUP.
    VipaBackup,
}

impl Origin {
    /// The word NETSTAT VIPADYN prints.
    pub fn netstat_word(self) -> &'static str {
        match self {
            Self::VipaDefine => "VIPADefine",
            Self::VipaBackup => "VIPABackup",
        }
    }
}

impl From<ConfigRole> for Origin {
    fn from(role: ConfigRole) -> Self {
        match role {
            ConfigRole::Define { .. } => Self::VipaDefine,
            ConfigRole::Backup { .. } => Self::VipaBackup,
        }
    }
}

/// A wall-clock time in whole seconds since 1970-01-01 00:00:00 UTC (injected, never read
/// from the system by the sans-IO core).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActTime(pub u64);

impl ActTime {
    /// `hh:mm:ss`, as the NETSTAT header prints it.
    pub fn clock(self) -> String {
        let secs = self.0 % 86_400;
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }

    /// `MM/DD/YYYY hh:mm:ss`, as NETSTAT VIPADYN prints ActTime.
    pub fn date_time(self) -> String {
        let (year, month, day) = civil_from_days(self.0 / 86_400);
        format!("{month:02}/{day:02}/{year:04} {}", self.clock())
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A TCP connection on a DVIPA, by its two sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnKey {
    /// The local socket (the DVIPA and the server's port).
    pub local: SocketAddrV4,
    /// The foreign socket (the client).
    pub foreign: SocketAddrV4,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_act_time_as_netstat_does() {
        // 2012-06-30 18:27:14 UTC, the date of the IBM example.
        assert_eq!(ActTime(1_341_080_834).date_time(), "06/30/2012 18:27:14");
        assert_eq!(ActTime(0).date_time(), "01/01/1970 00:00:00");
        assert_eq!(ActTime(951_782_400).date_time(), "02/29/2000 00:00:00");
    }

    #[test]
    fn builds_the_config_from_the_fixture_profiles() {
        let text = include_str!("../../../fixtures/profiles/dvipa-backup1.tcpip");
        let parsed = profile::parse("dvipa-backup1.tcpip", text);
        let config = DvipaConfig::from_profile(&parsed.profile.vipa_dynamic);
        assert_eq!(
            config.entries,
            vec![DvipaEntry {
                addr: Ipv4Addr::new(198, 51, 100, 30),
                prefix_len: 32,
                role: ConfigRole::Backup {
                    rank: 150,
                    moveable: Some(Moveable::Immediate)
                },
            }]
        );
    }

    #[test]
    fn vipadelete_removes_a_configured_dvipa() {
        let text = "VIPADYNAMIC\n VIPADEFINE 255.255.255.0 198.51.100.1 198.51.100.2\n \
                    VIPADELETE 198.51.100.1\nENDVIPADYNAMIC\n";
        let parsed = profile::parse("p", text);
        let config = DvipaConfig::from_profile(&parsed.profile.vipa_dynamic);
        assert_eq!(config.entries.len(), 1);
        assert_eq!(config.entries[0].addr, Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(config.entries[0].prefix_len, 24);
    }

    #[test]
    fn vipadefine_ranks_above_every_backup() {
        let define = ConfigRole::Define {
            moveable: Moveable::Immediate,
        };
        assert!(
            define.rank()
                > ConfigRole::Backup {
                    rank: 254,
                    moveable: None
                }
                .rank()
        );
    }
}
