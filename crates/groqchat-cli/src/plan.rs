//! The plan of a batch run: requests and estimated tokens per model, and the least time the
//! rate limits allow for them.
//!
//! Each limit is a GCRA bucket of capacity `L` refilling at `L` per period `P`, and starts
//! full. `n` units through such a bucket need no wait for the first `L`; the last unit is
//! admitted `(n - L) * P / L` later. A model's minimum is the largest of its dimensions'
//! (requests against RPM and RPD, tokens against TPM and TPD), and a run's minimum is the
//! largest of its models', since each model has its own lane and the lanes run in parallel.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use groq_config::Config;
use groq_ratelimit::{Cost, Dimension, Quota};
use groq_tokens::{Estimate, TokenCounter};
use groq_types::ChatRequest;

/// The least time `requests` requests totalling `tokens` tokens take under `quota`, and the
/// dimension that sets it (`None` when nothing binds).
///
/// `available(dimension)` is how much of each bucket is free at the start (`None`: the whole
/// limit, as for a fresh run). A dimension where the work fits what is free costs no time.
pub(crate) fn minimum_time(
    quota: &Quota,
    requests: u64,
    tokens: u64,
    available: impl Fn(Dimension) -> Option<u64>,
) -> (Duration, Option<Dimension>) {
    let work = Cost::new(requests, tokens);
    let mut longest = (Duration::ZERO, None);
    for (dimension, rate) in quota.rates() {
        let limit = rate.limit();
        let free = available(dimension).map_or(limit, |free| free.min(limit));
        let beyond = work.amount(dimension).saturating_sub(free);
        if beyond == 0 {
            continue;
        }
        let nanos = rate.period().as_nanos() * u128::from(beyond) / u128::from(limit);
        let wait = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        if wait > longest.0 {
            longest = (wait, Some(dimension));
        }
    }
    longest
}

/// What the limiter will charge for `request`: its prompt estimate plus its completion
/// allowance (`max_completion_tokens`, else the configured default for its model).
pub(crate) fn estimate(
    request: &ChatRequest,
    config: &Config,
    counter: &dyn TokenCounter,
) -> Estimate {
    let allowance = config
        .resolve_model(request.model())
        .map_or(config.default_completion_tokens, |model| {
            config.completion_allowance(&model)
        });
    counter.estimate(request, allowance)
}

/// Why `request` (estimated as `estimate`) can never succeed under `config`, before anything is
/// sent: its model is refused, it exceeds the model's context window, or its cost exceeds a
/// bucket's capacity. `None` when it can.
pub(crate) fn never_fits(
    request: &ChatRequest,
    estimate: &Estimate,
    config: &Config,
) -> Option<String> {
    let model = match config.resolve_model(request.model()) {
        Ok(model) => model,
        Err(_) => {
            return Some(format!(
                "the configuration does not allow model `{}`",
                request.model()
            ));
        }
    };
    if let Some(window) = model.context_window
        && estimate.total > u64::from(window)
    {
        return Some(format!(
            "about {} prompt tokens plus {} for the reply exceed the context window of {} tokens \
             of `{}`",
            thousands(estimate.prompt),
            thousands(estimate.completion_allowance),
            thousands(u64::from(window)),
            request.model()
        ));
    }
    let quota = Quota::from_limits(&model.limits);
    let cost = Cost::request(estimate.total);
    quota.rates().find_map(|(dimension, rate)| {
        (cost.amount(dimension) > rate.limit()).then(|| {
            format!(
                "it costs {} {} but the {} limit of `{}` is {}",
                thousands(cost.amount(dimension)),
                if dimension.is_tokens() {
                    "tokens"
                } else {
                    "requests"
                },
                dimension.label(),
                request.model(),
                rate
            )
        })
    })
}

/// The quota of `model` under `config` (`None` when the configuration rejects the model).
pub(crate) fn quota_of(config: &Config, model: &str) -> Option<Quota> {
    config
        .resolve_model(model)
        .ok()
        .map(|m| Quota::from_limits(&m.limits))
}

/// One model's share of a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelPlan {
    /// The model id.
    pub(crate) model: String,
    /// Requests to send.
    pub(crate) requests: u64,
    /// Estimated prompt tokens.
    pub(crate) prompt_tokens: u64,
    /// Estimated tokens as the limiter charges them: prompts plus completion allowances.
    pub(crate) tokens: u64,
    /// The model's quota (`None` when the configuration rejects the model).
    pub(crate) quota: Option<Quota>,
    /// The lower bound: every reply hands its unused budget back at once (so only prompts
    /// count), the least time a perfect client can reach.
    pub(crate) lower: Duration,
    /// The limit that sets the lower bound.
    pub(crate) lower_binding: Option<Dimension>,
    /// The upper bound: every reply uses its whole completion budget.
    pub(crate) upper: Duration,
    /// The limit that sets the upper bound.
    pub(crate) upper_binding: Option<Dimension>,
}

