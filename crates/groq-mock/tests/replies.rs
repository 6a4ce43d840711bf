//! Replies: JSON completions, SSE framing (byte-exact), tool calls, in-stream errors.

mod common;

use common::{KEY, MODEL, body, chat};
use groq_mock::{Faults, MockLimits, MockServer};
use groq_types::{ChatCompletion, ChatCompletionChunk, FinishReason, StreamPayload};
use serde_json::json;

async fn server(limits: MockLimits) -> MockServer {
    // A slow "minute" of 10 real minutes, so refill barely moves the token counts.
    MockServer::builder()
        .api_key(KEY)
        .model(MODEL, limits)
        .minute_length(std::time::Duration::from_secs(600))
        .start()
        .await
        .unwrap()
}

/// Splits an SSE body into its `data:` payloads, checking the framing of every event.
fn events(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\n\n"), "the stream ends with a blank line");
    assert!(!text.contains('\r'));
    text[..text.len() - 2]
        .split("\n\n")
        .map(|event| {
            assert!(!event.contains('\n'), "one line per event: {event:?}");
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("data-only events: {event:?}"))
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn json_replies_have_groqs_shape() {
    let server = server(MockLimits::unlimited().tpm(10_000)).await;
    let mut request = body("[req:job-7] hello", 100);
    request["mock_completion_tokens"] = json!(5);
    let reply = chat(server.addr(), &request).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(!reply.chunked, "a JSON reply has a Content-Length");
    let completion: ChatCompletion = serde_json::from_slice(&reply.body).unwrap();
    assert!(completion.id.starts_with("chatcmpl-"));
    assert_eq!(completion.object, "chat.completion");
    assert_eq!(completion.model, MODEL);
    assert!(completion.created > 1_600_000_000);
    assert_eq!(completion.text(), Some("The mock model answers with"));
    assert_eq!(
        completion.choices[0].finish_reason,
        Some(FinishReason::Stop)
    );
    assert_eq!(completion.request_id(), reply.header("x-request-id"));
    let usage = completion.usage.unwrap();
    // "[req:job-7] hello" is 17 characters: ceil(17 / 3.6) = 5, + 4 + 3.
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (12, 5, 17)
    );
    for time in [
        usage.queue_time,
        usage.prompt_time,
        usage.completion_time,
        usage.total_time,
    ] {
        assert!(time.is_some_and(|t| t > 0.0));
    }
    let stats = server.stats();
    assert_eq!(stats.audit.len(), 1);
    let entry = &stats.audit[0];
    assert_eq!((entry.prompt_tokens, entry.completion_tokens), (12, 5));
    assert_eq!(entry.marker.as_deref(), Some("job-7"));
    assert_eq!(stats.with_marker("job-7").count(), 1);
}

#[tokio::test]
async fn the_budget_cuts_replies_with_finish_reason_length() {
    let server = server(MockLimits::unlimited()).await;
    let mut request = body("hi", 3);
    request["mock_completion_tokens"] = json!(20);
    let completion: ChatCompletion =
        serde_json::from_slice(&chat(server.addr(), &request).await.body).unwrap();
    assert_eq!(completion.usage.unwrap().completion_tokens, 3);
    assert_eq!(
        completion.choices[0].finish_reason,
        Some(FinishReason::Length)
    );
    // Without max tokens and mock length, the server's defaults apply (16 tokens).
    let request = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]});
    let completion: ChatCompletion =
        serde_json::from_slice(&chat(server.addr(), &request).await.body).unwrap();
    assert_eq!(completion.usage.unwrap().completion_tokens, 16);
}

