//! One model's lane: its scheduler, capacity and dispatcher task.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use groq_ratelimit::{Cost, RateLimiter};
use tokio::sync::{Notify, Semaphore, oneshot, watch};
use tokio::time::Instant;

use crate::job::Outstanding;
use crate::{
    Admission, Dispatched, Handoff, Job, JobId, Key, LaneEntry, PerClass, Priority, QueueError,
    QueuedJob, Scheduler,
};

/// Where a lane is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting and dispatching.
    Running,
    /// Shutting down gracefully: no new jobs; dispatch until the queue is empty and every
    /// dispatched job is finished.
    Draining,
    /// Stopped: nothing is accepted or dispatched; `LaneState::stop_error` says why.
    Stopped,
}

/// Running totals of what left the queue, for shutdown reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) dispatched: usize,
    pub(crate) cancelled: usize,
    pub(crate) failed: usize,
}

/// What the lane keeps of a queued job beside its [`LaneEntry`] in the scheduler.
pub(crate) struct Stored<T> {
    enqueued: Instant,
    payload: T,
    failure: oneshot::Sender<QueueError>,
}

/// Bytes of one [`Stored`] job with its map key.
pub(crate) const fn stored_bytes<T>() -> usize {
    size_of::<Stored<T>>() + size_of::<u64>()
}

/// How many orphan entries (entries whose job the lane does not hold: a scheduler that broke
/// its contract) the lane discards in a row before it treats the scheduler as empty.
const MAX_ORPHANS: usize = 64;

pub(crate) struct LaneState<T> {
    /// Orders the queued jobs by their [`LaneEntry`].
    queue: Box<dyn Scheduler>,
    /// The queued jobs by class and sequence number: sequence numbers grow with arrival, so
    /// each map's first entry is its class's oldest job.
    stored: [BTreeMap<u64, Stored<T>>; 3],
    /// The next sequence number to mint.
    next_seq: u64,
    pub(crate) phase: Phase,
    pub(crate) stop_error: QueueError,
    /// Jobs requeued beyond the capacity: the next departures repay them instead of
    /// releasing room.
    debt: usize,
    /// Dispatched jobs whose [`QueuedJob`] is still alive.
    pub(crate) outstanding: usize,
    /// The dispatcher holds the head on the [`Admission`]'s word: a finishing job wakes it.
    held: bool,
    pub(crate) tally: Tally,
}

/// One model's lane, shared by its dispatcher task, the [`Lanes`](crate::Lanes) handle, the
/// tickets of its jobs and its dispatched jobs.
pub(crate) struct Lane<T> {
    pub(crate) index: usize,
    pub(crate) model: Arc<str>,
    pub(crate) capacity: usize,
    state: Mutex<LaneState<T>>,
    /// Wakes the dispatcher: a job with an earlier key arrived, the head was cancelled, the
    /// last outstanding job finished during a drain, or the lane stopped.
    wake: Notify,
    /// One permit per free place in the queue.
    pub(crate) room: Semaphore,
    /// Becomes `true` when the dispatcher task has ended.
    finished: watch::Sender<bool>,
}

impl<T> LaneState<T> {
    /// A key for a job of `priority` arriving at `now`, ordered as the scheduler says.
    fn mint(&mut self, priority: Priority, now: Instant) -> Key {
        let seq = self.next_seq;
        self.next_seq += 1;
        Key::new(self.queue.ready_at(priority, now), now, seq, priority)
    }

    /// Number of queued jobs.
    pub(crate) fn len(&self) -> usize {
        self.stored.iter().map(BTreeMap::len).sum()
    }

    /// Number of queued jobs of each class.
    pub(crate) fn lengths(&self) -> PerClass<usize> {
        PerClass::from_fn(|p| self.stored[p.index()].len())
    }

