//! The chat completion request: `POST /chat/completions`.

use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::JsonObject;
use crate::raw::{RawObject, open_enum};
use crate::response::{FunctionCall, ToolCall};

/// A request to `POST /chat/completions`, kept as the JSON object it is.
///
/// The request *is* its JSON: every top-level key is held as its exact JSON text, in the
/// order it was given, so what goes on the wire is what the caller wrote (key order, number
/// spelling, nested unknown fields, whitespace inside values). A request read with
/// [`from_slice`](Self::from_slice)/[`from_bytes`](Self::from_bytes) keeps its original bytes
/// and [`to_bytes`](Self::to_bytes) returns exactly them until something is changed.
///
/// Build one with [`ChatRequest::new`] and the chained setters: each writes its key in place
/// (a key set twice is one key with the last value), and a key never set is never sent.
/// Typed reading goes through [`params`](Self::params) (every parameter of Groq's
/// `CreateChatCompletionRequest`, parsed on demand) and the few direct accessors
/// ([`model`](Self::model), [`completion_budget`](Self::completion_budget),
/// [`is_stream`](Self::is_stream)).
///
/// ```
/// use groq_types::{ChatRequest, ReasoningEffort};
///
/// let request = ChatRequest::new("openai/gpt-oss-20b")
///     .user("Why is the sky blue?")
///     .reasoning_effort(ReasoningEffort::Low)
///     .max_completion_tokens(200)
///     .extra("search_settings", serde_json::json!({"country": "fr"}));
/// let json: serde_json::Value = serde_json::from_slice(&request.to_bytes()).unwrap();
/// assert_eq!(json["reasoning_effort"], "low");
/// assert_eq!(json["search_settings"]["country"], "fr");
/// assert!(json.get("temperature").is_none());
///
/// // A body read from bytes goes out byte for byte.
/// let body = br#"{"model":"m", "messages":[{"role":"user","content":"hi","x":1}], "seed":123456789012345678901234567890}"#;
/// let request = ChatRequest::from_slice(body).unwrap();
/// assert_eq!(&request.to_bytes()[..], &body[..]);
/// assert_eq!(request.model(), "m");
/// ```
#[derive(Clone)]
pub struct ChatRequest {
    /// The `model` key, read once: the client paces by it.
    model: String,
    /// Every top-level key, `model` included, as exact JSON text in order.
    fields: RawObject,
    /// The bytes the request was read from, while it is unchanged since.
    bytes: Option<Bytes>,
    /// The first value a setter could not write (reported by [`validate`](Self::validate)).
    broken: Option<InvalidRequest>,
}

impl fmt::Debug for ChatRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatRequest")
            .field("fields", &self.fields)
            .field("original_bytes", &self.bytes.is_some())
            .finish()
    }
}

impl PartialEq for ChatRequest {
    /// Two requests are equal when they would send the same keys with the same JSON text.
    fn eq(&self, other: &Self) -> bool {
        self.fields == other.fields
    }
}

impl Serialize for ChatRequest {
    /// Writes the keys in order with their exact text (compact between keys; use
    /// [`to_bytes`](ChatRequest::to_bytes) for the original bytes).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ChatRequest {
    /// Reads the request's JSON object, keeping every value's text; it needs `model` as a
    /// string. Only [`from_slice`](ChatRequest::from_slice) also keeps the exact bytes. It
    /// reads from JSON text or a [`serde_json::Value`], not from inside serde's buffering
    /// containers (`#[serde(flatten)]`, untagged enums), which cannot carry raw JSON.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = RawObject::deserialize(deserializer)?;
        Self::from_fields(fields, None).map_err(serde::de::Error::custom)
    }
}

/// Builder setters of a typed key: `$name(value)` writes `$key`.
macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident($ty:ty) => $key:literal; )*) => {
        $(
            $(#[$doc])*
            pub fn $name(self, value: $ty) -> Self {
                self.put($key, &value)
            }
        )*
    };
}

impl ChatRequest {
    /// A request for `model` with no messages and no options yet:
    /// `{"model": ..., "messages": []}`.
    pub fn new(model: impl Into<String>) -> Self {
        let model = model.into();
        let mut fields = RawObject::new();
        // A string and an empty array always serialize.
        let _ = fields.set("model", &model);
        let _ = fields.set_raw("messages", raw_text("[]"));
        Self {
            model,
            fields,
            bytes: None,
            broken: None,
        }
    }

    /// Reads a request from its JSON bytes and keeps them: [`to_bytes`](Self::to_bytes)
    /// returns exactly these bytes until the request is changed.
    ///
    /// The body must be a JSON object with a string `model` and no key twice; the typed
    /// parameters are checked by [`validate`](Self::validate).
    pub fn from_bytes(bytes: Bytes) -> Result<Self, InvalidRequest> {
        let fields: RawObject = serde_json::from_slice(&bytes)
            .map_err(|e| InvalidRequest::new("body", format!("is not a JSON object: {e}")))?;
        Self::from_fields(fields, Some(bytes))
    }