#[tokio::test]
async fn sse_framing_is_byte_exact() {
    let server = server(MockLimits::unlimited().tpm(1000).rpd(50)).await;
    let mut request = body("hi", 10);
    request["stream"] = json!(true);
    request["mock_completion_tokens"] = json!(3);
    let reply = chat(server.addr(), &request).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert!(reply.chunked);
    assert_eq!(reply.header_u64("x-ratelimit-remaining-requests"), 49);
    assert!(reply.header_u64("x-ratelimit-remaining-tokens") <= 1000 - 18 + 1);
    let request_id = reply.header("x-request-id").unwrap().to_owned();

    let payloads = events(&reply.body);
    assert_eq!(
        payloads.len(),
        6,
        "role, 3 content chunks, final chunk, [DONE]: {payloads:?}"
    );
    assert_eq!(payloads[5], "[DONE]");
    let chunks: Vec<ChatCompletionChunk> = payloads[..5]
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    // Byte-exact: each event is exactly `data: ` + the chunk's compact JSON + a blank line,
    // in the spec's full shape (every choice with `logprobs` and `finish_reason`).
    let mut expected = Vec::new();
    for payload in &payloads[..5] {
        let value: serde_json::Value = serde_json::from_str(payload).unwrap();
        for choice in value["choices"].as_array().unwrap() {
            assert!(choice.get("logprobs").is_some() && choice.get("finish_reason").is_some());
        }
        expected.extend_from_slice(b"data: ");
        expected.extend(serde_json::to_vec(&value).unwrap());
        expected.extend_from_slice(b"\n\n");
    }
    expected.extend_from_slice(b"data: [DONE]\n\n");
    assert_eq!(
        String::from_utf8(reply.body.clone()).unwrap(),
        String::from_utf8(expected).unwrap()
    );

    let first = &chunks[0];
    assert_eq!(first.object, "chat.completion.chunk");
    assert_eq!(first.choices[0].delta.role.as_deref(), Some("assistant"));
    assert_eq!(
        first.x_groq.as_ref().and_then(|x| x.id.as_deref()),
        Some(request_id.as_str())
    );
    let text: String = chunks[1..4].iter().filter_map(|c| c.text()).collect();
    assert_eq!(text, "The mock model");
    assert!(chunks.iter().all(|c| c.id == first.id && c.model == MODEL));
    let last = &chunks[4];
    assert_eq!(last.choices[0].finish_reason, Some(FinishReason::Stop));
    assert!(
        last.usage.is_none(),
        "top-level usage only with include_usage"
    );
    let x_groq = last.x_groq.as_ref().unwrap();
    assert_eq!(x_groq.id.as_deref(), Some(request_id.as_str()));
    let usage = x_groq.usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (8, 3, 11)
    );
    assert!(server.stats().audit[0].stream);
}

#[tokio::test]
async fn include_usage_adds_top_level_usage_and_streams_refund() {
    let server = server(MockLimits::unlimited().tpm(1000)).await;
    let mut request = body("hi", 500);
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    request["mock_completion_tokens"] = json!(2);
    let reply = chat(server.addr(), &request).await;
    let remaining = reply.header_u64("x-ratelimit-remaining-tokens");
    assert!((492..=494).contains(&remaining), "{remaining}");
    let payloads = events(&reply.body);
    let last: ChatCompletionChunk = serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(last.usage.as_ref().map(|u| u.completion_tokens), Some(2));
    // The stream's unused 498 tokens were refunded when it ended.
    let next = chat(server.addr(), &body("hi", 10)).await;
    let remaining = next.header_u64("x-ratelimit-remaining-tokens");
    assert!((972..=976).contains(&remaining), "{remaining}");
}

