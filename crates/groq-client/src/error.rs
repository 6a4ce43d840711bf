//! [`Error`] and [`ErrorKind`]: everything a call can fail with.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use groq_queue::QueueError;
use groq_ratelimit::Dimension;
use groq_transport::TransportError;
use groq_types::InvalidRequest;

/// A boxed error that can cross threads, as found behind [`Error::source`](StdError::source).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a call to [`GroqClient`](crate::GroqClient) failed.
///
/// The variants mirror the error hierarchy of the Python CustomGroqChat (configuration, rate
/// limit, API call, model not found, token limit exceeded) and add what an async pipeline can
/// meet (transport, timeout, cancellation, stream, shutdown). Each variant carries a detail
/// type of this module ([`RateLimited`], [`Api`], ...) read through its methods. Ask questions
/// with the predicates and accessors ([`is_retryable`](Self::is_retryable),
/// [`is_rate_limited`](Self::is_rate_limited), [`status`](Self::status),
/// [`model`](Self::model), [`message`](Self::message), [`retry_after`](Self::retry_after),
/// [`code`](Self::code), [`response_body`](Self::response_body)) and use [`kind`](Self::kind)
/// for a compact, `Copy` classification (events, summaries, metrics).
///
/// ```
/// use groq_client::Error;
///
/// fn describe(error: &Error) -> String {
///     match error {
///         Error::RateLimited(limited) => format!("wait {:?} for {}", limited.retry_after(), limited.model()),
///         Error::Api(api) => format!("{} {}", api.status(), api.message()),
///         other => other.to_string(),
///     }
/// }
/// ```
///
/// The `Display` text says what went wrong and what to do; it never repeats its source (walk
/// [`source()`](StdError::source) for that) and never contains an API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client is misconfigured: no API key, a configuration that failed to load or to
    /// validate, a transport that could not be built.
    #[error(transparent)]
    Config(Config),

    /// The server kept answering 429 for this request, more often than
    /// [`max_rate_limit_retries`](crate::GroqClientBuilder::max_rate_limit_retries) allows, or
    /// past the call's deadline.
    #[error(transparent)]
    RateLimited(RateLimited),

    /// The API answered with an error status that no retry can fix, or that kept failing
    /// until the retries ran out.
    #[error(transparent)]
    Api(Api),

    /// The model is not known: the configuration rejects unknown models, or the server
    /// answered 404 `model_not_found`.
    #[error(transparent)]
    ModelNotFound(ModelNotFound),

    /// The prompt plus the completion allowance exceed the model's context window; the
    /// request was not sent.
    #[error(transparent)]
    TokenLimitExceeded(TokenLimitExceeded),

    /// The request is larger than one of the model's rate limits can ever admit (Groq's 413
    /// `rate_limit_exceeded`, or the local limiter's verdict before sending): waiting cannot
    /// help.
    #[error(transparent)]
    RequestTooLarge(RequestTooLarge),

    /// The request breaks a rule Groq enforces; it was not sent.
    #[error(transparent)]
    InvalidRequest(InvalidRequest),

    /// The request could not be completed over the network (after the retries the policy
    /// allows).
    #[error(transparent)]
    Transport(Transport),

    /// The call's deadline ([`Call::timeout`](crate::Call::timeout)) passed before it
    /// finished.
    #[error(transparent)]
    Timeout(Timeout),

    /// The call was cancelled ([`GroqClient::cancel`](crate::GroqClient::cancel), a cancelling
    /// shutdown, or the stream was abandoned).
    #[error("the request was cancelled")]
    Cancelled,

    /// A streamed reply failed after it started: an error event from the server, a broken
    /// connection or an undecodable event.
    #[error(transparent)]
    Stream(Stream),

    /// The server's reply could not be understood.
    #[error(transparent)]
    InvalidResponse(InvalidResponse),

    /// The model's queue is full and the client was built with
    /// [`WhenFull::Reject`](crate::WhenFull::Reject).
    #[error(transparent)]
    QueueFull(QueueFull),

    /// The client was shut down ([`GroqClient::shutdown`](crate::GroqClient::shutdown)) and
    /// takes no more requests.
    #[error("the client is shut down and takes no more requests; build a new client")]
    Shutdown,

    /// The request queue failed in a way not covered above.
    #[error("the request queue could not take or keep the request")]
    Queue(#[source] QueueError),

    /// An audio request that cannot be sent: the audio is not usable (not audio, an unknown
    /// format, truncated, unreadable: see the source) or an option is invalid. Nothing was
    /// sent.
    #[error(transparent)]
    Audio(Audio),
}

