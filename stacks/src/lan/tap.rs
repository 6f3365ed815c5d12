//! A Linux TAP device as a LAN port, for labs where real Linux hosts share a bridge with the
//! emulated stacks.
//!
//! The device is created (or attached, if it exists) through `/dev/net/tun` with `TUNSETIFF`
//! (`IFF_TAP | IFF_NO_PI`), non-blocking, and driven by tokio's `AsyncFd`. A device that this
//! port created goes away when the port is dropped. Bringing the link up and putting it on a
//! bridge (`ip link set dev NAME master BR up`) is the lab's job. Needs `CAP_NET_ADMIN`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::unix::AsyncFd;

use super::{LanPort, SendOutcome};

/// The largest frame read from the device: a 64 KiB IP MTU plus the Ethernet header.
const MAX_FRAME: usize = 65_536 + 14;

/// A TAP device, as one Ethernet port of a stack.
#[derive(Debug)]
pub struct TapPort {
    device: AsyncFd<File>,
    name: String,
    buffer: Vec<u8>,
}

impl TapPort {
    /// Creates (or attaches to) the TAP device `name` (at most 15 bytes; `%d` lets the kernel
    /// number it). Must be called inside a tokio runtime.
    pub fn open(name: &str) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        let name = sys::attach_tap(&file, name)?;
        Ok(Self {
            device: sys::register(file)?,
            name,
            buffer: vec![0; MAX_FRAME],
        })
    }

    /// The name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl LanPort for TapPort {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Bytes>> {
        loop {
            let mut guard = ready!(self.device.poll_read_ready(cx))?;
            let buffer = &mut self.buffer;
            match guard.try_io(|device| device.get_ref().read(buffer)) {
                Ok(Ok(len)) => {
                    let frame = buffer.get(..len).unwrap_or_default();
                    return Poll::Ready(Ok(Bytes::copy_from_slice(frame)));
                }
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                Err(_would_block) => continue,
            }
        }
    }

    fn send(&mut self, frame: Bytes) -> io::Result<SendOutcome> {
        match self.device.get_ref().write(&frame) {
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

    use tokio::io::unix::AsyncFd;

    /// Registers the device with tokio's reactor.
    pub(super) fn register(file: File) -> io::Result<AsyncFd<File>> {
        // SAFETY: the `File` owns its descriptor and moves into the `AsyncFd`, which keeps it
        // open, unchanged, until the `AsyncFd` drops it.
        unsafe { AsyncFd::register(file) }.map_err(|error| error.into_parts().1)
    }

    /// Binds the open `/dev/net/tun` file to a TAP device called `name`; returns the name the
    /// kernel used.
    pub(super) fn attach_tap(file: &File, name: &str) -> io::Result<String> {
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
        let flags = libc::IFF_TAP | libc::IFF_NO_PI;
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

    #[test]
    fn rejects_a_name_longer_than_ifnamsiz_before_any_ioctl() {
        // On /dev/null the ioctl itself would fail with ENOTTY, so InvalidInput proves that the
        // name check ran first.
        let null = File::open("/dev/null").unwrap();
        let error = sys::attach_tap(&null, "a-very-long-tap-name").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        let error = sys::attach_tap(&null, "").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
