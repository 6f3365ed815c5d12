//! LAN ports: where a stack's Ethernet frames enter and leave the emulated LPAR.
//!
//! A [`LanPort`] is what a network adapter is to a z/OS stack (an OSA port): it receives frames
//! and sends frames, and never blocks a sender. Two kinds exist: a port of an in-memory
//! learning [`switch::EthernetSwitch`] (many stacks in one process, no privileges) and a Linux
//! TAP device ([`tap::TapPort`], for labs with real Linux hosts on a bridge). [`netns`] makes
//! the Linux network namespaces such labs run in.

pub mod netns;
pub mod switch;
pub mod tap;
pub mod vnet;

use std::fmt;
use std::io;
use std::task::{Context, Poll};

use bytes::Bytes;

/// What became of a frame handed to [`LanPort::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The port took the frame.
    Sent,
    /// The port had no room for the frame and dropped it, as a full adapter queue would.
    Dropped,
}

/// A frame a [`LanPort`] received: a whole Ethernet frame without FCS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanFrame {
    /// The frame.
    pub bytes: Bytes,
    /// The port vouches for the frame's TCP or UDP checksum, as a Linux driver marks a packet
    /// `CHECKSUM_UNNECESSARY`: a TAP port that completed a local sender's partial checksum
    /// computed it over the very bytes it hands on, and the kernel checked one it marks valid.
    pub checksum_verified: bool,
}

impl From<Bytes> for LanFrame {
    /// A frame whose checksums nobody has checked yet.
    fn from(bytes: Bytes) -> Self {
        Self {
            bytes,
            checksum_verified: false,
        }
    }
}

/// One Ethernet port of a stack.
pub trait LanPort: Send + fmt::Debug {
    /// Polls for the next frame received on the port.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<LanFrame>>;

    /// Sends one frame without waiting; a port that cannot take it now drops it.
    fn send(&mut self, frame: Bytes) -> io::Result<SendOutcome>;
}
