//! [`MockTransport`]: an in-memory transport for tests (feature `test-util`).

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use crate::transport::mark_sensitive_headers;
use crate::{Body, Transport, TransportError, TransportFuture};

type Handler = dyn Fn(http::Request<Bytes>) -> TransportFuture + Send + Sync;

/// A request as a [`MockTransport`] received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The full URI.
    pub uri: Uri,
    /// The HTTP version asked for.
    pub version: Version,
    /// The headers (credential values marked sensitive, so `Debug` hides them).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The body as UTF-8 text, if it is.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// A header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// A closure-backed [`Transport`] that records every request it receives.
///
/// Clones share the handler and the record, so a test can hand one clone to the code under test
/// and inspect the record through another.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use groq_transport::{Transport, mock::{self, MockTransport}};
///
/// let transport = MockTransport::from_fn(|request| {
///     assert_eq!(request.uri().path(), "/openai/v1/models");
///     Ok(mock::json_response(200, r#"{"object":"list","data":[]}"#))
/// });
/// let request = http::Request::get("https://api.groq.com/openai/v1/models")
///     .header("authorization", "Bearer gsk_test")
///     .body(bytes::Bytes::new())
///     .unwrap();
/// let response = transport.send(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// let seen = transport.last_request().unwrap();
/// assert_eq!(seen.header("authorization"), Some("Bearer gsk_test"));
/// assert!(!format!("{seen:?}").contains("gsk_test"));
/// # });
/// ```
#[derive(Clone)]
pub struct MockTransport {
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl MockTransport {
    /// A transport that answers each request with the future `handler` returns.
    pub fn new<F, Fut>(handler: F) -> Self
    where
        F: Fn(http::Request<Bytes>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<http::Response<Body>, TransportError>> + Send + 'static,
    {
        Self {
            handler: Arc::new(move |request| Box::pin(handler(request))),
            log: Arc::default(),
        }
    }

    /// A transport that answers each request with what `handler` returns right away.
    pub fn from_fn<F>(handler: F) -> Self
    where
        F: Fn(http::Request<Bytes>) -> Result<http::Response<Body>, TransportError>
            + Send
            + Sync
            + 'static,
    {
        Self {
            handler: Arc::new(move |request| Box::pin(std::future::ready(handler(request)))),
            log: Arc::default(),
        }
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.lock().len()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.lock().last().cloned()
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MockTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockTransport")
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

impl Transport for MockTransport {
    fn send(&self, mut request: http::Request<Bytes>) -> TransportFuture {
        mark_sensitive_headers(request.headers_mut());
        self.lock().push(RecordedRequest {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            body: request.body().clone(),
        });
        (self.handler)(request)
    }
}

/// A response with `status` and `body`. An invalid status code becomes 500.
pub fn response(status: u16, body: impl Into<Body>) -> http::Response<Body> {
    let mut response = http::Response::new(body.into());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// A JSON response (`content-type: application/json`).
pub fn json_response(status: u16, json: impl Into<Body>) -> http::Response<Body> {
    let mut response = response(status, json);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A 200 `text/event-stream` response with one `data:` event per item, then `data: [DONE]`.
pub fn sse_response<I, S>(events: I) -> http::Response<Body>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut text = String::new();
    for event in events {
        for line in event.as_ref().split('\n') {
            text.push_str("data: ");
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str("data: [DONE]\n\n");
    let mut response = response(200, text);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SseStream;
    use futures_core::Stream;
    use std::pin::Pin;

    #[tokio::test]
    async fn records_requests_and_runs_async_handlers() {
        let transport = MockTransport::new(|request: http::Request<Bytes>| async move {
            tokio::task::yield_now().await;
            Ok(response(201, request.into_body()))
        });
        let shared = transport.clone();
        for i in 0..3 {
            let request = http::Request::post(format!("https://h/{i}"))
                .header("x-n", i.to_string())
                .body(Bytes::from(format!("body {i}")))
                .unwrap();
            let reply = shared.send(request).await.unwrap();
            assert_eq!(reply.status(), 201);
            let body = reply.into_body().collect_bytes(64).await.unwrap();
            assert_eq!(body, format!("body {i}"));
        }
        let seen = transport.requests();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2].uri, "https://h/2");
        assert_eq!(seen[1].header("x-n"), Some("1"));
        assert_eq!(seen[0].body_text(), Some("body 0"));
        assert_eq!(seen[0].method, Method::POST);
        transport.clear();
        assert_eq!(shared.request_count(), 0);
        assert!(format!("{transport:?}").contains("requests: 0"));
    }

    #[tokio::test]
    async fn errors_and_sse_helpers() {
        let failing = MockTransport::from_fn(|_| Err(TransportError::timeout()));
        let err = failing
            .send(http::Request::new(Bytes::new()))
            .await
            .unwrap_err();
        assert!(err.is_timeout());
        assert_eq!(failing.request_count(), 1);

        let reply = sse_response(["{\"a\":1}", "x\ny"]);
        assert_eq!(reply.headers()["content-type"], "text/event-stream");
        let mut events = SseStream::new(reply.into_body());
        let mut data = Vec::new();
        while let Some(event) = std::future::poll_fn(|cx| Pin::new(&mut events).poll_next(cx)).await
        {
            data.push(event.unwrap().data);
        }
        assert_eq!(data, vec!["{\"a\":1}".to_owned(), "x\ny".to_owned()]);
        assert!(events.saw_done());
        assert_eq!(response(1000, "").status(), 500);
    }
}
