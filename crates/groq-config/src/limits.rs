//! [`Limits`]: the quota of one model, and [`LimitKind`], its dimensions.

use std::fmt;
use std::time::Duration;

use crate::Rate;

/// One dimension of a model's quota: Groq's eight limits.
///
/// Requests per minute and day (RPM, RPD), tokens per minute and day (TPM, TPD), audio seconds
/// per hour and day for the speech-to-text models (ASH, ASD), and the input and output token
/// caps some organizations have in addition to TPM (ITPM, OTPM).
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
    /// Audio seconds per hour (ASH), for the speech-to-text models.
    AudioSecondsPerHour,
    /// Audio seconds per day (ASD), for the speech-to-text models.
    AudioSecondsPerDay,
    /// Input (prompt) tokens per minute (ITPM), a cap some organizations have besides TPM.
    InputTokensPerMinute,
    /// Output (completion) tokens per minute (OTPM), a cap some organizations have besides TPM.
    OutputTokensPerMinute,
}

impl LimitKind {
    /// Every dimension, in the order `RPM, RPD, TPM, TPD, ASH, ASD, ITPM, OTPM`.
    pub const ALL: [Self; 8] = [
        Self::RequestsPerMinute,
        Self::RequestsPerDay,
        Self::TokensPerMinute,
        Self::TokensPerDay,
        Self::AudioSecondsPerHour,
        Self::AudioSecondsPerDay,
        Self::InputTokensPerMinute,
        Self::OutputTokensPerMinute,
    ];

    /// Whether the dimension counts all tokens of a request, prompt plus completion (TPM,
    /// TPD). ITPM and OTPM count one side only (see [`LimitKind::unit`]).
    pub const fn is_tokens(self) -> bool {
        matches!(self, Self::TokensPerMinute | Self::TokensPerDay)
    }

    /// What the dimension counts.
    pub const fn unit(self) -> LimitUnit {
        match self {
            Self::RequestsPerMinute | Self::RequestsPerDay => LimitUnit::Requests,
            Self::TokensPerMinute | Self::TokensPerDay => LimitUnit::Tokens,
            Self::AudioSecondsPerHour | Self::AudioSecondsPerDay => LimitUnit::AudioSeconds,
            Self::InputTokensPerMinute => LimitUnit::InputTokens,
            Self::OutputTokensPerMinute => LimitUnit::OutputTokens,
        }
    }

    /// The short label Groq uses in its messages: `"RPM"`, `"RPD"`, `"TPM"`, `"TPD"`,
    /// `"ASH"`, `"ASD"`, `"ITPM"`, `"OTPM"`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::RequestsPerMinute => "RPM",
            Self::RequestsPerDay => "RPD",
            Self::TokensPerMinute => "TPM",
            Self::TokensPerDay => "TPD",
            Self::AudioSecondsPerHour => "ASH",
            Self::AudioSecondsPerDay => "ASD",
            Self::InputTokensPerMinute => "ITPM",
            Self::OutputTokensPerMinute => "OTPM",
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
            Self::AudioSecondsPerHour => 4,
            Self::AudioSecondsPerDay => 5,
            Self::InputTokensPerMinute => 6,
            Self::OutputTokensPerMinute => 7,
        }
    }

    /// The words Groq's messages use: `tokens per minute`.
    pub const fn words(self) -> &'static str {
        match self {
            Self::RequestsPerMinute => "requests per minute",
            Self::RequestsPerDay => "requests per day",
            Self::TokensPerMinute => "tokens per minute",
            Self::TokensPerDay => "tokens per day",
            Self::AudioSecondsPerHour => "audio seconds per hour",
            Self::AudioSecondsPerDay => "audio seconds per day",
            Self::InputTokensPerMinute => "input tokens per minute",
            Self::OutputTokensPerMinute => "output tokens per minute",
        }
    }

    /// The period a plain integer limit refers to: one minute, one hour or one day.
    pub const fn natural_period(self) -> Duration {
        match self {
            Self::RequestsPerMinute
            | Self::TokensPerMinute
            | Self::InputTokensPerMinute
            | Self::OutputTokensPerMinute => Rate::MINUTE,
            Self::AudioSecondsPerHour => Rate::HOUR,
            Self::RequestsPerDay | Self::TokensPerDay | Self::AudioSecondsPerDay => Rate::DAY,
        }
    }

    /// The key of this dimension in configuration files: `req_per_minute`, `req_per_day`,
    /// `token_per_minute`, `token_per_day` (CustomGroqChat's names, kept by the native format),
    /// `audio_seconds_per_hour`, `audio_seconds_per_day`, `input_token_per_minute` and
    /// `output_token_per_minute`.
    pub const fn config_key(self) -> &'static str {
        match self {
            Self::RequestsPerMinute => "req_per_minute",
            Self::RequestsPerDay => "req_per_day",
            Self::TokensPerMinute => "token_per_minute",
            Self::TokensPerDay => "token_per_day",
            Self::AudioSecondsPerHour => "audio_seconds_per_hour",
            Self::AudioSecondsPerDay => "audio_seconds_per_day",
            Self::InputTokensPerMinute => "input_token_per_minute",
            Self::OutputTokensPerMinute => "output_token_per_minute",
        }
    }
}

