//! A user-defined `Transport`: it records every request and delegates to `HyperTransport`.
//!
//! Any HTTP stack can sit behind groqchat the same way; wrapping is how to add logging, metrics,
//! request signing or a proxy hop. The example starts its own server on 127.0.0.1, so it runs
//! offline:
//!
//! ```text
//! cargo run -p groqchat --example custom_transport
//! ```
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use groqchat::transport::{
    Body, HyperTransport, SseStream, Transport, TransportFuture, mark_sensitive_headers,
};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Records the method, path and headers of each request (credentials hidden), then lets
/// `HyperTransport` send it.
#[derive(Debug)]
struct RecordingTransport {
    inner: HyperTransport,
    log: Mutex<Vec<String>>,
}

impl Transport for RecordingTransport {
    fn send(&self, mut request: http::Request<Bytes>) -> TransportFuture {
        mark_sensitive_headers(request.headers_mut());
        let line = format!(
            "{} {} {:?}",
            request.method(),
            request.uri().path(),
            request.headers()
        );
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
        self.inner.send(request)
    }
}

/// A stand-in for the API: a JSON reply for `/models`, an event stream for everything else.
async fn start_local_server() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/openai/v1", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                        let body = if request.uri().path().ends_with("/models") {
                            Body::from(
                                r#"{"object":"list","data":[{"id":"llama-3.1-8b-instant"}]}"#,
                            )
                        } else {
                            Body::from(
                                "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
                             data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n\
                             data: [DONE]\n\n",
                            )
                        };
                        Ok::<_, Infallible>(http::Response::new(body))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(base)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = start_local_server().await?;
    let recording = Arc::new(RecordingTransport {
        inner: HyperTransport::builder().build()?,
        log: Mutex::new(Vec::new()),
    });
    // This is how a client holds any transport.
    let transport: Arc<dyn Transport> = recording.clone();

    let models = http::Request::get(format!("{base}/models"))
        .header("authorization", "Bearer gsk_not_a_real_key")
        .body(Bytes::new())?;
    let response = transport.send(models).await?;
    let body = response.into_body().collect_bytes(1 << 20).await?;
    println!("models: {}", String::from_utf8_lossy(&body));

    let chat = http::Request::post(format!("{base}/chat/completions"))
        .header("authorization", "Bearer gsk_not_a_real_key")
        .header("content-type", "application/json")
        .body(Bytes::from_static(
            br#"{"model":"llama-3.1-8b-instant","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#,
        ))?;
    let response = transport.send(chat).await?;
    let mut events = SseStream::new(response.into_body());
    let mut text = String::new();
    while let Some(event) = std::future::poll_fn(|cx| {
        futures_core::Stream::poll_next(std::pin::Pin::new(&mut events), cx)
    })
    .await
    {
        let event = event?;
        // A real client parses the chunk JSON; here the content is picked out by hand.
        if let Some(start) = event.data.find("\"content\":\"") {
            let rest = &event.data[start + 11..];
            text.push_str(rest.split('"').next().unwrap_or(""));
        }
    }
    println!("streamed: {text}");

    let log = recording.log.lock().unwrap_or_else(PoisonError::into_inner);
    for line in log.iter() {
        println!("recorded: {line}");
    }
    if text != "Hello" || log.len() != 2 || log.iter().any(|l| l.contains("gsk_")) {
        return Err("the example did not observe what it expected".into());
    }
    Ok(())
}
