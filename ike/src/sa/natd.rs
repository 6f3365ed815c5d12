//! NAT detection (RFC 7296 §2.23): SHA-1 of SPIi | SPIr | IP address | port.

use std::net::SocketAddrV4;

use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};

/// The NAT_DETECTION_*_IP notify data for `addr` in a message with these SPIs.
pub(crate) fn natd_hash(spi_i: u64, spi_r: u64, addr: SocketAddrV4) -> Vec<u8> {
    let mut input = Vec::with_capacity(22);
    input.extend_from_slice(&spi_i.to_be_bytes());
    input.extend_from_slice(&spi_r.to_be_bytes());
    input.extend_from_slice(&addr.ip().octets());
    input.extend_from_slice(&addr.port().to_be_bytes());
    digest(&SHA1_FOR_LEGACY_USE_ONLY, &input).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_spis_address_and_port() {
        let a = SocketAddrV4::new([192, 0, 2, 1].into(), 500);
        let b = SocketAddrV4::new([192, 0, 2, 1].into(), 4500);
        assert_eq!(natd_hash(1, 0, a).len(), 20);
        assert_eq!(natd_hash(1, 0, a), natd_hash(1, 0, a));
        assert_ne!(natd_hash(1, 0, a), natd_hash(1, 0, b));
        assert_ne!(natd_hash(1, 0, a), natd_hash(1, 2, a));
    }
}
