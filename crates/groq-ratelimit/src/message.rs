//! The text of Groq's 429 and 413 `rate_limit_exceeded` errors.

use std::time::Duration;

use crate::{Dimension, bounded_wait, parse_go_duration};

/// Which of Groq's two rate-limit errors a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitMessageKind {
    /// 429 "Rate limit reached": the request fits the limit, but not now.
    RateLimited,
    /// 413 "Request too large": the request is larger than the limit and can never succeed.
    RequestTooLarge,
}

/// What a Groq rate-limit error message says: which limit, the numbers, and how long to wait.
///
/// Groq's 429 bodies name the window and the wait, and its 413 bodies the limit and the
/// request size. The message is a fallback for the `retry-after` header and the only place
/// that tells which of the four limits was hit.
///
/// ```
/// use groq_ratelimit::{Dimension, LimitMessage, LimitMessageKind};
/// use std::time::Duration;
///
/// let m = LimitMessage::parse(
///     "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_01` service \
///      tier on_demand on tokens per minute (TPM): Limit 6000, Used 5034, Requested 1443. \
///      Please try again in 4.77s.",
/// )
/// .unwrap();
/// assert_eq!(m.kind, LimitMessageKind::RateLimited);
/// assert_eq!(m.dimension, Some(Dimension::TokensPerMinute));
/// assert_eq!((m.limit, m.used, m.requested), (Some(6000), Some(5034), Some(1443)));
/// assert_eq!(m.retry_after, Some(Duration::from_millis(4770)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitMessage {
    /// Rate limited (429) or request too large (413).
    pub kind: LimitMessageKind,
    /// The model named in the message.
    pub model: Option<String>,
    /// The limit that was hit: `(RPM)`, `(RPD)`, `(TPM)`, `(TPD)`, `(ASH)`, `(ASD)`, `(ITPM)`
    /// or `(OTPM)`, or their spelled-out names. `None` when the message names no limit.
    pub dimension: Option<Dimension>,
    /// `Limit N`.
    pub limit: Option<u64>,
    /// `Used N` (429 only).
    pub used: Option<u64>,
    /// `Requested N`.
    pub requested: Option<u64>,
    /// `Please try again in D`, if no longer than the period of [`dimension`](Self::dimension)
    /// (a day when the message names none): a longer wait is garbage and is dropped (and
    /// logged).
    pub retry_after: Option<Duration>,
}

impl LimitMessage {
    /// Reads a rate-limit error message. `None` when the text is neither a "Rate limit reached"
    /// nor a "Request too large" message.
    pub fn parse(message: &str) -> Option<Self> {
        let kind = if message.contains("Rate limit reached") {
            LimitMessageKind::RateLimited
        } else if message.contains("Request too large") {
            LimitMessageKind::RequestTooLarge
        } else {
            return None;
        };
        let dimension = dimension_in(message);
        Some(Self {
            kind,
            model: quoted_after(message, "for model "),
            dimension,
            limit: number_after(message, "Limit "),
            used: number_after(message, "Used "),
            requested: number_after(message, "Requested "),
            retry_after: wait_in(message)
                .and_then(|wait| bounded_wait(wait, dimension, "the 429 message's wait")),
        })
    }
}

/// The dimension a message names, by label in parentheses or by its words.
fn dimension_in(message: &str) -> Option<Dimension> {
    let by_label = Dimension::ALL
        .into_iter()
        .find(|d| message.contains(&format!("({})", d.label())));
    by_label.or_else(|| {
        let lower = message.to_ascii_lowercase();
        // The longer names first: "input tokens per minute" also contains "tokens per minute".
        let mut by_length = Dimension::ALL;
        by_length.sort_by_key(|d| std::cmp::Reverse(d.words().len()));
        by_length.into_iter().find(|d| lower.contains(d.words()))
    })
}

/// The text between backticks (or the next word) right after `key`.
fn quoted_after(message: &str, key: &str) -> Option<String> {
    let start = message.find(key)? + key.len();
    let rest = &message[start..];
    let name = match rest.strip_prefix('`') {
        Some(quoted) => &quoted[..quoted.find('`')?],
        None => rest.split_whitespace().next()?,
    };
    (!name.is_empty()).then(|| name.to_owned())
}

