//! [`GroqClientBuilder`]: how a [`GroqClient`] is assembled.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use groq_config::{ApiKey, Config};
use groq_queue::{AgingConfig, Dispatched, Lanes, Scheduler, WhenFull};
use groq_ratelimit::{Cost, LocalLimiter, Quota, RateLimiter, Timer, TokioTimer};
use groq_tokens::{CalibratedCounter, TiktokenCounter, TokenCounter};
use groq_transport::{HyperTransport, RetryPolicy, Transport};

use crate::Error;
use crate::client::{GroqClient, Inner};
use crate::event::{Events, ReportingLimiter};
use crate::pipeline::{Payload, Routes};
use crate::warmup::WarmUp;

/// Makes the [`Scheduler`] of each model's lane, for
/// [`GroqClientBuilder::scheduler`]: called once per model, when its first request arrives.
///
/// A scheduler orders read-only [`LaneEntry`](groq_queue::LaneEntry) views of the queued
/// requests (priority, enqueue and ready instants, sequence number, and the
/// [`Cost`] the lane will reserve); the lane keeps the requests themselves. Implemented for
/// closures `Fn(&str) -> Box<dyn Scheduler>`:
///
/// ```
/// use groq_queue::{AgingConfig, AgingQueue, Scheduler};
///
/// let slow_aging = |_model: &str| -> Box<dyn Scheduler> {
///     Box::new(AgingQueue::new(
///         AgingConfig::default().with_low(std::time::Duration::from_secs(120)),
///     ))
/// };
/// let _builder = groq_client::GroqClient::builder().scheduler(slow_aging);
/// ```
pub trait SchedulerFactory: Send + Sync + 'static {
    /// The scheduler for the lane of `model`.
    fn make(&self, model: &str) -> Box<dyn Scheduler>;
}

impl<F> SchedulerFactory for F
where
    F: Fn(&str) -> Box<dyn Scheduler> + Send + Sync + 'static,
{
    fn make(&self, model: &str) -> Box<dyn Scheduler> {
        self(model)
    }
}

type MakeScheduler =
    Box<dyn FnOnce(groq_queue::LanesBuilder<Payload>) -> groq_queue::LanesBuilder<Payload> + Send>;

/// Assembles a [`GroqClient`]. Every part is optional except an API key (in the
/// configuration, from `GROQ_API_KEY`, or [`api_key`](Self::api_key)).
///
/// | part | default |
/// |---|---|
/// | [`config`](Self::config) | [`Config::default`]: the built-in model catalog, Groq's URL |
/// | [`transport`](Self::transport) | [`HyperTransport`] with the configuration's request timeout |
/// | [`limiter`](Self::limiter) | [`LocalLimiter`] on [`timer`](Self::timer) with [`limiter_margin`](Self::limiter_margin) |
/// | [`token_counter`](Self::token_counter) | [`CalibratedCounter`] over [`TiktokenCounter`] |
/// | [`scheduler`](Self::scheduler) | [`AgingQueue`](groq_queue::AgingQueue) with the configuration's priority aging |
/// | [`retry_policy`](Self::retry_policy) | [`RetryPolicy::default`] with the configuration's `max_retries` |
/// | [`max_rate_limit_retries`](Self::max_rate_limit_retries) | 8 |
/// | [`lane_capacity`](Self::lane_capacity) / [`when_full`](Self::when_full) | 10 000 / [`WhenFull::Wait`] |
/// | [`stream_timeout`](Self::stream_timeout) / [`stream_idle_timeout`](Self::stream_idle_timeout) | the configuration's `stream_timeout` / `stream_idle_timeout` (10 min / 60 s) |
///
/// The limiter, whichever it is, gets every configured model's quota from the
/// configuration (`set_quota`, which keeps any state it has).
#[must_use]
pub struct GroqClientBuilder {
    config: Option<Config>,
    api_key: Option<ApiKey>,
    base_url: Option<String>,
    transport: Option<Arc<dyn Transport>>,
    limiter: Option<Arc<dyn RateLimiter>>,
    counter: Option<Arc<dyn TokenCounter>>,
    timer: Option<Arc<dyn Timer>>,
    margin: Option<Duration>,
    scheduler: Option<MakeScheduler>,
    retry: Option<RetryPolicy>,
    max_rate_limit_retries: u32,
    lane_capacity: usize,
    when_full: WhenFull,
    event_capacity: usize,
    max_response_bytes: u64,
    seed: Option<u64>,
    /// `None`: the configuration's `stream_timeout`.
    stream_timeout: Option<Duration>,
    /// `None`: the configuration's `stream_idle_timeout`.
    stream_idle_timeout: Option<Duration>,
    redis_url: Option<String>,
}

