//! Answering one HTTP request: routing, authentication, forwarding and errors.

// The refusals are ready responses, returned on cold paths only; boxing them would cost
// the hot path an allocation for nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use groq_client::{Error, Event, ForwardBody, ForwardError, ForwardRequest, GroqClient, Priority};
use groq_config::Config;
use groq_ratelimit::Dimension;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;
use tokio::time::Instant;

use crate::body::{GatewayBody, StreamEnd};
use crate::metrics::Metrics;
use crate::settings::{GatewaySettings, fingerprint};

/// The priority header.
pub const PRIORITY_HEADER: &str = "x-groqchat-priority";
/// The queue deadline header (seconds).
pub const DEADLINE_HEADER: &str = "x-groqchat-deadline";

/// The error `type` of the gateway's own failures.
const GATEWAY_ERROR: &str = "groqchat_gateway_error";

/// At most this many pass-through keys get a pipeline of their own.
const MAX_PASS_THROUGH: usize = 256;

/// Headers never passed back from upstream: hop-by-hop ones, and the length hyper sets.
const DROPPED: [&str; 8] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// The state every request shares.
pub(crate) struct Shared {
    pub(crate) client: GroqClient,
    pub(crate) settings: GatewaySettings,
    pub(crate) metrics: Arc<Metrics>,
    /// Pass-through pipelines, by key fingerprint.
    pass_through: Mutex<HashMap<String, GroqClient>>,
    /// Builds a pass-through pipeline for a client's own key.
    config: Arc<Config>,
    pass_through_builder: Option<PassThroughBuilder>,
    serial: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("client", &self.client)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Builds the pipeline of a pass-through key from the gateway's configuration.
pub(crate) type PassThroughBuilder =
    Arc<dyn Fn(Config, &str) -> Result<GroqClient, Error> + Send + Sync>;

impl Shared {
    pub(crate) fn new(
        client: GroqClient,
        settings: GatewaySettings,
        pass_through_builder: Option<PassThroughBuilder>,
    ) -> Arc<Self> {
        let metrics = Arc::new(Metrics::default());
        watch_rate_limits(&client, &metrics);
        Arc::new(Self {
            config: client.config(),
            client,
            settings,
            metrics,
            pass_through: Mutex::new(HashMap::new()),
            pass_through_builder,
            serial: AtomicU64::new(0),
        })
    }

    /// Every pipeline: the gateway's own, then the pass-through ones.
    pub(crate) fn clients(&self) -> Vec<GroqClient> {
        let mut all = vec![self.client.clone()];
        all.extend(
            self.pass_through
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned(),
        );
        all
    }

    /// The pipeline for a pass-through key, made on first use.
    fn pass_through_client(&self, key: &str) -> Result<GroqClient, Response<GatewayBody>> {
        let fingerprint = fingerprint(key);
        let mut clients = self
            .pass_through
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&fingerprint) {
            return Ok(client.clone());
        }
        if clients.len() >= MAX_PASS_THROUGH {
            return Err(gateway_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "pass_through_full",
                format!(
                    "the gateway paces at most {MAX_PASS_THROUGH} pass-through keys at once; \
                     use a gateway key or another gateway"
                ),
            ));
        }
        let builder = self.pass_through_builder.as_ref().ok_or_else(|| {
            gateway_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "gateway_misconfigured",
                "pass-through mode is on but the gateway cannot build pipelines",
            )
        })?;
        let client = builder((*self.config).clone(), key).map_err(|e| {
            gateway_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "gateway_misconfigured",
                format!("cannot pace this key: {e}"),
            )
        })?;
        watch_rate_limits(&client, &self.metrics);
        tracing::info!(target: "groq_gateway::access", fingerprint = %fingerprint, "pass-through key paced");
        clients.insert(fingerprint, client.clone());
        Ok(client)
    }
}

