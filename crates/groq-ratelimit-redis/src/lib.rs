//! A [`RateLimiter`] whose state lives in Redis (or Valkey), so that several processes and
//! machines share one Groq quota exactly.
//!
//! Groq's limits belong to the organization, not to a process. [`RedisLimiter`] runs the same
//! GCRA as [`LocalLimiter`], margin included, but keeps each
//! model's buckets in Redis and changes them only inside Lua scripts:
//!
//! * **Atomic:** one script per reserve charges every limited dimension of the model (RPM,
//!   RPD, TPM, TPD, ASH, ASD, ITPM, OTPM and the in-flight cap) or nothing; one script per
//!   settlement (commit with the real usage in every unit, keep, refund), exactly as
//!   [`LocalLimiter`] settles. No check-then-increment race between processes.
//! * **Exact:** time is Redis `TIME` read inside the script, in integer microseconds, so
//!   machines with skewed clocks agree. A bucket's theoretical arrival time is an exact pair of
//!   integers below 2^53 (Lua's numbers are doubles; see the crate's `scripts` notes): no
//!   drift, no float error. A refused reserve returns the exact instant at which the cost fits,
//!   converted to a local [`tokio::time::Instant`] through the offset between Redis `TIME` and
//!   the local clock at the answer (the answer's arrival, so never early).
//! * **Future slots:** a cost that fits within the [`horizon`](RedisLimiterBuilder::horizon)
//!   (default [`DEFAULT_HORIZON`]) is charged at once for the instant it fits; the reserve
//!   answers [`ReserveError::Wait`] with that instant and the next reserve of the same cost at
//!   or after it takes the slot without asking Redis again. Processes thus get exact turns
//!   instead of racing when a bucket refills. A slot not taken within a grace period after its
//!   instant (the request was cancelled, or the next request costs something else) is
//!   refunded: cancelling gives it back.
//! * **Leases:** a reservation's in-flight slot is a lease in a sorted set, with an expiry
//!   ([`lease`](RedisLimiterBuilder::lease), default [`DEFAULT_LEASE`]) that this process
//!   renews every third of it while the request runs. A killed process's slots come back when
//!   its leases expire, and its unsettled reservations count as kept (the safe side).
//! * **Shared learning:** [`observe`](RateLimiter::observe) (the `x-ratelimit-*` headers of
//!   every bucket they describe: RPD, TPM, and ASH, ASD, ITPM, OTPM when a server sends
//!   them), [`rate_limited`](RateLimiter::rate_limited) (a 429's `Used N` tightens the
//!   bucket it names) and [`penalize`](RateLimiter::penalize) write to the shared state, so
//!   one process's 429 pauses every process for that model. Two things stay per process: a
//!   lower limit the server states (which [`LocalLimiter`] adopts) is not adopted, so the
//!   shared buckets keep the configured quota; and the calibration ratio of the token
//!   estimate, so each process corrects its own estimates, while the true usage every process
//!   commits is what the shared buckets hold.
//! * **Keys:** `{<namespace>:<model>}:s` (state hash) and `:l` (leases, each member naming
//!   its reservation and cost): one hash tag per model, so every key of a model lives in one Redis Cluster slot. The
//!   namespace defaults to [`namespace_for_key`], a fingerprint of the API key (a hash, never
//!   the key).
//!
//! # When Redis is unreachable
//!
//! The [`Unreachable`] policy decides. [`Unreachable::Wait`] (the default) admits nothing:
//! reserves answer [`ReserveError::Unavailable`] with the instant of the next attempt (the
//! backoff doubles from 50 ms to 2 s), a tracing warning says why once per outage, and the
//! connection is retried in the background. [`Unreachable::Local`] falls back to a
//! [`LocalLimiter`] holding a share of every quota (for example
//! `1/N` with `N` processes) and started full, as if the shared buckets were, so that nothing
//! bursts; when Redis answers again the fallback's usage is charged to the shared buckets and
//! the shared state is used again. Either way nothing panics and nothing is admitted beyond
//! the quota (with `Local`, beyond the configured shares).
//!
//! Redis without persistence (the test setup) forgets the buckets when it restarts: the
//! limiter then starts from empty buckets and learns the server's view again from the next
//! responses' headers.
//!
//! # Example
//!
//! ```no_run
//! use groq_config::Rate;
//! use groq_ratelimit::{Cost, Dimension, Quota, RateLimiter};
//! use groq_ratelimit_redis::RedisLimiter;
//!
//! # fn main() -> Result<(), groq_ratelimit_redis::Error> {
//! let limiter = RedisLimiter::builder("redis://127.0.0.1:6379")
//!     .api_key("gsk_...")
//!     .quota(
//!         "llama-3.1-8b-instant",
//!         Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30)),
//!     )
//!     .build()?;
//! if let Ok(reservation) = limiter.reserve("llama-3.1-8b-instant", &Cost::request(100)) {
//!     // ... send the request ...
//!     reservation.commit(80);
//! }
//! # Ok(()) }
//! ```