    /// How long the oldest queued job of each class has waited at `now`.
    pub(crate) fn oldest_wait(&self, now: Instant) -> PerClass<Option<Duration>> {
        PerClass::from_fn(|p| {
            self.stored[p.index()]
                .first_key_value()
                .map(|(_, stored)| now.saturating_duration_since(stored.enqueued))
        })
    }

    fn holds(&self, key: Key) -> bool {
        self.stored[key.priority().index()].contains_key(&key.seq())
    }

    fn take(&mut self, key: Key) -> Option<Stored<T>> {
        self.stored[key.priority().index()].remove(&key.seq())
    }

    /// Queues a job.
    fn insert(&mut self, entry: LaneEntry, stored: Stored<T>) {
        let key = entry.key();
        self.stored[key.priority().index()].insert(key.seq(), stored);
        self.queue.push(entry);
    }

    /// The scheduler's head, after discarding entries the lane does not hold.
    fn head(&mut self) -> Option<LaneEntry> {
        for _ in 0..MAX_ORPHANS {
            let entry = self.queue.peek()?;
            if self.holds(entry.key()) {
                return Some(entry);
            }
            match self.queue.pop() {
                Some(popped) if popped != entry && self.holds(popped.key()) => {
                    // `pop` disagrees with `peek`: put the job back and wait.
                    self.queue.push(popped);
                    return None;
                }
                Some(_) => {}
                None => return None,
            }
        }
        None
    }

    /// The key of the head job.
    fn head_key(&mut self) -> Option<Key> {
        self.head().map(|entry| entry.key())
    }

    /// Removes and returns the head job.
    fn pop(&mut self) -> Option<(LaneEntry, Stored<T>)> {
        for _ in 0..MAX_ORPHANS {
            let entry = self.queue.pop()?;
            if let Some(stored) = self.take(entry.key()) {
                return Some((entry, stored));
            }
        }
        None
    }

    /// Removes the queued job with `key`.
    fn cancel(&mut self, key: Key) -> Option<Stored<T>> {
        if !self.holds(key) {
            return None;
        }
        self.queue.cancel(key)?;
        self.take(key)
    }

    /// Removes every queued job, including any the scheduler lost.
    fn drain(&mut self) -> Vec<Stored<T>> {
        let mut jobs = Vec::with_capacity(self.len());
        while let Some((_, stored)) = self.pop() {
            jobs.push(stored);
        }
        for class in &mut self.stored {
            jobs.extend(std::mem::take(class).into_values());
        }
        jobs
    }
}

