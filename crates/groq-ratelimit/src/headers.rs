//! Groq's rate-limit response headers and Go-style durations.

use std::time::Duration;

use groq_config::parse_decimal_duration;
use http::HeaderMap;
use http::header::{HeaderName, RETRY_AFTER};

use crate::{Dimension, bounded_wait};

/// The rate-limit headers of one Groq response.
///
/// Groq reports two of its buckets on every response (streaming too):
/// `x-ratelimit-*-requests` describe **requests per day** (RPD) and `x-ratelimit-*-tokens`
/// describe **tokens per minute** (TPM). Groq documents no header for the others; the audio and
/// input/output token buckets are read in the same scheme when a server sends them (see
/// [`BucketHeaders`]). `retry-after` (seconds) and `retry-after-ms` come with
/// 429 answers. Values that are missing or malformed are `None`; parsing never fails.
///
/// A wait longer than the period it concerns is garbage and is `None` too (and logged): a reset
/// of the tokens-per-minute bucket longer than a minute, of the requests-per-day bucket longer
/// than a day, a `retry-after` longer than a day (see [`bounded_wait`](crate::bounded_wait)).
///
/// ```
/// use groq_ratelimit::RateLimitHeaders;
/// use http::HeaderMap;
/// use std::time::Duration;
///
/// let mut map = HeaderMap::new();
/// map.insert("x-ratelimit-limit-requests", "14400".parse().unwrap());
/// map.insert("x-ratelimit-remaining-requests", "14370".parse().unwrap());
/// map.insert("x-ratelimit-reset-requests", "2m59.56s".parse().unwrap());
/// map.insert("x-ratelimit-reset-tokens", "7.66s".parse().unwrap());
/// let h = RateLimitHeaders::from_headers(&map);
/// assert_eq!(h.remaining_requests, Some(14_370));
/// assert_eq!(h.reset_requests, Some(Duration::from_millis(179_560)));
/// assert_eq!(h.reset_tokens, Some(Duration::from_millis(7_660)));
/// assert_eq!(h.limit_tokens, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitHeaders {
    /// `x-ratelimit-limit-requests`: the requests-per-day limit.
    pub limit_requests: Option<u64>,
    /// `x-ratelimit-remaining-requests`: requests left in the day bucket.
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-reset-requests`: time until the day bucket is full again.
    pub reset_requests: Option<Duration>,
    /// `x-ratelimit-limit-tokens`: the tokens-per-minute limit.
    pub limit_tokens: Option<u64>,
    /// `x-ratelimit-remaining-tokens`: tokens left in the minute bucket.
    pub remaining_tokens: Option<u64>,
    /// `x-ratelimit-reset-tokens`: time until the minute bucket is full again.
    pub reset_tokens: Option<Duration>,
    /// `retry-after-ms` when present, otherwise `retry-after` (in seconds; the HTTP-date form
    /// is not used by Groq and is ignored).
    pub retry_after: Option<Duration>,
    /// `x-ratelimit-{limit,remaining,reset}-audio-seconds`: the audio-seconds-per-hour bucket
    /// (ASH).
    pub audio_seconds: BucketHeaders,
    /// `x-ratelimit-{limit,remaining,reset}-audio-seconds-day`: the audio-seconds-per-day
    /// bucket (ASD).
    pub audio_seconds_day: BucketHeaders,
    /// `x-ratelimit-{limit,remaining,reset}-input-tokens`: the input-tokens-per-minute bucket
    /// (ITPM).
    pub input_tokens: BucketHeaders,
    /// `x-ratelimit-{limit,remaining,reset}-output-tokens`: the output-tokens-per-minute
    /// bucket (OTPM).
    pub output_tokens: BucketHeaders,
}

/// The three rate-limit headers of one bucket: its limit, what is left and the time until it
/// is full again. Each is `None` when missing or malformed.
///
/// Groq documents headers for two buckets only (requests per day and tokens per minute, the
/// flat fields of [`RateLimitHeaders`]). For the four other limits it documents none; a
/// server that reports them is read in the same naming scheme,
/// `x-ratelimit-{limit,remaining,reset}-{audio-seconds,audio-seconds-day,input-tokens,output-tokens}`
/// (the emulator sends them), and a server that does not is simply not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BucketHeaders {
    /// `x-ratelimit-limit-*`: the bucket's limit.
    pub limit: Option<u64>,
    /// `x-ratelimit-remaining-*`: units left.
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset-*`: time until the bucket is full again.
    pub reset: Option<Duration>,
}

