//! The path of one request: preparation, queueing, sending and reading the answer, with the
//! rate-limit and retry rules around each attempt.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use groq_config::{Config, ConfigError, ModelConfig};
use groq_queue::{Dispatched, Job, Priority, QueueError, QueuedJob, Ticket};
use groq_ratelimit::{
    Cost, LimitMessage, LimitMessageKind, RateLimitHeaders, RateLimiter, Reservation,
};
use groq_tokens::Estimate;
use groq_transport::{Attempt, Body, RetryDecision, RetryPolicy, TransportError};
use groq_types::{ChatCompletion, ChatRequest, ErrorEnvelope, Usage};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, StatusCode, Uri};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::client::Inner;
use crate::event::{Event, RequestId, RetryReason};
use crate::{Error, HttpResponse};

/// The payload of a queued job: where the dispatcher hands the admitted job, and what the
/// lane's admission ([`WarmUp`](crate::warmup::WarmUp)) needs to re-estimate its cost.
pub(crate) struct Payload {
    pub(crate) reply: Option<oneshot::Sender<Dispatched<Payload>>>,
    pub(crate) estimate: Estimate,
    /// The model's quota has a rate (any dimension): its lane warms up.
    pub(crate) limited: bool,
}

/// The `User-Agent` of every request.
const USER_AGENT_VALUE: &str = concat!("groqchat/", env!("CARGO_PKG_VERSION"));

/// At most this much of an error body is read and kept.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// Wall-clock time, used only to read `retry-after` values given as HTTP dates.
#[allow(clippy::disallowed_methods)]
pub(crate) fn wall_clock_now() -> SystemTime {
    SystemTime::now()
}

/// A request ready to be queued and sent: validated, estimated, serialized once.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) model: Arc<str>,
    pub(crate) uri: Uri,
    pub(crate) authorization: HeaderValue,
    pub(crate) body: Bytes,
    pub(crate) estimate: Estimate,
    pub(crate) stream: bool,
    /// The model's quota has a rate (any dimension): its lane warms up.
    pub(crate) limited: bool,
    /// A forwarded request ([`crate::forward`]): the answer is kept as bytes with its head.
    pub(crate) forward: bool,
}

impl Prepared {
    pub(crate) fn cost(&self) -> Cost {
        Cost::chat(self.estimate.prompt, self.estimate.completion_allowance)
    }

    /// Tells the warm-up that the model answered; only models with a rate limit warm up, so
    /// the others skip the bookkeeping.
    pub(crate) fn answered(&self, inner: &Inner) {
        if self.limited {
            inner.warmup.answered(&self.model);
        }
    }

    /// The HTTP request of one attempt; cheap (the body and headers are shared).
    pub(crate) fn http_request(&self) -> http::Request<Bytes> {
        let mut request = http::Request::new(self.body.clone());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if self.stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        request
    }
}

