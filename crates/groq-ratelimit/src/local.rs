//! [`LocalLimiter`]: the in-process [`RateLimiter`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use groq_config::Rate;

use crate::{
    Changed, Charge, Cost, Dimension, LimitMessage, Quota, QuotaState, RateLimitHeaders,
    RateLimiter, Reservation, ReserveError, Settlement, Snapshot, Timer, TokioTimer,
};

/// The default margin against network jitter: 100 ms.
///
/// Two requests that leave exactly one emission interval apart can reach Groq closer together
/// than that, because their trips differ (a fresh TLS connection costs a round trip or two that
/// a pooled one does not, and a loaded network queues unevenly). The limiter therefore admits a
/// cost only if it already fitted `margin` earlier, which keeps any two requests whose trips
/// differ by at most `margin` within the server's limit. The price is small and does not add
/// up: a throttled model's requests leave at most `margin` later than the limit would allow,
/// its sustained rate is unchanged, and an idle bucket still admits its whole capacity at once.
/// 100 ms covers the spread of trips within one region; raise it for distant or congested links.
pub const DEFAULT_MARGIN: Duration = Duration::from_millis(100);

/// One model's state and its change signal.
struct ModelCell {
    state: Mutex<QuotaState>,
    changed: watch::Sender<()>,
    timer: Arc<dyn Timer>,
}

impl ModelCell {
    fn lock(&self) -> MutexGuard<'_, QuotaState> {
        // The state is left consistent by every method, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every `changed` future of this model.
    fn notify(&self) {
        if self.changed.receiver_count() > 0 {
            self.changed.send_replace(());
        }
    }
}

impl fmt::Debug for ModelCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelCell")
            .field("state", &*self.lock())
            .finish_non_exhaustive()
    }
}

/// A [`LocalLimiter`] reservation's claim on its model's state.
pub(crate) struct Ticket {
    cell: Arc<ModelCell>,
    charge: Charge,
}

impl Ticket {
    pub(crate) fn settle(self, settlement: Settlement) {
        let now = self.cell.timer.now();
        self.cell.lock().settle(now, self.charge, settlement);
        self.cell.notify();
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalLimiter")
    }
}

struct Shared {
    timer: Arc<dyn Timer>,
    margin: Duration,
    models: RwLock<HashMap<Box<str>, Arc<ModelCell>>>,
}

/// The in-process [`RateLimiter`]: one [`QuotaState`] per model behind its own mutex, read
/// from a [`Timer`].
///
/// A model is limited only once it has been given a quota ([`set_quota`](RateLimiter::set_quota)
/// or [`LocalLimiterBuilder::quota`]); until then it is unlimited and its reservations cost
/// nothing. Cloning is cheap and clones share their state.
///
/// ```
/// use groq_config::Rate;
/// use groq_ratelimit::{Cost, Dimension, LocalLimiter, Quota, RateLimiter, ReserveError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let limiter = LocalLimiter::builder()
///     .quota(
///         "llama-3.1-8b-instant",
///         Quota::unlimited()
///             .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30))
///             .with_rate(Dimension::TokensPerMinute, Rate::per_minute(6_000)),
///     )
///     .build();
/// let reservation = limiter.reserve("llama-3.1-8b-instant", &Cost::request(5_000)).unwrap();
/// // ... send the request; the server reports its usage ...
/// reservation.commit(4_200);
/// match limiter.reserve("llama-3.1-8b-instant", &Cost::request(5_000)) {
///     Err(ReserveError::Wait { until, dimension }) => {
///         assert_eq!(dimension, Dimension::TokensPerMinute);
///         tokio::time::sleep_until(until).await; // then reserve again
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct LocalLimiter {
    shared: Arc<Shared>,
}

impl LocalLimiter {
    /// A limiter on [`TokioTimer`] with the [`DEFAULT_MARGIN`] and no quotas.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a limiter.
    pub fn builder() -> LocalLimiterBuilder {
        LocalLimiterBuilder::default()
    }

    /// The margin against network jitter.
    pub fn margin(&self) -> Duration {
        self.shared.margin
    }

    fn cell(&self, model: &str) -> Option<Arc<ModelCell>> {
        let models = self
            .shared
            .models
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        models.get(model).cloned()
    }

    /// The model's cell, created unlimited if it does not exist.
    fn cell_or_insert(&self, model: &str) -> Arc<ModelCell> {
        if let Some(cell) = self.cell(model) {
            return cell;
        }
        let mut models = self
            .shared
            .models
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        models
            .entry(model.into())
            .or_insert_with(|| {
                Arc::new(ModelCell {
                    state: Mutex::new(QuotaState::new(
                        Quota::unlimited(),
                        self.shared.margin,
                        self.shared.timer.now(),
                    )),
                    changed: watch::Sender::new(()),
                    timer: Arc::clone(&self.shared.timer),
                })
            })
            .clone()
    }
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LocalLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let models = self
            .shared
            .models
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&str> = models.keys().map(AsRef::as_ref).collect();
        names.sort_unstable();
        f.debug_struct("LocalLimiter")
            .field("timer", &self.shared.timer)
            .field("margin", &self.shared.margin)
            .field("models", &names)
            .finish()
    }
}

