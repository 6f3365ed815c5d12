//! Sysplex-wide security associations (SWSA): the owner of a DVIPA under `IPSEC DVIPSEC` keeps
//! the restart information of every IKE tunnel on it in the CF structure EZBDVIPA, and the
//! stack that takes the DVIPA over reads it, hands it to its IKE daemon to renegotiate as
//! initiator (ActivationMethod Takeover), clears what it consumed, and tells the old stack's
//! IKE to drop its tunnels.
//!
//! [`core::SwsaCore`] decides (sans-IO), [`store::RestartStore`] talks to the CF,
//! [`pacer::Window`] paces the renegotiations of a takeover, and the DVIPA service runs them
//! beside the DVIPA manager, whose activations and releases drive it.

pub mod core;
pub mod display;
pub mod layout;
pub mod pacer;
pub mod shell;
pub mod store;

pub use self::core::{SwsaAction, SwsaCore, SwsaEvent, SwsaNote};
pub use self::layout::StoredRecord;
pub use self::shell::{SwsaLink, SwsaSignal, SwsaTimeline};
pub use self::store::{RestartStore, StoreOp};

use cf::structure::Reply;

/// What can go wrong with EZBDVIPA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SwsaError {
    /// The CF refused a request.
    #[error("{request} refused by the CF: RC {rc} {reason}")]
    Cf {
        /// The request (IXLCONN, WRITE, DELETE, READ_LIST).
        request: &'static str,
        /// The return code.
        rc: String,
        /// The reason code.
        reason: String,
    },
    /// The CF link failed.
    #[error("CF link: {0}")]
    Link(String),
    /// A restart record could not be encoded.
    #[error("restart record not encoded: {0}")]
    Encode(String),
    /// An entry's data is not a restart record this stack can read.
    #[error("corrupt EZBDVIPA entry: {0}")]
    Corrupt(String),
}

impl SwsaError {
    fn refused(request: &'static str, reply: &Reply) -> Self {
        Self::Cf {
            request,
            rc: reply.rc.to_string(),
            reason: reply.reason.to_string(),
        }
    }
}
