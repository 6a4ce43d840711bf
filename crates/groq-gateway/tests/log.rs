//! The access log: one structured line per request, and never the Groq key, even at the
//! most verbose level. (A test binary of its own: it installs the global subscriber.)

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use groq_gateway::{GatewayKeys, GatewaySettings, JsonLog};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_is_structured_and_never_holds_the_groq_key() {
    let sink = Arc::new(Mutex::new(Vec::<u8>::new()));
    tracing::subscriber::set_global_default(JsonLog::new(tracing::Level::TRACE, Arc::clone(&sink)))
        .unwrap();
    let settings = GatewaySettings::default()
        .keys(GatewayKeys::parse(["team-key"]).unwrap())
        .pass_through(true);
    let (server, gateway) = setup(1_000, 1_000_000, settings, None).await;
    let addr = gateway.addr();
    let path = "/openai/v1/chat/completions";
    let auth = [("Authorization", "Bearer team-key")];
    assert_eq!(
        send(
            addr,
            "POST",
            path,
            &auth,
            Some(chat_body("log-json", false).as_bytes())
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send(
            addr,
            "POST",
            path,
            &auth,
            Some(chat_body("log-sse", true).as_bytes())
        )
        .await
        .status,
        200
    );
    // Pass-through with the Groq key itself, and with a wrong one.
    let own = format!("Bearer {GROQ_KEY}");
    assert_eq!(
        send(
            addr,
            "POST",
            path,
            &[("Authorization", own.as_str())],
            Some(chat_body("log-own", false).as_bytes())
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send(
            addr,
            "POST",
            path,
            &[("Authorization", "Bearer gsk_wrong")],
            Some(chat_body("x", false).as_bytes())
        )
        .await
        .status,
        401
    );
    assert_eq!(
        send(addr, "GET", "/v1/models", &auth, None).await.status,
        200
    );
    gateway.shutdown().await;
    server.shutdown().await;

    let text = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
    assert!(!text.contains(GROQ_KEY), "the Groq key is in the log");
    assert!(!text.contains("team-key"), "a gateway key is in the log");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "groq_gateway::access" && l["message"] == "request")
        .collect();
    assert_eq!(access.len(), 5, "{text}");
    let first = access[0];
    assert_eq!(first["status"], 200);
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], path);
    assert_eq!(first["model"], MODEL);
    assert_eq!(first["priority"], "normal");
    assert!(first["elapsed_ms"].as_f64().unwrap() > 0.0);
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "stream ended" && l["outcome"] == "completed"),
        "{text}"
    );
}
