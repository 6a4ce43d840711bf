//! [`GroqClient`]: the shared pipeline and its administrative calls.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use groq_config::{Config, Limits, ModelConfig, UnknownModelPolicy};
use groq_queue::{LaneStatus, Lanes, ShutdownMode, ShutdownReport};
use groq_ratelimit::{Dimension, Quota, RateLimiter};
use groq_tokens::{Estimate, TokenCounter};
use groq_transport::{RetryPolicy, Transport};
use groq_types::{ChatRequest, Model, ModelList};
use http::Method;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use crate::call::{ChatCall, ChatStreamCall};
use crate::event::{Event, Events, RequestId};
use crate::pipeline::{self, Payload, Routes};
use crate::warmup::WarmUp;
use crate::{Error, GroqClientBuilder};

/// The running calls' cancellation handles by request id: (serial, sender) per call.
pub(crate) type Registry = HashMap<RequestId, Vec<(u64, Arc<CancelFlag>)>>;

/// A running call's cancellation flag, raised by [`GroqClient::cancel`].
#[derive(Debug, Default)]
pub(crate) struct CancelFlag {
    raised: AtomicBool,
    notify: Notify,
}

impl CancelFlag {
    fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Completes once the flag is raised.
    pub(crate) async fn raised(self: Arc<Self>) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so that a raise in between is not missed.
            notified.as_mut().enable();
            if self.raised.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// The shared state behind every clone of a [`GroqClient`].
pub(crate) struct Inner {
    pub(crate) config: RwLock<Arc<Config>>,
    /// Per-model routes of the current configuration.
    pub(crate) routes: RwLock<Routes>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) limiter: Arc<dyn RateLimiter>,
    pub(crate) counter: Arc<dyn TokenCounter>,
    /// The calibration warm-up and cost re-estimation the lanes consult.
    pub(crate) warmup: Arc<WarmUp>,
    pub(crate) lanes: Lanes<Payload>,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_rate_limit_retries: u32,
    pub(crate) events: Arc<Events>,
    pub(crate) max_response_bytes: u64,
    /// The longest a stream may run after its head arrived.
    pub(crate) stream_timeout: Duration,
    /// The longest a stream may go without a data event.
    pub(crate) stream_idle_timeout: Duration,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) closed: AtomicBool,
    pub(crate) rng: Mutex<groq_transport::Jitter>,
    /// Unconfigured models whose quota was given to the limiter.
    pub(crate) unknown_models: Mutex<HashSet<String>>,
    /// Cancellation handles of the running calls, by request id.
    pub(crate) calls: Mutex<Registry>,
    pub(crate) serial: AtomicU64,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.config();
        f.debug_struct("GroqClient")
            .field("base_url", &config.base_url)
            .field("api_key", &config.api_key)
            .field("models", &config.models.keys().collect::<Vec<_>>())
            .field("transport", &self.transport)
            .field("limiter", &self.limiter)
            .field("token_counter", &self.counter)
            .field("retry", &self.retry)
            .field("max_rate_limit_retries", &self.max_rate_limit_retries)
            .field("in_flight", &self.in_flight.load(Ordering::Relaxed))
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn now(&self) -> Instant {
        self.limiter.timer().now()
    }

    pub(crate) fn elapsed(&self, since: Instant) -> Duration {
        self.now().saturating_duration_since(since)
    }

    pub(crate) fn rng(&self) -> MutexGuard<'_, groq_transport::Jitter> {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives the limiter the quota of an unconfigured model the first time it is used.
    pub(crate) fn ensure_unknown_quota(&self, config: &Config, model: &ModelConfig) {
        let mut known = self
            .unknown_models
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if known.insert(model.id.clone()) {
            self.limiter.set_quota(
                &model.id,
                unknown_quota(config).unwrap_or_else(Quota::unlimited),
            );
        }
    }

    /// Registers a running call for [`GroqClient::cancel`].
    pub(crate) fn register(self: &Arc<Self>, id: &RequestId) -> CallGuard {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let flag = Arc::new(CancelFlag::default());
        self.calls_lock()
            .entry(id.clone())
            .or_default()
            .push((serial, Arc::clone(&flag)));
        CallGuard {
            inner: Arc::clone(self),
            id: id.clone(),
            serial,
            cancelled: flag,
        }
    }

    fn calls_lock(&self) -> MutexGuard<'_, Registry> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies the quotas of `config` to the limiter (state is kept by `set_quota`).
    fn apply_quotas(&self, config: &Config) {
        for (id, model) in &config.models {
            self.limiter
                .set_quota(id, Quota::from_limits(&model.limits));
        }
        let known = self
            .unknown_models
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for id in known.iter().filter(|id| !config.models.contains_key(*id)) {
            if let Some(quota) = unknown_quota(config) {
                self.limiter.set_quota(id, quota);
            }
        }
    }

    /// The secrets to scrub from server text, from the current configuration.
    pub(crate) fn secrets(&self) -> Vec<String> {
        crate::redact::secrets(&self.config())
    }

    /// A GET to the API outside the rate-limit queue (model listing), with retries; server
    /// text in its error is scrubbed of secrets.
    async fn get<T>(
        &self,
        path: &str,
        expected: &'static str,
        parse: fn(Bytes) -> Result<T, serde_json::Error>,
    ) -> Result<T, Error> {
        let (status, body) = crate::rest::send(self, Method::GET, path, None).await?;
        parse(body).map_err(|source| Error::InvalidResponse {
            status: status.as_u16(),
            expected,
            source,
        })
    }
}