/// The detail of [`Error::Config`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Config {
    pub(crate) message: String,
    #[source]
    pub(crate) source: Option<BoxError>,
}

impl Config {
    /// What is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The detail of [`Error::RateLimited`].
#[derive(Debug, thiserror::Error)]
#[error(
    "model `{model}` is rate-limited{}{}; wait and retry, lower the load, or raise \
     max_rate_limit_retries",
    dimension.map(|d| format!(" on {d}")).unwrap_or_default(),
    retry_after.map(|w| format!(" (the server asked to wait {w:?})")).unwrap_or_default()
)]
pub struct RateLimited {
    pub(crate) model: String,
    pub(crate) dimension: Option<Dimension>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) message: String,
    pub(crate) response: Option<Box<HttpResponse>>,
}

impl RateLimited {
    /// The model (empty for a call outside the model queues).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The limit the server named, if it named one.
    pub fn dimension(&self) -> Option<Dimension> {
        self.dimension
    }

    /// The wait the server asked for, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The server's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The server's last 429 answer (absent for a local verdict).
    pub fn response(&self) -> Option<&HttpResponse> {
        self.response.as_deref()
    }
}

/// The detail of [`Error::Api`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the API answered {status}{}: {message}{}",
    code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default(),
    advice(*status)
)]
pub struct Api {
    pub(crate) status: u16,
    pub(crate) code: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) message: String,
    pub(crate) failed_generation: Option<String>,
    pub(crate) response: Box<HttpResponse>,
}

impl Api {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Groq's machine-readable code (`invalid_api_key`, `json_validate_failed`, ...).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Groq's error type (`invalid_request_error`, ...).
    pub fn error_type(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    /// The message from the error envelope (or the start of the body when there was no
    /// envelope).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The model output that failed validation (`json_validate_failed`, `tool_use_failed`).
    pub fn failed_generation(&self) -> Option<&str> {
        self.failed_generation.as_deref()
    }

    /// The answer: status, request id and the exact body bytes (at most 64 KiB).
    pub fn response(&self) -> &HttpResponse {
        &self.response
    }
}

/// The detail of [`Error::ModelNotFound`].
#[derive(Debug, thiserror::Error)]
#[error(
    "model `{model}` was not found: {}; check the model id (the API's model list, \
     GET /models, names the available ones) or add it to the configuration",
    .message.trim_end_matches('.')
)]
pub struct ModelNotFound {
    pub(crate) model: String,
    pub(crate) message: String,
    pub(crate) response: Option<Box<HttpResponse>>,
}

impl ModelNotFound {
    /// The requested model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Where the verdict came from: the server's message or the configuration's.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The server's answer, when the verdict is the server's.
    pub fn response(&self) -> Option<&HttpResponse> {
        self.response.as_deref()
    }
}

/// The detail of [`Error::TokenLimitExceeded`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the request needs about {prompt} prompt tokens plus {allowance} for the reply, more than \
     the context window of {context_window} tokens of model `{model}`; shorten the messages \
     or lower max_completion_tokens"
)]
pub struct TokenLimitExceeded {
    pub(crate) model: String,
    pub(crate) prompt: u64,
    pub(crate) allowance: u64,
    pub(crate) context_window: u32,
}

impl TokenLimitExceeded {
    /// The model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The estimated prompt tokens.
    pub fn prompt(&self) -> u64 {
        self.prompt
    }

    /// The completion allowance (the request's budget, or the configured default).
    pub fn allowance(&self) -> u64 {
        self.allowance
    }

    /// The model's context window.
    pub fn context_window(&self) -> u32 {
        self.context_window
    }
}

/// The detail of [`Error::RequestTooLarge`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the request for model `{model}` is too large for its {}{}; shorten the prompt, lower \
     max_completion_tokens, or use a model or plan with a higher limit",
    dimension.map_or_else(|| "rate limits".to_owned(), |d| format!("{d} limit")),
    match (requested, limit) {
        (Some(r), Some(l)) => format!(" (requested {r}, limit {l})"),
        _ => String::new(),
    }
)]
pub struct RequestTooLarge {
    pub(crate) model: String,
    pub(crate) dimension: Option<Dimension>,
    pub(crate) requested: Option<u64>,
    pub(crate) limit: Option<u64>,
    pub(crate) from_server: bool,
    pub(crate) response: Option<Box<HttpResponse>>,
}

