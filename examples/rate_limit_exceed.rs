//! Rate-limit test, exceeding the limit: what happens when the client's idea of the limits is
//! wrong, and when a request can never fit.
//!
//! 1. The client is told the model allows 300 requests per minute, ten times what the server
//!    enforces (30), and sends 40 requests at once. The server answers some of them 429; each
//!    429 pauses the model for the wait the server names (`retry-after`) and puts the request
//!    back at the head of its queue. Every request still completes.
//! 2. The same with a client that allows no 429 retry (`max_rate_limit_retries(0)`): the
//!    refused requests fail at once with a rate-limit error, as in a client without a queue.
//! 3. A request whose completion budget alone exceeds the tokens-per-minute limit can never be
//!    admitted: it fails before anything is sent.
//!
//! Against the real API this sends about 100 requests and meets real 429s.
//!
//! ```text
//! cargo run -p groqchat --example rate_limit_exceed
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use groq_mock::MockLimits;
use groqchat::{ChatRequest, Error, GroqClient, Limits, Rate};
use tokio::time::Instant;

const MODEL: &str = "llama-3.1-8b-instant";
const REQUESTS: u32 = 40;

/// Sends `REQUESTS` tiny requests at once; returns how many succeeded and how many failed
/// with a rate-limit error.
async fn burst(client: &GroqClient, label: &str) -> common::BoxResult<(u32, u32)> {
    let start = Instant::now();
    let calls: Vec<_> = (1..=REQUESTS)
        .map(|i| {
            let request = ChatRequest::new(MODEL)
                .system("You are a calculator. Just return the numeric answer with no explanation.")
                .user(format!("What is {i}+{i}?"))
                .temperature(0.2)
                .max_completion_tokens(10);
            tokio::spawn(
                client
                    .chat(request)
                    .request_id(format!("{label}-{i}"))
                    .into_future(),
            )
        })
        .collect();
    let (mut ok, mut limited) = (0, 0);
    for call in calls {
        match call.await? {
            Ok(_) => ok += 1,
            Err(error) if error.is_rate_limited() => limited += 1,
            Err(error) => println!("  unexpected failure: {error}"),
        }
    }
    println!(
        "  {ok} succeeded, {limited} failed with a rate-limit error, in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    Ok((ok, limited))
}

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    // The client believes 300 requests per minute; the server enforces its own limits
    // (offline: the free plan's 30 per minute).
    let believed = Limits::unlimited()
        .with_requests_per_minute(Rate::per_minute(300))
        .with_tokens_per_minute(Rate::per_minute(6_000));
    let backend = common::Setup::new()
        .models(&[MODEL])
        .limits(MODEL, believed)
        .server_limits(
            MODEL,
            MockLimits::unlimited()
                .rpm(30)
                .tpm(6_000)
                .context_window(131_072),
        )
        .minute(Duration::from_secs(6))
        .connect()
        .await?;
    let client = backend.client.clone();

    println!("1. {REQUESTS} requests at once, the client configured with 10x the real limit");
    let met = common::count_429s(&client);
    burst(&client, "tolerant").await?;
    println!(
        "  429s met and recovered from: {}",
        met.load(Ordering::Relaxed)
    );

    println!("\n2. The same with no 429 retries allowed");
    let strict = GroqClient::builder()
        .config((*client.config()).clone())
        .max_rate_limit_retries(0)
        .build()?;
    burst(&strict, "strict").await?;
    strict.shutdown(groqchat::ShutdownMode::Drain).await;

    println!("\n3. A completion budget larger than the tokens-per-minute limit");
    let too_large = ChatRequest::new(MODEL)
        .user("Write a long essay.")
        .max_completion_tokens(7_000);
    match client.chat(too_large).await {
        Err(Error::RequestTooLarge(too_large)) => {
            let (dimension, requested, limit, from_server) = (
                too_large.dimension(),
                too_large.requested(),
                too_large.limit(),
                too_large.from_server(),
            );
            let tokens = |value: Option<u64>| {
                value.map_or_else(|| "unknown".to_owned(), |n| format!("{n} tokens"))
            };
            println!(
                "  refused {} sending: {} (requested {}, limit {})",
                if from_server {
                    "by the server after"
                } else {
                    "before"
                },
                dimension.map_or_else(|| "a limit".to_owned(), |d| d.to_string()),
                tokens(requested),
                tokens(limit)
            );
        }
        Err(error) => println!("  failed: {error}"),
        Ok(_) => println!("  unexpectedly accepted"),
    }

    if let Some(stats) = backend.mock_stats() {
        println!(
            "\nThe emulator answered {} requests, {} of them with 429.",
            stats.responses, stats.rate_limited
        );
    }
    backend.close().await;
    Ok(())
}