impl Default for GroqClientBuilder {
    fn default() -> Self {
        Self {
            config: None,
            api_key: None,
            base_url: None,
            transport: None,
            limiter: None,
            counter: None,
            timer: None,
            margin: None,
            scheduler: None,
            retry: None,
            max_rate_limit_retries: Self::DEFAULT_MAX_RATE_LIMIT_RETRIES,
            lane_capacity: groq_queue::LanesBuilder::<Payload>::DEFAULT_CAPACITY,
            when_full: WhenFull::Wait,
            event_capacity: Self::DEFAULT_EVENT_CAPACITY,
            max_response_bytes: HyperTransport::DEFAULT_MAX_BODY_BYTES,
            seed: None,
            stream_timeout: None,
            stream_idle_timeout: None,
            redis_url: None,
        }
    }
}

impl fmt::Debug for GroqClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroqClientBuilder")
            .field("config", &self.config)
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url)
            .field("transport", &self.transport)
            .field("limiter", &self.limiter)
            .field("token_counter", &self.counter)
            .field("timer", &self.timer)
            .field("limiter_margin", &self.margin)
            .field("custom_scheduler", &self.scheduler.is_some())
            .field("retry_policy", &self.retry)
            .field("max_rate_limit_retries", &self.max_rate_limit_retries)
            .field("lane_capacity", &self.lane_capacity)
            .field("when_full", &self.when_full)
            .field("event_capacity", &self.event_capacity)
            .field("stream_timeout", &self.stream_timeout)
            .field("stream_idle_timeout", &self.stream_idle_timeout)
            .finish_non_exhaustive()
    }
}

impl GroqClientBuilder {
    /// How many 429s one request may meet before it fails with
    /// [`Error::RateLimited`], by default.
    pub const DEFAULT_MAX_RATE_LIMIT_RETRIES: u32 = 8;
    /// The default capacity of the event channel.
    pub const DEFAULT_EVENT_CAPACITY: usize = 4_096;
    /// The default longest run of a streamed reply: 10 minutes.
    pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(600);
    /// The default longest wait for the next data event of a stream: 60 s.
    pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

    /// The configuration: models and their limits, base URL, API key, defaults.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The API key, replacing the configuration's.
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The API base URL, replacing the configuration's (e.g. an emulator's
    /// `http://127.0.0.1:PORT/openai/v1`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The HTTP transport (default: a [`HyperTransport`] with the configuration's request
    /// timeout). Any [`Transport`] fits: a value, an `Arc` of one (to keep a handle, as a
    /// recording test transport does) or an `Arc<dyn Transport>`; the client shares it
    /// between all its requests.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// Shares the quota with every other process (or machine) using the same Redis and
    /// namespace: the limiter becomes a `RedisLimiter` (crate `groq-ratelimit-redis`) on
    /// `url`, with the configuration's `redis_namespace` (default: a fingerprint of the API
    /// key), its `redis_unreachable` policy and the [`limiter_margin`](Self::limiter_margin).
    /// Overrides the configuration's `redis_url`; ignored with a custom
    /// [`limiter`](Self::limiter). Feature `redis`.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }

    /// The rate limiter (default: a [`LocalLimiter`]). It is given every configured model's
    /// quota; its [`timer`](RateLimiter::timer) is the client's timer: lanes, backoff and
    /// timeouts wait on it. Build the limiter on the timer you want the client to use (a
    /// [`timer`](Self::timer) given to the builder as well is refused).
    pub fn limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The token counter (default: a [`CalibratedCounter`] over a [`TiktokenCounter`]).
    pub fn token_counter(mut self, counter: Arc<dyn TokenCounter>) -> Self {
        self.counter = Some(counter);
        self
    }

