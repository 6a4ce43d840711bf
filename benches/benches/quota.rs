//! Quota efficiency: three workloads pushed through `GroqClient` against `groq-mock` with
//! free-plan limits in a compressed minute. For each: completed, 429s, elapsed, the
//! theoretical minimum and where the rest of the time went. Writes `quota.json` to the
//! results directory.
//!
//! Run with `cargo bench -p groqchat-benches --bench quota` (or `cargo xtask bench`).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Duration;

use groq_client::{Config, GroqClient, ModelConfig};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_mock::{MockLimits, MockServer};
use groqchat_benches::results::{self, QuotaReport, QuotaRun};
use groqchat_benches::workload::{
    API_KEY, COMPLETION_TOKENS, LARGE, MINUTE, SMALL, Workload, free_plan,
};

/// One way of running the workloads: the client's limiter margin and the emulated network.
#[derive(Debug, Clone, Copy)]
struct Setup {
    /// The limiter margin (`GroqClientBuilder::limiter_margin`).
    margin: Duration,
    /// Latency added before the emulator handles each request, uniform in the range: the trip
    /// to a real server, with its jitter.
    latency: Option<(Duration, Duration)>,
}

/// The setups measured: the default margin on loopback, a smaller margin on loopback, and the
/// default margin behind a jittery network.
const SETUPS: [Setup; 3] = [
    Setup {
        margin: Duration::from_millis(100),
        latency: None,
    },
    Setup {
        margin: Duration::from_millis(10),
        latency: None,
    },
    Setup {
        margin: Duration::from_millis(100),
        latency: Some((Duration::from_millis(20), Duration::from_millis(60))),
    },
];