mod scripts;
mod worker;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use groq_config::Rate;
use groq_ratelimit::{
    Changed, Cost, Dimension, DimensionSnapshot, LimitMessage, LimitMessageKind, LocalLimiter,
    Quota, RateLimitHeaders, RateLimiter, Reservation, ReserveError, Settle, Settlement, Snapshot,
    Timer, TokioTimer,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::scripts::{DIMS, Mark, QuotaArgs, micros_ceil, units};
use crate::worker::{Op, Target, Worker};

/// The default lease of an in-flight slot: 15 s, renewed every 5 s while the request runs.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// The default horizon for future slots: 2 s.
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(2);

/// The default time to wait for Redis before counting it unreachable: 500 ms.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(500);

/// How long after its instant a future slot may still be taken before it is refunded.
const CLAIM_GRACE: Duration = Duration::from_millis(500);

/// While the in-flight cap binds (held by other processes, whose settlements this process
/// does not hear of), [`RateLimiter::changed`] also fires after this long.
const CAPPED_RECHECK: Duration = Duration::from_millis(20);

/// What the limiter does while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Unreachable {
    /// Admit nothing: reserves answer [`ReserveError::Unavailable`] until Redis answers again.
    #[default]
    Wait,
    /// Fall back to a local limiter holding `share` (in `(0, 1]`) of every quota, and go back
    /// to the shared state when Redis answers again.
    Local {
        /// This process's share of each limit, e.g. `1.0 / N` for `N` processes.
        share: f64,
    },
}

/// Why a [`RedisLimiter`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL is not valid.
    #[error("invalid Redis URL {url:?}")]
    Url {
        /// The URL, as given.
        url: String,
        /// What is wrong with it.
        #[source]
        source: redis::RedisError,
    },
    /// The share of the `local` policy is not in `(0, 1]`.
    #[error("the local share must be in (0, 1], got {0}")]
    Share(f64),
    /// The connection thread could not be started.
    #[error("cannot start the Redis connection thread")]
    Thread(#[source] std::io::Error),
}

/// The namespace for an API key: `gq-` and 16 hex digits of a SHA-1 fingerprint of the key.
/// Processes using the same key share their quota; the key itself is never stored or logged.
pub fn namespace_for_key(api_key: &str) -> String {
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(b"groqchat-quota-namespace\0");
    hasher.update(api_key.as_bytes());
    let hex = hasher.digest().to_string();
    format!("gq-{}", &hex[..16])
}

/// A model name as a key part: `{`, `}` and `%` are percent-encoded so the hash tag holds.
fn key_part(model: &str) -> String {
    model
        .replace('%', "%25")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// The two keys of a model: state, leases.
fn keys(namespace: &str, model: &str) -> [String; 2] {
    let tag = format!("{{{}:{}}}", key_part(namespace), key_part(model));
    [format!("{tag}:s"), format!("{tag}:l")]
}

/// The state of the link to Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkStatus {
    /// Redis answers.
    Up,
    /// Redis does not answer; `reason` says what failed.
    Down {
        /// The last error.
        reason: Arc<str>,
    },
}

#[derive(Debug)]
struct Link {
    down: Option<Down>,
}

#[derive(Debug, Clone)]
struct Down {
    reason: Arc<str>,
    next_try: Instant,
    backoff: Duration,
    /// The fallback of the `local` policy for this outage.
    fallback: Option<LocalLimiter>,
}

/// A future slot charged in Redis for `at`, not yet taken.
#[derive(Debug)]
struct Booking {
    ticket: Ticket,
    at: Instant,
    dimension: Dimension,
}

#[derive(Debug, Default)]
struct ModelLocal {
    changed: Option<watch::Sender<()>>,
    booking: Option<Booking>,
    capped: bool,
}

struct Inner {
    worker: Worker,
    namespace: String,
    margin: Duration,
    margin_us: u64,
    lease: Duration,
    horizon: Duration,
    op_timeout: Duration,
    policy: Unreachable,
    timer: TokioTimer,
    quotas: RwLock<HashMap<String, QuotaArgs>>,
    models: Mutex<HashMap<String, ModelLocal>>,
    link: Mutex<Link>,
    status: watch::Sender<LinkStatus>,
    warned: AtomicBool,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("namespace", &self.namespace)
            .field("margin", &self.margin)
            .field("lease", &self.lease)
            .field("horizon", &self.horizon)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A [`RateLimiter`] whose buckets live in Redis: every process (or machine) with the same
/// namespace shares them. See the [crate documentation](crate) for the model.
///
/// Cloning is cheap and clones share their connections. The methods of [`RateLimiter`] are
/// synchronous: a reserve (or snapshot, or penalty) runs one script on the calling thread
/// over a pooled connection and waits for its answer, one round trip to Redis and at most the
/// operation timeout. Settlements and header observations are written to an idle pooled
/// connection without waiting (their answers are read by that connection's next call); an
/// update that fails, and lease renewals, go to a connection thread of the limiter, which
/// retries them on one multiplexed connection. [`flush`](RedisLimiter::flush) waits for
/// every update. A Redis Cluster goes through that thread for every call.
#[derive(Clone, Debug)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

/// Configures a [`RedisLimiter`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisLimiterBuilder {
    urls: Vec<String>,
    namespace: Option<String>,
    margin: Duration,
    lease: Duration,
    horizon: Duration,
    op_timeout: Duration,
    policy: Unreachable,
    quotas: Vec<(String, Quota)>,
}

