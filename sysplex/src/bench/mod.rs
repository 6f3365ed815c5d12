//! The benchmarks `sysplex bench` runs. Each measures our figure and a named peer's side by side
//! in the same run and prints one table with the ratio; parts that need root say so and are
//! skipped without it.
//!
//! - [`takeover`]: DVIPA takeover time after SIGKILL of the owner (embedded lab, TAP lab) against
//!   keepalived's VRRP.
//! - [`throughput`]: TCP from a Linux host to a stack over TAP against Linux to Linux over veth.
//! - [`swsa`]: sysplex-wide security associations, the takeover of 1 to 1,000 IKE tunnels
//!   (embedded lab; no side-by-side peer exists, the anchors are published figures), and
//!   [`swsa_swan`]: the same takeover against a real strongSwan peer in the TAP lab of
//!   [`swan_lab`] (root), which the test `swsa_swan_tap_lab` runs too.

mod embedded_takeover;
pub mod gateway;
mod keepalived;
mod probe;
pub mod swan_lab;
pub mod swsa;
mod swsa_lab;
pub mod swsa_swan;
pub mod takeover;
mod tap_takeover;
pub mod throughput;

/// The median, least and greatest of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The least sample.
    pub min: f64,
    /// The greatest sample.
    pub max: f64,
}

impl Summary {
    /// The summary of `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let (first, last) = (*sorted.first()?, *sorted.last()?);
        let upper = *sorted.get(n / 2)?;
        let median = if n.is_multiple_of(2) {
            (upper + sorted.get(n / 2 - 1).copied().unwrap_or(upper)) / 2.0
        } else {
            upper
        };
        Some(Self {
            median,
            min: first,
            max: last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_takes_the_middle_sample_or_the_mean_of_the_middle_two() {
        let odd = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max), (3.0, 1.0, 5.0));
        let even = Summary::of(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((even.median, even.min, even.max), (3.0, 1.0, 10.0));
        assert_eq!(Summary::of(&[]), None);
    }
}
