//! [`Lanes`]: one lane and one dispatcher task per model, and the handles around them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use groq_ratelimit::{Cost, RateLimiter};
use tokio::sync::{TryAcquireError, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::lane::{self, Lane, Phase};
use crate::{
    AgingConfig, AgingQueue, Dispatched, Job, JobId, PerClass, QueueError, QueuedJob, Scheduler,
};

/// Where the dispatcher hands admitted jobs: to the code that sends the requests.
///
/// `hand_off` must not block or wait: it is called from the lane's dispatcher task, which
/// must get back to the next job. Start the request elsewhere (send it over a channel, spawn
/// a task). Return the job back as `Err` when nobody will send it any more; the lane then
/// stops and fails its queued jobs with [`QueueError::HandoffClosed`].
///
/// Implemented for [`mpsc::UnboundedSender<Dispatched<T>>`] and for closures
/// `Fn(Dispatched<T>) -> Result<(), Dispatched<T>>`.
pub trait Handoff<T: Send + Sync + 'static>: Send + Sync + 'static {
    /// Takes an admitted job; `Err` gives it back when it cannot be sent.
    fn hand_off(&self, job: Dispatched<T>) -> Result<(), Dispatched<T>>;
}

impl<T: Send + Sync + 'static> Handoff<T> for mpsc::UnboundedSender<Dispatched<T>> {
    fn hand_off(&self, job: Dispatched<T>) -> Result<(), Dispatched<T>> {
        self.send(job).map_err(|e| e.0)
    }
}

impl<T, F> Handoff<T> for F
where
    T: Send + Sync + 'static,
    F: Fn(Dispatched<T>) -> Result<(), Dispatched<T>> + Send + Sync + 'static,
{
    fn hand_off(&self, job: Dispatched<T>) -> Result<(), Dispatched<T>> {
        self(job)
    }
}

/// Decides, just before a lane asks the limiter, whether the job at its head may be
/// reserved now and at what cost: the place for a submitter's policy that depends on what
/// it learned while the job waited (a cost re-estimated with fresher information, a model
/// whose first reply must come back before more requests go).
///
/// `admit` gets the lane's model, the head job's payload and cost, and the number of the
/// lane's dispatched jobs not finished yet (their [`QueuedJob`] alive). It returns the cost
/// to reserve (the job's own, or another), or `None` to hold the head: the lane then waits
/// until a dispatched job finishes, the limiter reports a change, or a new head arrives, and
/// asks again. The dispatched job carries the cost that was reserved.
///
/// Called with the lane's lock held: it must be quick and must not call back into the
/// [`Lanes`]. Implemented for closures `Fn(&str, &T, Cost, usize) -> Option<Cost>`.
pub trait Admission<T>: Send + Sync + 'static {
    /// The cost to reserve for the head job, or `None` to hold it.
    fn admit(&self, model: &str, payload: &T, cost: Cost, in_flight: usize) -> Option<Cost>;
}

impl<T, F> Admission<T> for F
where
    F: Fn(&str, &T, Cost, usize) -> Option<Cost> + Send + Sync + 'static,
{
    fn admit(&self, model: &str, payload: &T, cost: Cost, in_flight: usize) -> Option<Cost> {
        self(model, payload, cost, in_flight)
    }
}

/// What [`Lanes::submit`] does when the model's lane already holds its capacity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WhenFull {
    /// Wait (first come, first served) until a place frees up: back-pressure on the
    /// submitter.
    #[default]
    Wait,
    /// Fail at once with [`QueueError::Full`].
    Reject,
}

/// How [`Lanes::shutdown`] treats the jobs still queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShutdownMode {
    /// Dispatch everything queued, at the pace the limits allow, and wait until every
    /// dispatched job is finished (its [`QueuedJob`] dropped); jobs handed back after a 429
    /// meanwhile are dispatched again.
    Drain,
    /// Fail every queued job with [`QueueError::Cancelled`] (nothing was charged) and stop
    /// at once; jobs already dispatched are left to finish, but cannot be handed back.
    Cancel,
}

