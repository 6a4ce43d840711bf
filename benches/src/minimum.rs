//! The theoretical minimum time of a workload under Groq's bucket rules.
//!
//! The rules are the emulator's (and Groq's, as observed): each limited dimension of a model is
//! a bucket of capacity `L` that starts full and refills continuously at `L` per period (a
//! minute, or a day of 1,440 minutes). A request is admitted only when every bucket holds its
//! cost at once: one request, and prompt tokens plus the completion budget. Once it is
//! answered, the unused budget is refunded to the token buckets.
//!
//! The minimum assumes a client that knows every cost exactly and a server that answers
//! instantly: each request is admitted, in submission order, at the earliest instant at which
//! all its buckets hold its cost, and its refund lands at that same instant. The workload's
//! minimum is the instant at which its last request is admitted. Models are independent, so
//! a workload over several models takes the longest of their minimums.

use std::time::Duration;

use groq_mock::MockLimits;

/// One request of a workload, as the server counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Prompt tokens, by the server's count.
    pub prompt_tokens: u64,
    /// The completion budget charged up front (`max_completion_tokens`).
    pub budget: u64,
    /// The completion tokens of the reply; `budget - completion` is refunded.
    pub completion: u64,
}

impl Job {
    /// A job of `prompt_tokens` with a budget of `budget` and a reply of `completion` tokens
    /// (at most the budget).
    pub fn new(prompt_tokens: u64, budget: u64, completion: u64) -> Self {
        Self {
            prompt_tokens,
            budget,
            completion: completion.min(budget),
        }
    }

    /// Tokens that must be free to admit the job.
    fn admitted_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.budget)
    }

    /// Tokens the job keeps once answered.
    fn kept_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion)
    }
}

/// Why a workload has no finite minimum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinimumError {
    /// One job costs more than a bucket holds: the server answers 413 and it never runs.
    #[error(
        "job {index} needs {needed} in a bucket of {capacity}: it can never be admitted; \
         lower its prompt or budget"
    )]
    NeverFits {
        /// The position of the job in the workload.
        index: usize,
        /// Its cost in that bucket.
        needed: u64,
        /// The bucket's capacity.
        capacity: u64,
    },
    /// The minute length is zero, so no rate is defined.
    #[error("the minute length is zero; give the limits a positive minute")]
    ZeroMinute,
}

/// One bucket being simulated: capacity and level in units, refill in units per second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    level: f64,
    tokens: bool,
}

impl Bucket {
    fn new(limit: u64, period: Duration, tokens: bool) -> Self {
        // Limits are far below 2^53, so the conversion is exact.
        let capacity = limit as f64;
        Self {
            capacity,
            per_second: capacity / period.as_secs_f64(),
            level: capacity,
            tokens,
        }
    }

    fn admitted(&self, job: &Job) -> u64 {
        if self.tokens {
            job.admitted_tokens()
        } else {
            1
        }
    }

    fn kept(&self, job: &Job) -> u64 {
        if self.tokens { job.kept_tokens() } else { 1 }
    }
}

/// The least time in which `jobs`, all submitted at once to one model with `limits` and a
/// minute of `minute`, can all be admitted: the instant of the last admission.
///
/// An empty workload, or one that fits the full buckets, takes zero time.
pub fn minimum_time(
    limits: &MockLimits,
    minute: Duration,
    jobs: &[Job],
) -> Result<Duration, MinimumError> {
    if minute.is_zero() {
        return Err(MinimumError::ZeroMinute);
    }
    let day = minute.saturating_mul(1_440);
    let mut buckets: Vec<Bucket> = [
        (limits.rpm, minute, false),
        (limits.rpd, day, false),
        (limits.tpm, minute, true),
        (limits.tpd, day, true),
    ]
    .into_iter()
    .filter_map(|(limit, period, tokens)| limit.map(|limit| Bucket::new(limit, period, tokens)))
    .collect();

    let mut now = 0.0_f64;
    for (index, job) in jobs.iter().enumerate() {
        // The earliest instant at which every bucket holds the job's cost.
        let mut wait = 0.0_f64;
        for bucket in &buckets {
            let needed = bucket.admitted(job);
            if needed as f64 > bucket.capacity {
                return Err(MinimumError::NeverFits {
                    index,
                    needed,
                    capacity: bucket.capacity as u64,
                });
            }
            let missing = needed as f64 - bucket.level;
            if missing > 0.0 {
                wait = wait.max(missing / bucket.per_second);
            }
        }
        now += wait;
        for bucket in &mut buckets {
            let refilled = (bucket.level + wait * bucket.per_second).min(bucket.capacity);
            bucket.level = refilled - bucket.kept(job) as f64;
        }
    }
    Ok(Duration::from_secs_f64(now))
}

