//! Typed rate quantities: `limit` units per `period`.

use std::fmt;
use std::time::Duration;

/// A rate limit: at most `limit` units (requests or tokens) per `period`.
///
/// Groq's limits refill continuously, so a `Rate` describes a bucket of capacity `limit`
/// that refills at `limit / period`. Both parts are always positive.
///
/// ```
/// use groq_config::Rate;
/// use std::time::Duration;
///
/// let rpm = Rate::per_minute(30);
/// assert_eq!(rpm.limit(), 30);
/// assert_eq!(rpm.period(), Duration::from_secs(60));
/// assert_eq!(rpm.emission_interval(), Duration::from_secs(2));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    limit: u64,
    period: Duration,
}

/// The reason a [`Rate`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateError {
    /// The limit was zero: a bucket that never admits anything is not a rate.
    #[error("a rate limit must be at least 1 (use no limit at all for \"unlimited\")")]
    ZeroLimit,
    /// The period was zero.
    #[error("a rate period must be longer than zero")]
    ZeroPeriod,
}

impl Rate {
    /// One minute.
    pub const MINUTE: Duration = Duration::from_secs(60);
    /// One hour.
    pub const HOUR: Duration = Duration::from_secs(3_600);
    /// One day.
    pub const DAY: Duration = Duration::from_secs(86_400);

    /// `limit` units per `period`. Fails if either is zero.
    pub fn new(limit: u64, period: Duration) -> Result<Self, RateError> {
        if limit == 0 {
            return Err(RateError::ZeroLimit);
        }
        if period.is_zero() {
            return Err(RateError::ZeroPeriod);
        }
        Ok(Self { limit, period })
    }

    /// `limit` per minute.
    ///
    /// # Panics
    /// If `limit` is zero. Use [`Rate::new`] for values that come from input.
    pub const fn per_minute(limit: u64) -> Self {
        assert!(limit > 0, "a rate limit must be at least 1");
        Self {
            limit,
            period: Self::MINUTE,
        }
    }

    /// `limit` per hour.
    ///
    /// # Panics
    /// If `limit` is zero. Use [`Rate::new`] for values that come from input.
    pub const fn per_hour(limit: u64) -> Self {
        assert!(limit > 0, "a rate limit must be at least 1");
        Self {
            limit,
            period: Self::HOUR,
        }
    }

    /// `limit` per day.
    ///
    /// # Panics
    /// If `limit` is zero. Use [`Rate::new`] for values that come from input.
    pub const fn per_day(limit: u64) -> Self {
        assert!(limit > 0, "a rate limit must be at least 1");
        Self {
            limit,
            period: Self::DAY,
        }
    }

    /// The number of units the bucket holds when full.
    pub const fn limit(&self) -> u64 {
        self.limit
    }

    /// The time in which a full bucket refills from empty.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// The time one unit takes to refill: `period / limit`, rounded down to whole nanoseconds.
    pub fn emission_interval(&self) -> Duration {
        let nanos = self.period.as_nanos() / u128::from(self.limit);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// This rate with its period divided by `factor` (and the limit kept): the same quota in
    /// compressed time, as used by tests and the emulator's time scale. A factor below 1 is
    /// treated as 1.
    pub fn time_scaled(&self, factor: f64) -> Self {
        let factor = if factor.is_finite() && factor > 1.0 {
            factor
        } else {
            1.0
        };
        let nanos = (self.period.as_nanos() as f64 / factor).max(1.0);
        Self {
            limit: self.limit,
            period: Duration::from_nanos(nanos as u64),
        }
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Rate {
    /// `30/min`, `14400/day`, or `30/6s` for other periods.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.period {
            p if p == Self::MINUTE => write!(f, "{}/min", self.limit),
            p if p == Self::DAY => write!(f, "{}/day", self.limit),
            p if p == Duration::from_secs(3600) => write!(f, "{}/hour", self.limit),
            p if p == Duration::from_secs(1) => write!(f, "{}/s", self.limit),
            p => write!(f, "{}/{:?}", self.limit, p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero() {
        assert_eq!(Rate::new(0, Rate::MINUTE), Err(RateError::ZeroLimit));
        assert_eq!(Rate::new(1, Duration::ZERO), Err(RateError::ZeroPeriod));
    }

    #[test]
    fn emission_interval_is_exact_for_groq_limits() {
        assert_eq!(
            Rate::per_day(500_000).emission_interval(),
            Duration::from_nanos(172_800_000)
        );
        assert_eq!(
            Rate::per_minute(6000).emission_interval(),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn display_names_the_period() {
        assert_eq!(Rate::per_minute(30).to_string(), "30/min");
        assert_eq!(Rate::per_day(1000).to_string(), "1000/day");
        assert_eq!(
            Rate::new(30, Duration::from_secs(6)).unwrap().to_string(),
            "30/6s"
        );
    }

    #[test]
    fn time_scaling_keeps_the_limit() {
        let r = Rate::per_minute(30).time_scaled(10.0);
        assert_eq!(r.limit(), 30);
        assert_eq!(r.period(), Duration::from_secs(6));
        assert_eq!(Rate::per_minute(30).time_scaled(0.5), Rate::per_minute(30));
    }
}
