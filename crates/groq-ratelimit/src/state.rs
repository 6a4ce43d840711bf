//! [`QuotaState`]: the pure limiter of one model. Every method takes `now`; nothing reads a
//! clock, sleeps or locks.

use std::time::Duration;

use groq_config::{LimitUnit, Rate};
use tokio::time::Instant;

use crate::gcra::{Bucket, Mark, window_of};
use crate::quota::DIMENSIONS;
use crate::{
    Cost, Dimension, LimitMessage, LimitMessageKind, Quota, RateLimitHeaders, ReserveError,
};

/// How a reservation ends. Produced by [`Reservation`](crate::Reservation)'s methods; a
/// second [`RateLimiter`](crate::RateLimiter) implementation receives it in
/// [`Settle::settle`](crate::Settle::settle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settlement {
    /// The request was served and used `actual_tokens`: the token buckets are corrected by the
    /// difference from the estimate (an extra charge, or a refund that stops at empty and never
    /// takes the units of other requests sent within the last margin, which may still be on
    /// their way to the server).
    Commit {
        /// The tokens the server counted (`usage.total_tokens`).
        actual_tokens: u64,
    },
    /// The request was served and used `actual` in every unit: each bucket other than the
    /// request buckets is corrected by the difference from what was charged, as
    /// [`Commit`](Self::Commit) does for tokens. This is how cached prompt tokens are given
    /// back to TPM, TPD and ITPM (they are left out of `actual`), output tokens settled in
    /// OTPM, and audio durations reconciled with what the server reports. `actual.requests`
    /// is ignored.
    CommitUsage {
        /// What the request really cost.
        actual: Cost,
    },
    /// The request was sent but its usage is unknown: the estimate stays charged.
    Keep,
    /// The request was never sent: the charge is undone.
    Refund,
}

/// The charge of one admitted cost in a [`QuotaState`]. Give it back to
/// [`QuotaState::settle`] exactly once; it cannot be cloned.
#[derive(Debug)]
#[must_use = "a charge holds an in-flight slot until it is settled"]
pub struct Charge {
    cost: Cost,
    /// Per dimension: what the bucket needs to undo the charge.
    marks: [Option<Mark>; DIMENSIONS],
}

impl Charge {
    /// The cost that was charged.
    pub fn cost(&self) -> Cost {
        self.cost
    }
}

/// One bucket's state at an instant, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DimensionSnapshot {
    /// Which bucket.
    pub dimension: Dimension,
    /// Its rate.
    pub rate: Rate,
    /// Units held (rounded up). Can exceed the limit when usage exceeded the estimates.
    pub used: u64,
    /// Units that fit now (ignoring the margin).
    pub remaining: u64,
    /// Time until the bucket is completely refilled.
    pub reset: Duration,
    /// Units charged by reservations that have not settled yet.
    pub pending: u64,
}

/// A model's limiter state at an instant, for status displays.
///
/// Every [`RateLimiter`](crate::RateLimiter) reports one from
/// [`snapshot`](crate::RateLimiter::snapshot); a client's `limits(model)` shows it. The
/// struct is `#[non_exhaustive]`, so a limiter outside this crate builds it with
/// [`Snapshot::new`] and [`DimensionSnapshot::new`] (the fields stay public to read and
/// adjust):
///
/// ```
/// use groq_config::Rate;
/// use groq_ratelimit::{Dimension, DimensionSnapshot, Snapshot};
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// // A limiter that counts requests in fixed one-minute windows: 7 of 30 used, the window
/// // ends in 20 s, 2 requests in flight, no pause.
/// let now = Instant::now();
/// let rpm = DimensionSnapshot::new(
///     Dimension::RequestsPerMinute,
///     Rate::per_minute(30),
///     7,                        // used
///     23,                       // remaining
///     Duration::from_secs(20),  // reset
///     2,                        // pending: charged by unsettled reservations
/// );
/// let snapshot = Snapshot::new(now, vec![rpm], 2, Some(8), None);
/// let rpm = snapshot.get(Dimension::RequestsPerMinute).unwrap();
/// assert_eq!((rpm.used, rpm.remaining, rpm.rate.limit()), (7, 23, 30));
/// assert_eq!(snapshot.in_flight, 2);
/// assert!(snapshot.get(Dimension::TokensPerMinute).is_none(), "not limited");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// When the snapshot was taken.
    pub at: Instant,
    /// The limited dimensions, in the order of [`Dimension::ALL`].
    pub dimensions: Vec<DimensionSnapshot>,
    /// Reservations not settled yet.
    pub in_flight: u32,
    /// The quota's cap on reservations in flight.
    pub max_in_flight: Option<u32>,
    /// The end of a pause the server asked for, if it lies after `at`.
    pub penalized_until: Option<Instant>,
}

