//! The security association database: the ESP SAs of every installed CHILD SA (inbound by SPI
//! in [`InboundSas`], outbound by SPI) and, with each, its dynamic filter (the CHILD SA's
//! selectors), its `Yn` tunnel and its endpoints.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use ike::crypto::EspSuite;
use ike::daemon::{ActivationMethod, DynamicTunnel};
use ike::sa::ChildSaInstall;
use ike::wire::Ipv4Range;
use rand::{CryptoRng, RngCore};

use super::flow::Flow;
use crate::esp::{
    Decapsulated, Direction, EspError, Lifetime, Mode, SaParameters, SecurityAssociation, Spi,
};

/// One installed CHILD SA: its two ESP SAs' SPIs and its dynamic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildEntry {
    /// `Yn`, generation, `Kn`, activation.
    pub tunnel: DynamicTunnel,
    /// The SPI we receive on.
    pub inbound_spi: u32,
    /// The SPI we send on.
    pub outbound_spi: u32,
    /// The ESP algorithms.
    pub suite: EspSuite,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Our side's selector.
    pub local_ts: Ipv4Range,
    /// The peer's side's selector.
    pub remote_ts: Ipv4Range,
    /// Our tunnel endpoint (and UDP port with encapsulation).
    pub local: SocketAddrV4,
    /// The peer's tunnel endpoint.
    pub remote: SocketAddrV4,
    /// Whether ESP travels in UDP (RFC 3948).
    pub udp_encapsulation: bool,
    /// The hard lifetime.
    pub lifetime: Duration,
    /// When it was installed.
    pub installed_at: Instant,
}

/// Traffic counters of one CHILD SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildCounters {
    /// Packets accepted on the inbound SA.
    pub inbound_packets: u64,
    /// Payload bytes accepted on the inbound SA.
    pub inbound_bytes: u64,
    /// Packets sent on the outbound SA.
    pub outbound_packets: u64,
    /// Payload bytes sent on the outbound SA.
    pub outbound_bytes: u64,
}

/// The SAD. See the module documentation.
#[derive(Debug, Default)]
pub struct Sad {
    inbound: crate::esp::InboundSas,
    outbound: HashMap<u32, SecurityAssociation>,
    children: Vec<ChildEntry>,
}

impl Sad {
    /// An empty SAD.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs a CHILD SA at `now`; a rekey (`install.replaces`) takes over the outbound
    /// traffic at once, the old pair stays for inbound stragglers until it is deleted. A
    /// tunnel renegotiated on takeover removes the duplicates of its dynamic filter (CHILD SAs
    /// of other IKE tunnels with the same selectors to the same peer); their inbound SPIs come
    /// back.
    ///
    /// # Errors
    /// [`EspError::Crypto`] when the keys do not fit the suite.
    pub fn install(
        &mut self,
        now: Instant,
        tunnel: DynamicTunnel,
        install: &ChildSaInstall,
    ) -> Result<Vec<u32>, EspError> {
        let mode = match install.mode {
            ike::sa::Mode::Tunnel => Mode::Tunnel,
            ike::sa::Mode::Transport => Mode::Transport,
        };
        let lifetime = Lifetime {
            soft_time: None,
            hard_time: Some(install.lifetime),
            soft_bytes: None,
            hard_bytes: None,
        };
        let parameters = |spi, direction| SaParameters {
            spi: Spi(spi),
            direction,
            mode,
            suite: install.suite,
            lifetime,
        };
        let inbound = SecurityAssociation::new(
            parameters(install.inbound_spi, Direction::Inbound),
            &install.inbound_keys,
            now,
        )?;
        let outbound = SecurityAssociation::new(
            parameters(install.outbound_spi, Direction::Outbound),
            &install.outbound_keys,
            now,
        )?;
        self.delete(install.inbound_spi);
        let duplicates: Vec<u32> = if tunnel.activation == ActivationMethod::Takeover {
            self.children
                .iter()
                .filter(|c| {
                    c.tunnel.ike_tunnel != tunnel.ike_tunnel
                        && c.local_ts == install.local_ts
                        && c.remote_ts == install.remote_ts
                        && c.remote.ip() == install.remote.ip()
                })
                .map(|c| c.inbound_spi)
                .collect()
        } else {
            Vec::new()
        };
        for spi in &duplicates {
            self.delete(*spi);
        }
        self.inbound.insert(inbound);
        self.outbound.insert(install.outbound_spi, outbound);
        self.children.push(ChildEntry {
            tunnel,
            inbound_spi: install.inbound_spi,
            outbound_spi: install.outbound_spi,
            suite: install.suite,
            mode,
            local_ts: install.local_ts,
            remote_ts: install.remote_ts,
            local: install.local,
            remote: install.remote,
            udp_encapsulation: install.udp_encapsulation,
            lifetime: install.lifetime,
            installed_at: now,
        });
        Ok(duplicates)
    }

    /// Removes the CHILD SA whose inbound SPI this is; whether there was one.
    pub fn delete(&mut self, inbound_spi: u32) -> bool {
        let Some(index) = self
            .children
            .iter()
            .position(|c| c.inbound_spi == inbound_spi)
        else {
            return false;
        };
        let child = self.children.remove(index);
        self.inbound.remove(Spi(child.inbound_spi));
        self.outbound.remove(&child.outbound_spi);
        true
    }

    /// Removes the CHILD SAs past their hard lifetime; returns their inbound SPIs.
    pub fn expire(&mut self, now: Instant) -> Vec<u32> {
        let spent: Vec<u32> = self
            .children
            .iter()
            .filter(|c| now.saturating_duration_since(c.installed_at) >= c.lifetime)
            .map(|c| c.inbound_spi)
            .collect();
        for spi in &spent {
            self.delete(*spi);
        }
        spent
    }