/// `Bearer <key>`, marked sensitive.
pub(crate) fn authorization(config: &Config, model: &ModelConfig) -> Result<HeaderValue, Error> {
    let key = config.api_key_for(model).ok_or_else(|| {
        Error::config(format!(
            "no API key for model `{}`: set the GROQ_API_KEY environment variable, put \
             \"api_key\" in the configuration, or call `.api_key(...)` on the client builder",
            model.id
        ))
    })?;
    let mut value =
        HeaderValue::from_str(&format!("Bearer {}", key.expose_secret())).map_err(|_| {
            Error::config(
                "the API key contains characters that cannot be sent in an HTTP header; check \
                 the key",
            )
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `base_url` + `path`, as a URI.
pub(crate) fn endpoint(base_url: &str, path: &str) -> Result<Uri, Error> {
    let text = format!("{}{path}", base_url.trim_end_matches('/'));
    text.parse::<Uri>().map_err(|e| {
        Error::config_from(
            format!("the base URL {base_url:?} is not a valid URL; use e.g. https://api.groq.com/openai/v1"),
            e,
        )
    })
}

impl Inner {
    /// Validates `request`, resolves its model, estimates its cost, checks the context window
    /// and serializes the body once.
    pub(crate) fn prepare(
        &self,
        mut request: ChatRequest,
        stream: bool,
    ) -> Result<Prepared, Error> {
        request.validate()?;
        let route = self.route(request.model())?;
        let estimate = self.counter.estimate(&request, route.allowance);
        if let Some(window) = route.context_window {
            // Refuse only when even the uncalibrated count does not fit: a false refusal
            // costs more than the server's own 400.
            let prompt = estimate.prompt.min(estimate.raw_prompt);
            if prompt.saturating_add(estimate.completion_allowance) > u64::from(window) {
                return Err(Error::TokenLimitExceeded {
                    model: request.model().to_owned(),
                    prompt,
                    allowance: estimate.completion_allowance,
                    context_window: window,
                });
            }
        }
        // The body goes out as given: its original bytes when nothing had to change, else
        // its keys in order with their exact text. The one change is the call's kind: a
        // streaming call sets `"stream": true`; a plain call takes out a `"stream": true`
        // (and its `stream_options`), since it cannot read a stream.
        request.prepare_for(stream);
        Ok(Prepared {
            model: Arc::clone(&route.model),
            uri: route.uri.clone(),
            authorization: route.authorization.clone(),
            body: request.to_bytes(),
            estimate,
            stream,
            limited: route.limited,
            forward: false,
        })
    }

    /// What sending to `model` needs under the current configuration, worked out once per
    /// model and configuration.
    pub(crate) fn route(&self, model: &str) -> Result<Arc<Route>, Error> {
        let config = self.config();
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            if Arc::ptr_eq(&routes.config, &config)
                && let Some(route) = routes.by_model.get(model)
            {
                return Ok(Arc::clone(route));
            }
        }
        let model_config = resolve_model(&config, model)?;
        if !config.models.contains_key(model) {
            self.ensure_unknown_quota(&config, &model_config);
        }
        let limits = &model_config.limits;
        let route = Arc::new(Route {
            model: Arc::from(model),
            uri: endpoint(config.base_url_for(&model_config), "/chat/completions")?,
            authorization: authorization(&config, &model_config)?,
            allowance: config.completion_allowance(&model_config),
            context_window: model_config.context_window,
            limited: limits.rates().next().is_some(),
        });
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&routes.config, &config) {
            *routes = Routes::new(Arc::clone(&config));
        }
        // Unknown models may have any name: the cache stays bounded.
        if routes.by_model.len() < Routes::MAX_MODELS {
            routes.by_model.insert(model.to_owned(), Arc::clone(&route));
        }
        Ok(route)
    }
}

/// What sending a request to one model needs, derived from the configuration.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) model: Arc<str>,
    pub(crate) uri: Uri,
    pub(crate) authorization: HeaderValue,
    pub(crate) allowance: u32,
    pub(crate) context_window: Option<u32>,
    pub(crate) limited: bool,
}

/// The [`Route`]s of one configuration, by model.
#[derive(Debug)]
pub(crate) struct Routes {
    config: Arc<Config>,
    by_model: HashMap<String, Arc<Route>>,
}

impl Routes {
    /// At most this many models are remembered per configuration.
    const MAX_MODELS: usize = 1_024;

    pub(crate) fn new(config: Arc<Config>) -> Self {
        Self {
            config,
            by_model: HashMap::new(),
        }
    }
}

/// The configuration of `id` under the unknown-model policy, or `ModelNotFound`.
pub(crate) fn resolve_model(config: &Config, id: &str) -> Result<ModelConfig, Error> {
    match config.resolve_model(id) {
        Ok(model) => Ok(model.into_owned()),
        Err(ConfigError::UnknownModel { configured, .. }) => Err(Error::ModelNotFound {
            model: id.to_owned(),
            message: format!(
                "it is not in the configuration, which rejects unknown models (configured: {})",
                if configured.is_empty() {
                    "none".to_owned()
                } else {
                    configured.join(", ")
                }
            ),
            response: None,
        }),
        Err(other) => Err(Error::config_from(
            format!("model `{id}` cannot be used with this configuration"),
            other,
        )),
    }
}

