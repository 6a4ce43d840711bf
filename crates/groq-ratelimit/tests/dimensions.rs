//! The audio-seconds and input/output token dimensions, and usage-based settlement.

use std::time::Duration;

use groq_config::Rate;
use groq_ratelimit::{Cost, Dimension, Quota, QuotaState, ReserveError, Settlement};
use tokio::time::Instant;

const SEC: Duration = Duration::from_secs(1);

#[test]
fn input_and_output_caps_bind_on_their_own_side() {
    let t0 = Instant::now();
    let quota = Quota::unlimited()
        .with_rate(Dimension::TokensPerMinute, Rate::per_minute(100_000))
        .with_rate(Dimension::InputTokensPerMinute, Rate::per_minute(600))
        .with_rate(Dimension::OutputTokensPerMinute, Rate::per_minute(60));
    let mut s = QuotaState::new(quota, Duration::ZERO, t0);
    let a = s.reserve(t0, &Cost::chat(500, 30)).unwrap();
    s.settle(t0, a, Settlement::Keep);
    // 100 more input tokens fit, but the output side has only 30 left.
    assert_eq!(
        s.reserve(t0, &Cost::chat(100, 60)).unwrap_err(),
        ReserveError::Wait {
            until: t0 + 30 * SEC,
            dimension: Dimension::OutputTokensPerMinute,
        }
    );
    assert_eq!(
        s.reserve(t0, &Cost::chat(200, 1)).unwrap_err(),
        ReserveError::Wait {
            until: t0 + 10 * SEC,
            dimension: Dimension::InputTokensPerMinute,
        }
    );
    assert!(matches!(
        s.reserve(t0, &Cost::chat(700, 1)),
        Err(ReserveError::NeverFits {
            dimension: Dimension::InputTokensPerMinute,
            cost: 700,
            capacity: 600
        })
    ));
}

#[test]
fn cached_tokens_are_given_back_to_tpm_and_itpm() {
    let t0 = Instant::now();
    let quota = Quota::unlimited()
        .with_rate(Dimension::TokensPerMinute, Rate::per_minute(1_000))
        .with_rate(Dimension::TokensPerDay, Rate::per_day(10_000))
        .with_rate(Dimension::InputTokensPerMinute, Rate::per_minute(800))
        .with_rate(Dimension::OutputTokensPerMinute, Rate::per_minute(500));
    let mut s = QuotaState::new(quota, Duration::ZERO, t0);
    let charge = s.reserve(t0, &Cost::chat(600, 200)).unwrap();
    // The reply: 600 prompt tokens of which 400 were cached, 50 completion tokens.
    let actual = Cost::chat(600 - 400, 50);
    s.settle(t0, charge, Settlement::CommitUsage { actual });
    let snap = s.snapshot(t0);
    assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().used, 250);
    assert_eq!(snap.get(Dimension::TokensPerDay).unwrap().used, 250);
    assert_eq!(snap.get(Dimension::InputTokensPerMinute).unwrap().used, 200);
    assert_eq!(snap.get(Dimension::OutputTokensPerMinute).unwrap().used, 50);
    assert_eq!(snap.get(Dimension::TokensPerMinute).unwrap().pending, 0);
}

#[test]
fn audio_seconds_are_charged_and_reconciled() {
    let t0 = Instant::now();
    let quota = Quota::unlimited()
        .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(20))
        .with_rate(Dimension::AudioSecondsPerHour, Rate::per_hour(3_600))
        .with_rate(Dimension::AudioSecondsPerDay, Rate::per_day(28_800));
    let mut s = QuotaState::new(quota, Duration::ZERO, t0);
    let a = s.reserve(t0, &Cost::audio(3_000)).unwrap();
    assert_eq!(
        s.reserve(t0, &Cost::audio(700)).unwrap_err(),
        ReserveError::Wait {
            until: t0 + 100 * SEC,
            dimension: Dimension::AudioSecondsPerHour,
        }
    );
    // The server measured more than the estimate: the difference is charged.
    s.settle(
        t0,
        a,
        Settlement::CommitUsage {
            actual: Cost::audio(3_100),
        },
    );
    let snap = s.snapshot(t0);
    assert_eq!(
        snap.get(Dimension::AudioSecondsPerHour).unwrap().used,
        3_100
    );
    assert_eq!(snap.get(Dimension::AudioSecondsPerDay).unwrap().used, 3_100);
    assert_eq!(snap.get(Dimension::RequestsPerMinute).unwrap().used, 1);
    // A token commit leaves the audio charge as it is.
    let b = s.reserve(t0 + 600 * SEC, &Cost::audio(100)).unwrap();
    s.settle(t0 + 600 * SEC, b, Settlement::Commit { actual_tokens: 0 });
    let snap = s.snapshot(t0 + 600 * SEC);
    // 3,100 + 100, less the 200 refilled in 600 s at 28,800 per day.
    assert_eq!(snap.get(Dimension::AudioSecondsPerDay).unwrap().used, 3_000);
}
