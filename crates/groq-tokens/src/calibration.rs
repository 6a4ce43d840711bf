//! Per-model calibration of estimates against the prompt tokens the server reports.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use groq_types::ChatRequest;

use crate::{Error, Estimate, TokenCounter};

/// The settings of a [`Calibration`]. Start from [`Default`] and change what you need; the
/// values are checked by [`Calibration::with_config`].
///
/// ```
/// use groq_tokens::{Calibration, CalibrationConfig};
///
/// let config = CalibrationConfig::default().with_prior(1.5);
/// let calibration = Calibration::with_config(config)?;
/// assert_eq!(calibration.ratio("llama-3.1-8b-instant"), 1.5);
/// # Ok::<(), groq_tokens::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct CalibrationConfig {
    /// The ratio assumed for a model before its first observation. Default
    /// [`DEFAULT_PRIOR`](Self::DEFAULT_PRIOR).
    pub prior: f64,
    /// How many estimated tokens the prior weighs, as if it were an observation of that size.
    /// `0` lets the first observation replace the prior outright. Default
    /// [`DEFAULT_PRIOR_WEIGHT`](Self::DEFAULT_PRIOR_WEIGHT).
    pub prior_weight: u64,
    /// The share of the weight of everything seen so far that each new observation takes
    /// away, in `(0, 1]`: about `1 / smoothing` observations make up the average. Default
    /// [`DEFAULT_SMOOTHING`](Self::DEFAULT_SMOOTHING).
    pub smoothing: f64,
    /// The lowest ratio an observation or the average may take. Default
    /// [`DEFAULT_MIN_RATIO`](Self::DEFAULT_MIN_RATIO).
    pub min_ratio: f64,
    /// The highest ratio an observation or the average may take. Default
    /// [`DEFAULT_MAX_RATIO`](Self::DEFAULT_MAX_RATIO).
    pub max_ratio: f64,
}

impl CalibrationConfig {
    /// The default prior ratio, 1.25.
    ///
    /// The server's tokenizer and chat template are not known here. Groq's count of a Llama
    /// prompt includes its template's headers and, from Llama 3.1 on, a system preamble with
    /// dates (about 25 tokens even without a system message) and a tool-use preamble when
    /// tools are given; other families differ more. Small and medium prompts therefore come out
    /// 20 % or more above the `cl100k_base` count with the cookbook framing. Starting at 1.25
    /// means the first burst to a model, sent before any reply has reported usage, reserves
    /// enough of the per-minute token budget not to overshoot it; the cost of erring the
    /// other way is only a little idle capacity until the first reply corrects the ratio.
    pub const DEFAULT_PRIOR: f64 = 1.25;
    /// The default weight of the prior, 32 estimated tokens (a short prompt's worth): the
    /// first real observation of any size decides most of the ratio, a tiny first prompt
    /// (whose count is mostly framing) only half of it.
    ///
    /// The prior only has to carry estimates until the first reply. A client that holds a
    /// model's first burst back until then (as `groq-client` does while
    /// [`TokenCounter::is_calibrated`] is `false`) relies on the ratio being close to the
    /// server's right after that reply; a heavier prior would leave it between the prior and
    /// the truth for several replies, and a burst released then could overflow the server's
    /// token bucket.
    pub const DEFAULT_PRIOR_WEIGHT: u64 = 32;
    /// The default smoothing, 0.1: the average spans about the last ten observations.
    pub const DEFAULT_SMOOTHING: f64 = 0.1;
    /// The default lowest ratio, 0.5.
    pub const DEFAULT_MIN_RATIO: f64 = 0.5;
    /// The default highest ratio, 3.0.
    pub const DEFAULT_MAX_RATIO: f64 = 3.0;

    /// Sets [`prior`](Self::prior).
    #[must_use]
    pub const fn with_prior(mut self, prior: f64) -> Self {
        self.prior = prior;
        self
    }

