//! `HyperTransport` against real TCP servers on 127.0.0.1: round trips, streaming, timeouts,
//! body caps, connection reuse and broken connections.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use groq_transport::{Body, BodySender, HyperTransport, SseStream, Transport};
use http_body_util::BodyExt;
use support::{handler, serve_http};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

/// An upper bound for anything that should happen promptly, so a broken test fails instead of
/// hanging.
const PROMPT: Duration = Duration::from_secs(10);

fn transport() -> HyperTransport {
    HyperTransport::builder().build().unwrap()
}

fn get(url: &str) -> http::Request<Bytes> {
    http::Request::get(url).body(Bytes::new()).unwrap()
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    timeout(
        PROMPT,
        std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)),
    )
    .await
    .expect("the stream should make progress")
}

#[tokio::test]
async fn json_round_trip_keeps_method_path_headers_and_body() {
    let server = serve_http(handler(
        |request: http::Request<hyper::body::Incoming>| async move {
            let method = request.method().to_string();
            let path = request.uri().path().to_owned();
            let auth = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let reply = format!(
                "{{\"method\":\"{method}\",\"path\":\"{path}\",\"auth\":\"{auth}\",\"body\":{}}}",
                String::from_utf8_lossy(&body)
            );
            let mut response = http::Response::new(Body::from(reply));
            response
                .headers_mut()
                .insert("x-ratelimit-remaining-tokens", "5999".parse().unwrap());
            response
        },
    ))
    .await;

    let request = http::Request::post(server.url("/openai/v1/chat/completions"))
        .header("authorization", "Bearer gsk_roundtrip")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"model":"m","messages":[]}"#))
        .unwrap();
    let response = transport().send(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-remaining-tokens"], "5999");
    let body = response.into_body().collect_bytes(1 << 20).await.unwrap();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"method":"POST","path":"/openai/v1/chat/completions","auth":"Bearer gsk_roundtrip","body":{"model":"m","messages":[]}}"#
    );
}

#[tokio::test]
async fn localhost_by_name_is_allowed_over_plain_http() {
    let server = serve_http(handler(|_| async { http::Response::new(Body::from("ok")) })).await;
    let url = format!("http://localhost:{}/", server.addr.port());
    let response = transport().send(get(&url)).await.unwrap();
    assert_eq!(
        &response.into_body().collect_bytes(16).await.unwrap()[..],
        b"ok"
    );
}

/// Starts a server whose single response body is fed by the test through the returned channel.
async fn streaming_server() -> (support::TestServer, mpsc::Receiver<BodySender>) {
    let (senders_tx, senders_rx) = mpsc::channel(4);
    let senders_tx = Arc::new(senders_tx);
    let server = serve_http(handler(move |_| {
        let senders_tx = senders_tx.clone();
        async move {
            let (sender, body) = Body::channel(1);
            senders_tx.send(sender).await.unwrap();
            let mut response = http::Response::new(body);
            response
                .headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            response
        }
    }))
    .await;
    (server, senders_rx)
}

#[tokio::test]
async fn sse_events_arrive_before_the_stream_is_finished() {
    let (server, mut senders) = streaming_server().await;
    let response = transport()
        .send(get(&server.url("/openai/v1/chat/completions")))
        .await
        .unwrap();
    let sender = senders.recv().await.unwrap();
    let mut events = SseStream::new(response.into_body());

    sender.send("data: {\"n\":1}\n\n").await.unwrap();
    let first = next(&mut events).await.unwrap().unwrap();
    assert_eq!(
        first.data, "{\"n\":1}",
        "the first event is decoded on its own"
    );

    // The second event is split mid-JSON and mid-CRLF across chunks.
    sender.send(": keep-alive\r\ndata: {\"n\"").await.unwrap();
    sender.send(":2}\r").await.unwrap();
    sender.send("\n\r\ndata: [DONE]\n\n").await.unwrap();
    let second = next(&mut events).await.unwrap().unwrap();
    assert_eq!(second.data, "{\"n\":2}");
    assert!(next(&mut events).await.is_none());
    assert!(events.saw_done());
}

#[tokio::test]
async fn a_stream_cut_before_done_is_a_retryable_error() {
    let (server, mut senders) = streaming_server().await;
    let response = transport().send(get(&server.url("/s"))).await.unwrap();
    let sender = senders.recv().await.unwrap();
    let mut events = SseStream::new(response.into_body());
    sender.send("data: 1\n\n").await.unwrap();
    assert_eq!(next(&mut events).await.unwrap().unwrap().data, "1");
    drop(sender);
    let err = next(&mut events).await.unwrap().unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(next(&mut events).await.is_none());
}

