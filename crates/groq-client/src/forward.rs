//! Forwarding: a request body taken as bytes through the whole pipeline, and the answer given
//! back as bytes, for gateways and proxies.
//!
//! [`GroqClient::forward`] reads a typed view of the body (the model, the `stream` flag, the
//! messages for the token estimate) and sends the body **as received**: key order, numbers,
//! unknown fields and all. The request is queued in its model's lane by priority, admitted by
//! the rate limiter, retried on 429s, 5xx and transport failures exactly like a
//! [`chat`](GroqClient::chat) call. The answer keeps the server's status, headers and bytes:
//! a JSON body whole, or an event stream passed through chunk by chunk as it arrives, tapped
//! on the way for the final usage that settles the reservation.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use groq_queue::{Priority, QueuedJob};
use groq_ratelimit::RateLimitHeaders;
use groq_tokens::Estimate;
use groq_transport::{Attempt, Body, DataStream, RetryDecision, SseDecoder, TransportError};
use groq_types::{ChatRequest, Usage};
use http::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Deserialize;
use tokio::time::{Instant, Sleep};

use crate::client::Inner;
use crate::event::{RequestId, RetryReason};
use crate::pipeline::{
    self, Accepted, Attempts, InFlight, Next, Payload, Plan, Prepared, Sent, StreamStart,
};
use crate::{Error, GroqClient};

/// The path of the chat completions endpoint, relative to the base URL.
pub const CHAT_COMPLETIONS: &str = "/chat/completions";

/// A request to forward: a path under the API's base URL and the body as the caller received
/// it, with the pipeline's per-call options.
///
/// ```
/// use groq_client::{ForwardRequest, Priority};
/// use std::time::Duration;
///
/// let body = br#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}]}"#;
/// let request = ForwardRequest::chat(&body[..])
///     .priority(Priority::High)
///     .queue_deadline(Duration::from_secs(5));
/// assert_eq!(request.path(), "/chat/completions");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ForwardRequest {
    path: String,
    body: Bytes,
    priority: Priority,
    queue_deadline: Option<Duration>,
    request_id: Option<RequestId>,
}

impl ForwardRequest {
    /// A chat completion (`POST /chat/completions`) with `body` as received.
    pub fn chat(body: impl Into<Bytes>) -> Self {
        Self::post(CHAT_COMPLETIONS, body)
    }

    /// A `POST` to `path` (relative to the base URL, e.g. `/chat/completions`) with `body`.
    /// Only [`CHAT_COMPLETIONS`] is paced today; other paths are refused by
    /// [`GroqClient::forward`] with [`ForwardError::UnsupportedPath`].
    pub fn post(path: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            path: path.into(),
            body: body.into(),
            priority: Priority::Normal,
            queue_deadline: None,
            request_id: None,
        }
    }

    /// The priority class (default [`Priority::Normal`]).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// How long the request may wait for its turn: still queued after this, it leaves its
    /// queue uncharged and the call fails with [`Error::Timeout`]. Once sent, it is not
    /// bounded by this.
    pub fn queue_deadline(mut self, deadline: Duration) -> Self {
        self.queue_deadline = Some(deadline);
        self
    }

    /// The id used in the pipeline's events (default: generated).
    pub fn request_id(mut self, id: impl Into<RequestId>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// The path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The body, as it will be sent.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// Why a request could not be forwarded before it reached the queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// The body is not a chat request (not JSON, or no `model` or `messages`).
    #[error("the request body is not a valid chat completion request: {source}")]
    InvalidBody {
        /// What the JSON reader found.
        #[source]
        source: serde_json::Error,
    },
    /// The path is not one the pipeline paces.
    #[error("`{path}` is not an endpoint that can be forwarded; use /chat/completions")]
    UnsupportedPath {
        /// The path asked for.
        path: String,
    },
    /// The pipeline refused it (unknown model, context window, shut down, configuration).
    #[error(transparent)]
    Pipeline(Box<Error>),
}

impl From<Error> for ForwardError {
    fn from(error: Error) -> Self {
        Self::Pipeline(Box::new(error))
    }
}