/// What a [`LimitKind`] counts: the unit a request's cost is given in for that dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LimitUnit {
    /// Requests (RPM, RPD).
    Requests,
    /// Prompt plus completion tokens (TPM, TPD).
    Tokens,
    /// Audio seconds (ASH, ASD).
    AudioSeconds,
    /// Prompt tokens (ITPM).
    InputTokens,
    /// Completion tokens (OTPM).
    OutputTokens,
}

impl fmt::Display for LimitKind {
    /// `tokens per minute (TPM)`, the wording of Groq's messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.words(), self.label())
    }
}

/// The quota of one model: up to eight rates and an optional cap on requests in flight.
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
    /// Audio seconds per hour (speech-to-text models).
    pub audio_seconds_per_hour: Option<Rate>,
    /// Audio seconds per day (speech-to-text models).
    pub audio_seconds_per_day: Option<Rate>,
    /// Input (prompt) tokens per minute.
    pub input_tokens_per_minute: Option<Rate>,
    /// Output (completion) tokens per minute.
    pub output_tokens_per_minute: Option<Rate>,
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
    /// dimension among the built-in catalog's chat models (30 RPM, 250 RPD, 6,000 TPM and
    /// 100,000 TPD) and its speech-to-text models (7,200 ASH and 28,800 ASD). A model Groq
    /// added after this catalog is then paced safely on a free key.
    pub fn conservative() -> Self {
        Self::default()
            .with_requests_per_minute(Rate::per_minute(30))
            .with_requests_per_day(Rate::per_day(250))
            .with_tokens_per_minute(Rate::per_minute(6_000))
            .with_tokens_per_day(Rate::per_day(100_000))
            .with_audio_seconds_per_hour(Rate::per_hour(7_200))
            .with_audio_seconds_per_day(Rate::per_day(28_800))
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

    /// Sets or clears the audio-seconds-per-hour rate.
    #[must_use]
    pub fn with_audio_seconds_per_hour(mut self, rate: impl Into<Option<Rate>>) -> Self {
        self.audio_seconds_per_hour = rate.into();
        self
    }

    /// Sets or clears the audio-seconds-per-day rate.
    #[must_use]
    pub fn with_audio_seconds_per_day(mut self, rate: impl Into<Option<Rate>>) -> Self {
        self.audio_seconds_per_day = rate.into();
        self
    }

    /// Sets or clears the input-tokens-per-minute rate.
    #[must_use]
    pub fn with_input_tokens_per_minute(mut self, rate: impl Into<Option<Rate>>) -> Self {
        self.input_tokens_per_minute = rate.into();
        self
    }

    /// Sets or clears the output-tokens-per-minute rate.
    #[must_use]
    pub fn with_output_tokens_per_minute(mut self, rate: impl Into<Option<Rate>>) -> Self {
        self.output_tokens_per_minute = rate.into();
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
            LimitKind::AudioSecondsPerHour => self.audio_seconds_per_hour,
            LimitKind::AudioSecondsPerDay => self.audio_seconds_per_day,
            LimitKind::InputTokensPerMinute => self.input_tokens_per_minute,
            LimitKind::OutputTokensPerMinute => self.output_tokens_per_minute,
        }
    }

    fn slot(&mut self, kind: LimitKind) -> &mut Option<Rate> {
        match kind {
            LimitKind::RequestsPerMinute => &mut self.requests_per_minute,
            LimitKind::RequestsPerDay => &mut self.requests_per_day,
            LimitKind::TokensPerMinute => &mut self.tokens_per_minute,
            LimitKind::TokensPerDay => &mut self.tokens_per_day,
            LimitKind::AudioSecondsPerHour => &mut self.audio_seconds_per_hour,
            LimitKind::AudioSecondsPerDay => &mut self.audio_seconds_per_day,
            LimitKind::InputTokensPerMinute => &mut self.input_tokens_per_minute,
            LimitKind::OutputTokensPerMinute => &mut self.output_tokens_per_minute,
        }
    }

    /// Every dimension that has a rate, in the order of [`LimitKind::ALL`].
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
            audio_seconds_per_hour: scale(self.audio_seconds_per_hour),
            audio_seconds_per_day: scale(self.audio_seconds_per_day),
            input_tokens_per_minute: scale(self.input_tokens_per_minute),
            output_tokens_per_minute: scale(self.output_tokens_per_minute),
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
        assert_eq!(
            labels,
            ["RPM", "RPD", "TPM", "TPD", "ASH", "ASD", "ITPM", "OTPM"]
        );
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
        assert_eq!(
            LimitKind::from_label("ash"),
            Some(LimitKind::AudioSecondsPerHour)
        );
        assert_eq!(LimitKind::from_label("XYZ"), None);
        let tokens: Vec<_> = LimitKind::ALL.iter().map(|k| k.is_tokens()).collect();
        assert_eq!(
            tokens,
            [false, false, true, true, false, false, false, false]
        );
        assert_eq!(LimitKind::AudioSecondsPerHour.natural_period(), Rate::HOUR);
        assert_eq!(
            LimitKind::AudioSecondsPerDay.unit(),
            LimitUnit::AudioSeconds
        );
        assert_eq!(
            LimitKind::InputTokensPerMinute.config_key(),
            "input_token_per_minute"
        );
        assert_eq!(
            LimitKind::OutputTokensPerMinute.to_string(),
            "output tokens per minute (OTPM)"
        );
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