#[tokio::test]
async fn the_request_timeout_bounds_the_wait_for_the_response_head() {
    let server = serve_http(handler(|_| std::future::pending())).await;
    let transport = HyperTransport::builder()
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = transport.send(get(&server.url("/slow"))).await.unwrap_err();
    assert!(
        err.is_timeout() && err.is_retryable() && !err.is_connect(),
        "{err:?}"
    );
    assert!(started.elapsed() < PROMPT);
    assert!(err.to_string().contains("200ms"));
}

#[tokio::test]
async fn the_body_read_timeout_fires_when_a_stream_stalls() {
    let (server, mut senders) = streaming_server().await;
    let transport = HyperTransport::builder()
        .body_read_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let response = transport.send(get(&server.url("/stall"))).await.unwrap();
    let sender = senders.recv().await.unwrap();
    let mut chunks = response.into_body().into_data_stream();
    sender.send("data: 1\n\n").await.unwrap();
    assert_eq!(next(&mut chunks).await.unwrap().unwrap(), "data: 1\n\n");
    // The sender stays alive but silent: the read must give up on its own.
    let err = next(&mut chunks).await.unwrap().unwrap_err();
    assert!(err.is_timeout() && err.is_retryable(), "{err:?}");
    assert!(
        next(&mut chunks).await.is_none(),
        "the body ends after the error"
    );
    drop(sender);
}

#[tokio::test]
async fn the_body_cap_rejects_an_announced_large_body() {
    let server = serve_http(handler(|_| async {
        http::Response::new(Body::from(vec![b'x'; 4096]))
    }))
    .await;
    let transport = HyperTransport::builder()
        .max_body_bytes(1024)
        .build()
        .unwrap();
    assert_eq!(transport.max_body_bytes(), 1024);
    let response = transport.send(get(&server.url("/big"))).await.unwrap();
    let err = response
        .into_body()
        .collect_bytes(u64::MAX)
        .await
        .unwrap_err();
    assert!(err.is_body_too_large() && !err.is_retryable(), "{err:?}");
    assert_eq!(err.body_limit(), Some(1024));
}

#[tokio::test]
async fn the_body_cap_is_enforced_while_streaming() {
    let (server, mut senders) = streaming_server().await;
    let transport = HyperTransport::builder()
        .max_body_bytes(1000)
        .build()
        .unwrap();
    let response = transport.send(get(&server.url("/stream"))).await.unwrap();
    let sender = senders.recv().await.unwrap();
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        while sender.send(vec![b'y'; 400]).await.is_ok() {
            sent += 1;
            if sent == 50 {
                break;
            }
        }
    });
    let mut chunks = response.into_body().into_data_stream();
    let mut received = 0;
    let err = loop {
        match next(&mut chunks).await {
            Some(Ok(chunk)) => received += chunk.len(),
            Some(Err(err)) => break err,
            None => panic!("the body should have been cut off"),
        }
    };
    assert!(err.is_body_too_large(), "{err:?}");
    assert!(
        received <= 1000,
        "no more than the cap is handed out: {received}"
    );
    drop(chunks);
    writer.abort();
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let server = serve_http(handler(|_| async { http::Response::new(Body::from("{}")) })).await;
    let transport = transport();
    for _ in 0..20 {
        let response = transport.send(get(&server.url("/models"))).await.unwrap();
        response.into_body().collect_bytes(16).await.unwrap();
    }
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn finished_event_streams_leave_the_connection_reusable() {
    let server = serve_http(handler(|_| async {
        // A chunked body whose terminating chunk comes a little after `[DONE]`.
        let (sender, body) = Body::channel(2);
        tokio::spawn(async move {
            let _ = sender.send("data: {\"n\":1}\n\ndata: [DONE]\n\n").await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        });
        http::Response::new(body)
    }))
    .await;
    let transport = transport();
    for _ in 0..5 {
        let response = transport.send(get(&server.url("/stream"))).await.unwrap();
        let mut events = SseStream::new(response.into_body());
        assert_eq!(next(&mut events).await.unwrap().unwrap().data, "{\"n\":1}");
        assert!(next(&mut events).await.is_none());
        assert!(events.saw_done());
        drop(events);
        // The end of the response is read in the background once it arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn concurrent_requests_share_a_bounded_pool() {
    let server = serve_http(handler(|_| async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        http::Response::new(Body::from("{}"))
    }))
    .await;
    let transport = Arc::new(transport());
    for _round in 0..3 {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let transport = transport.clone();
            let url = server.url("/models");
            tasks.push(tokio::spawn(async move {
                let response = transport.send(get(&url)).await.unwrap();
                response.into_body().collect_bytes(16).await.unwrap()
            }));
        }
        for task in tasks {
            assert_eq!(&task.await.unwrap()[..], b"{}");
        }
    }
    assert!(
        server.connections() <= 4,
        "rounds reuse the pooled connections: {}",
        server.connections()
    );
}

