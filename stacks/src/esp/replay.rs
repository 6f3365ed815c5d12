//! The ESP anti-replay window (RFC 4303 §3.4.3, Appendix A2): 128 packets, the size
//! strongSwan's kernel-libipsec uses.
//!
//! [`ReplayWindow::check`] runs before the ICV check and changes nothing;
//! [`ReplayWindow::accept`] runs only after the packet authenticated, so a forged packet
//! cannot move the window.

/// Sequence numbers tracked below the highest one received.
pub const REPLAY_WINDOW_SIZE: u32 = 128;

/// Why a sequence number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Sequence number 0 is never sent (the first packet carries 1).
    #[error("sequence number 0")]
    Zero,
    /// Already received.
    #[error("sequence number {0} replayed")]
    Duplicate(u32),
    /// Too far below the highest sequence number received to be checked.
    #[error("sequence number {seq} is left of the window (highest {highest})")]
    BehindWindow {
        /// The refused sequence number.
        seq: u32,
        /// The highest sequence number received.
        highest: u32,
    },
}

/// A sliding window over the last 128 sequence numbers of an inbound SA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest authenticated sequence number; 0 before the first packet.
    highest: u32,
    /// Bit i set: sequence number `highest - i` has been received.
    seen: u128,
}

impl ReplayWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest sequence number accepted so far (0 if none).
    pub fn highest(&self) -> u32 {
        self.highest
    }

    /// Whether `seq` may be new; call before the integrity check.
    ///
    /// # Errors
    /// The [`ReplayError`] that says why `seq` is refused.
    pub fn check(&self, seq: u32) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.highest {
            return Ok(());
        }
        let behind = self.highest - seq;
        if behind >= REPLAY_WINDOW_SIZE {
            return Err(ReplayError::BehindWindow {
                seq,
                highest: self.highest,
            });
        }
        if self.seen & (1u128 << behind) != 0 {
            return Err(ReplayError::Duplicate(seq));
        }
        Ok(())
    }

    /// Records an authenticated `seq`, sliding the window forward if it is the new highest.
    ///
    /// # Errors
    /// As [`ReplayWindow::check`]: the window is unchanged then.
    pub fn accept(&mut self, seq: u32) -> Result<(), ReplayError> {
        self.check(seq)?;
        if seq > self.highest {
            let shift = seq - self.highest;
            self.seen = if shift >= REPLAY_WINDOW_SIZE {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = seq;
        } else {
            self.seen |= 1u128 << (self.highest - seq);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_in_order_and_refuses_repeats() {
        let mut window = ReplayWindow::new();
        for seq in 1..=300 {
            assert_eq!(window.accept(seq), Ok(()));
            assert_eq!(window.check(seq), Err(ReplayError::Duplicate(seq)));
        }
        assert_eq!(window.highest(), 300);
    }

    #[test]
    fn refuses_sequence_number_zero() {
        let window = ReplayWindow::new();
        assert_eq!(window.check(0), Err(ReplayError::Zero));
    }

    #[test]
    fn accepts_out_of_order_within_the_window_once() {
        let mut window = ReplayWindow::new();
        window.accept(200).unwrap();
        window.accept(73).unwrap();
        assert_eq!(window.accept(73), Err(ReplayError::Duplicate(73)));
        window.accept(150).unwrap();
        window.accept(199).unwrap();
        assert_eq!(window.check(199), Err(ReplayError::Duplicate(199)));
        assert_eq!(window.check(198), Ok(()));
    }

    #[test]
    fn refuses_what_fell_off_the_left_edge() {
        let mut window = ReplayWindow::new();
        window.accept(1000).unwrap();
        assert_eq!(window.check(873), Ok(()));
        assert_eq!(
            window.check(872),
            Err(ReplayError::BehindWindow {
                seq: 872,
                highest: 1000
            })
        );
        assert_eq!(
            window.check(1),
            Err(ReplayError::BehindWindow {
                seq: 1,
                highest: 1000
            })
        );
    }

    #[test]
    fn a_large_jump_forgets_the_old_bitmap() {
        let mut window = ReplayWindow::new();
        window.accept(5).unwrap();
        window.accept(5 + 128).unwrap();
        assert_eq!(window.check(6), Ok(()));
        assert_eq!(
            window.check(5),
            Err(ReplayError::BehindWindow {
                seq: 5,
                highest: 133
            })
        );
        window.accept(10_000).unwrap();
        assert_eq!(window.check(9_999), Ok(()));
        assert_eq!(window.check(10_000 - 127), Ok(()));
    }

    #[test]
    fn a_refused_accept_leaves_the_window_unchanged() {
        let mut window = ReplayWindow::new();
        window.accept(500).unwrap();
        let before = window.clone();
        assert!(window.accept(500).is_err());
        assert!(window.accept(10).is_err());
        assert_eq!(window, before);
    }

    #[test]
    fn accepts_any_jump_ahead_like_libipsec() {
        // A restored SA whose outbound counter jumped forward keeps working.
        let mut window = ReplayWindow::new();
        window.accept(1).unwrap();
        window.accept(u32::MAX).unwrap();
        assert_eq!(window.highest(), u32::MAX);
    }

    proptest! {
        /// Against a model: a set of accepted numbers and the highest one.
        #[test]
        fn matches_a_set_model(seqs in proptest::collection::vec(1u32..400, 1..300)) {
            let mut window = ReplayWindow::new();
            let mut accepted = std::collections::BTreeSet::new();
            for seq in seqs {
                let highest = accepted.last().copied().unwrap_or(0);
                let expected_ok = !accepted.contains(&seq) && (seq > highest || highest - seq < REPLAY_WINDOW_SIZE);
                prop_assert_eq!(window.accept(seq).is_ok(), expected_ok);
                if expected_ok {
                    accepted.insert(seq);
                }
            }
        }
    }
}