/// The quota for unconfigured models under the configuration's policy (`None`: rejected).
fn unknown_quota(config: &Config) -> Option<Quota> {
    match &config.unknown_models {
        UnknownModelPolicy::Reject => None,
        UnknownModelPolicy::AllowUnlimited => Some(Quota::unlimited()),
        UnknownModelPolicy::AllowWithLimits(limits) => Some(Quota::from_limits(limits)),
        _ => Some(Quota::from_limits(&Limits::conservative())),
    }
}

/// Removes a call from the cancellation registry when it ends; its flag says whether
/// [`GroqClient::cancel`] was called.
#[derive(Debug)]
pub(crate) struct CallGuard {
    inner: Arc<Inner>,
    id: RequestId,
    serial: u64,
    pub(crate) cancelled: Arc<CancelFlag>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        let mut calls = self.inner.calls_lock();
        if let Entry::Occupied(mut entry) = calls.entry(self.id.clone()) {
            entry.get_mut().retain(|(serial, _)| *serial != self.serial);
            if entry.get().is_empty() {
                entry.remove();
            }
        }
    }
}

/// A Groq Cloud client that pushes chat requests through each model's rate limits in the
/// least time, with no avoidable 429.
///
/// Cheap to clone: every clone shares one pipeline (configuration, transport, rate limiter,
/// token counter, queues). `Send + Sync`. Its `Debug` output never shows the API key.
///
/// Build one with [`GroqClient::builder`], [`GroqClient::from_env`] or
/// [`GroqClient::from_config_file`]. Building needs no runtime; calls must run inside a
/// tokio runtime (the queues run a dispatcher task per model), and fail with
/// [`Error::Config`] otherwise.
///
/// See the [crate documentation](crate) for the path of a request and an example.
#[derive(Clone)]
pub struct GroqClient {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for GroqClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// One dimension of a model's limits: the configured rate and what is used of it now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitUsage {
    /// Which limit.
    pub dimension: Dimension,
    /// The limit per period.
    pub limit: u64,
    /// The period (a minute or a day, or as configured).
    pub period: Duration,
    /// Units used in the current window (can exceed `limit` after under-estimates).
    pub used: u64,
    /// Units available now.
    pub remaining: u64,
    /// Time until the bucket is full again.
    pub reset: Duration,
    /// Units reserved by requests not answered yet.
    pub pending: u64,
}

/// A model's limits and their use, from [`GroqClient::limits`] (the seed's
/// `check_model_limits`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelLimits {
    /// The model.
    pub model: String,
    /// The limited dimensions, in the order RPM, RPD, TPM, TPD.
    pub dimensions: Vec<LimitUsage>,
    /// Requests admitted and not answered yet.
    pub in_flight: u32,
    /// The cap on requests in flight, if any.
    pub max_in_flight: Option<u32>,
    /// Until when the server asked to pause the model, if it did.
    pub penalized_until: Option<Instant>,
    /// The model's context window, if known.
    pub context_window: Option<u32>,
}

impl ModelLimits {
    /// The usage of one dimension, if it is limited.
    pub fn get(&self, dimension: Dimension) -> Option<&LimitUsage> {
        self.dimensions.iter().find(|d| d.dimension == dimension)
    }
}

/// The queues at a glance, from [`GroqClient::queue_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStatus {
    /// One entry per model lane (queued by class, oldest waits, dispatched and unfinished).
    pub lanes: Vec<LaneStatus>,
    /// Requests queued, over all models.
    pub queued: usize,
    /// HTTP requests on the wire right now.
    pub in_flight: usize,
    /// Whether the client takes new requests.
    pub accepting: bool,
}

impl GroqClient {
    /// A builder; see [`GroqClientBuilder`].
    pub fn builder() -> GroqClientBuilder {
        GroqClientBuilder::default()
    }

