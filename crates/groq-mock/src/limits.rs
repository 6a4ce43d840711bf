//! [`MockLimits`]: the quota and context window of one emulated model, and the limits file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use groq_config::{ModelConfig, Rate, catalog};

use serde::{Deserialize, Serialize};

use crate::error::MockError;

/// The quota and context window of one model served by the emulator.
///
/// Each rate is a plain count per natural period: requests or tokens per minute or per day,
/// audio seconds per hour or per day, where "minute", "hour" and "day" follow the server's
/// time scale. `None` means unlimited. This is
/// also the value type of the limits file (`limits.json`):
///
/// ```json
/// {
///   "llama-3.1-8b-instant": {"rpm": 30, "rpd": 14400, "tpm": 6000, "tpd": 500000, "context_window": 131072},
///   "my-unlimited-model": {}
/// }
/// ```
///
/// ```
/// use groq_mock::MockLimits;
///
/// let limits = MockLimits::unlimited().rpm(30).tpm(6_000).context_window(8_192);
/// assert_eq!(limits.rpm, Some(30));
/// assert_eq!(limits.rpd, None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MockLimits {
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Requests per day (reported by the `*-requests` headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpd: Option<u64>,
    /// Tokens per minute (reported by the `*-tokens` headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Tokens per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpd: Option<u64>,
    /// Audio seconds per hour (speech-to-text models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ash: Option<u64>,
    /// Audio seconds per day (speech-to-text models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asd: Option<u64>,
    /// Input (prompt) tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itpm: Option<u64>,
    /// Output tokens (completion budget) per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otpm: Option<u64>,
    /// Most tokens of prompt plus completion budget in one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
}

impl MockLimits {
    /// No limit in any dimension and no context window.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// Sets requests per minute.
    #[must_use]
    pub fn rpm(mut self, limit: u64) -> Self {
        self.rpm = Some(limit);
        self
    }

    /// Sets requests per day.
    #[must_use]
    pub fn rpd(mut self, limit: u64) -> Self {
        self.rpd = Some(limit);
        self
    }

    /// Sets tokens per minute.
    #[must_use]
    pub fn tpm(mut self, limit: u64) -> Self {
        self.tpm = Some(limit);
        self
    }

    /// Sets tokens per day.
    #[must_use]
    pub fn tpd(mut self, limit: u64) -> Self {
        self.tpd = Some(limit);
        self
    }

    /// Sets audio seconds per hour.
    #[must_use]
    pub fn ash(mut self, limit: u64) -> Self {
        self.ash = Some(limit);
        self
    }

    /// Sets audio seconds per day.
    #[must_use]
    pub fn asd(mut self, limit: u64) -> Self {
        self.asd = Some(limit);
        self
    }

    /// Sets input tokens per minute.
    #[must_use]
    pub fn itpm(mut self, limit: u64) -> Self {
        self.itpm = Some(limit);
        self
    }

    /// Sets output tokens per minute.
    #[must_use]
    pub fn otpm(mut self, limit: u64) -> Self {
        self.otpm = Some(limit);
        self
    }

    /// Sets the context window.
    #[must_use]
    pub fn context_window(mut self, tokens: u32) -> Self {
        self.context_window = Some(tokens);
        self
    }

    /// The limits of a model of the configuration: each rate converted to a count per minute
    /// or per day (rounded down, at least 1), and the context window.
    pub fn from_model_config(model: &ModelConfig) -> Self {
        let per = |rate: Option<Rate>, natural: Duration| {
            rate.map(|rate| {
                let scaled =
                    u128::from(rate.limit()) * natural.as_nanos() / rate.period().as_nanos().max(1);
                u64::try_from(scaled).unwrap_or(u64::MAX).max(1)
            })
        };
        let limits = &model.limits;
        Self {
            rpm: per(limits.requests_per_minute, Rate::MINUTE),
            rpd: per(limits.requests_per_day, Rate::DAY),
            tpm: per(limits.tokens_per_minute, Rate::MINUTE),
            tpd: per(limits.tokens_per_day, Rate::DAY),
            ash: per(limits.audio_seconds_per_hour, Rate::HOUR),
            asd: per(limits.audio_seconds_per_day, Rate::DAY),
            itpm: per(limits.input_tokens_per_minute, Rate::MINUTE),
            otpm: per(limits.output_tokens_per_minute, Rate::MINUTE),
            context_window: model.context_window,
        }
    }

