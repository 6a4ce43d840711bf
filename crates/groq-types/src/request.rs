//! The chat completion request: `POST /chat/completions`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::JsonObject;
use crate::response::ToolCall;

/// A request to `POST /chat/completions`.
///
/// Build it with [`ChatRequest::new`] and the chained setters; every option left unset is
/// omitted on the wire, as Groq rejects properties it does not expect. Parameters that this
/// crate does not model yet go into [`extra`](Self::extra), which is flattened into the
/// top-level JSON object.
///
/// ```
/// use groq_types::{ChatRequest, ReasoningEffort};
///
/// let request = ChatRequest::new("openai/gpt-oss-20b")
///     .user("Why is the sky blue?")
///     .reasoning_effort(ReasoningEffort::Low)
///     .max_completion_tokens(200)
///     .extra("search_settings", serde_json::json!({"country": "fr"}));
/// let json = serde_json::to_value(&request).unwrap();
/// assert_eq!(json["reasoning_effort"], "low");
/// assert_eq!(json["search_settings"]["country"], "fr");
/// assert!(json.get("temperature").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The model id, e.g. `llama-3.1-8b-instant`.
    pub model: String,
    /// The conversation so far; at least one message.
    pub messages: Vec<Message>,
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling probability mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Best-effort deterministic sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Up to four stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// The most tokens the reply may have. Counts against the tokens-per-minute limit up front.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Deprecated alias of `max_completion_tokens`, still accepted by Groq.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Number of choices; Groq accepts only 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Presence penalty, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Tools (functions) the model may call; at most 128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Plain text, JSON object mode or a JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// How much a reasoning model thinks before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// How reasoning is returned: hidden, raw in the content, or parsed into its own field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_format: Option<ReasoningFormat>,
    /// Whether reasoning is included in the reply (gpt-oss models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_reasoning: Option<bool>,
    /// The service tier: `auto`, `on_demand`, `flex` or `performance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// An end-user identifier for abuse monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Stream the reply as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options; send only when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Parameters this crate does not model, flattened into the top-level JSON object.
    #[serde(flatten, default, skip_serializing_if = "JsonObject::is_empty")]
    pub extra: JsonObject,
}

