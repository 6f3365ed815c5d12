//! The inbound SAs of a stack, found by SPI (RFC 4303 §2.1).

use std::collections::HashMap;
use std::time::Instant;

use super::error::EspError;
use super::packet::{EspPacket, Spi};
use super::sa::{Decapsulated, SecurityAssociation};

/// Inbound SAs by SPI.
#[derive(Debug, Default)]
pub struct InboundSas {
    by_spi: HashMap<Spi, SecurityAssociation>,
}

impl InboundSas {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs an SA, returning the one it replaces (same SPI), if any.
    pub fn insert(&mut self, sa: SecurityAssociation) -> Option<SecurityAssociation> {
        self.by_spi.insert(sa.spi(), sa)
    }

    /// Removes the SA with this SPI.
    pub fn remove(&mut self, spi: Spi) -> Option<SecurityAssociation> {
        self.by_spi.remove(&spi)
    }

    /// The SA with this SPI.
    pub fn get(&self, spi: Spi) -> Option<&SecurityAssociation> {
        self.by_spi.get(&spi)
    }

    /// Number of SAs.
    pub fn len(&self) -> usize {
        self.by_spi.len()
    }

    /// True when no SA is installed.
    pub fn is_empty(&self) -> bool {
        self.by_spi.is_empty()
    }

    /// Decapsulates with the SA named by the packet's SPI.
    ///
    /// # Errors
    /// [`EspError::Truncated`] without a whole ESP header, [`EspError::UnknownSpi`] when no SA
    /// has the SPI, else as [`SecurityAssociation::decapsulate`].
    pub fn decapsulate(&mut self, now: Instant, esp: &[u8]) -> Result<Decapsulated, EspError> {
        let spi = EspPacket::new_checked(esp)?.spi();
        let sa = self.by_spi.get_mut(&spi).ok_or(EspError::UnknownSpi(spi))?;
        sa.decapsulate(now, esp)
    }
}

#[cfg(test)]
mod tests {
    use ike::crypto::{AesKeySize, Encryption, EspKeys, EspSuite, SecretBytes};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::esp::lifetime::Lifetime;
    use crate::esp::sa::{Direction, Mode, SaParameters};

    fn sa(spi: u32, direction: Direction, now: Instant) -> SecurityAssociation {
        let suite = EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None).unwrap();
        let parameters = SaParameters {
            spi: Spi(spi),
            direction,
            mode: Mode::Tunnel,
            suite,
            lifetime: Lifetime::default(),
        };
        let keys = EspKeys {
            encryption: SecretBytes::new(vec![u8::try_from(spi % 256).unwrap(); 20]),
            integrity: SecretBytes::new(vec![]),
        };
        SecurityAssociation::new(parameters, &keys, now).unwrap()
    }

    #[test]
    fn finds_the_sa_by_spi_and_reports_unknown_spis() {
        let now = Instant::now();
        let mut table = InboundSas::new();
        table.insert(sa(0x1001, Direction::Inbound, now));
        table.insert(sa(0x1002, Direction::Inbound, now));
        let mut out = sa(0x1002, Direction::Outbound, now);
        let packet = [
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ];
        let esp = out
            .encapsulate(now, &packet, &mut ChaCha20Rng::seed_from_u64(1))
            .unwrap();
        assert_eq!(table.decapsulate(now, &esp).unwrap().payload, packet);
        assert_eq!(table.get(Spi(0x1002)).unwrap().packets(), 1);

        table.remove(Spi(0x1002));
        assert_eq!(
            table.decapsulate(now, &esp),
            Err(EspError::UnknownSpi(Spi(0x1002)))
        );
        assert_eq!(
            table.decapsulate(now, &esp[..7]),
            Err(EspError::Truncated { need: 8, have: 7 })
        );
        assert_eq!(table.len(), 1);
    }
}
