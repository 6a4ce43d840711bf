//! One GCRA bucket in exact integer arithmetic.
//!
//! Time is kept in *scaled* units: nanoseconds since the owner's origin multiplied by the
//! bucket's limit `L`. One unit (a request or a token) then costs exactly `P` scaled units,
//! where `P` is the period in nanoseconds, and a full bucket is `L * P`. Nothing is rounded
//! while charging, refunding or comparing, so a bucket never drifts; the only rounding is
//! when a scaled instant is turned back into nanoseconds, and it rounds towards "later".

use groq_config::Rate;

/// The largest limit the arithmetic uses. Larger limits are clamped to it: `10^15` units per
/// period is unlimited for any real workload, and the clamp keeps every product inside `i128`.
const MAX_LIMIT: u64 = 1_000_000_000_000_000;
/// The longest period the arithmetic uses: 100 years. Longer periods are clamped to it.
const MAX_PERIOD_NANOS: u128 = 100 * 365 * 86_400 * 1_000_000_000;

/// A GCRA bucket: one theoretical arrival time (TAT) per bucket.
///
/// The bucket's *level* (units currently held) at time `t` is `max(0, tat - t·L) / P`; it is
/// full (nothing more fits) at level `L`.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    rate: Rate,
    /// `L`, the capacity in units.
    limit: i128,
    /// `P`, the period in nanoseconds: the scaled cost of one unit.
    period: i128,
    /// The theoretical arrival time, in scaled units.
    tat: i128,
    /// Changes whenever the bucket's rate changes, so that a reservation made under an older
    /// rate can tell.
    pub(crate) epoch: u32,
}

/// `ceil(a / b)` for `b > 0`.
fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

impl Bucket {
    /// A bucket holding `level` units at `now_ns`.
    pub(crate) fn new(rate: Rate, epoch: u32, now_ns: i128, level: u64) -> Self {
        let limit = i128::from(rate.limit().min(MAX_LIMIT));
        let period = i128::try_from(rate.period().as_nanos().min(MAX_PERIOD_NANOS))
            .unwrap_or(i128::MAX)
            .max(1);
        let mut bucket = Self {
            rate,
            limit,
            period,
            tat: 0,
            epoch,
        };
        // An empty bucket has been idle forever: its TAT is more than a margin in the past.
        bucket.tat = bucket.scaled(now_ns.saturating_sub(MAX_PERIOD_NANOS as i128));
        if level > 0 {
            bucket.tat = bucket.scaled(now_ns).saturating_add(bucket.cost(level));
        }
        bucket
    }

    pub(crate) fn rate(&self) -> Rate {
        self.rate
    }

    /// The capacity in units (after clamping).
    pub(crate) fn capacity_units(&self) -> u64 {
        u64::try_from(self.limit).unwrap_or(u64::MAX)
    }

    fn scaled(&self, ns: i128) -> i128 {
        ns.saturating_mul(self.limit)
    }

    fn cost(&self, units: u64) -> i128 {
        i128::from(units).saturating_mul(self.period)
    }

    fn capacity(&self) -> i128 {
        self.limit.saturating_mul(self.period)
    }

    /// Whether `units` fit at `now_ns`, judged as of `now_ns - margin_ns` (see the crate docs on
    /// the margin). `Err` carries the earliest instant, in nanoseconds, at which they fit.
    ///
    /// The caller has checked that `units` is at most the capacity.
    pub(crate) fn check(&self, now_ns: i128, margin_ns: i128, units: u64) -> Result<(), i128> {
        let judged = self.scaled(now_ns.saturating_sub(margin_ns));
        let start = self.tat.max(judged);
        let need = self
            .tat
            .saturating_add(self.cost(units))
            .saturating_sub(self.capacity());
        if start.saturating_add(self.cost(units)) <= judged.saturating_add(self.capacity()) {
            Ok(())
        } else {
            // The earliest t with (t - margin)·L >= tat + cost - capacity.
            Err(div_ceil(need, self.limit).saturating_add(margin_ns))
        }
    }

    /// Charges `units` at `now_ns` and returns the TAT right after the charge.
    pub(crate) fn charge(&mut self, now_ns: i128, units: u64) -> i128 {
        self.tat = self
            .tat
            .max(self.scaled(now_ns))
            .saturating_add(self.cost(units));
        self.tat
    }

    /// Takes `units` out of the bucket at `now_ns`, never below empty.
    pub(crate) fn refund(&mut self, now_ns: i128, units: u64) {
        self.refund_scaled(now_ns, self.cost(units));
    }

    fn refund_scaled(&mut self, now_ns: i128, amount: i128) {
        let now = self.scaled(now_ns);
        if self.tat > now {
            self.tat = self.tat.saturating_sub(amount).max(now);
        }
    }

    /// Undoes a charge of `units` whose TAT right after charging was `tat_after`, for a request
    /// the server never saw.
    ///
    /// What remains of that charge in the bucket is at least `min(units, level the bucket had
    /// right after the charge, less what has drained since)`: later charges only keep the
    /// bucket from emptying. Taking out exactly that much never leaves the bucket emptier
    /// than it would be had the charge never happened; it is exact when the refund follows the
    /// charge before the bucket had time to drain.
    pub(crate) fn refund_unsent(&mut self, now_ns: i128, units: u64, tat_after: i128) {
        let left = tat_after.saturating_sub(self.scaled(now_ns));
        let amount = self.cost(units).min(left);
        if amount > 0 {
            self.refund_scaled(now_ns, amount);
        }
    }

    /// Adds `units` at `now_ns` without checking capacity (usage the server already counted).
    pub(crate) fn add(&mut self, now_ns: i128, units: u64) {
        self.charge(now_ns, units);
    }