impl RedisLimiterBuilder {
    /// The namespace of the keys (default: [`namespace_for_key`] of the API key given to
    /// [`api_key`](Self::api_key), else `groqchat`). Processes share a quota exactly when
    /// they share the namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Derives the namespace from `api_key` ([`namespace_for_key`]) unless one was set.
    pub fn api_key(mut self, api_key: &str) -> Self {
        if self.namespace.is_none() {
            self.namespace = Some(namespace_for_key(api_key));
        }
        self
    }

    /// The margin against network jitter (default
    /// [`DEFAULT_MARGIN`](groq_ratelimit::DEFAULT_MARGIN)); see `groq-ratelimit`.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The lease of an in-flight slot (default [`DEFAULT_LEASE`]), renewed every third of it.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How far ahead a slot may be charged (default [`DEFAULT_HORIZON`]); zero disables
    /// future slots.
    pub fn horizon(mut self, horizon: Duration) -> Self {
        self.horizon = horizon;
        self
    }

    /// How long to wait for Redis before counting it unreachable (default
    /// [`DEFAULT_OP_TIMEOUT`]).
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// What to do while Redis is unreachable (default [`Unreachable::Wait`]).
    pub fn unreachable(mut self, policy: Unreachable) -> Self {
        self.policy = policy;
        self
    }

    /// Limits `model` by `quota` from the start.
    pub fn quota(mut self, model: impl Into<String>, quota: Quota) -> Self {
        self.quotas.push((model.into(), quota));
        self
    }

    /// The limiter. It connects in the background: an unreachable Redis is handled by the
    /// policy, not reported here.
    ///
    /// # Errors
    ///
    /// An invalid URL, a share outside `(0, 1]`, or a thread that cannot start.
    pub fn build(self) -> Result<RedisLimiter, Error> {
        if let Unreachable::Local { share } = self.policy
            && !(share > 0.0 && share <= 1.0)
        {
            return Err(Error::Share(share));
        }
        let target = if self.urls.len() > 1 {
            let client =
                redis::cluster::ClusterClient::new(self.urls.clone()).map_err(|source| {
                    Error::Url {
                        url: self.urls.join(","),
                        source,
                    }
                })?;
            Target::Cluster(client)
        } else {
            let url = self.urls.first().cloned().unwrap_or_default();
            let client = redis::Client::open(url.as_str()).map_err(|source| Error::Url {
                url: url.clone(),
                source,
            })?;
            Target::Single(client)
        };
        let worker = Worker::start(target, self.op_timeout, self.lease).map_err(Error::Thread)?;
        let margin_us = micros_ceil(self.margin);
        let limiter = RedisLimiter {
            inner: Arc::new(Inner {
                worker,
                namespace: self.namespace.unwrap_or_else(|| "groqchat".into()),
                margin: self.margin,
                margin_us,
                lease: self.lease,
                horizon: self.horizon,
                op_timeout: self.op_timeout,
                policy: self.policy,
                timer: TokioTimer,
                quotas: RwLock::new(HashMap::new()),
                models: Mutex::new(HashMap::new()),
                link: Mutex::new(Link { down: None }),
                status: watch::Sender::new(LinkStatus::Up),
                warned: AtomicBool::new(false),
            }),
        };
        for (model, quota) in self.quotas {
            limiter.set_quota(&model, quota);
        }
        Ok(limiter)
    }
}

/// A reservation's claim on the shared state.
struct Ticket {
    inner: Arc<Inner>,
    model: Arc<str>,
    keys: [String; 2],
    id: u64,
    cost: Cost,
    marks: [Mark; DIMS],
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("model", &self.model)
            .field("lease", &self.id)
            .finish()
    }
}

impl Ticket {
    fn settle_args(&self, settlement: Settlement) -> Vec<String> {
        // As LocalLimiter settles: every bucket but the request buckets is corrected from
        // the charge to what the request really cost.
        let (how, actual) = match settlement {
            Settlement::Commit { actual_tokens } => {
                let mut actual = self.cost;
                actual.tokens = actual_tokens;
                ("c", actual)
            }
            Settlement::CommitUsage { actual } => ("c", actual),
            Settlement::Refund => ("r", Cost::default()),
            // Keep, or a settlement this limiter does not know: the charge stays (the safe
            // side).
            _ => ("k", Cost::default()),
        };
        let mut args = vec![self.id.to_string(), how.to_string()];
        args.extend(units(&actual).map(|u| u.to_string()));
        args.extend(units(&self.cost).map(|u| u.to_string()));
        args.push(self.inner.margin_us.to_string());
        for mark in &self.marks {
            args.extend(mark.iter().map(i64::to_string));
        }
        args
    }

    fn forget_lease(&self) {
        let mut live = self
            .inner
            .worker
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(ids) = live.get_mut(&self.keys) {
            ids.remove(&lease_member(self.id, &self.cost));
        }
    }

