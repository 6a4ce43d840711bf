//! [`Limits`]: the quota of one model, and [`LimitKind`], its dimensions.

use std::fmt;
use std::time::Duration;

use crate::Rate;

/// One dimension of a model's quota: Groq's four limits.
///
/// `groq-ratelimit` re-exports this type as `Dimension`, the name of one bucket of its
/// limiter. The period of a dimension is whatever its [`Rate`] says: a "per minute" dimension
/// written `30 per 6 s` is how a time-compressed test expresses RPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LimitKind {
    /// Requests per minute (RPM).
    RequestsPerMinute,
    /// Requests per day (RPD).
    RequestsPerDay,
    /// Tokens per minute (TPM): prompt plus completion allowance.
    TokensPerMinute,
    /// Tokens per day (TPD).
    TokensPerDay,
}

impl LimitKind {
    /// Every dimension, in the order `RPM, RPD, TPM, TPD`.
    pub const ALL: [Self; 4] = [
        Self::RequestsPerMinute,
        Self::RequestsPerDay,
        Self::TokensPerMinute,
        Self::TokensPerDay,
    ];

    /// Whether the dimension counts tokens (TPM, TPD) rather than requests.
    pub const fn is_tokens(self) -> bool {
        matches!(self, Self::TokensPerMinute | Self::TokensPerDay)
    }

    /// The short label Groq uses in its messages: `"RPM"`, `"RPD"`, `"TPM"`, `"TPD"`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::RequestsPerMinute => "RPM",
            Self::RequestsPerDay => "RPD",
            Self::TokensPerMinute => "TPM",
            Self::TokensPerDay => "TPD",
        }
    }

    /// The dimension with the given label (`"TPM"`, case-insensitive), if any.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.label().eq_ignore_ascii_case(label.trim()))
    }

    /// The position of this dimension in [`LimitKind::ALL`], for tables indexed by dimension.
    pub const fn index(self) -> usize {
        match self {
            Self::RequestsPerMinute => 0,
            Self::RequestsPerDay => 1,
            Self::TokensPerMinute => 2,
            Self::TokensPerDay => 3,
        }
    }

    /// The words Groq's messages use: `tokens per minute`.
    pub const fn words(self) -> &'static str {
        match self {
            Self::RequestsPerMinute => "requests per minute",
            Self::RequestsPerDay => "requests per day",
            Self::TokensPerMinute => "tokens per minute",
            Self::TokensPerDay => "tokens per day",
        }
    }

    /// The period a plain integer limit refers to: one minute or one day.
    pub const fn natural_period(self) -> Duration {
        match self {
            Self::RequestsPerMinute | Self::TokensPerMinute => Rate::MINUTE,
            Self::RequestsPerDay | Self::TokensPerDay => Rate::DAY,
        }
    }

    /// The key of this dimension in configuration files: `req_per_minute`, `req_per_day`,
    /// `token_per_minute`, `token_per_day` (the seed's names, kept by the native format).
    pub const fn config_key(self) -> &'static str {
        match self {
            Self::RequestsPerMinute => "req_per_minute",
            Self::RequestsPerDay => "req_per_day",
            Self::TokensPerMinute => "token_per_minute",
            Self::TokensPerDay => "token_per_day",
        }
    }
}

impl fmt::Display for LimitKind {
    /// `tokens per minute (TPM)`, the wording of Groq's messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.words(), self.label())
    }
}

/// The quota of one model: up to four rates and an optional cap on requests in flight.
///
/// `None` means unlimited in that dimension. The default is unlimited everywhere.
///
/// ```
/// use groq_config::{LimitKind, Limits, Rate};
/// use std::time::Duration;
///
/// let limits = Limits::default()
///     .with_requests_per_minute(Rate::per_minute(30))
///     .with_tokens_per_minute(Rate::new(600, Duration::from_secs(6)).unwrap())
///     .with_max_in_flight(4);
/// let set: Vec<_> = limits.rates().map(|(kind, _)| kind.label()).collect();
/// assert_eq!(set, ["RPM", "TPM"]);
/// assert_eq!(limits.get(LimitKind::RequestsPerDay), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Requests per minute (or per any period when written `{ "limit", "per" }`).
    pub requests_per_minute: Option<Rate>,
    /// Requests per day.
    pub requests_per_day: Option<Rate>,
    /// Tokens per minute.
    pub tokens_per_minute: Option<Rate>,
    /// Tokens per day.
    pub tokens_per_day: Option<Rate>,
    /// At most this many requests to the model at once (not a Groq limit; a local cap).
    pub max_in_flight: Option<u32>,
}

impl Limits {
    /// No limit in any dimension (the same as [`Limits::default`]).
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// The defaults for a model the configuration does not know (see
    /// [`UnknownModelPolicy`](crate::UnknownModelPolicy)): the lowest free-plan value of each
    /// dimension among the built-in catalog's models: 30 RPM, 250 RPD, 6,000 TPM and
    /// 100,000 TPD. A model Groq added after this catalog is then paced safely on a free key.
    pub fn conservative() -> Self {
        Self::default()
            .with_requests_per_minute(Rate::per_minute(30))
            .with_requests_per_day(Rate::per_day(250))
            .with_tokens_per_minute(Rate::per_minute(6_000))
            .with_tokens_per_day(Rate::per_day(100_000))
    }

    /// Sets or clears the requests-per-minute rate.
    #[must_use]
    pub fn with_requests_per_minute(mut self, rate: impl Into<Option<Rate>>) -> Self {
        self.requests_per_minute = rate.into();
        self
    }

