//! The gateway in front of the Groq emulator, over real TCP on 127.0.0.1: a third-party
//! client (async-openai) and a raw HTTP client, JSON, streaming, tools, errors, pacing,
//! priorities, deadlines, the queue bound, operations and shutdown.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use common::*;
use futures_util::StreamExt;
use groq_gateway::{Gateway, GatewayError, GatewayKeys, GatewaySettings};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn openai(gateway: &Gateway, key: &str) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(gateway.base_url())
            .with_api_key(key),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_client_gets_json_streams_tools_and_errors() {
    let (server, gateway) = setup(1_000, 1_000_000, GatewaySettings::default(), None).await;
    let client = openai(&gateway, "anything");

    // JSON.
    let reply: Value = client
        .chat()
        .create_byot(json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": "[req:json] Say hello."}],
            "max_completion_tokens": 12,
            "mock_completion_tokens": 5,
        }))
        .await
        .unwrap();
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["usage"]["completion_tokens"], 5, "{reply}");
    assert!(reply["choices"][0]["message"]["content"].is_string());

    // Streaming: the chunks arrive one by one, the last with Groq's usage.
    let mut stream = client
        .chat()
        .create_stream_byot::<_, Value>(json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": "[req:stream] Count."}],
            "stream": true,
            "mock_completion_tokens": 6,
        }))
        .await
        .unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk.unwrap());
    }
    assert!(chunks.len() >= 7, "{} chunks", chunks.len());
    let usage = chunks
        .iter()
        .find_map(|c| c["x_groq"]["usage"].as_object().cloned())
        .expect("the last chunk carries x_groq.usage");
    assert_eq!(usage["completion_tokens"], 6);

    // Tools: a forced function call comes back as a tool call.
    let reply: Value = client
        .chat()
        .create_byot(json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": "[req:tools] Weather in Paris?"}],
            "tools": [{"type": "function", "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
            }}],
            "tool_choice": "required",
        }))
        .await
        .unwrap();
    let call = &reply["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather", "{reply}");
    assert_eq!(reply["choices"][0]["finish_reason"], "tool_calls");

    // An error from upstream (a parameter Groq refuses) passes through with its status.
    let error = client
        .chat()
        .create_byot::<_, Value>(json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "n": 2,
        }))
        .await
        .unwrap_err();
    match error {
        OpenAIError::ApiError(api) => {
            assert_eq!(api.status_code.as_u16(), 400);
            assert_eq!(
                api.api_error.r#type.as_deref(),
                Some("invalid_request_error")
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }

    // An unknown model: 404 model_not_found in Groq's envelope.
    let error = client
        .chat()
        .create_byot::<_, Value>(json!({
            "model": "no-such-model",
            "messages": [{"role": "user", "content": "hi"}],
        }))
        .await
        .unwrap_err();
    match error {
        OpenAIError::ApiError(api) => {
            assert_eq!(api.status_code.as_u16(), 404);
            assert_eq!(api.api_error.code.as_deref(), Some("model_not_found"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }

    // Models, under both prefixes.
    let models = send(gateway.addr(), "GET", "/openai/v1/models", &[], None).await;
    assert_eq!(models.status, 200);
    assert_eq!(models.json()["object"], "list");
    let one = send(
        gateway.addr(),
        "GET",
        &format!("/v1/models/{MODEL}"),
        &[],
        None,
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json()["id"], MODEL);

    assert_eq!(server.stats().rate_limited, 0);
    gateway.shutdown().await;
    server.shutdown().await;
}

/// An upstream that records the bytes it receives and answers fixed bytes.
async fn recording_upstream(
    reply: &'static [u8],
) -> (SocketAddr, tokio::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if raw.len() >= split + 4 + length {
                            let _ = tx.send(raw[split + 4..split + 4 + length].to_vec()).await;
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_fixed\r\ncontent-length: {}\r\n\r\n",
                                reply.len()
                            );
                            let _ = stream.write_all(head.as_bytes()).await;
                            let _ = stream.write_all(reply).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_cross_the_gateway_byte_for_byte() {
    const REPLY: &[u8] = br#"{"id":"x","object":"chat.completion","zeta":1.50,"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5},"alpha":{"unknown":[1e3]}}"#;
    let (upstream, mut received) = recording_upstream(REPLY).await;
    let settings = GatewaySettings::default().addr(SocketAddr::from(([127, 0, 0, 1], 0)));
    let (limits, _) = limits(1_000, 1_000_000);
    let mut model = groq_config::ModelConfig::new(MODEL);
    model.limits = limits;
    let config = groq_client::Config::builder()
        .clear_models()
        .base_url(format!("http://{upstream}/openai/v1"))
        .api_key(GROQ_KEY)
        .model(model)
        .build()
        .unwrap();
    let gateway = Gateway::builder(client(config, &settings))
        .settings(settings)
        .start()
        .await
        .unwrap();
    // Key order, spacing, number forms and unknown fields the typed view does not keep.
    let body = br#"{ "zz_unknown": {"b":2, "a":1},  "messages":[{"content":"hi","role":"user"}], "temperature": 0.70, "model":"llama-3.1-8b-instant", "seed": 42, "top_p": 1e0 }"#;
    let answer = send(
        gateway.addr(),
        "POST",
        "/openai/v1/chat/completions",
        &[],
        Some(body),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        received.recv().await.unwrap(),
        body.to_vec(),
        "the body sent upstream"
    );
    assert_eq!(answer.body, REPLY, "the body sent back");
    assert_eq!(answer.header("x-request-id"), Some("req_fixed"));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_meet_no_429() {
    // 120 requests per one-second minute, 6,000 tokens: 200 requests need about 1.4 s after
    // the first full bucket.
    let (server, gateway) = setup(120, 60_000, GatewaySettings::default(), None).await;
    let client = openai(&gateway, "anything");
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .chat()
                    .create_byot::<_, Value>(json!({
                        "model": MODEL,
                        "messages": [{"role": "user", "content": format!("[req:{i}] Say hello.")}],
                        "max_completion_tokens": 20,
                    }))
                    .await
            })
        })
        .collect();
    for call in calls {
        let reply = call.await.unwrap().expect("every request succeeds");
        assert_eq!(reply["object"], "chat.completion");
    }
    let stats = server.stats();
    assert_eq!(
        stats.rate_limited, 0,
        "no 429 upstream: {:?}",
        stats.by_status
    );
    assert_eq!(stats.count(200), 200);
    let metrics = gateway.metrics_text();
    assert!(
        metrics.contains(&format!(
            "groqchat_gateway_requests_total{{model=\"{MODEL}\",priority=\"normal\",status=\"200\"}} 200"
        )),
        "{metrics}"
    );
    gateway.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_keys_are_required_and_errors_use_groqs_envelope() {
    let settings = GatewaySettings::default().keys(
        GatewayKeys::parse(["team-key", GatewayKeys::digest_entry("ops-key").as_str()]).unwrap(),
    );
    let (server, gateway) = setup(1_000, 1_000_000, settings, None).await;
    let body = chat_body("auth", false);
    let path = "/openai/v1/chat/completions";

    let missing = send(gateway.addr(), "POST", path, &[], Some(body.as_bytes())).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["error"]["code"], "invalid_api_key");
    assert_eq!(missing.json()["error"]["type"], "invalid_request_error");

    let wrong = send(
        gateway.addr(),
        "POST",
        path,
        &[("Authorization", "Bearer not-a-key")],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(wrong.status, 401);
    // Presenting the Groq key itself is no way in either.
    let groq = send(
        gateway.addr(),
        "POST",
        path,
        &[("Authorization", &format!("Bearer {GROQ_KEY}"))],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(groq.status, 401);

    for key in ["team-key", "ops-key"] {
        let ok = send(
            gateway.addr(),
            "POST",
            path,
            &[("Authorization", &format!("Bearer {key}"))],
            Some(body.as_bytes()),
        )
        .await;
        assert_eq!(ok.status, 200, "{}", ok.text());
    }
    let models = send(gateway.addr(), "GET", "/v1/models", &[], None).await;
    assert_eq!(models.status, 401);

    let unknown = send(gateway.addr(), "GET", "/v2/nothing", &[], None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "unknown_url");

    let bad_json = send(
        gateway.addr(),
        "POST",
        path,
        &[("Authorization", "Bearer team-key")],
        Some(b"{not json"),
    )
    .await;
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.json()["error"]["code"], "invalid_request_body");

    let bad_priority = send(
        gateway.addr(),
        "POST",
        path,
        &[
            ("Authorization", "Bearer team-key"),
            ("x-groqchat-priority", "urgent"),
        ],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(bad_priority.status, 400);
    assert_eq!(bad_priority.json()["error"]["code"], "invalid_priority");

    let health = send(gateway.addr(), "GET", "/healthz", &[], None).await;
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (200, json!("ok"))
    );

    // The Groq key is in no response and no metric.
    let metrics = send(gateway.addr(), "GET", "/metrics", &[], None).await;
    for answer in [
        &missing, &wrong, &groq, &models, &unknown, &bad_json, &metrics, &health,
    ] {
        assert!(
            !String::from_utf8_lossy(&answer.raw).contains(GROQ_KEY),
            "the Groq key leaked"
        );
    }
    let text = metrics.text();
    assert!(
        text.contains("groqchat_gateway_refusals_total{code=\"invalid_api_key\"} 4"),
        "{text}"
    );
    assert!(
        text.contains("groqchat_gateway_upstream_latency_seconds_count 2"),
        "{text}"
    );
    gateway.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_non_loopback_address_needs_gateway_keys() {
    let client = groq_client::GroqClient::builder()
        .api_key(GROQ_KEY)
        .build()
        .unwrap();
    let settings = GatewaySettings::default().addr("0.0.0.0:0".parse().unwrap());
    let error = Gateway::builder(client)
        .settings(settings)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(error, GatewayError::Unprotected { .. }));
    let text = error.to_string();
    assert!(
        text.contains("0.0.0.0:0") && text.contains("gateway_keys"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_and_the_queue_bound_answer_429_with_retry_after() {
    // Two requests per one-second minute: the third waits about half a second.
    let settings = GatewaySettings::default().queue_bound(2);
    let (server, gateway) = setup(2, 1_000_000, settings, None).await;
    let addr = gateway.addr();
    let path = "/openai/v1/chat/completions";
    // Fill the bucket, then queue two more (the bound).
    for i in 0..2 {
        let answer = send(
            addr,
            "POST",
            path,
            &[],
            Some(chat_body(&format!("a{i}"), false).as_bytes()),
        )
        .await;
        assert_eq!(answer.status, 200);
    }
    let queued: Vec<_> = (0..2)
        .map(|i| {
            let body = chat_body(&format!("q{i}"), false);
            tokio::spawn(async move { send(addr, "POST", path, &[], Some(body.as_bytes())).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let full = send(
        addr,
        "POST",
        path,
        &[],
        Some(chat_body("full", false).as_bytes()),
    )
    .await;
    assert_eq!(full.status, 429, "{}", full.text());
    assert_eq!(full.json()["error"]["code"], "queue_full");
    assert_eq!(full.json()["error"]["type"], "groqchat_gateway_error");
    let wait: u64 = full.header("retry-after").unwrap().parse().unwrap();
    assert!(wait >= 1, "retry-after {wait}");
    for call in queued {
        assert_eq!(call.await.unwrap().status, 200);
    }

    // The bucket is empty again: a request that may wait 50 ms is answered 429 in time.
    for i in 0..2 {
        let _ = send(
            addr,
            "POST",
            path,
            &[],
            Some(chat_body(&format!("b{i}"), false).as_bytes()),
        )
        .await;
    }
    let late = send(
        addr,
        "POST",
        path,
        &[
            ("x-groqchat-deadline", "0.05"),
            ("x-groqchat-priority", "low"),
        ],
        Some(chat_body("late", false).as_bytes()),
    )
    .await;
    assert_eq!(late.status, 429, "{}", late.text());
    assert_eq!(late.json()["error"]["code"], "deadline_exceeded");
    assert!(late.header("retry-after").is_some());
    let bad = send(
        addr,
        "POST",
        path,
        &[("x-groqchat-deadline", "soon")],
        Some(chat_body("bad", false).as_bytes()),
    )
    .await;
    assert_eq!(bad.json()["error"]["code"], "invalid_deadline");

    assert_eq!(server.stats().rate_limited, 0);
    assert!(
        server.stats().with_marker("late").next().is_none(),
        "the late request was never sent"
    );
    gateway.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_priority_overtakes_queued_normal_requests() {
    let (server, gateway) = setup(4, 1_000_000, GatewaySettings::default(), None).await;
    let addr = gateway.addr();
    let path = "/openai/v1/chat/completions";
    for i in 0..4 {
        assert_eq!(
            send(
                addr,
                "POST",
                path,
                &[],
                Some(chat_body(&format!("fill{i}"), false).as_bytes())
            )
            .await
            .status,
            200
        );
    }
    let mut calls = Vec::new();
    for i in 0..3 {
        let body = chat_body(&format!("normal{i}"), false);
        calls.push(tokio::spawn(async move {
            send(
                addr,
                "POST",
                path,
                &[("x-groqchat-priority", "normal")],
                Some(body.as_bytes()),
            )
            .await
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = chat_body("high", false);
    calls.push(tokio::spawn(async move {
        send(
            addr,
            "POST",
            path,
            &[("x-groqchat-priority", "high")],
            Some(body.as_bytes()),
        )
        .await
    }));
    for call in calls {
        assert_eq!(call.await.unwrap().status, 200);
    }
    let stats = server.stats();
    let at = |marker: &str| stats.with_marker(marker).next().unwrap().at;
    assert!(
        at("high") < at("normal0"),
        "high went before the normal requests queued earlier"
    );
    gateway.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_cancels_upstream_and_refunds() {
    // 40 tokens 50 ms apart: the stream would last 2 s.
    let (server, gateway) = setup(
        1_000,
        1_000_000,
        GatewaySettings::default(),
        Some(Duration::from_millis(50)),
    )
    .await;
    let body = format!(
        r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"[req:gone] Count."}}],"stream":true,"max_completion_tokens":400,"mock_completion_tokens":40}}"#
    );
    let mut stream = TcpStream::connect(gateway.addr()).await.unwrap();
    let request = format!(
        "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("data: ") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    let limits = gateway.client_handle().limits(MODEL).unwrap();
    let tpm = limits.get(groq_client::Dimension::TokensPerMinute).unwrap();
    assert!(
        tpm.pending >= 400,
        "the allowance is reserved while streaming: {tpm:?}"
    );
    drop(stream);
    // Well before the stream's natural end, the pipeline has let go of the request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = gateway.client_handle().queue_status();
    assert_eq!(status.in_flight, 0, "the upstream request was aborted");
    let limits = gateway.client_handle().limits(MODEL).unwrap();
    let tpm = limits.get(groq_client::Dimension::TokensPerMinute).unwrap();
    assert_eq!(tpm.pending, 0, "settled: {tpm:?}");
    assert!(tpm.used < 100, "the unused allowance was refunded: {tpm:?}");
    assert_eq!(limits.in_flight, 0);
    gateway.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_queued_and_streaming_requests() {
    let (server, gateway) = setup(
        3,
        1_000_000,
        GatewaySettings::default(),
        Some(Duration::from_millis(20)),
    )
    .await;
    let addr = gateway.addr();
    let path = "/openai/v1/chat/completions";
    let calls: Vec<_> = (0..6)
        .map(|i| {
            let body = chat_body(&format!("drain{i}"), i % 2 == 0);
            tokio::spawn(async move { send(addr, "POST", path, &[], Some(body.as_bytes())).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let queued = gateway.client_handle().queue_status().queued;
    assert!(queued >= 2, "some requests wait for the limiter: {queued}");
    let report = gateway.shutdown().await;
    assert!(report.drained);
    for call in calls {
        let answer = call.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        if answer
            .header("content-type")
            .is_some_and(|c| c.contains("event-stream"))
        {
            assert!(answer.text().contains("[DONE]"));
        }
    }
    // No longer accepting.
    assert!(TcpStream::connect(addr).await.is_err());
    assert_eq!(server.stats().rate_limited, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_on_bodies_and_pass_through_keys() {
    let settings = GatewaySettings::default()
        .max_body_bytes(512)
        .pass_through(true);
    let (server, gateway) = setup(1_000, 1_000_000, settings, None).await;
    let addr = gateway.addr();
    let path = "/openai/v1/chat/completions";
    let big = format!(
        r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(600)
    );
    let answer = send(
        addr,
        "POST",
        path,
        &[("Authorization", &format!("Bearer {GROQ_KEY}"))],
        Some(big.as_bytes()),
    )
    .await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["error"]["code"], "request_too_large");

    // Pass-through: the client's own key goes upstream (the emulator knows only GROQ_KEY).
    let body = chat_body("own", false);
    let own = send(
        addr,
        "POST",
        path,
        &[("Authorization", &format!("Bearer {GROQ_KEY}"))],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.text());
    let stranger = send(
        addr,
        "POST",
        path,
        &[("Authorization", "Bearer gsk_someone_else")],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(stranger.status, 401, "{}", stranger.text());
    assert_eq!(stranger.json()["error"]["code"], "invalid_api_key");
    assert!(!String::from_utf8_lossy(&stranger.raw).contains("gsk_someone_else"));
    gateway.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_header_is_cut_off() {
    let settings = GatewaySettings::default().header_read_timeout(Duration::from_millis(200));
    let (server, gateway) = setup(1_000, 1_000_000, settings, None).await;
    let mut stream = TcpStream::connect(gateway.addr()).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the connection was closed by the header timeout"
    );
    assert!(!String::from_utf8_lossy(&out).contains("200 OK"));
    gateway.shutdown().await;
    server.shutdown().await;
    let _ = Arc::new(());
}

/// `GET /healthz` on an open connection; the answer's text (empty when the gateway closed the
/// connection without one).
async fn healthz_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap_or_default();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_hold_in_all_and_per_address() {
    // Per address: a third connection from 127.0.0.1 is closed at once; once one of the two
    // open ones ends, a new one is served.
    let settings = GatewaySettings::default().max_connections(100, 2);
    let (server, gateway) = setup(1_000, 1_000_000, settings, None).await;
    let first = TcpStream::connect(gateway.addr()).await.unwrap();
    let _second = TcpStream::connect(gateway.addr()).await.unwrap();
    let mut third = TcpStream::connect(gateway.addr()).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(5), healthz_on(&mut third))
        .await
        .expect("the refused connection is closed, not left hanging");
    assert!(!refused.contains("200 OK"), "{refused}");
    drop(first);
    let mut served = None;
    for _ in 0..50 {
        let mut next = TcpStream::connect(gateway.addr()).await.unwrap();
        let answer = healthz_on(&mut next).await;
        if answer.contains("200 OK") {
            served = Some(answer);
            break;
        }
        // The gateway notices the closed connection asynchronously.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served.is_some(), "a freed slot serves a new connection");
    gateway.shutdown().await;

    // In all: a third connection waits to be accepted until one of the two open ones ends.
    let settings = GatewaySettings::default().max_connections(2, 100);
    let (_, gateway) = setup(1_000, 1_000_000, settings, None).await;
    let first = TcpStream::connect(gateway.addr()).await.unwrap();
    let _second = TcpStream::connect(gateway.addr()).await.unwrap();
    let mut third = TcpStream::connect(gateway.addr()).await.unwrap();
    let waiting = tokio::spawn(async move { healthz_on(&mut third).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the third connection waits its turn"
    );
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(answer.contains("200 OK"), "{answer}");
    gateway.shutdown().await;
    server.shutdown().await;
}
