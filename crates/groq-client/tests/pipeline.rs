//! The pipeline's rules, driven through an in-memory transport with tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use groq_client::{
    ChatRequest, Config, Dimension, Error, ErrorKind, Event, GroqClient, ModelConfig, Priority,
    RetryPolicy, ShutdownMode,
};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_transport::mock::{self, MockTransport};
use groq_transport::{Body, TransportError};

const KEY: &str = "gsk_pipeline_test_key_0123456789";

fn completion(prompt: u64, completion: u64) -> String {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    })
    .to_string()
}

fn error_body(message: &str, kind: &str, code: &str) -> String {
    serde_json::json!({"error": {"message": message, "type": kind, "code": code}}).to_string()
}

fn config(limits: Limits) -> Config {
    Config::builder()
        .clear_models()
        .base_url("https://api.groq.test/openai/v1")
        .api_key(KEY)
        .model(
            ModelConfig::new("m")
                .with_limits(limits)
                .with_context_window(4_096u32),
        )
        .unknown_models(UnknownModelPolicy::Reject)
        .build()
        .unwrap()
}

fn minute_limits() -> Limits {
    Limits::unlimited()
        .with_requests_per_minute(Rate::per_minute(30))
        .with_tokens_per_minute(Rate::per_minute(6_000))
}

fn client(transport: &MockTransport, limits: Limits) -> GroqClient {
    GroqClient::builder()
        .config(config(limits))
        .transport(Arc::new(transport.clone()))
        .limiter_margin(Duration::ZERO)
        .retry_policy(
            RetryPolicy::default()
                .with_base_delay(Duration::from_millis(100))
                .with_max_attempts(3),
        )
        .jitter_seed(7)
        .build()
        .unwrap()
}

fn request() -> ChatRequest {
    ChatRequest::new("m")
        .user("Say hi.")
        .max_completion_tokens(50)
}

fn ok(prompt: u64, completion_tokens: u64) -> http::Response<Body> {
    mock::json_response(200, completion(prompt, completion_tokens))
}

fn tpm_used(client: &GroqClient) -> u64 {
    client
        .limits("m")
        .unwrap()
        .get(Dimension::TokensPerMinute)
        .unwrap()
        .used
}

fn drain(receiver: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<Event> {
    let mut events = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        events.push(event);
    }
    events
}