impl RequestTooLarge {
    /// The model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The limit that is too small, when known.
    pub fn dimension(&self) -> Option<Dimension> {
        self.dimension
    }

    /// What the request costs in that dimension, when known.
    pub fn requested(&self) -> Option<u64> {
        self.requested
    }

    /// The limit, when known.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Whether the server said so (413) rather than the local limiter.
    pub fn from_server(&self) -> bool {
        self.from_server
    }

    /// The server's 413 answer, when it said so.
    pub fn response(&self) -> Option<&HttpResponse> {
        self.response.as_deref()
    }
}

/// The detail of [`Error::Transport`].
///
/// The text names the root cause (`connect to 127.0.0.1:8089: connection refused (os
/// error 111)`, see [`TransportError::cause`]): the one place where `Display` repeats part of
/// its source, because batch outputs and logs keep only the text.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request failed in transport after {attempts} attempt{}{}; check the network and the \
     base URL, then retry",
    if *attempts == 1 { "" } else { "s" },
    source.cause().map(|c| format!(": {c}")).unwrap_or_default()
)]
pub struct Transport {
    pub(crate) attempts: u32,
    #[source]
    pub(crate) source: TransportError,
}

impl Transport {
    /// How many attempts were made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last transport error.
    pub fn error(&self) -> &TransportError {
        &self.source
    }
}

/// The detail of [`Error::Timeout`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the request did not finish within its timeout of {after:?}, queueing included; raise \
     the timeout or lower the load"
)]
pub struct Timeout {
    pub(crate) after: Duration,
}

impl Timeout {
    /// The timeout.
    pub fn after(&self) -> Duration {
        self.after
    }
}

/// The detail of [`Error::Stream`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the reply stream failed: {message}{}; retry the request",
    code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default()
)]
pub struct Stream {
    pub(crate) message: String,
    pub(crate) code: Option<String>,
    #[source]
    pub(crate) source: Option<BoxError>,
}

impl Stream {
    /// What happened.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Groq's code, when the server sent an error event.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
}

/// The detail of [`Error::InvalidResponse`]; the decoding error is its
/// [`source`](StdError::source), a [`JsonError`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the server's reply (status {status}) could not be decoded as {expected}; check that the \
     base URL points at a Groq-compatible API"
)]
pub struct InvalidResponse {
    pub(crate) status: u16,
    pub(crate) expected: &'static str,
    #[source]
    pub(crate) source: JsonError,
}

impl InvalidResponse {
    /// The HTTP status of the reply.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// What was expected.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

/// Why JSON could not be read: where, and what the reader found. Its text is the JSON
/// reader's.
#[derive(Debug)]
pub struct JsonError(serde_json::Error);

impl JsonError {
    /// The line of the first error (1-based; 0 when the input ended first).
    pub fn line(&self) -> usize {
        self.0.line()
    }

    /// The column of the first error (1-based).
    pub fn column(&self) -> usize {
        self.0.column()
    }

