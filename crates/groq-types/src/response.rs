//! The chat completion reply.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::raw::open_enum;
use crate::request::ServiceTier;

/// The reply to a non-streamed chat request: a typed view for reading, next to the exact
/// bytes it was read from.
///
/// Read it with [`ChatCompletion::from_bytes`] to keep those bytes ([`raw`](Self::raw));
/// anything that writes the reply back out (batch output, logs, a gateway) writes them, never
/// the typed view re-serialized. Deserialization is lenient: unknown fields are ignored by
/// the view and every field the service may leave out has a default.
///
/// ```
/// use groq_types::ChatCompletion;
///
/// let body = br#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","new":1},"logprobs":null,"finish_reason":"content_filter"}],"x_groq":{"id":"req_1","usage":{"sram_cached_tokens":2,"dram_cached_tokens":1}}}"#;
/// let reply = ChatCompletion::from_bytes(body.to_vec().into()).unwrap();
/// assert_eq!(reply.raw(), &body[..]);
/// assert_eq!(reply.text(), Some("hi"));
/// assert_eq!(reply.choices[0].finish_reason.as_ref().unwrap().as_str(), "content_filter");
/// assert_eq!(reply.x_groq.as_ref().unwrap().usage.as_ref().unwrap().sram_cached_tokens, Some(2));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatCompletion {
    /// The completion id, `chatcmpl-...`.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub id: String,
    /// Always `chat.completion`.
    #[serde(default = "chat_completion_object")]
    pub object: String,
    /// Creation time, Unix seconds.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub created: u64,
    /// The model that answered.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub model: String,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// The tier the request ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// The choices; Groq returns exactly one.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub choices: Vec<Choice>,
    /// Token usage and timings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Usage by model, when a compound system used several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_breakdown: Option<UsageBreakdown>,
    /// The tools of the MCP servers the request listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_list_tools: Option<Vec<Value>>,
    /// Groq's extension: the request id, seed, cached-token usage and debug data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_groq: Option<XGroqCompletion>,
    /// The bytes this reply was read from (empty for a reply built in code or merged from
    /// a stream).
    #[serde(skip)]
    pub(crate) raw: Bytes,
}

fn chat_completion_object() -> String {
    "chat.completion".to_owned()
}

impl Default for ChatCompletion {
    /// An empty completion whose `object` is `chat.completion`, as on the wire.
    fn default() -> Self {
        Self {
            id: String::new(),
            object: chat_completion_object(),
            created: 0,
            model: String::new(),
            system_fingerprint: None,
            service_tier: None,
            choices: Vec::new(),
            usage: None,
            usage_breakdown: None,
            mcp_list_tools: None,
            x_groq: None,
            raw: Bytes::new(),
        }
    }
}

impl ChatCompletion {
    /// Reads a reply and keeps its bytes ([`raw`](Self::raw)).
    pub fn from_bytes(raw: Bytes) -> Result<Self, serde_json::Error> {
        let mut completion: Self = serde_json::from_slice(&raw)?;
        completion.raw = raw;
        Ok(completion)
    }

    /// The exact bytes the reply was read from; empty when it was built in code or merged
    /// from a stream.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The reply as JSON bytes: [`raw`](Self::raw) when there are any, else the typed view
    /// serialized (a reply built in code or merged from a stream).
    pub fn to_bytes(&self) -> Bytes {
        if self.raw.is_empty() {
            // A struct of strings, numbers and JSON values always serializes.
            Bytes::from(serde_json::to_vec(self).unwrap_or_default())
        } else {
            self.raw.clone()
        }
    }

    /// The first choice's text, if any.
    pub fn text(&self) -> Option<&str> {
        self.choices.first()?.message.content.as_deref()
    }

    /// The first choice's tool calls (empty if none).
    pub fn tool_calls(&self) -> &[ToolCall] {
        self.choices
            .first()
            .and_then(|choice| choice.message.tool_calls.as_deref())
            .unwrap_or_default()
    }

