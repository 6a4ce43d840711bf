//! The HTTP side: routing, validation, replies, error envelopes, SSE bodies.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use groq_types::{
    ApiError, ChatCompletionChunk, ChatParams, ChatRequest, ChunkChoice, CompletionTokensDetails,
    Delta, ErrorEnvelope, FinishReason, FunctionCallDelta, Model, ModelList, PromptTokensDetails,
    ToolCall, ToolCallDelta, Usage,
};
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde_json::Value;
use tokio::time::{Instant, Sleep};

use crate::audio;
use crate::bucket::go_duration;
use crate::cache;
use crate::engine::{Admission, Engine, RateView, Units};
use crate::faults::FaultPlan;
use crate::responses;
use crate::store;
use crate::tokens::{
    count_params_tokens, forced_tool, fragments, json_reply, reply_pieces, request_marker,
    text_tokens, tool_arguments,
};

/// The largest request body accepted: 1 MiB.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The path prefix of the API.
pub(crate) const API_PREFIX: &str = "/openai/v1";

/// Top-level properties of a chat request the emulator accepts: those of Groq's
/// `CreateChatCompletionRequest` (less the rejected log-probability options), `n`,
/// `stream_options`, and the emulator's `mock_completion_tokens` extension.
const ALLOWED_PROPERTIES: [&str; 34] = [
    "messages",
    "model",
    "disable_tool_validation",
    "frequency_penalty",
    "include_reasoning",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "response_format",
    "seed",
    "service_tier",
    "stop",
    "reasoning_effort",
    "reasoning_format",
    "stream",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "function_call",
    "functions",
    "metadata",
    "store",
    "include_domains",
    "exclude_domains",
    "search_settings",
    "compound_custom",
    "documents",
    "citation_options",
    "n",
    "stream_options",
    "mock_completion_tokens",
];

/// Properties Groq documents but rejects.
const REJECTED_PROPERTIES: [&str; 3] = ["logprobs", "logit_bias", "top_logprobs"];

/// The message roles Groq accepts.
const KNOWN_ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

pub(crate) const INVALID_REQUEST: &str = "invalid_request_error";
pub(crate) const UPGRADE_HINT: &str =
    "Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing";

/// The connection is to be closed without a response (an injected fault).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub(crate) struct DroppedConnection;

/// A response body: a complete buffer, or a sequence of SSE events, `interval` apart, that
/// settles the token refund when it ends or is dropped.
#[derive(Debug)]
pub(crate) enum MockBody {
    Full(Option<Bytes>),
    Events {
        events: VecDeque<Bytes>,
        settle: Option<Settlement>,
        interval: Duration,
        delay: Option<Pin<Box<Sleep>>>,
    },
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Events {
                events,
                settle,
                interval,
                delay,
            } => {
                if let Some(sleep) = delay {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *delay = None;
                }
                match events.pop_front() {
                    Some(event) => {
                        if !interval.is_zero() && !events.is_empty() {
                            *delay = Some(Box::pin(tokio::time::sleep(*interval)));
                        }
                        Poll::Ready(Some(Ok(Frame::data(event))))
                    }
                    None => {
                        settle.take();
                        Poll::Ready(None)
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Events { events, .. } => events.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Events { .. } => SizeHint::default(),
        }
    }
}

/// Refunds a request's unused completion budget and its cached prompt tokens when dropped
/// (once the request has been processed).
pub(crate) struct Settlement {
    engine: Arc<Engine>,
    key: String,
    model: String,
    tokens: u64,
    cached: u64,
}

impl std::fmt::Debug for Settlement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settlement")
            .field("model", &self.model)
            .field("tokens", &self.tokens)
            .field("cached", &self.cached)
            .finish_non_exhaustive()
    }
}

impl Settlement {
    /// What a processed request gives back: its `unused` completion budget (tokens and output
    /// tokens) and its `cached` prompt tokens (tokens and input tokens).
    pub(crate) fn refund(unused: u64, cached: u64) -> Units {
        Units {
            tokens: unused + cached,
            input: cached,
            output: unused,
            audio: 0,
        }
    }
}

