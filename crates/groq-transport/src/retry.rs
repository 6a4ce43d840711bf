//! [`RetryPolicy`]: which outcomes are worth another attempt, and how long to wait first.
//!
//! The policy is pure: the attempt count, the time spent so far, the wall-clock time (for
//! `retry-after` dates) and the random source for jitter are all inputs, so it is tested without
//! a clock and behaves the same in simulation.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

use crate::{Jitter, TransportError};

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Send the request again after waiting `after` (a server-requested wait, or backoff).
    Retry {
        /// How long to wait before the next attempt.
        after: Duration,
    },
    /// The server answered 429: the rate limiter should close the model's lane for
    /// `retry_after` (when the server said how long) and requeue the request. It is not a
    /// failed attempt of this policy.
    RateLimited {
        /// The server's wait, from `retry-after-ms` or `retry-after`.
        retry_after: Option<Duration>,
    },
    /// Do not send the request again.
    DoNotRetry {
        /// Why not.
        reason: StopReason,
    },
}

impl RetryDecision {
    /// True for [`RetryDecision::Retry`].
    pub fn is_retry(&self) -> bool {
        matches!(self, Self::Retry { .. })
    }
}

/// Why [`RetryPolicy`] said [`RetryDecision::DoNotRetry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The response was a success (2xx).
    Success,
    /// The status or error is not one that a retry can fix (400, 401, 403, 404, 413, 422, 424,
    /// TLS failures, body caps, ...).
    NotRetryable,
    /// The server sent `x-should-retry: false`.
    ServerDeclined,
    /// The maximum number of attempts was reached.
    AttemptsExhausted,
    /// The wait would end after the overall deadline.
    DeadlineExceeded,
}

/// Where a request stands when the policy is asked: inputs, not clock reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// How many attempts have been made, counting the one that just ended (1 after the first).
    /// Count only attempts that ended in a retryable failure: 429s are handled by the limiter.
    pub number: u32,
    /// Time since the first attempt started.
    pub elapsed: Duration,
    /// Wall-clock time now, used only to read `retry-after` given as an HTTP date.
    pub now: SystemTime,
}

impl Attempt {
    /// The state after attempt `number`, `elapsed` after the first one started, at wall-clock
    /// time `now`.
    pub fn new(number: u32, elapsed: Duration, now: SystemTime) -> Self {
        Self {
            number,
            elapsed,
            now,
        }
    }
}

