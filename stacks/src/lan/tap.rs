//! A Linux TAP device as a LAN port, for labs where real Linux hosts share a bridge with the
//! emulated stacks.
//!
//! The device is created (or attached, if it exists) through `/dev/net/tun` with `TUNSETIFF`
//! (`IFF_TAP | IFF_NO_PI`), non-blocking, and driven by tokio's `AsyncFd`. A device that this
//! port created goes away when the port is dropped. Bringing the link up and putting it on a
//! bridge (`ip link set dev NAME master BR up`) is the lab's job. Needs `CAP_NET_ADMIN`.
//!
//! With [`TapOptions::offload`] the device is opened with `IFF_VNET_HDR` and told
//! (`TUNSETOFFLOAD`) that this end takes partial checksums and TCP/IPv4 segmentation offload:
//! the kernel then hands over a sender's TSO super-packets whole (up to 64 KiB of TCP in one
//! read) instead of cutting them into MTU-sized frames. The port returns an Ethernet frame that
//! may be larger than the MTU, and says what the header told of its checksum
//! ([`super::FrameChecksum`]): a local sender's partial checksum is left as it is, for the
//! datapath to complete only if the packet leaves the stack ([`super::vnet::PartialChecksum`]).
//! The frames it sends carry a plain header (no GSO, checksums done), so their size is the
//! stack's business as without offload.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::unix::AsyncFd;

use super::vnet::{self, GsoKind, VNET_HEADER_LEN, VnetHeader};
use super::{FrameChecksum, LanFrame, LanPort, SendOutcome};

/// The largest frame read from the device: a 64 KiB IP packet plus the Ethernet header.
const MAX_FRAME: usize = 65_536 + 14;

/// Frames are read straight into blocks of this size and handed on as slices of them, so no
/// frame is copied after the kernel's copy; a block is reused once every frame cut from it is
/// dropped.
const RECEIVE_BLOCK: usize = 4 * (VNET_HEADER_LEN + MAX_FRAME);

/// How a TAP port is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapOptions {
    /// Take partial checksums and TCP/IPv4 super-packets of up to 64 KiB from the kernel
    /// (`IFF_VNET_HDR`, `TUN_F_CSUM | TUN_F_TSO4`). Off by default: received frames may then be
    /// larger than the MTU, which only a stack that accepts them (and segments them before
    /// anything that forwards or encapsulates them) should be given.
    pub offload: bool,
}

/// A TAP device, as one Ethernet port of a stack.
#[derive(Debug)]
pub struct TapPort {
    device: AsyncFd<File>,
    name: String,
    offload: bool,
    /// The free room the next frame is read into (empty: frames are split off as they come).
    receive: BytesMut,
}

impl TapPort {
    /// Creates (or attaches to) the TAP device `name` (at most 15 bytes; `%d` lets the kernel
    /// number it), without offload. Must be called inside a tokio runtime.
    pub fn open(name: &str) -> io::Result<Self> {
        Self::open_with(name, TapOptions::default())
    }

    /// Creates (or attaches to) the TAP device `name` with `options`.
    pub fn open_with(name: &str, options: TapOptions) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        let name = sys::attach_tap(&file, name, options.offload)?;
        if options.offload {
            sys::enable_offload(&file)?;
        }
        Ok(Self {
            device: sys::register(file)?,
            name,
            offload: options.offload,
            receive: BytesMut::with_capacity(RECEIVE_BLOCK),
        })
    }

    /// The name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The frame behind the `virtio_net_hdr` of `read`, and what the header says of its checksum