/// What one lane did during a [`Lanes::shutdown`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaneReport {
    /// The model.
    pub model: String,
    /// Jobs queued when the shutdown began.
    pub queued: usize,
    /// Jobs dispatched during the shutdown.
    pub dispatched: usize,
    /// Jobs cancelled during the shutdown.
    pub cancelled: usize,
    /// Jobs failed during the shutdown (a cost that never fits, a stopped handoff).
    pub failed: usize,
}

/// The outcome of [`Lanes::shutdown`], lane by lane (sorted by model).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// One entry per lane.
    pub lanes: Vec<LaneReport>,
}

impl ShutdownReport {
    /// Jobs queued when the shutdown began, over all lanes.
    pub fn queued(&self) -> usize {
        self.lanes.iter().map(|l| l.queued).sum()
    }

    /// Jobs dispatched during the shutdown, over all lanes.
    pub fn dispatched(&self) -> usize {
        self.lanes.iter().map(|l| l.dispatched).sum()
    }

    /// Jobs cancelled during the shutdown, over all lanes.
    pub fn cancelled(&self) -> usize {
        self.lanes.iter().map(|l| l.cancelled).sum()
    }

    /// Jobs failed during the shutdown, over all lanes.
    pub fn failed(&self) -> usize {
        self.lanes.iter().map(|l| l.failed).sum()
    }
}

/// One lane's state, from [`Lanes::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaneStatus {
    /// The model.
    pub model: String,
    /// Queued jobs by class.
    pub queued: PerClass<usize>,
    /// How long the oldest queued job of each class has waited.
    pub oldest_wait: PerClass<Option<Duration>>,
    /// Queued jobs, all classes.
    pub total: usize,
    /// Dispatched jobs not finished yet (their [`QueuedJob`] is alive).
    pub in_flight: usize,
    /// The lane's capacity.
    pub capacity: usize,
    /// Whether the lane still takes jobs.
    pub accepting: bool,
}

/// Makes the scheduler of each new lane, given the model.
type SchedulerFactory = dyn Fn(&str) -> Box<dyn Scheduler> + Send + Sync;

/// Configures [`Lanes`]; see [`Lanes::builder`].
pub struct LanesBuilder<T: Send + Sync + 'static> {
    limiter: Arc<dyn RateLimiter>,
    handoff: Arc<dyn Handoff<T>>,
    admission: Option<Arc<dyn Admission<T>>>,
    aging: AgingConfig,
    scheduler: Option<Arc<SchedulerFactory>>,
    capacity: usize,
    when_full: WhenFull,
}

impl<T: Send + Sync + 'static> fmt::Debug for LanesBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LanesBuilder")
            .field("limiter", &self.limiter)
            .field("aging", &self.aging)
            .field("custom_scheduler", &self.scheduler.is_some())
            .field("admission", &self.admission.is_some())
            .field("capacity", &self.capacity)
            .field("when_full", &self.when_full)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> LanesBuilder<T> {
    /// The default capacity of a lane: 10 000 queued jobs.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// The class delays of the default [`AgingQueue`] scheduler (default
    /// [`AgingConfig::default`]).
    #[must_use]
    pub fn aging(mut self, aging: AgingConfig) -> Self {
        self.aging = aging;
        self
    }

    /// Uses another [`Scheduler`] in every lane instead of an [`AgingQueue`]; `make` gets the
    /// model's name and is called once per lane, when the model's first job arrives.
    /// [`aging`](Self::aging) is then ignored. The scheduler orders read-only
    /// [`LaneEntry`](crate::LaneEntry) views; the lane keeps the payloads, so a scheduler
    /// works for lanes of any payload type.
    #[must_use]
    pub fn scheduler(
        mut self,
        make: impl Fn(&str) -> Box<dyn Scheduler> + Send + Sync + 'static,
    ) -> Self {
        self.scheduler = Some(Arc::new(make));
        self
    }

    /// Consults `admission` before every reservation (default: none, every head job is
    /// reserved at its own cost).
    #[must_use]
    pub fn admission(mut self, admission: impl Admission<T>) -> Self {
        self.admission = Some(Arc::new(admission));
        self
    }

    /// How many jobs each lane may hold (default [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)).
    /// Jobs handed back after a 429 are always taken, even beyond it.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// What [`Lanes::submit`] does when a lane is full (default [`WhenFull::Wait`]).
    #[must_use]
    pub fn when_full(mut self, when_full: WhenFull) -> Self {
        self.when_full = when_full;
        self
    }

    /// The lanes. Fails if the capacity is zero. Capacities above
    /// [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS) are lowered to it.
    pub fn build(self) -> Result<Lanes<T>, QueueError> {
        if self.capacity == 0 {
            return Err(QueueError::ZeroCapacity);
        }
        let aging = self.aging;
        let scheduler = self.scheduler.unwrap_or_else(|| {
            Arc::new(move |_: &str| -> Box<dyn Scheduler> { Box::new(AgingQueue::new(aging)) })
        });
        Ok(Lanes {
            inner: Arc::new(Inner {
                limiter: self.limiter,
                handoff: self.handoff,
                admission: self.admission,
                scheduler,
                capacity: self.capacity.min(tokio::sync::Semaphore::MAX_PERMITS),
                when_full: self.when_full,
                closed: AtomicBool::new(false),
                table: RwLock::new(Table {
                    by_model: HashMap::new(),
                    lanes: Vec::new(),
                    tasks: Vec::new(),
                }),
            }),
        })
    }
}

