//! SA lifetimes by time and by bytes, each with a soft limit (start a rekey) and a hard limit
//! (stop using the SA), as IKEv2 implementations keep them (RFC 7296 §2.8).

use std::time::Duration;

/// Soft and hard limits of an SA; `None` means no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// Age at which to start a rekey.
    pub soft_time: Option<Duration>,
    /// Age at which the SA must no longer be used.
    pub hard_time: Option<Duration>,
    /// Protected octets after which to start a rekey.
    pub soft_bytes: Option<u64>,
    /// Protected octets after which the SA must no longer be used.
    pub hard_bytes: Option<u64>,
}

/// Where an SA stands against its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LifetimeStatus {
    /// Below both soft limits.
    Live,
    /// Past a soft limit: rekey now, keep using the SA meanwhile.
    Soft,
    /// Past a hard limit: the SA is dead.
    Hard,
}

impl Lifetime {
    /// The status after `age` and `bytes` protected octets.
    pub fn status(&self, age: Duration, bytes: u64) -> LifetimeStatus {
        let past = |limit: Option<Duration>| limit.is_some_and(|limit| age >= limit);
        let past_bytes = |limit: Option<u64>| limit.is_some_and(|limit| bytes >= limit);
        if past(self.hard_time) || past_bytes(self.hard_bytes) {
            LifetimeStatus::Hard
        } else if past(self.soft_time) || past_bytes(self.soft_bytes) {
            LifetimeStatus::Soft
        } else {
            LifetimeStatus::Live
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Lifetime = Lifetime {
        soft_time: Some(Duration::from_secs(3000)),
        hard_time: Some(Duration::from_secs(3600)),
        soft_bytes: Some(900),
        hard_bytes: Some(1000),
    };

    #[test]
    fn time_limits_go_soft_then_hard() {
        assert_eq!(
            LIMITS.status(Duration::from_secs(2999), 0),
            LifetimeStatus::Live
        );
        assert_eq!(
            LIMITS.status(Duration::from_secs(3000), 0),
            LifetimeStatus::Soft
        );
        assert_eq!(
            LIMITS.status(Duration::from_secs(3600), 0),
            LifetimeStatus::Hard
        );
    }

    #[test]
    fn byte_limits_go_soft_then_hard() {
        assert_eq!(LIMITS.status(Duration::ZERO, 899), LifetimeStatus::Live);
        assert_eq!(LIMITS.status(Duration::ZERO, 900), LifetimeStatus::Soft);
        assert_eq!(LIMITS.status(Duration::ZERO, 1000), LifetimeStatus::Hard);
    }

    #[test]
    fn no_limits_means_forever() {
        assert_eq!(
            Lifetime::default().status(Duration::MAX, u64::MAX),
            LifetimeStatus::Live
        );
    }
}