    /// Settles now and waits for Redis (used where the next answer depends on it).
    fn settle_now(self, settlement: Settlement) {
        self.forget_lease();
        let args = self.settle_args(settlement);
        let timeout = self.inner.op_timeout;
        if let Err(e) = self
            .inner
            .worker
            .call(Op::Settle, self.keys.clone(), args.clone(), timeout)
        {
            tracing::debug!(error = %e, "settling a future slot failed; retrying in the background");
            self.inner
                .worker
                .send(Op::Settle, self.keys.clone(), args, self.inner.lease);
        }
    }
}

impl Settle for Ticket {
    fn settle(self: Box<Self>, settlement: Settlement) {
        self.forget_lease();
        let args = self.settle_args(settlement);
        // Past the lease the reservation counts as kept anyway.
        self.inner
            .worker
            .send(Op::Settle, self.keys.clone(), args, self.inner.lease);
        self.inner.notify(&self.model);
    }
}

/// A lease's member in the lease set: the reservation's id and its five units, as the
/// reserve script wrote it.
fn lease_member(id: u64, cost: &Cost) -> String {
    let [r, t, i, o, a] = units(cost);
    format!("{id} {r} {t} {i} {o} {a}")
}

fn parse<T: std::str::FromStr>(fields: &[String], i: usize) -> Result<T, String> {
    fields
        .get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("unexpected answer from the Redis script: {fields:?}"))
}

/// The local instant of Redis time `at_us`, given that Redis read `now_us` at or before
/// `received`.
fn local_instant(received: Instant, now_us: i64, at_us: i64) -> Instant {
    let ahead = u64::try_from(at_us.saturating_sub(now_us)).unwrap_or(0);
    received + Duration::from_micros(ahead)
}

fn dimension(index: usize) -> Dimension {
    Dimension::ALL[index.clamp(1, DIMS) - 1]
}

/// Scales `quota` to `share` of each limit (at least 1 unit each).
fn share_of(quota: Quota, share: f64) -> Quota {
    let mut scaled = quota;
    for (d, rate) in quota.rates() {
        let limit = ((rate.limit() as f64) * share).floor().max(1.0) as u64;
        if let Ok(r) = Rate::new(limit, rate.period()) {
            scaled = scaled.with_rate(d, r);
        }
    }
    if let Some(cap) = quota.max_in_flight() {
        scaled = scaled.with_max_in_flight(((f64::from(cap)) * share).floor().max(1.0) as u32);
    }
    scaled
}

impl Inner {
    fn notify(&self, model: &str) {
        let models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = models.get(model).and_then(|m| m.changed.as_ref()) {
            sender.send_replace(());
        }
    }

    fn quota(&self, model: &str) -> Option<QuotaArgs> {
        self.quotas
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(model)
            .cloned()
    }

    /// Whether Redis is known to be down.
    fn is_down(&self) -> bool {
        self.link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .down
            .is_some()
    }

    /// The current outage, if Redis is known to be down and it is not time to try again.
    fn outage(&self, now: Instant) -> Option<Down> {
        let link = self.link.lock().unwrap_or_else(PoisonError::into_inner);
        link.down.clone().filter(|down| now < down.next_try)
    }

