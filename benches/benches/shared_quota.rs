//! One quota shared by K = 1, 2, 4, 8 processes through Redis: the burst (RPM binds) and
//! long-prompt (TPM binds) workloads split into K shards, each shard run by its own process
//! (this program started again as a worker) with `GroqClient::builder().redis(url)`, against
//! one `groq-mock` with the free-plan limits in a 3 s minute. For each K: completed, 429s,
//! elapsed and the efficiency against the single-process theoretical minimum. First, the
//! limiter's own cost: reserve + commit latency (p50, p99) and throughput from one process.
//! Writes `shared_quota.json` to the results directory.
//!
//! Run with `cargo bench -p groqchat-benches --bench shared_quota` (`cargo xtask bench` runs
//! it). It starts its own `redis-server` on a free loopback port; without `redis-server` it
//! says why and records the bench as skipped.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

#[path = "../../crates/groq-ratelimit-redis/tests/common/mod.rs"]
mod redis_server;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use groq_client::{Config, GroqClient, ModelConfig};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_mock::{MockLimits, MockServer};
use groq_ratelimit::{Cost, Dimension, Quota, RateLimiter};
use groq_ratelimit_redis::RedisLimiter;
use groqchat_benches::results::{
    self, QuotaReport, QuotaRun, RedisLimiterFigures, SharedQuotaReport,
};
use groqchat_benches::workload::{
    API_KEY, COMPLETION_TOKENS, LARGE, MINUTE, SMALL, Workload, free_plan,
};

const PROCESSES: [usize; 4] = [1, 2, 4, 8];
const WORKER: &str = "GROQCHAT_SHARED_QUOTA_WORKER";
/// Reserve + commit pairs timed one by one, and pairs of each throughput measure.
const PAIRS: usize = 5_000;
const THROUGHPUT_PAIRS: usize = 20_000;
const THREADS: usize = 8;

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn workloads() -> [Workload; 2] {
    [Workload::burst(), Workload::long_prompts()]
}

fn client_limits(limits: &MockLimits) -> Result<Limits, String> {
    let day = MINUTE * 1_440;
    let rate = |limit: Option<u64>, period: Duration| -> Result<Option<Rate>, String> {
        limit
            .map(|limit| Rate::new(limit, period).map_err(|e| format!("bad limit {limit}: {e}")))
            .transpose()
    };
    Ok(Limits::unlimited()
        .with_requests_per_minute(rate(limits.rpm, MINUTE)?)
        .with_requests_per_day(rate(limits.rpd, day)?)
        .with_tokens_per_minute(rate(limits.tpm, MINUTE)?)
        .with_tokens_per_day(rate(limits.tpd, day)?))
}

fn config(base_url: &str, namespace: &str) -> Result<Config, String> {
    let mut config = Config::builder()
        .clear_models()
        .api_key(API_KEY)
        .unknown_models(UnknownModelPolicy::Reject);
    for model in [SMALL, LARGE] {
        let limits = free_plan(model).ok_or_else(|| format!("no limits for {model}"))?;
        config = config.model(ModelConfig::new(model).with_limits(client_limits(&limits)?));
    }
    let mut config = config
        .base_url(base_url)
        .build()
        .map_err(|e| format!("the client configuration is invalid: {e}"))?;
    config.redis.namespace = Some(namespace.to_owned());
    Ok(config)
}