/// When and how to retry, following Groq's API conventions.
///
/// - Retried: connection errors and timeouts, 408, 409, 498 (flex capacity) and every 5xx.
/// - Never retried: 400, 401, 403, 404, 413, 422, 424 and other 4xx (a retry gets the same
///   answer), TLS rejections, oversized bodies.
/// - 429 is [`RetryDecision::RateLimited`]: the limiter waits and requeues, the policy does not
///   blindly resend.
/// - `x-should-retry: true|false` overrides the status rules.
/// - The wait is the server's (`retry-after-ms`, then `retry-after` in seconds or as an HTTP
///   date; up to [`LONGEST_SERVER_WAIT`], a day: a longer one is garbage and ignored; and at
///   least `base_delay`, so that `retry-after: 0` cannot cause a burst) or else exponential
///   backoff with full jitter: a uniform random duration in
///   `[0, min(max_delay, base_delay × 2^(attempt−1))]`.
/// - Bounded by [`max_attempts`](Self::with_max_attempts) and an optional overall
///   [`deadline`](Self::with_deadline): a wait that would end past the deadline is not started.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use groq_transport::{Attempt, Jitter, RetryDecision, RetryPolicy};
///
/// let policy = RetryPolicy::default().with_max_attempts(3);
/// let mut jitter = Jitter::with_seed(7);
/// let mut headers = http::HeaderMap::new();
/// headers.insert("retry-after", "2".parse().unwrap());
/// let attempt = Attempt::new(1, Duration::from_millis(300), SystemTime::UNIX_EPOCH);
/// let decision = policy.classify(http::StatusCode::SERVICE_UNAVAILABLE, &headers, attempt, &mut jitter);
/// assert_eq!(decision, RetryDecision::Retry { after: Duration::from_secs(2) });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    base_delay: Duration,
    max_delay: Duration,
    max_attempts: u32,
    deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    /// Groq's SDK defaults: 3 attempts in all (2 retries), backoff from 0.5 s doubling up to
    /// 8 s, no overall deadline.
    fn default() -> Self {
        Self {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_attempts: 3,
            deadline: None,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (429s are still reported as rate limited).
    pub fn never() -> Self {
        Self::default().with_max_attempts(1)
    }

    /// Sets the first backoff ceiling; each retry doubles it.
    #[must_use]
    pub fn with_base_delay(mut self, base: Duration) -> Self {
        self.base_delay = base;
        self
    }

    /// Sets the largest backoff ceiling (server-requested waits are not capped).
    #[must_use]
    pub fn with_max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// Sets the total number of attempts, the first included (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets an overall deadline measured from the start of the first attempt (`None`: none).
    #[must_use]
    pub fn with_deadline(mut self, deadline: impl Into<Option<Duration>>) -> Self {
        self.deadline = deadline.into();
        self
    }

    /// The first backoff ceiling.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The largest backoff ceiling.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The total number of attempts allowed.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The overall deadline, if any.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// Decides what to do after a response with `status` and `headers`.
    pub fn classify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        attempt: Attempt,
        jitter: &mut Jitter,
    ) -> RetryDecision {
        if status.is_success() {
            return RetryDecision::DoNotRetry {
                reason: StopReason::Success,
            };
        }
        let should_retry = should_retry_header(headers);
        if should_retry == Some(false) {
            return RetryDecision::DoNotRetry {
                reason: StopReason::ServerDeclined,
            };
        }
        // A server wait shorter than the first backoff is raised to it: `retry-after: 0` on
        // every answer must not turn into a burst of attempts.
        let server_wait = server_wait(headers, attempt.now).map(|wait| wait.max(self.base_delay));
        if status == StatusCode::TOO_MANY_REQUESTS {
            if let (Some(deadline), Some(wait)) = (self.deadline, server_wait)
                && attempt.elapsed.saturating_add(wait) > deadline
            {
                return RetryDecision::DoNotRetry {
                    reason: StopReason::DeadlineExceeded,
                };
            }
            return RetryDecision::RateLimited {
                retry_after: server_wait,
            };
        }
        if should_retry != Some(true) && !is_retryable_status(status) {
            return RetryDecision::DoNotRetry {
                reason: StopReason::NotRetryable,
            };
        }
        self.retry_after(server_wait, attempt, jitter)
    }

    /// Decides what to do after a transport error (no response head).
    pub fn classify_error(
        &self,
        error: &TransportError,
        attempt: Attempt,
        jitter: &mut Jitter,
    ) -> RetryDecision {
        if !error.is_retryable() {
            return RetryDecision::DoNotRetry {
                reason: StopReason::NotRetryable,
            };
        }
        self.retry_after(None, attempt, jitter)
    }

    /// The jittered backoff before retry number `attempt` (1 for the first retry): uniform in
    /// `[0, min(max_delay, base_delay × 2^(attempt−1))]`.
    pub fn backoff(&self, attempt: u32, jitter: &mut Jitter) -> Duration {
        jitter.up_to(self.backoff_ceiling(attempt))
    }

    /// The backoff ceiling before retry number `attempt`: `min(max_delay, base_delay × 2^(attempt−1))`.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        self.base_delay
            .checked_mul(1_u32 << exponent)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    fn retry_after(
        &self,
        server_wait: Option<Duration>,
        attempt: Attempt,
        jitter: &mut Jitter,
    ) -> RetryDecision {
        if attempt.number >= self.max_attempts {
            return RetryDecision::DoNotRetry {
                reason: StopReason::AttemptsExhausted,
            };
        }
        let after = server_wait.unwrap_or_else(|| self.backoff(attempt.number, jitter));
        if let Some(deadline) = self.deadline
            && attempt.elapsed.saturating_add(after) >= deadline
        {
            return RetryDecision::DoNotRetry {
                reason: StopReason::DeadlineExceeded,
            };
        }
        RetryDecision::Retry { after }
    }
}

/// True for the statuses a retry can fix: 408, 409, 498 and 5xx.
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 409 | 498) || status.is_server_error()
}

/// The `x-should-retry` header: `Some(true)`, `Some(false)`, or `None` when absent or unreadable.
pub fn should_retry_header(headers: &HeaderMap) -> Option<bool> {
    let value = headers.get("x-should-retry")?.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The longest wait accepted from a server's `retry-after`: one day, the longest period Groq
/// limits over. A longer wait is garbage from a broken or hostile server.
pub const LONGEST_SERVER_WAIT: Duration = Duration::from_secs(86_400);

/// The wait the server asked for: `retry-after-ms` (milliseconds, fractions allowed) if valid,
/// else `retry-after` as seconds (fractions allowed) or as an HTTP date relative to `now` (a date
/// in the past means no wait). A wait longer than [`LONGEST_SERVER_WAIT`] is ignored (and
/// logged), as are negative, non-finite or unparsable values.
pub fn server_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let wait = any_server_wait(headers, now)?;
    if wait > LONGEST_SERVER_WAIT {
        tracing::warn!(
            wait = ?wait,
            "ignored a retry-after longer than a day"
        );
        return None;
    }
    Some(wait)
}