/// (a partial one is left for the datapath to complete if the packet leaves the stack).
fn offloaded_frame(mut read: BytesMut) -> Result<LanFrame, vnet::VnetError> {
    let (header, _) = VnetHeader::parse(&read)?;
    if matches!(header.gso, GsoKind::TcpV6 | GsoKind::Udp) {
        // TUN_F_TSO6 and TUN_F_USO* were not offered: a super-datagram cannot be delivered whole.
        return Err(vnet::VnetError::NotOffered(header.gso));
    }
    read.advance(VNET_HEADER_LEN);
    let checksum = match header.partial_checksum() {
        Some(partial) => {
            partial.check_within(read.len())?;
            FrameChecksum::Partial(partial)
        }
        None if header.data_valid() => FrameChecksum::Verified,
        None => FrameChecksum::Unchecked,
    };
    Ok(LanFrame {
        bytes: read.freeze(),
        checksum,
    })
}

impl LanPort for TapPort {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<LanFrame>> {
        loop {
            let mut guard = ready!(self.device.poll_read_ready(cx))?;
            if self.receive.capacity() < VNET_HEADER_LEN + MAX_FRAME {
                // Takes the block back when every frame cut from it is gone, or starts another.
                self.receive.reserve(RECEIVE_BLOCK);
            }
            let receive = &mut self.receive;
            match guard.try_io(|device| sys::read_into(device.get_ref(), receive)) {
                Ok(Ok(len)) => {
                    let read = self.receive.split_to(len);
                    if !self.offload {
                        return Poll::Ready(Ok(read.freeze().into()));
                    }
                    match offloaded_frame(read) {
                        Ok(frame) => return Poll::Ready(Ok(frame)),
                        Err(error) => tracing::debug!(%error, "TAP frame refused"),
                    }
                }
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                Err(_would_block) => continue,
            }
        }
    }

    fn send(&mut self, frame: Bytes) -> io::Result<SendOutcome> {
        let mut device: &File = self.device.get_ref();
        let written = if self.offload {
            let parts = [
                io::IoSlice::new(&VnetHeader::PLAIN),
                io::IoSlice::new(&frame),
            ];
            device.write_vectored(&parts)
        } else {
            device.write(&frame)
        };
        match written {
            Ok(_) => Ok(SendOutcome::Sent),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(SendOutcome::Dropped),
            Err(error) => Err(error),
        }
    }
}

/// The two calls that safe std and tokio cannot make for us.
#[allow(unsafe_code)]
mod sys {
    use std::ffi::CStr;
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use bytes::BytesMut;
    use tokio::io::unix::AsyncFd;

    /// Reads one frame from the device into the free capacity of `buffer`, appending it, and
    /// returns its length.
    pub(super) fn read_into(file: &File, buffer: &mut BytesMut) -> io::Result<usize> {
        let room = buffer.spare_capacity_mut();
        // SAFETY: the descriptor is open while `file` lives; read(2) writes at most
        // `room.len()` bytes through the pointer, which is valid for that many writes for the
        // whole call (uninitialized bytes may be written).
        let read = unsafe { libc::read(file.as_raw_fd(), room.as_mut_ptr().cast(), room.len()) };
        let len = usize::try_from(read).map_err(|_| io::Error::last_os_error())?;
        // SAFETY: the kernel initialized the first `len` bytes of the free capacity, and `len`
        // is at most that capacity.
        unsafe { buffer.set_len(buffer.len() + len) };
        Ok(len)
    }

    /// Registers the device with tokio's reactor.
    pub(super) fn register(file: File) -> io::Result<AsyncFd<File>> {
        // SAFETY: the `File` owns its descriptor and moves into the `AsyncFd`, which keeps it
        // open, unchanged, until the `AsyncFd` drops it.
        unsafe { AsyncFd::register(file) }.map_err(|error| error.into_parts().1)
    }