impl ChatRequest {
    /// A request for `model` with no messages and no options yet.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            messages: Vec::new(),
            temperature: None,
            top_p: None,
            seed: None,
            stop: None,
            max_completion_tokens: None,
            max_tokens: None,
            n: None,
            presence_penalty: None,
            frequency_penalty: None,
            tools: None,
            tool_choice: None,
            parallel_tool_calls: None,
            response_format: None,
            reasoning_effort: None,
            reasoning_format: None,
            include_reasoning: None,
            service_tier: None,
            user: None,
            stream: None,
            stream_options: None,
            extra: JsonObject::new(),
        }
    }

    /// Appends a message.
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Appends several messages.
    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages.extend(messages);
        self
    }

    /// Appends a system message.
    pub fn system(self, content: impl Into<Content>) -> Self {
        self.message(Message::system(content))
    }

    /// Appends a developer message.
    pub fn developer(self, content: impl Into<Content>) -> Self {
        self.message(Message::developer(content))
    }

    /// Appends a user message.
    pub fn user(self, content: impl Into<Content>) -> Self {
        self.message(Message::user(content))
    }

    /// Appends an assistant message (a previous reply).
    pub fn assistant(self, content: impl Into<Content>) -> Self {
        self.message(Message::assistant(content))
    }

    /// Sets the sampling temperature (0 to 2).
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets nucleus sampling (0 to 1).
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets the sampling seed.
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the stop sequences.
    pub fn stop(mut self, stop: impl Into<Stop>) -> Self {
        self.stop = Some(stop.into());
        self
    }

    /// Sets the reply's token budget. Groq charges it against tokens per minute up front.
    pub fn max_completion_tokens(mut self, tokens: u32) -> Self {
        self.max_completion_tokens = Some(tokens);
        self
    }

    /// Sets the deprecated `max_tokens` alias; prefer [`max_completion_tokens`](Self::max_completion_tokens).
    pub fn max_tokens(mut self, tokens: u32) -> Self {
        self.max_tokens = Some(tokens);
        self
    }

    /// Sets the presence penalty (-2 to 2).
    pub fn presence_penalty(mut self, penalty: f64) -> Self {
        self.presence_penalty = Some(penalty);
        self
    }

    /// Sets the frequency penalty (-2 to 2).
    pub fn frequency_penalty(mut self, penalty: f64) -> Self {
        self.frequency_penalty = Some(penalty);
        self
    }

    /// Adds a tool the model may call.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.get_or_insert_with(Vec::new).push(tool);
        self
    }

    /// Sets the tool choice.
    pub fn tool_choice(mut self, choice: impl Into<ToolChoice>) -> Self {
        self.tool_choice = Some(choice.into());
        self
    }

    /// Allows or forbids several tool calls in one turn.
    pub fn parallel_tool_calls(mut self, allowed: bool) -> Self {
        self.parallel_tool_calls = Some(allowed);
        self
    }

    /// Sets the response format.
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = Some(format);
        self
    }

    /// Asks for a JSON object reply (`response_format: {"type": "json_object"}`).
    pub fn json_mode(self) -> Self {
        self.response_format(ResponseFormat::JsonObject)
    }

    /// Asks for a reply that follows a JSON schema.
    pub fn json_schema(self, schema: JsonSchemaFormat) -> Self {
        self.response_format(ResponseFormat::JsonSchema {
            json_schema: schema,
        })
    }

    /// Sets the reasoning effort.
    pub fn reasoning_effort(mut self, effort: ReasoningEffort) -> Self {
        self.reasoning_effort = Some(effort);
        self
    }

    /// Sets the reasoning format.
    pub fn reasoning_format(mut self, format: ReasoningFormat) -> Self {
        self.reasoning_format = Some(format);
        self
    }

    /// Includes or leaves out reasoning in the reply.
    pub fn include_reasoning(mut self, include: bool) -> Self {
        self.include_reasoning = Some(include);
        self
    }

    /// Sets the service tier.
    pub fn service_tier(mut self, tier: ServiceTier) -> Self {
        self.service_tier = Some(tier);
        self
    }

    /// Sets the end-user identifier (the `user` field).
    pub fn end_user(mut self, id: impl Into<String>) -> Self {
        self.user = Some(id.into());
        self
    }

    /// Asks for a streamed reply.
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = Some(stream);
        self
    }

    /// Asks for a top-level `usage` in the last stream chunk (`stream_options.include_usage`).
    pub fn include_usage(mut self) -> Self {
        self.stream_options = Some(StreamOptions {
            include_usage: Some(true),
        });
        self
    }

    /// Sets a parameter this crate does not model; it is sent as a top-level property.
    pub fn extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// The reply's token budget: `max_completion_tokens`, else the deprecated `max_tokens`.
    pub fn completion_budget(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Whether the reply is requested as a stream.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Checks the rules Groq enforces on every request, so a bad request fails before it costs
    /// quota: at least one message, `n` = 1, temperature in 0..=2, `top_p` in 0..=1, penalties in
    /// -2..=2, at most 4 stop sequences, at most 128 tools, a non-empty model id.
    ///
    /// ```
    /// use groq_types::ChatRequest;
    ///
    /// let err = ChatRequest::new("llama-3.1-8b-instant").validate().unwrap_err();
    /// assert_eq!(err.field(), "messages");
    /// ```
    pub fn validate(&self) -> Result<(), InvalidRequest> {
        fn in_range(
            field: &'static str,
            value: Option<f64>,
            low: f64,
            high: f64,
        ) -> Result<(), InvalidRequest> {
            match value {
                Some(v) if !(low..=high).contains(&v) => Err(InvalidRequest::new(
                    field,
                    format!("must be between {low} and {high}, got {v}"),
                )),
                _ => Ok(()),
            }
        }
        if self.model.trim().is_empty() {
            return Err(InvalidRequest::new("model", "must name a model"));
        }
        if self.messages.is_empty() {
            return Err(InvalidRequest::new(
                "messages",
                "must contain at least one message",
            ));
        }
        if let Some(n) = self.n.filter(|&n| n != 1) {
            return Err(InvalidRequest::new(
                "n",
                format!("Groq supports only n = 1, got {n}"),
            ));
        }
        in_range("temperature", self.temperature, 0.0, 2.0)?;
        in_range("top_p", self.top_p, 0.0, 1.0)?;
        in_range("presence_penalty", self.presence_penalty, -2.0, 2.0)?;
        in_range("frequency_penalty", self.frequency_penalty, -2.0, 2.0)?;
        if let Some(Stop::Many(stops)) = &self.stop
            && stops.len() > 4
        {
            return Err(InvalidRequest::new(
                "stop",
                format!("at most 4 stop sequences, got {}", stops.len()),
            ));
        }
        if let Some(tools) = &self.tools
            && tools.len() > 128
        {
            return Err(InvalidRequest::new(
                "tools",
                format!("at most 128 tools, got {}", tools.len()),
            ));
        }
        Ok(())
    }
}

/// A request that breaks one of the rules Groq enforces; see [`ChatRequest::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chat request: `{field}` {reason}")]
pub struct InvalidRequest {
    field: &'static str,
    reason: String,
}

