//! Serde models of the Groq Cloud wire format.
//!
//! `groq-types` is the bottom of the groqchat stack: every other crate speaks in these
//! types. It models the OpenAI-compatible endpoints that Groq serves under
//! `https://api.groq.com/openai/v1`:
//!
//! - [`ChatRequest`] for `POST /chat/completions`, with every parameter Groq documents and
//!   an [`extra`](ChatRequest::extra) map for parameters newer than this crate;
//! - [`ChatCompletion`] for the JSON reply, [`ChatCompletionChunk`] for each server-sent
//!   event of a streamed reply, and [`ChatCompletionAccumulator`] to merge chunks back into
//!   a full completion;
//! - [`ModelList`] and [`Model`] for `GET /models` and `GET /models/{id}`;
//! - [`ErrorEnvelope`] for the `{"error": {...}}` bodies of failed requests.
//!
//! Two rules shape the serde attributes:
//!
//! 1. **Requests are strict on the wire.** Groq rejects unknown properties and `null`s it does
//!    not expect, so every absent option is omitted when serializing.
//! 2. **Responses are lenient.** Unknown fields are ignored and every field the service may
//!    leave out is optional, so a new field or a missing one never breaks a client.
//!
//! # Example
//!
//! ```
//! use groq_types::{ChatCompletion, ChatRequest};
//!
//! let request = ChatRequest::new("llama-3.1-8b-instant")
//!     .system("You are terse.")
//!     .user("Name a prime number.")
//!     .max_completion_tokens(16)
//!     .temperature(0.2);
//! assert_eq!(
//!     serde_json::to_value(&request).unwrap(),
//!     serde_json::json!({
//!         "model": "llama-3.1-8b-instant",
//!         "messages": [
//!             {"role": "system", "content": "You are terse."},
//!             {"role": "user", "content": "Name a prime number."}
//!         ],
//!         "max_completion_tokens": 16,
//!         "temperature": 0.2
//!     })
//! );
//!
//! let reply: ChatCompletion = serde_json::from_str(r#"{
//!     "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "llama-3.1-8b-instant",
//!     "choices": [{"index": 0, "message": {"role": "assistant", "content": "7"}, "finish_reason": "stop"}],
//!     "usage": {"prompt_tokens": 30, "completion_tokens": 1, "total_tokens": 31}
//! }"#).unwrap();
//! assert_eq!(reply.text(), Some("7"));
//! assert_eq!(reply.usage.unwrap().total_tokens, 31);
//! ```
//!
//! # Features
//!
//! None: the crate depends only on `serde`, `serde_json` and `thiserror`.

mod audio;
mod error;
mod files;
mod models;
mod request;
mod response;
mod responses;
mod stream;

pub use audio::{
    SpeechFormat, SpeechRequest, TimestampGranularity, Transcript, TranscriptError,
    TranscriptFormat, TranscriptionOptions,
};
pub use error::{ApiError, ErrorEnvelope};
pub use files::{
    Batch, BatchList, CreateBatch, Deleted, Embedding, EmbeddingList, EmbeddingRequest, FileList,
    FileObject, RequestCounts,
};
pub use models::{Model, ModelList};
pub use request::{
    ChatRequest, Content, ContentPart, DocumentPart, FunctionDefinition, ImageUrl, InvalidRequest,
    JsonSchemaFormat, Message, NamedFunction, ReasoningEffort, ReasoningFormat, ResponseFormat,
    ServiceTier, Stop, StreamOptions, Tool, ToolChoice, ToolChoiceMode,
};
pub use response::{
    ChatCompletion, Choice, CompletionTokensDetails, FinishReason, FunctionCall, FunctionName,
    PromptTokensDetails, ResponseMessage, ToolCall, Usage, XGroq,
};
pub use responses::{ResponseObject, ResponseRequest, ResponseUsage};
pub use stream::{
    ChatCompletionAccumulator, ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta,
    StreamPayload, ToolCallDelta,
};

/// A JSON object, as used for free-form fields such as [`ChatRequest::extra`].
pub type JsonObject = serde_json::Map<String, serde_json::Value>;
