//! Memory per queued request: 100,000 short chat calls held in `GroqClient`'s queue (the
//! model is paused, so none is sent), measured as the growth of the process's resident set
//! (`VmRSS`, and the peak `VmHWM`, from `/proc/self/status`). Each call is a spawned task, as
//! an application would hold it, so the figure covers everything one waiting call costs: the
//! caller's future, the request and its serialized body, the queue entry and the bookkeeping.
//! Writes `memory.json` to the results directory.
//!
//! Run with `cargo bench -p groqchat-benches --bench memory` (or `cargo xtask bench`).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Duration;

use groq_client::{ChatRequest, Config, GroqClient, ModelConfig, ShutdownMode};
use groq_config::{Limits, Rate};
use groqchat_benches::machine::resident_kib;
use groqchat_benches::results::{self, MemoryReport};

const MODEL: &str = "llama-3.1-8b-instant";
const QUEUED: u64 = 100_000;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            println!("memory: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("memory: {message}");
            ExitCode::FAILURE
        }
    }
}

fn request(i: u64) -> ChatRequest {
    ChatRequest::new(MODEL)
        .user(format!("Name a prime number above {i:06}, in one word."))
        .max_completion_tokens(16)
}

async fn run() -> Result<(), String> {
    let limits = Limits::unlimited().with_requests_per_minute(
        Rate::new(30, Duration::from_secs(60)).map_err(|e| format!("limit: {e}"))?,
    );
    let config = Config::builder()
        .clear_models()
        // Nothing is sent: the model stays paused for the whole measurement.
        .base_url("http://127.0.0.1:9/openai/v1")
        .api_key("gsk_bench_0123456789abcdef")
        .model(ModelConfig::new(MODEL).with_limits(limits))
        .build()
        .map_err(|e| format!("config: {e}"))?;
    let client = GroqClient::builder()
        .config(config)
        .lane_capacity(usize::try_from(QUEUED * 2).unwrap_or(usize::MAX))
        .build()
        .map_err(|e| format!("client: {e}"))?;
    // Load the tokenizer before the baseline: it is a one-off cost, not a per-request one.
    let _ = client.count_tokens(&request(0));
    // Close the model for longer than the benchmark runs, as a 429 would.
    let limiter = client.limiter();
    let until = limiter.timer().now() + Duration::from_secs(3_600);
    limiter.penalize(MODEL, None, until);

    let (rss_before_kib, _) = resident_kib().ok_or("/proc/self/status is not readable")?;
    let calls: Vec<_> = (0..QUEUED)
        .map(|i| tokio::spawn(client.chat(request(i)).into_future()))
        .collect();
    // Let every call reach its queue.
    let mut all_queued = false;
    for _ in 0..1_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if client.queue_status().queued as u64 >= QUEUED {
            all_queued = true;
            break;
        }
    }
    let queued = client.queue_status().queued as u64;
    let (rss_queued_kib, peak_kib) = resident_kib().ok_or("/proc/self/status is not readable")?;
    // The harness's share: as many bare tasks, each awaiting a future that never completes.
    let bare: Vec<_> = (0..QUEUED)
        .map(|_| tokio::spawn(std::future::pending::<()>()))
        .collect();
    tokio::task::yield_now().await;
    let (rss_with_bare_tasks_kib, _) = resident_kib().ok_or("/proc/self/status is not readable")?;
    for task in &bare {
        task.abort();
    }
    let report = MemoryReport {
        queued,
        prompt_bytes: request(0)
            .message_list()
            .first()
            .and_then(|message| message.content())
            .map_or(0, |content| content.text().len() as u64),
        rss_before_kib,
        rss_queued_kib,
        peak_kib,
        rss_with_bare_tasks_kib,
        all_queued,
    };
    println!(
        "{} calls queued: resident {} KiB -> {} KiB (peak {} KiB): {:.0} bytes per queued request, of which a bare task takes {:.0}",
        report.queued,
        report.rss_before_kib,
        report.rss_queued_kib,
        report.peak_kib,
        report.bytes_per_request(),
        report.bytes_per_bare_task()
    );
    if !all_queued {
        return Err(format!("only {queued} of {QUEUED} calls reached the queue"));
    }
    let path = results::save(&results::results_dir(), "memory", &report)
        .map_err(|e| format!("could not save the results: {e}"))?;
    println!("memory: results in {}", path.display());

    let shutdown = client.shutdown(ShutdownMode::Cancel).await;
    drop(shutdown);
    for call in calls {
        let _ = call.await;
    }
    Ok(())
}