    /// Sets or clears the requests-per-day rate.
    #[must_use]
    pub fn with_requests_per_day(mut self, rate: impl Into<Option<Rate>>) -> Self {
        self.requests_per_day = rate.into();
        self
    }

    /// Sets or clears the tokens-per-minute rate.
    #[must_use]
    pub fn with_tokens_per_minute(mut self, rate: impl Into<Option<Rate>>) -> Self {
        self.tokens_per_minute = rate.into();
        self
    }

    /// Sets or clears the tokens-per-day rate.
    #[must_use]
    pub fn with_tokens_per_day(mut self, rate: impl Into<Option<Rate>>) -> Self {
        self.tokens_per_day = rate.into();
        self
    }

    /// Sets or clears the cap on requests in flight.
    #[must_use]
    pub fn with_max_in_flight(mut self, max: impl Into<Option<u32>>) -> Self {
        self.max_in_flight = max.into();
        self
    }

    /// Sets or clears the rate of one dimension.
    #[must_use]
    pub fn with(mut self, kind: LimitKind, rate: impl Into<Option<Rate>>) -> Self {
        *self.slot(kind) = rate.into();
        self
    }

    /// The rate of one dimension, `None` when unlimited.
    pub fn get(&self, kind: LimitKind) -> Option<Rate> {
        match kind {
            LimitKind::RequestsPerMinute => self.requests_per_minute,
            LimitKind::RequestsPerDay => self.requests_per_day,
            LimitKind::TokensPerMinute => self.tokens_per_minute,
            LimitKind::TokensPerDay => self.tokens_per_day,
        }
    }

    fn slot(&mut self, kind: LimitKind) -> &mut Option<Rate> {
        match kind {
            LimitKind::RequestsPerMinute => &mut self.requests_per_minute,
            LimitKind::RequestsPerDay => &mut self.requests_per_day,
            LimitKind::TokensPerMinute => &mut self.tokens_per_minute,
            LimitKind::TokensPerDay => &mut self.tokens_per_day,
        }
    }

    /// Every dimension that has a rate, in the order `RPM, RPD, TPM, TPD`.
    pub fn rates(&self) -> impl Iterator<Item = (LimitKind, Rate)> + '_ {
        LimitKind::ALL
            .into_iter()
            .filter_map(|kind| self.get(kind).map(|rate| (kind, rate)))
    }

    /// Whether no dimension is limited and there is no in-flight cap.
    pub fn is_unlimited(&self) -> bool {
        self.rates().next().is_none() && self.max_in_flight.is_none()
    }

    /// These limits with every period divided by `factor` (limits kept): the same quota in
    /// compressed time, as used with the emulator's time scale. See [`Rate::time_scaled`].
    #[must_use]
    pub fn time_scaled(&self, factor: f64) -> Self {
        let scale = |rate: Option<Rate>| rate.map(|r| r.time_scaled(factor));
        Self {
            requests_per_minute: scale(self.requests_per_minute),
            requests_per_day: scale(self.requests_per_day),
            tokens_per_minute: scale(self.tokens_per_minute),
            tokens_per_day: scale(self.tokens_per_day),
            max_in_flight: self.max_in_flight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_token_dimensions() {
        let labels: Vec<_> = LimitKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels, ["RPM", "RPD", "TPM", "TPD"]);
        assert_eq!(
            LimitKind::TokensPerMinute.to_string(),
            "tokens per minute (TPM)"
        );
        for (i, kind) in LimitKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(
                LimitKind::from_label(&kind.label().to_lowercase()),
                Some(kind)
            );
        }
        assert_eq!(LimitKind::from_label("ASH"), None);
        let tokens: Vec<_> = LimitKind::ALL.iter().map(|k| k.is_tokens()).collect();
        assert_eq!(tokens, [false, false, true, true]);
        assert_eq!(LimitKind::TokensPerDay.natural_period(), Rate::DAY);
        assert_eq!(LimitKind::RequestsPerMinute.config_key(), "req_per_minute");
    }

    #[test]
    fn default_is_unlimited_and_setters_set_and_clear() {
        assert!(Limits::default().is_unlimited());
        assert_eq!(Limits::default(), Limits::unlimited());
        let limits = Limits::default()
            .with_requests_per_day(Rate::per_day(1000))
            .with_tokens_per_day(Rate::per_day(5));
        assert_eq!(
            limits.rates().collect::<Vec<_>>(),
            [
                (LimitKind::RequestsPerDay, Rate::per_day(1000)),
                (LimitKind::TokensPerDay, Rate::per_day(5))
            ]
        );
        let cleared = limits
            .with_tokens_per_day(None)
            .with(LimitKind::RequestsPerDay, None);
        assert!(cleared.is_unlimited());
        assert!(!Limits::default().with_max_in_flight(1).is_unlimited());
    }

    #[test]
    fn time_scaling_scales_every_rate() {
        let scaled = Limits::conservative()
            .with_max_in_flight(3)
            .time_scaled(60.0);
        assert_eq!(
            scaled.requests_per_minute.map(|r| r.period()),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            scaled.tokens_per_day.map(|r| r.period()),
            Some(Duration::from_secs(1440))
        );
        assert_eq!(scaled.tokens_per_minute.map(|r| r.limit()), Some(6_000));
        assert_eq!(scaled.max_in_flight, Some(3));
    }
}