/// A worker process: warms up, prints `ready`, waits for a line on stdin (all K are ready),
/// runs shard `k` of `K` of a workload and prints `completed failed start_micros end_micros`.
async fn worker(spec: &str) -> Result<(), String> {
    let parts: Vec<&str> = spec.split(' ').collect();
    let [workload, k, n, redis, base, namespace] = parts[..] else {
        return Err(format!("bad worker spec {spec:?}"));
    };
    let (k, n): (usize, usize) = (
        k.parse().map_err(|_| "bad k")?,
        n.parse().map_err(|_| "bad n")?,
    );
    let workload = workloads()
        .into_iter()
        .find(|w| w.name == workload.replace('_', " "))
        .ok_or("unknown workload")?;
    let client = GroqClient::builder()
        .config(config(base, namespace)?)
        .redis(redis)
        .build()
        .map_err(|e| format!("the client could not be built: {e}"))?;
    let mine: Vec<_> = workload
        .requests
        .iter()
        .enumerate()
        .filter(|(i, _)| i % n == k)
        .map(|(_, r)| r.chat_request())
        .collect();
    // Warm the token counter, then start with the others.
    for request in &mine {
        let _ = client.count_tokens(request);
    }
    println!("ready");
    tokio::task::spawn_blocking(|| {
        let mut go = String::new();
        std::io::stdin().read_line(&mut go)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let started = unix_micros();
    let calls: Vec<_> = mine
        .into_iter()
        .map(|request| tokio::spawn(client.chat(request).into_future()))
        .collect();
    let (mut completed, mut failed) = (0u64, 0u64);
    for call in calls {
        match call.await {
            Ok(Ok(_)) => completed += 1,
            _ => failed += 1,
        }
    }
    println!("{completed} {failed} {started} {}", unix_micros());
    client.shutdown(groq_client::ShutdownMode::Drain).await;
    Ok(())
}

async fn run(
    workload: &Workload,
    processes: usize,
    redis: &redis_server::RedisServer,
) -> Result<QuotaRun, String> {
    let minimum = workload
        .minimum()
        .map_err(|e| format!("{}: {e}", workload.name))?;
    let mut server = MockServer::builder()
        .api_key(API_KEY)
        .minute_length(MINUTE)
        .completion_tokens(COMPLETION_TOKENS)
        .seed(7);
    for model in [SMALL, LARGE] {
        server = server.model(model, free_plan(model).ok_or("no limits")?);
    }
    let server = server
        .start()
        .await
        .map_err(|e| format!("the emulator did not start: {e}"))?;
    let namespace = format!("bench-{}-{processes}-{}", std::process::id(), unix_micros());
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    for k in 0..processes {
        let spec = format!(
            "{} {k} {processes} {} {} {namespace}",
            workload.name.replace(' ', "_"),
            redis.url(),
            server.base_url()
        );
        let mut child = Command::new(&exe)
            .env(WORKER, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        children.push((child, BufReader::new(stdout)));
    }
    // Every worker has built its client and warmed its token counter: go.
    let children = tokio::task::spawn_blocking(move || -> Result<_, String> {
        for (_, out) in &mut children {
            let mut line = String::new();
            out.read_line(&mut line).map_err(|e| e.to_string())?;
            if line.trim() != "ready" {
                return Err(format!("a worker did not get ready: {line}"));
            }
        }
        for (child, _) in &mut children {
            let stdin = child.stdin.as_mut().ok_or("no stdin")?;
            stdin.write_all(b"go\n").map_err(|e| e.to_string())?;
            stdin.flush().map_err(|e| e.to_string())?;
        }
        let mut lines = Vec::new();
        for (mut child, mut out) in children {
            let mut line = String::new();
            out.read_line(&mut line).map_err(|e| e.to_string())?;
            let status = child.wait().map_err(|e| e.to_string())?;
            lines.push((status, line));
        }
        Ok(lines)
    })
    .await
    .map_err(|e| e.to_string())??;
    let (mut completed, mut start, mut end) = (0u64, u64::MAX, 0u64);
    for (status, text) in children {
        let fields: Vec<u64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if let [ok, _failed, began, finished] = fields[..] {
            completed += ok;
            start = start.min(began);
            end = end.max(finished);
        } else {
            return Err(format!("a worker failed ({status}): {text}"));
        }
    }
    let stats = server.stats();
    server.shutdown().await;
    let first = stats.audit.iter().map(|a| a.at).min().unwrap_or_default();
    let last = stats.audit.iter().map(|a| a.at).max().unwrap_or_default();
    let elapsed = Duration::from_micros(end.saturating_sub(start));
    Ok(QuotaRun {
        workload: workload.name.to_owned(),
        client: format!(
            "groqchat in {processes} process{}, sharing through Redis",
            if processes == 1 { "" } else { "es" }
        ),
        requests: workload.requests.len() as u64,
        completed,
        rate_limited: stats.rate_limited,
        elapsed_s: elapsed.as_secs_f64(),
        minimum_s: minimum.as_secs_f64(),
        last_admission_s: last.saturating_sub(first).as_secs_f64(),
        estimate_ratio: None,
        notes: vec![format!(
            "admissions spanned {:.0} ms against a minimum of {:.0} ms",
            last.saturating_sub(first).as_secs_f64() * 1e3,
            minimum.as_secs_f64() * 1e3
        )],
    })
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// Reserve + commit against the local Redis, from this process: latency one pair at a time
/// (the reserve's answer, and both scripts applied), then throughput from one thread and from
/// several.
fn limiter_figures(redis: &redis_server::RedisServer) -> Result<RedisLimiterFigures, String> {
    const MODEL: &str = "llama-3.1-8b-instant";
    // A chat model's four limits (RPM, RPD, TPM, TPD, as Groq's catalog gives them), far
    // above the bench: every reserve is admitted and charged in all four.
    let huge = 1_000_000_000_000;
    let quota = Quota::unlimited()
        .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(huge))
        .with_rate(Dimension::RequestsPerDay, Rate::per_day(huge))
        .with_rate(Dimension::TokensPerMinute, Rate::per_minute(huge))
        .with_rate(Dimension::TokensPerDay, Rate::per_day(huge));
    let limiter = RedisLimiter::builder(&redis.url())
        .namespace(format!("bench-limiter-{}", std::process::id()))
        .quota(MODEL, quota)
        .build()
        .map_err(|e| format!("the limiter could not be built: {e}"))?;
    let cost = Cost::chat(800, 200);
    let pair = || -> Result<(), String> {
        let reservation = limiter
            .reserve(MODEL, &cost)
            .map_err(|e| format!("a reserve was refused: {e}"))?;
        reservation.commit_usage(Cost::chat(800, 150));
        Ok(())
    };
    // Warm the connections and Redis's script cache.
    for _ in 0..200 {
        pair()?;
    }
    limiter.flush(Duration::from_secs(10));
    let (mut answered, mut applied) = (Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS));
    for _ in 0..PAIRS {
        let start = std::time::Instant::now();
        let reservation = limiter
            .reserve(MODEL, &cost)
            .map_err(|e| format!("a reserve was refused: {e}"))?;
        answered.push(start.elapsed());
        reservation.commit_usage(Cost::chat(800, 150));
        if !limiter.flush(Duration::from_secs(5)) {
            return Err("a commit did not reach Redis within 5 s".into());
        }
        applied.push(start.elapsed());
    }
    answered.sort_unstable();
    applied.sort_unstable();
    let redis_before = redis_script_stats(redis);
    let start = std::time::Instant::now();
    for _ in 0..THROUGHPUT_PAIRS {
        pair()?;
    }
    limiter.flush(Duration::from_secs(30));
    let sequential_per_s = THROUGHPUT_PAIRS as f64 / start.elapsed().as_secs_f64();
    let redis_after = redis_script_stats(redis);
    let start = std::time::Instant::now();
    std::thread::scope(|scope| -> Result<(), String> {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    for _ in 0..THROUGHPUT_PAIRS / THREADS {
                        pair()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().map_err(|_| "a thread panicked")??;
        }
        Ok(())
    })?;
    limiter.flush(Duration::from_secs(30));
    let parallel_per_s = THROUGHPUT_PAIRS as f64 / start.elapsed().as_secs_f64();
    let redis_us_per_script = match (redis_before, redis_after) {
        (Some((calls0, us0)), Some((calls1, us1))) if calls1 > calls0 => {
            Some((us1 - us0) as f64 / (calls1 - calls0) as f64)
        }
        _ => None,
    };
    Ok(RedisLimiterFigures {
        limits: "a chat model's four limits (RPM, RPD, TPM, TPD)".to_owned(),
        pairs: PAIRS as u64,
        p50_us: percentile(&applied, 50),
        p99_us: percentile(&applied, 99),
        reserve_p50_us: percentile(&answered, 50),
        reserve_p99_us: percentile(&answered, 99),
        sequential_per_s,
        threads: THREADS as u64,
        parallel_per_s,
        redis_us_per_script,
    })
}

/// EVALSHA calls and the microseconds Redis spent in them so far (`INFO commandstats`
/// through `redis-cli`), if it can be read.
fn redis_script_stats(redis: &redis_server::RedisServer) -> Option<(u64, u64)> {
    let out = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "INFO", "commandstats"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("cmdstat_evalsha:"))?;
    let field = |name: &str| -> Option<u64> {
        line.split([':', ',']).find_map(|kv| {
            kv.strip_prefix(name)
                .and_then(|v| v.strip_prefix('='))
                .and_then(|v| v.parse().ok())
        })
    };
    Some((field("calls")?, field("usec")?))
}

/// Why the bench cannot run here, if it cannot: no `redis-server` to start.
fn redis_missing() -> Option<String> {
    match Command::new("redis-server").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`redis-server --version` failed ({}); install it with \
             `apt-get install redis-server redis-tools` (`.ci/test-services` does)",
            out.status
        )),
        Err(e) => Some(format!(
            "redis-server is not installed ({e}); install it with \
             `apt-get install redis-server redis-tools` (`.ci/test-services` does)"
        )),
    }
}

