//! Sysplex-wide security association (SWSA) restart records: what the owning stack writes to
//! the CF (structure EZBDVIPAvvtt) for each IKE SA on a DVIPA, so that the backup's IKE can
//! renegotiate the same phase 1 and phase 2 SAs after a takeover.
//!
//! A record holds the cached phase 1 policy, the phase 1 identities and endpoints, each phase 2
//! SA with its correlation to phase 1, its dynamic filter selectors, crypto policy, SPIs and
//! protocol, and a generation number. It holds **no key material**, and cannot: every field is
//! a plain number, name, address or selector, algorithms are kept as IANA transform IDs rather
//! than crypto types, and the crypto key types ([`crate::crypto::SecretBytes`], `EspKeys`,
//! `IkeSaKeys`) implement no `Serialize`, so a field of those types would not compile here. The
//! backup supplies the shared key from its own policy when it renegotiates
//! ([`RestartRecord::renegotiation_config`]).

use std::fmt;
use std::net::SocketAddrV4;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto::ids::{DhGroup, EncrId, IntegId, PrfId};
use crate::crypto::{
    CryptoError, Encryption, EspSuite, IkeSuite, Integrity, Prf, Role, SecretBytes,
};
use crate::sa::{ChildSa, IkeSa, IkeSaConfig, Mode, RetransmitPolicy};
use crate::wire::{AuthMethod, Identity, Ipv4Range, ProtocolId};

/// The restart record of one IKE SA (phase 1) and its CHILD SAs (phase 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartRecord {
    /// Bumped each time the owning stack rewrites the record (refresh, rekey, new CHILD SA).
    pub generation: u32,
    /// The phase 1 (IKE) SA.
    pub phase1: Phase1Record,
    /// Its phase 2 (CHILD) SAs.
    pub phase2: Vec<Phase2Record>,
}

/// The cached phase 1 policy: the rule and action the SA was negotiated under and what they
/// offer (z/OS KeyExchangeRule, KeyExchangeAction, KeyExchangeOffer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase1Policy {
    /// KeyExchangeRuleName.
    pub key_exchange_rule: String,
    /// KeyExchangeActionName.
    pub key_exchange_action: String,
    /// How the peers authenticate (shared key MIC: the key itself is not recorded).
    pub auth_method: AuthMethod,
    /// The IKE proposals, in order of preference.
    pub ike_offers: Vec<IkeAlgorithms>,
    /// The ESP proposals, in order of preference.
    pub esp_offers: Vec<EspAlgorithms>,
    /// Whether ESP is always UDP-encapsulated on 4500.
    pub force_udp_encapsulation: bool,
    /// Tunnel or transport mode for phase 2.
    pub mode: Mode,
    /// Seconds after which the IKE SA is rekeyed, if the owner rekeys it.
    pub ike_rekey_secs: Option<u64>,
}

/// IKE algorithms as IANA transform IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeAlgorithms {
    /// ENCR transform ID.
    pub encryption: u16,
    /// Key length in bits.
    pub key_bits: u16,
    /// INTEG transform ID, none with AEAD.
    pub integrity: Option<u16>,
    /// PRF transform ID.
    pub prf: u16,
    /// Diffie-Hellman group.
    pub dh_group: u16,
}

/// ESP algorithms as IANA transform IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EspAlgorithms {
    /// ENCR transform ID.
    pub encryption: u16,
    /// Key length in bits.
    pub key_bits: u16,
    /// INTEG transform ID, none with AEAD.
    pub integrity: Option<u16>,
}

/// Which end of the phase 1 SA the owning stack was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase1Role {
    /// The owning stack initiated it.
    Initiator,
    /// The peer initiated it.
    Responder,
}