#[tokio::test(start_paused = true)]
async fn sends_one_well_formed_request_and_commits_the_usage() {
    let transport = MockTransport::from_fn(|_| Ok(ok(12, 3)));
    let client = client(&transport, minute_limits());
    let mut events = client.events();

    let reply = client.chat(request().stream(true)).await.unwrap();
    assert_eq!(reply.text(), Some("hi"));

    let sent = transport.last_request().unwrap();
    assert_eq!(sent.method, http::Method::POST);
    assert_eq!(
        sent.uri.to_string(),
        "https://api.groq.test/openai/v1/chat/completions"
    );
    assert_eq!(
        sent.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["max_completion_tokens"], 50);
    assert!(body.get("stream").is_none(), "chat() never streams: {body}");

    // The limiter holds the true usage, not the estimate.
    let limits = client.limits("m").unwrap();
    assert_eq!(limits.in_flight, 0);
    assert_eq!(tpm_used(&client), 15);
    assert_eq!(limits.get(Dimension::RequestsPerMinute).unwrap().used, 1);

    let events = drain(&mut events);
    assert!(matches!(
        &events[0],
        Event::Queued {
            priority: Priority::Normal,
            ..
        }
    ));
    assert!(matches!(&events[1], Event::Dispatched { attempt: 1, .. }));
    assert!(
        matches!(&events[2], Event::Completed { attempts: 1, usage: Some(u), .. } if u.total_tokens == 15)
    );
    assert_eq!(events.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_budget_is_sent_without_one() {
    let transport = MockTransport::from_fn(|_| Ok(ok(5, 5)));
    let client = client(&transport, minute_limits());
    let estimate = client.count_tokens(&ChatRequest::new("m").user("Hello"));
    assert_eq!(estimate.completion_allowance, 1_024);
    client
        .chat(ChatRequest::new("m").user("Hello"))
        .await
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&transport.last_request().unwrap().body).unwrap();
    assert!(body.get("max_completion_tokens").is_none() && body.get("max_tokens").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_429_refunds_pauses_the_model_and_requeues_at_the_head() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let transport = MockTransport::from_fn(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            let mut response = mock::json_response(
                429,
                error_body(
                    "Rate limit reached for model `m` in organization `o` service tier on_demand on tokens per minute (TPM): Limit 6000, Used 5990, Requested 60. Please try again in 1.5s.",
                    "tokens",
                    "rate_limit_exceeded",
                ),
            );
            response
                .headers_mut()
                .insert("retry-after", "2".parse().unwrap());
            Ok(response)
        } else {
            Ok(ok(10, 5))
        }
    });
    let client = client(&transport, minute_limits());
    let mut events = client.events();
    let start = tokio::time::Instant::now();

    client.chat(request()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // The second attempt waited for the server's retry-after.
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(2));
    // The 429 was refunded, and the usage its text states ("Used 5990") was learnt: the
    // bucket holds what the server counted, refilled at 100 a second since, plus the
    // successful request's usage.
    let refilled = u64::try_from(elapsed.as_millis() / 10).unwrap();
    let expected = 5_990 + 15 - refilled;
    let used = tpm_used(&client);
    assert!(used.abs_diff(expected) <= 1, "{used} against {expected}");

    let events = drain(&mut events);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::RateLimited { retry_after: Some(w), dimension: Some(Dimension::TokensPerMinute), .. }
            if *w == Duration::from_secs(2)
    )));
    assert!(events.iter().any(|e| matches!(e, Event::Waiting { .. })));
    assert!(matches!(
        events.last(),
        Some(Event::Completed { attempts: 2, .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn too_many_429s_fail_with_the_dimension_and_wait() {
    let transport = MockTransport::from_fn(|_| {
        Ok(mock::json_response(
            429,
            error_body(
                "Rate limit reached for model `m` in organization `o` service tier on_demand on requests per day (RPD): Limit 10, Used 10, Requested 1. Please try again in 3s.",
                "requests",
                "rate_limit_exceeded",
            ),
        ))
    });
    let client = GroqClient::builder()
        .config(config(minute_limits()))
        .transport(Arc::new(transport.clone()))
        .max_rate_limit_retries(2)
        .build()
        .unwrap();
    let error = client.chat(request()).await.unwrap_err();
    assert!(error.is_rate_limited(), "{error:?}");
    assert_eq!(error.dimension(), Some(Dimension::RequestsPerDay));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(error.status(), Some(429));
    assert_eq!(transport.request_count(), 3);
    assert_eq!(client.limits("m").unwrap().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_through_the_limiter() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let transport = MockTransport::from_fn(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(mock::json_response(
                503,
                error_body(
                    "over capacity",
                    "internal_server_error",
                    "service_unavailable",
                ),
            ))
        } else {
            Ok(ok(10, 5))
        }
    });
    let client = client(&transport, minute_limits());
    let mut events = client.events();
    client.chat(request()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let events = drain(&mut events);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Retrying {
            attempt: 1,
            reason: groq_client::RetryReason::Status(503),
            ..
        }
    )));
    // Two requests went through the limiter; the failed one stays charged (its outcome is
    // unknown), the successful one is committed.
    let limits = client.limits("m").unwrap();
    assert_eq!(limits.get(Dimension::RequestsPerMinute).unwrap().used, 2);
    assert!(tpm_used(&client) > 15);
}

#[tokio::test(start_paused = true)]
async fn retries_stop_after_max_attempts() {
    let transport = MockTransport::from_fn(|_| Ok(mock::json_response(500, "{}")));
    let client = client(&transport, minute_limits());
    let error = client.chat(request()).max_attempts(2).await.unwrap_err();
    assert_eq!(transport.request_count(), 2);
    assert_eq!(error.status(), Some(500));
    assert_eq!(error.kind(), ErrorKind::Server);
    assert!(error.is_retryable());
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() {
    let transport = MockTransport::from_fn(|request| {
        Ok(if request.uri().path().ends_with("/models/nope") {
            mock::json_response(
                404,
                error_body(
                    "The model `nope` does not exist",
                    "invalid_request_error",
                    "model_not_found",
                ),
            )
        } else {
            mock::json_response(
                401,
                error_body(
                    "Invalid API Key",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            )
        })
    });
    let client = client(&transport, minute_limits());
    let error = client.chat(request()).await.unwrap_err();
    assert_eq!(transport.request_count(), 1);
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert_eq!(error.code(), Some("invalid_api_key"));
    assert!(error.to_string().contains("GROQ_API_KEY"));
    assert!(!error.to_string().contains(KEY));
    // A 4xx is refunded: the server did no work.
    assert_eq!(tpm_used(&client), 0);

    let error = client.model("nope").await.unwrap_err();
    assert!(matches!(error, Error::ModelNotFound { ref model, .. } if model == "nope"));
}

#[tokio::test(start_paused = true)]
async fn server_413_is_a_permanent_request_too_large() {
    let transport = MockTransport::from_fn(|_| {
        Ok(mock::json_response(
            413,
            error_body(
                "Request too large for model `m` in organization `o` service tier on_demand on tokens per minute (TPM): Limit 6000, Requested 14810, please reduce your message size and try again.",
                "tokens",
                "rate_limit_exceeded",
            ),
        ))
    });
    let client = client(&transport, Limits::unlimited());
    let error = client.chat(request()).await.unwrap_err();
    assert_eq!(transport.request_count(), 1);
    match &error {
        Error::RequestTooLarge {
            dimension,
            requested,
            limit,
            from_server,
            ..
        } => {
            assert_eq!(*dimension, Some(Dimension::TokensPerMinute));
            assert_eq!((*requested, *limit), (Some(14_810), Some(6_000)));
            assert!(from_server);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!error.is_retryable());
}

#[tokio::test(start_paused = true)]
async fn local_checks_fail_before_anything_is_sent() {
    let transport = MockTransport::from_fn(|_| Ok(ok(1, 1)));
    let client = client(&transport, minute_limits());

    // A budget larger than the TPM bucket can never fit.
    let error = client
        .chat(ChatRequest::new("m").user("x").max_completion_tokens(7_000))
        .await;
    // 7,000 also exceeds the 4,096-token context window: that check comes first.
    assert!(matches!(
        error,
        Err(Error::TokenLimitExceeded {
            context_window: 4_096,
            ..
        })
    ));

    let limits = Limits::unlimited().with_tokens_per_minute(Rate::per_minute(1_000));
    let small = GroqClient::builder()
        .config(config(limits))
        .transport(Arc::new(transport.clone()))
        .build()
        .unwrap();
    let error = small
        .chat(ChatRequest::new("m").user("x").max_completion_tokens(2_000))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::RequestTooLarge {
                from_server: false,
                limit: Some(1_000),
                ..
            }
        ),
        "{error:?}"
    );

    let error = client
        .chat(ChatRequest::new("m").user("x").temperature(5.0))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);

    let error = client
        .chat(ChatRequest::new("other").user("x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ModelNotFound);
    assert!(error.to_string().contains("`other`"));

    assert_eq!(transport.request_count(), 0);
}

#[test]
fn building_without_a_key_says_how_to_fix_it() {
    let config = Config::builder().clear_models().build().unwrap();
    let error = GroqClient::builder()
        .config(config.clone())
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    let text = error.to_string();
    assert!(
        text.contains("GROQ_API_KEY") && text.contains(".api_key("),
        "{text}"
    );

    // Building needs no runtime, and the client's Debug hides the key.
    let client = GroqClient::builder()
        .config(config)
        .api_key(KEY)
        .build()
        .unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains(KEY), "{shown}");
}

#[tokio::test(start_paused = true)]
async fn transport_failures_settle_by_what_the_server_may_have_seen() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let transport = MockTransport::from_fn(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => Err(TransportError::connect(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ))),
        _ => Err(TransportError::connection("reset by peer")),
    });
    let client = client(&transport, minute_limits());
    let error = client.chat(request()).max_attempts(2).await.unwrap_err();
    assert!(
        matches!(error, Error::Transport { attempts: 2, .. }),
        "{error:?}"
    );
    let limits = client.limits("m").unwrap();
    // The refused connection was refunded; the broken one stays charged.
    assert_eq!(limits.get(Dimension::RequestsPerMinute).unwrap().used, 1);
    assert_eq!(limits.in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn the_call_timeout_covers_the_queue_and_the_wire() {
    let transport = MockTransport::new(|_| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(ok(1, 1))
    });
    let client = client(
        &transport,
        minute_limits().with_tokens_per_day(Rate::per_day(100_000)),
    );
    let error = client
        .chat(request())
        .timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { after } if after == Duration::from_secs(1)));
    assert!(error.is_timeout());
    // The aborted request stays charged with its estimate, and nothing is left in flight.
    let limits = client.limits("m").unwrap();
    assert_eq!(limits.in_flight, 0);
    assert!(limits.get(Dimension::TokensPerDay).unwrap().used > 50);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_queued_call_by_id_or_by_drop_refunds_it() {
    let transport = MockTransport::from_fn(|_| Ok(ok(1, 1)));
    // One request per minute: the second call waits in the queue.
    let client = client(
        &transport,
        Limits::unlimited().with_requests_per_minute(Rate::per_minute(1)),
    );
    client.chat(request()).await.unwrap();

    let mut events = client.events();
    let waiting = tokio::spawn(client.chat(request()).request_id("job-7").into_future());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(client.queue_status().queued, 1);
    assert!(client.cancel("job-7"));
    let error = waiting.await.unwrap().unwrap_err();
    assert!(error.is_cancelled());
    assert!(!client.cancel("job-7"));
    assert_eq!(client.queue_status().queued, 0);
    let events = drain(&mut events);
    assert!(matches!(
        events.last(),
        Some(Event::Failed { error: ErrorKind::Cancelled, id, .. }) if id.as_str() == "job-7"
    ));

    let dropped = tokio::spawn(client.chat(request()).into_future());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(client.queue_status().queued, 1);
    dropped.abort();
    let _ = dropped.await;
    tokio::task::yield_now().await;
    assert_eq!(client.queue_status().queued, 0);
    assert_eq!(transport.request_count(), 1);
    let limits = client.limits("m").unwrap();
    assert_eq!(limits.get(Dimension::RequestsPerMinute).unwrap().used, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_call_on_the_wire_keeps_its_reservation() {
    let transport = MockTransport::new(|_| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(ok(1, 1))
    });
    let client = client(&transport, minute_limits());
    let call = tokio::spawn(client.chat(request()).into_future());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(client.queue_status().in_flight, 1);
    call.abort();
    let _ = call.await;
    let limits = client.limits("m").unwrap();
    assert_eq!(limits.in_flight, 0);
    assert_eq!(client.queue_status().in_flight, 0);
    assert_eq!(limits.get(Dimension::RequestsPerMinute).unwrap().used, 1);
    assert!(tpm_used(&client) > 50, "the estimate stays charged");
}

fn chunk(content: &str, usage: Option<(u64, u64)>) -> String {
    let mut value = serde_json::json!({
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}}],
        "x_groq": {"id": "req_1"}
    });
    if let Some((p, c)) = usage {
        value["x_groq"]["usage"] =
            serde_json::json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c});
        value["choices"][0]["finish_reason"] = serde_json::json!("stop");
    }
    value.to_string()
}

