//! `POST /responses`: the Responses API, paced and answered like chat completions.
//!
//! The prompt is the instructions and every text of the input, counted as the emulator counts
//! chat messages; the budget is `max_output_tokens` (else the server's default budget); the
//! cost is charged to the same buckets as a chat completion (RPM, RPD, TPM, TPD, ITPM, OTPM)
//! and the unused budget given back once the answer is made. A streamed request gets
//! `response.created`, `response.output_text.delta` events and `response.completed`.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use groq_types::ResponseRequest;
use http::StatusCode;
use serde_json::{Value, json};

use crate::engine::{Engine, Units};
use crate::http::{
    Reply, Settlement, admit, invalid, json as json_reply, model_not_found, rate_headers, sse_reply,
};
use crate::tokens::{REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, reply_pieces, text_tokens};

/// Serves one Responses API request whose body is `body`.
pub(crate) fn handle(engine: &Arc<Engine>, key: &str, body: &[u8], request_id: &str) -> Reply {
    let request: ResponseRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => {
            return invalid(
                format!("the request body is not a valid response request: {e}"),
                None,
            );
        }
    };
    if engine.model(&request.model).is_none() {
        return model_not_found(&request.model);
    }
    let texts = request.input_texts();
    if texts.is_empty() {
        return invalid("property 'input' is missing or has no text", Some("input"));
    }
    let prompt: u64 = REPLY_PRIMING_TOKENS
        + texts
            .iter()
            .map(|t| TOKENS_PER_MESSAGE + text_tokens(t))
            .sum::<u64>();
    let budget = request
        .max_output_tokens
        .map_or(engine.default_budget, u64::from);
    let view = match admit(
        engine,
        key,
        &request.model,
        &Units::chat(prompt, budget),
        true,
    ) {
        Ok(view) => view,
        Err(reply) => return reply,
    };
    let output_tokens = engine.completion_tokens.min(budget);
    let unused = budget - output_tokens;
    if unused > 0 {
        engine.give_back(key, &request.model, &Settlement::refund(unused, 0));
    }
    engine.audit(
        &request.model,
        prompt,
        output_tokens,
        request.stream == Some(true),
        None,
    );
    let pieces = reply_pieces(output_tokens);
    let text: String = pieces.concat();
    let id = format!("resp_{}", engine.next_id());
    let message_id = format!("msg_{}", engine.next_id());
    let response = |status: &str, text: &str, usage: Value| {
        json!({
            "id": id, "object": "response", "status": status, "created_at": engine.unix_now(),
            "model": request.model, "output": if text.is_empty() && status != "completed" { json!([]) } else { json!([{
                "type": "message", "id": message_id, "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]
            }]) },
            "max_output_tokens": request.max_output_tokens, "instructions": request.instructions,
            "usage": usage, "x_groq": {"id": request_id},
        })
    };
    let usage = json!({"input_tokens": prompt, "output_tokens": output_tokens,
        "total_tokens": prompt + output_tokens, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0}});
    let mut reply = if request.stream == Some(true) {
        let mut events = VecDeque::new();
        let event =
            |kind: &str, data: Value| Bytes::from(format!("event: {kind}\ndata: {data}\n\n"));
        events.push_back(event("response.created", json!({"type": "response.created", "response": response("in_progress", "", Value::Null)})));
        for piece in &pieces {
            events.push_back(event("response.output_text.delta", json!({"type": "response.output_text.delta", "item_id": message_id, "output_index": 0, "content_index": 0, "delta": piece})));
        }
        events.push_back(event(
            "response.completed",
            json!({"type": "response.completed", "response": response("completed", &text, usage)}),
        ));
        sse_reply(events, None, engine.stream_interval)
    } else {
        json_reply(StatusCode::OK, &response("completed", &text, usage))
    };
    rate_headers(reply.headers_mut(), &view);
    reply
}
