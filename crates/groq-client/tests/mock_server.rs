//! End-to-end runs against the Groq emulator over TCP, with a compressed minute.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use groq_client::{
    ChatRequest, Config, Dimension, Error, ErrorKind, Event, GroqClient, ModelConfig, Priority,
    RetryPolicy, ShutdownMode, Tool,
};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_mock::{Faults, MockLimits, MockServer};

const KEY: &str = "gsk_mock_server_test_0123456789";
/// The emulator's minute, and the client's.
const MINUTE: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(1_440);

const SMALL: &str = "llama-3.1-8b-instant";
const LARGE: &str = "llama-3.3-70b-versatile";

/// Free-plan-shaped limits, in the compressed time of the tests.
fn free_plan(rpm: u64, rpd: u64, tpm: u64, tpd: u64) -> (Limits, MockLimits) {
    let rate = |limit, period| Rate::new(limit, period).unwrap();
    (
        Limits::unlimited()
            .with_requests_per_minute(rate(rpm, MINUTE))
            .with_requests_per_day(rate(rpd, DAY))
            .with_tokens_per_minute(rate(tpm, MINUTE))
            .with_tokens_per_day(rate(tpd, DAY)),
        MockLimits::unlimited()
            .rpm(rpm)
            .rpd(rpd)
            .tpm(tpm)
            .tpd(tpd)
            .context_window(131_072),
    )
}

fn config(server: &MockServer, models: Vec<ModelConfig>) -> Config {
    let mut builder = Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(KEY)
        .unknown_models(UnknownModelPolicy::Reject);
    for model in models {
        builder = builder.model(model);
    }
    builder.build().unwrap()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_base_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(200))
        .with_max_attempts(8)
}

fn client(config: Config) -> GroqClient {
    GroqClient::builder()
        .config(config)
        // The margin must cover the spread of arrival delays between requests. A first burst
        // of many fresh connections to a debug-build server on a loaded two-core CI machine
        // can arrive well over 100 ms late, so these tests leave a wide margin; it costs each
        // run one margin of time, not throughput.
        .limiter_margin(Duration::from_millis(300))
        .retry_policy(fast_retries())
        .jitter_seed(11)
        .build()
        .unwrap()
}

fn marked(model: &str, marker: &str) -> ChatRequest {
    ChatRequest::new(model)
        .system("You are terse.")
        .user(format!("[req:{marker}] Say hello in one word."))
        .max_completion_tokens(100)
}

