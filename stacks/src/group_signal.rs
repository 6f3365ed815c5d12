//! The messages between the stacks of the TCP/IP XCF group (EZBTCPCS or EZBTCPtt): DVIPA
//! signals and Sysplex Distributor signals on one member each, and their framing in an XCF
//! message: a format byte, then the postcard encoding of a [`GroupSignal`].

use serde::{Deserialize, Serialize};

use crate::distributor::SdSignal;
use crate::dvipa::core::Signal;
use crate::swsa::shell::SwsaSignal;

/// The format byte of the current encoding.
const FORMAT: u8 = 1;

/// One message between two stacks of the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupSignal {
    /// DVIPA ownership: configurations, takeover, takeback.
    Dvipa(Signal),
    /// Sysplex Distributor: listeners, connections, takeover queries and answers.
    Distributor(SdSignal),
    /// Sysplex-wide security associations: a DVIPA's IKE tunnels taken over.
    Swsa(SwsaSignal),
}

/// Why an XCF message is not a group signal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The message is empty.
    #[error("empty XCF signal")]
    Empty,
    /// The format byte is not one this stack reads.
    #[error("XCF signal format {0} not supported")]
    Format(u8),
    /// The body does not decode.
    #[error("XCF signal does not decode: {0}")]
    Body(String),
}

/// Encodes a signal for an XCF message.
pub fn encode(signal: &GroupSignal) -> Vec<u8> {
    let mut bytes = vec![FORMAT];
    // Encoding into a Vec only fails for types serde cannot describe; signals are not such types.
    bytes.extend(postcard::to_allocvec(signal).unwrap_or_default());
    bytes
}

/// Decodes a signal from an XCF message.
pub fn decode(bytes: &[u8]) -> Result<GroupSignal, SignalError> {
    let (&format, body) = bytes.split_first().ok_or(SignalError::Empty)?;
    if format != FORMAT {
        return Err(SignalError::Format(format));
    }
    postcard::from_bytes(body).map_err(|error| SignalError::Body(error.to_string()))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use proptest::prelude::*;

    use super::*;
    use crate::distributor::{ListenerReport, TargetAnswer};
    use crate::dvipa::model::ConnKey;

    fn conn() -> impl Strategy<Value = ConnKey> {
        (any::<u32>(), any::<u16>(), any::<u32>(), any::<u16>()).prop_map(|(a, p, b, q)| ConnKey {
            local: SocketAddrV4::new(Ipv4Addr::from(a), p),
            foreign: SocketAddrV4::new(Ipv4Addr::from(b), q),
        })
    }

    proptest! {
        #[test]
        fn give_back_round_trips(addr in any::<u32>(), conns in proptest::collection::vec(conn(), 0..8)) {
            let signal = GroupSignal::Dvipa(Signal::GiveBack { addr: Ipv4Addr::from(addr), connections: conns });
            prop_assert_eq!(decode(&encode(&signal)), Ok(signal));
        }

        #[test]
        fn answers_round_trip(
            dvipa in any::<u32>(),
            listeners in proptest::collection::vec((any::<u16>(), any::<u16>()), 0..4),
            connections in proptest::collection::vec(conn(), 0..16),
        ) {
            let dvipa = Ipv4Addr::from(dvipa);
            let signal = GroupSignal::Distributor(SdSignal::Answer(TargetAnswer {
                dvipa,
                listeners: listeners
                    .into_iter()
                    .map(|(port, ready)| ListenerReport { dvipa, port, ready })
                    .collect(),
                connections,
            }));
            prop_assert_eq!(decode(&encode(&signal)), Ok(signal));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn refuses_empty_and_unknown_formats() {
        assert_eq!(decode(&[]), Err(SignalError::Empty));
        assert_eq!(decode(&[9, 0]), Err(SignalError::Format(9)));
        assert!(matches!(decode(&[FORMAT, 0xff]), Err(SignalError::Body(_))));
    }

    #[test]
    fn the_kind_tells_dvipa_and_distributor_signals_apart() {
        let quiesce = GroupSignal::Distributor(SdSignal::Quiesce { port: Some(21) });
        let owned = GroupSignal::Dvipa(Signal::Owned {
            addr: Ipv4Addr::new(198, 51, 100, 30),
        });
        assert_ne!(encode(&quiesce)[1], encode(&owned)[1]);
        assert_eq!(decode(&encode(&quiesce)), Ok(quiesce));
        assert_eq!(decode(&encode(&owned)), Ok(owned));
    }
}