#[tokio::test]
async fn forced_tool_choice_yields_a_tool_call() {
    let server = server(MockLimits::unlimited()).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "d",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let mut request = body("weather?", 100);
    request["tools"] = tools.clone();
    request["tool_choice"] = json!({"type": "function", "function": {"name": "get_weather"}});
    let completion: ChatCompletion =
        serde_json::from_slice(&chat(server.addr(), &request).await.body).unwrap();
    assert_eq!(
        completion.choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    let calls = completion.tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(calls[0].function.arguments, r#"{"city":"mock"}"#);
    assert!(completion.text().is_none());

    request["stream"] = json!(true);
    request["tool_choice"] = json!("required");
    let reply = chat(server.addr(), &request).await;
    let mut accumulator = groq_types::ChatCompletionAccumulator::new();
    for payload in events(&reply.body).iter().filter(|p| *p != "[DONE]") {
        accumulator.push(&serde_json::from_str(payload).unwrap());
    }
    let streamed = accumulator.finish();
    assert_eq!(streamed.tool_calls()[0].function.name, "get_weather");
    assert_eq!(
        streamed.choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );

    // `auto` leaves the choice to the model: the emulator answers with text.
    request["stream"] = json!(false);
    request["tool_choice"] = json!("auto");
    let completion: ChatCompletion =
        serde_json::from_slice(&chat(server.addr(), &request).await.body).unwrap();
    assert!(completion.tool_calls().is_empty());
}

#[tokio::test]
async fn stream_error_mode_breaks_the_stream_and_charges_nothing() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(MODEL, MockLimits::unlimited().rpm(1))
        .faults(Faults::none().stream_error_rate(1.0))
        .start()
        .await
        .unwrap();
    let mut request = body("hi", 10);
    request["stream"] = json!(true);
    for _ in 0..2 {
        let reply = chat(server.addr(), &request).await;
        assert_eq!(reply.status, 200);
        let payloads = events(&reply.body);
        assert_eq!(payloads.len(), 3, "{payloads:?}");
        assert!(!payloads.contains(&"[DONE]".to_owned()));
        match StreamPayload::parse(&payloads[2]).unwrap() {
            StreamPayload::Error(error) => {
                assert_eq!(error.kind.as_deref(), Some("internal_server_error"))
            }
            other => panic!("expected an error event, got {other:?}"),
        }
    }
    // Non-streamed requests are not affected by this mode, and 1 RPM is still available.
    assert_eq!(chat(server.addr(), &body("hi", 10)).await.status, 200);
    assert_eq!(server.stats().audit.len(), 1);
}

#[tokio::test]
async fn malformed_mode_truncates_json_and_charges_nothing() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(MODEL, MockLimits::unlimited().rpm(1))
        .faults(Faults::none().malformed_rate(1.0))
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        let reply = chat(server.addr(), &body("hi", 10)).await;
        assert_eq!(reply.status, 200);
        assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_err());
        assert!(reply.text().starts_with('{') && reply.text().contains("chatcmpl-"));
    }
    assert!(server.stats().audit.is_empty());
}

#[tokio::test]
async fn streams_can_be_paced_and_a_dropped_stream_is_refunded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = MockServer::builder()
        .api_key(KEY)
        .model(MODEL, MockLimits::unlimited().tpm(1000))
        .minute_length(std::time::Duration::from_secs(600))
        .stream_interval(std::time::Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let mut request = body("hi", 500);
    request["stream"] = json!(true);
    request["mock_completion_tokens"] = json!(5);
    // Role, 5 content chunks, final chunk, [DONE]: 7 pauses of 20 ms.
    let start = tokio::time::Instant::now();
    let reply = chat(server.addr(), &request).await;
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(140),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(events(&reply.body).len(), 8);

    // A client that leaves after the first bytes: the unused budget comes back all the same.
    request["mock_completion_tokens"] = json!(400);
    let bytes = serde_json::to_vec(&request).unwrap();
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = common::request_bytes(
        "POST",
        "/openai/v1/chat/completions",
        Some(KEY),
        Some(&bytes),
    );
    stream.write_all(&head).await.unwrap();
    let mut first = [0u8; 64];
    let read = stream.read(&mut first).await.unwrap();
    assert!(first[..read].starts_with(b"HTTP/1.1 200 OK"));
    drop(stream);
    // Charged 508 (prompt 8 + budget 500), of which 100 are never generated. Each probe
    // costs 9 tokens for good; once the server notices the closed connection, the 100
    // return: remaining + 9 × probes goes from 1000 - 13 - 508 to 1000 - 13 - 508 + 100.
    let before_refund = 1000 - 13 - 508;
    let mut restored = 0;
    for probes in 1..=50u64 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let probe = chat(server.addr(), &body("hi", 1)).await;
        restored = probe.header_u64("x-ratelimit-remaining-tokens") + 9 * probes;
        if restored >= before_refund + 100 {
            break;
        }
    }
    assert!(
        (before_refund + 100..=before_refund + 110).contains(&restored),
        "{restored}"
    );
}

#[tokio::test]
async fn json_mode_replies_are_json_streamed_or_not() {
    let server = server(MockLimits::unlimited()).await;
    let mut request = body("Describe Ada Lovelace as JSON.", 100);
    request["response_format"] = json!({
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "born": {"type": "integer"}}
        }}
    });
    let reply = chat(server.addr(), &request).await;
    assert_eq!(reply.status, 200);
    let completion: ChatCompletion = serde_json::from_slice(&reply.body).unwrap();
    let person: serde_json::Value = serde_json::from_str(completion.text().unwrap()).unwrap();
    assert!(person["name"].is_string());
    assert_eq!(person["born"], 0);

    request["response_format"] = json!({"type": "json_object"});
    request["stream"] = json!(true);
    let reply = chat(server.addr(), &request).await;
    let mut text = String::new();
    for data in events(&reply.body) {
        if data == "[DONE]" {
            break;
        }
        if let StreamPayload::Chunk(chunk) = StreamPayload::parse(&data).unwrap() {
            text.push_str(chunk.text().unwrap_or_default());
        }
    }
    let object: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(object["answer"].is_string(), "{text}");
}

