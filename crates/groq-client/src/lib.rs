//! `GroqClient`: the groqchat pipeline that pushes chat requests through Groq's per-model
//! rate limits in the least time, with no avoidable 429.
//!
//! # Where it sits
//!
//! `groq-client` ties the stack together. For every call it
//!
//! 1. **validates** the request ([`ChatRequest::validate`]), resolves its model under the
//!    configuration's unknown-model policy ([`Error::ModelNotFound`]) and checks the context
//!    window: prompt estimate plus completion allowance must fit, or the call fails with
//!    [`Error::TokenLimitExceeded`] before anything is sent;
//! 2. **estimates** its cost with the token counter (`groq-tokens`): prompt tokens, calibrated
//!    by the usage seen so far, plus the completion allowance (`max_completion_tokens`, or the
//!    configured default). The body is serialized once; a request without a completion
//!    budget is sent without one: the allowance is only for accounting;
//! 3. **queues** it in its model's lane (`groq-queue`) by priority with aging; the lane's
//!    dispatcher reserves the cost on the rate limiter (`groq-ratelimit`) and sleeps exactly
//!    until it fits. When nothing is queued ahead and the cost fits at once, the call
//!    reserves and goes on its own task, skipping the dispatcher. A request's cost is
//!    re-estimated with the counter's current calibration when it reaches the head of its
//!    lane. **Warm-up:** until a model with a rate limit has answered once, its lane sends
//!    one request and holds the rest, so that neither a drained server (another process, an
//!    earlier run) nor a prior estimate that is too low can turn the first burst into 429s;
//!    the first reply's usage calibrates the counter, its headers (or its 429 text)
//!    synchronize the limiter, and the lane is released. This costs one round trip per
//!    model, and nothing for unlimited models;
//! 4. **sends** it through the [`Transport`] (`groq-transport`), outside the dispatcher, and
//!    reads the answer:
//!    - every response's `x-ratelimit-*` headers are observed by the limiter;
//!    - 2xx: the reservation is committed with the billable usage, and the counter calibrated;
//!    - 429: the reservation is refunded (a 429 charges nothing), the model paused for the
//!      server's wait, and the request put back at the head of its lane with its original
//!      key; after [`max_rate_limit_retries`](GroqClientBuilder::max_rate_limit_retries) of
//!      them it fails with [`Error::RateLimited`];
//!    - 413 `rate_limit_exceeded`: [`Error::RequestTooLarge`] at once (it can never fit);
//!    - 408, 409, 498, 5xx and transport failures: backoff per the [`RetryPolicy`], then back
//!      through the queue and the limiter, within the attempt and deadline bounds;
//!    - anything else: [`Error::Api`] with status, code, message and body.
//!
//! Every call ends in exactly one result. Dropping a call's future cancels it: a queued
//! request leaves its queue and is refunded; a request on the wire is aborted and its
//! reservation stays charged (the server may have counted it). A connection that could not
//! be opened is refunded.
//!
//! # Example
//!
//! ```no_run
//! use groq_client::{ChatRequest, GroqClient, Priority};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), groq_client::Error> {
//! // GROQ_API_KEY from the environment, Groq's free-plan limits from the built-in catalog.
//! let client = GroqClient::from_env()?;
//!
//! let request = ChatRequest::new("llama-3.1-8b-instant")
//!     .system("You are terse.")
//!     .user("Name a prime number.")
//!     .max_completion_tokens(32);
//! let reply = client.chat(request).priority(Priority::High).await?;
//! println!("{}", reply.text().unwrap_or_default());
//!
//! // Many requests at once: the client paces them to the model's limits.
//! let calls = (0..20).map(|i| {
//!     let client = client.clone();
//!     tokio::spawn(async move { client.complete("llama-3.1-8b-instant", format!("{i} + {i} = ?")).await })
//! });
//! for call in calls {
//!     let reply = call.await.expect("the task ran")?;
//!     println!("{}", reply.text().unwrap_or_default());
//! }
//! # Ok(()) }
//! ```
//!
//! # Runtime
//!
//! Calls must run inside a tokio runtime with the time driver enabled: each model's lane runs
//! a dispatcher task, spawned on the first call for that model. Building a client needs no
//! runtime.
//!
//! # Events and tracing
//!
//! [`GroqClient::events`] is a broadcast of [`Event`]s (queued, dispatched, waiting,
//! rate-limited, retrying, completed, failed) with request ids, for progress bars and
//! metrics. Each call also runs in a `tracing` span `groq_request` with its id, model,
//! priority, estimated tokens, attempts and time spent queued.
//!
//! # Features
//!
//! None. The crate builds on `groq-types`, `groq-config`, `groq-tokens`, `groq-ratelimit`,
//! `groq-queue` and `groq-transport`, with tokio and tracing.

mod audio;
mod builder;
mod call;
mod client;
mod error;
mod event;
mod forward;
mod pipeline;
mod redact;
mod responses;
mod rest;
mod stream;
mod usage;
mod warmup;

pub use audio::{AudioReply, AudioSource, measure as measure_audio};
pub use builder::{GroqClientBuilder, SchedulerFactory};
pub use call::{CallFuture, ChatCall, ChatFuture, ChatStreamCall, ChatStreamFuture};
pub use client::{GroqClient, LimitUsage, ModelLimits, QueueStatus};
pub use error::{BoxError, Error, ErrorKind, HttpResponse};
pub use event::{Event, RequestId, RetryReason};
pub use forward::{
    CHAT_COMPLETIONS, ForwardBody, ForwardCall, ForwardError, ForwardRequest, ForwardResponse,
    ForwardStream,
};
pub use redact::REDACTED;
pub use responses::{ResponseEvent, ResponseStream};
pub use stream::ChatStream;

pub use groq_config::{ApiKey, Config, ModelConfig};
pub use groq_queue::{LaneStatus, Priority, ShutdownMode, ShutdownReport, WhenFull};
pub use groq_ratelimit::Dimension;
pub use groq_tokens::Estimate;
pub use groq_transport::{RetryPolicy, Transport};
pub use groq_types::{
    Batch, BatchList, CreateBatch, Deleted, EmbeddingList, EmbeddingRequest, FileList, FileObject,
    RequestCounts, ResponseObject, ResponseRequest, ResponseUsage,
};
pub use groq_types::{
    ChatCompletion, ChatCompletionChunk, ChatRequest, Message, Model, ModelList, Tool, Usage,
};
pub use groq_types::{
    SpeechFormat, SpeechRequest, TimestampGranularity, Transcript, TranscriptFormat,
    TranscriptionOptions,
};

/// `GroqClient` must stay shareable between tasks.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    const fn assert_send<T: Send>() {}
    assert_send_sync::<GroqClient>();
    assert_send::<ChatStream>();
    assert_send::<ChatFuture>();
    assert_send::<ChatStreamFuture>();
    assert_send::<ForwardStream>();
};