impl Drop for Settlement {
    fn drop(&mut self) {
        if self.tokens > 0 || self.cached > 0 {
            let units = Self::refund(self.tokens, self.cached);
            self.engine.give_back(&self.key, &self.model, &units);
        }
    }
}

pub(crate) type Reply = Response<MockBody>;

/// Serves one request.
pub(crate) async fn handle<B>(
    engine: Arc<Engine>,
    request: Request<B>,
) -> Result<Reply, DroppedConnection>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = request.uri().path().to_owned();
    if path == "/_mock/stats" && request.method() == Method::GET {
        return Ok(json(StatusCode::OK, &engine.stats()));
    }
    let request_id = format!("req_{}", engine.next_id());
    let result = route(&engine, request, &path, &request_id).await;
    match result {
        Ok(mut reply) => {
            engine.record_status(reply.status().as_u16());
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                reply.headers_mut().insert(X_REQUEST_ID, value);
            }
            Ok(reply)
        }
        Err(dropped) => {
            engine.record_drop();
            Err(dropped)
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

async fn route<B>(
    engine: &Arc<Engine>,
    request: Request<B>,
    path: &str,
    request_id: &str,
) -> Result<Reply, DroppedConnection>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let method = request.method().clone();
    let unknown_url = || {
        error(
            StatusCode::NOT_FOUND,
            format!(
                "Unknown request URL: {method} {path}. Please check the URL for typos, or see the docs at https://console.groq.com/docs/"
            ),
            INVALID_REQUEST,
            Some("unknown_url"),
        )
    };
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return Ok(unknown_url());
    };
    let Some(key) = bearer(request.headers()).filter(|key| engine.authorized(key)) else {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "Invalid API Key",
            INVALID_REQUEST,
            Some("invalid_api_key"),
        ));
    };
    let key = key.to_owned();
    match (&method, rest) {
        (&Method::POST, "/chat/completions") => chat(engine, request, &key, request_id).await,
        (&Method::POST, "/responses") => Ok(match read_body(request).await {
            Ok(body) => responses::handle(engine, &key, &body, request_id),
            Err(reply) => reply,
        }),
        (&Method::POST, "/audio/transcriptions" | "/audio/translations" | "/audio/speech") => {
            Ok(audio::handle(engine, request, &key, rest, request_id).await)
        }
        (&Method::GET, "/models") => Ok(models(engine)),
        (&Method::GET, id) if id.starts_with("/models/") => {
            Ok(model(engine, &id["/models/".len()..]))
        }
        _ => match store::route(engine, request, &key, rest, request_id).await {
            Some(reply) => Ok(reply),
            None => Ok(unknown_url()),
        },
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn model_entry(engine: &Engine, id: &str, limits: &crate::MockLimits) -> Model {
    let mut model = Model::new(id);
    model.created = Some(engine.started_unix());
    model.owned_by = Some(owner(id).to_owned());
    model.active = Some(true);
    model.context_window = limits.context_window;
    model.public_apps = Some(Value::Null);
    model
}

fn owner(id: &str) -> &'static str {
    match id.split_once('/').map(|(org, _)| org) {
        Some("openai") => "OpenAI",
        Some("qwen") => "Alibaba Cloud",
        Some("groq") => "Groq",
        Some("meta-llama") => "Meta",
        _ if id.starts_with("llama") => "Meta",
        _ => "Groq",
    }
}

fn models(engine: &Engine) -> Reply {
    let list = ModelList::new(
        engine
            .models()
            .iter()
            .map(|(id, limits)| model_entry(engine, id, limits))
            .collect(),
    );
    json(StatusCode::OK, &list)
}

fn model(engine: &Engine, id: &str) -> Reply {
    match engine.model(id) {
        Some(limits) => json(StatusCode::OK, &model_entry(engine, id, &limits)),
        None => model_not_found(id),
    }
}

pub(crate) fn model_not_found(id: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        format!("The model `{id}` does not exist or you do not have access to it."),
        INVALID_REQUEST,
        Some("model_not_found"),
    )
}

