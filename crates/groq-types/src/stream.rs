//! Streamed replies: chunks, the payload of one server-sent event, and merging chunks.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::request::ServiceTier;
use crate::response::{
    Annotation, ChatCompletion, Choice, ExecutedTool, FinishReason, FunctionCall, Logprobs,
    ResponseMessage, ToolCall, Usage, XGroq, XGroqCompletion,
};

/// One chunk of a streamed reply (`object: "chat.completion.chunk"`): a typed view next to
/// the exact bytes of its event's `data:` ([`raw`](Self::raw), kept by
/// [`StreamPayload::from_bytes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatCompletionChunk {
    /// The completion id, the same in every chunk.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[serde(default = "chunk_object")]
    pub object: String,
    /// Creation time, Unix seconds.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub created: u64,
    /// The model that answers.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub model: String,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// The tier the request runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// The choices' deltas.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub choices: Vec<ChunkChoice>,
    /// Usage, in the last chunk when `stream_options.include_usage` was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Groq's extension: request id in the first and last chunk, usage in the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_groq: Option<XGroq>,
    /// The exact bytes of the event's data (empty for a chunk built in code).
    #[serde(skip)]
    raw: Bytes,
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
            service_tier: None,
            choices: Vec::new(),
            usage: None,
            x_groq: None,
            raw: Bytes::new(),
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

    /// The exact bytes of the event's data; empty for a chunk built in code.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The chunk as JSON bytes: [`raw`](Self::raw) when there are any, else the typed view
    /// serialized.
    pub fn to_bytes(&self) -> Bytes {
        if self.raw.is_empty() {
            // A struct of strings, numbers and JSON values always serializes.
            Bytes::from(serde_json::to_vec(self).unwrap_or_default())
        } else {
            self.raw.clone()
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
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub delta: Delta,
    /// Set in the last chunk of the choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities of this chunk's tokens, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    /// Built-in tools the server ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_tools: Option<Vec<ExecutedTool>>,
    /// Citations in the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Annotation>>,
    /// A fragment of a function call (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallDelta>,
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
    #[serde(default, deserialize_with = "crate::raw::null_default")]
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
    /// Parses the `data:` of one event (see [`from_bytes`](Self::from_bytes)).
    ///
    /// ```
    /// use groq_types::StreamPayload;
    ///
    /// let error = StreamPayload::parse(r#"{"error":{"message":"boom","type":"internal_server_error"}}"#).unwrap();
    /// assert!(matches!(error, StreamPayload::Error(e) if e.message == "boom"));
    /// let error = StreamPayload::parse(r#"{"id":"c","choices":[],"x_groq":{"error":"model overloaded"}}"#).unwrap();
    /// assert!(matches!(error, StreamPayload::Error(e) if e.message == "model overloaded"));
    /// ```
    pub fn parse(data: &str) -> Result<Self, serde_json::Error> {
        Self::from_bytes(Bytes::copy_from_slice(data.as_bytes()))
    }

    /// Parses the `data:` of one event; a chunk keeps these exact bytes as its
    /// [`raw`](ChatCompletionChunk::raw). An `error` object, or an `x_groq.error` (a string
    /// or an object), is an [`Error`](Self::Error) carrying the server's text.
    pub fn from_bytes(data: Bytes) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            error: Option<ApiErrorOrText>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum ApiErrorOrText {
            Object(ApiError),
            Text(String),
        }
        if let Some(error) = serde_json::from_slice::<Probe>(&data)?.error {
            return Ok(Self::Error(match error {
                ApiErrorOrText::Object(error) => error,
                ApiErrorOrText::Text(message) => ApiError {
                    message,
                    ..ApiError::default()
                },
            }));
        }
        let mut chunk: ChatCompletionChunk = serde_json::from_slice(&data)?;
        chunk.raw = data;
        match chunk.x_groq.as_ref().and_then(|x| x.error.as_ref()) {
            Some(error) => Ok(Self::Error(error.to_api_error())),
            None => Ok(Self::Chunk(Box::new(chunk))),
        }
    }
}

