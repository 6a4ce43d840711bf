//! [`ReserveError`]: why a reserve was refused and what to wait for.

use std::sync::Arc;

use tokio::time::Instant;

use crate::Dimension;

/// Why [`RateLimiter::reserve`](crate::RateLimiter::reserve) did not admit a cost. Nothing was
/// charged.
///
/// Three of the four answers say what to wait for; only [`NeverFits`](Self::NeverFits) is
/// final. A dispatcher never needs to poll:
///
/// | variant | wait for |
/// |---|---|
/// | [`Wait`](Self::Wait), [`Penalized`](Self::Penalized) | the instant `until` (or an earlier [`changed`](crate::RateLimiter::changed)) |
/// | [`InFlight`](Self::InFlight) | [`changed`](crate::RateLimiter::changed): a reservation settled or the quota changed |
/// | [`NeverFits`](Self::NeverFits) | nothing: fail the request |
/// | [`Unavailable`](Self::Unavailable) | the instant `until`, when the limiter tries its server again |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReserveError {
    /// A bucket is too low. At `until` the cost fits in every bucket (if nothing else is
    /// charged meanwhile); `dimension` is the bucket that is last to admit it.
    #[error("the {dimension} limit is reached; the request fits again at the given instant")]
    Wait {
        /// The earliest instant at which the cost fits.
        until: Instant,
        /// The bucket that binds.
        dimension: Dimension,
    },
    /// The server answered 429 and asked to pause this model until `until`
    /// (see [`RateLimiter::penalize`](crate::RateLimiter::penalize)).
    #[error("the server rate-limited this model; it may be used again at the given instant")]
    Penalized {
        /// When the pause ends.
        until: Instant,
        /// The limit the server named, if it named one.
        dimension: Option<Dimension>,
    },
    /// The quota's cap on requests in flight is reached. Wait for
    /// [`RateLimiter::changed`](crate::RateLimiter::changed), which fires when a reservation
    /// settles. A cap of 0 pauses the model until its quota changes.
    #[error("{limit} requests are already in flight for this model; wait for one to finish")]
    InFlight {
        /// The cap.
        limit: u32,
    },
    /// The cost is larger than the whole bucket: it will never fit, however long one waits.
    #[error(
        "a cost of {cost} can never fit the {dimension} limit of {capacity}; \
         make the request smaller (for tokens: a shorter prompt or a lower max_completion_tokens) \
         or raise the limit"
    )]
    NeverFits {
        /// The dimension that is too small.
        dimension: Dimension,
        /// What the request would cost in that dimension.
        cost: u64,
        /// The bucket's capacity.
        capacity: u64,
    },
    /// A shared limiter cannot reach the server that holds the quota's state (Redis, say), and
    /// its policy is to wait rather than guess: nothing was admitted. It tries again at
    /// `until`; `reason` says what failed.
    #[error(
        "the shared rate-limit state cannot be reached ({reason}); the limiter tries again at the given instant"
    )]
    Unavailable {
        /// When the limiter tries its server again.
        until: Instant,
        /// What failed, for logs and error messages.
        reason: Arc<str>,
    },
}

impl ReserveError {
    /// The instant to retry at, for [`Wait`](Self::Wait) and [`Penalized`](Self::Penalized).
    pub fn retry_at(&self) -> Option<Instant> {
        match self {
            Self::Wait { until, .. }
            | Self::Penalized { until, .. }
            | Self::Unavailable { until, .. } => Some(*until),
            Self::InFlight { .. } | Self::NeverFits { .. } => None,
        }
    }

    /// Whether waiting can never help ([`NeverFits`](Self::NeverFits)).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::NeverFits { .. })
    }

    /// The dimension concerned, when there is one.
    pub fn dimension(&self) -> Option<Dimension> {
        match self {
            Self::Wait { dimension, .. } | Self::NeverFits { dimension, .. } => Some(*dimension),
            Self::Penalized { dimension, .. } => *dimension,
            Self::InFlight { .. } | Self::Unavailable { .. } => None,
        }
    }
}