/// Reads the body, enforcing the 1 MiB limit.
async fn read_body<B>(request: Request<B>) -> Result<Bytes, Reply>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    read_limited(
        request,
        MAX_BODY_BYTES,
        &format!(
            "Request body too large: the limit is {MAX_BODY_BYTES} bytes. Please reduce the size of your request."
        ),
    )
    .await
}

/// Reads a body of at most `limit` bytes. A larger one, declared in `content-length` or found
/// while reading, is a 413 `request_too_large` saying `too_large`; a body that breaks off is
/// a 400.
pub(crate) async fn read_limited<B>(
    request: Request<B>,
    limit: usize,
    too_large: &str,
) -> Result<Bytes, Reply>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            too_large,
            INVALID_REQUEST,
            Some("request_too_large"),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(invalid(
            "The request body could not be read completely. Please retry the request.",
            None,
        )),
    }
}

pub(crate) fn invalid(message: impl Into<String>, param: Option<&str>) -> Reply {
    error_reply(StatusCode::BAD_REQUEST, invalid_error(message, param))
}

fn invalid_error(message: impl Into<String>, param: Option<&str>) -> ApiError {
    let mut api_error = ApiError::new(message, INVALID_REQUEST, None);
    api_error.param = param.map(str::to_owned);
    api_error
}

/// Checks the raw JSON for properties Groq rejects.
fn check_properties(value: &Value) -> Result<(), ApiError> {
    let Some(object) = value.as_object() else {
        return Err(invalid_error(
            "The request body must be a JSON object.",
            None,
        ));
    };
    for key in object.keys() {
        if REJECTED_PROPERTIES.contains(&key.as_str())
            || !ALLOWED_PROPERTIES.contains(&key.as_str())
        {
            return Err(invalid_error(
                format!("property '{key}' is unsupported"),
                Some(key),
            ));
        }
    }
    if let Some(messages) = object.get("messages").and_then(Value::as_array) {
        for (index, message) in messages.iter().enumerate() {
            let role = message
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !KNOWN_ROLES.contains(&role) {
                return Err(invalid_error(
                    format!(
                        "'messages.{index}.role' : value '{role}' is not one of {}",
                        KNOWN_ROLES.join(", ")
                    ),
                    Some(&format!("messages.{index}.role")),
                ));
            }
            if message.get("name").is_some() {
                return Err(invalid_error(
                    format!("'messages.{index}' : property 'name' is unsupported"),
                    Some(&format!("messages.{index}.name")),
                ));
            }
        }
    }
    Ok(())
}

/// The parsed, validated parts of a chat request.
struct Parsed {
    request: ChatRequest,
    /// The request's typed view, read once.
    params: ChatParams,
    mock_tokens: Option<u64>,
}

fn parse_chat(body: &[u8]) -> Result<Parsed, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        invalid_error(
            format!("We could not parse the JSON body of your request ({err}). The API expects a JSON payload."),
            None,
        )
    })?;
    check_properties(&value)?;
    let mut request = ChatRequest::from_slice(body)
        .map_err(|err| invalid_error(format!("Invalid request: {err}."), None))?;
    request.validate().map_err(|err| {
        invalid_error(
            format!("'{}' : {}", err.field(), err.reason()),
            Some(err.field()),
        )
    })?;
    let mock_tokens = match request.remove("mock_completion_tokens") {
        None => None,
        Some(raw) => Some(serde_json::from_str::<u64>(raw.get()).map_err(|_| {
            invalid_error(
                "'mock_completion_tokens' must be a non-negative integer",
                Some("mock_completion_tokens"),
            )
        })?),
    };
    let params = request.params();
    Ok(Parsed {
        request,
        params,
        mock_tokens,
    })
}

