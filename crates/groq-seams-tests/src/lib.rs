//! One implementation of each of groqchat's swappable parts, written against the public API
//! of the `groqchat` umbrella crate only, for the tests in `tests/` that wire them all into
//! a [`GroqClient`](groqchat::GroqClient) and run it against the emulator.
//!
//! - [`CountingTransport`]: a [`Transport`] wrapping the default [`HyperTransport`] that
//!   records every request it sends.
//! - [`WindowLimiter`]: a [`RateLimiter`] of its own (fixed windows, not the GCRA of
//!   [`LocalLimiter`](groqchat::LocalLimiter)) that reports a real [`Snapshot`] and can be
//!   held shut.
//! - [`CheapestFirst`]: a [`Scheduler`] that serves the cheapest queued request first, by
//!   the [`Cost`] each [`LaneEntry`] carries.
//! - [`LengthCounter`]: a [`TokenCounter`] of four bytes per token that counts its calls.
//!
//! If one of them needs something the crates keep private, the seam is not really open:
//! that is a bug in the crate that owns the seam, not here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use groqchat::queue::{Key, LaneEntry, Scheduler};
use groqchat::ratelimit::{
    Changed, Cost, Dimension, DimensionSnapshot, Quota, RateLimitHeaders, RateLimiter, Reservation,
    ReserveError, Settle, Settlement, Snapshot, Timer, TokioTimer,
};
use groqchat::tokens::TokenCounter;
use groqchat::transport::{HyperTransport, Transport, TransportError, TransportFuture};
use groqchat::{ChatRequest, Rate};
use tokio::sync::watch;
use tokio::time::Instant;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One request as [`CountingTransport`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRequest {
    /// The request's path, e.g. `/openai/v1/chat/completions`.
    pub path: String,
    /// The body's `max_completion_tokens`, when it is a chat request that sets it.
    pub max_completion_tokens: Option<u64>,
}

/// A [`Transport`] that sends through a default [`HyperTransport`] and records every
/// request first.
#[derive(Debug)]
pub struct CountingTransport {
    inner: HyperTransport,
    sent: Mutex<Vec<SentRequest>>,
}

impl CountingTransport {
    /// A transport over a default [`HyperTransport`] (plain HTTP only to loopback hosts).
    pub fn new() -> Result<Self, TransportError> {
        Ok(Self {
            inner: HyperTransport::builder().build()?,
            sent: Mutex::new(Vec::new()),
        })
    }

    /// The requests sent so far, in order.
    pub fn sent(&self) -> Vec<SentRequest> {
        lock(&self.sent).clone()
    }
}

impl Transport for CountingTransport {
    fn send(&self, request: http::Request<bytes::Bytes>) -> TransportFuture {
        let max_completion_tokens = ChatRequest::from_bytes(request.body().clone())
            .ok()
            .and_then(|chat| chat.get::<u64>("max_completion_tokens"))
            .and_then(Result::ok);
        lock(&self.sent).push(SentRequest {
            path: request.uri().path().to_owned(),
            max_completion_tokens,
        });
        self.inner.send(request)
    }
}

/// One model's state in a [`WindowLimiter`].
#[derive(Debug)]
struct Window {
    /// Requests per window (the quota's requests-per-minute rate).
    per_window: Option<Rate>,
    /// Requests in all (the quota's requests-per-day rate; the count never resets here).
    per_day: Option<Rate>,
    /// When the current window opened.
    opened: Instant,
    in_window: u64,
    in_day: u64,
    /// Requests charged by reservations not settled yet.
    pending: u64,
    in_flight: u32,
    paused_until: Option<Instant>,
}

#[derive(Debug)]
struct Shared {
    models: Mutex<HashMap<String, Window>>,
    changed: watch::Sender<u64>,
    held: AtomicBool,
    admitted: Mutex<Vec<(String, Cost)>>,
}

impl Shared {
    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A [`RateLimiter`] with fixed windows: a model's requests-per-minute rate admits `limit`
/// requests per window of `period`, the window opening at the first request after the last
/// one closed; its requests-per-day rate is a plain count. Tokens are not limited.
///
/// [`hold`](Self::hold) shuts every model until [`release`](Self::release), so a test can
/// queue requests behind it.
#[derive(Debug)]
pub struct WindowLimiter {
    timer: TokioTimer,
    shared: Arc<Shared>,
}

impl Default for WindowLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowLimiter {
    /// A limiter that knows no model yet (unknown models are unlimited).
    pub fn new() -> Self {
        Self {
            timer: TokioTimer,
            shared: Arc::new(Shared {
                models: Mutex::new(HashMap::new()),
                changed: watch::Sender::new(0),
                held: AtomicBool::new(false),
                admitted: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Refuses every reserve (as a cap of zero requests in flight) until
    /// [`release`](Self::release).
    pub fn hold(&self) {
        self.shared.held.store(true, Ordering::SeqCst);
    }

    /// Ends a [`hold`](Self::hold) and wakes whoever waits for a change.
    pub fn release(&self) {
        self.shared.held.store(false, Ordering::SeqCst);
        self.shared.notify();
    }

    /// Every admitted reservation so far, in order: the model and its cost.
    pub fn admitted(&self) -> Vec<(String, Cost)> {
        lock(&self.shared.admitted).clone()
    }
}

/// A [`WindowLimiter`] reservation: what to give back on a refund.
#[derive(Debug)]
struct WindowCharge {
    shared: Arc<Shared>,
    model: String,
    requests: u64,
}

impl Settle for WindowCharge {
    fn settle(self: Box<Self>, settlement: Settlement) {
        {
            let mut models = lock(&self.shared.models);
            if let Some(window) = models.get_mut(&self.model) {
                window.in_flight = window.in_flight.saturating_sub(1);
                window.pending = window.pending.saturating_sub(self.requests);
                if matches!(settlement, Settlement::Refund) {
                    window.in_window = window.in_window.saturating_sub(self.requests);
                    window.in_day = window.in_day.saturating_sub(self.requests);
                }
            }
        }
        self.shared.notify();
    }
}

impl RateLimiter for WindowLimiter {
    fn reserve(&self, model: &str, cost: &Cost) -> Result<Reservation, ReserveError> {
        if self.shared.held.load(Ordering::SeqCst) {
            return Err(ReserveError::InFlight { limit: 0 });
        }
        let now = self.timer.now();
        let mut models = lock(&self.shared.models);
        let Some(window) = models.get_mut(model) else {
            drop(models);
            lock(&self.shared.admitted).push((model.to_owned(), *cost));
            return Ok(Reservation::unlimited(*cost));
        };
        if let Some(until) = window.paused_until.filter(|until| *until > now) {
            return Err(ReserveError::Penalized {
                until,
                dimension: None,
            });
        }
        let requests = cost.requests;
        if let Some(rate) = window.per_window {
            if requests > rate.limit() {
                return Err(ReserveError::NeverFits {
                    dimension: Dimension::RequestsPerMinute,
                    cost: requests,
                    capacity: rate.limit(),
                });
            }
            let closes = window.opened + rate.period();
            if now >= closes {
                window.opened = now;
                window.in_window = 0;
            } else if window.in_window + requests > rate.limit() {
                return Err(ReserveError::Wait {
                    until: closes,
                    dimension: Dimension::RequestsPerMinute,
                });
            }
        }
        if let Some(rate) = window.per_day
            && window.in_day + requests > rate.limit()
        {
            return Err(ReserveError::NeverFits {
                dimension: Dimension::RequestsPerDay,
                cost: requests,
                capacity: rate.limit().saturating_sub(window.in_day),
            });
        }
        window.in_window += requests;
        window.in_day += requests;
        window.pending += requests;
        window.in_flight += 1;
        drop(models);
        lock(&self.shared.admitted).push((model.to_owned(), *cost));
        Ok(Reservation::new(
            *cost,
            Box::new(WindowCharge {
                shared: Arc::clone(&self.shared),
                model: model.to_owned(),
                requests,
            }),
        ))
    }

    fn changed(&self, _model: &str) -> Changed {
        // Subscribed now: the future waits for the next change after this call.
        let mut receiver = self.shared.changed.subscribe();
        Box::pin(async move {
            let _ = receiver.changed().await;
        })
    }

    fn observe(&self, _model: &str, _headers: &RateLimitHeaders, _received: Instant) {
        // This limiter trusts its own counts and does not learn from the server's headers.
    }

    fn penalize(&self, model: &str, _dimension: Option<Dimension>, until: Instant) {
        if let Some(window) = lock(&self.shared.models).get_mut(model) {
            window.paused_until = Some(window.paused_until.map_or(until, |u| u.max(until)));
        }
        self.shared.notify();
    }

    fn snapshot(&self, model: &str) -> Option<Snapshot> {
        let now = self.timer.now();
        let models = lock(&self.shared.models);
        let window = models.get(model)?;
        let mut dimensions = Vec::new();
        if let Some(rate) = window.per_window {
            let closes = window.opened + rate.period();
            let (used, reset) = if now < closes {
                (window.in_window, closes - now)
            } else {
                (0, Duration::ZERO)
            };
            dimensions.push(DimensionSnapshot::new(
                Dimension::RequestsPerMinute,
                rate,
                used,
                rate.limit().saturating_sub(used),
                reset,
                window.pending,
            ));
        }
        if let Some(rate) = window.per_day {
            dimensions.push(DimensionSnapshot::new(
                Dimension::RequestsPerDay,
                rate,
                window.in_day,
                rate.limit().saturating_sub(window.in_day),
                Duration::ZERO,
                window.pending,
            ));
        }
        Some(Snapshot::new(
            now,
            dimensions,
            window.in_flight,
            None,
            window.paused_until.filter(|until| *until > now),
        ))
    }

    fn set_quota(&self, model: &str, quota: Quota) {
        let now = self.timer.now();
        {
            let mut models = lock(&self.shared.models);
            let window = models.entry(model.to_owned()).or_insert(Window {
                per_window: None,
                per_day: None,
                opened: now,
                in_window: 0,
                in_day: 0,
                pending: 0,
                in_flight: 0,
                paused_until: None,
            });
            window.per_window = quota.rate(Dimension::RequestsPerMinute);
            window.per_day = quota.rate(Dimension::RequestsPerDay);
        }
        self.shared.notify();
    }

    fn timer(&self) -> &dyn Timer {
        &self.timer
    }
}

/// A [`Scheduler`] that serves the queued request of lowest token cost first, ties in
/// arrival order, and records the entries it hands out.
#[derive(Debug, Default)]
pub struct CheapestFirst {
    queued: Vec<LaneEntry>,
    popped: Arc<Mutex<Vec<LaneEntry>>>,
}

impl CheapestFirst {
    /// A scheduler that records every entry it pops in `popped`.
    pub fn new(popped: Arc<Mutex<Vec<LaneEntry>>>) -> Self {
        Self {
            queued: Vec::new(),
            popped,
        }
    }

    fn best(&self) -> Option<usize> {
        (0..self.queued.len()).min_by_key(|&i| (self.queued[i].cost().tokens, self.queued[i].seq()))
    }
}

impl Scheduler for CheapestFirst {
    fn push(&mut self, entry: LaneEntry) {
        self.queued.push(entry);
    }

    fn peek(&self) -> Option<LaneEntry> {
        self.best().map(|i| self.queued[i])
    }

    fn pop(&mut self) -> Option<LaneEntry> {
        let entry = self.queued.swap_remove(self.best()?);
        lock(&self.popped).push(entry);
        Some(entry)
    }

    fn cancel(&mut self, key: Key) -> Option<LaneEntry> {
        let i = self.queued.iter().position(|entry| entry.key() == key)?;
        Some(self.queued.swap_remove(i))
    }
}

/// A [`TokenCounter`] that takes four bytes for a token and counts how often it is asked.
#[derive(Debug, Default)]
pub struct LengthCounter {
    calls: AtomicUsize,
}

impl LengthCounter {
    /// How many requests it has counted.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenCounter for LengthCounter {
    fn count_text(&self, _model: &str, text: &str) -> u64 {
        u64::try_from(text.len()).unwrap_or(u64::MAX).div_ceil(4)
    }

    fn count_request(&self, request: &ChatRequest) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        u64::try_from(request.to_bytes().len())
            .unwrap_or(u64::MAX)
            .div_ceil(4)
    }
}
