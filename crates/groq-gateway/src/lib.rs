//! An OpenAI-compatible HTTP gateway in front of Groq: the groqchat pipeline for clients in
//! any language.
//!
//! `groq-gateway` serves Groq's own API on a local address. Any client of that API (the
//! official groq and openai SDKs, LangChain, curl) points its base URL at the gateway and
//! gets the pipeline of `groq-client`: the token estimate, the model's lane with priorities,
//! the rate limiter, retries and 429 handling, so that a quota shared by many processes and
//! languages is paced exactly, with no avoidable 429.
//!
//! # Endpoints
//!
//! Under both `/openai/v1` and `/v1`:
//!
//! - `POST /chat/completions`: JSON, or SSE when the body says `"stream": true`. The body is
//!   forwarded **byte for byte** as received; a typed view of it gives the model and the
//!   token estimate. The answer's status, headers and bytes come back as Groq sent them, and
//!   an event stream is passed through chunk by chunk as it arrives.
//! - `GET /models`, `GET /models/{id}`: passed through (not rate-limited).
//!
//! And `GET /healthz` (`{"status":"ok"}`) and `GET /metrics` (Prometheus text).
//!
//! # Per-request headers
//!
//! - `x-groqchat-priority: high|normal|low` (default `normal`): the request's class in its
//!   model's lane.
//! - `x-groqchat-deadline: SECONDS`: a request still queued after this long is answered 429
//!   `deadline_exceeded`, with `retry-after` computed from the limiter.
//!
//! # Keys
//!
//! The Groq key lives in the gateway's configuration and is never sent back, logged or put
//! in a metric. Clients authenticate with gateway keys ([`GatewayKeys`], `sha256:HEX`
//! digests allowed at rest); with none configured, the gateway accepts any client and only
//! binds a loopback address. In pass-through mode a bearer that is not a gateway key is
//! taken as the client's own Groq key, used upstream and paced in a pipeline of its own,
//! named in logs only by a fingerprint (a digest prefix).
//!
//! # Errors
//!
//! Every error is in Groq's envelope `{"error": {"message", "type", "code"}}`. Upstream
//! errors pass through as sent. The gateway's own failures have `type`
//! `groqchat_gateway_error` and a `code` of their own:
//!
//! | status | `code` | when |
//! |---|---|---|
//! | 401 | `invalid_api_key` | missing or wrong gateway key (type `invalid_request_error`, as Groq) |
//! | 429 | `queue_full` | the model's queue holds the queue bound already (`retry-after`) |
//! | 429 | `deadline_exceeded` | still queued at `x-groqchat-deadline` (`retry-after`) |
//! | 429 | `rate_limit_exceeded` | Groq kept answering 429 beyond the retry bound (its message) |
//! | 400 | `invalid_request_body`, `invalid_priority`, `invalid_deadline` | bad input |
//! | 400 | `context_length_exceeded` | prompt plus allowance over the context window |
//! | 413 | `request_too_large` | a body over the size limit, or a cost over the quota |
//! | 502 | `upstream_unavailable`, `upstream_invalid_response` | Groq unreachable or garbled |
//! | 503 | `limiter_unavailable`, `shutting_down` | the limiter failed; shutting down |
//!
//! A stream that breaks after it started ends with an SSE error event, code
//! `upstream_stream_broken`.
//!
//! # Operations
//!
//! Graceful shutdown ([`Gateway::shutdown`], or on a signal through
//! [`Gateway::run_until`]): stop accepting, let requests in flight and queued finish
//! within the drain timeout. Limits: request body size, header read timeout, header size,
//! connections in all and per IP address ([`GatewaySettings`]). Each request is logged as a
//! `tracing` event with target `groq_gateway::access` ([`JsonLog`] writes them as JSON
//! lines).
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use groq_gateway::{Gateway, GatewaySettings};
//!
//! let config = groq_config::Config::load(None)?; // GROQ_API_KEY, GROQ_CONFIG
//! let settings = GatewaySettings::default();
//! let client = Gateway::client(config, &settings).build()?;
//! let gateway = Gateway::builder(client).settings(settings).start().await?;
//! println!("{}", gateway.base_url());
//! gateway
//!     .run_until(async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await;
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! None. The crate builds on `groq-client` and hyper (HTTP/1.1), with `ring` for the key
//! digests.

mod body;
mod error;
mod log;
mod metrics;
mod server;
mod service;
mod settings;

pub use error::GatewayError;
pub use log::JsonLog;
pub use server::{DrainReport, Gateway, GatewayBuilder};
pub use service::{DEADLINE_HEADER, PRIORITY_HEADER};
pub use settings::{GatewayKeys, GatewaySettings};