pub(crate) async fn chat<B>(
    engine: &Arc<Engine>,
    request: Request<B>,
    key: &str,
    request_id: &str,
) -> Result<Reply, DroppedConnection>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(reply) => return Ok(reply),
    };
    engine.capture_body(&body);
    let Parsed {
        request,
        params,
        mock_tokens,
    } = match parse_chat(&body) {
        Ok(parsed) => parsed,
        Err(api_error) => return Ok(error_reply(StatusCode::BAD_REQUEST, api_error)),
    };
    let model_id = request.model().to_owned();
    let Some(limits) = engine.model(&model_id) else {
        return Ok(model_not_found(&model_id));
    };
    let prompt_tokens = count_params_tokens(&params);
    let budget = request
        .completion_budget()
        .map_or(engine.default_budget, u64::from);
    let cost = prompt_tokens + budget;
    if let Some(window) = limits.context_window
        && cost > u64::from(window)
    {
        let mut api_error = ApiError::new(
            format!(
                "Please reduce the length of the messages or completion. This model's maximum context length is {window} tokens. However, you requested {cost} tokens ({prompt_tokens} in the messages, {budget} in the completion)."
            ),
            INVALID_REQUEST,
            Some("context_length_exceeded"),
        );
        api_error.param = Some("messages".to_owned());
        let mut reply = error_reply(StatusCode::BAD_REQUEST, api_error);
        rate_headers(reply.headers_mut(), &engine.view(key, &model_id));
        return Ok(reply);
    }

    let plan = engine.draw_faults();
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if plan.drop {
        return Err(DroppedConnection);
    }
    if let Some(status) = plan.fail {
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "Service Unavailable: the model is over capacity. Please try again later."
        } else {
            "Internal Server Error: an unexpected error occurred. Please try again later."
        };
        let code = if status == StatusCode::SERVICE_UNAVAILABLE {
            "service_unavailable"
        } else {
            "internal_server_error"
        };
        let mut reply = error(status, message, "internal_server_error", Some(code));
        rate_headers(reply.headers_mut(), &engine.view(key, &model_id));
        return Ok(reply);
    }

    let stream = request.is_stream();
    // Injected faults are checked against the limits but charge nothing.
    let faulted = (plan.malformed && !stream) || (plan.stream_error && stream);
    let units = Units::chat(prompt_tokens, budget);
    let view = match admit(engine, key, &model_id, &units, !faulted) {
        Ok(view) => view,
        Err(reply) => return Ok(reply),
    };

    let mut answer = Answer::new(
        engine,
        &params,
        mock_tokens,
        budget,
        prompt_tokens,
        request_id,
        plan,
    );
    let unused = budget - answer.completion_tokens;
    if plan.malformed && !stream {
        let full = serde_json::to_vec(&answer.completion()).unwrap_or_default();
        let truncated = Bytes::copy_from_slice(&full[..full.len() / 2]);
        let mut reply = bytes_reply(StatusCode::OK, "application/json", truncated);
        rate_headers(reply.headers_mut(), &view);
        return Ok(reply);
    }
    if plan.stream_error && stream {
        let mut reply = sse_reply(answer.broken_events(), None, engine.stream_interval);
        rate_headers(reply.headers_mut(), &view);
        return Ok(reply);
    }
    let prefixes = cache::prefixes(&params);
    let cached = engine
        .cached_prefix(key, &model_id, &prefixes.hashes, &prefixes.tokens)
        .min(prompt_tokens);
    if cached > 0 {
        let mut details = PromptTokensDetails::default();
        details.cached_tokens = cached;
        answer.usage.prompt_tokens_details = Some(details);
    }
    engine.audit(
        &model_id,
        prompt_tokens,
        answer.completion_tokens,
        stream,
        request_marker(&params),
    );
    let settlement = Settlement {
        engine: Arc::clone(engine),
        key: key.to_owned(),
        model: model_id,
        tokens: unused,
        cached,
    };
    let mut reply = if stream {
        let include_usage = params
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        sse_reply(
            answer.events(include_usage),
            Some(settlement),
            engine.stream_interval,
        )
    } else {
        let reply = json(StatusCode::OK, &answer.completion());
        drop(settlement);
        reply
    };
    rate_headers(reply.headers_mut(), &view);
    Ok(reply)
}

