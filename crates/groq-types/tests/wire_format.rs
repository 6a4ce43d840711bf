//! Round trips of realistic Groq bodies through the wire types.

use groq_types::{
    ChatCompletion, ChatCompletionAccumulator, ChatRequest, Content, ContentPart, ErrorEnvelope,
    FinishReason, Message, ModelList, ReasoningEffort, ResponseFormat, ServiceTier, Stop,
    StreamPayload, ToolChoice,
};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The `data:` payloads of an SSE fixture, in order, `[DONE]` included.
fn sse_data(name: &str) -> Vec<String> {
    fixture(name)
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn full_request_round_trips_exactly() {
    let text = fixture("request_full.json");
    let original: Value = serde_json::from_str(&text).unwrap();
    let request = ChatRequest::from_slice(text.as_bytes()).unwrap();
    let params = request.params();

    assert_eq!(request.model(), "llama-3.3-70b-versatile");
    assert_eq!(params.messages.len(), 6);
    let roles: Vec<_> = params.messages.iter().map(Message::role).collect();
    assert_eq!(
        roles,
        [
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "assistant"
        ]
    );
    match &params.messages[2] {
        Message::User {
            content: Content::Parts(parts),
            ..
        } => {
            assert_eq!(parts.len(), 3);
            assert!(
                matches!(&parts[1], ContentPart::ImageUrl { image_url, .. } if image_url.detail.as_deref() == Some("low"))
            );
            assert!(
                matches!(&parts[2], ContentPart::Document { document, .. } if document.id.as_deref() == Some("doc-1"))
            );
        }
        other => panic!("expected a multi-part user message, got {other:?}"),
    }
    assert_eq!(
        params.stop,
        Some(Stop::Many(vec!["\n\n".into(), "END".into()]))
    );
    assert_eq!(request.completion_budget(), Some(512));
    assert_eq!(
        params
            .tool_choice
            .as_ref()
            .and_then(ToolChoice::forced_function),
        Some("get_weather")
    );
    assert!(matches!(
        params.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ));
    assert_eq!(params.reasoning_effort, Some(ReasoningEffort::Medium));
    assert_eq!(params.service_tier, Some(ServiceTier::Flex));
    assert!(request.is_stream());
    assert_eq!(
        params.search_settings.map(Value::Object),
        Some(serde_json::json!({"include_images": false})),
    );
    assert!(request.validate().is_ok());

    // The body goes out byte for byte, and a serde round trip keeps every key in order.
    assert_eq!(&request.to_bytes()[..], text.as_bytes());
    assert_eq!(serde_json::to_value(&request).unwrap(), original);
    let again: ChatRequest = serde_json::from_str(&text).unwrap();
    assert_eq!(again, request);
}

#[test]
fn completion_parses_leniently_and_round_trips() {
    let completion: ChatCompletion = serde_json::from_str(&fixture("completion.json")).unwrap();
    assert_eq!(completion.model, "llama-3.1-8b-instant");
    assert!(
        completion
            .text()
            .unwrap()
            .starts_with("Fast language models")
    );
    assert_eq!(
        completion.choices[0].finish_reason,
        Some(FinishReason::Stop)
    );
    assert_eq!(
        completion.request_id(),
        Some("req_01jbd6g2qdfw2adyrt2az8hz4w")
    );
    let usage = completion.usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (18, 556, 574)
    );
    assert_eq!(usage.queue_time, Some(0.037493756));
    assert_eq!(usage.billable_tokens(), 574);
    assert_eq!(completion.service_tier, Some(ServiceTier::OnDemand));

    let again: ChatCompletion =
        serde_json::from_value(serde_json::to_value(&completion).unwrap()).unwrap();
    assert_eq!(again, completion);
}

#[test]
fn tool_call_reply() {
    let completion: ChatCompletion = serde_json::from_str(&fixture("tool_calls.json")).unwrap();
    assert_eq!(completion.text(), None);
    let calls = completion.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].function.name, "get_weather");
    let args: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
    assert_eq!(args["location"], "Paris");
    assert_eq!(
        completion.choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
}

#[test]
fn json_mode_reply_with_reasoning() {
    let completion: ChatCompletion = serde_json::from_str(&fixture("json_mode.json")).unwrap();
    let body: Value = serde_json::from_str(completion.text().unwrap()).unwrap();
    assert_eq!(body["born"], 1815);
    assert!(completion.choices[0].message.reasoning.is_some());
    let details = completion.usage.unwrap().completion_tokens_details.unwrap();
    assert_eq!(details.reasoning_tokens, 14);
}

