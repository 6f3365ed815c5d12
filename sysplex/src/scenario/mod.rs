//! Scenarios `sysplex run` can play.

pub mod cf_demo;

/// The scenarios by name, the default first.
pub const SCENARIOS: &[(&str, &str)] = &[(
    "cf-demo",
    "a CF server, two connectors on two systems: writes, monitoring, locks, a failure, a dump",
)];