/// Counts the 429s `client` receives upstream.
fn watch_rate_limits(client: &GroqClient, metrics: &Arc<Metrics>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let mut events = client.events();
    let metrics = Arc::clone(metrics);
    handle.spawn(async move {
        loop {
            match events.recv().await {
                Ok(Event::RateLimited { model, .. }) => metrics.rate_limited(&model),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// Answers one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<GatewayBody> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = format!("gw-{}", shared.serial.fetch_add(1, Ordering::Relaxed));
    let route = route(&method, &path);
    let response = match route {
        Route::Health => json_response(StatusCode::OK, json!({"status": "ok"})),
        Route::Metrics => {
            let text = shared.metrics.render(&shared.clients());
            let mut response = Response::new(GatewayBody::full(text));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        Route::Chat | Route::Models(_) => match authenticate(&shared, request.headers()) {
            Err(response) => {
                shared.metrics.refused("invalid_api_key");
                response
            }
            Ok(client) => match route {
                Route::Chat => {
                    return chat(&shared, client, request, &request_id, peer, started).await;
                }
                Route::Models(rest) => models(&client, rest).await,
                _ => unreachable_route(),
            },
        },
        Route::Unknown => gateway_error(
            StatusCode::NOT_FOUND,
            "unknown_url",
            format!(
                "Unknown request URL: {method} {path}. The gateway serves \
                 /openai/v1/chat/completions and /openai/v1/models (also under /v1), \
                 /healthz and /metrics."
            ),
        ),
    };
    access_log(&request_id, &method, &path, peer, &response, None, started);
    response
}

/// What a path asks for.
enum Route<'a> {
    Health,
    Metrics,
    Chat,
    /// `/models` (empty) or `/models/ID`.
    Models(&'a str),
    Unknown,
}

fn route<'a>(method: &Method, path: &'a str) -> Route<'a> {
    if path == "/healthz" && method == Method::GET {
        return Route::Health;
    }
    if path == "/metrics" && method == Method::GET {
        return Route::Metrics;
    }
    let Some(rest) = path
        .strip_prefix("/openai/v1")
        .or_else(|| path.strip_prefix("/v1"))
    else {
        return Route::Unknown;
    };
    match (method, rest) {
        (&Method::POST, "/chat/completions") => Route::Chat,
        (&Method::GET, "/models") => Route::Models(""),
        (&Method::GET, rest) => match rest.strip_prefix("/models/") {
            Some(id) if !id.is_empty() && !id.contains('/') => Route::Models(id),
            _ => Route::Unknown,
        },
        _ => Route::Unknown,
    }
}

fn unreachable_route() -> Response<GatewayBody> {
    gateway_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the gateway routed a request it cannot answer",
    )
}

/// The pipeline a request goes through, per its `Authorization`.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<GroqClient, Response<GatewayBody>> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let keys = &shared.settings.keys;
    if let Some(key) = bearer
        && !keys.is_empty()
        && keys.verify(key)
    {
        return Ok(shared.client.clone());
    }
    if shared.settings.pass_through
        && let Some(key) = bearer
    {
        return shared.pass_through_client(key);
    }
    if keys.is_empty() {
        return Ok(shared.client.clone());
    }
    Err(envelope(
        StatusCode::UNAUTHORIZED,
        "Invalid API Key",
        "invalid_request_error",
        Some("invalid_api_key"),
    ))
}

/// `GET /models[/ID]`, passed through.
async fn models(client: &GroqClient, id: &str) -> Response<GatewayBody> {
    let path = if id.is_empty() {
        "/models".to_owned()
    } else {
        format!("/models/{id}")
    };
    match client.forward_get(&path).await {
        Ok(response) => {
            let body = match response.body {
                ForwardBody::Full(bytes) => bytes,
                _ => Bytes::new(),
            };
            passthrough(response.status, &response.headers, GatewayBody::full(body))
        }
        Err(error) => pipeline_error(client, &error, "", 0),
    }
}

/// `POST /chat/completions` through the pipeline.
async fn chat(
    shared: &Arc<Shared>,
    client: GroqClient,
    request: Request<Incoming>,
    request_id: &str,
    peer: SocketAddr,
    started: Instant,
) -> Response<GatewayBody> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let metrics = &shared.metrics;
    let log = |response: Response<GatewayBody>, model: Option<(&str, Priority)>| {
        access_log(request_id, &method, &path, peer, &response, model, started);
        response
    };
    let priority = match header_priority(request.headers()) {
        Ok(priority) => priority,
        Err(response) => {
            metrics.refused("invalid_priority");
            return log(response, None);
        }
    };
    let deadline = match header_deadline(request.headers()) {
        Ok(deadline) => deadline,
        Err(response) => {
            metrics.refused("invalid_deadline");
            return log(response, None);
        }
    };
    let body = match read_body(request, shared.settings.max_body_bytes).await {
        Ok(body) => body,
        Err(response) => {
            metrics.refused("request_too_large");
            return log(response, None);
        }
    };
    let mut forward = ForwardRequest::chat(body)
        .priority(priority)
        .request_id(request_id);
    if let Some(deadline) = deadline {
        forward = forward.queue_deadline(deadline);
    }
    let call = match client.forward(forward) {
        Ok(call) => call,
        Err(ForwardError::InvalidBody(source)) => {
            metrics.refused("invalid_request_body");
            return log(
                envelope(
                    StatusCode::BAD_REQUEST,
                    &format!("the request body is not a valid chat completion request: {source}"),
                    "invalid_request_error",
                    Some("invalid_request_body"),
                ),
                None,
            );
        }
        Err(ForwardError::Pipeline(error)) => {
            let response = pipeline_error(&client, &error, "", 0);
            if let Some(code) = own_code(&error) {
                metrics.refused(code);
            }
            return log(response, None);
        }
        Err(other) => {
            return log(
                gateway_error(StatusCode::NOT_FOUND, "unknown_url", other.to_string()),
                None,
            );
        }
    };
    let model = metrics.model_label(call.model());
    let estimate = call.estimate();
    metrics.estimated(&model, estimate.total);
    metrics.requests_in_flight.fetch_add(1, Ordering::Relaxed);
    let in_flight = InFlightGuard(Arc::clone(metrics));
    let outcome = call.send().await;
    let response = match outcome {
        Ok(forwarded) => {
            metrics.queue_wait.observe(forwarded.waited);
            metrics
                .upstream_latency
                .observe(started.elapsed().saturating_sub(forwarded.waited));
            if let Some(usage) = &forwarded.usage {
                metrics.reported(&model, usage.total_tokens);
            }
            let body = match forwarded.body {
                ForwardBody::Full(bytes) => GatewayBody::full(bytes),
                ForwardBody::Stream(stream) => {
                    // The body's end takes over the in-flight count.
                    std::mem::forget(in_flight);
                    GatewayBody::stream(
                        stream,
                        StreamEnd {
                            metrics: Arc::clone(metrics),
                            model: Arc::clone(&model),
                            request_id: request_id.to_owned(),
                            started,
                        },
                    )
                }
                _ => GatewayBody::full(Bytes::new()),
            };
            passthrough(forwarded.status, &forwarded.headers, body)
        }
        Err(error) => {
            if let Some(code) = own_code(&error) {
                metrics.refused(code);
            }
            pipeline_error(&client, &error, &model, estimate.total)
        }
    };
    metrics.request(&model, priority, response.status().as_u16());
    log(response, Some((&model, priority)))
}