#[tokio::test(start_paused = true)]
async fn streams_settle_from_the_final_usage() {
    let transport = MockTransport::from_fn(|_| {
        Ok(mock::sse_response([
            chunk("Hel", None),
            chunk("lo", Some((20, 2))),
        ]))
    });
    let client = client(&transport, minute_limits());
    let mut stream = client.chat_stream(request()).await.unwrap();
    let sent: serde_json::Value =
        serde_json::from_slice(&transport.last_request().unwrap().body).unwrap();
    assert_eq!(sent["stream"], true);
    assert_eq!(
        transport.last_request().unwrap().header("accept"),
        Some("text/event-stream")
    );
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.text(), Some("Hel"));
    assert_eq!(client.limits("m").unwrap().in_flight, 1);
    let completion = stream.into_completion().await.unwrap();
    assert_eq!(completion.text(), Some("Hello"));
    assert_eq!(completion.usage.unwrap().total_tokens, 22);
    assert_eq!(client.limits("m").unwrap().in_flight, 0);
    assert_eq!(tpm_used(&client), 22);
}

#[tokio::test(start_paused = true)]
async fn an_error_event_ends_the_stream_and_an_early_drop_keeps_the_estimate() {
    let transport = MockTransport::from_fn(|_| {
        Ok(mock::sse_response([
            chunk("Hel", None),
            error_body("boom", "internal_server_error", "internal_server_error"),
        ]))
    });
    let client = client(&transport, minute_limits());
    let mut events = client.events();
    let mut stream = client.chat_stream(request()).await.unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    let error = stream.next().await.unwrap().unwrap_err();
    assert!(matches!(&error, Error::Stream { code: Some(c), .. } if c == "internal_server_error"));
    assert!(stream.next().await.is_none());
    assert!(matches!(
        drain(&mut events).last(),
        Some(Event::Failed {
            error: ErrorKind::Stream,
            ..
        })
    ));

    let (sender, body) = Body::channel(4);
    let body = Arc::new(Mutex::new(Some(body)));
    let transport = MockTransport::from_fn(move |_| {
        let body = body.lock().unwrap().take().unwrap_or_default();
        let mut response = http::Response::new(body);
        response
            .headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        Ok(response)
    });
    let client = self::client(&transport, minute_limits());
    let stream = client.chat_stream(request()).await.unwrap();
    drop(stream);
    drop(sender);
    let limits = client.limits("m").unwrap();
    assert_eq!(limits.in_flight, 0);
    assert!(tpm_used(&client) > 50, "the estimate stays charged");
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_then_refuses() {
    let transport = MockTransport::new(|_| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(ok(1, 1))
    });
    let client = client(
        &transport,
        Limits::unlimited().with_requests_per_minute(Rate::new(2, Duration::from_secs(1)).unwrap()),
    );
    let calls: Vec<_> = (0..6)
        .map(|_| tokio::spawn(client.chat(request()).into_future()))
        .collect();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let report = client.shutdown(ShutdownMode::Drain).await;
    assert_eq!(report.cancelled(), 0);
    assert_eq!(report.failed(), 0);
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(transport.request_count(), 6);
    let error = client.chat(request()).await.unwrap_err();
    assert!(matches!(error, Error::Shutdown));
    assert!(!client.queue_status().accepting);
}

