//! Scenarios `sysplex run` can play.

pub mod cf_demo;
pub mod dvipa;

/// The scenarios by name, the default first.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "dvipa",
        "three LPARs, remote echo clients on a DVIPA: the owner dies, the top backup takes over \
         (EZZ8301I), clients reconnect, the owner returns and takes the DVIPA back",
    ),
    (
        "cf-demo",
        "a CF server, two connectors on two systems: writes, monitoring, locks, a failure, a dump",
    ),
];
