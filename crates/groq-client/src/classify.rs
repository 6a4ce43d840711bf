//! The response classifier: what an answer (or a transport failure) means for the request
//! that got it. Pure: it reads the status, headers and body, the retry policy and the
//! attempt counts, and touches no limiter, queue or clock. Every path that sends (chat,
//! stream, forward, audio and the other paced resources, and the unpaced REST calls)
//! decides through it.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use groq_ratelimit::{Dimension, LimitMessage, LimitMessageKind, RateLimitHeaders};
use groq_transport::{Attempt, RetryDecision, RetryPolicy, TransportError};
use groq_types::ErrorEnvelope;
use http::{HeaderMap, StatusCode};

/// The attempt counts of one request, before the answer being classified.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    /// Failures counted by the retry policy so far (429s excluded).
    pub(crate) failures: u32,
    /// 429s met so far.
    pub(crate) limited: u32,
    /// Time since the request's first attempt began.
    pub(crate) elapsed: Duration,
}

/// An error answer, read once: the parts every decision and every error message need.
#[derive(Debug)]
pub(crate) struct ErrorAnswer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) limits: RateLimitHeaders,
    pub(crate) envelope: Option<ErrorEnvelope>,
    /// The rate-limit message of the envelope, when it is one.
    pub(crate) message: Option<LimitMessage>,
}

impl ErrorAnswer {
    /// Reads the envelope and its rate-limit message from `body`.
    pub(crate) fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        let limits = RateLimitHeaders::from_headers(&headers);
        let envelope = serde_json::from_slice::<ErrorEnvelope>(&body).ok();
        let message = envelope
            .as_ref()
            .and_then(|e| LimitMessage::parse(&e.error.message));
        Self {
            status,
            headers,
            body,
            limits,
            envelope,
            message,
        }
    }

    /// The rate-limit dimension the message names.
    pub(crate) fn dimension(&self) -> Option<Dimension> {
        self.message.as_ref().and_then(|m| m.dimension)
    }
}

/// What to do after an answer or a transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A 2xx: the request was served.
    Success,
    /// A 429: the server charged nothing. Pause the model for `pause` (and teach the
    /// limiter), then send again from the head of the queue, unless `exhausted`.
    RateLimited {
        /// The wait the server named, raised to the policy's first backoff.
        retry_after: Option<Duration>,
        /// How long the model pauses: the server's wait, else a backoff.
        pause: Duration,
        /// The limit the server named.
        dimension: Option<Dimension>,
        /// More 429s than the client allows: fail.
        exhausted: bool,
    },
    /// A 413 `rate_limit_exceeded`: the request can never fit; the server charged nothing.
    TooLarge,
    /// Send again after `after` (a failure the policy retries).
    Retry {
        /// The wait before the next attempt.
        after: Duration,
        /// Whether the server may have counted the request.
        charged: bool,
    },
    /// Give up with this answer (or transport failure).
    Fail {
        /// Whether the server may have counted the request.
        charged: bool,
    },
}

/// What the answer `answer` means, after `counts`, under `policy` (of which at most
/// `max_rate_limit_retries` 429s are allowed). `wall_now` reads `retry-after` dates.
pub(crate) fn classify(
    answer: &ErrorAnswer,
    policy: &RetryPolicy,
    max_rate_limit_retries: u32,
    counts: Counts,
    wall_now: SystemTime,
    rng: &mut groq_transport::Jitter,
) -> Outcome {
    let status = answer.status;
    if status.is_success() {
        return Outcome::Success;
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        // The one rule of a 429's wait is groq-ratelimit's, bounded by the period of the
        // limit it names; raised to the first backoff so that `retry-after: 0` on every
        // answer does not become a burst.
        let retry_after = groq_ratelimit::server_wait(&answer.limits, answer.message.as_ref())
            .map(|wait| wait.max(policy.base_delay()));
        let limited = counts.limited.saturating_add(1);
        return Outcome::RateLimited {
            retry_after,
            // No wait named: pause the model for a backoff so the lane does not hammer it.
            pause: retry_after.unwrap_or_else(|| policy.backoff_ceiling(limited)),
            dimension: answer.dimension(),
            exhausted: limited > max_rate_limit_retries,
        };
    }
    let too_large = status == StatusCode::PAYLOAD_TOO_LARGE
        && (answer
            .message
            .as_ref()
            .is_some_and(|m| m.kind == LimitMessageKind::RequestTooLarge)
            || answer
                .envelope
                .as_ref()
                .and_then(|e| e.error.code.as_deref())
                == Some("rate_limit_exceeded"));
    if too_large {
        return Outcome::TooLarge;
    }
    // A client error was refused before any work; a server error may have cost something.
    let charged = !status.is_client_error();
    let attempt = Attempt::new(counts.failures.saturating_add(1), counts.elapsed, wall_now);
    match policy.classify(status, &answer.headers, attempt, rng) {
        RetryDecision::Retry { after } => Outcome::Retry { after, charged },
        _ => Outcome::Fail { charged },
    }
}

