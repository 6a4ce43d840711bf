//! The lossless wire, end to end through the `groqchat` binary: request bodies reach the
//! server exactly as written in the batch file, and the server's bodies reach the batch output
//! (and `models --json`) exactly as received, whatever the status.
//!
//! The server is a small HTTP/1.1 responder on 127.0.0.1 that records every request body and
//! answers each with a canned body chosen by a marker in the request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use serde::Deserialize;
use serde_json::value::RawValue;

/// A canned answer: requests whose body contains `marker` get `status` and `body`.
struct Canned {
    marker: &'static str,
    status: u16,
    body: &'static str,
}

/// Every optional field of `CreateChatCompletionResponse`, unknown fields at every level,
/// a big integer, unicode (raw and escaped), spaces after colons.
const RICH: &str = r#"{"id": "chatcmpl-rich", "object": "chat.completion", "created": 1730000000, "model": "llama-3.1-8b-instant", "system_fingerprint": "fp_1", "service_tier": "flex", "choices": [{"index": 0, "message": {"role": "assistant", "content": "h\u00e9llo ☃ 😀", "reasoning": "think", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"b\":1,\"a\":2}", "fx": 1}, "tx": null}], "executed_tools": [{"index": 0, "type": "search", "arguments": "{}", "output": "out", "search_results": {"results": [{"title": "t", "url": "https://x", "content": "c", "score": 0.5, "rx": 1}], "images": ["i"]}, "code_results": [{"text": "1", "png": "AA==", "chart": {"type": "bar", "title": "c", "elements": []}, "charts": []}], "browser_results": [{"url": "https://y", "title": "y", "live_view_url": "https://z", "content": "w"}], "ex": [1]}], "annotations": [{"type": "document_citation", "document_citation": {"start_index": 0, "end_index": 5, "document_id": "d1"}}, {"type": "function_citation", "function_citation": {"start_index": 1, "end_index": 2, "tool_call_id": "call_1"}}], "function_call": {"name": "g", "arguments": "{}"}, "mx": {"nested": {"deep": 123456789012345678901234567890}}}, "logprobs": {"content": [{"token": "h", "logprob": -0.25, "bytes": [104], "top_logprobs": [{"token": "h", "logprob": -0.25, "bytes": null}]}], "lx": true}, "finish_reason": "content_filter", "cx": "choice"}], "usage": {"queue_time": 0.01, "prompt_tokens": 10, "prompt_time": 0.002, "completion_tokens": 3, "completion_time": 0.004, "total_tokens": 13, "total_time": 0.006, "prompt_tokens_details": {"cached_tokens": 4, "px": 1}, "completion_tokens_details": {"reasoning_tokens": 1, "qx": 2}, "ux": 3}, "usage_breakdown": {"models": [{"model": "m1", "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}]}, "mcp_list_tools": [{"id": "l1", "type": "mcp_list_tools", "server_label": "s", "tools": [{"annotations": "a", "input_schema": {"z": 1, "a": 2}, "name": "t"}]}], "x_groq": {"id": "req_rich", "seed": 42, "usage": {"sram_cached_tokens": 2, "dram_cached_tokens": 1}, "debug": {"input_token_ids": [1, 2], "input_tokens": ["a", "b"], "output_token_ids": [3], "output_tokens": ["c"]}, "xx": 1}, "top": {"unknown": [null, 1e5, -0.0]}}"#;

/// Nulls wherever the spec allows them.
const NULLS: &str = r#"{"id":"chatcmpl-nulls","object":"chat.completion","created":1,"model":"llama-3.1-8b-instant","system_fingerprint":null,"service_tier":null,"choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"prompt_tokens_details":null,"completion_tokens_details":null},"usage_breakdown":null,"mcp_list_tools":null,"x_groq":{"id":"req_nulls","seed":null,"usage":null,"debug":null}}"#;

