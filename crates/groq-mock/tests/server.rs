//! The server's life cycle, the stats endpoint, both tokio runtimes, and the binary.

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::{KEY, MODEL, body, chat, send};
use groq_mock::{MockLimits, MockServer, MockStats};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

async fn server() -> MockServer {
    MockServer::builder()
        .api_key(KEY)
        .model(MODEL, MockLimits::unlimited().rpm(2))
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn stats_endpoint_matches_the_rust_api() {
    let server = server().await;
    for text in ["[req:a] one", "two [req:b]", "no marker"] {
        chat(server.addr(), &body(text, 10)).await;
    }
    let reply = send(server.addr(), "GET", "/_mock/stats", None, None).await;
    assert_eq!(reply.status, 200);
    let stats: MockStats = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(stats, server.stats());
    assert_eq!(
        (stats.responses, stats.count(200), stats.rate_limited),
        (3, 2, 1)
    );
    let markers: Vec<_> = stats.audit.iter().map(|e| e.marker.as_deref()).collect();
    assert_eq!(markers, [Some("a"), Some("b")]);
    assert!(stats.audit[0].at <= stats.audit[1].at);
    assert_eq!(reply.json()["by_status"]["429"], 1);
    assert!(server.stats_url().ends_with("/_mock/stats"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_responses_in_progress_and_frees_the_port() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(MODEL, MockLimits::unlimited())
        .latency(Duration::from_millis(300), Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let addr = server.addr();
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert!(server.base_url().ends_with("/openai/v1"));
    let in_flight = tokio::spawn(async move { chat(addr, &body("hi", 10)).await.status });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shutdown().await;
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the request in progress completed"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
    let rebound = tokio::net::TcpListener::bind(addr).await;
    assert!(rebound.is_ok(), "the port is free again");
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_handle_stops_the_server() {
    let server = server().await;
    let addr = server.addr();
    assert_eq!(
        send(addr, "GET", "/openai/v1/models", Some(KEY), None)
            .await
            .status,
        200
    );
    drop(server);
    // Let the accept loop see the signal.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn invalid_settings_are_rejected_at_start() {
    let zero_minute = MockServer::builder()
        .minute_length(Duration::ZERO)
        .start()
        .await;
    assert!(
        zero_minute
            .unwrap_err()
            .to_string()
            .contains("minute length")
    );
    let zero_limit = MockServer::builder()
        .model(MODEL, MockLimits::unlimited().rpd(0))
        .start()
        .await;
    assert!(zero_limit.unwrap_err().to_string().contains("`rpd` = 0"));
    let taken = server().await;
    let clash = MockServer::builder().bind(taken.addr()).start().await;
    assert!(matches!(clash, Err(groq_mock::MockError::Bind { .. })));
    let debug = format!("{:?}", MockServer::builder().api_key("gsk_secret_value"));
    assert!(!debug.contains("gsk_secret_value"), "{debug}");
}

#[tokio::test]
async fn the_binary_prints_its_url_serves_and_stops_on_sigterm() {
    let mut limits = tempfile::NamedTempFile::new().unwrap();
    write!(
        limits,
        r#"{{"{MODEL}": {{"rpm": 1, "tpm": 5000, "context_window": 8192}}}}"#
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_groq-mock"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--time-scale",
            "2",
            "--api-key",
            KEY,
            "--seed",
            "1",
        ])
        .arg("--limits")
        .arg(limits.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await.unwrap();
    let base_url = line.trim();
    let authority = base_url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/openai/v1"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr = authority.parse().unwrap();

    let reply = chat(addr, &body("hi", 10)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header_u64("x-ratelimit-limit-tokens"), 5000);
    let limited = chat(addr, &body("hi", 10)).await;
    assert_eq!(limited.status, 429);
    // A "minute" of 2 s: the wait is at most 2 s.
    assert!(common::message_wait(limited.error()["message"].as_str().unwrap()) <= 2.0);
    let models = send(addr, "GET", "/openai/v1/models", Some(KEY), None)
        .await
        .json();
    assert_eq!(
        models["data"],
        json!([{"id": MODEL, "object": "model", "created": models["data"][0]["created"],
        "owned_by": "Meta", "active": true, "context_window": 8192, "public_apps": null}])
    );

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the binary exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_binary_explains_a_bad_limits_file() {
    let mut limits = tempfile::NamedTempFile::new().unwrap();
    write!(limits, r#"{{"m": {{"rpm": "many"}}}}"#).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_groq-mock"))
        .args(["--addr", "127.0.0.1:0", "--limits"])
        .arg(limits.path())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is not valid: it must map model ids"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 1"),
        "the parser's position is shown: {stderr}"
    );
    assert!(output.stdout.is_empty());
}