    /// Whether the input ended before the value did.
    pub fn is_eof(&self) -> bool {
        self.0.is_eof()
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for JsonError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

impl From<serde_json::Error> for JsonError {
    fn from(error: serde_json::Error) -> Self {
        Self(error)
    }
}

/// The detail of [`Error::QueueFull`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the queue of model `{model}` is full ({capacity} requests waiting); retry later or raise \
     the lane capacity"
)]
pub struct QueueFull {
    pub(crate) model: String,
    pub(crate) capacity: usize,
}

impl QueueFull {
    /// The model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The lane's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// The detail of [`Error::Audio`]; when the audio is at fault, the measurement's error is its
/// [`source`](StdError::source).
#[derive(Debug, thiserror::Error)]
#[error("the audio request cannot be sent: {message}")]
pub struct Audio {
    pub(crate) message: String,
    #[source]
    pub(crate) source: Option<groq_audio::AudioError>,
}

impl Audio {
    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An HTTP answer of the API that ended a call: its status, request id and the exact bytes
/// of its body (at most 64 KiB), for whoever must write the server's answer back out (batch
/// output, a gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    status: u16,
    request_id: Option<String>,
    body: Bytes,
}

impl HttpResponse {
    /// An answer with `status`, the server's `request_id` (`x-request-id`) and `body`.
    pub fn new(status: u16, request_id: Option<String>, body: Bytes) -> Self {
        Self {
            status,
            request_id,
            body,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The server's request id (the `x-request-id` header), when it sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The exact bytes of the body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

fn advice(status: u16) -> &'static str {
    match status {
        401 => "; check the API key (GROQ_API_KEY)",
        403 => "; the key is not allowed to use this resource",
        400 | 422 => "; fix the request",
        404 => "; check the URL and the model id",
        500..=599 | 498 => "; the service failed, retry later",
        _ => "",
    }
}

/// A compact classification of an [`Error`], for events, summaries and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Config`].
    Config,
    /// A 401 from the API: the key is missing, wrong or revoked.
    Authentication,
    /// A 403 from the API.
    PermissionDenied,
    /// [`Error::RateLimited`].
    RateLimited,
    /// [`Error::ModelNotFound`].
    ModelNotFound,
    /// [`Error::TokenLimitExceeded`] or the server's `context_length_exceeded`.
    TokenLimitExceeded,
    /// [`Error::RequestTooLarge`].
    RequestTooLarge,
    /// [`Error::InvalidRequest`], or a 400/422 from the API.
    InvalidRequest,
    /// A 5xx or 498 from the API.
    Server,
    /// Any other API error status.
    Api,
    /// [`Error::Transport`].
    Transport,
    /// [`Error::Timeout`], or a transport timeout.
    Timeout,
    /// [`Error::Cancelled`].
    Cancelled,
    /// [`Error::Stream`].
    Stream,
    /// [`Error::InvalidResponse`].
    InvalidResponse,
    /// [`Error::QueueFull`].
    QueueFull,
    /// [`Error::Shutdown`].
    Shutdown,
    /// [`Error::Queue`].
    Queue,
}

impl ErrorKind {
    /// A short snake-case name, e.g. `rate_limited`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Authentication => "authentication",
            Self::PermissionDenied => "permission_denied",
            Self::RateLimited => "rate_limited",
            Self::ModelNotFound => "model_not_found",
            Self::TokenLimitExceeded => "token_limit_exceeded",
            Self::RequestTooLarge => "request_too_large",
            Self::InvalidRequest => "invalid_request",
            Self::Server => "server",
            Self::Api => "api",
            Self::Transport => "transport",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Stream => "stream",
            Self::InvalidResponse => "invalid_response",
            Self::QueueFull => "queue_full",
            Self::Shutdown => "shutdown",
            Self::Queue => "queue",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// A configuration error with this message and no source.
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config(Config {
            message: message.into(),
            source: None,
        })
    }

    /// A configuration error caused by `source`.
    pub(crate) fn config_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Config(Config {
            message: message.into(),
            source: Some(source.into()),
        })
    }

    /// A broken stream.
    pub(crate) fn stream(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Self::Stream(Stream {
            message: message.into(),
            code: None,
            source,
        })
    }

    /// A transport failure after `attempts` attempts.
    pub(crate) fn transport(attempts: u32, source: TransportError) -> Self {
        Self::Transport(Transport { attempts, source })
    }

    /// The call's deadline of `after` passed.
    pub(crate) fn timeout(after: Duration) -> Self {
        Self::Timeout(Timeout { after })
    }

    /// A reply that could not be decoded as `expected`.
    pub(crate) fn invalid_response(
        status: u16,
        expected: &'static str,
        source: serde_json::Error,
    ) -> Self {
        Self::InvalidResponse(InvalidResponse {
            status,
            expected,
            source: source.into(),
        })
    }

    /// An audio request that cannot be sent.
    pub(crate) fn audio(
        message: impl Into<String>,
        source: Option<groq_audio::AudioError>,
    ) -> Self {
        Self::Audio(Audio {
            message: message.into(),
            source,
        })
    }

    /// A model that is not known.
    pub(crate) fn model_not_found(
        model: impl Into<String>,
        message: impl Into<String>,
        response: Option<HttpResponse>,
    ) -> Self {
        Self::ModelNotFound(ModelNotFound {
            model: model.into(),
            message: message.into(),
            response: response.map(Box::new),
        })
    }

