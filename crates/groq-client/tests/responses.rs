//! The Responses API against the Groq emulator, paced and settled like chat.

use std::time::Duration;

use groq_client::{Config, Dimension, GroqClient, ModelConfig, ResponseRequest};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_mock::{MockLimits, MockServer};

const KEY: &str = "gsk_responses_test_0123456789";
const MODEL: &str = "openai/gpt-oss-20b";

async fn setup(tpm: u64) -> (MockServer, GroqClient) {
    let minute = Duration::from_millis(500);
    let server = MockServer::builder()
        .api_key(KEY)
        .model(MODEL, MockLimits::unlimited().tpm(tpm))
        .minute_length(minute)
        .completion_tokens(12)
        .start()
        .await
        .unwrap();
    let config =
        Config::builder()
            .clear_models()
            .base_url(server.base_url())
            .api_key(KEY)
            .unknown_models(UnknownModelPolicy::Reject)
            .model(ModelConfig::new(MODEL).with_limits(
                Limits::unlimited().with_tokens_per_minute(Rate::new(tpm, minute).ok()),
            ))
            .build()
            .unwrap();
    let client = GroqClient::builder()
        .config(config)
        .limiter_margin(Duration::from_millis(100))
        .build()
        .unwrap();
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_is_created_and_settled_from_its_usage() {
    let (server, client) = setup(100_000).await;
    let response = client
        .create_response(
            &ResponseRequest::new(MODEL, "Tell me about rate limits.")
                .instructions("Be brief.")
                .max_output_tokens(200),
        )
        .await
        .unwrap();
    assert_eq!(response.status, "completed");
    assert!(!response.output_text().is_empty());
    let usage = response.usage.clone().unwrap();
    assert_eq!(usage.output_tokens, 12);
    let limits = client.limits(MODEL).unwrap();
    let tpm = limits
        .dimensions
        .iter()
        .find(|d| d.dimension == Dimension::TokensPerMinute)
        .unwrap();
    assert_eq!(tpm.pending, 0, "settled");
    assert_eq!(limits.in_flight, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_response_yields_deltas_then_the_completed_response() {
    let (server, client) = setup(100_000).await;
    let mut stream = client
        .create_response_stream(&ResponseRequest::new(MODEL, "Stream please").max_output_tokens(50))
        .await
        .unwrap();
    let mut text = String::new();
    let mut kinds = Vec::new();
    while let Some(event) = stream.next_event().await {
        let event = event.unwrap();
        if let Some(delta) = event.delta() {
            text.push_str(delta);
        }
        kinds.push(event.kind);
    }
    assert_eq!(kinds.first().map(String::as_str), Some("response.created"));
    assert_eq!(kinds.last().map(String::as_str), Some("response.completed"));
    let completed = stream.completed().unwrap();
    assert_eq!(completed.output_text(), text);
    assert_eq!(client.limits(MODEL).unwrap().in_flight, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_bound_burst_of_responses_meets_no_429() {
    let (server, client) = setup(2_000).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .create_response(
                        &ResponseRequest::new(MODEL, format!("question number {i}"))
                            .max_output_tokens(400),
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = server.stats();
    assert_eq!(stats.rate_limited, 0, "{:?}", stats.by_status);
    assert_eq!(stats.audit.len(), 10);
    server.shutdown().await;
}