/// A raw TCP server that runs `script` on every accepted connection.
async fn raw_server<F, Fut>(script: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(script);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(script(stream));
        }
    });
    addr
}

async fn read_request_head(stream: &mut tokio::net::TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0_u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_connection_dropped_before_the_response_is_retryable() {
    let addr = raw_server(|mut stream| async move {
        read_request_head(&mut stream).await;
        drop(stream);
    })
    .await;
    let err = transport()
        .send(get(&format!("http://{addr}/drop")))
        .await
        .unwrap_err();
    assert!(err.is_retryable() && !err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn a_connection_dropped_mid_body_is_a_retryable_body_error() {
    let addr = raw_server(|mut stream| async move {
        read_request_head(&mut stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
            .await;
        let _ = stream.flush().await;
        drop(stream);
    })
    .await;
    let response = transport()
        .send(get(&format!("http://{addr}/half")))
        .await
        .unwrap();
    let err = response
        .into_body()
        .collect_bytes(1 << 20)
        .await
        .unwrap_err();
    assert!(err.is_retryable() && !err.is_body_too_large(), "{err:?}");
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = transport()
        .send(get(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(
        err.is_connect() && err.is_retryable() && !err.is_tls(),
        "{err:?}"
    );
}

/// A user transport that only records and delegates, used as `Arc<dyn Transport>`.
#[derive(Debug)]
struct Recording {
    inner: HyperTransport,
    seen: Mutex<Vec<String>>,
}

impl Transport for Recording {
    fn send(&self, request: http::Request<Bytes>) -> groq_transport::TransportFuture {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(format!("{} {}", request.method(), request.uri().path()));
        }
        self.inner.send(request)
    }
}

#[tokio::test]
async fn a_wrapping_transport_works_behind_dyn() {
    let server = serve_http(handler(|_| async {
        http::Response::new(Body::from("pong"))
    }))
    .await;
    let recording = Arc::new(Recording {
        inner: transport(),
        seen: Mutex::new(Vec::new()),
    });
    let shared: Arc<dyn Transport> = recording.clone();
    let response = shared.send(get(&server.url("/ping"))).await.unwrap();
    assert_eq!(
        &response.into_body().collect_bytes(16).await.unwrap()[..],
        b"pong"
    );
    assert_eq!(
        *recording.seen.lock().unwrap(),
        vec!["GET /ping".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_requests_than_the_host_cap_queue_and_all_complete() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (current, highest) = (Arc::clone(&now), Arc::clone(&peak));
    let server = serve_http(handler(
        move |_request: http::Request<hyper::body::Incoming>| {
            let current = Arc::clone(&current);
            let highest = Arc::clone(&highest);
            async move {
                let inside = current.fetch_add(1, Ordering::SeqCst) + 1;
                highest.fetch_max(inside, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                current.fetch_sub(1, Ordering::SeqCst);
                http::Response::new(Body::from("ok"))
            }
        },
    ))
    .await;
    let cap = 4;
    let transport = HyperTransport::builder()
        .max_in_flight_per_host(cap)
        .build()
        .unwrap();
    let url = server.url("/x");
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let transport = transport.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let response = transport.send(get(&url)).await?;
                response.into_body().collect_bytes(1024).await
            })
        })
        .collect();
    for task in tasks {
        let body = timeout(PROMPT, task).await.unwrap().unwrap().unwrap();
        assert_eq!(&body[..], b"ok");
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=cap).contains(&peak), "peak {peak} above the cap {cap}");
    // The slots were reused over kept-alive connections, not one socket per request.
    assert!(
        server.connections() <= cap,
        "{} connections",
        server.connections()
    );
}
