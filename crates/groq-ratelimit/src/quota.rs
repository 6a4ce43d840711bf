//! What is limited ([`Dimension`], [`Quota`]) and what a request spends ([`Cost`]).

use groq_config::Rate;

/// One bucket of a model's quota: requests or tokens, per minute or per day.
///
/// This is `groq-config`'s [`LimitKind`](groq_config::LimitKind) under the limiter's name, so a
/// configuration's limits and the limiter's buckets are one type. The period of each bucket is
/// whatever its [`Rate`] says: a "per minute" bucket of `30 per 6 s` is how a time-compressed
/// test expresses RPM. Request dimensions are charged [`Cost::requests`], token dimensions
/// [`Cost::tokens`] (see [`Cost::amount`]).
pub use groq_config::LimitKind as Dimension;

/// What one request spends: requests (normally 1) and tokens (prompt plus completion
/// allowance).
///
/// ```
/// use groq_ratelimit::Cost;
///
/// let cost = Cost::request(1_500);
/// assert_eq!((cost.requests, cost.tokens), (1, 1_500));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Cost {
    /// Requests charged to the RPM and RPD buckets.
    pub requests: u64,
    /// Tokens charged to the TPM and TPD buckets.
    pub tokens: u64,
}

impl Cost {
    /// `requests` requests and `tokens` tokens.
    pub const fn new(requests: u64, tokens: u64) -> Self {
        Self { requests, tokens }
    }

    /// One request of `tokens` tokens: the cost of a chat completion.
    pub const fn request(tokens: u64) -> Self {
        Self::new(1, tokens)
    }

    /// The amount of this cost that `dimension` is charged: tokens for TPM and TPD, requests
    /// for RPM and RPD.
    pub const fn amount(&self, dimension: Dimension) -> u64 {
        if dimension.is_tokens() {
            self.tokens
        } else {
            self.requests
        }
    }
}

/// The limits of one model: up to one [`Rate`] per [`Dimension`] and an optional cap on the
/// number of requests in flight.
///
/// A dimension without a rate is unlimited and costs nothing. The default quota is unlimited
/// everywhere.
///
/// ```
/// use groq_config::Rate;
/// use groq_ratelimit::{Dimension, Quota};
///
/// let quota = Quota::unlimited()
///     .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30))
///     .with_rate(Dimension::TokensPerMinute, Rate::per_minute(6_000))
///     .with_max_in_flight(4);
/// assert_eq!(quota.rate(Dimension::TokensPerMinute), Some(Rate::per_minute(6_000)));
/// assert_eq!(quota.rate(Dimension::TokensPerDay), None);
/// assert_eq!(quota.max_in_flight(), Some(4));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Quota {
    rates: [Option<Rate>; 4],
    max_in_flight: Option<u32>,
}

impl Quota {
    /// No limit at all.
    pub const fn unlimited() -> Self {
        Self {
            rates: [None; 4],
            max_in_flight: None,
        }
    }

    /// The quota that `groq-config`'s [`Limits`](groq_config::Limits) describe.
    pub fn from_limits(limits: &groq_config::Limits) -> Self {
        let mut quota = Self::unlimited();
        for (dimension, rate) in limits.rates() {
            quota = quota.with_rate(dimension, rate);
        }
        quota.max_in_flight = limits.max_in_flight;
        quota
    }

    /// This quota with `dimension` limited to `rate`.
    #[must_use]
    pub const fn with_rate(mut self, dimension: Dimension, rate: Rate) -> Self {
        self.rates[dimension.index()] = Some(rate);
        self
    }

    /// This quota with `dimension` unlimited.
    #[must_use]
    pub const fn without_rate(mut self, dimension: Dimension) -> Self {
        self.rates[dimension.index()] = None;
        self
    }

    /// This quota with at most `max` requests in flight at once. A request is in flight from a
    /// successful reserve until its [`Reservation`](crate::Reservation) settles. A cap of 0
    /// pauses the model: every reserve answers
    /// [`ReserveError::InFlight`](crate::ReserveError::InFlight) until the quota changes.
    #[must_use]
    pub const fn with_max_in_flight(mut self, max: u32) -> Self {
        self.max_in_flight = Some(max);
        self
    }

    /// This quota without a cap on requests in flight.
    #[must_use]
    pub const fn without_max_in_flight(mut self) -> Self {
        self.max_in_flight = None;
        self
    }

    /// The rate of `dimension`, `None` when unlimited.
    pub const fn rate(&self, dimension: Dimension) -> Option<Rate> {
        self.rates[dimension.index()]
    }

    /// The cap on requests in flight, `None` when uncapped.
    pub const fn max_in_flight(&self) -> Option<u32> {
        self.max_in_flight
    }

    /// Every limited dimension with its rate, in the order `RPM, RPD, TPM, TPD`.
    pub fn rates(&self) -> impl Iterator<Item = (Dimension, Rate)> + '_ {
        Dimension::ALL
            .into_iter()
            .filter_map(|d| self.rate(d).map(|rate| (d, rate)))
    }

    /// Whether nothing is limited: no rate and no in-flight cap.
    pub fn is_unlimited(&self) -> bool {
        self.rates.iter().all(Option::is_none) && self.max_in_flight.is_none()
    }
}

impl From<&groq_config::Limits> for Quota {
    fn from(limits: &groq_config::Limits) -> Self {
        Self::from_limits(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn labels_round_trip() {
        for d in Dimension::ALL {
            assert_eq!(Dimension::from_label(d.label()), Some(d));
            assert_eq!(Dimension::ALL[d.index()], d);
        }
        assert_eq!(
            Dimension::from_label(" tpd "),
            Some(Dimension::TokensPerDay)
        );
        assert_eq!(Dimension::from_label("ASH"), None);
        assert_eq!(
            Dimension::TokensPerMinute.to_string(),
            "tokens per minute (TPM)"
        );
    }

    #[test]
    fn dimensions_charge_their_unit() {
        let cost = Cost::new(2, 700);
        assert_eq!(cost.amount(Dimension::RequestsPerDay), 2);
        assert_eq!(cost.amount(Dimension::TokensPerDay), 700);
    }

    #[test]
    fn quota_from_config_limits() {
        let limits = groq_config::Limits::default()
            .with_requests_per_minute(Rate::per_minute(30))
            .with_tokens_per_day(Rate::new(1000, Duration::from_secs(10)).unwrap())
            .with_max_in_flight(3);
        let quota = Quota::from(&limits);
        assert_eq!(
            quota.rates().collect::<Vec<_>>(),
            [
                (Dimension::RequestsPerMinute, Rate::per_minute(30)),
                (
                    Dimension::TokensPerDay,
                    Rate::new(1000, Duration::from_secs(10)).unwrap()
                ),
            ]
        );
        assert_eq!(quota.max_in_flight(), Some(3));
        assert!(Quota::from_limits(&groq_config::Limits::default()).is_unlimited());
    }

    #[test]
    fn builders_set_and_clear() {
        let q = Quota::unlimited()
            .with_rate(Dimension::TokensPerMinute, Rate::per_minute(10))
            .with_max_in_flight(1);
        assert!(!q.is_unlimited());
        let q = q
            .without_rate(Dimension::TokensPerMinute)
            .without_max_in_flight();
        assert!(q.is_unlimited());
        assert_eq!(q, Quota::default());
    }
}