fn any_server_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    // The number is parsed as seconds, then scaled: a value of N means N milliseconds.
    if let Some(thousandfold) = header_str(headers, "retry-after-ms").and_then(parse_seconds) {
        return Some(thousandfold / 1000);
    }
    let value = header_str(headers, "retry-after")?;
    if let Some(wait) = parse_seconds(value) {
        return Some(wait);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// Parses a non-negative decimal number (digits and at most one point) as seconds.
fn parse_seconds(value: &str) -> Option<Duration> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let number: f64 = value.parse().ok()?;
    Duration::try_from_secs_f64(number).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn at(number: u32) -> Attempt {
        Attempt::new(number, Duration::ZERO, SystemTime::UNIX_EPOCH)
    }

    fn rng() -> Jitter {
        Jitter::with_seed(42)
    }

    #[test]
    fn statuses_follow_groq_conventions() {
        let policy = RetryPolicy::default();
        let empty = HeaderMap::new();
        for code in [408, 409, 498, 500, 502, 503, 504, 599] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                policy
                    .classify(status, &empty, at(1), &mut rng())
                    .is_retry(),
                "{code} should be retried"
            );
        }
        for code in [400, 401, 403, 404, 413, 422, 424, 499, 301] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                policy.classify(status, &empty, at(1), &mut rng()),
                RetryDecision::DoNotRetry {
                    reason: StopReason::NotRetryable
                },
                "{code} must not be retried"
            );
        }
        assert_eq!(
            policy.classify(StatusCode::OK, &empty, at(1), &mut rng()),
            RetryDecision::DoNotRetry {
                reason: StopReason::Success
            }
        );
    }

    #[test]
    fn rate_limits_are_reported_with_the_server_wait() {
        let policy = RetryPolicy::default();
        let decision = policy.classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "4")]),
            at(99),
            &mut rng(),
        );
        assert_eq!(
            decision,
            RetryDecision::RateLimited {
                retry_after: Some(Duration::from_secs(4))
            }
        );
        let decision = policy.classify(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            at(1),
            &mut rng(),
        );
        assert_eq!(decision, RetryDecision::RateLimited { retry_after: None });
    }

    #[test]
    fn x_should_retry_overrides_the_status() {
        let policy = RetryPolicy::default();
        let yes = headers(&[("x-should-retry", "TRUE")]);
        let no = headers(&[("x-should-retry", " false ")]);
        assert!(
            policy
                .classify(StatusCode::BAD_REQUEST, &yes, at(1), &mut rng())
                .is_retry()
        );
        for status in [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::TOO_MANY_REQUESTS,
        ] {
            assert_eq!(
                policy.classify(status, &no, at(1), &mut rng()),
                RetryDecision::DoNotRetry {
                    reason: StopReason::ServerDeclined
                }
            );
        }
        let junk = headers(&[("x-should-retry", "maybe")]);
        assert!(
            !policy
                .classify(StatusCode::BAD_REQUEST, &junk, at(1), &mut rng())
                .is_retry()
        );
    }

    #[test]
    fn server_waits_are_honoured_without_a_cap() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            server_wait(&headers(&[("retry-after-ms", "1500.5")]), now),
            Some(Duration::from_micros(1_500_500))
        );
        assert_eq!(
            server_wait(
                &headers(&[("retry-after-ms", "250"), ("retry-after", "9")]),
                now
            ),
            Some(Duration::from_millis(250)),
            "retry-after-ms wins"
        );
        assert_eq!(
            server_wait(&headers(&[("retry-after", "86400")]), now),
            Some(Duration::from_secs(86_400)),
            "a daily limit's wait is not capped"
        );
        assert_eq!(
            server_wait(&headers(&[("retry-after", "0.25")]), now),
            Some(Duration::from_millis(250))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            server_wait(&headers(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(
            server_wait(&headers(&[("retry-after", &past)]), now),
            Some(Duration::ZERO)
        );
        for bad in ["-1", "soon", "1e400", "", "NaN", "inf"] {
            assert_eq!(server_wait(&headers(&[("retry-after", bad)]), now), None);
            assert_eq!(server_wait(&headers(&[("retry-after-ms", bad)]), now), None);
        }
        assert_eq!(
            server_wait(
                &headers(&[("retry-after-ms", "junk"), ("retry-after", "3")]),
                now
            ),
            Some(Duration::from_secs(3)),
            "an unreadable retry-after-ms falls back to retry-after"
        );
    }

    #[test]
    fn backoff_is_bounded_exponential_with_full_jitter() {
        let policy = RetryPolicy::default()
            .with_base_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1));
        assert_eq!(policy.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.backoff_ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.backoff_ceiling(4), Duration::from_millis(800));
        assert_eq!(policy.backoff_ceiling(5), Duration::from_secs(1));
        assert_eq!(policy.backoff_ceiling(u32::MAX), Duration::from_secs(1));

        let mut rng = rng();
        let samples: Vec<Duration> = (0..2000).map(|_| policy.backoff(3, &mut rng)).collect();
        assert!(samples.iter().all(|d| *d <= Duration::from_millis(400)));
        let below_half = samples
            .iter()
            .filter(|d| **d < Duration::from_millis(200))
            .count();
        assert!(
            (800..1200).contains(&below_half),
            "full jitter is uniform: {below_half}"
        );

        let first = policy.backoff(2, &mut Jitter::with_seed(1));
        assert_eq!(first, policy.backoff(2, &mut Jitter::with_seed(1)));
    }

    #[test]
    fn attempts_and_deadline_bound_retries() {
        let policy = RetryPolicy::default()
            .with_max_attempts(3)
            .with_deadline(Duration::from_secs(10));
        let empty = HeaderMap::new();
        let status = StatusCode::BAD_GATEWAY;
        assert!(
            policy
                .classify(status, &empty, at(2), &mut rng())
                .is_retry()
        );
        assert_eq!(
            policy.classify(status, &empty, at(3), &mut rng()),
            RetryDecision::DoNotRetry {
                reason: StopReason::AttemptsExhausted
            }
        );
        let late = Attempt::new(1, Duration::from_secs(8), SystemTime::UNIX_EPOCH);
        assert_eq!(
            policy.classify(status, &headers(&[("retry-after", "5")]), late, &mut rng()),
            RetryDecision::DoNotRetry {
                reason: StopReason::DeadlineExceeded
            }
        );
        assert_eq!(
            policy.classify(
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("retry-after", "5")]),
                late,
                &mut rng()
            ),
            RetryDecision::DoNotRetry {
                reason: StopReason::DeadlineExceeded
            }
        );
        assert_eq!(RetryPolicy::never().max_attempts(), 1);
        assert!(
            !RetryPolicy::never()
                .classify(status, &empty, at(1), &mut rng())
                .is_retry()
        );
    }

    #[test]
    fn transport_errors_are_retried_when_retryable() {
        let policy = RetryPolicy::default();
        assert!(
            policy
                .classify_error(&TransportError::timeout(), at(1), &mut rng())
                .is_retry()
        );
        assert!(
            policy
                .classify_error(&TransportError::connection("reset"), at(1), &mut rng())
                .is_retry()
        );
        assert_eq!(
            policy.classify_error(&TransportError::body_too_large(1), at(1), &mut rng()),
            RetryDecision::DoNotRetry {
                reason: StopReason::NotRetryable
            }
        );
        assert_eq!(
            policy.classify_error(&TransportError::timeout(), at(3), &mut rng()),
            RetryDecision::DoNotRetry {
                reason: StopReason::AttemptsExhausted
            }
        );
    }
}

