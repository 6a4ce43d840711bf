//! `GroqClient::forward` against the Groq emulator over TCP: bodies go out as given, answers
//! come back as bytes, reservations are settled, and a queue deadline takes a waiting
//! request out uncharged.

use std::time::Duration;

use groq_client::{
    Config, Dimension, Error, ForwardBody, ForwardError, ForwardRequest, GroqClient, ModelConfig,
};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_mock::{MockLimits, MockServer};

const KEY: &str = "gsk_forward_test_0123456789";
const MODEL: &str = "llama-3.1-8b-instant";
const MINUTE: Duration = Duration::from_secs(1);

async fn setup(rpm: u64) -> (MockServer, GroqClient) {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(
            MODEL,
            MockLimits::unlimited()
                .rpm(rpm)
                .tpm(100_000)
                .context_window(8_192),
        )
        .minute_length(MINUTE)
        .start()
        .await
        .unwrap();
    let limits = Limits::unlimited()
        .with_requests_per_minute(Rate::new(rpm, MINUTE).unwrap())
        .with_tokens_per_minute(Rate::new(100_000, MINUTE).unwrap());
    let config = Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(KEY)
        .unknown_models(UnknownModelPolicy::Reject)
        .model(
            ModelConfig::new(MODEL)
                .with_limits(limits)
                .with_context_window(8_192),
        )
        .build()
        .unwrap();
    let client = GroqClient::builder()
        .config(config)
        .limiter_margin(Duration::from_millis(100))
        .build()
        .unwrap();
    (server, client)
}

fn body(marker: &str, extra: &str) -> String {
    format!(
        r#"{{"messages":[{{"role":"user","content":"[req:{marker}] hi"}}], "model":"{MODEL}", "max_completion_tokens":50{extra}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_forward_returns_the_servers_bytes_and_settles_with_its_usage() {
    let (server, client) = setup(100).await;
    let call = client
        .forward(ForwardRequest::chat(body(
            "json",
            r#", "mock_completion_tokens": 7"#,
        )))
        .unwrap();
    assert_eq!(call.model(), MODEL);
    assert!(!call.is_stream());
    assert!(call.estimate().total >= 50);
    let response = call.send().await.unwrap();
    assert_eq!(response.status.as_u16(), 200);
    assert!(response.headers.contains_key("x-request-id"));
    let ForwardBody::Full(bytes) = response.body else {
        panic!("a whole body")
    };
    let reply: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(reply["usage"]["completion_tokens"], 7);
    let usage = response.usage.expect("the usage was read");
    assert_eq!(usage.completion_tokens, 7);
    // Settled: nothing pending, nothing in flight (the server's headers then set `used`).
    let limits = client.limits(MODEL).unwrap();
    assert_eq!(limits.get(Dimension::TokensPerMinute).unwrap().pending, 0);
    assert_eq!(limits.in_flight, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_forward_passes_the_events_through_and_settles_at_the_end() {
    let (server, client) = setup(100).await;
    let call = client
        .forward(ForwardRequest::chat(body(
            "sse",
            r#", "stream": true, "mock_completion_tokens": 5"#,
        )))
        .unwrap();
    assert!(call.is_stream());
    let response = call.send().await.unwrap();
    let ForwardBody::Stream(mut stream) = response.body else {
        panic!("a stream")
    };
    let mut text = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| {
        futures_core::Stream::poll_next(std::pin::Pin::new(&mut *stream), cx)
    })
    .await
    {
        text.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(text).unwrap();
    assert!(text.starts_with("data: {"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let usage = stream.usage().expect("the tap read x_groq.usage");
    assert_eq!(usage.completion_tokens, 5);
    let limits = client.limits(MODEL).unwrap();
    assert_eq!(limits.get(Dimension::TokensPerMinute).unwrap().pending, 0);
    assert_eq!(limits.in_flight, 0);
    assert_eq!(client.queue_status().in_flight, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_status_passes_through_and_bad_input_is_refused_before_the_queue() {
    let (server, client) = setup(100).await;
    // `n: 2` is refused by the server: its 400 comes back as sent.
    let response = client
        .forward(ForwardRequest::chat(body("n", r#", "n": 2"#)))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status.as_u16(), 400);
    let ForwardBody::Full(bytes) = response.body else {
        panic!("a whole body")
    };
    let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");

    assert!(matches!(
        client.forward(ForwardRequest::chat("{oops")),
        Err(ForwardError::InvalidBody(_))
    ));
    assert!(matches!(
        client.forward(ForwardRequest::post("/embeddings", body("e", ""))),
        Err(ForwardError::UnsupportedPath(_))
    ));
    let unknown = body("u", "").replace(MODEL, "no-such-model");
    match client.forward(ForwardRequest::chat(unknown)) {
        Err(ForwardError::Pipeline(error)) => {
            assert!(matches!(*error, Error::ModelNotFound(_)))
        }
        other => panic!("expected ModelNotFound, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_deadline_takes_a_waiting_request_out_uncharged() {
    let (server, client) = setup(1).await;
    let first = client
        .forward(ForwardRequest::chat(body("first", "")))
        .unwrap();
    assert_eq!(first.send().await.unwrap().status.as_u16(), 200);
    let late = client
        .forward(ForwardRequest::chat(body("late", "")).queue_deadline(Duration::from_millis(100)))
        .unwrap();
    match late.send().await {
        Err(Error::Timeout(timeout)) => assert_eq!(timeout.after(), Duration::from_millis(100)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(client.queue_status().queued, 0);
    let limits = client.limits(MODEL).unwrap();
    assert_eq!(limits.get(Dimension::RequestsPerMinute).unwrap().pending, 0);
    assert!(server.stats().with_marker("late").next().is_none());
    server.shutdown().await;
}
