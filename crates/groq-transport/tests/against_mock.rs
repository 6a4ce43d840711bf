//! `HyperTransport`, `SseStream` and `RetryPolicy` against `groq-mock`, the project's Groq
//! emulator, over TCP on 127.0.0.1.

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_core::Stream;
use groq_mock::{Faults, MockLimits, MockServer};
use groq_transport::{
    Attempt, HyperTransport, RetryDecision, RetryPolicy, SseStream, StopReason, Transport,
};

const MODEL: &str = "llama-3.1-8b-instant";
const KEY: &str = "gsk_transport_tests";

async fn mock(limits: MockLimits, faults: Faults) -> MockServer {
    MockServer::builder()
        .api_key(KEY)
        .model(MODEL, limits)
        .faults(faults)
        .start()
        .await
        .unwrap()
}

fn chat(server: &MockServer, key: &str, stream: bool) -> http::Request<Bytes> {
    let body = format!(
        r#"{{"model":"{MODEL}","stream":{stream},"messages":[{{"role":"user","content":"Say hello"}}]}}"#
    );
    http::Request::post(format!("{}/chat/completions", server.base_url()))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Bytes::from(body))
        .unwrap()
}

fn attempt() -> Attempt {
    Attempt::new(1, Duration::ZERO, SystemTime::UNIX_EPOCH)
}

#[tokio::test]
async fn json_chat_completion_round_trip() {
    let server = mock(MockLimits::unlimited().tpm(6_000), Faults::none()).await;
    let transport = HyperTransport::builder().build().unwrap();
    let response = transport.send(chat(&server, KEY, false)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.headers()["x-ratelimit-limit-tokens"], "6000");
    let body = response.into_body().collect_bytes(1 << 20).await.unwrap();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.starts_with("{\"id\":\"chatcmpl-"), "{text}");
    assert!(text.contains("\"choices\":[{"), "{text}");
    assert!(text.contains("\"usage\""), "{text}");
    assert_eq!(server.stats().count(200), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn streamed_chat_completion_ends_with_usage_and_done() {
    let server = mock(MockLimits::unlimited(), Faults::none()).await;
    let transport = HyperTransport::builder().build().unwrap();
    let response = transport.send(chat(&server, KEY, true)).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let mut events = SseStream::new(response.into_body());
    let mut chunks = Vec::new();
    while let Some(event) = tokio::time::timeout(
        Duration::from_secs(10),
        std::future::poll_fn(|cx| Pin::new(&mut events).poll_next(cx)),
    )
    .await
    .unwrap()
    {
        chunks.push(event.unwrap().data);
    }
    assert!(events.saw_done());
    assert!(chunks.len() >= 2, "{chunks:?}");
    assert!(
        chunks
            .iter()
            .all(|c| c.contains("\"object\":\"chat.completion.chunk\""))
    );
    let last = chunks.last().unwrap();
    assert!(
        last.contains("\"x_groq\"") && last.contains("\"usage\""),
        "{last}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn error_statuses_are_responses_that_the_policy_classifies() {
    let server = mock(MockLimits::unlimited().rpm(1), Faults::none()).await;
    let transport = HyperTransport::builder().build().unwrap();
    let policy = RetryPolicy::default();
    let mut rng = groq_transport::Jitter::with_seed(1);

    let response = transport
        .send(chat(&server, "gsk_wrong", false))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        policy.classify(response.status(), response.headers(), attempt(), &mut rng),
        RetryDecision::DoNotRetry {
            reason: StopReason::NotRetryable
        }
    );

    let first = transport.send(chat(&server, KEY, false)).await.unwrap();
    assert_eq!(first.status(), 200);
    first.into_body().collect_bytes(1 << 20).await.unwrap();
    let limited = transport.send(chat(&server, KEY, false)).await.unwrap();
    assert_eq!(limited.status(), 429);
    match policy.classify(limited.status(), limited.headers(), attempt(), &mut rng) {
        RetryDecision::RateLimited {
            retry_after: Some(wait),
        } => assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(60),
            "{wait:?}"
        ),
        other => panic!("expected a rate-limit decision, got {other:?}"),
    }
    assert_eq!(server.stats().rate_limited, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_are_retryable_errors() {
    let server = mock(MockLimits::unlimited(), Faults::none().drop_rate(1.0)).await;
    let transport = HyperTransport::builder().build().unwrap();
    let err = transport.send(chat(&server, KEY, false)).await.unwrap_err();
    assert!(err.is_retryable() && !err.is_timeout(), "{err:?}");
    let decision = RetryPolicy::default().classify_error(
        &err,
        attempt(),
        &mut groq_transport::Jitter::with_seed(1),
    );
    assert!(decision.is_retry(), "{decision:?}");
    assert!(server.stats().dropped >= 1);
    server.shutdown().await;
}