/// Decrements the in-flight gauge when a request ends.
struct InFlightGuard(Arc<Metrics>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The body, up to `limit` bytes; beyond it, 413.
async fn read_body(
    request: Request<Incoming>,
    limit: usize,
) -> Result<Bytes, Response<GatewayBody>> {
    let too_large = || {
        envelope(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than the gateway's limit of {limit} bytes"),
            "invalid_request_error",
            Some("request_too_large"),
        )
    };
    if let Some(length) = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > limit as u64
    {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(request.into_body(), limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => {
            if error.is::<http_body_util::LengthLimitError>() {
                Err(too_large())
            } else {
                Err(envelope(
                    StatusCode::BAD_REQUEST,
                    &format!("the request body could not be read: {error}"),
                    "invalid_request_error",
                    Some("invalid_request_body"),
                ))
            }
        }
    }
}

fn header_priority(headers: &HeaderMap) -> Result<Priority, Response<GatewayBody>> {
    let Some(value) = headers.get(PRIORITY_HEADER) else {
        return Ok(Priority::Normal);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().to_ascii_lowercase().parse::<Priority>().ok())
        .ok_or_else(|| {
            envelope(
                StatusCode::BAD_REQUEST,
                &format!(
                    "the {PRIORITY_HEADER} header must be high, normal or low, got {:?}",
                    String::from_utf8_lossy(value.as_bytes())
                ),
                "invalid_request_error",
                Some("invalid_priority"),
            )
        })
}

fn header_deadline(headers: &HeaderMap) -> Result<Option<Duration>, Response<GatewayBody>> {
    let Some(value) = headers.get(DEADLINE_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(|s| Some(Duration::from_secs_f64(s)))
        .ok_or_else(|| {
            envelope(
                StatusCode::BAD_REQUEST,
                &format!(
                    "the {DEADLINE_HEADER} header must be a number of seconds, got {:?}",
                    String::from_utf8_lossy(value.as_bytes())
                ),
                "invalid_request_error",
                Some("invalid_deadline"),
            )
        })
}

/// The upstream answer with its headers, minus hop-by-hop ones.
fn passthrough(
    status: StatusCode,
    headers: &HeaderMap,
    body: GatewayBody,
) -> Response<GatewayBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let out = response.headers_mut();
    for (name, value) in headers {
        if DROPPED.contains(&name.as_str()) || name == AUTHORIZATION {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    response
}

/// The `error.code` of a failure that is the gateway's own (not an answer from upstream).
fn own_code(error: &Error) -> Option<&'static str> {
    Some(match error {
        Error::QueueFull(_) => "queue_full",
        Error::Timeout(_) => "deadline_exceeded",
        Error::Queue(_) => "limiter_unavailable",
        Error::Shutdown | Error::Cancelled => "shutting_down",
        Error::Transport(_) => "upstream_unavailable",
        Error::Config(_) => "gateway_misconfigured",
        Error::InvalidResponse(_) | Error::Stream(_) => "upstream_invalid_response",
        Error::RequestTooLarge(too_large) if !too_large.from_server() => "request_too_large",
        _ => return None,
    })
}

/// The error response for a pipeline failure.
fn pipeline_error(
    client: &GroqClient,
    error: &Error,
    model: &str,
    tokens: u64,
) -> Response<GatewayBody> {
    match error {
        Error::QueueFull(full) => with_retry_after(
            gateway_error(
                StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                format!(
                    "the gateway's queue for model `{}` is full ({} requests); \
                     retry after the time in retry-after",
                    full.model(),
                    full.capacity()
                ),
            ),
            retry_after(client, full.model(), tokens),
        ),
        Error::Timeout(timeout) => with_retry_after(
            gateway_error(
                StatusCode::TOO_MANY_REQUESTS,
                "deadline_exceeded",
                format!(
                    "the request was still queued for model `{model}` when its \
                     {DEADLINE_HEADER} of {:.3}s passed; retry after the time in retry-after",
                    timeout.after().as_secs_f64()
                ),
            ),
            retry_after(client, model, tokens),
        ),
        Error::RateLimited(limited) => {
            let mut response = envelope(
                StatusCode::TOO_MANY_REQUESTS,
                limited.message(),
                match limited.dimension() {
                    Some(Dimension::RequestsPerMinute | Dimension::RequestsPerDay) => "requests",
                    _ => "tokens",
                },
                Some("rate_limit_exceeded"),
            );
            let wait = limited
                .retry_after()
                .unwrap_or_else(|| retry_after(client, model, tokens));
            set_retry_after(&mut response, wait);
            response
        }
        Error::ModelNotFound(not_found) => envelope(
            StatusCode::NOT_FOUND,
            if not_found.message().is_empty() {
                "The model does not exist or you do not have access to it."
            } else {
                not_found.message()
            },
            "invalid_request_error",
            Some("model_not_found"),
        ),
        Error::TokenLimitExceeded(_) => envelope(
            StatusCode::BAD_REQUEST,
            &error.to_string(),
            "invalid_request_error",
            Some("context_length_exceeded"),
        ),
        Error::RequestTooLarge(too_large) => envelope(
            StatusCode::PAYLOAD_TOO_LARGE,
            &error.to_string(),
            if too_large.from_server() {
                "tokens"
            } else {
                GATEWAY_ERROR
            },
            Some(if too_large.from_server() {
                "rate_limit_exceeded"
            } else {
                "request_too_large"
            }),
        ),
        Error::Api(api) => {
            let status = StatusCode::from_u16(api.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = api.response().body();
            if serde_json::from_slice::<&serde_json::value::RawValue>(body).is_ok() {
                let mut response = Response::new(GatewayBody::full(body.clone()));
                *response.status_mut() = status;
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            } else {
                envelope(
                    status,
                    api.message(),
                    api.error_type().unwrap_or("api_error"),
                    api.code(),
                )
            }
        }
        Error::Shutdown | Error::Cancelled => gateway_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the gateway is shutting down and takes no more requests",
        ),
        Error::Queue(_) => gateway_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "limiter_unavailable",
            format!(
                "the rate limiter could not admit the request: {}",
                chain(error)
            ),
        ),
        Error::Transport(_) => gateway_error(
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            chain(error),
        ),
        Error::InvalidResponse(_) | Error::Stream(_) => gateway_error(
            StatusCode::BAD_GATEWAY,
            "upstream_invalid_response",
            chain(error),
        ),
        Error::Config(_) => gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "gateway_misconfigured",
            chain(error),
        ),
        _ => gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            chain(error),
        ),
    }
}

