//! [`Timer`]: where the pipeline reads the time and how it waits for an instant.
//!
//! One timer drives everything that depends on time: the limiter's arithmetic reads
//! [`Timer::now`], and the queue's lanes, the client's backoff and its timeouts wait with
//! [`Timer::sleep_until`]. [`TokioTimer`] (the default) follows tokio's timer, including its
//! paused test clock; [`ManualTimer`] (feature `test-util`) moves only when a test advances
//! it, and wakes every sleeper whose instant has come.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::time::Instant;

/// The future [`Timer::sleep_until`] returns: boxed so that [`Timer`] stays dyn-compatible.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of the current instant and of sleeps until an instant.
///
/// Instants are [`tokio::time::Instant`]. An implementation must be consistent: a sleep
/// returned by `sleep_until(t)` completes once `now() >= t`, and not before. The future
/// owns what it needs (`'static`), so it can be stored and polled after the timer borrow
/// ends.
pub trait Timer: Send + Sync + Debug {
    /// The current instant.
    fn now(&self) -> Instant;

    /// A future that completes once [`now`](Self::now) has reached `deadline`; at once when it
    /// already has.
    fn sleep_until(&self, deadline: Instant) -> Sleep;
}

impl<T: Timer + ?Sized> Timer for Arc<T> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        (**self).sleep_until(deadline)
    }
}

impl<T: Timer + ?Sized> Timer for &T {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        (**self).sleep_until(deadline)
    }
}

/// The default timer: [`tokio::time::Instant::now`] and [`tokio::time::sleep_until`], which
/// honour `#[tokio::test(start_paused = true)]` and `tokio::time::advance`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioTimer;

impl Timer for TokioTimer {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Box::pin(tokio::time::sleep_until(deadline))
    }
}

#[cfg(feature = "test-util")]
pub use manual::ManualTimer;

