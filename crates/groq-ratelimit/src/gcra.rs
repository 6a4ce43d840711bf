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

/// The largest distance from the origin, in nanoseconds, that scaled arithmetic uses (about
/// 3,000 years). With the limit clamped to [`MAX_LIMIT`] and the period to
/// [`MAX_PERIOD_NANOS`], every product then fits `i128` without checks (checked 128-bit
/// multiplication is a slow library call): `MAX_NANOS * MAX_LIMIT < 2^127` and
/// `u64::MAX * MAX_PERIOD_NANOS < 2^127`.
const MAX_NANOS: i128 = 100_000_000_000_000_000_000;

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
    /// `L * P`: a full bucket, in scaled units.
    capacity: i128,
    /// The theoretical arrival time, in scaled units.
    tat: i128,
    /// Changes whenever the bucket's rate changes, so that a reservation made under an older
    /// rate can tell.
    epoch: u32,
    /// The sum of every decrease of `tat` (refunds), in scaled units.
    refunded: i128,
    /// The index of the current recent-charge window (windows are one margin long).
    window: i128,
    /// Units charged in the previous and the current window.
    recent: [u64; 2],
}

/// What a bucket remembers of one charge, to undo it later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    /// The bucket's epoch when charged.
    pub(crate) epoch: u32,
    /// The TAT right after the charge.
    tat_after: i128,
    /// The bucket's `refunded` sum before the charge.
    refunded_before: i128,
    /// The recent-charge window of the charge.
    window: Option<i128>,
}