/// An error with its sources, one line.
fn chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How long until `model` can take a request of `tokens` after what is queued ahead,
/// from the limiter's buckets: at least one second, rounded up to whole seconds.
pub(crate) fn retry_after(client: &GroqClient, model: &str, tokens: u64) -> Duration {
    let limiter = client.limiter();
    let queued = client
        .queue_status()
        .lanes
        .iter()
        .find(|lane| lane.model == model)
        .map_or(0, |lane| lane.total as u64);
    let mut wait = Duration::ZERO;
    if let Some(snapshot) = limiter.snapshot(model) {
        for dimension in &snapshot.dimensions {
            let unit = match dimension.dimension {
                Dimension::RequestsPerMinute | Dimension::RequestsPerDay => 1,
                _ => tokens.max(1),
            };
            let needed = unit.saturating_mul(queued + 1);
            let deficit = needed.saturating_sub(dimension.remaining);
            let limit = dimension.rate.limit().max(1);
            let per_unit = dimension.rate.period().as_secs_f64() / limit as f64;
            wait = wait.max(Duration::from_secs_f64(
                (deficit as f64 * per_unit).min(86_400.0),
            ));
        }
        if let Some(until) = snapshot.penalized_until {
            wait = wait.max(until.saturating_duration_since(snapshot.at));
        }
    }
    Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        .max(Duration::from_secs(1))
}

