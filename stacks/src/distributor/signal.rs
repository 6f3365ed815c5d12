//! The messages between targets and the distributor over XCF (group EZBTCPCS): listener and
//! connection reports, QUIESCE/RESUME, health and server weights, and the takeover query and its
//! answer. They travel as [`crate::group_signal::GroupSignal::Distributor`].

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::dpt::Health;
use crate::dvipa::model::ConnKey;

/// The listeners a target has on a distributed DVIPA and port (VDPT Rdy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerReport {
    /// The distributed DVIPA.
    pub dvipa: Ipv4Addr,
    /// The port.
    pub port: u16,
    /// How many listeners are ready.
    pub ready: u16,
}

/// A target's answer to a new distributor: its listeners and the connections routed to it on
/// one DVIPA, from which the distributor rebuilds its DPT and CRT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetAnswer {
    /// The DVIPA the answer is about.
    pub dvipa: Ipv4Addr,
    /// The target's listeners on the DVIPA's distributed ports.
    pub listeners: Vec<ListenerReport>,
    /// The target's connections to the DVIPA (local: DVIPA and port; foreign: the client).
    pub connections: Vec<ConnKey>,
}

/// A Sysplex Distributor message; the sender is the XCF member it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SdSignal {
    /// Target → distributor: the listener count of a DVIPA and port changed.
    Listeners(ListenerReport),
    /// Target → distributor: a routed connection ended on the target.
    ConnectionEnded(ConnKey),
    /// Target → distributor: `V TCPIP,,SYSPLEX,QUIESCE,TARGET` (no port) or `,PORT=n`.
    Quiesce {
        /// The quiesced port, or every port.
        port: Option<u16>,
    },
    /// Target → distributor: `V TCPIP,,SYSPLEX,RESUME,...`, undoing a QUIESCE.
    Resume {
        /// The resumed port, or every port.
        port: Option<u16>,
    },
    /// Target → distributor: the server's health figures on a DVIPA and port.
    Health {
        /// The DVIPA.
        dvipa: Ipv4Addr,
        /// The port.
        port: u16,
        /// The figures.
        health: Health,
    },
    /// Target → distributor: the server-specific WLM weight (SERVERWLM).
    ServerWeight {
        /// The DVIPA.
        dvipa: Ipv4Addr,
        /// The port.
        port: u16,
        /// The weight.
        weight: u8,
    },
    /// Distributor → targets, when it takes a DVIPA on (at start, takeover or takeback): hold
    /// the DVIPA as a target, report your listeners on these ports from now on, and answer with
    /// your listeners and connections on the DVIPA.
    Query {
        /// The distributed DVIPA.
        dvipa: Ipv4Addr,
        /// Its distributed ports (empty: every port).
        ports: Vec<u16>,
    },
    /// Target → new distributor: the answer to [`SdSignal::Query`].
    Answer(TargetAnswer),
}
