//! The quota workloads: free-plan-shaped limits in a compressed minute, and the requests
//! pushed through them.

use std::collections::BTreeMap;
use std::time::Duration;

use groq_mock::{MockLimits, count_prompt_tokens};
use groq_types::ChatRequest;

use crate::minimum::{Job, MinimumError, minimum_over_models};

/// The emulator's minute in the quota benchmarks (a day is 1,440 of them).
pub const MINUTE: Duration = Duration::from_secs(3);
/// The API key the emulator accepts.
pub const API_KEY: &str = "gsk_bench_0123456789abcdef";
/// Completion tokens of every emulated reply.
pub const COMPLETION_TOKENS: u64 = 16;
/// The completion budget of every request (the unused part is refunded after the reply).
pub const BUDGET: u32 = 100;
/// The small model: 30 RPM, 14,400 RPD, 6,000 TPM, 500,000 TPD on the free plan.
pub const SMALL: &str = "llama-3.1-8b-instant";
/// The large model: 30 RPM, 1,000 RPD, 12,000 TPM, 100,000 TPD on the free plan.
pub const LARGE: &str = "llama-3.3-70b-versatile";

/// The free-plan limits of [`SMALL`] or [`LARGE`] (`None` for any other model).
pub fn free_plan(model: &str) -> Option<MockLimits> {
    let (rpm, rpd, tpm, tpd) = match model {
        SMALL => (30, 14_400, 6_000, 500_000),
        LARGE => (30, 1_000, 12_000, 100_000),
        _ => return None,
    };
    Some(
        MockLimits::unlimited()
            .rpm(rpm)
            .rpd(rpd)
            .tpm(tpm)
            .tpd(tpd)
            .context_window(131_072),
    )
}

/// One chat request of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The model.
    pub model: &'static str,
    /// The system message.
    pub system: String,
    /// The user message; it starts with a `[req:<marker>]` tag the emulator's audit records.
    pub user: String,
    /// `max_completion_tokens`.
    pub budget: u32,
}

impl Request {
    /// The request as groqchat sends it.
    pub fn chat_request(&self) -> ChatRequest {
        ChatRequest::new(self.model)
            .system(self.system.clone())
            .user(self.user.clone())
            .max_completion_tokens(self.budget)
    }

    /// The request as the emulator charges it.
    pub fn job(&self) -> Job {
        Job::new(
            count_prompt_tokens(&self.chat_request()),
            u64::from(self.budget),
            COMPLETION_TOKENS,
        )
    }
}

/// A named list of requests submitted all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// A short name with the binding limit.
    pub name: &'static str,
    /// The requests, in submission order.
    pub requests: Vec<Request>,
}

impl Workload {
    /// A burst of 120 short requests to [`SMALL`]: requests per minute bind.
    pub fn burst() -> Self {
        let requests = (0..120)
            .map(|i| short(SMALL, &format!("burst-{i}"), i))
            .collect();
        Self {
            name: "burst: 120 short requests, 1 model (RPM binds)",
            requests,
        }
    }

    /// 60 requests of about 850 prompt tokens to [`LARGE`]: tokens per minute bind.
    pub fn long_prompts() -> Self {
        let requests = (0..60)
            .map(|i| long(LARGE, &format!("long-{i}"), i, 3_000))
            .collect();
        Self {
            name: "long prompts: 60 x ~850 tokens, 1 model (TPM binds)",
            requests,
        }
    }

    /// 200 requests alternating between [`SMALL`] and [`LARGE`], one in four long: requests
    /// and tokens take turns binding.
    pub fn mixed() -> Self {
        let requests = (0..200)
            .map(|i| {
                let model = if i % 2 == 0 { SMALL } else { LARGE };
                let marker = format!("mixed-{i}");
                if i % 8 < 2 {
                    long(model, &marker, i, 2_000)
                } else {
                    short(model, &marker, i)
                }
            })
            .collect();
        Self {
            name: "mixed: 200 requests over 2 models, 1 in 4 long",
            requests,
        }
    }

