//! One model's lane: its scheduler, capacity and dispatcher task.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use groq_ratelimit::{Cost, RateLimiter};
use tokio::sync::{Notify, Semaphore, oneshot, watch};
use tokio::time::Instant;

use crate::job::{LaneEntry, Outstanding};
use crate::{
    Admission, Dispatched, Handoff, Job, JobId, Key, Priority, QueueError, QueuedJob, Scheduler,
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

pub(crate) struct LaneState<T> {
    pub(crate) queue: Box<dyn Scheduler<LaneEntry<T>>>,
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
        queue: Box<dyn Scheduler<LaneEntry<T>>>,
    ) -> Self {
        Self {
            index,
            model,
            capacity,
            state: Mutex::new(LaneState {
                queue,
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
        let head = state.queue.peek().map(|(key, _)| key);
        let entry = LaneEntry {
            cost,
            payload,
            failure,
        };
        let key = state.queue.push(entry, priority, now);
        drop(state);
        if head.is_none_or(|head| key < head) {
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
        if state.phase != Phase::Running || !state.queue.is_empty() {
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
        let Some(key) = state.queue.take_key(job.priority, now) else {
            return Err(job);
        };
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
        let head = state.queue.peek().map(|(key, _)| key);
        let entry = LaneEntry {
            cost,
            payload,
            failure,
        };
        let refused = state.queue.requeue(entry, id.key).err();
        if refused.is_some() {
            self.release_room(&mut state);
            state.tally.failed += 1;
        }
        drop(state);
        // Dropped only now: finishing an outstanding job takes the lock.
        drop(outstanding);
        if let Some(entry) = refused {
            let _ = entry.failure.send(QueueError::RequeueRefused);
            return Err(QueueError::RequeueRefused);
        }
        if head.is_none_or(|head| id.key < head) {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Removes a queued job; `Some(entry)` if it was still queued.
    fn remove(&self, key: Key) -> Option<LaneEntry<T>> {
        let mut state = self.lock();
        let was_head = state.queue.peek().is_some_and(|(head, _)| head == key);
        let entry = state.queue.cancel(key)?;
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
        let mut entries = Vec::with_capacity(state.queue.len());
        while let Some((_, entry)) = state.queue.pop() {
            entries.push(entry);
        }
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
            let step = match state.queue.peek() {
                Some((key, entry)) if state.phase != Phase::Stopped => match &admission {
                    Some(admission) => {
                        match admission.admit(&lane.model, &entry.payload, entry.cost, outstanding)
                        {
                            Some(cost) => Step::Reserve(key, cost),
                            None => Step::Hold,
                        }
                    }
                    None => Step::Reserve(key, entry.cost),
                },
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
            Err(error) if error.is_permanent() => {
                if let Some((_, entry)) = take_head(&lane, key, false) {
                    let _ = entry.failure.send(QueueError::NeverFits {
                        model: lane.model.to_string(),
                        source: error,
                    });
                }
            }
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

/// Pops the head if it is still `key`, counting it as dispatched or failed.
fn take_head<T: Send + Sync + 'static>(
    lane: &Lane<T>,
    key: Key,
    dispatched: bool,
) -> Option<(Key, LaneEntry<T>)> {
    let mut state = lane.lock();
    if state.phase == Phase::Stopped || state.queue.peek().map(|(head, _)| head) != Some(key) {
        return None;
    }
    let popped = state.queue.pop()?;
    lane.release_room(&mut state);
    if dispatched {
        state.tally.dispatched += 1;
        state.outstanding += 1;
    } else {
        state.tally.failed += 1;
    }
    Some(popped)
}