/// Maps a queue refusal to the client's error.
pub(crate) fn queue_error(error: QueueError, model: &str) -> Error {
    match error {
        QueueError::Cancelled => Error::Cancelled,
        QueueError::ShutDown | QueueError::HandoffClosed => Error::Shutdown,
        QueueError::Full { model, capacity } => Error::QueueFull { model, capacity },
        QueueError::NeverFits { source, .. } => match source {
            groq_ratelimit::ReserveError::NeverFits {
                dimension,
                cost,
                capacity,
            } => Error::RequestTooLarge {
                model: model.to_owned(),
                dimension: Some(dimension),
                requested: Some(cost),
                limit: Some(capacity),
                from_server: false,
                response: None,
            },
            other => Error::Queue(QueueError::NeverFits {
                model: model.to_owned(),
                source: other,
            }),
        },
        QueueError::NoRuntime => Error::config_from(
            "GroqClient needs a tokio runtime: call it from within one (e.g. #[tokio::main])",
            QueueError::NoRuntime,
        ),
        other => Error::Queue(other),
    }
}

/// A reservation for a request that has been (or is being) sent. Dropping it keeps the
/// estimate charged: once a request may have reached the server, it is never refunded
/// unless the answer says the server charged nothing.
#[derive(Debug)]
pub(crate) struct Sent(Option<Reservation>);

impl Sent {
    pub(crate) fn new(reservation: Reservation) -> Self {
        Self(Some(reservation))
    }

    /// The server charged nothing (a 429, a refused connection, a 4xx).
    pub(crate) fn refund(mut self) {
        if let Some(reservation) = self.0.take() {
            reservation.refund();
        }
    }

    /// The server served the request and counted `usage`.
    pub(crate) fn commit(mut self, usage: &Usage) {
        if let Some(reservation) = self.0.take() {
            reservation.commit_usage(crate::usage::actual_cost(usage));
        }
    }

    /// The server served the request, which really cost `actual`.
    pub(crate) fn commit_cost(mut self, actual: Cost) {
        if let Some(reservation) = self.0.take() {
            reservation.commit_usage(actual);
        }
    }

    /// The server counted `tokens` in all (a stream cut short after some of its reply).
    pub(crate) fn commit_tokens(mut self, tokens: u64) {
        if let Some(reservation) = self.0.take() {
            reservation.commit(tokens);
        }
    }

    /// The outcome is unknown: keep the estimate.
    pub(crate) fn keep(mut self) {
        if let Some(reservation) = self.0.take() {
            reservation.keep();
        }
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        if let Some(reservation) = self.0.take() {
            reservation.keep();
        }
    }
}

/// Counts the client's requests on the wire.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Inner>);

impl InFlight {
    pub(crate) fn new(inner: &Arc<Inner>) -> Self {
        inner
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(Arc::clone(inner))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Per-call settings resolved from the call's options and the client's defaults.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) id: RequestId,
    pub(crate) priority: Priority,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_rate_limit_retries: u32,
    /// Bounds one attempt: the response head and, for a JSON reply, its body.
    pub(crate) attempt_timeout: Duration,
}

/// What a successful exchange produced.
pub(crate) enum Accepted {
    /// A complete JSON reply.
    Json(Box<ChatCompletion>),
    /// The head of a 200 event stream: the body is still to be read.
    Stream(Box<StreamStart>),
    /// The answer to a forwarded request, kept as bytes with its head.
    Forward(Box<crate::forward::Forwarded>),
}

/// An accepted stream, before its body is read.
pub(crate) struct StreamStart {
    pub(crate) body: Body,
    pub(crate) job: QueuedJob<Payload>,
    pub(crate) sent: Sent,
    pub(crate) wire: InFlight,
}

/// The running state of one call's attempts.
#[derive(Debug)]
pub(crate) struct Attempts {
    /// HTTP attempts made.
    pub(crate) sent: u32,
    /// Failures counted by the retry policy (429s excluded).
    failures: u32,
    /// 429s met.
    limited: u32,
    pub(crate) started: Instant,
    /// Total time spent queued.
    pub(crate) waited: Duration,
}