    fn mark_down(&self, reason: &str, now: Instant) -> Down {
        let mut link = self.link.lock().unwrap_or_else(PoisonError::into_inner);
        let reason: Arc<str> = Arc::from(reason);
        let down = match link.down.take() {
            Some(mut down) => {
                down.backoff = (down.backoff * 2).min(Duration::from_secs(2));
                down.next_try = now + down.backoff;
                down.reason = reason.clone();
                down
            }
            None => {
                let fallback = match self.policy {
                    Unreachable::Local { share } => Some(self.fallback(share)),
                    _ => None,
                };
                if !self.warned.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        namespace = %self.namespace,
                        reason = %reason,
                        policy = ?self.policy,
                        "the shared rate-limit state in Redis is unreachable; {}",
                        if fallback.is_some() {
                            "falling back to a local share of each quota until it answers again"
                        } else {
                            "requests wait until it answers again"
                        }
                    );
                }
                Down {
                    reason: reason.clone(),
                    next_try: now + Duration::from_millis(50),
                    backoff: Duration::from_millis(50),
                    fallback,
                }
            }
        };
        link.down = Some(down.clone());
        self.status.send_replace(LinkStatus::Down { reason });
        down
    }

    /// A fallback for the `local` policy: a share of every quota, started full.
    fn fallback(&self, share: f64) -> LocalLimiter {
        let local = LocalLimiter::builder().margin(self.margin).build();
        let quotas = self.quotas.read().unwrap_or_else(PoisonError::into_inner);
        for (model, args) in quotas.iter() {
            let quota = share_of(args.quota, share);
            local.set_quota(model, quota);
            let cap = |a: Dimension, b: Dimension| {
                [quota.rate(a), quota.rate(b)]
                    .into_iter()
                    .flatten()
                    .map(|r| r.limit())
                    .min()
                    .unwrap_or(0)
            };
            let mut full = Cost::new(
                cap(Dimension::RequestsPerMinute, Dimension::RequestsPerDay),
                cap(Dimension::TokensPerMinute, Dimension::TokensPerDay),
            );
            full.input_tokens = cap(
                Dimension::InputTokensPerMinute,
                Dimension::InputTokensPerMinute,
            );
            full.output_tokens = cap(
                Dimension::OutputTokensPerMinute,
                Dimension::OutputTokensPerMinute,
            );
            full.audio_seconds = cap(
                Dimension::AudioSecondsPerHour,
                Dimension::AudioSecondsPerDay,
            );
            if let Ok(reservation) = local.reserve(model, &full) {
                reservation.keep();
            }
        }
        local
    }

    /// Redis answered: ends an outage, charging the fallback's usage to the shared state.
    fn mark_up(&self) {
        let down = {
            let mut link = self.link.lock().unwrap_or_else(PoisonError::into_inner);
            link.down.take()
        };
        let Some(down) = down else { return };
        tracing::info!(namespace = %self.namespace, "the shared rate-limit state in Redis answers again");
        self.warned.store(false, Ordering::Release);
        if let Some(fallback) = down.fallback {
            let models: Vec<(String, QuotaArgs)> = self
                .quotas
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|(model, quota)| (model.clone(), quota.clone()))
                .collect();
            for (model, quota) in models {
                let Some(snapshot) = fallback.snapshot(&model) else {
                    continue;
                };
                // Every dimension, in the scripts' order.
                let mut args: Vec<String> = Dimension::ALL
                    .iter()
                    .map(|d| snapshot.get(*d).map_or(0, |s| s.used).to_string())
                    .collect();
                quota.push(&mut args);
                // Applied before anything else is admitted from the shared state.
                let keys = keys(&self.namespace, &model);
                if let Err(e) =
                    self.worker
                        .call(Op::Absorb, keys.clone(), args.clone(), self.op_timeout)
                {
                    tracing::debug!(error = %e, "charging the fallback's usage failed; retrying");
                    self.worker.send(Op::Absorb, keys, args, self.lease);
                }
            }
        }
        self.status.send_replace(LinkStatus::Up);
    }

    fn unreachable(
        &self,
        model: &str,
        cost: &Cost,
        down: &Down,
    ) -> Result<Reservation, ReserveError> {
        match &down.fallback {
            Some(local) => local.reserve(model, cost),
            None => Err(ReserveError::Unavailable {
                until: down.next_try,
                reason: down.reason.clone(),
            }),
        }
    }
}

impl RedisLimiter {
    /// Configures a limiter on the Redis at `url` (`redis://host:port/db`, `rediss://` for
    /// TLS is not built in). Several URLs separated by commas name the nodes of a Redis
    /// Cluster.
    pub fn builder(url: &str) -> RedisLimiterBuilder {
        RedisLimiterBuilder {
            urls: url
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(String::from)
                .collect(),
            namespace: None,
            margin: groq_ratelimit::DEFAULT_MARGIN,
            lease: DEFAULT_LEASE,
            horizon: DEFAULT_HORIZON,
            op_timeout: DEFAULT_OP_TIMEOUT,
            policy: Unreachable::Wait,
            quotas: Vec::new(),
        }
    }

