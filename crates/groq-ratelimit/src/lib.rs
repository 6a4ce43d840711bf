//! Exact rate limiting for Groq's per-model limits: requests and tokens per minute and per
//! day, plus a cap on requests in flight.
//!
//! In groqchat this crate sits between the queue and the transport: a lane's dispatcher asks
//! the [`RateLimiter`] whether the job at its head may go now and, if not, until when to
//! sleep; the client reports the true usage and the response's rate-limit headers back. It
//! depends only on `groq-config` (for [`Rate`](groq_config::Rate) and
//! [`Limits`](groq_config::Limits)) and can be used on its own.
//!
//! # The model
//!
//! Groq's buckets refill continuously: a limit of `L` per period `P` is a bucket of capacity
//! `L` that refills at `L / P`. Each limited [`Dimension`] of a model's [`Quota`] is one GCRA
//! bucket, kept as a single theoretical-arrival instant in exact integer arithmetic (no float,
//! no drift, any `L` and `P`). So:
//!
//! * [`reserve`](RateLimiter::reserve) is O(1) and admits a [`Cost`] in every dimension at
//!   once or charges nothing; a refusal carries the exact instant at which the cost fits and
//!   the dimension that binds ([`ReserveError::Wait`]). A cost larger than a bucket fails at
//!   once with [`ReserveError::NeverFits`], never with an endless wait.
//! * The admitted [`Reservation`] settles exactly once: [`commit`](Reservation::commit) with
//!   the true token usage, [`keep`](Reservation::keep) when the outcome is unknown, or drop
//!   it to refund a request that was never sent.
//! * The server is the authority: [`observe`](RateLimiter::observe) lowers a bucket when
//!   Groq's [headers](RateLimitHeaders) report less remaining than the limiter believes, and
//!   [`penalize`](RateLimiter::penalize) closes a model after a 429 until the wait it names
//!   (from `retry-after` or the [message](LimitMessage)).
//! * Nothing polls: a refused reserve says what to wait for, an instant or
//!   [`changed`](RateLimiter::changed), a future that fires when a reservation settles or the
//!   quota changes.
//!
//! A model without a quota is unlimited: tell the limiter every model's quota (for example
//! from `groq-config` with [`Quota::from_limits`]).
//!
//! # The margin against jitter
//!
//! Requests reach the server later and less evenly than they leave. The limiter admits a cost
//! only if it would already have fitted `margin` earlier ([`DEFAULT_MARGIN`], 100 ms): any
//! admitted request then fits the server's bucket even when its trip takes up to `margin`
//! longer than an earlier request's, and a refused cost fits exactly `margin` after the
//! server would first accept it. An idle bucket still admits its whole capacity at once.
//!
//! # Example
//!
//! ```
//! use groq_config::Rate;
//! use groq_ratelimit::{Cost, Dimension, LocalLimiter, Quota, RateLimiter, ReserveError};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let limiter = LocalLimiter::builder()
//!     .margin(Duration::ZERO)
//!     .quota(
//!         "llama-3.1-8b-instant",
//!         Quota::unlimited()
//!             .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30))
//!             .with_rate(Dimension::TokensPerMinute, Rate::per_minute(6_000))
//!             .with_max_in_flight(8),
//!     )
//!     .build();
//!
//! let start = tokio::time::Instant::now();
//! let cost = Cost::request(2_500);
//! let mut sent = 0;
//! while sent < 3 {
//!     match limiter.reserve("llama-3.1-8b-instant", &cost) {
//!         Ok(reservation) => {
//!             // Send the request, then settle with the usage the server reports.
//!             reservation.commit(2_500);
//!             sent += 1;
//!         }
//!         Err(ReserveError::Wait { until, .. }) => tokio::time::sleep_until(until).await,
//!         Err(other) => panic!("{other}"),
//!     }
//! }
//! // Two requests fit the 6,000-token bucket at once; the third waited for 1,500 tokens to
//! // refill at 100 per second.
//! assert_eq!(start.elapsed(), Duration::from_secs(15));
//! let snapshot = limiter.snapshot("llama-3.1-8b-instant").unwrap();
//! assert_eq!(snapshot.get(Dimension::TokensPerMinute).unwrap().remaining, 0);
//! # }
//! ```
//!
//! # Features
//!
//! * `test-util`: `ManualTimer`, a timer advanced by hand that wakes its sleepers, and
//!   `reference`, an independent reference server to check limiters against, for tests of code built on this crate.