fn with_retry_after(mut response: Response<GatewayBody>, wait: Duration) -> Response<GatewayBody> {
    set_retry_after(&mut response, wait);
    response
}

fn set_retry_after(response: &mut Response<GatewayBody>, wait: Duration) {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
}

/// An error of the gateway's own, in Groq's envelope.
pub(crate) fn gateway_error(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Response<GatewayBody> {
    envelope(status, &message.into(), GATEWAY_ERROR, Some(code))
}

/// A response in Groq's error envelope.
pub(crate) fn envelope(
    status: StatusCode,
    message: &str,
    kind: &str,
    code: Option<&str>,
) -> Response<GatewayBody> {
    let mut error = json!({"message": message, "type": kind});
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    json_response(status, json!({ "error": error }))
}

/// An SSE error event in Groq's form, for a stream that broke after it started.
pub(crate) fn error_event(message: &str) -> Bytes {
    let event = json!({"error": {
        "message": message,
        "type": GATEWAY_ERROR,
        "code": "upstream_stream_broken",
    }});
    Bytes::from(format!("data: {event}\n\n"))
}

fn json_response(status: StatusCode, value: serde_json::Value) -> Response<GatewayBody> {
    let mut response = Response::new(GatewayBody::full(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// One access-log line per answered request.
fn access_log(
    request_id: &str,
    method: &Method,
    path: &str,
    peer: SocketAddr,
    response: &Response<GatewayBody>,
    model: Option<(&str, Priority)>,
    started: Instant,
) {
    let upstream_id = response
        .headers()
        .get(HeaderName::from_static("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info!(
        target: "groq_gateway::access",
        request_id,
        method = %method,
        path,
        peer = %peer,
        status = response.status().as_u16(),
        model = model.map(|(m, _)| m),
        priority = model.map(|(_, p)| p.as_str()),
        upstream_request_id = upstream_id,
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
}