/// The deterministic answer to an admitted request.
struct Answer {
    completion_id: String,
    request_id: String,
    model: String,
    created: u64,
    pieces: Vec<String>,
    tool_call: Option<ToolCall>,
    finish_reason: FinishReason,
    completion_tokens: u64,
    usage: Usage,
    /// The request's seed, echoed in `x_groq.seed` (the emulator's own when none was given).
    seed: i64,
}

impl Answer {
    fn new(
        engine: &Engine,
        request: &ChatParams,
        mock_tokens: Option<u64>,
        budget: u64,
        prompt_tokens: u64,
        request_id: &str,
        plan: FaultPlan,
    ) -> Self {
        let completion_id = format!("chatcmpl-{}", engine.next_id());
        let (pieces, tool_call, finish_reason, completion_tokens) = match forced_tool(request) {
            Some(tool) => {
                let arguments = tool_arguments(tool);
                let name = tool.function_name().unwrap_or_default();
                let tokens = (text_tokens(name) + text_tokens(&arguments)).min(budget);
                let call = ToolCall::new(format!("call_{}", engine.next_id()), name, arguments);
                (Vec::new(), Some(call), FinishReason::ToolCalls, tokens)
            }
            None => {
                let wanted = mock_tokens.unwrap_or(engine.completion_tokens);
                let tokens = wanted.min(budget);
                let reason = if wanted > budget {
                    FinishReason::Length
                } else {
                    FinishReason::Stop
                };
                let pieces = reply_pieces(tokens);
                // JSON mode: the same words, wrapped in the JSON the request asks for.
                let pieces = match json_reply(request, &pieces.concat()) {
                    Some(json) => fragments(&json, 8),
                    None => pieces,
                };
                (pieces, None, reason, tokens)
            }
        };
        let prompt_time = prompt_tokens as f64 / 20_000.0;
        let completion_time = completion_tokens as f64 / 800.0;
        let mut usage = Usage::new(prompt_tokens, completion_tokens);
        usage.queue_time = Some(0.000_1 + plan.latency.as_secs_f64());
        usage.prompt_time = Some(prompt_time);
        usage.completion_time = Some(completion_time);
        usage.total_time = Some(prompt_time + completion_time);
        usage.prompt_tokens_details = Some(PromptTokensDetails::default());
        usage.completion_tokens_details = Some(CompletionTokensDetails::default());
        Self {
            completion_id,
            request_id: request_id.to_owned(),
            model: request.model.clone(),
            seed: request
                .seed
                .unwrap_or_else(|| i64::try_from(engine.unix_now()).unwrap_or_default()),
            created: engine.unix_now(),
            pieces,
            tool_call,
            finish_reason,
            completion_tokens,
            usage,
        }
    }