struct Table<T: Send + Sync + 'static> {
    by_model: HashMap<Arc<str>, usize>,
    lanes: Vec<Arc<Lane<T>>>,
    tasks: Vec<JoinHandle<()>>,
}

struct Inner<T: Send + Sync + 'static> {
    limiter: Arc<dyn RateLimiter>,
    handoff: Arc<dyn Handoff<T>>,
    admission: Option<Arc<dyn Admission<T>>>,
    scheduler: Arc<SchedulerFactory>,
    capacity: usize,
    when_full: WhenFull,
    closed: AtomicBool,
    table: RwLock<Table<T>>,
}

impl<T: Send + Sync + 'static> Drop for Inner<T> {
    fn drop(&mut self) {
        let table = self.table.get_mut().unwrap_or_else(PoisonError::into_inner);
        for lane in &table.lanes {
            lane.stop(QueueError::ShutDown);
        }
        for task in &table.tasks {
            task.abort();
        }
    }
}

/// The request queue: one lane per model, each with a priority queue and its own dispatcher
/// task, so a throttled model never delays another.
///
/// A lane's dispatcher takes the job at the head of its [`Scheduler`], asks the
/// [`RateLimiter`] to reserve its cost and either hands it with its reservation to the
/// [`Handoff`], or sleeps exactly until the instant the limiter names. It wakes early when a
/// job with an earlier key arrives, when the head is cancelled, or when the limiter reports a
/// change (a reservation settled, the quota changed). A job whose cost can never fit fails at
/// once with [`QueueError::NeverFits`]. Nothing polls. Sleeps wait on the limiter's
/// [`timer`](RateLimiter::timer), so a manual timer drives the lanes too (with the default
/// tokio timer, whose resolution is one millisecond, a job goes at the limiter's instant
/// rounded up to it).
///
/// Lanes are created on a model's first job. `Lanes` is cheap to clone; clones share the
/// lanes. Dropping the last clone stops every lane and fails what is queued with
/// [`QueueError::ShutDown`]; call [`shutdown`](Self::shutdown) for a graceful end.
///
/// ```
/// use groq_config::Rate;
/// use groq_queue::{Dispatched, Job, Lanes, Priority, ShutdownMode};
/// use groq_ratelimit::{Cost, Dimension, LocalLimiter, Quota, RateLimiter};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let limiter: Arc<dyn RateLimiter> = Arc::new(
///     LocalLimiter::builder()
///         .margin(Duration::ZERO)
///         .quota("m", Quota::unlimited().with_rate(Dimension::RequestsPerMinute, Rate::per_minute(1)))
///         .build(),
/// );
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Dispatched<&str>>();
/// let lanes = Lanes::builder(limiter, tx).build().unwrap();
///
/// let _first = lanes.submit(Job::new("m", Cost::request(10), "first")).await.unwrap();
/// let _second = lanes.submit(Job::new("m", Cost::request(10), "second")).await.unwrap();
/// let start = tokio::time::Instant::now();
/// for expected in ["first", "second"] {
///     let (job, reservation) = rx.recv().await.unwrap().into_parts();
///     assert_eq!(*job.payload(), expected);
///     reservation.commit(10); // after the request was answered
/// }
/// // One request per minute: the second went exactly one minute after the first.
/// assert_eq!(start.elapsed(), Duration::from_secs(60));
/// let report = lanes.shutdown(ShutdownMode::Drain).await;
/// assert_eq!(report.queued(), 0);
/// # }
/// ```
pub struct Lanes<T: Send + Sync + 'static> {
    inner: Arc<Inner<T>>,
}

