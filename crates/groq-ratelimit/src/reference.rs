//! A reference rate-limited server (feature `test-util`), for property tests of limiters, written independently of the crate and as plainly as
//! possible: one leaky bucket per dimension whose level is a number of units, drained at
//! `limit / period` as time passes and never below zero. A request is accepted when it fits
//! every bucket at its arrival; the server then counts it at once. After the response, the
//! server corrects its count to the true usage (the difference is added, or removed down to
//! zero), which is what `Reservation::commit` assumes.
//!
//! To stay exact without fractions, a level is stored multiplied by the period in nanoseconds:
//! a unit is `period` and draining for `dt` nanoseconds removes `dt * limit`.

use std::time::Duration;

use crate::{Cost, Dimension, Quota};

/// One bucket of the reference server.
#[derive(Debug, Clone)]
struct Bucket {
    dimension: Dimension,
    limit: u128,
    period: u128,
    /// Units held, times `period`.
    level: u128,
    /// When `level` was last brought up to date, in nanoseconds.
    at: u128,
}

impl Bucket {
    fn drain_to(&mut self, t: u128) {
        assert!(t >= self.at, "the reference server cannot go back in time");
        self.level = self.level.saturating_sub((t - self.at) * self.limit);
        self.at = t;
    }

    fn fits(&self, units: u64) -> bool {
        self.level + u128::from(units) * self.period <= self.limit * self.period
    }
}

/// The reference server for one model. Times are nanoseconds since the test's origin.
#[derive(Debug, Clone)]
pub struct Server {
    buckets: Vec<Bucket>,
}

impl Server {
    /// A server with `quota`'s rates, every bucket empty at time 0.
    pub fn new(quota: &Quota) -> Self {
        let buckets = quota
            .rates()
            .map(|(dimension, rate)| Bucket {
                dimension,
                limit: u128::from(rate.limit()),
                period: rate.period().as_nanos(),
                level: 0,
                at: 0,
            })
            .collect();
        Self { buckets }
    }

    /// Whether a request of `cost` arriving at `t` would be accepted (nothing is counted).
    pub fn would_accept(&self, t: u128, cost: &Cost) -> bool {
        self.clone().arrive(t, cost)
    }

    /// A request of `cost` arrives at `t`: accepted and counted, or rejected (a 429).
    pub fn arrive(&mut self, t: u128, cost: &Cost) -> bool {
        for b in &mut self.buckets {
            b.drain_to(t);
        }
        let fits = self
            .buckets
            .iter()
            .all(|b| b.fits(cost.amount(b.dimension)));
        if fits {
            for b in &mut self.buckets {
                b.level += u128::from(cost.amount(b.dimension)) * b.period;
            }
        }
        fits
    }

    /// At `t`, a request estimated at `estimate` tokens turns out to have used `actual`.
    /// Returns whether a refund stopped at an empty bucket.
    pub fn correct(&mut self, t: u128, estimate: u64, actual: u64) -> bool {
        let mut clamped = false;
        for b in &mut self.buckets {
            b.drain_to(t);
            if b.dimension.is_tokens() {
                if actual > estimate {
                    b.level += u128::from(actual - estimate) * b.period;
                } else {
                    let refund = u128::from(estimate - actual) * b.period;
                    clamped |= refund > b.level;
                    b.level = b.level.saturating_sub(refund);
                }
            }
        }
        clamped
    }

    /// At `t`, a request charged `charged` turns out to have cost `actual` in every unit:
    /// each bucket other than the request buckets is corrected by the difference (added, or
    /// removed down to zero), which is what `Reservation::commit_usage` assumes. Returns
    /// whether a refund stopped at an empty bucket.
    pub fn correct_usage(&mut self, t: u128, charged: &Cost, actual: &Cost) -> bool {
        let mut clamped = false;
        for b in &mut self.buckets {
            b.drain_to(t);
            if matches!(
                b.dimension,
                Dimension::RequestsPerMinute | Dimension::RequestsPerDay
            ) {
                continue;
            }
            let (estimate, used) = (charged.amount(b.dimension), actual.amount(b.dimension));
            if used > estimate {
                b.level += u128::from(used - estimate) * b.period;
            } else {
                let refund = u128::from(estimate - used) * b.period;
                clamped |= refund > b.level;
                b.level = b.level.saturating_sub(refund);
            }
        }
        clamped
    }

    /// The lowest number of units (rounded down) held by a token bucket at `t`.
    pub fn lowest_token_level(&self, t: u128) -> Option<u64> {
        self.buckets
            .iter()
            .filter(|b| b.dimension.is_tokens())
            .map(|b| {
                let mut b = b.clone();
                b.drain_to(t);
                u64::try_from(b.level / b.period).unwrap_or(u64::MAX)
            })
            .min()
    }

    /// Units held in `dimension` at `t`, rounded up.
    pub fn used(&self, t: u128, dimension: Dimension) -> Option<u64> {
        let mut b = self
            .buckets
            .iter()
            .find(|b| b.dimension == dimension)?
            .clone();
        b.drain_to(t);
        u64::try_from(b.level.div_ceil(b.period)).ok()
    }
}

/// Nanoseconds in `d`.
pub fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}