impl BucketHeaders {
    /// A bucket's headers from their values.
    pub const fn new(limit: Option<u64>, remaining: Option<u64>, reset: Option<Duration>) -> Self {
        Self {
            limit,
            remaining,
            reset,
        }
    }
}

impl RateLimitHeaders {
    /// Reads the headers from a response's header map.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        // Names given as `HeaderName`s are looked up by their precomputed form; a `&str`
        // would be parsed and checked on every lookup.
        static RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
        static LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
        static REMAINING_REQUESTS: HeaderName =
            HeaderName::from_static("x-ratelimit-remaining-requests");
        static RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
        static LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
        static REMAINING_TOKENS: HeaderName =
            HeaderName::from_static("x-ratelimit-remaining-tokens");
        static RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");
        static AUDIO_SECONDS: [HeaderName; 3] = [
            HeaderName::from_static("x-ratelimit-limit-audio-seconds"),
            HeaderName::from_static("x-ratelimit-remaining-audio-seconds"),
            HeaderName::from_static("x-ratelimit-reset-audio-seconds"),
        ];
        static AUDIO_SECONDS_DAY: [HeaderName; 3] = [
            HeaderName::from_static("x-ratelimit-limit-audio-seconds-day"),
            HeaderName::from_static("x-ratelimit-remaining-audio-seconds-day"),
            HeaderName::from_static("x-ratelimit-reset-audio-seconds-day"),
        ];
        static INPUT_TOKENS: [HeaderName; 3] = [
            HeaderName::from_static("x-ratelimit-limit-input-tokens"),
            HeaderName::from_static("x-ratelimit-remaining-input-tokens"),
            HeaderName::from_static("x-ratelimit-reset-input-tokens"),
        ];
        static OUTPUT_TOKENS: [HeaderName; 3] = [
            HeaderName::from_static("x-ratelimit-limit-output-tokens"),
            HeaderName::from_static("x-ratelimit-remaining-output-tokens"),
            HeaderName::from_static("x-ratelimit-reset-output-tokens"),
        ];

        let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let count = |name: &HeaderName| text(name).and_then(parse_count);
        let duration = |name: &HeaderName, dimension: Dimension| {
            text(name)
                .and_then(parse_go_duration)
                .and_then(|wait| bounded_wait(wait, Some(dimension), name.as_str()))
        };
        let bucket = |[limit, remaining, reset]: &[HeaderName; 3], dimension: Dimension| {
            BucketHeaders::new(count(limit), count(remaining), duration(reset, dimension))
        };
        let retry_after_ms =
            text(&RETRY_AFTER_MS).and_then(|v| parse_decimal_duration(v, Duration::from_millis(1)));
        let retry_after_s =
            text(&RETRY_AFTER).and_then(|v| parse_decimal_duration(v, Duration::from_secs(1)));
        Self {
            limit_requests: count(&LIMIT_REQUESTS),
            remaining_requests: count(&REMAINING_REQUESTS),
            reset_requests: duration(&RESET_REQUESTS, Dimension::RequestsPerDay),
            limit_tokens: count(&LIMIT_TOKENS),
            remaining_tokens: count(&REMAINING_TOKENS),
            reset_tokens: duration(&RESET_TOKENS, Dimension::TokensPerMinute),
            retry_after: retry_after_ms
                .or(retry_after_s)
                .and_then(|wait| bounded_wait(wait, None, "retry-after")),
            audio_seconds: bucket(&AUDIO_SECONDS, Dimension::AudioSecondsPerHour),
            audio_seconds_day: bucket(&AUDIO_SECONDS_DAY, Dimension::AudioSecondsPerDay),
            input_tokens: bucket(&INPUT_TOKENS, Dimension::InputTokensPerMinute),
            output_tokens: bucket(&OUTPUT_TOKENS, Dimension::OutputTokensPerMinute),
        }
    }

    /// The headers of `dimension`'s bucket, whichever fields carry them; `None` for the
    /// dimensions no header describes (requests per minute, tokens per day).
    ///
    /// ```
    /// use groq_ratelimit::{Dimension, RateLimitHeaders};
    /// use http::HeaderMap;
    ///
    /// let mut map = HeaderMap::new();
    /// map.insert("x-ratelimit-limit-tokens", "6000".parse().unwrap());
    /// map.insert("x-ratelimit-remaining-audio-seconds", "7100".parse().unwrap());
    /// let h = RateLimitHeaders::from_headers(&map);
    /// assert_eq!(h.bucket(Dimension::TokensPerMinute).unwrap().limit, Some(6000));
    /// assert_eq!(h.bucket(Dimension::AudioSecondsPerHour).unwrap().remaining, Some(7100));
    /// assert!(h.bucket(Dimension::RequestsPerMinute).is_none());
    /// ```
    pub fn bucket(&self, dimension: Dimension) -> Option<BucketHeaders> {
        match dimension {
            Dimension::RequestsPerDay => Some(BucketHeaders::new(
                self.limit_requests,
                self.remaining_requests,
                self.reset_requests,
            )),
            Dimension::TokensPerMinute => Some(BucketHeaders::new(
                self.limit_tokens,
                self.remaining_tokens,
                self.reset_tokens,
            )),
            Dimension::AudioSecondsPerHour => Some(self.audio_seconds),
            Dimension::AudioSecondsPerDay => Some(self.audio_seconds_day),
            Dimension::InputTokensPerMinute => Some(self.input_tokens),
            Dimension::OutputTokensPerMinute => Some(self.output_tokens),
            _ => None,
        }
    }

    /// Whether no header was present (or none parsed).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A non-negative integer count, surrounding whitespace allowed.
