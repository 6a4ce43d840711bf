//! HTTP transport for groqchat: the [`Transport`] trait, server-sent-event decoding, the
//! [`RetryPolicy`] and (feature `hyper`, on by default) the production `HyperTransport`.
//!
//! # Where it sits
//!
//! `groq-transport` is the bottom of the request path. `groq-client` builds an
//! `http::Request<Bytes>`, the rate limiter and the queue decide *when* it goes, and this crate
//! moves it: [`Transport::send`] returns the response head with a streaming [`Body`]. Nothing here
//! knows Groq's JSON; the crate only knows HTTP, TLS, SSE and Groq's retry conventions.
//!
//! - [`Transport`] — the dyn-compatible seam, held as `Arc<dyn Transport>`. Implement it to
//!   plug in another HTTP stack; see `examples/custom_transport.rs`.
//! - `HyperTransport` (feature `hyper`) — hyper-util's pooled client over rustls: HTTP/1.1 and
//!   HTTP/2 by ALPN, connect / response / body-idle timeouts, a body size cap enforced while
//!   streaming, and a refusal to send anything over plain `http://` except to loopback.
//! - [`SseDecoder`] and [`SseStream`] — incremental, bounded-memory event-stream decoding that
//!   ends at `[DONE]`.
//! - [`RetryPolicy`] — pure retry decisions: which statuses and errors to retry, exponential
//!   backoff with full jitter (drawn from a [`Jitter`]), server `retry-after` waits, attempt
//!   and deadline bounds. 429s are reported as [`RetryDecision::RateLimited`] for the rate
//!   limiter.
//! - `mock::MockTransport` (feature `test-util`) — a recording in-memory transport for tests.
//!
//! Rate-limit headers (`x-ratelimit-*`) are passed through untouched in the response; parsing
//! them is `groq-ratelimit`'s job.
//!
//! # Implementing the trait without hyper
//!
//! A crate that only implements [`Transport`] for another HTTP stack depends on this one with
//! `default-features = false`: it then gets the trait, [`Body`], [`TransportError`], the SSE
//! decoder and [`RetryPolicy`], and compiles no hyper, hyper-util, hyper-rustls, rustls, ring
//! or webpki (the workspace's `cargo xtask ci` checks this with `cargo tree`).
//!
//! # Types of other crates in this API
//!
//! Two crates are deliberate interop points, because every Rust HTTP stack already speaks them:
//!
//! - [`http`] — requests, responses, [`http::HeaderMap`], [`http::StatusCode`];
//! - [`bytes`] — [`bytes::Bytes`] request bodies and body chunks.
//!
//! [`Body`] also implements `http_body::Body` and wraps any `http_body::Body` ([`Body::new`]),
//! and [`DataStream`] implements `futures_core::Stream`, so bodies plug into the rest of the
//! ecosystem. No other crate's type appears in a public signature; errors of the HTTP stack are
//! reached only through [`std::error::Error::source`].
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "hyper")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use groq_transport::{HyperTransport, Transport};
//!
//! let transport: Arc<dyn Transport> = Arc::new(
//!     HyperTransport::builder()
//!         .request_timeout(Duration::from_secs(30))
//!         .build()?,
//! );
//! // Plain http:// to a remote host is refused before anything is sent.
//! let request = http::Request::get("http://api.groq.com/openai/v1/models")
//!     .header("authorization", "Bearer gsk_example")
//!     .body(bytes::Bytes::new())
//!     .expect("a valid request");
//! let error = transport.send(request).await.unwrap_err();
//! assert!(error.is_insecure());
//! # Ok::<(), groq_transport::TransportError>(())
//! # }).unwrap();
//! ```
//!
//! # Features
//!
//! - `hyper` (default) — `HyperTransport`, `HyperTransportBuilder` and `TlsRoots`. TLS uses
//!   rustls with the *ring* provider and Mozilla's root certificates compiled in
//!   (`webpki-roots`); more roots can be added to the builder.
//! - `native-roots` (implies `hyper`) — `TlsRoots::Native`: trust the operating system's
//!   certificate store.
//! - `test-util` — the `mock` module with `mock::MockTransport` and response helpers.

mod body;
mod error;
#[cfg(feature = "hyper")]
mod hyper;
mod jitter;
#[cfg(feature = "test-util")]
pub mod mock;
mod retry;
mod sse;
mod transport;

pub use body::{Body, BodySender, DataStream};
pub use error::{BoxError, TransportError};
#[cfg(feature = "hyper")]
pub use hyper::{HyperTransport, HyperTransportBuilder, TlsRoots};
pub use jitter::Jitter;
pub use retry::{
    Attempt, LONGEST_SERVER_WAIT, RetryDecision, RetryPolicy, StopReason, is_retryable_status,
    server_wait, should_retry_header,
};
pub use sse::{SseDecoder, SseError, SseEvent, SseStream};
pub use transport::{Transport, TransportFuture, mark_sensitive_headers};