    /// The timer that drives the client (default [`TokioTimer`]): the default limiter reads
    /// it, and queue lanes, backoff between attempts, request and stream timeouts all wait
    /// on it, so a `groq_ratelimit::ManualTimer` (feature `test-util` of
    /// `groq-ratelimit`) advanced by hand drives the whole pipeline.
    ///
    /// The client's time is always its limiter's [`timer`](RateLimiter::timer): with a custom
    /// [`limiter`](Self::limiter), build that limiter on the timer instead; giving both, or a
    /// timer with a Redis limiter (which follows Redis's clock), makes
    /// [`build`](Self::build) fail rather than leave one of them unused.
    pub fn timer(mut self, timer: impl Timer + 'static) -> Self {
        self.timer = Some(Arc::new(timer));
        self
    }

    /// The default limiter's margin against network jitter (default
    /// [`groq_ratelimit::DEFAULT_MARGIN`], 100 ms). Ignored with a custom limiter.
    pub fn limiter_margin(mut self, margin: Duration) -> Self {
        self.margin = Some(margin);
        self
    }

    /// The scheduler of each model's lane (default: an
    /// [`AgingQueue`](groq_queue::AgingQueue) with the configuration's priority aging).
    pub fn scheduler(mut self, factory: impl SchedulerFactory) -> Self {
        let factory = Arc::new(factory);
        self.scheduler = Some(Box::new(move |lanes: groq_queue::LanesBuilder<Payload>| {
            lanes.scheduler(move |model: &str| factory.make(model))
        }));
        self
    }

    /// When and how often to retry failed attempts (default: [`RetryPolicy::default`] with
    /// `max_retries + 1` attempts from the configuration). A call's
    /// [`max_attempts`](crate::ChatCall::max_attempts) overrides the attempts.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// How many 429s one request may meet before it fails with [`Error::RateLimited`]
    /// (default [`DEFAULT_MAX_RATE_LIMIT_RETRIES`](Self::DEFAULT_MAX_RATE_LIMIT_RETRIES)). A
    /// 429 is not a failed attempt: the request goes back to the head of its queue and the
    /// model pauses for the wait the server named.
    pub fn max_rate_limit_retries(mut self, retries: u32) -> Self {
        self.max_rate_limit_retries = retries;
        self
    }

    /// The longest a streamed reply may run, from the moment its head arrives to its last
    /// chunk (default: the configuration's `stream_timeout`,
    /// [`DEFAULT_STREAM_TIMEOUT`](Self::DEFAULT_STREAM_TIMEOUT) unless set; at least 1 ms).
    /// A stream still running then ends with [`Error::Stream`], so a server that never stops
    /// sending cannot hold a request forever.
    pub fn stream_timeout(mut self, timeout: Duration) -> Self {
        self.stream_timeout = Some(timeout.max(Duration::from_millis(1)));
        self
    }