    /// The reply in the full shape of Groq's `CreateChatCompletionResponse`: every optional
    /// field present (`null` where Groq sends `null`), the non-streaming `x_groq` with its
    /// seed and cached-token usage.
    fn completion(&self) -> Value {
        let mut message = serde_json::json!({
            "role": "assistant",
            "content": if self.tool_call.is_none() { Value::String(self.pieces.concat()) } else { Value::Null },
        });
        if let Some(call) = &self.tool_call {
            message["tool_calls"] = serde_json::json!([call]);
        }
        serde_json::json!({
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": self.finish_reason,
            }],
            "usage": self.usage,
            "usage_breakdown": null,
            "mcp_list_tools": null,
            "system_fingerprint": "fp_mock",
            "service_tier": "on_demand",
            "x_groq": {
                "id": self.request_id,
                "seed": self.seed,
                "usage": {"sram_cached_tokens": 0, "dram_cached_tokens": 0},
            },
        })
    }

    /// A chunk in the full shape of `CreateChatCompletionStreamResponse`: each choice with
    /// its `logprobs` and `finish_reason` (`null` until the last chunk), the service tier.
    fn chunk_value(chunk: &ChatCompletionChunk) -> Value {
        let mut value = serde_json::to_value(chunk).unwrap_or(Value::Null);
        if let Some(choices) = value.get_mut("choices").and_then(Value::as_array_mut) {
            for choice in choices.iter_mut().filter_map(Value::as_object_mut) {
                choice.entry("logprobs").or_insert(Value::Null);
                choice.entry("finish_reason").or_insert(Value::Null);
            }
        }
        if let Some(object) = value.as_object_mut() {
            object.insert("service_tier".to_owned(), "on_demand".into());
        }
        value
    }

    fn chunk(&self, delta: Delta) -> ChatCompletionChunk {
        let mut chunk = ChatCompletionChunk::new(&self.completion_id, &self.model, self.created);
        chunk.system_fingerprint = Some("fp_mock".to_owned());
        chunk.choices = vec![ChunkChoice::new(delta)];
        chunk
    }

    fn first_chunk(&self) -> Value {
        let mut delta = Delta::role("assistant");
        delta.content = Some(String::new());
        let mut chunk = Self::chunk_value(&self.chunk(delta));
        chunk["x_groq"] = serde_json::json!({"id": self.request_id});
        chunk
    }

    /// The events of a complete stream: role, content (or the tool call), the final chunk
    /// with `finish_reason` and `x_groq.usage`, then `[DONE]`.
    fn events(&self, include_usage: bool) -> VecDeque<Bytes> {
        let mut chunks = vec![self.first_chunk()];
        let piece = |delta| Self::chunk_value(&self.chunk(delta));
        if let Some(call) = &self.tool_call {
            let mut function = FunctionCallDelta::default();
            function.name = Some(call.function.name.clone());
            function.arguments = Some(call.function.arguments.clone());
            let mut fragment = ToolCallDelta::default();
            fragment.id = Some(call.id.clone());
            fragment.kind = Some("function".to_owned());
            fragment.function = Some(function);
            let mut delta = Delta::default();
            delta.tool_calls = Some(vec![fragment]);
            chunks.push(piece(delta));
        }
        chunks.extend(self.pieces.iter().map(|text| piece(Delta::content(text))));
        let mut last = self.chunk(Delta::default());
        if let Some(choice) = last.choices.first_mut() {
            choice.finish_reason = Some(self.finish_reason.clone());
        }
        let mut last = Self::chunk_value(&last);
        last["x_groq"] = serde_json::json!({
            "id": self.request_id,
            "seed": self.seed,
            "usage": self.usage,
        });
        if include_usage {
            last["usage"] = serde_json::json!(self.usage);
        }
        chunks.push(last);
        let mut events: VecDeque<Bytes> = chunks.iter().map(sse_event).collect();
        events.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        events
    }

    /// A stream broken by an error: role, one content chunk, then an `error` event.
    fn broken_events(&self) -> VecDeque<Bytes> {
        let mut events = VecDeque::new();
        events.push_back(sse_event(&self.first_chunk()));
        if let Some(piece) = self.pieces.first() {
            events.push_back(sse_event(&Self::chunk_value(
                &self.chunk(Delta::content(piece)),
            )));
        }
        let envelope = ErrorEnvelope::new(ApiError::new(
            "Internal Server Error: the stream was interrupted. Please try again later.",
            "internal_server_error",
            Some("stream_interrupted"),
        ));
        events.push_back(sse_event(&envelope));
        events
    }
}

