//! What a stack distributes: the VIPADISTRIBUTE statements in effect, one per DVIPA and port set.

use std::net::Ipv4Addr;

use crate::profile::{Change, Destinations, DistMethod, PortRange, ServerType, VipaDistribute};

/// The WEIGHT a WEIGHTEDACTIVE target has when its DESTIP gives none.
pub const DEFAULT_WEIGHT: u8 = 10;

/// One VIPADISTRIBUTE in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistConfig {
    /// The distributed DVIPA.
    pub dvipa: Ipv4Addr,
    /// The distributed ports (empty: every port).
    pub ports: Vec<PortRange>,
    /// DISTMETHOD.
    pub method: DistMethod,
    /// DESTIP ALL or the listed targets.
    pub destinations: Destinations,
    /// TIMEDAFFINITY seconds (0 or absent: none).
    pub timed_affinity: Option<u32>,
    /// OPTLOCAL value.
    pub opt_local: Option<u8>,
    /// SYSPLEXPORTS.
    pub sysplex_ports: bool,
}

/// What a target is to one VIPADISTRIBUTE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetRole {
    /// WEIGHT (WEIGHTEDACTIVE; [`DEFAULT_WEIGHT`] when not given).
    pub weight: u8,
    /// PREFERRED or BACKUP rank (HOTSTANDBY).
    pub server_type: Option<ServerType>,
}

impl DistConfig {
    /// The configuration of one VIPADISTRIBUTE DEFINE.
    pub fn from_statement(statement: &VipaDistribute) -> Self {
        Self {
            dvipa: statement.address,
            ports: statement.ports.clone(),
            method: statement.method,
            destinations: statement.destinations.clone(),
            timed_affinity: statement.timed_affinity.filter(|s| *s > 0),
            opt_local: statement.opt_local,
            sysplex_ports: statement.sysplex_ports,
        }
    }

    /// The configurations in effect after the statements, in order: a DEFINE adds one, a
    /// DELETE removes the earlier ones for the same DVIPA whose ports it names (all of them when
    /// it names none).
    pub fn from_profile(statements: &[VipaDistribute]) -> Vec<Self> {
        let mut configs: Vec<Self> = Vec::new();
        for statement in statements {
            match statement.change {
                Change::Define => configs.push(Self::from_statement(statement)),
                Change::Delete => configs.retain(|c| {
                    c.dvipa != statement.address
                        || !(statement.ports.is_empty()
                            || c.ports.iter().any(|p| {
                                statement
                                    .ports
                                    .iter()
                                    .any(|d| d.first <= p.last && p.first <= d.last)
                            }))
                }),
            }
        }
        configs
    }

    /// Whether the configuration distributes `port`.
    pub fn covers(&self, port: u16) -> bool {
        self.ports.is_empty()
            || self
                .ports
                .iter()
                .any(|r| (r.first..=r.last).contains(&port))
    }

    /// The role of the stack with XCF address `xcf`, if it is a target of this configuration.
    pub fn target(&self, xcf: Ipv4Addr) -> Option<TargetRole> {
        match &self.destinations {
            Destinations::All => Some(TargetRole {
                weight: DEFAULT_WEIGHT,
                server_type: None,
            }),
            Destinations::Listed(targets) => {
                targets.iter().find(|t| t.xcf == xcf).map(|t| TargetRole {
                    weight: t.weight.unwrap_or(DEFAULT_WEIGHT),
                    server_type: t.server_type,
                })
            }
        }
    }

    /// The ports named by the statement, one by one (none for "every port").
    pub fn listed_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports.iter().flat_map(|r| r.first..=r.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile;

    fn configs(text: &str) -> Vec<DistConfig> {
        let parsed = profile::parse("test.tcpip", text);
        DistConfig::from_profile(&parsed.profile.vipa_dynamic.distributes)
    }

    #[test]
    fn a_delete_removes_the_earlier_define_for_its_ports() {
        let configs = configs(
            "VIPADYNAMIC\n\
             VIPADEFINE 255.255.255.0 198.51.100.10\n\
             VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 21 DESTIP ALL\n\
             VIPADISTRIBUTE DEFINE DISTMETHOD ROUNDROBIN 198.51.100.10 PORT 8000-8010 DESTIP ALL\n\
             VIPADISTRIBUTE DELETE 198.51.100.10 PORT 21 DESTIP ALL\n\
             ENDVIPADYNAMIC\n",
        );
        assert_eq!(configs.len(), 1);
        assert!(configs[0].covers(8005));
        assert!(!configs[0].covers(21));
        assert_eq!(configs[0].listed_ports().count(), 11);
    }

    #[test]
    fn listed_targets_carry_their_weight_and_others_are_not_targets() {
        let configs = configs(
            "VIPADYNAMIC\n\
             VIPADEFINE 255.255.255.0 198.51.100.10\n\
             VIPADISTRIBUTE DISTMETHOD WEIGHTEDACTIVE 198.51.100.10 PORT 80 \
             DESTIP 192.0.2.1 WEIGHT 20 192.0.2.2\n\
             ENDVIPADYNAMIC\n",
        );
        let config = &configs[0];
        assert_eq!(
            config.target(Ipv4Addr::new(192, 0, 2, 1)).map(|r| r.weight),
            Some(20)
        );
        assert_eq!(
            config.target(Ipv4Addr::new(192, 0, 2, 2)).map(|r| r.weight),
            Some(DEFAULT_WEIGHT)
        );
        assert_eq!(config.target(Ipv4Addr::new(192, 0, 2, 3)), None);
    }
}
