//! The path of one request: preparation, queueing, sending and reading the answer, with the
//! rate-limit and retry rules around each attempt.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use groq_config::{Config, ConfigError, ModelConfig};
use groq_queue::{Dispatched, Job, Priority, QueueError, QueuedJob, Ticket};
use groq_ratelimit::{Cost, RateLimitHeaders, RateLimiter, Reservation, Sleep};
use groq_tokens::Estimate;
use groq_transport::{Body, RetryPolicy, TransportError};
use groq_types::{ChatCompletion, Usage};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, StatusCode, Uri};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::classify::{Counts, ErrorAnswer, Outcome, classify, classify_failure};
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
    /// A chat request, whose cost the warm-up re-estimates from the calibrated counter;
    /// other requests (audio, speech, embeddings, responses) keep the cost they came with.
    pub(crate) recost: bool,
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
    /// The body's content type.
    pub(crate) content_type: HeaderValue,
    /// What is reserved on the limiter for it.
    pub(crate) cost: Cost,
    pub(crate) estimate: Estimate,
    /// The request asks for an event stream.
    pub(crate) stream: bool,
    /// The model's quota has a rate (any dimension): its lane warms up.
    pub(crate) limited: bool,
    /// Any content type is accepted in answer (audio, speech, embeddings, responses).
    pub(crate) accept_any: bool,
}

impl Prepared {
    /// A chat completion request for `route` with `body` (as bytes, sent as they are).
    pub(crate) fn chat(route: &Route, body: Bytes, estimate: Estimate, stream: bool) -> Self {
        Self {
            model: Arc::clone(&route.model),
            uri: route.uri.clone(),
            authorization: route.authorization.clone(),
            body,
            content_type: HeaderValue::from_static("application/json"),
            cost: Cost::chat(estimate.prompt, estimate.completion_allowance),
            estimate,
            stream,
            limited: route.limited,
            accept_any: false,
        }
    }

    /// Tells the warm-up that the model answered; only models with a rate limit warm up, so
    /// the others skip the bookkeeping.
    pub(crate) fn answered(&self, inner: &Inner) {
        if self.limited {
            inner.pacing.warmup.answered(&self.model);
        }
    }

    /// The HTTP request of one attempt; cheap (the body and headers are shared).
    pub(crate) fn http_request(&self) -> http::Request<Bytes> {
        let mut request = http::Request::new(self.body.clone());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(CONTENT_TYPE, self.content_type.clone());
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if self.accept_any {
                "*/*"
            } else if self.stream {
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
    pub(crate) config: Arc<Config>,
    pub(crate) by_model: HashMap<String, Arc<Route>>,
}

impl Routes {
    /// At most this many models are remembered per configuration.
    pub(crate) const MAX_MODELS: usize = 1_024;

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
        Err(ConfigError::UnknownModel { configured, .. }) => {
            Err(Error::ModelNotFound(crate::error::ModelNotFound {
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
            }))
        }
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
        QueueError::Full { model, capacity } => {
            Error::QueueFull(crate::error::QueueFull { model, capacity })
        }
        QueueError::NeverFits { source, .. } => match source {
            groq_ratelimit::ReserveError::NeverFits {
                dimension,
                cost,
                capacity,
            } => Error::RequestTooLarge(crate::error::RequestTooLarge {
                model: model.to_owned(),
                dimension: Some(dimension),
                requested: Some(cost),
                limit: Some(capacity),
                from_server: false,
                response: None,
            }),
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
            .wire
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(Arc::clone(inner))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .wire
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

impl Plan {
    /// The client's defaults for a call with id `id`.
    pub(crate) fn new(inner: &Inner, id: RequestId) -> Self {
        Self {
            id,
            priority: Priority::Normal,
            retry: inner.wire.retry.clone(),
            max_rate_limit_retries: inner.wire.max_rate_limit_retries,
            attempt_timeout: inner.config().request_timeout,
        }
    }
}

/// What one attempt holds once its request is on the wire: the queue slot, the reservation
/// and the in-flight count. Handed on to whoever reads the answer.
pub(crate) struct Exchange {
    pub(crate) job: QueuedJob<Payload>,
    pub(crate) sent: Sent,
    pub(crate) wire: InFlight,
}

/// The head of a successful response.
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) limits: RateLimitHeaders,
    pub(crate) received: Instant,
}

/// What a call makes of a 2xx answer: each kind of call (a chat completion, a chat stream,
/// a forward, a raw answer) is one implementation, so a call gets exactly its own output.
pub(crate) trait Receive {
    /// What the call gets.
    type Output: Send;

    /// Reads (or hands over) a 2xx answer and settles what it can; `timer` bounds the rest of
    /// the attempt.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        inner: &Arc<Inner>,
        prepared: &Prepared,
        plan: &Plan,
        attempts: &mut Attempts,
        exchange: Exchange,
        head: Head,
        body: Body,
        timer: &mut Sleep,
    ) -> impl Future<Output = Next<Self::Output>> + Send;

    /// The end of a call on an error status no retry fixes: its error, by default; a forward
    /// hands the server's answer back as it came instead.
    fn refused(answer: ErrorAnswer, prepared: &Prepared) -> Next<Self::Output> {
        Next::Fail(unknown_url_hint(
            api_error(answer, &prepared.model),
            &prepared.uri,
        ))
    }
}

/// An accepted stream, before its body is read.
pub(crate) struct StreamStart {
    pub(crate) body: Body,
    pub(crate) job: QueuedJob<Payload>,
    pub(crate) sent: Sent,
    pub(crate) wire: InFlight,
}

/// A chat completion: the JSON reply, read within the attempt's timer.
pub(crate) struct JsonReply;

impl Receive for JsonReply {
    type Output = Box<ChatCompletion>;

