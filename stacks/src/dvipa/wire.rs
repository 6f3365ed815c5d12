//! The encoding of [`Signal`]s in XCF messages: a format byte, then the postcard encoding.

use super::core::Signal;
use crate::xcf_frame::{self, FrameError};

/// Why an XCF message is not a DVIPA signal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The message is empty.
    #[error("empty DVIPA signal")]
    Empty,
    /// The format byte is not one this stack reads.
    #[error("DVIPA signal format {0} not supported")]
    Format(u8),
    /// The body does not decode.
    #[error("DVIPA signal does not decode: {0}")]
    Body(String),
}

/// Encodes a signal for an XCF message.
pub fn encode(signal: &Signal) -> Vec<u8> {
    xcf_frame::encode(signal)
}

/// Decodes a signal from an XCF message.
pub fn decode(bytes: &[u8]) -> Result<Signal, SignalError> {
    xcf_frame::decode(bytes).map_err(|error| match error {
        FrameError::Empty => SignalError::Empty,
        FrameError::Format(format) => SignalError::Format(format),
        FrameError::Body(why) => SignalError::Body(why),
    })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use proptest::prelude::*;

    use super::*;
    use crate::dvipa::model::ConnKey;
    use crate::xcf_frame::FORMAT;

    fn conn() -> impl Strategy<Value = ConnKey> {
        (any::<u32>(), any::<u16>(), any::<u32>(), any::<u16>()).prop_map(|(a, p, b, q)| ConnKey {
            local: SocketAddrV4::new(Ipv4Addr::from(a), p),
            foreign: SocketAddrV4::new(Ipv4Addr::from(b), q),
        })
    }

    proptest! {
        #[test]
        fn give_back_round_trips(addr in any::<u32>(), conns in proptest::collection::vec(conn(), 0..8)) {
            let signal = Signal::GiveBack { addr: Ipv4Addr::from(addr), connections: conns };
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
}
