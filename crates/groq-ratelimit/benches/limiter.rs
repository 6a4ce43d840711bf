//! Reserve + commit on a four-dimension quota, alone and from 8 threads at once, next to
//! `governor`'s `check` on a single-dimension direct limiter.
//!
//! Run with `cargo bench -p groq-ratelimit -- --quick`. The limits are far above what the
//! benchmark can use, so every call admits and the measured cost is the bookkeeping itself.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use groq_config::Rate;
use groq_ratelimit::{Cost, Dimension, LocalLimiter, Quota, RateLimiter};

const MODEL: &str = "llama-3.1-8b-instant";
const THREADS: u64 = 8;

fn limiter() -> LocalLimiter {
    let huge = 1_000_000_000_000;
    let quota = Quota::unlimited()
        .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(huge))
        .with_rate(Dimension::RequestsPerDay, Rate::per_day(huge))
        .with_rate(Dimension::TokensPerMinute, Rate::per_minute(huge))
        .with_rate(Dimension::TokensPerDay, Rate::per_day(huge));
    LocalLimiter::builder().quota(MODEL, quota).build()
}

fn governor_limiter() -> governor::DefaultDirectRateLimiter {
    governor::RateLimiter::direct(governor::Quota::per_second(NonZeroU32::MAX))
}

fn reserve_commit(limiter: &LocalLimiter) {
    let reservation = limiter.reserve(MODEL, &Cost::request(1_000));
    match reservation {
        Ok(reservation) => reservation.commit(black_box(900)),
        Err(e) => panic!("the benchmark quota refused a request: {e}"),
    }
}

/// Runs `op` `iters` times spread over [`THREADS`] threads and returns the wall time.
#[allow(clippy::disallowed_methods)] // a benchmark harness measures real time
fn contended(iters: u64, op: impl Fn() + Sync) -> Duration {
    let per_thread = iters.div_ceil(THREADS);
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..per_thread {
                    op();
                }
            });
        }
    });
    start.elapsed()
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));

    let ours = limiter();
    group.bench_function("groq-ratelimit reserve+commit, 4 dimensions", |b| {
        b.iter(|| reserve_commit(&ours));
    });
    let theirs = governor_limiter();
    group.bench_function("governor check, 1 dimension", |b| {
        b.iter(|| black_box(theirs.check().is_ok()));
    });
    group.bench_function("groq-ratelimit reserve+commit, 8 threads", |b| {
        b.iter_custom(|iters| contended(iters, || reserve_commit(&ours)));
    });
    group.bench_function("governor check, 8 threads", |b| {
        b.iter_custom(|iters| contended(iters, || assert!(theirs.check().is_ok())));
    });
    group.finish();
}

criterion_group!(limiter_benches, benches);
criterion_main!(limiter_benches);