impl<T> fmt::Debug for Lane<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lane")
            .field("model", &self.model)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> Lane<T> {
    pub(crate) fn new(
        index: usize,
        model: Arc<str>,
        capacity: usize,
        queue: Box<dyn Scheduler>,
    ) -> Self {
        Self {
            index,
            model,
            capacity,
            state: Mutex::new(LaneState {
                queue,
                stored: [BTreeMap::new(), BTreeMap::new(), BTreeMap::new()],
                next_seq: 0,
                phase: Phase::Running,
                stop_error: QueueError::ShutDown,
                debt: 0,
                outstanding: 0,
                held: false,
                tally: Tally::default(),
            }),
            wake: Notify::new(),
            room: Semaphore::new(capacity),
            finished: watch::Sender::new(false),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, LaneState<T>> {
        // Every method leaves the state consistent before it can panic, so a poisoned lock
        // is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A job left the queue: give its place back (or repay a requeue beyond capacity).
    fn release_room(&self, state: &mut LaneState<T>) {
        if state.debt > 0 {
            state.debt -= 1;
        } else {
            self.room.add_permits(1);
        }
    }

    /// Queues a job whose place was already taken from `room`.
    pub(crate) fn push(
        &self,
        cost: Cost,
        priority: Priority,
        payload: T,
        now: Instant,
    ) -> Result<(JobId, oneshot::Receiver<QueueError>), QueueError> {
        let (failure, receiver) = oneshot::channel();
        let mut state = self.lock();
        if state.phase != Phase::Running {
            return Err(state.stop_error.clone());
        }
        let head = state.head_key();
        let key = state.mint(priority, now);
        let stored = Stored {
            enqueued: now,
            payload,
            failure,
        };
        state.insert(LaneEntry::new(key, cost), stored);
        let new_head = state.head_key();
        drop(state);
        if new_head != head {
            self.wake.notify_one();
        }
        Ok((
            JobId {
                lane: self.index,
                key,
            },
            receiver,
        ))
    }

    /// The dispatcher's work for a job that would be the head of an empty lane, done on the
    /// submitter's task: admission, reservation, and the dispatch itself. The lock is held
    /// throughout, so nothing can be queued ahead meanwhile. Gives the job back if the lane
    /// is not empty and running, or if the job cannot go at once.
    #[allow(clippy::type_complexity)]
    pub(crate) fn dispatch_now(
        self: &Arc<Self>,
        job: Job<T>,
        now: Instant,
        limiter: &dyn RateLimiter,
        admission: Option<&dyn Admission<T>>,
    ) -> Result<(JobId, oneshot::Receiver<QueueError>, Dispatched<T>), Job<T>> {
        let mut state = self.lock();
        if state.phase != Phase::Running || state.len() > 0 {
            return Err(job);
        }
        let cost = match admission {
            Some(admission) => {
                match admission.admit(&self.model, &job.payload, job.cost, state.outstanding) {
                    Some(cost) => cost,
                    None => return Err(job),
                }
            }
            None => job.cost,
        };
        // Keys are minted before asking the limiter, so that a refusal wastes at most a
        // sequence number, never a reservation.
        let key = state.mint(job.priority, now);
        let Ok(reservation) = limiter.reserve(&self.model, &cost) else {
            return Err(job);
        };
        state.tally.dispatched += 1;
        state.outstanding += 1;
        drop(state);
        let id = JobId {
            lane: self.index,
            key,
        };
        let (failure, receiver) = oneshot::channel();
        let queued = QueuedJob {
            id,
            cost,
            payload: job.payload,
            failure,
            outstanding: Outstanding {
                lane: Arc::clone(self),
            },
        };
        Ok((id, receiver, Dispatched::new(queued, reservation)))
    }

    /// Puts a dispatched job back at its original key.
    pub(crate) fn requeue(&self, job: QueuedJob<T>) -> Result<(), QueueError> {
        let QueuedJob {
            id,
            cost,
            payload,
            failure,
            outstanding,
        } = job;
        let mut state = self.lock();
        if state.phase == Phase::Stopped {
            let error = state.stop_error.clone();
            drop(state);
            let _ = failure.send(error.clone());
            drop(outstanding);
            return Err(error);
        }
        match self.room.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(_) => state.debt += 1,
        }
        let head = state.head_key();
        let refused = state.holds(id.key);
        if refused {
            self.release_room(&mut state);
            state.tally.failed += 1;
        } else {
            let stored = Stored {
                enqueued: id.key.enqueued(),
                payload,
                failure,
            };
            state.insert(LaneEntry::new(id.key, cost), stored);
            let new_head = state.head_key();
            drop(state);
            // Dropped only now: finishing an outstanding job takes the lock.
            drop(outstanding);
            if new_head != head {
                self.wake.notify_one();
            }
            return Ok(());
        }
        drop(state);
        drop(outstanding);
        let _ = failure.send(QueueError::RequeueRefused);
        Err(QueueError::RequeueRefused)
    }

    /// Removes a queued job; `Some(stored)` if it was still queued.
    fn remove(&self, key: Key) -> Option<Stored<T>> {
        let mut state = self.lock();
        let was_head = state.head_key() == Some(key);
        let entry = state.cancel(key)?;
        self.release_room(&mut state);
        state.tally.cancelled += 1;
        drop(state);
        if was_head {
            // The dispatcher may be waiting for capacity for this job; the next may fit now.
            self.wake.notify_one();
        }
        Some(entry)
    }

    /// Cancels a queued job and tells its submitter. Returns whether it was still queued.
    pub(crate) fn cancel(&self, key: Key) -> bool {
        match self.remove(key) {
            Some(entry) => {
                let _ = entry.failure.send(QueueError::Cancelled);
                true
            }
            None => false,
        }
    }

    /// A dispatched job was finished (its [`QueuedJob`] dropped or handed back).
    pub(crate) fn finish_outstanding(&self) {
        let mut state = self.lock();
        state.outstanding = state.outstanding.saturating_sub(1);
        let wake = state.held || (state.outstanding == 0 && state.phase == Phase::Draining);
        drop(state);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Stops taking jobs and begins a drain.
    pub(crate) fn begin_drain(&self) {
        let mut state = self.lock();
        if state.phase == Phase::Running {
            state.phase = Phase::Draining;
        }
        drop(state);
        self.room.close();
        self.wake.notify_one();
    }

    /// Stops the lane at once: every queued job fails with `error` (counted as cancelled
    /// when `error` is a cancellation, as failed otherwise).
    pub(crate) fn stop(&self, error: QueueError) {
        let mut state = self.lock();
        let entries = state.drain();
        if error.is_cancelled() {
            state.tally.cancelled += entries.len();
        } else {
            state.tally.failed += entries.len();
        }
        if state.phase != Phase::Stopped {
            state.phase = Phase::Stopped;
            state.stop_error = if error.is_cancelled() {
                QueueError::ShutDown
            } else {
                error.clone()
            };
        }
        drop(state);
        self.room.close();
        self.wake.notify_one();
        for entry in entries {
            let _ = entry.failure.send(error.clone());
        }
    }

    /// Resolves once the dispatcher task has ended.
    pub(crate) async fn finished(&self) {
        let mut receiver = self.finished.subscribe();
        // An error means the sender is gone, which cannot happen while `self` lives.
        let _ = receiver.wait_for(|done| *done).await;
    }
}

/// Marks the lane's dispatcher as ended when dropped (normal exit, panic or abort).
struct FinishOnDrop<T: Send + Sync + 'static>(Arc<Lane<T>>);

impl<T: Send + Sync + 'static> Drop for FinishOnDrop<T> {
    fn drop(&mut self) {
        self.0.finished.send_replace(true);
    }
}

/// What the dispatcher decided to do while holding the lock.
enum Step {
    /// Nothing to do until woken.
    Idle,
    /// Ask the limiter about the head, at this cost.
    Reserve(Key, Cost),
    /// The [`Admission`] holds the head: wait for a finishing job or a limiter change.
    Hold,
    /// Exit.
    Exit,
}

/// The dispatcher: takes the head job, reserves its cost and hands it over, or sleeps
/// exactly until the limiter's instant, an earlier arrival or a limiter change.
pub(crate) async fn dispatch<T: Send + Sync + 'static>(
    lane: Arc<Lane<T>>,
    limiter: Arc<dyn RateLimiter>,
    handoff: Arc<dyn Handoff<T>>,
    admission: Option<Arc<dyn Admission<T>>>,
) {
    let _finish = FinishOnDrop(Arc::clone(&lane));
    loop {
        let step = {
            let mut state = lane.lock();
            let outstanding = state.outstanding;
            let head = match state.phase {
                Phase::Stopped => None,
                _ => state.head(),
            };
            let step = match head {
                Some(entry) => {
                    let (key, cost) = (entry.key(), entry.cost());
                    let payload = state.stored[key.priority().index()]
                        .get(&key.seq())
                        .map(|stored| &stored.payload);
                    match (&admission, payload) {
                        (Some(admission), Some(payload)) => {
                            match admission.admit(&lane.model, payload, cost, outstanding) {
                                Some(cost) => Step::Reserve(key, cost),
                                None => Step::Hold,
                            }
                        }
                        _ => Step::Reserve(key, cost),
                    }
                }
                _ if state.phase == Phase::Stopped => Step::Exit,
                None if state.phase == Phase::Draining && state.outstanding == 0 => Step::Exit,
                _ => Step::Idle,
            };
            state.held = matches!(step, Step::Hold);
            step
        };
        let (key, cost) = match step {
            Step::Exit => return,
            Step::Idle => {
                lane.wake.notified().await;
                continue;
            }
            Step::Hold => {
                // A finishing job wakes the lane (`held` is set under the lock, so none is
                // missed); a limiter change may let the admission decide otherwise too.
                tokio::select! {
                    () = lane.wake.notified() => {}
                    () = limiter.changed(&lane.model) => {}
                }
                continue;
            }
            Step::Reserve(key, cost) => (key, cost),
        };
        // Subscribe before asking, so that a settlement in between is not missed.
        let changed = limiter.changed(&lane.model);
        match limiter.reserve(&lane.model, &cost) {
            Ok(reservation) => {
                let Some((key, entry)) = take_head(&lane, key, true) else {
                    // The head was cancelled or overtaken meanwhile: refund and look again.
                    drop(reservation);
                    wait_if_stuck(&lane, key).await;
                    continue;
                };
                let job = QueuedJob {
                    id: JobId {
                        lane: lane.index,
                        key,
                    },
                    cost,
                    payload: entry.payload,
                    failure: entry.failure,
                    outstanding: Outstanding {
                        lane: Arc::clone(&lane),
                    },
                };
                if let Err(returned) = handoff.hand_off(Dispatched::new(job, reservation)) {
                    let (job, reservation) = returned.into_parts();
                    drop(reservation);
                    let _ = job.failure.send(QueueError::HandoffClosed);
                    lane.stop(QueueError::HandoffClosed);
                    return;
                }
            }
            Err(error) if error.is_permanent() => match take_head(&lane, key, false) {
                Some((_, entry)) => {
                    let _ = entry.failure.send(QueueError::NeverFits {
                        model: lane.model.to_string(),
                        source: error,
                    });
                }
                None => wait_if_stuck(&lane, key).await,
            },
            Err(error) => match error.retry_at() {
                Some(until) => tokio::select! {
                    () = limiter.timer().sleep_until(until) => {}
                    () = lane.wake.notified() => {}
                    () = changed => {}
                },
                None => tokio::select! {
                    () = lane.wake.notified() => {}
                    () = changed => {}
                },
            },
        }
    }
}

/// After [`take_head`] gave nothing for `key`: if `key` is still the head, the scheduler's
/// `pop` disagrees with its `peek` (a broken [`Scheduler`]), and asking again at once would
/// spin; wait for the queue to change instead.
async fn wait_if_stuck<T: Send + Sync + 'static>(lane: &Lane<T>, key: Key) {
    let stuck = {
        let mut state = lane.lock();
        state.phase != Phase::Stopped && state.head_key() == Some(key)
    };
    if stuck {
        lane.wake.notified().await;
    }
}

/// Pops the head if it is still `key`, counting it as dispatched or failed.
fn take_head<T: Send + Sync + 'static>(
    lane: &Lane<T>,
    key: Key,
    dispatched: bool,
) -> Option<(Key, Stored<T>)> {
    let mut state = lane.lock();
    if state.phase == Phase::Stopped || state.head_key() != Some(key) {
        return None;
    }
    let (entry, stored) = state.pop()?;
    if entry.key() != key {
        // A scheduler whose `pop` disagrees with its `peek`: put the job back.
        state.insert(entry, stored);
        return None;
    }
    let popped = (key, stored);
    lane.release_room(&mut state);
    if dispatched {
        state.tally.dispatched += 1;
        state.outstanding += 1;
    } else {
        state.tally.failed += 1;
    }
    Some(popped)
}