    /// The level at `now_ns` in scaled units (0 when empty).
    fn level(&self, now_ns: i128) -> i128 {
        self.tat.saturating_sub(self.scaled(now_ns)).max(0)
    }

    /// Units held at `now_ns`, rounded up; may exceed the capacity after extra charges.
    pub(crate) fn used(&self, now_ns: i128) -> u64 {
        u64::try_from(div_ceil(self.level(now_ns), self.period)).unwrap_or(u64::MAX)
    }

    /// Units that still fit at `now_ns` (ignoring the margin).
    pub(crate) fn remaining(&self, now_ns: i128) -> u64 {
        self.capacity_units().saturating_sub(self.used(now_ns))
    }

    /// Nanoseconds until the bucket is empty again (fully refilled).
    pub(crate) fn reset_ns(&self, now_ns: i128) -> i128 {
        div_ceil(self.level(now_ns), self.limit)
    }

    /// Raises the bucket so that it holds at least `units` at `now_ns` and is not empty before
    /// `empty_at_ns` (when given). Never lowers it.
    pub(crate) fn tighten(&mut self, now_ns: i128, units: u64, empty_at_ns: Option<i128>) {
        let by_units = self.scaled(now_ns).saturating_add(self.cost(units));
        self.tat = self.tat.max(by_units);
        if let Some(at) = empty_at_ns {
            self.tat = self.tat.max(self.scaled(at));
        }
    }

    /// The same bucket under a new rate, holding the same number of units (rounded up).
    pub(crate) fn rescaled(&self, rate: Rate, epoch: u32, now_ns: i128) -> Self {
        Self::new(rate, epoch, now_ns, self.used(now_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: i128 = 1_000_000_000;

    #[test]
    fn admits_a_full_burst_then_paces() {
        let mut b = Bucket::new(Rate::per_minute(30), 0, 0, 0);
        for _ in 0..30 {
            assert_eq!(b.check(0, 0, 1), Ok(()));
            b.charge(0, 1);
        }
        // One request refills every 2 s.
        assert_eq!(b.check(0, 0, 1), Err(2 * S));
        assert_eq!(b.check(2 * S - 1, 0, 1), Err(2 * S));
        assert_eq!(b.check(2 * S, 0, 1), Ok(()));
        assert_eq!(b.used(0), 30);
        assert_eq!(b.remaining(0), 0);
        assert_eq!(b.reset_ns(0), 60 * S);
    }

    #[test]
    fn margin_shifts_the_answer_by_exactly_the_margin() {
        let mut b = Bucket::new(Rate::per_minute(60), 0, 0, 0);
        b.charge(0, 60);
        let m = S / 10;
        assert_eq!(b.check(0, m, 1), Err(S + m));
        assert_eq!(b.check(S + m, m, 1), Ok(()));
        // An idle bucket admits its whole capacity despite the margin.
        let idle = Bucket::new(Rate::per_minute(60), 0, 0, 0);
        assert_eq!(idle.check(0, m, 60), Ok(()));
    }

    #[test]
    fn periods_that_do_not_divide_are_exact() {
        // 7 per 10 ns: an emission interval of 10/7 ns, which no integer interval expresses.
        let rate = Rate::new(7, Duration::from_nanos(10)).unwrap();
        let mut b = Bucket::new(rate, 0, 0, 0);
        b.charge(0, 7);
        // 7 units need 10 ns to drain; 3 units need 30/7 ≈ 4.29 ns, so they fit at 5 ns.
        assert_eq!(b.check(0, 0, 3), Err(5));
        assert_eq!(b.check(5, 0, 3), Ok(()));
        assert_eq!(b.reset_ns(0), 10);
    }

    #[test]
    fn refunds_never_fill_past_capacity() {
        let mut b = Bucket::new(Rate::per_minute(10), 0, 0, 0);
        b.charge(0, 4);
        b.refund(0, 100);
        assert_eq!(b.used(0), 0);
        assert_eq!(b.check(0, 0, 10), Ok(()));
        // An old charge that has drained refunds nothing.
        let tat = b.charge(0, 5);
        b.charge(60 * S, 5);
        b.refund_unsent(60 * S, 5, tat);
        assert_eq!(b.used(60 * S), 5);
    }

    #[test]
    fn tighten_never_loosens() {
        let mut b = Bucket::new(Rate::per_minute(100), 0, 0, 0);
        b.charge(0, 50);
        b.tighten(0, 10, None);
        assert_eq!(b.used(0), 50);
        b.tighten(0, 80, None);
        assert_eq!(b.used(0), 80);
        b.tighten(0, 0, Some(40 * S));
        assert_eq!(b.reset_ns(0), 48 * S);
        b.tighten(0, 0, Some(70 * S));
        assert_eq!(b.reset_ns(0), 70 * S);
    }

    #[test]
    fn rescaling_keeps_the_level() {
        let mut b = Bucket::new(Rate::per_minute(100), 0, 0, 0);
        b.charge(0, 40);
        let r = b.rescaled(Rate::per_minute(1000), 1, 0);
        assert_eq!(r.used(0), 40);
        assert_eq!(r.remaining(0), 960);
    }

    #[test]
    fn absurd_rates_do_not_overflow() {
        let rate = Rate::new(u64::MAX, Duration::MAX).unwrap();
        let mut b = Bucket::new(rate, 0, 0, 0);
        assert_eq!(b.capacity_units(), MAX_LIMIT);
        assert_eq!(b.check(i128::from(u64::MAX), 0, MAX_LIMIT), Ok(()));
        b.charge(0, u64::MAX);
        let _ = b.check(0, S, 1);
        let _ = b.used(0);
        let _ = b.reset_ns(0);
    }
}
