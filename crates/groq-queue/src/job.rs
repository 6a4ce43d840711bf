//! What is queued: [`Job`] going in, [`QueuedJob`] and [`Dispatched`] coming out.

use std::fmt;
use std::sync::Arc;

use groq_ratelimit::{Cost, Reservation};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::lane::Lane;
use crate::{Key, Priority, QueueError};

/// A request to queue: the model whose lane it joins, what it will cost the model's limits,
/// its priority and the caller's payload (for the client: the request itself and the channel
/// its answer goes back on).
///
/// ```
/// use groq_queue::{Job, Priority};
/// use groq_ratelimit::Cost;
///
/// let job = Job::new("llama-3.1-8b-instant", Cost::request(1_200), "payload")
///     .with_priority(Priority::High);
/// assert_eq!(job.model(), "llama-3.1-8b-instant");
/// assert_eq!(job.priority(), Priority::High);
/// ```
pub struct Job<T> {
    pub(crate) model: Arc<str>,
    pub(crate) cost: Cost,
    pub(crate) priority: Priority,
    pub(crate) payload: T,
}

impl<T> Job<T> {
    /// A [`Priority::Normal`] job for `model` costing `cost`.
    pub fn new(model: impl Into<Arc<str>>, cost: Cost, payload: T) -> Self {
        Self {
            model: model.into(),
            cost,
            priority: Priority::default(),
            payload,
        }
    }

    /// Sets the priority class.
    #[must_use]
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// The model whose lane the job joins.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// What the job costs the model's limits.
    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// The priority class.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut T {
        &mut self.payload
    }

    /// Gives the payload back.
    pub fn into_payload(self) -> T {
        self.payload
    }
}

impl<T> fmt::Debug for Job<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("model", &self.model)
            .field("cost", &self.cost)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

/// Identifies a submitted job for [`Lanes::cancel`](crate::Lanes::cancel); stays the same
/// when the job is handed back with [`Lanes::requeue_front`](crate::Lanes::requeue_front).
///
/// Displays as `lane.seq`, for example `0.17`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId {
    pub(crate) lane: usize,
    pub(crate) key: Key,
}

impl JobId {
    /// The job's sequence number within its lane (arrival order).
    pub fn seq(&self) -> u64 {
        self.key.seq()
    }

    /// The job's scheduler key.
    pub fn key(&self) -> Key {
        self.key
    }

    /// The job's priority class.
    pub fn priority(&self) -> Priority {
        self.key.priority()
    }

    /// When the job was submitted.
    pub fn enqueued(&self) -> Instant {
        self.key.enqueued()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.lane, self.key.seq())
    }
}

/// Keeps a lane's count of dispatched, unfinished jobs: a graceful drain waits until every
/// [`QueuedJob`] is dropped or handed back.
pub(crate) struct Outstanding<T: Send + Sync + 'static> {
    pub(crate) lane: Arc<Lane<T>>,
}

impl<T: Send + Sync + 'static> Drop for Outstanding<T> {
    fn drop(&mut self) {
        self.lane.finish_outstanding();
    }
}

/// A job the queue accepted and dispatched: the job's parts plus its identity, so that it
/// can be handed back with [`Lanes::requeue_front`](crate::Lanes::requeue_front) after a 429
/// at its original place.
///
/// Dropping it ends the queue's interest in the job: the submitter's
/// [`Ticket::failed`](crate::Ticket::failed) then resolves to `None`, and a draining
/// shutdown stops waiting for it. Keep it until the request is answered.
pub struct QueuedJob<T: Send + Sync + 'static> {
    pub(crate) id: JobId,
    pub(crate) cost: Cost,
    pub(crate) payload: T,
    pub(crate) failure: oneshot::Sender<QueueError>,
    pub(crate) outstanding: Outstanding<T>,
}

impl<T: Send + Sync + 'static> QueuedJob<T> {
    /// The job's identity.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The model.
    pub fn model(&self) -> &str {
        &self.outstanding.lane.model
    }

    /// The priority class.
    pub fn priority(&self) -> Priority {
        self.id.priority()
    }

    /// The cost the job was admitted with.
    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// Changes the cost the job is admitted with when requeued (a better estimate, say).
    pub fn set_cost(&mut self, cost: Cost) {
        self.cost = cost;
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut T {
        &mut self.payload
    }

    /// Gives the payload back, ending the queue's interest in the job.
    pub fn into_payload(self) -> T {
        self.payload
    }

    /// Whether the submitter has stopped listening for failures (its [`Ticket`](crate::Ticket)
    /// was dropped): the answer is no longer wanted.
    pub fn is_abandoned(&self) -> bool {
        self.failure.is_closed()
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for QueuedJob<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedJob")
            .field("id", &self.id)
            .field("model", &self.model())
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

/// A job admitted by the rate limiter, as the dispatcher hands it over: send the request,
/// then settle the [`Reservation`] (commit the true usage, keep, or drop to refund).
///
/// One pointer wide (the parts are boxed), so it moves cheaply through channels and
/// `Result`s.
pub struct Dispatched<T: Send + Sync + 'static>(Box<Parts<T>>);

struct Parts<T: Send + Sync + 'static> {
    job: QueuedJob<T>,
    reservation: Reservation,
}

impl<T: Send + Sync + 'static> Dispatched<T> {
    pub(crate) fn new(job: QueuedJob<T>, reservation: Reservation) -> Self {
        Self(Box::new(Parts { job, reservation }))
    }

    /// The job.
    pub fn job(&self) -> &QueuedJob<T> {
        &self.0.job
    }

    /// The job, mutably.
    pub fn job_mut(&mut self) -> &mut QueuedJob<T> {
        &mut self.0.job
    }

    /// The reservation taken for the job.
    pub fn reservation(&self) -> &Reservation {
        &self.0.reservation
    }

    /// The job and its reservation, to be used separately.
    pub fn into_parts(self) -> (QueuedJob<T>, Reservation) {
        let Parts { job, reservation } = *self.0;
        (job, reservation)
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Dispatched<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatched")
            .field("job", &self.0.job)
            .field("reservation", &self.0.reservation)
            .finish()
    }
}
