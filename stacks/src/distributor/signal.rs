//! The messages between targets and the distributor over XCF (group EZBTCPCS): listener and
//! connection reports, QUIESCE/RESUME, health and server weights, and the takeover query and its
//! answer; with their encoding (a format byte, then postcard).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::dpt::Health;
use crate::dvipa::model::ConnKey;
use crate::xcf_frame::{self, FrameError};

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
    /// New distributor → targets: send your listeners and connections on this DVIPA.
    Query {
        /// The DVIPA taken over.
        dvipa: Ipv4Addr,
    },
    /// Target → new distributor: the answer to [`SdSignal::Query`].
    Answer(TargetAnswer),
}

/// Why an XCF message is not a Sysplex Distributor signal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdSignalError {
    /// The message is empty.
    #[error("empty distributor signal")]
    Empty,
    /// The format byte is not one this stack reads.
    #[error("distributor signal format {0} not supported")]
    Format(u8),
    /// The body does not decode.
    #[error("distributor signal does not decode: {0}")]
    Body(String),
}

/// Encodes a signal for an XCF message.
pub fn encode(signal: &SdSignal) -> Vec<u8> {
    xcf_frame::encode(signal)
}

/// Decodes a signal from an XCF message.
pub fn decode(bytes: &[u8]) -> Result<SdSignal, SdSignalError> {
    xcf_frame::decode(bytes).map_err(|error| match error {
        FrameError::Empty => SdSignalError::Empty,
        FrameError::Format(format) => SdSignalError::Format(format),
        FrameError::Body(why) => SdSignalError::Body(why),
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;

    use proptest::prelude::*;

    use super::*;
    use crate::xcf_frame::FORMAT;

    fn conn() -> impl Strategy<Value = ConnKey> {
        (any::<u32>(), any::<u16>(), any::<u32>(), any::<u16>()).prop_map(|(a, p, b, q)| ConnKey {
            local: SocketAddrV4::new(Ipv4Addr::from(a), p),
            foreign: SocketAddrV4::new(Ipv4Addr::from(b), q),
        })
    }

    proptest! {
        #[test]
        fn answers_round_trip(
            dvipa in any::<u32>(),
            listeners in proptest::collection::vec((any::<u16>(), any::<u16>()), 0..4),
            connections in proptest::collection::vec(conn(), 0..16),
        ) {
            let dvipa = Ipv4Addr::from(dvipa);
            let signal = SdSignal::Answer(TargetAnswer {
                dvipa,
                listeners: listeners
                    .into_iter()
                    .map(|(port, ready)| ListenerReport { dvipa, port, ready })
                    .collect(),
                connections,
            });
            prop_assert_eq!(decode(&encode(&signal)), Ok(signal));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn refuses_empty_and_unknown_formats() {
        assert_eq!(decode(&[]), Err(SdSignalError::Empty));
        assert_eq!(decode(&[7, 0]), Err(SdSignalError::Format(7)));
        assert!(matches!(
            decode(&[FORMAT, 0xff]),
            Err(SdSignalError::Body(_))
        ));
        let quiesce = SdSignal::Quiesce { port: Some(21) };
        assert_eq!(decode(&encode(&quiesce)), Ok(quiesce));
    }
}