fn accumulate(name: &str) -> (ChatCompletion, usize) {
    let mut acc = ChatCompletionAccumulator::new();
    let mut chunks = 0;
    let data = sse_data(name);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    for payload in &data[..data.len() - 1] {
        match StreamPayload::parse(payload).unwrap() {
            StreamPayload::Chunk(chunk) => {
                acc.push(&chunk);
                chunks += 1;
            }
            StreamPayload::Error(e) => panic!("unexpected stream error {e}"),
            other => panic!("unexpected payload {other:?}"),
        }
    }
    (acc.finish(), chunks)
}

#[test]
fn stream_chunks_merge_into_a_completion() {
    let (completion, chunks) = accumulate("stream.sse");
    assert_eq!(chunks, 4);
    assert_eq!(completion.id, "chatcmpl-9c1e");
    assert_eq!(completion.text(), Some("Hello, world"));
    assert_eq!(
        completion.choices[0].finish_reason,
        Some(FinishReason::Stop)
    );
    assert_eq!(completion.usage.as_ref().unwrap().total_tokens, 15);
    assert_eq!(completion.request_id(), Some("req_01jbd6k5"));
    assert_eq!(
        completion.system_fingerprint.as_deref(),
        Some("fp_9cb648b966")
    );
}

#[test]
fn streamed_tool_call_fragments_merge_by_index() {
    let (completion, _) = accumulate("stream_tool_calls.sse");
    let calls = completion.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_a");
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(calls[0].function.arguments, r#"{"location":"Paris"}"#);
    assert_eq!(calls[1].function.name, "get_time");
    assert_eq!(
        completion.choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    assert_eq!(completion.usage.unwrap().prompt_tokens, 200);
}

#[test]
fn every_error_shape_parses() {
    let cases: Vec<Value> = serde_json::from_str(&fixture("errors.json")).unwrap();
    let mut codes = Vec::new();
    for case in cases {
        let envelope: ErrorEnvelope =
            serde_json::from_value(case["body"].clone()).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(!envelope.error.message.is_empty());
        assert_eq!(serde_json::to_value(&envelope).unwrap(), case["body"]);
        codes.push((
            case["status"].as_u64().unwrap(),
            envelope.error.code.clone(),
            envelope.error.kind.clone(),
            envelope.error.failed_generation.is_some(),
        ));
    }
    let has = |status: u64, code: &str| {
        codes
            .iter()
            .any(|(s, c, _, _)| *s == status && c.as_deref() == Some(code))
    };
    assert!(has(401, "invalid_api_key"));
    assert!(has(404, "model_not_found"));
    assert!(has(429, "rate_limit_exceeded"));
    assert!(has(413, "rate_limit_exceeded"));
    assert!(has(400, "context_length_exceeded"));
    assert!(has(400, "blocked_api_access"));
    assert!(has(498, "capacity_exceeded"));
    let failed_generations = codes.iter().filter(|(_, _, _, f)| *f).count();
    assert_eq!(
        failed_generations, 2,
        "json_validate_failed and tool_use_failed"
    );
    assert!(
        codes
            .iter()
            .any(|(s, _, kind, _)| *s == 429 && kind.as_deref() == Some("requests"))
    );
}

#[test]
fn error_inside_a_stream_is_recognised() {
    let payload = r#"{"error":{"message":"Service Unavailable","type":"internal_server_error"}}"#;
    match StreamPayload::parse(payload).unwrap() {
        StreamPayload::Error(e) => {
            assert_eq!(e.kind.as_deref(), Some("internal_server_error"));
            assert_eq!(e.to_string(), "Service Unavailable");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn models_list_ignores_unknown_fields() {
    let list: ModelList = serde_json::from_str(&fixture("models.json")).unwrap();
    assert_eq!(list.data.len(), 3);
    assert_eq!(list.data[0].context_window, Some(131_072));
    assert_eq!(list.data[1].max_completion_tokens, Some(65_536));
    assert_eq!(list.data[2].max_completion_tokens, None);
    assert_eq!(list.data[2].owned_by.as_deref(), Some("OpenAI"));
}