/// A forward prepared by [`GroqClient::forward`]: the model and estimate are known; await
/// [`send`](Self::send) to queue and send it.
#[must_use = "a forward does nothing until it is sent"]
pub struct ForwardCall {
    inner: Arc<Inner>,
    prepared: Prepared,
    priority: Priority,
    queue_deadline: Option<Duration>,
    request_id: RequestId,
}

impl fmt::Debug for ForwardCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardCall")
            .field("model", &self.prepared.model)
            .field("stream", &self.prepared.stream)
            .field("estimate", &self.prepared.estimate)
            .field("priority", &self.priority)
            .field("queue_deadline", &self.queue_deadline)
            .finish_non_exhaustive()
    }
}

impl ForwardCall {
    /// The model, as the body names it.
    pub fn model(&self) -> &str {
        &self.prepared.model
    }

    /// The estimated cost reserved for it.
    pub fn estimate(&self) -> Estimate {
        self.prepared.estimate
    }

    /// Whether the body asks for an event stream.
    pub fn is_stream(&self) -> bool {
        self.prepared.stream
    }

    /// The priority class.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// Queues the request, waits for the limiter, sends it (retrying 429s, 5xx and transport
    /// failures as the client's policy says) and returns the server's answer: a success, or
    /// an error status the policy does not retry, as the server sent it. The pipeline's own
    /// failures (rate limits beyond the retry bound, the queue deadline, a full queue, a
    /// request too large for the quota, transport failures) are errors.
    ///
    /// Dropping the future cancels the request: still queued, it is charged nothing; on the
    /// wire, it is aborted and its estimate stays charged.
    pub async fn send(self) -> Result<ForwardResponse, Error> {
        let Self {
            inner,
            prepared,
            priority,
            queue_deadline,
            request_id,
        } = self;
        let config = inner.config();
        let plan = Plan {
            id: request_id,
            priority,
            retry: inner.retry.clone(),
            max_rate_limit_retries: inner.max_rate_limit_retries,
            attempt_timeout: config.request_timeout,
        };
        let mut attempts = Attempts::new(inner.now());
        let accepted =
            pipeline::execute_until(&inner, &prepared, &plan, &mut attempts, queue_deadline)
                .await?;
        let Accepted::Forward(forwarded) = accepted else {
            return Err(Error::Stream {
                message: "a typed reply arrived where a forwarded one was expected".to_owned(),
                code: None,
                source: None,
            });
        };
        let Forwarded {
            status,
            headers,
            body,
            usage,
        } = *forwarded;
        let body = match body {
            ForwardedBody::Full(bytes) => ForwardBody::Full(scrubbed(bytes, &inner.secrets())),
            ForwardedBody::Stream(start) => ForwardBody::Stream(Box::new(ForwardStream::new(
                Arc::clone(&inner),
                Arc::clone(&prepared.model),
                prepared.estimate,
                *start,
            ))),
        };
        Ok(ForwardResponse {
            status,
            headers,
            body,
            usage,
            attempts: attempts.sent,
            waited: attempts.waited,
        })
    }
}

/// The server's answer to a forwarded request, from [`ForwardCall::send`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ForwardResponse {
    /// The server's status.
    pub status: StatusCode,
    /// The server's headers (rate-limit headers, request id, content type...).
    pub headers: HeaderMap,
    /// The body, whole or streaming.
    pub body: ForwardBody,
    /// The usage a whole JSON reply reported (for a stream, see [`ForwardStream::usage`]).
    pub usage: Option<Usage>,
    /// HTTP attempts made.
    pub attempts: u32,
    /// Time spent queued, over all attempts.
    pub waited: Duration,
}

/// The body of a [`ForwardResponse`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ForwardBody {
    /// A whole body (a JSON reply or an error), as the server sent it.
    Full(Bytes),
    /// An event stream, passed through as it arrives.
    Stream(Box<ForwardStream>),
}