    /// A limiter on the Redis at `url` with every default and no quotas.
    ///
    /// # Errors
    ///
    /// See [`RedisLimiterBuilder::build`].
    pub fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url).build()
    }

    /// The namespace of this limiter's keys.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The margin against network jitter.
    pub fn margin(&self) -> Duration {
        self.inner.margin
    }

    /// The state of the link to Redis now, and its changes.
    pub fn status(&self) -> watch::Receiver<LinkStatus> {
        self.inner.status.subscribe()
    }

    /// Whether Redis answers: waits at most the operation timeout for a snapshot script.
    pub fn ping(&self) -> Result<(), String> {
        self.inner
            .worker
            .call(
                Op::Snapshot,
                keys(&self.inner.namespace, "\0ping"),
                Vec::new(),
                self.inner.op_timeout,
            )
            .map(|_| ())
    }

    /// Waits at most `timeout` until every settlement and update sent so far has been applied
    /// in Redis (or given up); whether they all have. Settlements are sent without waiting, so
    /// call this before reading the shared state right after settling, or before exiting.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.worker.flush(timeout)
    }

    /// Redis's clock now, in microseconds since the Unix epoch: the time every script reads.
    ///
    /// # Errors
    ///
    /// Redis did not answer within the operation timeout.
    pub fn redis_time_us(&self) -> Result<u64, String> {
        let (fields, _) = self.call(Op::Time, "\0time", Vec::new())?;
        parse(&fields, 0)
    }

    fn call(
        &self,
        op: Op,
        model: &str,
        args: Vec<String>,
    ) -> Result<(Vec<String>, Instant), String> {
        let answer = self.inner.worker.call(
            op,
            keys(&self.inner.namespace, model),
            args,
            self.inner.op_timeout,
        );
        let received = self.inner.timer.now();
        match answer {
            Ok(fields) => {
                self.inner.mark_up();
                Ok((fields, received))
            }
            Err(e) => {
                self.inner.mark_down(&e, received);
                Err(e)
            }
        }
    }

    fn take_booking(
        &self,
        model: &str,
        cost: &Cost,
        now: Instant,
    ) -> Option<Result<Reservation, ReserveError>> {
        let booking = {
            let mut models = self
                .inner
                .models
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let local = models.get_mut(model)?;
            let booking = local.booking.take()?;
            if booking.ticket.cost == *cost && now < booking.at {
                let answer = Err(ReserveError::Wait {
                    until: booking.at,
                    dimension: booking.dimension,
                });
                local.booking = Some(booking);
                return Some(answer);
            }
            booking
        };
        if booking.ticket.cost == *cost && now <= booking.at + CLAIM_GRACE {
            return Some(Ok(Reservation::new(*cost, Box::new(booking.ticket))));
        }
        // Not taken in time, or another cost asks: the slot goes back before anything else.
        booking.ticket.settle_now(Settlement::Refund);
        None
    }

    fn reserve_shared(
        &self,
        model: &str,
        cost: &Cost,
        quota: &QuotaArgs,
    ) -> Result<Reservation, ReserveError> {
        let inner = &self.inner;
        let mut args: Vec<String> = units(cost).iter().map(u64::to_string).collect();
        args.extend([
            inner.margin_us.to_string(),
            micros_ceil(inner.lease).to_string(),
            quota.cap.to_string(),
            micros_ceil(inner.horizon).to_string(),
        ]);
        quota.push(&mut args);
        let now = inner.timer.now();
        let (fields, received) = match self.call(Op::Reserve, model, args) {
            Ok(answer) => answer,
            Err(_) => {
                let down = inner.mark_down_current(now);
                return inner.unreachable(model, cost, &down);
            }
        };
        let bad = |e: String| {
            let down = inner.mark_down(&e, received);
            inner.unreachable(model, cost, &down)
        };
        let kind = fields.first().map(String::as_str).unwrap_or_default();
        self.set_capped(model, kind == "inflight");
        match kind {
            "ok" => {
                let parsed = (|| -> Result<_, String> {
                    let id: u64 = parse(&fields, 1)?;
                    let now_us: i64 = parse(&fields, 2)?;
                    let at_us: i64 = parse(&fields, 3)?;
                    let binding: usize = parse(&fields, 4)?;
                    let mut marks = [[-1i64; 6]; DIMS];
                    for (i, mark) in marks.iter_mut().enumerate() {
                        for (j, v) in mark.iter_mut().enumerate() {
                            *v = parse(&fields, 5 + i * 6 + j)?;
                        }
                    }
                    Ok((id, now_us, at_us, binding, marks))
                })();
                let (id, now_us, at_us, binding, marks) = match parsed {
                    Ok(p) => p,
                    Err(e) => return bad(e),
                };
                let keys = keys(&inner.namespace, model);
                inner
                    .worker
                    .live
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(keys.clone())
                    .or_default()
                    .insert(lease_member(id, cost));
                let ticket = Ticket {
                    inner: Arc::clone(inner),
                    model: Arc::from(model),
                    keys,
                    id,
                    cost: *cost,
                    marks,
                };
                if at_us > now_us {
                    let at = local_instant(received, now_us, at_us);
                    let dimension = dimension(binding);
                    let mut models = inner.models.lock().unwrap_or_else(PoisonError::into_inner);
                    models.entry(model.to_owned()).or_default().booking = Some(Booking {
                        ticket,
                        at,
                        dimension,
                    });
                    return Err(ReserveError::Wait {
                        until: at,
                        dimension,
                    });
                }
                Ok(Reservation::new(*cost, Box::new(ticket)))
            }
            "wait" => match (
                parse::<i64>(&fields, 1),
                parse::<usize>(&fields, 2),
                parse::<i64>(&fields, 3),
            ) {
                (Ok(until), Ok(i), Ok(now_us)) => Err(ReserveError::Wait {
                    until: local_instant(received, now_us, until),
                    dimension: dimension(i),
                }),
                _ => bad(format!(
                    "unexpected answer from the Redis script: {fields:?}"
                )),
            },
            "pen" => match (parse::<i64>(&fields, 1), parse::<i64>(&fields, 3)) {
                (Ok(until), Ok(now_us)) => Err(ReserveError::Penalized {
                    until: local_instant(received, now_us, until),
                    dimension: fields.get(2).and_then(|l| Dimension::from_label(l)),
                }),
                _ => bad(format!(
                    "unexpected answer from the Redis script: {fields:?}"
                )),
            },
            "inflight" => match parse::<u32>(&fields, 1) {
                Ok(limit) => Err(ReserveError::InFlight { limit }),
                Err(e) => bad(e),
            },
            "never" => match (
                parse::<usize>(&fields, 1),
                parse::<u64>(&fields, 2),
                parse::<u64>(&fields, 3),
            ) {
                (Ok(i), Ok(cost), Ok(capacity)) => Err(ReserveError::NeverFits {
                    dimension: dimension(i),
                    cost,
                    capacity,
                }),
                _ => bad(format!(
                    "unexpected answer from the Redis script: {fields:?}"
                )),
            },
            _ => bad(format!(
                "unexpected answer from the Redis script: {fields:?}"
            )),
        }
    }

    /// Records whether the in-flight cap binds. When it starts to bind, the futures of
    /// [`changed`](RateLimiter::changed) made before (without the periodic recheck, since the
    /// cap did not bind then) fire at once: the slots may be held by other processes, whose
    /// settlements this process never hears of, so a caller waiting on such a future with
    /// nothing of its own in flight would wait forever.
    fn set_capped(&self, model: &str, capped: bool) {
        let mut models = self
            .inner
            .models
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let local = models.entry(model.to_owned()).or_default();
        let started = capped && !local.capped;
        local.capped = capped;
        if started && let Some(sender) = &local.changed {
            sender.send_replace(());
        }
    }

    /// Sends what the headers (and a 429's `Used N` for one dimension) say of every bucket:
    /// the observe script tightens each one the server reports fuller than the shared state.
    fn observe_used(
        &self,
        model: &str,
        headers: &RateLimitHeaders,
        used: Option<(Dimension, u64)>,
    ) {
        let Some(quota) = self.inner.quota(model) else {
            return;
        };
        let mut args = Vec::with_capacity(2 * DIMS + 1);
        for dimension in Dimension::ALL {
            let side = headers.bucket(dimension);
            let mut remaining = side.and_then(|s| s.remaining);
            // `Used N` of a limit L is N units held: as a remaining count, L - N.
            if let Some((named, n)) = used
                && named == dimension
                && let Some(rate) = quota.quota.rate(dimension)
            {
                let from_text = rate.limit().saturating_sub(n);
                remaining = Some(remaining.map_or(from_text, |r| r.min(from_text)));
            }
            args.push(remaining.map_or("-1".to_owned(), |v| v.to_string()));
            args.push(
                side.and_then(|s| s.reset)
                    .map_or("-1".to_owned(), |d| micros_ceil(d).to_string()),
            );
        }
        quota.push(&mut args);
        self.inner.worker.send(
            Op::Observe,
            keys(&self.inner.namespace, model),
            args,
            self.inner.lease,
        );
    }

    /// Refunds every future slot not taken within its grace period. Reserves do this for their
    /// own model; call it to give back the slots of models nobody asks for any more.
    pub fn release_stale_slots(&self) {
        let now = self.inner.timer.now();
        let stale: Vec<Booking> = {
            let mut models = self
                .inner
                .models
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            models
                .values_mut()
                .filter_map(|m| {
                    if m.booking.as_ref().is_some_and(|b| now > b.at + CLAIM_GRACE) {
                        m.booking.take()
                    } else {
                        None
                    }
                })
                .collect()
        };
        for booking in stale {
            booking.ticket.settle_now(Settlement::Refund);
        }
    }
}

