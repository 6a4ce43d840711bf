//! A client for the [Groq Cloud](https://console.groq.com) API (OpenAI-compatible chat
//! completions) that pushes many requests through Groq's per-model limits — requests and
//! tokens, per minute and per day — in the minimum time those limits allow, with no avoidable
//! `429 Too Many Requests`.
//!
//! `groqchat` is the crate to depend on. It sits on top of the workspace's stack and
//! re-exports the default wiring and the types a program needs:
//!
//! | layer | crate | here as |
//! |---|---|---|
//! | the client and its pipeline | `groq-client` | [`GroqClient`], [`Error`], [`Event`], [`client`] |
//! | wire types | `groq-types` | [`ChatRequest`], [`ChatCompletion`], [`Usage`], [`types`] |
//! | configuration | `groq-config` | [`Config`], [`ModelConfig`], [`Limits`], [`Rate`], [`ApiKey`], [`config`] |
//! | token counting | `groq-tokens` | [`TokenCounter`], [`TiktokenCounter`], [`tokens`] |
//! | rate limiting | `groq-ratelimit` | [`RateLimiter`], [`LocalLimiter`], [`Quota`], [`ratelimit`] |
//! | queueing | `groq-queue` | [`Priority`], [`ShutdownMode`], [`queue`] |
//! | HTTP | `groq-transport` | [`Transport`], [`HyperTransport`], [`RetryPolicy`], [`transport`] |
//!
//! Every request goes the same way: it is validated and its token cost estimated (prompt plus
//! completion budget, which Groq charges up front), it waits in its model's queue by
//! [`Priority`] until the rate limiter says its cost fits every limit at once, it is sent, and
//! the usage and `x-ratelimit-*` headers of the reply correct the limiter. A 429 (another
//! process sharing the key, say) pauses the model for the wait the server names and puts the
//! request back at the head of its queue. `docs/rate-limits.md` in the repository explains the
//! model; `docs/configuration.md` lists every setting.
//!
//! # Quick start
//!
//! Add the crate and a tokio runtime:
//!
//! ```toml
//! [dependencies]
//! groqchat = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! Then, with `GROQ_API_KEY` set (the limits of Groq's free plan apply unless a configuration
//! file says otherwise, see [`Config`]):
//!
//! ```no_run
//! use groqchat::prelude::*;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), groqchat::Error> {
//!     let client = GroqClient::from_env()?;
//!
//!     // One request.
//!     let request = ChatRequest::new("llama-3.1-8b-instant")
//!         .system("You are terse.")
//!         .user("Name a prime number.")
//!         .max_completion_tokens(32);
//!     let reply = client.chat(request).priority(Priority::High).await?;
//!     println!("{}", reply.text().unwrap_or_default());
//!
//!     // Many requests at once: the client paces them to the model's limits.
//!     let calls: Vec<_> = (1..=50)
//!         .map(|i| {
//!             let client = client.clone();
//!             tokio::spawn(async move {
//!                 let request = ChatRequest::new("llama-3.1-8b-instant")
//!                     .user(format!("What is {i} + {i}?"))
//!                     .max_completion_tokens(16);
//!                 client.chat(request).await
//!             })
//!         })
//!         .collect();
//!     for call in calls {
//!         match call.await {
//!             Ok(Ok(reply)) => println!("{}", reply.text().unwrap_or_default()),
//!             Ok(Err(error)) => eprintln!("failed: {error}"),
//!             Err(join) => eprintln!("task failed: {join}"),
//!         }
//!     }
//!
//!     // Streaming: chunks as they arrive, usage at the end.
//!     let mut stream = client
//!         .chat_stream(ChatRequest::new("llama-3.1-8b-instant").user("Count to five."))
//!         .await?;
//!     while let Some(chunk) = stream.next().await {
//!         print!("{}", chunk?.text().unwrap_or_default());
//!     }
//!     println!("\n{:?}", stream.usage());
//!
//!     // Finish what is queued, then stop.
//!     client.shutdown(ShutdownMode::Drain).await;
//!     Ok(())
//! }
//! ```
//!
//! Per-call options (priority, timeout, attempts, request id) sit on the call:
//! [`ChatCall::priority`], [`ChatCall::timeout`], [`ChatCall::max_attempts`],
//! [`ChatCall::request_id`]. [`GroqClient::events`] reports what the pipeline does, for
//! progress bars and metrics; [`GroqClient::limits`] and [`GroqClient::queue_status`] show
//! the state of a model's limits and of the queues.
//!
//! # Offline, against the emulator
//!
//! The same code runs against `groq-mock`, the workspace's Groq emulator (a real HTTP server
//! on 127.0.0.1 with Groq's limits, headers, errors and streaming; feature `mock` re-exports
//! it as `groqchat::mock`). Point the client at it with
//! [`base_url`](GroqClientBuilder::base_url):
//!
//! ```
//! use groq_mock::{MockLimits, MockServer};
//! use groqchat::prelude::*;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A model limited to 3 requests per "minute", and a minute that lasts 1 second.
//! let server = MockServer::builder()
//!     .api_key("gsk_offline")
//!     .model("llama-3.1-8b-instant", MockLimits::unlimited().rpm(3).context_window(8_192))
//!     .minute_length(Duration::from_secs(1))
//!     .start()
//!     .await?;
//!
//! // The client's view of the same limits, in the same compressed time.
//! let config = Config::builder()
//!     .clear_models()
//!     .model(
//!         ModelConfig::new("llama-3.1-8b-instant")
//!             .with_limits(Limits::unlimited().with_requests_per_minute(Rate::new(3, Duration::from_secs(1))?))
//!             .with_context_window(8_192),
//!     )
//!     .build()?;
//! let client = GroqClient::builder()
//!     .config(config)
//!     .api_key("gsk_offline")
//!     .base_url(server.base_url())
//!     // Room for a busy machine's scheduling jitter (the default margin is 100 ms).
//!     .limiter_margin(Duration::from_millis(250))
//!     .build()?;
//!
//! // Six requests at once: three fit now, the client holds the rest until the bucket refills.
//! let calls: Vec<_> = (0..6)
//!     .map(|i| tokio::spawn(client.complete("llama-3.1-8b-instant", format!("Question {i}")).into_future()))
//!     .collect();
//! for call in calls {
//!     let reply = call.await??;
//!     assert!(reply.usage.is_some_and(|usage| usage.completion_tokens > 0));
//! }
//! // The server never had to refuse one.
//! assert_eq!(server.stats().rate_limited, 0);
//!
//! client.shutdown(ShutdownMode::Drain).await;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The workspace's `examples/` folder holds complete programs (comparing models, streaming,
//! tool calls, JSON mode, rate-limit tests, parallel processing with progress); each runs
//! against Groq when `GROQ_API_KEY` is set and against an embedded emulator otherwise:
//! `cargo run -p groqchat --example parallel_processing`.
//!
//! # Plugging in your own parts
//!
//! Every stage is a trait object chosen on the [`GroqClientBuilder`]: a [`Transport`] (another
//! HTTP stack, a proxy, request signing), a [`RateLimiter`] (a limiter shared between
//! processes), a [`TokenCounter`], a [`Timer`], a scheduler ([`SchedulerFactory`]). The
//! sub-crates are re-exported whole ([`types`], [`config`], [`tokens`], [`ratelimit`],
//! [`queue`], [`transport`], [`client`]) for everything this root does not name.
//!
//! # Features
//!
//! The default wiring needs no feature: TLS by rustls with the *ring* provider and Mozilla's
//! root certificates compiled in (`webpki-roots`), HTTP/1.1 and HTTP/2 by hyper, on tokio.
//!
//! - `native-roots`: also trust the operating system's certificate store
//!   ([`TlsRoots::Native`](transport::TlsRoots)).
//! - `mock`: the emulator, as `groqchat::mock` (the `groq-mock` crate).
//! - `test-util`: test doubles of the lower crates, `MockTransport` (in
//!   [`transport`]`::mock`) and `ManualTimer` (in [`ratelimit`]).
//! - `redis`: one quota shared by many processes and machines through Redis:
//!   `GroqClient::builder().redis("redis://127.0.0.1:6379")` (or the configuration's
//!   `redis_url`), and the limiter itself as `groqchat::redis` (the `groq-ratelimit-redis`
//!   crate).