impl<T: Send + Sync + 'static> Clone for Lanes<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Lanes<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.table();
        let models: Vec<&str> = table.lanes.iter().map(|l| &*l.model).collect();
        f.debug_struct("Lanes")
            .field("models", &models)
            .field("capacity", &self.inner.capacity)
            .field("when_full", &self.inner.when_full)
            .field("closed", &self.inner.closed.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> Lanes<T> {
    /// Bytes a lane keeps for each queued job beside its scheduler's [`LaneEntry`](crate::LaneEntry)
    /// (payload, enqueue instant, failure channel and map key), not counting B-tree node
    /// overhead.
    pub const JOB_BYTES: usize = lane::stored_bytes::<T>();

    /// Configures lanes that reserve through `limiter` and hand admitted jobs to `handoff`.
    pub fn builder(limiter: Arc<dyn RateLimiter>, handoff: impl Handoff<T>) -> LanesBuilder<T> {
        LanesBuilder {
            limiter,
            handoff: Arc::new(handoff),
            admission: None,
            aging: AgingConfig::default(),
            scheduler: None,
            capacity: LanesBuilder::<T>::DEFAULT_CAPACITY,
            when_full: WhenFull::default(),
        }
    }

    fn table(&self) -> std::sync::RwLockReadGuard<'_, Table<T>> {
        self.inner
            .table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The lane of `model`, created with its dispatcher task if needed.
    fn lane(&self, model: &Arc<str>) -> Result<Arc<Lane<T>>, QueueError> {
        {
            let table = self.table();
            if let Some(lane) = table.by_model.get(model).and_then(|&i| table.lanes.get(i)) {
                return Ok(Arc::clone(lane));
            }
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| QueueError::NoRuntime)?;
        let mut table = self
            .inner
            .table
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(lane) = table.by_model.get(model).and_then(|&i| table.lanes.get(i)) {
            return Ok(Arc::clone(lane));
        }
        // Checked again under the table lock, so that a shutdown, which sets the flag before
        // it lists the lanes, sees every lane ever created.
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(QueueError::ShutDown);
        }
        let index = table.lanes.len();
        let lane = Arc::new(Lane::new(
            index,
            Arc::clone(model),
            self.inner.capacity,
            (self.inner.scheduler)(model),
        ));
        let task = runtime.spawn(lane::dispatch(
            Arc::clone(&lane),
            Arc::clone(&self.inner.limiter),
            Arc::clone(&self.inner.handoff),
            self.inner.admission.clone(),
        ));
        table.by_model.insert(Arc::clone(model), index);
        table.lanes.push(Arc::clone(&lane));
        table.tasks.push(task);
        Ok(lane)
    }

    /// Queues `job` in its model's lane. When the lane is full, waits for room or fails
    /// with [`QueueError::Full`], as configured by [`LanesBuilder::when_full`]; the wait is
    /// first come, first served, and dropping this future abandons it.
    ///
    /// The returned [`Ticket`] cancels the job if dropped before the job is dispatched. On
    /// error the job is dropped.
    pub async fn submit(&self, job: Job<T>) -> Result<Ticket, QueueError> {
        match self.inner.when_full {
            WhenFull::Reject => self.try_submit(job),
            WhenFull::Wait => {
                let lane = self.open_lane(&job)?;
                match lane.room.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return Err(lane.lock().stop_error.clone()),
                }
                self.enqueue(&lane, job)
            }
        }
    }

    /// Dispatches `job` at once, on the caller's task, when nothing is queued ahead of it:
    /// its lane is running and empty, the [`Admission`] (if any) lets it go and the limiter
    /// admits its cost now. This is exactly what the lane's dispatcher would do with the job
    /// as its head, without the round trip through the dispatcher task and the [`Handoff`].
    /// Otherwise the job comes back unchanged, to be [`submit`](Self::submit)ted.
    ///
    /// The [`Ticket`] reports failures of the job if it is later handed back with
    /// [`requeue_front`](Self::requeue_front); dropping it does not affect the dispatched
    /// job.
    pub fn dispatch_now(&self, job: Job<T>) -> Result<(Ticket, Dispatched<T>), Job<T>> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(job);
        }
        let Ok(lane) = self.lane(&job.model) else {
            return Err(job);
        };
        let now = self.inner.limiter.timer().now();
        let (id, failure, dispatched) = lane.dispatch_now(
            job,
            now,
            &*self.inner.limiter,
            self.inner.admission.as_deref(),
        )?;
        Ok((
            Ticket {
                id,
                lane: lane as Arc<dyn CancelQueued>,
                failure: Failure::Waiting(failure),
                armed: true,
            },
            dispatched,
        ))
    }

    /// Queues `job` if its lane has room, or fails at once with [`QueueError::Full`],
    /// whatever [`LanesBuilder::when_full`] says.
    pub fn try_submit(&self, job: Job<T>) -> Result<Ticket, QueueError> {
        let lane = self.open_lane(&job)?;
        match lane.room.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => {
                return Err(QueueError::Full {
                    model: job.model.to_string(),
                    capacity: lane.capacity,
                });
            }
            Err(TryAcquireError::Closed) => return Err(lane.lock().stop_error.clone()),
        }
        self.enqueue(&lane, job)
    }

    fn open_lane(&self, job: &Job<T>) -> Result<Arc<Lane<T>>, QueueError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(QueueError::ShutDown);
        }
        self.lane(&job.model)
    }

    fn enqueue(&self, lane: &Arc<Lane<T>>, job: Job<T>) -> Result<Ticket, QueueError> {
        let now = self.inner.limiter.timer().now();
        let (id, failure) = lane.push(job.cost, job.priority, job.payload, now)?;
        Ok(Ticket {
            id,
            lane: Arc::clone(lane) as Arc<dyn CancelQueued>,
            failure: Failure::Waiting(failure),
            armed: true,
        })
    }

    /// Cancels a queued job: it leaves the queue (nothing was charged) and its
    /// [`Ticket::failed`] resolves to [`QueueError::Cancelled`]. Returns `false` if the job
    /// is not queued (already dispatched, finished or cancelled).
    pub fn cancel(&self, id: JobId) -> bool {
        let lane = self.table().lanes.get(id.lane).cloned();
        lane.is_some_and(|lane| lane.cancel(id.key))
    }

    /// Hands a dispatched job back to the head of its lane, with its original key and
    /// priority: for a request the server refused with 429 (after telling the limiter, whose
    /// pause the dispatcher then waits out). Taken even when the lane is full or draining.
    ///
    /// Fails (and fails the job's ticket the same way) if the lane has stopped.
    pub fn requeue_front(&self, job: QueuedJob<T>) -> Result<(), QueueError> {
        let lane = Arc::clone(&job.outstanding.lane);
        lane.requeue(job)
    }

    /// The state of every lane, sorted by model.
    pub fn status(&self) -> Vec<LaneStatus> {
        let now = self.inner.limiter.timer().now();
        let lanes: Vec<Arc<Lane<T>>> = self.table().lanes.clone();
        let mut status: Vec<LaneStatus> = lanes
            .iter()
            .map(|lane| {
                let state = lane.lock();
                LaneStatus {
                    model: lane.model.to_string(),
                    queued: state.lengths(),
                    oldest_wait: state.oldest_wait(now),
                    total: state.len(),
                    in_flight: state.outstanding,
                    capacity: lane.capacity,
                    accepting: state.phase == Phase::Running,
                }
            })
            .collect();
        status.sort_by(|a, b| a.model.cmp(&b.model));
        status
    }

    /// Stops taking jobs ([`submit`](Self::submit) then fails with
    /// [`QueueError::ShutDown`], also for submitters waiting for room), then drains or
    /// cancels what is queued, waits until every lane's dispatcher has ended, and reports.
    ///
    /// A drain lasts as long as the limits make it: bound it with a timeout if needed and
    /// follow with a [`ShutdownMode::Cancel`] shutdown, which ends a drain in progress.
    pub async fn shutdown(&self, mode: ShutdownMode) -> ShutdownReport {
        self.inner.closed.store(true, Ordering::Release);
        let lanes: Vec<Arc<Lane<T>>> = self.table().lanes.clone();
        let mut baselines = Vec::with_capacity(lanes.len());
        for lane in &lanes {
            let state = lane.lock();
            baselines.push((state.len(), state.tally));
        }
        for lane in &lanes {
            match mode {
                ShutdownMode::Drain => lane.begin_drain(),
                ShutdownMode::Cancel => lane.stop(QueueError::Cancelled),
            }
        }
        for lane in &lanes {
            lane.finished().await;
        }
        let mut report = ShutdownReport {
            lanes: lanes
                .iter()
                .zip(baselines)
                .map(|(lane, (queued, before))| {
                    let after = lane.lock().tally;
                    LaneReport {
                        model: lane.model.to_string(),
                        queued,
                        dispatched: after.dispatched - before.dispatched,
                        cancelled: after.cancelled - before.cancelled,
                        failed: after.failed - before.failed,
                    }
                })
                .collect(),
        };
        report.lanes.sort_by(|a, b| a.model.cmp(&b.model));
        report
    }
}

