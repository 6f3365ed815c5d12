//! Scenarios `sysplex run` can play.

pub mod cf_demo;
pub mod dvipa;
pub mod report;
pub mod swsa;

/// The scenarios by name, the default first.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "swsa",
        "sysplex-wide security associations: remote IPSec hosts stream through ESP to a \
         distributed DVIPA, the distributor dies, the backup renegotiates every tunnel from \
         EZBDVIPA and the streams to surviving targets go on (--peers N)",
    ),
    (
        "swsa-planned",
        "the same lab, a planned transfer: DEACTIVATE moves the DVIPA and its SAs to the \
         backup, REACTIVATE takes them back, every stream goes on (--peers N)",
    ),
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
