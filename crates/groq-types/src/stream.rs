//! Streamed replies: chunks, the payload of one server-sent event, and merging chunks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::response::{
    ChatCompletion, Choice, FinishReason, FunctionCall, ResponseMessage, ToolCall, Usage, XGroq,
};

/// One chunk of a streamed reply (`object: "chat.completion.chunk"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatCompletionChunk {
    /// The completion id, the same in every chunk.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[serde(default = "chunk_object")]
    pub object: String,
    /// Creation time, Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answers.
    #[serde(default)]
    pub model: String,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// The choices' deltas.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Usage, in the last chunk when `stream_options.include_usage` was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Groq's extension: request id in the first and last chunk, usage in the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_groq: Option<XGroq>,
}

fn chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

impl Default for ChatCompletionChunk {
    /// An empty chunk whose `object` is `chat.completion.chunk`, as on the wire.
    fn default() -> Self {
        Self {
            id: String::new(),
            object: chunk_object(),
            created: 0,
            model: String::new(),
            system_fingerprint: None,
            choices: Vec::new(),
            usage: None,
            x_groq: None,
        }
    }
}

impl ChatCompletionChunk {
    /// An empty chunk of completion `id` from `model`.
    pub fn new(id: impl Into<String>, model: impl Into<String>, created: u64) -> Self {
        Self {
            id: id.into(),
            created,
            model: model.into(),
            ..Self::default()
        }
    }

    /// The usage this chunk reports: `x_groq.usage`, else the top-level `usage`.
    pub fn usage(&self) -> Option<&Usage> {
        self.x_groq
            .as_ref()
            .and_then(|x| x.usage.as_ref())
            .or(self.usage.as_ref())
    }

    /// The first choice's content fragment, if any.
    pub fn text(&self) -> Option<&str> {
        self.choices.first()?.delta.content.as_deref()
    }
}

/// One choice's part of a chunk.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChunkChoice {
    /// The choice's index.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Delta,
    /// Set in the last chunk of the choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities (Groq returns `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
}

impl ChunkChoice {
    /// Choice 0 with `delta`.
    pub fn new(delta: Delta) -> Self {
        Self {
            delta,
            ..Self::default()
        }
    }
}

/// The fragment a chunk adds to a choice.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Delta {
    /// The role, in the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A fragment of the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A fragment of the reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Fragments of tool calls, merged by their `index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

impl Delta {
    /// A delta carrying a text fragment.
    pub fn content(text: impl Into<String>) -> Self {
        Self {
            content: Some(text.into()),
            ..Self::default()
        }
    }

    /// A delta carrying the role.
    pub fn role(role: impl Into<String>) -> Self {
        Self {
            role: Some(role.into()),
            ..Self::default()
        }
    }
}

/// A fragment of a tool call inside a stream.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCallDelta {
    /// Which tool call of the choice this fragment belongs to.
    #[serde(default)]
    pub index: u32,
    /// The call's id, in its first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, in its first fragment.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function name and a fragment of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

/// A fragment of a function call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCallDelta {
    /// The function name, in its first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A fragment of the JSON arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// What the `data:` field of one stream event carries: a chunk, or an error that ends the
/// stream. The `[DONE]` terminator is not JSON and is recognised before this.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamPayload {
    /// A chunk of the reply.
    Chunk(Box<ChatCompletionChunk>),
    /// An error reported inside a 200 stream, as `{"error": ...}` or in `x_groq.error`.
    Error(ApiError),
}

impl StreamPayload {
    /// Parses the `data:` of one event.
    ///
    /// ```
    /// use groq_types::StreamPayload;
    ///
    /// let error = StreamPayload::parse(r#"{"error":{"message":"boom","type":"internal_server_error"}}"#).unwrap();
    /// assert!(matches!(error, StreamPayload::Error(e) if e.message == "boom"));
    /// ```
    pub fn parse(data: &str) -> Result<Self, serde_json::Error> {
        let mut value: Value = serde_json::from_str(data)?;
        if let Some(error) = value.get_mut("error").filter(|e| !e.is_null()) {
            return Ok(Self::Error(serde_json::from_value(error.take())?));
        }
        let chunk: ChatCompletionChunk = serde_json::from_value(value)?;
        match chunk.x_groq.as_ref().and_then(|x| x.error.clone()) {
            Some(error) => Ok(Self::Error(error)),
            None => Ok(Self::Chunk(Box::new(chunk))),
        }
    }
}

