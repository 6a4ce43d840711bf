//! The chat completion reply.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// The reply to a non-streamed chat request.
///
/// Deserialization is lenient: unknown fields are ignored and every field the service may
/// leave out has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatCompletion {
    /// The completion id, `chatcmpl-...`.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion`.
    #[serde(default = "chat_completion_object")]
    pub object: String,
    /// Creation time, Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// The tier the request ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// The choices; Groq returns exactly one.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token usage and timings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Groq's extension: the request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_groq: Option<XGroq>,
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
            x_groq: None,
        }
    }
}

impl ChatCompletion {
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
    #[serde(default)]
    pub index: u32,
    /// The assistant's message.
    #[serde(default)]
    pub message: ResponseMessage,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities (Groq returns `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
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
    #[serde(default)]
    pub arguments: String,
}

/// A function named in a tool choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionName {
    /// The function's name.
    pub name: String,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// The token budget ran out.
    Length,
    /// The model called tools.
    ToolCalls,
    /// The model called a function (legacy).
    FunctionCall,
    /// A reason this crate does not know yet.
    #[serde(other)]
    Other,
}

/// Token usage of one request, with Groq's timing fields (seconds).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt, as the server counted them.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens in the reply.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Prompt plus reply.
    #[serde(default)]
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
    #[serde(default)]
    pub cached_tokens: u64,
}

/// Details of the completion's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionTokensDetails {
    /// Tokens spent reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

/// Groq's `x_groq` extension object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct XGroq {
    /// The request id, `req_...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Usage, in the last chunk of a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// An error that ended a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
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
    fn unknown_finish_reason_is_other() {
        let reason: FinishReason = serde_json::from_str("\"content_filter\"").unwrap();
        assert_eq!(reason, FinishReason::Other);
    }
}