impl DimensionSnapshot {
    /// A bucket's state, for [`RateLimiter`](crate::RateLimiter) implementations that keep
    /// their state elsewhere.
    pub fn new(
        dimension: Dimension,
        rate: Rate,
        used: u64,
        remaining: u64,
        reset: Duration,
        pending: u64,
    ) -> Self {
        Self {
            dimension,
            rate,
            used,
            remaining,
            reset,
            pending,
        }
    }
}

impl Snapshot {
    /// A model's state at `at`, for [`RateLimiter`](crate::RateLimiter) implementations that
    /// keep their state elsewhere: the limited `dimensions` (in the order of
    /// [`Dimension::ALL`]), the reservations `in_flight` and their cap, and the end of a
    /// server-requested pause. See the example on [`Snapshot`].
    pub fn new(
        at: Instant,
        dimensions: Vec<DimensionSnapshot>,
        in_flight: u32,
        max_in_flight: Option<u32>,
        penalized_until: Option<Instant>,
    ) -> Self {
        Self {
            at,
            dimensions,
            in_flight,
            max_in_flight,
            penalized_until,
        }
    }

    /// The snapshot of one dimension, if it is limited.
    pub fn get(&self, dimension: Dimension) -> Option<&DimensionSnapshot> {
        self.dimensions.iter().find(|d| d.dimension == dimension)
    }
}

/// The limiter of one model, as plain data: GCRA buckets for the limited dimensions, the
/// in-flight count and the server's pause.
///
/// This is the pure core behind [`LocalLimiter`](crate::LocalLimiter): every method takes the
/// current instant, so it is deterministic and can be driven by simulations and property
/// tests, or wrapped by another [`RateLimiter`](crate::RateLimiter). Instants before the
/// state's creation count as its creation instant.
///
/// ```
/// use groq_config::Rate;
/// use groq_ratelimit::{Cost, Dimension, Quota, QuotaState, ReserveError, Settlement};
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// let start = Instant::now();
/// let quota = Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(1));
/// let mut state = QuotaState::new(quota, Duration::ZERO, start);
/// let charge = state.reserve(start, &Cost::request(10)).unwrap();
/// state.settle(start, charge, Settlement::Keep);
/// match state.reserve(start, &Cost::request(10)) {
///     Err(ReserveError::Wait { until, dimension }) => {
///         assert_eq!(dimension, Dimension::RequestsPerMinute);
///         assert_eq!(until, start + Duration::from_secs(60));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct QuotaState {
    origin: Instant,
    margin_ns: i128,
    quota: Quota,
    buckets: [Option<Bucket>; DIMENSIONS],
    next_epoch: u32,
    /// Units charged by unsettled reservations, in every unit.
    pending: Cost,
    in_flight: u32,
    penalty: Option<(Instant, Option<Dimension>)>,
}

fn duration_ns(d: Duration) -> i128 {
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
}

