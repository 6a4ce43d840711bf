//! A hostile server on 127.0.0.1: rate-limit headers and 429s that ask for absurd waits, and
//! `retry-after: 0` on every answer. Each test asserts the bound the client keeps, from the
//! limiter's state, never by waiting the absurd wait out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use groq_client::{ChatRequest, Config, Dimension, GroqClient, ModelConfig, RetryPolicy};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "gsk_hostile_test_key_0123456789";

/// A raw HTTP/1.1 server: the `n`th request (from 0) gets `reply(n)` (status line, extra
/// header lines, body), then the connection closes.
async fn serve(
    reply: impl Fn(usize) -> (u16, Vec<(String, String)>, String) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    serve_raw(move |n| {
        let (status, headers, body) = reply(n);
        let mut out = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            out += &format!("{name}: {value}\r\n");
        }
        out += "\r\n";
        out += &body;
        let writes: Writes = Box::new(std::iter::once((out.into_bytes(), Duration::ZERO)));
        writes
    })
    .await
}

/// Writes of a raw reply: bytes, each after a pause.
type Writes = Box<dyn Iterator<Item = (Vec<u8>, Duration)> + Send>;

/// A raw HTTP/1.1 server writing `reply(n)` to the `n`th request, piece by piece, until the
/// pieces run out or the client goes away.
async fn serve_raw(
    reply: impl Fn(usize) -> Writes + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let reply = Arc::new(reply);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let reply = Arc::clone(&reply);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then as much body as it announces.
                let (head_end, length) = loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while seen.len() < head_end + length {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                let n = counter.fetch_add(1, Ordering::SeqCst);
                for (bytes, pause) in reply(n) {
                    tokio::time::sleep(pause).await;
                    if socket.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/openai/v1"), count)
}

fn completion() -> String {
    serde_json::json!({
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
    .to_string()
}

fn limited(message: &str) -> String {
    serde_json::json!({"error": {"message": message, "type": "tokens", "code": "rate_limit_exceeded"}})
        .to_string()
}

fn client(base_url: &str, retry: RetryPolicy, rate_limit_retries: u32) -> GroqClient {
    let limits = Limits::unlimited()
        .with_requests_per_day(Rate::per_day(14_400))
        .with_tokens_per_minute(Rate::per_minute(6_000));
    let config = Config::builder()
        .clear_models()
        .base_url(base_url)
        .api_key(KEY)
        .model(
            ModelConfig::new("m")
                .with_limits(limits)
                .with_context_window(4_096u32),
        )
        .unknown_models(UnknownModelPolicy::Reject)
        .build()
        .unwrap();
    GroqClient::builder()
        .config(config)
        .limiter_margin(Duration::ZERO)
        .retry_policy(retry)
        .max_rate_limit_retries(rate_limit_retries)
        .build()
        .unwrap()
}

fn request() -> ChatRequest {
    ChatRequest::new("m")
        .user("Say hi.")
        .max_completion_tokens(20)
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

#[tokio::test]
async fn reset_headers_longer_than_their_period_cannot_stall_a_model() {
    let (url, _) = serve(|_| {
        (
            200,
            vec![
                header("x-ratelimit-limit-tokens", "6000"),
                header("x-ratelimit-remaining-tokens", "0"),
                header("x-ratelimit-reset-tokens", "99999h"),
                header("x-ratelimit-limit-requests", "14400"),
                header("x-ratelimit-remaining-requests", "0"),
                header("x-ratelimit-reset-requests", "9999h"),
            ],
            completion(),
        )
    })
    .await;
    let client = client(&url, RetryPolicy::default(), 2);
    client.chat(request()).await.unwrap();
    let snapshot = client.limits("m").unwrap();
    // The server said the buckets are empty: believed. Its resets are not: a tokens-per-minute
    // bucket refills within a minute, a requests-per-day one within a day.
    let tokens = snapshot.get(Dimension::TokensPerMinute).unwrap();
    assert_eq!(tokens.remaining, 0);
    assert!(
        tokens.reset <= Duration::from_secs(60),
        "{:?}",
        tokens.reset
    );
    let requests = snapshot.get(Dimension::RequestsPerDay).unwrap();
    assert!(
        requests.reset <= Duration::from_secs(86_400),
        "{:?}",
        requests.reset
    );
}

#[tokio::test]
async fn a_retry_after_of_years_is_not_obeyed() {
    let (url, _) = serve(|_| {
        (
            429,
            vec![header("retry-after", "99999999")],
            limited("Rate limit reached for model `m` on tokens per minute (TPM): Limit 6000, Used 6000, Requested 30. Please try again in 99999h."),
        )
    })
    .await;
    let retry = RetryPolicy::default().with_base_delay(Duration::from_millis(50));
    let client = client(&url, retry, 0);
    let start = tokio::time::Instant::now();
    let error = client.chat(request()).await.unwrap_err();
    assert!(error.is_rate_limited(), "{error}");
    // Neither the header nor the text's wait survives: both exceed a minute, the period of
    // the TPM limit the text names.
    assert_eq!(error.retry_after(), None);
    let paused = client
        .limits("m")
        .unwrap()
        .penalized_until
        .map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(start)
        });
    assert!(paused <= Duration::from_secs(60), "{paused:?}");
}

#[tokio::test]
async fn a_retry_after_beyond_the_named_period_falls_back_to_the_text() {
    let (url, count) = serve(|n| {
        if n == 0 {
            (
                429,
                vec![header("retry-after", "7200")],
                limited("Rate limit reached for model `m` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 40ms."),
            )
        } else {
            (200, vec![], completion())
        }
    })
    .await;
    let retry = RetryPolicy::default().with_base_delay(Duration::from_millis(10));
    let client = client(&url, retry, 2);
    let start = tokio::time::Instant::now();
    client.chat(request()).await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn retry_after_zero_on_every_answer_is_floored_to_the_backoff() {
    let (url, count) = serve(|_| {
        (
            429,
            vec![header("retry-after", "0")],
            limited("Rate limit reached for model `m` on tokens per minute (TPM): Limit 6000, Used 6000, Requested 30. Please try again in 0s."),
        )
    })
    .await;
    let base = Duration::from_millis(30);
    let retry = RetryPolicy::default().with_base_delay(base);
    let client = client(&url, retry, 4);
    let start = tokio::time::Instant::now();
    let error = client.chat(request()).await.unwrap_err();
    assert!(error.is_rate_limited(), "{error}");
    assert_eq!(count.load(Ordering::SeqCst), 5);
    // Four waits of at least the first backoff between five answers.
    assert!(start.elapsed() >= base * 4, "{:?}", start.elapsed());
    assert_eq!(error.retry_after(), Some(base));
}

#[tokio::test]
async fn a_transport_failure_names_its_cause() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let retry = RetryPolicy::default()
        .with_base_delay(Duration::from_millis(1))
        .with_max_attempts(2);
    let client = client(&format!("http://{addr}/openai/v1"), retry, 0);
    let error = client.chat(request()).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "after 2 attempts: connect to {addr}: connection refused"
        )),
        "{text}"
    );
    assert!(!text.contains(KEY));
}

