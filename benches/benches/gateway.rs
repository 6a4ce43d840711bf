//! The gateway (`groqchat serve`): what it adds in front of the emulator, and how exactly
//! it paces a quota shared by several processes. Writes `gateway.json` to the results
//! directory.
//!
//! 1. **Overhead.** Against `groq-mock` with no limits, a raw hyper-util client sends the
//!    same chat body directly to the emulator and through the gateway (client → gateway →
//!    emulator), at concurrency 1 and 64; rounds alternate between the two paths. The
//!    client, the gateway and the emulator each run on a runtime of their own, on threads
//!    that share the machine's two cores.
//! 2. **Quota, several processes.** The burst workload (120 short requests, 30 RPM in a 3 s
//!    minute) split over 8 client processes (this binary, re-run as workers) that fire
//!    their share at once through one gateway: 429s seen and efficiency against the
//!    theoretical minimum.
//!
//! Run with `cargo bench -p groqchat-benches --bench gateway` (or `cargo xtask bench`).
#![allow(clippy::print_stdout)]

use std::future::Future;
use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use groq_client::{Config, ModelConfig, RetryPolicy};
use groq_config::{Limits, Rate};
use groq_gateway::{Gateway, GatewaySettings};
use groq_mock::{MockLimits, MockServer};
use groqchat_benches::results::{self, GatewayOverheadLevel, GatewayQuotaRun, GatewayReport, Side};
use groqchat_benches::stats::summarize;
use groqchat_benches::workload::{API_KEY, COMPLETION_TOKENS, MINUTE, SMALL, Workload, free_plan};
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Set in a worker process: the gateway's base URL.
const WORKER_URL: &str = "GROQCHAT_GATEWAY_BENCH_URL";
/// Set in a worker process: its index and the number of workers.
const WORKER_SLOT: &str = "GROQCHAT_GATEWAY_BENCH_SLOT";
const PROCESSES: usize = 8;
/// (concurrency, requests per round).
const LEVELS: [(u64, u64); 2] = [(1, 2_000), (64, 8_000)];
const ROUNDS: u64 = 2;
const WARM_UP: u64 = 500;
const POOL: usize = 64;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn main() -> ExitCode {
    if let (Ok(url), Ok(slot)) = (std::env::var(WORKER_URL), std::env::var(WORKER_SLOT)) {
        return worker(&url, &slot);
    }
    // `cargo bench` passes `--bench`; anything else (e.g. a test filter) is ignored.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("gateway: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime_on_thread<F, T>(name: &str, make: F) -> Result<T, String>
where
    F: FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<T, String>>>> + Send + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = sender.send(Err(format!("runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let value = make().await;
                let _ = sender.send(value);
                // Serve until the process exits.
                std::future::pending::<()>().await;
            });
        })
        .map_err(|e| format!("thread {name}: {e}"))?;
    receiver
        .recv()
        .map_err(|_| format!("the {name} thread stopped"))?
}

/// The emulator on its own thread: no limits, or the burst workload's free plan.
fn start_mock(limited: bool) -> Result<SocketAddr, String> {
    runtime_on_thread("mock", move || {
        Box::pin(async move {
            let limits = if limited {
                free_plan(SMALL).unwrap_or_else(MockLimits::unlimited)
            } else {
                MockLimits::unlimited().context_window(131_072)
            };
            let server = MockServer::builder()
                .api_key(API_KEY)
                .model(SMALL, limits)
                .minute_length(MINUTE)
                .completion_tokens(COMPLETION_TOKENS)
                .start()
                .await
                .map_err(|e| format!("emulator: {e}"))?;
            let addr = server.addr();
            // Kept alive for the whole process.
            std::mem::forget(server);
            Ok(addr)
        })
    })
}

/// The client's limits for the burst workload: the free plan in the emulator's minute.
fn compressed_free_plan() -> Result<Limits, String> {
    let rate = |limit, period| Rate::new(limit, period).map_err(|e| e.to_string());
    let day = MINUTE * 1_440;
    Ok(Limits::unlimited()
        .with_requests_per_minute(rate(30, MINUTE)?)
        .with_requests_per_day(rate(14_400, day)?)
        .with_tokens_per_minute(rate(6_000, MINUTE)?)
        .with_tokens_per_day(rate(500_000, day)?))
}

