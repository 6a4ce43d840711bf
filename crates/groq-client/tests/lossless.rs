//! The lossless wire through the client: request bodies reach the emulator as written, every
//! stream chunk and reply keeps the bytes received, and an error that is an HTTP answer keeps
//! that answer.

use std::sync::Arc;
use std::time::Duration;

use groq_client::{ChatRequest, Config, Error, GroqClient, ModelConfig, RetryPolicy};
use groq_config::{Limits, UnknownModelPolicy};
use groq_mock::{MockLimits, MockServer};
use groq_transport::Body;
use groq_transport::mock::{self, MockTransport};
use serde_json::json;

const KEY: &str = "gsk_lossless_test_key_0123456789";
const MODEL: &str = "llama-3.1-8b-instant";

fn transport_client(transport: &MockTransport) -> GroqClient {
    let config = Config::builder()
        .clear_models()
        .base_url("https://api.groq.test/openai/v1")
        .api_key(KEY)
        .model(ModelConfig::new(MODEL).with_limits(Limits::unlimited()))
        .unknown_models(UnknownModelPolicy::Reject)
        .build()
        .unwrap();
    GroqClient::builder()
        .config(config)
        .transport(Arc::new(transport.clone()))
        .retry_policy(
            RetryPolicy::default()
                .with_base_delay(Duration::from_millis(10))
                .with_max_attempts(1),
        )
        .max_rate_limit_retries(0)
        .build()
        .unwrap()
}

/// Stream chunks with every optional field of `CreateChatCompletionStreamResponse`, unknown
/// fields at every level, nulls, a big integer and unicode.
const CHUNKS: [&str; 4] = [
    r#"{"id":"chatcmpl-s","object":"chat.completion.chunk","created":7,"model":"llama-3.1-8b-instant","system_fingerprint":"fp_s","service_tier":"performance","choices":[{"index":0,"delta":{"role":"assistant","content":"","dx":{"b":1,"a":2}},"logprobs":null,"finish_reason":null,"cx":1}],"x_groq":{"id":"req_s","xx":[1]},"top":123456789012345678901234567890}"#,
    r#"{"id":"chatcmpl-s","object":"chat.completion.chunk","created":7,"model":"llama-3.1-8b-instant","choices":[{"index":0,"delta":{"content":"h\u00e9 ☃"},"logprobs":{"content":[{"token":"h","logprob":-0.5,"bytes":[104],"top_logprobs":[]}]},"finish_reason":null}]}"#,
    r#"{"id":"chatcmpl-s", "object": "chat.completion.chunk", "created": 7, "model": "llama-3.1-8b-instant", "choices": [{"index": 0, "delta": {"executed_tools": [{"index": 0, "type": "search", "arguments": "{}", "output": "o", "search_results": {"results": [], "images": null}}], "annotations": [{"type": "document_citation", "document_citation": {"start_index": 0, "end_index": 1, "document_id": "d"}}]}, "logprobs": {"content": [{"token": "é", "logprob": -1.0, "bytes": null, "top_logprobs": []}]}, "finish_reason": null}]}"#,
    r#"{"id":"chatcmpl-s","object":"chat.completion.chunk","created":7,"model":"llama-3.1-8b-instant","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"content_filter"}],"x_groq":{"id":"req_s","seed":99,"usage":{"queue_time":0.1,"prompt_tokens":5,"prompt_time":0.01,"completion_tokens":2,"completion_time":0.02,"total_tokens":7,"total_time":0.03,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":null},"usage_breakdown":{"models":[{"model":"m1","usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}]},"error":null,"debug":null}}"#,
];

