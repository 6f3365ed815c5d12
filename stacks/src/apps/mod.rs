//! Built-in lab applications on the stack's TCP: an echo server, and a checksummed stream
//! source and sink that prove no byte was lost or changed (across a takeover, say).

pub mod echo;
pub mod pattern;
pub mod stream;