/// The phase 1 SA: identities, endpoints, SPIs and the negotiated algorithms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase1Record {
    /// The cached phase 1 policy.
    pub policy: Phase1Policy,
    /// LocalID (type and value).
    pub local_id: Identity,
    /// RemoteID (type and value).
    pub remote_id: Identity,
    /// LocalEndpoint: the DVIPA and IKE port.
    pub local_endpoint: SocketAddrV4,
    /// RemoteEndpoint: the peer's address and port.
    pub remote_endpoint: SocketAddrV4,
    /// Who initiated.
    pub role: Phase1Role,
    /// IKE SA initiator's SPI.
    pub spi_i: u64,
    /// IKE SA responder's SPI.
    pub spi_r: u64,
    /// The negotiated algorithms.
    pub negotiated: IkeAlgorithms,
    /// Whether IKE moved to 4500 (NAT-T).
    pub udp_encapsulation: bool,
}

/// The dynamic filter a phase 2 SA installed (z/OS dynamic IP filter rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicFilter {
    /// Local side: addresses, protocol, ports.
    pub local: Ipv4Range,
    /// Remote side.
    pub remote: Ipv4Range,
}

/// One phase 2 SA: its correlation to phase 1, selectors, crypto policy, SPIs and protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase2Record {
    /// The phase 1 SA it was negotiated under, as (SPIi, SPIr).
    pub phase1_spis: (u64, u64),
    /// LocalDynVpnRuleName.
    pub dyn_vpn_rule: String,
    /// VpnActionName.
    pub vpn_action: String,
    /// The dynamic filter selectors.
    pub filter: DynamicFilter,
    /// The crypto policy in force.
    pub crypto: EspAlgorithms,
    /// Tunnel or transport.
    pub mode: Mode,
    /// ESP or AH.
    pub protocol: ProtocolId,
    /// Inbound SPI.
    pub inbound_spi: u32,
    /// Outbound SPI.
    pub outbound_spi: u32,
    /// Lifetime in seconds.
    pub lifetime_secs: u64,
    /// Seconds after installation at which the owner rekeys it, if it does.
    pub rekey_secs: Option<u64>,
}

impl IkeAlgorithms {
    /// The transform IDs of a suite.
    pub fn of(suite: &IkeSuite) -> Self {
        Self {
            encryption: suite.encryption.transform_id().0,
            key_bits: suite.encryption.key_bits(),
            integrity: suite.integrity.map(|i| i.transform_id().0),
            prf: suite.prf.transform_id().0,
            dh_group: suite.dh.0,
        }
    }

    /// The suite these IDs name.
    pub fn suite(&self) -> Result<IkeSuite, CryptoError> {
        IkeSuite::new(
            Encryption::from_transform(EncrId(self.encryption), Some(self.key_bits))?,
            self.integrity
                .map(|i| Integrity::from_transform(IntegId(i)))
                .transpose()?,
            Prf::from_transform(PrfId(self.prf))?,
            DhGroup(self.dh_group),
        )
    }
}

impl EspAlgorithms {
    /// The transform IDs of a suite.
    pub fn of(suite: &EspSuite) -> Self {
        Self {
            encryption: suite.encryption.transform_id().0,
            key_bits: suite.encryption.key_bits(),
            integrity: suite.integrity.map(|i| i.transform_id().0),
        }
    }

    /// The suite these IDs name.
    pub fn suite(&self) -> Result<EspSuite, CryptoError> {
        EspSuite::new(
            Encryption::from_transform(EncrId(self.encryption), Some(self.key_bits))?,
            self.integrity
                .map(|i| Integrity::from_transform(IntegId(i)))
                .transpose()?,
        )
    }
}

/// The z/OS policy names an IKE SA and its CHILD SAs run under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyNames {
    /// KeyExchangeRuleName.
    pub key_exchange_rule: String,
    /// KeyExchangeActionName.
    pub key_exchange_action: String,
    /// LocalDynVpnRuleName.
    pub dyn_vpn_rule: String,
    /// VpnActionName.
    pub vpn_action: String,
}

