//! [`TransportError`]: what can go wrong between sending a request and reading the last body byte.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

/// A boxed error that can cross threads: the `source()` of a [`TransportError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a request could not be completed by a [`Transport`](crate::Transport).
///
/// The type is opaque: ask it questions with the `is_*` predicates, and reach the underlying
/// error (an I/O, TLS or HTTP protocol error) through [`std::error::Error::source`]. The
/// [`Display`](fmt::Display) text says what went wrong and what to do; it is meant for people, not
/// for matching, and it never contains header values, so an API key cannot leak through it.
///
/// Implementers of [`Transport`](crate::Transport) for other HTTP stacks build errors with the
/// constructors ([`TransportError::connect`], [`TransportError::timeout`], ...), choosing the one
/// whose retry semantics match.
pub struct TransportError {
    kind: Kind,
    source: Option<BoxError>,
    /// The `host:port` the request went to, when the transport said.
    target: Option<Box<str>>,
}

/// The private classification behind the predicates. New kinds can be added freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The connection could not be established (DNS, TCP, TLS handshake).
    Connect,
    /// The TLS layer rejected the peer (certificate not trusted, wrong name, protocol mismatch).
    Tls,
    /// A deadline expired.
    Timeout(TimeoutPhase),
    /// The response body was larger than the configured cap.
    BodyTooLarge { limit: u64 },
    /// The connection failed or closed mid-exchange.
    Connection,
    /// A plain-text `http://` request to a non-loopback host was refused.
    Insecure,
    /// The request itself was unusable (no scheme or host, unsupported scheme).
    InvalidRequest,
    /// The transport could not be built from its configuration.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    Config,
    /// Any other failure, reported by a custom transport.
    Other { retryable: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeoutPhase {
    Connect,
    ResponseHead(Option<Duration>),
    BodyIdle(Option<Duration>),
    Unspecified,
}

impl TransportError {
    fn new(kind: Kind, source: Option<BoxError>) -> Self {
        Self {
            kind,
            source,
            target: None,
        }
    }

    /// Records the `host:port` the request went to, for [`cause`](Self::cause). Pass the host
    /// and port only, never userinfo.
    #[must_use]
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into().into_boxed_str());
        self
    }

    /// The `host:port` the request went to, if known.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The root cause in a few words, for people: the innermost error of the source chain
    /// (usually the operating system's), prefixed with what was being done, such as
    /// `connect to 127.0.0.1:8089: connection refused (os error 111)`. `None` when the error
    /// has no source. It names no header value, so it cannot carry an API key.
    ///
    /// ```
    /// use groq_transport::TransportError;
    /// use std::io;
    ///
    /// let error = TransportError::connect(io::Error::from(io::ErrorKind::ConnectionRefused))
    ///     .with_target("127.0.0.1:8089");
    /// assert_eq!(error.cause().as_deref(), Some("connect to 127.0.0.1:8089: connection refused"));
    /// ```
    pub fn cause(&self) -> Option<String> {
        let source = self.source.as_deref()?;
        let mut root = String::new();
        walk_chain(source, &mut |e| {
            let text = e.to_string();
            if !text.is_empty() {
                root = text;
            }
            false
        });
        let mut chars = root.chars();
        let root = match (chars.next(), chars.next()) {
            (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
                first.to_lowercase().chain(root.chars().skip(1)).collect()
            }
            _ => root,
        };
        let doing = match self.kind {
            Kind::Connect | Kind::Timeout(TimeoutPhase::Connect) | Kind::Tls => "connect to ",
            Kind::Connection => "exchange with ",
            _ => "",
        };
        Some(match (&self.target, doing) {
            (Some(target), doing) if !doing.is_empty() => format!("{doing}{target}: {root}"),
            _ => root,
        })
    }

    /// The connection could not be established (DNS failure, refused, unreachable). Retryable.
    pub fn connect(source: impl Into<BoxError>) -> Self {
        let source = source.into();
        if is_timeout_error(&*source) {
            return Self::new(Kind::Timeout(TimeoutPhase::Connect), Some(source));
        }
        if find_tls_error(&*source) {
            return Self::new(Kind::Tls, Some(source));
        }
        Self::new(Kind::Connect, Some(source))
    }

    /// The connection broke during the exchange (reset, closed before the response was
    /// complete, protocol error). Retryable: a fresh connection usually succeeds.
    pub fn connection(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Connection, Some(source.into()))
    }

    /// A deadline expired (no specific phase). Retryable.
    pub fn timeout() -> Self {
        Self::new(Kind::Timeout(TimeoutPhase::Unspecified), None)
    }

    /// The response head did not arrive within `after`. Retryable.
    pub fn response_timeout(after: Duration) -> Self {
        Self::new(Kind::Timeout(TimeoutPhase::ResponseHead(Some(after))), None)
    }

    /// No body bytes arrived for `after`. Retryable.
    pub fn body_idle_timeout(after: Duration) -> Self {
        Self::new(Kind::Timeout(TimeoutPhase::BodyIdle(Some(after))), None)
    }

    /// The response body exceeded `limit` bytes. Not retryable: the same request would get the
    /// same body.
    pub fn body_too_large(limit: u64) -> Self {
        Self::new(Kind::BodyTooLarge { limit }, None)
    }

    /// The request could not be sent as given (missing scheme or host, unsupported scheme).
    /// Not retryable.
    pub fn invalid_request(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::InvalidRequest, Some(source.into()))
    }

    /// The TLS layer rejected the peer (untrusted certificate, wrong name, protocol mismatch).
    /// Not retryable: the same server would be rejected again. (A [`connect`](Self::connect)
    /// error whose source chain holds a rustls error is classified as TLS by itself when the
    /// `hyper` feature is on.)
    pub fn tls(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Tls, Some(source.into()))
    }

    /// A plain-text `http://` request to a host that is not loopback was refused: what a
    /// transport returns instead of sending credentials in clear text. Not retryable.
    pub fn insecure() -> Self {
        Self::new(Kind::Insecure, None)
    }

    /// The transport could not be built. Not retryable.
    #[cfg(feature = "hyper")]
    pub(crate) fn config(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Config, Some(source.into()))
    }

    /// Any other failure of a custom transport. Not retryable; see [`TransportError::other_retryable`].
    pub fn other(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Other { retryable: false }, Some(source.into()))
    }

    /// Any other failure of a custom transport that is worth retrying.
    pub fn other_retryable(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Other { retryable: true }, Some(source.into()))
    }

    /// Classifies an error from hyper-util's client.
    #[cfg(feature = "hyper")]
    pub(crate) fn from_client(err: hyper_util::client::legacy::Error) -> Self {
        if err.is_connect() {
            Self::connect(err)
        } else {
            Self::connection(err)
        }
    }

    /// Classifies an error from reading a hyper response body.
    #[cfg(feature = "hyper")]
    pub(crate) fn from_body(err: hyper::Error) -> Self {
        if err.is_timeout() {
            Self::new(
                Kind::Timeout(TimeoutPhase::BodyIdle(None)),
                Some(err.into()),
            )
        } else {
            Self::connection(err)
        }
    }

    /// True when a deadline expired: connect, response head or body idle timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout(_))
    }

    /// True when the connection could not be established, including connect timeouts and TLS
    /// handshake failures.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.kind,
            Kind::Connect | Kind::Tls | Kind::Timeout(TimeoutPhase::Connect)
        )
    }

    /// True when the TLS layer rejected the server (untrusted certificate, wrong name).
    pub fn is_tls(&self) -> bool {
        matches!(self.kind, Kind::Tls)
    }

    /// True when the response body exceeded the configured cap.
    pub fn is_body_too_large(&self) -> bool {
        matches!(self.kind, Kind::BodyTooLarge { .. })
    }

    /// True when a plain-text `http://` request to a non-loopback host was refused.
    pub fn is_insecure(&self) -> bool {
        matches!(self.kind, Kind::Insecure)
    }

    /// True when the request could not be sent as given.
    pub fn is_invalid_request(&self) -> bool {
        matches!(self.kind, Kind::InvalidRequest)
    }

    /// True when sending the same request again may succeed: connection failures, dropped
    /// connections and timeouts. False for TLS rejections, body caps, refused plain-text URLs,
    /// invalid requests and configuration errors.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            Kind::Connect | Kind::Connection | Kind::Timeout(_) => true,
            Kind::Other { retryable } => retryable,
            Kind::Tls
            | Kind::BodyTooLarge { .. }
            | Kind::Insecure
            | Kind::InvalidRequest
            | Kind::Config => false,
        }
    }

    /// The body cap that was exceeded, when [`is_body_too_large`](Self::is_body_too_large).
    pub fn body_limit(&self) -> Option<u64> {
        match self.kind {
            Kind::BodyTooLarge { limit } => Some(limit),
            _ => None,
        }
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TransportError");
        d.field("kind", &self.kind);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Connect => f.write_str(
                "could not connect to the server; check the base URL and the network, then retry",
            ),
            Kind::Tls => f.write_str(
                "the TLS handshake failed: the server certificate is not trusted for this host; \
                 check the base URL or add the right root certificate to the transport",
            ),
            Kind::Timeout(phase) => match phase {
                TimeoutPhase::Connect => f.write_str(
                    "connecting to the server timed out; check the network or raise the connect timeout",
                ),
                TimeoutPhase::ResponseHead(Some(after)) => write!(
                    f,
                    "no response arrived within the request timeout of {after:?}; retry or raise the timeout"
                ),
                TimeoutPhase::BodyIdle(Some(after)) => write!(
                    f,
                    "the response body stalled: no data for {after:?}; retry or raise the body read timeout"
                ),
                TimeoutPhase::ResponseHead(None)
                | TimeoutPhase::BodyIdle(None)
                | TimeoutPhase::Unspecified => {
                    f.write_str("the request timed out; retry or raise the timeout")
                }
            },
            Kind::BodyTooLarge { limit } => write!(
                f,
                "the response body exceeded the limit of {limit} bytes; raise the transport's \
                 maximum body size if such responses are expected"
            ),
            Kind::Connection => f.write_str(
                "the connection failed before the response was complete; the request may be retried",
            ),
            Kind::Insecure => f.write_str(
                "refused to send a request over plain-text http:// to a host that is not loopback, \
                 because the API key would travel unencrypted; use https://, or allow insecure \
                 HTTP explicitly in the transport builder",
            ),
            Kind::InvalidRequest => f.write_str(
                "the request cannot be sent: its URL needs an http or https scheme and a host",
            ),
            Kind::Config => f.write_str("the HTTP transport could not be built from its settings"),
            Kind::Other { .. } => f.write_str("the transport failed to complete the request"),
        }
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Walks a source chain, looking through `io::Error` wrappers (whose `source()` skips the
/// wrapped error itself).
fn walk_chain(
    err: &(dyn StdError + 'static),
    f: &mut dyn FnMut(&(dyn StdError + 'static)) -> bool,
) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    let mut depth = 0;
    while let Some(e) = current {
        if f(e) {
            return true;
        }
        depth += 1;
        if depth > 32 {
            return false;
        }
        current = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    false
}

fn is_timeout_error(err: &(dyn StdError + 'static)) -> bool {
    walk_chain(err, &mut |e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
    })
}

/// True when the chain holds a rustls error. Without the `hyper` feature rustls is not
/// compiled, and a custom transport says [`TransportError::tls`] itself.
#[cfg(feature = "hyper")]
fn find_tls_error(err: &(dyn StdError + 'static)) -> bool {
    walk_chain(err, &mut |e| e.is::<rustls::Error>())
}

#[cfg(not(feature = "hyper"))]
fn find_tls_error(_err: &(dyn StdError + 'static)) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_the_kind() {
        let e =
            TransportError::connect(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        assert!(e.is_connect() && e.is_retryable() && !e.is_timeout());

        let e = TransportError::connect(io::Error::new(io::ErrorKind::TimedOut, "slow"));
        assert!(e.is_connect() && e.is_timeout() && e.is_retryable());

        #[cfg(feature = "hyper")]
        {
            let tls = io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            );
            let e = TransportError::connect(tls);
            assert!(e.is_tls() && e.is_connect() && !e.is_retryable());
        }
        let e = TransportError::tls("certificate not trusted");
        assert!(e.is_tls() && e.is_connect() && !e.is_retryable());

        let e = TransportError::body_too_large(10);
        assert!(e.is_body_too_large() && !e.is_retryable());
        assert_eq!(e.body_limit(), Some(10));

        assert!(TransportError::timeout().is_retryable());
        assert!(TransportError::connection("reset").is_retryable());
        assert!(!TransportError::insecure().is_retryable());
        assert!(TransportError::insecure().is_insecure());
        assert!(!TransportError::invalid_request("no host").is_retryable());
        assert!(!TransportError::other("x").is_retryable());
        assert!(TransportError::other_retryable("x").is_retryable());
        #[cfg(feature = "hyper")]
        assert!(!TransportError::config("bad").is_retryable());
    }

    #[test]
    fn display_does_not_repeat_the_source() {
        let e = TransportError::connection(io::Error::other("secret-detail Bearer gsk_abc"));
        let shown = e.to_string();
        assert!(!shown.contains("secret-detail"));
        assert!(!shown.contains("gsk_"));
        assert!(e.source().is_some());
    }

    #[test]
    fn timeouts_name_their_duration() {
        let e = TransportError::response_timeout(Duration::from_secs(3));
        assert!(e.to_string().contains("3s"));
        let e = TransportError::body_idle_timeout(Duration::from_millis(250));
        assert!(e.to_string().contains("250ms"));
        assert!(e.is_timeout() && !e.is_connect());
    }
}
