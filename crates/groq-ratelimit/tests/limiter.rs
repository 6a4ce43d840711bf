//! `LocalLimiter` through the `RateLimiter` trait, on tokio's paused clock and on a manual one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use groq_config::Rate;
use groq_ratelimit::{
    Cost, Dimension, LimitMessage, LocalLimiter, ManualTimer, Quota, RateLimitHeaders, RateLimiter,
    Reservation, ReserveError, Timer,
};
use tokio::time::Instant;

const MODEL: &str = "llama-3.1-8b-instant";
const SEC: Duration = Duration::from_secs(1);

/// The dispatcher loop the trait documents, counting how often it asks.
async fn admit(limiter: &dyn RateLimiter, cost: Cost, asks: &AtomicU32) -> Reservation {
    loop {
        let changed = limiter.changed(MODEL);
        asks.fetch_add(1, Ordering::Relaxed);
        match limiter.reserve(MODEL, &cost) {
            Ok(reservation) => return reservation,
            Err(e @ ReserveError::NeverFits { .. }) => panic!("{e}"),
            Err(e) => match e.retry_at() {
                Some(until) => tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    () = changed => {}
                },
                None => changed.await,
            },
        }
    }
}

#[tokio::test(start_paused = true)]
async fn requests_leave_exactly_when_they_fit() {
    let limiter: Arc<dyn RateLimiter> = Arc::new(
        LocalLimiter::builder()
            .margin(Duration::ZERO)
            .quota(
                MODEL,
                Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30)),
            )
            .build(),
    );
    let start = Instant::now();
    let asks = AtomicU32::new(0);
    let mut sent = Vec::new();
    for _ in 0..33 {
        admit(&*limiter, Cost::request(0), &asks).await.keep();
        sent.push(Instant::now() - start);
    }
    // A burst of 30, then one every 2 s, with no early wake-ups.
    assert!(sent[..30].iter().all(|t| t.is_zero()));
    assert_eq!(&sent[30..], [2 * SEC, 4 * SEC, 6 * SEC]);
    assert_eq!(asks.load(Ordering::Relaxed), 36);
}

#[tokio::test(start_paused = true)]
async fn the_margin_delays_throttled_requests_by_the_margin_only() {
    let margin = Duration::from_millis(100);
    let limiter = LocalLimiter::builder()
        .quota(
            MODEL,
            Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(60)),
        )
        .build();
    assert_eq!(limiter.margin(), margin);
    let start = Instant::now();
    let asks = AtomicU32::new(0);
    for _ in 0..63 {
        admit(&limiter, Cost::request(0), &asks).await.keep();
    }
    // The 61st fits at 1 s, the 63rd at 3 s: each leaves one margin late, no later.
    assert_eq!(Instant::now() - start, 3 * SEC + margin);
}