impl RestartRecord {
    /// The record of an established IKE SA; `None` before IKE_SA_INIT completes.
    pub fn of(sa: &IkeSa, names: &PolicyNames, generation: u32) -> Option<Self> {
        let config = sa.config();
        let negotiated = IkeAlgorithms::of(&sa.suite()?);
        let phase1_spis = sa.spis();
        let policy = Phase1Policy {
            key_exchange_rule: names.key_exchange_rule.clone(),
            key_exchange_action: names.key_exchange_action.clone(),
            auth_method: AuthMethod::SHARED_KEY_MIC,
            ike_offers: config.ike_suites.iter().map(IkeAlgorithms::of).collect(),
            esp_offers: config.esp_suites.iter().map(EspAlgorithms::of).collect(),
            force_udp_encapsulation: config.force_udp_encapsulation,
            mode: config.mode,
            ike_rekey_secs: config.ike_rekey_time.map(|t| t.as_secs()),
        };
        let phase2 = sa
            .children()
            .iter()
            .map(|child: &ChildSa| Phase2Record {
                phase1_spis,
                dyn_vpn_rule: names.dyn_vpn_rule.clone(),
                vpn_action: names.vpn_action.clone(),
                filter: DynamicFilter {
                    local: child.local_ts,
                    remote: child.remote_ts,
                },
                crypto: EspAlgorithms::of(&child.suite),
                mode: child.mode,
                protocol: ProtocolId::ESP,
                inbound_spi: child.inbound_spi,
                outbound_spi: child.outbound_spi,
                lifetime_secs: config.child_lifetime.as_secs(),
                rekey_secs: config.child_rekey_time.map(|t| t.as_secs()),
            })
            .collect();
        Some(Self {
            generation,
            phase1: Phase1Record {
                policy,
                local_id: config.local_id.clone(),
                remote_id: config.remote_id.clone(),
                local_endpoint: sa.local(),
                remote_endpoint: sa.remote(),
                role: match sa.role() {
                    Role::Initiator => Phase1Role::Initiator,
                    Role::Responder => Phase1Role::Responder,
                },
                spi_i: phase1_spis.0,
                spi_r: phase1_spis.1,
                negotiated,
                udp_encapsulation: sa.udp_encapsulation(),
            },
            phase2,
        })
    }

    /// The configuration a backup stack's IKE initiates the replacement SA with: the same
    /// identities, the negotiated algorithms first, then the rest of the cached offers, the
    /// phase 2 selectors of the first CHILD SA (or none), with `psk` from the backup's own
    /// policy. INITIAL_CONTACT is sent, so the peer drops what it holds for the old owner.
    pub fn renegotiation_config(
        &self,
        psk: SecretBytes,
    ) -> Result<Option<IkeSaConfig>, CryptoError> {
        let p1 = &self.phase1;
        let Some(first) = self.phase2.first() else {
            return Ok(None);
        };
        let mut ike_suites = vec![p1.negotiated.suite()?];
        for offer in &p1.policy.ike_offers {
            let suite = offer.suite()?;
            if !ike_suites.contains(&suite) {
                ike_suites.push(suite);
            }
        }
        let mut esp_suites = vec![first.crypto.suite()?];
        for offer in &p1.policy.esp_offers {
            let suite = offer.suite()?;
            if !esp_suites.contains(&suite) {
                esp_suites.push(suite);
            }
        }
        Ok(Some(IkeSaConfig {
            local_id: p1.local_id.clone(),
            remote_id: p1.remote_id.clone(),
            psk,
            ike_suites,
            esp_suites,
            // PFS is this stack's policy, like the key (see the takeover plan).
            pfs: DhGroup::NONE,
            local_ts: first.filter.local,
            remote_ts: first.filter.remote,
            mode: first.mode,
            force_udp_encapsulation: p1.policy.force_udp_encapsulation,
            initial_contact: true,
            retransmit: RetransmitPolicy::STRONGSWAN,
            dpd_interval: None,
            child_lifetime: Duration::from_secs(first.lifetime_secs),
            child_rekey_time: first.rekey_secs.map(Duration::from_secs),
            ike_rekey_time: p1.policy.ike_rekey_secs.map(Duration::from_secs),
        }))
    }
}