pub(crate) enum Next {
    Done(Accepted),
    Again {
        after: Option<Duration>,
        job: QueuedJob<Payload>,
    },
    Fail(Error),
}

impl Attempts {
    pub(crate) fn new(started: Instant) -> Self {
        Self {
            sent: 0,
            failures: 0,
            limited: 0,
            started,
            waited: Duration::ZERO,
        }
    }
}

/// Queues the request and runs attempts until one is accepted or the request fails.
pub(crate) async fn execute(
    inner: &Arc<Inner>,
    prepared: &Prepared,
    plan: &Plan,
    attempts: &mut Attempts,
) -> Result<Accepted, Error> {
    execute_until(inner, prepared, plan, attempts, None).await
}

/// [`execute`], with a deadline for the time spent queued: a request still waiting for its
/// turn when `queue_deadline` (measured from the call) has passed leaves its queue, charged
/// nothing, and fails with [`Error::Timeout`].
pub(crate) async fn execute_until(
    inner: &Arc<Inner>,
    prepared: &Prepared,
    plan: &Plan,
    attempts: &mut Attempts,
    queue_deadline: Option<Duration>,
) -> Result<Accepted, Error> {
    let expiry = queue_deadline.map(|after| (after, attempts.started + after));
    let job = Job::new(
        Arc::clone(&prepared.model),
        prepared.cost(),
        Payload {
            reply: None,
            estimate: prepared.estimate,
            limited: prepared.limited,
        },
    )
    .with_priority(plan.priority);
    let queued_at = inner.now();
    // Nothing queued ahead and the limits admit it now: dispatched on this task, without
    // the round trip through the lane's dispatcher.
    let (mut ticket, mut ready, mut receiver) = match inner.lanes.dispatch_now(job) {
        Ok((ticket, dispatched)) => (ticket, Some(dispatched), None),
        Err(mut job) => {
            let (reply, receiver) = oneshot::channel();
            job.payload_mut().reply = Some(reply);
            let ticket: Ticket = inner
                .lanes
                .submit(job)
                .await
                .map_err(|e| queue_error(e, &prepared.model))?;
            (ticket, None, Some(receiver))
        }
    };
    if inner.events.is_watched() {
        inner.events.emit(Event::Queued {
            id: plan.id.clone(),
            model: Arc::clone(&prepared.model),
            priority: plan.priority,
            estimated_tokens: prepared.estimate.total,
        });
    }
    let mut queued_at = queued_at;
    loop {
        // A job dispatched on this task did not wait: no need to read the clock again.
        let mut at_once = false;
        let dispatched = match (ready.take(), receiver.as_mut()) {
            (Some(dispatched), _) => {
                at_once = true;
                dispatched
            }
            (None, Some(receiver)) => tokio::select! {
                biased;
                dispatched = receiver => match dispatched {
                    Ok(dispatched) => dispatched,
                    Err(_) => {
                        let failure = ticket.failed().await;
                        return Err(failure.map_or(Error::Shutdown, |e| queue_error(e, &prepared.model)));
                    }
                },
                failure = ticket.failed() => {
                    return Err(failure.map_or(Error::Shutdown, |e| queue_error(e, &prepared.model)));
                }
                after = queue_expiry(expiry) => return Err(Error::Timeout { after }),
            },
            (None, None) => {
                let failure = ticket.failed().await;
                return Err(failure.map_or(Error::Shutdown, |e| queue_error(e, &prepared.model)));
            }
        };
        let (job, reservation) = dispatched.into_parts();
        let waited = if at_once {
            Duration::ZERO
        } else {
            inner.now().saturating_duration_since(queued_at)
        };
        attempts.waited += waited;
        attempts.sent += 1;
        if inner.events.is_watched() {
            inner.events.emit(Event::Dispatched {
                id: plan.id.clone(),
                model: Arc::clone(&prepared.model),
                attempt: attempts.sent,
                waited,
            });
        }
        // Boxed: the exchange's state (transport future, timers, the reply being read) is
        // large, and a queued call's future should not carry room for it while it waits.
        match Box::pin(attempt(inner, prepared, plan, attempts, job, reservation)).await {
            Next::Done(accepted) => return Ok(accepted),
            Next::Fail(error) => return Err(error),
            Next::Again { after, mut job } => {
                if let Some(after) = after {
                    tokio::time::sleep(after).await;
                }
                let (reply, fresh) = oneshot::channel();
                job.payload_mut().reply = Some(reply);
                receiver = Some(fresh);
                queued_at = inner.now();
                inner
                    .lanes
                    .requeue_front(job)
                    .map_err(|e| queue_error(e, &prepared.model))?;
            }
        }
    }
}

