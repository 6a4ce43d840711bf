//! Continuously refilling buckets in integer nanoseconds, and Go-style durations.

use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::Instant;

/// A bucket of `capacity` units that refills continuously at `capacity` per `period`.
///
/// The level is kept in unit·nanoseconds (units × `period` in ns), so one nanosecond of
/// elapsed time adds exactly `capacity` to it and every computation is exact integer
/// arithmetic: no drift, no rounding until a value is reported.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    capacity: u64,
    period_ns: u128,
    /// Current level in unit·ns, at most `capacity * period_ns`.
    level: u128,
    /// The instant `level` was computed for.
    at: Instant,
}

impl Bucket {
    /// A full bucket. `capacity` and `period` must be positive (checked by the caller);
    /// zero values are raised to 1 so the arithmetic never divides by zero.
    pub(crate) fn full(capacity: u64, period: Duration, now: Instant) -> Self {
        let capacity = capacity.max(1);
        let period_ns = period.as_nanos().max(1);
        Self {
            capacity,
            period_ns,
            level: u128::from(capacity) * period_ns,
            at: now,
        }
    }

    /// A bucket of a new size that keeps the units already used in `old` (as far as they fit).
    pub(crate) fn resized(old: &Self, capacity: u64, period: Duration, now: Instant) -> Self {
        let mut old = old.clone();
        old.refill(now);
        let used = old.used();
        let mut bucket = Self::full(capacity, period, now);
        bucket.level = u128::from(bucket.capacity.saturating_sub(used)) * bucket.period_ns;
        bucket
    }

    fn max_level(&self) -> u128 {
        u128::from(self.capacity) * self.period_ns
    }

    /// Adds what flowed in since the last update.
    pub(crate) fn refill(&mut self, now: Instant) {
        if now <= self.at {
            return;
        }
        let elapsed = now.duration_since(self.at).as_nanos();
        let inflow = elapsed.saturating_mul(u128::from(self.capacity));
        self.level = self.level.saturating_add(inflow).min(self.max_level());
        self.at = now;
    }

    /// The capacity (the limit).
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whole units available now (the floor of the level).
    pub(crate) fn remaining(&self) -> u64 {
        u64::try_from(self.level / self.period_ns).unwrap_or(u64::MAX)
    }

    /// Units in use: capacity less whole units available.
    pub(crate) fn used(&self) -> u64 {
        self.capacity.saturating_sub(self.remaining())
    }

    /// How long until `cost` units are available; zero when they are now.
    pub(crate) fn wait_for(&self, cost: u64) -> Duration {
        let needed = u128::from(cost).saturating_mul(self.period_ns);
        if needed <= self.level {
            return Duration::ZERO;
        }
        let deficit = needed - self.level;
        nanos(deficit.div_ceil(u128::from(self.capacity)))
    }

    /// How long until the bucket is full again.
    pub(crate) fn time_to_full(&self) -> Duration {
        let deficit = self.max_level() - self.level;
        nanos(deficit.div_ceil(u128::from(self.capacity)))
    }

    /// Takes `cost` units. The caller has checked that they are available; a larger cost
    /// empties the bucket.
    pub(crate) fn take(&mut self, cost: u64) {
        let amount = u128::from(cost).saturating_mul(self.period_ns);
        self.level = self.level.saturating_sub(amount);
    }

    /// Gives back `units` (never above capacity).
    pub(crate) fn give(&mut self, units: u64) {
        let amount = u128::from(units).saturating_mul(self.period_ns);
        self.level = self.level.saturating_add(amount).min(self.max_level());
    }
}

fn nanos(value: u128) -> Duration {
    Duration::from_nanos(u64::try_from(value).unwrap_or(u64::MAX))
}

/// Formats a duration the way Groq's headers and messages do (Go's `time.Duration` form):
/// `7.66s`, `2m59.56s`, `1h2m3s`, `320ms`, `0s`.
///
/// Durations of a second or more are rounded up to the next hundredth of a second and
/// durations below a second up to the next millisecond, so a client that waits the printed
/// time never waits too little.
///
/// ```
/// use groq_mock::go_duration;
/// use std::time::Duration;
///
/// assert_eq!(go_duration(Duration::from_millis(7_655)), "7.66s");
/// assert_eq!(go_duration(Duration::from_millis(179_560)), "2m59.56s");
/// assert_eq!(go_duration(Duration::from_secs(3_723)), "1h2m3s");
/// assert_eq!(go_duration(Duration::from_micros(319_200)), "320ms");
/// assert_eq!(go_duration(Duration::ZERO), "0s");
/// ```
pub fn go_duration(duration: Duration) -> String {
    let ns = duration.as_nanos();
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns < 1_000_000_000 {
        let ms = ns.div_ceil(1_000_000);
        if ms < 1000 {
            return format!("{ms}ms");
        }
    }
    let centis = ns.div_ceil(10_000_000);
    let hours = centis / 360_000;
    let minutes = centis / 6_000 % 60;
    let seconds = centis / 100 % 60;
    let fraction = centis % 100;
    let mut out = String::new();
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let _ = write!(out, "{seconds}");
    if fraction > 0 {
        let digits = format!("{fraction:02}");
        let _ = write!(out, ".{}", digits.trim_end_matches('0'));
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_match_groq_examples() {
        assert_eq!(go_duration(Duration::from_millis(7660)), "7.66s");
        assert_eq!(go_duration(Duration::from_millis(179_560)), "2m59.56s");
        assert_eq!(go_duration(Duration::from_millis(172)), "172ms");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_nanos(1)), "1ms");
        assert_eq!(go_duration(Duration::from_nanos(999_999_999)), "1s");
        assert_eq!(go_duration(Duration::from_nanos(1_000_000_001)), "1.01s");
    }

    #[tokio::test(start_paused = true)]
    async fn refills_continuously_and_exactly() {
        let start = Instant::now();
        let mut bucket = Bucket::full(6000, Duration::from_secs(60), start);
        assert_eq!(bucket.remaining(), 6000);
        assert_eq!(bucket.time_to_full(), Duration::ZERO);
        bucket.take(6000);
        assert_eq!(bucket.remaining(), 0);
        assert_eq!(bucket.time_to_full(), Duration::from_secs(60));
        // 100 tokens per second.
        assert_eq!(bucket.wait_for(150), Duration::from_millis(1500));
        bucket.refill(start + Duration::from_millis(1499));
        assert_eq!(bucket.remaining(), 149);
        bucket.refill(start + Duration::from_millis(1500));
        assert_eq!(bucket.remaining(), 150);
        assert_eq!(bucket.wait_for(150), Duration::ZERO);
        assert_eq!(bucket.used(), 5850);
        bucket.refill(start + Duration::from_secs(3600));
        assert_eq!(bucket.remaining(), 6000);
    }

    #[tokio::test(start_paused = true)]
    async fn give_is_capped_and_resize_keeps_usage() {
        let now = Instant::now();
        let mut bucket = Bucket::full(10, Duration::from_secs(1), now);
        bucket.take(7);
        bucket.give(3);
        assert_eq!(bucket.remaining(), 6);
        bucket.give(100);
        assert_eq!(bucket.remaining(), 10);
        bucket.take(4);
        let bigger = Bucket::resized(&bucket, 20, Duration::from_secs(1), now);
        assert_eq!((bigger.capacity(), bigger.remaining()), (20, 16));
        let smaller = Bucket::resized(&bucket, 3, Duration::from_secs(1), now);
        assert_eq!(smaller.remaining(), 0);
    }
}