    /// The models the workload uses, with their requests' jobs in submission order.
    pub fn jobs_by_model(&self) -> BTreeMap<&'static str, Vec<Job>> {
        let mut by_model: BTreeMap<&'static str, Vec<Job>> = BTreeMap::new();
        for request in &self.requests {
            by_model
                .entry(request.model)
                .or_default()
                .push(request.job());
        }
        by_model
    }

    /// The theoretical minimum of the workload under the free-plan limits in [`MINUTE`].
    pub fn minimum(&self) -> Result<Duration, MinimumError> {
        let by_model = self.jobs_by_model();
        let limits: Vec<(MockLimits, &[Job])> = by_model
            .iter()
            .map(|(model, jobs)| {
                (
                    free_plan(model).unwrap_or_else(MockLimits::unlimited),
                    jobs.as_slice(),
                )
            })
            .collect();
        minimum_over_models(limits.iter().map(|(l, j)| (l, *j)), MINUTE)
    }
}

/// A one-line question.
fn short(model: &'static str, marker: &str, i: usize) -> Request {
    Request {
        model,
        system: "You are terse.".to_owned(),
        user: format!("[req:{marker}] Name a prime number above {i}, in one word."),
        budget: BUDGET,
    }
}

/// A question about a document of about `chars` characters.
fn long(model: &'static str, marker: &str, i: usize, chars: usize) -> Request {
    Request {
        model,
        system: "You summarize documents in one sentence.".to_owned(),
        user: format!(
            "[req:{marker}] Summarize this document.\n\n{}",
            prose(chars, i as u64)
        ),
        budget: BUDGET,
    }
}

/// Deterministic English-like prose of about `chars` characters.
pub fn prose(chars: usize, seed: u64) -> String {
    const WORDS: &[&str] = &[
        "the",
        "limit",
        "of",
        "a",
        "model",
        "is",
        "counted",
        "in",
        "requests",
        "and",
        "tokens",
        "per",
        "minute",
        "while",
        "each",
        "bucket",
        "refills",
        "continuously",
        "so",
        "that",
        "client",
        "waits",
        "exactly",
        "as",
        "long",
        "needed",
        "before",
        "sending",
        "next",
        "request",
        "to",
        "server",
        "which",
        "answers",
        "with",
        "headers",
        "about",
        "remaining",
        "capacity",
        "queue",
        "priority",
        "throughput",
        "latency",
        "estimate",
        "usage",
    ];
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
    let mut text = String::with_capacity(chars + 16);
    let mut first = true;
    while text.len() < chars {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let word = WORDS[(state >> 33) as usize % WORDS.len()];
        if !first {
            text.push(' ');
        }
        first = false;
        text.push_str(word);
        if (state >> 20).is_multiple_of(11) {
            text.push('.');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minimum::minimum_time;

    #[test]
    fn the_workloads_bind_the_intended_limit() {
        // Burst: requests per minute bind, 90 after the first 30 at 10 per second.
        let burst = Workload::burst();
        assert_eq!(burst.requests.len(), 120);
        let minimum = burst.minimum().unwrap();
        assert!(
            minimum.abs_diff(Duration::from_secs(9)) < Duration::from_millis(1),
            "{minimum:?}"
        );

        // Long prompts: tokens bind, well past the one minute that requests alone would take.
        let long = Workload::long_prompts();
        assert_eq!(long.requests.len(), 60);
        let jobs = &long.jobs_by_model()[LARGE];
        assert!(
            jobs.iter()
                .all(|job| (800..900).contains(&job.prompt_tokens))
        );
        let requests_only = MockLimits::unlimited().rpm(30);
        let by_requests = minimum_time(&requests_only, MINUTE, jobs).unwrap();
        let minimum = long.minimum().unwrap();
        assert!(minimum > by_requests * 2, "{minimum:?} vs {by_requests:?}");

        // Mixed: two models, 100 each; each finishes no sooner than its request limit allows.
        let mixed = Workload::mixed();
        let by_model = mixed.jobs_by_model();
        assert_eq!(by_model.len(), 2);
        assert!(by_model.values().all(|jobs| jobs.len() == 100));
        assert!(mixed.minimum().unwrap() >= Duration::from_secs(7));
    }

    #[test]
    fn markers_are_unique_and_prose_is_deterministic() {
        let mixed = Workload::mixed();
        let mut markers: Vec<&str> = mixed
            .requests
            .iter()
            .filter_map(|r| r.user.split(']').next())
            .collect();
        markers.sort_unstable();
        markers.dedup();
        assert_eq!(markers.len(), 200);
        assert_eq!(prose(500, 3), prose(500, 3));
        assert_ne!(prose(500, 3), prose(500, 4));
        assert!((500..520).contains(&prose(500, 3).len()));
        assert!(free_plan("other").is_none());
    }
}