#[tokio::test(start_paused = true)]
async fn reload_applies_new_quotas_and_keeps_usage() {
    let transport = MockTransport::from_fn(|_| Ok(ok(10, 5)));
    let client = client(&transport, minute_limits());
    client.chat(request()).await.unwrap();
    let new_limits = Limits::unlimited()
        .with_requests_per_minute(Rate::per_minute(30))
        .with_tokens_per_minute(Rate::per_minute(12_000));
    let mut config = config(new_limits);
    config.models.insert(
        "fresh".to_owned(),
        ModelConfig::new("fresh").with_limits(minute_limits()),
    );
    client.reload_config(config).unwrap();
    let limits = client.limits("m").unwrap();
    assert_eq!(
        limits.get(Dimension::TokensPerMinute).unwrap().limit,
        12_000
    );
    assert_eq!(tpm_used(&client), 15, "usage survives the reload");
    client
        .chat(ChatRequest::new("fresh").user("x"))
        .await
        .unwrap();
    assert!(client.configured_models().iter().any(|m| m.id == "fresh"));

    let no_key = Config::builder().clear_models().build().unwrap();
    assert_eq!(
        client.reload_config(no_key).unwrap_err().kind(),
        ErrorKind::Config
    );
}

#[derive(Debug, Default)]
struct CountingFactory(Arc<AtomicUsize>);