/// What a transport failure means, after `counts`, under `policy`. A connection that was
/// never opened charged nothing; anything later may have reached the server.
pub(crate) fn classify_failure(
    error: &TransportError,
    policy: &RetryPolicy,
    counts: Counts,
    wall_now: SystemTime,
    rng: &mut groq_transport::Jitter,
) -> Outcome {
    let charged = !error.is_connect();
    let attempt = Attempt::new(counts.failures.saturating_add(1), counts.elapsed, wall_now);
    match policy.classify_error(error, attempt, rng) {
        RetryDecision::Retry { after } => Outcome::Retry { after, charged },
        _ => Outcome::Fail { charged },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groq_transport::Jitter as Rng;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> ErrorAnswer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        ErrorAnswer::new(
            StatusCode::from_u16(status).unwrap(),
            map,
            Bytes::from(body.to_owned()),
        )
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
            .with_base_delay(Duration::from_millis(100))
            .with_max_attempts(3)
    }

    fn decide(answer: &ErrorAnswer, counts: Counts) -> Outcome {
        classify(
            answer,
            &policy(),
            2,
            counts,
            SystemTime::UNIX_EPOCH,
            &mut Rng::with_seed(1),
        )
    }

    const TPM_429: &str = r#"{"error":{"message":"Rate limit reached for model `m` in organization `o` on tokens per minute (TPM): Limit 6000, Used 5990, Requested 60. Please try again in 1.5s.","type":"tokens","code":"rate_limit_exceeded"}}"#;

    #[test]
    fn a_429_pauses_for_the_servers_wait_bounded_by_its_period() {
        let limited = answer(429, &[("retry-after", "2")], TPM_429);
        assert_eq!(
            decide(&limited, Counts::default()),
            Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
                pause: Duration::from_secs(2),
                dimension: Some(Dimension::TokensPerMinute),
                exhausted: false,
            }
        );
        // Two hours cannot be a per-minute wait: the message's 1.5 s is used.
        let garbage = answer(429, &[("retry-after", "7200")], TPM_429);
        assert!(matches!(
            decide(&garbage, Counts::default()),
            Outcome::RateLimited { retry_after: Some(w), .. } if w == Duration::from_millis(1_500)
        ));
    }

    #[test]
    fn a_429_without_a_wait_pauses_for_a_growing_backoff_and_is_bounded() {
        let bare = answer(429, &[], "");
        let first = decide(&bare, Counts::default());
        assert_eq!(
            first,
            Outcome::RateLimited {
                retry_after: None,
                pause: Duration::from_millis(100),
                dimension: None,
                exhausted: false,
            }
        );
        let third = decide(
            &bare,
            Counts {
                limited: 2,
                ..Counts::default()
            },
        );
        assert!(matches!(
            third,
            Outcome::RateLimited { pause, exhausted: true, .. } if pause == Duration::from_millis(400)
        ));
        // A zero wait is raised to the first backoff.
        let zero = answer(429, &[("retry-after", "0")], "");
        assert!(matches!(
            decide(&zero, Counts::default()),
            Outcome::RateLimited { retry_after: Some(w), .. } if w == Duration::from_millis(100)
        ));
    }

    #[test]
    fn a_413_rate_limit_is_too_large_and_other_413s_are_not() {
        let body = r#"{"error":{"message":"Request too large for model `m` on tokens per minute (TPM): Limit 6000, Requested 9000, please reduce your message size and try again.","type":"tokens","code":"rate_limit_exceeded"}}"#;
        assert_eq!(
            decide(&answer(413, &[], body), Counts::default()),
            Outcome::TooLarge
        );
        assert_eq!(
            decide(&answer(413, &[], "too big"), Counts::default()),
            Outcome::Fail { charged: false }
        );
    }

    #[test]
    fn server_errors_retry_charged_and_client_errors_fail_uncharged() {
        assert!(matches!(
            decide(&answer(503, &[], ""), Counts::default()),
            Outcome::Retry { charged: true, after } if after <= Duration::from_millis(100)
        ));
        assert_eq!(
            decide(&answer(400, &[], ""), Counts::default()),
            Outcome::Fail { charged: false }
        );
        // The policy's attempts run out: the third failure is final.
        assert_eq!(
            decide(
                &answer(503, &[], ""),
                Counts {
                    failures: 2,
                    ..Counts::default()
                }
            ),
            Outcome::Fail { charged: true }
        );
        assert_eq!(
            decide(&answer(200, &[], ""), Counts::default()),
            Outcome::Success
        );
    }

    #[test]
    fn transport_failures_are_charged_unless_the_connection_never_opened() {
        let refused =
            TransportError::connect(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let decide = |error: &TransportError| {
            classify_failure(
                error,
                &policy(),
                Counts::default(),
                SystemTime::UNIX_EPOCH,
                &mut Rng::with_seed(1),
            )
        };
        assert!(matches!(
            decide(&refused),
            Outcome::Retry { charged: false, .. }
        ));
        assert!(matches!(
            decide(&TransportError::timeout()),
            Outcome::Retry { charged: true, .. }
        ));
    }
}
