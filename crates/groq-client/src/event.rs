//! [`Event`]: what the pipeline reports while it works, and [`RequestId`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use groq_queue::Priority;
use groq_ratelimit::{
    Changed, Cost, Dimension, LimitMessage, RateLimitHeaders, RateLimiter, Reservation,
    ReserveError, Snapshot, Timer,
};
use groq_types::Usage;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::ErrorKind;

/// The identity of one call, named in its [`Event`]s and used by
/// [`GroqClient::cancel`](crate::GroqClient::cancel).
///
/// Chosen by the caller with [`ChatCall::request_id`](crate::ChatCall::request_id), or
/// generated (`req-1`, `req-2`, ... per client).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// An id with this text.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RequestId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for RequestId {
    fn from(id: String) -> Self {
        Self::new(id)
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why a request is being sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryReason {
    /// The server answered with this retryable status (408, 409, 498, 5xx).
    Status(u16),
    /// The connection failed or timed out.
    Transport,
    /// The reply body broke off before it was complete.
    Body,
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "status {status}"),
            Self::Transport => f.write_str("transport error"),
            Self::Body => f.write_str("incomplete reply"),
        }
    }
}

/// What the pipeline reports while it works, on the channel of
/// [`GroqClient::events`](crate::GroqClient::events): enough for progress bars, callbacks and
/// metrics.
///
/// Every call ends with exactly one [`Completed`](Self::Completed) or [`Failed`](Self::Failed)
/// (a call dropped unfinished counts as failed with [`ErrorKind::Cancelled`]). A call that
/// passes validation first emits one [`Queued`](Self::Queued); in between come
/// [`Dispatched`](Self::Dispatched) for each attempt, and [`RateLimited`](Self::RateLimited)
/// or [`Retrying`](Self::Retrying) when an attempt must be repeated.
/// [`Waiting`](Self::Waiting) is about a model, not a request: the head of its lane waits for
/// the rate limits.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A request joined its model's queue.
    Queued {
        /// The request.
        id: RequestId,
        /// The model.
        model: Arc<str>,
        /// Its priority class.
        priority: Priority,
        /// The tokens reserved for it: prompt estimate plus completion allowance.
        estimated_tokens: u64,
    },
    /// A request was admitted by the rate limiter and is being sent.
    Dispatched {
        /// The request.
        id: RequestId,
        /// The model.
        model: Arc<str>,
        /// The attempt being made (1 for the first).
        attempt: u32,
        /// How long it waited in the queue since it was (re)queued.
        waited: Duration,
    },
    /// The head of a model's lane waits for its rate limits.
    Waiting {
        /// The model.
        model: Arc<str>,
        /// When the head fits.
        until: Instant,
        /// The limit that binds, when known.
        dimension: Option<Dimension>,
    },
    /// The server answered 429; the request goes back to the head of its lane.
    RateLimited {
        /// The request.
        id: RequestId,
        /// The model.
        model: Arc<str>,
        /// The wait the server asked for, when it said.
        retry_after: Option<Duration>,
        /// The limit the server named, when it named one.
        dimension: Option<Dimension>,
    },
    /// An attempt failed in a way worth retrying; the request is queued again after `after`.
    Retrying {
        /// The request.
        id: RequestId,
        /// The model.
        model: Arc<str>,
        /// The attempt that failed.
        attempt: u32,
        /// The backoff before the request rejoins its queue.
        after: Duration,
        /// Why.
        reason: RetryReason,
    },
    /// A request succeeded.
    Completed {
        /// The request.
        id: RequestId,
        /// The model.
        model: Arc<str>,
        /// The usage the server reported.
        usage: Option<Usage>,
        /// How many attempts it took.
        attempts: u32,
        /// Time from the call to its result.
        elapsed: Duration,
    },
    /// A request failed (cancellations included).
    Failed {
        /// The request.
        id: RequestId,
        /// The model.
        model: Arc<str>,
        /// What kind of failure.
        error: ErrorKind,
    },
}