impl groq_client::SchedulerFactory for CountingFactory {
    fn make(&self, _model: &str) -> Box<dyn groq_queue::Scheduler> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::new(groq_queue::AgingQueue::new(
            groq_queue::AgingConfig::default(),
        ))
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_scheduler_serves_each_lane() {
    let transport = MockTransport::from_fn(|_| Ok(ok(1, 1)));
    let made = Arc::new(AtomicUsize::new(0));
    let client = GroqClient::builder()
        .config(config(minute_limits()))
        .transport(Arc::new(transport.clone()))
        .scheduler(CountingFactory(Arc::clone(&made)))
        .build()
        .unwrap();
    assert_eq!(
        made.load(Ordering::SeqCst),
        0,
        "lanes are made on first use"
    );
    client.chat(request()).await.unwrap();
    client.chat(request()).await.unwrap();
    assert_eq!(made.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_full_lane_rejects_when_asked_to() {
    let transport = MockTransport::from_fn(|_| Ok(ok(1, 1)));
    let client = GroqClient::builder()
        .config(config(
            Limits::unlimited().with_requests_per_minute(Rate::per_minute(1)),
        ))
        .transport(Arc::new(transport.clone()))
        .lane_capacity(1)
        .when_full(groq_client::WhenFull::Reject)
        .build()
        .unwrap();
    client.chat(request()).await.unwrap();
    let waiting = tokio::spawn(client.chat(request()).into_future());
    tokio::time::sleep(Duration::from_millis(10)).await;
    let error = client.chat(request()).await.unwrap_err();
    assert!(
        matches!(&error, Error::QueueFull { model, capacity: 1 } if model == "m"),
        "{error:?}"
    );
    assert!(error.is_retryable());
    // The queued one still goes when the minute has passed.
    waiting.await.unwrap().unwrap();
    assert_eq!(transport.request_count(), 2);
}
