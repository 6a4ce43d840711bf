//! The input and output token caps (ITPM, OTPM) and cached prompt tokens, end to end against
//! the Groq emulator over TCP with a compressed minute.

use std::time::Duration;

use groq_client::{ChatRequest, Config, GroqClient, ModelConfig, RetryPolicy};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_mock::{MockLimits, MockServer};
use tokio::time::Instant;

const KEY: &str = "gsk_dimensions_test_0123456789";
const MODEL: &str = "llama-3.1-8b-instant";

fn config(server: &MockServer, limits: Limits) -> Config {
    Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(KEY)
        .unknown_models(UnknownModelPolicy::Reject)
        .model(ModelConfig::new(MODEL).with_limits(limits))
        .build()
        .unwrap()
}

fn client(config: Config) -> GroqClient {
    GroqClient::builder()
        .config(config)
        .limiter_margin(Duration::from_millis(300))
        .retry_policy(
            RetryPolicy::default()
                .with_base_delay(Duration::from_millis(20))
                .with_max_delay(Duration::from_millis(200))
                .with_max_attempts(8),
        )
        .jitter_seed(3)
        .build()
        .unwrap()
}

/// Words, `chars` characters of them, different for each `seed`.
fn prose(chars: usize, seed: usize) -> String {
    const WORDS: [&str; 12] = [
        "audio", "bucket", "limit", "minute", "prompt", "cache", "model", "reply", "token",
        "server", "window", "request",
    ];
    let mut text = String::new();
    let mut i = seed;
    while text.len() < chars {
        text.push_str(WORDS[i % WORDS.len()]);
        text.push(' ');
        i = i.wrapping_mul(7).wrapping_add(3);
    }
    text
}

/// Sends every request at once and checks that each one succeeds.
async fn run_all(client: &GroqClient, requests: Vec<ChatRequest>) {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(client.chat(request).into_future()))
        .collect();
    for task in tasks {
        let reply = task.await.unwrap();
        assert!(reply.is_ok(), "{reply:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_and_output_bound_chat_meets_no_429() {
    let minute = Duration::from_secs(1);
    let rate = |limit| Rate::new(limit, minute).unwrap();
    // The input cap admits about three prompts a minute and the output cap three budgets:
    // either one alone would draw 429s from a client that only knew TPM.
    let limits = Limits::unlimited()
        .with_requests_per_minute(rate(1_000))
        .with_tokens_per_minute(rate(100_000))
        .with_input_tokens_per_minute(rate(1_200))
        .with_output_tokens_per_minute(rate(400));
    let server = MockServer::builder()
        .api_key(KEY)
        .model(
            MODEL,
            MockLimits::unlimited()
                .rpm(1_000)
                .tpm(100_000)
                .itpm(1_200)
                .otpm(400)
                .context_window(131_072),
        )
        .minute_length(minute)
        .completion_tokens(20)
        .seed(5)
        .start()
        .await
        .unwrap();
    let client = client(config(&server, limits));
    let requests = (0..12)
        .map(|i| {
            ChatRequest::new(MODEL)
                .user(format!("[req:io-{i}] {}", prose(800, i)))
                .max_completion_tokens(120)
        })
        .collect();
    run_all(&client, requests).await;
    let stats = server.stats();
    assert_eq!(stats.rate_limited, 0, "{:?}", stats.by_status);
    assert_eq!(stats.audit.len(), 12);
    let snapshot = client.limits(MODEL).unwrap();
    assert_eq!(snapshot.in_flight, 0);
    server.shutdown().await;
}

/// Runs a workload whose prompts share a long system message against an emulator with the
/// prompt cache on or off; returns how long it took and the 429s it drew.
async fn shared_prefix_workload(prompt_cache: bool) -> (Duration, u64) {
    let minute = Duration::from_secs(1);
    let rate = |limit| Rate::new(limit, minute).unwrap();
    let limits = Limits::unlimited()
        .with_tokens_per_minute(rate(4_000))
        .with_input_tokens_per_minute(rate(4_000));
    let server = MockServer::builder()
        .api_key(KEY)
        .model(
            MODEL,
            MockLimits::unlimited()
                .tpm(4_000)
                .itpm(4_000)
                .context_window(131_072),
        )
        .minute_length(minute)
        .completion_tokens(10)
        .prompt_cache(prompt_cache)
        .seed(9)
        .start()
        .await
        .unwrap();
    let client = client(config(&server, limits));
    let system = prose(4_000, 1);
    // A first request fills the cache (and calibrates the counter); the rest share its prefix.
    let first = ChatRequest::new(MODEL)
        .system(system.clone())
        .user("[req:prefix-0] Say one word.")
        .max_completion_tokens(20);
    run_all(&client, vec![first]).await;
    let start = Instant::now();
    let requests = (1..16)
        .map(|i| {
            ChatRequest::new(MODEL)
                .system(system.clone())
                .user(format!("[req:prefix-{i}] Say one word."))
                .max_completion_tokens(20)
        })
        .collect();
    run_all(&client, requests).await;
    let elapsed = start.elapsed();
    let stats = server.stats();
    assert_eq!(stats.audit.len(), 16);
    server.shutdown().await;
    (elapsed, stats.rate_limited)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_prompt_tokens_given_back_finish_sooner_without_a_429() {
    let (cached, cached_429s) = shared_prefix_workload(true).await;
    let (uncached, uncached_429s) = shared_prefix_workload(false).await;
    assert_eq!(cached_429s, 0);
    assert_eq!(uncached_429s, 0);
    assert!(
        cached < uncached,
        "with the cache {cached:?}, without {uncached:?}"
    );
}
