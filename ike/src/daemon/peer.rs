//! The peers a daemon negotiates with: one per KeyExchangeRule and remote location.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::crypto::ids::DhGroup;
use crate::crypto::{AesKeySize, Encryption, EspSuite, IkeSuite, Integrity, Prf, SecretBytes};
use crate::sa::{IkeSaConfig, Mode, RetransmitPolicy};
use crate::swsa::PolicyNames;
use crate::wire::{Identity, Ipv4Range};

/// How a tunnel came to be (z/OS `ActivationMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivationMethod {
    /// A command (`ipsec -a`) or the daemon's own start-up policy.
    User,
    /// The peer initiated it.
    Remote,
    /// Outbound traffic needed it.
    OnDemand,
    /// Renegotiated by a backup stack after a DVIPA takeover (SWSA).
    Takeover,
    /// Activated automatically when the policy was installed.
    Autoact,
}

impl fmt::Display for ActivationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::User => "User",
            Self::Remote => "Remote",
            Self::OnDemand => "OnDemand",
            Self::Takeover => "Takeover",
            Self::Autoact => "Autoact",
        })
    }
}

/// One IKE peer: where it is, the IKE SA configuration to run with it, and the policy names
/// the displays and restart records carry.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Our IKE address (a HOME address or DVIPA).
    pub local: Ipv4Addr,
    /// The peer's IKE address.
    pub remote: Ipv4Addr,
    /// Identities, PSK, proposals, selectors, lifetimes.
    pub config: IkeSaConfig,
    /// The z/OS rule and action names.
    pub names: PolicyNames,
    /// Whether the daemon starts the tunnel itself when it starts (`Autoact`).
    pub autoactivate: bool,
}

/// The two proposal families strongSwan 5.9.8 with kernel-libipsec negotiates in the labs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalFamily {
    /// IKE `aes128gcm16-prfsha256-x25519`, ESP `aes128gcm16` (strongSwan's default).
    AesGcm16X25519,
    /// IKE `aes256-sha256-modp2048`, ESP `aes256-sha256`.
    AesCbcSha256Modp2048,
}

impl ProposalFamily {
    /// The IKE SA algorithms.
    pub fn ike_suite(self) -> IkeSuite {
        match self {
            Self::AesGcm16X25519 => IkeSuite {
                encryption: Encryption::AesGcm16(AesKeySize::Aes128),
                integrity: None,
                prf: Prf::HmacSha2_256,
                dh: DhGroup::CURVE25519,
            },
            Self::AesCbcSha256Modp2048 => IkeSuite {
                encryption: Encryption::AesCbc(AesKeySize::Aes256),
                integrity: Some(Integrity::HmacSha2_256_128),
                prf: Prf::HmacSha2_256,
                dh: DhGroup::MODP_2048,
            },
        }
    }

    /// The ESP algorithms.
    pub fn esp_suite(self) -> EspSuite {
        match self {
            Self::AesGcm16X25519 => EspSuite {
                encryption: Encryption::AesGcm16(AesKeySize::Aes128),
                integrity: None,
            },
            Self::AesCbcSha256Modp2048 => EspSuite {
                encryption: Encryption::AesCbc(AesKeySize::Aes256),
                integrity: Some(Integrity::HmacSha2_256_128),
            },
        }
    }

    /// strongSwan's names: (IKE proposal, ESP proposal) for swanctl.conf.
    pub fn strongswan_proposals(self) -> (&'static str, &'static str) {
        match self {
            Self::AesGcm16X25519 => ("aes128gcm16-prfsha256-x25519", "aes128gcm16"),
            Self::AesCbcSha256Modp2048 => ("aes256-sha256-modp2048", "aes256-sha256"),
        }
    }
}

impl Peer {
    /// A host-to-host tunnel with a pre-shared key, as strongSwan's kernel-libipsec runs it:
    /// IPv4 address identities, tunnel mode, NAT-T forced (IKE on 4500, ESP in UDP),
    /// INITIAL_CONTACT, strongSwan's retransmission schedule, one-hour CHILD SAs, no timed
    /// rekeys or liveness checks, the rule names `KeyExRule1`, `KeyExAction1`, `DynVpnRule1`
    /// and `VpnAction1`, not autoactivated. Change the fields for anything else.
    pub fn host_to_host(
        local: Ipv4Addr,
        remote: Ipv4Addr,
        psk: &[u8],
        family: ProposalFamily,
    ) -> Self {
        Self {
            local,
            remote,
            config: IkeSaConfig {
                local_id: Identity::Ipv4(local),
                remote_id: Identity::Ipv4(remote),
                psk: SecretBytes::new(psk.to_vec()),
                ike_suites: vec![family.ike_suite()],
                esp_suites: vec![family.esp_suite()],
                pfs: DhGroup::NONE,
                local_ts: Ipv4Range::host(local),
                remote_ts: Ipv4Range::host(remote),
                mode: Mode::Tunnel,
                force_udp_encapsulation: true,
                initial_contact: true,
                retransmit: RetransmitPolicy::STRONGSWAN,
                dpd_interval: None,
                child_lifetime: Duration::from_secs(3600),
                child_rekey_time: None,
                ike_rekey_time: None,
            },
            names: PolicyNames {
                key_exchange_rule: "KeyExRule1".into(),
                key_exchange_action: "KeyExAction1".into(),
                dyn_vpn_rule: "DynVpnRule1".into(),
                vpn_action: "VpnAction1".into(),
            },
            autoactivate: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_proposal_families_are_consistent_suites() {
        for family in [
            ProposalFamily::AesGcm16X25519,
            ProposalFamily::AesCbcSha256Modp2048,
        ] {
            let ike = family.ike_suite();
            assert_eq!(
                IkeSuite::new(ike.encryption, ike.integrity, ike.prf, ike.dh),
                Ok(ike)
            );
            let esp = family.esp_suite();
            assert_eq!(EspSuite::new(esp.encryption, esp.integrity), Ok(esp));
        }
    }
}
