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
    /// Target → distributor: routed connections that ended on the target, reported together
    /// (at most [`MAX_ENDED_PER_SIGNAL`] in one signal).
    ConnectionsEnded(Vec<ConnKey>),
}

/// The most connection ends one [`SdSignal::ConnectionsEnded`] carries.
pub const MAX_ENDED_PER_SIGNAL: usize = 4096;

/// Puts the [`SdSignal::ConnectionEnded`] reports of `reports` together, per addressee, in
/// [`SdSignal::ConnectionsEnded`] signals where the first of them stood; the other reports stay
/// as and where they are.
pub fn batch_ended(reports: Vec<(Ipv4Addr, SdSignal)>) -> Vec<(Ipv4Addr, SdSignal)> {
    let mut batched: Vec<(Ipv4Addr, SdSignal)> = Vec::with_capacity(reports.len());
    // The open batch of each addressee, by its index in `batched`.
    let mut open: Vec<(Ipv4Addr, usize)> = Vec::new();
    for (to, signal) in reports {
        let SdSignal::ConnectionEnded(conn) = signal else {
            batched.push((to, signal));
            continue;
        };
        let batch = open
            .iter()
            .find(|(addressee, _)| *addressee == to)
            .map(|&(_, at)| at);
        match batch.and_then(|at| batched.get_mut(at)) {
            Some((_, SdSignal::ConnectionsEnded(conns))) if conns.len() < MAX_ENDED_PER_SIGNAL => {
                conns.push(conn);
            }
            _ => {
                open.retain(|(addressee, _)| *addressee != to);
                open.push((to, batched.len()));
                batched.push((to, SdSignal::ConnectionsEnded(vec![conn])));
            }
        }
    }
    for (_, signal) in &mut batched {
        if let SdSignal::ConnectionsEnded(conns) = signal
            && let [conn] = conns[..]
        {
            *signal = SdSignal::ConnectionEnded(conn);
        }
    }
    batched
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn conn(port: u16) -> ConnKey {
        ConnKey {
            local: SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 7),
            foreign: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 50), port),
        }
    }

    const ONE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
    const TWO: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

    #[test]
    fn ends_go_together_per_distributor_and_other_reports_keep_their_place() {
        let quiesce = SdSignal::Quiesce { port: None };
        let reports = vec![
            (ONE, SdSignal::ConnectionEnded(conn(1))),
            (TWO, SdSignal::ConnectionEnded(conn(2))),
            (ONE, quiesce.clone()),
            (ONE, SdSignal::ConnectionEnded(conn(3))),
        ];
        assert_eq!(
            batch_ended(reports),
            vec![
                (ONE, SdSignal::ConnectionsEnded(vec![conn(1), conn(3)])),
                (TWO, SdSignal::ConnectionEnded(conn(2))),
                (ONE, quiesce),
            ]
        );
    }

    #[test]
    fn a_batch_holds_at_most_the_limit() {
        let reports = (0..=MAX_ENDED_PER_SIGNAL)
            .map(|n| {
                (
                    ONE,
                    SdSignal::ConnectionEnded(conn(u16::try_from(n).unwrap())),
                )
            })
            .collect();
        let batched = batch_ended(reports);
        assert_eq!(batched.len(), 2);
        assert!(
            matches!(&batched[0].1, SdSignal::ConnectionsEnded(c) if c.len() == MAX_ENDED_PER_SIGNAL)
        );
        assert_eq!(
            batched[1].1,
            SdSignal::ConnectionEnded(conn(u16::try_from(MAX_ENDED_PER_SIGNAL).unwrap()))
        );
    }
}
