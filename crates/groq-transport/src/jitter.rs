//! [`Jitter`]: the random source behind the backoff of a [`RetryPolicy`](crate::RetryPolicy).

use std::fmt;
use std::ops::RangeBounds;
use std::time::Duration;

/// Where a [`RetryPolicy`](crate::RetryPolicy) draws its random backoff waits from.
///
/// A small, fast, non-cryptographic generator. [`Jitter::new`] seeds it from the process's
/// entropy; [`Jitter::with_seed`] makes the sequence of waits reproducible (tests, benchmarks,
/// a client built with a fixed seed).
///
/// ```
/// use std::time::Duration;
/// use groq_transport::Jitter;
///
/// let ceiling = Duration::from_secs(2);
/// let mut a = Jitter::with_seed(7);
/// let mut b = Jitter::with_seed(7);
/// let wait = a.up_to(ceiling);
/// assert!(wait <= ceiling);
/// assert_eq!(wait, b.up_to(ceiling));
/// ```
#[derive(Clone)]
pub struct Jitter(fastrand::Rng);

impl Jitter {
    /// A generator seeded from the process's entropy.
    pub fn new() -> Self {
        Self(fastrand::Rng::new())
    }

    /// A generator whose draws depend only on `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Self(fastrand::Rng::with_seed(seed))
    }

    /// A uniformly random duration in `[0, ceiling]`, to the nanosecond.
    pub fn up_to(&mut self, ceiling: Duration) -> Duration {
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.0.u64(0..=nanos))
    }

    /// A uniformly random integer in `range`, for other draws that should share the
    /// generator (and its seed), such as a multipart boundary.
    ///
    /// # Panics
    ///
    /// When `range` is empty.
    pub fn u64(&mut self, range: impl RangeBounds<u64>) -> u64 {
        self.0.u64(range)
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jitter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_within_the_ceiling_and_spread_over_it() {
        let mut jitter = Jitter::with_seed(3);
        let ceiling = Duration::from_millis(100);
        let draws: Vec<Duration> = (0..1000).map(|_| jitter.up_to(ceiling)).collect();
        assert!(draws.iter().all(|d| *d <= ceiling));
        assert!(draws.iter().any(|d| *d < ceiling / 4));
        assert!(draws.iter().any(|d| *d > ceiling * 3 / 4));
        assert_eq!(jitter.up_to(Duration::ZERO), Duration::ZERO);
        assert!(
            (0..100)
                .map(|_| jitter.u64(5..8))
                .all(|n| (5..8).contains(&n))
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_draws() {
        let mut a = Jitter::with_seed(11);
        let mut b = Jitter::with_seed(11);
        let mut c = Jitter::with_seed(12);
        let ceiling = Duration::from_secs(8);
        let from_a: Vec<Duration> = (0..8).map(|_| a.up_to(ceiling)).collect();
        let from_b: Vec<Duration> = (0..8).map(|_| b.up_to(ceiling)).collect();
        let from_c: Vec<Duration> = (0..8).map(|_| c.up_to(ceiling)).collect();
        assert_eq!(from_a, from_b);
        assert_ne!(from_a, from_c);
    }
}