    /// The built-in Groq catalog (`groq_config::catalog`): every model with its
    /// free-plan limits and context window.
    pub fn catalog() -> Vec<(String, Self)> {
        catalog::builtin_models()
            .iter()
            .map(|model| (model.id.clone(), Self::from_model_config(model)))
            .collect()
    }

    /// Checks that no limit is zero (an absent limit, not zero, means unlimited).
    pub(crate) fn validate(&self, model: &str) -> Result<(), MockError> {
        let zero = [
            ("rpm", self.rpm),
            ("rpd", self.rpd),
            ("tpm", self.tpm),
            ("tpd", self.tpd),
            ("ash", self.ash),
            ("asd", self.asd),
            ("itpm", self.itpm),
            ("otpm", self.otpm),
            ("context_window", self.context_window.map(u64::from)),
        ]
        .into_iter()
        .find(|(_, value)| *value == Some(0));
        match zero {
            Some((field, _)) => Err(MockError::InvalidConfig(format!(
                "model `{model}` has `{field}` = 0; omit the field for \"unlimited\" or give a positive value"
            ))),
            None => Ok(()),
        }
    }

    /// Parses a limits file's text: a JSON object mapping model ids to limits.
    pub fn parse_file_text(text: &str) -> Result<BTreeMap<String, Self>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads and parses a limits file (see the type's documentation for the format).
    pub fn load_file(path: &Path) -> Result<BTreeMap<String, Self>, MockError> {
        let text = std::fs::read_to_string(path).map_err(|source| MockError::LimitsFile {
            path: path.to_owned(),
            source,
        })?;
        let limits = Self::parse_file_text(&text).map_err(|source| MockError::LimitsParse {
            path: path.to_owned(),
            source,
        })?;
        for (model, model_limits) in &limits {
            model_limits.validate(model)?;
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_format() {
        let parsed = MockLimits::parse_file_text(
            r#"{"m": {"rpm": 30, "rpd": 14400, "tpm": 6000, "tpd": 500000, "context_window": 131072},
                "free": {}}"#,
        )
        .unwrap();
        assert_eq!(
            parsed["m"],
            MockLimits::unlimited()
                .rpm(30)
                .rpd(14_400)
                .tpm(6000)
                .tpd(500_000)
                .context_window(131_072)
        );
        assert_eq!(parsed["free"], MockLimits::unlimited());
    }

    #[test]
    fn catalog_has_groq_free_plan_limits() {
        let catalog: BTreeMap<_, _> = MockLimits::catalog().into_iter().collect();
        assert_eq!(
            catalog["llama-3.1-8b-instant"],
            MockLimits::unlimited()
                .rpm(30)
                .rpd(14_400)
                .tpm(6000)
                .tpd(500_000)
                .context_window(131_072)
        );
        assert_eq!(catalog["groq/compound"].tpd, None);
    }

    #[test]
    fn converts_other_periods_to_natural_ones() {
        let model = ModelConfig::new("m").with_limits(
            groq_config::Limits::default()
                .with_requests_per_minute(Rate::new(30, Duration::from_secs(6)).unwrap())
                .with_tokens_per_day(Rate::new(1, Duration::from_secs(86_400 * 2)).unwrap()),
        );
        let limits = MockLimits::from_model_config(&model);
        assert_eq!(limits.rpm, Some(300));
        assert_eq!(limits.tpd, Some(1), "rounded down but never to zero");
        assert_eq!(limits.tpm, None);
    }

    #[test]
    fn rejects_unknown_fields_and_zero() {
        assert!(MockLimits::parse_file_text(r#"{"m": {"rpx": 1}}"#).is_err());
        let err = MockLimits::unlimited().tpm(0).validate("m").unwrap_err();
        assert!(err.to_string().contains("`tpm` = 0"), "{err}");
    }
}