mod bound;
mod error;
mod gcra;
mod headers;
mod local;
mod message;
mod quota;
mod reservation;
mod state;
mod timer;

#[cfg(feature = "test-util")]
pub mod reference;

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use bound::{LONGEST_SERVER_WAIT, bounded_wait, nominal_period, wait_bound};
pub use error::ReserveError;
pub use headers::{BucketHeaders, RateLimitHeaders, parse_go_duration};
pub use local::{DEFAULT_MARGIN, LocalLimiter, LocalLimiterBuilder};
pub use message::{LimitMessage, LimitMessageKind};
pub use quota::{Cost, Dimension, Quota};
pub use reservation::{Reservation, Settle};
pub use state::{Charge, DimensionSnapshot, QuotaState, Settlement, Snapshot};
#[cfg(feature = "test-util")]
pub use timer::ManualTimer;
pub use timer::{Sleep, Timer, TokioTimer};

/// The future returned by [`RateLimiter::changed`].
pub type Changed = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A per-model rate limiter.
///
/// Dyn-compatible: hold it as `Arc<dyn RateLimiter>`. No method blocks or sleeps; waiting is
/// the caller's business, guided by the answers. [`LocalLimiter`] is the in-process
/// implementation; another one (shared through a server, say) implements the same methods and
/// builds its reservations with [`Reservation::new`].
///
/// A dispatcher that never busy-loops looks like this:
///
/// ```
/// use groq_ratelimit::{Cost, RateLimiter, Reservation, ReserveError};
///
/// async fn admit(limiter: &dyn RateLimiter, model: &str, cost: Cost) -> Result<Reservation, ReserveError> {
///     loop {
///         // Subscribe before asking, so that a settlement in between is not missed.
///         let changed = limiter.changed(model);
///         match limiter.reserve(model, &cost) {
///             Ok(reservation) => return Ok(reservation),
///             Err(e @ ReserveError::NeverFits { .. }) => return Err(e),
///             Err(e) => match e.retry_at() {
///                 Some(until) => tokio::select! {
///                     () = tokio::time::sleep_until(until) => {}
///                     () = changed => {}
///                 },
///                 None => changed.await,
///             },
///         }
///     }
/// }
/// ```
pub trait RateLimiter: Send + Sync + Debug {
    /// Admits `cost` for `model` now, in every limited dimension at once, or charges nothing
    /// and says what to wait for (see [`ReserveError`]). A model without a quota is unlimited.
    fn reserve(&self, model: &str, cost: &Cost) -> Result<Reservation, ReserveError>;

    /// A future that completes at the next change that may let a refused cost in earlier:
    /// a reservation of `model` settles or its quota changes. The subscription starts when this
    /// method is called, not when the future is first polled: call it before
    /// [`reserve`](Self::reserve) to miss nothing. It may complete without a useful change;
    /// reserve again to find out.
    fn changed(&self, model: &str) -> Changed;

    /// Learns from the rate-limit headers of a response for `model` received at `received`:
    /// a bucket the server reports lower than ours is lowered to match; nothing is ever
    /// loosened. See [`QuotaState::observe`] for the exact rule. Call it after settling the
    /// reservation the response belongs to.
    fn observe(&self, model: &str, headers: &RateLimitHeaders, received: Instant);

    /// Closes `model` until `until` after a 429 that named `dimension` (if it named one).
    /// Every reserve before then answers [`ReserveError::Penalized`].
    fn penalize(&self, model: &str, dimension: Option<Dimension>, until: Instant);

    /// The state of `model`'s limits now, or `None` if the limiter knows nothing of it.
    fn snapshot(&self, model: &str) -> Option<Snapshot>;

    /// Restores what an earlier process knew of `model`: `dimension`'s bucket holds at least
    /// `used` units at `at` (aged by the caller for the time that passed since it was saved).
    /// Never loosens. A restarted batch uses it so that it does not start with full buckets
    /// while the server's are drained.
    ///
    /// The default goes through [`observe`](Self::observe) and so covers the two dimensions
    /// Groq's headers describe (RPD and TPM); [`LocalLimiter`] restores all four exactly.
    fn restore(&self, model: &str, dimension: Dimension, used: u64, at: Instant) {
        let Some(rate) = self
            .snapshot(model)
            .and_then(|s| s.get(dimension).map(|d| d.rate))
        else {
            return;
        };
        let remaining = Some(rate.limit().saturating_sub(used));
        let headers = match dimension {
            Dimension::RequestsPerDay => RateLimitHeaders {
                remaining_requests: remaining,
                ..RateLimitHeaders::default()
            },
            Dimension::TokensPerMinute => RateLimitHeaders {
                remaining_tokens: remaining,
                ..RateLimitHeaders::default()
            },
            _ => return,
        };
        self.observe(model, &headers, at);
    }