    /// The newest CHILD SA whose dynamic filter covers an outbound packet of `flow`.
    pub fn outbound_for(&self, flow: &Flow) -> Option<&ChildEntry> {
        self.children
            .iter()
            .rev()
            .find(|c| flow.fits(&c.local_ts, &c.remote_ts))
    }

    /// Whether any dynamic filter covers a packet of `flow` that arrived (in clear).
    pub fn covers_inbound(&self, flow: &Flow) -> bool {
        let ours = flow.reversed();
        self.children
            .iter()
            .any(|c| ours.fits(&c.local_ts, &c.remote_ts))
    }

    /// Protects `inner` on the outbound SA `outbound_spi`: the ESP packet from SPI to ICV.
    ///
    /// # Errors
    /// [`EspError::UnknownSpi`], and what [`SecurityAssociation::encapsulate`] returns.
    pub fn encapsulate<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        outbound_spi: u32,
        inner: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, EspError> {
        self.outbound
            .get_mut(&outbound_spi)
            .ok_or(EspError::UnknownSpi(Spi(outbound_spi)))?
            .encapsulate(now, inner, rng)
    }

    /// Checks and decrypts an inbound ESP packet; returns it with its CHILD SA.
    ///
    /// # Errors
    /// What [`crate::esp::InboundSas::decapsulate`] returns.
    pub fn decapsulate(
        &mut self,
        now: Instant,
        esp: &[u8],
    ) -> Result<(Decapsulated, &ChildEntry), EspError> {
        let decapsulated = self.inbound.decapsulate(now, esp)?;
        let spi = esp
            .first_chunk::<4>()
            .map(|b| u32::from_be_bytes(*b))
            .ok_or(EspError::UnknownSpi(Spi(0)))?;
        let child = self
            .children
            .iter()
            .find(|c| c.inbound_spi == spi)
            .ok_or(EspError::UnknownSpi(Spi(spi)))?;
        Ok((decapsulated, child))
    }

    /// The installed CHILD SAs, oldest first.
    pub fn children(&self) -> &[ChildEntry] {
        &self.children
    }

    /// The traffic counters of the CHILD SA whose inbound SPI this is.
    pub fn counters(&self, inbound_spi: u32) -> ChildCounters {
        let mut counters = ChildCounters::default();
        if let Some(sa) = self.inbound.get(Spi(inbound_spi)) {
            counters.inbound_packets = sa.packets();
            counters.inbound_bytes = sa.bytes();
        }
        let outbound = self
            .children
            .iter()
            .find(|c| c.inbound_spi == inbound_spi)
            .and_then(|c| self.outbound.get(&c.outbound_spi));
        if let Some(sa) = outbound {
            counters.outbound_packets = sa.packets();
            counters.outbound_bytes = sa.bytes();
        }
        counters
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use ike::crypto::{AesKeySize, Encryption, EspKeys, SecretBytes};

    use super::*;

    fn install(inbound_spi: u32, remote: Ipv4Addr) -> ChildSaInstall {
        let keys = || EspKeys {
            encryption: SecretBytes::new(vec![7; 20]),
            integrity: SecretBytes::new(Vec::new()),
        };
        let host = |a: Ipv4Addr| Ipv4Range {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: a,
            end_addr: a,
        };
        let dvipa = Ipv4Addr::new(198, 51, 100, 10);
        ChildSaInstall {
            inbound_spi,
            outbound_spi: inbound_spi + 1,
            suite: EspSuite {
                encryption: Encryption::AesGcm16(AesKeySize::Aes128),
                integrity: None,
            },
            inbound_keys: keys(),
            outbound_keys: keys(),
            mode: ike::sa::Mode::Transport,
            local_ts: host(dvipa),
            remote_ts: host(remote),
            local: SocketAddrV4::new(dvipa, 4500),
            remote: SocketAddrV4::new(remote, 4500),
            udp_encapsulation: true,
            lifetime: Duration::from_secs(3600),
            replaces: None,
        }
    }

    fn tunnel(id: u32, ike_tunnel: u32, activation: ActivationMethod) -> DynamicTunnel {
        DynamicTunnel {
            id,
            generation: 1,
            ike_tunnel,
            activation,
        }
    }

    #[test]
    fn a_takeover_tunnel_removes_the_duplicates_of_its_dynamic_filter_only() {
        let now = Instant::now();
        let peer = Ipv4Addr::new(192, 0, 2, 50);
        let other = Ipv4Addr::new(192, 0, 2, 51);
        let mut sad = Sad::new();
        let remote = tunnel(1, 1, ActivationMethod::Remote);
        assert_eq!(sad.install(now, remote, &install(0x100, peer)), Ok(vec![]));
        assert_eq!(sad.install(now, remote, &install(0x200, other)), Ok(vec![]));
        // The same selectors by another ordinary negotiation stay (the peer's business).
        let again = tunnel(2, 2, ActivationMethod::Remote);
        assert_eq!(sad.install(now, again, &install(0x300, peer)), Ok(vec![]));
        let takeover = tunnel(3, 3, ActivationMethod::Takeover);
        assert_eq!(
            sad.install(now, takeover, &install(0x400, peer)),
            Ok(vec![0x100, 0x300])
        );
        let left: Vec<u32> = sad.children().iter().map(|c| c.inbound_spi).collect();
        assert_eq!(left, vec![0x200, 0x400]);
    }
}