async fn run_all() -> Result<(), String> {
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    if let Some(reason) = redis_missing() {
        println!("shared_quota: skipped: {reason}");
        let report = SharedQuotaReport {
            skipped: Some(reason),
            quota: None,
            limiter: None,
            load_average,
        };
        results::save(&results::results_dir(), "shared_quota", &report)
            .map_err(|e| format!("could not save the results: {e}"))?;
        return Ok(());
    }
    let redis = redis_server::RedisServer::start();
    let (redis, limiter) = tokio::task::spawn_blocking(move || {
        let figures = limiter_figures(&redis);
        (redis, figures)
    })
    .await
    .map_err(|e| e.to_string())?;
    let limiter = limiter?;
    println!(
        "redis reserve+commit: answered p50 {:.0} us p99 {:.0} us; both applied p50 {:.0} us p99 {:.0} us; \
         {:.0}/s from one thread, {:.0}/s from {} threads; Redis {} us per script",
        limiter.reserve_p50_us,
        limiter.reserve_p99_us,
        limiter.p50_us,
        limiter.p99_us,
        limiter.sequential_per_s,
        limiter.parallel_per_s,
        limiter.threads,
        limiter
            .redis_us_per_script
            .map_or_else(|| "n/a".to_owned(), |us| format!("{us:.1}"))
    );
    let mut runs = Vec::new();
    for workload in workloads() {
        for processes in PROCESSES {
            let run = run(&workload, processes, &redis).await?;
            println!(
                "{:<52} K={processes}  completed {:>3}/{:<3} 429s {:>3}  elapsed {:>6.2} s  minimum {:>6.2} s  efficiency {:.3}",
                run.workload,
                run.completed,
                run.requests,
                run.rate_limited,
                run.elapsed_s,
                run.minimum_s,
                run.efficiency()
            );
            runs.push(run);
        }
    }
    let quota = QuotaReport {
        minute_s: MINUTE.as_secs_f64(),
        setup: format!(
            "K worker processes, each a GroqClient built with .redis(url) on one local \
             redis-server and given every K-th request of the workload, all submitting at once \
             (when every process is ready), against one groq-mock on 127.0.0.1 with the free-plan limits in a \
             {} s minute; elapsed runs from the first process's first submission to the last result of any process.",
            MINUTE.as_secs_f64()
        ),
        runs,
    };
    let report = SharedQuotaReport {
        skipped: None,
        quota: Some(quota),
        limiter: Some(limiter),
        load_average,
    };
    let path = results::save(&results::results_dir(), "shared_quota", &report)
        .map_err(|e| format!("could not save the results: {e}"))?;
    println!("shared_quota: results in {}", path.display());
    Ok(())
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            println!("shared_quota: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match std::env::var(WORKER) {
        Ok(spec) => runtime.block_on(worker(&spec)),
        Err(_) => runtime.block_on(run_all()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("shared_quota: {message}");
            ExitCode::FAILURE
        }
    }
}