    /// Sets [`prior_weight`](Self::prior_weight).
    #[must_use]
    pub const fn with_prior_weight(mut self, tokens: u64) -> Self {
        self.prior_weight = tokens;
        self
    }

    /// Sets [`smoothing`](Self::smoothing).
    #[must_use]
    pub const fn with_smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// Sets [`min_ratio`](Self::min_ratio) and [`max_ratio`](Self::max_ratio).
    #[must_use]
    pub const fn with_bounds(mut self, min_ratio: f64, max_ratio: f64) -> Self {
        self.min_ratio = min_ratio;
        self.max_ratio = max_ratio;
        self
    }

    /// Checks every setting; the error names the first bad one and what would be valid.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |setting, value, expected: String| {
            Err(Error::InvalidCalibration {
                setting,
                value,
                expected,
            })
        };
        if !(self.min_ratio.is_finite() && self.min_ratio > 0.0) {
            return invalid(
                "min_ratio",
                self.min_ratio,
                "a finite ratio above 0".to_owned(),
            );
        }
        if !(self.max_ratio.is_finite() && self.max_ratio >= self.min_ratio) {
            return invalid(
                "max_ratio",
                self.max_ratio,
                format!("a finite ratio of at least min_ratio ({})", self.min_ratio),
            );
        }
        if !(self.min_ratio..=self.max_ratio).contains(&self.prior) {
            return invalid(
                "prior",
                self.prior,
                format!(
                    "a ratio between min_ratio ({}) and max_ratio ({})",
                    self.min_ratio, self.max_ratio
                ),
            );
        }
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return invalid(
                "smoothing",
                self.smoothing,
                "a share above 0 and at most 1, such as 0.1".to_owned(),
            );
        }
        Ok(())
    }
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        Self {
            prior: Self::DEFAULT_PRIOR,
            prior_weight: Self::DEFAULT_PRIOR_WEIGHT,
            smoothing: Self::DEFAULT_SMOOTHING,
            min_ratio: Self::DEFAULT_MIN_RATIO,
            max_ratio: Self::DEFAULT_MAX_RATIO,
        }
    }
}

/// What a [`Calibration`] knows about one model: decayed sums of estimated and (bounded)
/// actual prompt tokens, the prior included as a pseudo-observation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ModelState {
    estimated: f64,
    actual: f64,
    observations: u64,
}

/// Per-model ratios of the prompt tokens the server reports (`usage.prompt_tokens`) to the
/// raw estimates of a [`TokenCounter`], applied to later estimates.
///
/// Pure data: no clock, no locks (see [`CalibratedCounter`] for the shared, thread-safe form).
///
/// The ratio of a model is a token-weighted exponential moving average: each observation
/// first scales the weight of everything seen before by `1 - smoothing`, then adds its own
/// estimate and its actual count, the latter bounded to `[min_ratio, max_ratio]` times the
/// estimate; the ratio is the sum of actual tokens over the sum of estimated tokens. Large
/// prompts, whose errors matter most to a token budget, weigh the most. Before the first
/// observation the sums hold the prior as a pseudo-observation of `prior_weight` tokens, which
/// fades away like any old observation. The ratio therefore always lies between the bounds,
/// starts at the prior and converges to the server's true ratio as usage arrives.
///
/// ```
/// use groq_tokens::Calibration;
///
/// let mut calibration = Calibration::new();
/// assert_eq!(calibration.ratio("llama-3.1-8b-instant"), 1.25);
/// assert_eq!(calibration.apply("llama-3.1-8b-instant", 1_000), 1_250);
/// for _ in 0..50 {
///     // The server counts 10 % more than the raw estimate.
///     calibration.observe("llama-3.1-8b-instant", 1_000, 1_100);
/// }
/// assert!((calibration.ratio("llama-3.1-8b-instant") - 1.1).abs() < 0.01);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    config: CalibrationConfig,
    models: HashMap<String, ModelState>,
}

