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
/// meet (transport, timeout, cancellation, stream, shutdown). Ask questions with the
/// predicates ([`is_retryable`](Self::is_retryable), [`is_rate_limited`](Self::is_rate_limited),
/// [`status`](Self::status), [`retry_after`](Self::retry_after), [`code`](Self::code)) and use
/// [`kind`](Self::kind) for a compact, `Copy` classification (events, summaries, metrics).
///
/// The `Display` text says what went wrong and what to do; it never repeats its source (walk
/// [`source()`](StdError::source) for that) and never contains an API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client is misconfigured: no API key, a configuration that failed to load or to
    /// validate, a transport that could not be built.
    #[error("{message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// The server kept answering 429 for this request, more often than
    /// [`max_rate_limit_retries`](crate::GroqClientBuilder::max_rate_limit_retries) allows, or
    /// past the call's deadline.
    #[error(
        "model `{model}` is rate-limited{}{}; wait and retry, lower the load, or raise \
         max_rate_limit_retries",
        dimension.map(|d| format!(" on {d}")).unwrap_or_default(),
        retry_after.map(|w| format!(" (the server asked to wait {w:?})")).unwrap_or_default()
    )]
    RateLimited {
        /// The model.
        model: String,
        /// The limit the server named, if it named one.
        dimension: Option<Dimension>,
        /// The wait the server asked for, if it said.
        retry_after: Option<Duration>,
        /// The server's message.
        message: String,
        /// The server's last 429 answer (absent for a local verdict).
        response: Option<Box<HttpResponse>>,
    },

    /// The API answered with an error status that no retry can fix, or that kept failing
    /// until the retries ran out.
    #[error(
        "the API answered {status}{}: {message}{}",
        code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default(),
        advice(*status)
    )]
    Api {
        /// The HTTP status.
        status: u16,
        /// Groq's machine-readable code (`invalid_api_key`, `json_validate_failed`, ...).
        code: Option<String>,
        /// Groq's error type (`invalid_request_error`, ...).
        kind: Option<String>,
        /// The message from the error envelope (or the start of the body when there was no
        /// envelope).
        message: String,
        /// The model output that failed validation (`json_validate_failed`, `tool_use_failed`).
        failed_generation: Option<String>,
        /// The answer: status, request id and the exact body bytes (at most 64 KiB).
        response: Box<HttpResponse>,
    },

    /// The model is not known: the configuration rejects unknown models, or the server
    /// answered 404 `model_not_found`.
    #[error(
        "model `{model}` was not found: {}; check the model id (the API's model list, \
         GET /models, names the available ones) or add it to the configuration",
        .message.trim_end_matches('.')
    )]
    ModelNotFound {
        /// The requested model.
        model: String,
        /// Where the verdict came from: the server's message or the configuration's.
        message: String,
        /// The server's answer, when the verdict is the server's.
        response: Option<Box<HttpResponse>>,
    },

    /// The prompt plus the completion allowance exceed the model's context window; the
    /// request was not sent.
    #[error(
        "the request needs about {prompt} prompt tokens plus {allowance} for the reply, more than \
         the context window of {context_window} tokens of model `{model}`; shorten the messages \
         or lower max_completion_tokens"
    )]
    TokenLimitExceeded {
        /// The model.
        model: String,
        /// The estimated prompt tokens.
        prompt: u64,
        /// The completion allowance (the request's budget, or the configured default).
        allowance: u64,
        /// The model's context window.
        context_window: u32,
    },

    /// The request is larger than one of the model's rate limits can ever admit (Groq's 413
    /// `rate_limit_exceeded`, or the local limiter's verdict before sending): waiting cannot
    /// help.
    #[error(
        "the request for model `{model}` is too large for its {}{}; shorten the prompt, lower \
         max_completion_tokens, or use a model or plan with a higher limit",
        dimension.map_or_else(|| "rate limits".to_owned(), |d| format!("{d} limit")),
        match (requested, limit) {
            (Some(r), Some(l)) => format!(" (requested {r}, limit {l})"),
            _ => String::new(),
        }
    )]
    RequestTooLarge {
        /// The model.
        model: String,
        /// The limit that is too small, when known.
        dimension: Option<Dimension>,
        /// What the request costs in that dimension, when known.
        requested: Option<u64>,
        /// The limit, when known.
        limit: Option<u64>,
        /// Whether the server said so (413) rather than the local limiter.
        from_server: bool,
        /// The server's 413 answer, when it said so.
        response: Option<Box<HttpResponse>>,
    },

    /// The request breaks a rule Groq enforces; it was not sent.
    #[error(transparent)]
    InvalidRequest(InvalidRequest),

    /// The request could not be completed over the network (after the retries the policy
    /// allows).
    ///
    /// The text names the root cause (`connect to 127.0.0.1:8089: connection refused (os
    /// error 111)`, see [`TransportError::cause`]): the one place where `Display` repeats part
    /// of its source, because batch outputs and logs keep only the text.
    #[error(
        "the request failed in transport after {attempts} attempt{}{}; check the network and the \
         base URL, then retry",
        if *attempts == 1 { "" } else { "s" },
        source.cause().map(|c| format!(": {c}")).unwrap_or_default()
    )]
    Transport {
        /// How many attempts were made.
        attempts: u32,
        /// The last transport error.
        #[source]
        source: TransportError,
    },

    /// The call's deadline ([`ChatCall::timeout`](crate::ChatCall::timeout)) passed before it
    /// finished.
    #[error(
        "the request did not finish within its timeout of {after:?}, queueing included; raise \
         the timeout or lower the load"
    )]
    Timeout {
        /// The timeout.
        after: Duration,
    },

    /// The call was cancelled ([`GroqClient::cancel`](crate::GroqClient::cancel), a cancelling
    /// shutdown, or the stream was abandoned).
    #[error("the request was cancelled")]
    Cancelled,

    /// A streamed reply failed after it started: an error event from the server, a broken
    /// connection or an undecodable event.
    #[error(
        "the reply stream failed: {message}{}; retry the request",
        code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default()
    )]
    Stream {
        /// What happened.
        message: String,
        /// Groq's code, when the server sent an error event.
        code: Option<String>,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// The server's reply could not be understood.
    #[error(
        "the server's reply (status {status}) could not be decoded as {expected}; check that the \
         base URL points at a Groq-compatible API"
    )]
    InvalidResponse {
        /// The HTTP status of the reply.
        status: u16,
        /// What was expected.
        expected: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },

    /// The model's queue is full and the client was built with
    /// [`WhenFull::Reject`](crate::WhenFull::Reject).
    #[error(
        "the queue of model `{model}` is full ({capacity} requests waiting); retry later or raise \
         the lane capacity"
    )]
    QueueFull {
        /// The model.
        model: String,
        /// The lane's capacity.
        capacity: usize,
    },

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
    #[error("the audio request cannot be sent: {message}")]
    Audio {
        /// What is wrong.
        message: String,
        /// The measurement's error, when the audio is at fault.
        #[source]
        source: Option<groq_audio::AudioError>,
    },
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
        Self::Config {
            message: message.into(),
            source: None,
        }
    }

    /// A configuration error caused by `source`.
    pub(crate) fn config_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Config {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The compact classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config { .. } => ErrorKind::Config,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::Api { status, code, .. } => match (status, code.as_deref()) {
                (_, Some("context_length_exceeded")) => ErrorKind::TokenLimitExceeded,
                (401, _) => ErrorKind::Authentication,
                (403, _) => ErrorKind::PermissionDenied,
                (400 | 422, _) => ErrorKind::InvalidRequest,
                (404, Some("model_not_found")) => ErrorKind::ModelNotFound,
                (408, _) => ErrorKind::Timeout,
                (498 | 500..=599, _) => ErrorKind::Server,
                _ => ErrorKind::Api,
            },
            Self::ModelNotFound { .. } => ErrorKind::ModelNotFound,
            Self::TokenLimitExceeded { .. } => ErrorKind::TokenLimitExceeded,
            Self::RequestTooLarge { .. } => ErrorKind::RequestTooLarge,
            Self::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Self::Transport { source, .. } if source.is_timeout() => ErrorKind::Timeout,
            Self::Transport { .. } => ErrorKind::Transport,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::Stream { .. } => ErrorKind::Stream,
            Self::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Self::QueueFull { .. } => ErrorKind::QueueFull,
            Self::Shutdown => ErrorKind::Shutdown,
            Self::Queue(_) => ErrorKind::Queue,
            Self::Audio { .. } => ErrorKind::InvalidRequest,
        }
    }

    /// Whether the same request may succeed if sent again later: rate limits, timeouts,
    /// retryable transport failures, 408/409/498/5xx answers, broken streams and full queues.
    /// Invalid requests, authentication failures, unknown models and oversized requests are
    /// not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Timeout { .. } | Self::QueueFull { .. } => true,
            Self::Api { status, .. } => {
                matches!(status, 408 | 409 | 498) || (500..=599).contains(status)
            }
            Self::Transport { source, .. } => source.is_retryable(),
            Self::Stream { code, .. } => matches!(
                code.as_deref(),
                None | Some("internal_server_error" | "service_unavailable")
            ),
            _ => false,
        }
    }

    /// Whether this is a rate-limit error (429s beyond the bound).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited { .. })
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
            Self::Api { status, .. } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            Self::ModelNotFound {
                response: Some(response),
                ..
            } => Some(response.status()),
            Self::RequestTooLarge {
                from_server: true, ..
            } => Some(413),
            _ => None,
        }
    }

    /// The server's HTTP answer that ended the call, when there was one: any error status
    /// (400, 401, 404 `model_not_found`, the 429 past the retries, 413, 5xx). `None` when no
    /// HTTP answer exists (transport failure, timeout, cancelled, refused before sending).
    pub fn response(&self) -> Option<&HttpResponse> {
        match self {
            Self::Api { response, .. } => Some(response),
            Self::RateLimited { response, .. }
            | Self::ModelNotFound { response, .. }
            | Self::RequestTooLarge { response, .. } => response.as_deref(),
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
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Groq's machine-readable error code, when there is one (`rate_limit_exceeded`,
    /// `model_not_found`, `context_length_exceeded`, `invalid_api_key`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } | Self::Stream { code, .. } => code.as_deref(),
            Self::RateLimited { .. } | Self::RequestTooLarge { .. } => Some("rate_limit_exceeded"),
            Self::ModelNotFound { .. } => Some("model_not_found"),
            Self::TokenLimitExceeded { .. } => Some("context_length_exceeded"),
            _ => None,
        }
    }

    /// The rate-limit dimension concerned, for rate-limit and request-too-large errors.
    pub fn dimension(&self) -> Option<Dimension> {
        match self {
            Self::RateLimited { dimension, .. } | Self::RequestTooLarge { dimension, .. } => {
                *dimension
            }
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
        Error::Api {
            status,
            code: code.map(str::to_owned),
            kind: None,
            message: "boom".to_owned(),
            failed_generation: None,
            response: Box::new(HttpResponse::new(status, None, Bytes::new())),
        }
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
        let limited = Error::RateLimited {
            model: "m".to_owned(),
            dimension: Some(Dimension::TokensPerMinute),
            retry_after: Some(Duration::from_secs(3)),
            message: String::new(),
            response: None,
        };
        assert!(limited.is_rate_limited() && limited.is_retryable());
        assert_eq!(limited.status(), Some(429));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(limited.dimension(), Some(Dimension::TokensPerMinute));
        let text = limited.to_string();
        assert!(
            text.contains("tokens per minute (TPM)") && text.contains("3s"),
            "{text}"
        );
        let too_large = Error::RequestTooLarge {
            model: "m".to_owned(),
            dimension: Some(Dimension::TokensPerMinute),
            requested: Some(9_000),
            limit: Some(6_000),
            from_server: true,
            response: None,
        };
        assert_eq!(too_large.status(), Some(413));
        assert!(!too_large.is_retryable());
        assert!(too_large.to_string().contains("requested 9000, limit 6000"));
    }

    #[test]
    fn display_does_not_repeat_the_source() {
        let error = Error::Config {
            message: "bad config".to_owned(),
            source: Some("inner detail".into()),
        };
        assert_eq!(error.to_string(), "bad config");
        assert!(error.source().is_some());
    }

    #[test]
    fn a_transport_error_names_its_root_cause() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = Error::Transport {
            attempts: 3,
            source: TransportError::connect(refused).with_target("127.0.0.1:8089"),
        };
        let text = error.to_string();
        assert!(
            text.contains("after 3 attempts: connect to 127.0.0.1:8089: connection refused;"),
            "{text}"
        );
        assert!(error.source().is_some());
        assert!(error.is_retryable());
    }
}