/// A gateway on its own thread in front of the emulator at `mock`.
fn start_gateway(mock: SocketAddr, limits: Limits) -> Result<SocketAddr, String> {
    runtime_on_thread("gateway", move || {
        Box::pin(async move {
            let model = ModelConfig::new(SMALL)
                .with_limits(limits)
                .with_context_window(131_072);
            let config = Config::builder()
                .clear_models()
                .base_url(format!("http://{mock}/openai/v1"))
                .api_key(API_KEY)
                .model(model)
                .build()
                .map_err(|e| format!("configuration: {e}"))?;
            let settings = GatewaySettings::default()
                .addr(SocketAddr::from(([127, 0, 0, 1], 0)))
                .queue_bound(100_000);
            let client = Gateway::client(config, &settings)
                .limiter_margin(Duration::from_millis(100))
                .retry_policy(
                    RetryPolicy::default()
                        .with_base_delay(Duration::from_millis(50))
                        .with_max_attempts(8),
                )
                .build()
                .map_err(|e| format!("client: {e}"))?;
            let gateway = Gateway::builder(client)
                .settings(settings)
                .start()
                .await
                .map_err(|e| format!("gateway: {e}"))?;
            let addr = gateway.addr();
            std::mem::forget(gateway);
            Ok(addr)
        })
    })
}

fn body(i: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"model":"{SMALL}","messages":[{{"role":"system","content":"You are terse."}},{{"role":"user","content":"Name a prime number above {}, in one word."}}],"max_completion_tokens":16}}"#,
        i % 1_000
    ))
}

async fn post(client: &HttpClient, url: &str, body: Bytes) -> Result<u16, String> {
    let request = Request::post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {API_KEY}"))
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

/// `requests` posts to `url`, `concurrency` at a time: the elapsed time and each latency.
async fn measure(
    client: &HttpClient,
    url: &str,
    concurrency: u64,
    requests: u64,
) -> Result<(Duration, Vec<Duration>), String> {
    let next = Arc::new(AtomicU64::new(0));
    #[allow(clippy::disallowed_methods)] // a benchmark harness measures real time
    let started = std::time::Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let next = Arc::clone(&next);
        let client = client.clone();
        let url = url.to_owned();
        workers.push(tokio::task::spawn_local(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return Ok::<_, String>(latencies);
                }
                #[allow(clippy::disallowed_methods)] // a benchmark harness measures real time
                let sent = std::time::Instant::now();
                let status = post(&client, &url, body(i)).await?;
                if status != 200 {
                    return Err(format!("status {status} from {url}"));
                }
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(
            worker
                .await
                .map_err(|e| format!("a worker failed: {e}"))??,
        );
    }
    Ok((started.elapsed(), all))
}

fn side(time: Duration, latencies: &mut [Duration]) -> Side {
    let summary = summarize(latencies);
    Side {
        requests_per_s: latencies.len() as f64 / time.as_secs_f64().max(1e-9),
        p50_us: summary.p50_us,
        p99_us: summary.p99_us,
    }
}

/// CPU time (user + system) each named thread of this process has used, in seconds, from
/// `/proc/self/task` (empty where there is no such file).
fn thread_cpu() -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        // Fields after the command name: state is the first, utime the 12th, stime the 13th.
        if let Some((_, rest)) = stat.rsplit_once(')') {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            // Timer ticks are 1/100 s on Linux.
            out.push((name.trim().to_owned(), (ticks(11) + ticks(12)) / 100.0));
        }
    }
    out
}

/// CPU seconds the thread named `name` used between two readings.
fn cpu_of(name: &str, before: &[(String, f64)], after: &[(String, f64)]) -> f64 {
    let read = |list: &[(String, f64)]| {
        list.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .sum::<f64>()
    };
    (read(after) - read(before)).max(0.0)
}

fn overhead() -> Result<Vec<GatewayOverheadLevel>, String> {
    let mock = start_mock(false)?;
    let gateway = start_gateway(mock, Limits::unlimited())?;
    let direct = format!("http://{mock}/openai/v1/chat/completions");
    let through = format!("http://{gateway}/openai/v1/chat/completions");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(POOL)
            .build_http();
        measure(&client, &direct, 8, WARM_UP).await?;
        measure(&client, &through, 8, WARM_UP).await?;
        let mut levels = Vec::new();
        for (concurrency, requests) in LEVELS {
            let (mut direct_time, mut through_time) = (Duration::ZERO, Duration::ZERO);
            let (mut direct_lat, mut through_lat) = (Vec::new(), Vec::new());
            let (mut gateway_cpu, mut mock_cpu) = (0.0, 0.0);
            for _ in 0..ROUNDS {
                let before = thread_cpu();
                let (time, latencies) = measure(&client, &direct, concurrency, requests).await?;
                mock_cpu += cpu_of("mock", &before, &thread_cpu());
                direct_time += time;
                direct_lat.extend(latencies);
                let before = thread_cpu();
                let (time, latencies) = measure(&client, &through, concurrency, requests).await?;
                gateway_cpu += cpu_of("gateway", &before, &thread_cpu());
                through_time += time;
                through_lat.extend(latencies);
            }
            let per_request = |seconds: f64| seconds * 1e6 / (requests * ROUNDS) as f64;
            let direct = side(direct_time, &mut direct_lat);
            let gateway = side(through_time, &mut through_lat);
            println!(
                "gateway overhead c={concurrency}: direct p50 {:.0} us p99 {:.0} us {:.0}/s; through the gateway p50 {:.0} us p99 {:.0} us {:.0}/s",
                direct.p50_us,
                direct.p99_us,
                direct.requests_per_s,
                gateway.p50_us,
                gateway.p99_us,
                gateway.requests_per_s
            );
            println!(
                "gateway overhead c={concurrency}: CPU per request: gateway {:.1} us, emulator {:.1} us",
                per_request(gateway_cpu),
                per_request(mock_cpu)
            );
            levels.push(GatewayOverheadLevel {
                concurrency,
                requests: requests * ROUNDS,
                direct,
                gateway,
                gateway_cpu_us: per_request(gateway_cpu),
                mock_cpu_us: per_request(mock_cpu),
            });
        }
        Ok(levels)
    })
}