impl Calibration {
    /// A calibration with the default settings and no observations.
    pub fn new() -> Self {
        Self {
            config: CalibrationConfig::default(),
            models: HashMap::new(),
        }
    }

    /// A calibration with `config`, after checking it.
    pub fn with_config(config: CalibrationConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            config,
            models: HashMap::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &CalibrationConfig {
        &self.config
    }

    /// Records that a prompt the counter estimated at `estimated_prompt` tokens (the raw count,
    /// before calibration) was counted as `actual_prompt` tokens by the server.
    ///
    /// An observation where either count is zero carries no ratio (a missing `usage` often
    /// reads as zero) and is ignored.
    pub fn observe(&mut self, model: &str, estimated_prompt: u64, actual_prompt: u64) {
        if estimated_prompt == 0 || actual_prompt == 0 {
            return;
        }
        let config = self.config;
        let state = match self.models.get_mut(model) {
            Some(state) => state,
            None => self
                .models
                .entry(model.to_owned())
                .or_insert_with(|| prior_state(&config)),
        };
        let estimated = estimated_prompt as f64;
        let actual = (actual_prompt as f64)
            .clamp(estimated * config.min_ratio, estimated * config.max_ratio);
        let keep = 1.0 - config.smoothing;
        state.estimated = state.estimated * keep + estimated;
        state.actual = state.actual * keep + actual;
        state.observations = state.observations.saturating_add(1);
    }

    /// The ratio applied to `model`'s estimates: the prior until the model's first observation.
    pub fn ratio(&self, model: &str) -> f64 {
        self.models
            .get(model)
            .map_or(self.config.prior, |state| self.state_ratio(state))
    }

    /// `estimate` scaled by `model`'s ratio, rounded up.
    pub fn apply(&self, model: &str, estimate: u64) -> u64 {
        scale(estimate, self.ratio(model))
    }

    /// How many observations of `model` were recorded (ignored ones excluded).
    pub fn observations(&self, model: &str) -> u64 {
        self.models.get(model).map_or(0, |state| state.observations)
    }

    /// Every observed model with its current ratio, in no particular order.
    pub fn models(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.models
            .iter()
            .map(|(model, state)| (model.as_str(), self.state_ratio(state)))
    }

    /// Forgets what was learned about `model`; its ratio returns to the prior.
    pub fn reset(&mut self, model: &str) {
        self.models.remove(model);
    }

    fn state_ratio(&self, state: &ModelState) -> f64 {
        let ratio = if state.estimated > 0.0 {
            state.actual / state.estimated
        } else {
            self.config.prior
        };
        ratio.clamp(self.config.min_ratio, self.config.max_ratio)
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Self::new()
    }
}

fn prior_state(config: &CalibrationConfig) -> ModelState {
    let weight = config.prior_weight as f64;
    ModelState {
        estimated: weight,
        actual: weight * config.prior,
        observations: 0,
    }
}

/// `tokens × ratio`, rounded up, ignoring the float noise of a ratio that is meant to be exact.
fn scale(tokens: u64, ratio: f64) -> u64 {
    let scaled = (tokens as f64 * ratio * (1.0 - 1e-12)).ceil();
    // `as` saturates: NaN becomes 0 and anything beyond u64::MAX becomes u64::MAX.
    let scaled = scaled as u64;
    if tokens > 0 { scaled.max(1) } else { 0 }
}

/// A [`TokenCounter`] that scales another counter's request counts by a [`Calibration`]
/// learned from observed usage; share one (for example in an `Arc`) between every task that
/// sends requests.
///
/// [`count_request`](TokenCounter::count_request) and [`estimate`](TokenCounter::estimate)
/// are calibrated, and the estimate keeps the inner counter's count in
/// [`Estimate::raw_prompt`]: pass that, not [`Estimate::prompt`], back to
/// [`observe`](Self::observe) with the server's `usage.prompt_tokens`.
/// [`count_text`](TokenCounter::count_text) is the inner counter's count: calibration is
/// learned on whole prompts, framing included.
///
/// ```
/// use groq_tokens::{CalibratedCounter, TiktokenCounter, TokenCounter};
/// use groq_types::ChatRequest;
///
/// let counter = CalibratedCounter::new(TiktokenCounter::new());
/// let request = ChatRequest::new("llama-3.1-8b-instant")
///     .user("Summarize the plot of Hamlet.")
///     .max_completion_tokens(200);
/// let estimate = counter.estimate(&request, 1_024);
/// assert!(estimate.prompt > estimate.raw_prompt); // the conservative prior
/// assert_eq!(estimate.completion_allowance, 200);
///
/// // The reply's usage says the server counted 2 % more than the raw estimate: the ratio
/// // moves from the prior towards 1.02, in proportion to the prompt's size.
/// let actual = estimate.raw_prompt * 102 / 100;
/// counter.observe(request.model(), estimate.raw_prompt, actual);
/// assert!(counter.ratio(request.model()) < 1.25);
/// assert_eq!(counter.calibration().observations(request.model()), 1);
/// ```
#[derive(Debug)]
pub struct CalibratedCounter<C> {
    inner: C,
    calibration: RwLock<Calibration>,
}

impl<C: TokenCounter> CalibratedCounter<C> {
    /// Calibrates `inner` with the default settings.
    pub fn new(inner: C) -> Self {
        Self::with_calibration(inner, Calibration::new())
    }