/// A plain reply (for the bare line).
const BARE: &str = r#"{"id":"chatcmpl-bare","object":"chat.completion","created":2,"model":"llama-3.1-8b-instant","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"x_groq":{"id":"req_bare"}}"#;

/// Error bodies with every field of the spec's error object and unknown ones.
const E400: &str = r#"{"error": {"message": "Failed to validate JSON", "type": "invalid_request_error", "param": "response_format", "code": "json_validate_failed", "failed_generation": "{\"a\": 1", "ex": {"k": [1, 2]}}, "top": 123456789012345678901234567890}"#;
const E404: &str = r#"{"error":{"message":"The model `nobody/none` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}"#;

/// A model list with unknown fields and a null.
const MODELS: &str = r#"{"object": "list", "data": [{"id": "llama-3.1-8b-instant", "object": "model", "created": 1693721698, "owned_by": "Meta", "active": true, "context_window": 131072, "public_apps": null, "max_completion_tokens": 131072, "mx": {"ü": "\u00fc"}}], "lx": [1, 2]}"#;

const CANNED: [Canned; 5] = [
    Canned {
        marker: "case-rich",
        status: 200,
        body: RICH,
    },
    Canned {
        marker: "case-nulls",
        status: 200,
        body: NULLS,
    },
    Canned {
        marker: "case-bare",
        status: 200,
        body: BARE,
    },
    Canned {
        marker: "case-400",
        status: 400,
        body: E400,
    },
    Canned {
        marker: "case-404",
        status: 404,
        body: E404,
    },
];

/// Starts the responder; returns its base URL and the request bodies it records.
fn serve() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&bodies);
    std::thread::spawn(move || {
        let mut next = 0u64;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            next += 1;
            let recorded = Arc::clone(&recorded);
            std::thread::spawn(move || answer(stream, next, &recorded));
        }
    });
    (format!("http://{addr}/openai/v1"), bodies)
}

/// Answers one connection (one request, then close).
fn answer(stream: TcpStream, id: u64, recorded: &Mutex<Vec<String>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body = String::from_utf8(body).unwrap();
    let (status, reply) = if request_line.starts_with("GET") {
        (200, MODELS)
    } else {
        recorded.lock().unwrap().push(body.clone());
        CANNED
            .iter()
            .find(|canned| body.contains(canned.marker))
            .map_or((500, "{}"), |canned| (canned.status, canned.body))
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-request-id: req_test_{id}\r\nconnection: close\r\n\r\n",
        reply.len()
    );
    let mut stream = stream;
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(reply.as_bytes()).unwrap();
    stream.flush().unwrap();
}

fn groqchat(base_url: &str) -> Command {
    let mut cmd = Command::cargo_bin("groqchat").expect("the groqchat binary is built");
    cmd.env_remove("GROQ_CONFIG")
        .env("GROQ_API_KEY", "gsk_lossless_test_key")
        .env("GROQ_BASE_URL", base_url);
    cmd
}

/// Request bodies: every kind of thing a re-serialization would change.
const REQ_RICH: &str = r#"{"model": "llama-3.1-8b-instant", "messages": [{"role": "system", "content": "s", "name": "sys", "sx": 1}, {"role": "user", "content": [{"type": "text", "text": "case-rich", "px": {"b": 1, "a": 2}}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA==", "detail": "low", "ix": 0}}], "name": "ann"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}], "name": "bot"}, {"role": "tool", "tool_call_id": "c1", "content": "4"}, {"role": "function", "name": "f", "content": "4"}], "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"zeta": {"type": "string"}, "alpha": {"type": "integer", "maximum": 123456789012345678901234567890}}, "required": ["zeta"]}, "strict": true, "fx": 1}, "tx": 2}, {"type": "browser_search"}, {"type": "code_interpreter"}], "tool_choice": "auto", "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"properties": {"z": {}, "a": {}}, "type": "object"}, "strict": false, "jx": 3}}, "temperature": 0.70, "top_p": 1e0, "seed": 9007199254740993, "max_completion_tokens": 64, "logprobs": false, "search_settings": {"country": "france", "include_images": false}, "citation_options": "enabled", "metadata": {"k": "v"}, "unknown_top": {"z": [1, 2.50, "ü"]}}"#;
const REQ_NULLS: &str = r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"developer","content":"d"},{"role":"user","content":"case-nulls"}],"stop":null,"user":"u1","service_tier":"auto","store":false,"documents":[{"id":"d1","source":{"type":"text","text":"x"}}]}"#;
const REQ_400: &str = r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"case-400"}],"response_format":{"type":"json_object"}}"#;
const REQ_404: &str =
    r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"case-404"}]}"#;
