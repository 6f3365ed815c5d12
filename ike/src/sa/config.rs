//! What one IKE SA is configured with: identities, the shared key, proposals, selectors, timers.

use std::time::Duration;

use crate::crypto::ids::DhGroup;
use crate::crypto::{EspSuite, IkeSuite, SecretBytes};
use crate::wire::{Identity, Ipv4Range};

/// How ESP protects traffic on a CHILD SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// A new IP header around the original packet.
    Tunnel,
    /// ESP between the original IP header and its payload (USE_TRANSPORT_MODE).
    Transport,
}

/// Retransmission of requests (RFC 7296 §2.1): the first timeout, then each one 9/5 of the
/// previous (strongSwan's 1.8 back-off), giving up after `tries` retransmissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitPolicy {
    /// Timeout after the first transmission.
    pub first_timeout: Duration,
    /// Retransmissions before the peer is declared dead.
    pub tries: u32,
}

impl RetransmitPolicy {
    /// strongSwan's defaults: 4 s, 1.8 back-off, 5 retransmissions (about 165 s in all).
    pub const STRONGSWAN: Self = Self {
        first_timeout: Duration::from_secs(4),
        tries: 5,
    };

    /// The timeout after transmission number `attempt` (0 for the first).
    pub fn timeout(&self, attempt: u32) -> Duration {
        (0..attempt).fold(self.first_timeout, |t, _| t * 9 / 5)
    }

    /// How long a request goes unanswered before the peer is declared dead.
    pub fn give_up_after(&self) -> Duration {
        (0..=self.tries).map(|n| self.timeout(n)).sum()
    }
}

/// The configuration of one IKE SA and the CHILD SAs it negotiates.
#[derive(Debug, Clone)]
pub struct IkeSaConfig {
    /// Our identity (IDi as initiator, IDr as responder).
    pub local_id: Identity,
    /// The identity the peer must authenticate as.
    pub remote_id: Identity,
    /// The pre-shared key (AUTH method 2).
    pub psk: SecretBytes,
    /// IKE proposals in order of preference; the first one's DH group goes into KE.
    pub ike_suites: Vec<IkeSuite>,
    /// ESP proposals in order of preference (no ESN).
    pub esp_suites: Vec<EspSuite>,
    /// Perfect forward secrecy: the DH group of the key exchange in every CREATE_CHILD_SA
    /// that makes or rekeys a CHILD SA, proposed and required (`DhGroup::NONE` for none). The
    /// CHILD SA of IKE_AUTH uses the IKE SA's keys (RFC 7296 §1.2).
    pub pfs: DhGroup,
    /// Our side of the CHILD SA's traffic.
    pub local_ts: Ipv4Range,
    /// The peer's side of the CHILD SA's traffic.
    pub remote_ts: Ipv4Range,
    /// Tunnel or transport mode.
    pub mode: Mode,
    /// Always move to port 4500 and UDP-encapsulate ESP, faking NAT detection so that the peer
    /// does too (what strongSwan 5.9.8 with kernel-libipsec does).
    pub force_udp_encapsulation: bool,
    /// Send INITIAL_CONTACT in IKE_AUTH: we hold no other IKE SA with this peer.
    pub initial_contact: bool,
    /// Request retransmission.
    pub retransmit: RetransmitPolicy,
    /// Send a liveness check when nothing came from the peer for this long.
    pub dpd_interval: Option<Duration>,
    /// Lifetime of the CHILD SAs, handed to the datapath.
    pub child_lifetime: Duration,
    /// Rekey each CHILD SA this long after it was installed (shorter than `child_lifetime`);
    /// `None` leaves rekeying to the peer.
    pub child_rekey_time: Option<Duration>,
    /// Rekey the IKE SA this long after it was established; `None` leaves it to the peer.
    pub ike_rekey_time: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongswan_backoff_gives_up_after_about_165_seconds() {
        let policy = RetransmitPolicy::STRONGSWAN;
        assert_eq!(policy.timeout(0), Duration::from_secs(4));
        assert_eq!(policy.timeout(1), Duration::from_millis(7200));
        assert_eq!(policy.give_up_after().as_secs(), 165);
    }
}
