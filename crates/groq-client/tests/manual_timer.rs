//! The whole pipeline (queue, limiter, retries with backoff, timeouts) driven by a
//! [`ManualTimer`] on an ordinary runtime, with tokio's clock running (not paused): nothing
//! happens until the test moves the timer, and each dispatch happens exactly when the timer
//! reaches its instant. The runtime is single-threaded so that yielding gives every other
//! task its turn: what has not happened after that cannot happen without the timer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use groq_client::{ChatRequest, Config, Error, GroqClient, ModelConfig, RetryPolicy};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_ratelimit::{ManualTimer, Timer};
use groq_transport::mock::{self, MockTransport};
use groq_transport::{Body, TransportError};
use tokio::time::Instant;

const KEY: &str = "gsk_manual_timer_key_0123456789";

fn completion() -> String {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
    .to_string()
}

fn client(transport: &MockTransport, timer: &ManualTimer, limits: Limits) -> GroqClient {
    let config = Config::builder()
        .clear_models()
        .base_url("https://api.groq.test/openai/v1")
        .api_key(KEY)
        .model(ModelConfig::new("m").with_limits(limits))
        .unknown_models(UnknownModelPolicy::Reject)
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    GroqClient::builder()
        .config(config)
        .transport(Arc::new(transport.clone()))
        .timer(timer.clone())
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
    ChatRequest::new("m").user("hi").max_completion_tokens(20)
}

/// Lets the runtime run every task that can make progress; no time passes (the timer is
/// manual, and the runtime has one thread, so every other task gets its turns).
async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

/// Runs the other tasks until `done` holds, failing after a bounded number of turns.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

/// Moves the timer to its next pending deadline, which must be `expected`.
fn step_to(timer: &ManualTimer, expected: Instant) {
    assert_eq!(
        timer.next_deadline(),
        Some(expected),
        "the next pending sleep is not where the pipeline should wait"
    );
    timer.set(expected);
}

#[tokio::test]
async fn a_request_limited_model_dispatches_exactly_at_the_gcra_instant() {
    let timer = ManualTimer::new();
    let start = timer.now();
    let transport = MockTransport::from_fn(|_| Ok(mock::json_response(200, completion())));
    // One request per minute: the second may go 60 s after the first.
    let client = client(
        &transport,
        &timer,
        Limits::unlimited().with_requests_per_minute(Rate::per_minute(1)),
    );

    let first = tokio::spawn(client.chat(request()).into_future());
    let second = tokio::spawn(client.chat(request()).into_future());
    until("the first request is sent", || {
        transport.request_count() == 1
    })
    .await;
    first.await.unwrap().unwrap();
    settle().await;
    assert_eq!(
        transport.request_count(),
        1,
        "the second waits for its turn"
    );
    assert!(!second.is_finished());

    // The lane sleeps on the client's timer until the GCRA instant.
    let turn = start + Duration::from_secs(60);
    assert_eq!(timer.next_deadline(), Some(turn));
    timer.set(turn - Duration::from_millis(1));
    settle().await;
    assert_eq!(transport.request_count(), 1, "not a millisecond early");

    step_to(&timer, turn);
    until("the second request is sent at 60 s", || {
        transport.request_count() == 2
    })
    .await;
    until("the second call ends", || second.is_finished()).await;
    second.await.unwrap().unwrap();
    assert_eq!(timer.now(), turn);
}

#[tokio::test]
async fn a_429_is_retried_only_once_its_retry_after_has_passed() {
    let timer = ManualTimer::new();
    let start = timer.now();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let transport = MockTransport::from_fn(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            let mut response = mock::json_response(
                429,
                r#"{"error":{"message":"Rate limit reached for model `m` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 2s.","type":"requests","code":"rate_limit_exceeded"}}"#,
            );
            response
                .headers_mut()
                .insert("retry-after", "2".parse().unwrap());
            Ok(response)
        } else {
            Ok(mock::json_response(200, completion()))
        }
    });
    let client = client(
        &transport,
        &timer,
        Limits::unlimited().with_requests_per_minute(Rate::per_minute(30)),
    );

    let call = tokio::spawn(client.chat(request()).into_future());
    until("the first attempt is answered 429", || {
        transport.request_count() == 1 && timer.pending() > 0
    })
    .await;
    settle().await;
    assert_eq!(transport.request_count(), 1);

    // The model is paused for the server's 2 s; the requeued request waits on the timer.
    timer.advance(Duration::from_millis(1_999));
    settle().await;
    assert_eq!(
        transport.request_count(),
        1,
        "retried before retry-after passed"
    );

    step_to(&timer, start + Duration::from_secs(2));
    until("the retry is sent at 2 s", || {
        transport.request_count() == 2
    })
    .await;
    until("the call ends", || call.is_finished()).await;
    let reply = call.await.unwrap().unwrap();
    assert_eq!(reply.text(), Some("hi"));
}

