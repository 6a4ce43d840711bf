//! The [`Transport`] trait: the one seam between groqchat and an HTTP stack.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderName};

use crate::{Body, TransportError};

/// The future a [`Transport`] returns: the response head with a streaming [`Body`], or an error.
pub type TransportFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, TransportError>> + Send + 'static>>;

/// Sends one HTTP request and returns the response as it starts to arrive.
///
/// This is the seam where groqchat meets an HTTP stack. The client holds one
/// `Arc<dyn Transport>` for all its requests, so implementations must
/// be cheap to share and safe to call concurrently. The request body is [`Bytes`], cheap to clone
/// for a retry; the response body is a [`Body`] that streams, so server-sent events are decoded
/// while they arrive.
///
/// A transport only moves bytes: it does not retry, interpret statuses or rate-limit — a non-2xx
/// response is an `Ok` response. It returns [`TransportError`] only when no complete response head
/// could be obtained; failures while reading the body surface from the body itself.
///
/// # Implementing
///
/// Any HTTP stack fits in a few lines; this one answers every request itself:
///
/// ```
/// use groq_transport::{Body, Transport, TransportFuture};
///
/// #[derive(Debug)]
/// struct Canned;
///
/// impl Transport for Canned {
///     fn send(&self, request: http::Request<bytes::Bytes>) -> TransportFuture {
///         let echoed = request.into_body();
///         Box::pin(async move { Ok(http::Response::new(Body::from(echoed))) })
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let transport: std::sync::Arc<dyn Transport> = std::sync::Arc::new(Canned);
/// let request = http::Request::post("https://api.groq.com/openai/v1/chat/completions")
///     .body(bytes::Bytes::from_static(b"{}"))
///     .unwrap();
/// let response = transport.send(request).await.unwrap();
/// assert_eq!(&response.into_body().collect_bytes(16).await.unwrap()[..], b"{}");
/// # });
/// ```
///
/// Implementations should call [`mark_sensitive_headers`] on the request before logging or
/// recording it, and should refuse to send credentials in clear text to remote hosts, as
/// `HyperTransport` (feature `hyper`) does: [`TransportError::insecure`] is the error for that.
///
/// New methods may be added to this trait only with default bodies.
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Sends `request` and resolves once the response head has arrived.
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture;
}

impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture {
        (**self).send(request)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture {
        (**self).send(request)
    }
}

/// Compile-time proof that `Transport` stays dyn-compatible and that the shared forms are
/// themselves transports.
const _: () = {
    const fn assert_transport<T: Transport + ?Sized>() {}
    assert_transport::<dyn Transport>();
    assert_transport::<Arc<dyn Transport>>();
    assert_transport::<Box<dyn Transport>>();
};

/// Header names whose values are credentials; [`mark_sensitive_headers`] flags them.
const SENSITIVE: [HeaderName; 2] = [AUTHORIZATION, PROXY_AUTHORIZATION];

/// Marks the values of `Authorization` and `Proxy-Authorization` as sensitive: their `Debug`
/// output becomes `Sensitive`, and HTTP/2 never adds them to its compression tables.
pub fn mark_sensitive_headers(headers: &mut HeaderMap) {
    for name in &SENSITIVE {
        if let http::header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden_from_debug() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer gsk_secret".parse().unwrap());
        headers.append(PROXY_AUTHORIZATION, "Basic c2VjcmV0".parse().unwrap());
        headers.insert("x-other", "visible".parse().unwrap());
        mark_sensitive_headers(&mut headers);
        let shown = format!("{headers:?}");
        assert!(!shown.contains("gsk_secret"));
        assert!(!shown.contains("c2VjcmV0"));
        assert!(shown.contains("visible"));
        assert!(headers[AUTHORIZATION].is_sensitive());
        assert_eq!(headers[AUTHORIZATION], "Bearer gsk_secret");
    }
}
