//! [`Clock`]: where the limiter reads the time.

use std::fmt::Debug;
use std::sync::Arc;

use tokio::time::Instant;

/// A source of the current instant.
///
/// The limiter's arithmetic takes `now` as an argument; a [`LocalLimiter`](crate::LocalLimiter)
/// reads it from a `Clock`. Instants are [`tokio::time::Instant`], so a limiter driven by
/// [`TokioClock`] follows tokio's paused test clock, and the instants it returns can be given
/// to [`tokio::time::sleep_until`] directly.
pub trait Clock: Send + Sync + Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// The default clock: [`tokio::time::Instant::now`], which honours
/// `#[tokio::test(start_paused = true)]` and `tokio::time::advance`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

#[cfg(feature = "test-util")]
pub use manual::ManualClock;

#[cfg(feature = "test-util")]
mod manual {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use tokio::time::Instant;

    use super::Clock;

    /// A clock that moves only when told to (feature `test-util`).
    ///
    /// Share it as an `Arc<ManualClock>`: give one clone to the limiter and keep another to
    /// advance time.
    ///
    /// ```
    /// use groq_ratelimit::{Clock, ManualClock};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let start = clock.now();
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(clock.now() - start, Duration::from_secs(2));
    /// ```
    #[derive(Debug)]
    pub struct ManualClock {
        origin: Instant,
        elapsed_nanos: AtomicU64,
    }

    impl ManualClock {
        /// A clock that reads `tokio::time::Instant::now()` once and then stands still.
        pub fn new() -> Self {
            Self::starting_at(Instant::now())
        }

        /// A clock that stands still at `origin`.
        pub fn starting_at(origin: Instant) -> Self {
            Self {
                origin,
                elapsed_nanos: AtomicU64::new(0),
            }
        }

        /// Moves the clock forward by `by` (saturating after about 584 years).
        pub fn advance(&self, by: Duration) {
            let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            // `fetch_update` with a closure that always returns `Some` cannot fail.
            let _ = self
                .elapsed_nanos
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    Some(n.saturating_add(by))
                });
        }

        /// Moves the clock to `to`; an instant earlier than the current one is ignored, so the
        /// clock never runs backwards.
        pub fn set(&self, to: Instant) {
            let target = u64::try_from(to.saturating_duration_since(self.origin).as_nanos())
                .unwrap_or(u64::MAX);
            self.elapsed_nanos.fetch_max(target, Ordering::AcqRel);
        }
    }

    impl Default for ManualClock {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            let elapsed = Duration::from_nanos(self.elapsed_nanos.load(Ordering::Acquire));
            self.origin.checked_add(elapsed).unwrap_or(self.origin)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn moves_only_forward() {
            let clock = ManualClock::new();
            let start = clock.now();
            assert_eq!(clock.now(), start);
            clock.advance(Duration::from_millis(5));
            clock.set(start + Duration::from_millis(3));
            assert_eq!(clock.now(), start + Duration::from_millis(5));
            clock.set(start + Duration::from_secs(1));
            assert_eq!(clock.now(), start + Duration::from_secs(1));
        }
    }
}