fn parse_count(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

/// Parses a Go duration as Groq writes them: `2m59.56s`, `7.66s`, `320ms`, `1h2m3s`, `1.5µs`
/// (also `us` and `μs`), `0`, or a bare number, which means seconds. This is
/// [`groq_config::parse_go_duration`]: one parser for configuration files and server headers.
///
/// Fractions are exact to the nanosecond (rounded up). Negative, empty, malformed or
/// overflowing values give `None`.
///
/// ```
/// use groq_ratelimit::parse_go_duration;
/// use std::time::Duration;
///
/// assert_eq!(parse_go_duration("2m59.56s"), Some(Duration::from_millis(179_560)));
/// assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3_723)));
/// assert_eq!(parse_go_duration("320ms"), Some(Duration::from_millis(320)));
/// assert_eq!(parse_go_duration("1.5µs"), Some(Duration::from_nanos(1_500)));
/// assert_eq!(parse_go_duration("12"), Some(Duration::from_secs(12)));
/// assert_eq!(parse_go_duration("soon"), None);
/// ```
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    groq_config::parse_go_duration(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn go_durations_seen_from_groq() {
        assert_eq!(parse_go_duration("2m59.56s"), ms(179_560));
        assert_eq!(parse_go_duration("7.66s"), ms(7_660));
        assert_eq!(parse_go_duration("172ms"), ms(172));
        assert_eq!(parse_go_duration("391ms"), ms(391));
        assert_eq!(parse_go_duration("320ms"), ms(320));
        assert_eq!(parse_go_duration("1h2m3s"), ms(3_723_000));
        assert_eq!(parse_go_duration("7m12s"), ms(432_000));
        assert_eq!(parse_go_duration("4.77s"), ms(4_770));
        assert_eq!(parse_go_duration("1m0.288s"), ms(60_288));
        assert_eq!(parse_go_duration("0s"), ms(0));
        assert_eq!(parse_go_duration("0"), ms(0));
    }

    #[test]
    fn go_duration_units_and_fractions() {
        let ns = |n| Some(Duration::from_nanos(n));
        assert_eq!(parse_go_duration("1.5µs"), ns(1_500));
        assert_eq!(parse_go_duration("1.5\u{3bc}s"), ns(1_500));
        assert_eq!(parse_go_duration("1.5us"), ns(1_500));
        assert_eq!(parse_go_duration("15ns"), ns(15));
        assert_eq!(parse_go_duration("0.5ns"), ns(1));
        assert_eq!(parse_go_duration("1.000000001s"), ns(1_000_000_001));
        assert_eq!(parse_go_duration(".5s"), ms(500));
        assert_eq!(parse_go_duration("5.s"), ms(5_000));
        assert_eq!(parse_go_duration(" 12 "), ms(12_000));
        assert_eq!(parse_go_duration("2.25"), ms(2_250));
        assert_eq!(parse_go_duration("+3s"), ms(3_000));
        assert_eq!(parse_go_duration("1h1h"), ms(7_200_000));
    }

    #[test]
    fn go_duration_rejects_garbage() {
        for bad in [
            "",
            " ",
            "-1s",
            "s",
            "1x",
            "1.2.3s",
            "ms",
            "1m2",
            ".",
            "1 s",
            "1e3s",
            "99999999999999999999999h",
            "nan",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_a_real_groq_response() {
        let mut map = HeaderMap::new();
        for (name, value) in [
            ("x-ratelimit-limit-requests", "500000"),
            ("x-ratelimit-limit-tokens", "250000"),
            ("x-ratelimit-remaining-requests", "499999"),
            ("x-ratelimit-remaining-tokens", "248367"),
            ("x-ratelimit-reset-requests", "172ms"),
            ("x-ratelimit-reset-tokens", "391ms"),
        ] {
            map.insert(name, HeaderValue::from_static(value));
        }
        let h = RateLimitHeaders::from_headers(&map);
        assert_eq!(
            h,
            RateLimitHeaders {
                limit_requests: Some(500_000),
                remaining_requests: Some(499_999),
                reset_requests: ms(172),
                limit_tokens: Some(250_000),
                remaining_tokens: Some(248_367),
                reset_tokens: ms(391),
                retry_after: None,
                ..RateLimitHeaders::default()
            }
        );
        assert!(!h.is_empty());
        assert!(RateLimitHeaders::from_headers(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn the_audio_and_input_output_buckets_in_the_same_scheme() {
        let mut map = HeaderMap::new();
        for (name, value) in [
            ("x-ratelimit-limit-audio-seconds", "7200"),
            ("x-ratelimit-remaining-audio-seconds", "7140"),
            ("x-ratelimit-reset-audio-seconds", "30s"),
            ("x-ratelimit-limit-audio-seconds-day", "28800"),
            ("x-ratelimit-remaining-audio-seconds-day", "28740"),
            ("x-ratelimit-reset-audio-seconds-day", "3m"),
            ("x-ratelimit-limit-input-tokens", "5000"),
            ("x-ratelimit-remaining-output-tokens", "900"),
            // An output-token reset beyond its minute is garbage.
            ("x-ratelimit-reset-output-tokens", "2m"),
        ] {
            map.insert(name, HeaderValue::from_static(value));
        }
        let h = RateLimitHeaders::from_headers(&map);
        assert_eq!(
            h.audio_seconds,
            BucketHeaders::new(Some(7_200), Some(7_140), ms(30_000))
        );
        assert_eq!(
            h.bucket(Dimension::AudioSecondsPerDay),
            Some(BucketHeaders::new(Some(28_800), Some(28_740), ms(180_000)))
        );
        assert_eq!(h.input_tokens, BucketHeaders::new(Some(5_000), None, None));
        assert_eq!(h.output_tokens, BucketHeaders::new(None, Some(900), None));
        assert_eq!(h.limit_tokens, None);
        assert!(!h.is_empty());
        assert_eq!(h.bucket(Dimension::TokensPerDay), None);
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        let mut map = HeaderMap::new();
        map.insert("retry-after", HeaderValue::from_static("5"));
        assert_eq!(RateLimitHeaders::from_headers(&map).retry_after, ms(5_000));
        map.insert("retry-after-ms", HeaderValue::from_static("4770.5"));
        assert_eq!(
            RateLimitHeaders::from_headers(&map).retry_after,
            Some(Duration::from_nanos(4_770_500_000))
        );
        map.insert("retry-after-ms", HeaderValue::from_static("soon"));
        map.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(RateLimitHeaders::from_headers(&map).retry_after, None);
    }

    #[test]
    fn malformed_values_are_none() {
        let mut map = HeaderMap::new();
        map.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("-3"),
        );
        map.insert("x-ratelimit-limit-tokens", HeaderValue::from_static("6k"));
        map.insert(
            "x-ratelimit-reset-tokens",
            HeaderValue::from_static("later"),
        );
        map.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_bytes(b"\xff12").unwrap(),
        );
        assert!(RateLimitHeaders::from_headers(&map).is_empty());
    }
}