impl Inner {
    /// Marks the link down after a failed call (already recorded by `call`) and returns the
    /// outage.
    fn mark_down_current(&self, now: Instant) -> Down {
        let link = self.link.lock().unwrap_or_else(PoisonError::into_inner);
        link.down.clone().unwrap_or(Down {
            reason: Arc::from("unknown"),
            next_try: now + Duration::from_millis(50),
            backoff: Duration::from_millis(50),
            fallback: None,
        })
    }
}

impl RateLimiter for RedisLimiter {
    fn reserve(&self, model: &str, cost: &Cost) -> Result<Reservation, ReserveError> {
        let Some(quota) = self.inner.quota(model) else {
            return Ok(Reservation::unlimited(*cost));
        };
        let now = self.inner.timer.now();
        if let Some(answer) = self.take_booking(model, cost, now) {
            return answer;
        }
        if let Some(down) = self.inner.outage(now) {
            return self.inner.unreachable(model, cost, &down);
        }
        if self.inner.is_down() {
            // Time to try again: a first call ends the outage (charging what a fallback
            // admitted meanwhile) before anything is admitted from the shared state.
            if self.call(Op::Time, "\0time", Vec::new()).is_err() {
                let down = self.inner.mark_down_current(now);
                return self.inner.unreachable(model, cost, &down);
            }
        }
        self.reserve_shared(model, cost, &quota)
    }

    fn changed(&self, model: &str) -> Changed {
        let (mut receiver, capped) = {
            let mut models = self
                .inner
                .models
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let local = models.entry(model.to_owned()).or_default();
            let sender = local.changed.get_or_insert_with(|| watch::Sender::new(()));
            (sender.subscribe(), local.capped)
        };
        Box::pin(async move {
            if capped {
                tokio::select! {
                    _ = receiver.changed() => {}
                    () = tokio::time::sleep(CAPPED_RECHECK) => {}
                }
            } else {
                let _ = receiver.changed().await;
            }
        })
    }

    fn observe(&self, model: &str, headers: &RateLimitHeaders, _received: Instant) {
        self.observe_used(model, headers, None);
    }