/// Merges the chunks of a stream into the [`ChatCompletion`] a non-streamed request would
/// have returned: content and reasoning concatenated, tool-call fragments merged by index,
/// log probabilities, executed tools and annotations gathered, the finish reason, service
/// tier, usage, usage breakdown, seed and `x_groq` id kept. The merged completion has no
/// [`raw`](ChatCompletion::raw) bytes: the server never sent it whole (each chunk keeps its
/// own).
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
    service_tier: Option<ServiceTier>,
    choices: BTreeMap<u32, ChoiceState>,
    usage: Option<Usage>,
    usage_breakdown: Option<crate::response::UsageBreakdown>,
    request_id: Option<String>,
    seed: Option<i64>,
}

#[derive(Debug, Clone, Default)]
struct ChoiceState {
    role: Option<String>,
    content: Option<String>,
    reasoning: Option<String>,
    tool_calls: BTreeMap<u32, ToolCallState>,
    finish_reason: Option<FinishReason>,
    logprobs: Option<Logprobs>,
    executed_tools: Vec<ExecutedTool>,
    annotations: Vec<Annotation>,
    function_call: Option<FunctionCall>,
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
        if chunk.service_tier.is_some() {
            self.service_tier.clone_from(&chunk.service_tier);
        }
        if let Some(x_groq) = &chunk.x_groq {
            if let Some(id) = &x_groq.id {
                self.request_id = Some(id.clone());
            }
            if x_groq.seed.is_some() {
                self.seed = x_groq.seed;
            }
            if x_groq.usage_breakdown.is_some() {
                self.usage_breakdown.clone_from(&x_groq.usage_breakdown);
            }
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
            if let Some(function) = &delta.function_call {
                let call = state.function_call.get_or_insert_with(|| FunctionCall {
                    name: String::new(),
                    arguments: String::new(),
                });
                call.name
                    .push_str(function.name.as_deref().unwrap_or_default());
                call.arguments
                    .push_str(function.arguments.as_deref().unwrap_or_default());
            }
            state
                .executed_tools
                .extend(delta.executed_tools.iter().flatten().cloned());
            state
                .annotations
                .extend(delta.annotations.iter().flatten().cloned());
            if let Some(logprobs) = &choice.logprobs {
                let merged = state.logprobs.get_or_insert_with(Logprobs::default);
                if let Some(content) = &logprobs.content {
                    merged
                        .content
                        .get_or_insert_with(Vec::new)
                        .extend(content.iter().cloned());
                }
            }
            if choice.finish_reason.is_some() {
                state.finish_reason.clone_from(&choice.finish_reason);
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
                        executed_tools: (!state.executed_tools.is_empty())
                            .then_some(state.executed_tools),
                        annotations: (!state.annotations.is_empty()).then_some(state.annotations),
                        function_call: state.function_call,
                    },
                    finish_reason: state.finish_reason,
                    logprobs: state.logprobs,
                }
            })
            .collect();
        let x_groq = (self.request_id.is_some() || self.seed.is_some()).then(|| XGroqCompletion {
            id: self.request_id,
            seed: self.seed,
            ..XGroqCompletion::default()
        });
        ChatCompletion {
            id: self.id,
            created: self.created,
            model: self.model,
            system_fingerprint: self.system_fingerprint,
            service_tier: self.service_tier,
            choices,
            usage: self.usage,
            usage_breakdown: self.usage_breakdown,
            x_groq,
            ..ChatCompletion::default()
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
    fn a_string_x_groq_error_carries_the_server_text() {
        let data =
            r#"{"id":"c","choices":[],"x_groq":{"id":"req_1","error":"the model is overloaded"}}"#;
        match StreamPayload::parse(data).unwrap() {
            StreamPayload::Error(e) => assert_eq!(e.message, "the model is overloaded"),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn chunks_keep_their_bytes() {
        let data = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"x","new":[1,2]},"logprobs":null,"finish_reason":null}],"z":123456789012345678901234567890}"#;
        match StreamPayload::parse(data).unwrap() {
            StreamPayload::Chunk(chunk) => assert_eq!(chunk.raw(), data.as_bytes()),
            other => panic!("expected a chunk, got {other:?}"),
        }
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