/// Admits `units` of `key` on `model`, charging them unless `charge` is false (an injected
/// fault is checked against the limits but costs nothing): the rate view after charging, or
/// Groq's refusal with the rate headers, a 413 when the cost exceeds a bucket's capacity and
/// a 429 with `retry-after` (whole seconds, rounded up) when it does not fit now. Shared by
/// chat completions, responses and audio.
#[expect(
    clippy::result_large_err,
    reason = "the refusal is the reply itself, handed straight back to the caller"
)]
pub(crate) fn admit(
    engine: &Engine,
    key: &str,
    model: &str,
    units: &Units,
    charge: bool,
) -> Result<RateView, Reply> {
    match engine.admit_with(key, model, units, Instant::now(), charge) {
        Admission::Admitted(view) => Ok(view),
        Admission::TooLarge {
            dimension,
            limit,
            requested,
        } => {
            let message = format!(
                "Request too large for model `{model}` in organization `{}` service tier `on_demand` on {}: Limit {limit}, Requested {requested}, please reduce your message size and try again. {UPGRADE_HINT}",
                engine.organization,
                dimension.describe(),
            );
            let mut reply = error(
                StatusCode::PAYLOAD_TOO_LARGE,
                message,
                dimension.kind(),
                Some("rate_limit_exceeded"),
            );
            rate_headers(reply.headers_mut(), &engine.view(key, model));
            Err(reply)
        }
        Admission::Limited {
            dimension,
            limit,
            used,
            requested,
            wait,
            view,
        } => {
            let message = format!(
                "Rate limit reached for model `{model}` in organization `{}` service tier `on_demand` on {}: Limit {limit}, Used {used}, Requested {requested}. Please try again in {}. {UPGRADE_HINT}",
                engine.organization,
                dimension.describe(),
                go_duration(wait),
            );
            let mut reply = error(
                StatusCode::TOO_MANY_REQUESTS,
                message,
                dimension.kind(),
                Some("rate_limit_exceeded"),
            );
            rate_headers(reply.headers_mut(), &view);
            let seconds = wait.as_nanos().div_ceil(1_000_000_000).max(1);
            reply
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds as u64));
            Err(reply)
        }
    }
}

fn sse_event<T: Serialize>(value: &T) -> Bytes {
    let mut event = b"data: ".to_vec();
    event.extend(serde_json::to_vec(value).unwrap_or_default());
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

pub(crate) fn sse_reply(
    events: VecDeque<Bytes>,
    settle: Option<Settlement>,
    interval: Duration,
) -> Reply {
    let mut reply = Response::new(MockBody::Events {
        events,
        settle,
        interval,
        delay: None,
    });
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    reply
}

pub(crate) fn bytes_reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut reply = Response::new(MockBody::Full(Some(body)));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    let body = serde_json::to_vec(value).unwrap_or_default();
    bytes_reply(status, "application/json", Bytes::from(body))
}

pub(crate) fn error(
    status: StatusCode,
    message: impl Into<String>,
    kind: &str,
    code: Option<&str>,
) -> Reply {
    error_reply(status, ApiError::new(message, kind, code))
}

pub(crate) fn error_reply(status: StatusCode, api_error: ApiError) -> Reply {
    json(status, &ErrorEnvelope::new(api_error))
}

/// Adds the `x-ratelimit-*` headers: requests per day and tokens per minute as Groq sends them,
/// and the audio and input/output token buckets in the same scheme
/// (`-audio-seconds`, `-audio-seconds-day`, `-input-tokens`, `-output-tokens`).
pub(crate) fn rate_headers(headers: &mut HeaderMap, view: &RateView) {
    const OTHERS: [[&str; 3]; 4] = [
        [
            "x-ratelimit-limit-audio-seconds",
            "x-ratelimit-remaining-audio-seconds",
            "x-ratelimit-reset-audio-seconds",
        ],
        [
            "x-ratelimit-limit-audio-seconds-day",
            "x-ratelimit-remaining-audio-seconds-day",
            "x-ratelimit-reset-audio-seconds-day",
        ],
        [
            "x-ratelimit-limit-input-tokens",
            "x-ratelimit-remaining-input-tokens",
            "x-ratelimit-reset-input-tokens",
        ],
        [
            "x-ratelimit-limit-output-tokens",
            "x-ratelimit-remaining-output-tokens",
            "x-ratelimit-reset-output-tokens",
        ],
    ];
    let sets = [
        (
            view.requests,
            [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ],
        ),
        (
            view.tokens,
            [
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
            ],
        ),
    ];
    let sets = sets.into_iter().chain(view.others.into_iter().zip(OTHERS));
    for (bucket, [limit, remaining, reset]) in sets {
        if let Some(bucket) = bucket {
            headers.insert(limit, HeaderValue::from(bucket.limit));
            headers.insert(remaining, HeaderValue::from(bucket.remaining));
            if let Ok(value) = HeaderValue::from_str(&go_duration(bucket.reset)) {
                headers.insert(reset, value);
            }
        }
    }
}
