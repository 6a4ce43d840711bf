//! Every error status the emulator produces, with Groq's envelopes and codes, and the
//! models endpoints.

mod common;

use common::{KEY, MODEL, body, chat, send};
use groq_mock::{Faults, MAX_BODY_BYTES, MockLimits, MockServer};
use serde_json::{Value, json};

async fn server() -> MockServer {
    MockServer::builder()
        .api_key(KEY)
        .model(
            MODEL,
            MockLimits::unlimited().tpm(100_000).context_window(1000),
        )
        .model("openai/gpt-oss-20b", MockLimits::unlimited())
        .start()
        .await
        .unwrap()
}

fn assert_invalid(reply: &common::HttpResponse, needle: &str) {
    assert_eq!(reply.status, 400, "{}", reply.text());
    let error = reply.error();
    assert_eq!(error["type"], "invalid_request_error");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message} lacks {needle}");
    assert!(reply.header("x-request-id").is_some());
}

#[tokio::test]
async fn unauthorized_without_a_valid_key() {
    let server = server().await;
    let bytes = serde_json::to_vec(&body("hi", 10)).unwrap();
    for key in [None, Some("gsk_wrong"), Some("")] {
        let reply = send(
            server.addr(),
            "POST",
            "/openai/v1/chat/completions",
            key,
            Some(&bytes),
        )
        .await;
        assert_eq!(reply.status, 401, "{key:?}");
        assert_eq!(
            reply.json(),
            json!({"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}})
        );
    }
    let reply = send(
        server.addr(),
        "GET",
        "/openai/v1/models",
        Some("gsk_wrong"),
        None,
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(server.stats().count(401), 4);
}

#[tokio::test]
async fn any_key_is_accepted_when_none_is_configured() {
    let server = MockServer::builder()
        .model(MODEL, MockLimits::unlimited())
        .start()
        .await
        .unwrap();
    let bytes = serde_json::to_vec(&body("hi", 10)).unwrap();
    let reply = send(
        server.addr(),
        "POST",
        "/openai/v1/chat/completions",
        Some("anything"),
        Some(&bytes),
    )
    .await;
    assert_eq!(reply.status, 200);
    let reply = send(
        server.addr(),
        "POST",
        "/openai/v1/chat/completions",
        None,
        Some(&bytes),
    )
    .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn invalid_requests_get_400() {
    let server = server().await;
    let addr = server.addr();
    let raw = send(
        addr,
        "POST",
        "/openai/v1/chat/completions",
        Some(KEY),
        Some(b"{not json"),
    )
    .await;
    assert_invalid(&raw, "could not parse the JSON body");
    let array = send(
        addr,
        "POST",
        "/openai/v1/chat/completions",
        Some(KEY),
        Some(b"[1]"),
    )
    .await;
    assert_invalid(&array, "must be a JSON object");

    let with = |key: &str, value: Value| {
        let mut request = body("hi", 10);
        request[key] = value;
        request
    };
    let unknown = chat(addr, &with("frobnicate", json!(true))).await;
    assert_invalid(&unknown, "property 'frobnicate' is unsupported");
    assert_eq!(unknown.error()["param"], "frobnicate");
    for rejected in ["logprobs", "logit_bias", "top_logprobs"] {
        let reply = chat(addr, &with(rejected, json!(true))).await;
        assert_invalid(&reply, &format!("property '{rejected}' is unsupported"));
    }
    let named = chat(
        addr,
        &json!({"model": MODEL, "messages": [{"role": "user", "content": "hi", "name": "bob"}]}),
    )
    .await;
    assert_invalid(&named, "property 'name' is unsupported");
    assert_invalid(&chat(addr, &with("n", json!(2))).await, "n = 1");
    assert_invalid(
        &chat(addr, &with("temperature", json!(3.0))).await,
        "temperature",
    );
    assert_invalid(
        &chat(addr, &with("messages", json!([]))).await,
        "at least one message",
    );
    assert_invalid(
        &chat(
            addr,
            &with("messages", json!([{"role": "wizard", "content": "x"}])),
        )
        .await,
        "value 'wizard' is not one of",
    );
    assert_invalid(
        &chat(addr, &with("mock_completion_tokens", json!(-1))).await,
        "mock_completion_tokens",
    );
    // Accepted: the documented options, `n: 1`, `stream_options` and Groq-only properties.
    let accepted = json!({
        "model": MODEL, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "n": 1, "temperature": 0.5, "top_p": 0.9, "seed": 1, "stop": ["x"], "max_tokens": 20,
        "user": "u1", "service_tier": "on_demand", "parallel_tool_calls": true,
        "response_format": {"type": "json_object"}, "disable_tool_validation": false,
        "stream": false, "stream_options": {"include_usage": true}
    });
    let reply = chat(addr, &accepted).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        server.stats().audit.len(),
        1,
        "rejected requests are not audited"
    );
}

#[tokio::test]
async fn unknown_model_and_unknown_url_get_404() {
    let server = server().await;
    let mut request = body("hi", 10);
    request["model"] = json!("no-such-model");
    let reply = chat(server.addr(), &request).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error()["code"], "model_not_found");
    assert_eq!(
        reply.error()["message"],
        "The model `no-such-model` does not exist or you do not have access to it."
    );
    let reply = send(
        server.addr(),
        "GET",
        "/openai/v1/models/no-such-model",
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error()["code"], "model_not_found");
    for (method, path) in [
        ("GET", "/openai/v1/nothing"),
        ("GET", "/v1/models"),
        ("DELETE", "/openai/v1/models"),
    ] {
        let reply = send(server.addr(), method, path, Some(KEY), None).await;
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(reply.error()["code"], "unknown_url");
    }
}

#[tokio::test]
async fn context_window_is_enforced() {
    let server = server().await;
    // 8 prompt tokens + 993 budget = 1001 > 1000.
    let reply = chat(server.addr(), &body("hi", 993)).await;
    assert_eq!(reply.status, 400);
    let error = reply.error();
    assert_eq!(error["code"], "context_length_exceeded");
    assert!(error["message"].as_str().unwrap().contains("maximum context length is 1000 tokens. However, you requested 1001 tokens (8 in the messages, 993 in the completion)"));
    assert_eq!(chat(server.addr(), &body("hi", 992)).await.status, 200);
}

#[tokio::test]
async fn bodies_over_one_mebibyte_get_413() {
    let server = server().await;
    let text = "a".repeat(MAX_BODY_BYTES);
    let bytes = serde_json::to_vec(&body(&text, 10)).unwrap();
    let reply = send(
        server.addr(),
        "POST",
        "/openai/v1/chat/completions",
        Some(KEY),
        Some(&bytes),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.error()["code"], "request_too_large");
    // Chunked bodies without a length are limited too.
    let mut head = format!(
        "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {KEY}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        bytes.len()
    )
    .into_bytes();
    head.extend_from_slice(&bytes);
    head.extend_from_slice(b"\r\n0\r\n\r\n");
    let reply = common::parse(&common::raw(server.addr(), &head).await).unwrap();
    assert_eq!(reply.status, 413);
}

#[tokio::test]
async fn injected_server_errors_are_500_and_503() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(MODEL, MockLimits::unlimited().rpm(1))
        .faults(Faults::none().fail_rate(1.0))
        .seed(3)
        .start()
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..16 {
        let reply = chat(server.addr(), &body("hi", 10)).await;
        let error = reply.error();
        assert_eq!(error["type"], "internal_server_error");
        assert!(error["code"].is_string());
        statuses.push(reply.status);
    }
    assert!(
        statuses.contains(&500) && statuses.contains(&503),
        "{statuses:?}"
    );
    let stats = server.stats();
    assert_eq!(stats.count(500) + stats.count(503), 16);
    assert!(stats.audit.is_empty());
    // Nothing was charged: with 1 request per minute, a charged fault would have led to 429s.
    assert_eq!(stats.rate_limited, 0);
}

#[tokio::test]
async fn models_are_listed_and_described() {
    let server = server().await;
    let reply = send(server.addr(), "GET", "/openai/v1/models", Some(KEY), None).await;
    assert_eq!(reply.status, 200);
    let list: groq_types::ModelList = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(list.object, "list");
    let ids: Vec<_> = list.data.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [MODEL, "openai/gpt-oss-20b"]);
    assert_eq!(list.data[0].context_window, Some(1000));
    assert_eq!(list.data[0].owned_by.as_deref(), Some("Meta"));
    let raw = reply.json();
    assert_eq!(raw["data"][0]["object"], "model");
    assert_eq!(raw["data"][0]["active"], true);

    let reply = send(
        server.addr(),
        "GET",
        "/openai/v1/models/openai/gpt-oss-20b",
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["id"], "openai/gpt-oss-20b");
    assert_eq!(reply.json()["owned_by"], "OpenAI");
}

#[tokio::test]
async fn the_default_models_are_groqs_catalog() {
    let server = MockServer::builder().start().await.unwrap();
    let reply = send(server.addr(), "GET", "/openai/v1/models", Some("k"), None).await;
    let ids: Vec<String> = reply.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&"llama-3.1-8b-instant".to_owned()), "{ids:?}");
    assert_eq!(
        server.models()["llama-3.1-8b-instant"],
        MockLimits::unlimited()
            .rpm(30)
            .rpd(14_400)
            .tpm(6000)
            .tpd(500_000)
            .context_window(131_072)
    );
}
