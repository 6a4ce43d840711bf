//! [`TiktokenCounter`]: counts chat requests with OpenAI's public byte-pair encodings.

use groq_types::{ChatRequest, Content, ContentPart, Message, Tool, ToolCall};
use serde::Serialize;

use crate::TokenCounter;
use crate::encoding::{Encoding, encoding_for_model};
use crate::framing::{
    DEFAULT_IMAGE_TOKENS, REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, TOKENS_PER_TOOL,
    TOKENS_PER_TOOL_CALL, TOOLS_BLOCK_TOKENS,
};

/// A [`TokenCounter`] on `tiktoken-rs`: `cl100k_base` for Llama and most models, `o200k_base`
/// for `openai/gpt-oss-*` (see [`encoding_for_model`]).
///
/// The encoders are built once per process, on first use, and shared by every counter and
/// thread; the counter itself is two words, so cloning it is free.
///
/// A request's count is the sum of:
/// - for each message, [`TOKENS_PER_MESSAGE`] plus the tokens of its role name and of
///   everything it carries: text, text parts, documents (their JSON), the assistant's
///   reasoning and tool calls (id, function name and arguments, plus
///   [`TOKENS_PER_TOOL_CALL`] each), a tool result's call id and content; each image part
///   counts [`image_tokens`](Self::image_tokens);
/// - for each tool definition, the tokens of its function's JSON plus [`TOKENS_PER_TOOL`],
///   and [`TOOLS_BLOCK_TOKENS`] once when there are tools;
/// - [`REPLY_PRIMING_TOKENS`] once.
///
/// Sampling options, the response format and the tool choice are not counted: they steer
/// decoding rather than add prompt text.
///
/// ```
/// use groq_tokens::{TiktokenCounter, TokenCounter};
/// use groq_types::ChatRequest;
///
/// let counter = TiktokenCounter::new();
/// assert_eq!(counter.count_text("llama-3.1-8b-instant", "hello world"), 2);
///
/// let request = ChatRequest::new("llama-3.1-8b-instant").user("hello world");
/// // 3 framing + 1 for "user" + 2 for the text + 3 priming the reply.
/// assert_eq!(counter.count_request(&request), 9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TiktokenCounter {
    image_tokens: u64,
    encoding: Option<Encoding>,
}

impl TiktokenCounter {
    /// A counter that picks the encoding from the model id and counts
    /// [`DEFAULT_IMAGE_TOKENS`] per image.
    pub const fn new() -> Self {
        Self {
            image_tokens: DEFAULT_IMAGE_TOKENS,
            encoding: None,
        }
    }

    /// Counts `tokens` for each image part instead of [`DEFAULT_IMAGE_TOKENS`].
    #[must_use]
    pub const fn with_image_tokens(mut self, tokens: u64) -> Self {
        self.image_tokens = tokens;
        self
    }

    /// Uses `encoding` for every model instead of choosing by model id.
    #[must_use]
    pub const fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = Some(encoding);
        self
    }

    /// The tokens counted for each image part.
    pub const fn image_tokens(&self) -> u64 {
        self.image_tokens
    }

    /// The encoding this counter uses for `model`.
    pub fn encoding(&self, model: &str) -> Encoding {
        self.encoding.unwrap_or_else(|| encoding_for_model(model))
    }

    /// Builds the encoders this counter may use now, so that no request pays for building
    /// one (tens to hundreds of milliseconds each). Counting works without it.
    pub fn preload(&self) {
        match self.encoding {
            Some(encoding) => {
                encoding.preload();
            }
            None => {
                Encoding::Cl100kBase.preload();
                Encoding::O200kBase.preload();
            }
        }
    }

    fn count_message(&self, encoding: Encoding, message: &Message) -> u64 {
        let body = match message {
            Message::System { content, .. }
            | Message::Developer { content, .. }
            | Message::User { content, .. } => self.count_content(encoding, content),
            Message::Assistant {
                content,
                tool_calls,
                reasoning,
                ..
            } => {
                let content = content
                    .as_ref()
                    .map_or(0, |content| self.count_content(encoding, content));
                let reasoning = reasoning
                    .as_deref()
                    .map_or(0, |reasoning| encoding.count(reasoning));
                let calls = tool_calls
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .fold(0, |sum: u64, call| {
                        sum.saturating_add(count_tool_call(encoding, call))
                    });
                content.saturating_add(reasoning).saturating_add(calls)
            }
            Message::Tool {
                tool_call_id,
                content,
                ..
            } => encoding
                .count(tool_call_id)
                .saturating_add(self.count_content(encoding, content)),
            // A role newer than this crate: its JSON holds everything it could put in the prompt.
            other => count_json(encoding, other),
        };
        let name = message.name().map_or(0, |name| encoding.count(name));
        TOKENS_PER_MESSAGE
            .saturating_add(encoding.count(message.role()))
            .saturating_add(body)
            .saturating_add(name)
    }

    fn count_content(&self, encoding: Encoding, content: &Content) -> u64 {
        match content {
            Content::Text(text) => encoding.count(text),
            Content::Parts(parts) => parts.iter().fold(0, |sum: u64, part| {
                sum.saturating_add(self.count_part(encoding, part))
            }),
            other => count_json(encoding, other),
        }
    }

    fn count_part(&self, encoding: Encoding, part: &ContentPart) -> u64 {
        match part {
            ContentPart::Text { text, .. } => encoding.count(text),
            ContentPart::ImageUrl { .. } => self.image_tokens,
            ContentPart::Document { document, .. } => {
                let id = document.id.as_deref().map_or(0, |id| encoding.count(id));
                count_json(encoding, &document.data).saturating_add(id)
            }
            other => count_json(encoding, other),
        }
    }
}

impl Default for TiktokenCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCounter for TiktokenCounter {
    fn count_text(&self, model: &str, text: &str) -> u64 {
        self.encoding(model).count(text)
    }

    fn count_request(&self, request: &ChatRequest) -> u64 {
        let encoding = self.encoding(request.model());
        let messages = request.message_list().iter().fold(0, |sum: u64, message| {
            sum.saturating_add(self.count_message(encoding, message))
        });
        let tools = request
            .get::<Vec<Tool>>("tools")
            .and_then(Result::ok)
            .filter(|tools| !tools.is_empty())
            .as_deref()
            .filter(|tools| !tools.is_empty())
            .map_or(0, |tools| count_tools(encoding, tools));
        REPLY_PRIMING_TOKENS
            .saturating_add(messages)
            .saturating_add(tools)
    }
}

fn count_tool_call(encoding: Encoding, call: &ToolCall) -> u64 {
    TOKENS_PER_TOOL_CALL
        .saturating_add(encoding.count(&call.id))
        .saturating_add(encoding.count(&call.function.name))
        .saturating_add(encoding.count(&call.function.arguments))
}

fn count_tools(encoding: Encoding, tools: &[Tool]) -> u64 {
    tools.iter().fold(TOOLS_BLOCK_TOKENS, |sum, tool| {
        sum.saturating_add(TOKENS_PER_TOOL)
            .saturating_add(match &tool.function {
                Some(function) => count_json(encoding, function),
                // A built-in tool: its JSON is all it adds.
                None => count_json(encoding, tool),
            })
    })
}

/// Counts the compact JSON of `value`. Serializing these types cannot fail (their maps have
/// string keys); were it to, the value would count as nothing rather than abort the count.
fn count_json<T: Serialize + ?Sized>(encoding: Encoding, value: &T) -> u64 {
    serde_json::to_string(value).map_or(0, |json| encoding.count(&json))
}