    async fn accept(
        inner: &Arc<Inner>,
        prepared: &Prepared,
        plan: &Plan,
        attempts: &mut Attempts,
        exchange: Exchange,
        head: Head,
        body: Body,
        timer: &mut Sleep,
    ) -> Next<Self::Output> {
        let body = match read_within(inner, body, timer).await {
            Ok(body) => body,
            Err(error) => {
                return transport_failure(
                    inner,
                    plan,
                    attempts,
                    exchange,
                    error,
                    RetryReason::Body,
                );
            }
        };
        let Exchange { job, sent, wire } = exchange;
        drop(wire);
        let model = &*prepared.model;
        let next = match ChatCompletion::from_bytes(body) {
            Ok(completion) => {
                match &completion.usage {
                    Some(usage) => {
                        // Calibrate before settling: the settlement wakes the lane, which
                        // re-estimates its head with the counter's new ratio.
                        inner
                            .pacing
                            .counter
                            .observe_usage(model, &prepared.estimate, usage);
                        sent.commit(usage);
                    }
                    None => sent.keep(),
                }
                Next::Done(Box::new(completion))
            }
            Err(source) => {
                sent.keep();
                Next::Fail(Error::invalid_response(
                    head.status.as_u16(),
                    "a chat completion",
                    source,
                ))
            }
        };
        learn(inner, prepared, &head);
        drop(job);
        next
    }
}

/// A chat stream: the head of the 200 event stream; the body is read by the stream.
pub(crate) struct StreamReply;

impl Receive for StreamReply {
    type Output = Box<StreamStart>;