/// Per-model totals, gathered one request at a time (no request is kept).
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanBuilder {
    totals: BTreeMap<String, (u64, u64, u64)>,
}

impl PlanBuilder {
    /// Counts one request of `model` with its estimate.
    pub(crate) fn add(&mut self, model: &str, estimate: &Estimate) {
        let entry = match self.totals.get_mut(model) {
            Some(entry) => entry,
            None => self.totals.entry(model.to_owned()).or_default(),
        };
        entry.0 += 1;
        entry.1 = entry.1.saturating_add(estimate.prompt);
        entry.2 = entry.2.saturating_add(estimate.total);
    }

    /// The plan under `config`'s limits.
    pub(crate) fn build(self, config: &Config) -> Plan {
        let models = self
            .totals
            .into_iter()
            .map(|(model, (requests, prompt_tokens, tokens))| {
                let quota = quota_of(config, &model);
                let bound = |tokens| {
                    quota.as_ref().map_or((Duration::ZERO, None), |q| {
                        minimum_time(q, requests, tokens, |_| None)
                    })
                };
                let (lower, lower_binding) = bound(prompt_tokens);
                let (upper, upper_binding) = bound(tokens);
                ModelPlan {
                    model,
                    requests,
                    prompt_tokens,
                    tokens,
                    quota,
                    lower,
                    lower_binding,
                    upper,
                    upper_binding,
                }
            })
            .collect();
        Plan { models }
    }
}

/// The plan of a whole run.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Plan {
    /// Per model, by id.
    pub(crate) models: Vec<ModelPlan>,
}

impl Plan {
    /// Groups `(model, estimate)` pairs by model and works out each model's bounds.
    #[cfg(test)]
    pub(crate) fn build<'a>(
        requests: impl IntoIterator<Item = (&'a str, Estimate)>,
        config: &Config,
    ) -> Self {
        let mut builder = PlanBuilder::default();
        for (model, estimate) in requests {
            builder.add(model, &estimate);
        }
        builder.build(config)
    }

    /// The run's lower bound: the slowest model's (each model has its own lane).
    pub(crate) fn lower(&self) -> Duration {
        self.models
            .iter()
            .map(|m| m.lower)
            .max()
            .unwrap_or_default()
    }

    /// The run's upper bound: the slowest model's.
    pub(crate) fn upper(&self) -> Duration {
        self.models
            .iter()
            .map(|m| m.upper)
            .max()
            .unwrap_or_default()
    }

    /// Requests over all models.
    pub(crate) fn requests(&self) -> u64 {
        self.models.iter().map(|m| m.requests).sum()
    }

    /// Estimated tokens over all models, completion allowances included.
    pub(crate) fn tokens(&self) -> u64 {
        self.models.iter().map(|m| m.tokens).sum()
    }

    /// The plan as text, one line per model and a total when there are several.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        for model in &self.models {
            let _ = write!(
                text,
                "{} {}, ~{} prompt tokens + up to {} for replies on {}: ",
                thousands(model.requests),
                plural(model.requests, "request", "requests"),
                thousands(model.prompt_tokens),
                thousands(model.tokens.saturating_sub(model.prompt_tokens)),
                model.model
            );
            let binds = |binding: Option<Dimension>| {
                binding
                    .and_then(|d| Some((d, model.quota.as_ref()?.rate(d)?)))
                    .map_or_else(
                        || "no limit binds".to_owned(),
                        |(d, rate)| format!("{} {rate} binds", d.label()),
                    )
            };
            match &model.quota {
                None => text.push_str(
                    "the configuration does not allow this model; these requests will fail",
                ),
                Some(_) if model.upper.is_zero() => {
                    text.push_str("no wait needed under its limits")
                }
                Some(_) => {
                    let _ = write!(
                        text,
                        "{} to {} under its limits (at least {} if every reply hands its unused \
                         budget back at once, {}; at most {} if every reply uses its whole \
                         budget, {})",
                        format_duration(model.lower),
                        format_duration(model.upper),
                        format_duration(model.lower),
                        binds(model.lower_binding),
                        format_duration(model.upper),
                        binds(model.upper_binding),
                    );
                }
            }
            text.push('\n');
        }
        if self.models.len() > 1 {
            let _ = writeln!(
                text,
                "in all {} {}, ~{} tokens on {} models: {} to {} (each model has its own lane)",
                thousands(self.requests()),
                plural(self.requests(), "request", "requests"),
                thousands(self.tokens()),
                self.models.len(),
                format_duration(self.lower()),
                format_duration(self.upper())
            );
        }
        text
    }
}