impl Event {
    /// The request the event is about (`None` for [`Waiting`](Self::Waiting)).
    pub fn request_id(&self) -> Option<&RequestId> {
        match self {
            Self::Queued { id, .. }
            | Self::Dispatched { id, .. }
            | Self::RateLimited { id, .. }
            | Self::Retrying { id, .. }
            | Self::Completed { id, .. }
            | Self::Failed { id, .. } => Some(id),
            Self::Waiting { .. } => None,
        }
    }

    /// The model the event is about.
    pub fn model(&self) -> &str {
        match self {
            Self::Queued { model, .. }
            | Self::Dispatched { model, .. }
            | Self::Waiting { model, .. }
            | Self::RateLimited { model, .. }
            | Self::Retrying { model, .. }
            | Self::Completed { model, .. }
            | Self::Failed { model, .. } => model,
        }
    }

    /// Whether this is the last event of its request ([`Completed`](Self::Completed) or
    /// [`Failed`](Self::Failed)).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed { .. } | Self::Failed { .. })
    }
}

/// The sending side of the event channel, plus the id counter.
#[derive(Debug)]
pub(crate) struct Events {
    sender: broadcast::Sender<Event>,
    next_id: AtomicU64,
}

impl Events {
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            sender,
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        // No receiver is not an error: events are optional.
        let _ = self.sender.send(event);
    }

    /// Whether anyone holds a receiver: events nobody can see are not built.
    pub(crate) fn is_watched(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    pub(crate) fn next_id(&self) -> RequestId {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        RequestId::new(format!("req-{n}"))
    }
}

/// Wraps the client's limiter so that a lane head's wait becomes an [`Event::Waiting`]:
/// the dispatcher asks `reserve`, and a refusal with an instant is reported once per distinct
/// instant.
#[derive(Debug)]
pub(crate) struct ReportingLimiter {
    pub(crate) inner: Arc<dyn RateLimiter>,
    pub(crate) events: Arc<Events>,
    last_wait: Mutex<HashMap<String, Instant>>,
}

impl ReportingLimiter {
    pub(crate) fn new(inner: Arc<dyn RateLimiter>, events: Arc<Events>) -> Self {
        Self {
            inner,
            events,
            last_wait: Mutex::new(HashMap::new()),
        }
    }
}

impl RateLimiter for ReportingLimiter {
    fn reserve(&self, model: &str, cost: &Cost) -> Result<Reservation, ReserveError> {
        let answer = self.inner.reserve(model, cost);
        if let Err(error) = &answer
            && let Some(until) = error.retry_at()
        {
            let mut last = self
                .last_wait
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.get(model) != Some(&until) {
                last.insert(model.to_owned(), until);
                drop(last);
                self.events.emit(Event::Waiting {
                    model: Arc::from(model),
                    until,
                    dimension: error.dimension(),
                });
            }
        }
        answer
    }

    fn changed(&self, model: &str) -> Changed {
        self.inner.changed(model)
    }

    fn observe(&self, model: &str, headers: &RateLimitHeaders, received: Instant) {
        self.inner.observe(model, headers, received);
    }

    fn restore(&self, model: &str, dimension: Dimension, used: u64, at: Instant) {
        self.inner.restore(model, dimension, used, at);
    }

    fn penalize(&self, model: &str, dimension: Option<Dimension>, until: Instant) {
        self.inner.penalize(model, dimension, until);
    }

    fn snapshot(&self, model: &str) -> Option<Snapshot> {
        self.inner.snapshot(model)
    }

    fn set_quota(&self, model: &str, quota: groq_ratelimit::Quota) {
        self.inner.set_quota(model, quota);
    }

    fn timer(&self) -> &dyn Timer {
        self.inner.timer()
    }

    fn rate_limited(
        &self,
        model: &str,
        headers: &RateLimitHeaders,
        message: Option<&LimitMessage>,
        received: Instant,
    ) {
        self.inner.rate_limited(model, headers, message, received);
    }
}