#[cfg(test)]
mod hostile_waits {
    use super::*;

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, value.parse().unwrap());
        map
    }

    #[test]
    fn waits_beyond_a_day_are_ignored() {
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(server_wait(&with("retry-after", "99999999"), now), None);
        assert_eq!(server_wait(&with("retry-after-ms", "86400001"), now), None);
        assert_eq!(
            server_wait(&with("retry-after", "86400"), now),
            Some(LONGEST_SERVER_WAIT)
        );
        // An ignored wait falls back to backoff, bounded by max_delay.
        let policy = RetryPolicy::default();
        let decision = policy.classify(
            StatusCode::SERVICE_UNAVAILABLE,
            &with("retry-after", "99999999"),
            Attempt::new(1, Duration::ZERO, now),
            &mut Jitter::with_seed(1),
        );
        match decision {
            RetryDecision::Retry { after } => assert!(after <= policy.max_delay()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_zero_wait_is_raised_to_the_first_backoff() {
        let policy = RetryPolicy::default();
        let zero = with("retry-after", "0");
        let attempt = Attempt::new(1, Duration::ZERO, SystemTime::UNIX_EPOCH);
        let mut rng = Jitter::with_seed(1);
        assert_eq!(
            policy.classify(StatusCode::SERVICE_UNAVAILABLE, &zero, attempt, &mut rng),
            RetryDecision::Retry {
                after: policy.base_delay()
            }
        );
        assert_eq!(
            policy.classify(StatusCode::TOO_MANY_REQUESTS, &zero, attempt, &mut rng),
            RetryDecision::RateLimited {
                retry_after: Some(policy.base_delay())
            }
        );
    }
}