/// Merges the chunks of a stream into the [`ChatCompletion`] a non-streamed request would
/// have returned: content and reasoning concatenated, tool-call fragments merged by index,
/// the finish reason, usage and `x_groq` id kept.
///
/// ```
/// use groq_types::{ChatCompletionAccumulator, ChatCompletionChunk};
///
/// let mut acc = ChatCompletionAccumulator::new();
/// for data in [
///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"x_groq":{"id":"req_1"}}"#,
///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}],
///        "x_groq":{"id":"req_1","usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}}"#,
/// ] {
///     acc.push(&serde_json::from_str::<ChatCompletionChunk>(data).unwrap());
/// }
/// let completion = acc.finish();
/// assert_eq!(completion.text(), Some("Hello"));
/// assert_eq!(completion.usage.as_ref().unwrap().total_tokens, 11);
/// assert_eq!(completion.request_id(), Some("req_1"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChatCompletionAccumulator {
    id: String,
    created: u64,
    model: String,
    system_fingerprint: Option<String>,
    choices: BTreeMap<u32, ChoiceState>,
    usage: Option<Usage>,
    request_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct ChoiceState {
    role: Option<String>,
    content: Option<String>,
    reasoning: Option<String>,
    tool_calls: BTreeMap<u32, ToolCallState>,
    finish_reason: Option<FinishReason>,
}

#[derive(Debug, Clone, Default)]
struct ToolCallState {
    id: String,
    kind: Option<String>,
    name: String,
    arguments: String,
}

fn append(target: &mut Option<String>, fragment: Option<&String>) {
    if let Some(fragment) = fragment {
        target.get_or_insert_with(String::new).push_str(fragment);
    }
}

impl ChatCompletionAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one chunk.
    pub fn push(&mut self, chunk: &ChatCompletionChunk) {
        if self.id.is_empty() {
            self.id.clone_from(&chunk.id);
        }
        if self.model.is_empty() {
            self.model.clone_from(&chunk.model);
        }
        if self.created == 0 {
            self.created = chunk.created;
        }
        if chunk.system_fingerprint.is_some() {
            self.system_fingerprint
                .clone_from(&chunk.system_fingerprint);
        }
        if let Some(id) = chunk.x_groq.as_ref().and_then(|x| x.id.as_ref()) {
            self.request_id = Some(id.clone());
        }
        if let Some(usage) = chunk.usage() {
            self.usage = Some(usage.clone());
        }
        for choice in &chunk.choices {
            let state = self.choices.entry(choice.index).or_default();
            let delta = &choice.delta;
            if delta.role.is_some() {
                state.role.clone_from(&delta.role);
            }
            append(&mut state.content, delta.content.as_ref());
            append(&mut state.reasoning, delta.reasoning.as_ref());
            for fragment in delta.tool_calls.iter().flatten() {
                let call = state.tool_calls.entry(fragment.index).or_default();
                if let Some(id) = &fragment.id {
                    call.id.clone_from(id);
                }
                if fragment.kind.is_some() {
                    call.kind.clone_from(&fragment.kind);
                }
                if let Some(function) = &fragment.function {
                    if let Some(name) = &function.name {
                        call.name.push_str(name);
                    }
                    if let Some(arguments) = &function.arguments {
                        call.arguments.push_str(arguments);
                    }
                }
            }
            if choice.finish_reason.is_some() {
                state.finish_reason = choice.finish_reason;
            }
        }
    }

    /// The usage seen so far (present once the last chunk arrived).
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The merged completion.
    pub fn finish(self) -> ChatCompletion {
        let choices = self
            .choices
            .into_iter()
            .map(|(index, state)| {
                let tool_calls: Vec<ToolCall> = state
                    .tool_calls
                    .into_values()
                    .map(|call| ToolCall {
                        id: call.id,
                        kind: call.kind.unwrap_or_else(|| "function".to_owned()),
                        function: FunctionCall {
                            name: call.name,
                            arguments: call.arguments,
                        },
                    })
                    .collect();
                Choice {
                    index,
                    message: ResponseMessage {
                        role: state.role.unwrap_or_else(|| "assistant".to_owned()),
                        content: state.content,
                        reasoning: state.reasoning,
                        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    },
                    finish_reason: state.finish_reason,
                    logprobs: None,
                }
            })
            .collect();
        ChatCompletion {
            id: self.id,
            object: "chat.completion".to_owned(),
            created: self.created,
            model: self.model,
            system_fingerprint: self.system_fingerprint,
            service_tier: None,
            choices,
            usage: self.usage,
            x_groq: self.request_id.map(XGroq::with_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_groq_error_is_an_error_payload() {
        let data = r#"{"id":"c","object":"chat.completion.chunk","choices":[],"x_groq":{"id":"req_1","error":{"message":"overloaded","type":"server_error"}}}"#;
        match StreamPayload::parse(data).unwrap() {
            StreamPayload::Error(e) => assert_eq!(e.message, "overloaded"),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn null_error_is_a_chunk() {
        let data = r#"{"id":"c","choices":[],"error":null}"#;
        assert!(matches!(
            StreamPayload::parse(data).unwrap(),
            StreamPayload::Chunk(_)
        ));
    }

    #[test]
    fn invalid_json_is_an_error_not_a_panic() {
        assert!(StreamPayload::parse("{not json").is_err());
    }

    #[test]
    fn top_level_usage_is_used_without_x_groq() {
        let chunk: ChatCompletionChunk = serde_json::from_str(
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(chunk.usage().unwrap().total_tokens, 3);
    }
}