const REQ_BARE: &str =
    r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"case-bare"}]}"#;

#[derive(Deserialize)]
struct Line<'a> {
    custom_id: &'a str,
    #[serde(borrow)]
    response: Option<Response<'a>>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Response<'a> {
    status_code: u16,
    request_id: Option<&'a str>,
    #[serde(borrow)]
    body: &'a RawValue,
}

#[test]
fn batch_output_keeps_every_body_byte_for_byte_and_requests_arrive_as_written() {
    let (base_url, received) = serve();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let bare_with_priority = format!("{},\"priority\":\"low\"}}", &REQ_BARE[..REQ_BARE.len() - 1]);
    let text = format!(
        "{{\"custom_id\":\"rich\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{REQ_RICH}}}\n\
         {{\"custom_id\": \"nulls\", \"body\": {REQ_NULLS}, \"priority\": \"high\"}}\n\
         {{\"custom_id\":\"e400\",\"body\":{REQ_400}}}\n\
         {{\"custom_id\":\"e404\",\"body\":{REQ_404}}}\n\
         {bare_with_priority}\n"
    );
    std::fs::write(&input, text).unwrap();
    groqchat(&base_url)
        .args(["batch".as_ref(), input.as_os_str(), "-o".as_ref()])
        .arg(&output)
        .args(["--progress", "off"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1);

    // Requests: each body arrived as written; the bare line lost only its `priority`.
    let mut got = received.lock().unwrap().clone();
    got.sort();
    let mut expected = vec![
        REQ_RICH.to_owned(),
        REQ_NULLS.to_owned(),
        REQ_400.to_owned(),
        REQ_404.to_owned(),
        REQ_BARE.to_owned(),
    ];
    expected.sort();
    assert_eq!(got, expected);

    // Replies: every body written exactly as received, whatever the status.
    let text = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<Line<'_>> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    let expectations = [
        ("rich", 200, RICH, Some("req_rich")),
        ("nulls", 200, NULLS, Some("req_nulls")),
        ("5", 200, BARE, Some("req_bare")),
        ("e400", 400, E400, None),
        ("e404", 404, E404, None),
    ];
    for (custom_id, status, body, request_id) in expectations {
        let line = lines
            .iter()
            .find(|line| line.custom_id == custom_id)
            .unwrap_or_else(|| panic!("no line for {custom_id}: {text}"));
        assert!(
            line.error.is_none_or(|e| e.get() == "null"),
            "{custom_id}: the API answered, so `error` is null"
        );
        let response = line.response.as_ref().unwrap();
        assert_eq!(response.status_code, status, "{custom_id}");
        assert_eq!(response.body.get(), body, "{custom_id}: body changed");
        match request_id {
            Some(id) => assert_eq!(response.request_id, Some(id)),
            // An error's request id is the server's x-request-id header.
            None => assert!(
                response
                    .request_id
                    .is_some_and(|id| id.starts_with("req_test_")),
                "{custom_id}"
            ),
        }
    }
}

#[test]
fn models_json_prints_the_servers_bytes() {
    let (base_url, _) = serve();
    let output = groqchat(&base_url)
        .args(["models", "--json"])
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    assert_eq!(stdout, format!("{MODELS}\n"));
}
