//! The stack's clock: smoltcp time derived from tokio's clock, so that a test that pauses tokio
//! time (`tokio::time::pause`) drives every timer of the stack, and nothing reads the wall clock.

use smoltcp::time::{Duration, Instant};

/// Maps tokio time to smoltcp time, counted from when the stack started.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Self {
            epoch: tokio::time::Instant::now(),
        }
    }

    /// The current smoltcp time.
    pub fn now(&self) -> Instant {
        let micros = self.epoch.elapsed().as_micros();
        Instant::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// The tokio instant of a smoltcp time.
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        let micros = u64::try_from(at.total_micros()).unwrap_or(0);
        self.epoch + std::time::Duration::from_micros(micros)
    }

    /// A smoltcp duration from a std one.
    pub fn duration(duration: std::time::Duration) -> Duration {
        Duration::from_micros(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_tokio_time() {
        let clock = Clock::start();
        assert_eq!(clock.now(), Instant::ZERO);
        tokio::time::advance(std::time::Duration::from_millis(1500)).await;
        assert_eq!(clock.now(), Instant::from_millis(1500));
        assert_eq!(
            clock.to_tokio(Instant::from_millis(1500)),
            tokio::time::Instant::now()
        );
    }
}