#[tokio::test(start_paused = true)]
async fn a_full_in_flight_cap_wakes_on_settlement_not_by_polling() {
    let limiter = Arc::new(
        LocalLimiter::builder()
            .quota(MODEL, Quota::unlimited().with_max_in_flight(2))
            .build(),
    );
    let asks = Arc::new(AtomicU32::new(0));
    let a = admit(&*limiter, Cost::request(10), &asks).await;
    let b = admit(&*limiter, Cost::request(10), &asks).await;
    assert_eq!(limiter.snapshot(MODEL).unwrap().in_flight, 2);

    let waiter = {
        let limiter = Arc::clone(&limiter);
        let asks = Arc::clone(&asks);
        tokio::spawn(async move {
            let r = admit(&*limiter, Cost::request(10), &asks).await;
            (Instant::now(), r)
        })
    };
    // An hour passes: the waiter asked once and sleeps.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(asks.load(Ordering::Relaxed), 3);
    // A reservation settles in another task; the waiter gets its slot at that instant.
    let settled_at = tokio::spawn(async move {
        a.commit(7);
        Instant::now()
    })
    .await
    .unwrap();
    let (admitted_at, c) = waiter.await.unwrap();
    assert_eq!(admitted_at, settled_at);
    assert_eq!(asks.load(Ordering::Relaxed), 4);
    drop((b, c));
    assert_eq!(limiter.snapshot(MODEL).unwrap().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_quota_change_wakes_waiters_and_keeps_usage() {
    let limiter = Arc::new(
        LocalLimiter::builder()
            .margin(Duration::ZERO)
            .quota(
                MODEL,
                Quota::unlimited().with_rate(Dimension::TokensPerMinute, Rate::per_minute(1000)),
            )
            .build(),
    );
    let asks = AtomicU32::new(0);
    admit(&*limiter, Cost::request(1000), &asks).await.keep();
    let waiter = {
        let limiter = Arc::clone(&limiter);
        tokio::spawn(async move {
            let asks = AtomicU32::new(0);
            admit(&*limiter, Cost::request(1000), &asks).await.keep();
            Instant::now()
        })
    };
    tokio::time::sleep(SEC).await;
    let raised_at = Instant::now();
    limiter.set_quota(
        MODEL,
        Quota::unlimited().with_rate(Dimension::TokensPerMinute, Rate::per_minute(4000)),
    );
    assert_eq!(waiter.await.unwrap(), raised_at);
    let tokens = limiter.snapshot(MODEL).unwrap();
    let tokens = tokens.get(Dimension::TokensPerMinute).unwrap();
    // 1000 (less one second of refill at the old rate) plus 1000.
    assert_eq!(tokens.used, 1984);
}

#[test]
fn unknown_models_are_unlimited() {
    let limiter = LocalLimiter::new();
    let r = limiter
        .reserve("no-such-model", &Cost::request(u64::MAX))
        .unwrap();
    assert!(!r.is_limited());
    assert!(limiter.snapshot("no-such-model").is_none());
    assert!(format!("{limiter:?}").contains("LocalLimiter"));
}

#[test]
fn a_429_closes_the_model_for_the_wait_it_names() {
    let clock = ManualTimer::new();
    let limiter = LocalLimiter::builder().timer(clock.clone()).build();
    let t0 = clock.now();
    let message = LimitMessage::parse(
        "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_1` service \
         tier on_demand on tokens per day (TPD): Limit 500000, Used 499500, Requested 1443. \
         Please try again in 2m59.56s.",
    )
    .unwrap();
    // No retry-after header: the message's wait applies.
    limiter.rate_limited(MODEL, &RateLimitHeaders::default(), Some(&message), t0);
    let until = t0 + Duration::from_millis(179_560);
    assert_eq!(
        limiter.reserve(MODEL, &Cost::request(1)).unwrap_err(),
        ReserveError::Penalized {
            until,
            dimension: Some(Dimension::TokensPerDay)
        }
    );
    assert_eq!(
        limiter.snapshot(MODEL).unwrap().penalized_until,
        Some(until)
    );
    clock.set(until);
    assert!(limiter.reserve(MODEL, &Cost::request(1)).is_ok());

    // A retry-after header wins over the message.
    let mut headers = RateLimitHeaders::default();
    headers.retry_after = Some(7 * SEC);
    limiter.rate_limited(MODEL, &headers, Some(&message), clock.now());
    assert_eq!(
        limiter
            .reserve(MODEL, &Cost::request(1))
            .unwrap_err()
            .retry_at(),
        Some(until + 7 * SEC)
    );
}

#[test]
fn headers_tighten_the_day_and_minute_buckets() {
    let clock = ManualTimer::new();
    let limiter = LocalLimiter::builder()
        .timer(clock.clone())
        .margin(Duration::ZERO)
        .quota(
            MODEL,
            Quota::unlimited()
                .with_rate(Dimension::RequestsPerDay, Rate::per_day(14_400))
                .with_rate(Dimension::TokensPerMinute, Rate::per_minute(6_000)),
        )
        .build();
    limiter
        .reserve(MODEL, &Cost::request(100))
        .unwrap()
        .commit(100);
    let mut map = http::HeaderMap::new();
    for (name, value) in [
        ("x-ratelimit-limit-requests", "14400"),
        ("x-ratelimit-remaining-requests", "14000"),
        ("x-ratelimit-reset-requests", "40m0s"),
        ("x-ratelimit-limit-tokens", "6000"),
        ("x-ratelimit-remaining-tokens", "1000"),
        ("x-ratelimit-reset-tokens", "50s"),
    ] {
        map.insert(name, http::HeaderValue::from_static(value));
    }
    limiter.observe(MODEL, &RateLimitHeaders::from_headers(&map), clock.now());
    let snapshot = limiter.snapshot(MODEL).unwrap();
    let rpd = snapshot.get(Dimension::RequestsPerDay).unwrap();
    assert_eq!((rpd.used, rpd.remaining), (400, 14_000));
    assert_eq!(rpd.reset, Duration::from_secs(2_400));
    let tpm = snapshot.get(Dimension::TokensPerMinute).unwrap();
    assert_eq!((tpm.used, tpm.remaining), (5_000, 1_000));
    assert_eq!(tpm.reset, Duration::from_secs(50));
    // 1,001 tokens fit 10 ms after 1,000 do.
    assert!(limiter.reserve(MODEL, &Cost::request(1_001)).is_err());
    assert!(limiter.reserve(MODEL, &Cost::request(1_000)).is_ok());
}

#[test]
fn never_fits_names_the_dimension() {
    let limiter = LocalLimiter::builder()
        .quota(
            MODEL,
            Quota::unlimited().with_rate(Dimension::TokensPerMinute, Rate::per_minute(6000)),
        )
        .build();
    let err = limiter.reserve(MODEL, &Cost::request(14_810)).unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(err.dimension(), Some(Dimension::TokensPerMinute));
    assert_eq!(
        err.to_string(),
        "a cost of 14810 can never fit the tokens per minute (TPM) limit of 6000; make the \
         request smaller (for tokens: a shorter prompt or a lower max_completion_tokens) or \
         raise the limit"
    );
}
