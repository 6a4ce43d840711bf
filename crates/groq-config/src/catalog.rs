//! The built-in catalog: Groq's chat and speech-to-text models with their typical free-plan
//! limits.
//!
//! These are the values [`Config::default`](crate::Config::default) starts from, so that a
//! program runs with nothing but `GROQ_API_KEY` set. They are the free plan's *typical* limits;
//! the authoritative values are on each organization's limits page (the Developer plan allows
//! far more, typically 1,000 RPM and 250,000-300,000 TPM), so override them in a configuration
//! file when your plan differs. Whatever the configuration says, the rate limiter also
//! lowers its view when Groq's response headers report less remaining.
//!
//! | model | RPM | RPD | TPM | TPD | context |
//! |---|---|---|---|---|---|
//! | `groq/compound` | 30 | 250 | 70,000 | unlimited | 131,072 |
//! | `groq/compound-mini` | 30 | 250 | 70,000 | unlimited | 131,072 |
//! | `llama-3.1-8b-instant` | 30 | 14,400 | 6,000 | 500,000 | 131,072 |
//! | `llama-3.3-70b-versatile` | 30 | 1,000 | 12,000 | 100,000 | 131,072 |
//! | `meta-llama/llama-4-scout-17b-16e-instruct` | 30 | 1,000 | 30,000 | 500,000 | 131,072 |
//! | `openai/gpt-oss-120b` | 30 | 1,000 | 8,000 | 200,000 | 131,072 |
//! | `openai/gpt-oss-20b` | 30 | 1,000 | 8,000 | 200,000 | 131,072 |
//! | `qwen/qwen3-32b` | 60 | 1,000 | 6,000 | 500,000 | 131,072 |
//!
//! The speech-to-text models are limited in audio seconds per hour and per day (ASH, ASD)
//! instead of tokens, and have no context window:
//!
//! | model | RPM | RPD | ASH | ASD |
//! |---|---|---|---|---|
//! | `whisper-large-v3` | 20 | 2,000 | 7,200 | 28,800 |
//! | `whisper-large-v3-turbo` | 20 | 2,000 | 7,200 | 28,800 |
//!
//! No model of the catalog has input or output token caps (ITPM, OTPM): organizations that
//! have them set them in their configuration. `max_completion_tokens` is `None` for every entry,
//! because neither Groq's API facts nor its OpenAPI description state it for these models
//! (`GET /models/{id}` reports it at run time).

use crate::{LimitKind, Limits, ModelConfig, Rate};