    /// Groq's request id (`req_...`), if the reply carried one.
    pub fn request_id(&self) -> Option<&str> {
        self.x_groq.as_ref()?.id.as_deref()
    }
}

/// One choice of a reply.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Choice {
    /// The choice's index.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub index: u32,
    /// The assistant's message.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub message: ResponseMessage,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, when the request asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
}

/// The log probabilities of a choice's tokens.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Logprobs {
    /// One entry per token of the content.
    #[serde(default)]
    pub content: Option<Vec<TokenLogprob>>,
}

/// The log probability of one token and its most likely alternatives.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenLogprob {
    /// The token.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub token: String,
    /// Its log probability (`-9999.0` when very unlikely).
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub logprob: f64,
    /// Its UTF-8 bytes, when it has a byte representation.
    #[serde(default)]
    pub bytes: Option<Vec<u8>>,
    /// The most likely tokens at this position.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_logprobs: Vec<TopLogprob>,
}

/// One alternative token of a [`TokenLogprob`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TopLogprob {
    /// The token.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub token: String,
    /// Its log probability.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub logprob: f64,
    /// Its UTF-8 bytes, when it has a byte representation.
    #[serde(default)]
    pub bytes: Option<Vec<u8>>,
}

/// The assistant's message in a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResponseMessage {
    /// Always `assistant`.
    #[serde(default = "assistant_role")]
    pub role: String,
    /// The text of the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The model's reasoning, when returned parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Tool calls the model made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Built-in tools the server ran (compound models, browser search, code execution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_tools: Option<Vec<ExecutedTool>>,
    /// Citations in the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Annotation>>,
    /// The function the model called (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
}

/// A built-in tool the server ran for the reply.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExecutedTool {
    /// Its position among the executed tools.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub index: u32,
    /// The tool's type, e.g. `search`, `python`, `browser.search`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "crate::raw::null_default"
    )]
    pub kind: String,
    /// The arguments, a JSON text.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub arguments: String,
    /// What the tool returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Web search results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_results: Option<Value>,
    /// Code execution results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_results: Option<Vec<Value>>,
    /// Browser results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_results: Option<Vec<Value>>,
}

/// A citation in a reply's content.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Annotation {
    /// `document_citation` or `function_citation`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "crate::raw::null_default"
    )]
    pub kind: String,
    /// The cited document span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_citation: Option<Citation>,
    /// The cited tool call span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_citation: Option<Citation>,
}

/// The span of a citation and what it cites.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Citation {
    /// Where the cited span starts in the content.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub start_index: u64,
    /// Where it ends.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub end_index: u64,
    /// The cited document (document citations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// The cited tool call (function citations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

fn assistant_role() -> String {
    "assistant".to_owned()
}

impl Default for ResponseMessage {
    fn default() -> Self {
        Self {
            role: assistant_role(),
            content: None,
            reasoning: None,
            tool_calls: None,
            executed_tools: None,
            annotations: None,
            function_call: None,
        }
    }
}

/// A call of a function tool made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// The call's id; a tool result answers it by this id.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".to_owned()
}

impl ToolCall {
    /// A function call.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            kind: function_kind(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

/// The function of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// The arguments, a JSON text.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub arguments: String,
}

/// A function named in a tool choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionName {
    /// The function's name.
    pub name: String,
}

open_enum! {
    /// Why generation stopped; a reason this crate does not know is kept as sent.
    pub enum FinishReason {
        /// A natural end or a stop sequence.
        Stop = "stop",
        /// The token budget ran out.
        Length = "length",
        /// The model called tools.
        ToolCalls = "tool_calls",
        /// The model called a function (legacy).
        FunctionCall = "function_call",
    }
}