    /// The longest a streamed reply may go without a data event (default
    /// [`DEFAULT_STREAM_IDLE_TIMEOUT`](Self::DEFAULT_STREAM_IDLE_TIMEOUT) unless the
    /// configuration's `stream_idle_timeout` says otherwise; at least 1 ms).
    /// Only chunks reset it: SSE comments and keep-alives do not, so a server trickling
    /// comments cannot keep a stream alive.
    pub fn stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.stream_idle_timeout = Some(timeout.max(Duration::from_millis(1)));
        self
    }

    /// How many requests each model's queue holds (default 10 000).
    pub fn lane_capacity(mut self, capacity: usize) -> Self {
        self.lane_capacity = capacity;
        self
    }

    /// What a call does when its model's queue is full: wait for room (default) or fail with
    /// [`Error::QueueFull`].
    pub fn when_full(mut self, when_full: WhenFull) -> Self {
        self.when_full = when_full;
        self
    }

    /// The capacity of the [`events`](GroqClient::events) channel (default 4 096).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// The largest reply body read (default 32 MiB).
    pub fn max_response_bytes(mut self, limit: u64) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Seeds the random source of retry jitter, for reproducible runs.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the client. Needs no runtime (nothing is spawned until the first call).
    ///
    /// Fails with [`Error::Config`] when no API key is available, when the configuration is
    /// invalid, when the lane capacity is zero or when the default transport cannot be built.
    pub fn build(self) -> Result<GroqClient, Error> {
        let mut config = self.config.unwrap_or_default();
        if let Some(key) = self.api_key {
            config.api_key = Some(key);
        }
        if let Some(url) = self.base_url {
            config.base_url = url.trim_end_matches('/').to_owned();
        }
        config
            .validate()
            .map_err(|e| Error::config_from("the configuration is not valid", e))?;
        check_api_key(&config)?;
        crate::pipeline::endpoint(&config.base_url, "/chat/completions")?;
        if self.lane_capacity == 0 {
            return Err(Error::config("the lane capacity must be at least 1"));
        }

        let transport: Arc<dyn Transport> = match self.transport {
            Some(transport) => transport,
            None => {
                let hyper = HyperTransport::builder()
                    .request_timeout(config.request_timeout)
                    .max_body_bytes(self.max_response_bytes)
                    .build()
                    .map_err(|e| Error::config_from("the HTTP transport could not be built", e))?;
                // A URL the transport would refuse is a configuration error, found before
                // anything is sent rather than once per request.
                let urls = std::iter::once(config.base_url.as_str())
                    .chain(config.models.values().filter_map(|m| m.base_url.as_deref()));
                for url in urls {
                    let uri = crate::pipeline::endpoint(url, "/chat/completions")?;
                    if let Err(e) = hyper.check_url(&uri) {
                        return Err(Error::config_from(
                            format!("the base URL {} cannot be used", redact_url(url)),
                            e,
                        ));
                    }
                }
                Arc::new(hyper)
            }
        };
        let redis_url = self.redis_url.clone().or_else(|| config.redis.url.clone());
        if self.timer.is_some() && (self.limiter.is_some() || redis_url.is_some()) {
            return Err(Error::config(
                "a timer was given together with a custom or Redis limiter; the client runs on \
                 its limiter's timer, so build the limiter on that timer instead",
            ));
        }
        let limiter: Arc<dyn RateLimiter> = match self.limiter {
            Some(limiter) => limiter,
            None if redis_url.is_some() => shared_limiter(&config, redis_url, self.margin)?,
            None => {
                let mut builder = LocalLimiter::builder();
                builder = match self.timer {
                    Some(timer) => builder.timer(timer),
                    None => builder.timer(TokioTimer),
                };
                if let Some(margin) = self.margin {
                    builder = builder.margin(margin);
                }
                Arc::new(builder.build())
            }
        };
        for (id, model) in &config.models {
            limiter.set_quota(id, Quota::from_limits(&model.limits));
        }
        let counter: Arc<dyn TokenCounter> = match self.counter {
            Some(counter) => counter,
            None => Arc::new(CalibratedCounter::new(TiktokenCounter::new())),
        };
        let retry = self.retry.unwrap_or_else(|| {
            RetryPolicy::default().with_max_attempts(config.max_retries.saturating_add(1))
        });

        let events = Arc::new(Events::new(self.event_capacity));
        let limiter: Arc<dyn RateLimiter> =
            Arc::new(ReportingLimiter::new(limiter, Arc::clone(&events)));
        let handoff = |mut dispatched: Dispatched<Payload>| -> Result<(), Dispatched<Payload>> {
            if let Some(reply) = dispatched.job_mut().payload_mut().reply.take() {
                // A caller that is gone drops the job: its reservation is refunded.
                let _ = reply.send(dispatched);
            }
            Ok(())
        };
        let aging = AgingConfig::default()
            .with_normal(config.priority_aging.normal)
            .with_low(config.priority_aging.low);
        let warmup = Arc::new(WarmUp::new(Arc::clone(&counter)));
        let admission = {
            let warmup = Arc::clone(&warmup);
            move |model: &str, payload: &Payload, cost: Cost, in_flight: usize| {
                warmup.admit(model, payload, cost, in_flight)
            }
        };
        let mut lanes = Lanes::builder(Arc::clone(&limiter), handoff)
            .admission(admission)
            .aging(aging)
            .capacity(self.lane_capacity)
            .when_full(self.when_full);
        if let Some(scheduler) = self.scheduler {
            lanes = scheduler(lanes);
        }
        let lanes = lanes
            .build()
            .map_err(|e| Error::config_from("the request queues could not be built", e))?;
        let rng = match self.seed {
            Some(seed) => groq_transport::Jitter::with_seed(seed),
            None => groq_transport::Jitter::new(),
        };

        let stream_timeout = self.stream_timeout.unwrap_or(config.stream_timeout);
        let stream_idle_timeout = self
            .stream_idle_timeout
            .unwrap_or(config.stream_idle_timeout);
        let config = Arc::new(config);
        Ok(GroqClient {
            inner: Arc::new(Inner {
                routes: RwLock::new(Routes::new(Arc::clone(&config))),
                config: RwLock::new(config),
                transport,
                limiter,
                counter,
                warmup,
                lanes,
                retry,
                max_rate_limit_retries: self.max_rate_limit_retries,
                events,
                max_response_bytes: self.max_response_bytes,
                stream_timeout,
                stream_idle_timeout,
                in_flight: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                rng: Mutex::new(rng),
                unknown_models: Mutex::new(HashSet::new()),
                calls: Mutex::new(HashMap::new()),
                serial: AtomicU64::new(0),
            }),
        })
    }
}