/// One row of the catalog: id, RPM, RPD, TPM, TPD (`0` = unlimited), context window.
type Row = (&'static str, u64, u64, u64, u64, u32);

const ROWS: [Row; 8] = [
    ("groq/compound", 30, 250, 70_000, 0, 131_072),
    ("groq/compound-mini", 30, 250, 70_000, 0, 131_072),
    ("llama-3.1-8b-instant", 30, 14_400, 6_000, 500_000, 131_072),
    (
        "llama-3.3-70b-versatile",
        30,
        1_000,
        12_000,
        100_000,
        131_072,
    ),
    (
        "meta-llama/llama-4-scout-17b-16e-instruct",
        30,
        1_000,
        30_000,
        500_000,
        131_072,
    ),
    ("openai/gpt-oss-120b", 30, 1_000, 8_000, 200_000, 131_072),
    ("openai/gpt-oss-20b", 30, 1_000, 8_000, 200_000, 131_072),
    ("qwen/qwen3-32b", 60, 1_000, 6_000, 500_000, 131_072),
];

/// One speech-to-text row: id, RPM, RPD, ASH, ASD.
type AudioRow = (&'static str, u64, u64, u64, u64);

const AUDIO_ROWS: [AudioRow; 2] = [
    ("whisper-large-v3", 20, 2_000, 7_200, 28_800),
    ("whisper-large-v3-turbo", 20, 2_000, 7_200, 28_800),
];

/// The ids of the catalog's models, sorted.
pub const BUILTIN_MODEL_IDS: [&str; 10] = [
    ROWS[0].0,
    ROWS[1].0,
    ROWS[2].0,
    ROWS[3].0,
    ROWS[4].0,
    ROWS[5].0,
    ROWS[6].0,
    ROWS[7].0,
    AUDIO_ROWS[0].0,
    AUDIO_ROWS[1].0,
];

/// The ids of the catalog's speech-to-text models (limited in audio seconds), sorted.
pub const SPEECH_TO_TEXT_MODEL_IDS: [&str; 2] = [AUDIO_ROWS[0].0, AUDIO_ROWS[1].0];

/// Every model of the catalog, sorted by id, with its free-plan limits and context window.
///
/// ```
/// let models = groq_config::catalog::builtin_models();
/// let llama = models.iter().find(|m| m.id == "llama-3.1-8b-instant").unwrap();
/// assert_eq!(llama.context_window, Some(131_072));
/// assert_eq!(llama.limits.tokens_per_minute.map(|r| r.limit()), Some(6_000));
/// ```
pub fn builtin_models() -> Vec<ModelConfig> {
    ROWS.iter()
        .map(model_of)
        .chain(AUDIO_ROWS.iter().map(audio_model_of))
        .collect()
}

/// The catalog's entry for `id`, if it has one.
pub fn builtin_model(id: &str) -> Option<ModelConfig> {
    ROWS.iter()
        .find(|row| row.0 == id)
        .map(model_of)
        .or_else(|| {
            AUDIO_ROWS
                .iter()
                .find(|row| row.0 == id)
                .map(audio_model_of)
        })
}

fn audio_model_of(&(id, rpm, rpd, ash, asd): &AudioRow) -> ModelConfig {
    let per = |limit: u64, period| Rate::new(limit, period).ok();
    ModelConfig::new(id).with_limits(
        Limits::default()
            .with_requests_per_minute(per(rpm, Rate::MINUTE))
            .with_requests_per_day(per(rpd, Rate::DAY))
            .with(LimitKind::AudioSecondsPerHour, per(ash, Rate::HOUR))
            .with(LimitKind::AudioSecondsPerDay, per(asd, Rate::DAY)),
    )
}

fn model_of(&(id, rpm, rpd, tpm, tpd, context): &Row) -> ModelConfig {
    let per = |limit: u64, period| Rate::new(limit, period).ok();
    ModelConfig::new(id)
        .with_limits(
            Limits::default()
                .with_requests_per_minute(per(rpm, Rate::MINUTE))
                .with_requests_per_day(per(rpd, Rate::DAY))
                .with_tokens_per_minute(per(tpm, Rate::MINUTE))
                .with_tokens_per_day(per(tpd, Rate::DAY)),
        )
        .with_context_window(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_matches_the_free_plan_table() {
        let models = builtin_models();
        let ids: Vec<_> = models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, BUILTIN_MODEL_IDS);
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted);

        let llama = builtin_model("llama-3.3-70b-versatile").unwrap();
        assert_eq!(llama.limits.requests_per_minute, Some(Rate::per_minute(30)));
        assert_eq!(llama.limits.requests_per_day, Some(Rate::per_day(1_000)));
        assert_eq!(
            llama.limits.tokens_per_minute,
            Some(Rate::per_minute(12_000))
        );
        assert_eq!(llama.limits.tokens_per_day, Some(Rate::per_day(100_000)));
        assert_eq!(llama.max_completion_tokens, None);

        let qwen = builtin_model("qwen/qwen3-32b").unwrap();
        assert_eq!(qwen.limits.requests_per_minute, Some(Rate::per_minute(60)));

        let compound = builtin_model("groq/compound").unwrap();
        assert_eq!(compound.limits.tokens_per_day, None);
        assert_eq!(compound.limits.requests_per_day, Some(Rate::per_day(250)));

        let whisper = builtin_model("whisper-large-v3").unwrap();
        assert_eq!(
            whisper.limits.requests_per_minute,
            Some(Rate::per_minute(20))
        );
        assert_eq!(
            whisper.limits.audio_seconds_per_hour,
            Some(Rate::new(7_200, Rate::HOUR).unwrap())
        );
        assert_eq!(
            whisper.limits.audio_seconds_per_day,
            Some(Rate::per_day(28_800))
        );
        assert_eq!(whisper.limits.tokens_per_minute, None);
        assert_eq!(whisper.context_window, None);
        assert!(
            models
                .iter()
                .filter(|m| !SPEECH_TO_TEXT_MODEL_IDS.contains(&m.id.as_str()))
                .all(|m| m.context_window == Some(131_072))
        );
        assert!(
            models
                .iter()
                .all(|m| m.base_url.is_none() && m.api_key.is_none())
        );
    }

    #[test]
    fn conservative_limits_are_the_lowest_of_the_catalog() {
        let conservative = Limits::conservative();
        for kind in LimitKind::ALL {
            let lowest = builtin_models()
                .iter()
                .filter(|m| {
                    // Requests are bounded by the chat models' lowest values.
                    kind.unit() != crate::LimitUnit::Requests
                        || !SPEECH_TO_TEXT_MODEL_IDS.contains(&m.id.as_str())
                })
                .filter_map(|m| m.limits.get(kind))
                .map(|r| r.limit())
                .min();
            assert_eq!(conservative.get(kind).map(|r| r.limit()), lowest, "{kind}");
            if lowest.is_some() {
                assert_eq!(
                    conservative.get(kind).map(|r| r.period()),
                    Some(kind.natural_period())
                );
            }
        }
    }
}