/// The bytes of a streamed reply as they arrive from the server, unchanged, with the
/// reservation settled from the final usage when the stream ends.
///
/// A [`Stream`] of `Result<Bytes, Error>`. Dropped before its end (the downstream client went
/// away), it aborts the upstream request and settles with what the server can have counted:
/// the prompt estimate and the chunks already received, so the rest of the completion
/// allowance is refunded. A stream that ends without reporting its usage is settled the same
/// way.
pub struct ForwardStream {
    inner: Arc<Inner>,
    model: Arc<str>,
    estimate: Estimate,
    data: DataStream,
    tap: SseDecoder,
    usage: Option<Usage>,
    chunks: u64,
    sent: Option<Sent>,
    job: Option<QueuedJob<Payload>>,
    wire: Option<InFlight>,
    /// The client's secrets, scrubbed from every chunk passed on.
    secrets: Vec<String>,
}

impl fmt::Debug for ForwardStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardStream")
            .field("model", &self.model)
            .field("chunks", &self.chunks)
            .field("usage", &self.usage)
            .field("done", &self.sent.is_none())
            .finish_non_exhaustive()
    }
}

/// The parts of a stream event the tap reads.
#[derive(Deserialize)]
struct EventView {
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    x_groq: Option<XGroqView>,
}

#[derive(Deserialize)]
struct XGroqView {
    #[serde(default)]
    usage: Option<Usage>,
}

/// The part of a JSON reply the settlement reads.
#[derive(Deserialize)]
struct ReplyView {
    #[serde(default)]
    usage: Option<Usage>,
}

impl ForwardStream {
    fn new(inner: Arc<Inner>, model: Arc<str>, estimate: Estimate, start: StreamStart) -> Self {
        let StreamStart {
            body,
            job,
            sent,
            wire,
        } = start;
        let secrets = inner.secrets();
        Self {
            inner,
            model,
            estimate,
            secrets,
            data: body.into_data_stream(),
            tap: SseDecoder::new(),
            usage: None,
            chunks: 0,
            sent: Some(sent),
            job: Some(job),
            wire: Some(wire),
        }
    }

    /// The usage the server reported, once its last chunk has passed.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Reads the events in `bytes` for the usage; the bytes themselves pass unchanged.
    fn tap(&mut self, bytes: &[u8]) {
        self.tap.push(bytes);
        self.read_events();
    }

    /// Reads the complete events the tap holds.
    fn read_events(&mut self) {
        while let Ok(Some(event)) = self.tap.next_event() {
            if event.is_done() || event.data.trim().is_empty() {
                continue;
            }
            self.chunks += 1;
            if !event.data.contains("\"usage\"") {
                continue;
            }
            if let Ok(view) = serde_json::from_str::<EventView>(&event.data)
                && let Some(usage) = view.x_groq.and_then(|x| x.usage).or(view.usage)
            {
                self.usage = Some(usage);
            }
        }
    }

    /// Settles the reservation: with the reported usage, or (cut short) with the prompt
    /// estimate plus the chunks received.
    fn settle(&mut self) {
        let Some(sent) = self.sent.take() else {
            return;
        };
        match &self.usage {
            Some(usage) => {
                self.inner
                    .counter
                    .observe_usage(&self.model, &self.estimate, usage);
                sent.commit(usage);
            }
            None => sent.commit_tokens(self.estimate.prompt.saturating_add(self.chunks)),
        }
        self.inner.warmup.answered(&self.model);
        self.wire = None;
        self.job = None;
    }
}

impl Stream for ForwardStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.sent.is_none() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.data).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) => {
                this.tap(&bytes);
                Poll::Ready(Some(Ok(scrubbed(bytes, &this.secrets))))
            }
            Poll::Ready(None) => {
                this.tap.end();
                this.read_events();
                this.settle();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => {
                this.settle();
                Poll::Ready(Some(Err(Error::Stream {
                    message: "the event stream broke off".to_owned(),
                    code: None,
                    source: Some(Box::new(error)),
                })))
            }
        }
    }
}

impl Drop for ForwardStream {
    fn drop(&mut self) {
        self.settle();
    }
}

/// The head of a successful response, as [`accepted`] needs it.
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) limits: RateLimitHeaders,
    pub(crate) received: Instant,
}

