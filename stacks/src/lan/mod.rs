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

use vnet::PartialChecksum;

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
    /// What the port knows of its TCP or UDP checksum.
    pub checksum: FrameChecksum,
}

/// What a [`LanPort`] knows of a received frame's TCP or UDP checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FrameChecksum {
    /// Nothing: the stack checks it.
    #[default]
    Unchecked,
    /// The kernel checked it (Linux's `CHECKSUM_UNNECESSARY`).
    Verified,
    /// A local sender left it partial (Linux's `CHECKSUM_PARTIAL`). The bytes came from the
    /// sender's memory, not a wire: a stack that takes the packet in trusts it as Linux does,
    /// and one that passes it on completes it first.
    Partial(PartialChecksum),
}

impl FrameChecksum {
    /// Whether a stack may take the frame in without checking its checksum.
    pub fn trusted(self) -> bool {
        self != Self::Unchecked
    }
}

impl From<Bytes> for LanFrame {
    /// A frame whose checksums nobody has checked yet.
    fn from(bytes: Bytes) -> Self {
        Self {
            bytes,
            checksum: FrameChecksum::Unchecked,
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