pub use groq_client as client;
pub use groq_config as config;
#[cfg(feature = "mock")]
pub use groq_mock as mock;
pub use groq_queue as queue;
pub use groq_ratelimit as ratelimit;
#[cfg(feature = "redis")]
pub use groq_ratelimit_redis as redis;
pub use groq_tokens as tokens;
pub use groq_transport as transport;
pub use groq_types as types;

// The client, its calls, errors and events.
pub use groq_client::{
    BoxError, CallFuture, ChatCall, ChatFuture, ChatStream, ChatStreamCall, ChatStreamFuture,
    Error, ErrorKind, Event, GroqClient, GroqClientBuilder, LimitUsage, ModelLimits, QueueStatus,
    RequestId, RetryReason, SchedulerFactory,
};

// Wire types: requests, replies, chunks, models.
pub use groq_types::{
    ChatCompletion, ChatCompletionAccumulator, ChatCompletionChunk, ChatRequest, Choice, Content,
    ContentPart, FinishReason, FunctionCall, FunctionDefinition, JsonObject, JsonSchemaFormat,
    Message, Model, ModelList, ReasoningEffort, ReasoningFormat, ResponseFormat, ResponseMessage,
    ServiceTier, Stop, Tool, ToolCall, ToolChoice, ToolChoiceMode, Usage,
};

// Configuration.
pub use groq_config::{
    ApiKey, Config, ConfigBuilder, ConfigError, LimitKind, Limits, ModelConfig, PriorityAging,
    Rate, UnknownModelPolicy,
};

// Token counting.
pub use groq_tokens::{CalibratedCounter, Estimate, TiktokenCounter, TokenCounter};

// Rate limiting.
pub use groq_ratelimit::{
    Cost, DEFAULT_MARGIN, Dimension, LocalLimiter, Quota, RateLimiter, Snapshot, Timer, TokioTimer,
};

// Queueing.
pub use groq_queue::{
    AgingConfig, AgingQueue, Key, LaneEntry, LaneStatus, Priority, Scheduler, ShutdownMode,
    ShutdownReport, WhenFull,
};

// HTTP transport.
pub use groq_transport::{HyperTransport, RetryPolicy, Transport, TransportError};

/// The names most programs use, for a glob import: `use groqchat::prelude::*;`.
///
/// It holds the client, requests and replies, priorities, configuration and the pluggable
/// traits (so their methods are in scope). Errors stay qualified (`groqchat::Error`), so that
/// the glob never shadows `std::error::Error` or another crate's `Error`.
pub mod prelude {
    pub use crate::{
        ChatCompletion, ChatCompletionChunk, ChatRequest, ChatStream, Config, Event, GroqClient,
        Limits, Message, ModelConfig, Priority, Rate, RateLimiter, ResponseFormat, ShutdownMode,
        TokenCounter, Tool, ToolChoice, Transport, Usage,
    };
}

/// The workspace README's Rust snippets, compiled as doc tests so the quick start it shows
/// keeps working as written.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