/// `1` → "request", else "requests".
pub(crate) fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// `9400` → "9,400".
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3m00s`, `1h02m03s`, `7.5s`, `250ms`, `0s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else if s == 0 && !d.is_zero() {
        format!("{}ms", d.subsec_millis())
    } else {
        let tenths = d.subsec_millis() / 100;
        if tenths == 0 {
            format!("{s}s")
        } else {
            format!("{s}.{tenths}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groq_config::Rate;
    use groq_tokens::TiktokenCounter;

    fn free_8b() -> Quota {
        Quota::unlimited()
            .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(30))
            .with_rate(Dimension::RequestsPerDay, Rate::per_day(14_400))
            .with_rate(Dimension::TokensPerMinute, Rate::per_minute(6_000))
            .with_rate(Dimension::TokensPerDay, Rate::per_day(500_000))
    }

    #[test]
    fn work_within_the_buckets_needs_no_time() {
        assert_eq!(
            minimum_time(&free_8b(), 30, 6_000, |_| None),
            (Duration::ZERO, None)
        );
        assert_eq!(
            minimum_time(&Quota::unlimited(), 1_000_000, u64::MAX, |_| None),
            (Duration::ZERO, None)
        );
    }

    #[test]
    fn requests_beyond_the_bucket_take_their_refill_time() {
        // 120 requests at 30 RPM: 90 beyond the bucket at 2 s each.
        assert_eq!(
            minimum_time(&free_8b(), 120, 9_400, |_| None),
            (Duration::from_secs(180), Some(Dimension::RequestsPerMinute))
        );
    }

    #[test]
    fn tokens_can_bind_instead() {
        // 10 requests of 1,500 tokens: 9,000 beyond 6,000 TPM at 100 tokens/s = 90 s.
        assert_eq!(
            minimum_time(&free_8b(), 10, 15_000, |_| None),
            (Duration::from_secs(90), Some(Dimension::TokensPerMinute))
        );
    }

    #[test]
    fn daily_limits_and_custom_periods() {
        let quota = Quota::unlimited()
            .with_rate(Dimension::RequestsPerDay, Rate::per_day(1_000))
            .with_rate(
                Dimension::RequestsPerMinute,
                Rate::new(30, Duration::from_secs(6)).unwrap(),
            );
        // 1,500 requests: RPM (30 per 6 s) needs 1,470 * 0.2 s = 294 s, RPD needs
        // 500 * 86.4 s = 43,200 s.
        assert_eq!(
            minimum_time(&quota, 1_500, 0, |_| None),
            (Duration::from_secs(43_200), Some(Dimension::RequestsPerDay))
        );
    }

    #[test]
    fn what_is_free_now_replaces_the_full_bucket() {
        let free = |d: Dimension| (d == Dimension::RequestsPerMinute).then_some(0);
        assert_eq!(
            minimum_time(&free_8b(), 3, 100, free),
            (Duration::from_secs(6), Some(Dimension::RequestsPerMinute))
        );
        // More free than the limit (a stale snapshot) counts as the limit.
        assert_eq!(
            minimum_time(&free_8b(), 40, 0, |_| Some(1_000)).0,
            Duration::from_secs(20)
        );
    }

    #[test]
    fn the_plan_groups_by_model_and_takes_the_slowest() {
        let config = Config::default();
        let make = |model: &str| {
            ChatRequest::new(model)
                .user("Name a prime number.")
                .max_completion_tokens(100)
        };
        let requests: Vec<ChatRequest> = (0..60)
            .map(|_| make("llama-3.1-8b-instant"))
            .chain((60..70).map(|_| make("qwen/qwen3-32b")))
            .collect();
        let counter = TiktokenCounter::new();
        let plan = Plan::build(
            requests
                .iter()
                .map(|r| (r.model(), estimate(r, &config, &counter))),
            &config,
        );
        assert_eq!(plan.models.len(), 2);
        let llama = &plan.models[0];
        assert_eq!(
            (llama.model.as_str(), llama.requests),
            ("llama-3.1-8b-instant", 60)
        );
        // The request's own budget is the allowance, not the configured default.
        let one = counter.estimate(&requests[0], 1_024).total;
        assert_eq!(one, counter.count_request(&requests[0]) + 100);
        assert_eq!(llama.tokens, 60 * one);
        // 60 requests at 30 RPM: 30 beyond the bucket, 2 s each, in both bounds.
        assert_eq!(llama.lower, Duration::from_secs(60));
        assert_eq!(llama.upper, Duration::from_secs(60));
        assert_eq!(plan.models[1].upper, Duration::ZERO);
        assert_eq!(plan.lower(), Duration::from_secs(60));
        assert_eq!(plan.requests(), 70);
        let text = plan.render();
        assert!(text.contains("60 requests, ~"), "{text}");
        assert!(
            text.contains("on llama-3.1-8b-instant: 1m00s to 1m00s under its limits"),
            "{text}"
        );
        assert!(text.contains("RPM 30/min binds"), "{text}");
        assert!(text.contains("in all 70 requests"), "{text}");
    }

    #[test]
    fn lower_and_upper_bounds_by_hand() {
        // 6,000 TPM and 30 RPM; 20 requests of 100 prompt tokens with a budget of 900.
        let quota = free_8b();
        let e = Estimate::new(100, 900);
        let mut builder = PlanBuilder::default();
        for _ in 0..20 {
            builder.add("llama-3.1-8b-instant", &e);
        }
        let plan = builder.build(&Config::default());
        let m = &plan.models[0];
        assert_eq!((m.prompt_tokens, m.tokens), (2_000, 20_000));
        // Lower: 2,000 prompt tokens fit 6,000 TPM and 20 requests fit 30 RPM: no wait.
        assert_eq!((m.lower, m.lower_binding), (Duration::ZERO, None));
        // Upper: 20,000 tokens, 14,000 beyond the bucket at 100 tokens/s = 140 s, TPM binds.
        assert_eq!(
            (m.upper, m.upper_binding),
            (Duration::from_secs(140), Some(Dimension::TokensPerMinute))
        );
        assert_eq!(
            quota.rate(Dimension::TokensPerMinute),
            Some(Rate::per_minute(6_000))
        );
        let text = plan.render();
        assert!(text.contains("0s to 2m20s under its limits"), "{text}");
        assert!(text.contains("no limit binds; at most 2m20s"), "{text}");
        assert!(text.contains("TPM 6000/min binds"), "{text}");

        // 100 requests of 100 + 50: lower 10,000 prompt tokens -> 4,000 beyond at 100/s = 40 s
        // but RPM: 70 beyond 30 at 2 s = 140 s binds both bounds; upper 15,000 -> 90 s < 140 s.
        let mut builder = PlanBuilder::default();
        for _ in 0..100 {
            builder.add("llama-3.1-8b-instant", &Estimate::new(100, 50));
        }
        let m = &builder.build(&Config::default()).models[0];
        assert_eq!(
            (m.lower, m.lower_binding),
            (Duration::from_secs(140), Some(Dimension::RequestsPerMinute))
        );
        assert_eq!(
            (m.upper, m.upper_binding),
            (Duration::from_secs(140), Some(Dimension::RequestsPerMinute))
        );
    }

    #[test]
    fn requests_that_can_never_fit_are_named() {
        let config = Config::default();
        let request = ChatRequest::new("llama-3.1-8b-instant").user("hi");
        assert_eq!(never_fits(&request, &Estimate::new(10, 100), &config), None);
        let why = never_fits(&request, &Estimate::new(10, 999_999), &config).unwrap();
        assert!(why.contains("context window of 131,072 tokens"), "{why}");
        let config = Config::from_json_str(
            r#"{"models": {"m": {"token_per_minute": 6000, "context_window": 1000000}}, "unknown_models": "reject"}"#,
            "t",
        )
        .unwrap();
        let request = ChatRequest::new("m").user("hi");
        let why = never_fits(&request, &Estimate::new(10, 9_000), &config).unwrap();
        assert_eq!(
            why,
            "it costs 9,010 tokens but the TPM limit of `m` is 6000/min"
        );
        let other = ChatRequest::new("x").user("hi");
        assert!(
            never_fits(&other, &Estimate::new(1, 1), &config)
                .unwrap()
                .contains("does not allow")
        );
    }

    #[test]
    fn formatting() {
        assert_eq!(thousands(9_400), "9,400");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(0), "0");
        assert_eq!(format_duration(Duration::from_secs(180)), "3m00s");
        assert_eq!(format_duration(Duration::from_secs(3_723)), "1h02m03s");
        assert_eq!(format_duration(Duration::from_millis(7_550)), "7.5s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_micros(62_400)), "62ms");
        assert_eq!(plural(1, "request", "requests"), "request");
    }
}
