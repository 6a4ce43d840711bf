//! A faithful emulator of the Groq Cloud API over real HTTP.
//!
//! `groq-mock` sits beside the groqchat stack rather than in it: it is the server the other
//! crates' tests, the examples, the benchmarks and the CLI's offline mode (`groqchat mock`,
//! `groqchat batch --mock`) talk to. It behaves like Groq as far as a client can tell: the
//! same endpoints under `/openai/v1`, the same error envelopes, codes and statuses, the
//! `x-ratelimit-*` headers, 429 bodies in Groq's words with `retry-after`, server-sent events
//! with `x_groq.usage` in the last chunk, and continuously refilling per-model limits (RPM,
//! RPD, TPM, TPD) kept per API key. It is independent of groqchat's own rate limiter, so it
//! can judge it.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use groq_mock::{MockLimits, MockServer};
//! use std::time::Duration;
//!
//! let server = MockServer::builder()
//!     .api_key("gsk_test")
//!     .model("llama-3.1-8b-instant", MockLimits::unlimited().rpm(30).tpm(6_000).context_window(8_192))
//!     .minute_length(Duration::from_secs(2)) // a "minute" lasts 2 s, a "day" 48 min
//!     .start()
//!     .await?;
//! let base_url = server.base_url(); // http://127.0.0.1:PORT/openai/v1
//! // ... point a client at `base_url` with `Authorization: Bearer gsk_test` ...
//! let stats = server.stats();
//! assert_eq!(stats.rate_limited, 0);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! From a shell (the binary needs the `cli` feature): `groq-mock --addr 127.0.0.1:8089 --limits limits.json --time-scale 6`
//! prints the base URL on its first line and serves until Ctrl-C or SIGTERM
//! ([`wait_for_termination`]).
//!
//! # Endpoints
//!
//! - `POST /openai/v1/chat/completions`: JSON, or SSE when `"stream": true`.
//! - `GET /openai/v1/models`, `GET /openai/v1/models/{id}`.
//! - `GET /_mock/stats`: [`MockStats`] as JSON (no key needed).
//!
//! # Validation, in Groq's order
//!
//! `Authorization: Bearer <key>` missing or not accepted → 401 `invalid_api_key`. Body over
//! 1 MiB → 413. Invalid JSON, a top-level property Groq does not accept (or rejects:
//! `logprobs`, `logit_bias`, `top_logprobs`), `messages[].name`, `n` other than 1, or a value
//! out of range → 400 `invalid_request_error`. Unknown model → 404 `model_not_found`. Prompt
//! plus completion budget over the context window → 400 `context_length_exceeded`. Cost over
//! a token bucket's capacity → 413 `rate_limit_exceeded` ("Request too large ..."). Cost that
//! does not fit now → 429 `rate_limit_exceeded`, `type` `tokens` or `requests`, with
//! `retry-after` in whole seconds rounded up and the wait in the message:
//!
//! ```text
//! Rate limit reached for model `llama-3.1-8b-instant` in organization `org_mock` service tier
//! `on_demand` on tokens per minute (TPM): Limit 6000, Used 5034, Requested 1443. Please try
//! again in 4.77s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing
//! ```
//!
//! (one line). When several windows are short, the one with the longest wait is named.
//!
//! # Limits and headers
//!
//! Each limit is a bucket of capacity = limit that refills continuously at limit per period
//! (integer nanosecond arithmetic), per API key and model. A request is admitted only when
//! all four buckets hold its cost (1 request; prompt tokens + completion budget tokens), and
//! then charged in all four. After the response the unused budget (budget − completion
//! tokens) is refunded to the token buckets; a stream refunds when it ends or is dropped.
//! Every response to a chat request of a known model carries
//! `x-ratelimit-{limit,remaining,reset}-requests` (the **per-day** request bucket) and
//! `x-ratelimit-{limit,remaining,reset}-tokens` (the **per-minute** token bucket): the
//! limit, the whole units left, and the time until full in Go form (`7.66s`, `2m59.56s`,
//! `320ms`, see [`go_duration`]); an unlimited dimension has no headers. Every response
//! carries `x-request-id`.
//!
//! The time scale ([`MockServerBuilder::minute_length`], `--time-scale SECONDS`) sets how
//! long a minute lasts; a day lasts 1,440 minutes. Waits are reported in real time.
//!
//! # Token counting
//!
//! The emulator counts with its own rule, deliberately not a real tokenizer, so a client's
//! estimates are honestly imperfect, as against Groq ([`count_prompt_tokens`]):
//!
//! - a text of `c` characters (Unicode scalar values) is `ceil(c / 3.6)` tokens;
//! - each message costs 4 tokens plus its text (text parts joined by newlines; for an
//!   assistant message, plus its tool calls' names and arguments);
//! - each request costs 3 more tokens (reply priming), plus the text of its `tools` array
//!   serialized as JSON when it has tools.
//!
//! The completion budget is `max_completion_tokens`, else `max_tokens`, else the server's
//! default (1,024). A reply has `min(mock length, budget)` completion tokens, where the mock
//! length is the request's `mock_completion_tokens` extension field or the server's setting
//! (16); `finish_reason` is `length` when the budget cut it, `stop` otherwise. With `tools`
//! and a `tool_choice` that forces a function (named, or `required`: the first tool), the
//! reply is a tool call whose arguments fill the schema's required properties with values
//! valid against it. `response_format: json_object` gets `{"answer": TEXT}`; `json_schema`
//! gets JSON valid against the schema: every declared property, nested objects and arrays,
//! the first value of an `enum`, numbers within their bounds, strings holding the reply's
//! words.
//!
//! A stream sends a first chunk with the role, one chunk per token (or the tool call), a
//! final chunk with `finish_reason` and `x_groq.usage` (and top-level `usage` when
//! `stream_options.include_usage` is set), then `data: [DONE]`. Events go out at once, or
//! [`MockServerBuilder::stream_interval`] apart (`--stream-interval-ms`).
//!
//! # Limits file
//!
//! `limits.json` maps model ids to [`MockLimits`]; a missing field is unlimited:
//!
//! ```json
//! {"llama-3.1-8b-instant": {"rpm": 30, "rpd": 14400, "tpm": 6000, "tpd": 500000, "context_window": 131072}}
//! ```
//!
//! Without one, the built-in catalog of `groq-config` applies (Groq's free-plan limits).
//!
//! # Faults
//!
//! [`Faults`] (flags `--fail-rate`, `--drop-rate`, `--malformed-rate`, `--stream-error-rate`,
//! `--latency-ms MIN:MAX`, `--seed`) are drawn per chat request from a generator seeded with
//! [`MockServerBuilder::seed`], so a sequence of requests meets the same faults on every run.
//! They apply after validation; injected faults charge nothing.
//!
//! # Stats
//!
//! [`MockServer::stats`] and `GET /_mock/stats` give responses by status, the number of
//! 429s and dropped connections, and an audit of every admitted request: time since start,
//! model, prompt and completion tokens, whether streamed, and the `<id>` of a `[req:<id>]`
//! marker in the last user message.
//!
//! # Features
//!
//! - `cli` — `MockArgs` (the emulator's flags as a `clap::Args` group, for binaries that embed
//!   the emulator, as `groqchat mock` does) and the `groq-mock` binary itself. The library
//!   alone depends on hyper (HTTP/1.1 server), hyper-util, tokio, `groq-types`, `groq-config`
//!   (the catalog) and `groq-audio`; clap only comes with this feature.

#[cfg(feature = "cli")]
mod args;
mod audio;
mod bucket;
mod cache;
mod engine;
mod error;
mod faults;
mod http;
mod limits;
mod multipart;
mod responses;
mod schema;
mod server;
mod stats;
mod store;
mod termination;
mod tokens;

#[cfg(feature = "cli")]
pub use args::MockArgs;
pub use audio::MAX_AUDIO_BYTES;
pub use bucket::go_duration;
pub use error::MockError;
pub use faults::Faults;
pub use http::MAX_BODY_BYTES;
pub use limits::MockLimits;
pub use server::{MockServer, MockServerBuilder};
pub use stats::{AuditEntry, MockStats};
pub use termination::wait_for_termination;
pub use tokens::{REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, count_prompt_tokens, text_tokens};