/// A worker process: sends its share of the burst workload at once, prints one status per
/// line.
fn worker(url: &str, slot: &str) -> ExitCode {
    let Some((index, count)) = slot
        .split_once('/')
        .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
    else {
        println!("bad {WORKER_SLOT}: {slot}");
        return ExitCode::FAILURE;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    let local = tokio::task::LocalSet::new();
    let outcome: Result<Vec<u16>, String> = local.block_on(&runtime, async {
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(POOL)
            .build_http();
        let workload = Workload::burst();
        let mut calls = Vec::new();
        for request in workload.requests.iter().skip(index).step_by(count) {
            let body = serde_json::to_vec(&request.chat_request()).map_err(|e| e.to_string())?;
            let client = client.clone();
            let url = format!("{url}/chat/completions");
            calls.push(tokio::task::spawn_local(async move {
                post(&client, &url, Bytes::from(body)).await
            }));
        }
        let mut statuses = Vec::new();
        for call in calls {
            statuses.push(call.await.map_err(|e| e.to_string())??);
        }
        Ok(statuses)
    });
    match outcome {
        Ok(statuses) => {
            for status in statuses {
                println!("{status}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            println!("error {message}");
            ExitCode::FAILURE
        }
    }
}

fn quota() -> Result<GatewayQuotaRun, String> {
    let mock = start_mock(true)?;
    let gateway = start_gateway(mock, compressed_free_plan()?)?;
    let url = format!("http://{gateway}/openai/v1");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let workload = Workload::burst();
    let minimum = workload.minimum().map_err(|e| e.to_string())?;
    #[allow(clippy::disallowed_methods)] // a benchmark harness measures real time
    let started = std::time::Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            Command::new(&exe)
                .env(WORKER_URL, &url)
                .env(WORKER_SLOT, format!("{i}/{PROCESSES}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("worker {i}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut statuses = Vec::new();
    for child in children {
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!("a worker failed: {text}"));
        }
        statuses.extend(text.lines().filter_map(|l| l.trim().parse::<u16>().ok()));
    }
    let elapsed = started.elapsed();
    let stats_url = format!("http://{mock}/_mock/stats");
    let rate_limited = mock_rate_limited(&stats_url)?;
    let run = GatewayQuotaRun {
        processes: PROCESSES as u64,
        requests: workload.requests.len() as u64,
        completed: statuses.iter().filter(|s| **s == 200).count() as u64,
        rate_limited_upstream: rate_limited,
        rate_limited_clients: statuses.iter().filter(|s| **s == 429).count() as u64,
        elapsed_s: elapsed.as_secs_f64(),
        minimum_s: minimum.as_secs_f64(),
    };
    println!(
        "gateway quota: {} processes, {}/{} completed, {} 429s upstream, {} to clients, {:.2} s against a minimum of {:.2} s (efficiency {:.3})",
        run.processes,
        run.completed,
        run.requests,
        run.rate_limited_upstream,
        run.rate_limited_clients,
        run.elapsed_s,
        run.minimum_s,
        run.efficiency()
    );
    Ok(run)
}

/// The emulator's count of 429s, from `GET /_mock/stats`.
fn mock_rate_limited(url: &str) -> Result<u64, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?;
        let response = client.get(uri).await.map_err(|e| e.to_string())?;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let stats: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        stats["rate_limited"]
            .as_u64()
            .ok_or_else(|| format!("no rate_limited in the emulator's stats: {stats}"))
    })
}

fn run() -> Result<(), String> {
    let levels = overhead()?;
    let quota = quota()?;
    let report = GatewayReport {
        setup: format!(
            "raw hyper-util client (pool {POOL}) → groq-gateway → groq-mock (no limits), against \
             the same client → groq-mock; {ROUNDS} alternating rounds per path and concurrency; \
             client, gateway and emulator each on a single-threaded runtime of its own, sharing \
             the machine's cores. Quota: the burst workload split over {PROCESSES} client \
             processes through one gateway, free-plan limits in a {} s minute",
            MINUTE.as_secs_f64()
        ),
        levels,
        quota,
    };
    let dir = results::results_dir();
    let path = results::save(&dir, "gateway", &report).map_err(|e| e.to_string())?;
    println!("gateway: wrote {}", path.display());
    Ok(())
}