const STREAM_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";

fn chunk_event() -> Vec<u8> {
    let chunk = serde_json::json!({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": null}]
    });
    format!("data: {chunk}\n\n").into_bytes()
}

fn stream_client(url: &str, timeout: Duration, idle: Duration) -> GroqClient {
    let config = Config::builder()
        .clear_models()
        .base_url(url)
        .api_key(KEY)
        .model(ModelConfig::new("m").with_context_window(4_096u32))
        .unknown_models(UnknownModelPolicy::Reject)
        .build()
        .unwrap();
    GroqClient::builder()
        .config(config)
        .retry_policy(RetryPolicy::never())
        .stream_timeout(timeout)
        .stream_idle_timeout(idle)
        .build()
        .unwrap()
}

async fn stream_error(client: &GroqClient, budget: u32) -> String {
    let request = ChatRequest::new("m")
        .user("Say hi.")
        .max_completion_tokens(budget);
    let mut stream = client.chat_stream(request).await.unwrap();
    let mut chunks = 0;
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(_) => chunks += 1,
                Err(error) => return error.to_string(),
            }
        }
        panic!("the stream ended without an error after {chunks} chunks");
    })
    .await;
    outcome.expect("the client ends a hostile stream by itself")
}

#[tokio::test]
async fn comments_do_not_keep_a_stream_alive() {
    let (url, _) = serve_raw(|_| {
        let comments =
            std::iter::repeat_with(|| (b": keep-alive\n\n".to_vec(), Duration::from_millis(20)));
        Box::new(std::iter::once((STREAM_HEAD.to_vec(), Duration::ZERO)).chain(comments))
    })
    .await;
    let client = stream_client(&url, Duration::from_secs(60), Duration::from_millis(300));
    let start = tokio::time::Instant::now();
    let error = stream_error(&client, 50).await;
    assert!(error.contains("no data arrived for 300ms"), "{error}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn the_configurations_stream_timeouts_apply() {
    let (url, _) = serve_raw(|_| {
        let comments =
            std::iter::repeat_with(|| (b": keep-alive\n\n".to_vec(), Duration::from_millis(20)));
        Box::new(std::iter::once((STREAM_HEAD.to_vec(), Duration::ZERO)).chain(comments))
    })
    .await;
    let config = Config::from_json_str(
        &serde_json::json!({
            "base_url": url,
            "api_key": KEY,
            "builtin_catalog": false,
            "unknown_models": "reject",
            "stream_timeout": "1m",
            "stream_idle_timeout": "250ms",
            "models": {"m": {"context_window": 4_096}},
        })
        .to_string(),
        "inline",
    )
    .unwrap();
    let client = GroqClient::builder()
        .config(config.clone())
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let error = stream_error(&client, 50).await;
    assert!(error.contains("no data arrived for 250ms"), "{error}");
    // A builder setting wins over the configuration.
    let client = GroqClient::builder()
        .config(config)
        .retry_policy(RetryPolicy::never())
        .stream_idle_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let error = stream_error(&client, 50).await;
    assert!(error.contains("no data arrived for 150ms"), "{error}");
}

#[tokio::test]
async fn a_stream_that_never_stops_is_cut_past_its_budget() {
    let (url, _) = serve_raw(|_| {
        let chunks = std::iter::repeat_with(|| (chunk_event(), Duration::ZERO));
        Box::new(std::iter::once((STREAM_HEAD.to_vec(), Duration::ZERO)).chain(chunks))
    })
    .await;
    let client = stream_client(&url, Duration::from_secs(60), Duration::from_secs(60));
    let error = stream_error(&client, 10).await;
    assert!(
        error.contains("ran far past its completion budget"),
        "{error}"
    );
}

#[tokio::test]
async fn a_slow_endless_stream_meets_the_stream_timeout() {
    let (url, _) = serve_raw(|_| {
        let chunks = std::iter::repeat_with(|| (chunk_event(), Duration::from_millis(10)));
        Box::new(std::iter::once((STREAM_HEAD.to_vec(), Duration::ZERO)).chain(chunks))
    })
    .await;
    let client = stream_client(&url, Duration::from_millis(400), Duration::from_secs(60));
    let error = stream_error(&client, 4_000).await;
    assert!(error.contains("stream timeout of 400ms"), "{error}");
}

#[tokio::test]
async fn invalid_utf8_in_a_stream_is_an_error() {
    let (url, _) = serve_raw(|_| {
        let bad = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xff\"}}]}\n\n".to_vec();
        Box::new([(STREAM_HEAD.to_vec(), Duration::ZERO), (bad, Duration::ZERO)].into_iter())
    })
    .await;
    let client = stream_client(&url, Duration::from_secs(60), Duration::from_secs(60));
    let error = stream_error(&client, 10).await;
    assert!(error.contains("the event stream broke off"), "{error}");
}

#[tokio::test]
async fn an_unknown_url_names_the_url_and_the_missing_api_path() {
    let (url, _) = serve(|_| {
        (
            404,
            vec![],
            serde_json::json!({"error": {
                "message": "Unknown request URL: POST /v1/chat/completions. Please check the URL for typos.",
                "type": "invalid_request_error", "code": "unknown_url"}})
            .to_string(),
        )
    })
    .await;
    // A base URL with a path is used as given, so this one misses /openai.
    let base = url.replace("/openai/v1", "/v1");
    let client = client(&base, RetryPolicy::never(), 0);
    let text = client.chat(request()).await.unwrap_err().to_string();
    let origin = base.trim_end_matches("/v1");
    assert!(
        text.contains(&format!("the URL called was {base}/chat/completions")),
        "{text}"
    );
    assert!(
        text.contains(&format!("try {origin}/v1/openai/v1")),
        "{text}"
    );
}

#[test]
fn an_insecure_base_url_is_a_configuration_error_before_anything_is_sent() {
    for url in [
        "http://10.255.255.1/openai/v1",
        "http://user:gsk_userinfo_secret_0123@10.255.255.1/openai/v1",
    ] {
        let config = Config::builder()
            .base_url(url)
            .api_key(KEY)
            .build()
            .unwrap();
        let error = GroqClient::builder().config(config).build().unwrap_err();
        assert_eq!(error.kind(), groq_client::ErrorKind::Config, "{error}");
        let text = error.to_string();
        assert!(text.contains("10.255.255.1"), "{text}");
        assert!(!text.contains("gsk_userinfo_secret_0123"), "{text}");
    }
}

#[tokio::test]
async fn a_server_echoing_the_key_never_shows_it() {
    let echo = format!("Invalid header value: Bearer {KEY}");
    let (url, _) = serve(move |_| {
        (
            401,
            vec![],
            serde_json::json!({"error": {"message": echo, "type": "invalid_request_error",
                "code": "invalid_api_key", "echo": KEY}})
            .to_string(),
        )
    })
    .await;
    let client = client(&url, RetryPolicy::never(), 0);
    let error = client.chat(request()).await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("Bearer [REDACTED]"), "{shown}");
    match &error {
        groq_client::Error::Api { response, .. } => {
            let body = std::str::from_utf8(response.body()).expect("UTF-8 body");
            assert!(!body.contains(KEY));
            assert!(
                serde_json::from_str::<serde_json::Value>(body).is_ok(),
                "still JSON"
            );
        }
        other => panic!("{other:?}"),
    }
    let raw = format!("{{\"echo\":\"{KEY}\"}}");
    assert_eq!(
        &*client.redact_bytes(raw.as_bytes()),
        b"{\"echo\":\"[REDACTED]\"}"
    );
}

#[tokio::test]
async fn a_forwarded_answer_echoing_the_key_is_scrubbed() {
    let (url, _) = serve(move |_| {
        (
            400,
            vec![],
            serde_json::json!({"error": {"message": format!("bad header: Bearer {KEY}"),
                "type": "invalid_request_error"}})
            .to_string(),
        )
    })
    .await;
    let client = client(&url, RetryPolicy::never(), 0);
    let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 20})
    .to_string();
    let call = client
        .forward(groq_client::ForwardRequest::chat(body.into_bytes()))
        .unwrap();
    let response = call.send().await.unwrap();
    assert_eq!(response.status, 400);
    let groq_client::ForwardBody::Full(bytes) = response.body else {
        panic!("an error answer is a whole body");
    };
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(!text.contains(KEY), "{text}");
    assert!(text.contains("Bearer [REDACTED]"), "{text}");
}