#[tokio::test]
async fn each_chunk_keeps_its_bytes_and_the_merged_completion_keeps_every_field() {
    let transport = MockTransport::from_fn(|_| Ok(mock::sse_response(CHUNKS)));
    let client = transport_client(&transport);
    let mut stream = client
        .chat_stream(ChatRequest::new(MODEL).user("hi"))
        .await
        .unwrap();
    let mut raw = Vec::new();
    while let Some(chunk) = stream.next().await {
        raw.push(chunk.unwrap().raw().clone());
    }
    assert_eq!(raw.len(), CHUNKS.len());
    for (got, sent) in raw.iter().zip(CHUNKS) {
        assert_eq!(&got[..], sent.as_bytes());
    }

    let stream = client
        .chat_stream(ChatRequest::new(MODEL).user("hi"))
        .await
        .unwrap();
    let completion = stream.into_completion().await.unwrap();
    let choice = &completion.choices[0];
    assert_eq!(choice.message.content.as_deref(), Some("hé ☃"));
    assert_eq!(
        choice.finish_reason.as_ref().map(|r| r.as_str()),
        Some("content_filter")
    );
    let tokens: Vec<_> = choice
        .logprobs
        .as_ref()
        .and_then(|l| l.content.as_ref())
        .unwrap()
        .iter()
        .map(|t| t.token.as_str())
        .collect();
    assert_eq!(tokens, ["h", "é"]);
    assert_eq!(
        choice.message.executed_tools.as_ref().unwrap()[0].kind,
        "search"
    );
    assert_eq!(choice.message.annotations.as_ref().unwrap().len(), 1);
    assert_eq!(
        completion.service_tier.as_ref().map(|t| t.as_str()),
        Some("performance")
    );
    let usage = completion.usage.as_ref().unwrap();
    assert_eq!((usage.total_tokens, usage.cached_tokens()), (7, 1));
    assert_eq!(completion.usage_breakdown.as_ref().unwrap().models.len(), 1);
    let x_groq = completion.x_groq.as_ref().unwrap();
    assert_eq!(
        (x_groq.id.as_deref(), x_groq.seed),
        (Some("req_s"), Some(99))
    );
}

#[tokio::test]
async fn a_string_x_groq_error_ends_the_stream_with_the_servers_text() {
    let transport = MockTransport::from_fn(|_| {
        Ok(mock::sse_response([
            CHUNKS[0],
            r#"{"id":"chatcmpl-s","object":"chat.completion.chunk","created":7,"model":"m","choices":[],"x_groq":{"id":"req_s","error":"the model ran out of capacity: try later"}}"#,
        ]))
    });
    let client = transport_client(&transport);
    let stream = client
        .chat_stream(ChatRequest::new(MODEL).user("hi"))
        .await
        .unwrap();
    let error = stream.into_completion().await.unwrap_err();
    assert!(
        matches!(&error, Error::Stream(stream)
            if stream.message() == "the model ran out of capacity: try later"
                && std::error::Error::source(&error).is_none()),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("the model ran out of capacity: try later")
    );
}

fn answer(status: u16, body: &'static str) -> http::Response<Body> {
    let mut response = mock::json_response(status, body);
    response.headers_mut().insert(
        "x-request-id",
        http::HeaderValue::from_static("req_answer_1"),
    );
    response
}