impl RateLimiter for LocalLimiter {
    fn reserve(&self, model: &str, cost: &Cost) -> Result<Reservation, ReserveError> {
        let Some(cell) = self.cell(model) else {
            return Ok(Reservation::unlimited(*cost));
        };
        let now = self.shared.timer.now();
        let charge = cell.lock().reserve(now, cost)?;
        Ok(Reservation::local(*cost, Ticket { cell, charge }))
    }

    fn changed(&self, model: &str) -> Changed {
        let mut receiver = self.cell_or_insert(model).changed.subscribe();
        Box::pin(async move {
            // An error means the limiter is gone: nothing will change any more, so return.
            let _ = receiver.changed().await;
        })
    }

    fn observe(&self, model: &str, headers: &RateLimitHeaders, received: Instant) {
        if let Some(cell) = self.cell(model) {
            let adopted = {
                let mut state = cell.lock();
                let adopted = state.adopt_header_limits(received, headers);
                state.observe(received, headers);
                adopted
            };
            for (dimension, rate) in &adopted {
                adopted_limit(model, *dimension, *rate, "its rate-limit headers");
            }
            if !adopted.is_empty() {
                cell.notify();
            }
        }
    }

    /// Learns from the headers, adopts a lower limit and the usage the message states (see
    /// [`QuotaState::learn`](crate::QuotaState::learn)), then pauses the model for the wait the
    /// server asked for.
    fn rate_limited(
        &self,
        model: &str,
        headers: &RateLimitHeaders,
        message: Option<&LimitMessage>,
        received: Instant,
    ) {
        self.observe(model, headers, received);
        if let (Some(cell), Some(message)) = (self.cell(model), message) {
            let adopted = cell.lock().learn(received, message);
            if let Some((dimension, rate)) = adopted {
                adopted_limit(model, dimension, rate, "its 429 message");
                cell.notify();
            }
        }
        let wait = crate::server_wait(headers, message);
        if let Some(until) = wait.and_then(|wait| received.checked_add(wait)) {
            self.penalize(model, message.and_then(|m| m.dimension), until);
        }
    }

    fn penalize(&self, model: &str, dimension: Option<Dimension>, until: Instant) {
        self.cell_or_insert(model).lock().penalize(dimension, until);
    }

    fn restore(&self, model: &str, dimension: Dimension, used: u64, at: Instant) {
        if let Some(cell) = self.cell(model) {
            cell.lock().restore(at, dimension, used);
        }
    }

    fn snapshot(&self, model: &str) -> Option<Snapshot> {
        let cell = self.cell(model)?;
        let now = self.shared.timer.now();
        let snapshot = cell.lock().snapshot(now);
        Some(snapshot)
    }

    fn set_quota(&self, model: &str, quota: Quota) {
        let cell = self.cell_or_insert(model);
        let now = self.shared.timer.now();
        cell.lock().set_quota(now, quota);
        cell.notify();
    }

    fn timer(&self) -> &dyn Timer {
        &*self.shared.timer
    }
}

/// Tells the user once that the server's limit replaced the configured one: each adoption
/// lowers the limit, so the same limit is never reported twice.
fn adopted_limit(model: &str, dimension: Dimension, rate: Rate, source: &str) {
    tracing::warn!(
        model,
        dimension = dimension.label(),
        limit = rate.limit(),
        "the server states a lower {} limit for `{model}` in {source} than configured: \
         {} per {:?}; using it for the rest of the run",
        dimension.label(),
        rate.limit(),
        rate.period(),
    );
}

/// Configures a [`LocalLimiter`].
#[derive(Debug)]
pub struct LocalLimiterBuilder {
    timer: Arc<dyn Timer>,
    margin: Duration,
    quotas: Vec<(String, Quota)>,
}

impl Default for LocalLimiterBuilder {
    fn default() -> Self {
        Self {
            timer: Arc::new(TokioTimer),
            margin: DEFAULT_MARGIN,
            quotas: Vec::new(),
        }
    }
}

impl LocalLimiterBuilder {
    /// Reads time from `timer` and sleeps on it instead of [`TokioTimer`].
    #[must_use]
    pub fn timer(mut self, timer: impl Timer + 'static) -> Self {
        self.timer = Arc::new(timer);
        self
    }

    /// The margin against network jitter (default [`DEFAULT_MARGIN`]). `Duration::ZERO` paces
    /// requests exactly at the limit, which suits a server reached without jitter (the
    /// in-process emulator, a simulation).
    #[must_use]
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Limits `model` by `quota` from the start.
    #[must_use]
    pub fn quota(mut self, model: impl Into<String>, quota: Quota) -> Self {
        self.quotas.push((model.into(), quota));
        self
    }

    /// The limiter.
    pub fn build(self) -> LocalLimiter {
        let limiter = LocalLimiter {
            shared: Arc::new(Shared {
                timer: self.timer,
                margin: self.margin,
                models: RwLock::new(HashMap::new()),
            }),
        };
        for (model, quota) in self.quotas {
            limiter.set_quota(&model, quota);
        }
        limiter
    }
}