    /// Calibrates `inner` starting from `calibration` (its settings and anything it has
    /// already learned).
    pub fn with_calibration(inner: C, calibration: Calibration) -> Self {
        Self {
            inner,
            calibration: RwLock::new(calibration),
        }
    }

    /// The uncalibrated counter.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Records the server's count of a prompt that the inner counter estimated at
    /// `raw_prompt` tokens ([`Estimate::raw_prompt`]); see [`Calibration::observe`].
    pub fn observe(&self, model: &str, raw_prompt: u64, actual_prompt: u64) {
        self.calibration
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(model, raw_prompt, actual_prompt);
    }

    /// The ratio currently applied to `model`.
    pub fn ratio(&self, model: &str) -> f64 {
        self.read().ratio(model)
    }

    /// A copy of everything learned so far.
    pub fn calibration(&self) -> Calibration {
        self.read().clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Calibration> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters (every update is a few float operations), so a poisoned lock is still used.
        self.calibration
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<C: TokenCounter> TokenCounter for CalibratedCounter<C> {
    fn count_text(&self, model: &str, text: &str) -> u64 {
        self.inner.count_text(model, text)
    }

    fn count_request(&self, request: &ChatRequest) -> u64 {
        // Count before taking the lock, so that observers never wait for a count.
        let raw = self.inner.count_request(request);
        self.read().apply(request.model(), raw)
    }

    fn estimate(&self, request: &ChatRequest, default_completion: u32) -> Estimate {
        let inner = self.inner.estimate(request, default_completion);
        let prompt = self.read().apply(request.model(), inner.prompt);
        Estimate::new(prompt, inner.completion_allowance).with_raw_prompt(inner.prompt)
    }

    fn observe(&self, model: &str, raw_prompt: u64, actual_prompt: u64) {
        CalibratedCounter::observe(self, model, raw_prompt, actual_prompt);
    }

    fn is_calibrated(&self, model: &str) -> bool {
        self.read().observations(model) > 0
    }

    fn recalibrate(&self, model: &str, estimate: &Estimate) -> Estimate {
        let prompt = self.read().apply(model, estimate.raw_prompt);
        Estimate::new(prompt, estimate.completion_allowance).with_raw_prompt(estimate.raw_prompt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = "llama-3.1-8b-instant";

    #[test]
    fn starts_from_the_prior() {
        let calibration = Calibration::new();
        assert_eq!(calibration.ratio(MODEL), CalibrationConfig::DEFAULT_PRIOR);
        assert_eq!(calibration.apply(MODEL, 1_000), 1_250);
        assert_eq!(calibration.apply(MODEL, 0), 0);
        assert_eq!(calibration.apply(MODEL, 3), 4, "rounds up");
        assert_eq!(calibration.observations(MODEL), 0);
        assert_eq!(calibration.models().count(), 0);
    }

    #[test]
    fn converges_to_a_stable_true_ratio() {
        let mut calibration = Calibration::new();
        let true_ratio = 1.37;
        // Prompts of varied sizes, each counted by the server at the true ratio.
        let sizes = [40_u64, 900, 120, 2_500, 300, 64, 1_500, 700];
        let mut errors = Vec::new();
        for round in 0..60 {
            let estimate = sizes[round % sizes.len()];
            let actual = (estimate as f64 * true_ratio).round() as u64;
            let predicted = calibration.apply(MODEL, estimate);
            errors.push((predicted as f64 - actual as f64).abs() / actual as f64);
            calibration.observe(MODEL, estimate, actual);
        }
        assert!((calibration.ratio(MODEL) - true_ratio).abs() < 0.01);
        // Once converged, every estimate is within 2 % of the server's count.
        assert!(errors[30..].iter().all(|&e| e < 0.02), "{errors:?}");
        assert_eq!(calibration.observations(MODEL), 60);
    }

    #[test]
    fn converges_below_the_prior_too() {
        let mut calibration = Calibration::new();
        for _ in 0..40 {
            calibration.observe(MODEL, 2_000, 1_900);
        }
        let ratio = calibration.ratio(MODEL);
        assert!((ratio - 0.95).abs() < 0.01, "{ratio}");
        let estimate = calibration.apply(MODEL, 10_000);
        assert!((9_400..=9_600).contains(&estimate), "{estimate}");
    }

    #[test]
    fn tracks_a_change_in_the_servers_count() {
        let mut calibration = Calibration::new();
        for _ in 0..40 {
            calibration.observe(MODEL, 1_000, 1_000);
        }
        assert!((calibration.ratio(MODEL) - 1.0).abs() < 0.01);
        for _ in 0..60 {
            calibration.observe(MODEL, 1_000, 1_200);
        }
        assert!((calibration.ratio(MODEL) - 1.2).abs() < 0.01);
    }

    #[test]
    fn small_prompts_move_the_prior_less_than_large_ones() {
        let mut small = Calibration::new();
        let mut large = Calibration::new();
        small.observe(MODEL, 20, 20);
        large.observe(MODEL, 5_000, 5_000);
        // 20 tokens against the prior's 32 (faded to 28.8): a bit less than half the way.
        assert!(small.ratio(MODEL) > 1.1, "{}", small.ratio(MODEL));
        assert!(large.ratio(MODEL) < 1.005, "{}", large.ratio(MODEL));
    }

    #[test]
    fn one_long_prompt_calibrates_close_to_the_truth() {
        // The benchmark's long prompts: the server counts 1.58 x the raw estimate.
        let mut calibration = Calibration::new();
        calibration.observe(MODEL, 850, 1_343);
        let ratio = calibration.ratio(MODEL);
        assert!((ratio - 1.58).abs() / 1.58 < 0.01, "{ratio}");
    }

    #[test]
    fn the_counter_reports_calibration_and_recalibrates_old_estimates() {
        let counter = CalibratedCounter::new(crate::TiktokenCounter::new());
        let request = ChatRequest::new(MODEL).user("Name a prime number above 100.");
        let before = counter.estimate(&request, 100);
        assert!(!counter.is_calibrated(MODEL));
        assert_eq!(
            counter.recalibrate(MODEL, &before),
            before,
            "nothing learned yet"
        );
        counter.observe(MODEL, before.raw_prompt, before.raw_prompt * 2);
        assert!(counter.is_calibrated(MODEL));
        assert!(!counter.is_calibrated("other-model"));
        let after = counter.recalibrate(MODEL, &before);
        assert_eq!(after.raw_prompt, before.raw_prompt);
        assert_eq!(after.completion_allowance, 100);
        assert!(after.prompt > before.prompt, "{after:?} vs {before:?}");
        assert_eq!(after, counter.estimate(&request, 100));
    }

    #[test]
    fn zero_prior_weight_lets_the_first_observation_decide() {
        let config = CalibrationConfig::default().with_prior_weight(0);
        let mut calibration = Calibration::with_config(config).unwrap();
        calibration.observe(MODEL, 100, 110);
        assert!((calibration.ratio(MODEL) - 1.1).abs() < 1e-9);
    }

    #[test]
    fn observations_and_the_ratio_are_bounded() {
        let mut calibration = Calibration::new();
        for _ in 0..100 {
            calibration.observe(MODEL, 10, 1_000_000);
            let ratio = calibration.ratio(MODEL);
            assert!((1.25..=3.0).contains(&ratio), "{ratio}");
        }
        assert!((calibration.ratio(MODEL) - 3.0).abs() < 1e-3);
        for _ in 0..200 {
            calibration.observe(MODEL, 1_000_000, 1);
            let ratio = calibration.ratio(MODEL);
            assert!((0.5..=3.0).contains(&ratio), "{ratio}");
        }
        assert!((calibration.ratio(MODEL) - 0.5).abs() < 1e-3);
    }

    #[test]
    fn scaling_saturates_instead_of_overflowing() {
        let config = CalibrationConfig::default().with_prior(3.0);
        let calibration = Calibration::with_config(config).unwrap();
        assert_eq!(calibration.apply(MODEL, u64::MAX), u64::MAX);
        assert_eq!(calibration.apply(MODEL, 1), 3);
    }

    #[test]
    fn zero_counts_are_ignored() {
        let mut calibration = Calibration::new();
        calibration.observe(MODEL, 0, 500);
        calibration.observe(MODEL, 500, 0);
        assert_eq!(calibration.observations(MODEL), 0);
        assert_eq!(calibration.ratio(MODEL), 1.25);
    }

    #[test]
    fn models_are_independent_and_resettable() {
        let mut calibration = Calibration::new();
        for _ in 0..30 {
            calibration.observe("a", 1_000, 800);
        }
        assert!(calibration.ratio("a") < 0.85);
        assert_eq!(calibration.ratio("b"), 1.25);
        let models: Vec<_> = calibration.models().map(|(model, _)| model).collect();
        assert_eq!(models, ["a"]);
        calibration.reset("a");
        assert_eq!(calibration.ratio("a"), 1.25);
    }

    #[test]
    fn bad_settings_are_named() {
        let cases = [
            (CalibrationConfig::default().with_prior(0.1), "prior"),
            (CalibrationConfig::default().with_prior(f64::NAN), "prior"),
            (
                CalibrationConfig::default().with_smoothing(0.0),
                "smoothing",
            ),
            (
                CalibrationConfig::default().with_smoothing(1.5),
                "smoothing",
            ),
            (
                CalibrationConfig::default().with_bounds(0.0, 2.0),
                "min_ratio",
            ),
            (
                CalibrationConfig::default().with_bounds(2.0, 1.0),
                "max_ratio",
            ),
            (
                CalibrationConfig::default().with_bounds(0.5, f64::INFINITY),
                "max_ratio",
            ),
        ];
        for (config, setting) in cases {
            let err = Calibration::with_config(config).unwrap_err();
            let Error::InvalidCalibration { setting: got, .. } = &err;
            assert_eq!(*got, setting, "{err}");
            assert!(err.to_string().contains(setting), "{err}");
            assert!(err.to_string().contains("expected"), "{err}");
        }
        assert!(Calibration::with_config(CalibrationConfig::default().with_smoothing(1.0)).is_ok());
    }
}
