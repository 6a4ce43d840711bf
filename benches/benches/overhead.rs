//! Pipeline overhead: with no limits, against a local hyper server that answers every request
//! at once with a canned chat completion, a raw hyper-util client (send the body, read the
//! reply's bytes) against `GroqClient` (validate, count tokens, queue, reserve, send, parse,
//! commit), at concurrency 1 and 64. Two intermediate clients split the difference:
//! `HyperTransport` alone (the transport `GroqClient` uses), and `GroqClient` with a token
//! counter that only measures text length (the pipeline without tokenization). Writes
//! `overhead.json` to the results directory.
//!
//! The server runs on its own thread and runtime, the clients on another single-threaded
//! runtime, so each side has one of the machine's cores. Rounds alternate between the two
//! clients so that drifts of the machine hit both alike.
//!
//! Run with `cargo bench -p groqchat-benches --bench overhead` (or `cargo xtask bench`).
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use groq_client::{ChatRequest, Config, GroqClient, ModelConfig, Transport};
use groq_config::Limits;
use groq_tokens::TokenCounter;
use groq_transport::HyperTransport;
use groqchat_benches::results::{self, OverheadLevel, OverheadReport, Side};
use groqchat_benches::stats::summarize;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

const MODEL: &str = "llama-3.1-8b-instant";
const KEY: &str = "gsk_bench_0123456789abcdef";
/// Idle connections kept by both clients: enough for every request in flight.
const POOL: usize = 64;
/// Rounds per client and concurrency; the two clients alternate.
const ROUNDS: u64 = 3;
/// (concurrency, requests per round).
const LEVELS: [(u64, u64); 2] = [(1, 3_000), (64, 10_000)];
const WARM_UP: u64 = 1_000;

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1730000000,"model":"llama-3.1-8b-instant","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Seven."},"logprobs":null,"finish_reason":"stop"}],"usage":{"queue_time":0.0001,"prompt_tokens":24,"prompt_time":0.001,"completion_tokens":3,"completion_time":0.001,"total_tokens":27,"total_time":0.002},"x_groq":{"id":"req_bench"}}"#;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("overhead: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the canned server on its own thread and returns its address.
fn start_server() -> Result<SocketAddr, String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("canned-server".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = sender.send(Err(format!("server runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match TcpListener::bind("127.0.0.1:0").await {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = sender.send(Err(format!("bind: {e}")));
                        return;
                    }
                };
                let _ = sender.send(listener.local_addr().map_err(|e| e.to_string()));
                // Serves until the process exits.
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service_fn(answer))
                            .await;
                    });
                }
            });
        })
        .map_err(|e| format!("server thread: {e}"))?;
    receiver
        .recv()
        .map_err(|_| "the server thread stopped".to_owned())?
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the whole request, as a real server must before answering.
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(COMPLETION.as_bytes())));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        "x-request-id",
        header::HeaderValue::from_static("req_bench"),
    );
    Ok(response)
}

/// A token counter that only measures text length (a token per 4 bytes): it takes
/// tokenization out of the pipeline's cost.
#[derive(Debug)]
struct LengthCounter;

impl TokenCounter for LengthCounter {
    fn count_text(&self, _model: &str, text: &str) -> u64 {
        text.len().div_ceil(4) as u64
    }

    fn count_request(&self, request: &ChatRequest) -> u64 {
        request
            .message_list()
            .iter()
            .filter_map(|m| m.content())
            .map(|c| self.count_text(request.model(), &c.text()) + 4)
            .sum::<u64>()
            + 3
    }
}

fn chat_request(i: u64) -> ChatRequest {
    ChatRequest::new(MODEL)
        .system("You are terse.")
        .user(format!(
            "Name a prime number above {}, in one word.",
            i % 1_000
        ))
        .max_completion_tokens(16)
}