/// Token usage of one request, with Groq's timing fields (seconds).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt, as the server counted them.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub prompt_tokens: u64,
    /// Tokens in the reply.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub completion_tokens: u64,
    /// Prompt plus reply.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub total_tokens: u64,
    /// Seconds spent queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_time: Option<f64>,
    /// Seconds spent processing the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_time: Option<f64>,
    /// Seconds spent generating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<f64>,
    /// Prompt plus completion time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_time: Option<f64>,
    /// Prompt details: cached tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Completion details: reasoning tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

impl Usage {
    /// Usage with the three token counts and no timings.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Self::default()
        }
    }

    /// Prompt tokens served from cache; they do not count against rate limits.
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .map_or(0, |details| details.cached_tokens)
    }

    /// The tokens that count against rate limits: the total less cached prompt tokens.
    pub fn billable_tokens(&self) -> u64 {
        let total = self
            .total_tokens
            .max(self.prompt_tokens + self.completion_tokens);
        total.saturating_sub(self.cached_tokens())
    }
}

/// Details of the prompt's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PromptTokensDetails {
    /// Prompt tokens served from the prompt cache.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub cached_tokens: u64,
}

/// Details of the completion's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionTokensDetails {
    /// Tokens spent reasoning.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub reasoning_tokens: u64,
}

/// Groq's `x_groq` object in a stream chunk: the request id (first and last chunk), usage
/// and usage by model (last chunk), or an error that ends the stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct XGroq {
    /// The request id, `req_...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The seed the request used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Usage, in the last chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Usage by model, in the last chunk (compound systems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_breakdown: Option<UsageBreakdown>,
    /// An error that ended the stream: a string in Groq's description, an error object
    /// from some servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StreamError>,
    /// Debug data (token ids and strings), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<Value>,
}

impl XGroq {
    /// An `x_groq` object carrying only a request id.
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Self::default()
        }
    }
}

/// The `x_groq.error` of a stream chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum StreamError {
    /// The server's text (Groq's described shape).
    Text(String),
    /// An error object.
    Object(ApiError),
}

impl StreamError {
    /// The error as an [`ApiError`]: the text becomes its message.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            Self::Text(text) => ApiError {
                message: text.clone(),
                ..ApiError::default()
            },
            Self::Object(error) => error.clone(),
        }
    }
}

/// Groq's `x_groq` object in a non-streamed reply.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct XGroqCompletion {
    /// The request id, `req_...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The seed the request used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Prompt tokens served from each cache level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CachedTokens>,
    /// Debug data (token ids and strings), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<Value>,
}

impl XGroqCompletion {
    /// An `x_groq` object carrying only a request id.
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Self::default()
        }
    }
}

/// The non-streamed `x_groq.usage`: prompt tokens served from the SRAM and DRAM caches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CachedTokens {
    /// Tokens served from the SRAM cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sram_cached_tokens: Option<u64>,
    /// Tokens served from the DRAM cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dram_cached_tokens: Option<u64>,
}

/// Usage by model, when a compound system used several.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UsageBreakdown {
    /// One entry per model.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub models: Vec<ModelUsage>,
}

/// The usage of one model in a [`UsageBreakdown`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelUsage {
    /// The model.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub model: String,
    /// Its usage.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub usage: Usage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billable_tokens_excludes_cache() {
        let mut usage = Usage::new(100, 20);
        assert_eq!(usage.billable_tokens(), 120);
        usage.prompt_tokens_details = Some(PromptTokensDetails { cached_tokens: 64 });
        assert_eq!(usage.billable_tokens(), 56);
    }

    #[test]
    fn default_completion_names_its_object() {
        assert_eq!(ChatCompletion::default().object, "chat.completion");
    }

    #[test]
    fn unknown_finish_reason_is_kept() {
        let reason: FinishReason = serde_json::from_str("\"content_filter\"").unwrap();
        assert_eq!(reason, FinishReason::Other("content_filter".into()));
        assert_eq!(
            serde_json::to_string(&reason).unwrap(),
            "\"content_filter\""
        );
    }
}
