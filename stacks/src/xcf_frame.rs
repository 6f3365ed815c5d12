//! The framing of the stacks' signals in XCF messages (DVIPA and Sysplex Distributor alike): a
//! format byte, then the postcard encoding of the signal.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The format byte of the current encoding.
pub(crate) const FORMAT: u8 = 1;

/// Why an XCF message does not decode as a signal.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The message is empty.
    Empty,
    /// The format byte is not one this stack reads.
    Format(u8),
    /// The body does not decode.
    Body(String),
}

/// Encodes a signal for an XCF message.
pub(crate) fn encode<T: Serialize>(signal: &T) -> Vec<u8> {
    let mut bytes = vec![FORMAT];
    // Encoding into a Vec only fails for types serde cannot describe; signals are not such types.
    bytes.extend(postcard::to_allocvec(signal).unwrap_or_default());
    bytes
}

/// Decodes a signal from an XCF message.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FrameError> {
    let (&format, body) = bytes.split_first().ok_or(FrameError::Empty)?;
    if format != FORMAT {
        return Err(FrameError::Format(format));
    }
    postcard::from_bytes(body).map_err(|error| FrameError::Body(error.to_string()))
}