    async fn accept(
        inner: &Arc<Inner>,
        prepared: &Prepared,
        _plan: &Plan,
        _attempts: &mut Attempts,
        exchange: Exchange,
        head: Head,
        body: Body,
        _timer: &mut Sleep,
    ) -> Next<Self::Output> {
        inner
            .pacing
            .limiter
            .observe(&prepared.model, &head.limits, head.received);
        let Exchange { job, sent, wire } = exchange;
        Next::Done(Box::new(StreamStart {
            body,
            job,
            sent,
            wire,
        }))
    }
}

/// Reads a whole body within the attempt's timer; running out of time is a transport
/// timeout like any other.
pub(crate) async fn read_within(
    inner: &Inner,
    body: Body,
    timer: &mut Sleep,
) -> Result<Bytes, TransportError> {
    tokio::select! {
        biased;
        body = body.collect_bytes(inner.wire.max_response_bytes) => body,
        () = timer => Err(TransportError::timeout()),
    }
}

/// After a served answer: the limiter learns the server's headers, and the calibration
/// warm-up that the model answered.
pub(crate) fn learn(inner: &Inner, prepared: &Prepared, head: &Head) {
    inner
        .pacing
        .limiter
        .observe(&prepared.model, &head.limits, head.received);
    prepared.answered(inner);
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

/// The decision after one attempt.
pub(crate) enum Next<T> {
    Done(T),
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

    /// The counts the classifier reads.
    fn counts(&self, inner: &Inner) -> Counts {
        Counts {
            failures: self.failures,
            limited: self.limited,
            elapsed: inner.elapsed(self.started),
        }
    }
}

/// Queues the request and runs attempts until one is accepted or the request fails.
pub(crate) async fn execute<R: Receive>(
    inner: &Arc<Inner>,
    prepared: &Prepared,
    plan: &Plan,
    attempts: &mut Attempts,
) -> Result<R::Output, Error> {
    execute_until::<R>(inner, prepared, plan, attempts, None).await
}

/// [`execute`], with a deadline for the time spent queued: a request still waiting for its
/// turn when `queue_deadline` (measured from the call) has passed leaves its queue, charged
/// nothing, and fails with [`Error::Timeout`].
pub(crate) async fn execute_until<R: Receive>(
    inner: &Arc<Inner>,
    prepared: &Prepared,
    plan: &Plan,
    attempts: &mut Attempts,
    queue_deadline: Option<Duration>,
) -> Result<R::Output, Error> {
    let expiry = queue_deadline.map(|after| (after, attempts.started + after));
    let job = Job::new(
        Arc::clone(&prepared.model),
        prepared.cost,
        Payload {
            reply: None,
            estimate: prepared.estimate,
            limited: prepared.limited,
            recost: !prepared.accept_any,
        },
    )
    .with_priority(plan.priority);
    let queued_at = inner.now();
    // Nothing queued ahead and the limits admit it now: dispatched on this task, without
    // the round trip through the lane's dispatcher.
    let (mut ticket, mut ready, mut receiver) = match inner.pacing.lanes.dispatch_now(job) {
        Ok((ticket, dispatched)) => (ticket, Some(dispatched), None),
        Err(mut job) => {
            let (reply, receiver) = oneshot::channel();
            job.payload_mut().reply = Some(reply);
            let ticket: Ticket = inner
                .pacing
                .lanes
                .submit(job)
                .await
                .map_err(|e| queue_error(e, &prepared.model))?;
            (ticket, None, Some(receiver))
        }
    };
    if inner.calls.events.is_watched() {
        inner.calls.events.emit(Event::Queued {
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
                after = queue_expiry(inner, expiry) => return Err(Error::timeout(after)),
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
        if inner.calls.events.is_watched() {
            inner.calls.events.emit(Event::Dispatched {
                id: plan.id.clone(),
                model: Arc::clone(&prepared.model),
                attempt: attempts.sent,
                waited,
            });
        }
        // Boxed: the exchange's state (transport future, timers, the reply being read) is
        // large, and a queued call's future should not carry room for it while it waits.
        match Box::pin(attempt::<R>(
            inner,
            prepared,
            plan,
            attempts,
            job,
            reservation,
        ))
        .await
        {
            Next::Done(accepted) => return Ok(accepted),
            Next::Fail(error) => return Err(error),
            Next::Again { after, mut job } => {
                if let Some(after) = after {
                    inner.sleep(after).await;
                }
                let (reply, fresh) = oneshot::channel();
                job.payload_mut().reply = Some(reply);
                receiver = Some(fresh);
                queued_at = inner.now();
                inner
                    .pacing
                    .lanes
                    .requeue_front(job)
                    .map_err(|e| queue_error(e, &prepared.model))?;
            }
        }
    }
}

/// One HTTP attempt with an admitted reservation, and the decision that follows.
async fn attempt<R: Receive>(
    inner: &Arc<Inner>,
    prepared: &Prepared,
    plan: &Plan,
    attempts: &mut Attempts,
    job: QueuedJob<Payload>,
    reservation: Reservation,
) -> Next<R::Output> {
    let exchange = Exchange {
        job,
        sent: Sent::new(reservation),
        wire: InFlight::new(inner),
    };
    let sending = inner.wire.transport.send(prepared.http_request());
    // One timer bounds the whole attempt: the response head and, for a JSON reply, its body.
    let mut timer = inner.sleep(plan.attempt_timeout);
    let response = tokio::select! {
        biased;
        response = sending => response,
        () = &mut timer => Err(TransportError::timeout()),
    };
    let response = match response {
        Ok(response) => response,
        Err(error) => {
            return transport_failure(
                inner,
                plan,
                attempts,
                exchange,
                error,
                RetryReason::Transport,
            );
        }
    };
    let received = inner.now();
    let (head, body) = response.into_parts();
    if head.status.is_success() {
        let head = Head {
            status: head.status,
            limits: RateLimitHeaders::from_headers(&head.headers),
            headers: head.headers,
            received,
        };
        return R::accept(
            inner, prepared, plan, attempts, exchange, head, body, &mut timer,
        )
        .await;
    }

    // An error status: read what the server says (a broken error body is no reason to fail
    // differently).
    let body = body
        .collect_bytes(ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    let Exchange { job, sent, wire } = exchange;
    drop(wire);
    let answer = ErrorAnswer::new(head.status, head.headers, body);
    let outcome = classify(
        &answer,
        &plan.retry,
        plan.max_rate_limit_retries,
        attempts.counts(inner),
        wall_clock_now(),
        &mut inner.rng(),
    );
    settle(inner, prepared, sent, &answer, outcome, received);
    match outcome {
        Outcome::RateLimited {
            retry_after,
            dimension,
            exhausted,
            ..
        } => {
            attempts.limited += 1;
            if exhausted {
                return Next::Fail(rate_limited_error(&prepared.model, answer, retry_after));
            }
            emit_rate_limited(inner, plan, prepared, retry_after, dimension);
            Next::Again { after: None, job }
        }
        Outcome::TooLarge => Next::Fail(too_large_error(&prepared.model, answer)),
        Outcome::Retry { after, .. } => {
            attempts.failures += 1;
            emit_retrying(
                inner,
                plan,
                &prepared.model,
                attempts.sent,
                after,
                RetryReason::Status(answer.status.as_u16()),
            );
            Next::Again {
                after: Some(after),
                job,
            }
        }
        Outcome::Fail { .. } | Outcome::Success => {
            attempts.failures += 1;
            R::refused(answer, prepared)
        }
    }
}

/// Settles the reservation of an error answer and teaches the limiter what it says: a 429
/// charged nothing and pauses the model (groq-ratelimit's rule, then the client's floor and
/// backoff); a 413 charged nothing; another client error was refused before any work; a
/// server error may have cost something.
fn settle(
    inner: &Inner,
    prepared: &Prepared,
    sent: Sent,
    answer: &ErrorAnswer,
    outcome: Outcome,
    received: Instant,
) {
    let model = &*prepared.model;
    match outcome {
        Outcome::RateLimited {
            pause, dimension, ..
        } => {
            sent.refund();
            inner.pacing.limiter.rate_limited(
                model,
                &answer.limits,
                answer.message.as_ref(),
                received,
            );
            if let Some(until) = received.checked_add(pause) {
                inner.pacing.limiter.penalize(model, dimension, until);
            }
        }
        Outcome::TooLarge => {
            sent.refund();
            inner
                .pacing
                .limiter
                .observe(model, &answer.limits, received);
        }
        Outcome::Retry { charged, .. } | Outcome::Fail { charged } => {
            if charged {
                sent.keep();
            } else {
                sent.refund();
            }
            inner
                .pacing
                .limiter
                .observe(model, &answer.limits, received);
        }
        Outcome::Success => {
            sent.keep();
            inner
                .pacing
                .limiter
                .observe(model, &answer.limits, received);
        }
    }
    prepared.answered(inner);
}

/// [`Event::RateLimited`] and its trace.
fn emit_rate_limited(
    inner: &Inner,
    plan: &Plan,
    prepared: &Prepared,
    retry_after: Option<Duration>,
    dimension: Option<groq_ratelimit::Dimension>,
) {
    inner.calls.events.emit(Event::RateLimited {
        id: plan.id.clone(),
        model: Arc::clone(&prepared.model),
        retry_after,
        dimension,
    });
    tracing::debug!(
        model = &*prepared.model,
        ?retry_after,
        ?dimension,
        "rate limited by the server; requeued at the head"
    );
}

/// [`Event::Retrying`] and its trace.
fn emit_retrying(
    inner: &Inner,
    plan: &Plan,
    model: &str,
    attempt: u32,
    after: Duration,
    reason: RetryReason,
) {
    inner.calls.events.emit(Event::Retrying {
        id: plan.id.clone(),
        model: Arc::from(model),
        attempt,
        after,
        reason,
    });
    tracing::debug!(model, ?after, ?reason, "retrying");
}

/// The error of a 429 past the retry bound; it keeps the answer.
pub(crate) fn rate_limited_error(
    model: &str,
    answer: ErrorAnswer,
    retry_after: Option<Duration>,
) -> Error {
    let response = response_of(&answer);
    Error::RateLimited(crate::error::RateLimited {
        model: model.to_owned(),
        dimension: answer.dimension(),
        retry_after,
        message: answer.envelope.map(|e| e.error.message).unwrap_or_default(),
        response: Some(Box::new(response)),
    })
}

/// The error of a 413 `rate_limit_exceeded`; it keeps the answer.
fn too_large_error(model: &str, answer: ErrorAnswer) -> Error {
    let message = answer.message.as_ref();
    Error::RequestTooLarge(crate::error::RequestTooLarge {
        model: model.to_owned(),
        dimension: message.and_then(|m| m.dimension),
        requested: message.and_then(|m| m.requested),
        limit: message.and_then(|m| m.limit),
        from_server: true,
        response: Some(Box::new(response_of(&answer))),
    })
}

/// The answer as an error keeps it: status, request id, body bytes.
fn response_of(answer: &ErrorAnswer) -> HttpResponse {
    HttpResponse::new(
        answer.status.as_u16(),
        request_id(&answer.headers),
        answer.body.clone(),
    )
}

/// A 404 that says the URL is unknown names the URL that was called and, when it lacks
/// `/openai/v1`, suggests it: the usual cause is a base URL written without it.
pub(crate) fn unknown_url_hint(error: Error, uri: &Uri) -> Error {
    let Error::Api(mut api) = error else {
        return error;
    };
    let unknown_url = api.status == 404
        && (api.code.as_deref() == Some("unknown_url")
            || api
                .message
                .to_ascii_lowercase()
                .contains("unknown request url"));
    if !unknown_url {
        return Error::Api(api);
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
    api.message = format!("{} (the URL called was {called}{hint})", api.message);
    Error::Api(api)
}

/// Completes at the queue deadline, with its length; never without one.
async fn queue_expiry(inner: &Inner, expiry: Option<(Duration, Instant)>) -> Duration {
    match expiry {
        Some((after, at)) => {
            inner.sleep_until(at).await;
            after
        }
        None => std::future::pending().await,
    }
}

/// Settles and decides after a transport error.
pub(crate) fn transport_failure<T>(
    inner: &Arc<Inner>,
    plan: &Plan,
    attempts: &mut Attempts,
    exchange: Exchange,
    error: TransportError,
    reason: RetryReason,
) -> Next<T> {
    let Exchange { job, sent, wire } = exchange;
    drop(wire);
    let outcome = classify_failure(
        &error,
        &plan.retry,
        attempts.counts(inner),
        wall_clock_now(),
        &mut inner.rng(),
    );
    attempts.failures += 1;
    match outcome {
        Outcome::Retry { charged: false, .. } | Outcome::Fail { charged: false } => sent.refund(),
        _ => sent.keep(),
    }
    match outcome {
        Outcome::Retry { after, .. } => {
            emit_retrying(inner, plan, job.model(), attempts.sent, after, reason);
            Next::Again {
                after: Some(after),
                job,
            }
        }
        _ => Next::Fail(Error::transport(attempts.sent, error)),
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
pub(crate) fn api_error(answer: ErrorAnswer, model: &str) -> Error {
    let status = answer.status;
    let envelope = answer.envelope;
    let answer = HttpResponse::new(status.as_u16(), request_id(&answer.headers), answer.body);
    let text = String::from_utf8_lossy(answer.body());
    let text: String = text.chars().take(ERROR_BODY_LIMIT as usize).collect();
    let error = envelope.map(|e| e.error);
    let code = error.as_ref().and_then(|e| e.code.clone());
    if status == StatusCode::NOT_FOUND && code.as_deref() == Some("model_not_found") {
        return Error::ModelNotFound(crate::error::ModelNotFound {
            model: model.to_owned(),
            message: error.map(|e| e.message).unwrap_or_default(),
            response: Some(Box::new(answer)),
        });
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
    Error::Api(crate::error::Api {
        status: status.as_u16(),
        code,
        kind: error.as_ref().and_then(|e| e.kind.clone()),
        message,
        failed_generation: error.and_then(|e| e.failed_generation),
        response: Box::new(answer),
    })
}