impl fmt::Display for RestartRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p1 = &self.phase1;
        write!(
            f,
            "SWSA generation {} {} {} <-> {} {} SPIs {:016x}_i {:016x}_r, {} phase 2 SA(s)",
            self.generation,
            p1.local_id,
            p1.local_endpoint,
            p1.remote_endpoint,
            p1.remote_id,
            p1.spi_i,
            p1.spi_r,
            self.phase2.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sa::Action;
    use crate::sa::tests::{established_pair, installs};

    fn names() -> PolicyNames {
        PolicyNames {
            key_exchange_rule: "KeyExRule1".into(),
            key_exchange_action: "KeyExAction1".into(),
            dyn_vpn_rule: "DynVpnRule1".into(),
            vpn_action: "VpnAction1".into(),
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn records_phase1_and_phase2_without_key_material() {
        let pair = established_pair();
        let record = RestartRecord::of(&pair.i, &names(), 3).unwrap();
        let child = installs(&pair.i_events)[0].clone();
        assert_eq!(record.generation, 3);
        assert_eq!(record.phase1.role, Phase1Role::Initiator);
        assert_eq!((record.phase1.spi_i, record.phase1.spi_r), pair.i.spis());
        assert_eq!(record.phase1.local_endpoint.port(), 4500);
        assert_eq!(record.phase2.len(), 1);
        let p2 = &record.phase2[0];
        assert_eq!(
            (p2.inbound_spi, p2.outbound_spi),
            (child.inbound_spi, child.outbound_spi)
        );
        assert_eq!(p2.phase1_spis, pair.i.spis());
        assert_eq!(
            p2.filter,
            DynamicFilter {
                local: child.local_ts,
                remote: child.remote_ts
            }
        );

        let bytes = postcard::to_stdvec(&record).unwrap();
        for key in [&child.inbound_keys, &child.outbound_keys] {
            assert!(
                !contains(&bytes, key.encryption.as_bytes()),
                "ESP key in the record"
            );
        }
        assert!(
            !contains(&bytes, pair.i.config().psk.as_bytes()),
            "PSK in the record"
        );
        assert_eq!(
            postcard::from_bytes::<RestartRecord>(&bytes).unwrap(),
            record
        );
    }

    #[test]
    fn backup_renegotiates_from_the_record_with_its_own_key() {
        let pair = established_pair();
        let record = RestartRecord::of(&pair.i, &names(), 1).unwrap();
        let psk = pair.i.config().psk.clone();
        let config = record.renegotiation_config(psk).unwrap().unwrap();
        assert_eq!(config.ike_suites[0], pair.i.suite().unwrap());
        assert_eq!(config.remote_id, pair.i.config().remote_id);
        assert_eq!(config.local_ts, record.phase2[0].filter.local);
        assert!(config.initial_contact);
        let mut backup =
            crate::sa::tests::Pair::start(config, crate::sa::tests::responder_config());
        backup.run();
        assert!(backup.i.is_established());
        assert!(
            backup
                .r_events
                .iter()
                .any(|a| matches!(a, Action::InitialContact { .. }))
        );
    }

    #[test]
    fn displays_as_one_line() {
        let pair = established_pair();
        let record = RestartRecord::of(&pair.i, &names(), 2).unwrap();
        let (spi_i, spi_r) = pair.i.spis();
        assert_eq!(
            record.to_string(),
            format!(
                "SWSA generation 2 192.0.2.1 192.0.2.1:4500 <-> 198.51.100.1:4500 198.51.100.1 \
                 SPIs {spi_i:016x}_i {spi_r:016x}_r, 1 phase 2 SA(s)"
            )
        );
    }
}