/// How a [`Ticket`] reaches its lane without naming the payload type.
trait CancelQueued: Send + Sync {
    fn cancel_queued(&self, id: JobId) -> bool;
}

impl<T: Send + Sync + 'static> CancelQueued for Lane<T> {
    fn cancel_queued(&self, id: JobId) -> bool {
        self.cancel(id.key)
    }
}

enum Failure {
    Waiting(oneshot::Receiver<QueueError>),
    Done(Option<QueueError>),
}

/// The submitter's handle on a queued job.
///
/// Dropping the ticket cancels the job if it is still queued (dispatched jobs are not
/// affected), so a caller's future that owns the ticket cancels its job by being dropped.
/// [`failed`](Self::failed) reports why the queue gave up on the job, if it did.
pub struct Ticket {
    id: JobId,
    lane: Arc<dyn CancelQueued>,
    failure: Failure,
    armed: bool,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("id", &self.id)
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}

impl Ticket {
    /// The job's id, for [`Lanes::cancel`].
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Resolves when the queue is done with the job: `Some(error)` if the job was cancelled,
    /// never fitted its limits or was stopped by a shutdown; `None` once the dispatched job was
    /// finished (its [`QueuedJob`] dropped). Cancel-safe, and may be called again: later
    /// calls return the same answer.
    pub async fn failed(&mut self) -> Option<QueueError> {
        if let Failure::Waiting(receiver) = &mut self.failure {
            let outcome = receiver.await.ok();
            self.failure = Failure::Done(outcome);
        }
        match &self.failure {
            Failure::Done(outcome) => outcome.clone(),
            Failure::Waiting(_) => None,
        }
    }

    /// Cancels the job if it is still queued; returns whether it was. The job's failure is
    /// then [`QueueError::Cancelled`].
    pub fn cancel(mut self) -> bool {
        self.armed = false;
        let cancelled = self.lane.cancel_queued(self.id);
        if cancelled {
            self.failure = Failure::Done(Some(QueueError::Cancelled));
        }
        cancelled
    }

    /// Lets the job stay queued after the ticket is dropped (fire and forget).
    pub fn detach(mut self) {
        self.armed = false;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.armed {
            self.lane.cancel_queued(self.id);
        }
    }
}