/// Runs 100 requests per model at once and returns each result with its marker.
async fn burst(client: &GroqClient) -> Vec<(String, Result<groq_client::ChatCompletion, Error>)> {
    let mut tasks = Vec::new();
    for model in [SMALL, LARGE] {
        for i in 0..100 {
            let marker = format!("{model}-{i}");
            let call = client.chat(marked(model, &marker)).into_future();
            tasks.push(tokio::spawn(async move { (marker, call.await) }));
        }
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

async fn two_model_server(faults: Faults) -> (MockServer, Config) {
    let (small, small_mock) = free_plan(30, 14_400, 6_000, 500_000);
    let (large, large_mock) = free_plan(30, 1_000, 12_000, 100_000);
    let server = MockServer::builder()
        .api_key(KEY)
        .model(SMALL, small_mock)
        .model(LARGE, large_mock)
        .minute_length(MINUTE)
        .faults(faults)
        .seed(42)
        .start()
        .await
        .unwrap();
    let config = config(
        &server,
        vec![
            ModelConfig::new(SMALL).with_limits(small),
            ModelConfig::new(LARGE).with_limits(large),
        ],
    );
    (server, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_requests_over_two_models_meet_no_429() {
    let (server, config) = two_model_server(Faults::none()).await;
    let client = client(config);
    let results = burst(&client).await;

    for (marker, result) in &results {
        assert!(result.is_ok(), "{marker}: {result:?}");
    }
    let stats = server.stats();
    assert_eq!(
        stats.rate_limited, 0,
        "the client caused 429s: {:?}",
        stats.by_status
    );
    assert_eq!(stats.audit.len(), 200);
    for (marker, _) in &results {
        assert_eq!(stats.with_marker(marker).count(), 1, "{marker}");
    }
    // Every reservation settled.
    for model in [SMALL, LARGE] {
        assert_eq!(client.limits(model).unwrap().in_flight, 0);
    }
    assert_eq!(client.queue_status().in_flight, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_end_every_request_exactly_once() {
    let (server, config) = two_model_server(Faults::none().fail_rate(0.10).drop_rate(0.02)).await;
    let client = client(config);
    let mut events = client.events();
    let results = burst(&client).await;

    assert_eq!(results.len(), 200);
    let stats = server.stats();
    assert!(
        stats.count(500) + stats.count(503) + stats.dropped > 0,
        "faults were injected: {stats:?}"
    );
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &stats.audit {
        if let Some(marker) = &entry.marker {
            *counts.entry(marker.clone()).or_default() += 1;
        }
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "a request was accepted twice"
    );
    for (marker, result) in &results {
        assert!(result.is_ok(), "{marker}: {result:?}");
        assert_eq!(counts.get(marker), Some(&1), "{marker}");
    }
    assert_eq!(stats.rate_limited, 0);

    // Exactly one final event per request.
    let mut finals = HashSet::new();
    while let Ok(event) = events.try_recv() {
        if event.is_final() {
            assert!(
                finals.insert(event.request_id().unwrap().clone()),
                "{event:?}"
            );
        }
    }
    assert_eq!(finals.len(), 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_priority_requests_overtake_a_hundred_low_ones() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(SMALL, MockLimits::unlimited())
        .latency(Duration::from_millis(2), Duration::from_millis(2))
        .start()
        .await
        .unwrap();
    let config = config(
        &server,
        vec![ModelConfig::new(SMALL).with_limits(Limits::unlimited().with_max_in_flight(1))],
    );
    let client = client(config);
    let mut events = client.events();

    let mut tasks = Vec::new();
    for i in 0..100 {
        let call = client
            .chat(marked(SMALL, &format!("low-{i}")))
            .priority(Priority::Low)
            .request_id(format!("low-{i}"))
            .into_future();
        tasks.push(tokio::spawn(call));
    }
    let mut order = Vec::new();
    let mut queued = 0;
    while queued < 100 {
        match events.recv().await.unwrap() {
            Event::Queued { .. } => queued += 1,
            Event::Completed { id, .. } => order.push(id.to_string()),
            _ => {}
        }
    }
    // Most Low requests are still queued when the High ones arrive.
    let before_high = order.len();
    assert!(before_high < 50, "{before_high} Low requests already done");
    for i in 0..10 {
        let call = client
            .chat(marked(SMALL, &format!("high-{i}")))
            .priority(Priority::High)
            .request_id(format!("high-{i}"))
            .into_future();
        tasks.push(tokio::spawn(call));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    while let Ok(event) = events.try_recv() {
        if let Event::Completed { id, .. } = event {
            order.push(id.to_string());
        }
    }
    assert_eq!(order.len(), 110);
    let last_high = order
        .iter()
        .rposition(|id| id.starts_with("high-"))
        .unwrap();
    // After the High requests arrive, at most the Low request on the wire (and one
    // dispatched meanwhile) finish before the last High one.
    assert!(last_high < before_high + 13, "completion order: {order:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_settles_from_the_final_usage() {
    let (small, small_mock) = free_plan(30, 14_400, 6_000, 500_000);
    let server = MockServer::builder()
        .api_key(KEY)
        .model(SMALL, small_mock)
        .minute_length(MINUTE)
        .completion_tokens(12)
        .start()
        .await
        .unwrap();
    let client = client(config(
        &server,
        vec![ModelConfig::new(SMALL).with_limits(small)],
    ));
    let mut stream = client.chat_stream(marked(SMALL, "stream-1")).await.unwrap();
    let mut text = String::new();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        text.push_str(chunk.unwrap().text().unwrap_or_default());
        chunks += 1;
    }
    assert!(chunks > 1 && !text.is_empty());
    let usage = stream.usage().cloned().unwrap();
    assert_eq!(usage.completion_tokens, 12);
    let stats = server.stats();
    let entry = stats.with_marker("stream-1").next().unwrap();
    assert!(entry.stream);
    assert_eq!(entry.prompt_tokens, usage.prompt_tokens);
    assert_eq!(client.limits(SMALL).unwrap().in_flight, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_arrive_whole_and_streamed() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(SMALL, MockLimits::unlimited())
        .start()
        .await
        .unwrap();
    let client = client(config(&server, vec![ModelConfig::new(SMALL)]));
    let tool = Tool::function(
        "get_weather",
        "The weather in a city",
        serde_json::json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        }),
    );
    let request = ChatRequest::new(SMALL)
        .user("Weather in Paris?")
        .tool(tool)
        .tool_choice(groq_types::ToolChoiceMode::Required);
    let reply = client.chat(request.clone()).await.unwrap();
    let calls = reply.tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function.name, "get_weather");
    let arguments: serde_json::Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
    assert!(arguments.get("city").is_some());

    let streamed = client
        .chat_stream(request)
        .await
        .unwrap()
        .into_completion()
        .await
        .unwrap();
    assert_eq!(streamed.tool_calls().len(), 1);
    assert_eq!(streamed.tool_calls()[0].function.name, "get_weather");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_never_reach_the_server() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(SMALL, MockLimits::unlimited().rpm(1))
        .minute_length(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let one_per_30s = Limits::unlimited()
        .with_requests_per_minute(Rate::new(1, Duration::from_secs(30)).unwrap());
    let client = client(config(
        &server,
        vec![ModelConfig::new(SMALL).with_limits(one_per_30s)],
    ));
    client.chat(marked(SMALL, "first")).await.unwrap();

    let by_id = tokio::spawn(
        client
            .chat(marked(SMALL, "by-id"))
            .request_id("by-id")
            .into_future(),
    );
    let dropped = tokio::spawn(client.chat(marked(SMALL, "dropped")).into_future());
    while client.queue_status().queued < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(client.cancel("by-id"));
    assert!(by_id.await.unwrap().unwrap_err().is_cancelled());
    dropped.abort();
    assert!(dropped.await.unwrap_err().is_cancelled());
    while client.queue_status().queued > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = server.stats();
    assert_eq!(stats.audit.len(), 1);
    assert_eq!(stats.responses, 1);
    // Nothing of the cancelled requests was charged.
    let limits = client.limits(SMALL).unwrap();
    assert_eq!(limits.get(Dimension::RequestsPerMinute).unwrap().used, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_every_queued_request() {
    let (small, small_mock) = free_plan(10, 14_400, 6_000, 500_000);
    let server = MockServer::builder()
        .api_key(KEY)
        .model(SMALL, small_mock)
        .minute_length(MINUTE)
        .start()
        .await
        .unwrap();
    let client = client(config(
        &server,
        vec![ModelConfig::new(SMALL).with_limits(small)],
    ));
    let mut events = client.events();
    let tasks: Vec<_> = (0..15)
        .map(|i| tokio::spawn(client.chat(marked(SMALL, &format!("d-{i}"))).into_future()))
        .collect();
    let mut queued = 0;
    while queued < 15 {
        if let Event::Queued { .. } = events.recv().await.unwrap() {
            queued += 1;
        }
    }
    let started = tokio::time::Instant::now();
    client.shutdown(ShutdownMode::Drain).await;
    // Fifteen requests at ten per second cannot all go at once: the drain waited for them.
    assert!(started.elapsed() >= Duration::from_millis(300));
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.stats().audit.len(), 15);
    assert_eq!(server.stats().rate_limited, 0);
    assert!(matches!(
        client.chat(marked(SMALL, "late")).await,
        Err(Error::Shutdown)
    ));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changes_limits_and_adds_models() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(SMALL, MockLimits::unlimited())
        .model(LARGE, MockLimits::unlimited())
        .start()
        .await
        .unwrap();
    let limits = Limits::unlimited().with_tokens_per_minute(Rate::per_minute(6_000));
    let client = client(config(
        &server,
        vec![ModelConfig::new(SMALL).with_limits(limits)],
    ));
    client.chat(marked(SMALL, "before")).await.unwrap();
    assert_eq!(
        client
            .chat(marked(LARGE, "unknown"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::ModelNotFound
    );
    let used = client
        .limits(SMALL)
        .unwrap()
        .get(Dimension::TokensPerMinute)
        .unwrap()
        .used;

    let raised = Limits::unlimited().with_tokens_per_minute(Rate::per_minute(60_000));
    client
        .reload_config(config(
            &server,
            vec![
                ModelConfig::new(SMALL).with_limits(raised),
                ModelConfig::new(LARGE),
            ],
        ))
        .unwrap();
    let after = client.limits(SMALL).unwrap();
    let tpm = after.get(Dimension::TokensPerMinute).unwrap();
    assert_eq!(tpm.limit, 60_000);
    assert!(tpm.used > 0 && tpm.used <= used, "usage carried over");
    client.chat(marked(LARGE, "after")).await.unwrap();
    assert_eq!(server.stats().with_marker("after").count(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_path_has_its_error() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(
            SMALL,
            MockLimits::unlimited().tpm(1_000).context_window(2_000),
        )
        .model(LARGE, MockLimits::unlimited().rpm(1))
        .minute_length(Duration::from_secs(20))
        .start()
        .await
        .unwrap();
    // The client deliberately knows less than the server, so the server must refuse.
    let config = Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(KEY)
        .model(ModelConfig::new(SMALL))
        .model(ModelConfig::new(LARGE))
        .model(ModelConfig::new("tiny").with_context_window(100u32))
        .unknown_models(UnknownModelPolicy::AllowUnlimited)
        .build()
        .unwrap();
    let client = GroqClient::builder()
        .config(config.clone())
        .max_rate_limit_retries(0)
        .retry_policy(fast_retries())
        .build()
        .unwrap();

    // 401: a wrong key.
    let wrong_key = GroqClient::builder()
        .config(config.clone())
        .api_key("gsk_wrong_key_000000000000")
        .build()
        .unwrap();
    let error = wrong_key.chat(marked(SMALL, "401")).await.unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert!(!error.to_string().contains("gsk_wrong"));

    // 404: a model the server does not serve.
    let error = client
        .chat(marked("no-such-model", "404"))
        .await
        .unwrap_err();
    assert!(matches!(&error, Error::ModelNotFound { model, .. } if model == "no-such-model"));

    // The context window, locally: nothing is sent.
    let error = client.chat(marked("tiny", "ctx")).await.unwrap_err();
    assert!(matches!(
        error,
        Error::TokenLimitExceeded {
            context_window: 100,
            ..
        }
    ));
    // ... and by the server, which knows a window the client does not.
    let error = client
        .chat(marked(SMALL, "ctx-server").max_completion_tokens(1_990))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenLimitExceeded);
    assert_eq!(error.code(), Some("context_length_exceeded"));

    // 413: more than the server's TPM can ever admit.
    let error = client
        .chat(marked(SMALL, "413").max_completion_tokens(1_500))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::RequestTooLarge {
                from_server: true,
                dimension: Some(Dimension::TokensPerMinute),
                ..
            }
        ),
        "{error:?}"
    );

    // 400: a property Groq rejects.
    let error = client
        .chat(marked(SMALL, "400").extra("bogus_option", serde_json::json!(1)))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);

    // 429 beyond the bound: one request per 20 s on the server, none known to the client.
    client.chat(marked(LARGE, "429-a")).await.unwrap();
    let error = client.chat(marked(LARGE, "429-b")).await.unwrap_err();
    assert!(error.is_rate_limited(), "{error:?}");
    assert_eq!(error.dimension(), Some(Dimension::RequestsPerMinute));
    assert!(error.retry_after().is_some());

    // Timeout: the model is paused by the 429, so the call cannot finish in time.
    let error = client
        .chat(marked(LARGE, "timeout"))
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");

    // None of the refused requests was accepted.
    let stats = server.stats();
    assert_eq!(stats.audit.len(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_come_from_the_api() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(SMALL, MockLimits::unlimited().context_window(131_072))
        .start()
        .await
        .unwrap();
    let client = client(config(&server, vec![ModelConfig::new(SMALL)]));
    let list = client.models().await.unwrap();
    assert!(list.data.iter().any(|m| m.id == SMALL));
    let model = client.model(SMALL).await.unwrap();
    assert_eq!(model.context_window, Some(131_072));
    assert!(matches!(
        client.model("missing").await,
        Err(Error::ModelNotFound { .. })
    ));
    assert_eq!(client.configured_models().len(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cancelled_by_id_ends_with_cancelled_and_stays_charged() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(SMALL, MockLimits::unlimited())
        .completion_tokens(40)
        .stream_interval(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let limits = Limits::unlimited().with_tokens_per_day(Rate::per_day(1_000_000));
    let client = client(config(
        &server,
        vec![ModelConfig::new(SMALL).with_limits(limits)],
    ));
    let mut events = client.events();
    let mut stream = client
        .chat_stream(marked(SMALL, "stream-cancel"))
        .request_id("s-1")
        .await
        .unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    assert!(client.cancel("s-1"));
    let error = stream.next().await.unwrap().unwrap_err();
    assert!(error.is_cancelled(), "{error:?}");
    assert!(stream.next().await.is_none());
    let limits = client.limits(SMALL).unwrap();
    assert_eq!(limits.in_flight, 0);
    assert!(limits.get(Dimension::TokensPerDay).unwrap().used > 100);
    let mut finals = 0;
    while let Ok(event) = events.try_recv() {
        if event.is_final() {
            finals += 1;
            assert!(matches!(
                event,
                Event::Failed {
                    error: ErrorKind::Cancelled,
                    ..
                }
            ));
        }
    }
    assert_eq!(finals, 1);
    server.shutdown().await;
}

/// About `chars` characters of English prose, varied by `seed`.
fn prose(chars: usize, seed: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "limit",
        "of",
        "a",
        "model",
        "is",
        "reached",
        "when",
        "requests",
        "arrive",
        "faster",
        "than",
        "its",
        "bucket",
        "refills",
        "and",
        "every",
        "token",
        "counts",
        "against",
        "minute",
        "budget",
        "server",
        "client",
        "waits",
        "exactly",
        "long",
        "enough",
        "documents",
        "summaries",
    ];
    let mut text = String::with_capacity(chars + 16);
    let mut i = seed;
    while text.len() < chars {
        text.push_str(WORDS[i % WORDS.len()]);
        text.push(if i % 17 == 16 { '.' } else { ' ' });
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_bound_burst_of_long_prompts_meets_no_429_before_calibration() {
    // The emulator counts a token per 3.6 characters: about 1.6 times the cl100k count of
    // this prose, well above the counter's prior of 1.25. Without the warm-up, the first
    // burst would reserve 7 requests of ~770 estimated tokens in a 6,000-token bucket that
    // holds only 6 of the ~970 the emulator charges.
    let minute = Duration::from_secs(3);
    let rate = |limit, period| Rate::new(limit, period).unwrap();
    let limits = Limits::unlimited()
        .with_requests_per_minute(rate(30, minute))
        .with_tokens_per_minute(rate(6_000, minute));
    let server = MockServer::builder()
        .api_key(KEY)
        .model(
            SMALL,
            MockLimits::unlimited()
                .rpm(30)
                .tpm(6_000)
                .context_window(131_072),
        )
        .minute_length(minute)
        .seed(7)
        .start()
        .await
        .unwrap();
    let client = GroqClient::builder()
        .config(config(
            &server,
            vec![ModelConfig::new(SMALL).with_limits(limits)],
        ))
        // 250 ms of a 3 s minute: 500 tokens, wide enough for a loaded machine's jitter but
        // too little to absorb the prior's error.
        .limiter_margin(Duration::from_millis(250))
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    let requests: Vec<ChatRequest> = (0..10)
        .map(|i| {
            ChatRequest::new(SMALL)
                .system("You summarize documents in one sentence.")
                .user(format!(
                    "[req:long-{i}] Summarize this document.\n\n{}",
                    prose(3_000, i)
                ))
                .max_completion_tokens(100)
        })
        .collect();
    let estimate = client.count_tokens(&requests[0]);
    assert!(
        estimate.total < 6_000 / 7,
        "the prior under-estimates: {estimate:?}"
    );
    // Hold the model for a moment, as a 429 would, so that the whole burst is queued and
    // released at once, the way a batch meets a model's full bucket.
    let limiter = client.limiter();
    limiter.penalize(SMALL, None, limiter.timer().now() + Duration::from_secs(1));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(client.chat(request).into_future()))
        .collect();
    for task in tasks {
        let reply = task.await.unwrap();
        assert!(reply.is_ok(), "{reply:?}");
    }
    let stats = server.stats();
    assert_eq!(stats.rate_limited, 0, "{:?}", stats.by_status);
    assert_eq!(stats.audit.len(), 10);
    assert_eq!(client.limits(SMALL).unwrap().in_flight, 0);
    server.shutdown().await;
}