/// One HTTP attempt with an admitted reservation, and the decision that follows.
async fn attempt(
    inner: &Arc<Inner>,
    prepared: &Prepared,
    plan: &Plan,
    attempts: &mut Attempts,
    job: QueuedJob<Payload>,
    reservation: Reservation,
) -> Next {
    let model = &*prepared.model;
    let wire = InFlight::new(inner);
    let sent = Sent::new(reservation);
    let sending = inner.transport.send(prepared.http_request());
    // One timer bounds the whole attempt: the response head and, for a JSON reply, its body.
    let timer = tokio::time::sleep(plan.attempt_timeout);
    tokio::pin!(timer);
    let sent_or_timed_out = tokio::select! {
        biased;
        response = sending => Ok(response),
        () = &mut timer => Err(()),
    };
    // A timeout is a transport failure like any other.
    let response = match sent_or_timed_out.unwrap_or_else(|()| Err(TransportError::timeout())) {
        Ok(response) => response,
        Err(error) => {
            return transport_failure(
                inner,
                plan,
                attempts,
                job,
                sent,
                error,
                RetryReason::Transport,
            );
        }
    };
    let received = inner.now();
    let (head, body) = response.into_parts();
    let status = head.status;
    let headers = head.headers;
    let limits = RateLimitHeaders::from_headers(&headers);

    if status.is_success() {
        if prepared.forward {
            let head = crate::forward::Head {
                status,
                headers,
                limits,
                received,
            };
            return crate::forward::accepted(
                inner,
                prepared,
                plan,
                attempts,
                job,
                sent,
                wire,
                head,
                body,
                timer.as_mut(),
            )
            .await;
        }
        if prepared.stream {
            inner.limiter.observe(model, &limits, received);
            return Next::Done(Accepted::Stream(Box::new(StreamStart {
                body,
                job,
                sent,
                wire,
            })));
        }
        let read_or_timed_out = tokio::select! {
            biased;
            body = body.collect_bytes(inner.max_response_bytes) => Ok(body),
            () = &mut timer => Err(()),
        };
        // A timeout is a transport failure like any other.
        let body = match read_or_timed_out.unwrap_or_else(|()| Err(TransportError::timeout())) {
            Ok(body) => body,
            Err(error) => {
                return transport_failure(
                    inner,
                    plan,
                    attempts,
                    job,
                    sent,
                    error,
                    RetryReason::Body,
                );
            }
        };
        drop(wire);
        return match ChatCompletion::from_bytes(body) {
            Ok(completion) => {
                match &completion.usage {
                    Some(usage) => {
                        // Calibrate before settling: the settlement wakes the lane, which
                        // re-estimates its head with the counter's new ratio.
                        inner
                            .counter
                            .observe_usage(model, &prepared.estimate, usage);
                        sent.commit(usage);
                    }
                    None => sent.keep(),
                }
                inner.limiter.observe(model, &limits, received);
                prepared.answered(inner);
                Next::Done(Accepted::Json(Box::new(completion)))
            }
            Err(source) => {
                sent.keep();
                inner.limiter.observe(model, &limits, received);
                prepared.answered(inner);
                Next::Fail(Error::InvalidResponse {
                    status: status.as_u16(),
                    expected: "a chat completion",
                    source,
                })
            }
        };
    }

    // An error status: read what the server says (a broken error body is no reason to fail
    // differently).
    let body = body
        .collect_bytes(ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    drop(wire);
    let envelope = serde_json::from_slice::<ErrorEnvelope>(&body).ok();
    let answer = Box::new(HttpResponse::new(
        status.as_u16(),
        request_id(&headers),
        body.clone(),
    ));
    let message = envelope
        .as_ref()
        .and_then(|e| LimitMessage::parse(&e.error.message));

    if status == StatusCode::TOO_MANY_REQUESTS {
        // A 429 charges nothing on the server: undo our charge, then learn.
        sent.refund();
        inner
            .limiter
            .rate_limited(model, &limits, message.as_ref(), received);
        prepared.answered(inner);
        // The server's wait, bounded by the period of the limit it concerns, and at least the
        // first backoff: `retry-after: 0` on every answer must not become a burst.
        let retry_after = groq_ratelimit::server_wait(&limits, message.as_ref())
            .map(|wait| wait.max(plan.retry.base_delay()));
        let dimension = message.as_ref().and_then(|m| m.dimension);
        attempts.limited += 1;
        // No wait named: pause the model for a backoff so the lane does not hammer it.
        let pause = retry_after.unwrap_or_else(|| plan.retry.backoff_ceiling(attempts.limited));
        if let Some(until) = received.checked_add(pause) {
            inner.limiter.penalize(model, dimension, until);
        }
        if attempts.limited > plan.max_rate_limit_retries {
            return Next::Fail(Error::RateLimited {
                model: model.to_owned(),
                dimension,
                retry_after,
                message: envelope.map(|e| e.error.message).unwrap_or_default(),
                response: Some(answer),
            });
        }
        inner.events.emit(Event::RateLimited {
            id: plan.id.clone(),
            model: Arc::clone(&prepared.model),
            retry_after,
            dimension,
        });
        tracing::debug!(
            model,
            ?retry_after,
            ?dimension,
            "rate limited by the server; requeued at the head"
        );
        return Next::Again { after: None, job };
    }

    let too_large = status == StatusCode::PAYLOAD_TOO_LARGE
        && (message
            .as_ref()
            .is_some_and(|m| m.kind == LimitMessageKind::RequestTooLarge)
            || envelope.as_ref().and_then(|e| e.error.code.as_deref())
                == Some("rate_limit_exceeded"));
    if too_large {
        sent.refund();
        inner.limiter.observe(model, &limits, received);
        prepared.answered(inner);
        return Next::Fail(Error::RequestTooLarge {
            model: model.to_owned(),
            dimension: message.as_ref().and_then(|m| m.dimension),
            requested: message.as_ref().and_then(|m| m.requested),
            limit: message.as_ref().and_then(|m| m.limit),
            from_server: true,
            response: Some(answer),
        });
    }

    // A client error was refused before any work; a server error may have cost something.
    if status.is_client_error() {
        sent.refund();
    } else {
        sent.keep();
    }
    inner.limiter.observe(model, &limits, received);
    prepared.answered(inner);
    attempts.failures += 1;
    let decision = {
        let mut rng = inner.rng();
        plan.retry.classify(
            status,
            &headers,
            Attempt::new(
                attempts.failures,
                inner.elapsed(attempts.started),
                wall_clock_now(),
            ),
            &mut rng,
        )
    };
    match decision {
        RetryDecision::Retry { after } => {
            inner.events.emit(Event::Retrying {
                id: plan.id.clone(),
                model: Arc::clone(&prepared.model),
                attempt: attempts.sent,
                after,
                reason: RetryReason::Status(status.as_u16()),
            });
            tracing::debug!(
                model,
                status = status.as_u16(),
                ?after,
                "retrying after an error status"
            );
            Next::Again {
                after: Some(after),
                job,
            }
        }
        _ if prepared.forward => Next::Done(Accepted::Forward(Box::new(
            crate::forward::Forwarded::upstream(status, headers, body),
        ))),
        _ => Next::Fail(unknown_url_hint(
            api_error(status, envelope, *answer, model),
            &prepared.uri,
        )),
    }
}

/// A 404 that says the URL is unknown names the URL that was called and, when it lacks
/// `/openai/v1`, suggests it: the usual cause is a base URL written without it.
pub(crate) fn unknown_url_hint(error: Error, uri: &Uri) -> Error {
    let Error::Api {
        status: 404,
        code,
        kind,
        message,
        failed_generation,
        response,
    } = error
    else {
        return error;
    };
    let unknown_url = code.as_deref() == Some("unknown_url")
        || message.to_ascii_lowercase().contains("unknown request url");
    if !unknown_url {
        return Error::Api {
            status: 404,
            code,
            kind,
            message,
            failed_generation,
            response,
        };
    }
    // Scheme, host, port and path only: never userinfo or a query.
    let origin = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("https"),
        uri.host().unwrap_or_default(),
        uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default()
    );
    let called = format!("{origin}{}", uri.path());
    let hint = if uri.path().contains(Config::API_PATH) {
        String::new()
    } else {
        let base = uri
            .path()
            .strip_suffix("/chat/completions")
            .unwrap_or_default();
        format!(
            "; the base URL {origin}{base} may lack {path}: try {origin}{base}{path}",
            path = Config::API_PATH
        )
    };
    Error::Api {
        status: 404,
        code,
        kind,
        message: format!("{message} (the URL called was {called}{hint})"),
        failed_generation,
        response,
    }
}