    /// [`from_bytes`](Self::from_bytes) of a copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, InvalidRequest> {
        Self::from_bytes(Bytes::copy_from_slice(bytes))
    }

    fn from_fields(fields: RawObject, bytes: Option<Bytes>) -> Result<Self, InvalidRequest> {
        let model = match fields.get::<String>("model") {
            Some(Ok(model)) => model,
            Some(Err(_)) => return Err(InvalidRequest::new("model", "must be a string")),
            None => return Err(InvalidRequest::new("model", "is missing")),
        };
        Ok(Self {
            model,
            fields,
            bytes,
            broken: None,
        })
    }

    /// The body as sent: the original bytes when the request was read from bytes and not
    /// changed since, else its keys in order, compact.
    pub fn to_bytes(&self) -> Bytes {
        match &self.bytes {
            Some(bytes) => bytes.clone(),
            // Raw JSON values always serialize.
            None => Bytes::from(serde_json::to_vec(&self.fields).unwrap_or_default()),
        }
    }

    /// Whether [`to_bytes`](Self::to_bytes) returns the bytes the request was read from.
    pub fn is_original(&self) -> bool {
        self.bytes.is_some()
    }

    /// The model id, e.g. `llama-3.1-8b-instant`.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Sets the model, in place.
    pub fn set_model(&mut self, model: impl Into<String>) {
        let model = model.into();
        let _ = self.set("model", &model);
        self.model = model;
    }

    /// The top-level keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.keys()
    }

    /// The exact JSON text of a top-level key.
    pub fn get_raw(&self, key: &str) -> Option<&RawValue> {
        self.fields.get_raw(key)
    }

    /// A top-level key read as a `T`: `None` when absent, an error naming the key when its
    /// value is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, InvalidRequest>> {
        self.fields.get(key).map(|result| {
            result.map_err(|e| InvalidRequest::new(key.to_owned(), format!("cannot be read: {e}")))
        })
    }

    /// Every parameter of the request, typed, parsed now from the JSON text. A key whose
    /// value does not have the spec's type reads as absent ([`validate`](Self::validate)
    /// names it); unknown keys are not part of this view (read them with
    /// [`get_raw`](Self::get_raw)).
    pub fn params(&self) -> ChatParams {
        // Lenient reading never fails.
        ChatParams::read(self, false).unwrap_or_default()
    }

    /// The messages, typed (see [`params`](Self::params)).
    pub fn message_list(&self) -> Vec<Message> {
        self.fields
            .get::<Vec<Message>>("messages")
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    /// Sets a top-level key to `value` in place, like the typed setters. Setting `model`
    /// sets the model. Returns an error naming the key when `value` cannot be serialized.
    pub fn set<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<(), InvalidRequest> {
        let raw = serde_json::value::to_raw_value(value)
            .map_err(|e| InvalidRequest::new(key.to_owned(), format!("cannot be written: {e}")))?;
        self.set_raw(key, raw)
    }

    /// Sets a top-level key to exact JSON text, in place (or at the end when new). `model`
    /// must be a string and updates [`model`](Self::model).
    pub fn set_raw(&mut self, key: &str, value: Box<RawValue>) -> Result<(), InvalidRequest> {
        if key == "model" {
            let model: String = serde_json::from_str(value.get())
                .map_err(|_| InvalidRequest::new("model", "must be a string"))?;
            self.model = model;
        }
        if self.fields.set_raw(key, value) {
            self.bytes = None;
        }
        Ok(())
    }

    /// Removes a top-level key (never `model`), returning its JSON text.
    pub fn remove(&mut self, key: &str) -> Option<Box<RawValue>> {
        if key == "model" {
            return None;
        }
        let removed = self.fields.remove(key);
        if removed.is_some() {
            self.bytes = None;
        }
        removed
    }

    /// Builder form of [`set`](Self::set): a value that cannot be written is reported by
    /// [`validate`](Self::validate).
    fn put<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Self {
        if let Err(error) = self.set(key, value) {
            self.broken.get_or_insert(error);
        }
        self
    }

    /// Appends the JSON texts of `items` to the array at `key` (creating it), in one rewrite
    /// of the array.
    fn push_to<T: Serialize>(mut self, key: &str, items: impl IntoIterator<Item = T>) -> Self {
        let mut added = String::new();
        for item in items {
            if !added.is_empty() {
                added.push(',');
            }
            match serde_json::to_string(&item) {
                Ok(text) => added.push_str(&text),
                Err(e) => {
                    self.broken.get_or_insert(InvalidRequest::new(
                        key.to_owned(),
                        format!("cannot be written: {e}"),
                    ));
                    return self;
                }
            }
        }
        if added.is_empty() && self.fields.contains_key(key) {
            return self;
        }
        let array = match self.fields.get_raw(key).map(RawValue::get) {
            Some(text) if text.starts_with('[') && text.ends_with(']') && !added.is_empty() => {
                let inner = &text[1..text.len() - 1];
                if inner.trim().is_empty() {
                    format!("[{added}]")
                } else {
                    format!("{},{added}]", &text[..text.len() - 1])
                }
            }
            _ => format!("[{added}]"),
        };
        match RawValue::from_string(array) {
            Ok(raw) => {
                let _ = self.set_raw(key, raw);
            }
            Err(e) => {
                self.broken.get_or_insert(InvalidRequest::new(
                    key.to_owned(),
                    format!("cannot be written: {e}"),
                ));
            }
        }
        self
    }

    /// Appends a message.
    pub fn message(self, message: Message) -> Self {
        self.push_to("messages", [message])
    }

    /// Appends several messages.
    pub fn messages(self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.push_to("messages", messages)
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

    setters! {
        /// Sets the sampling temperature (0 to 2).
        temperature(f64) => "temperature";
        /// Sets nucleus sampling (0 to 1).
        top_p(f64) => "top_p";
        /// Sets the best-effort deterministic sampling seed.
        seed(i64) => "seed";
        /// Sets the reply's token budget. Groq charges it against tokens per minute up front.
        max_completion_tokens(u32) => "max_completion_tokens";
        /// Sets the deprecated `max_tokens` alias; prefer [`max_completion_tokens`](Self::max_completion_tokens).
        max_tokens(u32) => "max_tokens";
        /// Sets the number of choices (Groq accepts only 1).
        n(u32) => "n";
        /// Sets the presence penalty (-2 to 2).
        presence_penalty(f64) => "presence_penalty";
        /// Sets the frequency penalty (-2 to 2).
        frequency_penalty(f64) => "frequency_penalty";
        /// Allows or forbids several tool calls in one turn.
        parallel_tool_calls(bool) => "parallel_tool_calls";
        /// Sets the response format.
        response_format(ResponseFormat) => "response_format";
        /// Sets the reasoning effort.
        reasoning_effort(ReasoningEffort) => "reasoning_effort";
        /// Sets the reasoning format.
        reasoning_format(ReasoningFormat) => "reasoning_format";
        /// Includes or leaves out reasoning in the reply.
        include_reasoning(bool) => "include_reasoning";
        /// Sets the service tier.
        service_tier(ServiceTier) => "service_tier";
        /// Asks for a streamed reply (`stream`).
        stream(bool) => "stream";
        /// Asks for the log probabilities of the output tokens.
        logprobs(bool) => "logprobs";
        /// How many most likely tokens to return at each position (0 to 20; needs `logprobs`).
        top_logprobs(u32) => "top_logprobs";
        /// Biases tokens, by token id, between -100 and 100.
        logit_bias(JsonObject) => "logit_bias";
        /// Attaches metadata (string keys and values) to the request.
        metadata(JsonObject) => "metadata";
        /// Asks to store the request and its reply.
        store(bool) => "store";
        /// Sets the web search settings (compound models).
        search_settings(JsonObject) => "search_settings";
        /// Sets the compound system's custom configuration.
        compound_custom(JsonObject) => "compound_custom";
        /// Sets documents to answer from (`{"id"?, "source": {...}}` objects).
        documents(Vec<JsonObject>) => "documents";
        /// Enables or disables citations (`enabled`, `disabled`).
        citation_options(CitationOptions) => "citation_options";
        /// Turns off the validation of tool calls against the tools given.
        disable_tool_validation(bool) => "disable_tool_validation";
        /// Restricts web search to these domains (deprecated; use `search_settings`).
        include_domains(Vec<String>) => "include_domains";
        /// Excludes these domains from web search (deprecated; use `search_settings`).
        exclude_domains(Vec<String>) => "exclude_domains";
    }

    /// Sets the stop sequences.
    pub fn stop(self, stop: impl Into<Stop>) -> Self {
        self.put("stop", &stop.into())
    }

    /// Adds a tool the model may call.
    pub fn tool(self, tool: Tool) -> Self {
        self.push_to("tools", [tool])
    }

    /// Sets the tool choice.
    pub fn tool_choice(self, choice: impl Into<ToolChoice>) -> Self {
        self.put("tool_choice", &choice.into())
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

    /// Sets the end-user identifier (the `user` field).
    pub fn end_user(self, id: impl Into<String>) -> Self {
        self.put("user", &id.into())
    }

    /// Asks for a top-level `usage` in the last stream chunk (`stream_options.include_usage`).
    /// `stream_options` is not in Groq's description of the request: it is sent only when
    /// asked for here (or given in the body).
    pub fn include_usage(self) -> Self {
        let mut options = self
            .fields
            .get::<RawObject>("stream_options")
            .and_then(Result::ok)
            .unwrap_or_default();
        let _ = options.set("include_usage", &true);
        self.put("stream_options", &options)
    }

    /// Sets any top-level key, in place. A key this crate types (`temperature`, `tools`, ...)
    /// is that parameter: there is only ever one of each key, and [`validate`](Self::validate)
    /// refuses a value of the wrong type. `model` is the model: `.extra("model", json!("x"))`
    /// is [`set_model`](Self::set_model)`("x")`, so the client paces the model it sends
    /// (a `model` that is not a string is refused by `validate`).
    pub fn extra(self, key: impl Into<String>, value: Value) -> Self {
        let key = key.into();
        self.put(&key, &value)
    }

    /// The reply's token budget: `max_completion_tokens`, else the deprecated `max_tokens`.
    pub fn completion_budget(&self) -> Option<u32> {
        let read = |key| {
            self.fields
                .get::<Option<u32>>(key)
                .and_then(Result::ok)
                .flatten()
        };
        read("max_completion_tokens").or_else(|| read("max_tokens"))
    }

    /// Whether the reply is requested as a stream (`"stream": true`).
    pub fn is_stream(&self) -> bool {
        self.fields.get_raw("stream").map(RawValue::get) == Some("true")
    }

    /// Makes the body fit the call it is sent by: a streaming call needs `"stream": true`;
    /// a plain call cannot read a stream, so a `"stream": true` (and its `stream_options`)
    /// is taken out. Anything else is left as given.
    pub fn prepare_for(&mut self, stream: bool) {
        if stream {
            if !self.is_stream() {
                let _ = self.set_raw("stream", raw_text("true"));
            }
        } else if self.is_stream() {
            self.remove("stream");
            self.remove("stream_options");
        }
    }

    /// Checks the rules Groq enforces on every request, so a bad request fails before it costs
    /// quota: every typed parameter has its type, at least one message, `n` = 1, temperature
    /// in 0..=2, `top_p` in 0..=1, penalties in -2..=2, at most 4 stop sequences, at most 128
    /// tools, a non-empty model id.
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
        if let Some(broken) = &self.broken {
            return Err(broken.clone());
        }
        if self.model.trim().is_empty() {
            return Err(InvalidRequest::new("model", "must name a model"));
        }
        // One pass reads every typed key and names the first that lacks its type.
        let params = ChatParams::read(self, true)?;
        if params.messages.is_empty() {
            return Err(InvalidRequest::new(
                "messages",
                "must contain at least one message",
            ));
        }
        if let Some(n) = params.n.filter(|&n| n != 1) {
            return Err(InvalidRequest::new(
                "n",
                format!("Groq supports only n = 1, got {n}"),
            ));
        }
        in_range("temperature", params.temperature, 0.0, 2.0)?;
        in_range("top_p", params.top_p, 0.0, 1.0)?;
        in_range("presence_penalty", params.presence_penalty, -2.0, 2.0)?;
        in_range("frequency_penalty", params.frequency_penalty, -2.0, 2.0)?;
        if let Some(Stop::Many(stops)) = &params.stop
            && stops.len() > 4
        {
            return Err(InvalidRequest::new(
                "stop",
                format!("at most 4 stop sequences, got {}", stops.len()),
            ));
        }
        if let Some(tools) = &params.tools
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

/// `text`, known to be valid JSON.
fn raw_text(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap_or_else(|_| {
        // Only called with literal JSON; `null` is the neutral fallback.
        serde_json::value::to_raw_value(&()).unwrap_or_default()
    })
}

/// `raw` read as a `T`: `None` when it is not one (an error naming `key` when `strict`).
fn typed<T: DeserializeOwned>(
    key: &str,
    raw: &RawValue,
    strict: bool,
) -> Result<Option<T>, InvalidRequest> {
    match serde_json::from_str(raw.get()) {
        Ok(value) => Ok(Some(value)),
        Err(e) if strict => Err(InvalidRequest::new(
            key.to_owned(),
            format!("does not have the expected shape: {e}"),
        )),
        Err(_) => Ok(None),
    }
}

/// Declares [`ChatParams`] and how each typed key is read, from one list.
macro_rules! chat_params {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty, )*) => {
        /// Every parameter of a [`ChatRequest`], typed: a read-only view parsed from the
        /// request's JSON by [`ChatRequest::params`]. Changing it changes nothing on the wire.
        #[derive(Debug, Clone, PartialEq, Default)]
        #[non_exhaustive]
        pub struct ChatParams {
            /// The model id.
            pub model: String,
            /// The conversation so far.
            pub messages: Vec<Message>,
            $( $(#[$doc])* pub $field: Option<$ty>, )*
        }

        impl ChatParams {
            /// Reads the typed keys of `request`. `strict`: a value without its type is an
            /// error naming the key; else it reads as absent.
            fn read(request: &ChatRequest, strict: bool) -> Result<Self, InvalidRequest> {
                let mut params = Self {
                    model: request.model.clone(),
                    ..Self::default()
                };
                for (key, raw) in request.fields.iter() {
                    match key {
                        "messages" => {
                            params.messages = typed::<Vec<Message>>(key, raw, strict)?
                                .unwrap_or_default();
                        }
                        $(
                            stringify!($field) => {
                                params.$field = typed::<Option<$ty>>(key, raw, strict)?.flatten();
                            }
                        )*
                        _ => {}
                    }
                }
                Ok(params)
            }
        }
    };
}

chat_params! {
    /// Sampling temperature, 0 to 2.
    temperature: f64,
    /// Nucleus sampling probability mass, 0 to 1.
    top_p: f64,
    /// Best-effort deterministic sampling seed.
    seed: i64,
    /// Up to four stop sequences.
    stop: Stop,
    /// The most tokens the reply may have.
    max_completion_tokens: u32,
    /// Deprecated alias of `max_completion_tokens`.
    max_tokens: u32,
    /// Number of choices; Groq accepts only 1.
    n: u32,
    /// Presence penalty, -2 to 2.
    presence_penalty: f64,
    /// Frequency penalty, -2 to 2.
    frequency_penalty: f64,
    /// Tools the model may call (functions and built-in tools); at most 128.
    tools: Vec<Tool>,
    /// Whether and which tool the model must call.
    tool_choice: ToolChoice,
    /// Whether the model may call several tools in one turn.
    parallel_tool_calls: bool,
    /// Turns off the validation of tool calls.
    disable_tool_validation: bool,
    /// Plain text, JSON object mode or a JSON schema.
    response_format: ResponseFormat,
    /// How much a reasoning model thinks before answering.
    reasoning_effort: ReasoningEffort,
    /// How reasoning is returned.
    reasoning_format: ReasoningFormat,
    /// Whether reasoning is included in the reply.
    include_reasoning: bool,
    /// The service tier.
    service_tier: ServiceTier,
    /// An end-user identifier.
    user: String,
    /// Stream the reply as server-sent events.
    stream: bool,
    /// Streaming options (not in Groq's description; sent only when set).
    stream_options: StreamOptions,
    /// Return log probabilities of the output tokens.
    logprobs: bool,
    /// Most likely tokens returned at each position.
    top_logprobs: u32,
    /// Token biases by token id.
    logit_bias: JsonObject,
    /// Request metadata.
    metadata: JsonObject,
    /// Store the request and reply.
    store: bool,
    /// Web search settings.
    search_settings: JsonObject,
    /// The compound system's custom configuration.
    compound_custom: JsonObject,
    /// Documents to answer from.
    documents: Vec<JsonObject>,
    /// Citations on or off.
    citation_options: CitationOptions,
    /// Domains web search is restricted to (deprecated).
    include_domains: Vec<String>,
    /// Domains web search excludes (deprecated).
    exclude_domains: Vec<String>,
    /// Deprecated: how the model calls functions.
    function_call: Value,
    /// Deprecated: the functions the model may call.
    functions: Vec<JsonObject>,
}

/// A request that breaks one of the rules Groq enforces; see [`ChatRequest::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chat request: `{field}` {reason}")]
pub struct InvalidRequest {
    field: String,
    reason: String,
}

impl InvalidRequest {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The request field at fault, e.g. `temperature` (`body` when the body is not a JSON
    /// object).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

open_enum! {
    /// The role of a request message.
    pub enum Role {
        /// Instructions that frame the conversation.
        System = "system",
        /// Instructions from the developer.
        Developer = "developer",
        /// The user.
        User = "user",
        /// A previous reply of the model.
        Assistant = "assistant",
        /// The result of a tool call.
        Tool = "tool",
        /// The result of a function call (deprecated role).
        Function = "function",
    }
}

/// One message of the conversation, tagged by its `role`: a typed view for building and
/// reading. Each variant keeps the keys it does not type in `extra`, in order, so a message
/// built or read with unknown fields loses none of them (their values go through
/// [`serde_json::Value`]; a body read with [`ChatRequest::from_slice`] keeps its exact text
/// regardless). A role this crate does not know is kept whole in [`Other`](Self::Other).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Message {
    /// Instructions that frame the conversation.
    System {
        /// The instructions.
        content: Content,
        /// A name that tells participants of the same role apart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Keys this crate does not type.
        #[serde(flatten)]
        extra: JsonObject,
    },
    /// Instructions from the developer (newer models' name for system instructions).
    Developer {
        /// The instructions.
        content: Content,
        /// A name that tells participants of the same role apart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Keys this crate does not type.
        #[serde(flatten)]
        extra: JsonObject,
    },
    /// What the user said: text, or parts (text, images, documents).
    User {
        /// The user's content.
        content: Content,
        /// A name that tells participants of the same role apart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Keys this crate does not type.
        #[serde(flatten)]
        extra: JsonObject,
    },
    /// A previous reply of the model.
    Assistant {
        /// The reply's text, absent (or `null`) when the reply was only tool calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        /// A name that tells participants of the same role apart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Tool calls the model made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<Vec<ToolCall>>,
        /// The model's reasoning, when it was returned parsed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<String>,
        /// The function the model called (deprecated).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        function_call: Option<FunctionCall>,
        /// Keys this crate does not type.
        #[serde(flatten)]
        extra: JsonObject,
    },
    /// The result of a tool call.
    Tool {
        /// The id of the call this answers.
        tool_call_id: String,
        /// The tool's output.
        content: Content,
        /// Keys this crate does not type.
        #[serde(flatten)]
        extra: JsonObject,
    },
    /// The result of a function call (the deprecated `function` role).
    Function {
        /// The function's name.
        name: String,
        /// The function's output.
        #[serde(default)]
        content: Option<String>,
        /// Keys this crate does not type.
        #[serde(flatten)]
        extra: JsonObject,
    },
    /// A message with a role this crate does not know (or a known role in a shape it does
    /// not type), kept whole: its JSON object, `role` included.
    #[serde(untagged)]
    Other(JsonObject),
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<Content>) -> Self {
        Self::System {
            content: content.into(),
            name: None,
            extra: JsonObject::new(),
        }
    }

    /// A developer message.
    pub fn developer(content: impl Into<Content>) -> Self {
        Self::Developer {
            content: content.into(),
            name: None,
            extra: JsonObject::new(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<Content>) -> Self {
        Self::User {
            content: content.into(),
            name: None,
            extra: JsonObject::new(),
        }
    }

    /// An assistant message with text content.
    pub fn assistant(content: impl Into<Content>) -> Self {
        Self::Assistant {
            content: Some(content.into()),
            name: None,
            tool_calls: None,
            reasoning: None,
            function_call: None,
            extra: JsonObject::new(),
        }
    }

    /// An assistant message that made tool calls.
    pub fn assistant_tool_calls(tool_calls: Vec<ToolCall>) -> Self {
        Self::Assistant {
            content: None,
            name: None,
            tool_calls: Some(tool_calls),
            reasoning: None,
            function_call: None,
            extra: JsonObject::new(),
        }
    }

    /// A tool result answering the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<Content>) -> Self {
        Self::Tool {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
            extra: JsonObject::new(),
        }
    }

    /// The result of the function `name` (the deprecated `function` role).
    pub fn function(name: impl Into<String>, content: impl Into<String>) -> Self {
        Self::Function {
            name: name.into(),
            content: Some(content.into()),
            extra: JsonObject::new(),
        }
    }

    /// Sets the participant `name` (system, developer, user and assistant messages; the
    /// function name of a `function` message). A tool message has no name: it is kept in
    /// its extra keys.
    pub fn with_name(mut self, new_name: impl Into<String>) -> Self {
        let new_name = new_name.into();
        match &mut self {
            Self::System { name, .. }
            | Self::Developer { name, .. }
            | Self::User { name, .. }
            | Self::Assistant { name, .. } => *name = Some(new_name),
            Self::Function { name, .. } => *name = new_name,
            Self::Tool { extra, .. } | Self::Other(extra) => {
                extra.insert("name".to_owned(), Value::String(new_name));
            }
        }
        self
    }

    /// Sets a key this crate does not type (a typed key given here would be sent twice:
    /// use the typed constructor or setter for it).
    pub fn with_extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra_mut().insert(key.into(), value);
        self
    }

    fn extra_mut(&mut self) -> &mut JsonObject {
        match self {
            Self::System { extra, .. }
            | Self::Developer { extra, .. }
            | Self::User { extra, .. }
            | Self::Assistant { extra, .. }
            | Self::Tool { extra, .. }
            | Self::Function { extra, .. }
            | Self::Other(extra) => extra,
        }
    }

    /// The keys this crate does not type (the whole object of an [`Other`](Self::Other)).
    pub fn extra(&self) -> &JsonObject {
        match self {
            Self::System { extra, .. }
            | Self::Developer { extra, .. }
            | Self::User { extra, .. }
            | Self::Assistant { extra, .. }
            | Self::Tool { extra, .. }
            | Self::Function { extra, .. }
            | Self::Other(extra) => extra,
        }
    }

    /// The role name as it appears on the wire (empty for an [`Other`](Self::Other) without
    /// a string `role`).
    pub fn role(&self) -> &str {
        match self {
            Self::System { .. } => "system",
            Self::Developer { .. } => "developer",
            Self::User { .. } => "user",
            Self::Assistant { .. } => "assistant",
            Self::Tool { .. } => "tool",
            Self::Function { .. } => "function",
            Self::Other(object) => object.get("role").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The role, typed; a role this crate does not know is [`Role::Other`].
    pub fn role_kind(&self) -> Role {
        Role::from(self.role())
    }

    /// The participant name, if the message has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::System { name, .. }
            | Self::Developer { name, .. }
            | Self::User { name, .. }
            | Self::Assistant { name, .. } => name.as_deref(),
            Self::Function { name, .. } => Some(name),
            Self::Tool { extra, .. } | Self::Other(extra) => {
                extra.get("name").and_then(Value::as_str)
            }
        }
    }

    /// The message's content, if it has any (a `function` message's text is in
    /// [`text`](Self::text)).
    pub fn content(&self) -> Option<&Content> {
        match self {
            Self::System { content, .. }
            | Self::Developer { content, .. }
            | Self::User { content, .. }
            | Self::Tool { content, .. } => Some(content),
            Self::Assistant { content, .. } => content.as_ref(),
            Self::Function { .. } | Self::Other(_) => None,
        }
    }

    /// All the message's text (see [`Content::text`]; an [`Other`](Self::Other)'s string
    /// `content`).
    pub fn text(&self) -> String {
        match self {
            Self::Function { content, .. } => content.clone().unwrap_or_default(),
            Self::Other(object) => object
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            other => other.content().map(Content::text).unwrap_or_default(),
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
                    ContentPart::Text { text, .. } => Some(text.as_str()),
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

/// One part of a multi-part user message; each keeps the keys this crate does not type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentPart {
    /// A text part.
    Text {
        /// The text.
        text: String,
        /// Keys this crate does not type.
        #[serde(flatten)]
        extra: JsonObject,
    },
    /// An image, by URL or `data:` URI (vision models).
    ImageUrl {
        /// The image reference.
        image_url: ImageUrl,
        /// Keys this crate does not type.
        #[serde(flatten)]
        extra: JsonObject,
    },
    /// A JSON document the model may cite.
    Document {
        /// The document.
        document: DocumentPart,
        /// Keys this crate does not type.
        #[serde(flatten)]
        extra: JsonObject,
    },
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            extra: JsonObject::new(),
        }
    }

    /// An image part from a URL or `data:` URI.
    pub fn image_url(url: impl Into<String>) -> Self {
        Self::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
                extra: JsonObject::new(),
            },
            extra: JsonObject::new(),
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
    /// Keys this crate does not type.
    #[serde(flatten)]
    pub extra: JsonObject,
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
    /// Keys this crate does not type.
    #[serde(flatten)]
    pub extra: JsonObject,
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

open_enum! {
    /// The type of a tool.
    pub enum ToolType {
        /// A function the caller runs.
        Function = "function",
        /// Groq's built-in web browsing.
        BrowserSearch = "browser_search",
        /// Groq's built-in code execution.
        CodeInterpreter = "code_interpreter",
        /// A remote MCP server.
        Mcp = "mcp",
    }
}

/// A tool the model may call: a function (with its definition) or a built-in tool such as
/// `{"type": "browser_search"}` (no `function`). Keys this crate does not type are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tool {
    /// `function`, or a built-in tool's type.
    #[serde(rename = "type")]
    pub kind: ToolType,
    /// The function's name, description and parameter schema (function tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDefinition>,
    /// Keys this crate does not type.
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl Tool {
    /// A function tool with a JSON Schema for its parameters.
    ///
    /// The schema keeps its key order (this crate turns on serde_json's `preserve_order`, so
    /// `json!` and parsed values keep the order written): the order of a schema's properties
    /// steers the order in which a model writes them. Integers beyond 64 bits and the exact
    /// spelling of numbers survive only as JSON text: give such tools with
    /// `request.set_raw("tools", raw)` or in a body read with [`ChatRequest::from_slice`].
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Self {
        Self {
            kind: ToolType::Function,
            function: Some(FunctionDefinition {
                name: name.into(),
                description: Some(description.into()),
                parameters: Some(parameters),
                strict: None,
                extra: JsonObject::new(),
            }),
            extra: JsonObject::new(),
        }
    }

    /// A built-in tool of type `kind`, e.g. `browser_search`.
    pub fn built_in(kind: impl Into<String>) -> Self {
        Self {
            kind: ToolType::from(kind.into().as_str()),
            function: None,
            extra: JsonObject::new(),
        }
    }

    /// The function's name, for a function tool.
    pub fn function_name(&self) -> Option<&str> {
        self.function.as_ref().map(|f| f.name.as_str())
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
    /// Keys this crate does not type.
    #[serde(flatten)]
    pub extra: JsonObject,
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
    /// Keys this crate does not type.
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl JsonSchemaFormat {
    /// A schema named `name`. Like [`Tool::function`], the schema keeps its key order; give
    /// `response_format` as JSON text with [`ChatRequest::set_raw`] to keep number spelling
    /// and integers beyond 64 bits as well.
    pub fn new(name: impl Into<String>, schema: Value) -> Self {
        Self {
            name: name.into(),
            description: None,
            schema: Some(schema),
            strict: None,
            extra: JsonObject::new(),
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

open_enum! {
    /// The service tier a request runs on (request and reply).
    pub enum ServiceTier {
        /// The highest tier available within the organization's limits.
        Auto = "auto",
        /// The standard tier.
        OnDemand = "on_demand",
        /// Fails fast with 498 when capacity is short.
        Flex = "flex",
        /// The performance tier.
        Performance = "performance",
    }
}

/// Whether answers cite their sources (`citation_options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CitationOptions {
    /// Citations on (the default).
    Enabled,
    /// Citations off.
    Disabled,
}

/// Streaming options (`stream_options`); keys this crate does not type are kept.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Put a top-level `usage` in the last chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Keys this crate does not type.
    #[serde(flatten)]
    pub extra: JsonObject,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(request: &ChatRequest) -> String {
        String::from_utf8(request.to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn absent_options_are_omitted() {
        let request = ChatRequest::new("m").user("hi");
        assert_eq!(
            text(&request),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#
        );
    }

    #[test]
    fn setters_write_in_place_and_extra_never_duplicates() {
        let request = ChatRequest::new("m")
            .user("hi")
            .temperature(0.5)
            .extra("temperature", json!(0.7))
            .extra("custom", json!({"z": 1, "a": 2}))
            .temperature(0.9);
        assert_eq!(
            text(&request),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.9,"custom":{"z":1,"a":2}}"#
        );
        assert_eq!(request.params().temperature, Some(0.9));
    }

    #[test]
    fn extra_model_sets_the_model() {
        let request = ChatRequest::new("a").user("hi").extra("model", json!("b"));
        assert_eq!(request.model(), "b");
        assert_eq!(
            text(&request),
            r#"{"model":"b","messages":[{"role":"user","content":"hi"}]}"#
        );
        let bad = ChatRequest::new("a").user("hi").extra("model", json!(3));
        assert_eq!(bad.validate().unwrap_err().field(), "model");
        assert_eq!(bad.model(), "a");
    }

    #[test]
    fn a_typed_key_of_the_wrong_type_is_refused_by_name() {
        let request = ChatRequest::new("m")
            .user("hi")
            .extra("max_completion_tokens", json!("many"));
        let err = request.validate().unwrap_err();
        assert_eq!(err.field(), "max_completion_tokens");
    }

    #[test]
    fn bytes_are_kept_until_a_change() {
        let body =
            br#"{ "messages": [{"role":"user","content":"hi","name":"ann","x":{"b":1,"a":2}}],
            "model": "m", "seed": 123456789012345678901234567890 }"#;
        let mut request = ChatRequest::from_slice(body).unwrap();
        assert!(request.is_original());
        assert_eq!(&request.to_bytes()[..], &body[..]);
        assert_eq!(request.message_list()[0].name(), Some("ann"));
        request.prepare_for(false);
        assert_eq!(&request.to_bytes()[..], &body[..], "nothing to change");
        request.prepare_for(true);
        assert_eq!(
            text(&request),
            r#"{"messages":[{"role":"user","content":"hi","name":"ann","x":{"b":1,"a":2}}],"model":"m","seed":123456789012345678901234567890,"stream":true}"#
        );
        request.prepare_for(false);
        assert!(!text(&request).contains("stream"));
    }

    #[test]
    fn typed_tools_and_schemas_keep_their_key_order() {
        let schema = json!({"type": "object", "properties": {"zeta": {}, "alpha": {}}});
        let request = ChatRequest::new("m")
            .user("hi")
            .tool(Tool::function("f", "d", schema.clone()))
            .json_schema(JsonSchemaFormat::new("s", schema));
        let text = text(&request);
        let zeta = text.find("zeta").unwrap();
        let alpha = text.find("alpha").unwrap();
        assert!(zeta < alpha, "{text}");
        assert!(
            text.rfind("zeta").unwrap() < text.rfind("alpha").unwrap(),
            "{text}"
        );
        request.validate().unwrap();
    }

    #[test]
    fn a_request_reads_from_a_value_too() {
        let request: ChatRequest = serde_json::from_value(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap();
        assert_eq!(request.model(), "m");
        assert_eq!(request.message_list().len(), 1);
        assert!(!request.is_original());
    }

    #[test]
    fn bad_bodies_name_what_is_wrong() {
        let err = ChatRequest::from_slice(b"[1]").unwrap_err();
        assert_eq!(err.field(), "body");
        let err = ChatRequest::from_slice(br#"{"messages":[]}"#).unwrap_err();
        assert_eq!(err.field(), "model");
        let err = ChatRequest::from_slice(br#"{"model":"m","model":"n"}"#).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn built_in_tools_and_the_function_role_are_accepted() {
        let body = br#"{"model":"m","messages":[{"role":"function","name":"f","content":"4"}],
            "tools":[{"type":"browser_search"},{"type":"code_interpreter"},{"type":"function","function":{"name":"f","x":1}}]}"#;
        let request = ChatRequest::from_slice(body).unwrap();
        request.validate().unwrap();
        let tools = request.params().tools.unwrap();
        assert_eq!(tools[0].kind, ToolType::BrowserSearch);
        assert_eq!(tools[2].function_name(), Some("f"));
        assert_eq!(request.message_list()[0].role(), "function");
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
            (base.clone().n(2), "n"),
            (ChatRequest::new(" ").user("x"), "model"),
            (ChatRequest::new("m"), "messages"),
        ];
        for (request, field) in cases {
            let err = request.validate().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().contains(field));
        }
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

    #[test]
    fn typed_messages_keep_name_and_unknown_keys() {
        let message = Message::user("hi")
            .with_name("ann")
            .with_extra("x", json!(1));
        let request = ChatRequest::new("m").message(message);
        assert_eq!(
            text(&request),
            r#"{"model":"m","messages":[{"role":"user","content":"hi","name":"ann","x":1}]}"#
        );
        assert_eq!(request.message_list()[0].extra()["x"], json!(1));
    }

    #[test]
    fn unknown_roles_are_kept_whole() {
        let body = br#"{"model":"m","messages":[{"role":"critic","content":"no","cx":1}]}"#;
        let request = ChatRequest::from_slice(body).unwrap();
        request.validate().unwrap();
        let message = &request.message_list()[0];
        assert_eq!(message.role(), "critic");
        assert_eq!(message.role_kind(), Role::Other("critic".into()));
        assert_eq!(message.text(), "no");
        assert_eq!(
            serde_json::to_value(message).unwrap(),
            json!({"role": "critic", "content": "no", "cx": 1})
        );
        assert_eq!(Message::user("x").role_kind(), Role::User);
    }

    #[test]
    fn unknown_service_tiers_are_kept() {
        let tier: ServiceTier = serde_json::from_str("\"turbo\"").unwrap();
        assert_eq!(tier, ServiceTier::Other("turbo".into()));
        assert_eq!(serde_json::to_string(&tier).unwrap(), "\"turbo\"");
    }
}