    /// A client configured from the environment: `GROQ_API_KEY`, `GROQ_BASE_URL`, and the
    /// file named by `GROQ_CONFIG` if set (see [`Config::load`]), with every other part at
    /// its default.
    pub fn from_env() -> Result<Self, Error> {
        let config = Config::load(None)
            .map_err(|e| Error::config_from("the configuration could not be loaded", e))?;
        Self::builder().config(config).build()
    }

    /// A client configured from the file at `path` (either format of `groq-config`) layered
    /// over the environment, with every other part at its default.
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let config = Config::load(Some(path)).map_err(|e| {
            Error::config_from(
                format!(
                    "the configuration file {} could not be loaded",
                    path.display()
                ),
                e,
            )
        })?;
        Self::builder().config(config).build()
    }

    /// A chat completion. Await the returned [`ChatCall`], optionally after setting
    /// per-call options:
    ///
    /// ```no_run
    /// # async fn run(client: groq_client::GroqClient) -> Result<(), groq_client::Error> {
    /// use groq_client::{ChatRequest, Priority};
    /// use std::time::Duration;
    ///
    /// let request = ChatRequest::new("llama-3.1-8b-instant").user("Hello!");
    /// let reply = client
    ///     .chat(request)
    ///     .priority(Priority::High)
    ///     .timeout(Duration::from_secs(30))
    ///     .request_id("greeting")
    ///     .await?;
    /// println!("{}", reply.text().unwrap_or_default());
    /// # Ok(()) }
    /// ```
    ///
    /// The request's `stream` flag is ignored (use [`chat_stream`](Self::chat_stream)).
    pub fn chat(&self, request: ChatRequest) -> ChatCall {
        ChatCall::new(Arc::clone(&self.inner), request)
    }

    /// A streamed chat completion: awaiting the returned [`ChatStreamCall`] queues the request
    /// and resolves once the server has accepted it, with a
    /// [`ChatStream`](crate::ChatStream) of chunks.
    pub fn chat_stream(&self, request: ChatRequest) -> ChatStreamCall {
        ChatStreamCall::new(Arc::clone(&self.inner), request)
    }

    /// A one-message chat: `prompt` as the user message to `model` (the seed's text
    /// completion). Read the answer with [`ChatCompletion::text`](groq_types::ChatCompletion::text).
    pub fn complete(&self, model: impl Into<String>, prompt: impl Into<String>) -> ChatCall {
        self.chat(ChatRequest::new(model).user(prompt.into()))
    }

    /// The models the API offers (`GET /models`). Not rate-limited by the client.
    pub async fn models(&self) -> Result<ModelList, Error> {
        self.inner
            .get("/models", "a model list", ModelList::from_bytes)
            .await
    }

    /// One model as the API describes it (`GET /models/{id}`); [`Error::ModelNotFound`] if
    /// the API does not know it.
    pub async fn model(&self, id: &str) -> Result<Model, Error> {
        if id.trim().is_empty() || id.contains(['?', '#', ' ']) {
            return Err(Error::ModelNotFound {
                model: id.to_owned(),
                message: "a model id is a non-empty name without spaces, '?' or '#'".to_owned(),
                response: None,
            });
        }
        self.inner
            .get(&format!("/models/{id}"), "a model", Model::from_bytes)
            .await
    }

    /// The models of the configuration, by id.
    pub fn configured_models(&self) -> Vec<ModelConfig> {
        self.inner.config().models.values().cloned().collect()
    }

    /// The current configuration.
    pub fn config(&self) -> Arc<Config> {
        self.inner.config()
    }

    /// `text` with this client's secrets (every configured API key, and the userinfo of every
    /// configured URL) replaced by [`REDACTED`](crate::REDACTED). Errors from the client are
    /// scrubbed already; use this for server text stored elsewhere (logs, files).
    ///
    /// ```
    /// use groq_client::GroqClient;
    ///
    /// let client = GroqClient::builder().api_key("gsk_scrub_me_0123456789").build()?;
    /// let echoed = "invalid header: Bearer gsk_scrub_me_0123456789";
    /// assert_eq!(client.redact(echoed), "invalid header: Bearer [REDACTED]");
    /// # Ok::<(), groq_client::Error>(())
    /// ```
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        crate::redact::scrub(text, &self.inner.secrets())
    }

    /// [`redact`](Self::redact) for raw bytes, such as a response body about to be written to
    /// a file: the one permitted change to bytes the server sent. Borrowed when nothing
    /// matched.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        crate::redact::scrub_bytes(bytes, &self.inner.secrets())
    }

    /// [`redact`](Self::redact) applied to every string of a JSON value in place (a reply
    /// about to be written out), reading the secrets once.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        let secrets = self.inner.secrets();
        if !secrets.is_empty() {
            crate::redact::scrub_json(value, &secrets);
        }
    }

    /// The rate limiter the client reserves through.
    pub fn limiter(&self) -> Arc<dyn RateLimiter> {
        Arc::clone(&self.inner.limiter)
    }

    /// The estimated cost of `request` as the client would reserve it: prompt tokens (framing
    /// included, calibrated by the usage seen so far) plus the completion allowance.
    pub fn count_tokens(&self, request: &ChatRequest) -> Estimate {
        let config = self.inner.config();
        let allowance = config
            .resolve_model(request.model())
            .map_or(config.default_completion_tokens, |model| {
                config.completion_allowance(&model)
            });
        self.inner.counter.estimate(request, allowance)
    }

    /// The limits of `model` and how much of each is used now (the seed's
    /// `check_model_limits`). Unconfigured models follow the unknown-model policy.
    pub fn limits(&self, model: &str) -> Result<ModelLimits, Error> {
        let config = self.inner.config();
        let model_config = pipeline::resolve_model(&config, model)?;
        let quota = Quota::from_limits(&model_config.limits);
        let snapshot = self.inner.limiter.snapshot(model);
        let dimensions = match &snapshot {
            Some(snapshot) => snapshot
                .dimensions
                .iter()
                .map(|d| LimitUsage {
                    dimension: d.dimension,
                    limit: d.rate.limit(),
                    period: d.rate.period(),
                    used: d.used,
                    remaining: d.remaining,
                    reset: d.reset,
                    pending: d.pending,
                })
                .collect(),
            None => quota
                .rates()
                .map(|(dimension, rate)| LimitUsage {
                    dimension,
                    limit: rate.limit(),
                    period: rate.period(),
                    used: 0,
                    remaining: rate.limit(),
                    reset: Duration::ZERO,
                    pending: 0,
                })
                .collect(),
        };
        Ok(ModelLimits {
            model: model.to_owned(),
            dimensions,
            in_flight: snapshot.as_ref().map_or(0, |s| s.in_flight),
            max_in_flight: snapshot
                .as_ref()
                .map_or(quota.max_in_flight(), |s| s.max_in_flight),
            penalized_until: snapshot.and_then(|s| s.penalized_until),
            context_window: model_config.context_window,
        })
    }

    /// The queues: lengths per model and class, oldest waits, requests in flight.
    pub fn queue_status(&self) -> QueueStatus {
        let lanes = self.inner.lanes.status();
        QueueStatus {
            queued: lanes.iter().map(|l| l.total).sum(),
            lanes,
            in_flight: self.inner.in_flight.load(Ordering::Relaxed),
            accepting: !self.inner.closed.load(Ordering::Acquire),
        }
    }

    /// Cancels the running calls with this request id: a queued one leaves its queue
    /// (nothing is charged), one on the wire is aborted (its reservation stays charged).
    /// Each ends with [`Error::Cancelled`]. Returns whether any call had this id.
    pub fn cancel(&self, id: impl AsRef<str>) -> bool {
        let id = RequestId::new(id.as_ref());
        let calls = self.inner.calls_lock();
        match calls.get(&id) {
            Some(list) => {
                for (_, flag) in list {
                    flag.raise();
                }
                !list.is_empty()
            }
            None => false,
        }
    }

    /// Replaces the configuration. Quota changes apply at once without losing what the
    /// limiter knows (usage, reservations in flight, pauses); new models get their lane on
    /// first use. Priority aging applies to lanes created afterwards.
    pub fn reload_config(&self, config: Config) -> Result<(), Error> {
        config
            .validate()
            .map_err(|e| Error::config_from("the new configuration is not valid", e))?;
        crate::builder::check_api_key(&config)?;
        self.inner.apply_quotas(&config);
        *self
            .inner
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        Ok(())
    }

    /// Stops taking requests (new calls fail with [`Error::Shutdown`]), then either drains
    /// ([`ShutdownMode::Drain`]: every queued request is sent at the pace the limits allow,
    /// and the call returns when all have finished) or cancels ([`ShutdownMode::Cancel`]:
    /// queued requests fail with [`Error::Cancelled`]; requests on the wire finish). A
    /// [`ChatStream`](crate::ChatStream) counts as unfinished until it is read to its end or
    /// dropped, so a drain waits for open streams.
    pub async fn shutdown(&self, mode: ShutdownMode) -> ShutdownReport {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.lanes.shutdown(mode).await
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// A receiver of the pipeline's [`Event`]s from now on. A receiver that falls behind
    /// by more than the channel capacity
    /// ([`GroqClientBuilder::event_capacity`]) loses the oldest events
    /// ([`broadcast::error::RecvError::Lagged`]).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }
}