#[tokio::test]
async fn an_http_answer_is_kept_on_the_error() {
    let cases: [(u16, &'static str, &str); 3] = [
        (
            404,
            r#"{"error": {"message": "The model `x` does not exist", "type": "invalid_request_error", "code": "model_not_found", "zz": 1}}"#,
            "model_not_found",
        ),
        (
            400,
            r#"{"error":{"message":"bad","type":"invalid_request_error","param":"messages","code":"json_validate_failed","failed_generation":"{"},"top":123456789012345678901234567890}"#,
            "json_validate_failed",
        ),
        (
            429,
            r#"{"error":{"message":"Rate limit reached for model `m` on tokens per minute (TPM): Limit 6000, Used 6000, Requested 10. Please try again in 1s.","type":"tokens","code":"rate_limit_exceeded"}}"#,
            "rate_limit_exceeded",
        ),
    ];
    for (status, body, code) in cases {
        let transport = MockTransport::from_fn(move |_| Ok(answer(status, body)));
        let client = transport_client(&transport);
        let error = client
            .chat(ChatRequest::new(MODEL).user("hi"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some(code), "{error:?}");
        let response = error
            .response()
            .unwrap_or_else(|| panic!("{status}: {error:?}"));
        assert_eq!(response.status(), status);
        assert_eq!(response.request_id(), Some("req_answer_1"));
        assert_eq!(&response.body()[..], body.as_bytes());
        assert_eq!(error.response_body().map(|b| &b[..]), Some(body.as_bytes()));
        assert_eq!(error.request_id(), Some("req_answer_1"));
    }
    // No HTTP answer, no response.
    let transport =
        MockTransport::from_fn(|_| Err(groq_transport::TransportError::connection("reset")));
    let error = transport_client(&transport)
        .chat(ChatRequest::new(MODEL).user("hi"))
        .await
        .unwrap_err();
    assert!(error.response().is_none(), "{error:?}");
}

#[tokio::test]
async fn replies_keep_the_bytes_received() {
    const BODY: &str = r#"{"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "7", "new": {"z": 1, "a": 2}}, "logprobs": null, "finish_reason": "stop"}], "x_groq": {"id": "req_1", "usage": {"sram_cached_tokens": 2, "dram_cached_tokens": 1}}, "n": 123456789012345678901234567890}"#;
    let transport = MockTransport::from_fn(|_| Ok(mock::json_response(200, BODY)));
    let client = transport_client(&transport);
    let reply = client
        .chat(ChatRequest::new(MODEL).user("hi"))
        .await
        .unwrap();
    assert_eq!(&reply.raw()[..], BODY.as_bytes());
    assert_eq!(reply.text(), Some("7"));
    let cached = reply.x_groq.as_ref().unwrap().usage.as_ref().unwrap();
    assert_eq!(
        (cached.sram_cached_tokens, cached.dram_cached_tokens),
        (Some(2), Some(1))
    );
}

/// Request bodies with every spec parameter, nested unknown fields, ordered schemas, big
/// integers, built-in tools and the function role.
const REQUESTS: [&str; 4] = [
    r#"{"model": "llama-3.1-8b-instant", "messages": [{"role": "system", "content": "s", "name": "sys", "sx": {"b": 1, "a": 2}}, {"role": "user", "content": [{"type": "text", "text": "hi", "px": 1}, {"type": "document", "document": {"data": {"z": 1, "a": 123456789012345678901234567890}, "id": "d1"}}], "name": "ann"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"b\":1}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "4", "tx": true}, {"role": "function", "name": "f", "content": "4"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"zeta": {"type": "string"}, "alpha": {"type": "integer"}}}, "fx": 1}}, {"type": "browser_search"}, {"type": "code_interpreter"}], "tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": false, "disable_tool_validation": true, "response_format": {"type": "json_schema", "json_schema": {"name": "o", "description": "d", "schema": {"properties": {"z": {}, "a": {}}}, "strict": true, "jx": 1}}, "temperature": 0.50, "top_p": 0.9, "seed": 9007199254740993, "stop": ["\n\n", "END"], "max_completion_tokens": 32, "max_tokens": 32, "n": 1, "presence_penalty": 0.0, "frequency_penalty": -0.5, "reasoning_effort": "low", "reasoning_format": "parsed", "include_reasoning": true, "service_tier": "flex", "user": "u", "logprobs": true, "top_logprobs": 3, "logit_bias": {"50256": -100}, "metadata": {"k": "v"}, "store": false, "search_settings": {"include_domains": ["a.b"], "exclude_domains": null, "include_images": true, "country": "germany"}, "compound_custom": {"models": {"answering_model": "x"}}, "documents": [{"id": "d", "source": {"type": "json", "data": {"k": 1}}}], "citation_options": "disabled", "include_domains": ["x.y"], "exclude_domains": [], "function_call": "auto", "functions": [{"name": "g"}], "unknown": {"z": 1e2}}"#,
    r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"developer","content":"d"},{"role":"user","content":"ü ☃ \ud83d\ude00"}],"stream":false}"#,
    r#"{
  "messages": [{"role": "user", "content": "pretty"}],
  "model": "llama-3.1-8b-instant"
}"#,
    r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true,"sx":1}}"#,
];

#[tokio::test]
async fn request_bodies_reach_the_emulator_as_written() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(MODEL, MockLimits::unlimited())
        .capture_bodies(true)
        .start()
        .await
        .unwrap();
    let config = Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(KEY)
        .model(ModelConfig::new(MODEL).with_limits(Limits::unlimited()))
        .build()
        .unwrap();
    let client = GroqClient::builder().config(config).build().unwrap();
    for body in REQUESTS {
        let request = ChatRequest::from_slice(body.as_bytes()).unwrap();
        // The emulator may refuse what Groq refuses (`name`, `logprobs`): what matters is
        // what it received.
        let _ = client.chat(request).await;
    }
    // Built with the typed setters: one key each, `model` from `extra` is the model, and
    // nothing the caller did not set.
    let built = ChatRequest::new("other")
        .user("hi")
        .temperature(0.5)
        .extra("temperature", json!(0.25))
        .extra("model", json!(MODEL))
        .include_usage();
    let _ = client.chat(built).await;
    let streamed = ChatRequest::from_slice(REQUESTS[1].as_bytes()).unwrap();
    let _ = client.chat_stream(streamed).await;
    let bodies = server.stats().bodies;
    assert_eq!(bodies.len(), REQUESTS.len() + 2, "{bodies:?}");
    for (got, sent) in bodies.iter().zip(REQUESTS) {
        assert_eq!(got, sent);
    }
    assert_eq!(
        bodies[REQUESTS.len()],
        r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}],"temperature":0.25,"stream_options":{"include_usage":true}}"#
    );
    // A streaming call sets `stream` in place, and changes nothing else.
    assert_eq!(
        bodies[REQUESTS.len() + 1],
        REQUESTS[1].replace(r#""stream":false"#, r#""stream":true"#)
    );
    server.shutdown().await;
}