    /// The compact classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Config,
            Self::RateLimited(_) => ErrorKind::RateLimited,
            Self::Api(api) => match (api.status, api.code.as_deref()) {
                (_, Some("context_length_exceeded")) => ErrorKind::TokenLimitExceeded,
                (401, _) => ErrorKind::Authentication,
                (403, _) => ErrorKind::PermissionDenied,
                (400 | 422, _) => ErrorKind::InvalidRequest,
                (404, Some("model_not_found")) => ErrorKind::ModelNotFound,
                (408, _) => ErrorKind::Timeout,
                (498 | 500..=599, _) => ErrorKind::Server,
                _ => ErrorKind::Api,
            },
            Self::ModelNotFound(_) => ErrorKind::ModelNotFound,
            Self::TokenLimitExceeded(_) => ErrorKind::TokenLimitExceeded,
            Self::RequestTooLarge(_) => ErrorKind::RequestTooLarge,
            Self::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Self::Transport(transport) if transport.source.is_timeout() => ErrorKind::Timeout,
            Self::Transport(_) => ErrorKind::Transport,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::Stream(_) => ErrorKind::Stream,
            Self::InvalidResponse(_) => ErrorKind::InvalidResponse,
            Self::QueueFull(_) => ErrorKind::QueueFull,
            Self::Shutdown => ErrorKind::Shutdown,
            Self::Queue(_) => ErrorKind::Queue,
            Self::Audio(_) => ErrorKind::InvalidRequest,
        }
    }

    /// Whether the same request may succeed if sent again later: rate limits, timeouts,
    /// retryable transport failures, 408/409/498/5xx answers, broken streams and full queues.
    /// Invalid requests, authentication failures, unknown models and oversized requests are
    /// not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited(_) | Self::Timeout(_) | Self::QueueFull(_) => true,
            Self::Api(api) => {
                matches!(api.status, 408 | 409 | 498) || (500..=599).contains(&api.status)
            }
            Self::Transport(transport) => transport.source.is_retryable(),
            Self::Stream(stream) => matches!(
                stream.code.as_deref(),
                None | Some("internal_server_error" | "service_unavailable")
            ),
            _ => false,
        }
    }

    /// Whether this is a rate-limit error (429s beyond the bound).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited(_))
    }

    /// Whether a deadline passed: the call's timeout, a transport timeout or a 408.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// Whether the call was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    /// The HTTP status behind the error, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(api) => Some(api.status),
            Self::RateLimited(_) => Some(429),
            Self::ModelNotFound(ModelNotFound {
                response: Some(response),
                ..
            }) => Some(response.status()),
            Self::RequestTooLarge(RequestTooLarge {
                from_server: true, ..
            }) => Some(413),
            _ => None,
        }
    }

    /// The model the error concerns, when it names one (rate limits, unknown models, context
    /// windows, oversized requests, full queues).
    pub fn model(&self) -> Option<&str> {
        let model = match self {
            Self::RateLimited(e) => &e.model,
            Self::ModelNotFound(e) => &e.model,
            Self::TokenLimitExceeded(e) => &e.model,
            Self::RequestTooLarge(e) => &e.model,
            Self::QueueFull(e) => &e.model,
            _ => return None,
        };
        (!model.is_empty()).then_some(model.as_str())
    }

    /// The server's (or the configuration's) message, when the error carries one: the API's
    /// error message, a rate limit's or an unknown model's, a stream's.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Api(e) => Some(&e.message),
            Self::RateLimited(e) => Some(&e.message),
            Self::ModelNotFound(e) => Some(&e.message),
            Self::Stream(e) => Some(&e.message),
            Self::Config(e) => Some(&e.message),
            Self::Audio(e) => Some(&e.message),
            _ => None,
        }
    }

    /// The server's HTTP answer that ended the call, when there was one: any error status
    /// (400, 401, 404 `model_not_found`, the 429 past the retries, 413, 5xx). `None` when no
    /// HTTP answer exists (transport failure, timeout, cancelled, refused before sending).
    pub fn response(&self) -> Option<&HttpResponse> {
        match self {
            Self::Api(e) => Some(&e.response),
            Self::RateLimited(e) => e.response.as_deref(),
            Self::ModelNotFound(e) => e.response.as_deref(),
            Self::RequestTooLarge(e) => e.response.as_deref(),
            _ => None,
        }
    }

    /// The server's request id of the answer that ended the call (see
    /// [`response`](Self::response)).
    pub fn request_id(&self) -> Option<&str> {
        self.response()?.request_id()
    }

    /// The exact bytes of the server's answer that ended the call (see
    /// [`response`](Self::response)).
    pub fn response_body(&self) -> Option<&Bytes> {
        self.response().map(HttpResponse::body)
    }

    /// The wait the server asked for, for rate-limit errors.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(e) => e.retry_after,
            _ => None,
        }
    }

    /// Groq's machine-readable error code, when there is one (`rate_limit_exceeded`,
    /// `model_not_found`, `context_length_exceeded`, `invalid_api_key`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api(e) => e.code.as_deref(),
            Self::Stream(e) => e.code.as_deref(),
            Self::RateLimited(_) | Self::RequestTooLarge(_) => Some("rate_limit_exceeded"),
            Self::ModelNotFound(_) => Some("model_not_found"),
            Self::TokenLimitExceeded(_) => Some("context_length_exceeded"),
            _ => None,
        }
    }

    /// The rate-limit dimension concerned, for rate-limit and request-too-large errors.
    pub fn dimension(&self) -> Option<Dimension> {
        match self {
            Self::RateLimited(e) => e.dimension,
            Self::RequestTooLarge(e) => e.dimension,
            _ => None,
        }
    }

    /// How many HTTP attempts were made, for transport failures.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Self::Transport(e) => Some(e.attempts),
            _ => None,
        }
    }
}