    /// Learns from the headers, and from a 429's `Used N` as [`LocalLimiter`] does (the
    /// bucket the text names holds at least `N` plus the units in flight), then pauses the
    /// model for the wait the server asked for.
    fn rate_limited(
        &self,
        model: &str,
        headers: &RateLimitHeaders,
        message: Option<&LimitMessage>,
        received: Instant,
    ) {
        let used = message.and_then(|m| match (m.kind, m.dimension, m.used) {
            (LimitMessageKind::RateLimited, Some(dimension), Some(used)) => Some((dimension, used)),
            _ => None,
        });
        self.observe_used(model, headers, used);
        let wait = groq_ratelimit::server_wait(headers, message);
        if let Some(until) = wait.and_then(|wait| received.checked_add(wait)) {
            self.penalize(model, message.and_then(|m| m.dimension), until);
        }
    }

    fn penalize(&self, model: &str, dimension: Option<Dimension>, until: Instant) {
        let now = self.inner.timer.now();
        let pause = micros_ceil(until.saturating_duration_since(now));
        let label = dimension.map_or(String::new(), |d| d.label().to_owned());
        if let Some(down) = self.inner.outage(now)
            && let Some(local) = &down.fallback
        {
            local.penalize(model, dimension, until);
        }
        let _ = self.call(Op::Penalize, model, vec![pause.to_string(), label]);
    }

    fn snapshot(&self, model: &str) -> Option<Snapshot> {
        let mut args = Vec::new();
        if let Some(quota) = self.inner.quota(model) {
            quota.push(&mut args);
        }
        let (fields, received) = self.call(Op::Snapshot, model, args).ok()?;
        let now_us: i64 = parse(&fields, 0).ok()?;
        let in_flight: u32 = parse(&fields, 1).ok()?;
        let cap: i64 = parse(&fields, 2).ok()?;
        let pen: i64 = parse(&fields, 3).ok()?;
        let mut pending = Cost::default();
        pending.requests = parse(&fields, 5).ok()?;
        pending.tokens = parse(&fields, 6).ok()?;
        pending.input_tokens = parse(&fields, 7).ok()?;
        pending.output_tokens = parse(&fields, 8).ok()?;
        pending.audio_seconds = parse(&fields, 9).ok()?;
        let mut dimensions = Vec::new();
        let mut i = 10;
        while i + 5 < fields.len() + 1 && i < fields.len() {
            let index: usize = parse(&fields, i).ok()?;
            let limit: u64 = parse(&fields, i + 1).ok()?;
            let period_us: u64 = parse(&fields, i + 2).ok()?;
            let used: u64 = parse(&fields, i + 3).ok()?;
            let remaining: u64 = parse(&fields, i + 4).ok()?;
            let reset_us: u64 = parse(&fields, i + 5).ok()?;
            let d = dimension(index);
            dimensions.push(DimensionSnapshot::new(
                d,
                Rate::new(limit, Duration::from_micros(period_us)).ok()?,
                used,
                remaining,
                Duration::from_micros(reset_us),
                pending.amount(d),
            ));
            i += 6;
        }
        if dimensions.is_empty() && self.inner.quota(model).is_none() {
            return None;
        }
        Some(Snapshot::new(
            received,
            dimensions,
            in_flight,
            u32::try_from(cap).ok(),
            (pen > now_us).then(|| local_instant(received, now_us, pen)),
        ))
    }

    fn set_quota(&self, model: &str, quota: Quota) {
        let args = QuotaArgs::new(quota, self.inner.margin_us);
        self.inner
            .quotas
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(model.to_owned(), args);
        self.inner.notify(model);
    }

    fn timer(&self) -> &dyn Timer {
        &self.inner.timer
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RedisLimiter>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_fingerprint_the_key_without_showing_it() {
        let ns = namespace_for_key("gsk_secret_key_123");
        assert!(ns.starts_with("gq-") && ns.len() == 19);
        assert!(!ns.contains("secret"));
        assert_eq!(ns, namespace_for_key("gsk_secret_key_123"));
        assert_ne!(ns, namespace_for_key("gsk_secret_key_124"));
    }

    #[test]
    fn every_key_of_a_model_shares_one_hash_tag() {
        let [s, l] = keys("gq-1", "meta/llama{x}");
        assert_eq!(s, "{gq-1:meta/llama%7Bx%7D}:s");
        assert_eq!(l, "{gq-1:meta/llama%7Bx%7D}:l");
    }

    #[test]
    fn shares_scale_every_limit() {
        let q = Quota::unlimited()
            .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30))
            .with_max_in_flight(4);
        let s = share_of(q, 0.25);
        assert_eq!(
            s.rate(Dimension::RequestsPerMinute),
            Some(Rate::per_minute(7))
        );
        assert_eq!(s.max_in_flight(), Some(1));
    }

    #[test]
    fn bad_shares_and_urls_are_refused() {
        let e = RedisLimiter::builder("redis://127.0.0.1:1")
            .unreachable(Unreachable::Local { share: 1.5 })
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("1.5"));
        let e = RedisLimiter::builder("http://nope").build().unwrap_err();
        assert!(e.to_string().contains("http://nope"));
    }
}