/// `url` without userinfo (`https://user:key@host/…` → `https://***@host/…`).
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Fails unless every request can carry a key: a top-level key, or one on every configured
/// model while unknown models are rejected.
pub(crate) fn check_api_key(config: &Config) -> Result<(), Error> {
    let every_model_has_one = !config.models.is_empty()
        && config.models.values().all(|m| m.api_key.is_some())
        && matches!(
            config.unknown_models,
            groq_config::UnknownModelPolicy::Reject
        );
    if config.api_key.is_some() || every_model_has_one {
        Ok(())
    } else {
        Err(Error::config(
            "no API key: set the GROQ_API_KEY environment variable, put \"api_key\" in the \
             configuration file, or call `.api_key(...)` on GroqClient::builder()",
        ))
    }
}

/// The Redis-backed limiter for `url` (feature `redis`).
#[cfg(feature = "redis")]
fn shared_limiter(
    config: &Config,
    url: Option<String>,
    margin: Option<Duration>,
) -> Result<Arc<dyn RateLimiter>, Error> {
    use groq_ratelimit_redis::{RedisLimiter, Unreachable};
    let url = url.unwrap_or_default();
    let mut builder = RedisLimiter::builder(&url);
    if let Some(namespace) = &config.redis.namespace {
        builder = builder.namespace(namespace.clone());
    }
    if let Some(key) = &config.api_key {
        builder = builder.api_key(key.expose_secret());
    }
    if let Some(margin) = margin {
        builder = builder.margin(margin);
    }
    builder = builder.unreachable(match config.redis.unreachable {
        groq_config::RedisUnreachable::Local { share } => Unreachable::Local { share },
        _ => Unreachable::Wait,
    });
    let limiter = builder
        .build()
        .map_err(|e| Error::config_from("the Redis rate limiter could not be built", e))?;
    Ok(Arc::new(limiter))
}

/// Without the `redis` feature a configured `redis_url` is an error, not a silent
/// per-process limit.
#[cfg(not(feature = "redis"))]
fn shared_limiter(
    _config: &Config,
    url: Option<String>,
    _margin: Option<Duration>,
) -> Result<Arc<dyn RateLimiter>, Error> {
    Err(Error::config(format!(
        "redis_url is set ({}) but groq-client was built without its `redis` feature; \
         enable the feature (groqchat's `redis`) or remove redis_url",
        url.unwrap_or_default()
    )))
}
