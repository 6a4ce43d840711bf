//! Bounds on the waits a server asks for.
//!
//! A wait learned from the server (a reset header, `retry-after`, the "try again in" of a 429
//! text) concerns one bucket, and no bucket takes longer than its period to refill: a
//! tokens-per-minute header can never mean more than a minute of waiting, a requests-per-day
//! one more than a day. A longer value is garbage (a broken or hostile server): it is dropped
//! and logged, so one answer cannot stall a model for years.

use std::time::Duration;

use crate::Dimension;

/// The longest wait accepted from the server when it does not say which bucket it concerns:
/// one day, the longest period Groq limits over.
pub const LONGEST_SERVER_WAIT: Duration = Duration::from_secs(86_400);

/// The period of `dimension` as Groq defines it: a minute for RPM, TPM, ITPM and OTPM, an hour
/// for ASH, a day for RPD, TPD and ASD.
///
/// ```
/// use groq_ratelimit::{Dimension, nominal_period};
/// use std::time::Duration;
///
/// assert_eq!(nominal_period(Dimension::TokensPerMinute), Duration::from_secs(60));
/// assert_eq!(nominal_period(Dimension::RequestsPerDay), Duration::from_secs(86_400));
/// ```
pub const fn nominal_period(dimension: Dimension) -> Duration {
    match dimension {
        Dimension::RequestsPerMinute
        | Dimension::TokensPerMinute
        | Dimension::InputTokensPerMinute
        | Dimension::OutputTokensPerMinute => Duration::from_secs(60),
        Dimension::AudioSecondsPerHour => Duration::from_secs(3_600),
        _ => LONGEST_SERVER_WAIT,
    }
}

/// The longest wait a server may ask for about `dimension`: its [period](nominal_period), or
/// [`LONGEST_SERVER_WAIT`] when the dimension is unknown.
pub const fn wait_bound(dimension: Option<Dimension>) -> Duration {
    match dimension {
        Some(dimension) => nominal_period(dimension),
        None => LONGEST_SERVER_WAIT,
    }
}

/// `wait` if it is no longer than [`wait_bound`]`(dimension)`, else `None` with a warning
/// naming `what` (the header or text it came from) and the value.
///
/// ```
/// use groq_ratelimit::{Dimension, bounded_wait};
/// use std::time::Duration;
///
/// let tpm = Some(Dimension::TokensPerMinute);
/// assert_eq!(bounded_wait(Duration::from_secs(59), tpm, "x"), Some(Duration::from_secs(59)));
/// assert_eq!(bounded_wait(Duration::from_secs(3_600), tpm, "x"), None);
/// assert_eq!(bounded_wait(Duration::from_secs(3_600), None, "x"), Some(Duration::from_secs(3_600)));
/// ```
pub fn bounded_wait(wait: Duration, dimension: Option<Dimension>, what: &str) -> Option<Duration> {
    let bound = wait_bound(dimension);
    if wait <= bound {
        return Some(wait);
    }
    tracing::warn!(
        what,
        wait = ?wait,
        bound = ?bound,
        dimension = dimension.map(Dimension::label),
        "ignored a wait from the server longer than the period it concerns"
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_the_dimension() {
        for d in Dimension::ALL {
            let bound = wait_bound(Some(d));
            assert_eq!(bounded_wait(bound, Some(d), "t"), Some(bound));
            assert_eq!(
                bounded_wait(bound + Duration::from_nanos(1), Some(d), "t"),
                None
            );
        }
        assert_eq!(wait_bound(None), LONGEST_SERVER_WAIT);
        assert_eq!(bounded_wait(Duration::MAX, None, "t"), None);
        assert_eq!(
            bounded_wait(Duration::ZERO, None, "t"),
            Some(Duration::ZERO)
        );
    }
}