/// Completes at the queue deadline, with its length; never without one.
async fn queue_expiry(expiry: Option<(Duration, Instant)>) -> Duration {
    match expiry {
        Some((after, at)) => {
            tokio::time::sleep_until(at).await;
            after
        }
        None => std::future::pending().await,
    }
}

/// Settles and decides after a transport error.
pub(crate) fn transport_failure(
    inner: &Arc<Inner>,
    plan: &Plan,
    attempts: &mut Attempts,
    job: QueuedJob<Payload>,
    sent: Sent,
    error: TransportError,
    reason: RetryReason,
) -> Next {
    if error.is_connect() {
        // The request never left: nothing was charged on the server.
        sent.refund();
    } else {
        sent.keep();
    }
    attempts.failures += 1;
    let decision = {
        let mut rng = inner.rng();
        plan.retry.classify_error(
            &error,
            Attempt::new(
                attempts.failures,
                inner.elapsed(attempts.started),
                wall_clock_now(),
            ),
            &mut rng,
        )
    };
    match decision {
        RetryDecision::Retry { after } => {
            inner.events.emit(Event::Retrying {
                id: plan.id.clone(),
                model: Arc::from(job.model()),
                attempt: attempts.sent,
                after,
                reason,
            });
            tracing::debug!(
                model = job.model(),
                ?after,
                "retrying after a transport error"
            );
            Next::Again {
                after: Some(after),
                job,
            }
        }
        _ => Next::Fail(Error::Transport {
            attempts: attempts.sent,
            source: error,
        }),
    }
}