/// The integer (digits, optionally grouped with commas) right after the first occurrence of
/// `key` that is followed by one.
fn number_after(message: &str, key: &str) -> Option<u64> {
    message.match_indices(key).find_map(|(at, _)| {
        let rest = &message[at + key.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ','))
            .unwrap_or(rest.len());
        let digits: String = rest[..end].chars().filter(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// The duration after "try again in".
fn wait_in(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let key = "try again in ";
    let start = lower.find(key)? + key.len();
    let token = message.get(start..)?.split_whitespace().next()?;
    parse_go_duration(token.trim_end_matches(['.', ',', ';', ')']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn the_documented_tpm_message() {
        let m = LimitMessage::parse(
            "Rate limit reached for model M in organization O service tier on_demand on tokens \
             per minute (TPM): Limit 6000, Used 5034, Requested 1443. Please try again in 4.77s.",
        )
        .unwrap();
        assert_eq!(
            m,
            LimitMessage {
                kind: LimitMessageKind::RateLimited,
                model: Some("M".to_owned()),
                dimension: Some(Dimension::TokensPerMinute),
                limit: Some(6000),
                used: Some(5034),
                requested: Some(1443),
                retry_after: ms(4770),
            }
        );
    }

    #[test]
    fn every_window_and_wait_form() {
        let cases = [
            (
                "Rate limit reached for model `llama-3.3-70b-versatile` in organization \
                 `org_01hx` service tier `on_demand` on requests per day (RPD): Limit 1000, \
                 Used 1000, Requested 1. Please try again in 2m59.56s. Need more tokens? \
                 Upgrade to Dev Tier today at https://console.groq.com/settings/billing",
                Dimension::RequestsPerDay,
                ms(179_560),
            ),
            (
                "Rate limit reached for model `qwen/qwen3-32b` in organization `org_1` service \
                 tier on_demand on requests per minute (RPM): Limit 60, Used 60, Requested 1. \
                 Please try again in 320ms.",
                Dimension::RequestsPerMinute,
                ms(320),
            ),
            (
                "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_1` \
                 service tier on_demand on tokens per day (TPD): Limit 500000, Used 499,100, \
                 Requested 1,443. Please try again in 7m12s.",
                Dimension::TokensPerDay,
                ms(432_000),
            ),
        ];
        for (text, dimension, wait) in cases {
            let m = LimitMessage::parse(text).unwrap();
            assert_eq!(m.kind, LimitMessageKind::RateLimited);
            assert_eq!(m.dimension, Some(dimension), "{text}");
            assert_eq!(m.retry_after, wait, "{text}");
        }
        let tpd = LimitMessage::parse(cases[2].0).unwrap();
        assert_eq!(tpd.model.as_deref(), Some("llama-3.1-8b-instant"));
        assert_eq!(tpd.used, Some(499_100));
        assert_eq!(tpd.requested, Some(1_443));
    }

    #[test]
    fn the_audio_and_input_output_limits() {
        let cases = [
            (
                "Rate limit reached for model `whisper-large-v3` in organization `org_1` service                  tier `on_demand` on audio seconds per hour (ASH): Limit 7200, Used 7190,                  Requested 30. Please try again in 10s.",
                Dimension::AudioSecondsPerHour,
            ),
            (
                "Rate limit reached for model `whisper-large-v3` in organization `org_1` service                  tier `on_demand` on audio seconds per day (ASD): Limit 28800, Used 28800,                  Requested 10. Please try again in 1m.",
                Dimension::AudioSecondsPerDay,
            ),
            (
                "Rate limit reached for model `m` in organization `org_1` service tier                  `on_demand` on input tokens per minute (ITPM): Limit 1000, Used 900,                  Requested 200. Please try again in 6s.",
                Dimension::InputTokensPerMinute,
            ),
            (
                "Rate limit reached for model `m` in organization `org_1` service tier                  `on_demand` on output tokens per minute (OTPM): Limit 100, Used 90,                  Requested 20. Please try again in 6s.",
                Dimension::OutputTokensPerMinute,
            ),
            // Without the label, by the words alone: the longest name wins.
            (
                "Rate limit reached on input tokens per minute: Limit 10, Used 10, Requested 1.",
                Dimension::InputTokensPerMinute,
            ),
            (
                "Rate limit reached on audio seconds per day: Limit 10, Used 10, Requested 1.",
                Dimension::AudioSecondsPerDay,
            ),
        ];
        for (text, dimension) in cases {
            let m = LimitMessage::parse(text).unwrap();
            assert_eq!(m.dimension, Some(dimension), "{text}");
        }
        let ash = LimitMessage::parse(cases[0].0).unwrap();
        assert_eq!(
            (ash.limit, ash.used, ash.requested),
            (Some(7200), Some(7190), Some(30))
        );
        assert_eq!(ash.retry_after, Some(Duration::from_secs(10)));
    }

    #[test]
    fn request_too_large() {
        let m = LimitMessage::parse(
            "Request too large for model `llama-3.3-70b-versatile` in organization `org_1` \
             service tier `on_demand` on tokens per minute (TPM): Limit 6000, Requested 14810, \
             please reduce your message size and try again. Need more tokens? Upgrade to Dev \
             Tier today at https://console.groq.com/settings/billing",
        )
        .unwrap();
        assert_eq!(m.kind, LimitMessageKind::RequestTooLarge);
        assert_eq!(m.dimension, Some(Dimension::TokensPerMinute));
        assert_eq!(
            (m.limit, m.used, m.requested),
            (Some(6000), None, Some(14_810))
        );
        assert_eq!(m.retry_after, None);
    }

    #[test]
    fn other_messages_are_not_rate_limits() {
        assert_eq!(LimitMessage::parse("Invalid API Key"), None);
        assert_eq!(LimitMessage::parse(""), None);
        let audio = LimitMessage::parse(
            "Rate limit reached for model `whisper-large-v3` on audio seconds per hour (ASH): \
             Limit 7200, Used 7100, Requested 300. Please try again in 50s.",
        )
        .unwrap();
        assert_eq!(audio.dimension, Some(Dimension::AudioSecondsPerHour));
        assert_eq!(audio.retry_after, ms(50_000));
        let unnamed = LimitMessage::parse(
            "Rate limit reached for model `m`: Limit 7, Used 7, Requested 1. Please try again in 5s.",
        )
        .unwrap();
        assert_eq!(unnamed.dimension, None);
    }
}