/// The answer to a forwarded request, as the pipeline hands it over.
pub(crate) struct Forwarded {
    status: StatusCode,
    headers: HeaderMap,
    body: ForwardedBody,
    usage: Option<Usage>,
}

enum ForwardedBody {
    Full(Bytes),
    Stream(Box<StreamStart>),
}

impl Forwarded {
    /// An error status the pipeline does not retry, passed through as the server sent it.
    pub(crate) fn upstream(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            headers,
            body: ForwardedBody::Full(body),
            usage: None,
        }
    }
}

/// A 2xx answer to a forwarded request: a stream is handed over unread; a JSON body is read
/// within the attempt's timer (a failure to read it is retried like any transport failure)
/// and settles the reservation with its usage.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn accepted(
    inner: &Arc<Inner>,
    prepared: &Prepared,
    plan: &Plan,
    attempts: &mut Attempts,
    job: QueuedJob<Payload>,
    sent: Sent,
    wire: InFlight,
    head: Head,
    body: Body,
    timer: Pin<&mut Sleep>,
) -> Next {
    let model = &*prepared.model;
    let Head {
        status,
        headers,
        limits,
        received,
    } = head;
    if prepared.stream {
        inner.limiter.observe(model, &limits, received);
        return Next::Done(Accepted::Forward(Box::new(Forwarded {
            status,
            headers,
            body: ForwardedBody::Stream(Box::new(StreamStart {
                body,
                job,
                sent,
                wire,
            })),
            usage: None,
        })));
    }
    let read_or_timed_out = tokio::select! {
        biased;
        body = body.collect_bytes(inner.max_response_bytes) => Ok(body),
        () = timer => Err(()),
    };
    let body = match read_or_timed_out.unwrap_or_else(|()| Err(TransportError::timeout())) {
        Ok(body) => body,
        Err(error) => {
            return pipeline::transport_failure(
                inner,
                plan,
                attempts,
                job,
                sent,
                error,
                RetryReason::Body,
            );
        }
    };
    drop(wire);
    let usage = match serde_json::from_slice::<ReplyView>(&body) {
        Ok(ReplyView { usage: Some(usage) }) => {
            inner
                .counter
                .observe_usage(model, &prepared.estimate, &usage);
            sent.commit(&usage);
            Some(usage)
        }
        _ => {
            sent.keep();
            None
        }
    };
    inner.limiter.observe(model, &limits, received);
    prepared.answered(inner);
    drop(job);
    Next::Done(Accepted::Forward(Box::new(Forwarded {
        status,
        headers,
        body: ForwardedBody::Full(body),
        usage,
    })))
}