/// Runs `requests` calls of `call`, `concurrency` at a time, and measures them.
async fn measure<F, Fut>(
    concurrency: u64,
    requests: u64,
    call: F,
) -> Result<(Duration, Vec<Duration>), String>
where
    F: Fn(u64) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<(), String>> + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    #[allow(clippy::disallowed_methods)] // a benchmark harness measures real time
    let started = std::time::Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let next = Arc::clone(&next);
        let call = call.clone();
        workers.push(tokio::task::spawn_local(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return Ok::<_, String>(latencies);
                }
                #[allow(clippy::disallowed_methods)] // a benchmark harness measures real time
                let sent = std::time::Instant::now();
                call(i).await?;
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(usize::try_from(requests).unwrap_or(0));
    for worker in workers {
        let latencies = worker
            .await
            .map_err(|e| format!("a worker failed: {e}"))??;
        all.extend(latencies);
    }
    Ok((started.elapsed(), all))
}

/// Pooled measurements of one client at one concurrency.
#[derive(Default)]
struct Tally {
    time: Duration,
    requests: u64,
    latencies: Vec<Duration>,
}

impl Tally {
    fn add(&mut self, (time, latencies): (Duration, Vec<Duration>)) {
        self.time += time;
        self.requests += latencies.len() as u64;
        self.latencies.extend(latencies);
    }

    fn side(mut self) -> Side {
        let summary = summarize(&mut self.latencies);
        Side {
            requests_per_s: self.requests as f64 / self.time.as_secs_f64().max(f64::MIN_POSITIVE),
            p50_us: summary.p50_us,
            p99_us: summary.p99_us,
        }
    }
}

