//! Fuzz-style properties of the header, duration and message parsers: arbitrary input never
//! panics, and well-formed input reads back exactly.

use std::time::Duration;

use groq_ratelimit::{LimitMessage, RateLimitHeaders, parse_go_duration};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

const NAMES: [&str; 8] = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "retry-after",
    "retry-after-ms",
];

/// Formats `d` the way Go's `Duration.String` does: `1h2m3.5s`, `320ms`, `1.5µs`, `15ns`.
fn go_format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let fraction = |value: u128, unit: u128| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let width = unit.ilog10() as usize;
            let digits = format!("{rest:0width$}");
            format!("{whole}.{}", digits.trim_end_matches('0'))
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = nanos % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out += &format!("{hours}h");
    }
    if hours > 0 || minutes > 0 {
        out += &format!("{minutes}m");
    }
    out + &format!("{}s", fraction(seconds, 1_000_000_000))
}

proptest! {
    #[test]
    fn go_durations_read_back_exactly(nanos in 0u64..=u64::MAX / 2) {
        let d = Duration::from_nanos(nanos);
        prop_assert_eq!(parse_go_duration(&go_format(d)), Some(d), "{}", go_format(d));
    }

    #[test]
    fn arbitrary_durations_never_panic(text in "\\PC{0,24}", go in "[0-9.hmsuµn+-]{0,16}") {
        let _ = parse_go_duration(&text);
        let _ = parse_go_duration(&go);
    }

    #[test]
    fn arbitrary_header_values_never_panic(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 8),
        texts in proptest::collection::vec("[0-9a-z .µ:,-]{0,20}", 8),
    ) {
        for chosen in [values, texts.into_iter().map(String::into_bytes).collect()] {
            let mut map = HeaderMap::new();
            for (name, value) in NAMES.iter().zip(chosen) {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    map.insert(HeaderName::from_static(name), value);
                }
            }
            let headers = RateLimitHeaders::from_headers(&map);
            // Whatever was read came from a header that was present.
            if headers.remaining_tokens.is_some() {
                prop_assert!(map.contains_key("x-ratelimit-remaining-tokens"));
            }
        }
    }

    #[test]
    fn well_formed_headers_read_back(
        limit in any::<u64>(),
        remaining in any::<u64>(),
        reset_ms in 0u64..100_000_000,
        retry in 0u64..100_000,
    ) {
        let reset = Duration::from_millis(reset_ms);
        let mut map = HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            map.insert(name, HeaderValue::from_str(&value).expect("ASCII"));
        };
        put("x-ratelimit-limit-tokens", limit.to_string());
        put("x-ratelimit-remaining-tokens", remaining.to_string());
        put("x-ratelimit-reset-tokens", go_format(reset));
        put("retry-after", retry.to_string());
        let h = RateLimitHeaders::from_headers(&map);
        prop_assert_eq!(h.limit_tokens, Some(limit));
        prop_assert_eq!(h.remaining_tokens, Some(remaining));
        // A tokens-per-minute reset beyond a minute is garbage.
        let expected_reset = (reset <= Duration::from_secs(60)).then_some(reset);
        prop_assert_eq!(h.reset_tokens, expected_reset);
        prop_assert_eq!(h.retry_after, (retry <= 86_400).then(|| Duration::from_secs(retry)));
    }

    #[test]
    fn arbitrary_messages_never_panic(text in "\\PC{0,200}") {
        let _ = LimitMessage::parse(&text);
        let _ = LimitMessage::parse(&format!("Rate limit reached {text} try again in {text}"));
        let _ = LimitMessage::parse(&format!("Request too large: Limit {text} Requested {text}"));
    }

    #[test]
    fn generated_429_messages_read_back(
        window in 0usize..4,
        limit in 1u64..10_000_000,
        used in 0u64..10_000_000,
        requested in 0u64..10_000_000,
        wait_ms in 1u64..86_400_000,
    ) {
        let (words, label) = [
            ("requests per minute", "RPM"),
            ("requests per day", "RPD"),
            ("tokens per minute", "TPM"),
            ("tokens per day", "TPD"),
        ][window];
        let wait = Duration::from_millis(wait_ms);
        let text = format!(
            "Rate limit reached for model `m` in organization `o` service tier on_demand on \
             {words} ({label}): Limit {limit}, Used {used}, Requested {requested}. Please try \
             again in {}. Need more tokens?",
            go_format(wait)
        );
        let m = LimitMessage::parse(&text).expect("a rate-limit message");
        prop_assert_eq!(m.dimension.map(|d| d.label()), Some(label));
        prop_assert_eq!((m.limit, m.used, m.requested), (Some(limit), Some(used), Some(requested)));
        // A wait beyond the period of the window it names is garbage.
        let period = if label.ends_with('M') { 60_000 } else { 86_400_000 };
        prop_assert_eq!(m.retry_after, (wait_ms <= period).then_some(wait));
    }

    #[test]
    fn every_wait_read_is_bounded(
        values in proptest::collection::vec("[0-9]{1,12}(\\.[0-9]{1,3})?(h|m|s|ms)?", 8),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in NAMES.iter().zip(values) {
            map.insert(HeaderName::from_static(name), HeaderValue::from_str(&value).expect("ASCII"));
        }
        let h = RateLimitHeaders::from_headers(&map);
        let minute = Duration::from_secs(60);
        let day = Duration::from_secs(86_400);
        prop_assert!(h.reset_tokens.is_none_or(|d| d <= minute));
        prop_assert!(h.reset_requests.is_none_or(|d| d <= day));
        prop_assert!(h.retry_after.is_none_or(|d| d <= day));
    }
}