impl GroqClient {
    /// Prepares a forward of `request`'s body through the pipeline: reads its typed view for
    /// the model, the `stream` flag and the token estimate, resolves the model under the
    /// unknown-model policy and checks the context window. The body itself is sent as given.
    ///
    /// ```no_run
    /// # async fn run(client: groq_client::GroqClient) -> Result<(), Box<dyn std::error::Error>> {
    /// use groq_client::{ForwardBody, ForwardRequest};
    ///
    /// let body = br#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}]}"#;
    /// let call = client.forward(ForwardRequest::chat(&body[..]))?;
    /// println!("{} tokens reserved for {}", call.estimate().total, call.model());
    /// let response = call.send().await?;
    /// if let ForwardBody::Full(bytes) = response.body {
    ///     println!("{} {}", response.status, String::from_utf8_lossy(&bytes));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn forward(&self, request: ForwardRequest) -> Result<ForwardCall, ForwardError> {
        if request.path != CHAT_COMPLETIONS {
            return Err(ForwardError::UnsupportedPath { path: request.path });
        }
        let inner = &self.inner;
        if inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::Shutdown.into());
        }
        let view: ChatRequest = serde_json::from_slice(&request.body)
            .map_err(|source| ForwardError::InvalidBody { source })?;
        let route = inner.route(view.model())?;
        let estimate = inner.counter.estimate(&view, route.allowance);
        if let Some(window) = route.context_window {
            let prompt = estimate.prompt.min(estimate.raw_prompt);
            if prompt.saturating_add(estimate.completion_allowance) > u64::from(window) {
                return Err(Error::TokenLimitExceeded {
                    model: view.model().to_owned(),
                    prompt,
                    allowance: estimate.completion_allowance,
                    context_window: window,
                }
                .into());
            }
        }
        let prepared = Prepared {
            model: Arc::clone(&route.model),
            uri: route.uri.clone(),
            authorization: route.authorization.clone(),
            body: request.body,
            estimate,
            stream: view.is_stream(),
            limited: route.limited,
            forward: true,
        };
        Ok(ForwardCall {
            inner: Arc::clone(inner),
            prepared,
            priority: request.priority,
            queue_deadline: request.queue_deadline,
            request_id: request.request_id.unwrap_or_else(|| inner.events.next_id()),
        })
    }

    /// A `GET` of `path` under the base URL (e.g. `/models`), outside the rate-limit queue,
    /// with the client's key; transport failures and retryable statuses are retried by the
    /// client's policy. The answer is returned as the server sent it.
    pub async fn forward_get(&self, path: &str) -> Result<ForwardResponse, Error> {
        let inner = &self.inner;
        let config = inner.config();
        let key = config.api_key.as_ref().ok_or_else(|| {
            Error::config(
                "no API key: set the GROQ_API_KEY environment variable, put \"api_key\" in the \
                 configuration, or call `.api_key(...)` on the client builder",
            )
        })?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
            .map_err(|_| {
            Error::config("the API key contains characters that cannot be sent in an HTTP header")
        })?;
        authorization.set_sensitive(true);
        let uri = pipeline::endpoint(&config.base_url, path)?;
        let started = inner.now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut request = http::Request::new(Bytes::new());
            *request.method_mut() = Method::GET;
            *request.uri_mut() = uri.clone();
            let headers = request.headers_mut();
            headers.insert(AUTHORIZATION, authorization.clone());
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            headers.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("groqchat/", env!("CARGO_PKG_VERSION"))),
            );
            let attempt =
                Attempt::new(attempts, inner.elapsed(started), pipeline::wall_clock_now());
            let sent =
                tokio::time::timeout(config.request_timeout, inner.transport.send(request)).await;
            let outcome = match sent.unwrap_or_else(|_| Err(TransportError::timeout())) {
                Ok(response) => {
                    let (head, body) = response.into_parts();
                    body.collect_bytes(inner.max_response_bytes)
                        .await
                        .map(|bytes| (head, bytes))
                }
                Err(error) => Err(error),
            };
            let (head, bytes) = match outcome {
                Ok(answer) => answer,
                Err(error) => {
                    let decision = inner
                        .retry
                        .classify_error(&error, attempt, &mut inner.rng());
                    match decision {
                        RetryDecision::Retry { after } => {
                            tokio::time::sleep(after).await;
                            continue;
                        }
                        _ => {
                            return Err(Error::Transport {
                                attempts,
                                source: error,
                            });
                        }
                    }
                }
            };
            let decision = (!head.status.is_success()).then(|| {
                inner
                    .retry
                    .classify(head.status, &head.headers, attempt, &mut inner.rng())
            });
            if let Some(RetryDecision::Retry { after }) = decision {
                tokio::time::sleep(after).await;
                continue;
            }
            return Ok(ForwardResponse {
                status: head.status,
                headers: head.headers,
                body: ForwardBody::Full(scrubbed(bytes, &inner.secrets())),
                usage: None,
                attempts,
                waited: Duration::ZERO,
            });
        }
    }
}

/// `bytes` with the client's secrets scrubbed: a server that echoes the key (in an error
/// text, say) must not hand it to the gateway's clients. The one change made to forwarded
/// bytes, as everywhere else (see `redact`).
fn scrubbed(bytes: Bytes, secrets: &[String]) -> Bytes {
    match crate::redact::scrub_bytes(&bytes, secrets) {
        std::borrow::Cow::Borrowed(_) => bytes,
        std::borrow::Cow::Owned(clean) => Bytes::from(clean),
    }
}