impl InvalidRequest {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// The request field at fault, e.g. `temperature`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// One message of the conversation, tagged by its `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Message {
    /// Instructions that frame the conversation.
    System {
        /// The instructions.
        content: Content,
    },
    /// Instructions from the developer (newer models' name for system instructions).
    Developer {
        /// The instructions.
        content: Content,
    },
    /// What the user said: text, or parts (text, images, documents).
    User {
        /// The user's content.
        content: Content,
    },
    /// A previous reply of the model.
    Assistant {
        /// The reply's text, absent when the reply was only tool calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        /// Tool calls the model made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<Vec<ToolCall>>,
        /// The model's reasoning, when it was returned parsed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<String>,
    },
    /// The result of a tool call.
    Tool {
        /// The id of the call this answers.
        tool_call_id: String,
        /// The tool's output.
        content: Content,
    },
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<Content>) -> Self {
        Self::System {
            content: content.into(),
        }
    }

    /// A developer message.
    pub fn developer(content: impl Into<Content>) -> Self {
        Self::Developer {
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<Content>) -> Self {
        Self::User {
            content: content.into(),
        }
    }

    /// An assistant message with text content.
    pub fn assistant(content: impl Into<Content>) -> Self {
        Self::Assistant {
            content: Some(content.into()),
            tool_calls: None,
            reasoning: None,
        }
    }

    /// An assistant message that made tool calls.
    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> Self {
        Self::Assistant {
            content: None,
            tool_calls: Some(tool_calls),
            reasoning: None,
        }
    }

    /// A tool result answering the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<Content>) -> Self {
        Self::Tool {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
        }
    }

    /// The role name as it appears on the wire.
    pub fn role(&self) -> &'static str {
        match self {
            Self::System { .. } => "system",
            Self::Developer { .. } => "developer",
            Self::User { .. } => "user",
            Self::Assistant { .. } => "assistant",
            Self::Tool { .. } => "tool",
        }
    }

    /// The message's content, if it has any.
    pub fn content(&self) -> Option<&Content> {
        match self {
            Self::System { content }
            | Self::Developer { content }
            | Self::User { content }
            | Self::Tool { content, .. } => Some(content),
            Self::Assistant { content, .. } => content.as_ref(),
        }
    }
}

/// Message content: a plain string, or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text, image and document parts.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// All the text of this content: the string itself, or the text parts joined by newlines.
    pub fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(|part| match part {
                    ContentPart::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<Vec<ContentPart>> for Content {
    fn from(parts: Vec<ContentPart>) -> Self {
        Self::Parts(parts)
    }
}

/// One part of a multi-part user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentPart {
    /// A text part.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by URL or `data:` URI (vision models).
    ImageUrl {
        /// The image reference.
        image_url: ImageUrl,
    },
    /// A JSON document the model may cite.
    Document {
        /// The document.
        document: DocumentPart,
    },
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// An image part from a URL or `data:` URI.
    pub fn image_url(url: impl Into<String>) -> Self {
        Self::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
            },
        }
    }
}

/// The image of an [`ContentPart::ImageUrl`] part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUrl {
    /// An `https://` URL or a `data:image/...;base64,` URI.
    pub url: String,
    /// Detail level: `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The document of a [`ContentPart::Document`] part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DocumentPart {
    /// The document's JSON data.
    pub data: JsonObject,
    /// An optional identifier used in citations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Stop sequences: one string or a list of up to four.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Stop {
    /// One stop sequence.
    One(String),
    /// Several stop sequences (at most 4).
    Many(Vec<String>),
}

impl From<&str> for Stop {
    fn from(stop: &str) -> Self {
        Self::One(stop.to_owned())
    }
}

impl From<String> for Stop {
    fn from(stop: String) -> Self {
        Self::One(stop)
    }
}

impl From<Vec<String>> for Stop {
    fn from(stops: Vec<String>) -> Self {
        Self::Many(stops)
    }
}

/// A tool the model may call. Groq supports function tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tool {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function's name, description and parameter schema.
    pub function: FunctionDefinition,
}

impl Tool {
    /// A function tool with a JSON Schema for its parameters.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Self {
        Self {
            kind: "function".to_owned(),
            function: FunctionDefinition {
                name: name.into(),
                description: Some(description.into()),
                parameters: Some(parameters),
                strict: None,
            },
        }
    }
}

/// The definition of a function tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionDefinition {
    /// The function's name.
    pub name: String,
    /// What the function does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema object describing the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Whether arguments must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// Whether the model calls a tool: a mode, or one named function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(ToolChoiceMode),
    /// Call this function.
    Named(NamedFunction),
}

