//! What is limited ([`Dimension`], [`Quota`]) and what a request spends ([`Cost`]).

use groq_config::Rate;

/// One bucket of a model's quota: requests, tokens, input or output tokens, or audio seconds,
/// per minute, hour or day.
///
/// This is `groq-config`'s [`LimitKind`](groq_config::LimitKind) under the limiter's name, so a
/// configuration's limits and the limiter's buckets are one type. The period of each bucket is
/// whatever its [`Rate`] says: a "per minute" bucket of `30 per 6 s` is how a time-compressed
/// test expresses RPM. Request dimensions are charged [`Cost::requests`], TPM and TPD
/// [`Cost::tokens`], ITPM [`Cost::input_tokens`], OTPM [`Cost::output_tokens`] and ASH and ASD
/// [`Cost::audio_seconds`] (see [`Cost::amount`]).
pub use groq_config::LimitKind as Dimension;

/// What one request spends: requests (normally 1), tokens (prompt plus completion
/// allowance), and the parts of them the input and output caps count, or audio seconds.
///
/// ```
/// use groq_ratelimit::{Cost, Dimension};
///
/// let cost = Cost::request(1_500);
/// assert_eq!((cost.requests, cost.tokens), (1, 1_500));
/// let chat = Cost::chat(1_200, 300);
/// assert_eq!(chat.amount(Dimension::TokensPerMinute), 1_500);
/// assert_eq!(chat.amount(Dimension::InputTokensPerMinute), 1_200);
/// assert_eq!(chat.amount(Dimension::OutputTokensPerMinute), 300);
/// let audio = Cost::audio(42);
/// assert_eq!(audio.amount(Dimension::AudioSecondsPerHour), 42);
/// assert_eq!(audio.amount(Dimension::TokensPerMinute), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Cost {
    /// Requests charged to the RPM and RPD buckets.
    pub requests: u64,
    /// Tokens charged to the TPM and TPD buckets.
    pub tokens: u64,
    /// Prompt tokens charged to the ITPM bucket.
    pub input_tokens: u64,
    /// Completion tokens (the allowance) charged to the OTPM bucket.
    pub output_tokens: u64,
    /// Audio seconds charged to the ASH and ASD buckets.
    pub audio_seconds: u64,
}

impl Cost {
    /// `requests` requests and `tokens` tokens (and nothing of the other units).
    pub const fn new(requests: u64, tokens: u64) -> Self {
        Self {
            requests,
            tokens,
            input_tokens: 0,
            output_tokens: 0,
            audio_seconds: 0,
        }
    }

    /// One request of `tokens` tokens, not split into input and output (the ITPM and OTPM
    /// buckets are charged nothing; see [`Cost::chat`]).
    pub const fn request(tokens: u64) -> Self {
        Self::new(1, tokens)
    }

    /// One chat completion: `prompt` input tokens and a `completion` allowance, `prompt +
    /// completion` tokens in all.
    pub const fn chat(prompt: u64, completion: u64) -> Self {
        Self {
            requests: 1,
            tokens: prompt.saturating_add(completion),
            input_tokens: prompt,
            output_tokens: completion,
            audio_seconds: 0,
        }
    }

    /// One audio request of `seconds` seconds of audio (and no tokens).
    pub const fn audio(seconds: u64) -> Self {
        Self {
            requests: 1,
            tokens: 0,
            input_tokens: 0,
            output_tokens: 0,
            audio_seconds: seconds,
        }
    }

    /// This cost with `seconds` audio seconds.
    #[must_use]
    pub const fn with_audio_seconds(mut self, seconds: u64) -> Self {
        self.audio_seconds = seconds;
        self
    }

    /// The amount of this cost that `dimension` is charged: requests for RPM and RPD, tokens
    /// for TPM and TPD, input tokens for ITPM, output tokens for OTPM, audio seconds for ASH
    /// and ASD.
    pub const fn amount(&self, dimension: Dimension) -> u64 {
        match dimension {
            Dimension::RequestsPerMinute | Dimension::RequestsPerDay => self.requests,
            Dimension::TokensPerMinute | Dimension::TokensPerDay => self.tokens,
            Dimension::InputTokensPerMinute => self.input_tokens,
            Dimension::OutputTokensPerMinute => self.output_tokens,
            Dimension::AudioSecondsPerHour | Dimension::AudioSecondsPerDay => self.audio_seconds,
            _ => 0,
        }
    }

    /// Every unit of `self` plus `other`'s, saturating.
    #[must_use]
    pub const fn saturating_add(self, other: Self) -> Self {
        Self {
            requests: self.requests.saturating_add(other.requests),
            tokens: self.tokens.saturating_add(other.tokens),
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
            audio_seconds: self.audio_seconds.saturating_add(other.audio_seconds),
        }
    }

    /// Every unit of `self` less `other`'s, stopping at zero.
    #[must_use]
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self {
            requests: self.requests.saturating_sub(other.requests),
            tokens: self.tokens.saturating_sub(other.tokens),
            input_tokens: self.input_tokens.saturating_sub(other.input_tokens),
            output_tokens: self.output_tokens.saturating_sub(other.output_tokens),
            audio_seconds: self.audio_seconds.saturating_sub(other.audio_seconds),
        }
    }
}

/// How many dimensions there are: the length of [`Dimension::ALL`].
pub(crate) const DIMENSIONS: usize = Dimension::ALL.len();

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
    rates: [Option<Rate>; DIMENSIONS],
    max_in_flight: Option<u32>,
}

impl Quota {
    /// No limit at all.
    pub const fn unlimited() -> Self {
        Self {
            rates: [None; DIMENSIONS],
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

    /// Every limited dimension with its rate, in the order of [`Dimension::ALL`].
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
        assert_eq!(
            Dimension::from_label("ASH"),
            Some(Dimension::AudioSecondsPerHour)
        );
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
        assert_eq!(cost.amount(Dimension::InputTokensPerMinute), 0);
        let chat = Cost::chat(600, 100).with_audio_seconds(9);
        assert_eq!(chat.amount(Dimension::AudioSecondsPerDay), 9);
        assert_eq!(
            chat.saturating_sub(Cost::chat(700, 50)),
            Cost {
                requests: 0,
                tokens: 0,
                input_tokens: 0,
                output_tokens: 50,
                audio_seconds: 9
            }
        );
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
