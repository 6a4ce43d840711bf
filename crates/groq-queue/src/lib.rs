//! Per-model request lanes for groqchat: a priority queue with aging, cancellation,
//! back-pressure and an exact rate-limit dispatcher.
//!
//! In the groqchat stack this crate sits between `groq-client` and `groq-ratelimit`. The
//! client turns each request into a [`Job`] (model, [`Cost`](groq_ratelimit::Cost),
//! [`Priority`], its own payload) and submits it to [`Lanes`]. Every model has its own lane:
//! a [`Scheduler`] plus a dispatcher task that takes the job at the head, asks the
//! [`RateLimiter`](groq_ratelimit::RateLimiter) to reserve its cost, and hands the admitted
//! job with its [`Reservation`](groq_ratelimit::Reservation) to the client through a
//! [`Handoff`] — or sleeps exactly until the instant the limiter names. A throttled model
//! never delays another, and nothing polls.
//!
//! # Ordering: priority with aging
//!
//! The default scheduler, [`AgingQueue`], keys each job by its enqueue instant plus its
//! class delay ([`AgingConfig`]: `High` 0 s, `Normal` 5 s and `Low` 30 s by default) and
//! serves the smallest key first. Fresh work goes in strict priority order, each class is
//! FIFO, and a waiting `Low` job overtakes new `High` jobs once it has waited its class
//! delay, so nothing starves. Push, pop and cancel are O(log n).
//!
//! # Cancellation, back-pressure, 429s and shutdown
//!
//! * [`Lanes::submit`] returns a [`Ticket`]; dropping it cancels the job while it is queued
//!   (nothing was charged). [`Lanes::cancel`] cancels by [`JobId`].
//! * Each lane holds at most its capacity; when full, `submit` waits for room or fails with
//!   [`QueueError::Full`] ([`WhenFull`]).
//! * A cost that can never fit the limits fails at once with [`QueueError::NeverFits`].
//! * After a 429 the client hands the [`QueuedJob`] back with [`Lanes::requeue_front`]: it
//!   regains its original key, so it is again at the head.
//! * [`Lanes::shutdown`] stops intake and then drains or cancels, and reports
//!   ([`ShutdownReport`]).
//!
//! # Fast path and admission
//!
//! * [`Lanes::dispatch_now`] does the dispatcher's work on the submitter's task when nothing
//!   is queued ahead and the limiter admits the cost at once: no handoff, no task switch.
//!   Otherwise the job comes back to be submitted; priority order is never bypassed.
//! * An [`Admission`] ([`LanesBuilder::admission`]) sees each head job before its
//!   reservation: it can re-estimate the cost with fresher information, or hold the head
//!   until a dispatched job finishes (`groq-client` uses both for its calibration warm-up).
//!
//! # Example
//!
//! ```
//! use groq_config::Rate;
//! use groq_queue::{Dispatched, Job, Lanes, Priority};
//! use groq_ratelimit::{Cost, Dimension, LocalLimiter, Quota, RateLimiter};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // Two requests per minute for model "m".
//! let limiter: Arc<dyn RateLimiter> = Arc::new(
//!     LocalLimiter::builder()
//!         .margin(Duration::ZERO)
//!         .quota("m", Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(2)))
//!         .build(),
//! );
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Dispatched<String>>();
//! let lanes = Lanes::builder(limiter, tx).build().unwrap();
//!
//! // Submitted together: the two first fit the bucket; High goes before the earlier Low.
//! let mut tickets = Vec::new();
//! for (text, priority) in [("low", Priority::Low), ("normal", Priority::Normal), ("high", Priority::High)] {
//!     let job = Job::new("m", Cost::request(100), text.to_string()).with_priority(priority);
//!     tickets.push(lanes.submit(job).await.unwrap());
//! }
//! let mut order = Vec::new();
//! while order.len() < 3 {
//!     let dispatched = rx.recv().await.unwrap();
//!     // A real sender would now make the HTTP call in its own task.
//!     let (job, reservation) = dispatched.into_parts();
//!     order.push(job.into_payload());
//!     reservation.commit(100);
//! }
//! assert_eq!(order, ["high", "normal", "low"]);
//! # }
//! ```
//!
//! # Features
//!
//! None: the crate needs tokio (`rt`, `sync`, `time`) and `groq-ratelimit`.

mod error;
mod job;
mod lane;
mod lanes;
mod priority;
mod scheduler;

pub use error::QueueError;
pub use job::{Dispatched, Job, JobId, QueuedJob};
pub use lanes::{
    Admission, Handoff, LaneReport, LaneStatus, Lanes, LanesBuilder, ShutdownMode, ShutdownReport,
    Ticket, WhenFull,
};
pub use priority::{AgingConfig, PerClass, Priority};
pub use scheduler::{AgingQueue, Key, LaneEntry, Scheduler};