    /// Tells the device that this end reads and writes a 10-byte `virtio_net_hdr` before every
    /// frame, takes partial checksums and TCP/IPv4 segmentation offload.
    pub(super) fn enable_offload(file: &File) -> io::Result<()> {
        let size = libc::c_int::try_from(super::VNET_HEADER_LEN)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "header size overflow"))?;
        // SAFETY: the descriptor is open while `file` lives; TUNSETVNETHDRSZ reads one `int`
        // through the pointer, which points at `size` for the whole call.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let features = libc::c_ulong::from(libc::TUN_F_CSUM | libc::TUN_F_TSO4);
        // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned long of TUN_F_* bits)
        // and touches no memory of ours.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETOFFLOAD, features) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Binds the open `/dev/net/tun` file to a TAP device called `name` (with a
    /// `virtio_net_hdr` per frame when `vnet_header`); returns the name the kernel used.
    pub(super) fn attach_tap(file: &File, name: &str, vnet_header: bool) -> io::Result<String> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TAP device name {name:?} must have 1 to 15 bytes and no NUL"),
            ));
        }
        // SAFETY: `ifreq` is a plain C struct (a name array and a union of integers, arrays and
        // one raw pointer), for which all-zero bytes are a valid value.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in request.ifr_name.iter_mut().zip(bytes) {
            *slot = libc::c_char::from_ne_bytes([*byte]);
        }
        let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
        if vnet_header {
            flags |= libc::IFF_VNET_HDR;
        }
        request.ifr_ifru.ifru_flags = libc::c_short::try_from(flags)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "TAP flags overflow"))?;
        // SAFETY: the descriptor is open for as long as `file` lives; TUNSETIFF reads and writes
        // exactly one `ifreq`, which `request` is, borrowed mutably for the whole call.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut request) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let name_bytes: Vec<u8> = request
            .ifr_name
            .iter()
            .map(|c| c.to_ne_bytes()[0])
            .chain([0])
            .collect();
        let kernel_name = CStr::from_bytes_until_nul(&name_bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "TAP name not terminated"))?;
        Ok(kernel_name.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read from an offloading TAP device: a `virtio_net_hdr` with `flags` (checksum from
    /// byte 34, an IPv4 TCP segment's, field at offset 16) and a frame whose checksum field
    /// holds `field`.
    fn offloaded_read(flags: u8, field: [u8; 2]) -> BytesMut {
        let mut read = BytesMut::new();
        read.extend_from_slice(&[flags, 0, 0, 0, 0, 0, 34, 0, 16, 0]);
        let mut frame = vec![0u8; 54];
        frame[50..52].copy_from_slice(&field);
        read.extend_from_slice(&frame);
        read
    }

    #[test]
    fn the_port_tells_a_partial_checksum_from_a_checked_one_and_from_one_nobody_checked() {
        let partial = offloaded_frame(offloaded_read(vnet::FLAG_NEEDS_CSUM, [0x12, 0x34])).unwrap();
        assert_eq!(
            partial.checksum,
            FrameChecksum::Partial(vnet::PartialChecksum {
                start: 34,
                offset: 16
            })
        );
        assert_eq!(partial.bytes.len(), 54, "the header is gone");
        assert_eq!(partial.bytes[50..52], [0x12, 0x34], "left to complete");
        let checked = offloaded_frame(offloaded_read(vnet::FLAG_DATA_VALID, [0x12, 0x34])).unwrap();
        assert_eq!(checked.checksum, FrameChecksum::Verified);
        let unknown = offloaded_frame(offloaded_read(0, [0x12, 0x34])).unwrap();
        assert_eq!(
            unknown.checksum,
            FrameChecksum::Unchecked,
            "a frame from the bridge is checked by the stack"
        );
        let mut outside = offloaded_read(vnet::FLAG_NEEDS_CSUM, [0x12, 0x34]);
        outside.truncate(VNET_HEADER_LEN + 40);
        assert!(offloaded_frame(outside).is_err(), "a field past the frame");
    }

    #[test]
    fn rejects_a_name_longer_than_ifnamsiz_before_any_ioctl() {
        // On /dev/null the ioctl itself would fail with ENOTTY, so InvalidInput proves that the
        // name check ran first.
        let null = File::open("/dev/null").unwrap();
        let error = sys::attach_tap(&null, "a-very-long-tap-name", false).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        let error = sys::attach_tap(&null, "", true).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