/// The minimum of a workload over several independent models: the longest of theirs.
pub fn minimum_over_models<'a>(
    models: impl IntoIterator<Item = (&'a MockLimits, &'a [Job])>,
    minute: Duration,
) -> Result<Duration, MinimumError> {
    let mut longest = Duration::ZERO;
    for (limits, jobs) in models {
        longest = longest.max(minimum_time(limits, minute, jobs)?);
    }
    Ok(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn close(actual: Duration, expected: Duration) -> bool {
        actual.abs_diff(expected) < Duration::from_micros(10)
    }

    #[test]
    fn a_workload_that_fits_the_full_buckets_takes_no_time() {
        let limits = MockLimits::unlimited().rpm(30).tpm(6_000);
        let jobs = vec![Job::new(50, 100, 10); 30];
        assert_eq!(minimum_time(&limits, MINUTE, &jobs), Ok(Duration::ZERO));
        assert_eq!(minimum_time(&limits, MINUTE, &[]), Ok(Duration::ZERO));
    }

    #[test]
    fn requests_per_minute_bind_a_burst_of_short_requests() {
        // 30 go at once, then one every 2 s (or 100 ms in a 3 s minute).
        let limits = MockLimits::unlimited().rpm(30).tpm(6_000);
        let jobs = vec![Job::new(20, 100, 16); 120];
        let minimum = minimum_time(&limits, MINUTE, &jobs).unwrap();
        assert!(close(minimum, Duration::from_secs(180)), "{minimum:?}");
        let compressed = minimum_time(&limits, Duration::from_secs(3), &jobs).unwrap();
        assert!(close(compressed, Duration::from_secs(9)), "{compressed:?}");
    }

    #[test]
    fn tokens_per_minute_bind_long_prompts() {
        // 1,000 tokens each against 6,000 per minute (100 per second): six at once, then one
        // every 10 s.
        let limits = MockLimits::unlimited().rpm(30).tpm(6_000);
        let jobs = vec![Job::new(900, 100, 100); 12];
        let minimum = minimum_time(&limits, MINUTE, &jobs).unwrap();
        assert!(close(minimum, Duration::from_secs(60)), "{minimum:?}");
    }

    #[test]
    fn the_unused_budget_is_refunded_at_admission() {
        // Admission needs 1,000 tokens, but each job keeps only 500: after the first wait the
        // bucket refills 500 per job, not 1,000.
        let limits = MockLimits::unlimited().tpm(6_000);
        let jobs = vec![Job::new(400, 600, 100); 13];
        // Eleven jobs fit the full bucket (level 6,000 - 500 k >= 1,000 for k <= 10); the
        // twelfth waits 5 s for 500 tokens; the thirteenth 5 s more.
        let minimum = minimum_time(&limits, MINUTE, &jobs).unwrap();
        assert!(close(minimum, Duration::from_secs(10)), "{minimum:?}");
    }

    #[test]
    fn the_longest_wait_over_the_dimensions_binds() {
        // Requests bind for the first jobs, then tokens as they pile up.
        let limits = MockLimits::unlimited().rpm(2).tpm(1_000);
        let jobs = vec![Job::new(400, 0, 0); 4];
        // t=0: two jobs (800 tokens, 2 requests). Third: needs 1 request (30 s) and 200
        // tokens (12 s): 30 s. Then level tokens = min(1000, 200 + 500) - 400 = 300.
        // Fourth: 1 request in 30 s, 100 tokens in 6 s: at 60 s.
        let minimum = minimum_time(&limits, MINUTE, &jobs).unwrap();
        assert!(close(minimum, Duration::from_secs(60)), "{minimum:?}");
    }

    #[test]
    fn daily_buckets_count_with_a_day_of_1440_minutes() {
        let limits = MockLimits::unlimited().rpd(10);
        let jobs = vec![Job::new(1, 1, 1); 11];
        let minimum = minimum_time(&limits, Duration::from_secs(1), &jobs).unwrap();
        // One request refills every 1,440 / 10 s.
        assert!(close(minimum, Duration::from_secs(144)), "{minimum:?}");
    }

    #[test]
    fn an_idle_bucket_never_holds_more_than_its_capacity() {
        // While the second job waits 60 s for tokens, the request bucket refills to its
        // capacity of 2, not beyond: after the third job it is nearly empty and the fourth
        // waits for it (at 90 s, where an unbounded bucket would let it go at once).
        let limits = MockLimits::unlimited().rpm(2).tpm(1_000);
        let jobs = [
            Job::new(1_000, 0, 0),
            Job::new(1_000, 0, 0),
            Job::new(1, 0, 0),
            Job::new(1, 0, 0),
        ];
        let minimum = minimum_time(&limits, MINUTE, &jobs).unwrap();
        assert!(close(minimum, Duration::from_secs(90)), "{minimum:?}");
    }

    #[test]
    fn a_job_larger_than_a_bucket_never_fits() {
        let limits = MockLimits::unlimited().tpm(1_000);
        let jobs = [Job::new(10, 10, 10), Job::new(900, 200, 0)];
        assert_eq!(
            minimum_time(&limits, MINUTE, &jobs),
            Err(MinimumError::NeverFits {
                index: 1,
                needed: 1_100,
                capacity: 1_000
            })
        );
        assert_eq!(
            minimum_time(&limits, Duration::ZERO, &jobs),
            Err(MinimumError::ZeroMinute)
        );
    }

    #[test]
    fn models_are_independent_and_the_longest_one_counts() {
        let small = MockLimits::unlimited().rpm(30);
        let large = MockLimits::unlimited().rpm(60);
        let jobs = vec![Job::new(1, 1, 1); 90];
        let both = minimum_over_models([(&small, &jobs[..]), (&large, &jobs[..])], MINUTE).unwrap();
        // 30 RPM: 60 more after the first 30 take 120 s; 60 RPM: 30 more take 30 s.
        assert!(close(both, Duration::from_secs(120)), "{both:?}");
    }

    #[test]
    fn a_unit_step_simulation_agrees() {
        // A brute-force simulation on a 1 ms grid admits each job at the first tick at which
        // it fits; the exact answer lies at most one tick before it.
        let limits = MockLimits::unlimited().rpm(7).tpm(900);
        let minute = Duration::from_secs(6);
        let jobs: Vec<Job> = (0..40)
            .map(|i| Job::new(50 + (i * 37) % 300, 100, (i * 13) % 100))
            .collect();
        let exact = minimum_time(&limits, minute, &jobs).unwrap();

        let tick = 0.001;
        let (mut requests, mut tokens) = (7.0_f64, 900.0_f64);
        let (request_rate, token_rate) = (7.0 / 6.0 * tick, 900.0 / 6.0 * tick);
        let mut t = 0_u64;
        for job in &jobs {
            while requests < 1.0 || tokens < job.admitted_tokens() as f64 {
                t += 1;
                requests = (requests + request_rate).min(7.0);
                tokens = (tokens + token_rate).min(900.0);
            }
            requests -= 1.0;
            tokens -= job.kept_tokens() as f64;
        }
        let simulated = Duration::from_millis(t);
        assert!(
            simulated >= exact && simulated - exact <= Duration::from_millis(1),
            "exact {exact:?}, simulated {simulated:?}"
        );
    }
}
