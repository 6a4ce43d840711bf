//! The warm-up: what a model's lane may reserve before and after the model's first reply.
//!
//! When a client starts, it knows nothing of the server's state: another process, an earlier
//! run or another machine may have drained the model's quota. A lane that bursts its whole
//! local bucket at once into a drained server meets one 429 per request of the burst. So
//! while a model with any rate limit has not answered yet, its lane dispatches **one**
//! request and holds the rest until that reply (or 429) has synchronized the limiter with
//! the server: its `x-ratelimit-*` headers lower the buckets they describe, and a 429's text
//! names the limit, the units used and the wait (see `groq_ratelimit::QuotaState::learn`).
//!
//! The same first reply calibrates the token counter. Until the server has answered a model
//! once, the counter's estimates for it rest on a prior guess of how the server counts (see
//! `groq_tokens::CalibrationConfig`); a whole per-minute token budget reserved at once at an
//! under-estimated cost would overflow the server's bucket. From the first reply on, every
//! request's cost is re-estimated at the current ratio when it reaches the head of its lane,
//! so requests queued during the warm-up are charged what the server will count.
//!
//! The warm-up costs one round trip, once per model and client, and only for models with a
//! rate limit; unlimited models never wait for it, and a failed first request (no answer)
//! hands the warm-up to the next one.

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
    /// warm-up request (the model's first) is on the wire; otherwise the cost to reserve, re-estimated with
    /// what the counter has learned since the request was prepared.
    pub(crate) fn admit(
        &self,
        model: &str,
        payload: &Payload,
        cost: Cost,
        in_flight: usize,
    ) -> Option<Cost> {
        if !payload.limited {
            return Some(cost);
        }
        if in_flight > 0 && !self.has_answered(model) {
            return None;
        }
        let estimate = self.counter.recalibrate(model, &payload.estimate);
        Some(Cost::chat(estimate.prompt, estimate.completion_allowance))
    }
}

#[cfg(test)]
mod tests {
    use groq_tokens::{CalibratedCounter, Estimate, TiktokenCounter};

    use super::*;

    const MODEL: &str = "llama-3.1-8b-instant";

    fn payload(limited: bool) -> Payload {
        Payload {
            reply: None,
            estimate: Estimate::new(125, 100).with_raw_prompt(100),
            limited,
        }
    }

    fn warm_up() -> (Arc<CalibratedCounter<TiktokenCounter>>, WarmUp) {
        let counter = Arc::new(CalibratedCounter::new(TiktokenCounter::new()));
        let warmup = WarmUp::new(Arc::clone(&counter) as Arc<dyn TokenCounter>);
        (counter, warmup)
    }

    #[test]
    fn one_request_goes_while_a_limited_model_has_not_answered() {
        let (_, warmup) = warm_up();
        let cost = Cost::chat(125, 100);
        assert_eq!(warmup.admit(MODEL, &payload(true), cost, 0), Some(cost));
        assert_eq!(warmup.admit(MODEL, &payload(true), cost, 1), None);
        assert_eq!(warmup.admit(MODEL, &payload(true), cost, 7), None);
    }

    #[test]
    fn unlimited_models_are_never_held() {
        let (_, warmup) = warm_up();
        let cost = Cost::request(225);
        assert_eq!(warmup.admit(MODEL, &payload(false), cost, 30), Some(cost));
    }

    #[test]
    fn a_calibrated_counter_does_not_end_the_warm_up_before_the_server_answers() {
        let (counter, warmup) = warm_up();
        // Calibrated by another client sharing the counter: the server state is still unknown.
        counter.observe(MODEL, 100, 200);
        assert!(counter.is_calibrated(MODEL));
        assert_eq!(
            warmup.admit(MODEL, &payload(true), Cost::request(225), 1),
            None
        );
    }

    #[test]
    fn calibration_releases_the_lane_and_recosts_at_the_new_ratio() {
        let (counter, warmup) = warm_up();
        // The server answered, and counted twice the raw estimate.
        counter.observe(MODEL, 100, 200);
        warmup.answered(&Arc::from(MODEL));
        let admitted = warmup.admit(MODEL, &payload(true), Cost::request(225), 5);
        let ratio = counter.ratio(MODEL);
        assert!(
            ratio > 1.8,
            "one observation moves the ratio most of the way: {ratio}"
        );
        let prompt = counter.calibration().apply(MODEL, 100);
        assert!(prompt > 180, "{prompt}");
        assert_eq!(admitted, Some(Cost::chat(prompt, 100)));
    }

    #[test]
    fn a_first_reply_without_usage_ends_the_warm_up_too() {
        let (counter, warmup) = warm_up();
        warmup.answered(&Arc::from(MODEL));
        assert!(!counter.is_calibrated(MODEL));
        assert!(warmup.has_answered(MODEL));
        assert!(!warmup.has_answered("another-model"));
        // Released, at the prior's estimate.
        assert_eq!(
            warmup.admit(MODEL, &payload(true), Cost::chat(125, 100), 3),
            Some(Cost::chat(125, 100))
        );
        // Another model still warms up.
        assert_eq!(
            warmup.admit("another-model", &payload(true), Cost::request(225), 1),
            None
        );
    }
}