fn run() -> Result<(), String> {
    let addr = start_server()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("client runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let levels = local.block_on(&runtime, measure_all(addr))?;

    for level in &levels {
        for (name, side) in [
            ("raw hyper-util", level.raw),
            ("HyperTransport", level.transport),
            ("GroqClient, length counter", level.client_length_counter),
            ("GroqClient", level.client),
        ] {
            println!(
                "concurrency {:>2}: {name:<27} {:>8.0} req/s ({:.3} of raw)  p50 {:>7.1} us  p99 {:>7.1} us",
                level.concurrency,
                side.requests_per_s,
                side.requests_per_s / level.raw.requests_per_s,
                side.p50_us,
                side.p99_us,
            );
        }
    }
    let report = OverheadReport {
        setup: format!(
            "a hyper HTTP/1.1 server on 127.0.0.1 answering every POST with a canned {}-byte \
             chat completion once it has read the request; both clients on one \
             single-threaded tokio runtime, the server on another thread; {POOL} pooled \
             connections allowed to each client; {ROUNDS} alternating rounds per client after \
             {WARM_UP} warm-up requests. Raw: hyper-util's legacy client sends a prepared JSON \
             body and reads the reply's bytes. GroqClient: the default pipeline (validation, \
             cl100k token count with calibration, per-model queue, limiter reserve and commit \
             with no limits configured, HyperTransport, JSON parsing of the reply). Between \
             them, HyperTransport alone (a prepared request sent, the body read) and GroqClient \
             with a token counter that only measures text length.",
            COMPLETION.len()
        ),
        levels,
    };
    let path = results::save(&results::results_dir(), "overhead", &report)
        .map_err(|e| format!("could not save the results: {e}"))?;
    println!("overhead: results in {}", path.display());
    Ok(())
}

async fn measure_all(addr: SocketAddr) -> Result<Vec<OverheadLevel>, String> {
    let url = format!("http://{addr}/openai/v1/chat/completions");
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let raw: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(POOL)
        .build(connector);
    let body = Bytes::from(
        serde_json::to_vec(&chat_request(7)).map_err(|e| format!("request body: {e}"))?,
    );
    let raw_call = {
        let url = url.clone();
        let body = body.clone();
        move |_i: u64| {
            let raw = raw.clone();
            let body = body.clone();
            let url = url.clone();
            async move {
                let request = Request::post(url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                    .body(Full::new(body))
                    .map_err(|e| e.to_string())?;
                let response = raw.request(request).await.map_err(|e| e.to_string())?;
                if response.status() != StatusCode::OK {
                    return Err(format!("raw client got {}", response.status()));
                }
                response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
        }
    };

    let transport_only: Arc<dyn Transport> = Arc::new(
        HyperTransport::builder()
            .pool_max_idle_per_host(POOL)
            .build()
            .map_err(|e| format!("transport: {e}"))?,
    );
    let transport_call = {
        let uri: http::Uri = url.parse().map_err(|e| format!("url: {e}"))?;
        let body = body.clone();
        move |_i: u64| {
            let mut request = Request::new(body.clone());
            *request.method_mut() = http::Method::POST;
            *request.uri_mut() = uri.clone();
            request.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            let sent = transport_only.send(request);
            async move {
                let response = sent.await.map_err(|e| format!("HyperTransport: {e}"))?;
                if response.status() != StatusCode::OK {
                    return Err(format!("HyperTransport got {}", response.status()));
                }
                response
                    .into_body()
                    .collect_bytes(1 << 20)
                    .await
                    .map_err(|e| format!("HyperTransport: {e}"))?;
                Ok(())
            }
        }
    };

    let client_light = groq_client(addr, Some(Arc::new(LengthCounter)))?;
    let light_call = move |i: u64| {
        let call = client_light.chat(chat_request(i)).into_future();
        async move {
            call.await.map_err(|e| format!("GroqClient: {e}"))?;
            Ok(())
        }
    };
    let client = groq_client(addr, None)?;
    let client_call = move |i: u64| {
        let call = client.chat(chat_request(i)).into_future();
        async move {
            let reply = call.await.map_err(|e| format!("GroqClient: {e}"))?;
            if reply.text().is_none() {
                return Err("GroqClient returned a reply without text".to_owned());
            }
            Ok(())
        }
    };

    let mut levels = Vec::new();
    for (concurrency, requests) in LEVELS {
        measure(concurrency, WARM_UP, raw_call.clone()).await?;
        measure(concurrency, WARM_UP, transport_call.clone()).await?;
        measure(concurrency, WARM_UP, light_call.clone()).await?;
        measure(concurrency, WARM_UP, client_call.clone()).await?;
        let mut tallies: [Tally; 4] = Default::default();
        for _ in 0..ROUNDS {
            tallies[0].add(measure(concurrency, requests, raw_call.clone()).await?);
            tallies[1].add(measure(concurrency, requests, transport_call.clone()).await?);
            tallies[2].add(measure(concurrency, requests, light_call.clone()).await?);
            tallies[3].add(measure(concurrency, requests, client_call.clone()).await?);
        }
        let [raw, transport, light, full] = tallies;
        levels.push(OverheadLevel {
            concurrency,
            requests: requests * ROUNDS,
            raw: raw.side(),
            transport: transport.side(),
            client_length_counter: light.side(),
            client: full.side(),
        });
    }
    Ok(levels)
}

/// A `GroqClient` for the canned server with no limits, and the given token counter (the
/// default one when `None`).
fn groq_client(
    addr: SocketAddr,
    counter: Option<Arc<dyn TokenCounter>>,
) -> Result<GroqClient, String> {
    let transport = HyperTransport::builder()
        .pool_max_idle_per_host(POOL)
        .build()
        .map_err(|e| format!("transport: {e}"))?;
    let config = Config::builder()
        .clear_models()
        .base_url(format!("http://{addr}/openai/v1"))
        .api_key(KEY)
        .model(ModelConfig::new(MODEL).with_limits(Limits::unlimited()))
        .build()
        .map_err(|e| format!("config: {e}"))?;
    let mut builder = GroqClient::builder()
        .config(config)
        .transport(Arc::new(transport));
    if let Some(counter) = counter {
        builder = builder.token_counter(counter);
    }
    builder.build().map_err(|e| format!("client: {e}"))
}