impl ToolChoice {
    /// Forces a call of the function `name`.
    pub fn function(name: impl Into<String>) -> Self {
        Self::Named(NamedFunction {
            kind: "function".to_owned(),
            function: crate::response::FunctionName { name: name.into() },
        })
    }

    /// The name of the function this choice forces, if it forces one.
    pub fn forced_function(&self) -> Option<&str> {
        match self {
            Self::Named(named) => Some(&named.function.name),
            Self::Mode(_) => None,
        }
    }
}

impl From<ToolChoiceMode> for ToolChoice {
    fn from(mode: ToolChoiceMode) -> Self {
        Self::Mode(mode)
    }
}

/// The tool-choice modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ToolChoiceMode {
    /// Never call a tool.
    None,
    /// The model decides.
    Auto,
    /// The model must call some tool.
    Required,
}

/// A tool choice that names one function: `{"type": "function", "function": {"name": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NamedFunction {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function to call.
    pub function: crate::response::FunctionName,
}

/// The format of the reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// A JSON object ("JSON mode").
    JsonObject,
    /// JSON that follows a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
}

/// A named JSON schema for [`ResponseFormat::JsonSchema`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JsonSchemaFormat {
    /// The schema's name.
    pub name: String,
    /// What the schema is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Whether the reply must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl JsonSchemaFormat {
    /// A schema named `name`.
    pub fn new(name: impl Into<String>, schema: Value) -> Self {
        Self {
            name: name.into(),
            description: None,
            schema: Some(schema),
            strict: None,
        }
    }

    /// Requires the reply to follow the schema exactly.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }
}

/// How much a reasoning model thinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReasoningEffort {
    /// No reasoning.
    None,
    /// The model's default.
    Default,
    /// Little reasoning.
    Low,
    /// Medium reasoning.
    Medium,
    /// Much reasoning.
    High,
}

/// How reasoning is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReasoningFormat {
    /// Not returned.
    Hidden,
    /// Inline in the content, between think tags.
    Raw,
    /// In the message's `reasoning` field.
    Parsed,
}

/// The service tier a request runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServiceTier {
    /// The highest tier available within the organization's limits.
    Auto,
    /// The standard tier.
    OnDemand,
    /// Fails fast with 498 when capacity is short.
    Flex,
    /// The performance tier.
    Performance,
}

/// Streaming options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Put a top-level `usage` in the last chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_options_are_omitted() {
        let json = serde_json::to_value(ChatRequest::new("m").user("hi")).unwrap();
        assert_eq!(
            json,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    #[test]
    fn validation_names_the_field() {
        let base = ChatRequest::new("m").user("hi");
        assert!(base.validate().is_ok());
        let cases = [
            (base.clone().temperature(2.5), "temperature"),
            (base.clone().top_p(-0.1), "top_p"),
            (base.clone().presence_penalty(3.0), "presence_penalty"),
            (base.clone().frequency_penalty(-3.0), "frequency_penalty"),
            (base.clone().stop(vec!["a".to_owned(); 5]), "stop"),
            (ChatRequest::new(" ").user("x"), "model"),
            (ChatRequest::new("m"), "messages"),
        ];
        for (request, field) in cases {
            let err = request.validate().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().contains(field));
        }
        let mut n = base.clone();
        n.n = Some(2);
        assert_eq!(n.validate().unwrap_err().field(), "n");
        let mut tools = base;
        for i in 0..129 {
            tools = tools.tool(Tool::function(format!("f{i}"), "d", json!({})));
        }
        assert_eq!(tools.validate().unwrap_err().field(), "tools");
    }

    #[test]
    fn completion_budget_prefers_the_new_name() {
        let r = ChatRequest::new("m").max_tokens(10);
        assert_eq!(r.completion_budget(), Some(10));
        assert_eq!(r.max_completion_tokens(20).completion_budget(), Some(20));
    }

    #[test]
    fn tool_choice_shapes() {
        assert_eq!(
            serde_json::to_value(ToolChoice::from(ToolChoiceMode::Required)).unwrap(),
            json!("required")
        );
        let named = ToolChoice::function("get_weather");
        assert_eq!(
            serde_json::to_value(&named).unwrap(),
            json!({"type": "function", "function": {"name": "get_weather"}})
        );
        assert_eq!(named.forced_function(), Some("get_weather"));
        let back: ToolChoice = serde_json::from_value(json!("auto")).unwrap();
        assert_eq!(back, ToolChoice::Mode(ToolChoiceMode::Auto));
    }

    #[test]
    fn content_text_joins_text_parts() {
        let content = Content::Parts(vec![
            ContentPart::text("a"),
            ContentPart::image_url("data:image/png;base64,AAAA"),
            ContentPart::text("b"),
        ]);
        assert_eq!(content.text(), "a\nb");
    }
}