    /// Replaces `model`'s quota without losing what is known: usage, reservations in flight
    /// and pauses carry over (see [`QuotaState::set_quota`]).
    fn set_quota(&self, model: &str, quota: Quota);

    /// The timer the limiter reads; its instants are the ones in [`ReserveError`].
    ///
    /// It is the time of everything around the limiter too: a client built on this limiter
    /// waits on this timer (queue lanes until [`ReserveError::retry_at`], backoff between
    /// attempts, request and stream timeouts), so one injected timer drives the whole
    /// pipeline.
    fn timer(&self) -> &dyn Timer;

    /// Handles a 429 for `model` received at `received`: learns from its headers, then closes
    /// the model for the wait the server asked for ([`server_wait`]), naming the limit the
    /// message names.
    fn rate_limited(
        &self,
        model: &str,
        headers: &RateLimitHeaders,
        message: Option<&LimitMessage>,
        received: Instant,
    ) {
        self.observe(model, headers, received);
        let wait = server_wait(headers, message);
        if let Some(until) = wait.and_then(|wait| received.checked_add(wait)) {
            self.penalize(model, message.and_then(|m| m.dimension), until);
        }
    }
}

/// The wait a 429 asks for: `retry-after-ms` or `retry-after`, else the wait in the message,
/// bounded by the period of the dimension the message names (a day when it names none): a
/// longer wait is garbage, dropped and logged (see [`bounded_wait`]).
///
/// ```
/// use groq_ratelimit::{LimitMessage, RateLimitHeaders, server_wait};
/// use http::HeaderMap;
/// use std::time::Duration;
///
/// let message = LimitMessage::parse(
///     "Rate limit reached for model `m` on tokens per minute (TPM): Limit 6000, Used 6000, \
///      Requested 10. Please try again in 2s.",
/// );
/// let mut map = HeaderMap::new();
/// map.insert("retry-after", "7200".parse().unwrap());
/// // Two hours cannot be the wait of a per-minute bucket: the message's wait is used.
/// let headers = RateLimitHeaders::from_headers(&map);
/// assert_eq!(server_wait(&headers, message.as_ref()), Some(Duration::from_secs(2)));
/// ```
pub fn server_wait(headers: &RateLimitHeaders, message: Option<&LimitMessage>) -> Option<Duration> {
    let dimension = message.and_then(|m| m.dimension);
    headers
        .retry_after
        .and_then(|wait| bounded_wait(wait, dimension, "retry-after"))
        .or_else(|| message.and_then(|m| m.retry_after))
}

impl<T: RateLimiter + ?Sized> RateLimiter for Arc<T> {
    fn reserve(&self, model: &str, cost: &Cost) -> Result<Reservation, ReserveError> {
        (**self).reserve(model, cost)
    }

    fn changed(&self, model: &str) -> Changed {
        (**self).changed(model)
    }

    fn observe(&self, model: &str, headers: &RateLimitHeaders, received: Instant) {
        (**self).observe(model, headers, received);
    }

    fn penalize(&self, model: &str, dimension: Option<Dimension>, until: Instant) {
        (**self).penalize(model, dimension, until);
    }

    fn snapshot(&self, model: &str) -> Option<Snapshot> {
        (**self).snapshot(model)
    }

    fn restore(&self, model: &str, dimension: Dimension, used: u64, at: Instant) {
        (**self).restore(model, dimension, used, at);
    }

    fn set_quota(&self, model: &str, quota: Quota) {
        (**self).set_quota(model, quota);
    }

    fn timer(&self) -> &dyn Timer {
        (**self).timer()
    }

    fn rate_limited(
        &self,
        model: &str,
        headers: &RateLimitHeaders,
        message: Option<&LimitMessage>,
        received: Instant,
    ) {
        (**self).rate_limited(model, headers, message, received);
    }
}

/// `dyn RateLimiter` and `dyn Timer` must stay usable, and the shared types thread-safe.
const _: () = {
    const fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn RateLimiter>();
    assert_send_sync::<Arc<dyn RateLimiter>>();
    assert_send_sync::<dyn Timer>();
    assert_send_sync::<LocalLimiter>();
};
