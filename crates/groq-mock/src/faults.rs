//! Seeded fault injection.

use std::time::Duration;

use http::StatusCode;

use crate::error::MockError;

/// Faults the emulator injects into chat completions, drawn from a seeded generator so a
/// run is reproducible (for the same sequence of requests).
///
/// Every fraction is the probability, per chat request that passed validation, of that
/// fault. Injected faults charge nothing against the limits.
///
/// ```
/// use groq_mock::Faults;
/// use std::time::Duration;
///
/// let faults = Faults::none()
///     .fail_rate(0.1)
///     .drop_rate(0.02)
///     .latency(Duration::from_millis(5), Duration::from_millis(50));
/// assert_eq!(faults.fail_rate, 0.1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Faults {
    /// Fraction of requests answered `500` or `503` (half each) with an error envelope.
    pub fail_rate: f64,
    /// Fraction of requests whose connection is closed before any response.
    pub drop_rate: f64,
    /// Fraction of non-streamed requests answered `200` with a truncated, unparsable JSON body.
    pub malformed_rate: f64,
    /// Fraction of streamed requests whose `200` stream carries an `error` object after the
    /// first content chunk and then ends (no `[DONE]`).
    pub stream_error_rate: f64,
    /// Extra delay before each chat response, uniform in `[min, max]`.
    pub latency: Option<(Duration, Duration)>,
}

impl Faults {
    /// No faults (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// Sets the fraction of `500`/`503` responses.
    #[must_use]
    pub fn fail_rate(mut self, rate: f64) -> Self {
        self.fail_rate = rate;
        self
    }

    /// Sets the fraction of dropped connections.
    #[must_use]
    pub fn drop_rate(mut self, rate: f64) -> Self {
        self.drop_rate = rate;
        self
    }

    /// Sets the fraction of malformed JSON bodies.
    #[must_use]
    pub fn malformed_rate(mut self, rate: f64) -> Self {
        self.malformed_rate = rate;
        self
    }

    /// Sets the fraction of streams broken by an in-stream error.
    #[must_use]
    pub fn stream_error_rate(mut self, rate: f64) -> Self {
        self.stream_error_rate = rate;
        self
    }

    /// Sets the latency range added to each chat response.
    #[must_use]
    pub fn latency(mut self, min: Duration, max: Duration) -> Self {
        self.latency = Some((min, max));
        self
    }

    pub(crate) fn validate(&self) -> Result<(), MockError> {
        let rates = [
            ("fail rate", self.fail_rate),
            ("drop rate", self.drop_rate),
            ("malformed rate", self.malformed_rate),
            ("stream error rate", self.stream_error_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(MockError::InvalidConfig(format!(
                    "the {name} must be a fraction between 0 and 1, got {rate}"
                )));
            }
        }
        if let Some((min, max)) = self.latency
            && min > max
        {
            return Err(MockError::InvalidConfig(format!(
                "the latency range is empty: minimum {min:?} exceeds maximum {max:?}"
            )));
        }
        Ok(())
    }
}

/// The faults drawn for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FaultPlan {
    pub(crate) latency: Duration,
    pub(crate) drop: bool,
    pub(crate) fail: Option<StatusCode>,
    pub(crate) malformed: bool,
    pub(crate) stream_error: bool,
}

impl FaultPlan {
    /// Draws one request's faults. Always consumes the same number of draws, so the
    /// sequence depends only on the seed and the number of requests.
    pub(crate) fn draw(faults: &Faults, rng: &mut fastrand::Rng) -> Self {
        let latency_draw = rng.f64();
        let drop = rng.f64() < faults.drop_rate;
        let fail = rng.f64() < faults.fail_rate;
        let fail_503 = rng.bool();
        let malformed = rng.f64() < faults.malformed_rate;
        let stream_error = rng.f64() < faults.stream_error_rate;
        let latency = faults.latency.map_or(Duration::ZERO, |(min, max)| {
            min + (max - min).mul_f64(latency_draw)
        });
        let fail = fail.then_some(if fail_503 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        });
        Self {
            latency,
            drop,
            fail,
            malformed,
            stream_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_reproducible_and_near_the_rates() {
        let faults = Faults::none()
            .fail_rate(0.2)
            .drop_rate(0.1)
            .latency(Duration::from_millis(5), Duration::from_millis(50));
        let run = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..2000)
                .map(|_| FaultPlan::draw(&faults, &mut rng))
                .collect::<Vec<_>>()
        };
        let plans = run(7);
        assert_eq!(plans, run(7));
        assert_ne!(plans, run(8));
        let fails = plans.iter().filter(|p| p.fail.is_some()).count();
        let drops = plans.iter().filter(|p| p.drop).count();
        assert!((340..=460).contains(&fails), "{fails}");
        assert!((150..=250).contains(&drops), "{drops}");
        assert!(plans.iter().all(|p| !p.malformed && !p.stream_error));
        assert!(
            plans.iter().all(
                |p| (Duration::from_millis(5)..=Duration::from_millis(50)).contains(&p.latency)
            )
        );
        let has_503 = plans
            .iter()
            .any(|p| p.fail == Some(StatusCode::SERVICE_UNAVAILABLE));
        let has_500 = plans
            .iter()
            .any(|p| p.fail == Some(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(has_500 && has_503);
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(Faults::none().fail_rate(1.5).validate().is_err());
        assert!(Faults::none().drop_rate(f64::NAN).validate().is_err());
        assert!(
            Faults::none()
                .latency(Duration::from_millis(9), Duration::from_millis(1))
                .validate()
                .is_err()
        );
        assert!(Faults::none().fail_rate(1.0).validate().is_ok());
    }
}
