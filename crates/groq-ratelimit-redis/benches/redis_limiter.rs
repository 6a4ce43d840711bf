//! Reserve + commit against a local Redis: latency (criterion, then p50 and p99 over
//! 5,000 sequential pairs) and the throughput of one process (sequential, and from 8 threads).
//!
//! Run with `cargo bench -p groq-ratelimit-redis -- --quick` (`cargo xtask bench` runs it).
//! It starts its own `redis-server` on a free loopback port, and skips, saying why, when
//! there is none. Each pair is a reserve (one script, answered) and
//! a commit (one script) that the next reserve does not wait for; the latency samples wait
//! for both (`flush`), so they are two round trips.

#![allow(clippy::print_stderr, clippy::disallowed_methods)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use groq_config::Rate;
use groq_ratelimit::{Cost, Dimension, Quota, RateLimiter};
use groq_ratelimit_redis::RedisLimiter;

const MODEL: &str = "llama-3.1-8b-instant";
const THREADS: usize = 8;

fn limiter(url: &str) -> RedisLimiter {
    // A chat model's four limits (as Groq's catalog gives them), far above the benchmark.
    let huge = 1_000_000_000_000;
    let quota = Quota::unlimited()
        .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(huge))
        .with_rate(Dimension::RequestsPerDay, Rate::per_day(huge))
        .with_rate(Dimension::TokensPerMinute, Rate::per_minute(huge))
        .with_rate(Dimension::TokensPerDay, Rate::per_day(huge));
    RedisLimiter::builder(url)
        .namespace(common::unique_namespace("bench"))
        .quota(MODEL, quota)
        .build()
        .expect("a limiter")
}

fn pair(limiter: &RedisLimiter) {
    let reservation = limiter
        .reserve(MODEL, black_box(&Cost::chat(800, 200)))
        .expect("the limits are far above the benchmark");
    reservation.commit_usage(black_box(Cost::chat(800, 150)));
}

fn report(server: &common::RedisServer) {
    let limiter = limiter(&server.url());
    let mut samples = Vec::with_capacity(5_000);
    for _ in 0..5_000 {
        let start = Instant::now();
        pair(&limiter);
        limiter.flush(Duration::from_secs(5));
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let p50 = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    let n = 20_000;
    let start = Instant::now();
    for _ in 0..n {
        pair(&limiter);
    }
    limiter.flush(Duration::from_secs(30));
    let sequential = n as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..n / THREADS {
                    pair(&limiter);
                }
            });
        }
    });
    limiter.flush(Duration::from_secs(30));
    let parallel = n as f64 / start.elapsed().as_secs_f64();
    eprintln!(
        "redis reserve+commit: p50 {p50:?}, p99 {p99:?} (both scripts applied); \
         throughput {sequential:.0}/s from one thread, {parallel:.0}/s from {THREADS} threads"
    );
    if let Ok(out) = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "INFO", "commandstats"])
        .output()
    {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.starts_with("cmdstat_eval") {
                eprintln!("redis-side {line}");
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    if let Err(e) = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
    {
        eprintln!(
            "redis_limiter: skipped: redis-server is not installed ({e}); install it with \
             `apt-get install redis-server redis-tools` (`.ci/test-services` does)"
        );
        return;
    }
    let server = common::RedisServer::start();
    let limiter = limiter(&server.url());
    c.bench_function("redis reserve+commit (reserve answered)", |b| {
        b.iter(|| pair(&limiter))
    });
    limiter.flush(Duration::from_secs(30));
    c.bench_function("redis reserve+commit (both applied)", |b| {
        b.iter(|| {
            pair(&limiter);
            limiter.flush(Duration::from_secs(5));
        })
    });
    report(&server);
}

criterion_group!(benches, bench);
criterion_main!(benches);
