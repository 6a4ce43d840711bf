//! Serde models of the Groq Cloud wire format.
//!
//! `groq-types` is the bottom of the groqchat stack: every other crate speaks in these
//! types. It models the OpenAI-compatible endpoints that Groq serves under
//! `https://api.groq.com/openai/v1`:
//!
//! - [`ChatRequest`] for `POST /chat/completions`: the request's JSON kept key by key as exact
//!   text (and its original bytes), with a setter for every parameter Groq documents,
//!   [`extra`](ChatRequest::extra) for any other key, and [`params`](ChatRequest::params), the
//!   typed view of every parameter;
//! - [`ChatCompletion`] for the JSON reply, [`ChatCompletionChunk`] for each server-sent
//!   event of a streamed reply, and [`ChatCompletionAccumulator`] to merge chunks back into
//!   a full completion;
//! - [`ModelList`] and [`Model`] for `GET /models` and `GET /models/{id}`;
//! - [`ErrorEnvelope`] for the `{"error": {...}}` bodies of failed requests.
//!
//! Three rules shape the crate:
//!
//! 1. **Lossless.** Bodies are carried as bytes: a request built from JSON goes out byte for
//!    byte, and a reply read with `from_bytes` keeps the bytes received
//!    ([`ChatCompletion::raw`]). Typed views are for reading; whatever writes a body back out
//!    writes the bytes.
//! 2. **Requests send only what was set.** A key never set is never sent, and a key set twice
//!    is one key.
//! 3. **Reply views are lenient.** Unknown fields are ignored by the view (they stay in the
//!    bytes), `null` reads as absent, enums keep values they do not know, so a new field or a
//!    missing one never breaks a client.
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
//!
//! // Read from bytes, a reply keeps them: write `raw()`, never the typed view.
//! let body = br#"{"id":"c","choices":[],"unknown":{"b":1,"a":123456789012345678901234567890}}"#;
//! let reply = ChatCompletion::from_bytes(body.to_vec().into()).unwrap();
//! assert_eq!(reply.raw(), &body[..]);
//! ```
//!
//! # Features
//!
//! None: the crate depends only on `bytes`, `serde`, `serde_json` and `thiserror`. It turns
//! on serde_json's `raw_value` (exact JSON text) and `preserve_order` (objects keep their key
//! order, so a schema built with `json!` is sent in the order written); by Cargo's feature
//! unification the latter applies to every crate built with this one.

mod audio;
mod error;
mod files;
mod models;
mod raw;
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
pub use raw::RawObject;
pub use request::{
    ChatParams, ChatRequest, CitationOptions, Content, ContentPart, DocumentPart,
    FunctionDefinition, ImageUrl, InvalidRequest, JsonSchemaFormat, Message, NamedFunction,
    ReasoningEffort, ReasoningFormat, ResponseFormat, Role, ServiceTier, Stop, StreamOptions, Tool,
    ToolChoice, ToolChoiceMode, ToolType,
};
pub use response::{
    Annotation, CachedTokens, ChatCompletion, Choice, Citation, CompletionTokensDetails,
    ExecutedTool, FinishReason, FunctionCall, FunctionName, Logprobs, ModelUsage,
    PromptTokensDetails, ResponseMessage, StreamError, TokenLogprob, ToolCall, TopLogprob, Usage,
    UsageBreakdown, XGroq, XGroqCompletion,
};
pub use responses::{ResponseObject, ResponseRequest, ResponseUsage};
pub use stream::{
    ChatCompletionAccumulator, ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta,
    StreamPayload, ToolCallDelta,
};

/// A JSON object, as used for free-form fields such as [`ChatRequest::extra`].
pub type JsonObject = serde_json::Map<String, serde_json::Value>;
