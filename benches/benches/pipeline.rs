//! The pipeline's own CPU cost per call, without a network: `GroqClient::chat` against an
//! in-memory transport that answers every request at once with a canned completion, next to
//! that transport called alone (the part of the time that is not the pipeline's).
//!
//! Run with `cargo bench -p groqchat-benches --bench pipeline` (or `cargo xtask bench`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use groq_client::{ChatRequest, Config, GroqClient, ModelConfig, Transport};
use groq_config::{Limits, Rate};
use groq_transport::{Body, TransportError, TransportFuture};

const MODEL: &str = "llama-3.1-8b-instant";

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1730000000,"model":"llama-3.1-8b-instant","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Seven."},"logprobs":null,"finish_reason":"stop"}],"usage":{"queue_time":0.0001,"prompt_tokens":24,"prompt_time":0.001,"completion_tokens":3,"completion_time":0.001,"total_tokens":27,"total_time":0.002},"x_groq":{"id":"req_bench"}}"#;

/// Answers every request with the canned completion.
#[derive(Debug)]
struct Canned;

impl Transport for Canned {
    fn send(&self, request: http::Request<bytes::Bytes>) -> TransportFuture {
        drop(request);
        Box::pin(async {
            let mut response = http::Response::new(Body::from(COMPLETION));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Ok::<http::Response<Body>, TransportError>(response)
        })
    }
}

fn request(i: u64) -> ChatRequest {
    ChatRequest::new(MODEL)
        .system("You are terse.")
        .user(format!(
            "Name a prime number above {}, in one word.",
            i % 1_000
        ))
        .max_completion_tokens(16)
}

fn client(limits: Limits) -> GroqClient {
    let config = Config::builder()
        .clear_models()
        .base_url("http://127.0.0.1:9/openai/v1")
        .api_key("gsk_bench_0123456789abcdef")
        .model(ModelConfig::new(MODEL).with_limits(limits))
        .build()
        .expect("a valid configuration");
    GroqClient::builder()
        .config(config)
        .transport(Arc::new(Canned))
        .build()
        .expect("a client")
}

fn pipeline(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("pipeline");
    let transport = Canned;
    let body = bytes::Bytes::from(serde_json::to_vec(&request(7)).expect("a body"));
    group.bench_function("transport alone", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = transport
                    .send(http::Request::new(body.clone()))
                    .await
                    .expect("a response");
                black_box(response.into_body().collect_bytes(1 << 20).await)
            })
        });
    });
    let unlimited = client(Limits::unlimited());
    let mut i = 0;
    group.bench_function("GroqClient::chat, no limits", |b| {
        b.iter(|| {
            i += 1;
            black_box(runtime.block_on(unlimited.chat(request(i)).into_future())).is_ok()
        });
    });
    // Generous free-plan-shaped limits that never bind here: the limiter's four buckets and
    // the calibration warm-up's re-estimation are exercised on every call.
    let limited = runtime.block_on(async {
        client(
            Limits::unlimited()
                .with_requests_per_minute(Rate::per_minute(1_000_000_000))
                .with_tokens_per_minute(Rate::per_minute(1_000_000_000_000)),
        )
    });
    group.bench_function("GroqClient::chat, RPM and TPM limits", |b| {
        b.iter(|| {
            i += 1;
            black_box(runtime.block_on(limited.chat(request(i)).into_future())).is_ok()
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = pipeline
}
criterion_main!(benches);