impl QuotaState {
    /// A state for `quota` with every bucket empty, created at `now`.
    ///
    /// `margin` is the allowance for network jitter (see the crate documentation): a bucket
    /// admits a cost only if it fit `margin` ago as well.
    pub fn new(quota: Quota, margin: Duration, now: Instant) -> Self {
        let mut state = Self {
            origin: now,
            margin_ns: duration_ns(margin),
            quota: Quota::unlimited(),
            buckets: [const { None }; DIMENSIONS],
            next_epoch: 0,
            pending: Cost::new(0, 0),
            in_flight: 0,
            penalty: None,
        };
        state.set_quota(now, quota);
        state
    }

    /// The quota in force.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// The margin against network jitter.
    pub fn margin(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.margin_ns).unwrap_or(u64::MAX))
    }

    /// Reservations not settled yet.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    fn ns(&self, at: Instant) -> i128 {
        duration_ns(at.saturating_duration_since(self.origin))
    }

    fn instant(&self, ns: i128) -> Instant {
        let ns = u64::try_from(ns.max(0)).unwrap_or(u64::MAX);
        let far = Duration::from_secs(100 * 365 * 86_400);
        self.origin
            .checked_add(Duration::from_nanos(ns))
            .or_else(|| self.origin.checked_add(far))
            .unwrap_or(self.origin)
    }

    /// Admits `cost` at `now` in every limited dimension at once, or charges nothing and says
    /// what to wait for. See [`ReserveError`] for the answers; when several apply, a permanent
    /// one wins, then the latest instant, then the in-flight cap.
    pub fn reserve(&mut self, now: Instant, cost: &Cost) -> Result<Charge, ReserveError> {
        for (i, bucket) in self.buckets.iter().enumerate() {
            if let Some(bucket) = bucket {
                let dimension = Dimension::ALL[i];
                let amount = cost.amount(dimension);
                if amount > bucket.capacity_units() {
                    return Err(ReserveError::NeverFits {
                        dimension,
                        cost: amount,
                        capacity: bucket.capacity_units(),
                    });
                }
            }
        }
        let now_ns = self.ns(now);
        let mut latest: Option<ReserveError> = None;
        if let Some((until, dimension)) = self.penalty
            && until > now
        {
            latest = Some(ReserveError::Penalized { until, dimension });
        }
        for (i, bucket) in self.buckets.iter().enumerate() {
            if let Some(bucket) = bucket {
                let dimension = Dimension::ALL[i];
                if let Err(at_ns) = bucket.check(now_ns, self.margin_ns, cost.amount(dimension)) {
                    let until = self.instant(at_ns);
                    let later = latest
                        .as_ref()
                        .and_then(ReserveError::retry_at)
                        .is_none_or(|t| until > t);
                    if later {
                        latest = Some(ReserveError::Wait { until, dimension });
                    }
                }
            }
        }
        if let Some(wait) = latest {
            return Err(wait);
        }
        if let Some(limit) = self.quota.max_in_flight()
            && self.in_flight >= limit
        {
            return Err(ReserveError::InFlight { limit });
        }
        let mut marks = [None; DIMENSIONS];
        let window = window_of(now_ns, self.margin_ns);
        for (i, bucket) in self.buckets.iter_mut().enumerate() {
            if let Some(bucket) = bucket {
                let amount = cost.amount(Dimension::ALL[i]);
                marks[i] = Some(bucket.charge(now_ns, amount, window));
            }
        }
        self.pending = self.pending.saturating_add(*cost);
        self.in_flight = self.in_flight.saturating_add(1);
        Ok(Charge { cost: *cost, marks })
    }

    /// Ends a charge at `now`: frees its in-flight slot and applies `settlement`.
    ///
    /// A [`Refund`](Settlement::Refund) undoes what is left of the charge (never below empty,
    /// never more than the charge could still hold; nothing if the bucket's rate changed since).
    /// A [`Commit`](Settlement::Commit) corrects the token buckets by `actual - estimate` (see
    /// [`Settlement::Commit`]). A [`Keep`](Settlement::Keep) leaves the charge as it is.
    pub fn settle(&mut self, now: Instant, charge: Charge, settlement: Settlement) {
        let now_ns = self.ns(now);
        let window = window_of(now_ns, self.margin_ns);
        let cost = charge.cost;
        self.pending = self.pending.saturating_sub(cost);
        self.in_flight = self.in_flight.saturating_sub(1);
        for (i, mark) in charge.marks.into_iter().enumerate() {
            let (Some(mark), Some(bucket)) = (mark, self.buckets[i].as_mut()) else {
                continue;
            };
            let dimension = Dimension::ALL[i];
            match settlement {
                Settlement::Keep => {}
                Settlement::Refund => {
                    if bucket.epoch() == mark.epoch {
                        let amount = cost.amount(dimension);
                        bucket.refund_unsent(now_ns, amount, &mark, window);
                    }
                }
                Settlement::Commit { .. } | Settlement::CommitUsage { .. } => {
                    let actual = match settlement {
                        Settlement::Commit { actual_tokens } => Cost {
                            tokens: actual_tokens,
                            ..cost
                        },
                        Settlement::CommitUsage { actual } => actual,
                        Settlement::Keep | Settlement::Refund => cost,
                    };
                    // An answered request has reached the server.
                    bucket.arrived(cost.amount(dimension), &mark, window);
                    if dimension.unit() != LimitUnit::Requests {
                        let (charged, used) = (cost.amount(dimension), actual.amount(dimension));
                        if used > charged {
                            bucket.add(now_ns, used - charged);
                        } else {
                            bucket.refund_served(now_ns, charged - used, window);
                        }
                    }
                }
            }
        }
    }

    /// Learns from a response's rate-limit headers, received at `received`.
    ///
    /// Groq's request headers describe the requests-per-day bucket and its token headers the
    /// tokens-per-minute bucket; the audio and input/output token buckets are read from the
    /// headers of the same scheme when a server sends them (see
    /// [`BucketHeaders`](crate::BucketHeaders)). When the server reports fewer remaining than this state
    /// believes (other processes or keys of the same organization, estimation error), the
    /// local bucket is raised to match: it then holds at least `limit - remaining` plus the
    /// units of reservations still in flight (which the server may not have counted yet), and
    /// is not refilled before `received + reset` plus the time those in-flight units take.
    /// Nothing is ever loosened, and a dimension without a local rate learns nothing.
    ///
    /// Call it after settling the reservation the response belongs to, so that its own cost
    /// is not counted twice.
    pub fn observe(&mut self, received: Instant, headers: &RateLimitHeaders) {
        let now_ns = self.ns(received);
        for dimension in Dimension::ALL {
            let Some(side) = headers.bucket(dimension) else {
                continue;
            };
            let (remaining, reset) = (side.remaining, side.reset);
            let pending = self.pending.amount(dimension);
            let Some(bucket) = self.buckets[dimension.index()].as_mut() else {
                continue;
            };
            let Some(server_remaining) = remaining else {
                continue;
            };
            if server_remaining >= bucket.remaining(now_ns) {
                continue;
            }
            let server_used = bucket.capacity_units().saturating_sub(server_remaining);
            let empty_at = reset.map(|reset| {
                let pending_ns = i128::from(pending)
                    .saturating_mul(duration_ns(bucket.rate().period()))
                    / i128::from(bucket.rate().limit().max(1));
                now_ns
                    .saturating_add(duration_ns(reset))
                    .saturating_add(pending_ns)
            });
            bucket.tighten(now_ns, server_used.saturating_add(pending), empty_at);
        }
    }

    /// Adopts every limit a response's headers state that is lower than the local one (see
    /// [`adopt_limit`](Self::adopt_limit)), before [`observe`](Self::observe) reads what is
    /// left. Returns the adopted rates.
    pub fn adopt_header_limits(
        &mut self,
        now: Instant,
        headers: &RateLimitHeaders,
    ) -> Vec<(Dimension, Rate)> {
        Dimension::ALL
            .into_iter()
            .filter_map(|dimension| {
                let limit = headers.bucket(dimension)?.limit?;
                self.adopt_limit(now, dimension, limit)
                    .map(|rate| (dimension, rate))
            })
            .collect()
    }

    /// Restores what an earlier process knew: `dimension`'s bucket holds at least `used`
    /// units at `now` (already aged by the caller for the time that passed). Like
    /// [`observe`](Self::observe) it never loosens, and a dimension without a rate learns
    /// nothing.
    ///
    /// ```
    /// use groq_config::Rate;
    /// use groq_ratelimit::{Dimension, Quota, QuotaState};
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    ///
    /// let now = Instant::now();
    /// let quota = Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30));
    /// let mut state = QuotaState::new(quota, Duration::ZERO, now);
    /// state.restore(now, Dimension::RequestsPerMinute, 20);
    /// assert_eq!(state.snapshot(now).get(Dimension::RequestsPerMinute).unwrap().remaining, 10);
    /// ```
    pub fn restore(&mut self, now: Instant, dimension: Dimension, used: u64) {
        let now_ns = self.ns(now);
        if let Some(bucket) = self.buckets[dimension.index()].as_mut() {
            bucket.tighten(now_ns, used.min(bucket.capacity_units()), None);
        }
    }

    /// Adopts a limit the server stated for `dimension` when it is lower than the local one:
    /// the bucket keeps its period and the units it holds, and from then on admits at most
    /// `limit` per period. Returns the new rate when it changed; a limit at or above the local
    /// one, a zero limit, or a dimension without a local rate changes nothing (the server is
    /// the authority only where it is stricter).
    ///
    /// ```
    /// use groq_config::Rate;
    /// use groq_ratelimit::{Dimension, Quota, QuotaState};
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    ///
    /// let now = Instant::now();
    /// let quota = Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30));
    /// let mut state = QuotaState::new(quota, Duration::ZERO, now);
    /// assert_eq!(state.adopt_limit(now, Dimension::RequestsPerMinute, 5), Some(Rate::per_minute(5)));
    /// assert_eq!(state.adopt_limit(now, Dimension::RequestsPerMinute, 10), None);
    /// assert_eq!(state.quota().rate(Dimension::RequestsPerMinute), Some(Rate::per_minute(5)));
    /// ```
    pub fn adopt_limit(&mut self, now: Instant, dimension: Dimension, limit: u64) -> Option<Rate> {
        let current = self.buckets[dimension.index()].as_ref()?.rate();
        if limit >= current.limit() {
            return None;
        }
        let rate = Rate::new(limit, current.period()).ok()?;
        let quota = self.quota.with_rate(dimension, rate);
        self.set_quota(now, quota);
        Some(rate)
    }

    /// Learns from the text of a 429 (or 413) received at `now`: a `Limit N` lower than the
    /// local limit of the dimension the text names is [adopted](Self::adopt_limit), and a
    /// 429's `Used N` raises the bucket to hold at least `N` plus the units of reservations
    /// still in flight (as [`observe`](Self::observe) does with headers). Returns the adopted
    /// rate, if any. Nothing is loosened.
    pub fn learn(&mut self, now: Instant, message: &LimitMessage) -> Option<(Dimension, Rate)> {
        let dimension = message.dimension?;
        let adopted = message
            .limit
            .and_then(|limit| self.adopt_limit(now, dimension, limit));
        if message.kind == LimitMessageKind::RateLimited
            && let Some(used) = message.used
        {
            let pending = self.pending.amount(dimension);
            let now_ns = self.ns(now);
            if let Some(bucket) = self.buckets[dimension.index()].as_mut() {
                let used = used.min(bucket.capacity_units());
                bucket.tighten(now_ns, used.saturating_add(pending), None);
            }
        }
        adopted.map(|rate| (dimension, rate))
    }

    /// Closes the model until `until` after a 429, naming the limit the server named. A later
    /// pause replaces an earlier one; an earlier one is ignored.
    pub fn penalize(&mut self, dimension: Option<Dimension>, until: Instant) {
        match self.penalty {
            Some((current, _)) if current >= until => {}
            _ => self.penalty = Some((until, dimension)),
        }
    }

    /// The state at `now`.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let now_ns = self.ns(now);
        let dimensions = self
            .buckets
            .iter()
            .enumerate()
            .filter_map(|(i, bucket)| {
                let bucket = bucket.as_ref()?;
                let dimension = Dimension::ALL[i];
                Some(DimensionSnapshot {
                    dimension,
                    rate: bucket.rate(),
                    used: bucket.used(now_ns),
                    remaining: bucket.remaining(now_ns),
                    reset: Duration::from_nanos(
                        u64::try_from(bucket.reset_ns(now_ns)).unwrap_or(u64::MAX),
                    ),
                    pending: self.pending.amount(dimension),
                })
            })
            .collect();
        Snapshot {
            at: now,
            dimensions,
            in_flight: self.in_flight,
            max_in_flight: self.quota.max_in_flight(),
            penalized_until: self
                .penalty
                .map(|(until, _)| until)
                .filter(|until| *until > now),
        }
    }

    /// Replaces the quota at `now`, keeping what is known: a bucket whose rate changes keeps
    /// the units it holds, a new bucket starts holding the units of reservations in flight, a
    /// removed bucket is forgotten. In-flight reservations stay counted.
    pub fn set_quota(&mut self, now: Instant, quota: Quota) {
        let now_ns = self.ns(now);
        for dimension in Dimension::ALL {
            let slot = &mut self.buckets[dimension.index()];
            match (slot.as_ref(), quota.rate(dimension)) {
                (Some(bucket), Some(rate)) if bucket.rate() == rate => {}
                (Some(bucket), Some(rate)) => {
                    *slot = Some(bucket.rescaled(rate, self.next_epoch, now_ns));
                    self.next_epoch = self.next_epoch.wrapping_add(1);
                }
                (None, Some(rate)) => {
                    let pending = self.pending.amount(dimension);
                    *slot = Some(Bucket::new(rate, self.next_epoch, now_ns, pending));
                    self.next_epoch = self.next_epoch.wrapping_add(1);
                }
                (_, None) => *slot = None,
            }
        }
        self.quota = quota;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn tpm(limit: u64) -> Quota {
        Quota::unlimited().with_rate(Dimension::TokensPerMinute, Rate::per_minute(limit))
    }

    #[test]
    fn all_or_nothing_across_dimensions() {
        let t0 = Instant::now();
        let quota = tpm(600).with_rate(Dimension::RequestsPerMinute, Rate::per_minute(2));
        let mut s = QuotaState::new(quota, Duration::ZERO, t0);
        let a = s.reserve(t0, &Cost::request(500)).unwrap();
        // Requests fit, tokens do not: nothing is charged.
        let err = s.reserve(t0, &Cost::request(200)).unwrap_err();
        assert_eq!(
            err,
            ReserveError::Wait {
                until: t0 + 10 * SEC,
                dimension: Dimension::TokensPerMinute
            }
        );
        let snap = s.snapshot(t0);
        assert_eq!(snap.get(Dimension::RequestsPerMinute).unwrap().used, 1);
        assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().used, 500);
        assert_eq!(snap.in_flight, 1);
        s.settle(t0, a, Settlement::Keep);
        // Both bind: the later instant is the answer.
        let _b = s.reserve(t0, &Cost::request(100)).unwrap();
        let err = s.reserve(t0 + SEC, &Cost::request(100)).unwrap_err();
        assert_eq!(
            err,
            ReserveError::Wait {
                until: t0 + 30 * SEC,
                dimension: Dimension::RequestsPerMinute
            }
        );
    }

    #[test]
    fn never_fits_is_immediate() {
        let t0 = Instant::now();
        let mut s = QuotaState::new(tpm(6000), Duration::ZERO, t0);
        assert_eq!(
            s.reserve(t0, &Cost::request(14_810)).unwrap_err(),
            ReserveError::NeverFits {
                dimension: Dimension::TokensPerMinute,
                cost: 14_810,
                capacity: 6000
            }
        );
        assert!(s.reserve(t0, &Cost::request(6000)).is_ok());
    }

    #[test]
    fn commit_corrects_both_ways() {
        let t0 = Instant::now();
        let quota = tpm(600).with_rate(Dimension::TokensPerDay, Rate::per_day(10_000));
        let mut s = QuotaState::new(quota, Duration::ZERO, t0);
        let a = s.reserve(t0, &Cost::request(400)).unwrap();
        s.settle(t0, a, Settlement::Commit { actual_tokens: 100 });
        let snap = s.snapshot(t0);
        assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().used, 100);
        assert_eq!(snap.get(Dimension::TokensPerDay).unwrap().used, 100);
        let b = s.reserve(t0, &Cost::request(100)).unwrap();
        s.settle(t0, b, Settlement::Commit { actual_tokens: 900 });
        let snap = s.snapshot(t0);
        assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().used, 1000);
        assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().remaining, 0);
        assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().pending, 0);
        // Overdrawn: even a request without tokens waits until the bucket is below its limit.
        assert!(matches!(
            s.reserve(t0, &Cost::request(0)),
            Err(ReserveError::Wait { .. })
        ));
    }

    #[test]
    fn refund_restores_and_keep_does_not() {
        let t0 = Instant::now();
        let mut s = QuotaState::new(tpm(600), Duration::ZERO, t0);
        let a = s.reserve(t0, &Cost::request(600)).unwrap();
        s.settle(t0, a, Settlement::Refund);
        let b = s.reserve(t0, &Cost::request(600)).unwrap();
        s.settle(t0, b, Settlement::Keep);
        assert!(s.reserve(t0, &Cost::request(1)).is_err());
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn in_flight_cap_binds_after_buckets() {
        let t0 = Instant::now();
        let mut s = QuotaState::new(tpm(600).with_max_in_flight(1), Duration::ZERO, t0);
        let a = s.reserve(t0, &Cost::request(10)).unwrap();
        assert_eq!(
            s.reserve(t0, &Cost::request(10)).unwrap_err(),
            ReserveError::InFlight { limit: 1 }
        );
        s.settle(t0, a, Settlement::Keep);
        assert!(s.reserve(t0, &Cost::request(10)).is_ok());
        s.set_quota(t0, tpm(600).with_max_in_flight(0));
        assert_eq!(
            s.reserve(t0, &Cost::request(10)).unwrap_err(),
            ReserveError::InFlight { limit: 0 }
        );
    }

    #[test]
    fn penalty_closes_the_lane_until_it_ends() {
        let t0 = Instant::now();
        let mut s = QuotaState::new(Quota::unlimited(), Duration::ZERO, t0);
        s.penalize(Some(Dimension::TokensPerDay), t0 + 5 * SEC);
        s.penalize(None, t0 + 2 * SEC);
        let err = s.reserve(t0, &Cost::request(1)).unwrap_err();
        assert_eq!(
            err,
            ReserveError::Penalized {
                until: t0 + 5 * SEC,
                dimension: Some(Dimension::TokensPerDay)
            }
        );
        assert_eq!(s.snapshot(t0).penalized_until, Some(t0 + 5 * SEC));
        assert!(s.reserve(t0 + 5 * SEC, &Cost::request(1)).is_ok());
        assert_eq!(s.snapshot(t0 + 5 * SEC).penalized_until, None);
    }

    #[test]
    fn observe_tightens_only_when_the_server_saw_more() {
        let t0 = Instant::now();
        let quota = tpm(6000).with_rate(Dimension::RequestsPerDay, Rate::per_day(1000));
        let mut s = QuotaState::new(quota, Duration::ZERO, t0);
        let a = s.reserve(t0, &Cost::request(1000)).unwrap();
        s.settle(
            t0,
            a,
            Settlement::Commit {
                actual_tokens: 1000,
            },
        );
        // The server agrees: nothing changes.
        let agree = RateLimitHeaders {
            remaining_tokens: Some(5000),
            reset_tokens: Some(10 * SEC),
            remaining_requests: Some(999),
            reset_requests: Some(Duration::from_millis(86_400)),
            ..RateLimitHeaders::default()
        };
        s.observe(t0, &agree);
        let snap = s.snapshot(t0);
        assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().used, 1000);
        assert_eq!(snap.get(Dimension::RequestsPerDay).unwrap().used, 1);
        // The server saw 3000 more tokens: ours drops to its remaining, with its reset.
        let more = RateLimitHeaders {
            remaining_tokens: Some(2000),
            reset_tokens: Some(40 * SEC),
            ..RateLimitHeaders::default()
        };
        s.observe(t0, &more);
        let snap = s.snapshot(t0);
        let tokens = snap.get(Dimension::TokensPerMinute).unwrap();
        assert_eq!(tokens.remaining, 2000);
        assert_eq!(tokens.reset, 40 * SEC);
        // Reporting more remaining never loosens.
        s.observe(t0, &agree);
        assert_eq!(
            s.snapshot(t0)
                .get(Dimension::TokensPerMinute)
                .unwrap()
                .remaining,
            2000
        );
    }

    #[test]
    fn observe_keeps_in_flight_reservations_counted() {
        let t0 = Instant::now();
        let mut s = QuotaState::new(tpm(6000), Duration::ZERO, t0);
        let _a = s.reserve(t0, &Cost::request(1000)).unwrap();
        let headers = RateLimitHeaders {
            remaining_tokens: Some(3000),
            ..RateLimitHeaders::default()
        };
        s.observe(t0, &headers);
        let tokens = s
            .snapshot(t0)
            .get(Dimension::TokensPerMinute)
            .cloned()
            .unwrap();
        assert_eq!(tokens.remaining, 2000);
        assert_eq!(tokens.pending, 1000);
    }

    #[test]
    fn set_quota_keeps_usage() {
        let t0 = Instant::now();
        let mut s = QuotaState::new(tpm(600), Duration::ZERO, t0);
        let a = s.reserve(t0, &Cost::request(300)).unwrap();
        s.settle(t0, a, Settlement::Keep);
        let b = s.reserve(t0, &Cost::request(100)).unwrap();
        s.set_quota(
            t0,
            tpm(1200).with_rate(Dimension::RequestsPerMinute, Rate::per_minute(10)),
        );
        let snap = s.snapshot(t0);
        assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().used, 400);
        assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().remaining, 800);
        // The new RPM bucket counts the request still in flight.
        assert_eq!(snap.get(Dimension::RequestsPerMinute).unwrap().used, 1);
        // A refund across a rate change undoes nothing, but frees the slot.
        s.settle(t0, b, Settlement::Refund);
        let snap = s.snapshot(t0);
        assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().used, 400);
        assert_eq!(snap.in_flight, 0);
        s.set_quota(t0, Quota::unlimited());
        assert!(s.snapshot(t0).dimensions.is_empty());
    }

    #[test]
    fn margin_delays_by_exactly_the_margin() {
        let t0 = Instant::now();
        let margin = Duration::from_millis(100);
        let mut s = QuotaState::new(tpm(60), margin, t0);
        let a = s.reserve(t0, &Cost::request(60)).unwrap();
        s.settle(t0, a, Settlement::Keep);
        let err = s.reserve(t0, &Cost::request(1)).unwrap_err();
        assert_eq!(err.retry_at(), Some(t0 + SEC + margin));
        assert!(s.reserve(t0 + SEC + margin, &Cost::request(1)).is_ok());
    }
}
