//! The peers a daemon negotiates with: one per KeyExchangeRule and remote location.

use std::fmt;
use std::net::Ipv4Addr;

use crate::sa::IkeSaConfig;
use crate::swsa::PolicyNames;

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