impl From<InvalidRequest> for Error {
    fn from(error: InvalidRequest) -> Self {
        Self::InvalidRequest(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<&str>) -> Error {
        Error::Api(Api {
            status,
            code: code.map(str::to_owned),
            kind: None,
            message: "boom".to_owned(),
            failed_generation: None,
            response: Box::new(HttpResponse::new(status, None, Bytes::new())),
        })
    }

    #[test]
    fn kinds_follow_status_and_code() {
        assert_eq!(
            api(401, Some("invalid_api_key")).kind(),
            ErrorKind::Authentication
        );
        assert_eq!(api(400, None).kind(), ErrorKind::InvalidRequest);
        assert_eq!(
            api(400, Some("context_length_exceeded")).kind(),
            ErrorKind::TokenLimitExceeded
        );
        assert_eq!(api(503, None).kind(), ErrorKind::Server);
        assert_eq!(api(418, None).kind(), ErrorKind::Api);
        assert_eq!(Error::Cancelled.kind().to_string(), "cancelled");
    }

    #[test]
    fn predicates() {
        assert!(api(503, None).is_retryable());
        assert!(!api(401, None).is_retryable());
        assert_eq!(
            api(401, Some("invalid_api_key")).code(),
            Some("invalid_api_key")
        );
        let limited = Error::RateLimited(RateLimited {
            model: "m".to_owned(),
            dimension: Some(Dimension::TokensPerMinute),
            retry_after: Some(Duration::from_secs(3)),
            message: String::new(),
            response: None,
        });
        assert!(limited.is_rate_limited() && limited.is_retryable());
        assert_eq!(limited.status(), Some(429));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(limited.dimension(), Some(Dimension::TokensPerMinute));
        let text = limited.to_string();
        assert!(
            text.contains("tokens per minute (TPM)") && text.contains("3s"),
            "{text}"
        );
        let too_large = Error::RequestTooLarge(RequestTooLarge {
            model: "m".to_owned(),
            dimension: Some(Dimension::TokensPerMinute),
            requested: Some(9_000),
            limit: Some(6_000),
            from_server: true,
            response: None,
        });
        assert_eq!(too_large.status(), Some(413));
        assert!(!too_large.is_retryable());
        assert!(too_large.to_string().contains("requested 9000, limit 6000"));
        assert_eq!(too_large.model(), Some("m"));
        let Error::RequestTooLarge(detail) = &too_large else {
            panic!("{too_large:?}");
        };
        assert_eq!(
            (detail.requested(), detail.limit()),
            (Some(9_000), Some(6_000))
        );
        assert!(detail.from_server());
    }

    #[test]
    fn a_decoding_error_is_the_crates_own_type_behind_source() {
        let json = serde_json::from_slice::<serde_json::Value>(b"{\"a\":").unwrap_err();
        let error = Error::invalid_response(200, "a chat completion", json);
        let source = error.source().expect("the decoding error");
        let json = source.downcast_ref::<JsonError>().expect("a JsonError");
        assert!(json.is_eof());
        assert_eq!(json.line(), 1);
        assert!(error.to_string().contains("status 200"), "{error}");
        assert!(
            !error.to_string().contains("EOF"),
            "the text does not repeat its source"
        );
    }

    #[test]
    fn display_does_not_repeat_the_source() {
        let error = Error::config_from("bad config", "inner detail");
        assert_eq!(error.to_string(), "bad config");
        assert!(error.source().is_some());
    }

    #[test]
    fn a_transport_error_names_its_root_cause() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = Error::transport(
            3,
            TransportError::connect(refused).with_target("127.0.0.1:8089"),
        );
        let text = error.to_string();
        assert!(
            text.contains("after 3 attempts: connect to 127.0.0.1:8089: connection refused;"),
            "{text}"
        );
        assert!(error.source().is_some());
        assert!(error.is_retryable());
    }
}
