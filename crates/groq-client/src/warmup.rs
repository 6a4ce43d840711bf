//! The calibration warm-up: what a model's lane may reserve before and after the model's
//! first reply.
//!
//! Until the server has answered a model once, the token counter's estimates for it rest on
//! a prior guess of how the server counts (see `groq_tokens::CalibrationConfig`). An
//! under-estimate is harmless for one request (the reply's usage settles the difference)
//! but not for a burst: a model's whole per-minute token budget reserved at once at an
//! under-estimated cost overflows the server's bucket and meets a 429, and the 429 costs the
//! whole wait the server names. So while a model with a token limit has not answered yet
//! and its counter is not calibrated, its lane dispatches one request and holds the rest
//! until that reply has calibrated the counter and synchronized the limiter with the
//! server's headers. From then on every request's cost is re-estimated at the current
//! ratio when it reaches the head of its lane, so requests queued during the warm-up are
//! charged what the server will count.
//!
//! The warm-up costs one round trip, once per model and client, and only for models with a
//! token limit; models limited by requests alone, and counters that do not calibrate, never
//! wait for it.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use groq_ratelimit::Cost;
use groq_tokens::TokenCounter;

use crate::pipeline::Payload;

/// The lanes' [`groq_queue::Admission`]: the warm-up gate and the re-estimation of costs.
pub(crate) struct WarmUp {
    counter: Arc<dyn TokenCounter>,
    /// Models that have answered at least once (a reply read, whatever its status).
    answered: RwLock<HashSet<Arc<str>>>,
    /// Set once any model has answered, so that the common case skips the lock.
    any_answered: AtomicBool,
}

impl fmt::Debug for WarmUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WarmUp")
            .field("answered", &self.read().len())
            .finish_non_exhaustive()
    }
}

impl WarmUp {
    pub(crate) fn new(counter: Arc<dyn TokenCounter>) -> Self {
        Self {
            counter,
            answered: RwLock::new(HashSet::new()),
            any_answered: AtomicBool::new(false),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashSet<Arc<str>>> {
        self.answered.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `model` has answered at least once.
    pub(crate) fn has_answered(&self, model: &str) -> bool {
        self.any_answered.load(Ordering::Acquire) && self.read().contains(model)
    }

    /// `model` answered: its usage (if any) has been observed and its headers given to the
    /// limiter. Call before the request's job is released, which wakes a held lane.
    pub(crate) fn answered(&self, model: &Arc<str>) {
        if self.has_answered(model) {
            return;
        }
        self.answered
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(Arc::clone(model));
        self.any_answered.store(true, Ordering::Release);
    }

    /// The admission decision for the head of `model`'s lane: `None` holds it while the
    /// warm-up request is on the wire; otherwise the cost to reserve, re-estimated with
    /// what the counter has learned since the request was prepared.
    pub(crate) fn admit(
        &self,
        model: &str,
        payload: &Payload,
        cost: Cost,
        in_flight: usize,
    ) -> Option<Cost> {
        if !payload.token_limited {
            return Some(cost);
        }
        if in_flight > 0 && !self.counter.is_calibrated(model) && !self.has_answered(model) {
            return None;
        }
        let estimate = self.counter.recalibrate(model, &payload.estimate);
        Some(Cost::request(estimate.total))
    }
}