/// The server's request id: the `x-request-id` header.
pub(crate) fn request_id(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The error for a non-retryable (or exhausted) error status; it keeps the answer.
pub(crate) fn api_error(
    status: StatusCode,
    envelope: Option<ErrorEnvelope>,
    answer: HttpResponse,
    model: &str,
) -> Error {
    let text = String::from_utf8_lossy(answer.body());
    let text: String = text.chars().take(ERROR_BODY_LIMIT as usize).collect();
    let error = envelope.map(|e| e.error);
    let code = error.as_ref().and_then(|e| e.code.clone());
    if status == StatusCode::NOT_FOUND && code.as_deref() == Some("model_not_found") {
        return Error::ModelNotFound {
            model: model.to_owned(),
            message: error.map(|e| e.message).unwrap_or_default(),
            response: Some(Box::new(answer)),
        };
    }
    let message = match &error {
        Some(e) if !e.message.is_empty() => e.message.clone(),
        _ => {
            let snippet: String = text.chars().take(200).collect();
            if snippet.trim().is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no error message")
                    .to_owned()
            } else {
                snippet
            }
        }
    };
    Error::Api {
        status: status.as_u16(),
        code,
        kind: error.as_ref().and_then(|e| e.kind.clone()),
        message,
        failed_generation: error.and_then(|e| e.failed_generation),
        response: Box::new(answer),
    }
}