/// The index of the recent-charge window holding `now_ns` (windows are one margin long), or
/// `None` without a margin.
pub(crate) fn window_of(now_ns: i128, margin_ns: i128) -> Option<i128> {
    if margin_ns <= 0 {
        return None;
    }
    // Integer division of 128-bit values is slow; every real instant fits 64 bits.
    match (u64::try_from(now_ns), u64::try_from(margin_ns)) {
        (Ok(now), Ok(margin)) => Some(i128::from(now / margin)),
        _ => Some(now_ns.div_euclid(margin_ns)),
    }
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
            capacity: limit * period,
            tat: 0,
            epoch,
            refunded: 0,
            window: 0,
            recent: [0; 2],
        };
        // An empty bucket has been idle forever: its TAT is more than a margin in the past.
        bucket.tat = bucket.scaled(now_ns.saturating_sub(MAX_PERIOD_NANOS as i128));
        if level > 0 {
            bucket.tat = bucket.scaled(now_ns).saturating_add(bucket.cost(level));
        }
        bucket
    }

    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    pub(crate) fn rate(&self) -> Rate {
        self.rate
    }

    /// The capacity in units (after clamping).
    pub(crate) fn capacity_units(&self) -> u64 {
        u64::try_from(self.limit).unwrap_or(u64::MAX)
    }

    fn scaled(&self, ns: i128) -> i128 {
        ns.clamp(-MAX_NANOS, MAX_NANOS) * self.limit
    }

    fn cost(&self, units: u64) -> i128 {
        i128::from(units) * self.period
    }

    fn capacity(&self) -> i128 {
        self.capacity
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

    /// Charges `units` at `now_ns` for a request about to be sent. `window` is the
    /// recent-charge window of `now_ns` (see [`window_of`] and [`Bucket::refund_served`]).
    pub(crate) fn charge(&mut self, now_ns: i128, units: u64, window: Option<i128>) -> Mark {
        let refunded_before = self.refunded;
        let tat_after = self.add(now_ns, units);
        let window = self.roll(window);
        if window.is_some() {
            self.recent[1] = self.recent[1].saturating_add(units);
        }
        Mark {
            epoch: self.epoch,
            tat_after,
            refunded_before,
            window,
        }
    }

    /// Adds `units` at `now_ns` without checking capacity (usage the server counted) and
    /// returns the new TAT.
    pub(crate) fn add(&mut self, now_ns: i128, units: u64) -> i128 {
        self.tat = self
            .tat
            .max(self.scaled(now_ns))
            .saturating_add(self.cost(units));
        self.tat
    }

    /// Moves the recent-charge windows to `window` (the current one) and returns it.
    fn roll(&mut self, window: Option<i128>) -> Option<i128> {
        let window = window?;
        match window - self.window {
            0 => {}
            1 => self.recent = [self.recent[1], 0],
            _ => self.recent = [0, 0],
        }
        self.window = window;
        Some(window)
    }

    /// At most the units charged in the last margin: requests that may still be on their way
    /// to the server.
    fn recent_units(&mut self, window: Option<i128>) -> u64 {
        match self.roll(window) {
            Some(_) => self.recent[0].saturating_add(self.recent[1]),
            None => 0,
        }
    }

    /// Lowers the TAT to `target` (never below `now_ns`, never raising it), recording the
    /// decrease.
    fn lower_to(&mut self, now_ns: i128, target: i128) {
        let now = self.scaled(now_ns);
        let lowered = target.max(now);
        if lowered < self.tat {
            self.refunded = self.refunded.saturating_add(self.tat - lowered);
            self.tat = lowered;
        }
    }

    /// Takes `units` out of the bucket at `now_ns` for a request the server saw and counts
    /// less than charged (its usage was below the estimate). The server removes them at once,
    /// and stops at empty. Other requests sent within the last margin may not have reached
    /// it yet and would be counted after its refund: so the bucket never drops below the units
    /// charged in that time, whatever the refund. Call [`Bucket::arrived`] for the answered
    /// request first.
    pub(crate) fn refund_served(&mut self, now_ns: i128, units: u64, window: Option<i128>) {
        let recent = self.recent_units(window);
        let now = self.scaled(now_ns);
        let floor = now.saturating_add(self.cost(recent));
        let target = self.tat.saturating_sub(self.cost(units)).max(floor);
        self.lower_to(now_ns, target);
    }

    /// Undoes the charge recorded in `mark` (of `units` units) for a request the server never
    /// saw.
    ///
    /// What is left of that charge in the bucket is at least the lowest the bucket has been
    /// since, capped at `units`: the difference between this bucket and the same bucket without
    /// the charge shrinks only while the latter is empty. The lowest level since the charge is
    /// at least the TAT right after the charge, less every decrease since, less the time
    /// elapsed. Taking out that much never leaves the bucket emptier than it would be had the
    /// charge never happened, and it is exact when the refund comes before the bucket drained
    /// or refunded anything else.
    pub(crate) fn refund_unsent(
        &mut self,
        now_ns: i128,
        units: u64,
        mark: &Mark,
        window: Option<i128>,
    ) {
        let decreased = self.refunded.saturating_sub(mark.refunded_before);
        let left = mark
            .tat_after
            .saturating_sub(decreased)
            .saturating_sub(self.scaled(now_ns));
        let amount = self.cost(units).min(left);
        if amount > 0 {
            let target = self.tat.saturating_sub(amount);
            self.lower_to(now_ns, target);
        }
        // The request will never arrive: it no longer counts as possibly on its way.
        self.arrived(units, mark, window);
    }

    /// The request charged in `mark` (of `units` units) has reached the server (it was
    /// answered) or never will: it no longer counts among the recent charges that may still be
    /// on their way.
    pub(crate) fn arrived(&mut self, units: u64, mark: &Mark, window: Option<i128>) {
        if let (Some(at), Some(now)) = (mark.window, self.roll(window)) {
            let slot = match now - at {
                0 => Some(1),
                1 => Some(0),
                _ => None,
            };
            if let Some(slot) = slot {
                self.recent[slot] = self.recent[slot].saturating_sub(units);
            }
        }
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
            b.charge(0, 1, None);
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
        b.charge(0, 60, None);
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
        b.charge(0, 7, None);
        // 7 units need 10 ns to drain; 3 units need 30/7 ≈ 4.29 ns, so they fit at 5 ns.
        assert_eq!(b.check(0, 0, 3), Err(5));
        assert_eq!(b.check(5, 0, 3), Ok(()));
        assert_eq!(b.reset_ns(0), 10);
    }

    #[test]
    fn refunds_never_fill_past_capacity() {
        let mut b = Bucket::new(Rate::per_minute(10), 0, 0, 0);
        b.charge(0, 4, None);
        b.refund_served(0, 100, None);
        assert_eq!(b.used(0), 0);
        assert_eq!(b.check(0, 0, 10), Ok(()));
        // An old charge that has drained refunds nothing.
        let mark = b.charge(0, 5, None);
        b.charge(60 * S, 5, None);
        b.refund_unsent(60 * S, 5, &mark, None);
        assert_eq!(b.used(60 * S), 5);
    }

    #[test]
    fn unsent_refunds_are_exact_right_away() {
        let mut b = Bucket::new(Rate::per_minute(10), 0, 0, 0);
        let w = window_of(0, S);
        b.charge(0, 3, w);
        let mark = b.charge(0, 4, w);
        b.charge(0, 2, w);
        b.refund_unsent(0, 4, &mark, w);
        assert_eq!(b.used(0), 5);
        assert_eq!(b.recent, [0, 5]);
    }

    #[test]
    fn served_refunds_keep_recent_charges() {
        // 60 per minute: one unit drains per second. The margin is 100 ms.
        let m = S / 10;
        let mut b = Bucket::new(Rate::per_minute(60), 0, 0, 0);
        b.charge(0, 10, window_of(0, m));
        // Ten seconds later the first charge has drained; two more are sent.
        let w = window_of(10 * S, m);
        let answered = b.charge(10 * S, 4, w);
        b.charge(10 * S, 3, w);
        // The first of them is answered at once and used nothing: its refund of 4 may not take
        // the 3 units that may still be on their way.
        b.arrived(4, &answered, w);
        b.refund_served(10 * S, 4, w);
        assert_eq!(b.used(10 * S), 3);
        // A margin later they have arrived, and a refund may take them.
        b.refund_served(10 * S + 2 * m, 3, window_of(10 * S + 2 * m, m));
        assert_eq!(b.used(10 * S + 2 * m), 0);
    }

    #[test]
    fn tighten_never_loosens() {
        let mut b = Bucket::new(Rate::per_minute(100), 0, 0, 0);
        b.charge(0, 50, None);
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
        b.charge(0, 40, None);
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
        b.charge(0, u64::MAX, window_of(0, S));
        let _ = b.check(0, S, 1);
        let _ = b.used(0);
        let _ = b.reset_ns(0);
    }
}
