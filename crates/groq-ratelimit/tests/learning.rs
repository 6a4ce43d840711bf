//! A limiter configured above the server's limits learns the server's limits from its 429
//! texts and headers, and stops drawing 429s: checked against the reference server.

use std::time::Duration;

use groq_config::Rate;
use groq_ratelimit::reference::{Server, nanos};
use groq_ratelimit::{
    Cost, Dimension, LimitMessage, LocalLimiter, ManualTimer, Quota, RateLimitHeaders, RateLimiter,
    ReserveError, Timer,
};
use http::{HeaderMap, HeaderValue};

const MODEL: &str = "llama-3.1-8b-instant";

/// Sends `requests` one-request costs through `limiter` to `server` as fast as the limiter
/// admits them; a rejected request gets Groq's 429 text for `dimension` (with the server's
/// `limit` and `used`) and is sent again. Returns the 429s met and the time taken.
fn run(
    limiter: &LocalLimiter,
    clock: &ManualTimer,
    server: &mut Server,
    dimension: Dimension,
    limit: u64,
    requests: u32,
) -> (u32, Duration) {
    let t0 = clock.now();
    let cost = Cost::request(0);
    let (mut sent, mut limited) = (0, 0);
    while sent < requests {
        match limiter.reserve(MODEL, &cost) {
            Ok(reservation) => {
                let t = nanos(clock.now() - t0);
                if server.arrive(t, &cost) {
                    reservation.commit(0);
                    sent += 1;
                } else {
                    drop(reservation);
                    limited += 1;
                    let used = server.used(t, dimension).unwrap();
                    let interval = Rate::per_minute(limit).emission_interval();
                    let message = LimitMessage::parse(&format!(
                        "Rate limit reached for model `{MODEL}` in organization `org_1` service \
                         tier on_demand on {} ({}): Limit {limit}, Used {used}, Requested 1. \
                         Please try again in {}ms.",
                        dimension.words(),
                        dimension.label(),
                        interval.as_millis(),
                    ))
                    .unwrap();
                    limiter.rate_limited(
                        MODEL,
                        &RateLimitHeaders::default(),
                        Some(&message),
                        clock.now(),
                    );
                }
            }
            Err(ReserveError::Wait { until, .. } | ReserveError::Penalized { until, .. }) => {
                clock.set(until);
            }
            Err(other) => panic!("{other}"),
        }
    }
    (limited, clock.now() - t0)
}

#[test]
fn a_limit_stated_in_a_429_text_is_adopted_and_the_run_stops_drawing_429s() {
    let clock = ManualTimer::new();
    // Configured for 30 requests per minute; the server allows 5.
    let limiter = LocalLimiter::builder()
        .timer(clock.clone())
        .margin(Duration::ZERO)
        .quota(
            MODEL,
            Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30)),
        )
        .build();
    let mut server = Server::new(
        &Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(5)),
    );
    let (limited, elapsed) = run(
        &limiter,
        &clock,
        &mut server,
        Dimension::RequestsPerMinute,
        5,
        25,
    );
    // One 429 teaches the limit and the usage; nothing after it is refused.
    assert_eq!(limited, 1);
    assert_eq!(
        limiter
            .snapshot(MODEL)
            .unwrap()
            .get(Dimension::RequestsPerMinute)
            .unwrap()
            .rate,
        Rate::per_minute(5)
    );
    // Five at once, then one every 12 s: the server's own pace.
    assert_eq!(elapsed, Duration::from_secs(20 * 12));
}

#[test]
fn a_higher_stated_limit_loosens_nothing() {
    let clock = ManualTimer::new();
    let limiter = LocalLimiter::builder()
        .timer(clock.clone())
        .margin(Duration::ZERO)
        .quota(
            MODEL,
            Quota::unlimited().with_rate(Dimension::TokensPerMinute, Rate::per_minute(6_000)),
        )
        .build();
    let message = LimitMessage::parse(
        "Rate limit reached for model `m` on tokens per minute (TPM): Limit 60000, Used 100, \
         Requested 10. Please try again in 1s.",
    )
    .unwrap();
    limiter.rate_limited(
        MODEL,
        &RateLimitHeaders::default(),
        Some(&message),
        clock.now(),
    );
    let snapshot = limiter.snapshot(MODEL).unwrap();
    let tpm = snapshot.get(Dimension::TokensPerMinute).unwrap();
    assert_eq!(tpm.rate, Rate::per_minute(6_000));
    // The usage it states is learnt all the same.
    assert_eq!(tpm.used, 100);
}

#[test]
fn limits_stated_in_headers_are_adopted_for_every_dimension_they_describe() {
    let clock = ManualTimer::new();
    let limiter = LocalLimiter::builder()
        .timer(clock.clone())
        .margin(Duration::ZERO)
        .quota(
            MODEL,
            Quota::unlimited()
                .with_rate(Dimension::TokensPerMinute, Rate::per_minute(6_000))
                .with_rate(Dimension::AudioSecondsPerHour, Rate::per_hour(7_200))
                .with_rate(Dimension::InputTokensPerMinute, Rate::per_minute(5_000)),
        )
        .build();
    let mut map = HeaderMap::new();
    for (name, value) in [
        ("x-ratelimit-limit-tokens", "3000"),
        ("x-ratelimit-remaining-tokens", "3000"),
        ("x-ratelimit-limit-audio-seconds", "3600"),
        ("x-ratelimit-remaining-audio-seconds", "1800"),
        ("x-ratelimit-reset-audio-seconds", "30m"),
        // Higher than configured: ignored.
        ("x-ratelimit-limit-input-tokens", "9000"),
    ] {
        map.insert(name, HeaderValue::from_static(value));
    }
    limiter.observe(MODEL, &RateLimitHeaders::from_headers(&map), clock.now());
    let snapshot = limiter.snapshot(MODEL).unwrap();
    let rate = |d| snapshot.get(d).unwrap().rate;
    assert_eq!(rate(Dimension::TokensPerMinute), Rate::per_minute(3_000));
    assert_eq!(rate(Dimension::AudioSecondsPerHour), Rate::per_hour(3_600));
    assert_eq!(
        rate(Dimension::InputTokensPerMinute),
        Rate::per_minute(5_000)
    );
    // What is left of the audio bucket is learnt too.
    let ash = snapshot.get(Dimension::AudioSecondsPerHour).unwrap();
    assert_eq!((ash.used, ash.remaining), (1_800, 1_800));
}