impl Setup {
    fn describe(&self) -> String {
        let network = match self.latency {
            None => "loopback".to_owned(),
            Some((min, max)) => format!("+{}-{} ms latency", min.as_millis(), max.as_millis()),
        };
        format!("groqchat, margin {} ms, {network}", self.margin.as_millis())
    }
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            println!("quota: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_all()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("quota: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run_all() -> Result<(), String> {
    let mut runs = Vec::new();
    for workload in [
        Workload::burst(),
        Workload::long_prompts(),
        Workload::mixed(),
    ] {
        for setup in SETUPS {
            let run = run_workload(&workload, setup).await?;
            println!(
                "{:<52} {:<42} completed {:>3}/{:<3} 429s {:>3}  elapsed {:>6.2} s  minimum {:>6.2} s  efficiency {:.3}",
                run.workload,
                run.client,
                run.completed,
                run.requests,
                run.rate_limited,
                run.elapsed_s,
                run.minimum_s,
                run.efficiency()
            );
            for note in &run.notes {
                println!("    {note}");
            }
            runs.push(run);
        }
    }
    let report = QuotaReport {
        minute_s: MINUTE.as_secs_f64(),
        setup: format!(
            "groq-mock on 127.0.0.1 with a minute of {} s (a day of 1,440 such minutes); \
             free-plan limits: {SMALL} 30 RPM, 14,400 RPD, 6,000 TPM, 500,000 TPD; {LARGE} 30 \
             RPM, 1,000 RPD, 12,000 TPM, 100,000 TPD. Every request asks for \
             max_completion_tokens 100 and gets a {COMPLETION_TOKENS}-token reply (the rest is \
             refunded). GroqClient with the same limits in its configuration, its default \
             token counter (cl100k with calibration) and retry policy, and the limiter margin \
             shown. With added latency, the emulator waits before handling each request (after \
             validation, before charging the limits), as a network trip of that length would.",
            MINUTE.as_secs_f64()
        ),
        runs,
    };
    let path = results::save(&results::results_dir(), "quota", &report)
        .map_err(|e| format!("could not save the results: {e}"))?;
    println!("quota: results in {}", path.display());
    Ok(())
}

/// The client-side limits matching the emulator's.
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

async fn start_mock(setup: Setup) -> Result<(MockServer, Config), String> {
    let mut server = MockServer::builder()
        .api_key(API_KEY)
        .minute_length(MINUTE)
        .completion_tokens(COMPLETION_TOKENS)
        .seed(7);
    if let Some((min, max)) = setup.latency {
        server = server.latency(min, max);
    }
    let mut config = Config::builder()
        .clear_models()
        .api_key(API_KEY)
        .unknown_models(UnknownModelPolicy::Reject);
    for model in [SMALL, LARGE] {
        let limits = free_plan(model).ok_or_else(|| format!("no limits for {model}"))?;
        config = config.model(ModelConfig::new(model).with_limits(client_limits(&limits)?));
        server = server.model(model, limits);
    }
    let server = server
        .start()
        .await
        .map_err(|e| format!("the emulator did not start: {e}"))?;
    let config = config
        .base_url(server.base_url())
        .build()
        .map_err(|e| format!("the client configuration is invalid: {e}"))?;
    Ok((server, config))
}

async fn run_workload(workload: &Workload, setup: Setup) -> Result<QuotaRun, String> {
    let minimum = workload
        .minimum()
        .map_err(|e| format!("{}: {e}", workload.name))?;
    let (server, config) = start_mock(setup).await?;
    let client = GroqClient::builder()
        .config(config)
        .limiter_margin(setup.margin)
        .jitter_seed(7)
        .build()
        .map_err(|e| format!("the client could not be built: {e}"))?;

    // What the client believes the prompts cost before any reply has calibrated it.
    let server_prompt: u64 = workload
        .requests
        .iter()
        .map(|r| r.job().prompt_tokens)
        .sum();
    let first_estimate: u64 = workload
        .requests
        .iter()
        .map(|r| client.count_tokens(&r.chat_request()).prompt)
        .sum();

    #[allow(clippy::disallowed_methods)] // a benchmark harness measures real time
    let started = std::time::Instant::now();
    let calls: Vec<_> = workload
        .requests
        .iter()
        .map(|request| tokio::spawn(client.chat(request.chat_request()).into_future()))
        .collect();
    let mut completed = 0;
    let mut first_error = None;
    for call in calls {
        match call.await {
            Ok(Ok(_)) => completed += 1,
            Ok(Err(e)) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                first_error.get_or_insert_with(|| format!("a call task failed: {e}"));
            }
        }
    }
    let elapsed = started.elapsed();
    let final_estimate: u64 = workload
        .requests
        .iter()
        .map(|r| client.count_tokens(&r.chat_request()).prompt)
        .sum();
    let stats = server.stats();
    server.shutdown().await;

    let first = stats.audit.iter().map(|a| a.at).min().unwrap_or_default();
    let last = stats.audit.iter().map(|a| a.at).max().unwrap_or_default();
    let span = last.saturating_sub(first);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut notes = vec![
        format!(
            "admissions spanned {:.0} ms against a minimum of {:.0} ms (pacing gap {:+.0} ms); \
             {:.0} ms went before the first admission and after the last one",
            ms(span),
            ms(minimum),
            ms(span) - ms(minimum),
            ms(elapsed.saturating_sub(span)),
        ),
        format!(
            "prompt estimate / server count: {:.3} before any reply (calibration prior), {:.3} after",
            ratio(first_estimate, server_prompt),
            ratio(final_estimate, server_prompt),
        ),
    ];
    if let Some(error) = first_error {
        notes.push(format!("first failure: {error}"));
    }
    Ok(QuotaRun {
        workload: workload.name.to_owned(),
        client: setup.describe(),
        requests: workload.requests.len() as u64,
        completed,
        rate_limited: stats.rate_limited,
        elapsed_s: elapsed.as_secs_f64(),
        minimum_s: minimum.as_secs_f64(),
        last_admission_s: span.as_secs_f64(),
        estimate_ratio: Some((
            ratio(first_estimate, server_prompt),
            ratio(final_estimate, server_prompt),
        )),
        notes,
    })
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