#[tokio::test]
async fn a_request_timeout_fires_when_the_timer_passes_it_then_the_backoff_retries() {
    let timer = ManualTimer::new();
    let start = timer.now();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let transport = MockTransport::new(move |_| {
        let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                // The first attempt never gets an answer.
                std::future::pending::<()>().await;
            }
            Ok::<_, TransportError>(mock::json_response(200, completion()))
        }
    });
    let client = client(&transport, &timer, Limits::unlimited());

    let call = tokio::spawn(client.chat(request()).into_future());
    until("the first attempt is on the wire", || {
        transport.request_count() == 1 && timer.pending() == 1
    })
    .await;

    // The attempt's timeout (the configuration's 10 s) is the only pending sleep.
    let timeout = start + Duration::from_secs(10);
    timer.set(timeout - Duration::from_millis(1));
    settle().await;
    assert_eq!(transport.request_count(), 1);
    assert!(!call.is_finished());

    step_to(&timer, timeout);
    // The timeout is a transport failure: the policy backs off (jittered, at most the base
    // delay for the first retry) on the same timer before the second attempt.
    until("the backoff sleep is pending", || {
        timer.pending() == 1 && timer.next_deadline() > Some(timeout)
    })
    .await;
    let backoff = timer.next_deadline().unwrap();
    assert!(
        backoff > timeout && backoff <= timeout + Duration::from_millis(100),
        "backoff {:?} after the timeout",
        backoff.checked_duration_since(timeout)
    );
    settle().await;
    assert_eq!(
        transport.request_count(),
        1,
        "no retry before the backoff ends"
    );

    step_to(&timer, backoff);
    until("the retry is sent", || transport.request_count() == 2).await;
    until("the call ends", || call.is_finished()).await;
    call.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_call_deadline_and_a_stream_idle_timeout_follow_the_timer() {
    let timer = ManualTimer::new();
    let start = timer.now();
    // A chunk, then silence.
    let (sender, body) = Body::channel(4);
    let body = Arc::new(std::sync::Mutex::new(Some(body)));
    let transport = MockTransport::from_fn(move |_| {
        let body = body.lock().unwrap().take().unwrap_or_else(Body::empty);
        let mut response = http::Response::new(body);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        Ok(response)
    });
    let client =
        GroqClient::builder()
            .config(
                Config::builder()
                    .clear_models()
                    .base_url("https://api.groq.test/openai/v1")
                    .api_key(KEY)
                    .model(ModelConfig::new("m").with_limits(
                        Limits::unlimited().with_requests_per_minute(Rate::per_minute(1)),
                    ))
                    .unknown_models(UnknownModelPolicy::Reject)
                    .build()
                    .unwrap(),
            )
            .transport(Arc::new(transport.clone()))
            .timer(timer.clone())
            .limiter_margin(Duration::ZERO)
            .stream_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap();

    let mut stream = client.chat_stream(request()).await.unwrap();
    let chunk = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}"#;
    timer.advance(Duration::from_secs(3));
    sender
        .send(Bytes::from(format!("data: {chunk}\n\n")))
        .await
        .unwrap();
    assert!(stream.next().await.unwrap().is_ok());

    // A queued call with a 20 s deadline: the model's next turn is at 60 s.
    let queued = tokio::spawn(
        client
            .chat(request())
            .timeout(Duration::from_secs(20))
            .into_future(),
    );
    settle().await;

    // The chunk at 3 s moved the idle deadline to 8 s; 5 s (the first idle instant) passes
    // quietly.
    timer.set(start + Duration::from_secs(5));
    let idle = tokio::spawn(async move {
        let item = stream.next().await;
        (item, stream)
    });
    settle().await;
    assert!(!idle.is_finished(), "the idle timer was reset by the chunk");
    timer.set(start + Duration::from_secs(8));
    until("the stream ends idle at 8 s", || idle.is_finished()).await;
    let (item, _stream) = idle.await.unwrap();
    let error = item.unwrap().unwrap_err();
    assert!(
        error.to_string().contains("no data arrived for 5s"),
        "{error}"
    );

    // The call's deadline runs from its start at 3 s: 23 s.
    timer.set(start + Duration::from_secs(23) - Duration::from_millis(1));
    settle().await;
    assert!(!queued.is_finished());
    timer.set(start + Duration::from_secs(23));
    until("the call's deadline fires at 23 s", || queued.is_finished()).await;
    let error = queued.await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Timeout(_)), "{error:?}");
    assert_eq!(transport.request_count(), 1);
    drop(sender);
}