#[cfg(feature = "test-util")]
mod manual {
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Sleep, Timer};

    /// A timer that moves only when told to (feature `test-util`), independent of tokio's
    /// clock: [`advance`](Self::advance) and [`set`](Self::set) move it forward and wake every
    /// sleep whose deadline has come.
    ///
    /// Clones share one time line: give one clone to the client (or the limiter) and keep
    /// another to move time.
    ///
    /// ```
    /// use groq_ratelimit::{ManualTimer, Timer};
    /// use std::time::Duration;
    ///
    /// let timer = ManualTimer::new();
    /// let start = timer.now();
    /// timer.advance(Duration::from_secs(2));
    /// assert_eq!(timer.now() - start, Duration::from_secs(2));
    /// ```
    #[derive(Debug, Clone)]
    pub struct ManualTimer {
        shared: Arc<Shared>,
    }

    #[derive(Debug)]
    struct Shared {
        origin: Instant,
        state: Mutex<State>,
    }

    #[derive(Debug, Default)]
    struct State {
        elapsed: Duration,
        next_id: u64,
        /// Pending sleeps by (deadline, id), each with the waker of its last poll.
        sleepers: BTreeMap<(Instant, u64), Option<Waker>>,
    }

    impl Shared {
        fn lock(&self) -> MutexGuard<'_, State> {
            // The state stays consistent under a panic: every update is a single assignment.
            self.state.lock().unwrap_or_else(PoisonError::into_inner)
        }

        fn now(&self, state: &State) -> Instant {
            self.origin
                .checked_add(state.elapsed)
                .unwrap_or(self.origin)
        }
    }

    impl ManualTimer {
        /// A timer that reads `tokio::time::Instant::now()` once and then stands still.
        #[allow(clippy::disallowed_methods)] // The starting point only; the timer never reads it again.
        pub fn new() -> Self {
            Self::starting_at(Instant::now())
        }

        /// A timer that stands still at `origin`.
        pub fn starting_at(origin: Instant) -> Self {
            Self {
                shared: Arc::new(Shared {
                    origin,
                    state: Mutex::new(State::default()),
                }),
            }
        }

        /// Moves the timer forward by `by` (saturating after about 584 years) and wakes the
        /// sleeps that are due.
        pub fn advance(&self, by: Duration) {
            let mut state = self.shared.lock();
            state.elapsed = state.elapsed.saturating_add(by);
            self.wake_due(state);
        }

        /// Moves the timer to `to` and wakes the sleeps that are due; an instant earlier than
        /// the current one is ignored, so the timer never runs backwards.
        pub fn set(&self, to: Instant) {
            let mut state = self.shared.lock();
            let target = to.saturating_duration_since(self.shared.origin);
            state.elapsed = state.elapsed.max(target);
            self.wake_due(state);
        }

        /// The earliest deadline among pending sleeps, if any: where a test that wants to
        /// run "until the next timer fires" should [`set`](Self::set) the time.
        pub fn next_deadline(&self) -> Option<Instant> {
            self.shared.lock().sleepers.keys().next().map(|(at, _)| *at)
        }

        /// How many sleeps are pending.
        pub fn pending(&self) -> usize {
            self.shared.lock().sleepers.len()
        }

        fn wake_due(&self, mut state: MutexGuard<'_, State>) {
            let now = self.shared.now(&state);
            let mut wakers = Vec::new();
            for ((at, _), waker) in &mut state.sleepers {
                if *at > now {
                    break;
                }
                wakers.extend(waker.take());
            }
            drop(state);
            // Woken outside the lock: a woken task may poll (and lock) at once.
            wakers.into_iter().for_each(Waker::wake);
        }
    }

    impl Default for ManualTimer {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Timer for ManualTimer {
        fn now(&self) -> Instant {
            let state = self.shared.lock();
            self.shared.now(&state)
        }

        fn sleep_until(&self, deadline: Instant) -> Sleep {
            let mut state = self.shared.lock();
            let id = state.next_id;
            state.next_id += 1;
            state.sleepers.insert((deadline, id), None);
            Box::pin(ManualSleep {
                shared: Arc::clone(&self.shared),
                key: (deadline, id),
            })
        }
    }

    /// A sleep on a [`ManualTimer`]; dropping it forgets it.
    struct ManualSleep {
        shared: Arc<Shared>,
        key: (Instant, u64),
    }

    impl Future for ManualSleep {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut state = self.shared.lock();
            if self.shared.now(&state) >= self.key.0 {
                state.sleepers.remove(&self.key);
                return Poll::Ready(());
            }
            if let Some(slot) = state.sleepers.get_mut(&self.key) {
                *slot = Some(cx.waker().clone());
            }
            Poll::Pending
        }
    }

    impl Drop for ManualSleep {
        fn drop(&mut self) {
            self.shared.lock().sleepers.remove(&self.key);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn moves_only_forward() {
            let timer = ManualTimer::new();
            let start = timer.now();
            assert_eq!(timer.now(), start);
            timer.advance(Duration::from_millis(5));
            timer.set(start + Duration::from_millis(3));
            assert_eq!(timer.now(), start + Duration::from_millis(5));
            timer.set(start + Duration::from_secs(1));
            assert_eq!(timer.now(), start + Duration::from_secs(1));
        }

        #[tokio::test]
        async fn sleeps_end_exactly_when_time_reaches_them() {
            let timer = ManualTimer::new();
            let start = timer.now();
            let late = tokio::spawn(timer.sleep_until(start + Duration::from_secs(10)));
            let early = tokio::spawn(timer.sleep_until(start + Duration::from_secs(5)));
            tokio::task::yield_now().await;
            assert_eq!(timer.pending(), 2);
            assert_eq!(timer.next_deadline(), Some(start + Duration::from_secs(5)));

            timer.advance(Duration::from_secs(4));
            tokio::task::yield_now().await;
            assert!(!early.is_finished() && !late.is_finished());

            timer.advance(Duration::from_secs(1));
            early.await.expect("the early sleep ends at 5 s");
            assert!(!late.is_finished());
            assert_eq!(timer.pending(), 1);

            timer.set(start + Duration::from_secs(60));
            late.await
                .expect("the late sleep ends once time passes 10 s");
            assert_eq!(timer.pending(), 0);
        }

        #[tokio::test]
        async fn a_due_sleep_is_ready_at_once_and_a_dropped_one_is_forgotten() {
            let timer = ManualTimer::new();
            timer.sleep_until(timer.now()).await;
            let pending = timer.sleep_until(timer.now() + Duration::from_secs(1));
            assert_eq!(timer.pending(), 1);
            drop(pending);
            assert_eq!(timer.pending(), 0);
        }
    }
}
