//! A tiny HTTP server on 127.0.0.1 for the transport's integration tests: every connection is
//! counted, and each test decides exactly how and when its response is written.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use groq_transport::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a test server answers: any async function of the request.
pub(crate) type Handler = Arc<
    dyn Fn(http::Request<Incoming>) -> Pin<Box<dyn Future<Output = http::Response<Body>> + Send>>
        + Send
        + Sync,
>;

/// Wraps an async closure as a [`Handler`].
pub(crate) fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(http::Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = http::Response<Body>> + Send + 'static,
{
    Arc::new(move |request| Box::pin(f(request)))
}

/// A running test server; it stops when dropped.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl TestServer {
    /// `http://127.0.0.1:PORT` followed by `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many TCP connections were accepted.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Starts an HTTP/1.1 server on 127.0.0.1 with a free port.
pub(crate) async fn serve_http(handler: Handler) -> TestServer {
    serve_with(handler, |stream| async move { Some(stream) }).await
}

/// Starts a server whose accepted TCP streams are first passed through `wrap` (for TLS); the
/// result is served with HTTP/1.1 or HTTP/2, whichever the client speaks.
pub(crate) async fn serve_with<W, Fut, S>(handler: Handler, wrap: W) -> TestServer
where
    W: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let wrap = Arc::new(wrap);
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            let wrap = wrap.clone();
            tokio::spawn(async move {
                let Some(io) = wrap(stream).await else {
                    return;
                };
                let service = service_fn(move |request| {
                    let reply = handler(request);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(io), service)
                    .await;
            });
        }
    });
    TestServer {
        addr,
        connections,
        accept,
    }
}