#[tokio::test]
async fn replies_carry_the_specs_full_shape() {
    let server = server(MockLimits::unlimited().tpm(10_000)).await;
    let mut request = body("hello", 100);
    request["seed"] = json!(42);
    let reply = chat(server.addr(), &request).await;
    assert_eq!(reply.status, 200);
    let value: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let choice = &value["choices"][0];
    // Required by CreateChatCompletionResponse, even when null.
    assert!(
        choice
            .get("logprobs")
            .is_some_and(serde_json::Value::is_null)
    );
    assert!(choice["message"].get("content").is_some());
    assert_eq!(value["service_tier"], "on_demand");
    assert_eq!(value["system_fingerprint"], "fp_mock");
    assert!(value.get("usage_breakdown").is_some());
    assert!(value.get("mcp_list_tools").is_some());
    assert_eq!(value["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(
        value["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );
    // The non-streaming x_groq: seed and cached-token usage, not a completion usage.
    assert_eq!(value["x_groq"]["seed"], 42);
    assert_eq!(
        value["x_groq"]["usage"],
        json!({"sram_cached_tokens": 0, "dram_cached_tokens": 0})
    );
    let completion = ChatCompletion::from_bytes(reply.body.clone().into()).unwrap();
    assert_eq!(completion.raw(), &reply.body[..]);
    let cached = completion.x_groq.unwrap().usage.unwrap();
    assert_eq!(cached.sram_cached_tokens, Some(0));

    request["stream"] = json!(true);
    let reply = chat(server.addr(), &request).await;
    let payloads = events(&reply.body);
    let last: serde_json::Value = serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(last["x_groq"]["seed"], 42);
    assert_eq!(
        last["x_groq"]["usage"]["prompt_tokens_details"]["cached_tokens"],
        0
    );
    for payload in &payloads[..payloads.len() - 1] {
        match StreamPayload::parse(payload).unwrap() {
            StreamPayload::Chunk(chunk) => {
                assert_eq!(chunk.raw(), payload.as_bytes());
                assert_eq!(
                    chunk.service_tier.as_ref().map(|t| t.as_str()),
                    Some("on_demand")
                );
            }
            other => panic!("expected a chunk, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn json_schema_replies_satisfy_nested_schemas() {
    let server = server(MockLimits::unlimited()).await;
    let mut request = body("Review these products as JSON.", 200);
    request["response_format"] = json!({
        "type": "json_schema",
        "json_schema": {"name": "reviews", "strict": true, "schema": {
            "type": "object",
            "properties": {
                "reviews": {
                    "type": "array",
                    "minItems": 2,
                    "items": {
                        "type": "object",
                        "properties": {
                            "product": {"type": "string"},
                            "sentiment": {"type": "string", "enum": ["positive", "negative"]},
                            "score": {"type": "number", "minimum": 1, "maximum": 5},
                            "tags": {"type": "array", "items": {"type": "string"}},
                            "verified": {"type": "boolean"}
                        },
                        "required": ["product", "sentiment", "score", "tags", "verified"],
                        "additionalProperties": false
                    }
                },
                "summary": {"$ref": "#/$defs/summary"}
            },
            "required": ["reviews", "summary"],
            "$defs": {"summary": {"type": "object", "properties": {"count": {"type": "integer", "minimum": 1}}, "required": ["count"]}}
        }}
    });
    let reply = chat(server.addr(), &request).await;
    assert_eq!(reply.status, 200);
    let completion: ChatCompletion = serde_json::from_slice(&reply.body).unwrap();
    let value: serde_json::Value = serde_json::from_str(completion.text().unwrap()).unwrap();
    let reviews = value["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 2);
    for review in reviews {
        assert!(review["product"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(review["sentiment"], "positive");
        let score = review["score"].as_f64().unwrap();
        assert!((1.0..=5.0).contains(&score), "{score}");
        assert!(review["tags"].as_array().unwrap()[0].is_string());
        assert!(review["verified"].is_boolean());
    }
    assert!(value["summary"]["count"].as_u64().unwrap() >= 1);
}
